"""One model is one cache entry, however the request spells it.

These run in their own plugin process so that the `models` listing holds only what they load.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PluginSession, plugin_env

pytestmark = pytest.mark.ml

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


def _ok(response: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in response, response
    return response


@pytest.fixture
def fresh_session(tmp_path: Path) -> Iterator[PluginSession]:
    session = PluginSession(plugin_env(tmp_path / "hf-home"), tmp_path / "stderr.log")
    yield session
    session.close()


def _loaded(session: PluginSession, task: str) -> list[str]:
    return [key for key in _ok(session.call("models"))["loaded"] if key.startswith(task + ":")]


def test_spellings_of_one_folder_load_it_once(
    fresh_session: PluginSession, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """ "/m/tiny-gpt2", "/m/tiny-gpt2/" and "/m/../m/tiny-gpt2" loaded three copies."""
    folder = tiny_models["generate"]
    link = tmp_path / "gpt2-link"
    link.symlink_to(folder, target_is_directory=True)
    spellings = [
        str(folder),
        str(folder) + "/",
        str(folder.parent / ".." / folder.parent.name / folder.name),
        str(link),
    ]
    results = [
        _ok(
            fresh_session.call(
                "generate",
                {"prompt": "The cat", "max_new_tokens": 1, "temperature": 0, "model": spelling},
            )
        )
        for spelling in spellings
    ]
    key = f"text-generation:{folder}:cpu:float32"
    assert _loaded(fresh_session, "text-generation") == [key]
    assert {result["model"] for result in results} == {str(folder)}
    unloaded = _ok(fresh_session.call("unload", {"model": str(link) + "/"}))
    assert unloaded["unloaded"] == [key]


def test_the_default_embedding_model_is_one_entry_under_its_hub_name(
    fresh_session: PluginSession, minilm_path: Path
) -> None:
    """No model, its Hub name and the bundled copy's folder loaded separate copies, one of them
    under the key "feature-extraction:default:..."."""
    names = set()
    for model in (None, MINILM, "all-MiniLM-L6-v2", str(minilm_path)):
        params: dict[str, Any] = {"text": "a cat"}
        if model is not None:
            params["model"] = model
        names.add(_ok(fresh_session.call("embed", params))["model"])
    assert _loaded(fresh_session, "feature-extraction") == [
        f"feature-extraction:{MINILM}:cpu:float32"
    ]
    assert names == {MINILM}
    unloaded = _ok(fresh_session.call("unload", {"model": str(minilm_path)}))
    assert unloaded["unloaded"] == [f"feature-extraction:{MINILM}:cpu:float32"]
    assert _loaded(fresh_session, "feature-extraction") == []
