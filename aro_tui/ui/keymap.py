"""The settings' ``keymap``: which of its entries the dashboard can use, and what each changes.

Textual's ``App.set_keymap`` takes any text as keys and any id, and ignores what it cannot
match: a typo (``Ctrl+E``) left a binding with no working key, an unknown id did nothing, and
a key another binding had went to whichever Textual asks first. Each of those is said here, as
a start-up problem, and the entry is not applied.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping

from textual.binding import Binding, BindingType
from textual.keys import KEY_NAME_REPLACEMENTS, Keys

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
_NAMED_KEYS = frozenset(
    {key.value.rsplit("+", 1)[-1] for key in Keys}
    | set(KEY_NAME_REPLACEMENTS.values())
    | {"enter", "tab", "space", "backspace", "escape", "delete", "insert"}
    | {f"f{number}" for number in range(1, 25)}
)
"""Key names Textual gives keys that are not one character (``f5``, ``pageup``, ``slash``)."""


def key_problem(keys: str) -> str | None:
    """Why ``keys`` (``ctrl+e``, ``f5,ctrl+r``) names no key Textual reports, or None."""
    for key in keys.split(","):
        *modifiers, name = key.split("+")
        unknown = [modifier for modifier in modifiers if modifier not in MODIFIERS]
        if unknown:
            return f'"{unknown[0]}" in "{key}" is no modifier (ctrl, shift, alt, meta, super)'
        if not name:
            return f'"{key}" names no key'
        if len(name) > 1 and not _named_key(name):
            return f'"{name}" in "{key}" is no key name (f5, enter, pageup, a, question_mark…)'
    return None


def _named_key(name: str) -> bool:
    if name in _NAMED_KEYS:
        return True
    try:  # a character by its Unicode name, as Textual names it: question_mark
        unicodedata.lookup(name.replace("_", " ").upper())
    except KeyError:
        return False
    return True


def keymap_problems(
    keymap: Mapping[str, str], groups: Iterable[tuple[str, list[BindingType]]]
) -> tuple[dict[str, str], list[str]]:
    """The entries of ``keymap`` that can be used, and a line for each that cannot: an id no
    binding in ``groups`` has, keys that name no key, or a key another binding in the same
    place (or everywhere) keeps."""
    bindings = [
        (region, binding)
        for region, listed in groups
        for binding in Binding.make_bindings(listed)
        if binding.id
    ]
    known = {binding.id for _, binding in bindings}
    usable: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in keymap.items():
        if binding_id not in known:
            problems.append(
                f'keymap: no key binding has the id "{binding_id}" (F1 lists the ids); ignored'
            )
        elif (why := key_problem(keys)) is not None:
            problems.append(f'keymap "{binding_id}": {why}; ignored')
        else:
            usable[binding_id] = keys
    problems += _drop_taken_keys(usable, bindings)
    return usable, problems


_EVERYWHERE = frozenset({"everywhere", "dashboard"})


def _drop_taken_keys(usable: dict[str, str], bindings: list[tuple[str, Binding]]) -> list[str]:
    """Take out of ``usable`` each entry that gives a binding a key another binding has where
    both apply, and say why: a line each.

    Why refuse rather than let it take the key: which of the two then gets the key is
    Textual's order (priority bindings first, then the focused widget's, then the screen's),
    not the keymap's. ``"log.copy": "f2"`` went to the log, but f2 stayed the screen's key for
    the editor, so the log could no longer copy at all. Moving the other binding off the key
    in the same keymap makes both entries usable. Repeated until none is left: an entry taken
    out gives its binding back its own keys, which may clash with another entry.
    """
    region_of: dict[str, str] = {}
    for region, binding in bindings:
        assert binding.id is not None
        region_of.setdefault(binding.id, region)
    lines: list[str] = []
    while clashes := _clashes(usable, bindings, region_of):
        for binding_id, key, other in clashes:
            lines.append(
                f'keymap "{binding_id}": {key} is "{other}"\'s key too, where both apply (which '
                f'gets it would not be the keymap\'s choice): give "{other}" another key in the '
                "keymap as well, or choose another; ignored"
            )
            usable.pop(binding_id, None)
    return lines


def _clashes(
    usable: Mapping[str, str], bindings: list[tuple[str, Binding]], region_of: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """(id, key, other id) for each key ``usable`` gives a binding that another has where
    both apply: in the same place, or one of them everywhere."""
    keys_of: dict[str, set[str]] = {}
    for _, binding in bindings:
        assert binding.id is not None
        keys = usable.get(binding.id, binding.key)
        keys_of.setdefault(binding.id, set()).update(keys.split(","))
    clashes = []
    for binding_id, keys in usable.items():
        for key in keys.split(","):
            for other, other_keys in keys_of.items():
                shared = {region_of[binding_id], region_of[other]} & _EVERYWHERE or (
                    region_of[binding_id] == region_of[other]
                )
                if other != binding_id and key in other_keys and shared:
                    clashes.append((binding_id, key, other))
    return clashes
