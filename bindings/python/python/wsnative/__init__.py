"""wsnative: the browser's WebSocket client for Python (see ``__init__.pyi``)."""

from __future__ import annotations

import atexit

# Annotations only (strings, see the __future__ import): typing is not
# imported at run time, which would cost half a megabyte of memory.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from . import _native
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

if TYPE_CHECKING:
    from ._asyncio import AsyncConnection, connect_async

__version__: str = _native.VERSION


def __getattr__(name: str) -> Any:
    # The asyncio API is imported on first use: importing asyncio (and with
    # it ssl and OpenSSL) costs a program that never uses it about 9 MB.
    if name in ("AsyncConnection", "connect_async"):
        from . import _asyncio

        return getattr(_asyncio, name)
    raise AttributeError(f"module 'wsnative' has no attribute '{name}'")


def __dir__() -> list:
    return sorted(list(globals()) + ["AsyncConnection", "connect_async"])

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
