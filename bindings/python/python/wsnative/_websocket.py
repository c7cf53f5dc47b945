"""The browser ``WebSocket`` object (documented in ``__init__.pyi``)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing is imported for annotations only (see __init__.py)
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Optional, Union

from . import _native
from ._protocols import protocol_list


class WebSocket(_native.Socket):
    def __new__(
        cls,
        url: str,
        protocols: Optional[Union[str, Iterable[str]]] = None,
        *,
        dispatch: str = "thread",
        onopen: Optional[Callable[[Any], object]] = None,
        onmessage: Optional[Callable[[Any], object]] = None,
        onerror: Optional[Callable[[Any], object]] = None,
        onclose: Optional[Callable[[Any], object]] = None,
        **options: Any,
    ) -> WebSocket:
        return super().__new__(
            cls,
            url,
            protocol_list(protocols),
            dispatch=dispatch,
            onopen=onopen,
            onmessage=onmessage,
            onerror=onerror,
            onclose=onclose,
            options=options,
        )

    def __repr__(self) -> str:
        states = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
        return f"<wsnative.WebSocket {self.url!r} {states[self.ready_state]}>"
