"""`aiohttp` (ClientSession.ws_connect, asyncio)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

import pycommon as c

OPTS = dict(max_msg_size=0, compress=0, autoping=True)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))


async def w1(a: c.Args) -> None:
    async with session() as s, s.ws_connect(a.url, **OPTS) as ws:
        samples = []
        for i in range(a.warmup + a.n):
            text = c.w1_text(i)
            t = time.perf_counter_ns()
            await ws.send_str(text)
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT or msg.data != text:
                raise AssertionError(f"W1: bad echo for round trip {i}")
            if i >= a.warmup:
                samples.append(time.perf_counter_ns() - t)
    c.report_latency(a, samples)


async def w2(a: c.Args) -> None:
    async with session() as s:
        t0 = time.perf_counter_ns()
        ws = await s.ws_connect(a.url, **OPTS)
        count = nbytes = 0
        last = b""
        n = a.n
        BINARY = aiohttp.WSMsgType.BINARY
        while count < n:
            msg = await ws.receive()
            if msg.type != BINARY:
                raise AssertionError(f"W2: {msg.type} after {count} messages")
            data = msg.data
            count += 1
            nbytes += len(data)
            last = data
        t1 = time.perf_counter_ns()
        c.check_w2(a, count, nbytes, last)
        c.report_rate("W2", a.n, t1 - t0)
        await ws.close()


async def w3(a: c.Args) -> None:
    async with session() as s, s.ws_connect(a.url, **OPTS) as ws:
        payload = b"\xa5" * a.size
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            await ws.send_bytes(payload)
        msg = await ws.receive()
        t1 = time.perf_counter_ns()
    c.check_w3(a, msg.data)
    c.report_rate("W3", a.n, t1 - t0)


async def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    async with session() as s, s.ws_connect(a.url, **OPTS) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send_bytes(payloads[i % 4])
            msg = await ws.receive()
            c.w4_check(i, a.size, msg.data)
        t1 = time.perf_counter_ns()
    c.report_big(a, t1 - t0)


async def echo_once(ws, text: str) -> None:
    await ws.send_str(text)
    msg = await ws.receive()
    if msg.data != text:
        raise AssertionError("W5: bad echo")


async def w5(a: c.Args) -> None:
    async with session() as s:
        warm = await s.ws_connect(a.url, **OPTS)
        await echo_once(warm, c.w1_text(0))
        rss0 = c.rss_kib()
        t0 = time.perf_counter_ns()
        conns = await asyncio.gather(*(s.ws_connect(a.url, **OPTS) for _ in range(a.n)))
        t1 = time.perf_counter_ns()
        await asyncio.gather(*(echo_once(ws, c.w1_text(1)) for ws in conns))
        rss1 = c.rss_kib()
        c.report_conns(a, t1 - t0, rss0, rss1)
        import os

        os._exit(0)  # 2,000 orderly closes are not part of the measurement


if __name__ == "__main__":
    c.main({k: (lambda a, f=f: asyncio.run(f(a))) for k, f in {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5}.items()})
