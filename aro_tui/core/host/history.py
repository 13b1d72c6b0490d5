"""The finished exchanges a plugin process keeps, bounded by count and by bytes."""

from __future__ import annotations

from collections import deque

from aro_tui.core.host.exchange import Exchange

MAX_HISTORY = 1000
MAX_HISTORY_BYTES = 64 * 1024 * 1024
"""How many finished exchanges a history keeps at most, and their bodies' bytes."""


class ExchangeHistory(deque[Exchange]):
    """Finished exchanges, oldest first: at most ``max_exchanges``, and only as many as hold
    ``max_body_bytes`` of request and response bodies (the newest is always kept).

    Why a byte budget besides the count: a batch of 1 MB answers kept the last 1,000 of them,
    1.8 GB, whatever it had written out.
    """

    def __init__(
        self, max_exchanges: int = MAX_HISTORY, max_body_bytes: int = MAX_HISTORY_BYTES
    ) -> None:
        """Start empty."""
        super().__init__()
        self.max_exchanges = max_exchanges
        self.max_body_bytes = max_body_bytes
        self.body_bytes = 0
        """The request and response bytes of the exchanges held now."""

    def remember(self, exchange: Exchange) -> None:
        """Add ``exchange`` as the newest, letting the oldest go past the limits."""
        self.append(exchange)
        self.body_bytes += _body_bytes(exchange)
        while len(self) > self.max_exchanges or (
            self.body_bytes > self.max_body_bytes and len(self) > 1
        ):
            self.body_bytes -= _body_bytes(self.popleft())


def _body_bytes(exchange: Exchange) -> int:
    response = exchange.response_bytes
    return len(exchange.request_bytes) + (len(response) if response else 0)
