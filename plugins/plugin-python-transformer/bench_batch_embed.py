"""Benchmark: one `batch-embed` of N texts against N single `embed` calls, through the plugin.

Both run in the same plugin process (its own `--aro` JSON-lines loop), on the same warm model,
several times; the medians and their ratio are printed. Standard library only, so it runs with
whichever Python has the plugin's requirements:

    python bench_batch_embed.py                       # all-MiniLM-L6-v2 (bundled copy or cache)
    python bench_batch_embed.py --model ./my-model --texts 64 --repeats 7 --device cpu
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any, Dict, List

PLUGIN_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "src", "plugin.py")

SUBJECTS = ["The cat", "A quarterly report", "Our new database", "The river", "A small team"]
VERBS = ["sat quietly near", "was compared with", "quickly replaced", "slowly drifted past"]
OBJECTS = [
    "the warm window in the afternoon",
    "last year's spreadsheet of regional sales figures and forecasts",
    "an old server",
    "the mountains that rise above the valley where the village has stood for centuries",
]


def sample_texts(count: int) -> List[str]:
    """Deterministic sentences of varied length, like a real batch."""
    texts = []
    for index in range(count):
        texts.append(
            "%s %s %s (%d)."
            % (
                SUBJECTS[index % len(SUBJECTS)],
                VERBS[(index // len(SUBJECTS)) % len(VERBS)],
                OBJECTS[(index * 7) % len(OBJECTS)],
                index,
            )
        )
    return texts


class Plugin:
    """The plugin's `--aro` loop in a subprocess."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, PLUGIN_SCRIPT, "--aro"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
        )

    def call(self, action: str, params: Dict[str, Any]) -> Dict[str, Any]:
        request = json.dumps({"action": action, "input": json.dumps(params)})
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the plugin exited (exit status %s)" % self.process.poll())
        response = json.loads(line)
        if "error" in response:
            raise SystemExit("%s failed: %s" % (action, json.dumps(response)))
        return response

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="hub name or local folder (default: MiniLM)")
    parser.add_argument("--texts", type=int, default=64, help="texts per round (default: 64)")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (default: 5)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda:N (default: auto)")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    args = parser.parse_args()

    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    texts = sample_texts(args.texts)
    common = {"device": args.device, "dtype": args.dtype}
    if args.model:
        common["model"] = args.model

    plugin = Plugin(env)
    try:
        # Warm-up: load the model, and run both shapes once so lazy init is not timed.
        plugin.call("embed", dict(common, text=texts[0]))
        plugin.call("batch-embed", dict(common, texts=texts, batch_size=len(texts)))
        single_s: List[float] = []
        batch_s: List[float] = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            singles = [plugin.call("embed", dict(common, text=text)) for text in texts]
            single_s.append(time.perf_counter() - started)

            started = time.perf_counter()
            batch = plugin.call("batch-embed", dict(common, texts=texts, batch_size=len(texts)))
            batch_s.append(time.perf_counter() - started)
        worst_difference = max(
            abs(a - b)
            for single, vector in zip(singles, batch["embeddings"])
            for a, b in zip(single["embeddings"][0], vector)
        )
        loaded = plugin.call("models", {})["details"]
    finally:
        plugin.close()

    single_median_s = statistics.median(single_s)
    batch_median_s = statistics.median(batch_s)
    model = loaded[0] if loaded else {}
    print(
        "model: %s  device: %s  dtype: %s  texts: %d  repeats: %d"
        % (batch["model"], model.get("device"), model.get("dtype"), len(texts), args.repeats)
    )
    print(
        "%d single embed calls: median %.1f ms (%.2f ms per text)"
        % (len(texts), single_median_s * 1000, single_median_s * 1000 / len(texts))
    )
    print("1 batch-embed of %d texts: median %.1f ms" % (len(texts), batch_median_s * 1000))
    print("largest difference between the two embeddings of a text: %.2e" % worst_difference)
    print("speed-up (single calls / batch): %.1fx" % (single_median_s / batch_median_s))


if __name__ == "__main__":
    main()
