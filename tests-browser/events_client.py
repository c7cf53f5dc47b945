#!/usr/bin/env python3
"""The Python twin of events_client.c (same arguments, same JSON records),
on the wsnative package's browser-style ``WebSocket``.

    events_client.py URL [--dispatch thread|poll] [--compat] [--protocol P]
                     [--close CODE REASON] [--close-now]
                     [--slow-open MS] [--slow-message MS] [--send TEXT]...

A record is taken at construction ("new"), at the start of every handler
and right after every call (send, close), each with ready_state, protocol,
extensions and buffered_amount read at that moment. Records are kept in a
list and printed at the end: printing releases the GIL, which would let a
handler run between construction and the calls that follow it (the browser
runs those in one task). --dispatch poll pumps ``ws.poll()`` from the main
thread, 30 ms after construction and then with 1 ms sleeps in between, and
records "changed-between-polls" when ready_state, protocol or extensions
change between two polls; --compat passes ``chromium_compat=True``.
"""
import json
import sys
import threading
import time

import wsnative

# wsnative's exception classes, named as the browser's DOMExceptions.
DOM_NAMES = {"WebSocketSyntaxError": "SyntaxError"}


def main() -> int:
    args = sys.argv[1:]
    url = args[0]
    protocols = None
    close = None
    close_now = False
    dispatch = "thread"
    compat = False
    slow_open = slow_message = 0
    sends = []
    i = 1
    while i < len(args):
        a = args[i]
        if a == "--protocol":
            protocols = [args[i + 1]]
            i += 2
        elif a == "--close":
            close = (int(args[i + 1]), args[i + 2])
            i += 3
        elif a == "--dispatch":
            dispatch = args[i + 1]
            i += 2
        elif a == "--compat":
            compat = True
            i += 1
        elif a == "--close-now":
            close_now = True
            i += 1
        elif a == "--slow-open":
            slow_open = int(args[i + 1])
            i += 2
        elif a == "--slow-message":
            slow_message = int(args[i + 1])
            i += 2
        elif a == "--send":
            sends.append(args[i + 1])
            i += 2
        else:
            print(f"unknown argument {a}", file=sys.stderr)
            return 2
    done = threading.Event()
    records = []
    ws = None

    entered = []

    def record(type_, **fields):
        rec = {"type": type_, **fields}
        rec.update(readyState=ws.ready_state, protocol=ws.protocol, extensions=ws.extensions,
                   bufferedAmount=ws.buffered_amount)
        records.append(rec)
        return rec["readyState"]

    def call(name, fn, *a):
        try:
            fn(*a)
            result = "OK"
        except wsnative.WebSocketError as e:
            result = DOM_NAMES.get(type(e).__name__, type(e).__name__)
        return record("call", call=name, result=result)

    def onopen(ev):
        entered.append(1)
        record("open")
        if slow_open:
            time.sleep(slow_open / 1000)
            record("open-late")
        call("send", ws.send, "hello")
        for text in sends:
            call(f"send {len(text.encode())}B", ws.send, text)
        if close:
            call("close", ws.close, *close)

    def onmessage(ev):
        entered.append(1)
        binary = isinstance(ev.data, bytes)
        record("message", binary=binary, data=ev.data.decode("latin-1") if binary else ev.data)
        if slow_message:
            time.sleep(slow_message / 1000)
            record("message-late")

    def onerror(ev):
        entered.append(1)
        record("error", cause=ev.message)

    def onclose(ev):
        entered.append(1)
        record("close", code=ev.code, reason=ev.reason, wasClean=ev.was_clean)
        done.set()

    options = {"chromium_compat": True} if compat else {}
    try:
        ws = wsnative.WebSocket(url, protocols, dispatch=dispatch, onopen=onopen, onmessage=onmessage,
                                onerror=onerror, onclose=onclose, **options)
    except wsnative.WebSocketError as e:
        print(json.dumps({"type": "exception", "name": DOM_NAMES.get(type(e).__name__, type(e).__name__)}))
        return 0
    odd = record("new") != wsnative.CONNECTING
    if close_now:
        odd |= call("close", ws.close) != wsnative.CLOSING
        odd |= call("send", ws.send, "hello") != wsnative.CLOSING
    # A state other than the one these calls give: if a handler runs within
    # 200 ms (the GIL released), its dispatch was under way: raced. If none
    # does, the state ran ahead of dispatch, and stays recorded as read.
    for _ in range(200 if odd and dispatch == "thread" else 0):
        if entered:
            break
        time.sleep(0.001)
    if entered:
        # A handler ran before the code above finished (the GIL was
        # released): what it read may be that event's state. differential.py
        # runs the client again.
        records.append({"type": "raced"})
    deadline = time.monotonic() + 20
    if dispatch == "poll":
        # The application does other work before its first poll and between
        # polls: what it reads must not change meanwhile (SPEC.md 5).
        def view():
            return ws.ready_state, ws.protocol, ws.extensions

        changed = False
        before = view()
        time.sleep(0.03)
        while not done.is_set() and time.monotonic() < deadline:
            if not changed and view() != before:
                changed = True
                record("changed-between-polls")
            ws.poll()
            before = view()
            time.sleep(0.001)
    else:
        done.wait(20)
    for rec in list(records):
        print(json.dumps(rec))
    if not done.is_set():
        print(json.dumps({"type": "timeout"}))
    sys.stdout.flush()
    return 0 if done.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
