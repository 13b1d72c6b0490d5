"""A checkpoint without the task's trained weights must say so, not answer at random.

transformers builds the task's head anyway and initialises it at random; its own warning about
that ("Some weights ... were newly initialized") is silenced in the plugin, so the answer
itself has to carry it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import PluginSession

pytestmark = pytest.mark.ml


def _ok(response: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in response, response
    return response


def _details(session: PluginSession, key: str) -> dict[str, Any]:
    report = _ok(session.call("models"))
    return next(item for item in report["details"] if item["key"] == key)


def test_classify_with_a_plain_encoder_warns_every_time(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """A BertModel folder has no classifier: it answered LABEL_1 0.5078 without a word."""
    encoder = str(tiny_models["embed"])
    first = _ok(plugin_session.call("classify", {"text": "a cat", "model": encoder}))
    assert "no trained weights for text-classification" in first["warning"]
    assert "classifier.weight" in first["warning"]
    cached = _ok(plugin_session.call("classify", {"text": "a dog", "model": encoder}))
    assert cached["warning"] == first["warning"]
    batch = _ok(plugin_session.call("batch-classify", {"texts": ["a", "b"], "model": encoder}))
    assert batch["warning"] == first["warning"]
    key = f"text-classification:{encoder}:cpu:float32"
    assert _details(plugin_session, key)["warning"] == first["warning"]

    trained = _ok(
        plugin_session.call("classify", {"text": "a cat", "model": str(tiny_models["classify"])})
    )
    assert "warning" not in trained


def test_answer_with_a_gpt2_folder_warns(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = _ok(
        plugin_session.call(
            "answer",
            {
                "question": "Who sat?",
                "context": "The cat sat on the mat.",
                "model": str(tiny_models["generate"]),
            },
        )
    )
    assert "no trained weights for question-answering" in result["warning"]
    assert "qa_outputs" in result["warning"]
    trained = _ok(
        plugin_session.call(
            "answer",
            {
                "question": "Who sat?",
                "context": "The cat sat on the mat.",
                "model": str(tiny_models["answer"]),
            },
        )
    )
    assert "warning" not in trained


def test_generate_with_an_encoder_or_seq2seq_folder_is_an_input_error(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """AutoModelForCausalLM builds BertLMHeadModel / BartForCausalLM for these: noise came out."""
    for folder, architecture in (
        (tiny_models["embed"], "BertModel"),
        (tiny_models["summarize"], "BartForConditionalGeneration"),
    ):
        result = plugin_session.call(
            "generate", {"prompt": "The cat", "max_new_tokens": 3, "model": str(folder)}
        )
        assert "is not a causal language model" in result.get("error", ""), result
        assert architecture in result["error"]
        assert "summarize" in result["suggestion"]
        loaded = _ok(plugin_session.call("models"))["loaded"]
        assert f"text-generation:{folder}:cpu:float32" not in loaded


def test_embedding_an_encoder_without_pooler_does_not_warn(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """Embeddings use the token states only: a checkpoint without a pooler is complete for them."""
    result = _ok(
        plugin_session.call("embed", {"text": "a cat", "model": str(tiny_models["answer"])})
    )
    assert "warning" not in result
