"""The asyncio client: ``connect_async()`` (documented in ``__init__.pyi``).

One ``_native.Waker`` per event loop: runtime threads write a byte to its
socket pair when a socket of the loop has new events (at most one byte in
flight), the loop reads it (``add_reader``) and wakes the coroutines that
wait. No thread per socket, no GIL taken by the runtime threads.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is imported for annotations only (see __init__.py)
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Generator, Iterable, List, Optional, Type, Union

import asyncio
import weakref

from . import _native
from ._errors import ConnectionClosed
from ._protocols import protocol_list


class _LoopHub:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waker = _native.Waker()
        self.connections: weakref.WeakValueDictionary[int, AsyncConnection] = weakref.WeakValueDictionary()
        loop.add_reader(self.waker.fileno(), self._on_ready)

    def _on_ready(self) -> None:
        for ident in self.waker.drain():
            conn = self.connections.get(ident)
            if conn is not None:
                conn._wake()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopHub] = weakref.WeakKeyDictionary()


def _hub(loop: asyncio.AbstractEventLoop) -> _LoopHub:
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _LoopHub(loop)
    return hub


class AsyncConnection:
    def __init__(self, native: _native.Connection, hub: _LoopHub) -> None:
        self._native = native
        self._hub = hub
        # Futures of the coroutines waiting for this connection's next event:
        # at most one reader (recv, async for) and any number waiting for
        # the close (close, wait_closed).
        self._waiters: List[asyncio.Future[None]] = []
        self._reading = False

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3

    @property
    def url(self) -> str:
        return self._native.url

    @property
    def ready_state(self) -> int:
        return self._native.ready_state

    @property
    def protocol(self) -> str:
        return self._native.protocol

    @property
    def extensions(self) -> str:
        return self._native.extensions

    @property
    def buffered_amount(self) -> int:
        return self._native.buffered_amount

    @property
    def close_code(self) -> Optional[int]:
        return self._native.close_code

    @property
    def close_reason(self) -> Optional[str]:
        return self._native.close_reason

    @property
    def was_clean(self) -> Optional[bool]:
        return self._native.was_clean

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self, reader: bool = True) -> None:
        if reader:
            if self._reading:
                raise RuntimeError("another coroutine is already waiting for a message on this connection")
            self._reading = True
        # The hub's loop, the one whose reader wakes us (Python 3.11's
        # get_running_loop() makes a getpid() system call).
        waiter = self._hub.loop.create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if reader:
                self._reading = False
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    async def _open(self) -> None:
        try:
            while not self._native.try_open():
                await self._wait()
        except BaseException:
            self._native.close()
            raise

    async def send(self, data: Union[str, bytes, bytearray, memoryview]) -> None:
        self._native.send(data)

    async def recv(self) -> Union[str, bytes]:
        while True:
            message = self._native.try_recv()
            if message is not None:
                return message
            await self._wait()

    async def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        self._native.close(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        while not self._native.try_closed():
            await self._wait(reader=False)

    def __aiter__(self) -> AsyncConnection:
        return self

    async def __anext__(self) -> Union[str, bytes]:
        try:
            while True:
                message = self._native.try_recv()
                if message is not None:
                    return message
                await self._wait()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        states = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")
        return f"<wsnative.AsyncConnection {self.url!r} {states[self.ready_state]}>"


class _Connect:
    """What ``connect_async()`` returns: await it, or use ``async with``."""

    def __init__(self, url: str, protocols: Optional[Union[str, Iterable[str]]], options: Any) -> None:
        self._url = url
        self._protocols = protocol_list(protocols)
        self._options = options
        self._connection: Optional[AsyncConnection] = None

    async def _connect(self) -> AsyncConnection:
        hub = _hub(asyncio.get_running_loop())
        native = _native.Connection(self._url, self._protocols, waker=hub.waker, options=self._options)
        conn = AsyncConnection(native, hub)
        hub.connections[native.id] = conn
        await conn._open()
        return conn

    def __await__(self) -> Generator[Any, None, AsyncConnection]:
        return self._connect().__await__()

    async def __aenter__(self) -> AsyncConnection:
        self._connection = await self._connect()
        return self._connection

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._connection is not None:
            await self._connection.close()


def connect_async(url: str, protocols: Optional[Union[str, Iterable[str]]] = None, **options: Any) -> _Connect:
    return _Connect(url, protocols, options)
