"""Network reach (issue 15): HTTP CONNECT and SOCKS5 proxies (real tinyproxy
and microsocks on loopback), proxies from the environment, Happy Eyeballs,
trust (CA options, client certificates, session resumption) and the error
codes of every failure. Nothing leaves the machine: every server listens on
loopback, name resolution happens in a private mount namespace."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
from websockets.asyncio.server import ServerConnection, serve

import wsnative
from conftest import PROXY_ENV
from helpers import Recorder
# tinyproxy takes letters, digits and dashes; percent-decoding is unit-tested.
USER, PASSWORD = "alice", "s3cret-pass"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the proxy exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


# --- PKI --------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA; a server certificate for 127.0.0.1 only; a client
    certificate signed by the same CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (make deps)")
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=reach CA", cwd=d)
    for name, ext in [
        ("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ]:
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + ext)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "30", "-extfile", f"{name}.ext", cwd=d)
    # Revocation lists of the CA (openssl ca): one listing nothing, one
    # listing the server's certificate.
    (d / "ca.cnf").write_text("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\n"
                              "default_md=sha256\ndefault_crl_days=30\n")
    (d / "index.txt").write_text("")
    (d / "crlnumber").write_text("01\n")
    ca = ["ca", "-batch", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem"]
    openssl(*ca, "-gencrl", "-out", "empty.crl", cwd=d)
    openssl(*ca, "-revoke", "server.pem", cwd=d)
    openssl(*ca, "-gencrl", "-out", "revoked.crl", cwd=d)
    return d


async def _handler(conn: ServerConnection) -> None:
    path = conn.request.path if conn.request else "/"
    if path == "/reused":
        ssl_object = conn.transport.get_extra_info("ssl_object")
        await conn.send("yes" if ssl_object is not None and ssl_object.session_reused else "no")
    try:
        async for message in conn:
            await conn.send(message)
    except Exception:
        pass


def _serve_thread(ssl_context: Optional[ssl.SSLContext]) -> Iterator[int]:
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def main() -> None:
        state["loop"] = asyncio.get_running_loop()
        state["stop"] = state["loop"].create_future()
        async with serve(_handler, "127.0.0.1", 0, ssl=ssl_context) as server:
            state["port"] = server.sockets[0].getsockname()[1]
            ready.set()
            await state["stop"]

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield state["port"]
    state["loop"].call_soon_threadsafe(lambda: state["stop"].set_result(None))
    thread.join(10)


def _server_context(pki: Path, client_ca: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki / "ca.pem")
    return ctx


@pytest.fixture(scope="session")
def echo_port() -> Iterator[int]:
    yield from _serve_thread(None)


@pytest.fixture(scope="session")
def wss_port(pki: Path) -> Iterator[int]:
    yield from _serve_thread(_server_context(pki, client_ca=False))


# --- proxies ----------------------------------------------------------------


@pytest.fixture(scope="session")
def tinyproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """tinyproxy (Debian) on loopback, Basic authentication required."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    if not os.path.exists(binary):
        pytest.skip("tinyproxy is not installed (make deps)")
    d = tmp_path_factory.mktemp("tinyproxy")
    port = free_port()
    (d / "tinyproxy.conf").write_text(textwrap.dedent(f"""\
        Port {port}
        Listen 127.0.0.1
        Timeout 30
        MaxClients 50
        Allow 127.0.0.1
        BasicAuth {USER} {PASSWORD}
        LogLevel Connect
        """))
    proc = subprocess.Popen([binary, "-d", "-c", str(d / "tinyproxy.conf")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    yield port
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="session")
def socks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """microsocks (Debian) on loopback, username/password required."""
    binary = shutil.which("microsocks") or "/usr/bin/microsocks"
    if not os.path.exists(binary):
        pytest.skip("microsocks is not installed (make deps)")
    port = free_port()
    proc = subprocess.Popen([binary, "-i", "127.0.0.1", "-p", str(port), "-u", USER, "-P", PASSWORD],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    yield port
    proc.terminate()
    proc.wait(10)


def _pipe(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _tls_front(ctx: ssl.SSLContext, upstream_port: int) -> Iterator[int]:
    """A TLS terminator on loopback forwarding to `upstream_port` (blocking
    sockets: a refused client certificate gets its TLS alert)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)

    def serve_one(raw: socket.socket) -> None:
        try:
            tls = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        with tls, socket.create_connection(("127.0.0.1", upstream_port)) as upstream:
            back = threading.Thread(target=_pipe, args=(upstream, tls), daemon=True)
            back.start()
            _pipe(tls, upstream)
            back.join(10)

    def accept_loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture(scope="session")
def https_proxy(pki: Path, tinyproxy: int) -> Iterator[int]:
    """TLS to the proxy: a TLS front (the server certificate) forwarding to
    tinyproxy, as an https:// proxy is deployed."""
    yield from _tls_front(_server_context(pki, client_ca=False), tinyproxy)


@pytest.fixture(scope="session")
def mtls_port(pki: Path, echo_port: int) -> Iterator[int]:
    """wss:// that requires a client certificate signed by the test CA."""
    yield from _tls_front(_server_context(pki, client_ca=True), echo_port)


def proxy_url(scheme: str, port: int, password: str = PASSWORD) -> str:
    from urllib.parse import quote

    return f"{scheme}://{quote(USER)}:{quote(password, safe='')}@127.0.0.1:{port}"


def echo_once(url: str, **options: Any) -> None:
    with wsnative.connect(url, connect_timeout=10, **options) as ws:
        ws.send("through")
        assert ws.recv(timeout=10) == "through"


def failure(url: str, **options: Any) -> wsnative.ConnectionFailed:
    with pytest.raises(wsnative.ConnectionFailed) as info:
        wsnative.connect(url, connect_timeout=options.pop("connect_timeout", 10), **options)
    return info.value


def test_http_connect_proxy_with_basic_auth(tinyproxy: int, echo_port: int, wss_port: int, pki: Path) -> None:
    echo_once(f"ws://127.0.0.1:{echo_port}/", proxy=proxy_url("http", tinyproxy))
    echo_once(f"wss://127.0.0.1:{wss_port}/", proxy=proxy_url("http", tinyproxy), ca_file=str(pki / "ca.pem"))


def test_proxy_that_asks_for_or_refuses_credentials(tinyproxy: int, echo_port: int) -> None:
    url = f"ws://127.0.0.1:{echo_port}/"
    f = failure(url, proxy=f"http://127.0.0.1:{tinyproxy}")
    assert f.code == "proxy_auth" and f"http://127.0.0.1:{tinyproxy}" in f.message, f.message
    f = failure(url, proxy=proxy_url("http", tinyproxy, password="wrong-one"))
    assert f.code == "proxy_auth", f.message
    assert f"127.0.0.1:{tinyproxy}" in f.message and "wrong-one" not in f.message, f.message


def test_proxy_that_refuses_the_tunnel(tinyproxy: int) -> None:
    f = failure(f"ws://127.0.0.1:{free_port()}/", proxy=proxy_url("http", tinyproxy))
    assert f.code == "proxy_refused" and f"127.0.0.1:{tinyproxy}" in f.message, f.message
    assert PASSWORD not in f.message


def test_proxy_that_closes_mid_connect_gives_error_then_close_1006(echo_port: int) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 Conn")
        conn.close()

    threading.Thread(target=hang_up, daemon=True).start()
    rec = Recorder()
    ws = wsnative.WebSocket(f"ws://127.0.0.1:{echo_port}/", proxy=f"http://u:hidden@127.0.0.1:{listener.getsockname()[1]}")
    codes: list[str] = []
    ws.onerror = lambda ev: (codes.append(ev.code), rec(ev))
    ws.onclose = rec
    rec.wait()
    listener.close()
    assert rec.kinds() == ["error", "close"] and rec.events[1][1] == 1006, rec.events
    assert codes == ["proxy_closed"] and "hidden" not in rec.events[0][1], rec.events


def test_unreachable_proxy(echo_port: int) -> None:
    f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=f"socks5h://127.0.0.1:{free_port()}")
    assert f.code == "proxy_unreachable" and "socks5h://127.0.0.1" in f.message, f.message


def test_https_proxy(https_proxy: int, echo_port: int, wss_port: int, pki: Path) -> None:
    ca = str(pki / "ca.pem")
    echo_once(f"ws://127.0.0.1:{echo_port}/", proxy=proxy_url("https", https_proxy), ca_file=ca)
    echo_once(f"wss://127.0.0.1:{wss_port}/", proxy=proxy_url("https", https_proxy), ca_file=ca)
    # The proxy's certificate is verified too.
    f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=proxy_url("https", https_proxy))
    assert f.code == "tls_cert_untrusted" and "https://127.0.0.1" in f.message, f.message


def test_socks5_with_auth_remote_and_local_resolution(socks: int, echo_port: int) -> None:
    echo_once(f"ws://127.0.0.1:{echo_port}/", proxy=proxy_url("socks5h", socks))
    echo_once(f"ws://localhost:{echo_port}/", proxy=proxy_url("socks5h", socks))
    echo_once(f"ws://localhost:{echo_port}/", proxy=proxy_url("socks5", socks))
    f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=proxy_url("socks5", socks, password="nope-nope"))
    assert f.code == "proxy_auth" and "nope-nope" not in f.message, f.message
    f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=f"socks5://127.0.0.1:{socks}")
    assert f.code == "proxy_auth", f.message
    f = failure(f"ws://127.0.0.1:{free_port()}/", proxy=proxy_url("socks5h", socks))
    assert f.code == "proxy_refused", f.message


def test_proxy_from_the_environment_as_curl_reads_it(
    monkeypatch: pytest.MonkeyPatch, tinyproxy: int, socks: int, echo_port: int
) -> None:
    url = f"ws://127.0.0.1:{echo_port}/"
    bad = proxy_url("http", tinyproxy, password="env-wrong")
    monkeypatch.setenv("http_proxy", bad)
    assert failure(url).code == "proxy_auth"  # the environment's proxy is used
    echo_once(url, proxy="")  # "" : no proxy, whatever the environment says
    echo_once(url, proxy=False)
    echo_once(url, proxy=proxy_url("socks5h", socks))  # the option wins
    monkeypatch.setenv("no_proxy", "example.test, 127.0.0.0/8")
    echo_once(url)
    monkeypatch.setenv("no_proxy", "*")
    echo_once(url)
    monkeypatch.delenv("no_proxy")
    monkeypatch.delenv("http_proxy")
    monkeypatch.setenv("HTTP_PROXY", bad)  # curl ignores the upper-case one
    echo_once(url)
    monkeypatch.setenv("ALL_PROXY", proxy_url("http", tinyproxy))
    echo_once(url)
    monkeypatch.setenv("all_proxy", bad)
    assert failure(url).code == "proxy_auth"


def test_invalid_proxy_options_raise(echo_port: int) -> None:
    for bad in ["ftp://h:1", "http://", 42]:
        with pytest.raises(wsnative.InvalidOptionError):
            wsnative.WebSocket(f"ws://127.0.0.1:{echo_port}/", proxy=bad)


# --- trust ------------------------------------------------------------------


def test_certificate_errors_have_codes(wss_port: int, pki: Path) -> None:
    f = failure(f"wss://127.0.0.1:{wss_port}/", proxy="")
    assert f.code == "tls_cert_untrusted", f.message
    f = failure(f"wss://localhost:{wss_port}/", proxy="", ca_file=str(pki / "ca.pem"))
    assert f.code == "tls_cert_name_mismatch", f.message
    echo_once(f"wss://127.0.0.1:{wss_port}/", ca_file=str(pki / "ca.pem"), ca_exclusive=True)


def test_client_certificate(mtls_port: int, pki: Path) -> None:
    url = f"wss://127.0.0.1:{mtls_port}/"
    ca = str(pki / "ca.pem")
    f = failure(url, ca_file=ca)
    assert f.code == "tls", f.message
    echo_once(url, ca_file=ca, client_cert=(pki / "client.pem").read_bytes(), client_key=(pki / "client.key").read_text())
    with pytest.raises(wsnative.InvalidOptionError):
        wsnative.WebSocket(url, client_cert=(pki / "client.pem").read_bytes())
    with pytest.raises(wsnative.InvalidOptionError):
        wsnative.WebSocket(url, client_cert=b"not pem", client_key=b"not pem")


def test_connections_with_one_trust_setting_resume_tls_sessions(wss_port: int, pki: Path) -> None:
    pem = (pki / "ca.pem").read_text()
    seen = []
    for _ in range(3):
        with wsnative.connect(f"wss://127.0.0.1:{wss_port}/reused", ca_pem=pem, connect_timeout=10) as ws:
            seen.append(ws.recv(timeout=10))
    assert seen[0] == "no" and seen[1:] == ["yes", "yes"], seen


# --- error causes -----------------------------------------------------------


def _raw_once(answer: Callable[[socket.socket], None]) -> str:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def run() -> None:
        conn, _ = listener.accept()
        with conn:
            answer(conn)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return f"ws://127.0.0.1:{listener.getsockname()[1]}/"


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_refused_handshake_exposes_status_and_headers() -> None:
    def answer(conn: socket.socket) -> None:
        _read_head(conn)
        conn.sendall(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\nContent-Length: 0\r\n\r\n")

    f = failure(_raw_once(answer))
    assert (f.code, f.status, f.header("retry-after")) == ("handshake_refused", 429, "17"), f.message

    def unauthorized(conn: socket.socket) -> None:
        _read_head(conn)
        conn.sendall(b'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\n\r\n')

    rec = Recorder()
    got: list[Any] = []
    ws = wsnative.WebSocket(_raw_once(unauthorized))
    ws.onerror = lambda ev: (got.append((ev.code, ev.status, dict(ev.headers))), rec(ev))
    ws.onclose = rec
    rec.wait()
    assert rec.kinds() == ["error", "close"]
    assert got == [("handshake_refused", 401, {"WWW-Authenticate": 'Bearer realm="x"'})], got


def test_connection_failures_have_codes(refused_url: str, silent_url: str, echo_port: int) -> None:
    assert failure(refused_url).code == "connection_refused"
    f = failure(silent_url, connect_timeout=0.3)
    assert f.code == "timeout_handshake", f.message

    def bad_accept(conn: socket.socket) -> None:
        _read_head(conn)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n")

    assert failure(_raw_once(bad_accept)).code == "handshake_invalid"
    assert failure(_raw_once(lambda c: (_read_head(c), None)[1])).code == "handshake_closed"
    # Port 6000 (X11) is on the browser's list: refused before any traffic.
    assert failure("ws://127.0.0.1:6000/", block_unsafe_ports=True).code == "blocked_port"


def test_message_too_big_and_protocol_violation_codes(echo_port: int) -> None:
    rec = Recorder()
    codes: list[str] = []
    ws = wsnative.WebSocket(f"ws://127.0.0.1:{echo_port}/", max_message_size=8)
    ws.onopen = lambda ev: ws.send("x" * 64)
    ws.onerror = lambda ev: (codes.append(ev.code), rec(ev))
    ws.onclose = rec
    rec.wait()
    assert codes == ["message_too_big"] and rec.events[-1][1] == 1006, rec.events

    def masked_frame(conn: socket.socket) -> None:
        from conftest import _switching_protocols

        conn.sendall(_switching_protocols(_read_head(conn)) + b"\x81\x82abcdxy")
        time.sleep(0.5)

    rec = Recorder()
    codes = []
    ws = wsnative.WebSocket(_raw_once(masked_frame))
    ws.onerror = lambda ev: (codes.append(ev.code), rec(ev))
    ws.onclose = rec
    rec.wait()
    assert codes == ["protocol_violation"], rec.events


# --- Happy Eyeballs and DNS, in a private mount namespace --------------------

CHILD = r"""
import socket, sys, time, wsnative
port = int(sys.argv[1])
# ::1 never answers (its accept queue is full), 127.0.0.1 is a WebSocket server.
silent = socket.socket(socket.AF_INET6)
silent.bind(("::1", port))
silent.listen(0)
fill = []
for _ in range(2):
    s = socket.socket(socket.AF_INET6)
    s.setblocking(False)
    try:
        s.connect(("::1", port))
    except BlockingIOError:
        pass
    fill.append(s)
time.sleep(0.2)
start = time.monotonic()
with wsnative.connect(f"ws://dual.test:{port}/", connect_timeout=10, proxy="") as ws:
    ws.send("he")
    assert ws.recv(timeout=5) == "he"
took = time.monotonic() - start
# A name with an A record only: the AAAA query fails, the A answer connects.
with wsnative.connect(f"ws://v4only.test:{port}/", connect_timeout=10, proxy="") as ws:
    ws.send("v4")
    assert ws.recv(timeout=5) == "v4"
try:
    wsnative.connect(f"ws://nowhere.test:{port}/", connect_timeout=10, proxy="")
    code = "none"
except wsnative.ConnectionFailed as e:
    code = e.code
print(f"{took:.3f} {code}")
"""


def test_happy_eyeballs_and_dns_failure(tmp_path: Path, echo_port: int) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available")
    hosts = tmp_path / "hosts"
    hosts.write_text("::1 dual.test\n127.0.0.1 dual.test\n127.0.0.1 v4only.test\n")
    # A resolver on a loopback port where nothing listens: lookups fail
    # without leaving the machine.
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    (tmp_path / "child.py").write_text(CHILD)
    script = (f"mount --bind {hosts} /etc/hosts && mount --bind {resolv} /etc/resolv.conf && "
              f"exec {sys.executable} {tmp_path / 'child.py'} {echo_port}")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot create a mount namespace here")
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    took, code = r.stdout.split()
    # Sequential attempts would wait out the whole connect timeout on ::1.
    assert 0.2 <= float(took) < 2.0, took
    assert code == "dns", r.stdout


def _holding_listener() -> socket.socket:
    """Accepts TCP and reads, never answers (the kernel completes the
    handshake; nothing is ever written back)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    return listener


def test_each_phase_reports_its_own_timeout(echo_port: int) -> None:
    listener = _holding_listener()
    port = listener.getsockname()[1]
    # The proxy never answers CONNECT.
    f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=f"http://127.0.0.1:{port}", connect_timeout=0.3)
    assert f.code == "timeout_proxy" and f"127.0.0.1:{port}" in f.message, f.message
    # The server never answers the ClientHello.
    f = failure(f"wss://127.0.0.1:{port}/", proxy="", connect_timeout=0.3)
    assert f.code == "timeout_tls", f.message
    # ... nor the opening handshake.
    f = failure(f"ws://127.0.0.1:{port}/", proxy="", connect_timeout=0.3)
    assert f.code == "timeout_handshake", f.message
    listener.close()


def test_a_proxy_that_does_not_speak_http_or_socks(echo_port: int) -> None:
    for scheme, answer in [("http", b"SSH-2.0-OpenSSH_9.2\r\n\r\n"), ("socks5h", b"\x04\x5a")]:
        def speak(conn: socket.socket, answer: bytes = answer) -> None:
            conn.recv(4096)
            conn.sendall(answer)
            time.sleep(0.5)

        url = _raw_once(speak).replace("ws://", f"{scheme}://").rstrip("/")
        f = failure(f"ws://127.0.0.1:{echo_port}/", proxy=url)
        assert f.code == "proxy_protocol", (scheme, f.message)


def test_invalid_utf8_and_close_while_connecting_codes(silent_url: str) -> None:
    def bad_text(conn: socket.socket) -> None:
        from conftest import _switching_protocols

        conn.sendall(_switching_protocols(_read_head(conn)) + b"\x81\x02\xc3\x28")
        time.sleep(0.5)

    for url, act, want in [
        (_raw_once(bad_text), None, "invalid_utf8"),
        (silent_url, "close", "closed_while_connecting"),
    ]:
        rec = Recorder()
        codes: list[str] = []
        ws = wsnative.WebSocket(url, proxy="")
        ws.onerror = lambda ev: (codes.append(ev.code), rec(ev))
        ws.onclose = rec
        if act == "close":
            ws.close()
        rec.wait()
        assert codes == [want], rec.events


def test_a_certificate_for_another_purpose_is_invalid(pki: Path) -> None:
    # The client certificate (clientAuth only) presented as a server's.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "client.pem", pki / "client.key")
    gen = _serve_thread(ctx)
    port = next(gen)
    try:
        f = failure(f"wss://127.0.0.1:{port}/", proxy="", ca_file=str(pki / "ca.pem"))
        assert f.code == "tls_cert_invalid", f.message
    finally:
        next(gen, None)


def test_revocation_lists(pki: Path, wss_port: int) -> None:
    url = f"wss://127.0.0.1:{wss_port}/"
    ca = str(pki / "ca.pem")
    revoked = (pki / "revoked.crl").read_text()
    f = failure(url, proxy="", ca_file=ca, ca_exclusive=True, ca_crl=revoked)
    assert f.code == "tls_cert_revoked", f.message
    # A list from the same CA that does not name the server's certificate.
    echo_once(url, proxy="", ca_file=ca, ca_exclusive=True, ca_crl=(pki / "empty.crl").read_bytes())
    # The operating system's verifier takes no lists.
    with pytest.raises(wsnative.InvalidOptionError, match="exclusive"):
        wsnative.WebSocket(url, ca_file=ca, ca_crl=revoked)
    with pytest.raises(wsnative.InvalidOptionError, match="exclusive"):
        wsnative.WebSocket(url, ca_crl=revoked)
    with pytest.raises(wsnative.InvalidOptionError):
        wsnative.WebSocket(url, ca_file=ca, ca_exclusive=True, ca_crl="not PEM")


NO_NETWORK_CHILD = r"""
import wsnative
codes = []
for url in ["ws://10.255.255.1:80/", "ws://name.test:80/"]:
    try:
        wsnative.connect(url, connect_timeout=0.5, proxy="")
        codes.append("none")
    except wsnative.ConnectionFailed as e:
        codes.append(e.code)
print(" ".join(codes))
"""


def test_unreachable_network_and_a_resolver_that_never_answers(tmp_path: Path) -> None:
    """In a fresh network namespace (only a loopback, down): no route to any
    address, and a resolver on 127.0.0.1 that never answers. Nothing can
    leave the machine from there."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-n", "-m", "true"]).returncode != 0:
        pytest.skip("cannot create network and mount namespaces here")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n")
    (tmp_path / "child.py").write_text(NO_NETWORK_CHILD)
    # A UDP "DNS server" on 127.0.0.1:53 that reads and never answers.
    script = (
        f"ip link set lo up && mount --bind {resolv} /etc/resolv.conf && mount --bind {hosts} /etc/hosts && "
        f"{sys.executable} -c 'import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
        f"s.bind((\"127.0.0.1\", 53)); time.sleep(30)' & dns=$!; sleep 0.3; "
        f"{sys.executable} {tmp_path / 'child.py'}; status=$?; kill $dns; exit $status"
    )
    r = subprocess.run(["unshare", "-n", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["connect_failed", "timeout_dns"], (r.stdout, r.stderr)


OS_STORE_CHILD = r"""
import sys, wsnative
try:
    with wsnative.connect(sys.argv[1], connect_timeout=10, proxy="") as ws:
        ws.send("os")
        print("open", ws.recv(timeout=5))
except wsnative.ConnectionFailed as e:
    print(e.code)
"""


def test_the_operating_systems_trust_store_is_used(tmp_path: Path, wss_port: int, pki: Path) -> None:
    """No CA option: the operating system's store decides (on Linux the
    platform verifier reads it where OpenSSL does; SSL_CERT_FILE points a
    child process at a store that holds the test CA)."""
    (tmp_path / "child.py").write_text(OS_STORE_CHILD)
    url = f"wss://127.0.0.1:{wss_port}/"
    env = {k: v for k, v in os.environ.items() if k not in PROXY_ENV}
    with_ca = subprocess.run([sys.executable, str(tmp_path / "child.py"), url], capture_output=True, text=True,
                             timeout=60, env={**env, "SSL_CERT_FILE": str(pki / "ca.pem")})
    assert with_ca.stdout.split() == ["open", "os"], (with_ca.stdout, with_ca.stderr)
    without = subprocess.run([sys.executable, str(tmp_path / "child.py"), url], capture_output=True, text=True,
                             timeout=60, env=env)
    assert without.stdout.split() == ["tls_cert_untrusted"], (without.stdout, without.stderr)
