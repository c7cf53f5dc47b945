"""What the program reads follows what it has been told (SPEC section 5):
``ready_state`` is the state as of the last event dispatched to it, in every
dispatch mode, not the state of the network.

The server (``closing_url``) sends the 101 response, a message and its
Close frame in one packet, then closes TCP 0.6 s later. So the network side
is CLOSING almost at once, while the program has not been told anything.
Before the fix ``ready_state`` followed the network: CLOSING inside the
message handler, and changing between two poll() calls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict

import pytest

import wsnative

OPEN, CLOSING, CLOSED = wsnative.OPEN, wsnative.CLOSING, wsnative.CLOSED


def test_thread_dispatch_handlers_see_the_state_of_their_event(closing_url: str) -> None:
    states: Dict[str, int] = {}
    done = []

    def record(ev: Any) -> None:
        states[ev.type] = ws.ready_state
        if ev.type == "close":
            done.append(True)

    ws = wsnative.WebSocket(closing_url, onopen=record, onmessage=record, onclose=record)
    deadline = time.monotonic() + 10
    while not done:
        assert time.monotonic() < deadline, states
        time.sleep(0.01)
    assert states == {"open": OPEN, "message": OPEN, "close": CLOSED}


def test_poll_dispatch_nothing_changes_between_two_polls(closing_url: str) -> None:
    states: Dict[str, int] = {}

    def record(ev: Any) -> None:
        states[ev.type] = ws.ready_state

    ws = wsnative.WebSocket(closing_url, dispatch="poll", onopen=record, onmessage=record, onclose=record)
    time.sleep(0.3)  # open, the message and the server's Close have arrived
    assert ws.ready_state == wsnative.CONNECTING and ws.protocol == "" and ws.extensions == ""
    ws.poll()
    assert states == {"open": OPEN, "message": OPEN}
    # The server's Close came right after the message, so this poll also
    # dispatched it (no handler runs for it): CLOSING now, as the rule says.
    assert ws.ready_state == CLOSING
    time.sleep(1.0)  # TCP is closed: the close event waits in the queue
    assert ws.ready_state == CLOSING
    deadline = time.monotonic() + 10
    while "close" not in states:
        assert time.monotonic() < deadline
        ws.poll(timeout=0.1)
    assert states["close"] == CLOSED and ws.ready_state == CLOSED


def test_poll_dispatch_close_by_the_program_is_synchronous(ws_url: str) -> None:
    ws = wsnative.WebSocket(ws_url + "/", dispatch="poll")
    deadline = time.monotonic() + 10
    while ws.ready_state != OPEN:
        assert time.monotonic() < deadline
        ws.poll(timeout=0.1)
    ws.close()
    assert ws.ready_state == CLOSING
    time.sleep(0.3)  # the closing handshake is over on the network
    assert ws.ready_state == CLOSING
    while ws.ready_state != CLOSED:
        assert time.monotonic() < deadline
        ws.poll(timeout=0.1)


def test_connect_state_moves_as_recv_returns(closing_url: str) -> None:
    ws = wsnative.connect(closing_url)
    assert ws.ready_state == OPEN
    time.sleep(0.3)
    assert ws.ready_state == OPEN
    assert ws.recv(timeout=5) == "first"
    assert ws.ready_state == OPEN  # nothing after the message was returned yet
    time.sleep(1.0)
    assert ws.ready_state == OPEN and ws.close_code is None
    with pytest.raises(wsnative.ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert (info.value.code, info.value.reason, info.value.was_clean) == (1000, "bye", True)
    assert ws.ready_state == CLOSED


def test_connect_async_state_moves_as_recv_returns(closing_url: str) -> None:
    async def run() -> None:
        ws = await wsnative.connect_async(closing_url)
        assert ws.ready_state == OPEN
        await asyncio.sleep(0.3)
        assert ws.ready_state == OPEN
        assert await ws.recv() == "first"
        assert ws.ready_state == OPEN
        await asyncio.sleep(1.0)
        assert ws.ready_state == OPEN
        with pytest.raises(wsnative.ConnectionClosed):
            await ws.recv()
        assert ws.ready_state == CLOSED

    asyncio.run(run())
