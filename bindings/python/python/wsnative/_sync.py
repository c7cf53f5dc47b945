"""The blocking client: ``connect()`` (documented in ``__init__.pyi``)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is imported for annotations only (see __init__.py)
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Iterable, Optional, Type, Union

from . import _native
from ._protocols import protocol_list


class Connection(_native.Connection):
    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()
        self.wait_closed()

    def __repr__(self) -> str:
        states = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
        return f"<wsnative.Connection {self.url!r} {states[self.ready_state]}>"


def connect(url: str, protocols: Optional[Union[str, Iterable[str]]] = None, **options: Any) -> Connection:
    ws = Connection(url, protocol_list(protocols), waker=None, options=options)
    try:
        ws.wait_open()
    except BaseException:
        ws.close()
        raise
    return ws
