"""The docs panel wraps a real plugin's docstring without splitting the words that fit."""

from __future__ import annotations

from pathlib import Path

from helpers import REPO, make_app, plugin_state, wait_until

from aro_tui.ui.widgets.sidebar.action_list import DocText

TRANSFORMER = REPO / "plugins" / "plugin-python-transformer"
NAME = "plugin-python-transformer"
HANG = 6
"""Where an ``Input:`` item's wrapped lines start (``    - ``)."""


async def test_the_embed_doc_breaks_only_the_model_name_and_not_mid_line(tmp_path: Path) -> None:
    app = make_app(tmp_path, TRANSFORMER)
    async with app.run_test(size=(140, 45)) as pilot:
        screen = app.main_screen
        await wait_until(pilot, lambda: plugin_state(app, NAME) == "ready", "plugin ready")
        screen.select_action("embed")
        panel = screen.query_one("#action-doc-text", DocText)
        await wait_until(pilot, lambda: "Generate embeddings" in str(panel.render()), "the doc")
        width = panel.size.width
        lines = str(panel.render()).splitlines()
        doc = dict(app.registry[NAME].actions())["embed"]
    assert doc is not None and width == 28, "the panel as a 140-column terminal shows it"
    assert all(len(line) <= width for line in lines), "the terminal wraps nothing again"
    shown_words = {word for line in lines for word in line.split()}
    fitting = {word for word in doc.split() if len(word) <= width - HANG}
    assert fitting <= shown_words, "every word that fits a line is shown whole"
    start = lines.index('      "sentence-transformers')  # was `installed (default: "s`
    assert lines[start - 1] == "      installed (default:"
    assert lines[start + 1] == '      /all-MiniLM-L6-v2")'
    assert "".join("".join(lines).split()) == "".join(doc.split()), "no character lost"
