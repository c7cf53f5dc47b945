"""dispatch="poll": handlers run only inside poll(), on the caller's thread."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any, List

import pytest
from helpers import Recorder

import wsnative


def test_nothing_runs_until_poll(instant_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(instant_url, dispatch="poll")
    time.sleep(0.2)
    ws.onopen = rec
    ws.onmessage = rec
    ws.onclose = rec
    assert rec.events == []
    assert ws.ready_state == wsnative.CONNECTING  # the state as of the last event dispatched
    n = ws.poll()
    assert n == 2 and rec.events == [("open",), ("message", "first")]
    assert set(rec.threads) == {threading.get_ident()}
    ws.close()
    while not rec.closed.is_set():
        ws.poll(timeout=5)
    assert rec.kinds()[-1] == "close"


def test_global_poll_with_timeout(ws_url: str) -> None:
    recs = [Recorder() for _ in range(3)]
    for r in recs:
        wsnative.WebSocket(ws_url + "/close/4000", dispatch="poll", onopen=r, onclose=r)
    assert wsnative.poll() >= 0
    deadline = time.monotonic() + 10
    while not all(r.closed.is_set() for r in recs):
        assert time.monotonic() < deadline
        wsnative.poll(timeout=1)
    for r in recs:
        assert r.events == [("open",), ("close", 4000, "bye", True)]
    t = time.monotonic()
    assert wsnative.poll(timeout=0.2) == 0
    assert time.monotonic() - t >= 0.15


def test_poll_exceptions_propagate_and_keep_the_rest(ws_url: str) -> None:
    calls: List[str] = []

    def onopen(ev: Any) -> None:
        calls.append("open")
        raise ValueError("from onopen")

    ws = wsnative.WebSocket(ws_url + "/close/4000", dispatch="poll", onopen=onopen)
    ws.onclose = lambda ev: calls.append("close")
    time.sleep(0.3)
    with pytest.raises(ValueError, match="from onopen"):
        ws.poll(timeout=5)
    assert calls == ["open"]
    while "close" not in calls:
        ws.poll(timeout=5)
    assert calls == ["open", "close"]


def test_poll_on_thread_socket_is_invalid_state(refused_url: str) -> None:
    ws = wsnative.WebSocket(refused_url)
    with pytest.raises(wsnative.InvalidStateError):
        ws.poll()
    with pytest.raises(ValueError):
        wsnative.poll(-1)


def drive_to_close(ws: wsnative.WebSocket, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while ws.ready_state != wsnative.CLOSED:
        assert time.monotonic() < deadline, "no close event"
        ws.poll(timeout=0.1)


@pytest.mark.timeout(30)
def test_poll_returns_while_events_keep_coming(testserver_url: str) -> None:
    """Issue 13, finding 5: each call is bounded by count (65,536 events) and
    by time (no handler starts after 50 ms of dispatching), even against a
    server that never stops sending. Before the fix poll(0.05) ran for
    seconds, and with a slow handler did not return at all."""
    # 2 million messages: far more than one call may dispatch, and a bounded
    # amount of memory should the queue be unbounded (as before the fix).
    ws = wsnative.WebSocket(testserver_url + "count/2000000/16", dispatch="poll", close_timeout=0.5)
    seen = [0]

    def fast(ev: Any) -> None:
        seen[0] += 1

    ws.onmessage = fast
    time.sleep(0.3)  # the queue fills up to its limit
    for poll in (ws.poll, wsnative.poll):
        for _ in range(5):
            t = time.monotonic()
            n = poll(0.05)
            took = time.monotonic() - t
            assert n <= 65_536, n
            assert took < 0.5, f"{poll.__qualname__}(0.05) took {took:.2f} s for {n} events"
    assert seen[0] > 0

    def slow(ev: Any) -> None:
        seen[0] += 1
        time.sleep(0.01)

    ws.onmessage = slow
    for poll in (ws.poll, wsnative.poll):
        for _ in range(3):
            seen[0] = 0
            t = time.monotonic()
            poll(0.05)
            took = time.monotonic() - t
            assert seen[0] <= 10, seen[0]
            assert took < 0.5, f"{poll.__qualname__}(0.05) took {took:.2f} s with a slow handler"
    ws.onmessage = None
    ws.close()
    drive_to_close(ws)


class Blob:
    """Something big held by a handler, and weakly referenceable."""

    def __init__(self) -> None:
        self.data = bytearray(1 << 20)


def test_poll_releases_handlers_once_close_is_dispatched(ws_url: str) -> None:
    """Issue 13, finding 6: a socket driven to CLOSED with ws.poll() lets go
    of its handlers when the program drops it, without any call to the
    module-level wsnative.poll(). Before the fix they stayed alive (1 MiB
    each here) until wsnative.poll() ran."""
    freed: List[int] = []
    for i in range(20):
        blob = Blob()
        weakref.finalize(blob, freed.append, i)
        ws = wsnative.WebSocket(ws_url + "/close/4000", dispatch="poll")
        ws.onclose = lambda ev, blob=blob: blob  # type: ignore[misc]
        drive_to_close(ws)
        del ws, blob
    gc.collect()
    assert len(freed) == 20, f"only {len(freed)} of 20 sockets released their handlers"


def test_poll_inside_a_handler_of_the_same_socket_dispatches_nothing(ws_url: str) -> None:
    """Events of one socket run one at a time, in order: a nested poll()
    does not run the next event inside the current handler."""
    ws = wsnative.WebSocket(ws_url + "/", dispatch="poll")
    calls: List[Any] = []

    def onopen(ev: Any) -> None:
        ws.send("a")
        ws.send("b")
        time.sleep(0.3)  # both echoes are queued now
        calls.append(("ws.poll", ws.poll()))
        wsnative.poll()  # may run other sockets' events, not this one's
        calls.append("end of onopen")

    ws.onopen = onopen
    ws.onmessage = lambda ev: calls.append(ev.data)
    deadline = time.monotonic() + 10
    while len(calls) < 4:
        assert time.monotonic() < deadline, calls
        ws.poll(timeout=0.1)
    assert calls == [("ws.poll", 0), "end of onopen", "a", "b"]
    ws.close()
    drive_to_close(ws)
