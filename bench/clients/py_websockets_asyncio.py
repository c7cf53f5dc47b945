"""`websockets` (asyncio implementation, websockets.asyncio.client).

permessage-deflate (its default, "permessage-deflate; client_max_window_bits")
is offered on W2z/W3z only; the other workloads use compression=None."""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.client import connect as ws_connect

import pycommon as c


def connect(a: c.Args):
    return ws_connect(
        a.url,
        max_size=None,
        compression="deflate" if a.compressed else None,
        ping_interval=None,
        open_timeout=120,
        ssl=a.ssl_context(),
    )


async def w1(a: c.Args) -> None:
    async with connect(a) as ws:
        samples = []
        for i in range(a.warmup + a.n):
            text = c.w1_text(i)
            t = time.perf_counter_ns()
            await ws.send(text)
            if await ws.recv() != text:
                raise AssertionError(f"W1: bad echo for round trip {i}")
            if i >= a.warmup:
                samples.append(time.perf_counter_ns() - t)
    c.report_latency(a, samples)


async def w2(a: c.Args) -> None:
    """W2 (binary) and W2z (text): every message's first and last byte is read."""
    t0 = time.perf_counter_ns()
    ws = await connect(a)
    count = nbytes = check = 0
    n = a.n
    if a.compressed:
        while count < n:
            msg = await ws.recv()
            if type(msg) is not str:
                raise AssertionError("W2z: binary message")
            count += 1
            nbytes += len(msg)
            check += ord(msg[0]) + ord(msg[-1])
    else:
        while count < n:
            msg = await ws.recv()
            if type(msg) is not bytes:
                raise AssertionError("W2: text message")
            count += 1
            nbytes += len(msg)
            check += msg[0] + msg[-1]
    t1 = time.perf_counter_ns()
    trailer = c.check_trailer(count, nbytes, check, await ws.recv())
    c.report_rate(a.workload, a.n, t1 - t0, trailer=trailer, extensions=ws.response.headers.get("Sec-WebSocket-Extensions", ""))
    await ws.close()


async def w3(a: c.Args) -> None:
    async with connect(a) as ws:
        payload = b"\xa5" * a.size
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            await ws.send(payload)
        reply = await ws.recv()
        t1 = time.perf_counter_ns()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0)


async def w3z(a: c.Args) -> None:
    pool = c.json_pool()
    async with connect(a) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send(pool[i & 4095])
        reply = await ws.recv()
        t1 = time.perf_counter_ns()
    c.report_rate("W3z", a.n, t1 - t0, reply=c.check_zcount(a, reply))


async def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    async with connect(a) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send(payloads[i % 4])
            c.w4_check(i, a.size, await ws.recv())
        t1 = time.perf_counter_ns()
    c.report_big(a, t1 - t0)


async def echo_once(ws, text: str) -> None:
    await ws.send(text)
    if await ws.recv() != text:
        raise AssertionError("W5: bad echo")


async def w5(a: c.Args) -> None:
    warm = await connect(a)
    await echo_once(warm, c.w1_text(0))
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = await asyncio.gather(*(connect(a) for _ in range(a.n)))
    t1 = time.perf_counter_ns()
    await asyncio.gather(*(echo_once(ws, c.w1_text(1)) for ws in conns))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)


if __name__ == "__main__":
    table = {"W1": w1, "W2": w2, "W2z": w2, "W3": w3, "W3z": w3z, "W4": w4, "W5": w5}
    c.main({k: (lambda a, f=f: asyncio.run(f(a))) for k, f in table.items()})
