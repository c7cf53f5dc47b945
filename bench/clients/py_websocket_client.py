"""`websocket-client` (blocking sockets, pure Python). It has no
permessage-deflate: W2z and W3z run uncompressed (the server says so)."""

from __future__ import annotations

import time

import websocket

import pycommon as c


def connect(a: c.Args) -> websocket.WebSocket:
    sslopt = {"ca_certs": a.ca} if a.tls else None
    return websocket.create_connection(a.url, timeout=120, sslopt=sslopt)


def w1(a: c.Args) -> None:
    ws = connect(a)
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
    """W2 (binary) and W2z (text): every message's first and last byte is read."""
    t0 = time.perf_counter_ns()
    ws = connect(a)
    count = nbytes = check = 0
    n = a.n
    if a.compressed:
        while count < n:
            msg = ws.recv()
            if type(msg) is not str:
                raise AssertionError("W2z: binary message")
            count += 1
            nbytes += len(msg)
            check += ord(msg[0]) + ord(msg[-1])
    else:
        while count < n:
            msg = ws.recv()
            if type(msg) is not bytes:
                raise AssertionError("W2: text message")
            count += 1
            nbytes += len(msg)
            check += msg[0] + msg[-1]
    t1 = time.perf_counter_ns()
    trailer = c.check_trailer(count, nbytes, check, ws.recv())
    c.report_rate(a.workload, a.n, t1 - t0, trailer=trailer)
    ws.close()


def w3(a: c.Args) -> None:
    ws = connect(a)
    payload = b"\xa5" * a.size
    t0 = time.perf_counter_ns()
    for _ in range(a.n):
        ws.send_bytes(payload)
    reply = ws.recv()
    t1 = time.perf_counter_ns()
    ws.close()
    c.check_w3(a, reply)
    c.report_rate("W3", a.n, t1 - t0)


def w3z(a: c.Args) -> None:
    pool = c.json_pool()
    ws = connect(a)
    t0 = time.perf_counter_ns()
    for i in range(a.n):
        ws.send(pool[i & 4095])
    reply = ws.recv()
    t1 = time.perf_counter_ns()
    ws.close()
    c.report_rate("W3z", a.n, t1 - t0, reply=c.check_zcount(a, reply))


def w4(a: c.Args) -> None:
    payloads = c.w4_payloads(a.size)
    ws = connect(a)
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
    warm = connect(a)
    echo_once(warm, c.w1_text(0))
    rss0 = c.rss_kib()
    t0 = time.perf_counter_ns()
    conns = [connect(a) for _ in range(a.n)]
    t1 = time.perf_counter_ns()
    for ws in conns:
        echo_once(ws, c.w1_text(1))
    rss1 = c.rss_kib()
    c.report_conns(a, t1 - t0, rss0, rss1)


if __name__ == "__main__":
    c.main({"W1": w1, "W2": w2, "W2z": w2, "W3": w3, "W3z": w3z, "W4": w4, "W5": w5})
