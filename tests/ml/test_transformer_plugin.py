"""The transformer example plugin, driven through its own `--aro` loop in a real subprocess."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import CLASS_LABELS, PLUGIN_DIR, PluginSession, plugin_env

pytestmark = pytest.mark.ml

CONTEXT = (
    "ARO is a domain-specific language for expressing business logic. It was created in 2026 "
    "and uses an Action-Result-Object syntax pattern."
)


def _ok(response: dict[str, Any]) -> dict[str, Any]:
    assert "error" not in response, response
    return response


def _norm(vector: list[float]) -> float:
    return math.sqrt(sum(value * value for value in vector))


def _dot(left: list[float], right: list[float]) -> float:
    return sum(a * b for a, b in zip(left, right, strict=True))


# ---------------------------------------------------------------- generate


def test_generate_stops_at_max_new_tokens(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    model = str(tiny_models["generate"])
    for limit in (3, 9):
        result = _ok(
            plugin_session.call(
                "generate",
                {"prompt": "The cat", "max_new_tokens": limit, "temperature": 0, "model": model},
            )
        )
        assert result["new_tokens"] == limit
        assert result["finish_reason"] == "length"
        assert result["generated_text"] == "The cat" + result["continuation"]
        assert result["prompt"] == "The cat"
        assert result["model"] == model


def test_generate_max_length_counts_the_prompt(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = _ok(
        plugin_session.call(
            "generate",
            {
                "prompt": "The quick brown fox",
                "max_length": 12,
                "temperature": 0,
                "model": str(tiny_models["generate"]),
            },
        )
    )
    assert result["prompt_tokens"] + result["new_tokens"] == 12
    assert result["max_length"] == 12


def test_generate_prompt_longer_than_max_length_is_a_clear_error(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = plugin_session.call(
        "generate",
        {
            "prompt": "The quick brown fox jumps",
            "max_length": 2,
            "model": str(tiny_models["generate"]),
        },
    )
    assert "max_length" in result["error"]
    assert "max_new_tokens" in result["suggestion"]


def test_generate_temperature_zero_is_deterministic(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    params = {
        "prompt": "A kitten",
        "max_new_tokens": 15,
        "temperature": 0,
        "model": str(tiny_models["generate"]),
    }
    first = _ok(plugin_session.call("generate", params))
    second = _ok(plugin_session.call("generate", params))
    assert first["do_sample"] is False
    assert first["generated_text"] == second["generated_text"]


def test_generate_sampling_follows_the_seed(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    base = {
        "prompt": "A kitten",
        "max_new_tokens": 20,
        "temperature": 1.5,
        "model": str(tiny_models["generate"]),
    }
    same = [_ok(plugin_session.call("generate", {**base, "seed": 7})) for _ in range(2)]
    assert same[0]["do_sample"] is True
    assert same[0]["continuation"] == same[1]["continuation"]
    others = {
        _ok(plugin_session.call("generate", {**base, "seed": seed}))["continuation"]
        for seed in (1, 2, 3)
    }
    assert len(others | {same[0]["continuation"]}) > 1


def test_generate_stops_at_the_models_positions_instead_of_failing(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """Asked for more tokens than the model has positions, it failed with "IndexError: index
    out of range in self" (the tiny model has 128 positions, gpt2 1024)."""
    model = str(tiny_models["generate"])
    params = {"prompt": "The cat", "max_new_tokens": 500, "temperature": 0, "model": model}
    result = _ok(plugin_session.call("generate", params))
    assert result["prompt_tokens"] + result["new_tokens"] <= 128
    assert result["max_new_tokens"] == 128 - result["prompt_tokens"]
    assert result["finish_reason"] in {"length", "eos"}
    long_prompt = plugin_session.call(
        "generate", {"prompt": "cat " * 200, "max_new_tokens": 5, "model": model}
    )
    assert long_prompt["error"].startswith("The prompt is ")
    assert "the model takes at most 128 tokens" in long_prompt["error"]
    empty = plugin_session.call("generate", {"prompt": "", "model": model})
    assert empty["error"] == "'prompt' is empty"  # it said "Missing", listing it as received


# ---------------------------------------------------------------- summarize


def test_summarize_returns_a_summary_with_the_spec_fields(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    text = " ".join(
        [
            "Machine learning models learn patterns from examples and data.",
            "The cat sat on the mat and looked at the garden.",
        ]
    )
    result = _ok(
        plugin_session.call(
            "summarize",
            {
                "text": text,
                "max_length": 20,
                "min_length": 5,
                "model": str(tiny_models["summarize"]),
            },
        )
    )
    assert isinstance(result["summary"], str) and result["summary"]
    assert result["input_length"] == len(text)
    assert result["output_length"] == len(result["summary"])
    assert result["compression_ratio"] == round(len(result["summary"]) / len(text), 3)
    assert result["model"] == str(tiny_models["summarize"])


def test_summarize_truncates_input_longer_than_the_model_takes(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    text = "The quick brown fox jumps over the lazy dog near the river bank. " * 40
    result = _ok(
        plugin_session.call(
            "summarize",
            {
                "text": text,
                "max_length": 10,
                "min_length": 2,
                "model": str(tiny_models["summarize"]),
            },
        )
    )
    assert result["truncated"] is True
    assert result["input_tokens"] == 128
    assert result["summary"]


def test_summarize_caps_the_summary_at_the_models_positions(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """The documented default max_length (130) is past the tiny model's 128 positions: it
    failed with an IndexError."""
    model = str(tiny_models["summarize"])
    text = "The cat sat on the mat and looked at the garden. A kitten is a young cat."
    result = _ok(plugin_session.call("summarize", {"text": text, "model": model}))
    assert result["max_length"] == 128 and result["summary"]
    wrong = plugin_session.call(
        "summarize", {"text": text, "min_length": 50, "max_length": 10, "model": model}
    )
    assert wrong["error"] == "'min_length' (50) must not be more than 'max_length' (10)"


# ---------------------------------------------------------------- classify


def test_classify_ranks_every_label(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = _ok(
        plugin_session.call(
            "classify",
            {
                "text": "This product exceeded my expectations",
                "model": str(tiny_models["classify"]),
            },
        )
    )
    labels = [item["label"] for item in result["all_scores"]]
    scores = [item["score"] for item in result["all_scores"]]
    assert sorted(labels) == sorted(CLASS_LABELS.values())
    assert scores == sorted(scores, reverse=True)
    assert result["label"] == labels[0]
    assert result["score"] == scores[0]
    assert sum(scores) == pytest.approx(1.0, abs=1e-3)


def test_batch_classify_agrees_with_single_calls(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    model = str(tiny_models["classify"])
    texts = ["The cat sat on the mat", "Spreadsheets hold numbers", "A kitten plays with string"]
    batch = _ok(plugin_session.call("batch-classify", {"texts": texts, "model": model}))
    assert batch["count"] == 3
    for text, item in zip(texts, batch["results"], strict=True):
        single = _ok(plugin_session.call("classify", {"text": text, "model": model}))
        assert item["text"] == text[:50]
        assert item["label"] == single["label"]
        assert item["score"] == pytest.approx(single["score"], abs=2e-4)


# ---------------------------------------------------------------- answer


def test_answer_is_a_span_of_the_context(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = _ok(
        plugin_session.call(
            "answer",
            {
                "question": "What syntax pattern does ARO use?",
                "context": CONTEXT,
                "model": str(tiny_models["answer"]),
            },
        )
    )
    assert 0 <= result["start"] < result["end"] <= len(CONTEXT)
    assert CONTEXT[result["start"] : result["end"]] == result["answer"]
    assert 0 < result["score"] <= 1
    assert result["question"] == "What syntax pattern does ARO use?"


def test_answer_over_a_context_longer_than_the_model_window(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    long_context = " ".join([CONTEXT] * 12)  # far past the tiny model's 128 tokens
    result = _ok(
        plugin_session.call(
            "answer",
            {
                "question": "When was ARO created?",
                "context": long_context,
                "max_answer_length": 4,
                "doc_stride": 32,
                "model": str(tiny_models["answer"]),
            },
        )
    )
    assert long_context[result["start"] : result["end"]] == result["answer"]
    assert result["answer"]
    assert len(result["answer"].split()) <= 4


def _expected_windows(model: Path, question: str, context: str, doc_stride: int) -> int:
    """Windows of the tiny model's 128 tokens over the context, overlapping by the stride or
    half a window, whichever is less."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    context_tokens = len(tokenizer(context, add_special_tokens=False)["input_ids"])
    question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    window = 128 - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)
    advance = window - min(doc_stride, window // 2)
    return 1 + math.ceil(max(0, context_tokens - window) / advance)


@pytest.mark.parametrize("doc_stride", [128, 16])
def test_answer_windows_grow_with_the_context_and_overlap_at_most_half(
    plugin_session: PluginSession, tiny_models: dict[str, Path], doc_stride: int
) -> None:
    """The overlap was capped at the window less the question, so with the default stride of
    128 on a 128-token model each window advanced 5 tokens: 200 KB took 31 s."""
    model = tiny_models["answer"]
    question = "When was ARO created?"
    counts = []
    for repeats in (10, 40):
        context = " ".join([CONTEXT] * repeats)
        result = _ok(
            plugin_session.call(
                "answer",
                {
                    "question": question,
                    "context": context,
                    "doc_stride": doc_stride,
                    "model": str(model),
                },
            )
        )
        assert context[result["start"] : result["end"]] == result["answer"]
        assert result["windows"] == _expected_windows(model, question, context, doc_stride)
        counts.append(result["windows"])
    assert 3.5 <= counts[1] / counts[0] <= 4.5  # proportional to the context's length


def test_answer_over_a_200_kb_context_keeps_memory_bounded(
    tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """All windows went through the model in one batch: 1.5 GB for a 200 KB context."""
    session = PluginSession(plugin_env(tmp_path / "hf-home"), tmp_path / "stderr.log")
    params = {"question": "When was ARO created?", "model": str(tiny_models["answer"])}
    try:
        _ok(session.call("answer", {**params, "context": CONTEXT}))
        loaded_peak_bytes = session.peak_rss_bytes()
        context = " ".join([CONTEXT] * 1500)
        assert len(context) > 200_000
        result = _ok(session.call("answer", {**params, "context": context}))
        growth_bytes = session.peak_rss_bytes() - loaded_peak_bytes
    finally:
        session.close()
    assert result["windows"] > 500
    assert growth_bytes < 128 * 1024 * 1024, f"peak memory grew {growth_bytes / 2**20:.0f} MiB"


# ---------------------------------------------------------------- embed


def test_embed_gives_unit_vectors(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = _ok(
        plugin_session.call("embed", {"text": "The cat sat", "model": str(tiny_models["embed"])})
    )
    assert result["count"] == 1
    assert result["dimensions"] == 32 == len(result["embeddings"][0])
    assert _norm(result["embeddings"][0]) == pytest.approx(1.0, abs=1e-5)
    assert result["pooling"] == "mean" and result["normalized"] is True


def test_embed_checks_normalize_and_text_types(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """ "normalize": "false" was read as true; an empty list was a "missing" text listed as
    received; a number was called not a list."""
    model = str(tiny_models["embed"])
    wrong = plugin_session.call("embed", {"text": "word", "normalize": "false", "model": model})
    assert wrong["error"] == "'normalize' must be true or false"
    empty = plugin_session.call("embed", {"text": [], "model": model})
    assert empty["error"] == "'text' is empty: give a string or a list of strings"
    number = plugin_session.call("embed", {"text": 123, "model": model})
    assert number["error"] == "'text' must be a string or a list of strings"
    raw = _ok(plugin_session.call("embed", {"text": "word", "normalize": False, "model": model}))
    assert raw["normalized"] is False


def test_batch_embed_matches_single_embeds_despite_padding(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    model = str(tiny_models["embed"])
    texts = ["cat", "The quick brown fox jumps over the lazy dog near the river bank", "a kitten"]
    batch = _ok(plugin_session.call("batch-embed", {"texts": texts, "model": model}))
    assert batch["count"] == 3
    listed = _ok(plugin_session.call("embed", {"text": texts, "model": model}))
    for text, vector, listed_vector in zip(
        texts, batch["embeddings"], listed["embeddings"], strict=True
    ):
        single = _ok(plugin_session.call("embed", {"text": text, "model": model}))
        assert vector == pytest.approx(single["embeddings"][0], abs=1e-5)
        assert listed_vector == pytest.approx(vector, abs=1e-6)


def test_dtype_is_part_of_the_cache_key(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    model = str(tiny_models["embed"])
    full = _ok(plugin_session.call("embed", {"text": "a kitten", "model": model}))
    half = _ok(
        plugin_session.call(
            "embed", {"text": "a kitten", "model": model, "dtype": "bfloat16", "device": "cpu"}
        )
    )
    assert _dot(full["embeddings"][0], half["embeddings"][0]) > 0.98
    details = {item["key"]: item for item in _ok(plugin_session.call("models"))["details"]}
    assert details[f"feature-extraction:{model}:cpu:float32"]["dtype"] == "float32"
    assert details[f"feature-extraction:{model}:cpu:bfloat16"]["dtype"] == "bfloat16"


# ---------------------------------------------------------------- all-MiniLM-L6-v2


def _sentence_transformers_reference(folder: Path, texts: list[str]) -> list[list[float]]:
    """all-MiniLM-L6-v2 as sentence-transformers defines it, computed here by hand.

    modules.json: Transformer -> Pooling (mean tokens) -> Normalize; sentence_bert_config.json:
    max_seq_length 256. Each text is encoded on its own (no padding at all).
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    modules = json.loads((folder / "modules.json").read_text())
    assert [module["type"].rsplit(".", 1)[1] for module in modules] == [
        "Transformer",
        "Pooling",
        "Normalize",
    ]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True
    max_seq_length = json.loads((folder / "sentence_bert_config.json").read_text())[
        "max_seq_length"
    ]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    vectors = []
    with torch.inference_mode():
        for text in texts:
            encoded = tokenizer(
                text, truncation=True, max_length=max_seq_length, return_tensors="pt"
            )
            tokens = model(**encoded).last_hidden_state[0]
            mean = tokens.mean(dim=0)
            vectors.append((mean / mean.norm()).tolist())
    return vectors


def test_minilm_is_the_default_and_matches_sentence_transformers(
    plugin_session: PluginSession, minilm_path: Path
) -> None:
    texts = ["A cat sits on the mat.", "A kitten is playing.", "Quarterly spreadsheet totals."]
    long_text = "word " * 400  # longer than max_seq_length: sentence-transformers truncates at 256
    result = _ok(plugin_session.call("batch-embed", {"texts": [*texts, long_text]}))
    assert result["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert result["dimensions"] == 384
    reference = _sentence_transformers_reference(minilm_path, [*texts, long_text])
    for got, expected in zip(result["embeddings"], reference, strict=True):
        assert got == pytest.approx(expected, abs=2e-5)
        assert _norm(got) == pytest.approx(1.0, abs=1e-5)


def test_minilm_semantic_ordering(plugin_session: PluginSession) -> None:
    result = _ok(plugin_session.call("embed", {"text": ["cat", "kitten", "spreadsheet"]}))
    cat, kitten, spreadsheet = result["embeddings"]
    assert _dot(cat, kitten) > _dot(cat, spreadsheet) + 0.2


# ---------------------------------------------------------------- models and unload


def test_models_reports_what_is_loaded(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    from transformers import AutoModelForCausalLM

    model = str(tiny_models["generate"])
    _ok(plugin_session.call("generate", {"prompt": "hi", "max_new_tokens": 1, "model": model}))
    report = _ok(plugin_session.call("models"))
    key = f"text-generation:{model}:cpu:float32"
    assert key in report["loaded"]
    assert report["available"]["text-generation"] == "gpt2"
    entry = next(item for item in report["details"] if item["key"] == key)
    reference = AutoModelForCausalLM.from_pretrained(model)
    parameters = sum(p.numel() for p in reference.parameters())
    buffers_bytes = sum(b.numel() * b.element_size() for b in reference.buffers())
    assert entry["task"] == "text-generation"
    assert entry["model"] == model
    assert entry["device"] == "cpu" and entry["dtype"] == "float32"
    assert entry["parameters"] == parameters
    assert entry["memory_bytes"] == parameters * 4 + buffers_bytes
    assert entry["load_seconds"] > 0


def test_unload_one_model_then_use_it_again(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    model = str(tiny_models["classify"])
    _ok(plugin_session.call("classify", {"text": "cat", "model": model}))
    key = f"text-classification:{model}:cpu:float32"
    unloaded = _ok(plugin_session.call("unload", {"model": model}))
    assert unloaded["unloaded"] == [key]
    assert unloaded["freed_bytes"] > 0
    assert key not in _ok(plugin_session.call("models"))["loaded"]
    _ok(plugin_session.call("classify", {"text": "cat", "model": model}))
    assert key in _ok(plugin_session.call("models"))["loaded"]
    by_key = _ok(plugin_session.call("unload", {"key": key}))
    assert by_key["unloaded"] == [key]


def test_unload_errors_and_unload_all(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    missing = plugin_session.call("unload", {"model": "no/such-model"})
    assert "No loaded model" in missing["error"]
    assert "loaded" in missing
    assert "Missing" in plugin_session.call("unload", {})["error"]
    _ok(plugin_session.call("embed", {"text": "cat", "model": str(tiny_models["embed"])}))
    for not_true in ("false", "no", 0.1):  # once read as true: every model was unloaded
        wrong = plugin_session.call("unload", {"all": not_true})
        assert wrong["error"] == "'all' must be true or false"
    assert _ok(plugin_session.call("models"))["details"] != []
    everything = _ok(plugin_session.call("unload", {"all": True}))
    assert everything["loaded"] == []
    assert _ok(plugin_session.call("models"))["details"] == []


# ---------------------------------------------------------------- errors


def test_offline_unknown_hub_name_says_what_to_do(plugin_session: PluginSession) -> None:
    result = plugin_session.call("generate", {"prompt": "hi", "model": "someone/not-downloaded"})
    assert "not in the local Hugging Face cache" in result["error"]
    assert "HF_HUB_OFFLINE" in result["error"]
    assert result["model"] == "someone/not-downloaded"
    assert "local" in result["suggestion"] and "HF_HUB_OFFLINE" in result["suggestion"]
    assert "Traceback" not in json.dumps(result)


def test_default_model_not_cached_offline_is_a_clear_error(plugin_session: PluginSession) -> None:
    result = plugin_session.call("summarize", {"text": "Some text to summarize."})
    assert "facebook/bart-large-cnn" in result["error"]
    assert "suggestion" in result


def test_missing_local_folder(plugin_session: PluginSession, tmp_path: Path) -> None:
    result = plugin_session.call("embed", {"text": "hi", "model": str(tmp_path / "nowhere")})
    assert result["error"] == f"No model folder {tmp_path / 'nowhere'}"


def test_a_sentence_transformers_submodule_folder_points_at_its_parent(
    plugin_session: PluginSession, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_models["embed"], model)
    pooling = model / "1_Pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text('{"word_embedding_dimension": 32}')
    result = plugin_session.call("embed", {"text": "hi", "model": str(pooling)})
    assert f"is a part of the model in {model}, not a model" in result["error"]
    assert result["suggestion"] == f"Pass the parent folder as 'model': {model}"
    assert (
        _ok(plugin_session.call("embed", {"text": "hi", "model": str(model)}))["dimensions"] == 32
    )


def test_a_model_folder_without_tokenizer_files_says_so(
    plugin_session: PluginSession, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for item in tiny_models["embed"].iterdir():
        if item.name == "config.json" or item.suffix in {".safetensors", ".bin"}:
            shutil.copy(item, weights_only)
    result = plugin_session.call("embed", {"text": "hi", "model": str(weights_only)})
    assert f"No tokenizer files in {weights_only}" in result["error"]
    assert "tokenizer.save_pretrained" in result["suggestion"]


def test_model_of_the_wrong_kind_for_the_task(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    result = plugin_session.call("summarize", {"text": "hi", "model": str(tiny_models["embed"])})
    assert "cannot be used for summarization" in result["error"]


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("generate", {}, "prompt"),
        ("summarize", {"max_length": 10}, "text"),
        ("embed", {}, "text"),
        ("batch-embed", {"text": "not texts"}, "texts"),
        ("classify", {}, "text"),
        ("batch-classify", {}, "texts"),
        ("answer", {"context": CONTEXT}, "question"),
        ("answer", {"question": "What?"}, "context"),
    ],
)
def test_missing_fields(
    plugin_session: PluginSession, action: str, params: dict[str, Any], field: str
) -> None:
    result = plugin_session.call(action, params)
    assert f"'{field}'" in result["error"]
    assert result["received_fields"] == sorted(params)


def test_empty_texts_is_called_empty_not_missing(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    for action in ("batch-embed", "batch-classify"):
        result = plugin_session.call(action, {"texts": [], "model": str(tiny_models["embed"])})
        assert result["error"] == "'texts' is empty: give a list of strings", action
        assert result["field"] == "texts"


def test_unload_with_the_dashboard_template_says_what_to_give(
    plugin_session: PluginSession,
) -> None:
    """The template the dashboard builds from the docstring, sent as it is."""
    for params in (
        {"key": None, "model": None, "all": False},
        {"key": "", "model": "", "all": False},
    ):
        result = plugin_session.call("unload", params)
        assert "give one of key, model or all: true" in result["error"], params
    wrong_type = plugin_session.call("unload", {"key": ["a"]})
    assert wrong_type["error"] == "'key' must be a string"


def _copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_broken_model_folders_name_the_folder_and_the_problem(
    plugin_session: PluginSession, tiny_models: dict[str, Path], tmp_path: Path
) -> None:
    """These answered "Unexpected error" with an OSError or a SafetensorError."""
    no_weights = _copy_model(tiny_models["classify"], tmp_path / "no-weights")
    for weights in no_weights.glob("*.safetensors"):
        weights.unlink()
    result = plugin_session.call("classify", {"text": "hi", "model": str(no_weights)})
    assert result["error"].startswith(f"No model weights in {no_weights} (looked for ")
    assert "model.save_pretrained" in result["suggestion"]

    bad_config = _copy_model(tiny_models["classify"], tmp_path / "bad-config")
    (bad_config / "config.json").write_text('{"model_type": "bert",')
    result = plugin_session.call("classify", {"text": "hi", "model": str(bad_config)})
    assert result["error"].startswith(f"config.json in {bad_config} is not valid JSON")

    damaged = _copy_model(tiny_models["classify"], tmp_path / "damaged-weights")
    (damaged / "model.safetensors").write_bytes(b"not a safetensors file")
    result = plugin_session.call("classify", {"text": "hi", "model": str(damaged)})
    assert result["error"].startswith(f"The model in {damaged} cannot be loaded: ")
    assert result["error"] != "Unexpected error"

    # A tokenizer.json missing a key raised KeyError inside transformers, which read as the
    # input's fault ("Missing required field: 'added_tokens'"); a cut-off one as "Invalid JSON
    # input".
    bad_tokenizer = _copy_model(tiny_models["classify"], tmp_path / "bad-tokenizer")
    broken = (('{"version": "1.0"}', "KeyError: "), ('{"version": ', "JSONDecodeError: "))
    for text, error in broken:
        (bad_tokenizer / "tokenizer.json").write_text(text)
        result = plugin_session.call("classify", {"text": "hi", "model": str(bad_tokenizer)})
        assert result["error"].startswith(
            f"The tokenizer in {bad_tokenizer} cannot be loaded: {error}"
        ), result


def test_generate_rejects_seed_and_top_p_out_of_range(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    base = {"prompt": "The cat", "max_new_tokens": 2, "model": str(tiny_models["generate"])}
    huge_seed = plugin_session.call("generate", {**base, "seed": 99999999999999999999})
    assert huge_seed["error"] == "'seed' must be at most 18446744073709551615"
    for top_p in (0, -0.5, 1.5):
        result = plugin_session.call("generate", {**base, "top_p": top_p})
        assert result.get("error", "").startswith("'top_p' must be more than 0 and at most 1"), (
            top_p,
            result,
        )
        assert result["field"] == "top_p"
    _ok(plugin_session.call("generate", {**base, "top_p": 1, "seed": 2**64 - 1}))


def test_summarize_min_length_over_the_capped_max_length_is_an_input_error(
    plugin_session: PluginSession, tiny_models: dict[str, Path]
) -> None:
    """max_length 300 is capped at the tiny model's 128 positions; min_length 200 was dropped."""
    result = plugin_session.call(
        "summarize",
        {
            "text": "The cat sat on the mat.",
            "min_length": 200,
            "max_length": 300,
            "model": str(tiny_models["summarize"]),
        },
    )
    assert result.get("error", "").startswith("'min_length' (200) must not be more than 128"), (
        result
    )
    assert result["field"] == "min_length"


def test_no_network_error_does_not_blame_hf_hub_offline(tmp_path: Path) -> None:
    """With HF_HUB_OFFLINE unset and the Hub unreachable, the suggestion said to unset it."""
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on: refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = plugin_env(tmp_path / "hf-home")
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy"):
        env.pop(name, None)
    for name in ("ALL_PROXY", "all_proxy"):
        env.pop(name, None)
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{port}"
    session = PluginSession(env, tmp_path / "stderr.log")
    try:
        result = session.call("generate", {"prompt": "hi", "model": "someone/not-downloaded"})
    finally:
        session.close()
    assert "not in the local Hugging Face cache" in result["error"]
    assert "no network connection" in result["error"]
    assert result["offline"] is False
    assert "HF_HUB_OFFLINE" not in result["suggestion"]
    assert "network access" in result["suggestion"]


def test_malformed_input_and_requests(plugin_session: PluginSession) -> None:
    bad_input = plugin_session.call("embed", '{"text": "unterminated')
    assert bad_input["error"] == "Invalid JSON input"
    assert bad_input["details"]
    not_an_object = plugin_session.call("embed", "[1, 2]")
    assert "JSON object" in not_an_object["error"]
    assert plugin_session.send_line("this is not json")["error"].startswith("Invalid JSON")
    unknown = plugin_session.call("translate", {"text": "hi"})
    assert unknown["error"] == "Unknown action: translate"
    assert "generate" in unknown["actions"]


def test_bad_device_and_dtype(plugin_session: PluginSession, tiny_models: dict[str, Path]) -> None:
    import torch

    model = str(tiny_models["embed"])
    bad_dtype = plugin_session.call("embed", {"text": "hi", "model": model, "dtype": "int3"})
    assert "Unknown dtype" in bad_dtype["error"] and "bfloat16" in bad_dtype["suggestion"]
    if not torch.cuda.is_available():
        no_cuda = plugin_session.call("embed", {"text": "hi", "model": model, "device": "cuda:0"})
        assert "CUDA is not available" in no_cuda["error"]
        assert "cpu" in no_cuda["suggestion"]


# ---------------------------------------------------------------- benchmark


def test_batch_embed_benchmark_runs(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(PLUGIN_DIR / "bench_batch_embed.py"),
            "--model",
            str(tiny_models["embed"]),
            "--texts",
            "8",
            "--repeats",
            "1",
        ],
        env=plugin_env(tmp_path / "hf-home"),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "speed-up (single calls / batch):" in completed.stdout
    assert "8 single embed calls" in completed.stdout
