"""A no-op plugin with the chapter's exact main loop (section 10.5), for the benchmark."""

import json
import sys
from typing import Any, Dict


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {"name": "noop", "version": "1.0.0", "actions": ["noop", "echo", "passthrough"]}


def aro_action_noop(input_json: str) -> str:
    """Return an empty object without looking at the input."""
    return "{}"


def aro_action_echo(input_json: str) -> str:
    """Parse the input and encode it again, as a real action would."""
    return json.dumps(json.loads(input_json))


def aro_action_passthrough(input_json: str) -> str:
    """Return the input untouched: only the transport is measured."""
    return input_json


# ============================================================
# Main Loop (for ARO subprocess communication)
# ============================================================


def main():
    """Main loop for processing ARO requests via stdin/stdout."""
    for line in sys.stdin:
        try:
            request = json.loads(line.strip())
            action = request.get("action", "")
            input_data = request.get("input", "{}")

            # Dispatch to action function
            func_name = f"aro_action_{action.replace('-', '_')}"
            if func_name in globals():
                result = globals()[func_name](input_data)
            else:
                result = json.dumps({"error": f"Unknown action: {action}"})

            print(result, flush=True)

        except json.JSONDecodeError as e:
            print(json.dumps({"error": f"Invalid JSON: {e}"}), flush=True)
        except Exception as e:
            print(json.dumps({"error": f"Exception: {e}"}), flush=True)


if __name__ == "__main__":
    # If run directly, enter the ARO communication loop
    if len(sys.argv) > 1 and sys.argv[1] == "--aro":
        main()
    else:
        print("Plugin Info:")
        print(json.dumps(aro_plugin_info(), indent=2))
