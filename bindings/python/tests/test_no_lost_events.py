"""No lost events: handlers attached right after the constructor see every
event, even from a server that answers at once (the 101 response and a
message in one packet) or a port that refuses at once."""

from __future__ import annotations

import sys
import time
from typing import Any, Iterator

import pytest
from helpers import Recorder

import wsnative

ROUNDS = 100


@pytest.fixture
def long_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(5.0)
    yield
    sys.setswitchinterval(old)


def test_handlers_after_constructor_instant_accept(instant_url: str) -> None:
    for _ in range(ROUNDS):
        rec = Recorder()
        ws = wsnative.WebSocket(instant_url)
        ws.onopen = rec
        ws.onmessage = lambda ev, ws=ws, rec=rec: (rec(ev), ws.close())  # type: ignore[misc]
        ws.onerror = rec
        ws.onclose = rec
        rec.wait()
        assert rec.events[:2] == [("open",), ("message", "first")], rec.events
        assert rec.kinds()[-1] == "close"


def test_handlers_after_constructor_instant_refusal(refused_url: str) -> None:
    for _ in range(ROUNDS):
        rec = Recorder()
        ws = wsnative.WebSocket(refused_url)
        ws.add_event_listener("error", rec)
        ws.add_event_listener("close", rec)
        rec.wait()
        assert rec.kinds() == ["error", "close"]


def test_constructor_keywords(instant_url: str, refused_url: str) -> None:
    rec = Recorder()
    wsnative.WebSocket(instant_url, onopen=rec, onmessage=lambda ev: rec(ev), onclose=rec, connect_timeout=5)
    time.sleep(0.2)  # blocking: the dispatcher runs now, handlers are already there
    assert rec.events[:2] == [("open",), ("message", "first")]
    rec2 = Recorder()
    wsnative.WebSocket(refused_url, onerror=rec2, onclose=rec2)
    rec2.wait()
    assert rec2.kinds() == ["error", "close"]


def test_nothing_runs_before_the_creating_thread_releases_the_gil(
    testserver_url: str, long_switch_interval: None
) -> None:
    """The rule itself: the creating thread keeps the GIL (no blocking call)
    for 300 ms after the constructor, while the server (a separate process)
    has long answered; handlers attached after that still see everything."""
    rec = Recorder()
    ws = wsnative.WebSocket(testserver_url + "hello")
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:  # pure Python: never releases the GIL
        pass
    assert ws.ready_state == wsnative.CONNECTING  # the core is open; Python heard nothing yet
    ws.onopen = rec
    ws.onmessage = rec
    ws.onclose = rec
    assert rec.events == []
    time.sleep(0.2)  # releases the GIL: now the dispatcher runs
    assert rec.events == [("open",), ("message", "hello")]
    ws.close()
    rec.wait()


def test_socket_created_in_a_handler_gets_its_events(instant_url: str, ws_url: str) -> None:
    inner = Recorder()

    def onopen(ev: Any) -> None:
        child = wsnative.WebSocket(instant_url)
        time.sleep(0.05)  # even a blocking call here: the dispatcher is busy with us
        child.onopen = inner
        child.onmessage = lambda e: (inner(e), child.close())
        child.onclose = inner
        outer.close()

    outer = wsnative.WebSocket(ws_url + "/", onopen=onopen)
    inner.wait()
    assert inner.events[:2] == [("open",), ("message", "first")]
