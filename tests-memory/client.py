"""The Python side of the memory matrix (tests-memory/README.md).

    python client.py --mode thread|poll|sync|asyncio --url URL [--seconds 10]
                     [--max-queued BYTES] [--send-threshold BYTES]

Runs with the venv that holds the wsnative package. Same protocol with
matrix.py as client.c: prints "ready" once wsnative is imported (the
harness takes the baseline RSS) and waits for a line; connects and consumes
events as a plain program would for --seconds after open; closes (1000) and
waits for the close; prints "closed {json}" and waits for a line (the
harness takes the RSS after close); on "trim", calls glibc's malloc_trim(0)
(so that what the allocator keeps cached is not counted as wsnative's) and
prints "trimmed", then waits for a line; on "free", drops the socket,
collects, trims again and prints "freed" (for the log), waits for a line;
exits 0. The socket is kept alive until "free", as in client.c.

    thread   WebSocket(dispatch="thread") whose onmessage handler is slow:
             it sleeps 1 ms every 100 messages
    poll     WebSocket(dispatch="poll"), ws.poll() every 16 ms (a game loop)
    sync     connect(), a recv() loop that is slow the same way
    asyncio  connect_async(), async for

With --send-threshold N (the "server never reads" stream) the program
sends 16-byte binary messages while buffered_amount < N, as a careful
program does (bufferedAmount is the application's to bound).

Every socket gets max_queued_bytes=--max-queued. If this wsnative does not
know that keyword yet, the client runs without it and says so in its
report ("max_queued_bytes": "unsupported").

faulthandler ends the process (with every thread's traceback) after
--seconds + 40 s whatever happens.
"""

import argparse
import asyncio
import ctypes
import faulthandler
import gc
import json
import sys
import threading
import time
from typing import Any, Callable, Dict

import wsnative

SMALL = bytes(range(16))
# The close must come within the close timeout (5 s) plus the 2 s the
# library waits for the server to close TCP.
CLOSE_WAIT = 10


class Stats:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.sent = 0
        self.code = None
        self.was_clean = None
        self.errors = 0
        self.closed = threading.Event()
        self.opened = threading.Event()
        self.max_queued = "set"
        self.buffered_at_close = 0


def with_limit(make: Callable[..., Any], stats: Stats, limit: int, **kw: Any) -> Any:
    """make(**kw, max_queued_bytes=limit), or make(**kw) if the keyword is
    not known to this wsnative (noted in the report)."""
    try:
        return make(max_queued_bytes=limit, **kw)
    except TypeError as e:
        if "max_queued_bytes" not in str(e):
            raise
        stats.max_queued = "unsupported"
        return make(**kw)


def top_up(ws: Any, stats: Stats, threshold: int) -> None:
    while threshold and ws.buffered_amount < threshold:
        ws.send(SMALL)
        stats.sent += 1


def run_handlers(args: argparse.Namespace, stats: Stats, dispatch: str) -> Any:
    def onopen(ev: Any) -> None:
        stats.opened.set()

    def onmessage(ev: Any) -> None:
        stats.messages += 1
        stats.bytes += len(ev.data)
        if dispatch == "thread" and stats.messages % 100 == 0:
            time.sleep(0.001)  # a slow handler

    def onerror(ev: Any) -> None:
        stats.errors += 1
        print(f"client: error event: {ev.message}", file=sys.stderr)

    def onclose(ev: Any) -> None:
        stats.code, stats.was_clean = ev.code, ev.was_clean
        stats.closed.set()

    def make(**kw: Any) -> Any:
        return wsnative.WebSocket(args.url, dispatch=dispatch, onopen=onopen, onmessage=onmessage,
                                  onerror=onerror, onclose=onclose, connect_timeout=10, **kw)

    ws = with_limit(make, stats, args.max_queued)
    period = 0.016 if dispatch == "poll" else 0.001

    def pump(wait: float) -> None:
        if dispatch == "poll":
            ws.poll()
        time.sleep(wait)

    deadline = time.monotonic() + 10
    while not stats.opened.is_set() and not stats.closed.is_set() and time.monotonic() < deadline:
        pump(0.005)
    if not stats.opened.is_set():
        raise SystemExit("client: not open after 10 s")
    end = time.monotonic() + args.seconds
    while time.monotonic() < end and not stats.closed.is_set():
        pump(0)
        top_up(ws, stats, args.send_threshold)
        time.sleep(period)
    stats.buffered_at_close = ws.buffered_amount
    ws.close(1000)
    deadline = time.monotonic() + CLOSE_WAIT
    while not stats.closed.is_set() and time.monotonic() < deadline:
        pump(0.016)
    return ws


def run_sync(args: argparse.Namespace, stats: Stats) -> Any:
    def make(**kw: Any) -> Any:
        return wsnative.connect(args.url, connect_timeout=10, **kw)

    ws = with_limit(make, stats, args.max_queued)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        top_up(ws, stats, args.send_threshold)
        try:
            msg = ws.recv(timeout=0.016)
        except TimeoutError:
            continue
        except wsnative.ConnectionClosed:
            break
        stats.messages += 1
        stats.bytes += len(msg)
        if stats.messages % 100 == 0:
            time.sleep(0.001)  # a slow consumer
    stats.buffered_at_close = ws.buffered_amount
    ws.close(1000)
    if ws.wait_closed(timeout=CLOSE_WAIT):
        stats.code, stats.was_clean = ws.close_code, ws.was_clean
        stats.closed.set()
    if ws.error:
        stats.errors += 1
    return ws


async def run_asyncio(args: argparse.Namespace, stats: Stats) -> Any:
    def make(**kw: Any) -> Any:
        return wsnative.connect_async(args.url, connect_timeout=10, **kw)

    try:
        ws = await make(max_queued_bytes=args.max_queued)
    except TypeError as e:
        if "max_queued_bytes" not in str(e):
            raise
        stats.max_queued = "unsupported"
        ws = await make()

    async def consume() -> None:
        async for msg in ws:
            stats.messages += 1
            stats.bytes += len(msg)

    async def produce() -> None:
        while args.send_threshold:
            while ws.buffered_amount < args.send_threshold:
                await ws.send(SMALL)
                stats.sent += 1
            await asyncio.sleep(0.001)

    consumer = asyncio.ensure_future(consume())
    producer = asyncio.ensure_future(produce())
    await asyncio.wait([consumer], timeout=args.seconds)
    # One coroutine at a time may wait on a connection, close() included:
    # stop the consumer (it ends by itself only if the server closed).
    for task in (producer, consumer):
        task.cancel()
    await asyncio.gather(producer, consumer, return_exceptions=True)
    stats.buffered_at_close = ws.buffered_amount
    try:
        await asyncio.wait_for(ws.close(1000), CLOSE_WAIT)
    except asyncio.TimeoutError:
        return ws  # reported as "no close event"
    stats.code, stats.was_clean = ws.close_code, ws.was_clean
    stats.closed.set()
    return ws


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", required=True, choices=["thread", "poll", "sync", "asyncio"])
    ap.add_argument("--url", required=True)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--max-queued", type=int, default=8 << 20)
    ap.add_argument("--send-threshold", type=int, default=0)
    args = ap.parse_args()
    faulthandler.dump_traceback_later(args.seconds + 40, exit=True)

    stats = Stats()
    print("ready", flush=True)
    if not sys.stdin.readline():
        return 1
    if args.mode in ("thread", "poll"):
        ws = run_handlers(args, stats, args.mode)
    elif args.mode == "sync":
        ws = run_sync(args, stats)
    else:
        ws = asyncio.run(run_asyncio(args, stats))
    gc.collect()
    report: Dict[str, Any] = {
        "closed": stats.closed.is_set(),
        "code": stats.code,
        "was_clean": stats.was_clean,
        "errors": stats.errors,
        "messages": stats.messages,
        "bytes": stats.bytes,
        "sent": stats.sent,
        "buffered_at_close": stats.buffered_at_close,
        "max_queued_bytes": stats.max_queued,
    }
    print("closed " + json.dumps(report), flush=True)
    libc = ctypes.CDLL(None)
    if sys.stdin.readline() == "trim\n":
        libc.malloc_trim(0)
        print("trimmed", flush=True)
        if sys.stdin.readline() == "free\n":
            del ws
            gc.collect()
            libc.malloc_trim(0)
            print("freed", flush=True)
            sys.stdin.readline()
    return 0 if stats.closed.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
