"""Whole-process behaviour: interpreter exit with open sockets, Ctrl-C in a
blocking call, fork() after the runtime started, and the MDN chat example
against the project's testserver."""

from __future__ import annotations

import multiprocessing
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import wsnative
from conftest import REPO


def run_python(code: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_exit_with_open_sockets_neither_hangs_nor_crashes(ws_url: str, testserver_url: str) -> None:
    code = """
        import sys, time, wsnative
        url, busy = sys.argv[1], sys.argv[2]
        def onclose(ev):
            print("close", ev.code, flush=True)
        socks = [wsnative.WebSocket(url + "/", onclose=onclose) for _ in range(3)]
        poll = wsnative.WebSocket(url + "/", dispatch="poll")
        sync = wsnative.connect(url + "/")
        busy_ws = wsnative.WebSocket(busy + "count/1000000/64", onmessage=lambda ev: None)
        time.sleep(0.3)
        print("exiting", flush=True)
    """
    t = time.monotonic()
    done = run_python(code, ws_url, testserver_url)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - t < 10
    assert "exiting" in done.stdout
    assert done.stdout.count("close 1001") == 3, done.stdout
    assert done.stderr == ""


def test_ctrl_c_in_recv(ws_url: str) -> None:
    # The child answers Ctrl-C as a terminal's program does, even when this
    # test runs in the background (where SIGINT is inherited ignored).
    code = """
        import signal, sys, wsnative
        signal.signal(signal.SIGINT, signal.default_int_handler)
        ws = wsnative.connect(sys.argv[1] + "/")
        print("ready", flush=True)
        try:
            ws.recv()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), ws_url], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    t = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=10)
    assert "interrupted" in out
    assert proc.returncode == 0
    assert time.monotonic() - t < 5


def _connect_in_child(url: str, results: "multiprocessing.Queue[str]") -> None:
    try:
        with wsnative.connect(url, connect_timeout=5) as ws:
            ws.send("from the child")
            results.put(f"echo {ws.recv(timeout=5)!r}")
    except BaseException as e:  # reported to the parent, whatever it is
        results.put(f"{type(e).__name__}: {e}")


def _in_forked_child(target: Any, url: str) -> str:
    """Runs target(url, results) in a forked child (killed after 30 s) and
    returns what it reported; the child must exit with 0."""
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=target, args=(url, results))
    child.start()
    child.join(timeout=30)
    if child.is_alive():
        child.kill()
        child.join(5)
        pytest.fail("the forked child did not finish within 30 s")
    assert child.exitcode == 0
    return str(results.get(timeout=5))


# Python 3.12+ warns about fork() in a process with threads (the runtime's).
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_connect_in_forked_child(ws_url: str) -> None:
    """fork() after the runtime started: connect() in the child opens (it
    used to block for ever), and the parent's connection is untouched."""
    with wsnative.connect(ws_url + "/") as parent:
        parent.send("before")
        assert parent.recv(timeout=5) == "before"
        assert _in_forked_child(_connect_in_child, ws_url + "/") == "echo 'from the child'"
        parent.send("after")
        assert parent.recv(timeout=5) == "after"


def _handlers_in_child(url: str, results: "multiprocessing.Queue[str]") -> None:
    import threading

    try:
        got: list = []
        done = threading.Event()
        ws = wsnative.WebSocket(url, connect_timeout=5)
        ws.onopen = lambda ev: ws.send("from the child's handler")
        ws.onmessage = lambda ev: (got.append(ev.data), ws.close())
        ws.onclose = lambda ev: done.set()
        results.put(f"echo {got[0]!r}" if done.wait(10) and got else "no events within 10 s")
    except BaseException as e:  # reported to the parent, whatever it is
        results.put(f"{type(e).__name__}: {e}")


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_thread_dispatch_in_forked_child(ws_url: str) -> None:
    """The parent's dispatcher thread does not exist in a forked child: the
    child's dispatch="thread" socket gets a dispatcher of its own."""
    opened = __import__("threading").Event()
    parent = wsnative.WebSocket(ws_url + "/", onopen=lambda ev: opened.set())
    assert opened.wait(5)  # the parent's dispatcher thread runs
    assert _in_forked_child(_handlers_in_child, ws_url + "/") == "echo \"from the child's handler\""
    parent.close()


def test_chat_example_once(chat_url: str) -> None:
    example = REPO / "examples" / "python" / "chat.py"
    first = subprocess.run(
        [sys.executable, str(example), chat_url, "alice", "--once", "hello <i>all</i>"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert first.returncode == 0, first.stderr
    assert "<alice> hello all" in first.stdout
    assert "users: alice" in first.stdout


def test_chat_example_interactive_and_rename(chat_url: str) -> None:
    example = Path(REPO / "examples" / "python" / "chat.py")
    bob = subprocess.Popen(
        [sys.executable, str(example), chat_url, "bob"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert bob.stdin is not None and bob.stdout is not None
    assert "connected" in bob.stdout.readline()
    assert "users: bob" in bob.stdout.readline()
    other = subprocess.run(
        [sys.executable, str(example), chat_url, "bob", "--once", "it is me"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert other.returncode == 0, other.stderr
    assert "you are now bob" in other.stdout  # renamed by the server (bob2, ...)
    bob.stdin.write("hi from bob\n")
    bob.stdin.flush()
    seen = []
    while not any("<bob> hi from bob" in line for line in seen):
        line = bob.stdout.readline()
        assert line, seen
        seen.append(line)
    out, _ = bob.communicate(timeout=20)
    assert any("it is me" in line for line in seen)
    assert "disconnected (code 1000)" in out
    assert bob.returncode == 0
