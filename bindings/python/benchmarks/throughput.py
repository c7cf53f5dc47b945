"""Receive throughput and round-trip latency of wsnative, against the
`websockets` package in the same run.

usage: python benchmarks/throughput.py ws://127.0.0.1:PORT/ [N]
(the URL of `wsnative-testserver`, which serves /count/<n>/<size>)
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import wsnative

URL = sys.argv[1].rstrip("/")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
ROUND_TRIPS = 5_000


def rate(label: str, n: int, seconds: float) -> None:
    print(f"{label:<44} {n / seconds / 1e6:6.2f} M msg/s  ({n} in {seconds:.3f} s)")


def latency(label: str, seconds: float) -> None:
    print(f"{label:<44} {seconds / ROUND_TRIPS * 1e6:6.1f} us per round trip")


def wsnative_sync() -> None:
    with wsnative.connect(f"{URL}/count/{N}/64", max_message_size=1 << 20) as ws:
        t = time.perf_counter()
        for _ in range(N):
            ws.recv()
        rate("wsnative connect() recv()", N, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            ws.send(b"x" * 64)
            ws.recv()
        latency("wsnative connect() send+recv", time.perf_counter() - t)


def wsnative_prequeued() -> None:
    # The binding's own cost: every message has already arrived.
    with wsnative.connect(f"{URL}/count/{N}/64") as ws:
        time.sleep(3)
        t = time.perf_counter()
        for _ in range(N):
            ws.recv()
        rate("wsnative recv(), messages already arrived", N, time.perf_counter() - t)


def wsnative_iter() -> None:
    with wsnative.connect(f"{URL}/count/{N}/64") as ws:
        t = time.perf_counter()
        n = 0
        for _ in ws:
            n += 1
            if n == N:
                break
        rate("wsnative connect() for message in ws", N, time.perf_counter() - t)


def wsnative_handlers() -> None:
    done = threading.Event()
    count = 0
    start = 0.0

    def onmessage(ev: object) -> None:
        nonlocal count
        count += 1
        if count == N:
            done.set()

    def onopen(ev: object) -> None:
        nonlocal start
        start = time.perf_counter()

    ws = wsnative.WebSocket(f"{URL}/count/{N}/64", onopen=onopen, onmessage=onmessage)
    done.wait(120)
    rate("wsnative WebSocket onmessage (thread)", count, time.perf_counter() - start)
    ws.close()


async def wsnative_async() -> None:
    async with wsnative.connect_async(f"{URL}/count/{N}/64") as ws:
        t = time.perf_counter()
        for _ in range(N):
            await ws.recv()
        rate("wsnative connect_async() await recv()", N, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            await ws.send(b"x" * 64)
            await ws.recv()
        latency("wsnative connect_async() send+recv", time.perf_counter() - t)


def websockets_sync() -> None:
    from websockets.sync.client import connect

    with connect(f"{URL}/count/{N}/64", max_size=1 << 20) as ws:
        t = time.perf_counter()
        for _ in range(N):
            ws.recv()
        rate("websockets.sync recv()", N, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            ws.send(b"x" * 64)
            ws.recv()
        latency("websockets.sync send+recv", time.perf_counter() - t)


async def websockets_async() -> None:
    from websockets.asyncio.client import connect

    async with connect(f"{URL}/count/{N}/64", max_size=1 << 20) as ws:
        t = time.perf_counter()
        for _ in range(N):
            await ws.recv()
        rate("websockets.asyncio await recv()", N, time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(ROUND_TRIPS):
            await ws.send(b"x" * 64)
            await ws.recv()
        latency("websockets.asyncio send+recv", time.perf_counter() - t)


def warm_up() -> None:
    # Starts the runtime threads and touches the memory a full run uses
    # (the first run of a process pays its page faults).
    with wsnative.connect(f"{URL}/count/{N}/64") as ws:
        for _ in range(N):
            ws.recv()


if __name__ == "__main__":
    warm_up()
    wsnative_sync()
    wsnative_prequeued()
    wsnative_iter()
    wsnative_handlers()
    asyncio.run(wsnative_async())
    if "--no-websockets" not in sys.argv:
        websockets_sync()
        asyncio.run(websockets_async())
