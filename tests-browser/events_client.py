#!/usr/bin/env python3
"""The Python twin of events_client.c: prints a socket's events as JSON
lines, sending "hello" on open (and with --close CODE REASON, closing right
after). Uses the wsnative package (browser-style handlers, thread dispatch)."""
import json
import sys
import threading

import wsnative


def main() -> int:
    args = sys.argv[1:]
    url = args[0]
    protocols = None
    close = None
    i = 1
    while i < len(args):
        if args[i] == "--protocol":
            protocols = [args[i + 1]]
            i += 2
        elif args[i] == "--close":
            close = (int(args[i + 1]), args[i + 2])
            i += 3
        else:
            i += 1
    done = threading.Event()

    def out(obj):
        print(json.dumps(obj), flush=True)

    def onopen(ev):
        out({"type": "open", "protocol": ws.protocol})
        ws.send("hello")
        if close:
            ws.close(*close)

    def onmessage(ev):
        binary = isinstance(ev.data, bytes)
        out({"type": "message", "binary": binary, "data": ev.data.decode("latin-1") if binary else ev.data})

    def onerror(ev):
        out({"type": "error", "cause": ev.message})

    def onclose(ev):
        out({"type": "close", "code": ev.code, "reason": ev.reason, "wasClean": ev.was_clean})
        done.set()

    try:
        ws = wsnative.WebSocket(url, protocols, close_timeout=3.0,
                                onopen=onopen, onmessage=onmessage, onerror=onerror, onclose=onclose)
    except wsnative.WebSocketError as e:
        out({"type": "exception", "name": type(e).__name__})
        return 0
    return 0 if done.wait(15) else 1


if __name__ == "__main__":
    sys.exit(main())
