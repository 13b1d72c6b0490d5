"""Docstring ``Input:`` sections become starting JSON inputs."""

from __future__ import annotations

import json

from aro_tui.core.templates import (
    has_input_section,
    parse_input_fields,
    render_template,
    template_for,
)

GENERATE_DOC = """
    Generate text continuation.

    Input:
        - prompt: The text to continue
        - max_length: Maximum length of generated text (default: 100)
        - temperature: Sampling temperature (default: 0.7)
        - model: Model name (default: "gpt2")

    Output:
        - generated_text: The generated continuation
"""


def test_chapter_example_becomes_a_template() -> None:
    assert template_for(GENERATE_DOC) == {
        "prompt": "",
        "max_length": 100,
        "temperature": 0.7,
        "model": "gpt2",
    }


def test_output_section_is_not_read_as_input() -> None:
    names = [field.name for field in parse_input_fields(GENERATE_DOC)]
    assert "generated_text" not in names


def test_defaults_json_then_python_literal_then_string() -> None:
    doc = """Input:
        - flags: JSON list (default: [1, 2])
        - enabled: Python literal (default: True)
        - nothing: JSON null (default: null)
        - mode: single quotes (default: 'fast')
        - device: one bare word (default: auto)
    """
    assert template_for(doc) == {
        "flags": [1, 2],
        "enabled": True,
        "nothing": None,
        "mode": "fast",
        "device": "auto",
    }


def test_a_default_in_words_leaves_the_input_out() -> None:
    """The chapter's classify documents ``(default: sentiment analysis model)``: the template
    sent that text as the model name, and the call failed to load a model of that name,
    where leaving ``model`` out lets the action pick its default."""
    doc = """Input:
        - text: Text to classify
        - model: Model name (default: sentiment analysis model)
        - options:
            - top_k: How many labels (default: all of them)
            - threshold: Least score (default: 0.5)
    """
    assert template_for(doc) == {"text": "", "options": {"threshold": 0.5}}
    model = parse_input_fields(doc)[1]
    assert model.prose_default and model.default == "sentiment analysis model"


def test_continuation_lines_join_the_description() -> None:
    doc = """Input:
        - text: Single text or list
          of texts to embed (default: "x")
    """
    (field,) = parse_input_fields(doc)
    assert field.description == "Single text or list of texts to embed"
    assert field.default == "x"


def test_no_docstring_or_no_section_gives_empty_object() -> None:
    assert template_for(None) == {}
    assert template_for("Just a summary.") == {}
    assert json.loads(render_template(None)) == {}


def test_unparseable_python_value_stays_a_string() -> None:
    doc = "Input:\n    - when: a set (default: {1, 2})\n"
    assert template_for(doc) == {"when": "{1, 2}"}


def test_render_is_indented_json() -> None:
    assert render_template("Input:\n  - a: x (default: 1)\n") == '{\n  "a": 1\n}'


def test_items_indented_under_an_item_make_an_object() -> None:
    """Sub-items were glued into their parent's text: "user": "\\"bob\\") - age: ...","""
    doc = """Create a user.

    Input:
        - user: Who
            - name: Their name (default: "bob")
            - age: User age (default: 3)
        - options: How
            - verbose: Say more (default: true)
        - note: Free text
    """
    assert template_for(doc) == {
        "user": {"name": "bob", "age": 3},
        "options": {"verbose": True},
        "note": "",
    }


def test_names_in_any_script_or_in_quotes_are_kept() -> None:
    doc = """Input:
        - 名前: A name (default: "日本語")
        - "quoted": In quotes
        - `code`: In backquotes
        - 2fast: Not a name, so not a field
    """
    assert template_for(doc) == {"名前": "日本語", "quoted": "", "code": ""}


def test_quoted_names_may_hold_spaces_and_typed_names_keep_their_name() -> None:
    """``- "two words": ...`` was dropped and swallowed into the item before it."""
    doc = """Input:
        - 名前: A name (default: "太郎")
        - "two words": Quoted (default: "q")
        - 'single quoted': Also (default: 1)
        - text (str): Google style, typed
    """
    assert template_for(doc) == {
        "名前": "太郎",
        "two words": "q",
        "single quoted": 1,
        "text": "",
    }


def test_items_without_dashes_are_items_when_the_first_one_has_none() -> None:
    """A section of ``name: ...`` lines was called missing."""
    doc = """Input:
        text: The text, which: may run
            over two lines (default: "hi")
        count: How many (default: 2)
    """
    assert template_for(doc) == {"text": "hi", "count": 2}
    with_dashes = "Input:\n    - a: First\n    note: not an item under dashes\n"
    assert template_for(with_dashes) == {"a": ""}


def test_a_list_or_dict_type_without_a_default_starts_empty_of_its_kind() -> None:
    """``- texts (list): ...`` started as "": filled in as a string, batch-embed refused it
    ("'texts' must be a list of strings")."""
    doc = """Input:
        - texts (list): Texts to embed
        - options (dict): Extra settings
        - labels (List[str]): Labels
        - text (str): One text
        - count (int): How many (default: 3)
        - limit (int): At most
        - ratio (float, optional): A share
        - verbose (bool): Say more
        - seed (Optional[int]): Random seed
        - top_k (int | None): How many
    """
    assert template_for(doc) == {
        "texts": [],
        "options": {},
        "labels": [],
        "text": "",
        "count": 3,
        "limit": 0,
        "ratio": 0.0,
        "verbose": False,
        "seed": None,
        "top_k": None,
    }
    first, second = template_for(doc)["texts"], template_for(doc)["texts"]
    first.append("x")
    assert second == []  # each template gets its own list


def test_the_bundled_batch_actions_start_with_a_list_of_texts() -> None:
    import ast
    from pathlib import Path

    source = Path(__file__).parents[2] / "plugins/plugin-python-transformer/src/plugin.py"
    module = ast.parse(source.read_text())
    docs = {
        node.name: ast.get_docstring(node)
        for node in module.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("aro_action_batch_")
    }
    assert set(docs) == {"aro_action_batch_embed", "aro_action_batch_classify"}
    for doc in docs.values():
        assert template_for(doc)["texts"] == []


def test_an_input_section_that_is_a_json_object_is_the_template() -> None:
    """`Input: {"text": "hello", "n": 1}` read as "its docstring has no Input: section"."""
    assert template_for('Shout.\n\nInput: {"text": "hello", "n": 1}\n') == {"text": "hello", "n": 1}
    under = (
        'Shout.\n\n    Input:\n        {"text": "hello",\n         "n": 1}\n\n    Output: text\n'
    )
    assert template_for(under) == {"text": "hello", "n": 1}
    # Not an object, or not JSON: no example (and no items either).
    assert template_for("Input: a string of text\n") == {}
    assert template_for('Input: {"text": \n') == {}


def test_an_input_object_written_as_a_python_literal_is_read_as_defaults_are() -> None:
    """A trailing comma, Python's True, a comment after it: each gave no template."""
    assert template_for('Input: {"text": "hi",}') == {"text": "hi"}
    assert template_for("Input: {'text': 'hi', 'flag': True}") == {"text": "hi", "flag": True}
    assert template_for('Input: {"text": "hi"}  # the text to use') == {"text": "hi"}
    assert template_for("Input: {'when': datetime.now()}") == {}  # not a literal: no template


def test_an_input_section_is_told_apart_from_none() -> None:
    assert has_input_section("Input: [1, 2]") and has_input_section("Do.\n\nInputs:\n  x\n")
    assert not has_input_section("Takes no input.") and not has_input_section(None)


def test_items_at_the_titles_own_indent_are_the_sections_fields() -> None:
    """A markdown list under ``Input:`` gave ``{}`` and "neither a JSON object nor a list of
    fields", while the Docs panel showed the list."""
    doc = """Echo the input.

    Input:
    - text: what to echo (default: hi)
    - times (int): how often,
      once by default
    - options:
        - loud: shout it (default: false)
    """
    assert template_for(doc) == {"text": "hi", "times": 0, "options": {"loud": False}}
    assert parse_input_fields(doc)[1].description == "how often, once by default"
    after_a_blank_line = "Input:\n\n- text: what to echo (default: hi)\n"
    assert template_for(after_a_blank_line) == {"text": "hi"}


def test_a_list_at_the_titles_indent_ends_where_its_items_do() -> None:
    """The next section, the text after a blank line or a line that is no item is not read
    as more fields."""
    doc = """Echo the input.

    Input:
    - text: what to echo
    Output:
    - echoed: the text
    """
    assert template_for(doc) == {"text": ""}
    doc = """Echo the input.

    Input:
    - text: what to echo
    Returns the text.
    - not_an_input: a list in the prose
    """
    assert template_for(doc) == {"text": ""}
    doc = """Echo the input.

    Input:
    - text: what to echo

    - note: a list in the text after the section
    Returns:
        the text
    """
    assert template_for(doc) == {"text": ""}
    indented_then_flush = "Input:\n    - text: first\n- other: not under Input:\n"
    assert template_for(indented_then_flush) == {"text": ""}
