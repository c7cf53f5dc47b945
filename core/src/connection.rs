//! The connection task: connect, handshake, then the open connection with
//! its closing handshake. This is the only module that speaks the protocol:
//! frames are read by [`Incoming`] and written from one buffer here (the
//! frames send() encoded, then pongs and Close).

use crate::cause::{ErrorCode, Failure};
use crate::deflate::{DeflateParams, Deflater};
use crate::event::{Event, Handler, Message, ReadyState};
use crate::flow::FlowControl;
use crate::handshake;
use crate::incoming::{Incoming, ReadError, Received, Small, Violation};
use crate::low_water::LowWater;
use crate::options::{Options, TCP_CLOSE_GRACE};
use crate::outgoing::{encode, OPCODE_CLOSE, OPCODE_PONG};
use crate::socket::Shared;
use crate::stream::MaybeTls;
use crate::validate::is_blocked_port;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::{sleep, Sleep};

/// Most messages delivered in one poll before yielding to other tasks.
const READ_BUDGET: usize = 512;
/// Immediate handlers that ran this long (the network may have moved on
/// meanwhile) are followed by a turn of the runtime's I/O driver before
/// what they sent is written.
const SLOW_HANDLERS: Duration = Duration::from_millis(1);
/// How long a failed connection may spend sending its Close frame.
const FAIL_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// After close() during CONNECTING, how long the opening request may still
/// take to go out.
const REQUEST_GRACE: Duration = Duration::from_secs(1);
/// A write buffer larger than this is freed once the connection has been
/// idle for [`SPARES_IDLE`], so that one large message or one burst does
/// not keep its memory for the life of the connection.
const KEEP_WRITE_CAPACITY: usize = 1 << 20;
/// A compressor unused this long is freed (see [`Deflater::release`]): an
/// idle connection holds no compression memory on its sending side.
const DEFLATER_IDLE: Duration = Duration::from_secs(5);
/// Large buffers (a message of 1 MiB or more, received or sent) are kept
/// for the next large message, whose pages then need not be faulted in
/// again, and freed after this long without one.
const SPARES_IDLE: Duration = Duration::from_secs(2);
/// The most bytes of pongs waiting for the socket: beyond it, the newest
/// pong replaces the last one waiting.
const PONGS_MAX: usize = 4096;

/// What the handle asks of the task (messages go through
/// [`crate::outgoing::Outgoing`] instead).
pub(crate) enum Command {
    /// `close(code, reason)`; `fail` when the application had not seen
    /// `open` yet (the browser then fails the connection).
    Close { code: Option<u16>, reason: String, fail: bool },
    /// The application released the socket: close with 1001 if open.
    Release,
    /// The library shuts down: close with 1001 within `deadline`.
    Shutdown { deadline: Duration },
}

/// Delivers events and guarantees that `Close` fires exactly once, last,
/// even if the task is dropped (runtime shutdown).
struct Emitter {
    shared: Arc<Shared>,
    handler: Option<Box<dyn Handler>>,
    /// The handler is the application's own (immediate dispatch): the state
    /// it reads moves here, right before each event. Otherwise the binding
    /// that dispatches the events moves it.
    immediate: bool,
    /// When the first immediate handler of this read pass started (the
    /// clock is read only when a handler runs).
    first_handler: Option<Instant>,
}

/// Runs one call of an immediate handler: notes when the first of this read
/// pass started, and lets it write to the socket itself when `drained` (see
/// [`crate::direct::Caller::DrainedHandler`]).
fn immediate_call(first_handler: &mut Option<Instant>, shared: &Shared, drained: bool, call: impl FnOnce()) {
    first_handler.get_or_insert_with(Instant::now);
    let drained = drained.then(|| shared.outgoing.address());
    crate::direct::as_handler(drained, call);
}

impl Emitter {
    fn emit(&mut self, ev: Event) {
        self.emit_read(ev, false);
    }

    /// `drained`: the task has read everything it holds (see
    /// [`crate::direct::Caller::DrainedHandler`]).
    fn emit_read(&mut self, ev: Event, drained: bool) {
        if let Some(h) = self.handler.as_mut() {
            if !self.immediate || self.shared.view.deliver(&ev) {
                if !self.immediate {
                    h.event(ev);
                    return;
                }
                immediate_call(&mut self.first_handler, &self.shared, drained, || h.event(ev));
            }
        }
    }

    /// A message lent from the read buffer ([`Small::Lend`]: immediate
    /// dispatch only), under the same rules as [`Emitter::message`].
    fn lent(&mut self, data: &[u8], is_text: bool, drained: bool) {
        let Some(h) = self.handler.as_mut() else { return };
        if self.shared.view.close_requested() {
            return;
        }
        if !self.immediate {
            h.message(data, is_text);
            return;
        }
        if self.shared.view.message_deliverable() {
            immediate_call(&mut self.first_handler, &self.shared, drained, || h.message(data, is_text));
        }
    }

    /// `drained`: nothing more of the server's is buffered.
    fn message(&mut self, data: Bytes, is_text: bool, drained: bool) {
        // Messages reach the application only while it has not called close().
        if !self.shared.view.close_requested() {
            self.emit_read(Event::Message(Message { data, is_text }), drained);
        }
    }

    fn finish(&mut self, error: Option<Failure>, code: u16, reason: String, was_clean: bool) {
        self.shared.set_state(ReadyState::Closed);
        if let Some(f) = error {
            let cause = Box::new(crate::cause::Cause { code: f.code, response: f.response });
            self.emit(Event::Error { message: f.message, cause });
        }
        self.emit(Event::Close { code, reason, was_clean });
        // Dropping the handler here breaks any cycle through the handler.
        self.handler = None;
    }
}

impl Drop for Emitter {
    fn drop(&mut self) {
        if self.handler.is_some() {
            self.finish(None, 1006, String::new(), false);
        }
    }
}

/// A yield that lets the runtime's I/O driver run before the task goes on
/// (tokio wakes a yielded task only after polling the driver).
fn reactor_turn() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(tokio::task::yield_now())
}

/// Where a connection's events go.
pub(crate) struct Delivery {
    pub(crate) handler: Box<dyn Handler>,
    /// The handler is the application's own: see [`Emitter::immediate`].
    pub(crate) immediate: bool,
    /// The budget of queued events: reading pauses while it is spent.
    pub(crate) flow: Option<Arc<FlowControl>>,
}

/// An established connection: the stream, what came after the 101
/// response, and what was negotiated.
struct Established {
    stream: MaybeTls,
    leftover: Vec<u8>,
    deflate: Option<DeflateParams>,
}

/// The connection's task: connects, opens, then drives the connection to
/// its end.
///
/// Not an `async fn`, for the reason given at [`drive`]: the options alone
/// are 160 bytes.
#[allow(clippy::manual_async_fn)] // deliberately not an async fn (above)
pub(crate) fn run(
    shared: Arc<Shared>,
    protocols: Vec<String>,
    options: Options,
    tls: Option<crate::tls::Trust>,
    delivery: Delivery,
    mut cmds: UnboundedReceiver<Command>,
) -> impl std::future::Future<Output = ()> {
    async move {
        let Delivery { handler, immediate, flow } = delivery;
        // Lending needs a handler that hands each message over at once.
        let small = match (immediate, handler.borrows()) {
            (true, true) => Small::Lend,
            (true, false) => Small::Share,
            (false, _) => Small::Copy,
        };
        let mut em =
            Emitter { shared: Arc::clone(&shared), handler: Some(handler), immediate, first_handler: None };
        // Boxed: the connecting state (TLS handshake, HTTP buffers) is freed
        // once open instead of sizing the task for its whole life.
        // One deadline for every phase: the phase that runs out reports itself.
        let deadline = tokio::time::Instant::now() + options.connect_timeout;
        let mut connecting = Box::pin(tokio::time::timeout_at(
            deadline,
            establish(&shared, &protocols, &options, tls, deadline),
        ));
        let est = tokio::select! {
            r = &mut connecting => match r {
                Ok(Ok(est)) => est,
                Ok(Err(msg)) => return em.finish(Some(msg), 1006, String::new(), false),
                Err(_) => {
                    // Every earlier phase reports its own timeout: this one ran out
                    // during the opening handshake.
                    let msg = format!("the connection was not established within {:?}", options.connect_timeout);
                    return em.finish(Some(Failure::new(ErrorCode::TimeoutHandshake, msg)), 1006, String::new(), false);
                }
            },
            (why, closed) = aborted_while_connecting(&mut cmds) => {
                em.finish(Some(why), 1006, String::new(), false);
                if closed {
                    // As in the browser, whose opening request is already on its
                    // way when close() takes effect: the server still sees the
                    // connection and the request, then TCP is dropped.
                    // Boxed: a timer inline would size every task for this rare path.
                    let _ = Box::pin(tokio::time::timeout(REQUEST_GRACE, connecting)).await;
                }
                return;
            }
        };
        drop(connecting);
        let Established { stream, leftover, deflate } = est;
        if let Some(d) = deflate.as_ref() {
            shared.outgoing.set_deflater(Deflater::new(d));
        }
        let incoming = Incoming::new(
            &leftover,
            deflate.is_some(),
            options.max_message_size,
            options.chromium_compat,
            small,
        );
        drop(leftover);
        shared.set_state(ReadyState::Open);
        let handler_started = Instant::now();
        em.emit(Event::Open);
        // See OpenConnection::poll: what arrived meanwhile comes first. (Not
        // awaited here: a suspension point with the connection alive would size
        // every task for both.)
        let slow_open = handler_started.elapsed() >= SLOW_HANDLERS;
        use std::os::fd::AsRawFd;
        let (direct, low_water) = match &stream {
            MaybeTls::Plain(tcp) => (Some(tcp.as_raw_fd()), Some(LowWater::plain(tcp.as_raw_fd()))),
            MaybeTls::Tls(tls) => (None, Some(LowWater::under_tls(tls.get_ref().0.get_ref().as_raw_fd()))),
            MaybeTls::Nested(_) => (None, None),
        };
        let mut conn =
            OpenConnection::new(stream, incoming, shared, cmds, options.close_timeout, flow, slow_open);
        conn.low_water = low_water;
        if let Some(fd) = direct {
            conn.shared.outgoing.start_direct(fd);
        }
        drive(conn, em).await
    }
}

/// Runs an open connection until it is closed, failed or dropped, and
/// delivers the final events.
///
/// A function returning an `async move` block, not an `async fn`: an async
/// fn keeps its arguments twice in its state (as arguments and as the
/// locals they are moved into, rust-lang/rust#62958), and the open
/// connection is 640 bytes that every task would carry twice.
#[allow(clippy::manual_async_fn)] // deliberately not an async fn (above)
fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: OpenConnection<S>,
    mut em: Emitter,
) -> impl std::future::Future<Output = ()> {
    async move {
        let end = poll_fn(|cx| conn.poll(cx, &mut em)).await;
        conn.shared.outgoing.stop_direct();
        match end {
            End::Clean => {
                let (code, reason) = conn.received_close.take().unwrap_or((1005, String::new()));
                em.finish(None, code, reason, true)
            }
            End::Abnormal => em.finish(None, 1006, String::new(), false),
            End::Failed(v) => {
                // Boxed: its timer and writes inline would size every
                // connection's task for this rare path (576 bytes).
                Box::pin(conn.send_failure_close(v.code)).await;
                em.finish(
                    Some(Failure::new(ErrorCode::of_violation(v.code), v.message)),
                    1006,
                    String::new(),
                    false,
                )
            }
            End::Dropped(why) => em.finish(
                Some(Failure::new(ErrorCode::ClosedWhileConnecting, why)),
                1006,
                String::new(),
                false,
            ),
        }
    }
}

async fn establish(
    shared: &Shared,
    protocols: &[String],
    options: &Options,
    tls: Option<crate::tls::Trust>,
    deadline: tokio::time::Instant,
) -> Result<Established, Failure> {
    let url = &shared.url;
    if options.block_unsafe_ports && is_blocked_port(url.port()) {
        let msg = format!("port {} is on the browser's list of blocked ports", url.port());
        return Err(Failure::new(ErrorCode::BlockedPort, msg));
    }
    let mut stream = crate::connect::open(url, options, tls.as_ref(), deadline).await?;
    let req = handshake::Request {
        protocols,
        headers: &options.headers,
        deflate: options.permessage_deflate.as_ref(),
    };
    let accepted = handshake::perform(&mut stream, url, &req).await?;
    let _ = shared.protocol.set(accepted.protocol);
    let _ = shared.extensions.set(accepted.extensions);
    Ok(Established { stream, leftover: accepted.leftover, deflate: accepted.deflate })
}

const CLOSED_WHILE_CONNECTING: &str = "close() was called before the connection was established";

/// Resolves when the application gives up on a connection still being
/// established; says why, and whether it was close().
async fn aborted_while_connecting(cmds: &mut UnboundedReceiver<Command>) -> (Failure, bool) {
    let why = |code, m: &str| Failure::new(code, m);
    match cmds.recv().await {
        Some(Command::Close { .. }) => (why(ErrorCode::ClosedWhileConnecting, CLOSED_WHILE_CONNECTING), true),
        Some(Command::Release) | None => {
            (why(ErrorCode::Released, "the socket was released while connecting"), false)
        }
        Some(Command::Shutdown { .. }) => {
            (why(ErrorCode::ShutDown, "the library was shut down while connecting"), false)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// We sent Close; waiting for the server's Close.
    ClosingByUs,
    /// The server sent Close; our reply is being written.
    ClosingByPeer,
    /// Both Close frames are through; waiting for the server to close TCP.
    AwaitTcpClose,
}

/// Why reading stopped.
enum Read {
    Ended(End),
    /// The server's Close arrived: write its echo, then read on.
    WriteFirst,
    /// Nothing more to read now (or the budget is spent and a wake-up is
    /// scheduled).
    Blocked,
}

enum End {
    /// Closing handshake complete.
    Clean,
    /// TCP closed or reset without a complete closing handshake, or the
    /// closing handshake timed out: close 1006, no error event.
    Abnormal,
    /// The connection was failed: error event, then close 1006.
    Failed(Violation),
    /// The application failed the connection (close() before it saw open):
    /// TCP is dropped without a Close frame, error event, then close 1006.
    Dropped(String),
}

/// The Close frame (ours, or the echo of the server's) for `code`.
fn close_frame(code: Option<u16>, reason: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    if let Some(c) = code {
        payload.extend_from_slice(&c.to_be_bytes());
        payload.extend_from_slice(reason.as_bytes());
    }
    let mut out = Vec::new();
    encode(&mut out, OPCODE_CLOSE, false, &payload, rand::random());
    out
}

struct OpenConnection<S> {
    io: S,
    rx: Incoming,
    shared: Arc<Shared>,
    cmds: UnboundedReceiver<Command>,
    cmds_open: bool,
    outbox: VecDeque<Command>,
    /// Frames being written: `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    /// Payload bytes of send() frames in `wbuf` (bufferedAmount falls by
    /// them once the buffer is written).
    in_flight: u64,
    /// `wbuf` holds bytes not yet written, or the stream is to be flushed.
    must_flush: bool,
    /// Pongs waiting for `wbuf` to be written, one per ping, up to
    /// [`PONGS_MAX`] bytes; then the newest replaces the last one waiting
    /// (RFC 6455 5.5.3 allows answering only the most recent ping), so a
    /// ping flood against a server that never reads costs no memory.
    pongs: Vec<u8>,
    /// Where the last pong in `pongs` starts.
    last_pong: usize,
    phase: Phase,
    received_close: Option<(u16, String)>,
    timer: Option<Pin<Box<Sleep>>>,
    close_timeout: Duration,
    /// A Close frame (ours, or the echo of the server's) waiting for `wbuf`
    /// to be written.
    pending_close: Option<Vec<u8>>,
    /// The server ended TCP after its Close frame while our answer was
    /// still to be written.
    peer_eof: bool,
    /// A yield to the runtime's I/O driver in progress (see `poll`).
    reactor_turn: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    /// The budget of a queued socket: reading pauses while it is spent.
    flow: Option<Arc<FlowControl>>,
    /// After a compressed message: when to free the compressor, and the
    /// count of compressed messages then.
    deflater_idle: Option<(Pin<Box<Sleep>>, u64)>,
    /// After a large message: when to free the large buffers kept for the
    /// next one, unless another comes first.
    spares_idle: Option<Pin<Box<Sleep>>>,
    /// The TCP socket's low-water mark, when the task knows the socket.
    low_water: Option<LowWater>,
}

impl<S> Drop for OpenConnection<S> {
    fn drop(&mut self) {
        // Before the socket is closed (the fields are dropped after this).
        self.shared.outgoing.stop_direct();
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> OpenConnection<S> {
    fn new(
        io: S,
        rx: Incoming,
        shared: Arc<Shared>,
        cmds: UnboundedReceiver<Command>,
        close_timeout: Duration,
        flow: Option<Arc<FlowControl>>,
        reactor_turn_first: bool,
    ) -> Self {
        OpenConnection {
            io,
            rx,
            shared,
            cmds,
            cmds_open: true,
            outbox: VecDeque::new(),
            wbuf: Vec::new(),
            wpos: 0,
            in_flight: 0,
            must_flush: false,
            pongs: Vec::new(),
            last_pong: 0,
            phase: Phase::Open,
            received_close: None,
            timer: None,
            close_timeout,
            pending_close: None,
            peer_eof: false,
            reactor_turn: reactor_turn_first.then(reactor_turn),
            flow,
            deflater_idle: None,
            spares_idle: None,
            low_water: None,
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>, em: &mut Emitter) -> Poll<End> {
        self.shared.outgoing.register(cx.waker());
        // What has arrived is handled before what the application sent is
        // written, as in Chromium, whose network process answers the
        // server's Close (and drops later sends) while the page's handlers
        // still run: data sent from a handler goes out only if the server
        // had not closed by then.
        if let Some(turn) = self.reactor_turn.as_mut() {
            if turn.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.reactor_turn = None;
        }
        loop {
            self.take_commands(cx);
            em.first_handler = None;
            let read = self.read(cx, em);
            if let Read::Ended(end) = read {
                return Poll::Ready(end);
            }
            // Slow immediate handlers held this task while the network went
            // on: tokio learns what arrived meanwhile only from its I/O
            // driver, so let it run once before writing what they sent.
            let handlers_ran = em.first_handler.take();
            if handlers_ran.is_some_and(|t| t.elapsed() >= SLOW_HANDLERS) && self.shared.outgoing.is_pending()
            {
                let mut turn = reactor_turn();
                if turn.as_mut().poll(cx).is_pending() {
                    self.reactor_turn = Some(turn);
                    return Poll::Pending;
                }
            }
            self.take_commands(cx);
            if let Err(end) = self.write(cx, handlers_ran.is_none()) {
                return Poll::Ready(end);
            }
            match read {
                // The echo of the server's Close is out: read on, for the
                // end of TCP.
                Read::WriteFirst => continue,
                _ => break,
            }
        }
        if self.peer_eof && !self.must_flush && self.pending_close.is_none() {
            return Poll::Ready(End::Clean);
        }
        if self.rx.took_spare() | self.shared.outgoing.took_spare() {
            self.watch_spares();
        }
        if let Some(t) = self.spares_idle.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                self.spares_idle = None;
                self.rx.release_spare();
                self.shared.outgoing.release_spare(KEEP_WRITE_CAPACITY);
                if self.wbuf.is_empty() && self.wbuf.capacity() > KEEP_WRITE_CAPACITY {
                    self.wbuf = Vec::new();
                }
            }
        }
        if let Some((t, seen)) = self.deflater_idle.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                let seen = *seen;
                self.deflater_idle = None;
                if !self.shared.outgoing.release_idle_deflater(seen) {
                    self.watch_deflater(cx);
                }
            }
        }
        if let Some(t) = self.timer.as_mut() {
            if t.as_mut().poll(cx).is_ready() {
                self.timer = None;
                return Poll::Ready(match self.phase {
                    Phase::AwaitTcpClose => End::Clean,
                    _ => End::Abnormal,
                });
            }
        }
        Poll::Pending
    }

    /// (Re)starts the wait after which the large buffers kept are freed.
    fn watch_spares(&mut self) {
        self.spares_idle = Some(Box::pin(sleep(SPARES_IDLE)));
    }

    /// Watches the compressor again for [`DEFLATER_IDLE`].
    fn watch_deflater(&mut self, cx: &mut Context<'_>) {
        if let Some(n) = self.shared.outgoing.compressions() {
            let mut t = Box::pin(sleep(DEFLATER_IDLE));
            let _ = t.as_mut().poll(cx);
            self.deflater_idle = Some((t, n));
        }
    }

    fn arm(&mut self, after: Duration) {
        self.timer = Some(Box::pin(sleep(after)));
    }

    /// Moves commands from the channel to the outbox. A close request arms
    /// the close timer at once, even while earlier data is still queued.
    fn take_commands(&mut self, cx: &mut Context<'_>) {
        while self.cmds_open {
            let cmd = match self.cmds.poll_recv(cx) {
                Poll::Ready(Some(cmd)) => cmd,
                // Every handle is gone: the socket is released.
                Poll::Ready(None) => {
                    self.cmds_open = false;
                    Command::Release
                }
                Poll::Pending => break,
            };
            match &cmd {
                Command::Shutdown { deadline } => {
                    let d = (*deadline).min(self.close_timeout);
                    if self.phase == Phase::Open || self.timer.is_none() {
                        self.arm(d);
                    }
                }
                Command::Close { .. } | Command::Release => {
                    if self.phase == Phase::Open && self.timer.is_none() {
                        self.arm(self.close_timeout);
                    }
                }
            }
            self.outbox.push_back(cmd);
        }
    }

    /// Once the previous batch is written: the pongs (for pings that came
    /// before anything a handler sent since), the messages sent so far, the
    /// close requests and a Close frame go into the write buffer; then as
    /// much as the socket takes is written.
    ///
    /// `senders_elsewhere`: no handler of this task ran, so what is waiting
    /// was sent from other threads. The task then gives up its CPU once
    /// before taking it (see [`let_senders_run`]).
    fn write(&mut self, cx: &mut Context<'_>, senders_elsewhere: bool) -> Result<(), End> {
        if !self.must_flush {
            if senders_elsewhere && self.phase == Phase::Open && self.shared.outgoing.is_pending() {
                let_senders_run();
            }
            // Pongs go out between frames: before what send() queued,
            // unless it starts with the rest of a frame a send began.
            let pongs_after = !self.pongs.is_empty() && self.shared.outgoing.starts_cut();
            if !pongs_after {
                self.take_pongs();
            }
            self.take_frames();
            if pongs_after {
                self.take_pongs();
            }
            while let Some(cmd) = self.outbox.pop_front() {
                match cmd {
                    Command::Close { fail: true, .. } => {
                        return Err(End::Dropped(CLOSED_WHILE_CONNECTING.into()))
                    }
                    Command::Close { code, reason, .. } => self.start_close(code, &reason),
                    Command::Release => self.start_close(Some(1001), ""),
                    Command::Shutdown { .. } => self.start_close(Some(1001), "shutting down"),
                }
            }
            if let Some(c) = self.pending_close.take() {
                self.wbuf.extend_from_slice(&c);
                self.must_flush = true;
            }
        }
        if self.must_flush {
            self.flush(cx)?;
        }
        Ok(())
    }

    /// Writes the write buffer and flushes the stream; on completion
    /// bufferedAmount falls by what it held.
    fn flush(&mut self, cx: &mut Context<'_>) -> Result<(), End> {
        match self.poll_write_all(cx) {
            Poll::Ready(Ok(())) => {
                self.shared.outgoing.written(std::mem::take(&mut self.in_flight));
                self.must_flush = false;
                if self.phase == Phase::ClosingByPeer && self.pending_close.is_none() {
                    self.phase = Phase::AwaitTcpClose;
                    self.arm(TCP_CLOSE_GRACE);
                }
                // Room for the next batch.
                let still_busy = !self.pongs.is_empty() || self.pending_close.is_some();
                let more_frames = self.shared.outgoing.batch_written(still_busy);
                if more_frames || still_busy || !self.outbox.is_empty() {
                    cx.waker().wake_by_ref();
                }
                Ok(())
            }
            Poll::Ready(Err(e)) => Err(self.classify_io(e)),
            Poll::Pending => Ok(()),
        }
    }

    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
        if self.wbuf.capacity() > KEEP_WRITE_CAPACITY {
            // Kept (for the next large message, or the next batch) until
            // the connection idles.
            self.wbuf = self.shared.outgoing.keep_spare(std::mem::take(&mut self.wbuf));
            self.watch_spares();
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }

    /// Moves the pongs to answer to the write buffer.
    fn take_pongs(&mut self) {
        if !self.pongs.is_empty() {
            self.wbuf.extend_from_slice(&self.pongs);
            self.pongs.clear();
            self.must_flush = true;
        }
    }

    /// Moves the frames send() queued to the write buffer (which holds no
    /// unwritten bytes: see [`Self::write`]).
    fn take_frames(&mut self) {
        let taken = self.shared.outgoing.take_into(&mut self.wbuf, self.phase == Phase::Open);
        if taken.bytes == 0 {
            return;
        }
        if self.phase == Phase::Open {
            self.in_flight += taken.payload;
            self.must_flush = true;
            if self.deflater_idle.is_none() {
                self.deflater_idle =
                    self.shared.outgoing.compressions().map(|n| (Box::pin(sleep(DEFLATER_IDLE)), n));
            }
        } else {
            // Sent after the closing handshake began: discarded, still
            // counted in bufferedAmount; but the rest of a frame already
            // partly written goes out, or the Close would fall inside it.
            let keep = self.wbuf.len() - taken.bytes + taken.cut;
            self.wbuf.truncate(keep);
            self.must_flush |= taken.cut > 0;
        }
    }

    fn start_close(&mut self, code: Option<u16>, reason: &str) {
        if self.phase != Phase::Open {
            return;
        }
        self.shared.outgoing.stop_direct();
        self.shared.set_state(ReadyState::Closing);
        self.phase = Phase::ClosingByUs;
        if self.timer.is_none() {
            self.arm(self.close_timeout);
        }
        self.pending_close = Some(close_frame(code, reason));
    }

    fn read(&mut self, cx: &mut Context<'_>, em: &mut Emitter) -> Read {
        if self.peer_eof {
            return Read::Blocked;
        }
        for _ in 0..READ_BUDGET {
            // Flow control, until the application calls close() (from then
            // on queued messages are dropped, and the Close must get through).
            if let Some(q) = &self.flow {
                if !self.shared.view.close_requested() && q.poll_room(cx).is_pending() {
                    return Read::Blocked;
                }
            }
            if let Some(text) = self.rx.lend_next() {
                self.hand_lent(text, em);
                continue;
            }
            match self.rx.poll_next(cx, &mut self.io) {
                Poll::Pending => {
                    if let Some(w) = self.low_water.as_mut() {
                        w.before_wait(self.rx.owed());
                    }
                    return Read::Blocked;
                }
                Poll::Ready(Ok(Received::Message { data, text })) => {
                    if self.phase == Phase::Open {
                        em.message(data, text, self.rx.drained());
                    }
                }
                Poll::Ready(Ok(Received::Lent { text })) => self.hand_lent(text, em),
                Poll::Ready(Ok(Received::Ping(payload))) => self.queue_pong(&payload),
                Poll::Ready(Ok(Received::Pong)) => {}
                Poll::Ready(Ok(Received::Close(frame))) => {
                    self.on_close_frame(frame, em);
                    // The echo goes out before anything else is read.
                    return Read::WriteFirst;
                }
                Poll::Ready(Err(ReadError::Eof)) => {
                    if self.received_close.is_none() {
                        return Read::Ended(End::Abnormal);
                    }
                    if self.pending_close.is_some() || self.must_flush {
                        // The server closed its side; our answer still goes
                        // out (see poll) before the connection ends.
                        self.peer_eof = true;
                        return Read::Blocked;
                    }
                    return Read::Ended(End::Clean);
                }
                Poll::Ready(Err(ReadError::Violation(v))) => return Read::Ended(End::Failed(v)),
                Poll::Ready(Err(ReadError::Io(e))) => return Read::Ended(self.classify_io(e)),
            }
        }
        cx.waker().wake_by_ref();
        Read::Blocked
    }

    /// The message the reader has just lent, to the application while open.
    fn hand_lent(&self, text: bool, em: &mut Emitter) {
        if self.phase == Phase::Open {
            em.lent(self.rx.lent(), text, self.rx.drained());
        }
    }

    fn queue_pong(&mut self, payload: &[u8]) {
        if self.pongs.is_empty() {
            self.shared.outgoing.mark_busy();
        }
        if self.pongs.len() + 6 + payload.len() > PONGS_MAX {
            self.pongs.truncate(self.last_pong);
        }
        self.last_pong = self.pongs.len();
        encode(&mut self.pongs, OPCODE_PONG, false, payload, rand::random());
    }

    fn on_close_frame(&mut self, frame: Option<(u16, String)>, em: &mut Emitter) {
        let (code, reason) = frame.clone().unwrap_or((1005, String::new()));
        if self.received_close.is_none() {
            self.received_close = Some((code, reason));
        }
        match self.phase {
            Phase::Open => {
                self.shared.outgoing.stop_direct();
                // Answer with the same code and reason, as Chromium does.
                self.shared.set_state(ReadyState::Closing);
                em.emit(Event::Closing);
                self.phase = Phase::ClosingByPeer;
                let (code, reason) = frame.map_or((None, String::new()), |(c, r)| (Some(c), r));
                self.pending_close = Some(close_frame(code, &reason));
                self.arm(self.close_timeout);
            }
            Phase::ClosingByUs => {
                self.phase = Phase::AwaitTcpClose;
                self.arm(TCP_CLOSE_GRACE);
            }
            Phase::ClosingByPeer | Phase::AwaitTcpClose => {}
        }
    }

    /// How an I/O error ends the connection: after the server's Close
    /// frame, losing TCP (even before our reply got out) still ends a clean
    /// close, as in Chromium.
    fn classify_io(&self, _e: io::Error) -> End {
        if self.received_close.is_some() {
            End::Clean
        } else {
            End::Abnormal
        }
    }

    /// Failing the connection: send a Close frame with `code` when the
    /// connection can still carry one, briefly, then drop TCP.
    async fn send_failure_close(&mut self, code: u16) {
        let attempt = async {
            // Finish what is being written, then the messages the
            // application sent while the connection was open, then Close.
            poll_fn(|cx| self.poll_write_all(cx)).await.ok()?;
            self.shared.outgoing.written(std::mem::take(&mut self.in_flight));
            // Once a Close frame is out, no other may follow.
            if self.phase != Phase::Open {
                return Some(());
            }
            let taken = self.shared.outgoing.take_into(&mut self.wbuf, false);
            self.in_flight += taken.payload;
            self.wbuf.extend_from_slice(&close_frame(Some(code), ""));
            poll_fn(|cx| self.poll_write_all(cx)).await.ok()?;
            self.shared.outgoing.written(std::mem::take(&mut self.in_flight));
            Some(())
        };
        let _ = tokio::time::timeout(FAIL_FLUSH_TIMEOUT, attempt).await;
    }
}

/// Lets a thread that is sending give its messages before the task takes
/// them: `sched_yield()`, which returns at once unless another thread is
/// waiting for this CPU.
///
/// A send wakes the task when the send buffer was empty. When the sending
/// thread and the runtime's thread share a CPU, the woken task would
/// otherwise preempt the sender after a few messages, take them, write them
/// with one system call and sleep, only to be woken again by the next send:
/// a context switch, an eventfd write and a `sendto` for every few hundred
/// small messages. Yielding once lets the sender finish its burst (or its
/// time slice), so the task writes the burst in a few large writes. When
/// nothing else waits for the CPU (the sender is on another core, or
/// blocked), this costs one system call per batch and no delay.
fn let_senders_run() {
    std::thread::yield_now();
}

#[cfg(feature = "fuzzing")]
/// Fuzzing entry: runs the open connection (frame reader, inflater,
/// closing handshake) over `server_bytes` as the server's byte stream, with
/// the client optionally sending and closing, and permessage-deflate
/// optionally negotiated, on a runtime with paused time. Panics if the events break the browser's rules: messages,
/// then at most one error, then exactly one close, last.
pub(crate) fn fuzz_server_stream(client_actions: u8, server_bytes: &[u8]) {
    use crate::event::EventHandler;
    use crate::socket::Shared;
    use std::sync::Mutex;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
    let seen: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let handler: EventHandler = Box::new(move |ev| {
        let mut v = sink.lock().unwrap();
        let after_close = v.iter().any(|e| matches!(e, Event::Close { .. }));
        assert!(!after_close, "an event after close: {ev:?}");
        match &ev {
            Event::Open => panic!("a second open event"),
            Event::Message(m) => {
                assert!(!v.iter().any(|e| matches!(e, Event::Error { .. })), "a message after an error");
                if m.is_text {
                    assert!(std::str::from_utf8(&m.data).is_ok(), "invalid UTF-8 delivered as text");
                }
            }
            Event::Error { .. } => assert!(!v.iter().any(|e| matches!(e, Event::Error { .. })), "two errors"),
            Event::Closing => {
                let twice = v.iter().any(|e| matches!(e, Event::Closing | Event::Error { .. }));
                assert!(!twice, "closing twice, or after an error");
            }
            Event::Close { code, was_clean, .. } => {
                let failed = v.iter().any(|e| matches!(e, Event::Error { .. }));
                assert!(!failed || (*code == 1006 && !was_clean), "close after error must be 1006");
            }
        }
        v.push(ev);
    });
    let bytes = server_bytes.to_vec();
    rt.block_on(async move {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let shared = Arc::new(Shared::new_for_tests());
        shared.set_state(ReadyState::Open);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        if client_actions & 1 != 0 {
            shared.outgoing.push(true, b"hello");
        }
        if client_actions & 2 != 0 {
            shared.view.request_close();
            let _ = tx.send(Command::Close { code: Some(1000), reason: String::new(), fail: false });
        }
        let server_task = tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let _ = server.write_all(&bytes).await;
            if client_actions & 4 != 0 {
                // A server that keeps TCP open for a while (virtual time).
                tokio::time::sleep(Duration::from_secs(10)).await;
            }
            let _ = server.shutdown().await;
            let mut sink = vec![0u8; 4096];
            while let Ok(n) = server.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        });
        let small = if client_actions & 16 != 0 { Small::Lend } else { Small::Copy };
        let incoming = Incoming::new(&[], client_actions & 8 != 0, 1 << 20, false, small);
        let em = Emitter {
            shared: Arc::clone(&shared),
            handler: Some(Box::new(handler)),
            immediate: false,
            first_handler: None,
        };
        let conn = OpenConnection::new(client, incoming, shared, rx, Duration::from_secs(5), None, false);
        drive(conn, em).await;
        drop(tx);
        server_task.abort();
    });
    let v = seen.lock().unwrap();
    assert!(matches!(v.last(), Some(Event::Close { .. })), "no close event: {v:?}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventHandler;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::AsyncWriteExt;

    /// This process's resident memory, in bytes.
    fn rss() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    }

    /// A server floods pings and never reads: the pongs cannot be written,
    /// and what waits for the socket stays bounded (RFC 6455 5.5.3 allows
    /// answering only the most recent ping). Before the bound, every pong
    /// waited in the write buffer (131 bytes per ping), and the server
    /// found hundreds of KiB of them once it read.
    #[test]
    fn a_ping_flood_against_a_server_that_never_reads_costs_no_memory() {
        const PINGS: usize = 200_000;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let messages = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&messages);
        let (growth, pongs_written) = rt.block_on(async move {
            // A tiny pipe: the client's writes block at once, as against a
            // server that never reads (no kernel buffer to absorb them).
            let (client, server) = tokio::io::duplex(4096);
            let (mut server_rx, mut server_tx) = tokio::io::split(server);
            let mut ping = vec![0x89, 125];
            ping.extend([0x55; 125]);
            let chunk: Vec<u8> = ping.iter().copied().cycle().take(ping.len() * 500).collect();
            let base = rss();
            let flood = tokio::spawn(async move {
                for _ in 0..PINGS / 500 {
                    server_tx.write_all(&chunk).await.unwrap();
                }
                server_tx.write_all(&[0x82, 1, 7]).await.unwrap();
                // Only now does the server read, to see what was waiting.
                let mut pongs = Vec::new();
                let _ = tokio::time::timeout(Duration::from_millis(300), async {
                    let mut buf = vec![0u8; 65536];
                    loop {
                        use tokio::io::AsyncReadExt;
                        match server_rx.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => pongs.extend_from_slice(&buf[..n]),
                        }
                    }
                })
                .await;
                pongs.len()
            });
            let shared = Arc::new(Shared::new_for_tests());
            shared.set_state(ReadyState::Open);
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let handler: EventHandler = Box::new(move |ev| {
                if matches!(ev, Event::Message(_)) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            });
            let em = Emitter {
                shared: Arc::clone(&shared),
                handler: Some(Box::new(handler)),
                immediate: false,
                first_handler: None,
            };
            let incoming = Incoming::new(&[], false, 1 << 20, false, Small::Copy);
            let conn = OpenConnection::new(
                client,
                incoming,
                Arc::clone(&shared),
                rx,
                Duration::from_secs(5),
                None,
                false,
            );
            let peak = Arc::new(std::sync::atomic::AtomicU64::new(base));
            let sampler = {
                let peak = Arc::clone(&peak);
                tokio::spawn(async move {
                    loop {
                        peak.fetch_max(rss(), Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                })
            };
            let driving = tokio::spawn(drive(conn, em));
            let pongs_written = flood.await.unwrap();
            sampler.abort();
            drop(tx);
            driving.abort();
            (peak.load(Ordering::SeqCst).saturating_sub(base), pongs_written)
        });
        assert_eq!(messages.load(Ordering::SeqCst), 1, "the message after the flood was read");
        assert!(pongs_written < 64 * 1024, "{pongs_written} bytes of pongs were waiting");
        assert!(growth < 8 << 20, "RSS grew by {} KiB", growth >> 10);
    }
}
