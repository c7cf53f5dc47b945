"""wsnative from Python (bindings/python), through one of its three APIs:

--api sync     wsnative.connect(): send(), recv() / iteration (blocking)
--api async    wsnative.connect_async(): await send(), async for (asyncio)
--api browser  wsnative.WebSocket with onopen/onmessage handlers on the
               dispatcher thread (dispatch="thread"); W1 and W4 chain the
               next send from onmessage, W2 counts in onmessage.

W2/W2z read every message's first and last byte. wss:// trusts the --ca
file only (ca_file, ca_exclusive=True). The library's default options
otherwise: whatever extensions it offers by default (the server takes
permessage-deflate on the W2z/W3z paths only).
"""

from __future__ import annotations

import os
import threading
import time

import wsnative

import pycommon as c


def opts(a: c.Args) -> dict:
    o: dict = dict(max_message_size=128 << 20, connect_timeout=120)
    if a.tls:
        o.update(ca_file=a.ca, ca_exclusive=True)
    return o


# --- sync: wsnative.connect() ---


def sync_w1(a: c.Args) -> None:
    with wsnative.connect(a.url, **opts(a)) as ws:
        samples = []
        for i in range(a.warmup + a.n):
            text = c.w1_text(i)
            t = time.perf_counter_ns()
            ws.send(text)
            if ws.recv() != text:
                raise AssertionError(f"W1: bad echo for round trip {i}")
            if i >= a.warmup:
                samples.append(time.perf_counter_ns() - t)
    c.report_latency(a, samples, api="sync")


def sync_w2(a: c.Args) -> None:
    t0 = time.perf_counter_ns()
    ws = wsnative.connect(a.url, **opts(a))
    count = nbytes = check = 0
    n = a.n
    if a.compressed:
        for msg in ws:
            if type(msg) is not str:
                raise AssertionError("W2z: binary message")
            count += 1
            nbytes += len(msg)
            check += ord(msg[0]) + ord(msg[-1])
            if count == n:
                break
    else:
        for msg in ws:
            if type(msg) is not bytes:
                raise AssertionError("W2: text message")
            count += 1
            nbytes += len(msg)
            check += msg[0] + msg[-1]
            if count == n:
                break
    t1 = time.perf_counter_ns()
    trailer = c.check_trailer(count, nbytes, check, ws.recv())
    c.report_rate(a.workload, a.n, t1 - t0, api="sync", trailer=trailer, extensions=ws.extensions)
    ws.close()


def sync_w3(a: c.Args) -> None:
    with wsnative.connect(a.url, **opts(a)) as ws:
        payload = b"\xa5" * a.size
        send = ws.send
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            send(payload)
        reply = ws.recv()
        t1 = time.perf_counter_ns()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0, api="sync")


def sync_w3z(a: c.Args) -> None:
    pool = c.json_pool()
    with wsnative.connect(a.url, **opts(a)) as ws:
        send = ws.send
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            send(pool[i & 4095])
        reply = ws.recv()
        t1 = time.perf_counter_ns()
        ext = ws.extensions
    c.report_rate("W3z", a.n, t1 - t0, api="sync", reply=c.check_zcount(a, reply), extensions=ext)


def sync_w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    with wsnative.connect(a.url, **opts(a)) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            ws.send(payloads[i % 4])
            c.w4_check(i, a.size, ws.recv())
        t1 = time.perf_counter_ns()
    c.report_big(a, t1 - t0)


def sync_w5(a: c.Args) -> None:
    def echo_once(ws: wsnative.Connection, text: str) -> None:
        ws.send(text)
        if ws.recv() != text:
            raise AssertionError("W5: bad echo")

    warm = wsnative.connect(a.url, **opts(a))
    echo_once(warm, c.w1_text(0))
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = [wsnative.connect(a.url, **opts(a)) for _ in range(a.n)]
    t1 = time.perf_counter_ns()
    for ws in conns:
        echo_once(ws, c.w1_text(1))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)
    os._exit(0)  # 2,000 orderly closes are not part of the measurement


# --- async: wsnative.connect_async() ---


async def async_w1(a: c.Args) -> None:
    async with wsnative.connect_async(a.url, **opts(a)) as ws:
        samples = []
        for i in range(a.warmup + a.n):
            text = c.w1_text(i)
            t = time.perf_counter_ns()
            await ws.send(text)
            if await ws.recv() != text:
                raise AssertionError(f"W1: bad echo for round trip {i}")
            if i >= a.warmup:
                samples.append(time.perf_counter_ns() - t)
    c.report_latency(a, samples, api="async")


async def async_w2(a: c.Args) -> None:
    t0 = time.perf_counter_ns()
    ws = await wsnative.connect_async(a.url, **opts(a))
    count = nbytes = check = 0
    n = a.n
    if a.compressed:
        async for msg in ws:
            if type(msg) is not str:
                raise AssertionError("W2z: binary message")
            count += 1
            nbytes += len(msg)
            check += ord(msg[0]) + ord(msg[-1])
            if count == n:
                break
    else:
        async for msg in ws:
            if type(msg) is not bytes:
                raise AssertionError("W2: text message")
            count += 1
            nbytes += len(msg)
            check += msg[0] + msg[-1]
            if count == n:
                break
    t1 = time.perf_counter_ns()
    trailer = c.check_trailer(count, nbytes, check, await ws.recv())
    c.report_rate(a.workload, a.n, t1 - t0, api="async", trailer=trailer, extensions=ws.extensions)
    await ws.close()


async def async_w3(a: c.Args) -> None:
    async with wsnative.connect_async(a.url, **opts(a)) as ws:
        payload = b"\xa5" * a.size
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            await ws.send(payload)
        reply = await ws.recv()
        t1 = time.perf_counter_ns()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0, api="async")


async def async_w3z(a: c.Args) -> None:
    pool = c.json_pool()
    async with wsnative.connect_async(a.url, **opts(a)) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send(pool[i & 4095])
        reply = await ws.recv()
        t1 = time.perf_counter_ns()
        ext = ws.extensions
    c.report_rate("W3z", a.n, t1 - t0, api="async", reply=c.check_zcount(a, reply), extensions=ext)


async def async_w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    async with wsnative.connect_async(a.url, **opts(a)) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send(payloads[i % 4])
            c.w4_check(i, a.size, await ws.recv())
        t1 = time.perf_counter_ns()
    c.report_big(a, t1 - t0)


async def async_w5(a: c.Args) -> None:
    async def echo_once(ws: wsnative.AsyncConnection, text: str) -> None:
        await ws.send(text)
        if await ws.recv() != text:
            raise AssertionError("W5: bad echo")

    warm = await wsnative.connect_async(a.url, **opts(a))
    await echo_once(warm, c.w1_text(0))
    import asyncio

    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = await asyncio.gather(*(wsnative.connect_async(a.url, **opts(a)) for _ in range(a.n)))
    t1 = time.perf_counter_ns()
    await asyncio.gather(*(echo_once(ws, c.w1_text(1)) for ws in conns))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)
    os._exit(0)


# --- browser: wsnative.WebSocket with handlers ---


class Outcome:
    """Set once by a handler: the run is over (or failed)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error = ""

    def fail(self, msg: str) -> None:
        if not self.event.is_set():
            self.error = msg
            self.event.set()

    def wait(self) -> None:
        if not self.event.wait(300):
            raise TimeoutError("timed out")
        if self.error:
            raise AssertionError(self.error)

    def on_close(self, ev: object) -> None:
        self.fail(f"closed early: {ev.code} {ev.reason}")  # type: ignore[attr-defined]

    def on_error(self, ev: object) -> None:
        self.fail(f"error: {ev.message}")  # type: ignore[attr-defined]


def browser_w1(a: c.Args) -> None:
    out = Outcome()
    samples: list = []
    total, warmup = a.warmup + a.n, a.warmup
    state = {"i": 0, "text": c.w1_text(0), "t": 0}

    def onopen(ev: object) -> None:
        state["t"] = time.perf_counter_ns()
        ws.send(state["text"])

    def onmessage(ev: wsnative.MessageEvent) -> None:
        t = time.perf_counter_ns()
        i = state["i"]
        if ev.data != state["text"]:
            return out.fail(f"W1: bad echo for round trip {i}")
        if i >= warmup:
            samples.append(t - state["t"])
        i += 1
        state["i"] = i
        if i == total:
            return out.event.set()
        text = state["text"] = c.w1_text(i)
        state["t"] = time.perf_counter_ns()
        ws.send(text)

    ws = wsnative.WebSocket(a.url, onopen=onopen, onmessage=onmessage, onclose=out.on_close, onerror=out.on_error, **opts(a))
    out.wait()
    ws.close()
    c.report_latency(a, samples, api="browser")


def browser_w2(a: c.Args) -> None:
    out = Outcome()
    n = a.n
    text = a.compressed
    count = nbytes = check = 0
    trailer: list = []
    t1 = 0

    def onmessage(ev: wsnative.MessageEvent) -> None:
        nonlocal count, nbytes, check, t1
        data = ev.data
        if count == n:
            trailer.append(data)
            return out.event.set()
        if text:
            if type(data) is not str:
                return out.fail("W2z: binary message")
            check += ord(data[0]) + ord(data[-1])
        else:
            if type(data) is not bytes:
                return out.fail("W2: text message")
            check += data[0] + data[-1]
        count += 1
        nbytes += len(data)
        if count == n:
            t1 = time.perf_counter_ns()

    t0 = time.perf_counter_ns()
    ws = wsnative.WebSocket(a.url, onmessage=onmessage, onclose=out.on_close, onerror=out.on_error, **opts(a))
    out.wait()
    tr = c.check_trailer(count, nbytes, check, trailer[0])
    c.report_rate(a.workload, a.n, t1 - t0, api="browser", trailer=tr, extensions=ws.extensions)
    ws.close()


def browser_w3(a: c.Args) -> None:
    out = Outcome()
    opened = threading.Event()
    reply: list = []
    t1 = 0

    def onmessage(ev: wsnative.MessageEvent) -> None:
        nonlocal t1
        t1 = time.perf_counter_ns()
        reply.append(ev.data)
        out.event.set()

    ws = wsnative.WebSocket(
        a.url, onopen=lambda ev: opened.set(), onmessage=onmessage, onclose=out.on_close, onerror=out.on_error, **opts(a)
    )
    if not opened.wait(120):
        raise TimeoutError("not opened")
    payload = b"\xa5" * a.size
    send = ws.send
    t0 = time.perf_counter_ns()
    for _ in range(a.n):
        send(payload)
    out.wait()
    c.check_w3(a, reply[0])
    c.report_rate("W3", a.n, t1 - t0, api="browser")
    ws.close()


def browser_w3z(a: c.Args) -> None:
    out = Outcome()
    opened = threading.Event()
    reply: list = []
    t1 = 0

    def onmessage(ev: wsnative.MessageEvent) -> None:
        nonlocal t1
        t1 = time.perf_counter_ns()
        reply.append(ev.data)
        out.event.set()

    ws = wsnative.WebSocket(
        a.url, onopen=lambda ev: opened.set(), onmessage=onmessage, onclose=out.on_close, onerror=out.on_error, **opts(a)
    )
    if not opened.wait(120):
        raise TimeoutError("not opened")
    pool = c.json_pool()
    send = ws.send
    t0 = time.perf_counter_ns()
    for i in range(a.n):
        send(pool[i & 4095])
    out.wait()
    c.report_rate("W3z", a.n, t1 - t0, api="browser", reply=c.check_zcount(a, reply[0]), extensions=ws.extensions)
    ws.close()


def browser_w4(a: c.Args) -> None:
    out = Outcome()
    payloads = c.w4_payloads(a.size)
    state = {"i": 0, "t0": 0, "t1": 0}

    def onopen(ev: object) -> None:
        state["t0"] = time.perf_counter_ns()
        ws.send(payloads[0])

    def onmessage(ev: wsnative.MessageEvent) -> None:
        i = state["i"]
        try:
            c.w4_check(i, a.size, ev.data)
        except AssertionError as e:
            return out.fail(str(e))
        i += 1
        state["i"] = i
        if i == a.n:
            state["t1"] = time.perf_counter_ns()
            return out.event.set()
        ws.send(payloads[i % 4])

    ws = wsnative.WebSocket(a.url, onopen=onopen, onmessage=onmessage, onclose=out.on_close, onerror=out.on_error, **opts(a))
    out.wait()
    c.report_big(a, state["t1"] - state["t0"])
    ws.close()


def browser_w5(a: c.Args) -> None:
    text = c.w1_text(1)
    lock = threading.Lock()
    counts = {"open": 0, "echo": 0, "target": 1, "t_open": 0}
    all_open, all_echoed = Outcome(), Outcome()

    def onopen(ev: object) -> None:
        with lock:
            counts["open"] += 1
            if counts["open"] == counts["target"]:
                counts["t_open"] = time.perf_counter_ns()
                all_open.event.set()

    def onmessage(ev: wsnative.MessageEvent) -> None:
        if ev.data != text:
            return all_echoed.fail("W5: bad echo")
        with lock:
            counts["echo"] += 1
            if counts["echo"] == counts["target"]:
                all_echoed.event.set()

    def onerror(ev: object) -> None:
        all_open.on_error(ev)
        all_echoed.on_error(ev)

    def new() -> wsnative.WebSocket:
        return wsnative.WebSocket(a.url, onopen=onopen, onmessage=onmessage, onerror=onerror, **opts(a))

    warm = new()
    all_open.wait()
    warm.send(text)
    all_echoed.wait()
    with lock:
        counts.update(open=0, echo=0, target=a.n)
    all_open.event.clear()
    all_echoed.event.clear()
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    socks = [new() for _ in range(a.n)]
    all_open.wait()
    for ws in socks:
        ws.send(text)
    all_echoed.wait()
    rss1 = c.rss_kib()
    c.report_conns(a, counts["t_open"] - t0, rss0, rss1)
    os._exit(0)


if __name__ == "__main__":
    import sys

    api = "sync"
    if "--api" in sys.argv:
        api = sys.argv[sys.argv.index("--api") + 1]
    async_table = {"W1": async_w1, "W2": async_w2, "W2z": async_w2, "W3": async_w3, "W3z": async_w3z}
    async_table.update({"W4": async_w4, "W5": async_w5})
    table = {
        "sync": {"W1": sync_w1, "W2": sync_w2, "W2z": sync_w2, "W3": sync_w3, "W3z": sync_w3z, "W4": sync_w4, "W5": sync_w5},
        # asyncio is imported by the async API only (as a program would).
        "async": {k: (lambda a, f=f: __import__("asyncio").run(f(a))) for k, f in async_table.items()},
        "browser": {
            "W1": browser_w1,
            "W2": browser_w2,
            "W2z": browser_w2,
            "W3": browser_w3,
            "W3z": browser_w3z,
            "W4": browser_w4,
            "W5": browser_w5,
        },
    }[api]
    c.main(table)
