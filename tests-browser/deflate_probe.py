#!/usr/bin/env python3
"""What headless Chromium does with permessage-deflate (RFC 7692): the probe
behind tests-browser/DEFLATE-CHROMIUM.md. Not part of `make test`.

A raw-bytes server (no WebSocket library; frames built with
differential.py's helpers, compression with Python's zlib, raw deflate)
answers each case's handshake with the case's Sec-WebSocket-Extensions
line(s), then writes the case's frames and a Close 1000, and records what
the client sent: its extension offer, every frame (RSV1, opcode, FIN,
payload, and for compressed ones what they inflate to), its Close code,
whether it closed TCP. A page in headless Chromium opens one WebSocket per
case, sends the case's messages in onopen, and records every event with
ws.extensions, close code and wasClean.

    deflate_probe.py [--chromium PATH] [--json FILE] [--only CASE,...]

Prints one block per case.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import random
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import differential  # noqa: E402
from differential import (TAIL, GUID, chromium_command, close_frame, deflate, deflate_final, frame,  # noqa: E402
                          read_full_frame)

PMD = "permessage-deflate"
# Random letters repeated at a distance: FAR300's second half refers 300
# bytes back (beyond a 256-byte window), FAR700's 700 (beyond 512), FAR1500's
# 1500 (beyond 1024): which window a compressor used shows in which
# inflaters (window bits 8-15, context kept, inflate_chunked) accept its
# output.
_RND = random.Random(7)
FAR300, FAR700, FAR1500 = ("".join(_RND.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)) * 2
                           for n in (300, 700, 1500))
LONG = "The quick brown fox jumps over the lazy dog, " * 4  # 180 bytes
SENDS = [["text", "a"], ["text", "hello"], ["text", "hello"], ["text", ""], ["binary", [1, 2, 3]],
         ["binary", []], ["text", LONG], ["text", LONG], ["text", "€uro"]]

# Case -> options. ext: the response's Sec-WebSocket-Extensions lines (None:
# no such header). frames: "name" of what the server writes after the 101
# (see frames_for). sends: what the page sends in onopen.
CASES = {}
HANDSHAKE = [
    "permessage-deflate",
    "permessage-deflate; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover",
    "permessage-deflate;server_no_context_takeover;client_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "permessage-deflate ;  server_no_context_takeover",
    "PerMessage-Deflate",
    "permessage-deflate; Server_No_Context_Takeover",
] + [f"permessage-deflate; server_max_window_bits={n}" for n in range(8, 16)] + [
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; server_max_window_bits=9.0",
    'permessage-deflate; server_max_window_bits="10"',
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits = 10",
    "permessage-deflate; server_max_window_bits=+10",
    "permessage-deflate; server_max_window_bits=0x0a",
] + [f"permessage-deflate; client_max_window_bits={n}" for n in (8, 9, 12, 15, 7, 16)] + [
    'permessage-deflate; client_max_window_bits="10"',
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
    "permessage-deflate; client_max_window_bits=12; server_max_window_bits=10; server_no_context_takeover",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
    "permessage-deflate; server_no_context_takeover=1",
    'permessage-deflate; client_no_context_takeover=""',
    "permessage-deflate; foo",
    "permessage-deflate; foo=bar",
    "x-webkit-deflate-frame",
    "permessage-deflate, permessage-deflate",
    "permessage-deflate, x-unknown",
    "",
    "permessage-deflate;",
    "permessage-deflate; =",
    "permessage-deflate; server_no_context_takeover,",
    ",permessage-deflate",
    "permessage-deflate\t; server_no_context_takeover",
    "permessage-deflate   ",
    "permessage-deflate; server_max_window_bits=\"\"",
    "permessage-deflate; server_max_window_bits=\"08\"",
    "permessage-deflate; server_max_window_bits=\"1\\0\"",
    "permessage-deflate; server_no_context_takeover=\"\"",
    "permessage-deflate; client_max_window_bits=\"\"",
]
for i, h in enumerate(HANDSHAKE):
    CASES[f"hs{i:02d}"] = {"ext": [h], "frames": "probe"}
CASES["hs-two-lines"] = {"ext": [PMD, PMD], "frames": "probe"}
CASES["hs-two-lines-pmd-empty"] = {"ext": [PMD, ""], "frames": "probe"}
CASES["hs-none"] = {"ext": None, "frames": "probe"}
CASES["hs-raw-nospace"] = {"ext": ["RAW:Sec-WebSocket-Extensions:permessage-deflate"], "frames": "probe"}
CASES["hs-raw-lead"] = {"ext": ["RAW:sec-websocket-extensions: \t permessage-deflate; client_max_window_bits=10 \t"],
                        "frames": "probe"}

# Task 3: frames from the server, deflate accepted (unless said).
for name in ["c-text", "c-binary", "c-takeover", "c-fragmented", "c-mixed", "c-rsv1-continuation",
             "c-rsv1-ping", "c-rsv1-close", "c-bad-deflate", "c-invalid-utf8", "c-tail-kept", "c-bfinal",
             "c-bfinal-then-more", "c-empty", "c-empty-00", "c-empty-raw", "c-fragmented-empty-first",
             "c-utf8-split", "c-large", "c-takeover-after-no-takeover", "c-good-then-bad",
             "c-good-then-bad-apart", "c-bfinal-then-more-apart", "c-bfinal-then-plain-apart",
             "c-good-then-rsv1-cont", "c-good-then-bad-utf8", "c-good-then-bad-utf8-apart",
             "c-deflated-final-plain", "c-tail-kept-then-plain-then-more-apart",
             "c-empty-raw-then-more-apart", "c-empty-00-then-more",
             "c-tail-kept-then-more-apart", "c-tail-kept-twice-apart", "c-tail-kept-ctx-then-more-apart",
             "c-deflated-then-final-apart", "c-deflated-then-final",
             "c-tail-kept-then-final-apart", "c-tail-kept-then-final", "c-final-then-plain-apart"]:
    CASES[name] = {"ext": [PMD], "frames": name}
CASES["c-no-takeover"] = {"ext": [f"{PMD}; server_no_context_takeover"], "frames": "c-no-takeover"}
CASES["c-no-takeover-violated"] = {"ext": [f"{PMD}; server_no_context_takeover"], "frames": "c-takeover"}
CASES["c-window-9-far700"] = {"ext": [f"{PMD}; server_max_window_bits=9"], "frames": "c-far700"}
CASES["c-window-9-far300"] = {"ext": [f"{PMD}; server_max_window_bits=9"], "frames": "c-far300"}
CASES["c-window-8-far300"] = {"ext": [f"{PMD}; server_max_window_bits=8"], "frames": "c-far300"}
CASES["c-window-15-far1500"] = {"ext": [PMD], "frames": "c-far1500"}
# Big messages (chunked inflation inside the client) with back-references
# beyond the window the server declared.
CASES["c-window-9-far700-big"] = {"ext": [f"{PMD}; server_max_window_bits=9"], "frames": "c-big700"}
CASES["c-window-8-far300-big"] = {"ext": [f"{PMD}; server_max_window_bits=8"], "frames": "c-big300"}
CASES["c-window-10-far1500-big"] = {"ext": [f"{PMD}; server_max_window_bits=10"], "frames": "c-big1500"}
CASES["c-window-15-far1500-big"] = {"ext": [PMD], "frames": "c-big1500"}
# The deflate scenarios of differential.py, played to Chromium: "diff-NAME".
for _n, _d in differential.DEFLATE.items():
    if _d["frames"]:
        CASES[f"diff-{_n}"] = {"ext": _d["ext"], "frames": f"diff-{_d['frames']}",
                               "sends": [["text", t] for t in _d.get("sends", [])]}
CASES["rsv1-no-deflate"] = {"ext": None, "frames": "rsv1-text"}
CASES["rsv2-with-deflate"] = {"ext": [PMD], "frames": "rsv2"}
CASES["rsv1-binary-no-deflate"] = {"ext": None, "frames": "rsv1-binary"}

# Task 4: what the page sends.
CASES["send-default"] = {"ext": [PMD], "frames": "wait-sends", "sends": SENDS}
CASES["send-client-no-context"] = {"ext": [f"{PMD}; client_no_context_takeover"], "frames": "wait-sends",
                                   "sends": SENDS}
CASES["send-no-deflate"] = {"ext": None, "frames": "wait-sends", "sends": SENDS[:3]}
FARS = [["text", FAR300], ["text", FAR700], ["text", FAR1500]]
for _b in (8, 9, 10):
    CASES[f"send-far-cmwb{_b}"] = {"ext": [f"{PMD}; client_max_window_bits={_b}"], "frames": "wait-sends",
                                   "sends": FARS}
CASES["send-far-default"] = {"ext": [PMD], "frames": "wait-sends", "sends": FARS}
CASES["send-big"] = {"ext": [PMD], "frames": "wait-sends", "sends": [["text", "z" * 70000], ["binary-big", 70000]]}


def frames_for(kind):
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    if kind == "probe":
        # Uncompressed, then compressed: which arrive depends on what was
        # negotiated (RSV1 without deflate fails the connection).
        return frame(1, b"plain") + frame(1, deflate(b"packed"), rsv1=True)
    if kind == "c-text":
        return frame(1, deflate("compressed text €".encode()), rsv1=True)
    if kind == "c-binary":
        return frame(2, deflate(bytes(range(256))), rsv1=True)
    if kind == "c-takeover":
        m = b"same words, same words, same words"
        return frame(1, deflate(m, comp), rsv1=True) + frame(1, deflate(m, comp), rsv1=True)
    if kind == "c-no-takeover":
        m = b"same words, same words, same words"
        return frame(1, deflate(m), rsv1=True) + frame(1, deflate(m), rsv1=True)
    if kind == "c-takeover-after-no-takeover":
        # First message with a fresh context, the second refers to the first.
        m = b"same words, same words, same words"
        return frame(1, deflate(m, comp), rsv1=True) + frame(1, deflate(m, comp), rsv1=True) + frame(
            1, deflate(m, comp), rsv1=True)
    if kind == "c-fragmented":
        d = deflate("fragmented and compressed €".encode())
        a, b = len(d) // 3, 2 * len(d) // 3
        return (frame(1, d[:a], fin=False, rsv1=True) + frame(9, b"p") + frame(0, d[a:b], fin=False)
                + frame(0, d[b:]))
    if kind == "c-fragmented-empty-first":
        d = deflate(b"after empty first fragment")
        return frame(1, b"", fin=False, rsv1=True) + frame(0, d)
    if kind == "c-utf8-split":
        # The compressed bytes split so that the inflated first fragment
        # ends inside a UTF-8 sequence: still one valid message.
        d = deflate("€€€€".encode())
        return frame(1, d[:2], fin=False, rsv1=True) + frame(0, d[2:])
    if kind == "c-mixed":
        m = b"mixed mixed mixed"
        return (frame(1, deflate(m, comp), rsv1=True) + frame(1, b"uncompressed in between")
                + frame(1, deflate(m, comp), rsv1=True))
    if kind == "c-rsv1-continuation":
        d = deflate(b"continued")
        return frame(1, d[:2], fin=False, rsv1=True) + frame(0, d[2:], rsv1=True)
    if kind == "c-rsv1-ping":
        return frame(9, b"p", rsv1=True)
    if kind == "c-rsv1-close":
        return frame(8, (1000).to_bytes(2, "big"), rsv1=True)
    if kind == "c-bad-deflate":
        return frame(1, b"\xff\xff\xff\xff", rsv1=True)
    if kind == "c-invalid-utf8":
        return frame(1, deflate(b"ok\xff"), rsv1=True)
    if kind == "c-tail-kept":
        return frame(1, deflate(b"tail kept", strip=False), rsv1=True)
    if kind == "c-bfinal":
        return frame(1, deflate_final(b"final block"), rsv1=True)
    if kind == "c-bfinal-then-more":
        return frame(1, deflate_final(b"final block"), rsv1=True) + frame(1, deflate(b"next"), rsv1=True)
    if kind == "c-good-then-bad":
        return frame(1, deflate(b"good"), rsv1=True) + frame(1, b"plain good") + frame(1, b"\xff\xff", rsv1=True)
    if kind == "c-good-then-bad-apart":
        return [frame(1, deflate(b"good"), rsv1=True) + frame(1, b"plain good"), frame(1, b"\xff\xff", rsv1=True)]
    if kind == "c-bfinal-then-more-apart":
        return [frame(1, deflate_final(b"final block"), rsv1=True), frame(1, deflate(b"next"), rsv1=True)]
    if kind == "c-bfinal-then-plain-apart":
        return [frame(1, deflate_final(b"final block"), rsv1=True), frame(1, b"plain next"),
                frame(1, deflate(b"next"), rsv1=True)]
    if kind == "c-good-then-rsv1-cont":
        d = deflate(b"continued")
        return frame(1, b"plain good") + frame(1, d[:2], fin=False, rsv1=True) + frame(0, d[2:], rsv1=True)
    if kind == "c-good-then-bad-utf8":
        return frame(1, deflate(b"good"), rsv1=True) + frame(1, deflate(b"ok\xff"), rsv1=True)
    if kind == "c-good-then-bad-utf8-apart":
        return [frame(1, deflate(b"good"), rsv1=True), frame(1, deflate(b"ok\xff"), rsv1=True)]
    if kind.startswith("diff-"):
        # A scenario's frames as differential.py writes them.
        return differential.deflate_frames(kind[5:])
    if kind == "c-empty-raw-then-more-apart":
        return [frame(1, b"", rsv1=True), frame(1, deflate(b"next"), rsv1=True)]
    if kind == "c-empty-00-then-more":
        return frame(1, b"\x00", rsv1=True) + frame(1, deflate(b"next"), rsv1=True)
    if kind == "c-deflated-final-plain":
        return (frame(1, deflate(b"first"), rsv1=True) + frame(1, deflate_final(b"final block"), rsv1=True)
                + frame(1, b"plain after"))
    if kind == "c-tail-kept-then-plain-then-more-apart":
        return [frame(1, deflate(b"tail kept", strip=False), rsv1=True) + frame(1, b"plain after"),
                frame(1, deflate(b"next"), rsv1=True)]
    if kind == "c-tail-kept-then-more-apart":
        return [frame(1, deflate(b"tail kept", strip=False), rsv1=True), frame(1, deflate(b"next"), rsv1=True)]
    if kind == "c-tail-kept-twice-apart":
        return [frame(1, deflate(b"tail kept", strip=False), rsv1=True),
                frame(1, deflate(b"tail kept again", strip=False), rsv1=True)]
    if kind == "c-tail-kept-ctx-then-more-apart":
        comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        return [frame(1, deflate(b"same words", comp, strip=False), rsv1=True),
                frame(1, deflate(b"same words", comp), rsv1=True)]
    if kind == "c-deflated-then-final-apart":
        return [frame(1, deflate(b"first"), rsv1=True), frame(1, deflate_final(b"final block"), rsv1=True)]
    if kind == "c-deflated-then-final":
        return frame(1, deflate(b"first"), rsv1=True) + frame(1, deflate_final(b"final block"), rsv1=True)
    if kind == "c-tail-kept-then-final-apart":
        return [frame(1, deflate(b"tail kept", strip=False), rsv1=True),
                frame(1, deflate_final(b"final block"), rsv1=True)]
    if kind == "c-tail-kept-then-final":
        return frame(1, deflate(b"tail kept", strip=False), rsv1=True) + frame(1, deflate_final(b"final block"),
                                                                                 rsv1=True)
    if kind == "c-final-then-plain-apart":
        return [frame(1, deflate_final(b"final block"), rsv1=True), frame(1, b"plain next")]
    if kind == "c-empty":
        return frame(1, deflate(b""), rsv1=True) + frame(2, deflate(b""), rsv1=True)
    if kind == "c-empty-00":
        return frame(1, b"\x00", rsv1=True)
    if kind == "c-empty-raw":
        return frame(1, b"", rsv1=True)
    if kind == "c-large":
        return frame(1, deflate(b"L" * 200000), rsv1=True)
    if kind.startswith("c-big"):
        block = {"c-big300": FAR300, "c-big700": FAR700, "c-big1500": FAR1500}[kind][:int(kind[5:])]
        return frame(1, deflate(block.encode() * (70000 // len(block))), rsv1=True)
    if kind.startswith("c-far"):
        return frame(1, deflate({"c-far300": FAR300, "c-far700": FAR700, "c-far1500": FAR1500}[kind].encode()),
                     rsv1=True)
    if kind == "rsv1-text":
        return frame(1, b"x", rsv1=True)
    if kind == "rsv1-binary":
        return frame(2, deflate(b"x"), rsv1=True)
    if kind == "rsv2":
        return bytes([0x80 | 0x20 | 1, 1]) + b"x"
    raise ValueError(kind)


def inflate(payload, d=None, wbits=-15):
    """What the payload inflates to (tail appended), or the zlib error."""
    try:
        d = d or zlib.decompressobj(wbits)
        out = d.decompress(payload + TAIL)
        return out, None
    except zlib.error as e:
        return None, str(e)


def inflate_chunked(d, payload):
    """Inflates in 16-byte output steps, so that every back-reference is
    resolved through the window of `d` (in one big call zlib lets a
    reference reach anything produced in that call, whatever the window)."""
    buf = payload + TAIL
    while True:
        out = d.decompress(buf, 16)
        buf = d.unconsumed_tail
        if not buf and not out:
            return


def show(b, limit=60):
    s = b.decode("latin-1")
    return repr(s if len(s) <= limit else s[:limit] + f"...({len(s)} bytes)")


class Probe:
    def __init__(self, page):
        self.page = page
        self.obs = {}
        self.results = asyncio.get_event_loop().create_future()

    async def handle(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except Exception:
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {}
        raw_ext = []
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
                if k.strip().lower() == "sec-websocket-extensions":
                    raw_ext.append(line)
        if method == "POST" and target == "/results":
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            if not self.results.done():
                self.results.set_result(json.loads(body))
            return
        if target.startswith("/ws/"):
            name = target[4:]
            obs = self.obs.setdefault(name, {"request_extensions": raw_ext, "frames": [], "client_close": None})
            try:
                await asyncio.wait_for(self.case(name, headers, reader, writer, obs), 15)
            except asyncio.TimeoutError:
                obs["server_timeout"] = True
            except ConnectionError as e:
                obs["connection_error"] = type(e).__name__
            writer.close()
            return
        body = self.page.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    async def case(self, name, headers, reader, writer, obs):
        c = CASES[name]
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
        resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        resp += b"Sec-WebSocket-Accept: " + accept + b"\r\n"
        for e in c["ext"] or []:
            # "RAW:" a whole header line of its own.
            line = e[4:] if e.startswith("RAW:") else "Sec-WebSocket-Extensions: " + e
            resp += line.encode() + b"\r\n"
        writer.write(resp + b"\r\n")
        await writer.drain()
        ctx = zlib.decompressobj(-15)
        # Inflaters with small windows, keeping the context: which of them
        # accept the client's messages shows the window the client used.
        windows = {wb: zlib.decompressobj(-wb) for wb in (8, 9, 10, 11, 15)}
        nsends = len(c.get("sends", []))

        async def read_one(timeout):
            f = await asyncio.wait_for(read_full_frame(reader), timeout)
            if f is None:
                obs["eof"] = True
                return None
            b0, payload, masked = f
            rec = {"fin": bool(b0 & 0x80), "rsv1": bool(b0 & 0x40), "rsv23": (b0 >> 4) & 3, "op": b0 & 15,
                   "len": len(payload), "masked": masked, "payload": payload.hex() if len(payload) <= 64
                   else payload[:32].hex() + f"...({len(payload)})"}
            if b0 & 0x40:
                rec["ends_with_tail"] = payload.endswith(TAIL)
                out, err = inflate(payload, ctx)
                rec["inflated_ctx"] = show(out) if out is not None else f"ERROR {err}"
                out, err = inflate(payload)
                rec["inflated_fresh"] = show(out) if out is not None else f"ERROR {err}"
                for wb, d in list(windows.items()):
                    try:
                        inflate_chunked(d, payload)
                    except zlib.error:
                        del windows[wb]
                rec["windows_that_inflate"] = sorted(windows)
            elif b0 & 15 in (1, 2):
                rec["data"] = show(payload)
            obs["frames"].append(rec)
            if b0 & 15 == 8:
                obs["client_close"] = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else "empty"
                obs["client_close_reason"] = payload[2:].decode("utf-8", "replace")
            return b0 & 15

        if c["frames"] == "wait-sends":
            got = 0
            while got < nsends:
                try:
                    op = await read_one(5)
                except asyncio.TimeoutError:
                    obs["waited_sends_timeout"] = True
                    break
                if op is None or op == 8:
                    return
                if op in (0, 1, 2):
                    got += 1
            writer.write(close_frame(1000, b"done"))
        else:
            # A list: written with 200 ms between the parts.
            parts = frames_for(c["frames"])
            for i, part in enumerate(parts if isinstance(parts, list) else [parts]):
                if i:
                    await asyncio.sleep(0.2)
                writer.write(part)
                await writer.drain()
            await asyncio.sleep(0.3)
            writer.write(close_frame(1000, b"done"))
        await writer.drain()
        while True:
            try:
                op = await read_one(5)
            except asyncio.TimeoutError:
                obs["no_eof_within_5s"] = True
                return
            if op is None:
                return
            if op == 8:
                # Echo nothing (our Close was sent); wait for TCP close.
                pass


PAGE = """<!doctype html><meta charset="utf-8"><body><script>
const cases = %s;
function run(name, opts) {
  return new Promise(resolve => {
    const ev = [];
    const ws = new WebSocket(`ws://${location.host}/ws/${name}`);
    ws.binaryType = 'arraybuffer';
    const rec = (type, f) => ev.push(Object.assign({type}, f || {}, {rs: ws.readyState, ext: ws.extensions}));
    const timer = setTimeout(() => resolve(ev.concat([{type: 'timeout'}])), 15000);
    ws.onopen = () => {
      rec('open');
      for (const [kind, data] of opts.sends || []) {
        if (kind === 'text') ws.send(data);
        else if (kind === 'binary') ws.send(new Uint8Array(data));
        else if (kind === 'binary-big') ws.send(new Uint8Array(data).fill(7));
      }
    };
    ws.onmessage = m => {
      let d = typeof m.data === 'string' ? m.data : String.fromCharCode(...new Uint8Array(m.data));
      if (d.length > 60) d = d.slice(0, 60) + `...(${d.length})`;
      rec('message', {binary: typeof m.data !== 'string', data: d});
    };
    ws.onerror = () => rec('error');
    ws.onclose = c => { rec('close', {code: c.code, reason: c.reason, wasClean: c.wasClean});
                        clearTimeout(timer); resolve(ev); };
  });
}
(async () => {
  const results = {userAgent: navigator.userAgent};
  await Promise.all(Object.entries(cases).map(async ([n, o]) => { results[n] = await run(n, o); }));
  await fetch('/results', {method: 'POST', body: JSON.stringify(results)});
})();
</script>"""


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--json")
    ap.add_argument("--only")
    a = ap.parse_args()
    names = a.only.split(",") if a.only else list(CASES)
    probe = Probe(PAGE % json.dumps({n: {"sends": CASES[n].get("sends", [])} for n in names}))
    server = await asyncio.start_server(probe.handle, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    profile = tempfile.mkdtemp(prefix="deflate-probe-")
    chrome = subprocess.Popen(chromium_command(a.chromium, f"http://127.0.0.1:{port}/", profile),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        results = await asyncio.wait_for(probe.results, 180)
    finally:
        chrome.kill()
        chrome.wait()
        shutil.rmtree(profile, ignore_errors=True)
    await asyncio.sleep(1)
    server.close()
    out = {"userAgent": results.pop("userAgent")}
    print("userAgent:", out["userAgent"])
    for n in names:
        c = CASES[n]
        out[n] = {"response_extensions": c["ext"], "frames_sent": c["frames"], "page": results.get(n),
                  "server": probe.obs.get(n)}
        print(f"== {n}: ext={c['ext']!r} frames={c['frames']}")
        print("   request:", (probe.obs.get(n) or {}).get("request_extensions"))
        for e in results.get(n) or []:
            print("   page:", json.dumps(e, ensure_ascii=False))
        o = probe.obs.get(n) or {}
        for f in o.get("frames", []):
            print("   wire:", json.dumps(f, ensure_ascii=False))
        print("   client_close:", o.get("client_close"), "eof:", o.get("eof"),
              {k: v for k, v in o.items() if k not in ("frames", "client_close", "eof", "request_extensions")})
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    asyncio.run(main())
