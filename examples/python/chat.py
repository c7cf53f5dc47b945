#!/usr/bin/env python3
"""MDN's WebSocket chat client ("Writing WebSocket client applications"),
in Python on wsnative's browser-style ``WebSocket``.

    python chat.py ws://127.0.0.1:PORT/ alice          # interactive: type lines
    python chat.py ws://127.0.0.1:PORT/ alice --once hi  # send one line, wait for its echo

The server (``cargo run -p wsnative-testserver -- --mode chat``) speaks
JSON: it sends ``id`` first, then ``userlist``, ``message`` and
``rejectusername`` messages; the client answers ``id`` with ``username``
and sends ``message`` objects.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from typing import Any, Optional

import wsnative


class ChatClient:
    def __init__(self, url: str, username: str, once: Optional[str]) -> None:
        self.username = username
        self.client_id: Optional[int] = None
        self.once = once
        self.echoed = threading.Event()
        self.closed = threading.Event()
        self.ws = wsnative.WebSocket(
            url,
            "json",
            onopen=self.onopen,
            onmessage=self.onmessage,
            onerror=self.onerror,
            onclose=self.onclose,
        )

    def send_json(self, message: dict[str, Any]) -> None:
        message.setdefault("date", int(time.time() * 1000))
        self.ws.send(json.dumps(message))

    def send_text(self, text: str) -> None:
        self.send_json({"type": "message", "text": text, "id": self.client_id})

    def onopen(self, ev: wsnative.OpenEvent) -> None:
        print(f"* connected to {self.ws.url}", flush=True)

    def onmessage(self, ev: wsnative.MessageEvent) -> None:
        if not isinstance(ev.data, str):
            return
        msg = json.loads(ev.data)
        kind = msg.get("type")
        if kind == "id":
            self.client_id = msg["id"]
            self.send_json({"type": "username", "name": self.username, "id": self.client_id})
            if self.once is not None:
                self.send_text(self.once)
        elif kind == "username":
            print(f"* {msg.get('name')} joined", flush=True)
        elif kind == "message":
            stamp = time.strftime("%H:%M:%S", time.localtime(msg.get("date", 0) / 1000))
            print(f"[{stamp}] <{msg.get('name')}> {msg.get('text')}", flush=True)
            # The server strips HTML tags from the text, as MDN's does.
            expected = re.sub(r"<[^>]+>", "", self.once or "")
            if self.once is not None and msg.get("name") == self.username and msg.get("text") == expected:
                self.echoed.set()
        elif kind == "rejectusername":
            self.username = msg["name"]
            print(f"* your username was taken: you are now {self.username}", flush=True)
        elif kind == "userlist":
            print(f"* users: {', '.join(msg.get('users', []))}", flush=True)

    def onerror(self, ev: wsnative.ErrorEvent) -> None:
        print(f"* error: {ev.message}", file=sys.stderr, flush=True)

    def onclose(self, ev: wsnative.CloseEvent) -> None:
        print(f"* disconnected (code {ev.code})", flush=True)
        self.closed.set()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("username")
    parser.add_argument("--once", metavar="TEXT", help="send TEXT, wait for its echo, exit 0")
    parser.add_argument("--timeout", type=float, default=10.0, help="for --once (seconds)")
    args = parser.parse_args()

    client = ChatClient(args.url, args.username, args.once)
    if args.once is not None:
        ok = client.echoed.wait(args.timeout)
        client.ws.close(1000)
        client.closed.wait(5)
        return 0 if ok else 1
    try:
        for line in sys.stdin:
            if client.closed.is_set():
                break
            text = line.rstrip("\n")
            if text:
                if client.ws.ready_state != wsnative.OPEN:
                    print("* not connected yet", file=sys.stderr)
                    continue
                client.send_text(text)
    except KeyboardInterrupt:
        pass
    client.ws.close(1000)
    client.closed.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
