"""What every Python benchmark client shares: arguments, checks and the one
JSON line of results. The workloads are described in bench/README.md."""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import traceback
from typing import Callable, Dict, List, Optional

DEFAULTS = {
    "W1": (20_000, 32),
    "W2": (1_000_000, 64),
    "W3": (1_000_000, 64),
    "W4": (64, 16 << 20),
    "W5": (2_000, 32),
    "W2z": (500_000, 0),
    "W3z": (500_000, 0),
}


class Args:
    workload: str
    url: str
    n: int
    size: int
    warmup: int
    api: str
    ca: Optional[str]

    @property
    def compressed(self) -> bool:
        """W2z/W3z: offer permessage-deflate (where the library can)."""
        return self.workload.endswith("z")

    @property
    def tls(self) -> bool:
        return self.url.startswith("wss://")

    def ssl_context(self) -> Optional[ssl.SSLContext]:
        """For wss://: trusts the --ca file only (TLS 1.3 is what the server offers)."""
        return ssl.create_default_context(cafile=self.ca) if self.tls else None


def parse() -> Args:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", required=True, choices=sorted(DEFAULTS))
    p.add_argument("--url", required=True)
    p.add_argument("--n", type=int)
    p.add_argument("--size", type=int)
    p.add_argument("--warmup", type=int, default=1_000)
    p.add_argument("--api", default="")
    p.add_argument("--ca", help="the CA file to trust for wss://")
    a = p.parse_args(namespace=Args())
    n, size = DEFAULTS[a.workload]
    a.n = a.n or n
    a.size = a.size if a.size is not None else size
    return a


def report(workload: str, **fields: object) -> None:
    print(json.dumps({"workload": workload, "ok": True, **fields}), flush=True)


def fail(workload: str, msg: str) -> None:
    print(json.dumps({"workload": workload, "ok": False, "error": msg}), flush=True)
    sys.exit(1)


def w1_text(i: int) -> str:
    """The W1 text of round trip i: 32 ASCII digits."""
    return f"{i:032d}"


def w4_payloads(size: int) -> List[bytes]:
    """Payload k is `size` bytes of '0' + k."""
    return [bytes([48 + k]) * size for k in range(4)]


def w4_check(i: int, size: int, data: object) -> None:
    want = 48 + i % 4
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) != size:
        raise AssertionError(f"W4 echo {i}: wrong type or length")
    if data[0] != want or data[size // 2] != want or data[size - 1] != want:
        raise AssertionError(f"W4 echo {i}: wrong content")


def check_trailer(count: int, nbytes: int, check: int, trailer: object) -> str:
    """Compares what was received (count, bytes, sum of every message's first
    and last byte) with the server's trailer "END <count> <bytes> <check> ..."."""
    want = f"END {count} {nbytes} {check}"
    if not isinstance(trailer, str) or trailer.split(" ")[:4] != want.split(" "):
        raise AssertionError(f"received {want!r}, the server sent {trailer!r}")
    return trailer


def check_zcount(args: Args, reply: object) -> str:
    """The W3z reply "<count> <wire bytes> <compressed> <pmd>": checks the count."""
    if not isinstance(reply, str) or reply.split(" ")[0] != str(args.n):
        raise AssertionError(f"W3z: server counted {reply!r}, expected {args.n} messages")
    return reply


SYMBOLS = ["AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"]
VENUES = ["XNAS", "XNYS", "ARCX", "BATS"]
NOTES = [
    "limit order from the web client",
    "rebalance of the model portfolio",
    "manual order from the phone desk",
    "algorithmic slice of a larger parent order",
]


def json_message(i: int) -> str:
    """The JSON-like text message i of W2z and W3z (the server and every
    client build the same strings)."""
    px = 10_000 + (i * 7919) % 90_000
    return (
        f'{{"id":{i},"type":"order","symbol":"{SYMBOLS[i % 8]}","side":"{"sell" if i % 3 == 0 else "buy"}",'
        f'"price":{px // 100}.{px % 100:02d},"qty":{1 + (i * 104_729) % 5000},"ts":{1_764_460_800_000 + i * 37},'
        f'"venue":"{VENUES[(i // 8) % 4]}","account":"ACC-{(i * 31_337) % 100_000:05d}","note":"{NOTES[(i // 3) % 4]}"}}'
    )


def json_pool() -> List[str]:
    """The 4,096 distinct messages W3z sends in turn (message i is pool[i % 4096])."""
    return [json_message(i) for i in range(4096)]


def report_latency(args: Args, samples_ns: List[int], **extra: object) -> None:
    s = sorted(samples_ns)
    n = len(s)
    report(
        "W1",
        n=n,
        p50_us=s[int(n * 0.50)] / 1e3,
        p99_us=s[min(int(n * 0.99), n - 1)] / 1e3,
        mean_us=sum(s) / n / 1e3,
        **extra,
    )


def check_w3(args: Args, reply: object) -> None:
    want = f"{args.n} {args.n * args.size}"
    if reply != want:
        raise AssertionError(f"W3: server counted {reply!r}, expected {want!r}")


def report_rate(workload: str, n: int, elapsed_ns: int, **extra: object) -> None:
    s = elapsed_ns / 1e9
    report(workload, n=n, seconds=s, msgs_per_s=n / s, **extra)


def report_big(args: Args, elapsed_ns: int) -> None:
    s = elapsed_ns / 1e9
    report("W4", n=args.n, seconds=s, mib_per_s=args.n * args.size / (1 << 20) / s)


def report_conns(args: Args, open_ns: int, rss0: int, rss1: int) -> None:
    report(
        "W5",
        n=args.n,
        open_seconds=open_ns / 1e9,
        kib_per_conn=(rss1 - rss0) / args.n,
        rss_before_kib=rss0,
        rss_after_kib=rss1,
    )


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(workloads: Dict[str, Callable[[Args], None]]) -> None:
    args = parse()
    try:
        workloads[args.workload](args)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - any failure is reported as a result line
        traceback.print_exc()
        fail(args.workload, f"{type(e).__name__}: {e}")
