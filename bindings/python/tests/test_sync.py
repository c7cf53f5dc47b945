"""connect(): the blocking client."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

import pytest

import wsnative


def test_connect_send_recv_iterate(ws_url: str) -> None:
    with wsnative.connect(ws_url + "/", "chat.v1", headers={"X-A": "b"}) as ws:
        assert ws.ready_state == wsnative.OPEN and ws.protocol == "chat.v1"
        ws.send("text")
        ws.send(b"\x00\xff")
        assert ws.recv(timeout=5) == "text"
        assert ws.recv() == b"\x00\xff"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)
        ws.close(4005, "enough")
        assert list(ws) == []
    assert (ws.close_code, ws.close_reason, ws.was_clean) == (4005, "enough", True)
    with pytest.raises(wsnative.ConnectionClosed) as info:
        ws.recv()
    assert info.value.code == 4005


def test_iteration_ends_at_server_close(testserver_url: str) -> None:
    ws = wsnative.connect(testserver_url + "count/3/4")
    assert [next(ws) for _ in range(3)] == [b"\x00\x01\x02\x03", b"\x01\x02\x03\x04", b"\x02\x03\x04\x05"]
    ws.close()
    assert list(ws) == []
    assert ws.close_code == 1005 and ws.was_clean


def test_server_close_raises_connection_closed(ws_url: str) -> None:
    ws = wsnative.connect(ws_url + "/close/4000")
    with pytest.raises(wsnative.ConnectionClosed) as info:
        ws.recv(timeout=5)
    assert (info.value.code, info.value.reason, info.value.was_clean) == (4000, "bye", True)
    assert "4000" in str(info.value)


def test_connect_failures(refused_url: str, silent_url: str) -> None:
    with pytest.raises(wsnative.ConnectionFailed, match="refused"):
        wsnative.connect(refused_url)
    with pytest.raises(ConnectionError):
        wsnative.connect(silent_url, connect_timeout=0.2)


def test_rejected_handshake_fails() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    t = threading.Thread(target=answer)
    t.start()
    with pytest.raises(wsnative.ConnectionFailed, match="404"):
        wsnative.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/")
    t.join()
    listener.close()


def test_recv_is_interrupted_by_ctrl_c(ws_url: str) -> None:
    # Python's own Ctrl-C handler, even when the tests run in the background
    # (where SIGINT is inherited ignored and Python installs none).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        ws = wsnative.connect(ws_url + "/")
        timer = threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT))
        timer.start()
        t = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            ws.recv()
        assert time.monotonic() - t < 1.0
        ws.close()
        assert ws.wait_closed(5)
    finally:
        signal.signal(signal.SIGINT, previous)


def test_messages_between_threads(ws_url: str) -> None:
    with wsnative.connect(ws_url + "/") as ws:
        n = 2000
        sender = threading.Thread(target=lambda: [ws.send(str(i)) for i in range(n)])
        sender.start()
        got = [ws.recv(timeout=10) for _ in range(n)]
        sender.join()
        assert got == [str(i) for i in range(n)]
        assert ws.buffered_amount == 0 or ws.buffered_amount < 10 * n
