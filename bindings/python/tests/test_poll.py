"""dispatch="poll": handlers run only inside poll(), on the caller's thread."""

from __future__ import annotations

import threading
import time
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
    assert ws.ready_state == wsnative.OPEN
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
