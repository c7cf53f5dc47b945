"""What a Python program does with wsnative, one scenario per process, run
under callgrind by generate.sh to list the extension's functions each one
executes (see ../build.rs). Against the benchmark server (bench/server):
``python scenarios.py NAME WS_PORT WSS_PORT CA_FILE``."""

from __future__ import annotations

import asyncio
import sys
import threading

import wsnative

NAME, WS, WSS, CA = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
PLAIN = f"ws://127.0.0.1:{WS}"
TLS = f"wss://127.0.0.1:{WSS}"
OPTIONS = dict(max_message_size=32 << 20, connect_timeout=30, close_timeout=5)


def receive(ws: wsnative.Connection, n: int) -> None:
    count = 0
    for msg in ws:
        assert msg[0] >= 0 and msg[-1] >= 0
        count += 1
        if count == n:
            break
    assert ws.recv().startswith("END")


def echo(ws: wsnative.Connection, rounds: int) -> None:
    for i in range(rounds):
        ws.send(f"{i:032d}")
        assert ws.recv() == f"{i:032d}"
        ws.send(bytes(100))
        assert ws.recv() == bytes(100)
    assert ws.ready_state == ws.OPEN and ws.protocol == "" and isinstance(ws.extensions, str)
    assert ws.buffered_amount >= 0 and ws.url


def sync(base: str, **extra: object) -> None:
    ws = wsnative.connect(f"{base}/send/20000/64", **OPTIONS, **extra)
    receive(ws, 20000)
    ws.close()
    with wsnative.connect(f"{base}/echo", **extra) as ws:
        echo(ws, 300)
        ws.close(1000, "done")
        assert ws.wait_closed(10) and ws.was_clean and ws.close_code == 1000
    with wsnative.connect(f"{base}/count/2000", **extra) as ws:
        for _ in range(2000):
            ws.send(bytes(64))
        assert ws.recv() == f"2000 {2000 * 64}"
    with wsnative.connect(f"{base}/big/{1 << 20}", **OPTIONS, **extra) as ws:
        for k in range(4):
            ws.send(bytes([48 + k]) * (1 << 20))
            assert len(ws.recv()) == 1 << 20


async def in_asyncio(base: str, **extra: object) -> None:
    ws = await wsnative.connect_async(f"{base}/send/20000/64", **OPTIONS, **extra)
    count = 0
    async for msg in ws:
        count += 1
        if count == 20000:
            break
    assert (await ws.recv()).startswith("END")
    await ws.close()
    async with wsnative.connect_async(f"{base}/echo", **extra) as ws:
        for i in range(300):
            await ws.send(f"{i:032d}")
            assert await ws.recv() == f"{i:032d}"


def handlers(base: str, dispatch: str, **extra: object) -> None:
    done = threading.Event()
    got: list = []

    def onmessage(ev: wsnative.MessageEvent) -> None:
        got.append(ev.data)
        if len(got) < 300:
            ws.send(ev.data)
        else:
            ws.close(1000, "done")

    def onclose(ev: wsnative.CloseEvent) -> None:
        assert ev.was_clean and ev.code == 1000 and ev.reason == "done"
        done.set()

    ws = wsnative.WebSocket(f"{base}/echo", dispatch=dispatch, onmessage=onmessage, onclose=onclose, **extra)
    ws.add_event_listener("open", lambda ev: ws.send("hello"))
    ws.add_event_listener("error", lambda ev: done.set())
    while not done.is_set():
        if dispatch == "poll":
            wsnative.poll(0.05)
        else:
            done.wait(0.05)
    assert len(got) == 300


def errors() -> None:
    for bad in ("http://[::1", "ws://127.0.0.1:1/"):
        try:
            wsnative.connect(bad, connect_timeout=5)
        except (wsnative.WebSocketSyntaxError, wsnative.ConnectionFailed) as e:
            assert str(e)
    with wsnative.connect(f"{PLAIN}/echo") as ws:
        try:
            ws.close(1005)
        except wsnative.InvalidAccessError:
            pass
    ws = wsnative.WebSocket("ws://127.0.0.1:1/", onerror=lambda ev: None)
    ws.close()


SCENARIOS = {
    "import": lambda: None,
    "sync": lambda: sync(PLAIN),
    "asyncio": lambda: asyncio.run(in_asyncio(PLAIN)),
    "thread": lambda: handlers(PLAIN, "thread"),
    "poll": lambda: handlers(PLAIN, "poll"),
    "tls": lambda: (sync(TLS, ca_file=CA), asyncio.run(in_asyncio(TLS, ca_file=CA)), handlers(TLS, "thread", ca_file=CA)),
    "errors": errors,
}

if __name__ == "__main__":
    SCENARIOS[NAME]()
    print(f"scenario {NAME}: ok")
