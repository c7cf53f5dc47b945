"""wsnative: the browser's ``WebSocket`` client for Python.

Three ways to use one client, all on the same Rust core (its own runtime
threads do the network I/O; none of them ever waits for the GIL):

* ``WebSocket``: the browser object, with ``onopen``/``onmessage``/
  ``onerror``/``onclose`` handlers and ``add_event_listener``. Handlers run
  on one wsnative dispatcher thread (``dispatch="thread"``, the default) or
  on your own thread when you call ``poll()`` (``dispatch="poll"``).
* ``connect()``: a blocking client for scripts: ``recv()``, iteration,
  ``with`` block.
* ``connect_async()``: the asyncio client: ``await recv()``, ``async for``,
  ``async with``. No thread per socket.

Behaviour follows the browser (WHATWG HTML "WebSockets" over RFC 6455):
synchronous validation errors, events ``open``, ``message``, ``error``,
``close`` in the browser's order, exact ``buffered_amount``. Differences
(deliberate): invalid close codes from the server fail the connection,
invalid UTF-8 is answered with 1007, no ``Origin``/cookies are sent unless
you set them with ``headers``, and blocked ports are allowed unless
``block_unsafe_ports=True``.

Options (keyword arguments of ``WebSocket``, ``connect`` and
``connect_async``; ``None`` means the default):

* ``headers``: extra request headers, a dict or a list of (name, value)
  pairs of str (e.g. ``{"Origin": "https://example.com"}``). Headers the
  handshake owns (Host, Upgrade, Sec-WebSocket-*) are refused.
* ``connect_timeout``: seconds for name resolution (AAAA and A asked at
  once), TCP connect (Happy Eyeballs: IPv6 and IPv4 interleaved, a new
  attempt every 250 ms), the
  proxy, TLS and the opening handshake, together (default 30).
* ``proxy``: a proxy URL: ``http://[user:password@]host[:port]`` (HTTP
  CONNECT, Basic authentication), ``https://...`` (the same over TLS to
  the proxy, verified with this socket's trust options), ``socks5://...``
  (SOCKS5, host resolved locally) or ``socks5h://...`` (resolved by the
  proxy); ``""`` or ``False``: no proxy. Default (``None``): from the
  environment as curl reads it (``https_proxy``/``HTTPS_PROXY`` for wss,
  ``http_proxy`` for ws, then ``all_proxy``/``ALL_PROXY``; ``no_proxy``
  with host suffixes, IPs, CIDR blocks and ``*``). As in curl, loopback
  destinations go through that proxy too unless ``no_proxy`` names them.
* ``client_cert`` / ``client_key``: a client certificate chain and its
  private key (PEM, str or bytes), presented when a ``wss://`` server asks
  for one (mutual TLS); both or neither.
* ``close_timeout``: seconds the closing handshake may take before the
  client drops TCP (default 5).
* ``max_message_size``: largest message accepted, in bytes (default 64 MiB);
  a larger one fails the connection with 1009.
* ``max_queued_bytes``: read-ahead limit, an int of bytes (0: no limit).
  Default 256 KiB for ``WebSocket`` with ``dispatch="thread"``, 8 MiB with
  ``dispatch="poll"``, 128 KiB for ``connect()`` and ``connect_async()``.
  See "Flow control" below.
* ``ca_file`` / ``ca_pem``: extra trust anchors for ``wss://`` (a PEM file's
  path, or PEM text/bytes), next to the operating system's trust store
  (rustls-platform-verifier); with ``ca_exclusive=True`` only those are
  trusted. Each distinct trust setting is built once, off the caller's
  thread, and shared: connections with it resume TLS sessions. ``ca_file``
  must be a regular file (a directory, device, FIFO or socket is refused
  without being read, so the constructor never blocks); either is refused
  above 16 MiB.
* ``ca_crl``: certificate revocation lists (PEM ``X509 CRL`` blocks, str or
  bytes) checked against the certificates the exclusive CA bundle signs;
  a listed server certificate fails with code ``"tls_cert_revoked"``.
  Needs ``ca_exclusive=True`` (the operating system's verifier takes no
  lists).
* ``block_unsafe_ports``: refuse the browser's list of blocked ports
  (default False).
* ``chromium_compat``: behave exactly as Chromium where wsnative
  deliberately differs (default False): blocked ports refused (whatever
  ``block_unsafe_ports`` says), Chromium's 60 s closing handshake (whatever
  ``close_timeout`` says), close codes from the server accepted as Chromium
  accepts them (all but 1005, 1006 and 1015), and close code 1002 instead
  of 1007 for invalid UTF-8.
* ``compression``: permessage-deflate (RFC 7692), default True: the
  client offers it exactly as Chromium does (``permessage-deflate;
  client_max_window_bits``), a server that accepts it sends and receives
  compressed messages, and ``extensions`` shows its answer.
  ``max_message_size`` applies to the decompressed size. ``False`` offers
  nothing. (Unlike Python's websockets, ``None`` here means the default,
  on.)
* ``client_max_window_bits``: 8 to 15 caps the window the client compresses
  with (default: offered without a value, as Chromium).
* ``server_max_window_bits``: 8 to 15 asks the server to compress with no
  larger a window (default: not offered); a server that does not agree
  fails the connection.
* ``client_no_context_takeover``: True offers it, and the client then
  compresses every message on its own (saves the server a window per
  connection; default False, as Chromium).
* ``dangerously_accept_invalid_certificates``: DANGEROUS, default False.
  ``wss://`` then accepts any certificate (expired, self-signed, untrusted,
  for another host), so anyone on the path can read and change the
  traffic. For tests with throwaway certificates; prefer ``ca_file``.

A malformed option raises ``InvalidOptionError``; an unknown keyword raises
``TypeError``. A ``str`` argument that cannot be encoded as UTF-8 (it holds
a lone surrogate, e.g. ``"\\ud800"``) raises the library's errors, never a
bare ``UnicodeEncodeError``: ``WebSocketSyntaxError`` in the URL or a
protocol, ``InvalidOptionError`` in a header or ``ca_pem``,
``InvalidUtf8Error`` in ``send()`` text or a ``close()`` reason. (The
browser would replace it with U+FFFD in the URL and the close reason.)

Flow control: a socket's events wait in a queue until the program takes
them (a handler runs, ``poll()`` dispatches them, ``recv()`` returns them).
While the waiting events cost ``max_queued_bytes`` or more (each counts its
payload, or its error or close text, plus 96 bytes), wsnative stops reading
that connection from the network, so a server that sends faster than the
program consumes is held back by TCP instead of filling memory. A single
message larger than the limit still gets through, one at a time (see
``max_message_size``). Bound: the process grows by up to about three times
``max_queued_bytes`` plus a few MiB (the waiting payloads take more memory
than they count for, and the allocator keeps some). Measured against a
server that floods 4 KiB messages at a consumer that sleeps 1 ms every 100
messages: 4 MiB with a 1 MiB limit, 10 to 13 MiB with a 4 MiB limit, 24
to 26 MiB with the 8 MiB default of ``dispatch="poll"``. With 0
nothing holds the server back: memory grows as long as the server outpaces
the program. After ``close()`` no further message is queued (they are
dropped), so reading resumes until the closing handshake ends. Defaults: a
``recv()`` loop reads continuously and needs read-ahead only to ride out
its own pauses (128 KiB: on a stream of small messages it receives as fast
as with 1 MiB, and the kernel's socket buffers read ahead too); handlers
with ``dispatch="thread"`` run as soon as events arrive (256 KiB: as fast
as 8 MiB, with 8.5 MB less memory); ``poll()`` runs at the program's own
pace, such as once per frame of a game loop, so its queue absorbs a whole
interval of traffic (8 MiB: about 65 ms at 1 Gbit/s, four frames at 60
Hz). Measured on 1,000,000 messages of 64 B (``make bench``, W2): the
peak RSS of ``connect()`` stays at or below websocket-client's, the
leanest other Python client.

What you read follows what you were told (as in the browser, which changes
the attributes in the task that fires the event): ``ready_state``,
``protocol`` and ``extensions`` are the state as of the last event
dispatched to the program, not the state of the network. OPEN (with
``protocol`` and ``extensions``) appears when ``open`` is dispatched, CLOSED
when ``close`` is; CLOSING appears at once when the program calls
``close()``, and when the server starts the closing handshake, after every
message that arrived before the server's Close has been dispatched. A
handler always sees the state of its own event; with ``dispatch="poll"``
nothing changes between two ``poll()`` calls; with ``connect()`` and
``connect_async()`` the state moves as ``recv()`` (or ``wait_closed()``)
consumes the events.

Threads and shutdown: every method may be called from any thread and from
inside any handler, including ``close()`` of the very socket whose handler
runs. Every blocking call releases the GIL and answers Ctrl-C within about
50 ms. At interpreter exit (``atexit``) wsnative closes open sockets (1001,
at most about a second), runs the close handlers still pending, then stops
its threads; a handler that never returns is abandoned after one second.

fork(): a child process forked after wsnative started (``os.fork()``,
``multiprocessing`` with the fork start method) gets fresh library threads
of its own on its first ``WebSocket``, ``connect()`` or ``connect_async()``,
which then work as in any process (``dispatch="thread"`` sockets get their
own dispatcher thread). Sockets inherited from the parent are inert in the
child: nothing new arrives for them there (events already queued before the
fork may still be dispatched) and nothing they are asked to do reaches the
network (a ``recv()`` without a timeout on one would wait for ever); the
parent's connections are untouched. Create new sockets in the child.
"""

from types import TracebackType
from typing import Any, Callable, Generator, Iterable, List, Optional, Tuple, Type, Union

from typing_extensions import Self, disjoint_base, final

from . import _native

__version__: str

__all__ = ["CLOSED", "CLOSING", "CONNECTING", "OPEN", "AsyncConnection", "CloseEvent", "Connection", "ConnectionClosed", "ConnectionFailed", "ErrorEvent", "InternalError", "InvalidAccessError", "InvalidOptionError", "InvalidStateError", "InvalidUtf8Error", "MessageEvent", "OpenEvent", "ShutDownError", "WebSocket", "WebSocketError", "WebSocketSyntaxError", "WouldDeadlockError", "connect", "connect_async", "poll", "shutdown"]

CONNECTING: int
"""``ready_state``: connecting (0)."""
OPEN: int
"""``ready_state``: open (1)."""
CLOSING: int
"""``ready_state``: closing handshake started (2)."""
CLOSED: int
"""``ready_state``: closed (3)."""

_Data = Union[str, bytes, bytearray, memoryview]

class WebSocketError(Exception):
    """Base class of every wsnative exception."""

class WebSocketSyntaxError(WebSocketError, ValueError):
    """The browser's DOMException "SyntaxError": a URL that does not parse
    (including one with a lone surrogate), a scheme other than
    ws/wss/http/https, a fragment (``#``), an invalid or repeated protocol, a
    close reason longer than 123 bytes of UTF-8."""

class InvalidStateError(WebSocketError):
    """The browser's DOMException "InvalidStateError": ``send()`` while
    CONNECTING (nothing is queued); ``poll()`` on a socket not in poll
    dispatch."""

class InvalidAccessError(WebSocketError):
    """The browser's DOMException "InvalidAccessError": a close code other
    than 1000 or 3000..4999."""

class InvalidUtf8Error(WebSocketError, ValueError):
    """Text that is not valid UTF-8 (a ``str`` with a lone surrogate), given
    to ``send()`` or as a ``close()`` reason."""

class InvalidOptionError(WebSocketError, ValueError):
    """An option is malformed or out of range (a header with CR/LF or a lone
    surrogate, an unreadable CA bundle, a ``ca_file`` that is not a regular
    file or is larger than 16 MiB, a negative timeout or
    ``max_queued_bytes``, an unknown ``dispatch``...)."""

class ShutDownError(WebSocketError):
    """The library has been shut down (``shutdown()`` or interpreter exit):
    no new socket can be created."""

class WouldDeadlockError(WebSocketError):
    """The call would deadlock (e.g. ``shutdown()`` from a runtime thread)."""

class InternalError(WebSocketError):
    """A bug or an unexpected condition inside wsnative."""

class ConnectionFailed(WebSocketError, ConnectionError):
    """``connect()``/``connect_async()`` could not open the connection
    (refused, unknown host, TLS failure, handshake rejected, timeout...)."""

    message: str
    """Why, readably."""
    code: str
    """Why, as a stable name (``ErrorEvent.code``)."""
    status: Optional[int]
    """For ``code == "handshake_refused"``: the server's HTTP status."""
    headers: Optional[List[Tuple[str, str]]]
    """For ``code == "handshake_refused"``: the server's response headers."""
    def __init__(
        self,
        message: str,
        code: str = "other",
        status: Optional[int] = None,
        headers: Optional[List[Tuple[str, str]]] = None,
    ) -> None: ...
    def header(self, name: str) -> Optional[str]:
        """The first response header called ``name`` (any case), or None."""

class ConnectionClosed(WebSocketError):
    """``recv()`` on a closed connection (after every message that arrived
    before the close was returned)."""

    code: int
    """The close code (1005: the server sent none; 1006: no closing
    handshake)."""
    reason: str
    was_clean: bool
    error: Optional[str]
    """Why the connection was failed, when it was (``error`` event)."""
    def __init__(self, code: int, reason: str, was_clean: bool, error: Optional[str] = None) -> None: ...

@final
class OpenEvent:
    """The ``open`` event: the handshake succeeded."""

    @property
    def type(self) -> str:
        """``"open"``."""

@final
class MessageEvent:
    """The ``message`` event."""

    @property
    def type(self) -> str:
        """``"message"``."""
    @property
    def data(self) -> Union[str, bytes]:
        """``str`` for a text message, ``bytes`` for a binary one (the
        browser's ``binaryType`` is effectively ``"bytes"``); always whole."""

@final
class ErrorEvent:
    """The ``error`` event: the connection was *failed* (refused, TLS or
    handshake error, protocol violation...). Always followed by ``close``
    with code 1006. The browser gives scripts no detail; Python gets one."""

    @property
    def type(self) -> str:
        """``"error"``."""
    @property
    def message(self) -> str:
        """Why the connection failed, readably."""
    @property
    def code(self) -> str:
        """Why, as a stable name: ``"dns"``, ``"connection_refused"``,
        ``"connect_failed"``, ``"timeout_dns"``, ``"timeout_connect"``,
        ``"timeout_proxy"``, ``"timeout_tls"``, ``"timeout_handshake"``,
        ``"tls_cert_untrusted"``, ``"tls_cert_expired"``,
        ``"tls_cert_name_mismatch"``, ``"tls_cert_revoked"``,
        ``"tls_cert_invalid"``, ``"tls"``, ``"proxy_unreachable"``,
        ``"proxy_auth"``, ``"proxy_refused"``, ``"proxy_closed"``,
        ``"proxy_protocol"``, ``"handshake_refused"``,
        ``"handshake_invalid"``, ``"handshake_closed"``,
        ``"protocol_violation"``, ``"invalid_utf8"``, ``"message_too_big"``,
        ``"blocked_port"``, ``"closed_while_connecting"``, ``"released"``,
        ``"shut_down"`` or ``"other"``."""
    @property
    def status(self) -> Optional[int]:
        """For a refused handshake: the server's HTTP status (401, 429...)."""
    @property
    def headers(self) -> Optional[List[Tuple[str, str]]]:
        """For a refused handshake: the response headers, in order (a 401's
        ``WWW-Authenticate``, a 429's ``Retry-After``)."""

@final
class CloseEvent:
    """The ``close`` event: always the last event of a socket, exactly once."""

    @property
    def type(self) -> str:
        """``"close"``."""
    @property
    def code(self) -> int:
        """The close code (1005: none received, 1006: abnormal closure)."""
    @property
    def reason(self) -> str:
        """The close reason ("" if none)."""
    @property
    def was_clean(self) -> bool:
        """True when the closing handshake completed."""

_Handler = Callable[[Any], object]

class WebSocket(_native.Socket):
    """``new WebSocket(url, protocols)``, the Python way.

    ``WebSocket(url, protocols=None, *, dispatch="thread", onopen=None,
    onmessage=None, onerror=None, onclose=None, **options)``

    Validates ``url`` and ``protocols`` synchronously (``WebSocketSyntaxError``)
    and the options (``InvalidOptionError``), then connects in the
    background and returns at once; a refused port, an unknown host or a
    TLS failure is reported by ``error`` and ``close`` events. ``protocols``
    is ``None``, one ``str`` or an iterable of ``str``. ``http``/``https``
    URLs become ``ws``/``wss``.

    Dispatch: with ``dispatch="thread"`` handlers run on wsnative's single
    dispatcher thread, in order (per socket, and in practice across
    sockets); it takes the GIL once per batch of events. Exceptions raised by
    a handler go to ``sys.unraisablehook`` and the next handler still runs,
    as in the browser. With ``dispatch="poll"`` nothing runs until you call
    ``ws.poll()`` or ``wsnative.poll()``; exceptions from handlers then
    propagate out of ``poll()`` (events not yet dispatched stay queued).
    In both modes the events waiting for their handlers are bounded by
    ``max_queued_bytes`` (default 256 KiB with ``dispatch="thread"``, 8 MiB
    with ``dispatch="poll"``; see "Flow control" in the module
    documentation): a slow handler holds the server back through TCP.

    No lost events: handlers can be given to the constructor
    (``onopen=...``), which covers every event. Handlers attached after the
    constructor returns are seen as well, by this rule: **a handler runs only
    on a thread that holds the GIL, and no handler of a new socket runs
    before the thread that created it releases the GIL.** The constructor
    never releases the GIL once connecting has started, and neither do the
    handler attributes and ``add_event_listener``; so code that creates a
    socket and then attaches its handlers, with no blocking call in between
    (I/O, ``time.sleep``, a lock wait, a wsnative wait), sees every event,
    even from a server that answers in microseconds. Note that CPython also
    makes a thread release the GIL when another thread has waited for it for
    ``sys.getswitchinterval()`` (5 ms): the statements that attach the
    handlers must run within that time, which straight-line code does. With
    ``dispatch="poll"`` the rule is simply that nothing runs before you call
    ``poll()``. A socket created inside a handler gets no event before that
    handler returns.

    Lifetime: as in the browser, a socket that is not CLOSED stays alive
    (and its handlers keep running) even if the program drops every
    reference to it; call ``close()`` to end it. Once its ``close`` event
    has been dispatched (by whichever ``poll()``), wsnative lets go of it:
    its handlers live only as long as the program keeps the socket.
    """

    def __new__(
        cls,
        url: str,
        protocols: Union[str, Iterable[str], None] = None,
        *,
        dispatch: str = "thread",
        onopen: Optional[_Handler] = None,
        onmessage: Optional[_Handler] = None,
        onerror: Optional[_Handler] = None,
        onclose: Optional[_Handler] = None,
        **options: Any,
    ) -> Self: ...
    @property
    def url(self) -> str:
        """The parsed, serialized URL (``ws://host/`` gets its ``/``)."""
    @property
    def ready_state(self) -> int:
        """``CONNECTING`` (0), ``OPEN`` (1), ``CLOSING`` (2) or ``CLOSED``
        (3), as of the last event dispatched to the handlers (CLOSING at once
        after ``close()``): inside a handler, the state of its event; with
        ``dispatch="poll"``, unchanged between two ``poll()`` calls."""
    @property
    def protocol(self) -> str:
        """The subprotocol the server chose; "" until ``open`` is dispatched,
        or when none."""
    @property
    def extensions(self) -> str:
        """The negotiated extensions; "" until ``open`` is dispatched."""
    @property
    def buffered_amount(self) -> int:
        """Bytes handed to ``send()`` and not yet written to the network
        (UTF-8 length for text). Exact, readable from any thread, not reset
        by closing: data sent while CLOSING or CLOSED is discarded but still
        counted, as in the browser."""
    @property
    def dispatch(self) -> str:
        """``"thread"`` or ``"poll"``."""
    def send(self, data: _Data) -> None:
        """Queues a message and returns at once: ``str`` is sent as text,
        ``bytes``/``bytearray``/``memoryview`` (any bytes-like object) as
        binary. Raises ``InvalidStateError`` while CONNECTING,
        ``InvalidUtf8Error`` for a ``str`` that is not valid UTF-8, and
        ``TypeError`` for other types. Never waits for the network: the
        message is copied into the socket's send buffer."""
    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Starts the closing handshake and returns at once; ``ready_state``
        is CLOSING when it returns. ``code`` must be 1000 or 3000..4999
        (``InvalidAccessError``); ``reason`` at most 123 bytes of UTF-8
        (``WebSocketSyntaxError``) and encodable as UTF-8
        (``InvalidUtf8Error``). While CONNECTING the connection is failed
        (``error``, then ``close`` 1006). Does nothing when already CLOSING or
        CLOSED. Messages that arrive after ``close()`` are dropped, including
        those already queued and not yet dispatched."""
    def poll(self, timeout: Optional[float] = None) -> int:
        """``dispatch="poll"`` only: runs this socket's pending handlers on
        the calling thread, in order, waiting up to ``timeout`` seconds for an
        event when none is pending (``None``: do not wait). Returns how many
        events were dispatched. The wait releases the GIL and answers Ctrl-C.

        Bounded, even while events keep coming: one call dispatches at most
        65,536 events, and starts no further handler once it has been
        dispatching for 50 ms (a running handler is not interrupted, so a
        call lasts at most ``timeout`` + 50 ms + one handler). Events left
        over stay queued for the next call. Events of one socket run one at a
        time: a ``poll()`` that finds this socket's handlers already running
        (called from one of them, or on another thread meanwhile) dispatches
        none of its events and returns 0."""
    onopen: Optional[_Handler]
    """Called with an ``OpenEvent``."""
    onmessage: Optional[_Handler]
    """Called with a ``MessageEvent``."""
    onerror: Optional[_Handler]
    """Called with an ``ErrorEvent``."""
    onclose: Optional[_Handler]
    """Called with a ``CloseEvent``."""
    def add_event_listener(self, type: str, listener: _Handler, *, once: bool = False) -> None:
        """``addEventListener``: ``type`` is "open", "message", "error" or
        "close" (other types are accepted and never fire). A listener equal
        to one already registered for ``type`` is not added twice; with
        ``once=True`` it is removed before its first call. Listeners and the
        ``on<type>`` attribute run in the order they were registered."""
    def remove_event_listener(self, type: str, listener: _Handler) -> None:
        """``removeEventListener``: removes a listener equal to ``listener``."""

def poll(timeout: Optional[float] = None) -> int:
    """Runs the pending handlers of every socket created with
    ``dispatch="poll"``, on the calling thread; waits up to ``timeout``
    seconds for an event when none is pending (``None``: do not wait).
    Returns how many events were dispatched. An exception raised by a handler
    propagates; the remaining events stay queued.

    Bounded like ``WebSocket.poll()``, for the whole call: at most 65,536
    events, and no handler starts after 50 ms of dispatching. The next call
    starts with the socket this one stopped at, so a busy socket does not
    starve the others. Sockets whose handlers are already running (this is
    called from one of them, or another thread polls them) are skipped."""

def shutdown(timeout: float = 1.0) -> None:
    """Closes every socket (1001), waits at most ``timeout`` seconds for
    their close events, then stops wsnative's threads. Runs automatically at
    interpreter exit. Afterwards creating a socket raises ``ShutDownError``."""

class Connection(_native.Connection):
    """A blocking connection, from ``connect()``. Messages are pulled with
    ``recv()`` or by iterating; ``close_code``, ``close_reason`` and
    ``was_clean`` are set once the close has been received. Thread safe.
    Messages not yet received wait in a queue bounded by
    ``max_queued_bytes`` (default 128 KiB; see "Flow control" in the module
    documentation): a program that reads slowly holds the server back
    through TCP."""

    @property
    def url(self) -> str:
        """The parsed, serialized URL."""
    @property
    def ready_state(self) -> int:
        """``CONNECTING``, ``OPEN``, ``CLOSING`` or ``CLOSED``, as of the
        last event consumed: OPEN once ``connect()`` returned, CLOSING at once
        after ``close()`` or once ``recv()`` returned every message sent
        before the server's Close, CLOSED once ``recv()`` raised
        ``ConnectionClosed`` (or ``wait_closed()`` returned True)."""
    @property
    def protocol(self) -> str:
        """The subprotocol the server chose ("" when none)."""
    @property
    def extensions(self) -> str:
        """The negotiated extensions."""
    @property
    def buffered_amount(self) -> int:
        """Bytes sent and not yet written to the network."""
    @property
    def close_code(self) -> Optional[int]:
        """The close code, once the close was received (else ``None``)."""
    @property
    def close_reason(self) -> Optional[str]:
        """The close reason, once the close was received."""
    @property
    def was_clean(self) -> Optional[bool]:
        """Whether the closing handshake completed, once closed."""
    @property
    def error(self) -> Optional[str]:
        """Why the connection was failed, if it was."""
    def send(self, data: _Data) -> None:
        """As ``WebSocket.send``: queues and returns at once."""
    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """As ``WebSocket.close``: starts the closing handshake and returns;
        use ``wait_closed()`` to wait for its end. Messages not yet received
        are dropped."""
    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next message (``str`` or ``bytes``), waiting up to
        ``timeout`` seconds (``None``: for ever). Raises ``TimeoutError``
        when the time runs out and ``ConnectionClosed`` once the connection
        is closed and every earlier message was returned. Releases the GIL
        while it waits and answers Ctrl-C."""
    def __iter__(self) -> Self:
        """Iterates over the messages; ends when the connection closes."""
    def __next__(self) -> Union[str, bytes]: ...
    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Waits until the connection is closed (discarding messages);
        False when ``timeout`` ran out first."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes the connection and waits for the closing handshake."""

def connect(url: str, protocols: Union[str, Iterable[str], None] = None, **options: Any) -> Connection:
    """Opens a connection and waits until it is open (the GIL is released
    while waiting; Ctrl-C closes the connection and raises). Raises
    ``WebSocketSyntaxError``/``InvalidOptionError`` for bad arguments and
    ``ConnectionFailed`` when the connection cannot be established (within
    ``connect_timeout``). Use it as a context manager to close on exit::

        with wsnative.connect("ws://127.0.0.1:8080/") as ws:
            ws.send("hello")
            for message in ws:
                print(message)
    """

class AsyncConnection:
    """An asyncio connection, from ``connect_async()``. Bound to the event
    loop that opened it. One coroutine at a time may wait for a message (``recv()``, ``async for``;
    a second one raises RuntimeError); any number may wait in ``close()`` or
    ``wait_closed()`` meanwhile.
    Messages not yet received wait in a queue bounded by
    ``max_queued_bytes`` (default 128 KiB), as for ``Connection``."""

    CONNECTING: int
    OPEN: int
    CLOSING: int
    CLOSED: int
    def __init__(self, native: _native.Connection, hub: Any) -> None: ...
    @property
    def url(self) -> str:
        """The parsed, serialized URL."""
    @property
    def ready_state(self) -> int:
        """``CONNECTING``, ``OPEN``, ``CLOSING`` or ``CLOSED``, as of the
        last event consumed (as for ``Connection.ready_state``)."""
    @property
    def protocol(self) -> str:
        """The subprotocol the server chose ("" when none)."""
    @property
    def extensions(self) -> str:
        """The negotiated extensions."""
    @property
    def buffered_amount(self) -> int:
        """Bytes sent and not yet written to the network."""
    @property
    def close_code(self) -> Optional[int]:
        """The close code, once the close was received."""
    @property
    def close_reason(self) -> Optional[str]:
        """The close reason, once the close was received."""
    @property
    def was_clean(self) -> Optional[bool]:
        """Whether the closing handshake completed, once closed."""
    async def send(self, data: _Data) -> None:
        """Queues a message (never waits for the network)."""
    async def recv(self) -> Union[str, bytes]:
        """The next message; raises ``ConnectionClosed`` once closed and
        every earlier message was returned."""
    async def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Starts the closing handshake and waits for its end."""
    async def wait_closed(self) -> None:
        """Waits until the connection is closed (discarding messages)."""
    def __aiter__(self) -> Self: ...
    async def __anext__(self) -> Union[str, bytes]:
        """The next message; the iteration ends when the connection closes."""
    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """Closes the connection and waits for the closing handshake."""

class _Connect:
    def __init__(self, url: str, protocols: Union[str, Iterable[str], None], options: Any) -> None: ...
    def __await__(self) -> Generator[Any, None, AsyncConnection]: ...
    async def __aenter__(self) -> AsyncConnection: ...
    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

def connect_async(url: str, protocols: Union[str, Iterable[str], None] = None, **options: Any) -> _Connect:
    """Opens a connection on the running asyncio loop without blocking it.
    Await the result (``ws = await connect_async(url)``) or use it with
    ``async with`` (closes on exit). Raises ``ConnectionFailed`` when the
    connection cannot be established; cancelling the await closes it.
    Events reach the loop through one wake-up socket pair per loop (no
    thread per socket)."""
