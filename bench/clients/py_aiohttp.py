"""`aiohttp` (ClientSession.ws_connect, asyncio). permessage-deflate
(compress=15: "permessage-deflate; client_max_window_bits") is offered on
W2z/W3z only; the other workloads use compress=0."""

from __future__ import annotations

import asyncio
import time

import aiohttp

import pycommon as c


def opts(a: c.Args) -> dict:
    ctx = a.ssl_context()
    return dict(max_msg_size=0, compress=15 if a.compressed else 0, autoping=True, ssl=ctx if ctx else True)


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))


async def w1(a: c.Args) -> None:
    async with session() as s, s.ws_connect(a.url, **opts(a)) as ws:
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
    """W2 (binary) and W2z (text): every message's first and last byte is read."""
    async with session() as s:
        t0 = time.perf_counter_ns()
        ws = await s.ws_connect(a.url, **opts(a))
        count = nbytes = check = 0
        n = a.n
        if a.compressed:
            TEXT = aiohttp.WSMsgType.TEXT
            while count < n:
                msg = await ws.receive()
                if msg.type != TEXT:
                    raise AssertionError(f"W2z: {msg.type} after {count} messages")
                data = msg.data
                count += 1
                nbytes += len(data)
                check += ord(data[0]) + ord(data[-1])
        else:
            BINARY = aiohttp.WSMsgType.BINARY
            while count < n:
                msg = await ws.receive()
                if msg.type != BINARY:
                    raise AssertionError(f"W2: {msg.type} after {count} messages")
                data = msg.data
                count += 1
                nbytes += len(data)
                check += data[0] + data[-1]
        t1 = time.perf_counter_ns()
        msg = await ws.receive()
        trailer = c.check_trailer(count, nbytes, check, msg.data)
        c.report_rate(a.workload, a.n, t1 - t0, trailer=trailer, compress=ws.compress)
        await ws.close()


async def w3(a: c.Args) -> None:
    async with session() as s, s.ws_connect(a.url, **opts(a)) as ws:
        payload = b"\xa5" * a.size
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            await ws.send_bytes(payload)
        msg = await ws.receive()
        t1 = time.perf_counter_ns()
    c.check_w3(a, msg.data)
    c.report_rate("W3", a.n, t1 - t0)


async def w3z(a: c.Args) -> None:
    pool = c.json_pool()
    async with session() as s, s.ws_connect(a.url, **opts(a)) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            await ws.send_str(pool[i & 4095])
        msg = await ws.receive()
        t1 = time.perf_counter_ns()
    c.report_rate("W3z", a.n, t1 - t0, reply=c.check_zcount(a, msg.data))


async def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    async with session() as s, s.ws_connect(a.url, **opts(a)) as ws:
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
        warm = await s.ws_connect(a.url, **opts(a))
        await echo_once(warm, c.w1_text(0))
        rss0 = c.rss_kib()
        t0 = time.perf_counter_ns()
        conns = await asyncio.gather(*(s.ws_connect(a.url, **opts(a)) for _ in range(a.n)))
        t1 = time.perf_counter_ns()
        await asyncio.gather(*(echo_once(ws, c.w1_text(1)) for ws in conns))
        rss1 = c.rss_kib()
        c.report_conns(a, t1 - t0, rss0, rss1)
        import os

        os._exit(0)  # 2,000 orderly closes are not part of the measurement


if __name__ == "__main__":
    table = {"W1": w1, "W2": w2, "W2z": w2, "W3": w3, "W3z": w3z, "W4": w4, "W5": w5}
    c.main({k: (lambda a, f=f: asyncio.run(f(a))) for k, f in table.items()})
