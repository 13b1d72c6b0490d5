"""A plugin that writes stderr lines as fast as it can, for as long as it is asked."""

import json
import sys
import time
from typing import Any, Dict


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {"name": "stderr-flood", "version": "1.0.0", "actions": ["stream"]}


def aro_action_stream(input_json: str) -> str:
    """Write short stderr lines without pause for `seconds` (an hour by default)."""
    end = time.monotonic() + float(json.loads(input_json).get("seconds", 3600))
    count = 0
    while time.monotonic() < end:
        sys.stderr.write("line %d\n" % count)
        count += 1
    return json.dumps({"lines": count})
