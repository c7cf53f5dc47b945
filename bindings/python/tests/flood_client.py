"""A slow consumer against a fast server, run by test_flow.py in its own
process so that its RSS is its own.

    python flood_client.py MODE URL LIMIT SECONDS

MODE: thread, poll, connect or async. URL: a server that sends without
end. LIMIT: ``max_queued_bytes`` in bytes, or ``default``. The consumer sleeps 1 ms every 100 messages (the slow
handler of issue 13, finding 4). Prints the number of messages consumed and
the peak RSS growth in KiB over the level before connecting; stops early
when the growth passes 512 MiB.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any, Dict

import wsnative
from helpers import rss_kib


# Growth at which the client stops at once: far above any bound tested.
GIVE_UP_KIB = 512 * 1024


class Consumer:
    def __init__(self, seconds: float) -> None:
        self.count = 0
        self.base = rss_kib()
        self.peak = self.base
        self.end = time.monotonic() + seconds

    def consume(self, data: Any) -> None:
        self.count += 1
        if self.count % 100 == 0:
            time.sleep(0.001)
        if self.count % 1000 == 0:
            self.sample()

    def sample(self) -> None:
        self.peak = max(self.peak, rss_kib())
        if self.peak - self.base > GIVE_UP_KIB:
            # Unbounded: report now rather than exhaust the machine.
            print(self.count, self.peak - self.base, flush=True)
            os._exit(0)

    def running(self) -> bool:
        return time.monotonic() < self.end


def main() -> None:
    mode, url, limit, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    options: Dict[str, Any] = {"close_timeout": 0.5}
    if limit != "default":
        options["max_queued_bytes"] = int(limit)
    c = Consumer(seconds)
    if mode == "thread":
        ws = wsnative.WebSocket(url, onmessage=lambda ev: c.consume(ev.data), **options)
        while c.running():
            time.sleep(0.02)
            c.sample()
    elif mode == "poll":
        ws = wsnative.WebSocket(url, dispatch="poll", onmessage=lambda ev: c.consume(ev.data), **options)
        while c.running():
            ws.poll(0.01)
            c.sample()
    elif mode == "connect":
        conn = wsnative.connect(url, **options)
        while c.running():
            c.consume(conn.recv(timeout=10))
        conn.close()
    elif mode == "async":

        async def run() -> None:
            aconn = await wsnative.connect_async(url, **options)
            while c.running():
                c.consume(await aconn.recv())
            await aconn.close()

        asyncio.run(run())
    else:
        raise SystemExit(f"unknown mode {mode}")
    c.sample()
    print(c.count, c.peak - c.base, flush=True)


if __name__ == "__main__":
    main()
