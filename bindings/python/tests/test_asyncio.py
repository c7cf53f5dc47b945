"""connect_async(): asyncio without a thread per socket."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytestmark = pytest.mark.asyncio

import wsnative


async def test_async_with_send_recv_iterate(ws_url: str) -> None:
    async with wsnative.connect_async(ws_url + "/", ["chat.v1"]) as ws:
        assert ws.ready_state == wsnative.OPEN and ws.protocol == "chat.v1"
        await ws.send("one")
        await ws.send(b"two")
        assert await ws.recv() == "one"
        assert await ws.recv() == b"two"
        await ws.close(4003, "bye")
        assert [m async for m in ws] == []
    assert (ws.close_code, ws.close_reason, ws.was_clean) == (4003, "bye", True)
    with pytest.raises(wsnative.ConnectionClosed):
        await ws.recv()


async def test_await_connect_and_server_close(ws_url: str) -> None:
    ws = await wsnative.connect_async(ws_url + "/close/4000")
    with pytest.raises(wsnative.ConnectionClosed) as info:
        await ws.recv()
    assert info.value.code == 4000 and ws.close_reason == "bye"


async def test_count_from_testserver(testserver_url: str) -> None:
    n = 20000
    async with wsnative.connect_async(testserver_url + f"count/{n}/64") as ws:
        got = [await ws.recv() for _ in range(n)]
    assert got[0] == bytes(range(64)) and got[-1] == bytes((n - 1 + j) % 256 for j in range(64))


async def test_connect_failure_and_timeout(refused_url: str, silent_url: str) -> None:
    with pytest.raises(wsnative.ConnectionFailed):
        await wsnative.connect_async(refused_url)
    with pytest.raises(wsnative.ConnectionFailed):
        await wsnative.connect_async(silent_url, connect_timeout=0.2)
    with pytest.raises(wsnative.WebSocketSyntaxError):
        await wsnative.connect_async("ftp://x/")


async def test_cancel_while_connecting(silent_url: str) -> None:
    task = asyncio.ensure_future(_connect(silent_url))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def _connect(url: str) -> wsnative.AsyncConnection:
    return await wsnative.connect_async(url)


async def test_many_connections_no_thread_per_socket(ws_url: str) -> None:
    async with wsnative.connect_async(ws_url + "/") as first:  # starts the runtime
        await first.send("warm")
        await first.recv()
        before = threading.active_count()

        async def talk(i: int) -> str:
            async with wsnative.connect_async(ws_url + "/") as ws:
                await ws.send(f"m{i}")
                return await ws.recv()  # type: ignore[return-value]

        results = await asyncio.gather(*(talk(i) for i in range(50)))
        assert results == [f"m{i}" for i in range(50)]
        assert threading.active_count() == before


async def test_concurrent_recv_is_refused(ws_url: str) -> None:
    async with wsnative.connect_async(ws_url + "/") as ws:
        waiting = asyncio.ensure_future(ws.recv())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError):
            await ws.recv()
        await ws.send("x")
        assert await waiting == "x"


async def test_close_from_another_task_ends_async_for(testserver_url: str) -> None:
    """The usual shape of an asyncio program: one task iterates, another
    closes (it used to raise "another coroutine is already waiting")."""
    async with wsnative.connect_async(testserver_url + "count/1000000/8") as ws:
        seen = 0

        async def consume() -> None:
            nonlocal seen
            async for _ in ws:
                seen += 1

        reader = asyncio.ensure_future(consume())
        while seen < 10:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(ws.close(1000, "enough"), 10)
        await asyncio.wait_for(reader, 10)  # async for ended without an error
        assert ws.ready_state == wsnative.WebSocket.CLOSED
