"""The browser object with dispatch="thread": events, fields, send/close,
listeners, against the `websockets` server and the project's testserver."""

from __future__ import annotations

import gc
import sys
import threading
import weakref
from typing import Any, List

import pytest
from helpers import Recorder, wait_until

import wsnative


def test_open_message_close_roundtrip(ws_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(ws_url + "/", ["other", "chat.v2"])
    rec.attach(ws)

    def onopen(ev: Any) -> None:
        rec(ev)
        assert ws.ready_state == wsnative.OPEN
        ws.send("hello")
        ws.send(b"\x00\x01")
        ws.send(bytearray(b"ba"))
        ws.send(memoryview(b"xmemoryx")[1:7])

    ws.onopen = onopen

    def onmessage(ev: Any) -> None:
        rec(ev)
        if len(rec.events) == 5:
            ws.close(4001, "done")

    ws.onmessage = onmessage
    rec.wait()
    assert rec.events == [
        ("open",),
        ("message", "hello"),
        ("message", b"\x00\x01"),
        ("message", b"ba"),
        ("message", b"memory"),
        ("close", 4001, "done", True),
    ]
    assert ws.protocol == "chat.v2"
    # The test server is Python's websockets, which accepts the compression
    # offer with its own window sizes: every message above went compressed.
    assert ws.extensions == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
    assert ws.ready_state == wsnative.CLOSED
    assert len(set(rec.threads)) == 1 and rec.threads[0] != threading.get_ident()


def test_server_close_code_and_reason(ws_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(ws_url + "/close/4000", onopen=rec, onclose=rec, onerror=rec)
    rec.wait()
    assert rec.events == [("open",), ("close", 4000, "bye", True)]
    del ws


def test_dropped_tcp_is_1006_without_error(ws_url: str) -> None:
    rec = Recorder()
    wsnative.WebSocket(ws_url + "/drop", onopen=rec, onerror=rec, onclose=rec)
    rec.wait()
    assert rec.events == [("open",), ("close", 1006, "", False)]


def test_refused_gives_error_then_close(refused_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(refused_url)
    rec.attach(ws)
    rec.wait()
    assert rec.kinds() == ["error", "close"]
    assert "refused" in rec.events[0][1].lower()
    assert rec.events[1] == ("close", 1006, "", False)


def test_close_while_connecting_fails_the_connection(ws_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(ws_url + "/")
    rec.attach(ws)
    ws.close()
    assert ws.ready_state == wsnative.CLOSING  # at once; CLOSED when close is dispatched
    rec.wait()
    assert rec.kinds() == ["error", "close"]
    assert rec.events[1] == ("close", 1006, "", False)


def test_buffered_amount_grows_after_close(ws_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(ws_url + "/", onclose=rec)
    wait_until(lambda: ws.ready_state == wsnative.OPEN)
    ws.close()
    ws.send("héllo")  # 6 bytes of UTF-8, discarded but counted
    ws.send(b"abc")
    assert ws.buffered_amount == 9
    rec.wait()
    assert ws.buffered_amount == 9


def test_invalid_utf8_text_is_refused(ws_url: str) -> None:
    ws = wsnative.connect(ws_url + "/")
    with pytest.raises(wsnative.InvalidUtf8Error):
        ws.send("\ud800")
    with pytest.raises(TypeError):
        ws.send(12)  # type: ignore[arg-type]
    assert ws.buffered_amount == 0
    ws.close()


def test_messages_after_close_are_dropped(testserver_url: str) -> None:
    got: List[Any] = []
    done = threading.Event()

    bound = threading.Event()

    def onmessage(ev: Any) -> None:
        got.append(ev.data)
        # The dispatcher may run this before `ws` is bound in the test's frame.
        assert bound.wait(10)
        ws.close()

    ws = wsnative.WebSocket(testserver_url + "count/1000/8", onmessage=onmessage, onclose=lambda ev: done.set())
    bound.set()
    assert done.wait(10)
    assert len(got) == 1


def test_listeners_order_dedup_once_and_removal(ws_url: str) -> None:
    calls: List[str] = []
    done = threading.Event()

    def a(ev: Any) -> None:
        calls.append("a")

    def b(ev: Any) -> None:
        calls.append("b")

    def once(ev: Any) -> None:
        calls.append("once")

    ws = wsnative.WebSocket(ws_url + "/hello")
    ws.add_event_listener("message", a)
    ws.onmessage = lambda ev: calls.append("attr")
    ws.add_event_listener("message", a)  # duplicate: ignored
    ws.add_event_listener("message", b)
    ws.add_event_listener("message", once, once=True)
    ws.add_event_listener("whatever", a)  # unknown type: never fires
    ws.remove_event_listener("message", b)
    ws.add_event_listener("close", lambda ev: done.set())

    def onopen(ev: Any) -> None:
        ws.send("again")

    ws.onopen = onopen

    def second(ev: Any) -> None:
        if calls.count("a") == 2:
            ws.close()

    ws.add_event_listener("message", second)
    assert done.wait(10)
    assert calls == ["a", "attr", "once", "a", "attr"]
    assert ws.onopen is onopen


def test_handler_attribute_keeps_its_place(ws_url: str) -> None:
    calls: List[str] = []
    done = threading.Event()
    ws = wsnative.WebSocket(ws_url + "/hello")
    ws.onmessage = lambda ev: calls.append("first attr")
    ws.add_event_listener("message", lambda ev: calls.append("listener"))
    ws.onmessage = lambda ev: (calls.append("replaced attr"), ws.close())  # same place
    ws.onclose = lambda ev: done.set()
    assert done.wait(10)
    assert calls == ["replaced attr", "listener"]


def test_handler_exception_is_reported_and_dispatch_goes_on(ws_url: str) -> None:
    reported: List[BaseException] = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda u: reported.append(u.exc_value)  # type: ignore[assignment]
    try:
        rec = Recorder()

        def boom(ev: Any) -> None:
            raise RuntimeError("handler failed")

        ws = wsnative.WebSocket(ws_url + "/hello", onmessage=boom)
        ws.add_event_listener("message", rec)
        ws.add_event_listener("message", lambda ev: ws.close())
        ws.onclose = rec
        rec.wait()
    finally:
        sys.unraisablehook = old
    assert [str(e) for e in reported] == ["handler failed"]
    assert rec.events == [("message", "hello"), ("close", 1005, "", True)]


def test_callback_may_close_send_and_drop_its_socket(ws_url: str) -> None:
    done = threading.Event()
    holder: dict[str, Any] = {}

    def onopen(ev: Any) -> None:
        holder["ws"].send("x")

    def onmessage(ev: Any) -> None:
        ws = holder.pop("ws")
        ws.close(1000)
        ws.send("discarded")
        del ws  # the last Python reference goes away inside its own handler

    holder["ws"] = wsnative.WebSocket(
        ws_url + "/", onopen=onopen, onmessage=onmessage, onclose=lambda ev: done.set()
    )
    assert done.wait(10)


def test_unreferenced_open_socket_keeps_firing_then_is_collected(ws_url: str) -> None:
    rec = Recorder()

    def onopen(ev: Any) -> None:
        rec(ev)

    ws = wsnative.WebSocket(ws_url + "/close/4002", onopen=onopen, onclose=rec)
    ref = weakref.ref(ws)
    del ws
    gc.collect()
    rec.wait()
    assert rec.events == [("open",), ("close", 4002, "bye", True)]
    wait_until(lambda: (gc.collect(), ref() is None)[1])


def test_headers_are_sent(testserver_url: str) -> None:
    got: List[str] = []
    done = threading.Event()

    def onmessage(ev: Any) -> None:
        got.append(ev.data)
        ev_ws.close()

    ev_ws = wsnative.WebSocket(
        testserver_url + "headers",
        headers={"Origin": "https://example.com", "X-Token": "abc"},
        onmessage=onmessage,
        onclose=lambda ev: done.set(),
    )
    assert done.wait(10)
    assert "origin: https://example.com" in got[0]
    assert "x-token: abc" in got[0]


def test_count_messages_in_order_from_testserver(testserver_url: str) -> None:
    n = 20000
    got: List[bytes] = []
    done = threading.Event()

    def onmessage(ev: Any) -> None:
        got.append(ev.data)
        if len(got) == n:
            ws.close()

    ws = wsnative.WebSocket(testserver_url + f"count/{n}/64", onmessage=onmessage, onclose=lambda ev: done.set())
    assert done.wait(30)
    assert len(got) == n
    for i in (0, 1, 255, 256, n - 1):
        assert got[i] == bytes((i + j) % 256 for j in range(64))


def test_message_too_big_fails_with_1009(ws_url: str) -> None:
    rec = Recorder()
    ws = wsnative.WebSocket(ws_url + "/", max_message_size=10)
    rec.attach(ws)
    ws.onopen = lambda ev: ws.send("x" * 11)
    rec.wait()
    assert rec.kinds() == ["error", "close"]
    assert rec.events[-1] == ("close", 1006, "", False)


def test_events_of_many_sockets_run_on_one_thread(ws_url: str) -> None:
    recs = [Recorder() for _ in range(5)]
    for r in recs:
        wsnative.WebSocket(ws_url + "/close/4000", onopen=r, onclose=r)
    for r in recs:
        r.wait()
    assert len({t for r in recs for t in r.threads}) == 1
