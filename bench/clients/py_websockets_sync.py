"""`websockets` (threading implementation, websockets.sync.client)."""

from __future__ import annotations

import time

from websockets.sync.client import connect

import pycommon as c

OPTS = dict(max_size=None, compression=None, open_timeout=120)


def w1(a: c.Args) -> None:
    with connect(a.url, **OPTS) as ws:
        samples = []
        for i in range(a.warmup + a.n):
            text = c.w1_text(i)
            t = time.perf_counter_ns()
            ws.send(text)
            if ws.recv() != text:
                raise AssertionError(f"W1: bad echo for round trip {i}")
            if i >= a.warmup:
                samples.append(time.perf_counter_ns() - t)
    c.report_latency(a, samples)


def w2(a: c.Args) -> None:
    t0 = time.perf_counter_ns()
    ws = connect(a.url, **OPTS)
    count = nbytes = 0
    last = b""
    n = a.n
    while count < n:
        msg = ws.recv()
        if type(msg) is not bytes:
            raise AssertionError("W2: text message")
        count += 1
        nbytes += len(msg)
        last = msg
    t1 = time.perf_counter_ns()
    c.check_w2(a, count, nbytes, last)
    c.report_rate("W2", a.n, t1 - t0)
    ws.close()


def w3(a: c.Args) -> None:
    with connect(a.url, **OPTS) as ws:
        payload = b"\xa5" * a.size
        t0 = time.perf_counter_ns()
        for _ in range(a.n):
            ws.send(payload)
        reply = ws.recv()
        t1 = time.perf_counter_ns()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0)


def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    with connect(a.url, **OPTS) as ws:
        t0 = time.perf_counter_ns()
        for i in range(a.n):
            ws.send(payloads[i % 4])
            c.w4_check(i, a.size, ws.recv())
        t1 = time.perf_counter_ns()
    c.report_big(a, t1 - t0)


def echo_once(ws, text: str) -> None:
    ws.send(text)
    if ws.recv() != text:
        raise AssertionError("W5: bad echo")


def w5(a: c.Args) -> None:
    warm = connect(a.url, **OPTS)
    echo_once(warm, c.w1_text(0))
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = [connect(a.url, **OPTS) for _ in range(a.n)]  # one background thread each
    t1 = time.perf_counter_ns()
    for ws in conns:
        echo_once(ws, c.w1_text(1))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)
    import os

    os._exit(0)  # 2,000 orderly closes are not part of the measurement


if __name__ == "__main__":
    c.main({"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5})
