"""Small helpers shared by the tests."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, List, Tuple

import wsnative


class Recorder:
    """Collects a socket's events as tuples; `closed` is set at close."""

    def __init__(self) -> None:
        self.events: List[Tuple[Any, ...]] = []
        self.threads: List[int] = []
        self.closed = threading.Event()

    def __call__(self, ev: Any) -> None:
        self.threads.append(threading.get_ident())
        if ev.type == "open":
            self.events.append(("open",))
        elif ev.type == "message":
            self.events.append(("message", ev.data))
        elif ev.type == "error":
            self.events.append(("error", ev.message))
        else:
            self.events.append(("close", ev.code, ev.reason, ev.was_clean))
            self.closed.set()

    def kinds(self) -> List[str]:
        return [e[0] for e in self.events]

    def attach(self, ws: wsnative.WebSocket) -> None:
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = self

    def wait(self, timeout: float = 10) -> None:
        assert self.closed.wait(timeout), self.events


def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def rss_kib() -> int:
    """This process's resident memory, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")
