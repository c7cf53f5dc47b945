// Tests of bindings/csharp/WsNative.cs under Mono, against the bundled echo
// server (bindings/csharp/run-tests.sh starts it and passes its URL).
//
//   mono WsNativeTests.exe ECHO_URL
//
// Every dispatch of a queued socket is followed by GC.Collect() and
// GC.WaitForPendingFinalizers(), so that anything native code still used and
// the garbage collector moved or collected would show. Each test ends by
// checking that no native socket and no GCHandle is left behind. Prints one
// line per test and "N passed, M failed"; exits 1 on any failure.
// WSNATIVE_TEST_ONLY=substring runs only the matching tests.
using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using WsNative;

static class Tests
{
    static string echoUrl;
    static int passed, failed;
    static bool currentFailed;
    static string currentTest = "(none)";
    static int mainThread;
    static int dispatches;

    static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--exit-with-open-sockets") return ExitWithOpenSockets(args[1]);
        if (args.Length != 1)
        {
            Console.Error.WriteLine("usage: WsNativeTests.exe ECHO_URL");
            return 2;
        }
        echoUrl = args[0].TrimEnd('/');
        mainThread = Thread.CurrentThread.ManagedThreadId;
        Console.WriteLine("WsNative.cs tests: wsnative " + WebSocket.NativeVersion + ", " + echoUrl);
        // A test that hangs ends the program with a message.
        var watchdog = new Timer(_ =>
        {
            Console.WriteLine("    WATCHDOG: the test " + currentTest + " hung; giving up");
            Console.WriteLine(passed + " passed, " + (failed + 1) + " failed");
            Environment.Exit(3);
        });

        var tests = new List<KeyValuePair<string, Action>>
        {
            T("compat_types", CompatTypes),
            T("echo_text_and_binary", EchoTextAndBinary),
            T("subprotocols", Subprotocols),
            T("client_close", ClientClose),
            T("server_close_code_reason", ServerCloseCodeReason),
            T("abnormal_1006", Abnormal1006),
            T("close_before_open", CloseBeforeOpen),
            T("before_connect", BeforeConnect),
            T("bad_urls_throw_syntax_error", BadUrls),
            T("send_while_connecting", SendWhileConnecting),
            T("close_arguments", CloseArguments),
            T("refused_connection_cause", RefusedConnection),
            T("handshake_refused_status_headers", HandshakeRefused),
            T("request_headers", RequestHeaders),
            T("invalid_options", InvalidOptions),
            T("every_option", EveryOption),
            T("max_message_size", MaxMessageSize),
            T("blocked_port", BlockedPort),
            T("ten_thousand_messages", TenThousandMessages),
            T("handler_exception_rethrown", HandlerExceptionRethrown),
            T("dispose_inside_handler", DisposeInsideHandler),
            T("reconnect", Reconnect),
            T("unreferenced_queued_sockets_collected", UnreferencedQueuedCollected),
            T("immediate_dispatch", ImmediateDispatch),
            T("immediate_unreferenced_lives_until_close", ImmediateUnreferenced),
            T("immediate_handler_exception_reported", ImmediateHandlerException),
            T("cancel_connection", CancelConnection),
            T("process_exit_with_open_sockets", ProcessExitWithOpenSockets),
            T("shutdown", ShutdownLast),
        };
        string only = Environment.GetEnvironmentVariable("WSNATIVE_TEST_ONLY");
        foreach (var t in tests)
        {
            if (!string.IsNullOrEmpty(only) && !t.Key.Contains(only)) continue;
            Run(t.Key, t.Value, watchdog);
        }
        watchdog.Dispose();
        Console.WriteLine("(" + dispatches + " dispatches, each followed by a full garbage collection)");
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    static KeyValuePair<string, Action> T(string name, Action a) { return new KeyValuePair<string, Action>(name, a); }

    static void Run(string name, Action test, Timer watchdog)
    {
        currentTest = name;
        currentFailed = false;
        watchdog.Change(60000, Timeout.Infinite);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            test();
        }
        catch (Exception e)
        {
            Fail("unexpected exception: " + e);
        }
        // Nothing left behind: every native socket released, every GCHandle
        // freed by the library's userdata finalizer (after collecting what the
        // test dropped).
        if (name != "shutdown")
        {
            bool clean = Eventually(() => WebSocket.LiveNativeSockets == 0 && WebSocket.LiveCallbackHandles == 0, 5000);
            Check(clean, "left behind: " + WebSocket.LiveNativeSockets + " native sockets, " +
                         WebSocket.LiveCallbackHandles + " GCHandles");
        }
        watchdog.Change(Timeout.Infinite, Timeout.Infinite);
        if (currentFailed) failed++; else passed++;
        Console.WriteLine("  " + (currentFailed ? "FAIL" : "ok  ") + " " + name + " (" + sw.ElapsedMilliseconds + " ms)");
    }

    // ------------------------------------------------------------------
    // Checks and helpers

    static void Fail(string what)
    {
        currentFailed = true;
        Console.WriteLine("    CHECK failed: " + what);
    }

    static void Check(bool cond, string what) { if (!cond) Fail(what); }

    static void Eq<TV>(TV actual, TV expected, string what)
    {
        if (!EqualityComparer<TV>.Default.Equals(actual, expected))
            Fail(what + ": got <" + actual + ">, expected <" + expected + ">");
    }

    static TE Throws<TE>(Action a, string what) where TE : Exception
    {
        try
        {
            a();
        }
        catch (TE e)
        {
            if (e.GetType() != typeof(TE) && !(typeof(TE) == typeof(WsNativeException))) Fail(what + ": threw " + e.GetType().Name + ", expected exactly " + typeof(TE).Name);
            return e;
        }
        catch (Exception e)
        {
            Fail(what + ": threw " + e.GetType().Name + " (" + e.Message + "), expected " + typeof(TE).Name);
            return null;
        }
        Fail(what + ": did not throw " + typeof(TE).Name);
        return null;
    }

    static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
    }

    // Dispatches until `until` holds (true) or the time runs out (false),
    // with a full garbage collection after every dispatch.
    static bool Pump(WebSocket ws, Func<bool> until, int timeoutMs = 10000)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!until())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) return false;
            ws.DispatchMessageQueue();
            dispatches++;
            Collect();
            if (!until()) Thread.Sleep(1);
        }
        return true;
    }

    static bool Eventually(Func<bool> cond, int timeoutMs)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (!cond())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) return false;
            Collect();
            Thread.Sleep(5);
        }
        return true;
    }

    static string Url(string path) { return echoUrl + path; }

    // A loopback port nothing listens on.
    static string RefusedUrl()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return "ws://127.0.0.1:" + port + "/";
    }

    // Records the events of one socket, with the checks every test gets:
    // handlers on the expected thread, one at a time, nothing after close.
    sealed class Rec
    {
        public readonly List<string> Events = new List<string>();
        public readonly List<byte[]> Messages = new List<byte[]>();
        public readonly List<string> Texts = new List<string>();
        public readonly List<byte[]> Binaries = new List<byte[]>();
        public WebSocketCloseCode? CloseCode;
        public WebSocketCloseEvent CloseEx;
        public string Error;
        public WebSocketErrorEvent ErrorEx;
        public readonly List<int> Threads = new List<int>();
        /// <summary>Connect() again after close is expected (a new open
        /// starts a new connection).</summary>
        public bool Reconnects;
        int running;
        readonly object mu = new object();

        public Rec(WebSocket ws)
        {
            ws.OnOpen += () => Add("open", null);
            ws.OnMessage += d => Add("message", () => Messages.Add(d));
            ws.OnTextMessage += t => Add("text", () => Texts.Add(t));
            ws.OnBinaryMessage += d => Add("binary", () => Binaries.Add(d));
            ws.OnError += m => Add("error", () => Error = m);
            ws.OnErrorEx += e => Add("errorEx", () => ErrorEx = e);
            ws.OnClose += c => Add("close", () => CloseCode = c);
            ws.OnCloseEx += e => Add("closeEx", () => CloseEx = e);
        }

        void Add(string ev, Action record)
        {
            if (Interlocked.Increment(ref running) != 1) Fail("two handlers of one socket ran at once");
            lock (mu)
            {
                if (CloseEx != null && Reconnects && ev == "open") CloseEx = null;
                if (CloseEx != null) Fail("event " + ev + " after close");
                Events.Add(ev);
                Threads.Add(Thread.CurrentThread.ManagedThreadId);
                if (record != null) record();
            }
            Interlocked.Decrement(ref running);
        }

        public bool Closed { get { lock (mu) return CloseEx != null; } }
        public int Count(string ev) { lock (mu) return Events.Count(e => e == ev); }
        public string Sequence { get { lock (mu) return string.Join(",", Events); } }
    }

    static WebSocket OpenEcho(string path, out Rec rec, WebSocketOptions options = null)
    {
        var ws = new WebSocket(Url(path), null, null, options);
        rec = new Rec(ws);
        ws.Connect();
        Rec r = rec;
        Check(Pump(ws, () => r.Count("open") == 1 || r.Closed), "open within 10 s");
        Eq(ws.State, WebSocketState.Open, "State after open");
        return ws;
    }

    static void CloseAndWait(WebSocket ws, Rec rec)
    {
        ws.Close();
        Check(Pump(ws, () => rec.Closed), "closed within 10 s");
    }

    // ------------------------------------------------------------------
    // Tests

    static void CompatTypes()
    {
        // NativeWebSocket's names and values (code written for it compiles
        // and means the same).
        Eq((int)WebSocketCloseCode.NotSet, 0, "NotSet");
        Eq((int)WebSocketCloseCode.Normal, 1000, "Normal");
        Eq((int)WebSocketCloseCode.Away, 1001, "Away");
        Eq((int)WebSocketCloseCode.ProtocolError, 1002, "ProtocolError");
        Eq((int)WebSocketCloseCode.UnsupportedData, 1003, "UnsupportedData");
        Eq((int)WebSocketCloseCode.Undefined, 1004, "Undefined");
        Eq((int)WebSocketCloseCode.NoStatus, 1005, "NoStatus");
        Eq((int)WebSocketCloseCode.Abnormal, 1006, "Abnormal");
        Eq((int)WebSocketCloseCode.InvalidData, 1007, "InvalidData");
        Eq((int)WebSocketCloseCode.PolicyViolation, 1008, "PolicyViolation");
        Eq((int)WebSocketCloseCode.TooBig, 1009, "TooBig");
        Eq((int)WebSocketCloseCode.MandatoryExtension, 1010, "MandatoryExtension");
        Eq((int)WebSocketCloseCode.ServerError, 1011, "ServerError");
        Eq((int)WebSocketCloseCode.TlsHandshakeFailure, 1015, "TlsHandshakeFailure");
        Eq((int)WebSocketState.Connecting, 0, "Connecting");
        Eq((int)WebSocketState.Closed, 3, "Closed");
        IWebSocket i = new WebSocket(Url("/"), new Dictionary<string, string>());
        WebSocketOpenEventHandler open = () => { };
        WebSocketMessageEventHandler msg = d => { };
        WebSocketErrorEventHandler err = m => { };
        WebSocketCloseEventHandler close = c => { };
        i.OnOpen += open;
        i.OnMessage += msg;
        i.OnError += err;
        i.OnClose += close;
        Eq(i.State, WebSocketState.Closed, "State before Connect()");
        Check(typeof(WebSocketException).IsAssignableFrom(typeof(WsNativeException)), "WsNativeException is a WebSocketException");
        Check(typeof(WebSocketInvalidStateException).IsAssignableFrom(typeof(InvalidStateError)), "InvalidStateError is a WebSocketInvalidStateException");
        Check(typeof(WebSocketInvalidArgumentException).IsAssignableFrom(typeof(SyntaxError)), "SyntaxError is a WebSocketInvalidArgumentException");
        Check(typeof(WebSocketInvalidArgumentException).IsAssignableFrom(typeof(InvalidAccessError)), "InvalidAccessError is a WebSocketInvalidArgumentException");
        Eq(WebSocketHelpers.ParseCloseCodeEnum(4000), WebSocketCloseCode.Undefined, "ParseCloseCodeEnum(4000)");
        Eq(WebSocketHelpers.ParseCloseCodeEnum(1011), WebSocketCloseCode.ServerError, "ParseCloseCodeEnum(1011)");
        ((IDisposable)i).Dispose();

        // The NativeWebSocket 2.x interface: connect, send and close through it.
        IWebSocket ws = WebSocketFactory.CreateInstance(Url("/"));
        var rec = new Rec((WebSocket)ws);
        ws.Connect();
        Check(Pump((WebSocket)ws, () => rec.Count("open") == 1), "open through IWebSocket");
        ws.SendText("via the interface");
        ws.Send(new byte[] { 9 });
        Check(Pump((WebSocket)ws, () => rec.Messages.Count == 2), "echoes");
        ws.Close(WebSocketCloseCode.Normal, "by\0e");
        Check(Pump((WebSocket)ws, () => rec.Closed), "closed");
        Eq(rec.CloseEx != null ? rec.CloseEx.Code : 0, 1000, "code");
        Eq(rec.CloseEx != null ? rec.CloseEx.Reason : null, "by\0e", "a reason holding NUL comes back whole");
        ((WebSocket)ws).Dispose();
    }

    static void EchoTextAndBinary()
    {
        var ws = new WebSocket(Url("/"), new Dictionary<string, string>());
        var rec = new Rec(ws);
        Eq(ws.Dispatch, WebSocketDispatch.Queued, "queued dispatch by default");
        Task connected = ws.Connect();
        Eq(ws.State, WebSocketState.Connecting, "State right after Connect()");
        Check(Pump(ws, () => rec.Count("open") == 1), "open");
        Eq(ws.State, WebSocketState.Open, "State after OnOpen");
        Eq(ws.Url, echoUrl + "/", "Url (serialized)");
        Eq(ws.Protocol, "", "Protocol without subprotocols");
        Eq(ws.Extensions, "", "Extensions (the test server negotiates none)");

        string unicode = "héllo wörld \U0001F600 \u4e16\u754c";
        var bin = new byte[] { 0, 1, 2, 0xfe, 0xff };
        var big = new byte[1 << 20];
        for (int i = 0; i < big.Length; i++) big[i] = (byte)(i * 7);
        ws.SendText(unicode);
        ws.SendText("");
        ws.Send(bin);
        ws.Send(new byte[0]);
        ws.SendText("a\0b");
        ws.Send(big);
        ulong buffered = ws.BufferedAmount;
        ulong total = (ulong)(Encoding.UTF8.GetByteCount(unicode) + bin.Length + 3 + big.Length);
        Check(buffered <= total, "BufferedAmount " + buffered + " <= bytes sent " + total);
        Check(Pump(ws, () => rec.Messages.Count == 6), "6 echoes");
        Check(Eventually(() => ws.BufferedAmount == 0, 5000), "BufferedAmount back to 0");
        Eq(rec.Texts.Count, 3, "text messages");
        Eq(rec.Binaries.Count, 3, "binary messages");
        if (rec.Texts.Count == 3)
        {
            Eq(rec.Texts[0], unicode, "unicode text");
            Eq(rec.Texts[1], "", "empty text");
            Eq(rec.Texts[2], "a\0b", "text with NUL");
        }
        if (rec.Binaries.Count == 3)
        {
            Check(rec.Binaries[0].SequenceEqual(bin), "binary bytes");
            Eq(rec.Binaries[1].Length, 0, "empty binary");
            Check(rec.Binaries[2].SequenceEqual(big), "1 MiB binary");
        }
        if (rec.Messages.Count == 6)
        {
            Check(rec.Messages[0].SequenceEqual(Encoding.UTF8.GetBytes(unicode)), "OnMessage gets the text's UTF-8 bytes");
            Check(rec.Messages[2].SequenceEqual(bin), "OnMessage gets binary bytes");
        }
        Eq(rec.Sequence, "open,message,text,message,text,message,binary,message,binary,message,text,message,binary",
           "event order");
        Check(rec.Threads.All(t => t == mainThread), "every handler ran on the dispatching thread");
        Check(!connected.IsCompleted, "Connect() task still running while open");
        Task closing = ws.Close(WebSocketCloseCode.Normal, "done");
        Eq(ws.State, WebSocketState.Closing, "State right after Close()");
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.CloseCode, (WebSocketCloseCode?)WebSocketCloseCode.Normal, "OnClose code");
        Eq(rec.CloseEx.Code, 1000, "close code");
        Check(rec.CloseEx.WasClean, "wasClean");
        Eq(ws.State, WebSocketState.Closed, "State after OnClose");
        Check(connected.Wait(5000), "Connect() task completes after OnClose");
        Check(closing.Wait(5000), "Close() task completes after OnClose");
        Eq(rec.Count("error"), 0, "no error");
        ws.Dispose();
    }

    static void Subprotocols()
    {
        var ws = new WebSocket(Url("/"), new List<string> { "chat.v2", "chat.v1" }, new Dictionary<string, string>());
        var rec = new Rec(ws);
        ws.Connect();
        Eq(ws.Protocol, "", "Protocol before open");
        Check(Pump(ws, () => rec.Count("open") == 1), "open");
        Eq(ws.Protocol, "chat.v2", "the server picks the first offered");
        CloseAndWait(ws, rec);
        ws.Dispose();

        var one = new WebSocket(Url("/"), "x.v1");
        var rec1 = new Rec(one);
        one.Connect();
        Check(Pump(one, () => rec1.Count("open") == 1), "open (one subprotocol)");
        Eq(one.Protocol, "x.v1", "single subprotocol overload");
        CloseAndWait(one, rec1);
        one.Dispose();
    }

    static void ClientClose()
    {
        Rec rec;
        var ws = OpenEcho("/", out rec);
        ws.Close((WebSocketCloseCode)4000, "client reason");
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.CloseEx.Code, 4000, "the server answers with our code");
        Check(rec.CloseEx.WasClean, "wasClean");
        Eq((int)rec.CloseCode.Value, 4000, "OnClose gets the number of a code without a name");
        // A second Close() does nothing.
        ws.Close();
        Pump(ws, () => false, 100);
        Eq(rec.Count("close"), 1, "OnClose exactly once");

        // Close() without a code (the browser's close()): the server sees
        // none and the close code is 1005.
        Rec rec2;
        var ws2 = OpenEcho("/", out rec2);
        ws2.Close(WebSocketCloseCode.NotSet);
        Check(Pump(ws2, () => rec2.Closed), "closed (no code)");
        Eq(rec2.CloseEx.Code, 1005, "no status code");
        Eq(rec2.CloseCode, (WebSocketCloseCode?)WebSocketCloseCode.NoStatus, "NoStatus");
        ws.Dispose();
        ws2.Dispose();
    }

    static void ServerCloseCodeReason()
    {
        var ws = new WebSocket(Url("/close/4001"));
        var rec = new Rec(ws);
        Task done = ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed by the server");
        Eq(rec.Sequence, "open,close,closeEx", "events");
        Eq(rec.CloseEx.Code, 4001, "server's code");
        Eq(rec.CloseEx.Reason, "bye", "server's reason");
        Check(rec.CloseEx.WasClean, "wasClean");
        Check(done.Wait(5000), "Connect() task completes");
        ws.Dispose();
    }

    static void Abnormal1006()
    {
        var ws = new WebSocket(Url("/drop"));
        var rec = new Rec(ws);
        ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.Sequence, "open,close,closeEx", "no error event for a dropped connection");
        Eq(rec.CloseCode, (WebSocketCloseCode?)WebSocketCloseCode.Abnormal, "Abnormal");
        Eq(rec.CloseEx.Code, 1006, "1006");
        Check(!rec.CloseEx.WasClean, "not clean");
        ws.Dispose();
    }

    static void CloseBeforeOpen()
    {
        var ws = new WebSocket(Url("/"));
        var rec = new Rec(ws);
        Task done = ws.Connect();
        ws.Close();
        Eq(ws.State, WebSocketState.Closing, "CLOSING at once");
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.Sequence, "error,errorEx,close,closeEx", "error then close, no open");
        Eq(rec.ErrorEx.Cause, WebSocketErrorCause.ClosedWhileConnecting, "cause");
        Eq(rec.CloseEx.Code, 1006, "1006");
        Check(!rec.CloseEx.WasClean, "not clean");
        Check(done.Wait(5000), "Connect() task completes");
        ws.Dispose();
    }

    static void BeforeConnect()
    {
        var ws = new WebSocket(Url("/"));
        var rec = new Rec(ws);
        Eq(ws.State, WebSocketState.Closed, "State before Connect()");
        Eq(ws.Url, Url("/"), "Url before Connect()");
        Eq(ws.BufferedAmount, 0UL, "BufferedAmount");
        Check(ws.Close().IsCompleted, "Close() before Connect() does nothing");
        ws.DispatchMessageQueue();
        Throws<InvalidStateError>(() => ws.SendText("x"), "SendText before Connect()");
        Throws<InvalidStateError>(() => ws.Send(new byte[1]), "Send before Connect()");
        Eq(rec.Sequence, "", "no events");
        ws.Dispose();
        Throws<ObjectDisposedException>(() => ws.Connect(), "Connect() after Dispose()");
        Throws<ObjectDisposedException>(() => ws.SendText("x"), "SendText after Dispose()");
        Eq(ws.State, WebSocketState.Closed, "State after Dispose()");
    }

    static void BadUrls()
    {
        // The constructor throws, as the browser's does.
        foreach (string url in new[] { "not a url", "ftp://127.0.0.1/", "ws://127.0.0.1/#frag", "ws://127.0.0.1/#", "ws://[::1/", "ws://a\0b/" })
        {
            var e = Throws<SyntaxError>(() => new WebSocket(url), "new WebSocket(" + url + ")");
            if (e != null)
            {
                Eq(e.Result, WsResult.SyntaxError, "Result");
                Check(e.Message.StartsWith("SyntaxError"), "message names the DOMException: " + e.Message);
            }
        }
        // Caught as NativeWebSocket's and as wsnative's base classes.
        try
        {
            new WebSocket("ftp://x/").Connect();
            Fail("no exception");
        }
        catch (WebSocketException e)
        {
            Check(e is WsNativeException && e is WebSocketInvalidArgumentException, "exception hierarchy");
        }
        foreach (var protocols in new[] { new List<string> { "a b" }, new List<string> { "x", "x" }, new List<string> { "" } })
        {
            Throws<SyntaxError>(() => new WebSocket(Url("/"), protocols), "subprotocols [" + string.Join("|", protocols) + "]");
        }
        Eq(WebSocket.LiveCallbackHandles, 0, "a failed Connect() frees its GCHandle");
        Eq(WebSocket.LiveNativeSockets, 0, "a failed Connect() makes no socket");
    }

    static void SendWhileConnecting()
    {
        var ws = new WebSocket(Url("/"));
        var rec = new Rec(ws);
        ws.Connect();
        // Queued: nothing is dispatched yet, so the socket is CONNECTING.
        var e = Throws<InvalidStateError>(() => ws.SendText("early"), "SendText while CONNECTING");
        if (e != null) Check(e is WebSocketInvalidStateException, "NativeWebSocket's class");
        Throws<InvalidStateError>(() => ws.Send(new byte[] { 1 }), "Send while CONNECTING");
        Throws<InvalidStateError>(() => ws.Connect(), "Connect() while CONNECTING");
        Check(Pump(ws, () => rec.Count("open") == 1), "open");
        Throws<InvalidStateError>(() => ws.Connect(), "Connect() while OPEN");
        ws.SendText("now");
        Check(Pump(ws, () => rec.Texts.Count == 1), "echo");
        Eq(rec.Texts.FirstOrDefault(), "now", "only the message sent while OPEN");
        CloseAndWait(ws, rec);
        // After close: dropped, but BufferedAmount grows (as in the browser).
        ulong before = ws.BufferedAmount;
        ws.SendText("late");
        Eq(ws.BufferedAmount, before + 4, "BufferedAmount grows after close");
        ws.Dispose();
    }

    static void CloseArguments()
    {
        Rec rec;
        var ws = OpenEcho("/", out rec);
        foreach (int code in new[] { 1001, 1005, 2999, 5000, 999, 65535 })
            Throws<InvalidAccessError>(() => ws.Close((WebSocketCloseCode)code), "Close(" + code + ")");
        Throws<InvalidAccessError>(() => ws.Close((WebSocketCloseCode)70000), "Close(70000)");
        Throws<SyntaxError>(() => ws.Close(WebSocketCloseCode.Normal, new string('a', 124)), "reason of 124 bytes");
        Throws<SyntaxError>(() => ws.Close(WebSocketCloseCode.Normal, new string('\u00e9', 62)), "reason of 62 two-byte characters");
        Eq(ws.State, WebSocketState.Open, "still open after refused Close() calls");
        ws.Close(WebSocketCloseCode.Normal, new string('\u00e9', 61) + "a");
        Check(Pump(ws, () => rec.Closed), "closed with a 123-byte reason");
        Eq(rec.CloseEx.Code, 1000, "code");
        ws.Dispose();
    }

    static void RefusedConnection()
    {
        var ws = new WebSocket(RefusedUrl());
        var rec = new Rec(ws);
        Task done = ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.Sequence, "error,errorEx,close,closeEx", "error then close");
        Check(!string.IsNullOrEmpty(rec.Error), "OnError message: " + rec.Error);
        Eq(rec.ErrorEx.Cause, WebSocketErrorCause.ConnectionRefused, "cause");
        Eq(rec.ErrorEx.CauseName, "connection_refused", "cause name");
        Eq(rec.ErrorEx.HttpStatus, 0, "no HTTP status");
        Check(ws.LastError != null && ws.LastError.Cause == WebSocketErrorCause.ConnectionRefused, "LastError");
        Eq(rec.CloseEx.Code, 1006, "1006");
        Check(done.Wait(5000), "Connect() task completes (does not fault)");
        Check(!done.IsFaulted, "not faulted");
        ws.Dispose();
    }

    static void HandshakeRefused()
    {
        // A raw server that refuses the upgrade with 429.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(() =>
        {
            using (TcpClient c = listener.AcceptTcpClient())
            using (NetworkStream s = c.GetStream())
            {
                var buf = new byte[4096];
                var req = new StringBuilder();
                while (!req.ToString().Contains("\r\n\r\n"))
                {
                    int n = s.Read(buf, 0, buf.Length);
                    if (n <= 0) break;
                    req.Append(Encoding.ASCII.GetString(buf, 0, n));
                }
                byte[] resp = Encoding.ASCII.GetBytes("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nX-Custom: yes\r\nContent-Length: 0\r\n\r\n");
                s.Write(resp, 0, resp.Length);
                Thread.Sleep(200);
            }
        });
        var ws = new WebSocket("ws://127.0.0.1:" + port + "/");
        var rec = new Rec(ws);
        string insideCustom = null, insideRetry = null;
        ws.OnErrorEx += e =>
        {
            insideCustom = e.GetHeader("x-custom");
            insideRetry = e.GetHeader("RETRY-AFTER");
        };
        ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed");
        listener.Stop();
        server.Wait(5000);
        Eq(rec.Sequence, "error,errorEx,close,closeEx", "error then close");
        Eq(rec.ErrorEx.Cause, WebSocketErrorCause.HandshakeRefused, "cause");
        Eq(rec.ErrorEx.HttpStatus, 429, "HTTP status");
        Eq(insideCustom, "yes", "any header inside the handler");
        Eq(insideRetry, "7", "case-insensitive");
        Eq(rec.ErrorEx.GetHeader("Retry-After"), "7", "a kept header after the handler");
        Eq(rec.ErrorEx.GetHeader("X-Custom"), "yes", "a header asked for inside, after the handler");
        Eq(rec.ErrorEx.GetHeader("X-Never-Asked"), (string)null, "other headers: null after the handler");
        Eq(ws.LastError.HttpStatus, 429, "LastError.HttpStatus");
        ws.Dispose();
    }

    static void RequestHeaders()
    {
        var options = new WebSocketOptions().AddHeader("X-Extra", "1");
        var ws = new WebSocket(Url("/headers"), null, new Dictionary<string, string> { { "Authorization", "Bearer abc" } }, options);
        var rec = new Rec(ws);
        ws.Connect();
        Check(Pump(ws, () => rec.Texts.Count == 1 || rec.Closed), "headers message");
        string text = rec.Texts.FirstOrDefault() ?? "";
        Check(text.Contains("authorization: Bearer abc\n"), "the constructor's headers are sent: " + text);
        Check(text.Contains("x-extra: 1\n"), "the options' headers are sent");
        Check(!text.Contains("origin:"), "no Origin unless asked");
        CloseAndWait(ws, rec);
        ws.Dispose();
    }

    static void InvalidOptions()
    {
        var cases = new Dictionary<string, WebSocketOptions>
        {
            { "header with CR/LF", new WebSocketOptions().AddHeader("X-Bad", "a\r\nb") },
            { "header name not a token", new WebSocketOptions().AddHeader("Bad Name", "a") },
            { "Sec-WebSocket-Key header", new WebSocketOptions().AddHeader("Sec-WebSocket-Key", "a") },
            { "zero connect timeout", new WebSocketOptions { ConnectTimeout = TimeSpan.Zero } },
            { "zero close timeout", new WebSocketOptions { CloseTimeout = TimeSpan.Zero } },
            { "zero max message size", new WebSocketOptions { MaxMessageSize = 0 } },
            { "missing CA file", new WebSocketOptions { CaFile = "/nonexistent/ca.pem" } },
            { "CA PEM without certificate", new WebSocketOptions { CaPem = Encoding.ASCII.GetBytes("not pem") } },
            { "CRL PEM without a list", new WebSocketOptions { CaCrlPem = Encoding.ASCII.GetBytes("not a revocation list") } },
            { "window bits 7", new WebSocketOptions { ClientMaxWindowBits = 7 } },
            { "server window bits 16", new WebSocketOptions { ServerMaxWindowBits = 16 } },
            { "proxy scheme", new WebSocketOptions { Proxy = "ftp://127.0.0.1:1" } },
            { "client key without certificate", new WebSocketOptions { ClientKeyPem = new byte[] { 1 } } },
            { "client certificate not PEM", new WebSocketOptions { ClientCertificatePem = new byte[] { 1 }, ClientKeyPem = new byte[] { 1 } } },
        };
        foreach (var kv in cases)
        {
            Throws<InvalidOptionError>(() => kv.Value.Validate(), "Validate(): " + kv.Key);
            var ws = new WebSocket(Url("/"), kv.Value);
            Throws<InvalidOptionError>(() => ws.Connect(), "Connect(): " + kv.Key);
            Eq(ws.State, WebSocketState.Closed, "no connection");
            ws.Dispose();
        }
        // The constructor's headers are checked the same way.
        var bad = new WebSocket(Url("/"), new Dictionary<string, string> { { "X-Bad", "a\nb" } });
        Throws<InvalidOptionError>(() => bad.Connect(), "constructor header with LF");
        bad.Dispose();
    }

    static void EveryOption()
    {
        // Every option of the C ABI with a valid value: accepted, and the
        // socket works.
        var options = new WebSocketOptions
        {
            Dispatch = WebSocketDispatch.Queued,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            CloseTimeout = TimeSpan.FromSeconds(2),
            MaxMessageSize = 1 << 20,
            BlockUnsafePorts = true,
            DangerouslyAcceptInvalidCertificates = false,
            MaxQueuedBytes = 1 << 20,
            ChromiumCompat = false,
            Compression = true,
            ClientMaxWindowBits = 15,
            ServerMaxWindowBits = 0,
            CompressionNoContextTakeover = true,
            Proxy = "",
        };
        string ca = Environment.GetEnvironmentVariable("WSNATIVE_TLS_CA");
        if (!string.IsNullOrEmpty(ca))
        {
            options.CaFile = ca;
            options.CaPem = System.IO.File.ReadAllBytes(ca);
        }
        options.AddHeader("Origin", "https://example.test");
        options.Validate();
        Rec rec;
        var ws = OpenEcho("/", out rec, options);
        ws.SendText("with every option");
        Check(Pump(ws, () => rec.Texts.Count == 1), "echo");
        CloseAndWait(ws, rec);
        Eq(rec.CloseEx.Code, 1000, "clean close");
        ws.Dispose();
    }

    static void MaxMessageSize()
    {
        var ws = new WebSocket(Url("/count/1/1000"), new WebSocketOptions { MaxMessageSize = 100 });
        var rec = new Rec(ws);
        ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.Sequence, "open,error,errorEx,close,closeEx", "a message over the limit fails the connection");
        Eq(rec.ErrorEx.Cause, WebSocketErrorCause.MessageTooBig, "cause");
        Eq(rec.CloseEx.Code, 1006, "1006");
        ws.Dispose();
    }

    static void BlockedPort()
    {
        var ws = new WebSocket("ws://127.0.0.1:6000/", new WebSocketOptions { BlockUnsafePorts = true });
        var rec = new Rec(ws);
        ws.Connect();
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.ErrorEx != null ? rec.ErrorEx.Cause : WebSocketErrorCause.None, WebSocketErrorCause.BlockedPort, "cause");
        ws.Dispose();
    }

    static void TenThousandMessages()
    {
        const int n = 10000;
        Rec rec;
        var ws = OpenEcho("/", out rec);
        int before = dispatches;
        // Sent in bursts of 10, each followed by a dispatch (and a full
        // garbage collection), so that receiving and dispatching interleave.
        for (int i = 0; i < n; i++)
        {
            if (i % 2 == 0) ws.SendText("m" + i);
            else ws.Send(BitConverter.GetBytes(i));
            if (i % 10 == 9)
            {
                ws.DispatchMessageQueue();
                dispatches++;
                Collect();
            }
        }
        Check(Pump(ws, () => rec.Messages.Count >= n, 30000), "10,000 echoes within 30 s (got " + rec.Messages.Count + ")");
        bool inOrder = rec.Messages.Count == n;
        for (int i = 0; inOrder && i < n; i++)
        {
            byte[] expected = i % 2 == 0 ? Encoding.UTF8.GetBytes("m" + i) : BitConverter.GetBytes(i);
            if (!rec.Messages[i].SequenceEqual(expected))
            {
                Fail("message " + i + " differs");
                inOrder = false;
            }
        }
        Eq(rec.Texts.Count, n / 2, "texts");
        Eq(rec.Binaries.Count, n / 2, "binaries");
        Check(rec.Threads.All(t => t == mainThread), "all on the dispatching thread");
        Console.WriteLine("    note: " + (dispatches - before) + " dispatches for " + n + " messages");
        CloseAndWait(ws, rec);
        ws.Dispose();
    }

    static void HandlerExceptionRethrown()
    {
        var ws = new WebSocket(Url("/"));
        var rec = new Rec(ws);
        ws.OnTextMessage += t => { if (t == "boom") throw new InvalidOperationException("boom from a handler"); };
        // DispatchMessageQueue() from inside a handler of the same socket does
        // nothing (the library refuses to re-enter: WOULD_DEADLOCK).
        ws.OnOpen += () => ws.DispatchMessageQueue();
        ws.Connect();
        Check(Pump(ws, () => rec.Count("open") == 1), "open");
        ws.SendText("boom");
        ws.SendText("after");
        InvalidOperationException caught = null;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (rec.Texts.Count < 2 && sw.ElapsedMilliseconds < 10000)
        {
            try
            {
                ws.DispatchMessageQueue();
            }
            catch (InvalidOperationException e)
            {
                caught = e;
            }
            Collect();
            Thread.Sleep(1);
        }
        Check(caught != null && caught.Message == "boom from a handler", "DispatchMessageQueue() rethrows the handler's exception");
        Eq(string.Join(",", rec.Texts), "boom,after", "the other events are still dispatched");
        CloseAndWait(ws, rec);
        ws.Dispose();
    }

    static void DisposeInsideHandler()
    {
        // Dispose() in the first of 100 queued messages: no other handler runs.
        var ws = new WebSocket(Url("/count/100/10"));
        var rec = new Rec(ws);
        ws.OnBinaryMessage += d => ws.Dispose();
        ws.Connect();
        Check(Pump(ws, () => rec.Binaries.Count > 0), "first message");
        Pump(ws, () => false, 200);
        Eq(rec.Binaries.Count, 1, "nothing after Dispose()");
        Eq(rec.Count("close"), 0, "no OnClose after Dispose()");
        Eq(ws.State, WebSocketState.Closed, "State after Dispose()");
        Throws<ObjectDisposedException>(() => ws.Send(new byte[1]), "Send after Dispose()");

        // Dispose() inside OnOpen, then inside OnClose.
        var ws2 = new WebSocket(Url("/hello"));
        var rec2 = new Rec(ws2);
        ws2.OnOpen += () => ws2.Dispose();
        ws2.Connect();
        Check(Pump(ws2, () => rec2.Count("open") == 1), "open");
        Pump(ws2, () => false, 200);
        Eq(rec2.Sequence, "open", "no message after Dispose() in OnOpen");

        var ws3 = new WebSocket(Url("/close/4002"));
        var rec3 = new Rec(ws3);
        ws3.OnClose += c => ws3.Dispose();
        ws3.Connect();
        Check(Pump(ws3, () => rec3.Count("close") == 1), "close");
        Pump(ws3, () => false, 100);
        // One event, several handlers: all of them run (as the listeners of
        // one browser event do); nothing comes afterwards.
        Eq(rec3.Sequence, "open,close,closeEx", "Dispose() in OnClose");
    }

    static void Reconnect()
    {
        var ws = new WebSocket(Url("/close/4003"));
        var rec = new Rec(ws) { Reconnects = true };
        int opens = 0;
        ws.OnOpen += () => opens++;
        // Reconnect from inside OnClose, as NativeWebSocket programs do.
        ws.OnClose += c => { if (opens < 3) ws.Connect(); };
        ws.Connect();
        Check(Pump(ws, () => rec.Count("close") == 3), "three connections, each closed by the server");
        Eq(opens, 3, "three opens");
        Eq(string.Join(",", rec.Events.Where(e => e == "open" || e == "close")), "open,close,open,close,open,close", "order");
        Eq(ws.State, WebSocketState.Closed, "closed at the end");
        // And from outside, after the last OnClose.
        Task again = ws.Connect();
        Check(Pump(ws, () => rec.Count("close") == 4), "a fourth connection");
        Check(again.Wait(5000), "its task completes");
        ws.Dispose();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void OpenAndDrop(int count, List<WeakReference> refs)
    {
        for (int i = 0; i < count; i++)
        {
            var ws = new WebSocket(Url("/"));
            bool open = false;
            ws.OnOpen += () => open = true;
            ws.Connect();
            Pump(ws, () => open);
            ws.SendText("left in the queue");
            refs.Add(new WeakReference(ws));
        }
    }

    static void UnreferencedQueuedCollected()
    {
        // Open queued sockets, leave a message in each queue and drop them
        // without Dispose(): the collector releases them (ws_free from the
        // finalizer), and the library then frees their GCHandles.
        var refs = new List<WeakReference>();
        OpenAndDrop(20, refs);
        Check(WebSocket.LiveNativeSockets > 0, "open sockets are counted");
        Check(Eventually(() => WebSocket.LiveNativeSockets == 0 && WebSocket.LiveCallbackHandles == 0, 10000),
              "released by the collector: " + WebSocket.LiveNativeSockets + " sockets, " + WebSocket.LiveCallbackHandles + " GCHandles left");
        Check(refs.All(r => !r.IsAlive), "the WebSocket objects were collected");
    }

    static void ImmediateDispatch()
    {
        var options = new WebSocketOptions { Dispatch = WebSocketDispatch.Immediate };
        var ws = new WebSocket(Url("/"), null, null, options);
        var rec = new Rec(ws);
        var done = new ManualResetEventSlim();
        int n = 0;
        // Sent from OnOpen on a library thread: Connect() has published the
        // connection before any handler runs.
        ws.OnOpen += () => ws.SendText("first");
        ws.OnTextMessage += t =>
        {
            if (++n < 100) ws.SendText("m" + n);
            else ws.Close(WebSocketCloseCode.Normal, "enough");
        };
        ws.OnCloseEx += e => done.Set();
        Eq(ws.Dispatch, WebSocketDispatch.Immediate, "Dispatch");
        Task connected = ws.Connect();
        for (int i = 0; i < 1000 && !done.IsSet; i++)
        {
            ws.DispatchMessageQueue(); // does nothing in immediate mode
            Collect();
            done.Wait(10);
        }
        Check(done.IsSet, "closed within 10 s");
        Eq(rec.Texts.Count, 100, "100 echoes");
        Eq(rec.Texts.FirstOrDefault(), "first", "first echo");
        Check(rec.Threads.All(t => t != mainThread), "handlers on library threads");
        Eq(rec.CloseEx != null ? rec.CloseEx.Code : 0, 1000, "code");
        Check(connected.Wait(5000), "Connect() task completes");
        ws.Dispose();
    }

    // A one-connection raw server on loopback: completes the opening
    // handshake, waits `delayMs`, sends the text message `text`, then a Close
    // 1000, reads the client's reply and closes. Returns its URL.
    static string DelayedMessageServer(int delayMs, string text, out Task done)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        done = Task.Run(() =>
        {
            try
            {
                using (TcpClient c = listener.AcceptTcpClient())
                using (NetworkStream s = c.GetStream())
                {
                    s.ReadTimeout = 10000;
                    string req = ReadHead(s);
                    string key = req.Split(new[] { "\r\n" }, StringSplitOptions.None)
                                    .First(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))
                                    .Substring(18).Trim();
                    string accept;
                    using (var sha1 = System.Security.Cryptography.SHA1.Create())
                        accept = Convert.ToBase64String(sha1.ComputeHash(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
                    Write(s, Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                                                     "Sec-WebSocket-Accept: " + accept + "\r\n\r\n"));
                    Thread.Sleep(delayMs);
                    byte[] payload = Encoding.UTF8.GetBytes(text);
                    Write(s, new byte[] { 0x81, (byte)payload.Length });
                    Write(s, payload);
                    Write(s, new byte[] { 0x88, 0x02, 0x03, 0xe8 });
                    // The client's Close reply, then the server closes TCP.
                    s.Read(new byte[256], 0, 256);
                }
            }
            catch (Exception)
            {
                // The client went away: the test's checks say what happened.
            }
            finally
            {
                listener.Stop();
            }
        });
        return "ws://127.0.0.1:" + port + "/";
    }

    static string ReadHead(NetworkStream s)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n") && s.Read(one, 0, 1) == 1) head.Append((char)one[0]);
        return head.ToString();
    }

    static void Write(NetworkStream s, byte[] b) { s.Write(b, 0, b.Length); }

    [MethodImpl(MethodImplOptions.NoInlining)]
    static void StartUnreferencedImmediate(string url, ManualResetEventSlim done, string[] got)
    {
        var ws = new WebSocket(url, new WebSocketOptions { Dispatch = WebSocketDispatch.Immediate });
        ws.OnTextMessage += t => got[0] = t;
        ws.OnClose += c => done.Set();
        ws.Connect();
    }

    static void ImmediateUnreferenced()
    {
        // Nobody references the socket, and the server's message comes 500 ms
        // after the open, while this thread collects garbage: the socket lives
        // (and its handlers run) until OnClose, as a browser keeps a connected
        // WebSocket alive; afterwards it is collected and released.
        var done = new ManualResetEventSlim();
        var got = new string[1];
        Task server;
        string url = DelayedMessageServer(500, "late hello", out server);
        StartUnreferencedImmediate(url, done, got);
        for (int i = 0; i < 500 && !done.IsSet; i++)
        {
            Collect();
            done.Wait(10);
        }
        Check(done.IsSet, "OnClose ran");
        Eq(got[0], "late hello", "the message arrived although nothing referenced the socket");
        Check(server.Wait(5000), "server done");
    }

    static void ImmediateHandlerException()
    {
        // A handler on a library thread has no caller to throw to: the
        // exception goes to WebSocket.OnHandlerException, and the socket goes on.
        var reported = new List<Exception>();
        Action<WebSocket, Exception> sink = (w, e) => { lock (reported) reported.Add(e); };
        WebSocket.OnHandlerException += sink;
        try
        {
            var ws = new WebSocket(Url("/hello"), new WebSocketOptions { Dispatch = WebSocketDispatch.Immediate });
            var done = new ManualResetEventSlim();
            ws.OnTextMessage += t =>
            {
                ws.Close();
                throw new InvalidOperationException("thrown on a library thread");
            };
            ws.OnClose += c => done.Set();
            ws.Connect();
            Check(done.Wait(10000), "closed");
            lock (reported)
            {
                Eq(reported.Count, 1, "one exception reported");
                Check(reported.Count == 1 && reported[0].Message == "thrown on a library thread", "the handler's exception");
            }
            ws.DispatchMessageQueue(); // nothing to rethrow in immediate mode
            ws.Dispose();
        }
        finally
        {
            WebSocket.OnHandlerException -= sink;
        }
    }

    static void CancelConnection()
    {
        // NativeWebSocket's CancelConnection(): fails a connection still
        // connecting, closes an open one with 1000.
        var ws = new WebSocket(Url("/"));
        var rec = new Rec(ws) { Reconnects = true };
        ws.Connect();
        ws.CancelConnection();
        Check(Pump(ws, () => rec.Closed), "closed");
        Eq(rec.Sequence, "error,errorEx,close,closeEx", "cancelled while connecting");
        ws.Connect();
        Check(Pump(ws, () => rec.Count("open") == 1), "open");
        ws.CancelConnection();
        Check(Pump(ws, () => rec.Count("close") == 2), "closed again");
        Eq(rec.CloseEx != null ? rec.CloseEx.Code : 0, 1000, "cancelled while open: 1000");
        ws.Dispose();
    }

    // The child of process_exit_with_open_sockets: returns from Main with a
    // queued socket open (a message waiting in its queue) and an immediate
    // socket in the middle of an echo ping-pong, none disposed.
    static int ExitWithOpenSockets(string url)
    {
        var queued = new WebSocket(url);
        bool open = false;
        queued.OnOpen += () => open = true;
        queued.Connect();
        var immediate = new WebSocket(url, new WebSocketOptions { Dispatch = WebSocketDispatch.Immediate });
        immediate.OnOpen += () => immediate.SendText("ping");
        immediate.OnTextMessage += t => immediate.SendText(t);
        immediate.Connect();
        for (int i = 0; i < 500 && !open; i++)
        {
            queued.DispatchMessageQueue();
            Thread.Sleep(10);
        }
        queued.SendText("left in the queue");
        Thread.Sleep(100);
        Console.WriteLine("returning from Main, open=" + open);
        return open ? 0 : 1;
    }

    static void ProcessExitWithOpenSockets()
    {
        var psi = new System.Diagnostics.ProcessStartInfo("mono", "--debug \"" + typeof(Tests).Assembly.Location + "\" --exit-with-open-sockets " + Url("/"))
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
        };
        using (var child = System.Diagnostics.Process.Start(psi))
        {
            string output = child.StandardOutput.ReadToEndAsync().Wait(15000) ? "" : null;
            bool exited = child.WaitForExit(15000);
            if (!exited) child.Kill();
            Check(exited, "the process exits within 15 s with sockets open (no hang in the runtime's shutdown)");
            if (exited)
            {
                Eq(child.ExitCode, 0, "exit status");
            }
            Check(output != null, "its output ended");
        }
    }

    static void ShutdownLast()
    {
        // Two sockets left open; Shutdown() closes them (their OnClose waits
        // in the queue), and no socket can be created afterwards.
        Rec rec;
        var ws = OpenEcho("/", out rec);
        WebSocket.Shutdown(5000);
        Check(Pump(ws, () => rec.Closed, 5000), "OnClose after Shutdown()");
        Eq(rec.CloseEx != null ? rec.CloseEx.Code : 0, 1001, "Shutdown() closes with 1001");
        var late = new WebSocket(Url("/"));
        Throws<ShutDownError>(() => late.Connect(), "Connect() after Shutdown()");
        ws.Dispose();
        late.Dispose();
        Check(Eventually(() => WebSocket.LiveNativeSockets == 0 && WebSocket.LiveCallbackHandles == 0, 5000),
              "nothing left behind after Shutdown()");
    }
}
