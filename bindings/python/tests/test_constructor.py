"""Synchronous validation (SPEC section 2 and 3) and the exception classes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import wsnative


def test_exception_hierarchy() -> None:
    assert issubclass(wsnative.WebSocketSyntaxError, wsnative.WebSocketError)
    assert issubclass(wsnative.WebSocketSyntaxError, ValueError)
    for cls in (wsnative.InvalidUtf8Error, wsnative.InvalidOptionError):
        assert issubclass(cls, wsnative.WebSocketError) and issubclass(cls, ValueError)
    for cls in (
        wsnative.InvalidStateError,
        wsnative.InvalidAccessError,
        wsnative.ShutDownError,
        wsnative.WouldDeadlockError,
        wsnative.InternalError,
        wsnative.ConnectionClosed,
    ):
        assert issubclass(cls, wsnative.WebSocketError)
    assert issubclass(wsnative.ConnectionFailed, ConnectionError)


def test_ready_state_constants() -> None:
    assert (wsnative.CONNECTING, wsnative.OPEN, wsnative.CLOSING, wsnative.CLOSED) == (0, 1, 2, 3)
    ws = wsnative.WebSocket
    assert (ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED) == (0, 1, 2, 3)


@pytest.mark.parametrize(
    "url",
    ["not a url", "ftp://127.0.0.1/", "ws://127.0.0.1/#", "ws://127.0.0.1/#frag", "file:///tmp/x", ""],
)
def test_bad_urls_raise_syntax_error(url: str) -> None:
    with pytest.raises(wsnative.WebSocketSyntaxError):
        wsnative.WebSocket(url)
    with pytest.raises(wsnative.WebSocketSyntaxError):
        wsnative.connect(url)


@pytest.mark.parametrize(
    "protocols", [["a", "a"], [""], ["with space"], ["a,b"], ["é"], "a b"]
)
def test_bad_protocols_raise_syntax_error(refused_url: str, protocols: object) -> None:
    with pytest.raises(wsnative.WebSocketSyntaxError):
        wsnative.WebSocket(refused_url, protocols)  # type: ignore[arg-type]


def test_protocols_must_be_str(refused_url: str) -> None:
    with pytest.raises(TypeError):
        wsnative.WebSocket(refused_url, [1])  # type: ignore[list-item]


def test_url_serialization_and_http_schemes(silent_url: str) -> None:
    port = silent_url.rsplit(":", 1)[1].strip("/")
    ws = wsnative.WebSocket(f"http://127.0.0.1:{port}")
    assert ws.url == f"ws://127.0.0.1:{port}/"
    assert ws.ready_state == wsnative.CONNECTING
    assert ws.protocol == "" and ws.extensions == "" and ws.buffered_amount == 0
    ws.close()
    assert wsnative.WebSocket(f"https://127.0.0.1:{port}/a?b=1", connect_timeout=0.5).url == (
        f"wss://127.0.0.1:{port}/a?b=1"
    )


@pytest.mark.parametrize(
    "options",
    [
        {"headers": {"X-Bad": "a\r\nInjected: 1"}},
        {"headers": {"Host": "example.com"}},
        {"headers": [("Bad Name", "v")]},
        {"headers": "X: y"},
        {"connect_timeout": -1},
        {"connect_timeout": 0},
        {"close_timeout": float("nan")},
        {"connect_timeout": "soon"},
        {"max_message_size": 0},
        {"max_message_size": -5},
        {"ca_pem": "not a certificate"},
        {"ca_file": "/nonexistent/ca.pem"},
        {"ca_exclusive": True},
        {"dispatch": "fiber"},
    ],
)
def test_bad_options_raise_invalid_option(refused_url: str, options: dict[str, object]) -> None:
    with pytest.raises(wsnative.InvalidOptionError):
        wsnative.WebSocket(refused_url, **options)  # type: ignore[arg-type]


def test_unknown_option_is_a_type_error(refused_url: str) -> None:
    with pytest.raises(TypeError):
        wsnative.WebSocket(refused_url, colour="blue")
    with pytest.raises(TypeError):
        wsnative.connect(refused_url, colour="blue")


def test_handlers_must_be_callable(refused_url: str) -> None:
    with pytest.raises(TypeError):
        wsnative.WebSocket(refused_url, onopen=42)  # type: ignore[arg-type]
    ws = wsnative.WebSocket(refused_url, connect_timeout=1)
    with pytest.raises(TypeError):
        ws.onmessage = "nope"
    with pytest.raises(TypeError):
        ws.add_event_listener("open", 3)  # type: ignore[arg-type]


def test_send_while_connecting_is_invalid_state(silent_url: str) -> None:
    ws = wsnative.WebSocket(silent_url)
    with pytest.raises(wsnative.InvalidStateError):
        ws.send("x")
    assert ws.buffered_amount == 0
    ws.close()


@pytest.mark.parametrize("code", [0, 999, 1001, 1005, 2999, 5000, 70000, -1])
def test_bad_close_codes_raise_invalid_access(silent_url: str, code: int) -> None:
    ws = wsnative.WebSocket(silent_url)
    with pytest.raises(wsnative.InvalidAccessError):
        ws.close(code)
    assert ws.ready_state == wsnative.CONNECTING
    ws.close()


def test_long_close_reason_raises_syntax_error(silent_url: str) -> None:
    ws = wsnative.WebSocket(silent_url)
    with pytest.raises(wsnative.WebSocketSyntaxError):
        ws.close(1000, "é" * 62)  # 124 bytes of UTF-8
    assert ws.ready_state == wsnative.CONNECTING
    ws.close(1000, "é" * 61)  # 122 bytes: fine
    assert ws.ready_state in (wsnative.CLOSING, wsnative.CLOSED)


def test_valid_options_are_accepted(refused_url: str) -> None:
    ws = wsnative.WebSocket(
        refused_url,
        headers=[("Origin", "https://example.com"), ("X-Token", "")],
        connect_timeout=2.5,
        close_timeout=1,
        max_message_size=1024,
        block_unsafe_ports=True,
        dispatch="poll",
    )
    assert ws.dispatch == "poll"
    ws.close()


LONE = "\ud800"


def test_lone_surrogates_raise_the_library_errors(refused_url: str, silent_url: str) -> None:
    """Issue 13, finding 9c: a str that cannot be encoded as UTF-8 raises the
    library's own error classes, saying what is wrong (before the fix: a
    bare UnicodeEncodeError)."""
    for make in (wsnative.WebSocket, wsnative.connect):
        with pytest.raises(wsnative.WebSocketSyntaxError, match="URL .*lone surrogate"):
            make(refused_url + LONE)
        with pytest.raises(wsnative.WebSocketSyntaxError, match="protocol .*lone surrogate"):
            make(refused_url, ["chat", "a" + LONE])
        with pytest.raises(wsnative.InvalidOptionError, match="header .*lone surrogate"):
            make(refused_url, headers={"X-Value": LONE})
        with pytest.raises(wsnative.InvalidOptionError, match="header .*lone surrogate"):
            make(refused_url, headers=[("X-" + LONE, "v")])
        with pytest.raises(wsnative.InvalidOptionError, match="ca_pem .*lone surrogate"):
            make(refused_url, ca_pem=LONE)
    with pytest.raises(wsnative.InvalidOptionError, match="dispatch"):
        wsnative.WebSocket(refused_url, dispatch=LONE)
    ws = wsnative.WebSocket(silent_url)
    ws.add_event_listener(LONE, print)  # an unknown type: never fires
    ws.remove_event_listener(LONE, print)
    with pytest.raises(wsnative.InvalidUtf8Error, match="close reason .*lone surrogate"):
        ws.close(1000, LONE)
    assert ws.ready_state == wsnative.CONNECTING
    ws.close()


@pytest.mark.timeout(10)
def test_ca_file_must_be_a_regular_file_of_at_most_16_mib(refused_url: str, tmp_path: Path) -> None:
    """Before the fix /dev/zero was read for ever (until memory ran out) and
    a FIFO blocked the constructor until a writer came."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    big = tmp_path / "big.pem"
    with open(big, "wb") as f:
        f.truncate(16 * 1024 * 1024 + 1)
    cases = [("/dev/zero", "not a regular file"), (fifo, "not a regular file"),
             (tmp_path, "directory"), (big, "larger than 16 MiB")]
    for path, why in cases:
        with pytest.raises(wsnative.InvalidOptionError, match=why):
            wsnative.WebSocket(refused_url, ca_file=path)
        with pytest.raises(wsnative.InvalidOptionError, match=why):
            wsnative.connect(refused_url, ca_file=str(path))
    with pytest.raises(wsnative.InvalidOptionError, match="larger than 16 MiB"):
        wsnative.WebSocket(refused_url, ca_pem=bytes(16 * 1024 * 1024 + 1))
