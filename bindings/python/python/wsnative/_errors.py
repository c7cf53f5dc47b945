"""The exceptions of wsnative (documented in ``__init__.pyi``)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is imported for annotations only (see __init__.py)
if TYPE_CHECKING:
    from typing import List, Optional, Tuple



class WebSocketError(Exception):
    """Base class of every wsnative exception."""


class WebSocketSyntaxError(WebSocketError, ValueError):
    """The browser's DOMException "SyntaxError"."""


class InvalidStateError(WebSocketError):
    """The browser's DOMException "InvalidStateError"."""


class InvalidAccessError(WebSocketError):
    """The browser's DOMException "InvalidAccessError"."""


class InvalidUtf8Error(WebSocketError, ValueError):
    """Text that cannot be sent as UTF-8."""


class InvalidOptionError(WebSocketError, ValueError):
    """An option value is out of range or malformed."""


class ShutDownError(WebSocketError):
    """The library has been shut down."""


class WouldDeadlockError(WebSocketError):
    """The call would deadlock."""


class InternalError(WebSocketError):
    """A bug or an unexpected condition inside the library."""


class ConnectionFailed(WebSocketError, ConnectionError):
    """The connection could not be established."""

    def __init__(
        self,
        message: str,
        code: str = "other",
        status: Optional[int] = None,
        headers: Optional[List[Tuple[str, str]]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = headers

    def header(self, name: str) -> Optional[str]:
        """The first response header called ``name`` (any case), or None."""
        for n, v in self.headers or ():
            if n.lower() == name.lower():
                return v
        return None

    def __str__(self) -> str:
        return self.message


class ConnectionClosed(WebSocketError):
    """The connection is closed."""

    def __init__(self, code: int, reason: str, was_clean: bool, error: Optional[str] = None) -> None:
        super().__init__(code, reason, was_clean, error)
        self.code = code
        self.reason = reason
        self.was_clean = was_clean
        self.error = error

    def __str__(self) -> str:
        text = f"the connection is closed (code {self.code}"
        if self.reason:
            text += f", reason {self.reason!r}"
        text += ", clean)" if self.was_clean else ", not clean)"
        if self.error:
            text += f": {self.error}"
        return text
