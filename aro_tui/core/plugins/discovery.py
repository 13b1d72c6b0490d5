"""Finding plugins: ``<app>/Plugins/*/plugin.yaml`` one level deep, without running them."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import shlex
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aro_tui
from aro_tui.core.plugins.interpreter import (
    VENV_DIR,
    Interpreter,
    VersionProbe,
    choose_interpreter,
    default_probe,
    parse_version,
    with_version,
)
from aro_tui.core.plugins.layout import PythonEntry, check_layout
from aro_tui.core.plugins.manifest import MANIFEST_NAME, Manifest, read_manifest
from aro_tui.core.plugins.model import DiscoveredPlugin, declared_actions
from aro_tui.core.plugins.problem import (
    BOTH,
    HOST,
    MISSING,
    Problem,
    Severity,
    clean_text,
    describe,
)
from aro_tui.core.user_files import os_reason
from aro_tui.harness.start import MIN_PYTHON

__all__ = [
    "Discovery",
    "DiscoveryError",
    "PluginNotFound",
    "default_plugins_path",
    "discover",
    "find_plugin",
    "load_plugin",
    "plugins_dir_for",
    "resolve_search_path",
]

APP_PLUGINS_DIR = "Plugins"


class DiscoveryError(Exception):
    """The path to scan does not exist or is not a folder."""


class PluginNotFound(LookupError):
    """No plugin by that name or path; the message lists the names that exist."""

    def __init__(
        self,
        wanted: str,
        search_dir: Path,
        known_names: list[str],
        why: str | None = None,
        *,
        misnamed: str | None = None,
        hint: str = "",
    ) -> None:
        """``why``: the search folder could not be read (it does not exist, say);
        ``misnamed``: the plugin's folder (``search_dir``) has this file instead of
        plugin.yaml; ``hint``: said after the known names."""
        self.wanted = wanted
        self.search_dir = search_dir
        self.known_names = known_names
        if misnamed is not None:
            super().__init__(
                f"no plugin {wanted!r}: {search_dir} has {misnamed!r} and no plugin.yaml, "
                "the only name ARO reads (rename it)"
            )
            return
        if why is not None:
            super().__init__(f"no plugin {wanted!r}: {why} (and {wanted} is not a plugin folder)")
            return
        known = ", ".join(known_names) if known_names else "none"
        super().__init__(
            f"no plugin {wanted!r} in {search_dir} (and it is not a plugin folder); "
            f"known plugins: {known}{hint}"
        )


def _other_case_hint(search_dir: Path) -> str:
    """Why ``./plugins`` was not looked in, when the search fell back to the bundled plugins
    for want of ``./Plugins`` (else nothing)."""
    if search_dir.resolve() != default_plugins_path().resolve():
        return ""
    other_case = misnamed_plugins_dir(Path.cwd())
    if other_case is None or other_case.resolve() == search_dir.resolve():
        return ""
    return (
        f"; {other_case.name}/ here is not looked in: ARO reads an app's plugins from "
        f"{APP_PLUGINS_DIR}/ (rename it)"
    )


def misnamed_plugins_dir(app_dir: Path) -> Path | None:
    """A folder of ``app_dir`` named ``Plugins`` in other letters (``plugins/``) when there
    is no ``Plugins/``: ARO, on a case-sensitive file system, reads only that name."""
    if os.path.lexists(app_dir / APP_PLUGINS_DIR):
        return None
    try:
        names = sorted(entry.name for entry in app_dir.iterdir() if entry.is_dir())
    except OSError:
        return None
    found = next((n for n in names if n.lower() == APP_PLUGINS_DIR.lower()), None)
    return None if found is None else app_dir / found


class AmbiguousPluginName(PluginNotFound):
    """Several plugins in the folder have the name asked for."""

    def __init__(self, wanted: str, search_dir: Path, folders: list[Path]) -> None:
        """``folders``: the plugins' folders."""
        self.wanted = wanted
        self.search_dir = search_dir
        self.known_names = [wanted]
        listed = ", ".join(clean_text(str(folder)) for folder in folders)
        LookupError.__init__(
            self,
            f"{len(folders)} plugins in {clean_text(str(search_dir))} are named "
            f"{clean_text(wanted)!r}, which ARO loads only one of: {listed}; "
            "give the folder of the one to run",
        )


@dataclass(frozen=True)
class Discovery:
    """The result of scanning one plugins folder."""

    plugins_dir: Path
    plugins: list[DiscoveredPlugin] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether every plugin found is valid (skipped folders are only warnings)."""
        return all(plugin.valid for plugin in self.plugins)


def is_plugin_folder(discovery: Discovery) -> bool:
    """Whether ``discovery`` scanned one plugin's own folder (not a folder of plugins)."""
    return any(plugin.root == discovery.plugins_dir for plugin in discovery.plugins)


def new_plugin_folders(plugins_dir: Path, known: set[Path]) -> list[Path]:
    """Folders in ``plugins_dir`` holding a ``plugin.yaml`` that are not in ``known``, by name
    (what a dashboard already open on the folder should add); [] when it cannot be listed."""
    try:
        entries = sorted(os.scandir(plugins_dir), key=lambda entry: entry.name)
    except OSError:
        return []
    found: list[Path] = []
    for entry in entries:
        folder = Path(entry.path)
        if entry.name.startswith(".") or folder in known:
            continue
        with contextlib.suppress(OSError):
            if entry.is_dir() and (folder / MANIFEST_NAME).is_file():
                found.append(folder)
    return found


def default_plugins_path() -> Path:
    """``aro_tui/bundled_plugins`` when installed that way, else the repo's ``plugins/``."""
    package_dir = Path(aro_tui.__file__).resolve().parent
    bundled = package_dir / "bundled_plugins"
    return bundled if bundled.is_dir() else package_dir.parent / "plugins"


def resolve_search_path(path: Path | None) -> Path:
    """``path``, else ``./Plugins`` if present, else :func:`default_plugins_path`.

    A ``./Plugins`` that is a file or a broken link is still the one meant: discovery then
    says what is wrong with it (``check`` checked the bundled plugins instead, and passed).
    """
    if path is not None:
        return path
    local = Path.cwd() / APP_PLUGINS_DIR
    return local if os.path.lexists(local) else default_plugins_path()


def plugins_dir_for(path: Path) -> Path:
    """The plugins folder for ``path``: an app folder's ``Plugins/``, or ``path`` itself."""
    if not path.is_dir():
        what = "does not exist" if not os.path.lexists(path) else "is not a folder"
        raise DiscoveryError(f"{path} {what}")
    app_plugins = path / APP_PLUGINS_DIR
    return app_plugins if app_plugins.is_dir() else path


def discover(
    path: Path,
    *,
    configured_interpreter: Path | None = None,
    probe: VersionProbe | None = None,
    check_requirements: bool = True,
) -> Discovery:
    """Scan ``path`` (an app folder, a plugins folder, or one plugin folder); never runs plugins.

    Paths in the result are absolute (``list --json`` documents them so), not resolved: a
    plugins folder reached through a link keeps the link in its paths. The folders are read
    one after another, then their interpreters are run at once (:meth:`VersionProbe.map`):
    three that hang cost one timeout, not three.
    """
    probe = probe or default_probe()
    probed = functools.partial(_probe_folder, probe=probe, check_requirements=check_requirements)
    path = Path(os.path.normpath(path.absolute()))  # ../x/./y: /x/y, links kept
    try:
        plugins_dir = plugins_dir_for(path)
        one_plugin = plugins_dir == path and (plugins_dir / MANIFEST_NAME).exists()
    except (OSError, ValueError) as error:  # no search permission, a name too long...
        raise DiscoveryError(
            f"cannot read {clean_text(str(path))}: {clean_text(os_reason(error))}"
        ) from None
    if one_plugin:
        return Discovery(
            plugins_dir, [probed(_read_folder(plugins_dir, configured_interpreter))], []
        )
    misnamed = _misnamed_manifest(plugins_dir)
    if misnamed is not None:  # one plugin folder, its manifest misspelt: not a plugins folder
        return Discovery(plugins_dir, [], [_no_manifest(plugins_dir, misnamed)])
    folders: list[Path] = []
    skipped: list[Problem] = []
    try:
        entries = sorted(os.scandir(plugins_dir), key=lambda entry: entry.name)
    except OSError as error:
        raise DiscoveryError(f"cannot list {plugins_dir}: {error.strerror or error}") from error
    for entry in entries:
        if entry.name.startswith("."):
            continue
        folder = Path(entry.path)
        reason = _not_a_plugin_folder(entry)
        if reason == "file":
            continue
        if reason is not None:
            skipped.append(_skip(folder, "unreadable-entry", reason, "a plugin folder"))
            continue
        manifest = folder / MANIFEST_NAME
        try:
            os.lstat(manifest)
        except (FileNotFoundError, NotADirectoryError):
            skipped.append(_no_manifest(folder, _misnamed_manifest(folder)))
            continue
        except OSError as error:  # a folder without search permission: say so
            found = clean_text(os_reason(error))
            skipped.append(_skip(folder, "unreadable-entry", found, "a plugin folder"))
            continue
        folders.append(folder)
    read = [_read_folder(folder, configured_interpreter) for folder in folders]
    plugins = _probe_all(read, probed, probe)
    return Discovery(plugins_dir, _flag_duplicate_names(plugins), skipped)


def _probe_all(
    read: list[_Folder],
    probed: Callable[[_Folder], DiscoveredPlugin],
    probe: VersionProbe,
) -> list[DiscoveredPlugin]:
    """``probed`` of each folder: every interpreter once and all at once, then the
    folders with a requirements file (one probe each) at once too, then the others here
    (in threads, work that holds the GIL only took longer)."""
    interpreters = {folder.interpreter.path for folder in read if folder.interpreter.error is None}
    probe.map(probe.version_of, sorted(interpreters))
    with_requirements = [
        index
        for index, folder in enumerate(read)
        if folder.python_entry is not None and folder.python_entry.requirements
    ]
    probed_first = probe.map(probed, [read[index] for index in with_requirements])
    done = dict(zip(with_requirements, probed_first, strict=True))
    return [done[index] if index in done else probed(folder) for index, folder in enumerate(read)]


def _not_a_plugin_folder(entry: os.DirEntry[str]) -> str | None:
    """None for a folder, ``"file"`` for a plain file, else why the entry is unusable."""
    try:
        if entry.is_dir():
            return None
        if entry.is_symlink() and not Path(entry.path).exists():
            return "a broken symbolic link"
        return "file"
    except OSError as error:
        return clean_text(error.strerror or str(error))


def _skip(
    path: Path,
    code: str,
    found: str,
    expected: str,
    message: str = "",
    severity: Severity = "warning",
) -> Problem:
    standard = {
        "no-manifest": "folder skipped: no plugin.yaml in it",
        "unreadable-entry": f"entry skipped: {found}",
    }
    return Problem(code, path, "", found, expected, message or standard[code], severity, BOTH)


def _holds_plugins(folder: Path) -> bool:
    """Whether a folder of ``folder`` has a plugin.yaml."""
    try:
        return any((entry / MANIFEST_NAME).is_file() for entry in folder.iterdir())
    except OSError:
        return False


def _misnamed_manifest(folder: Path) -> str | None:
    """The name of a file in ``folder`` that looks meant as its manifest (``plugin.yml``,
    ``Plugin.yaml``) when there is no ``plugin.yaml``; ARO reads only that exact name."""
    if os.path.lexists(folder / MANIFEST_NAME):
        return None
    try:
        names = sorted(entry.name for entry in folder.iterdir())
    except OSError:
        return None
    return next((n for n in names if n.lower() in {"plugin.yaml", "plugin.yml"}), None)


def _no_manifest(folder: Path, misnamed: str | None) -> Problem:
    expected = "a plugin.yaml in every plugin folder"
    if (
        misnamed is None
        and folder.name.lower() == APP_PLUGINS_DIR.lower()
        and _holds_plugins(folder)
    ):
        # An app folder whose Plugins/ is spelt otherwise: ARO finds none of them.
        message = (
            f"folder skipped: it holds plugin folders, but ARO reads an app's plugins only from "
            f"{APP_PLUGINS_DIR}/, not {folder.name}/ (rename it)"
        )
        found = describe(folder.name)
        return _skip(folder, "misnamed-plugins-folder", found, APP_PLUGINS_DIR, message, "error")
    if misnamed is None:
        return _skip(folder / MANIFEST_NAME, "no-manifest", MISSING, expected)
    # An error: ARO will not load this plugin, which its author plainly meant as one.
    message = f"folder skipped: ARO reads only plugin.yaml, not {misnamed} (rename it)"
    found = describe(misnamed)
    return _skip(folder / misnamed, "misnamed-manifest", found, expected, message, "error")


MAX_NAMED_DUPLICATES = 3
"""How many of the other folders a duplicate-name problem names."""


def _flag_duplicate_names(plugins: list[DiscoveredPlugin]) -> list[DiscoveredPlugin]:
    counts = Counter(plugin.name for plugin in plugins)
    flagged: list[DiscoveredPlugin] = []
    for plugin in plugins:
        if counts[plugin.name] > 1:
            others = [str(p.root) for p in plugins if p.name == plugin.name and p is not plugin]
            if len(others) > MAX_NAMED_DUPLICATES:  # one line, not a page per plugin
                more = len(others) - MAX_NAMED_DUPLICATES
                others = [*others[:MAX_NAMED_DUPLICATES], f"and {more} more"]
            problem = Problem(
                "duplicate-name",
                plugin.manifest_file,
                "name",
                describe(plugin.name),
                "a name no other plugin in this folder uses",
                f"another plugin has the same name ({', '.join(others)}); only one will load",
                "error",
                BOTH,
                *plugin.name_position,
            )
            plugin = dataclasses.replace(plugin, problems=(*plugin.problems, problem))
        flagged.append(plugin)
    return flagged


def load_plugin(
    root: Path,
    *,
    configured_interpreter: Path | None = None,
    probe: VersionProbe | None = None,
    check_requirements: bool = True,
) -> DiscoveredPlugin:
    """Read one plugin folder: manifest, layout, module, interpreter and its version, and
    (``check_requirements``) whether that interpreter has what requirements.txt lists."""
    folder = _read_folder(root, configured_interpreter)
    return _probe_folder(folder, probe or default_probe(), check_requirements)


@dataclass(frozen=True)
class _Folder:
    """A plugin folder as read, before its interpreter has run."""

    root: Path
    name: str
    manifest: Manifest
    problems: tuple[Problem, ...]
    python_entry: PythonEntry | None
    interpreter: Interpreter
    """Chosen, not probed: no version yet."""


def _read_folder(root: Path, configured_interpreter: Path | None) -> _Folder:
    """The manifest, the layout and the interpreter's path: what needs no process."""
    manifest_file = root / MANIFEST_NAME
    manifest = read_manifest(manifest_file)
    problems = list(manifest.problems)
    data = manifest.data
    name_value = data.get("name") if data is not None else None
    name = name_value if isinstance(name_value, str) and name_value else root.name
    python_entry: PythonEntry | None = None
    if data is not None:
        try:
            python_entry, layout_problems = check_layout(
                data, root, name, manifest_file, manifest.positions
            )
        except (OSError, ValueError) as error:  # EACCES, ENAMETOOLONG, a NUL in a path
            python_entry, layout_problems = None, [_files_unreadable(manifest_file, error)]
        problems.extend(layout_problems)
    checked = not any(problem.code == "files-unreadable" for problem in problems)
    provides = data.get("provides") if data is not None else None
    if python_entry is None and isinstance(provides, list) and checked:
        problems.append(
            Problem(
                "no-python-plugin",
                manifest_file,
                "provides",
                "no usable python-plugin entry",
                "a python-plugin entry with a path",
                "aro-tui has nothing to run in this plugin",
                "warning",
                HOST,
                *manifest.positions.get("provides", (None, None)),
            )
        )
    interpreter = choose_interpreter(root, configured=configured_interpreter)
    return _Folder(root, name, manifest, tuple(problems), python_entry, interpreter)


def _probe_folder(
    folder: _Folder, probe: VersionProbe, check_requirements: bool
) -> DiscoveredPlugin:
    """``folder`` as a plugin, once its interpreter has run: its version, and (with
    ``check_requirements``) the requirements it has not installed."""
    interpreter = with_version(folder.interpreter, probe)
    problems = list(folder.problems)
    unused_venv = _unused_venv(folder.root, interpreter)
    if unused_venv is not None:
        problems.append(unused_venv)
    entry, manifest = folder.python_entry, folder.manifest
    if entry is not None:
        problems.extend(_host_problems(manifest.file, entry, interpreter, manifest.positions))
    if entry is not None and check_requirements:
        problems.extend(_requirement_problems(entry, interpreter, probe))
    return DiscoveredPlugin(
        name=folder.name,
        root=folder.root,
        module_path=entry.module_path if entry else None,
        interpreter=interpreter,
        declared_actions=declared_actions(manifest.data),
        problems=tuple(problems),
        manifest=manifest.data,
        name_position=manifest.positions.get("name", (None, None)),
    )


def _unused_venv(root: Path, interpreter: Interpreter) -> Problem | None:
    """The plugin's ``.venv`` when it holds no interpreter (an empty folder, a venv whose
    ``bin/`` lost its pythons): aro-tui then runs the plugin without the venv's packages."""
    venv = root / VENV_DIR
    if interpreter.origin == "plugin-venv" or not os.path.lexists(venv):
        return None
    which = "--python" if interpreter.origin == "configured" else "aro-tui's own Python"
    return Problem(
        "venv-without-python",
        venv,
        "",
        f"{venv} (no bin/python, bin/python3 or bin/python3.X in it)",
        "a .venv holding its interpreter, or no .venv",
        f"the plugin's {VENV_DIR} is not used, as it holds no interpreter: aro-tui runs the "
        f"plugin with {which} ({interpreter.path}), without the packages installed in the "
        f"{VENV_DIR}; recreate it (python3 -m venv {VENV_DIR}) or remove it",
        "warning",
        HOST,
    )


def _requirement_problems(
    entry: PythonEntry, interpreter: Interpreter, probe: VersionProbe
) -> list[Problem]:
    """requirements.txt's plain requirements that the plugin's interpreter has not installed
    (one probe of the interpreter, which never imports the plugin)."""
    requirements = entry.requirements
    if entry.requirements_file is None or not requirements or interpreter.error is not None:
        return []
    wanted = [(requirement.name, requirement.marker) for requirement in requirements]
    missing = probe.missing_requirements(interpreter.path, entry.source_dir, wanted)
    python = f"{interpreter.path} ({interpreter.origin})"
    return [
        Problem(
            "requirement-not-installed",
            entry.requirements_file,
            "",
            f"{clean_text(requirement.text)}: not installed in {clean_text(python)}",
            f"{clean_text(requirement.name)} installed where aro-tui runs the plugin",
            "importing it fails under this interpreter: install it there ("
            f"{shlex.quote(str(interpreter.path))} -m pip install {shlex.quote(requirement.text)}"
            f"), or run the plugin with one that has it (its own {VENV_DIR}, or --python)",
            "warning",
            HOST,
            requirement.line,
            1,
        )
        for requirement in requirements
        if requirement.name in (missing or ())
    ]


def _files_unreadable(manifest_file: Path, error: OSError | ValueError) -> Problem:
    """The plugin's files could not be looked at: a problem of this plugin, not the scan's
    end (a folder without read permission, a name too long for the file system...)."""
    found = os_reason(error)
    if isinstance(error, OSError) and error.filename is not None:
        found += f": {error.filename}"
    return Problem(
        "files-unreadable",
        manifest_file,
        "provides",
        clean_text(found),
        "plugin files aro-tui can look at",
        "checking the plugin's files failed, so it cannot be run",
        "error",
        HOST,
    )


def _host_problems(
    manifest_file: Path,
    entry: PythonEntry,
    interpreter: Interpreter,
    positions: Mapping[str, tuple[int, int]],
) -> list[Problem]:
    own_venv = interpreter.origin == "plugin-venv"
    if interpreter.error is not None:
        message = f"the {interpreter.origin} interpreter cannot be used"
        if own_venv:
            message += " (ARO would not use it either: it runs python3 from PATH)"
        return [
            Problem(
                "interpreter-unusable",
                interpreter.path,
                "",
                clean_text(interpreter.error),
                "a Python interpreter that runs",
                message,
                "error",
                HOST,
            )
        ]
    problems: list[Problem] = []
    if own_venv:
        problems.append(
            Problem(
                "venv-not-used-by-aro",
                interpreter.path,
                "",
                f"{interpreter.path} (the plugin's .venv)",
                "packages ARO's python3 has too",
                "ARO never runs a plugin's .venv: it runs python3 from PATH, where packages "
                "installed only in this .venv are missing; aro-tui runs the .venv's "
                "(`aro-tui call --runtime` runs one call as ARO would)",
                "warning",
                HOST,
            )
        )
    found = f"Python {interpreter.version_text} ({interpreter.path}, {interpreter.origin})"
    if interpreter.version is not None and interpreter.version[:2] < MIN_PYTHON:
        oldest = ".".join(map(str, MIN_PYTHON))
        problems.append(
            Problem(
                "interpreter-too-old",
                interpreter.path,
                "",
                found,
                f"Python >= {oldest}",
                f"aro-tui's harness cannot run under Python {interpreter.version_text}",
                "error",
                HOST,
            )
        )
    wanted = parse_version(entry.min_version) if entry.min_version else None
    if wanted is None or interpreter.version is None or interpreter.version >= wanted:
        return problems
    field = f"provides[{entry.index}].python.min-version"
    line, column = positions.get(field, (None, None))
    return [
        *problems,
        Problem(
            "min-version-unmet",
            manifest_file,
            field,
            found,
            f"Python >= {entry.min_version}",
            f"the plugin says it needs Python {entry.min_version} or newer; ARO does not check "
            "this and runs it all the same, and so does aro-tui",
            "warning",
            HOST,
            line,
            column,
        ),
    ]


def find_plugin(
    name_or_path: str,
    search_root: Path | None = None,
    *,
    configured_interpreter: Path | None = None,
) -> DiscoveredPlugin:
    """A plugin folder given by path, or by manifest/folder name under ``search_root``.

    Its requirements are not probed (one more interpreter start for every command run;
    ``check`` does it). With ``search_root`` given (``--plugins-dir``), a bare name (no
    ``/``) is looked up there first: a folder of that name in the working directory
    silently won, so a replay in a plugin's own folder ran another copy than the one asked
    for."""
    as_path = Path(name_or_path)
    not_found: PluginNotFound | None = None
    if search_root is not None and os.sep not in name_or_path and name_or_path not in {".", ".."}:
        try:
            return _find_by_name(name_or_path, search_root, configured_interpreter)
        except AmbiguousPluginName:
            raise
        except PluginNotFound as error:
            not_found = error  # then a folder of that name here, as without --plugins-dir
    try:
        given_as_path = (as_path / MANIFEST_NAME).exists()
    except (OSError, ValueError) as error:  # no search permission, a name too long...
        reason = f"cannot read {clean_text(name_or_path)}: {clean_text(os_reason(error))}"
        raise PluginNotFound(name_or_path, as_path, [], reason) from None
    if given_as_path:
        return load_plugin(
            as_path, configured_interpreter=configured_interpreter, check_requirements=False
        )
    misnamed = _misnamed_manifest(as_path) if as_path.is_dir() else None
    if misnamed is not None:
        raise PluginNotFound(name_or_path, as_path, [], misnamed=misnamed)
    if not_found is not None:
        raise not_found
    return _find_by_name(name_or_path, search_root, configured_interpreter)


def _find_by_name(
    name_or_path: str, search_root: Path | None, configured_interpreter: Path | None
) -> DiscoveredPlugin:
    """The plugin under ``search_root`` whose manifest names it ``name_or_path``, else the
    one in a folder of that name (``PluginNotFound``, ``AmbiguousPluginName``)."""
    search_dir = resolve_search_path(search_root)
    try:
        found = discover(
            search_dir, configured_interpreter=configured_interpreter, check_requirements=False
        )
    except DiscoveryError as error:
        raise PluginNotFound(name_or_path, search_dir, [], str(error)) from None
    # By manifest name, as ARO names plugins, then by folder name.
    named = [plugin for plugin in found.plugins if plugin.name == name_or_path]
    if len(named) > 1:
        raise AmbiguousPluginName(name_or_path, found.plugins_dir, [p.root for p in named])
    in_folder = [plugin for plugin in found.plugins if plugin.root.name == name_or_path]
    if named or in_folder:
        return (named or in_folder)[0]
    for skipped in found.skipped:
        folder = skipped.file.parent
        if skipped.code == "misnamed-manifest" and folder.name == name_or_path:
            raise PluginNotFound(name_or_path, folder, [], misnamed=skipped.file.name)
    known = sorted({p.name for p in found.plugins})
    raise PluginNotFound(name_or_path, found.plugins_dir, known, hint=_other_case_hint(search_dir))
