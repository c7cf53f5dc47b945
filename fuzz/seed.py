#!/usr/bin/env python3
"""Writes the hand-made seed inputs of each fuzz target into fuzz/seeds/."""
import os
import zlib

here = os.path.dirname(os.path.abspath(__file__))


def frame(op, payload=b"", fin=True, rsv=0, mask=False, ext=None):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask else 0
    if ext == 16 or (ext is None and 126 <= n < 65536):
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    elif ext == 64 or (ext is None and n >= 65536):
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    else:
        head = bytes([b0, m | n])
    return head + (b"\1\2\3\4" if mask else b"") + payload


def deflate(data, final=False):
    """A permessage-deflate payload: raw deflate, sync flush, tail removed."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    if final:
        return c.compress(data) + c.flush()
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RESP = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + ACCEPT + b"\r\n"
seeds = {
    "url_and_protocols": [b"ws://example.com", b"wss://u:secret@h:8443/p?q#f\nchat\nchat", b"http://[::1]:80/\na b",
                          b"https://xn--nxasmq6b.com/\nv1.json", b"ftp://x/", b"ws://h:99999/"],
    "option_values": [b"Origin\nhttps://example.com", b"X\nbad\r\nInjected: 1", b"\x03\xe8bye",
                      b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"],
    "handshake_response": [RESP + b"\r\n", b"\x01" + RESP[1:] + b"Sec-WebSocket-Protocol: chat\r\n\r\n",
                           RESP + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                           b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"],
    "server_stream": [
        b"\0" + frame(1, b"hello") + frame(2, bytes(300)) + frame(8, b"\x03\xe8bye"),
        b"\1" + frame(1, "fr".encode(), fin=False) + frame(9, b"p") + frame(0, "ag€".encode()) + frame(8),
        b"\2" + frame(1, b"late") + frame(8, b"\x03\xe8"),
        b"\4" + frame(8, b"\x03\xe9"),
        b"\0" + frame(1, b"ok\xff"),
        b"\0" + frame(1, b"x", rsv=0x40),
        b"\0" + frame(2, b"abc", ext=16),
        b"\0" + frame(1, b"x", mask=True),
        b"\0" + frame(8, b"\x03"),
        b"\0" + frame(9, bytes(126)),
        b"\0" + frame(8) + frame(1, b"after"),
        b"\0" + frame(2, bytes(70000)),
        b"\x08" + frame(1, deflate(b"hello hello"), rsv=0x40) + frame(8, b"\x03\xe8"),
    ],
    # flags byte (bit 0 text, bits 1-2 frames - 1), then one compressed payload
    "inflate": [
        b"\x01" + deflate(b'{"id":1,"name":"alpha","tags":["a","b"]}'),
        b"\x04" + deflate(bytes(range(256)) * 8),
        b"\x02" + deflate(bytes(1 << 20)),
        b"\x01" + deflate(b"a\xffb"),
        b"\x01" + deflate(b"hi", final=True),
        b"\x01\x00",
        b"\x07\xff\xff\xff",
    ],
    # proxy byte (bit 0 SOCKS5, bit 1 credentials, bit 2 target by address),
    # then what the proxy answers
    "proxy_reply": [
        b"\x00HTTP/1.1 200 Connection established\r\n\r\n",
        b"\x02HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n\r\n",
        b"\x00HTTP/1.0 403 Forbidden\r\n\r\n",
        b"\x01\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38",
        b"\x03\x05\x02\x01\x00\x05\x00\x00\x03\x04host\x01\xbb",
        b"\x03\x05\x02\x01\x01",
        b"\x05\x05\x00\x05\x05\x00\x04" + bytes(18),
    ],
}
for target, items in seeds.items():
    d = os.path.join(here, "seeds", target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(items):
        with open(os.path.join(d, f"seed-{i:02d}"), "wb") as f:
            f.write(data)
