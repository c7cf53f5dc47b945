#!/usr/bin/env python3
"""A hostile WebSocket server for the memory matrix (tests-memory/README.md).

Serves ONE connection on 127.0.0.1, port 0 (the port is printed on stdout,
one line), then:

1. the opening handshake (reads the request, answers 101 with the right
   Sec-WebSocket-Accept, no subprotocol, no extension);
2. for --seconds, the hostile phase. It never reads from the socket, and
   writes, as fast as the client lets it, pre-encoded frames in chunks of
   about 1 MiB per send:
     ping   125-byte pings
     empty  empty binary messages
     small  16-byte binary messages
     large  4 MiB binary messages, back to back
     noread nothing at all (the client is the one that sends)
3. the drain phase: stops writing, reads and discards the client's frames
   until its Close frame, answers it (same code) and closes TCP.

Every loop is bounded in time: the whole program ends by itself after
--seconds + 20 s, whatever the client does. Statistics go to stderr.
Only the standard library: runs with any Python 3.9+.
"""

import argparse
import base64
import hashlib
import select
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CHUNK = 1 << 20  # bytes of frames per send: the client, not the server, is the limit
LARGE = 4 << 20  # payload of one "large" message


def frame(opcode: int, payload: bytes) -> bytes:
    """One unmasked, final server frame with a minimal length encoding."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def chunk_for(stream: str) -> bytes:
    """About CHUNK bytes of whole frames (never a frame cut in two)."""
    if stream == "ping":
        one = frame(0x9, bytes(range(125)))
    elif stream == "empty":
        one = frame(0x2, b"")
    elif stream == "small":
        one = frame(0x2, bytes(range(16)))
    elif stream == "large":
        return frame(0x2, b"\xa5" * LARGE)
    else:
        raise ValueError(stream)
    return one * max(1, CHUNK // len(one))


def handshake(conn: socket.socket, deadline: float) -> None:
    request = b""
    while b"\r\n\r\n" not in request:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        data = conn.recv(4096)
        if not data or len(request) > 65536:
            raise ConnectionError("no complete handshake request")
        request += data
    head, _, rest = request.partition(b"\r\n\r\n")
    if rest:
        raise ConnectionError("data after the request, before the 101")
    key = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if key is None:
        raise ConnectionError("no Sec-WebSocket-Key")
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def flood(conn: socket.socket, stream: str, until: float, stats: dict) -> None:
    """Writes `stream` until `until`, never reading. Non-blocking sends, so
    that a client that stops reading cannot hold the server past `until`
    and no frame is ever cut (a partial send resumes where it stopped)."""
    if stream == "noread":
        while time.monotonic() < until:
            time.sleep(min(0.05, max(0.0, until - time.monotonic())))
        return
    data = memoryview(chunk_for(stream))
    conn.setblocking(False)
    off = 0
    while True:
        now = time.monotonic()
        if now >= until and off == 0:
            return
        if now >= until + 5:  # a chunk the client never takes: give up on it
            raise ConnectionError("the client stopped reading in the middle of a chunk")
        try:
            _, w, _ = select.select([], [conn], [], 0.05)
            if not w:
                continue
            off += conn.send(data[off:])
        except (BlockingIOError, InterruptedError):
            continue
        if off == len(data):
            off = 0
            stats["chunks"] += 1


def drain(conn: socket.socket, deadline: float, stats: dict) -> None:
    """Reads the client's frames until its Close, answers it, closes TCP."""
    conn.setblocking(True)
    buf = bytearray()
    pos = 0
    while time.monotonic() < deadline:
        conn.settimeout(max(0.01, min(0.5, deadline - time.monotonic())))
        try:
            data = conn.recv(1 << 20)
        except socket.timeout:
            continue
        if not data:
            stats["end"] = "client closed TCP without a Close frame"
            return
        buf += data
        while True:  # parse whole frames from buf[pos:]
            if len(buf) - pos < 2:
                break
            b0, b1 = buf[pos], buf[pos + 1]
            n = b1 & 0x7F
            hlen = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = struct.unpack_from("!H", buf, pos + 2)[0]
                hlen = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = struct.unpack_from("!Q", buf, pos + 2)[0]
                hlen = 10
            if b1 & 0x80:
                hlen += 4
            if len(buf) - pos < hlen + n:
                break
            opcode = b0 & 0x0F
            start = pos
            pos += hlen + n
            stats["client_frames"] += 1
            if opcode == 0x8:
                payload = bytes(buf[start + hlen : pos])
                if b1 & 0x80:
                    mask = buf[start + hlen - 4 : start + hlen]
                    payload = bytes(c ^ mask[i & 3] for i, c in enumerate(payload))
                conn.sendall(frame(0x8, payload[:2]))
                stats["end"] = "closing handshake answered"
                conn.shutdown(socket.SHUT_WR)
                conn.settimeout(2)
                try:  # wait for the client to close TCP (bounded)
                    while conn.recv(65536):
                        pass
                except OSError:
                    pass
                return
        if pos > (1 << 20):
            del buf[:pos]
            pos = 0
    stats["end"] = "deadline in the drain phase"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stream", required=True, choices=["ping", "empty", "small", "large", "noread"])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the hostile phase")
    args = ap.parse_args()

    start = time.monotonic()
    hard_deadline = start + args.seconds + 20
    chunk_len = 0 if args.stream == "noread" else len(chunk_for(args.stream))
    stats: dict = {"chunks": 0, "client_frames": 0, "end": "?"}

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(20)  # the client connects within seconds, or never
    print(lsock.getsockname()[1], flush=True)
    try:
        conn, _ = lsock.accept()
        lsock.close()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake(conn, time.monotonic() + 10)
        t0 = time.monotonic()
        flood(conn, args.stream, min(t0 + args.seconds, hard_deadline), stats)
        t1 = time.monotonic()
        drain(conn, hard_deadline, stats)
        conn.close()
    except (OSError, ConnectionError) as e:
        print(f"hostile_server {args.stream}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    sent = int(stats["chunks"]) * chunk_len
    rate = sent / max(t1 - t0, 1e-9) / 2**20
    print(
        f"hostile_server {args.stream}: sent {sent / 2**20:.0f} MiB in whole chunks "
        f"({rate:.0f} MiB/s); read {stats['client_frames']} client frames; {stats['end']}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
