"""Local peers for the tests: the `websockets` package's server (an
independent implementation), a raw-socket server that answers in the same
packet as the handshake, a refused port, and the project's testserver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import pytest
from websockets.asyncio.server import ServerConnection, serve

REPO = Path(__file__).resolve().parents[3]
PROXY_ENV = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"]


@pytest.fixture(autouse=True)
def no_proxy_from_the_callers_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests talk to their own loopback servers: a proxy from the
    environment (read as curl reads it) must not come between."""
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    """On Python 3.9 the test tools are pytest-asyncio 1.2.0, the last release
    for it, whose asyncio.get_event_loop() call creates a loop in the main
    thread and never closes it (pytest-asyncio issue 724; the releases that
    fix it need 3.10): collected later, it fails whichever test runs gc, as an
    unclosed event loop. With the main thread's loop set to none, that call
    creates nothing."""
    if sys.version_info < (3, 10):
        asyncio.set_event_loop(None)


GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


async def _websockets_handler(conn: ServerConnection) -> None:
    path = conn.request.path if conn.request else "/"
    if path == "/hello":
        await conn.send("hello")
    elif path.startswith("/close/"):
        await conn.close(int(path.split("/")[2]), "bye")
        return
    elif path == "/headers":
        await conn.send("\n".join(f"{k.lower()}: {v}" for k, v in conn.request.headers.raw_items()))
    elif path == "/drop":
        conn.transport.abort()
        return
    try:
        async for message in conn:
            await conn.send(message)
    except Exception:
        pass


def _select_subprotocol(conn: ServerConnection, offered: Sequence[str]) -> Optional[str]:
    return next((p for p in offered if p in ("chat.v1", "chat.v2")), None)  # type: ignore[return-value]


@pytest.fixture(scope="session")
def ws_url() -> Iterator[str]:
    """A `websockets` echo server (port 0) on its own loop and thread.
    Paths: /hello, /close/<code>, /headers, /drop; protocols chat.v1, chat.v2."""
    ready = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.get_running_loop().create_future()
        state["stop"] = stop
        state["loop"] = asyncio.get_running_loop()
        async with serve(
            _websockets_handler, "127.0.0.1", 0, select_subprotocol=_select_subprotocol, max_size=None
        ) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            ready.set()
            await stop

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"ws://127.0.0.1:{state['port']}"
    loop = state["loop"]
    assert isinstance(loop, asyncio.AbstractEventLoop)
    loop.call_soon_threadsafe(lambda: state["stop"].set_result(None))  # type: ignore[attr-defined]
    thread.join(10)


def _accept_key(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        if line.lower().startswith(b"sec-websocket-key:"):
            key = line.split(b":", 1)[1].strip()
            return base64.b64encode(hashlib.sha1(key + GUID).digest())
    raise AssertionError("no key")


def _switching_protocols(request: bytes) -> bytes:
    """The 101 response head that accepts `request`."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + _accept_key(request) + b"\r\n\r\n"
    )


def _read_request(conn: socket.socket) -> Optional[bytes]:
    """The client's opening request, or None if it hung up first."""
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        request += chunk
    return request


def _raw_server(serve_one: Callable[[socket.socket], None]) -> Iterator[str]:
    """Accepts connections on 127.0.0.1 (a free port) and serves each on a
    thread of its own; yields the URL, then stops listening."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    yield f"ws://127.0.0.1:{port}/"
    listener.close()


@pytest.fixture(scope="session")
def instant_url() -> Iterator[str]:
    """A raw server that sends the 101 response and a text message "first"
    in one packet, as fast as it can, then answers the client's Close."""

    def serve_one(conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            conn.sendall(_switching_protocols(request) + b"\x81\x05first")
            conn.settimeout(10)
            try:
                if conn.recv(4096):
                    conn.sendall(b"\x88\x02\x03\xe8")
            except OSError:
                pass

    yield from _raw_server(serve_one)


@pytest.fixture(scope="session")
def closing_url() -> Iterator[str]:
    """A raw server that sends the 101 response, a text message "first" and
    its Close frame (1000, "bye") in one packet, reads the client's Close,
    then keeps TCP open for 0.6 s before closing it: the client's close
    event comes 0.6 s after everything else."""

    def serve_one(conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            conn.sendall(_switching_protocols(request) + b"\x81\x05first\x88\x05\x03\xe8bye")
            conn.settimeout(10)
            try:
                conn.recv(4096)
            except OSError:
                pass
            time.sleep(0.6)

    yield from _raw_server(serve_one)


def _binary_frame(size: int) -> bytes:
    if size < 126:
        return bytes([0x82, size]) + bytes(size)
    assert size < 65536
    return bytes([0x82, 126]) + size.to_bytes(2, "big") + bytes(size)


@pytest.fixture(scope="session")
def flood_url() -> Iterator[str]:
    """A hostile raw server: after the handshake it sends binary messages of
    the size given by the path (``/256``) as fast as the kernel takes them,
    for ever, and never reads. Only TCP flow control slows it down."""

    def serve_one(conn: socket.socket) -> None:
        with conn:
            request = _read_request(conn)
            if request is None:
                return
            path = request.split(b" ", 2)[1].decode()
            size = int(path.strip("/") or "256")
            frame = _binary_frame(size)
            burst = frame * max(1, (256 * 1024) // len(frame))
            try:
                conn.sendall(_switching_protocols(request))
                while True:
                    conn.sendall(burst)
            except OSError:
                return

    yield from _raw_server(serve_one)


@pytest.fixture
def refused_url() -> str:
    """A loopback port with nothing listening: connect fails at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"ws://127.0.0.1:{port}/"


def _testserver_binary() -> Path:
    path = REPO / "target" / "debug" / "wsnative-testserver"
    if os.environ.get("WSNATIVE_TESTSERVER"):
        return Path(os.environ["WSNATIVE_TESTSERVER"])
    subprocess.run(
        ["cargo", "build", "--quiet", "-p", "wsnative-testserver"], cwd=REPO, check=True, timeout=600
    )
    return path


@pytest.fixture(scope="session")
def testserver_binary() -> Path:
    return _testserver_binary()


def _start_testserver(binary: Path, mode: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [str(binary), "--mode", mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("ws://"), url
    return proc, url


def _stop_testserver(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()  # the server stops at EOF on stdin
    proc.wait(10)
    proc.stdout.close()


@pytest.fixture(scope="session")
def testserver_url(testserver_binary: Path) -> Iterator[str]:
    """The project's wsnative-testserver in echo mode (/count/<n>/<size>...)."""
    proc, url = _start_testserver(testserver_binary, "echo")
    yield url
    _stop_testserver(proc)


@pytest.fixture
def chat_url(testserver_binary: Path) -> Iterator[str]:
    """A fresh wsnative-testserver in chat mode (MDN's JSON chat protocol)."""
    proc, url = _start_testserver(testserver_binary, "chat")
    yield url
    _stop_testserver(proc)


@pytest.fixture(scope="session")
def silent_url() -> Iterator[str]:
    """A port that accepts TCP (in the kernel backlog) and never answers:
    sockets stay CONNECTING."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()
