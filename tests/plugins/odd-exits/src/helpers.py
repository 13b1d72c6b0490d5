"""A helper module of odd-exits: ends the process the way a plugin's own code might."""

import sys


def give_up(code: int) -> None:
    """End the process with ``code``, as a configuration check that fails might."""
    sys.exit(code)
