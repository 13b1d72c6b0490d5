"""aro-tui UI test plugin: Rich markup and terminal escapes in every output channel."""

import json
import sys
import time
from typing import Any, Dict

HOSTILE = "[bold red]not bold[/] \x1b]52;c;cHduZWQ=\x07 \x1b[2J [link=x]y[/link]"


def aro_plugin_info() -> Dict[str, Any]:
    return {
        "name": "ui-hostile",
        "version": "1.0.0",
        "actions": ["markup", "slow", "huge-doc", "deep"],
    }


def aro_action_markup(input_json: str) -> str:
    """
    Echo hostile text in the response and on stderr.

    Input:
        - label: A label to echo (default: "[i]x[/i]")
        - count: How many copies (default: 1)
    """
    params = json.loads(input_json)
    sys.stderr.write("stderr says " + HOSTILE + "\n")
    return json.dumps({"label": params.get("label"), "text": HOSTILE * int(params.get("count", 1))})


def aro_action_slow(input_json: str) -> str:
    """
    Sleep, then answer.

    Input:
        - seconds: How long to sleep (default: 30)
    """
    seconds = float(json.loads(input_json).get("seconds", 30))
    sys.stderr.write("sleeping\n")
    sys.stderr.flush()
    time.sleep(seconds)
    return json.dumps({"slept": seconds})


def aro_action_huge_doc(input_json: str) -> str:
    return "{}"


aro_action_huge_doc.__doc__ = "A docstring of some 840 KB.\n\nInput:\n" + "\n".join(
    "    - param%d: %s" % (index, "word " * 30) for index in range(5000)
)


def aro_action_deep(input_json: str) -> str:
    """
    Answer valid JSON nested deeper than JSON libraries like to write it.

    Input:
        - depth: How many objects inside each other (default: 300)
        - id: An integer past 64 bits at the bottom (default: 123456789012345678901234567890)
    """
    params = json.loads(input_json)
    depth = int(params.get("depth", 300))
    bottom = json.dumps({"id": params.get("id", 123456789012345678901234567890)})
    return '{"level":' * depth + bottom + "}" * depth
