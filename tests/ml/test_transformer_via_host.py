"""The transformer plugin driven by aro-tui's own plugin host (the harness, not `--aro`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aro_tui.core.host.exchange import ExchangeStatus
from aro_tui.core.host.process import PluginLaunch, PluginProcess

from .conftest import PLUGIN_SCRIPT, PluginSession, plugin_env

pytestmark = pytest.mark.ml


async def test_host_runs_the_plugin_like_its_own_loop(
    plugin_session: PluginSession, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    plugin = PluginProcess(
        PluginLaunch(
            name="plugin-python-transformer",
            module_path=PLUGIN_SCRIPT,
            interpreter=Path(sys.executable),
            env=plugin_env(tmp_path / "hf-home"),
            default_timeout_s=120,
            start_timeout_s=60,
        )
    )
    await plugin.start()
    try:
        assert "batch-embed" in plugin.action_names()
        texts = ["The cat sat", "A kitten plays with string"]
        request = {"texts": texts, "model": str(tiny_models["embed"])}
        exchange = await plugin.call("batch-embed", json.dumps(request))
        assert exchange.status is ExchangeStatus.OK, exchange.error
        via_host = exchange.response_json()
        via_loop = plugin_session.call("batch-embed", request)
        for host_vector, loop_vector in zip(
            via_host["embeddings"], via_loop["embeddings"], strict=True
        ):
            assert host_vector == pytest.approx(loop_vector, abs=1e-6)

        context = "ARO was created in 2026 and runs Python plugins."
        answer = await plugin.call(
            "answer",
            json.dumps(
                {"question": "When?", "context": context, "model": str(tiny_models["answer"])}
            ),
        )
        result = answer.response_json()
        assert context[result["start"] : result["end"]] == result["answer"]

        offline = await plugin.call(
            "classify", json.dumps({"text": "hi", "model": "nobody/nothing"})
        )
        assert offline.status is ExchangeStatus.PLUGIN_ERROR
        assert "not in the local Hugging Face cache" in offline.response_json()["error"]

        models = (await plugin.call("models", "{}")).response_json()
        assert {item["task"] for item in models["details"]} == {
            "feature-extraction",
            "question-answering",
        }
    finally:
        await plugin.stop()
