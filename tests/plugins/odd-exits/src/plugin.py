"""A plugin that ends its process in ways Python does not report as an exception.

``EXITS_ODDLY_AT_IMPORT`` picks what its import does: ``exit-3``, ``exit-0`` (``sys.exit``),
``raise`` (``raise SystemExit``), ``helper`` (``sys.exit(2)`` in a module it calls),
``segfault``; anything else imports normally.
"""

import ctypes
import faulthandler
import os
import sys
import threading
from typing import Any, Dict

import helpers

AT_IMPORT = os.environ.get("EXITS_ODDLY_AT_IMPORT", "")

if AT_IMPORT == "exit-3":
    sys.exit(3)
elif AT_IMPORT == "exit-0":
    sys.exit(0)
elif AT_IMPORT == "raise":
    raise SystemExit
elif AT_IMPORT == "helper":
    helpers.give_up(2)
elif AT_IMPORT == "segfault":
    ctypes.string_at(0)


def aro_plugin_info() -> Dict[str, Any]:
    """Return plugin metadata."""
    return {
        "name": "odd-exits",
        "version": "1.0.0",
        "actions": ["echo", "segfault", "abort", "own-faulthandler"],
    }


def aro_action_echo(input_json: str) -> str:
    """Return the input unchanged."""
    return input_json


def _read_address_zero() -> None:
    ctypes.string_at(0)


def aro_action_segfault(input_json: str) -> str:
    """Read address 0 (SIGSEGV), from a function of its own, with a second thread waiting."""
    waiting = threading.Event()
    threading.Thread(target=waiting.wait, name="bystander", daemon=True).start()
    _read_address_zero()
    return "{}"


def aro_action_abort(input_json: str) -> str:
    """Call abort() (SIGABRT), as a failed C assertion does."""
    os.abort()
    return "{}"


def aro_action_own_faulthandler(input_json: str) -> str:
    """Enable faulthandler on sys.stderr itself, as some frameworks do, then segfault."""
    faulthandler.enable(file=sys.stderr)
    _read_address_zero()
    return "{}"
