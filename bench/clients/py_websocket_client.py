"""`websocket-client` (blocking sockets, pure Python)."""

from __future__ import annotations

import time

import websocket

import pycommon as c


def connect(url: str) -> websocket.WebSocket:
    return websocket.create_connection(url, timeout=120)


def w1(a: c.Args) -> None:
    ws = connect(a.url)
    samples = []
    for i in range(a.warmup + a.n):
        text = c.w1_text(i)
        t = time.perf_counter_ns()
        ws.send(text)
        if ws.recv() != text:
            raise AssertionError(f"W1: bad echo for round trip {i}")
        if i >= a.warmup:
            samples.append(time.perf_counter_ns() - t)
    ws.close()
    c.report_latency(a, samples)


def w2(a: c.Args) -> None:
    t0 = time.perf_counter_ns()
    ws = connect(a.url)
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
    ws = connect(a.url)
    payload = b"\xa5" * a.size
    t0 = time.perf_counter_ns()
    for _ in range(a.n):
        ws.send_bytes(payload)
    reply = ws.recv()
    t1 = time.perf_counter_ns()
    ws.close()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0)


def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    ws = connect(a.url)
    t0 = time.perf_counter_ns()
    for i in range(a.n):
        ws.send_bytes(payloads[i % 4])
        c.w4_check(i, a.size, ws.recv())
    t1 = time.perf_counter_ns()
    ws.close()
    c.report_big(a, t1 - t0)


def echo_once(ws: websocket.WebSocket, text: str) -> None:
    ws.send(text)
    if ws.recv() != text:
        raise AssertionError("W5: bad echo")


def w5(a: c.Args) -> None:
    warm = connect(a.url)
    echo_once(warm, c.w1_text(0))
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = [connect(a.url) for _ in range(a.n)]
    t1 = time.perf_counter_ns()
    for ws in conns:
        echo_once(ws, c.w1_text(1))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)


if __name__ == "__main__":
    c.main({"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5})
