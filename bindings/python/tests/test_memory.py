"""Memory: 10,000 open/close cycles leave no growth (issue: hardening).

Each style is exercised: the browser-style object with handlers, the
blocking connect(), and asyncio. RSS after a warm-up is compared with RSS
after 10,000 more cycles: a leak of even 200 bytes per cycle would show as
2 MB.
"""

import asyncio
import gc
import threading

import pytest

import wsnative
from helpers import rss_kib

CYCLES = 10_000


def handler_cycle(url: str) -> None:
    done = threading.Event()
    seen = []

    def onopen(ev):
        ws.send(b"x" * 64)

    def onmessage(ev):
        seen.append(ev.data)
        ws.close(1000)

    def onclose(ev):
        seen.append(ev.code)
        done.set()

    ws = wsnative.WebSocket(url, onopen=onopen, onmessage=onmessage, onclose=onclose)
    assert done.wait(10), "no close event"
    assert seen == [b"x" * 64, 1000], seen


def sync_cycle(url: str) -> None:
    with wsnative.connect(url) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "ping"


def measure(cycle, url: str) -> int:
    for _ in range(1_000):  # warm-up: allocator pools, caches, runtime threads
        cycle(url)
    gc.collect()
    before = rss_kib()
    for _ in range(CYCLES):
        cycle(url)
    gc.collect()
    return rss_kib() - before


@pytest.mark.timeout(300)
def test_no_growth_with_handlers(testserver_url: str) -> None:
    growth = measure(handler_cycle, testserver_url)
    assert growth < 2048, f"RSS grew by {growth} KiB over {CYCLES} cycles"


@pytest.mark.timeout(300)
def test_no_growth_with_connect(testserver_url: str) -> None:
    growth = measure(sync_cycle, testserver_url)
    assert growth < 2048, f"RSS grew by {growth} KiB over {CYCLES} cycles"


@pytest.mark.timeout(300)
def test_no_growth_with_asyncio(testserver_url: str) -> None:
    async def cycles(n: int) -> None:
        for _ in range(n):
            async with wsnative.connect_async(testserver_url) as ws:
                await ws.send(b"\x00\x01")
                assert await ws.recv() == b"\x00\x01"

    asyncio.run(cycles(1_000))
    gc.collect()
    before = rss_kib()
    asyncio.run(cycles(CYCLES))
    gc.collect()
    growth = rss_kib() - before
    assert growth < 2048, f"RSS grew by {growth} KiB over {CYCLES} cycles"


def test_import_loads_no_heavy_standard_modules() -> None:
    # `import wsnative` in a fresh interpreter loads neither asyncio (with
    # ssl and OpenSSL: about 9 MB, loaded on first use of connect_async)
    # nor typing (half a megabyte; annotations only need it for checkers).
    import subprocess
    import sys

    probe = "import sys, wsnative; print(sorted({'asyncio', 'ssl', 'typing'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
    # The lazy names still resolve.
    lazy = "import wsnative; print(wsnative.connect_async.__name__, wsnative.AsyncConnection.__name__)"
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["connect_async", "AsyncConnection"], out.stderr
