"""Reading a plugin's JSON without changing its numbers."""

from __future__ import annotations

from typing import Any

import msgspec

_DECODER = msgspec.json.Decoder()


def loads_exact(body: bytes | str) -> Any:
    """The JSON document in ``body``; ``ValueError`` when it is not JSON or nests deeper than
    about 1000 levels.

    Why not ``orjson.loads``, which the host uses where only speed matters: it turns integers
    past 64 bits into floats, so a pane would show, and a replay would compare, another number
    than the plugin sent (``123456789012345678901234567890`` became ``1.2345678901234568e+29``).
    msgspec keeps them exact and reads about as fast.
    """
    try:
        return _DECODER.decode(body)
    except RecursionError:
        raise ValueError("JSON nested too deeply to read") from None
