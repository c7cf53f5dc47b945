"""wsnative: the browser's WebSocket client for Python (see ``__init__.pyi``)."""

from __future__ import annotations

import atexit

from . import _native
from ._asyncio import AsyncConnection, connect_async
from ._errors import (
    ConnectionClosed,
    ConnectionFailed,
    InternalError,
    InvalidAccessError,
    InvalidOptionError,
    InvalidStateError,
    InvalidUtf8Error,
    ShutDownError,
    WebSocketError,
    WebSocketSyntaxError,
    WouldDeadlockError,
)
from ._native import CloseEvent, ErrorEvent, MessageEvent, OpenEvent, poll
from ._sync import Connection, connect
from ._websocket import WebSocket

__version__: str = _native.VERSION

CONNECTING = 0
OPEN = 1
CLOSING = 2
CLOSED = 3


def shutdown(timeout: float = 1.0) -> None:
    _native.shutdown(timeout)


@atexit.register
def _shutdown_at_exit() -> None:
    # Open sockets get their closing handshake (1001) and close events
    # within a bounded time; then no thread of wsnative touches Python.
    _native.shutdown(1.0)


__all__ = [
    "CLOSED",
    "CLOSING",
    "CONNECTING",
    "OPEN",
    "AsyncConnection",
    "CloseEvent",
    "Connection",
    "ConnectionClosed",
    "ConnectionFailed",
    "ErrorEvent",
    "InternalError",
    "InvalidAccessError",
    "InvalidOptionError",
    "InvalidStateError",
    "InvalidUtf8Error",
    "MessageEvent",
    "OpenEvent",
    "ShutDownError",
    "WebSocket",
    "WebSocketError",
    "WebSocketSyntaxError",
    "WouldDeadlockError",
    "connect",
    "connect_async",
    "poll",
    "shutdown",
]
