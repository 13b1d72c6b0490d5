"""What the transformer plugin answers when a call fails: the cause, in the `error` line.

The CLI prints only `error` (`plugin_error: ...`) and so does the dashboard (`⚠ action error:
...`): every one of these used to read "Unexpected error", or named the wrong problem.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import PLUGIN_SCRIPT, PluginSession, plugin_env

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def app_folder(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the plugin runs: ./models holds a tiny GPT-2, a tiny BERT for questions, a tiny
    T5, a BERT whose tokenizer has more tokens than its embedding table, and a file."""
    import torch
    from transformers import (
        AutoTokenizer,
        BertConfig,
        BertModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    app = tmp_path_factory.mktemp("app")
    models = app / "models"
    models.mkdir()
    shutil.copytree(tiny_models["generate"], models / "tiny-gpt2")
    shutil.copytree(tiny_models["answer"], models / "tiny-bert-qa")
    (models / "bad-file").write_text("not a model\n")
    tokenizer = AutoTokenizer.from_pretrained(tiny_models["embed"])
    torch.manual_seed(0)
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_ff=64,
            num_layers=1,
            num_heads=2,
            d_kv=16,
            decoder_start_token_id=tokenizer.pad_token_id,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.sep_token_id,
        )
    )
    t5.save_pretrained(models / "tiny-t5")
    tokenizer.save_pretrained(models / "tiny-t5")
    # Ids 0-4 are the special tokens: "[MASK]" encodes to [CLS] [MASK] [SEP] and fits; words
    # do not ("IndexError: index out of range in self").
    five_tokens = BertModel(
        BertConfig(
            vocab_size=5,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            pad_token_id=tokenizer.pad_token_id,
        ),
        add_pooling_layer=False,
    )
    five_tokens.save_pretrained(models / "five-token-bert")
    tokenizer.save_pretrained(models / "five-token-bert")
    return app


@pytest.fixture(scope="module")
def session_in_app(app_folder: Path) -> Iterator[PluginSession]:
    """The plugin started in the app folder, so "models/..." is relative to it."""
    session = PluginSession(
        plugin_env(app_folder / "hf-home"), app_folder / "stderr.log", cwd=app_folder
    )
    yield session
    session.close()


def _loaded_models(session: PluginSession) -> list[str]:
    return [item["model"] for item in session.call("models")["details"]]


# ---------------------------------------------------------------- failures inside the model


def test_a_failure_inside_the_model_names_action_model_and_exception(
    session_in_app: PluginSession, app_folder: Path
) -> None:
    result = session_in_app.call(
        "embed", {"text": "the cat sat", "model": "models/five-token-bert"}
    )
    assert result["error"] == (
        "embed with model 'models/five-token-bert' failed: IndexError: index out of range in self"
    )
    assert result["type"] == "IndexError"
    assert result["message"] == "index out of range in self"
    assert result["model"] == "models/five-token-bert"
    assert "tokenizer" in result["suggestion"]


def test_a_model_whose_first_use_failed_is_unloaded_and_a_used_one_stays(
    session_in_app: PluginSession, app_folder: Path
) -> None:
    model = "models/five-token-bert"
    folder = str(app_folder / "models" / "five-token-bert")
    first = session_in_app.call("embed", {"text": "the cat sat", "model": model})
    assert first["unloaded"] == [f"feature-extraction:{folder}:cpu:float32"]
    assert "first use" in first["suggestion"]
    assert folder not in _loaded_models(session_in_app)

    fits = session_in_app.call("embed", {"text": "[MASK]", "model": model})
    assert "error" not in fits, fits
    later = session_in_app.call("embed", {"text": "the cat sat", "model": model})
    assert later["error"].startswith(f"embed with model '{model}' failed: IndexError")
    assert "unloaded" not in later
    assert later["loaded"] == [f"feature-extraction:{folder}:cpu:float32"]
    assert "'unload' action frees it" in later["suggestion"]
    assert folder in _loaded_models(session_in_app)


def test_embed_with_an_encoder_decoder_model_is_refused_before_it_loads(
    session_in_app: PluginSession, app_folder: Path
) -> None:
    """T5 failed with "ValueError: You must specify exactly one of input_ids or inputs_embeds"."""
    result = session_in_app.call("embed", {"text": "hello", "model": "models/tiny-t5"})
    folder = app_folder / "models" / "tiny-t5"
    assert result["error"] == (
        f"Model '{folder}' is an encoder-decoder model (T5ForConditionalGeneration), "
        "so it cannot be used for embedding"
    )
    assert "summarize" in result["suggestion"]
    assert str(folder) not in _loaded_models(session_in_app)


def test_without_torch_the_error_says_which_module_is_missing(tmp_path: Path) -> None:
    """The plugin's interpreter without its site-packages (-S): no torch, no transformers."""
    env = plugin_env(tmp_path / "hf-home")
    env.pop("PYTHONPATH", None)
    request = json.dumps({"action": "generate", "input": json.dumps({"prompt": "hi"})})
    completed = subprocess.run(
        [sys.executable, "-S", str(PLUGIN_SCRIPT), "--aro"],
        input=request + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    result = json.loads(completed.stdout)
    assert result["error"] == (
        "generate with model 'gpt2' failed: ModuleNotFoundError: No module named 'torch'"
    )
    assert "pip install" in result["suggestion"]


# ---------------------------------------------------------------- input text


LONE_SURROGATE = "a \ud800 b"
"""Valid JSON ("a \\ud800 b") but not Unicode text: tokenizers raised a TypeError."""


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("embed", {"text": LONE_SURROGATE, "model": "models/tiny-gpt2"}, "text"),
        ("embed", {"text": ["fine", LONE_SURROGATE], "model": "models/tiny-gpt2"}, "text[1]"),
        ("batch-embed", {"texts": [LONE_SURROGATE], "model": "models/tiny-gpt2"}, "texts[0]"),
        ("generate", {"prompt": LONE_SURROGATE, "model": "models/tiny-gpt2"}, "prompt"),
        (
            "answer",
            {"question": "Why?", "context": LONE_SURROGATE, "model": "models/tiny-bert-qa"},
            "context",
        ),
    ],
)
def test_a_lone_surrogate_is_an_input_error_naming_the_field(
    session_in_app: PluginSession, action: str, params: dict[str, Any], field: str
) -> None:
    result = session_in_app.call(action, params)
    assert result["error"] == (
        f"'{field}' is not valid Unicode text: a lone surrogate \\ud800 at character 2"
    )
    assert result["field"] == field


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("embed", {"text": ["", "a"]}, "text[0]"),
        ("batch-embed", {"texts": [""]}, "texts[0]"),
        ("batch-embed", {"texts": ["a", "b", ""]}, "texts[2]"),
        ("batch-classify", {"texts": ["a", ""]}, "texts[1]"),
    ],
)
def test_an_empty_text_in_a_list_is_refused_like_an_empty_text(
    session_in_app: PluginSession, action: str, params: dict[str, Any], field: str
) -> None:
    result = session_in_app.call(action, params)
    assert result["error"] == f"'{field}' is empty"
    assert result["field"] == field


# ---------------------------------------------------------------- model paths


def test_a_typo_in_a_relative_model_path_is_a_missing_folder_not_a_hub_name(
    session_in_app: PluginSession, app_folder: Path
) -> None:
    result = session_in_app.call("generate", {"prompt": "hi", "model": "models/tiny-gtp2"})
    models = app_folder / "models"
    assert result["error"] == (
        f"No model folder {models / 'tiny-gtp2'}; did you mean {models / 'tiny-gpt2'}?"
    )
    assert "hf download" not in result["suggestion"]
    assert str(app_folder) in result["suggestion"]  # where relative paths start


def test_a_model_path_to_a_file_says_it_is_a_file(
    session_in_app: PluginSession, app_folder: Path
) -> None:
    result = session_in_app.call("generate", {"prompt": "hi", "model": "models/bad-file"})
    assert result["error"] == f"{app_folder / 'models' / 'bad-file'} is a file, not a model folder"
    config = "models/tiny-gpt2/config.json"
    result = session_in_app.call("generate", {"prompt": "hi", "model": config})
    assert result["suggestion"].endswith(str(app_folder / "models" / "tiny-gpt2"))
