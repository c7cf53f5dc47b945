"""Flow control (issue 13, finding 4; issue 14): in every dispatch mode a
slow consumer of a fast server holds memory to the socket's
``max_queued_bytes``, and TCP pushes back on the server instead.

Each case runs flood_client.py in its own process against a hostile server
(``flood_url``: 4 KiB messages as fast as the kernel takes them, for ever)
and reads the peak RSS growth of that process while its consumer sleeps
1 ms every 100 messages. Before the fix every mode grew by 0.4 to 1 GiB a
second (the client stops at 512 MiB), and ``max_queued_bytes`` was an
unknown keyword (TypeError).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import wsnative

CLIENT = Path(__file__).with_name("flood_client.py")
SECONDS = 3.0
MIB = 1024 * 1024
FLOOD = "4096"
# The documented bound: the process grows by up to about three times
# max_queued_bytes (the waiting events count their payload + 96 bytes, and
# take more in memory: allocation slack of the payloads, the runtime's
# buffers, the allocator's retention under churn), plus a few MiB. Measured
# here: 4 MiB with a 1 MiB limit, 10 to 13 MiB with the 4 MiB default, 24 to
# 26 MiB with the 8 MiB default.
SLACK_KIB = 16 * 1024


def bound_kib(limit: int) -> int:
    return 3 * limit // 1024 + SLACK_KIB


def flood(mode: str, url: str, limit: str) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, str(CLIENT), mode, url + FLOOD, limit, str(SECONDS)],
        capture_output=True,
        text=True,
        timeout=SECONDS + 30,
    )
    assert done.returncode == 0, done.stderr
    count, growth_kib = map(int, done.stdout.split())
    return count, growth_kib


MODES = ["thread", "poll", "connect", "async"]
DEFAULTS = {"thread": MIB // 4, "poll": 8 * MIB, "connect": MIB // 8, "async": MIB // 8}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_slow_consumer_holds_memory_to_max_queued_bytes(flood_url: str, mode: str) -> None:
    count, growth = flood(mode, flood_url, str(1 * MIB))
    assert count > 10_000, "the consumer made no progress"
    assert growth < bound_kib(1 * MIB), f"{mode}: RSS grew by {growth} KiB with a 1 MiB limit"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", MODES)
def test_slow_consumer_holds_memory_to_the_default(flood_url: str, mode: str) -> None:
    count, growth = flood(mode, flood_url, "default")
    assert count > 10_000, "the consumer made no progress"
    assert growth < bound_kib(DEFAULTS[mode]), f"{mode}: RSS grew by {growth} KiB with the default limit"


@pytest.mark.parametrize("value", [0, 1, 1 << 40])
def test_max_queued_bytes_is_accepted_everywhere(refused_url: str, value: int) -> None:
    ws = wsnative.WebSocket(refused_url, max_queued_bytes=value)
    ws.close()
    ws = wsnative.WebSocket(refused_url, dispatch="poll", max_queued_bytes=value)
    ws.close()
    with pytest.raises(wsnative.ConnectionFailed):
        wsnative.connect(refused_url, max_queued_bytes=value)


@pytest.mark.parametrize("value", [-1, 1.5, "1M", 1 << 64])
def test_bad_max_queued_bytes_is_invalid_option(refused_url: str, value: object) -> None:
    with pytest.raises(wsnative.InvalidOptionError, match="max_queued_bytes"):
        wsnative.WebSocket(refused_url, max_queued_bytes=value)
    with pytest.raises(wsnative.InvalidOptionError, match="max_queued_bytes"):
        wsnative.connect(refused_url, max_queued_bytes=value)


def test_a_message_larger_than_the_limit_still_passes(testserver_url: str) -> None:
    with wsnative.connect(testserver_url + "count/3/100000", max_queued_bytes=1000) as ws:
        assert [len(ws.recv(timeout=10)) for _ in range(3)] == [100000] * 3
