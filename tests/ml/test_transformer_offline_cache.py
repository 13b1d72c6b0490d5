"""A Hub model already in the local cache, on a machine where the Hub cannot be reached.

With HF_HUB_OFFLINE unset, the plugin loaded a cached model with the Hub still asked for
updates: the hub client retried every file ("Retrying in 8s [Retry 5/5]"), so the first call
took over two minutes. The Hub here is a loopback port nothing listens on, refused at once:
the hub client retries it just as it retries a name that does not resolve.
"""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import PluginSession, plugin_env

pytestmark = pytest.mark.ml

FIRST_CALL_LIMIT_S = 30.0
"""Loading a tiny model takes a few seconds; one round of the hub client's retries, 40."""


def _cache_as_hub_model(hf_home: Path, repo_id: str, folder: Path) -> None:
    """Lay ``folder`` out in the Hub cache as ``repo_id``, as `hf download` leaves it."""
    repo = hf_home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "abc123"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    shutil.copytree(folder, snapshot)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unreachable_hub_session(
    tiny_models: dict[str, Path], tmp_path: Path
) -> Iterator[PluginSession]:
    """The plugin with tiny models cached as myorg/tinygpt and myorg/tinybert, HF_HUB_OFFLINE
    unset and the Hub endpoint refusing connections."""
    hf_home = tmp_path / "hf-home"
    _cache_as_hub_model(hf_home, "myorg/tinygpt", tiny_models["generate"])
    _cache_as_hub_model(hf_home, "myorg/tinybert", tiny_models["embed"])
    env = plugin_env(hf_home)
    for name in (
        "HF_HUB_OFFLINE",
        "TRANSFORMERS_OFFLINE",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        env.pop(name, None)
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{_closed_port()}"
    session = PluginSession(env, tmp_path / "stderr.log", response_timeout_s=FIRST_CALL_LIMIT_S + 5)
    yield session
    session.close()


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("generate", {"prompt": "hi", "model": "myorg/tinygpt", "max_new_tokens": 3}),
        ("embed", {"text": "The cat sat", "model": "myorg/tinybert"}),
    ],
)
def test_a_cached_hub_model_loads_at_once_without_network(
    unreachable_hub_session: PluginSession, action: str, params: dict[str, object]
) -> None:
    started = time.monotonic()
    result = unreachable_hub_session.call(action, params)
    elapsed_s = time.monotonic() - started
    assert "error" not in result, result
    assert result["model"] == params["model"]
    assert elapsed_s < FIRST_CALL_LIMIT_S, f"{action} took {elapsed_s:.1f} s"
    assert "Retrying" not in unreachable_hub_session.stderr_tail()


def test_a_hub_model_not_cached_is_still_refused_at_once(
    unreachable_hub_session: PluginSession,
) -> None:
    started = time.monotonic()
    result = unreachable_hub_session.call("generate", {"prompt": "hi", "model": "myorg/absent"})
    assert time.monotonic() - started < FIRST_CALL_LIMIT_S
    assert "not in the local Hugging Face cache" in result["error"]
    assert "no network connection" in result["error"]
