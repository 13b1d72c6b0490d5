"""``aro-tui bench``: the host's round trip and throughput against the chapter's own main loop.

The baseline is a plugin with the chapter's exact ``main()`` loop, started with ``--aro`` and
driven by a minimal blocking client (write a line, read a line). To make the bar strict, the
baseline client uses orjson too (to build the request line and parse the answer). Both sides
run the same action, ``echo`` = ``json.dumps(json.loads(input))``. The host path includes
everything a dashboard call pays: framing, the stderr sentinel, JSON validation of the result
(orjson) and the rss-before/after sample (a ``pread`` of ``/proc/<pid>/statm``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from aro_tui.core.exchange import ExchangeStatus
from aro_tui.core.host import PluginLaunch, PluginProcess

NOOP_PLUGIN = (
    Path(__file__).resolve().parents[2] / "tests" / "plugins" / "noop" / "src" / "plugin.py"
)
PIPELINE_WINDOW = 64


@dataclass(slots=True)
class Latencies:
    """Round-trip samples in seconds."""

    samples_s: list[float]

    def quantile_us(self, fraction: float) -> float:
        """The ``fraction`` quantile in microseconds."""
        ordered = sorted(self.samples_s)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1e6


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``bench`` subcommand."""
    summary = "benchmark the plugin host against the chapter's own main loop"
    parser = subparsers.add_parser("bench", help=summary, description=summary)
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a few seconds)")
    parser.add_argument(
        "--python", type=Path, default=Path(sys.executable), metavar="EXE", help="plugin Python"
    )
    parser.add_argument(
        "--plugin", type=Path, default=NOOP_PLUGIN, metavar="FILE", help="the spec-loop plugin"
    )
    parser.set_defaults(func=run_bench)


def make_payloads() -> dict[str, bytes]:
    """50 B, an 8 KB embedding (384 floats) and 1 MB of floats, as JSON text."""
    rng = random.Random(7)
    small = orjson.dumps({"text": "x" * 36})
    embedding = orjson.dumps({"embedding": [rng.uniform(-1, 1) for _ in range(384)]})
    floats: list[float] = []
    while len(orjson.dumps(floats)) < 1_000_000:
        floats.extend(rng.uniform(-1, 1) for _ in range(4096))
    return {"50 B": small, "8 KB": embedding, "1 MB": orjson.dumps({"values": floats})}


class SpecLoopClient:
    """A minimal blocking client for the chapter's JSON-lines main loop."""

    def __init__(self, python: Path, plugin: Path) -> None:
        """Start ``python plugin --aro``."""
        started_s = time.perf_counter()
        self.process = subprocess.Popen(
            [str(python), str(plugin), "--aro"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin = self.process.stdin
        self._stdout = self.process.stdout
        self.call("noop", b"{}")
        self.cold_start_s = time.perf_counter() - started_s

    def request_line(self, action: str, payload: bytes) -> bytes:
        """The chapter's request line."""
        return orjson.dumps({"action": action, "input": payload.decode()}) + b"\n"

    def call(self, action: str, payload: bytes) -> object:
        """One round trip: write a line, read a line, parse it."""
        self._stdin.write(self.request_line(action, payload))
        self._stdin.flush()
        return orjson.loads(self._stdout.readline())

    def pipelined(self, payload: bytes, count: int) -> float:
        """Seconds for ``count`` calls with up to PIPELINE_WINDOW in flight."""
        started_s = time.perf_counter()
        sent = 0
        for _ in range(min(PIPELINE_WINDOW, count)):
            self._stdin.write(self.request_line("echo", payload))
            sent += 1
        self._stdin.flush()
        for _ in range(count):
            orjson.loads(self._stdout.readline())
            if sent < count:
                self._stdin.write(self.request_line("echo", payload))
                self._stdin.flush()
                sent += 1
        return time.perf_counter() - started_s

    def close(self) -> None:
        """Stop the process."""
        self._stdin.close()
        self.process.wait(timeout=10)


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


def bench_spec_loop(
    args: argparse.Namespace,
    payloads: dict[str, bytes],
    counts: dict[str, int],
    cpus: tuple[int, int] | None,
) -> tuple[dict[str, Latencies], float, float, float]:
    """Latencies per payload, sequential and pipelined calls/s, and cold start, for the baseline."""
    client = SpecLoopClient(args.python, args.plugin)
    try:
        if cpus is not None:
            _pin(0, cpus[0])
            _pin(client.process.pid, cpus[1])
        latencies: dict[str, Latencies] = {}
        for name, payload in payloads.items():
            for _ in range(max(3, counts[name] // 10)):
                client.call("echo", payload)
            samples = []
            for _ in range(counts[name]):
                started_s = time.perf_counter()
                client.call("echo", payload)
                samples.append(time.perf_counter() - started_s)
            latencies[name] = Latencies(samples)
        small = payloads["50 B"]
        count = counts["throughput"]
        started_s = time.perf_counter()
        for _ in range(count):
            client.call("echo", small)
        sequential = count / (time.perf_counter() - started_s)
        pipelined = count / client.pipelined(small, count)
        return latencies, sequential, pipelined, client.cold_start_s
    finally:
        client.close()


async def bench_host(
    args: argparse.Namespace,
    payloads: dict[str, bytes],
    counts: dict[str, int],
    cpus: tuple[int, int] | None,
) -> tuple[dict[str, Latencies], float, float, float]:
    """The same measurements through aro-tui's host and harness."""
    launch = PluginLaunch(name="noop", module_path=args.plugin, interpreter=args.python)
    plugin = PluginProcess(launch)
    await plugin.start()
    try:
        assert plugin.pid is not None and plugin.cold_start_s is not None
        if cpus is not None:
            _pin(0, cpus[0])
            _pin(plugin.pid, cpus[1])
        latencies: dict[str, Latencies] = {}
        for name, payload in payloads.items():
            for _ in range(max(3, counts[name] // 10)):
                await plugin.submit("echo", payload)
            samples = []
            for _ in range(counts[name]):
                started_s = time.perf_counter()
                exchange = await plugin.submit("echo", payload)
                samples.append(time.perf_counter() - started_s)
                if exchange.status is not ExchangeStatus.OK:
                    raise RuntimeError(f"bench call failed: {exchange.error}")
            latencies[name] = Latencies(samples)
        small = payloads["50 B"]
        count = counts["throughput"]
        started_s = time.perf_counter()
        for _ in range(count):
            await plugin.submit("echo", small)
        sequential = count / (time.perf_counter() - started_s)
        started_s = time.perf_counter()
        window: list[asyncio.Future[object]] = []
        for _ in range(count):
            window.append(plugin.submit("echo", small))  # type: ignore[arg-type]
            if len(window) >= PIPELINE_WINDOW:
                await window.pop(0)
        await asyncio.gather(*window)
        pipelined = count / (time.perf_counter() - started_s)
        return latencies, sequential, pipelined, plugin.cold_start_s
    finally:
        await plugin.stop()


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def run_bench(args: argparse.Namespace) -> int:
    """Run ``aro-tui bench`` and print ratios and verdicts."""
    if not args.plugin.is_file():
        print(f"aro-tui bench: error: {args.plugin} not found", file=sys.stderr)
        return 2
    counts = (
        {"50 B": 400, "8 KB": 200, "1 MB": 8, "throughput": 2000}
        if args.quick
        else {"50 B": 3000, "8 KB": 1500, "1 MB": 40, "throughput": 10000}
    )
    payloads = make_payloads()
    original_affinity = os.sched_getaffinity(0)
    cpu_list = sorted(original_affinity)
    modes: list[tuple[str, tuple[int, int] | None]] = [("same core", (cpu_list[0], cpu_list[0]))]
    if len(cpu_list) > 1:
        modes.append(("different cores", (cpu_list[0], cpu_list[1])))
    all_met = True
    try:
        for mode, cpus in modes:
            spec = bench_spec_loop(args, payloads, counts, cpus)
            os.sched_setaffinity(0, original_affinity)
            host = asyncio.run(bench_host(args, payloads, counts, cpus))
            os.sched_setaffinity(0, original_affinity)
            all_met &= _report(mode, spec, host)
    finally:
        os.sched_setaffinity(0, original_affinity)
    print("\nHost path includes: framing, stderr sentinel, orjson validation, rss sample per call.")
    return 0 if all_met else 1


def _report(
    mode: str,
    spec: tuple[dict[str, Latencies], float, float, float],
    host: tuple[dict[str, Latencies], float, float, float],
) -> bool:
    spec_lat, spec_seq, spec_pipe, spec_cold = spec
    host_lat, host_seq, host_pipe, host_cold = host
    print(f"\n== {mode} ==")
    print(
        f"{'round trip':<12}{'spec p50':>10}{'host p50':>10}{'ratio':>7}"
        f"{'spec p99':>10}{'host p99':>10}  bar"
    )
    met_all = True
    for name in spec_lat:
        spec_p50, host_p50 = spec_lat[name].quantile_us(0.5), host_lat[name].quantile_us(0.5)
        ratio = host_p50 / spec_p50
        limit = 1.5 if name == "50 B" else 1.0
        met = ratio <= limit
        met_all &= met
        print(
            f"{name:<12}{spec_p50:>8.1f}µs{host_p50:>8.1f}µs{ratio:>6.2f}×"
            f"{spec_lat[name].quantile_us(0.99):>8.1f}µs{host_lat[name].quantile_us(0.99):>8.1f}µs"
            f"  ≤{limit}×: {_verdict(met)}"
        )
    seq_ratio, pipe_ratio = host_seq / spec_seq, host_pipe / spec_pipe
    pipe_met = pipe_ratio >= 0.5
    met_all &= pipe_met
    print(f"calls/s sequential: spec {spec_seq:,.0f}  host {host_seq:,.0f}  ratio {seq_ratio:.2f}×")
    print(
        f"calls/s pipelined ({PIPELINE_WINDOW} in flight): spec {spec_pipe:,.0f}  "
        f"host {host_pipe:,.0f}  ratio {pipe_ratio:.2f}×  ≥0.5×: {_verdict(pipe_met)}"
    )
    print(
        f"cold start to ready: host {host_cold * 1000:.1f} ms "
        f"(spec loop, spawn to first answer: {spec_cold * 1000:.1f} ms)"
    )
    return met_all
