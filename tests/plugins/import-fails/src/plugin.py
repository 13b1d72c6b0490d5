"""A plugin whose import fails (a missing dependency)."""

import sys

print("loading import-fails", file=sys.stderr)

import a_module_that_does_not_exist  # noqa: E402,F401


def aro_plugin_info():
    return {"name": "import-fails", "version": "1.0.0", "actions": []}
