#!/usr/bin/env python3
"""Runs the wsnative benchmark: every client against the same WebSocket
server on loopback (pre-encoded streams, header-only counting; TCP and TLS
1.3), server and client pinned to different cores, several runs each; the
server's CPU share is recorded for every run. Writes
bench/results/latest.json and latest.md and prints the tables. `make bench`
builds everything first; see bench/README.md.

Usage: python3 bench/run.py [--runs N] [--slow-runs N] [--quick]
                            [--clients id,id] [--workloads W1,W2s,W2z]
                            [--baseline REV]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RELEASE = ROOT / "target" / "release"
BUILD = ROOT / "build" / "bench"
CLIENTS_DIR = BENCH / "clients"
VENV_PY = BENCH / ".venv" / "bin" / "python"
NODE_DIR = BENCH / "node"
RESULTS = BENCH / "results"

sys.path.insert(0, str(CLIENTS_DIR))
import pycommon  # noqa: E402  (the JSON messages of W3z, for its compression ratio)

# Cells: W1..W5 over TCP; W1s..W4s the same over TLS 1.3 (wss://);
# W2z/W3z receive and send JSON-like texts with permessage-deflate offered.
PLAIN = ["W1", "W2", "W3", "W4", "W5"]
TLS = ["W1s", "W2s", "W3s", "W4s"]
ZIP = ["W2z", "W3z"]
# W5 over TLS 1.3 once per trust option of wsnative's (wsnative's C client
# only): the bench CA trusted through the operating system's store
# (SSL_CERT_FILE: the system bundle plus the bench CA), as a CA file or as
# PEM text added to that store, or as the only anchor (exclusive).
TRUST = {"W5s-os": "os", "W5s-file": "file", "W5s-pem": "pem", "W5s-excl": "exclusive"}
WORKLOADS = PLAIN + TLS + ZIP + list(TRUST)
CORE_WORKLOADS = PLAIN + TLS + ZIP
GROUPS = [("Plain TCP (ws://)", PLAIN), ("TLS 1.3 (wss://)", TLS), ("permessage-deflate (JSON-like texts, ws://)", ZIP),
          ("W5 over TLS 1.3, per trust option (wsnative's C client)", list(TRUST))]

# Sizes per base workload: W1 20,000 round trips of 32 B; W2/W3 1,000,000 x
# 64 B; W4 64 x 16 MiB; W5 2,000 connections; W2z 200,000 and W3z 100,000
# texts of about 180 B.
DEFAULT_N = {"W1": 20_000, "W2": 1_000_000, "W3": 1_000_000, "W4": 64, "W5": 2_000, "W2z": 200_000, "W3z": 100_000}
QUICK_N = {"W1": 2_000, "W2": 100_000, "W3": 100_000, "W4": 4, "W5": 200, "W2z": 20_000, "W3z": 20_000}
# TLS cells that would take longest are halved (W1s 10,000 round trips, W4s
# 32 echoes), to keep a complete run within about 15 minutes.
CELL_MAX = {"W1s": 10_000, "W4s": 32}
SIZE = {"W1": 32, "W2": 64, "W3": 64, "W4": 16 << 20, "W5": 32, "W2z": 0, "W3z": 0}
SERVER_BOUND = 0.60  # server CPU share above which a cell is flagged
REFS = [("rust", "tokio-tungstenite"), ("fastwebsockets", "fastwebsockets")]


def base(w: str) -> str:
    """The workload a client is asked for: W2s -> W2, W2z -> W2z."""
    return w if w.endswith("z") else w[:2]


def is_tls(w: str) -> bool:
    return w.endswith("s") or w in TRUST


# (key in the client's JSON line, column title, higher_is_better, format)
BASE_METRICS: Dict[str, List[Tuple[str, str, bool, str]]] = {
    "W1": [("p50_us", "p50 µs", False, "lat"), ("p99_us", "p99 µs", False, "lat")],
    "W2": [("msgs_per_s", "recv msg/s", True, "rate"), ("peak_rss_mib", "peak RSS MiB", False, "mib1")],
    "W3": [("msgs_per_s", "send msg/s", True, "rate")],
    "W4": [("mib_per_s", "MiB/s", True, "mib")],
    "W5": [("open_seconds", "open s", False, "sec"), ("kib_per_conn", "KiB/conn", False, "kib")],
    "W2z": [("msgs_per_s", "recv msg/s", True, "rate")],
    "W3z": [("msgs_per_s", "send msg/s", True, "rate")],
}
METRICS = {w: [(k, f"{w} {t}", h, f) for k, t, h, f in BASE_METRICS[base(w)]] for w in WORKLOADS}


@dataclass
class Client:
    id: str
    label: str
    group: str  # "ref", "c", "python-wsnative", "python", "node"
    cmd: List[str]
    slow: bool = False
    workloads: List[str] = field(default_factory=lambda: list(CORE_WORKLOADS))
    n: Dict[str, int] = field(default_factory=dict)  # per base workload overrides
    raw: bool = False  # talks to the raw TCP port
    compresses: bool = False  # offers permessage-deflate on W2z/W3z
    missing: str = ""  # why it cannot run, if it cannot

    def count(self, w: str, quick: bool) -> int:
        n = min(self.n.get(base(w), DEFAULT_N[base(w)]), default_count(w, quick))
        return n


def default_count(w: str, quick: bool) -> int:
    """The count of cell `w` for a client without reduced counts."""
    if quick:
        return QUICK_N[base(w)]
    return min(DEFAULT_N[base(w)], CELL_MAX.get(w, DEFAULT_N[base(w)]))


def pkg_version(py: Path, name: str) -> str:
    try:
        out = subprocess.run(
            [str(py), "-c", f"import importlib.metadata as m; print(m.version({name!r}))"],
            capture_output=True, text=True, timeout=30,
        )
        return out.stdout.strip() or "?"
    except Exception:
        return "?"


def lws_version() -> str:
    try:
        return subprocess.run(["pkg-config", "--modversion", "libwebsockets"], capture_output=True, text=True).stdout.strip().rstrip("-")
    except Exception:
        return "?"


def node_versions() -> Tuple[str, str]:
    try:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        node = ""
    try:
        ws = json.loads((NODE_DIR / "node_modules" / "ws" / "package.json").read_text())["version"]
    except Exception:
        ws = ""
    return node, ws


def lock_version(crate: str) -> str:
    m = re.search(r'name = "%s"\nversion = "([^"]+)"' % re.escape(crate), (ROOT / "Cargo.lock").read_text())
    return m.group(1) if m else "?"


def make_baseline(rev: str) -> Client:
    """wsnative's C client built against revision `rev`'s library
    (bench/baseline.sh: a git worktree and target directory under
    build/bench-baseline/), for W1 and W5 only: what a direct connection
    costs now against then, in the same run."""
    label = f"wsnative at {rev} (baseline), C ABI (immediate dispatch)"
    r = subprocess.run(["sh", str(BENCH / "baseline.sh"), rev], capture_output=True, text=True, cwd=ROOT)
    path = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else ""
    short = Path(path).name.split("@", 1)[-1] if path else rev
    c = Client(f"wsnative-c@{short}", label.replace(rev, short), "c", [path or "wsnative_c@baseline"],
               workloads=["W1", "W5"])
    if not path:
        tail = (r.stderr.strip().splitlines() or ["?"])[-1]
        c.missing = f"the baseline {rev} did not build (sh bench/baseline.sh {rev}): {tail}"
    return c


def make_clients(baseline: Optional[str] = None) -> List[Client]:
    py = str(VENV_PY)
    slow_n = {"W1": 10_000, "W2": 200_000, "W3": 100_000, "W4": 16, "W2z": 50_000, "W3z": 50_000}
    have_venv = VENV_PY.exists()
    ws_v = pkg_version(VENV_PY, "websockets") if have_venv else "?"
    wc_v = pkg_version(VENV_PY, "websocket-client") if have_venv else "?"
    ah_v = pkg_version(VENV_PY, "aiohttp") if have_venv else "?"
    node_v, nodews_v = node_versions()
    clients = [
        Client("raw-tcp", "Raw TCP, blocking sockets (physical reference)", "ref", [str(RELEASE / "bench-rawtcp")],
               raw=True, workloads=list(PLAIN)),
        Client("ws-bound", "WebSocket bound: pre-masked frames, no client work (W4 only)", "ref",
               [str(RELEASE / "bench-rawtcp"), "--ws"], workloads=["W4"]),
        Client("rust", f"Rust tokio-tungstenite {lock_version('tokio-tungstenite')} (feed+flush)", "ref",
               [str(RELEASE / "bench-tungstenite")]),
        Client("fastwebsockets", f"Rust fastwebsockets {lock_version('fastwebsockets')} (hyper upgrade, BufWriter)", "ref",
               [str(RELEASE / "bench-fastwebsockets")]),
        Client("wsnative-c", "wsnative, C ABI (immediate dispatch)", "c", [str(BUILD / "wsnative_c")], compresses=True,
               workloads=CORE_WORKLOADS + list(TRUST)),
        *([make_baseline(baseline)] if baseline else []),
        Client("wsnative-c-queued", "wsnative, C ABI (queued, ws_poll)", "c",
               [str(BUILD / "wsnative_c"), "--mode", "queued"], workloads=["W1", "W1s"]),
        Client("lws", f"libwebsockets {lws_version()} (C)", "c", [str(BUILD / "lws_client")],
               n={"W3": 200_000, "W4": 16, "W2z": 100_000, "W3z": 50_000}, compresses=True),
        Client("wsnative-py-sync", "wsnative Python, connect() (blocking)", "python-wsnative",
               [py, str(CLIENTS_DIR / "py_wsnative.py"), "--api", "sync"], compresses=True),
        Client("wsnative-py-async", "wsnative Python, connect_async() (asyncio)", "python-wsnative",
               [py, str(CLIENTS_DIR / "py_wsnative.py"), "--api", "async"], compresses=True),
        Client("wsnative-py-browser", "wsnative Python, WebSocket + onmessage", "python-wsnative",
               [py, str(CLIENTS_DIR / "py_wsnative.py"), "--api", "browser"], compresses=True),
        Client("websockets-asyncio", f"websockets {ws_v} (asyncio)", "python",
               [py, str(CLIENTS_DIR / "py_websockets_asyncio.py")], slow=True, n=dict(slow_n), compresses=True),
        Client("websockets-sync", f"websockets {ws_v} (sync, threads)", "python",
               [py, str(CLIENTS_DIR / "py_websockets_sync.py")], slow=True, n=dict(slow_n), compresses=True),
        Client("websocket-client", f"websocket-client {wc_v}", "python",
               [py, str(CLIENTS_DIR / "py_websocket_client.py")], slow=True, n=dict(slow_n)),
        Client("aiohttp", f"aiohttp {ah_v}", "python", [py, str(CLIENTS_DIR / "py_aiohttp.py")], slow=True,
               n=dict(slow_n), compresses=True),
        Client("node-ws", f"Node.js {node_v or '?'} ws {nodews_v or '?'}", "node",
               ["node", str(CLIENTS_DIR / "node_ws.mjs")], slow=True,
               n={"W1": 10_000, "W2": 200_000, "W3": 200_000, "W4": 16, "W2z": 50_000, "W3z": 20_000}, compresses=True),
    ]
    for c in clients:
        exe = Path(c.cmd[0])
        if c.group == "node":
            if not shutil.which("node"):
                c.missing = "node not installed"
            elif not nodews_v:
                c.missing = "bench/node/node_modules/ws not installed (make -C bench node)"
        elif c.missing:
            pass
        elif not exe.exists():
            c.missing = f"{exe.relative_to(ROOT) if exe.is_relative_to(ROOT) else exe} not built"
        elif c.group == "python-wsnative":
            r = subprocess.run([py, "-c", "import wsnative"], capture_output=True, text=True)
            if r.returncode:
                c.missing = "wsnative Python package not installed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    return clients


# --- machine and noise ---


def machine_info() -> Dict[str, object]:
    info: Dict[str, object] = {}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for key in ("Model name", "Hypervisor vendor", "Thread(s) per core", "L3 cache"):
            m = re.search(rf"^{re.escape(key)}:\s*(.+)$", lscpu, re.M)
            if m:
                info[key.lower().replace(" ", "_").replace("(s)", "s")] = m.group(1).strip()
    except Exception:
        pass
    info["cpus"] = os.cpu_count()
    mem = Path("/proc/meminfo").read_text()
    m = re.search(r"MemTotal:\s*(\d+)", mem)
    info["memory_gib"] = round(int(m.group(1)) / 1024 / 1024, 1) if m else None
    info["kernel"] = platform.release()
    try:
        osr = Path("/etc/os-release").read_text()
        m = re.search(r'PRETTY_NAME="([^"]+)"', osr)
        info["os"] = m.group(1) if m else "?"
    except Exception:
        pass
    info["python"] = platform.python_version()
    try:
        info["rustc"] = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    try:
        info["openssl"] = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    except Exception:
        pass
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        info["commit"] = rev + ("+uncommitted changes" if dirty else "")
    except Exception:
        pass
    info["fastwebsockets"] = lock_version("fastwebsockets")
    info["rustls"] = lock_version("rustls")
    return info


def cpu_busy_ticks() -> Tuple[int, int]:
    """(busy, total) jiffies over every CPU, from /proc/stat."""
    f = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    v = [int(x) for x in f]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    total = sum(v[:8])
    return total - idle, total


def own_cpu_seconds() -> float:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def children_cpu_seconds() -> float:
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return c.ru_utime + c.ru_stime


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# --- running ---


class Server:
    def __init__(self, core: int, deflate_messages: int):
        exe = RELEASE / "wsnative-bench-server"
        if not exe.exists():
            sys.exit(f"{exe} not built: run `make bench`")
        BUILD.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), str(exe), "--ca-out", str(BUILD / "bench-ca.pem"),
             "--deflate-messages", str(deflate_messages)],
            stdout=subprocess.PIPE, text=True, preexec_fn=raise_nofile,
        )
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        m = re.match(r"READY ws=(\d+) wss=(\d+) raw=(\d+) ca=(.+)$", line.strip())
        if not m:
            self.proc.kill()
            sys.exit(f"the benchmark server did not start: {line!r}")
        self.ws_port, self.wss_port, self.raw_port = int(m.group(1)), int(m.group(2)), int(m.group(3))
        self.ca = m.group(4)
        self.hz = os.sysconf("SC_CLK_TCK")

    def os_bundle(self) -> Path:
        """The operating system's CA bundle with the bench CA appended (for
        SSL_CERT_FILE: the W5-over-TLS cell that trusts the OS store)."""
        out = BUILD / "os-bundle-with-bench-ca.pem"
        system = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
                       if os.path.exists(p)), None)
        text = Path(system).read_text() if system else ""
        out.write_text(text + "\n" + Path(self.ca).read_text())
        return out

    def cpu_seconds_stat(self) -> float:
        """utime + stime of the server process (/proc/PID/stat), in seconds."""
        try:
            f = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / self.hz
        except Exception:
            return 0.0

    def cpu_seconds(self) -> Tuple[float, str]:
        """The server's CPU time: the sum of its threads' time on a CPU from
        /proc/PID/task/*/schedstat (nanoseconds: the same quantity as
        utime + stime, without the 1/HZ granularity), or /proc/PID/stat
        where schedstat is missing."""
        try:
            total = 0
            for t in Path(f"/proc/{self.proc.pid}/task").iterdir():
                total += int((t / "schedstat").read_text().split()[0])
            return total / 1e9, "schedstat"
        except Exception:
            return self.cpu_seconds_stat(), "stat"

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(soft, 16384), hard) if hard != resource.RLIM_INFINITY else max(soft, 16384)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass


def url_for(c: Client, w: str, n: int, server: Server) -> str:
    if c.raw:
        return f"tcp://127.0.0.1:{server.raw_port}"
    b = base(w)
    path = {
        "W1": "/echo",
        "W2": f"/send/{n}/{SIZE['W2']}",
        "W3": f"/count/{n}",
        "W4": f"/big/{SIZE['W4']}",
        "W5": "/echo",
        "W2z": f"/zsend/{n}",
        "W3z": f"/zcount/{n}",
    }[b]
    if is_tls(w):
        return f"wss://127.0.0.1:{server.wss_port}{path}"
    return f"ws://127.0.0.1:{server.ws_port}{path}"


def json_text_bytes(n: int) -> int:
    """Bytes of the first n W3z messages (pool[i % 4096])."""
    pool = [len(m) for m in pycommon.json_pool()]
    q, r = divmod(n, len(pool))
    return q * sum(pool) + sum(pool[:r])


def compression_of(w: str, res: Dict[str, object]) -> None:
    """W2z/W3z: what the server reported (its trailer or its reply, which
    the client echoes): was permessage-deflate used, and the ratio."""
    if w == "W2z" and isinstance(res.get("trailer"), str):
        f = res["trailer"].split()  # END n text check wire pmd
        if len(f) >= 6:
            res["pmd"] = f[5]
            res["compression"] = "yes" if f[5] != "none" else "no"
            res["zratio"] = int(f[2]) / int(f[4]) if int(f[4]) else None
    elif w == "W3z" and isinstance(res.get("reply"), str):
        f = res["reply"].split()  # n wire compressed pmd
        if len(f) >= 4:
            n, wire, comp = int(f[0]), int(f[1]), int(f[2])
            res["pmd"] = f[3]
            res["compression"] = "no" if comp == 0 else ("yes" if comp == n else f"partial ({comp:,} of {n:,})")
            res["zratio"] = json_text_bytes(n) / wire if wire else None


def run_measured(cmd: List[str], env: Optional[Dict[str, str]], timeout: float) -> Tuple[str, str, int, int]:
    """Runs a client to its end or `timeout`: its stdout, stderr, exit code
    and peak resident set in KiB (0 if unknown). The peak is GNU time's %M,
    the kernel's ru_maxrss of its child: `time` forks a copy of itself (about
    1 MiB, below any client) and `taskset` execs the client in that process.
    Not wait4 from here: a child forked from this Python process starts with
    its resident pages counted, and ru_maxrss keeps them across exec."""
    with tempfile.NamedTemporaryFile(prefix="wsnative-rss-") as rss:
        p = subprocess.Popen(["/usr/bin/time", "-q", "-f", "%M", "-o", rss.name, *cmd], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, preexec_fn=raise_nofile, cwd=ROOT, env=env,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            return out, f"timed out after {timeout:.0f} s", -1, 0
        text = Path(rss.name).read_text().split()
    return out, err, p.returncode, int(text[-1]) if text and text[-1].isdigit() else 0


def run_one(c: Client, w: str, n: int, server: Server, core: int, timeout: float) -> Dict[str, object]:
    cmd = ["taskset", "-c", str(core), *c.cmd, "--workload", base(w), "--url", url_for(c, w, n, server), "--n", str(n)]
    if SIZE[base(w)]:
        cmd += ["--size", str(SIZE[base(w)])]
    env = None
    if is_tls(w):
        cmd += ["--ca", server.ca]
    if w in TRUST:
        cmd += ["--trust", TRUST[w]]
        if TRUST[w] == "os":
            env = dict(os.environ, SSL_CERT_FILE=str(server.os_bundle()))
    load = loadavg()
    cpu0, source = server.cpu_seconds()
    stat0 = server.cpu_seconds_stat()
    child0 = children_cpu_seconds()
    t = time.monotonic()
    out, err, rc, peak_kib = run_measured(cmd, env, timeout)
    wall = time.monotonic() - t
    cpu1, _ = server.cpu_seconds()
    stat1 = server.cpu_seconds_stat()
    child1 = children_cpu_seconds()
    line = next((l for l in reversed(out.splitlines()) if l.startswith("{")), None)
    res: Dict[str, object]
    try:
        res = json.loads(line) if line else {}
    except json.JSONDecodeError:
        res = {}
    if not res:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        res = {"ok": False, "error": f"exit {rc}: {tail}"}
    elif rc != 0 and res.get("ok"):
        res = {"ok": False, "error": f"exit {rc} after reporting"}
    res["wall_s"] = round(wall, 3)
    res["loadavg_1m"] = load
    server_cpu = max(0.0, cpu1 - cpu0)
    res["server_cpu_s"] = round(server_cpu, 4)
    res["server_cpu_s_stat"] = round(stat1 - stat0, 3)
    res["server_cpu_source"] = source
    res["server_share_wall"] = round(server_cpu / wall, 4) if wall > 0 else None
    secs = res.get("seconds")
    # The share shown and flagged: over the client's measured interval where
    # it reports one (the server's handshake and close are counted against
    # it too, so this errs high), else over the client process's wall time.
    if isinstance(secs, (int, float)) and secs > 0:
        res["server_share"] = round(server_cpu / secs, 4)
        res["server_share_basis"] = "measured interval"
    else:
        res["server_share"] = res["server_share_wall"]
        res["server_share_basis"] = "client wall time"
    res["client_cpu_s"] = round(child1 - child0, 3)
    if peak_kib:
        res["peak_rss_kib"] = peak_kib
        if base(w) == "W2":
            res["peak_rss_mib"] = round(peak_kib / 1024, 2)
    if w in ZIP:
        compression_of(w, res)
    return res


def summarize(values: List[float]) -> Dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


# --- formatting ---


def fmt(v: Optional[float], kind: str) -> str:
    if v is None:
        return "–"
    if kind == "rate":
        return f"{v / 1e6:.2f} M" if v >= 1e6 else f"{v / 1e3:.0f} k"
    if kind == "lat":
        return f"{v:.1f}" if v < 1000 else f"{v:,.0f}"
    if kind == "mib":
        return f"{v:,.0f}"
    if kind == "mib1":
        return f"{v:.1f}"
    if kind == "sec":
        return f"{v:.3f}"
    if kind == "kib":
        return f"{v:.1f}"
    return f"{v:g}"


def fmt_ratio(r: Optional[float]) -> str:
    return "–" if r is None else f"×{r:.2f}"


def fmt_share(s: Optional[float]) -> str:
    return "–" if s is None else f"{100 * s:.0f} %"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="runs of each fast client (default 5)")
    ap.add_argument("--slow-runs", type=int, default=3, help="runs of each slow peer: pure Python, Node.js (default 3)")
    ap.add_argument("--quick", action="store_true", help="1 run each, smaller workloads (a smoke test; not for the README)")
    ap.add_argument("--clients", help="comma-separated client ids (default: all; the two Rust references always run)")
    ap.add_argument("--workloads", help=f"comma-separated cells (default: {','.join(WORKLOADS)})")
    ap.add_argument("--out", help="directory for latest.json and latest.md (default: bench/results for a "
                    "complete run, build/bench/partial for --quick or a subset)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds allowed to one client run")
    ap.add_argument("--baseline", metavar="REV", help="also run W1 and W5 with wsnative's C client built against "
                    "the library of git revision REV (bench/baseline.sh; `make bench` passes BENCH_BASELINE)")
    args = ap.parse_args()

    if args.quick:
        args.runs = args.slow_runs = 1
    clients = make_clients(args.baseline)
    if args.clients:
        wanted = set(args.clients.split(","))
        unknown = wanted - {c.id for c in clients}
        if unknown:
            sys.exit(f"unknown client ids: {', '.join(sorted(unknown))}")
        # The baseline runs with wsnative-c when there is one.
        clients = [c for c in clients if c.id in wanted or c.id in ("rust", "fastwebsockets")
                   or (c.id.startswith("wsnative-c@") and "wsnative-c" in wanted)]
    workloads = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    bad = [w for w in workloads if w not in WORKLOADS]
    if bad:
        sys.exit(f"unknown workloads: {', '.join(bad)} (known: {', '.join(WORKLOADS)})")
    workloads = [w for w in WORKLOADS if w in workloads]

    cores = sorted(os.sched_getaffinity(0))
    server_core, client_core = cores[0], cores[1] if len(cores) > 1 else cores[0]

    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    busy0, total0 = cpu_busy_ticks()
    own0 = own_cpu_seconds()
    load_start = Path("/proc/loadavg").read_text().split()[:3]

    deflate_messages = max([c.count("W2z", args.quick) for c in clients] + [1])
    server = Server(server_core, deflate_messages)
    print(f"server on core {server_core} (ws port {server.ws_port}, wss port {server.wss_port}, raw TCP port "
          f"{server.raw_port}, CA {server.ca}); clients on core {client_core}", flush=True)

    raw_runs: Dict[str, Dict[str, List[Dict[str, object]]]] = {c.id: {w: [] for w in workloads} for c in clients}
    max_runs = max(args.runs, args.slow_runs)
    try:
        for rep in range(max_runs):
            for c in clients:
                if c.missing or rep >= (args.slow_runs if c.slow else args.runs):
                    continue
                for w in workloads:
                    if w not in c.workloads:
                        continue
                    n = c.count(w, args.quick)
                    res = run_one(c, w, n, server, client_core, args.timeout)
                    raw_runs[c.id][w].append(res)
                    status = "ok " if res.get("ok") else "FAIL"
                    brief = ", ".join(f"{k}={fmt(res.get(k), kind)}" for k, _, _, kind in METRICS[w] if k in res)
                    z = f", compression {res.get('compression')}" if "compression" in res else ""
                    print(f"  run {rep + 1} {c.id:<20} {w:<4} {status} {brief or res.get('error', '')} "
                          f"(server {fmt_share(res.get('server_share'))}{z}; {res['wall_s']:.1f} s)", flush=True)
    finally:
        server_cpu, _ = server.cpu_seconds()
        server.stop()

    wall = time.monotonic() - t_start
    busy1, total1 = cpu_busy_ticks()
    own1 = own_cpu_seconds()
    hz = os.sysconf("SC_CLK_TCK")
    ncpu = len(cores)
    all_busy_s = (busy1 - busy0) / hz
    ours_s = own1 - own0  # orchestrator + every client + the server (waited for)
    others_s = max(0.0, all_busy_s - ours_s)
    loads = [r["loadavg_1m"] for cr in raw_runs.values() for rs in cr.values() for r in rs]
    noise = {
        "wall_seconds": round(wall, 1),
        "cpu_busy_seconds_all_processes": round(all_busy_s, 1),
        "cpu_seconds_benchmark": round(ours_s, 1),
        "cpu_seconds_server": round(server_cpu, 1),
        "cpu_seconds_other_processes": round(others_s, 1),
        "other_processes_share_of_machine": round(others_s / (wall * ncpu), 3) if wall else None,
        "loadavg_at_start": load_start,
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
        "loadavg_1m_during_runs": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)} if loads else {},
    }

    # --- aggregate ---
    results: Dict[str, Dict[str, object]] = {}
    for c in clients:
        entry: Dict[str, object] = {"label": c.label, "group": c.group}
        if c.missing:
            entry["missing"] = c.missing
        per_w: Dict[str, object] = {}
        for w in workloads:
            runs = raw_runs[c.id][w]
            if not runs:
                continue
            ok = [r for r in runs if r.get("ok")]
            metrics = {}
            for key, _, _, _ in METRICS[w]:
                vals = [float(r[key]) for r in ok if key in r]
                if vals:
                    metrics[key] = summarize(vals)
            shares = [float(r["server_share"]) for r in runs if r.get("server_share") is not None]
            wd: Dict[str, object] = {
                "n": c.count(w, args.quick),
                "metrics": metrics,
                "server_share": summarize(shares) if shares else None,
                "server_bound": bool(shares) and statistics.median(shares) > SERVER_BOUND,
                "errors": [r.get("error") for r in runs if not r.get("ok")],
                "runs": runs,
            }
            if w in ZIP:
                modes = sorted({str(r.get("compression", "?")) for r in ok})
                wd["compression"] = modes[0] if len(modes) == 1 else "mixed: " + ", ".join(modes)
                zr = [float(r["zratio"]) for r in ok if r.get("zratio")]
                wd["zratio"] = statistics.median(zr) if zr else None
                wd["pmd"] = sorted({str(r.get("pmd", "?")) for r in ok})
            per_w[w] = wd
        entry["workloads"] = per_w
        results[c.id] = entry

    def med(cid: str, w: str, key: str) -> Optional[float]:
        try:
            return results[cid]["workloads"][w]["metrics"][key]["median"]  # type: ignore[index]
        except (KeyError, TypeError):
            return None

    def compressed_cell(cid: str, w: str) -> bool:
        try:
            return results[cid]["workloads"][w].get("compression") == "yes"  # type: ignore[union-attr]
        except (KeyError, AttributeError):
            return False

    def ratio(cid: str, w: str, key: str, ref: str = "rust") -> Optional[float]:
        # W2z/W3z: a client that did not compress is excluded from the ratios.
        if w in ZIP and not compressed_cell(cid, w):
            return None
        a, b = med(cid, w, key), med(ref, w, key)
        return a / b if a is not None and b else None

    for cid, entry in results.items():
        for w, wd in entry.get("workloads", {}).items():  # type: ignore[union-attr]
            for key in wd["metrics"]:
                wd["metrics"][key]["ratio_to_rust"] = ratio(cid, w, key)
                wd["metrics"][key]["ratio_to_fastwebsockets"] = ratio(cid, w, key, "fastwebsockets")
                if w == "W4":
                    wd["metrics"][key]["ratio_to_raw_tcp"] = ratio(cid, w, key, "raw-tcp")
                    wd["metrics"][key]["ratio_to_ws_bound"] = ratio(cid, w, key, "ws-bound")

    targets = evaluate_targets(results, med, ratio)
    targets += baseline_targets(results, med)
    doc = {
        "started_utc": started.isoformat(timespec="seconds"),
        "command": ("make bench" + (" BENCH_ARGS=--quick" if args.quick else "")) if not (args.clients or args.workloads)
        else "python3 bench/run.py " + " ".join(sys.argv[1:]),
        "baseline": args.baseline,
        "machine": machine_info(),
        "pinning": {"server_core": server_core, "client_core": client_core},
        "runs": {"fast_clients": args.runs, "slow_peers": args.slow_runs, "quick": args.quick},
        "server_bound_threshold": SERVER_BOUND,
        "noise": noise,
        "workloads": {w: {"client_workload": base(w), "tls": is_tls(w), "default_n": default_count(w, args.quick),
                          "size": SIZE[base(w)]} for w in workloads},
        "results": results,
        "targets": targets,
    }
    complete = not args.quick and not args.clients and not args.workloads
    out = Path(args.out) if args.out else (RESULTS if complete else BUILD / "partial")
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(doc, indent=1) + "\n")
    md = render_markdown(doc, clients, workloads, med, ratio)
    (out / "latest.md").write_text(md)
    print()
    print(md)
    print(f"wrote {out / 'latest.json'} and {out / 'latest.md'}")
    if complete and out.resolve() == RESULTS.resolve():
        update_readme(md)
        print(f"updated the latest run in {BENCH / 'README.md'}")
    return 0


def update_readme(md: str) -> None:
    """Replaces the README's latest-run section with this run's table."""
    readme = BENCH / "README.md"
    text = readme.read_text()
    start, end = "<!-- latest-run:start -->", "<!-- latest-run:end -->"
    if start not in text or end not in text:
        return
    body = md.split("\n", 1)[1].strip()  # drop the "# ..." title
    # The gaps are the README's own prose (bench/gaps.md), not repeated.
    marker = "\n## Remaining gaps, and the profiles behind them\n"
    if marker in body:
        head, rest = body.split(marker, 1)
        body = head.rstrip() + "\n" + (rest[rest.index("\nReproduce:"):] if "\nReproduce:" in rest else "")
    body = body.replace("\n## ", "\n### ")
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    readme.write_text(f"{head}{start}\n{body}\n{end}{tail}")


def baseline_targets(results, med) -> List[Dict[str, object]]:
    """Issue 15's cost target: a direct connection costs no more than at the
    baseline revision: wsnative-c's W1 p50, W5 open time and W5 memory
    against the baseline's, in this run. Met when the median is no worse
    than the baseline's worst run (within the baseline's own noise)."""
    t: List[Dict[str, object]] = []
    for bid, e in results.items():
        if not bid.startswith("wsnative-c@") or e.get("missing") or "wsnative-c" not in results:
            continue
        rev = bid.split("@", 1)[1]
        for w, key, what in [("W1", "p50_us", "W1 p50"), ("W5", "open_seconds", "W5 open time"),
                             ("W5", "kib_per_conn", "W5 memory per connection")]:
            now, then = med("wsnative-c", w, key), med(bid, w, key)
            try:
                worst = e["workloads"][w]["metrics"][key]["max"]
            except (KeyError, TypeError):
                worst = None
            if now is None or then is None or worst is None:
                t.append({"client": "wsnative-c", "target": f"{what} ≤ {rev}'s worst run", "value": None, "met": None})
                continue
            t.append({"client": "wsnative-c", "target": f"{what} ≤ {rev}'s worst run (median ×ratio to {rev}'s)",
                      "value": round(now / then, 4) if then else None, "unit": "×", "met": now <= worst})
    return t


def evaluate_targets(results, med, ratio) -> List[Dict[str, object]]:
    """The issue's targets (plain TCP workloads), checked on the medians of this run."""
    t: List[Dict[str, object]] = []

    def add(who: str, what: str, value: Optional[float], limit: float, ok_if_below: bool, unit: str) -> None:
        if value is None:
            t.append({"client": who, "target": what, "value": None, "met": None})
            return
        met = value <= limit if ok_if_below else value >= limit
        t.append({"client": who, "target": what, "value": round(value, 4), "limit": limit, "unit": unit, "met": met})

    if "wsnative-c" in results and not results["wsnative-c"].get("missing"):
        add("wsnative-c", "W1 p50 ≤ 1.0 × Rust", ratio("wsnative-c", "W1", "p50_us"), 1.0, True, "×")
        add("wsnative-c", "W2 ≥ 1.2 × Rust", ratio("wsnative-c", "W2", "msgs_per_s"), 1.2, False, "×")
        add("wsnative-c", "W3 ≥ 1.0 × Rust", ratio("wsnative-c", "W3", "msgs_per_s"), 1.0, False, "×")
        add("wsnative-c", "W4 ≥ 0.95 × raw TCP", ratio("wsnative-c", "W4", "mib_per_s", "raw-tcp"), 0.95, False, "×")
        t.append({"client": "(for W4)", "target": "Rust tokio-tungstenite vs raw TCP, for comparison",
                  "value": ratio("rust", "W4", "mib_per_s", "raw-tcp"), "unit": "×", "met": None, "info": True})
        t.append({"client": "(for W4)", "target": "WebSocket bound vs raw TCP, for comparison",
                  "value": ratio("ws-bound", "W4", "mib_per_s", "raw-tcp"), "unit": "×", "met": None, "info": True})
        add("wsnative-c", "W2s ≥ 1.2 × Rust (TLS)", ratio("wsnative-c", "W2s", "msgs_per_s"), 1.2, False, "×")
        # There is no raw TLS reference: over TLS, W4 is held to 0.95 × the
        # Rust client with rustls.
        add("wsnative-c", "W4s ≥ 0.95 × Rust (TLS)", ratio("wsnative-c", "W4s", "mib_per_s"), 0.95, False, "×")
        add("wsnative-c", "W5 ≤ 9 KiB per connection", med("wsnative-c", "W5", "kib_per_conn"), 9, True, "KiB")
    peers = [cid for cid, e in results.items() if e["group"] == "python" and not e.get("missing")]
    for cid, e in results.items():
        if e["group"] != "python-wsnative" or e.get("missing"):
            continue
        add(cid, "W1 p50 ≤ 1.5 × Rust", ratio(cid, "W1", "p50_us"), 1.5, True, "×")
        add(cid, "W2 ≥ 3,000,000 msg/s", med(cid, "W2", "msgs_per_s"), 3e6, False, "msg/s")
        add(cid, "W3 ≥ 2,000,000 msg/s", med(cid, "W3", "msgs_per_s"), 2e6, False, "msg/s")
        add(cid, "W4 ≥ 0.8 × Rust", ratio(cid, "W4", "mib_per_s"), 0.8, False, "×")
        # Issue 14: while receiving W2, no more memory than the leanest other
        # Python client (their peaks measured in this run).
        lean = [v for v in (med(p, "W2", "peak_rss_mib") for p in peers) if v is not None]
        if lean:
            add(cid, f"W2 peak RSS ≤ every other Python client's (least: {min(lean):.1f} MiB)",
                med(cid, "W2", "peak_rss_mib"), min(lean), True, "MiB")
        worse = []
        for w in PLAIN:
            for key, title, higher, _ in METRICS[w]:
                mine = med(cid, w, key)
                for p in peers:
                    theirs = med(p, w, key)
                    if mine is None or theirs is None:
                        continue
                    if (mine <= theirs) if higher else (mine >= theirs):
                        worse.append(f"{title} vs {p}")
        t.append({"client": cid, "target": "every plain-TCP figure better than every other Python client",
                  "met": not worse, "not_better_on": worse})
    return t


def gaps_section() -> List[str]:
    """The remaining gaps and their profiles (bench/gaps.md, kept by hand
    with the code), as a section of latest.md."""
    gaps = BENCH / "gaps.md"
    if not gaps.exists():
        return []
    return ["## Remaining gaps, and the profiles behind them", "", gaps.read_text().strip(), ""]


def render_markdown(doc, clients: List[Client], workloads: List[str], med, ratio) -> str:
    m = doc["machine"]
    nz = doc["noise"]
    res = doc["results"]
    lines = [
        "# wsnative benchmark: latest run",
        "",
        f"Run {doc['started_utc']} with `{doc['command']}` (commit {m.get('commit', '?')}).",
        "",
        f"Machine: {m.get('model_name', '?')}, {m.get('cpus')} CPUs"
        + (f" ({m['hypervisor_vendor']} VM)" if m.get("hypervisor_vendor") else "")
        + f", {m.get('memory_gib')} GiB, {m.get('os', '?')}, Linux {m.get('kernel')}, {m.get('rustc', '?')}, "
        f"Python {m.get('python')}, {m.get('openssl', '?')}. Server: `bench/server` (pre-encoded streams written "
        f"in 1 MiB slices, received frames counted from their headers, fastwebsockets {m.get('fastwebsockets')} "
        f"for `/echo`; TLS 1.3 with rustls {m.get('rustls')}) on a current-thread tokio runtime pinned to core "
        f"{doc['pinning']['server_core']}; every client pinned to core {doc['pinning']['client_core']}; loopback.",
        "",
        f"Runs: {doc['runs']['fast_clients']} per fast client, {doc['runs']['slow_peers']} per slow peer (pure "
        "Python, Node.js). Each cell gives the **median** of the runs, then its ratio to the median of "
        "**tokio-tungstenite** and of **fastwebsockets** in the same run (×tt ×fw; µs, seconds and KiB: lower is "
        "better; msg/s and MiB/s: higher is better), then the **server's CPU share** during the runs (median; "
        "server CPU time over the client's measured interval, or over the client's wall time for W1 and W5). "
        f"**SB** marks a cell where the server used more than {100 * doc['server_bound_threshold']:.0f} % of its "
        "core: there the figure may be the server's limit, not the client's. The detail tables below add the "
        "min–max spread.",
        "",
        f"**Noise:** other processes used {nz['cpu_seconds_other_processes']} CPU-seconds during the "
        f"{nz['wall_seconds']} s run ({100 * (nz['other_processes_share_of_machine'] or 0):.0f} % of the machine); "
        f"1-minute load average {nz['loadavg_1m_during_runs'].get('min', '?')}–"
        f"{nz['loadavg_1m_during_runs'].get('max', '?')} during the runs. "
        "Absolute figures on a shared 2-core VM are noisy; ratios within one run are more stable.",
        "",
    ]
    if doc["runs"]["quick"]:
        lines += ["**Quick mode (smoke test): 1 run each, reduced workloads. Not a measurement.**", ""]

    def cell_text(c: Client, w: str, key: str, kind: str) -> str:
        wd = res[c.id]["workloads"].get(w)
        if w not in c.workloads or wd is None:
            return ""
        v = med(c.id, w, key)
        if v is None:
            return "FAIL"
        star = "*" if wd["n"] < default_count(w, doc["runs"]["quick"]) else ""
        parts = [f"{fmt(v, kind)}{star}"]
        if w in ZIP and wd.get("compression") != "yes":
            parts.append(f"({wd.get('compression') if wd.get('compression', 'no') != 'no' else 'no compression'})")
        elif w in TRUST:
            # No reference has these cells: the ratio is to the client's own W5.
            plain = med(c.id, "W5", key)
            parts.append(f"(×{v / plain:.2f} W5)" if plain else "")
        else:
            r1 = "" if c.id == "rust" else fmt_ratio(ratio(c.id, w, key))
            r2 = "" if c.id == "fastwebsockets" else fmt_ratio(ratio(c.id, w, key, "fastwebsockets"))
            parts += [p for p in (r1, r2) if p]
        share = (wd.get("server_share") or {}).get("median")
        parts.append(f"· {fmt_share(share)}" + (" **SB**" if wd.get("server_bound") else ""))
        return " ".join(parts)

    for title, group in GROUPS:
        ws = [w for w in group if w in workloads]
        if not ws:
            continue
        cols = [(w, key, t, kind) for w in ws for key, t, _, kind in METRICS[w]]
        rows = [c for c in clients if any(w in c.workloads for w in ws)]
        lines += [f"## {title}", ""]
        if group is ZIP:
            lines += [
                "The server accepts permessage-deflate (context takeover) when offered and says in its trailer "
                "(W2z) or reply (W3z) whether it was used; `(no compression)`: the client offered nothing (or, "
                "in W3z, compressed nothing), so its figure is plain text and it is left out of the ratios. "
                "tokio-tungstenite and fastwebsockets have no permessage-deflate: the ratios of compressing "
                "clients to them are the cost of compression against their plain-text figures.",
                "",
            ]
        lines.append("| Client | " + " | ".join(t for _, _, t, _ in cols) + " |")
        lines.append("|---|" + "---:|" * len(cols))
        for c in rows:
            if c.missing:
                lines.append(f"| {c.label} | " + " | ".join(["n/a"] * len(cols)) + " |")
                continue
            lines.append(f"| {c.label} | " + " | ".join(cell_text(c, w, key, kind) for w, key, _, kind in cols) + " |")
        lines.append("")
    if doc["runs"]["quick"]:
        lines += ["Quick mode counts: " + ", ".join(f"{w} {n:,}" for w, n in QUICK_N.items())
                  + " (\\* where a slow client's own count is lower).", ""]
    else:
        reduced = [
            f"{c.id}: " + ", ".join(f"{w} {c.n[w]:,}" for w in sorted(c.n) if c.n[w] != DEFAULT_N[w])
            for c in clients if c.n and not c.missing
        ]
        if reduced:
            lines += [
                "\\* fewer messages than the default for this slow client (rates are per second; s cells use "
                "the counts of their base workload): " + "; ".join(reduced) + ".",
                "",
            ]

    # Detail per metric.
    lines += ["## Detail (median, min–max, runs)", ""]
    for w in workloads:
        for key, title, higher, kind in METRICS[w]:
            extra = " vs raw TCP | vs WS bound |" if w == "W4" else (" compression | ratio |" if w in ZIP else "")
            lines.append(f"**{title}** ({'higher' if higher else 'lower'} is better)")
            lines.append("")
            lines.append(f"| Client | median | min–max | runs | n | vs tokio-tungstenite | vs fastwebsockets | server CPU |{extra}")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if extra else ""))
            for c in clients:
                wd = res.get(c.id, {}).get("workloads", {}).get(w)
                if c.missing or w not in c.workloads or wd is None:
                    continue
                s = wd["metrics"].get(key)
                sh = wd.get("server_share") or {}
                share = f"{fmt_share(sh.get('median'))} (max {fmt_share(sh.get('max'))})" + (" **SB**" if wd.get("server_bound") else "")
                if not s:
                    err = (wd["errors"] or ["failed"])[0]
                    lines.append(f"| {c.label} | FAIL: {str(err)[:100]} | | | | | | {share} |" + (" | |" if extra else ""))
                    continue
                fails = f" ({len(wd['errors'])} failed)" if wd["errors"] else ""
                row = (f"| {c.label} | {fmt(s['median'], kind)} | {fmt(s['min'], kind)}–{fmt(s['max'], kind)} | "
                       f"{s['runs']}{fails} | {wd['n']:,} | {fmt_ratio(s.get('ratio_to_rust'))} | "
                       f"{fmt_ratio(s.get('ratio_to_fastwebsockets'))} | {share} |")
                if w == "W4":
                    row += f" {fmt_ratio(s.get('ratio_to_raw_tcp'))} | {fmt_ratio(s.get('ratio_to_ws_bound'))} |"
                elif w in ZIP:
                    zr = wd.get("zratio")
                    row += f" {wd.get('compression')} | {'–' if not zr else f'{zr:.2f}:1'} |"
                lines.append(row)
            lines.append("")

    # Targets.
    if doc["targets"]:
        lines += ["## Targets (from the issue), on this run's medians", "", "| Client | Target | Value | Met |",
                  "|---|---|---:|:---:|"]
        for t in doc["targets"]:
            if "not_better_on" in t:
                val = "all better" if t["met"] else "not better on: " + ", ".join(t["not_better_on"][:8]) + (
                    " …" if len(t["not_better_on"]) > 8 else "")
            elif t.get("value") is None:
                val = "no data"
            elif t["unit"] == "msg/s":
                val = f"{t['value'] / 1e6:.2f} M msg/s"
            elif t["unit"] in ("KiB", "MiB"):
                val = f"{t['value']:.1f} {t['unit']}"
            else:
                val = f"×{t['value']:.3f}"
            met = "(info)" if t.get("info") else {True: "yes", False: "**no**", None: "?"}[t["met"]]
            lines.append(f"| {t['client']} | {t['target']} | {val} | {met} |")
        lines.append("")
    lines += gaps_section()
    lines += ["Reproduce: `make bench` at the repository root (see bench/README.md).", ""]
    missing = [c for c in clients if c.missing]
    if missing:
        lines += ["Not run: " + "; ".join(f"{c.label}: {c.missing}" for c in missing), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
