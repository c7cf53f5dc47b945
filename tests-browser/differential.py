#!/usr/bin/env python3
"""Differential test: wsnative against headless Chromium, the reference.

One raw-bytes server (no WebSocket library) plays each scenario below. The
same scenarios are run by a page in headless Chromium and by wsnative in
eight columns: four ways of receiving events (C immediate callbacks, C
queued callbacks pumped with ws_poll() from the main thread, Python
dispatch="thread", Python dispatch="poll" pumped with ws.poll()), each with
the default options and with the Chromium-compatible mode
(ws_options_set_chromium_compat / chromium_compat=True).

Every client does the same (tests-browser/events_client.c and .py, and the
page below): it records readyState, protocol, extensions and bufferedAmount
at construction, at the start of every handler (open, message, error, close)
and right after every call it makes (send, close); it sends "hello" in
onopen, and per scenario: closes right after construction, closes in
onopen, sends further messages in onopen (the deflate scenarios), or
spends time in onopen / onmessage before recording again. For
each scenario and column the test compares the whole record sequence and
what the client did on the wire (the close code it sent, pongs, whether it
closed TCP, whether it connected at all) with Chromium's.

The queued and poll clients also check that readyState, protocol and
extensions do not change between two polls (SPEC.md 5: what the application
reads follows what it has been told); a change shows as a
"changed-between-polls" record, which Chromium never has.

In compat mode everything must be identical to Chromium. In default mode
the only accepted differences are the documented ones (SPEC.md section 4,
README "Deliberate differences"), listed in ALLOWED_WIRE_DIFFERENCES and
ALLOWED_EVENT_DIFFERENCES. Two things are not differences: when bytes sent
while OPEN leave bufferedAmount (see with_write_timing), and what reaches
the server after close() right after construction, which varies in
Chromium itself (UNCOMPARED_WIRE). A C immediate client whose callback ran
concurrently with the code right after its constructor (the main thread was
descheduled) says "raced" and is run again, at most three times in all.

Usage: differential.py EVENTS_CLIENT --python PYTHON [--chromium PATH]
                       [--report FILE] [--only SCENARIO|PATTERN,...] [--jobs N]
Prints one line per (column, scenario), a summary table per column, and a
final "N passed, M failed" line; exits non-zero on any failure.
"""

import argparse
import asyncio
import base64
import concurrent.futures
import fnmatch
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HERE = os.path.dirname(os.path.abspath(__file__))

# Columns: (label, language, dispatch, compat).
MODES = [
    (f"{name}{'+compat' if compat else ''}", lang, dispatch, compat)
    for compat in (False, True)
    for name, lang, dispatch in (
        ("c-immediate", "c", "immediate"),
        ("c-queued", "c", "queued"),
        ("py-thread", "py", "thread"),
        ("py-poll", "py", "poll"),
    )
]

# Close codes a server may send: valid in both modes (1012-1014, 3000,
# 4999), invalid for Chromium too (1005, 1006, 1015: reserved, never on the
# wire), and the ones Chromium lets through while RFC 6455 7.4 / the IANA
# registry make them invalid (999, 1004, 1016, 2999, 5000): wsnative fails
# the connection in default mode (documented) and accepts them in compat mode.
CLOSE_CODES = [999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 2999, 3000, 4999, 5000]
CLOSE_CODES_CHROMIUM_ONLY = [999, 1004, 1016, 2999, 5000]

# Ports of the Fetch "bad ports" list, one per client so that what reaches
# each port (a TCP connection, a request) is that client's doing.
BLOCKED_PORTS = {"chromium": 6000}
BLOCKED_PORTS.update(zip([m[0] for m in MODES], [6665, 6666, 6667, 6668, 6669, 6697, 5060, 5061]))

# Scenario name -> (client options, the rule it checks). Every scenario is
# played by the raw server in Server.scenario and run by every client.
# Options: protocol (offered), close [code, reason] (called in onopen after
# the send), close_now (close() then send() right after construction),
# slow_open / slow_message (ms spent in the handler, then recorded again),
# port "own" (a listener of its own per client) or "blocked", sends (texts
# sent in onopen after "hello", recorded as call "send NB").
CASES = {
    "normal": ({}, "open, message, server Close 1000+reason: clean close with the server's code and reason"),
    "close-no-code": ({}, "a Close frame without status: close 1005, clean; the client echoes an empty Close"),
    "drop": ({}, "TCP dropped without Close after a message: message delivered, close 1006, no error"),
    "linger": ({}, "server Close then TCP kept open: the client closes TCP (after 2 s), still clean"),
    "early-frames": ({}, "frames in the same packet as the 101 response are delivered"),
    "http10": ({}, "an HTTP/1.0 101 response is accepted"),
    "fragmented": ({}, "fragments with a ping between them: one reassembled message, the ping answered"),
    "ping": ({}, "a ping is answered with a pong carrying the same payload"),
    "client-close": ({"close": [4000, "bye"]}, "close(4000, 'bye'): that Close on the wire; messages "
                     "arriving after close() are not delivered; the server's code reported"),
    "protocol-selected": ({"protocol": "chat"}, "the selected subprotocol is exposed after open"),
    "protocol-missing": ({"protocol": "chat"}, "a subprotocol offered and none selected: connection failed"),
    "protocol-unrequested": ({}, "a subprotocol selected though none was offered: connection failed"),
    "extension-unoffered": ({}, "an extension accepted that was not offered: connection failed"),
    "bad-accept": ({}, "a wrong Sec-WebSocket-Accept: connection failed"),
    "status-404": ({}, "a status other than 101: connection failed"),
    "redirect": ({}, "a 302 is not followed: connection failed"),
    "invalid-utf8": ({}, "invalid UTF-8 in a text frame: fail, Close 1007 (Chromium 1002: documented)"),
    "utf8-split-invalid": ({}, "a UTF-8 sequence broken across fragments: fail (1007)"),
    "masked-frame": ({}, "a masked frame from the server: fail, Close 1002"),
    "reserved-opcode": ({}, "a reserved opcode: fail, Close 1002"),
    "rsv1": ({}, "RSV1 without a negotiated extension: fail, Close 1002"),
    "data-after-close": ({}, "a data frame after the server's Close: fail"),
    "long-ping": ({}, "a control frame over 125 bytes: fail, Close 1002"),
    "fragmented-ping": ({}, "a fragmented control frame: fail, Close 1002"),
    "close-1-byte": ({}, "a Close payload of 1 byte: fail, Close 1002"),
    "non-minimal-length": ({}, "a 16-bit length encoding a value under 126: fail, Close 1002"),
    "length-top-bit": ({}, "a 64-bit length with its top bit set: fail, Close 1002"),
    "continuation-first": ({}, "a continuation frame with nothing to continue: fail, Close 1002"),
    "text-inside-fragmented": ({}, "a new text frame inside a fragmented message: fail, Close 1002"),
    "trickle": ({}, "handshake, frames and Close arriving one byte at a time: all works"),
    "close-before-response": ({}, "TCP closed before any response: connection failed"),
    "garbage-response": ({}, "a response that is not HTTP: connection failed"),
    "bad-upgrade": ({}, "Upgrade: h2c: connection failed"),
    "no-connection-header": ({}, "no Connection: Upgrade: connection failed"),
    "close-reason-invalid-utf8": ({}, "a Close reason that is not UTF-8: fail (1007; Chromium 1002: documented)"),
    "binary-and-empty": ({}, "binary bytes 00..ff and empty text/binary messages arrive exactly"),
    # What the application reads follows what it has been told (SPEC.md 5).
    "messages-and-close-one-segment": (
        {"slow_message": 50}, "three messages and the Close in one TCP segment, 50 ms spent in each onmessage: "
        "readyState stays OPEN in every message handler, CLOSED only in onclose"),
    "close-during-open": (
        {"slow_open": 200}, "a message, Close and FIN arrive while onopen spends 200 ms: readyState is still "
        "OPEN at the end of onopen, send() there is accepted (bufferedAmount grows), nothing sent after the "
        "server's Close"),
    "instant": ({}, "101, two messages and Close in one write, before the client sent anything: every "
                "event delivered in order, each handler sees its own event's state"),
    "close-now": ({"close_now": True, "port": "own"}, "close() right after construction: CLOSING at once, "
                  "send() then only grows bufferedAmount, error then close 1006; what reaches the server"),
    "blocked-port": ({"port": "blocked"}, "a port of the Fetch bad-ports list: Chromium refuses it; wsnative "
                     "connects by default (documented), refuses in compat mode"),
    "no-close-answer": ({"close": [1000, "bye"]}, "the server never answers the client's Close: the default "
                        "close timeout (5 s) drops TCP, compat mode (Chromium's 60 s) has not after 7 s; the "
                        "server then closes TCP: close 1006, not clean, no error"),
}
for _code in CLOSE_CODES:
    CASES[f"close-code-{_code}"] = (
        {}, f"the server's Close carries {_code}" + (
            ": Chromium accepts and echoes it; wsnative fails with 1002 by default (documented)"
            if _code in CLOSE_CODES_CHROMIUM_ONLY else ""))

# permessage-deflate (RFC 7692); tests-browser/DEFLATE-CHROMIUM.md says what
# Chromium does and deflate_probe.py measured it. Scenario -> what the
# server answers and does (Server.deflate_scenario): "ext" the response's
# Sec-WebSocket-Extensions lines (None: no such header), "frames" what it
# writes after reading the client's messages (deflate_frames), "check" what
# it verifies of the client's compressed messages (besides what they inflate
# to): "alone" (each inflates without the previous ones:
# client_no_context_takeover) or "window8" (each inflates through a 256-byte
# window: client_max_window_bits=8); "echo" sends each client message back
# uncompressed as "deflated 'text'" or "plain 'text'"; "fails" the frames
# fail the connection (no Close from the server). Every client sends "hello"
# in onopen, then the scenario's "sends".
def random_letters(n, seed):
    rnd = random.Random(seed)
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


PMD = "permessage-deflate"
# 300 random letters twice: the second half refers 300 bytes back, beyond a
# 256-byte window.
FAR300 = random_letters(300, 7) * 2
DEFLATE = {
    "deflate-accepted": dict(ext=[PMD], frames="packed", echo=True, sends=["hello", "", "\u20acuro"]),
    "deflate-messages": dict(ext=[PMD], frames="messages"),
    "deflate-final": dict(ext=[PMD], frames="final"),
    "deflate-final-then-more": dict(ext=[PMD], frames="final-then-more", fails=True),
    "deflate-tail-kept-then-more": dict(ext=[PMD], frames="tail-kept-then-more", fails=True),
    "deflate-client-no-context": dict(ext=[f"{PMD}; client_no_context_takeover"], frames="packed", echo=True,
                                      check="alone", sends=["hello", "hello"]),
    "deflate-client-window-8": dict(ext=[f"{PMD}; client_max_window_bits=8"], frames="packed", echo=True,
                                    check="window8", sends=[FAR300, FAR300]),
    "deflate-server-no-context-ignored": dict(ext=[f"{PMD}; server_no_context_takeover"], frames="context"),
    "deflate-server-window-ignored": dict(ext=[f"{PMD}; server_max_window_bits=9"], frames="far700"),
    "deflate-params-nospace": dict(ext=[f"{PMD};server_no_context_takeover;client_no_context_takeover"],
                                   frames="no-context"),
    "deflate-params-spacing": dict(ext=[f"{PMD} ;  server_no_context_takeover"], frames="no-context"),
    "deflate-params-quoted": dict(ext=[f'{PMD}; server_max_window_bits="10"'], frames="packed"),
    "deflate-params-all": dict(ext=[f"{PMD}; client_max_window_bits=12; server_max_window_bits=8; "
                                    "server_no_context_takeover"], frames="no-context"),
    "deflate-rsv1-continuation": dict(ext=[PMD], frames="rsv1-continuation", fails=True),
    "deflate-rsv1-ping": dict(ext=[PMD], frames="rsv1-ping", fails=True),
    "deflate-bad-data": dict(ext=[PMD], frames="bad-data", fails=True),
    "deflate-invalid-utf8": dict(ext=[PMD], frames="invalid-utf8", fails=True),
    "deflate-unnegotiated": dict(ext=None, frames="packed", fails=True),
}
# Responses that fail the connection (no open, no Close frame, TCP closed).
DEFLATE_BAD_RESPONSES = {
    "name-case": ["PerMessage-Deflate"],
    "window-16": [f"{PMD}; server_max_window_bits=16"],
    "client-window-no-value": [f"{PMD}; client_max_window_bits"],
    "duplicate-param": [f"{PMD}; server_no_context_takeover; server_no_context_takeover"],
    "value-on-flag": [f"{PMD}; server_no_context_takeover=1"],
    "unknown-param": [f"{PMD}; foo"],
    "two-lines": [PMD, PMD],
    "empty": [""],
}
for _n, _ext in DEFLATE_BAD_RESPONSES.items():
    DEFLATE[f"deflate-bad-{_n}"] = dict(ext=_ext, frames=None)
DEFLATE_RULES = {
    "deflate-accepted": "the offer is 'permessage-deflate; client_max_window_bits'; 'permessage-deflate' accepted: "
                        "extensions says so, a compressed message arrives, every message the client sends (also "
                        "the empty one) is compressed (RSV1) and inflates to what was sent",
    "deflate-messages": "compressed text, binary and empty messages with context takeover, a compressed "
                        "message in 3 fragments with a ping between them, an uncompressed message, a compressed "
                        "one referring to an earlier one: all arrive exactly, the ping answered",
    "deflate-final": "a compressed message, one ending in a BFINAL block, an uncompressed one: all arrive",
    "deflate-final-then-more": "a compressed message after a BFINAL one (200 ms later): the first arrives, the "
                               "second fails the connection, Close 1002 (Chromium)",
    "deflate-tail-kept-then-more": "a compressed payload that keeps its 00 00 ff ff tail and an uncompressed "
                                   "message arrive; a compressed one 200 ms later fails, Close 1002 (Chromium)",
    "deflate-client-no-context": "client_no_context_takeover: each compressed message the client sends "
                                 "inflates on its own",
    "deflate-client-window-8": "client_max_window_bits=8: what the client sends inflates through a 256-byte "
                               "window",
    "deflate-server-no-context-ignored": "server_no_context_takeover, yet the server's 2nd message refers to "
                                         "the 1st: Chromium never resets its inflater, both arrive",
    "deflate-server-window-ignored": "server_max_window_bits=9, yet the server's 2nd message refers 700 bytes "
                                     "back: Chromium inflates with a 32 KiB window, both arrive",
    "deflate-params-nospace": "parameters without spaces: extensions is the header verbatim, messages "
                              "compressed on their own arrive",
    "deflate-params-spacing": "odd spacing around ';': extensions is the header verbatim",
    "deflate-params-quoted": "a quoted window value: accepted, extensions keeps the quotes",
    "deflate-params-all": "three parameters in any order, server_max_window_bits=8 among them: accepted, "
                          "extensions verbatim",
    "deflate-rsv1-continuation": "RSV1 on a continuation frame: fail, Close 1002",
    "deflate-rsv1-ping": "RSV1 on a ping: fail, Close 1002",
    "deflate-bad-data": "invalid DEFLATE data: fail, Close 1002",
    "deflate-invalid-utf8": "a compressed text message inflating to invalid UTF-8: fail (1007; Chromium 1002: "
                            "documented)",
    "deflate-unnegotiated": "valid compressed data with RSV1 when no extension was accepted: fail, Close 1002",
}
for _n, _ext in DEFLATE_BAD_RESPONSES.items():
    DEFLATE_RULES[f"deflate-bad-{_n}"] = f"response extensions {_ext!r}: connection failed"
for _n, _d in DEFLATE.items():
    CASES[_n] = ({"sends": _d["sends"]} if _d.get("sends") else {}, DEFLATE_RULES[_n])
SCENARIOS = {name: opts for name, (opts, _rule) in CASES.items()}

# Scenarios that take seconds, started first so that the run ends sooner.
SLOW_FIRST = ["no-close-answer", "linger", "trickle", "ping", "close-during-open",
              "messages-and-close-one-segment"]


def state(rs, ba=0, protocol="", extensions=""):
    return f"rs={rs} p={protocol!r} ext={extensions!r} ba={ba}"


# The start and end of the records of a client that sends "hello" in onopen.
OPENED = [f"new {state(0)}", f"open {state(1)}", f"call send OK {state(1, 5)}"]
FAILED = [f"error {state(3)}", f"close 1006 '' unclean {state(3)}"]

# Documented differences, default mode only (SPEC.md 4, README "Deliberate
# differences from the browser"); compat mode must show none of them.
#
# (scenario, observation key) -> (chromium value, wsnative value).
ALLOWED_WIRE_DIFFERENCES = {
    # Invalid UTF-8 is answered with 1007 (Chromium: 1002).
    ("invalid-utf8", "client_close_code"): (1002, 1007),
    ("close-reason-invalid-utf8", "client_close_code"): (1002, 1007),
    ("utf8-split-invalid", "client_close_code"): (1002, 1007),
    ("deflate-invalid-utf8", "client_close_code"): (1002, 1007),
    # The close timeout is 5 s by default (Chromium waits 60 s).
    ("no-close-answer", "client_dropped_tcp_within_7s"): (False, True),
    # The blocked-port list is not applied by default: the connection is made.
    ("blocked-port", "tcp_connections"): (0, 1),
    ("blocked-port", "http_request"): (False, True),
    ("blocked-port", "first_message"): (None, "hello"),
    ("blocked-port", "client_close_code"): (None, 1000),
    ("blocked-port", "eof"): (None, True),
}
# Chromium lets invalid close codes through and echoes them; wsnative fails
# the connection with 1002 (RFC 6455 7.4, Autobahn 7.9.*).
for _code in CLOSE_CODES_CHROMIUM_ONLY:
    ALLOWED_WIRE_DIFFERENCES[(f"close-code-{_code}", "client_close_code")] = (_code, 1002)

# Observations where Chromium itself varies from run to run, in every mode:
# after close() right after construction, Chromium has made no TCP
# connection, or a connection without a request, or has sent the request
# (all three seen with Chromium 156), depending on how its processes race.
# They are reported, not compared. What the client sends over such a
# connection still is (it must send no message: first_message).
UNCOMPARED_WIRE = {("close-now", "tcp_connections"), ("close-now", "http_request"), ("close-now", "eof")}

# Scenario -> (Chromium's records, wsnative's records), in the notation of
# `describe` below: documented differences in what the application sees.
ALLOWED_EVENT_DIFFERENCES = {
    f"close-code-{_code}": (OPENED + [f"close {_code} '' clean {state(3)}"], OPENED + FAILED)
    for _code in CLOSE_CODES_CHROMIUM_ONLY
}
ALLOWED_EVENT_DIFFERENCES["blocked-port"] = (
    [f"new {state(0)}"] + FAILED,
    OPENED + [f"message text 'hello back' {state(1)}", f"close 1000 'done' clean {state(3)}"],
)


def describe(rec):
    """One record as a short line: what happened, then the state read."""
    t = rec.get("type")
    if t == "exception":
        return f"exception {rec.get('name')}"
    if t in ("timeout", "crash", "missing", "raced"):
        return t + (f" {rec['detail']}" if rec.get("detail") else "")
    head = t
    if t == "call":
        head += f" {rec.get('call')} {rec.get('result')}"
    elif t == "message":
        head += f" {'binary' if rec.get('binary') else 'text'} {rec.get('data')!r}"
    elif t == "close":
        head += f" {rec.get('code')} {rec.get('reason')!r} {'clean' if rec.get('wasClean') else 'unclean'}"
    try:
        return f"{head} {state(rec['readyState'], rec['bufferedAmount'], rec['protocol'], rec['extensions'])}"
    except KeyError:
        return f"{head} (no state: {json.dumps(rec)})"


def with_write_timing(reference, records):
    """`records` (described) with each bufferedAmount that differs from the
    reference's only by when bytes reached the network replaced by the
    reference's value.

    bufferedAmount counts the bytes sent while OPEN until they are written,
    and the bytes sent while CLOSING or CLOSED for ever. When the first are
    written is timing: Chromium lowers the count in a task of its own after
    its network service took the bytes, wsnative's count is live (SPEC.md 1:
    exact, readable from any thread; section 5 makes only readyState,
    protocol and extensions follow dispatch). So at each record the value
    may be anything from the bytes sent while CLOSING/CLOSED so far to that
    plus the bytes sent while OPEN so far (the reference's sends: "hello",
    and N bytes for a "send NB"). Everything else is compared exactly."""
    out = list(records)
    sent_open = sent_closed = 0
    for i, (ref, rec) in enumerate(zip(reference, records)):
        ref_head, _, ref_ba = ref.rpartition(" ba=")
        head, _, ba = rec.rpartition(" ba=")
        # "send" is "hello"; the scenario's further sends are "send NB".
        sent = re.match(r"call send(?: (\d+)B)? OK rs=(\d) ", ref_head)
        if sent and sent[2] == "1":
            sent_open += int(sent[1] or 5)
        elif sent:
            sent_closed += int(sent[1] or 5)
        if (head == ref_head and ba.isdigit() and ref_ba.isdigit()
                and sent_closed <= int(ba) <= sent_closed + sent_open):
            out[i] = ref
    return out


def frame(opcode, payload=b"", fin=True, rsv1=False, mask=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([b0, m | 127]) + n.to_bytes(8, "big")
    if mask:
        return head + b"\0\0\0\0" + payload
    return head + payload


def close_frame(code=None, reason=b""):
    return frame(8, b"" if code is None else code.to_bytes(2, "big") + reason)


TAIL = b"\x00\x00\xff\xff"


def deflate(data, comp=None, strip=True):
    """One message compressed as RFC 7692 7.2.1 says (Python's zlib, raw
    DEFLATE): a sync flush, its 00 00 ff ff tail removed unless strip is
    False. `comp` carries the context (takeover) from message to message."""
    c = comp or zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4] if strip else out


def deflate_final(data):
    """A message compressed into a final block (BFINAL=1, no sync tail)."""
    c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(zlib.Z_FINISH)


def deflate_frames(kind):
    """What the server writes in a deflate scenario: a list of parts,
    written 200 ms apart."""
    comp = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    if kind == "packed":
        # No back-reference: within any window, server_max_window_bits=8 too.
        return [frame(1, deflate(b"packed"), rsv1=True)]
    if kind == "messages":
        # Compressed in the order sent: the context is the stream so far.
        text = "compressed \u20ac".encode()
        frag = "fragmented and compressed \u20ac".encode()
        out = (frame(1, deflate(text, comp), rsv1=True) + frame(2, deflate(bytes(range(256)), comp), rsv1=True)
               + frame(1, deflate(text, comp), rsv1=True) + frame(1, deflate(b"", comp), rsv1=True)
               + frame(2, deflate(b"", comp), rsv1=True))
        d = deflate(frag, comp)
        a, b = len(d) // 3, 2 * len(d) // 3
        return [out + frame(1, d[:a], fin=False, rsv1=True) + frame(9, b"p") + frame(0, d[a:b], fin=False)
                + frame(0, d[b:]) + frame(1, b"uncompressed") + frame(1, deflate(frag, comp), rsv1=True)]
    if kind == "final":
        return [frame(1, deflate(b"first"), rsv1=True) + frame(1, deflate_final(b"final block"), rsv1=True)
                + frame(1, b"plain after")]
    if kind == "final-then-more":
        return [frame(1, deflate_final(b"final block"), rsv1=True), frame(1, deflate(b"next"), rsv1=True)]
    if kind == "tail-kept-then-more":
        return [frame(1, deflate(b"tail kept", strip=False), rsv1=True) + frame(1, b"plain after"),
                frame(1, deflate(b"next"), rsv1=True)]
    if kind in ("no-context", "context"):
        text = b"same words, same words"
        return [frame(1, deflate(text, comp if kind == "context" else None), rsv1=True)
                + frame(1, deflate(text, comp if kind == "context" else None), rsv1=True)]
    if kind == "far700":
        # The second message refers 700 bytes back, into the first.
        text = random_letters(700, 9).encode()
        return [frame(1, deflate(text, comp), rsv1=True) + frame(1, deflate(text, comp), rsv1=True)]
    if kind == "rsv1-continuation":
        d = deflate(b"continued")
        return [frame(1, d[:2], fin=False, rsv1=True) + frame(0, d[2:], rsv1=True)]
    if kind == "rsv1-ping":
        return [frame(9, b"p", rsv1=True)]
    if kind == "bad-data":
        return [frame(1, b"\xff\xff\xff\xff", rsv1=True)]
    if kind == "invalid-utf8":
        return [frame(1, deflate(b"ok\xff"), rsv1=True)]
    raise ValueError(kind)


def inflates_through(d, payload):
    """Whether `payload` (tail appended) inflates with `d`, in 16-byte output
    steps so that every back-reference goes through d's window (in one large
    step zlib lets a reference reach anything produced in that step)."""
    buf = payload + TAIL
    try:
        while True:
            out = d.decompress(buf, 16)
            buf = d.unconsumed_tail
            if not buf and not out:
                return True
    except zlib.error:
        return False


async def read_full_frame(reader):
    """One client frame (first byte, payload, whether masked) or None at
    EOF."""
    try:
        h = await reader.readexactly(2)
        n = h[1] & 0x7F
        if n == 126:
            n = int.from_bytes(await reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await reader.readexactly(8), "big")
        key = await reader.readexactly(4) if h[1] & 0x80 else b"\0\0\0\0"
        data = bytearray(await reader.readexactly(n))
        for i in range(n):
            data[i] ^= key[i % 4]
        return h[0], bytes(data), bool(h[1] & 0x80)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


async def read_frame(reader):
    """One client frame (opcode, payload) or None at EOF."""
    f = await read_full_frame(reader)
    return None if f is None else (f[0] & 0x0F, f[1])


class Observations:
    def __init__(self):
        self.data = {}

    def get(self, client, scenario):
        obs = self.data.setdefault((client, scenario), {"client_close_code": None})
        if SCENARIOS.get(scenario, {}).get("port"):
            obs.setdefault("tcp_connections", 0)
            obs.setdefault("http_request", False)
        return obs


class Server:
    def __init__(self, page):
        self.page = page
        self.obs = Observations()
        self.results = asyncio.get_event_loop().create_future()

    def dedicated(self, client, scenario):
        """A connection handler for a listener of one client and scenario."""
        async def handle(reader, writer):
            obs = self.obs.get(client, scenario)
            obs["tcp_connections"] += 1
            await self.handle(reader, writer, obs)
        return handle

    async def handle(self, reader, writer, dedicated_obs=None):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except Exception:
            writer.close()
            return
        if dedicated_obs is not None:
            dedicated_obs["http_request"] = True
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if method == "POST" and target == "/results":
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            if not self.results.done():
                self.results.set_result(json.loads(body))
            return
        if target.startswith("/ws/"):
            path, _, query = target[4:].partition("?")
            client = query.split("client=")[-1] if "client=" in query else "?"
            try:
                await asyncio.wait_for(self.scenario(path, client, headers, reader, writer), 20)
            except (asyncio.TimeoutError, ConnectionError):
                pass
            writer.close()
            return
        body = self.page.encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def scenario(self, name, client, headers, reader, writer):
        obs = self.obs.get(client, name)
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
        status = b"HTTP/1.1 101 Switching Protocols"
        extra = b""
        first = b""
        if name == "http10":
            status = b"HTTP/1.0 101 Switching Protocols"
        if name == "protocol-selected":
            extra = b"Sec-WebSocket-Protocol: chat\r\n"
        if name == "protocol-unrequested":
            extra = b"Sec-WebSocket-Protocol: chat\r\n"
        if name == "extension-unoffered":
            extra = b"Sec-WebSocket-Extensions: x-unknown\r\n"
        if name in DEFLATE:
            extra = b"".join(b"Sec-WebSocket-Extensions: %s\r\n" % v.encode() for v in DEFLATE[name]["ext"] or [])
        if name == "bad-accept":
            accept = base64.b64encode(b"0" * 20)
        if name == "early-frames":
            first = frame(1, b"early")
        if name == "instant":
            first = frame(1, b"one") + frame(1, b"two") + close_frame(1000, b"fast")
        if name == "close-before-response":
            writer.transport.abort()
            return
        if name == "garbage-response":
            writer.write(b"HELLO THERE\r\n\r\n")
            await writer.drain()
            obs["eof"] = await read_frame(reader) is None
            return
        if name == "bad-upgrade":
            status += b"\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept
            writer.write(status + b"\r\n\r\n")
            await writer.drain()
            obs["eof"] = await read_frame(reader) is None
            return
        if name == "no-connection-header":
            writer.write(status + b"\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            await writer.drain()
            obs["eof"] = await read_frame(reader) is None
            return
        if name == "trickle":
            data = (status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
                    + accept + b"\r\n\r\n" + frame(1, "slow€".encode()))
            for i in range(len(data)):
                writer.write(data[i:i + 1])
                await writer.drain()
                await asyncio.sleep(0.005)
            hello = await read_frame(reader)
            obs["first_message"] = hello[1].decode("latin-1") if hello else None
            for b in close_frame(1000, b"slowly"):
                writer.write(bytes([b]))
                await writer.drain()
                await asyncio.sleep(0.005)
            f = await read_frame(reader)
            obs["client_close_code"] = int.from_bytes(f[1][:2], "big") if f and len(f[1]) >= 2 else None
            obs["eof"] = await read_frame(reader) is None
            return
        if name == "status-404":
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            obs["eof"] = await read_frame(reader) is None
            return
        if name == "redirect":
            writer.write(b"HTTP/1.1 302 Found\r\nLocation: /ws/normal\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
            obs["eof"] = await read_frame(reader) is None
            return
        writer.write(
            status + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + accept
            + b"\r\n" + extra + b"\r\n" + first
        )
        await writer.drain()

        async def until_close(data_after_close=False):
            """Reads up to the client's Close (its payload) or EOF (None).
            With data_after_close, records the data frames read meanwhile
            (the server's Close has been sent: the client must send none)."""
            while True:
                f = await read_frame(reader)
                if f is None:
                    obs["eof"] = True
                    return None
                op, payload = f
                if op == 10:
                    obs["pong"] = payload.decode("latin-1")
                if data_after_close and op in (0, 1, 2):
                    obs.setdefault("data_after_server_close", []).append(payload.decode("latin-1"))
                if op == 8:
                    obs["client_close_code"] = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
                    return payload

        if name in DEFLATE:
            await self.deflate_scenario(name, headers, reader, writer, obs, until_close)
        elif name == "instant":
            # The client may send "hello" before or after it reads the Close:
            # the first message is not observed here.
            await until_close()
        elif name == "close-during-open":
            await asyncio.sleep(0.05)
            writer.write(frame(1, b"before close") + close_frame(1000, b"bye"))
            await writer.drain()
            writer.write_eof()
            obs.setdefault("data_after_server_close", [])
            await until_close(data_after_close=True)
        else:
            hello = await read_frame(reader)
            obs["first_message"] = hello[1].decode("latin-1") if hello and hello[0] == 1 else None
        if name in ("normal", "early-frames", "http10", "protocol-selected", "blocked-port", "close-now"):
            writer.write(frame(1, b"hello back") + close_frame(1000, b"done"))
            await until_close()
        elif name == "close-no-code":
            writer.write(close_frame())
            await until_close()
        elif name == "drop":
            writer.write(frame(1, b"last words"))
            await writer.drain()
            writer.transport.abort()
            return
        elif name == "linger":
            writer.write(close_frame(1001, b"going"))
            await until_close()
            await asyncio.sleep(4)
        elif name == "fragmented":
            writer.write(frame(1, "fr".encode(), fin=False) + frame(9, b"p") + frame(0, "ag€".encode(), fin=True))
            writer.write(close_frame(1000))
            await until_close()
        elif name == "ping":
            writer.write(frame(9, b"are you there"))
            await writer.drain()
            await asyncio.sleep(0.5)
            writer.write(close_frame(1000))
            await until_close()
        elif name == "client-close":
            await until_close()  # hello was read; now the client's Close
            writer.write(frame(1, b"after close") + close_frame(4000, b"bye"))
        elif name == "no-close-answer":
            if await until_close() is None:
                return
            # The client's Close is never answered; does it drop TCP within
            # 7 s? Then the server closes TCP itself.
            deadline = time.monotonic() + 7
            dropped = False
            while (left := deadline - time.monotonic()) > 0:
                try:
                    if await asyncio.wait_for(read_frame(reader), left) is None:
                        dropped = True
                        break
                except asyncio.TimeoutError:
                    break
            obs["client_dropped_tcp_within_7s"] = dropped
            return
        elif name == "messages-and-close-one-segment":
            writer.write(frame(1, b"one") + frame(1, b"two") + frame(2, b"three") + close_frame(1000, b"bye"))
            await until_close()
        elif name in ("protocol-missing", "protocol-unrequested", "extension-unoffered", "bad-accept"):
            await until_close()
        elif name == "invalid-utf8":
            writer.write(frame(1, b"ok\xff"))
            await until_close()
        elif name == "masked-frame":
            writer.write(frame(1, b"x", mask=True))
            await until_close()
        elif name == "reserved-opcode":
            writer.write(frame(3))
            await until_close()
        elif name == "rsv1":
            writer.write(frame(1, b"x", rsv1=True))
            await until_close()
        elif name == "data-after-close":
            writer.write(close_frame(1000) + frame(1, b"late"))
            await until_close()
        elif name == "long-ping":
            writer.write(frame(9, b"x" * 126))
            await until_close()
        elif name == "close-1-byte":
            writer.write(frame(8, b"\x03"))
            await until_close()
        elif name == "close-reason-invalid-utf8":
            writer.write(close_frame(1000, b"\xff"))
            await until_close()
        elif name.startswith("close-code-"):
            writer.write(close_frame(int(name.rsplit("-", 1)[1])))
            await until_close()
        elif name == "utf8-split-invalid":
            writer.write(frame(1, b"ok\xe2\x82", fin=False) + frame(0, b"x"))
            await until_close()
        elif name == "fragmented-ping":
            writer.write(frame(9, b"p", fin=False))
            await until_close()
        elif name == "non-minimal-length":
            writer.write(bytes([0x81, 126, 0, 2]) + b"ok")
            await until_close()
        elif name == "length-top-bit":
            writer.write(bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big"))
            await until_close()
        elif name == "continuation-first":
            writer.write(frame(0, b"x"))
            await until_close()
        elif name == "text-inside-fragmented":
            writer.write(frame(1, b"a", fin=False) + frame(1, b"b"))
            await until_close()
        elif name == "binary-and-empty":
            writer.write(frame(2, bytes([0, 1, 2, 255])) + frame(1, b"") + frame(2, b"") + close_frame(1000))
            await until_close()
        if not writer.transport.is_closing():
            await writer.drain()
        if not obs.get("eof"):
            # Did the client drop TCP after closing or failing?
            try:
                obs["eof"] = (await asyncio.wait_for(read_frame(reader), 5)) is None
            except asyncio.TimeoutError:
                obs["eof"] = False

    async def deflate_scenario(self, name, headers, reader, writer, obs, until_close):
        """Reads the client's messages ("hello" and the scenario's sends) and
        records each as "deflated 'text'" (RSV1, inflated with the context of
        the previous ones) or "plain 'text'", with the scenario's check; then
        echoes them if asked, writes the scenario's frames, and closes with
        1000 unless those frames fail the connection; closes TCP once the
        client's Close is read."""
        spec = DEFLATE[name]
        if name == "deflate-accepted":
            obs["offer"] = headers.get("sec-websocket-extensions")
        inflater = zlib.decompressobj(-15)
        window8 = zlib.decompressobj(-8)
        got = obs["client_messages"] = []
        for _ in range(1 + len(spec.get("sends", []))):
            f = await read_full_frame(reader)
            if f is None:
                obs["eof"] = True
                return
            (b0, payload, _masked), rsv1 = f, bool(f[0] & 0x40)
            if b0 & 0x0F == 8:
                obs["client_close_code"] = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
                return
            data, note = payload, ""
            if rsv1:
                try:
                    data = inflater.decompress(payload + TAIL)
                except zlib.error as e:
                    data = f"(inflate error: {e})".encode()
                if spec.get("check") == "alone":
                    alone = zlib.decompressobj(-15)
                    try:
                        note = " alone" if alone.decompress(payload + TAIL) == data else " needs-context"
                    except zlib.error:
                        note = " needs-context"
                elif spec.get("check") == "window8":
                    if window8 is not None and not inflates_through(window8, payload):
                        window8 = None
                    note = " within-256-byte-window" if window8 is not None else " beyond-256-byte-window"
            got.append(f"{'deflated' if rsv1 else 'plain'} {data.decode('utf-8', 'replace')!r}{note}")
        if spec.get("echo"):
            writer.write(b"".join(frame(1, m.encode()) for m in got))
        for i, part in enumerate(deflate_frames(spec["frames"]) if spec["frames"] else []):
            if i:
                await writer.drain()
                await asyncio.sleep(0.2)
            writer.write(part)
        if not spec.get("fails"):
            # Also after a response that should have failed the connection
            # (deflate-bad-*): a client that opened anyway ends at once.
            writer.write(close_frame(1000, b"done"))
        if await until_close() is not None:
            # The client's Close read: the server closes TCP first (RFC 6455
            # 7.1.1), sparing the client its wait for that; whether the
            # client would close TCP itself is the other scenarios' matter.
            await writer.drain()
            writer.transport.close()


PAGE = """<!doctype html><meta charset="utf-8"><body><script>
const scenarios = %s;
function spend(ms) { const t = performance.now(); while (performance.now() - t < ms) {} }
function run(name, opts) {
  return new Promise(resolve => {
    const ev = [];
    let ws;
    const rec = (type, fields) => ev.push(Object.assign({type}, fields || {}, {
      readyState: ws.readyState, protocol: ws.protocol, extensions: ws.extensions,
      bufferedAmount: ws.bufferedAmount}));
    const call = (what, fn) => {
      let result = 'OK';
      try { fn(); } catch (e) { result = e.name; }
      rec('call', {call: what, result});
    };
    const host = opts.port ? `127.0.0.1:${opts.port}` : location.host;
    const url = `ws://${host}/ws/${name}?client=chromium`;
    try { ws = opts.protocol ? new WebSocket(url, opts.protocol) : new WebSocket(url); }
    catch (e) { resolve([{type: 'exception', name: e.name}]); return; }
    ws.binaryType = 'arraybuffer';
    const timer = setTimeout(() => resolve(ev.concat([{type: 'timeout'}])), 20000);
    rec('new');
    ws.onopen = () => {
      rec('open');
      if (opts.slow_open) { spend(opts.slow_open); rec('open-late'); }
      call('send', () => ws.send('hello'));
      for (const s of opts.sends || []) call(`send ${new TextEncoder().encode(s).length}B`, () => ws.send(s));
      if (opts.close) call('close', () => ws.close(opts.close[0], opts.close[1]));
    };
    ws.onmessage = m => {
      rec('message', typeof m.data === 'string'
        ? {binary: false, data: m.data}
        : {binary: true, data: String.fromCharCode(...new Uint8Array(m.data))});
      if (opts.slow_message) { spend(opts.slow_message); rec('message-late'); }
    };
    ws.onerror = () => rec('error');
    ws.onclose = c => {
      rec('close', {code: c.code, reason: c.reason, wasClean: c.wasClean});
      clearTimeout(timer);
      resolve(ev);
    };
    if (opts.close_now) {
      call('close', () => ws.close());
      call('send', () => ws.send('hello'));
    }
  });
}
(async () => {
  const results = {};
  await Promise.all(Object.entries(scenarios).map(async ([n, o]) => { results[n] = await run(n, o); }));
  await fetch('/results', {method: 'POST', body: JSON.stringify(results)});
})();
</script>"""


def chromium_command(chromium, url, profile):
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", url,
    ]


def client_options(label, opts, ports):
    """A scenario's options as one client runs them (the port resolved)."""
    out = {k: v for k, v in opts.items() if k != "port"}
    if opts.get("port"):
        out["port"] = ports[(label, opts["port"])]
    return out


async def run_wsnative(cmd, port, name, opts, label, sem, obs):
    """Runs one client; again (at most twice) when it says "raced": an
    immediate callback ran concurrently with the code that follows the
    constructor, which the browser cannot show (see events_client.c)."""
    for attempt in range(3):
        if attempt:
            await asyncio.sleep(0.2)
            obs.data.pop((label, name), None)
        records = await run_client(cmd, port, name, opts, label, sem)
        ATTEMPTS[(label, name)] = (attempt + 1, round(ELAPSED.get((label, name), 0), 2))
        if not any(r.get("type") == "raced" for r in records):
            break
    return records


ATTEMPTS = {}  # (label, scenario) -> (how many times the client ran, seconds of its last run)
ELAPSED = {}


async def run_client(cmd, port, name, opts, label, sem):
    args = list(cmd[0]) + [f"ws://127.0.0.1:{opts.get('port', port)}/ws/{name}?client={label}"] + list(cmd[1])
    if "protocol" in opts:
        args += ["--protocol", opts["protocol"]]
    if "close" in opts:
        args += ["--close", str(opts["close"][0]), opts["close"][1]]
    if opts.get("close_now"):
        args.append("--close-now")
    if opts.get("slow_open"):
        args += ["--slow-open", str(opts["slow_open"])]
    if opts.get("slow_message"):
        args += ["--slow-message", str(opts["slow_message"])]
    for text in opts.get("sends", []):
        args += ["--send", text]
    def run():
        # On a thread of the pool (`sem`): starting a process blocks, and the
        # event loop must keep serving the scenarios (trickle's 5 ms steps).
        t0 = time.monotonic()
        try:
            return subprocess.run(args, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            return None
        finally:
            ELAPSED[(label, name)] = time.monotonic() - t0

    proc = await asyncio.get_running_loop().run_in_executor(sem, run)
    if proc is None:
        return [{"type": "crash", "detail": "killed after 30 s"}]
    out, err = proc.stdout, proc.stderr
    records = []
    for line in out.decode(errors="replace").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                records.append({"type": "crash", "detail": f"bad output {line[:200]!r}"})
    for r in records:
        r.pop("cause", None)  # the browser gives no cause; wsnative's is extra
    if proc.returncode not in (0, 1) or not records:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        records.append({"type": "crash", "detail": f"exit status {proc.returncode}: {' | '.join(tail)}"})
    return records


async def not_run(why):
    return [{"type": "missing", "detail": f"not run: {why}"}]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(name, label, compat, b_ev, w_ev, b_obs, w_obs):
    """(verdict, problems): "equal", "documented" or "fail"."""
    problems = []
    documented = False
    if with_write_timing(b_ev, w_ev) != b_ev:
        allowed = ALLOWED_EVENT_DIFFERENCES.get(name)
        if not compat and allowed and allowed[0] == b_ev:
            # Chromium did what the table says: wsnative must do what the
            # table says it does instead.
            expected, what = allowed[1], "the documented difference"
        else:
            expected, what = b_ev, "chromium"
        w_ev = with_write_timing(expected, w_ev)
        if w_ev == expected:
            documented = True
        else:
            i = first_difference(expected, w_ev)
            e_at = expected[i] if i < len(expected) else "(nothing)"
            w_at = w_ev[i] if i < len(w_ev) else "(nothing)"
            n = sum(x != y for x, y in zip(expected, w_ev)) + abs(len(expected) - len(w_ev))
            problems.append(f"{n} record(s) differ, the first at #{i}: {what} {e_at!r}, {label} {w_at!r}")
    for key in sorted(set(b_obs) | set(w_obs)):
        bv, wv = b_obs.get(key), w_obs.get(key)
        if bv == wv or (name, key) in UNCOMPARED_WIRE:
            continue
        if not compat and ALLOWED_WIRE_DIFFERENCES.get((name, key)) == (bv, wv):
            documented = True
        else:
            problems.append(f"wire {key}: chromium {bv!r}, {label} {wv!r}")
    if problems:
        return "fail", problems
    return ("documented" if documented else "equal"), []


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("events_client", help="the C events client")
    ap.add_argument("--python", required=True, help="a Python with the wsnative package (runs events_client.py)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--report")
    ap.add_argument("--only", help="comma-separated scenarios or patterns such as 'deflate-*' (the default is all)")
    ap.add_argument("--jobs", type=int, default=12, help="wsnative clients run at once")
    a = ap.parse_args()

    names = list(SCENARIOS)
    if a.only:
        # Names or shell patterns ("deflate-*").
        patterns = a.only.split(",")
        names = [n for n in SCENARIOS if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
        unknown = {p for p in patterns if not any(fnmatch.fnmatchcase(n, p) for n in SCENARIOS)}
        if unknown:
            print(f"unknown scenarios: {sorted(unknown)}")
            return 2
    names.sort(key=lambda n: SLOW_FIRST.index(n) if n in SLOW_FIRST else len(SLOW_FIRST))

    # Every client must be able to run: a missing Python package or a C
    # client that does not start is a failure, not a skip.
    setup_problems = []
    for what, cmd in (("C client", [a.events_client]), ("Python client", [a.python, "-c", "import wsnative"])):
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=30)
            if what == "Python client" and r.returncode != 0:
                setup_problems.append(f"{what} cannot run: {r.stderr.decode(errors='replace').strip()[-300:]}")
        except OSError as e:
            setup_problems.append(f"{what} cannot run: {e}")
    if not os.access(a.chromium, os.X_OK):
        setup_problems.append(f"no Chromium at {a.chromium}")

    labels = ["chromium"] + [m[0] for m in MODES]
    srv = Server("")
    server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    listeners = [server]
    ports = {}
    port_problems = {}  # (label, scenario) -> why that client's port is missing
    for label in labels:
        for name in names:
            kind = SCENARIOS[name].get("port")
            if not kind:
                continue
            want = BLOCKED_PORTS[label] if kind == "blocked" else 0
            try:
                s = await asyncio.start_server(srv.dedicated(label, name), "127.0.0.1", want)
            except OSError as e:
                port_problems[(label, name)] = f"cannot listen on 127.0.0.1:{want}: {e.strerror} (port busy?)"
                ports[(label, kind)] = want
                continue
            listeners.append(s)
            ports[(label, kind)] = s.sockets[0].getsockname()[1]
    srv.page = PAGE % json.dumps({n: client_options("chromium", SCENARIOS[n], ports) for n in names})

    sem = concurrent.futures.ThreadPoolExecutor(max_workers=a.jobs)
    client_py = os.path.join(HERE, "events_client.py")
    runs = {}
    for label, lang, dispatch, compat in MODES:
        cmd = (([a.events_client] if lang == "c" else [a.python, client_py]),
               ["--dispatch", dispatch] + (["--compat"] if compat else []))
        runs[label] = {
            n: asyncio.ensure_future(not_run(port_problems[(label, n)]) if (label, n) in port_problems else
                                     run_wsnative(cmd, port, n, client_options(label, SCENARIOS[n], ports),
                                                  label, sem, srv.obs))
            for n in names
        }
    browser = {}
    if os.access(a.chromium, os.X_OK):
        profile = tempfile.mkdtemp(prefix="wsnative-chromium-")
        chrome = subprocess.Popen(
            chromium_command(a.chromium, f"http://127.0.0.1:{port}/", profile),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        t0 = time.monotonic()
        try:
            browser = await asyncio.wait_for(srv.results, 120)
            print(f"Chromium reported after {time.monotonic() - t0:.1f}s", file=sys.stderr)
        except asyncio.TimeoutError:
            setup_problems.append("Chromium did not report within 120 s")
        finally:
            chrome.kill()
            chrome.wait()
            shutil.rmtree(profile, ignore_errors=True)
    results = {label: {n: await t for n, t in by_name.items()} for label, by_name in runs.items()}
    sem.shutdown()
    await asyncio.sleep(0.5)  # let the last server-side observations land
    for s in listeners:
        s.close()

    for p in setup_problems:
        print(f"SETUP {p}")
    passed = failed = 0
    report = {}
    verdicts = {label: {"equal": 0, "documented": 0, "fail": 0} for label, *_ in MODES}
    for label, _lang, _dispatch, compat in MODES:
        for name in names:
            b_ev = [describe(r) for r in browser.get(name, [{"type": "missing", "detail": "no result from Chromium"}])]
            w_ev = [describe(r) for r in results[label][name]]
            b_obs = srv.obs.get("chromium", name)
            w_obs = srv.obs.get(label, name)
            verdict, problems = compare(name, label, compat, b_ev, w_ev, b_obs, w_obs)
            for who in ("chromium", label):
                if (who, name) in port_problems:
                    verdict = "fail"
                    problems.insert(0, f"{who}: {port_problems[(who, name)]}")
            if setup_problems:
                verdict = "fail"
                problems.insert(0, "setup failed (SETUP lines above)")
            verdicts[label][verdict] += 1
            report[f"{label}/{name}"] = {
                "rule": CASES[name][1], "verdict": verdict, "problems": problems,
                "runs_and_seconds": ATTEMPTS.get((label, name)),
                "chromium": b_ev, label: w_ev, "wire": {"chromium": b_obs, label: w_obs},
            }
            if verdict == "fail":
                failed += 1
                print(f"FAIL {label:<20} {name}: " + "; ".join(problems))
            else:
                passed += 1
                tag = "ok  " if verdict == "equal" else "ok* "
                note = " (documented difference)" if verdict == "documented" else ""
                seen = [f"{k} chromium {b_obs.get(k)!r} {label} {w_obs.get(k)!r}"
                        for (n, k) in sorted(UNCOMPARED_WIRE) if n == name]
                if seen:
                    note += " (not compared: " + ", ".join(seen) + ")"
                print(f"{tag} {label:<20} {name}{note}")
    if a.report:
        os.makedirs(os.path.dirname(a.report) or ".", exist_ok=True)
        with open(a.report, "w") as f:
            json.dump(report, f, indent=1, ensure_ascii=False)
    print()
    print(f"{len(names)} scenarios per column; equal = identical to Chromium, documented = differs only by a "
          "documented deviation (default mode only)")
    print(f"{'column':<22}{'equal':>7}{'documented':>12}{'failed':>8}")
    for label, *_ in MODES:
        v = verdicts[label]
        print(f"{label:<22}{v['equal']:>7}{v['documented']:>12}{v['fail']:>8}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    t = time.time()
    rc = asyncio.run(main())
    print(f"differential run took {time.time() - t:.1f}s", file=sys.stderr)
    sys.exit(rc)
