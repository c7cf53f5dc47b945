// WsNative.cs: the browser's WebSocket for C# (Unity, Godot 4 .NET, Mono,
// .NET), over the C ABI of wsnative (include/wsnative.h). One drop-in source
// file: copy it and the native library (libwsnative.so, wsnative.dll or
// libwsnative.dylib) into the project (Unity: Assets/Plugins/).
//
// The API is that of NativeWebSocket (endel/NativeWebSocket): switching is
// `using NativeWebSocket;` -> `using WsNative;`. What it adds: text versus
// binary messages (OnTextMessage, OnBinaryMessage), the close reason and
// wasClean (OnCloseEx), why a connection failed (OnErrorEx, LastError),
// BufferedAmount, Protocol, Extensions, Url, every option of the C ABI
// (WebSocketOptions), and exceptions named after the browser's
// DOMExceptions (SyntaxError, InvalidStateError, InvalidAccessError, ...),
// all deriving from WsNativeException.
//
// Threads. By default (WebSocketDispatch.Queued) every event handler runs on
// the thread that calls DispatchMessageQueue(): call it from Unity's
// Update() or Godot's _Process(), and the handlers may use the engine's API.
// WebSocketDispatch.Immediate runs them on a library thread as soon as each
// event happens instead. Either way a socket's handlers run one at a time,
// in order: OnOpen, the messages, then possibly OnError, then OnClose (last,
// exactly once, unless Dispose() came first).
//
// Memory. Native code gets only static callbacks (marked for AOT/IL2CPP) and
// a GCHandle per connection, which the library's userdata finalizer frees
// exactly once, after the connection's last callback. The native socket is a
// SafeHandle: Dispose() releases it (an open connection is closed with 1001
// in the background and no handler runs afterwards); a WebSocket nobody
// references any more is released by the garbage collector the same way.
// An immediate-dispatch socket keeps itself alive until its OnClose has run,
// as a browser keeps a connected WebSocket alive; a queued one is the
// application's to keep (it has to, to call DispatchMessageQueue()).
using System;
using System.Collections.Generic;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
#if UNITY_5_3_OR_NEWER
using AOT;
#endif

namespace WsNative
{
#if !UNITY_5_3_OR_NEWER
    /// <summary>Marks a static method that native code calls (reverse
    /// P/Invoke). Mono's full AOT and IL2CPP recognise the attribute by its
    /// name; Unity has its own (AOT.MonoPInvokeCallbackAttribute).</summary>
    [AttributeUsage(AttributeTargets.Method)]
    internal sealed class MonoPInvokeCallbackAttribute : Attribute
    {
        public MonoPInvokeCallbackAttribute(Type type) { Type = type; }
        public Type Type { get; private set; }
    }
#endif

    // ------------------------------------------------------------------
    // NativeWebSocket's types, with the same names and values.

    public delegate void WebSocketOpenEventHandler();
    public delegate void WebSocketMessageEventHandler(byte[] data);
    public delegate void WebSocketErrorEventHandler(string errorMsg);
    public delegate void WebSocketCloseEventHandler(WebSocketCloseCode closeCode);

    /// <summary>Close codes, as NativeWebSocket names them. A code without a
    /// name here (4000, 1012, ...) arrives as its number:
    /// <c>(int)closeCode</c> (NativeWebSocket turns those into Undefined).</summary>
    public enum WebSocketCloseCode
    {
        /// <summary>No code: <c>Close(WebSocketCloseCode.NotSet)</c> sends a
        /// Close frame without one, like the browser's <c>close()</c>.</summary>
        NotSet = 0,
        Normal = 1000,
        Away = 1001,
        ProtocolError = 1002,
        UnsupportedData = 1003,
        Undefined = 1004,
        NoStatus = 1005,
        Abnormal = 1006,
        InvalidData = 1007,
        PolicyViolation = 1008,
        TooBig = 1009,
        MandatoryExtension = 1010,
        ServerError = 1011,
        TlsHandshakeFailure = 1015
    }

    /// <summary>readyState: CONNECTING 0, OPEN 1, CLOSING 2, CLOSED 3.</summary>
    public enum WebSocketState
    {
        Connecting,
        Open,
        Closing,
        Closed
    }

    public interface IWebSocket
    {
        event WebSocketOpenEventHandler OnOpen;
        event WebSocketMessageEventHandler OnMessage;
        event WebSocketErrorEventHandler OnError;
        event WebSocketCloseEventHandler OnClose;

        WebSocketState State { get; }

        Task Connect();
        Task Close(WebSocketCloseCode code = WebSocketCloseCode.Normal, string reason = null);
        Task Send(byte[] data);
        Task SendText(string message);
    }

    public static class WebSocketHelpers
    {
        /// <summary>NativeWebSocket's mapping: a code without a name becomes
        /// Undefined (the events of this file keep the number instead).</summary>
        public static WebSocketCloseCode ParseCloseCodeEnum(int closeCode)
        {
            return Enum.IsDefined(typeof(WebSocketCloseCode), closeCode) ? (WebSocketCloseCode)closeCode : WebSocketCloseCode.Undefined;
        }
    }

    public static class WebSocketFactory
    {
        public static WebSocket CreateInstance(string url) { return new WebSocket(url); }
    }

    // ------------------------------------------------------------------
    // What wsnative adds.

    public delegate void WebSocketTextMessageEventHandler(string text);
    public delegate void WebSocketCloseExEventHandler(WebSocketCloseEvent e);
    public delegate void WebSocketErrorExEventHandler(WebSocketErrorEvent e);

    /// <summary>Where the event handlers run.</summary>
    public enum WebSocketDispatch
    {
        /// <summary>On the thread that calls DispatchMessageQueue() (the
        /// default).</summary>
        Queued,
        /// <summary>On a library thread, as soon as each event happens. Keep
        /// handlers short; engine APIs are usually not allowed there.</summary>
        Immediate
    }

    /// <summary>Why a connection was failed (the C ABI's ws_error_code; the
    /// values never change).</summary>
    public enum WebSocketErrorCause : uint
    {
        None = 0,
        Other = 1,
        Dns = 2,
        ConnectionRefused = 3,
        ConnectFailed = 4,
        TimeoutDns = 10,
        TimeoutConnect = 11,
        TimeoutProxy = 12,
        TimeoutTls = 13,
        TimeoutHandshake = 14,
        TlsCertUntrusted = 20,
        TlsCertExpired = 21,
        TlsCertNameMismatch = 22,
        TlsCertRevoked = 23,
        TlsCertInvalid = 24,
        Tls = 25,
        ProxyUnreachable = 30,
        ProxyAuth = 31,
        ProxyRefused = 32,
        ProxyClosed = 33,
        ProxyProtocol = 34,
        HandshakeRefused = 40,
        HandshakeInvalid = 41,
        HandshakeClosed = 42,
        ProtocolViolation = 50,
        InvalidUtf8 = 51,
        MessageTooBig = 52,
        BlockedPort = 60,
        ClosedWhileConnecting = 61,
        Released = 62,
        ShutDown = 63
    }

    /// <summary>The C ABI's ws_result (the values never change).</summary>
    public enum WsResult : uint
    {
        Ok = 0,
        SyntaxError = 1,
        InvalidStateError = 2,
        InvalidAccessError = 3,
        NullArgument = 4,
        InvalidUtf8 = 5,
        InvalidOption = 6,
        ShutDown = 7,
        WouldDeadlock = 8,
        InternalError = 9,
        Panic = 10,
        UnknownSocket = 11,
        InvalidLength = 12,
        ForkedSocket = 13
    }

    /// <summary>The close event: the code, the reason and whether the
    /// closing handshake completed.</summary>
    public sealed class WebSocketCloseEvent
    {
        internal WebSocketCloseEvent(int code, string reason, bool wasClean)
        {
            Code = code;
            Reason = reason;
            WasClean = wasClean;
        }

        /// <summary>The server's code; 1005 when its Close frame had none,
        /// 1006 when the connection closed abnormally.</summary>
        public int Code { get; private set; }
        public string Reason { get; private set; }
        public bool WasClean { get; private set; }
        public WebSocketCloseCode CloseCode { get { return (WebSocketCloseCode)Code; } }
    }

    /// <summary>The error event (a failed connection; OnClose 1006 follows),
    /// with the cause the browser does not give scripts.</summary>
    public sealed class WebSocketErrorEvent
    {
        /// <summary>The response headers kept with every refused handshake
        /// (HandshakeRefused), readable with GetHeader() at any time. Other
        /// names can be read with GetHeader() inside the error handler
        /// only.</summary>
        public static readonly string[] KeptHeaders = { "Retry-After", "WWW-Authenticate", "Location" };

        readonly Dictionary<string, string> headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        internal Thread handlerThread;

        internal WebSocketErrorEvent(string message, WebSocketErrorCause cause, int httpStatus)
        {
            Message = message;
            Cause = cause;
            HttpStatus = httpStatus;
        }

        /// <summary>A readable cause (never holds URL credentials).</summary>
        public string Message { get; private set; }
        public WebSocketErrorCause Cause { get; private set; }
        /// <summary>A stable short name of the cause ("connection_refused",
        /// "timeout_tls", "handshake_refused", ...).</summary>
        public string CauseName { get { return Native.Utf8(Native.ws_error_code_str((uint)Cause)) ?? ""; } }
        /// <summary>For HandshakeRefused: the server's HTTP status (401, 429,
        /// 503, ...); 0 otherwise.</summary>
        public int HttpStatus { get; private set; }

        /// <summary>For HandshakeRefused: the server's first response header
        /// of that name (case-insensitive), or null. Any name inside the error
        /// handler; afterwards the KeptHeaders and the names already asked
        /// for.</summary>
        public string GetHeader(string name)
        {
            if (name == null) throw new ArgumentNullException("name");
            string value;
            lock (headers)
            {
                if (headers.TryGetValue(name, out value)) return value;
                if (handlerThread != Thread.CurrentThread || Cause != WebSocketErrorCause.HandshakeRefused) return null;
                value = Native.Utf8(Native.ws_error_http_header(Native.Utf8Z(name)));
                headers[name] = value;
                return value;
            }
        }

        internal void Keep()
        {
            if (Cause != WebSocketErrorCause.HandshakeRefused) return;
            foreach (string name in KeptHeaders) GetHeader(name);
        }

        public override string ToString() { return Message; }
    }

    // ------------------------------------------------------------------
    // Exceptions. NativeWebSocket's names stay (catch blocks written for it
    // still compile and still catch); each DOMException-named class derives
    // from the NativeWebSocket class of the same meaning.

    /// <summary>NativeWebSocket's base exception; every exception this file
    /// throws for a ws_result derives from it, through WsNativeException.</summary>
    public class WebSocketException : Exception
    {
        public WebSocketException() { }
        public WebSocketException(string message) : base(message) { }
        public WebSocketException(string message, Exception inner) : base(message, inner) { }
    }

    /// <summary>A failure reported by the native library: Result is its
    /// ws_result, Message its readable text (ws_last_error()).</summary>
    public class WsNativeException : WebSocketException
    {
        public WsNativeException(WsResult result, string message) : base(message) { Result = result; }
        public WsResult Result { get; private set; }

        internal static WsNativeException From(WsResult result, string what)
        {
            string detail = Native.Utf8(Native.ws_last_error());
            string message = Native.ResultName(result) + ": " + what + (string.IsNullOrEmpty(detail) ? "" : ": " + detail);
            switch (result)
            {
                case WsResult.SyntaxError: return new SyntaxError(message);
                case WsResult.InvalidStateError: return new InvalidStateError(message);
                case WsResult.InvalidAccessError: return new InvalidAccessError(message);
                case WsResult.InvalidUtf8: return new InvalidUtf8Error(message);
                case WsResult.InvalidOption: return new InvalidOptionError(message);
                case WsResult.InvalidLength: return new InvalidLengthError(message);
                case WsResult.ShutDown: return new ShutDownError(result, message);
                case WsResult.WouldDeadlock: return new WouldDeadlockError(message);
                case WsResult.InternalError:
                case WsResult.Panic: return new InternalError(result, message);
                default: return new WsNativeException(result, message);
            }
        }
    }

    public class WebSocketInvalidStateException : WsNativeException
    {
        public WebSocketInvalidStateException(string message) : base(WsResult.InvalidStateError, message) { }
        protected WebSocketInvalidStateException(WsResult result, string message) : base(result, message) { }
    }

    public class WebSocketInvalidArgumentException : WsNativeException
    {
        public WebSocketInvalidArgumentException(string message) : base(WsResult.InvalidOption, message) { }
        protected WebSocketInvalidArgumentException(WsResult result, string message) : base(result, message) { }
    }

    public class WebSocketUnexpectedException : WsNativeException
    {
        public WebSocketUnexpectedException(string message) : base(WsResult.InternalError, message) { }
        protected WebSocketUnexpectedException(WsResult result, string message) : base(result, message) { }
    }

    /// <summary>The browser's SyntaxError: an invalid URL, a scheme other
    /// than ws, wss, http or https, a fragment, an invalid or repeated
    /// subprotocol, a close reason over 123 bytes of UTF-8.</summary>
    public sealed class SyntaxError : WebSocketInvalidArgumentException
    {
        public SyntaxError(string message) : base(WsResult.SyntaxError, message) { }
    }

    /// <summary>The browser's InvalidAccessError: a close code other than
    /// 1000 or 3000-4999.</summary>
    public sealed class InvalidAccessError : WebSocketInvalidArgumentException
    {
        public InvalidAccessError(string message) : base(WsResult.InvalidAccessError, message) { }
    }

    /// <summary>The browser's InvalidStateError: sending while CONNECTING
    /// (or before Connect()).</summary>
    public sealed class InvalidStateError : WebSocketInvalidStateException
    {
        public InvalidStateError(string message) : base(WsResult.InvalidStateError, message) { }
    }

    /// <summary>Text that is not valid UTF-8.</summary>
    public sealed class InvalidUtf8Error : WebSocketInvalidArgumentException
    {
        public InvalidUtf8Error(string message) : base(WsResult.InvalidUtf8, message) { }
    }

    /// <summary>An invalid option value (a header with CR or LF, an
    /// unreadable CA file, a zero timeout, ...).</summary>
    public sealed class InvalidOptionError : WebSocketInvalidArgumentException
    {
        public InvalidOptionError(string message) : base(WsResult.InvalidOption, message) { }
    }

    /// <summary>A length no buffer can have.</summary>
    public sealed class InvalidLengthError : WebSocketInvalidArgumentException
    {
        public InvalidLengthError(string message) : base(WsResult.InvalidLength, message) { }
    }

    /// <summary>WebSocket.Shutdown() has been called: no new connection.</summary>
    public sealed class ShutDownError : WebSocketInvalidStateException
    {
        internal ShutDownError(WsResult result, string message) : base(result, message) { }
    }

    /// <summary>The call would deadlock (Shutdown() from a handler).</summary>
    public sealed class WouldDeadlockError : WebSocketInvalidStateException
    {
        public WouldDeadlockError(string message) : base(WsResult.WouldDeadlock, message) { }
    }

    /// <summary>A bug in the native library (its message says more).</summary>
    public sealed class InternalError : WebSocketUnexpectedException
    {
        internal InternalError(WsResult result, string message) : base(result, message) { }
    }

    // ------------------------------------------------------------------
    // Options.

    /// <summary>Every option of the C ABI (ws_options_*). Unset values keep
    /// the library's defaults. Read by Connect(), which copies them: one
    /// object may serve many sockets. Validate() checks them at once;
    /// otherwise Connect() throws InvalidOptionError.</summary>
    public sealed class WebSocketOptions
    {
        readonly List<KeyValuePair<string, string>> headers = new List<KeyValuePair<string, string>>();

        public WebSocketOptions() { Dispatch = WebSocketDispatch.Queued; }

        /// <summary>Queued (the default here; the C default is immediate).</summary>
        public WebSocketDispatch Dispatch { get; set; }
        /// <summary>DNS, TCP, proxy, TLS and the handshake together (30 s).</summary>
        public TimeSpan? ConnectTimeout { get; set; }
        /// <summary>The closing handshake after Close() (5 s).</summary>
        public TimeSpan? CloseTimeout { get; set; }
        /// <summary>Largest message accepted, in bytes (64 MiB; at most
        /// int.MaxValue here, the largest byte[]).</summary>
        public int? MaxMessageSize { get; set; }
        /// <summary>A PEM file of CAs trusted for wss:// (read by Connect()).</summary>
        public string CaFile { get; set; }
        /// <summary>PEM text of CAs trusted for wss://.</summary>
        public byte[] CaPem { get; set; }
        /// <summary>PEM certificate revocation lists checked against an
        /// exclusive CA bundle (CaExclusive): a revoked server certificate
        /// fails the connection (cause TlsCertRevoked).</summary>
        public byte[] CaCrlPem { get; set; }
        /// <summary>Trust only CaFile / CaPem, not the system's store.</summary>
        public bool CaExclusive { get; set; }
        public bool? BlockUnsafePorts { get; set; }
        /// <summary>DANGEROUS: accept any server certificate (tests only).</summary>
        public bool? DangerouslyAcceptInvalidCertificates { get; set; }
        /// <summary>Queued dispatch: stop reading the network while this many
        /// bytes of events wait for DispatchMessageQueue() (64 MiB; 0: no
        /// limit).</summary>
        public long? MaxQueuedBytes { get; set; }
        /// <summary>Behave as Chromium where wsnative differs (README).</summary>
        public bool? ChromiumCompat { get; set; }
        /// <summary>Offer permessage-deflate (on by default).</summary>
        public bool? Compression { get; set; }
        /// <summary>0 (default) or 8-15.</summary>
        public int? ClientMaxWindowBits { get; set; }
        /// <summary>0 (default) or 8-15.</summary>
        public int? ServerMaxWindowBits { get; set; }
        public bool? CompressionNoContextTakeover { get; set; }
        /// <summary>null: from the environment, as curl reads it (default);
        /// "": none; or http://, https://, socks5://, socks5h:// URLs.</summary>
        public string Proxy { get; set; }
        /// <summary>A client certificate chain (PEM, leaf first) for mutual
        /// TLS, with its private key.</summary>
        public byte[] ClientCertificatePem { get; set; }
        public byte[] ClientKeyPem { get; set; }

        /// <summary>A request header of the opening handshake (Origin,
        /// Authorization, Cookie: none is sent otherwise).</summary>
        public WebSocketOptions AddHeader(string name, string value)
        {
            if (name == null) throw new ArgumentNullException("name");
            if (value == null) throw new ArgumentNullException("value");
            headers.Add(new KeyValuePair<string, string>(name, value));
            return this;
        }

        public IList<KeyValuePair<string, string>> Headers { get { return headers.AsReadOnly(); } }

        /// <summary>Throws what Connect() would throw for these options.</summary>
        public void Validate()
        {
            using (Build(null)) { }
        }

        internal WsOptionsHandle Build(IEnumerable<KeyValuePair<string, string>> extraHeaders)
        {
            var h = new WsOptionsHandle(Native.ws_options_new());
            try
            {
                IntPtr o = h.DangerousGetHandle();
                Set(Native.ws_options_set_dispatch(o, Dispatch == WebSocketDispatch.Queued ? 1u : 0u), "Dispatch");
                foreach (var kv in headers) AddHeaderTo(o, kv);
                if (extraHeaders != null)
                    foreach (var kv in extraHeaders) AddHeaderTo(o, kv);
                if (ConnectTimeout.HasValue) Set(Native.ws_options_set_connect_timeout_ms(o, Millis(ConnectTimeout.Value)), "ConnectTimeout");
                if (CloseTimeout.HasValue) Set(Native.ws_options_set_close_timeout_ms(o, Millis(CloseTimeout.Value)), "CloseTimeout");
                if (MaxMessageSize.HasValue)
                {
                    if (MaxMessageSize.Value < 0) throw new InvalidOptionError("InvalidOption: MaxMessageSize is negative");
                    Set(Native.ws_options_set_max_message_size(o, new UIntPtr((uint)MaxMessageSize.Value)), "MaxMessageSize");
                }
                if (CaFile != null) Set(Native.ws_options_set_ca_file(o, Native.Utf8Z(CaFile, "CaFile"), Native.Bool(CaExclusive)), "CaFile");
                if (CaPem != null) Set(Native.ws_options_set_ca_pem(o, CaPem, new UIntPtr((uint)CaPem.Length), Native.Bool(CaExclusive)), "CaPem");
                if (CaCrlPem != null) Set(Native.ws_options_set_ca_crl_pem(o, CaCrlPem, new UIntPtr((uint)CaCrlPem.Length)), "CaCrlPem");
                if (BlockUnsafePorts.HasValue) Set(Native.ws_options_set_block_unsafe_ports(o, Native.Bool(BlockUnsafePorts.Value)), "BlockUnsafePorts");
                if (DangerouslyAcceptInvalidCertificates.HasValue)
                    Set(Native.ws_options_set_dangerously_accept_invalid_certificates(o, Native.Bool(DangerouslyAcceptInvalidCertificates.Value)), "DangerouslyAcceptInvalidCertificates");
                if (MaxQueuedBytes.HasValue)
                {
                    if (MaxQueuedBytes.Value < 0) throw new InvalidOptionError("InvalidOption: MaxQueuedBytes is negative");
                    Set(Native.ws_options_set_max_queued_bytes(o, (ulong)MaxQueuedBytes.Value), "MaxQueuedBytes");
                }
                if (ChromiumCompat.HasValue) Set(Native.ws_options_set_chromium_compat(o, Native.Bool(ChromiumCompat.Value)), "ChromiumCompat");
                if (Compression.HasValue) Set(Native.ws_options_set_compression(o, Native.Bool(Compression.Value)), "Compression");
                if (ClientMaxWindowBits.HasValue || ServerMaxWindowBits.HasValue)
                {
                    int c = ClientMaxWindowBits ?? 0, s = ServerMaxWindowBits ?? 0;
                    if (c < 0 || s < 0) throw new InvalidOptionError("InvalidOption: negative window bits");
                    Set(Native.ws_options_set_compression_window_bits(o, (uint)c, (uint)s), "window bits");
                }
                if (CompressionNoContextTakeover.HasValue)
                    Set(Native.ws_options_set_compression_no_context_takeover(o, Native.Bool(CompressionNoContextTakeover.Value)), "CompressionNoContextTakeover");
                if (Proxy != null) Set(Native.ws_options_set_proxy(o, Native.Utf8Z(Proxy, "Proxy")), "Proxy");
                if (ClientCertificatePem != null || ClientKeyPem != null)
                {
                    if (ClientCertificatePem == null || ClientKeyPem == null)
                        throw new InvalidOptionError("InvalidOption: ClientCertificatePem and ClientKeyPem go together");
                    Set(Native.ws_options_set_client_cert_pem(o, ClientCertificatePem, new UIntPtr((uint)ClientCertificatePem.Length),
                                                              ClientKeyPem, new UIntPtr((uint)ClientKeyPem.Length)), "ClientCertificatePem");
                }
                return h;
            }
            catch
            {
                h.Dispose();
                throw;
            }
        }

        static void AddHeaderTo(IntPtr o, KeyValuePair<string, string> kv)
        {
            if (kv.Key.IndexOf('\0') >= 0 || kv.Value.IndexOf('\0') >= 0)
                throw new InvalidOptionError("InvalidOption: header " + kv.Key + " holds a NUL character");
            Set(Native.ws_options_add_header(o, Native.Utf8Z(kv.Key), Native.Utf8Z(kv.Value)), "header " + kv.Key);
        }

        static ulong Millis(TimeSpan t)
        {
            double ms = Math.Ceiling(t.TotalMilliseconds);
            return ms <= 0 ? 0 : (ulong)ms;
        }

        static void Set(uint result, string what)
        {
            if (result != 0) throw WsNativeException.From((WsResult)result, what);
        }
    }

    // ------------------------------------------------------------------
    // Handles.

    /// <summary>An owned ws_options *, released with ws_options_free().</summary>
    public sealed class WsOptionsHandle : SafeHandle
    {
        internal WsOptionsHandle(IntPtr options) : base(IntPtr.Zero, true) { SetHandle(options); }
        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }
        protected override bool ReleaseHandle()
        {
            Native.ws_options_free(handle);
            return true;
        }
    }

    /// <summary>An owned ws_socket *, released with ws_free() (by Dispose()
    /// or, for a socket nobody references, by its finalizer).</summary>
    public sealed class WsSocketHandle : SafeHandle
    {
        internal WsSocketHandle(IntPtr socket) : base(IntPtr.Zero, true)
        {
            SetHandle(socket);
            if (socket != IntPtr.Zero) Interlocked.Increment(ref WebSocket.liveSockets);
        }

        public override bool IsInvalid { get { return handle == IntPtr.Zero; } }

        protected override bool ReleaseHandle()
        {
            // Runs the userdata finalizer (WebSocket.FreeUserdata) on this
            // thread, unless a callback of this socket is running on it.
            Native.ws_free(handle);
            Interlocked.Decrement(ref WebSocket.liveSockets);
            return true;
        }
    }

    // ------------------------------------------------------------------
    // The WebSocket.

    public class WebSocket : IWebSocket, IDisposable
    {
        // NativeWebSocket's events.
        public event WebSocketOpenEventHandler OnOpen;
        /// <summary>Every message, text (its UTF-8 bytes) or binary.</summary>
        public event WebSocketMessageEventHandler OnMessage;
        /// <summary>The connection was failed; OnClose (Abnormal) follows.</summary>
        public event WebSocketErrorEventHandler OnError;
        public event WebSocketCloseEventHandler OnClose;

        // What wsnative adds.
        /// <summary>Text messages only, decoded.</summary>
        public event WebSocketTextMessageEventHandler OnTextMessage;
        /// <summary>Binary messages only.</summary>
        public event WebSocketMessageEventHandler OnBinaryMessage;
        /// <summary>After OnError, with the cause, HTTP status and headers.</summary>
        public event WebSocketErrorExEventHandler OnErrorEx;
        /// <summary>After OnClose, with the reason and wasClean.</summary>
        public event WebSocketCloseExEventHandler OnCloseEx;

        /// <summary>An exception thrown by a handler running on a library
        /// thread (immediate dispatch), which has no caller to throw to.
        /// Without a subscriber it is written to Console.Error. (With queued
        /// dispatch DispatchMessageQueue() rethrows it.)</summary>
        public static event Action<WebSocket, Exception> OnHandlerException;

        readonly string url;
        readonly List<string> subprotocols;
        readonly Dictionary<string, string> headers;
        readonly WebSocketOptions options;

        // Guards the connection fields; held by Connect() across ws_new() and
        // taken by every immediate callback first, so that a handler running
        // on a library thread sees the connection Connect() created.
        readonly object gate = new object();
        WsSocketHandle socket;
        volatile bool closeDispatched;
        volatile bool disposed;
        bool queued;
        TaskCompletionSource<bool> closed;
        IntPtr pin; // a strong GCHandle of an immediate socket until OnClose
        ExceptionDispatchInfo handlerException;
        WebSocketErrorEvent lastError;

        internal static int liveSockets;
        static int liveCallbackHandles;

        public WebSocket(string url, Dictionary<string, string> headers = null)
            : this(url, (List<string>)null, headers, null) { }

        public WebSocket(string url, string subprotocol, Dictionary<string, string> headers = null)
            : this(url, new List<string> { subprotocol }, headers, null) { }

        public WebSocket(string url, List<string> subprotocols, Dictionary<string, string> headers = null)
            : this(url, subprotocols, headers, null) { }

        /// <summary>With options (null: every default, queued dispatch).
        /// The URL and the subprotocols are checked here, as the browser's
        /// constructor checks them (SyntaxError); nothing connects before
        /// Connect(), which also checks the options.</summary>
        public WebSocket(string url, List<string> subprotocols, Dictionary<string, string> headers, WebSocketOptions options)
        {
            if (url == null) throw new ArgumentNullException("url");
            this.url = url;
            this.subprotocols = subprotocols == null ? new List<string>() : new List<string>(subprotocols);
            this.headers = headers == null ? new Dictionary<string, string>() : new Dictionary<string, string>(headers);
            this.options = options ?? new WebSocketOptions();
            Validate(url, this.subprotocols);
        }

        static void Validate(string url, List<string> subprotocols)
        {
            byte[] urlz = Native.Utf8Z(url, "URL", true);
            IntPtr[] protocols = Native.AllocUtf8ZArray(subprotocols, "subprotocol");
            try
            {
                uint r = Native.ws_validate(urlz, protocols, new UIntPtr((uint)subprotocols.Count));
                if (r != 0) throw WsNativeException.From((WsResult)r, "new WebSocket()");
            }
            finally
            {
                Native.FreeUtf8ZArray(protocols);
            }
        }

        public WebSocket(string url, WebSocketOptions options) : this(url, (List<string>)null, null, options) { }

        /// <summary>The library's version, e.g. "0.1.0".</summary>
        public static string NativeVersion { get { return exitHook ? Native.Utf8(Native.ws_version()) : ""; } }

        /// <summary>Native sockets not yet released (diagnostics and tests).</summary>
        public static int LiveNativeSockets { get { return Volatile.Read(ref liveSockets); } }

        /// <summary>GCHandles held by native code, not yet freed by the
        /// userdata finalizer (diagnostics and tests).</summary>
        public static int LiveCallbackHandles { get { return Volatile.Read(ref liveCallbackHandles); } }

        /// <summary>Closes every socket of the process (each gets its
        /// OnClose, queued ones in their queue) and joins the library's
        /// threads; afterwards no socket can be created. For the end of a
        /// program, never from a handler. Not in the Unity editor, where
        /// the library outlives play mode.</summary>
        public static void Shutdown(int timeoutMs)
        {
            uint r = Native.ws_shutdown((ulong)Math.Max(0, timeoutMs));
            if (r != 0) throw WsNativeException.From((WsResult)r, "Shutdown()");
        }

        /// <summary>Starts connecting and returns at once. The task completes
        /// when the connection has closed (after OnClose), as NativeWebSocket's
        /// does; it never faults: failures arrive as OnError then OnClose.
        /// Throws SyntaxError (URL, subprotocols), InvalidOptionError,
        /// InvalidStateError (already connecting or open). After OnClose,
        /// Connect() may be called again (also from inside OnClose).</summary>
        public Task Connect()
        {
            WsSocketHandle old;
            lock (gate)
            {
                if (disposed) throw new ObjectDisposedException("WebSocket");
                old = socket;
                if (old != null && !closeDispatched)
                    throw new InvalidStateError("InvalidStateError: Connect(): already connecting or open (Connect() again once OnClose has run)");
                socket = null;
            }
            if (old != null) old.Dispose();

            byte[] urlz = Native.Utf8Z(url, "URL", true);
            IntPtr[] protocols = Native.AllocUtf8ZArray(subprotocols, "subprotocol");
            GCHandle userdata = default(GCHandle);
            IntPtr newPin = IntPtr.Zero;
            try
            {
                using (WsOptionsHandle opts = options.Build(headers))
                {
                    bool immediate = options.Dispatch == WebSocketDispatch.Immediate;
                    var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                    userdata = GCHandle.Alloc(this, GCHandleType.Weak);
                    if (immediate) newPin = GCHandle.ToIntPtr(GCHandle.Alloc(this));
                    var cb = Callbacks;
                    cb.userdata = GCHandle.ToIntPtr(userdata);
                    lock (gate)
                    {
                        IntPtr raw;
                        uint r = Native.ws_new(urlz, protocols, new UIntPtr((uint)subprotocols.Count),
                                               opts.DangerousGetHandle(), ref cb, out raw);
                        if (r != 0) throw WsNativeException.From((WsResult)r, "Connect()");
                        // From here on the userdata finalizer owns `userdata`.
                        Interlocked.Increment(ref liveCallbackHandles);
                        userdata = default(GCHandle);
                        socket = new WsSocketHandle(raw);
                        queued = !immediate;
                        closeDispatched = false;
                        closed = tcs;
                        lastError = null;
                        pin = newPin;
                        newPin = IntPtr.Zero;
                    }
                    return tcs.Task;
                }
            }
            finally
            {
                Native.FreeUtf8ZArray(protocols);
                if (userdata.IsAllocated) userdata.Free();
                if (newPin != IntPtr.Zero) GCHandle.FromIntPtr(newPin).Free();
            }
        }

        /// <summary>NativeWebSocket's cancel: fails a connection still
        /// connecting (OnError, OnClose Abnormal), closes an open one with
        /// 1000.</summary>
        public void CancelConnection()
        {
            WebSocketState s = State;
            if (s == WebSocketState.Connecting) Close(WebSocketCloseCode.NotSet);
            else if (s == WebSocketState.Open) Close(WebSocketCloseCode.Normal);
        }

        /// <summary>Dispatches the events waiting in the queue, on this
        /// thread, in order (queued dispatch; does nothing for immediate
        /// dispatch, before Connect() and after Dispose()). Never blocks.
        /// Rethrows the first exception a handler threw (the other events
        /// were still dispatched).</summary>
        public void DispatchMessageQueue()
        {
            WsSocketHandle h;
            if (!Acquire(out h)) return;
            try
            {
                Native.ws_poll(h.DangerousGetHandle(), 0);
            }
            finally
            {
                h.DangerousRelease();
            }
            ExceptionDispatchInfo e = Interlocked.Exchange(ref handlerException, null);
            if (e != null) e.Throw();
        }

        /// <summary>Sends a binary message. InvalidStateError while
        /// CONNECTING (and before Connect()); while CLOSING or CLOSED the data
        /// is dropped but BufferedAmount grows, as in the browser.</summary>
        public Task Send(byte[] bytes)
        {
            if (bytes == null) throw new ArgumentNullException("bytes");
            SendRaw(bytes, false);
            return Task.FromResult(true);
        }

        /// <summary>Sends a text message (UTF-8; lone surrogates become
        /// U+FFFD, as in the browser).</summary>
        public Task SendText(string message)
        {
            if (message == null) throw new ArgumentNullException("message");
            SendRaw(Encoding.UTF8.GetBytes(message), true);
            return Task.FromResult(true);
        }

        void SendRaw(byte[] data, bool text)
        {
            WsSocketHandle h;
            if (!Acquire(out h))
            {
                if (disposed) throw new ObjectDisposedException("WebSocket");
                throw new InvalidStateError("InvalidStateError: not connected: call Connect() first");
            }
            uint r;
            try
            {
                IntPtr s = h.DangerousGetHandle();
                var len = new UIntPtr((uint)data.Length);
                r = text ? Native.ws_send_text(s, data, len) : Native.ws_send_binary(s, data, len);
            }
            finally
            {
                h.DangerousRelease();
            }
            if (r != 0) throw WsNativeException.From((WsResult)r, text ? "SendText()" : "Send()");
        }

        /// <summary>Starts the closing handshake (NotSet: a Close frame
        /// without a code). InvalidAccessError for a code other than 1000 or
        /// 3000-4999, SyntaxError for a reason over 123 bytes. While
        /// CONNECTING: fails the connection (OnError, OnClose Abnormal).
        /// CLOSING, CLOSED, before Connect(): nothing. The task completes
        /// after OnClose (queued dispatch: inside DispatchMessageQueue(), so
        /// never wait for it on the thread that dispatches).</summary>
        public Task Close(WebSocketCloseCode code = WebSocketCloseCode.Normal, string reason = null)
        {
            int c = (int)code;
            if (c < 0 || c > 65535) throw new InvalidAccessError("InvalidAccessError: close code " + c + " is not 1000 or 3000-4999");
            // The reason's length travels with it: it may hold NUL characters.
            byte[] reasonBytes = reason == null ? null : Encoding.UTF8.GetBytes(reason);
            WsSocketHandle h;
            TaskCompletionSource<bool> tcs;
            lock (gate) tcs = closed;
            if (!Acquire(out h)) return tcs == null ? Task.FromResult(true) : tcs.Task;
            uint r;
            try
            {
                r = Native.ws_close_with_reason(h.DangerousGetHandle(), (ushort)c, reasonBytes,
                                                new UIntPtr((uint)(reasonBytes == null ? 0 : reasonBytes.Length)));
            }
            finally
            {
                h.DangerousRelease();
            }
            if (r != 0) throw WsNativeException.From((WsResult)r, "Close()");
            return tcs.Task;
        }

        /// <summary>readyState. Closed before Connect() and after Dispose().
        /// Queued dispatch: changes only inside DispatchMessageQueue() (and
        /// to Closing in Close()).</summary>
        public WebSocketState State
        {
            get
            {
                WsSocketHandle h;
                if (!Acquire(out h)) return WebSocketState.Closed;
                try
                {
                    uint s = Native.ws_ready_state(h.DangerousGetHandle());
                    return s <= 3 ? (WebSocketState)s : WebSocketState.Closed;
                }
                finally
                {
                    h.DangerousRelease();
                }
            }
        }

        /// <summary>The parsed URL once connected (ws://host/), the URL given
        /// before.</summary>
        public string Url { get { return Borrowed(Native.ws_url, url); } }
        /// <summary>The subprotocol the server chose ("" before OnOpen).</summary>
        public string Protocol { get { return Borrowed(Native.ws_protocol, ""); } }
        /// <summary>The negotiated extensions ("" before OnOpen).</summary>
        public string Extensions { get { return Borrowed(Native.ws_extensions, ""); } }

        /// <summary>Bytes given to Send()/SendText() not yet written to the
        /// network (never reset by closing). Exact, from any thread.</summary>
        public ulong BufferedAmount
        {
            get
            {
                WsSocketHandle h;
                if (!Acquire(out h)) return 0;
                try { return Native.ws_buffered_amount(h.DangerousGetHandle()); }
                finally { h.DangerousRelease(); }
            }
        }

        /// <summary>The last error event of the current connection (null if
        /// none): its Cause, HttpStatus and kept headers, for handlers of
        /// OnError(string).</summary>
        public WebSocketErrorEvent LastError { get { return lastError; } }

        /// <summary>The dispatch mode of the current connection.</summary>
        public WebSocketDispatch Dispatch
        {
            get { return socket == null ? options.Dispatch : (queued ? WebSocketDispatch.Queued : WebSocketDispatch.Immediate); }
        }

        /// <summary>Releases the native socket: an open connection is closed
        /// with 1001 in the background; no handler runs once this returns
        /// (called from a handler: once it returns). Connect()'s task
        /// completes.</summary>
        public void Dispose()
        {
            WsSocketHandle h;
            TaskCompletionSource<bool> tcs;
            lock (gate)
            {
                if (disposed) return;
                disposed = true;
                h = socket;
                tcs = closed;
            }
            FreePin();
            if (h != null) h.Dispose();
            if (tcs != null) tcs.TrySetResult(true);
        }

        // --------------------------------------------------------------
        // Internals.

        bool Acquire(out WsSocketHandle h)
        {
            h = socket;
            if (h == null) return false;
            bool added = false;
            try
            {
                h.DangerousAddRef(ref added);
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
            return added;
        }

        delegate IntPtr Getter(IntPtr socket);

        string Borrowed(Getter get, string fallback)
        {
            WsSocketHandle h;
            if (!Acquire(out h)) return fallback;
            try { return Native.Utf8(get(h.DangerousGetHandle())) ?? ""; }
            finally { h.DangerousRelease(); }
        }

        void FreePin()
        {
            IntPtr p = Interlocked.Exchange(ref pin, IntPtr.Zero);
            if (p != IntPtr.Zero) GCHandle.FromIntPtr(p).Free();
        }

        void HandlerFailed(Exception e)
        {
            if (queued)
            {
                if (Interlocked.CompareExchange(ref handlerException, ExceptionDispatchInfo.Capture(e), null) == null) return;
            }
            Action<WebSocket, Exception> report = OnHandlerException;
            try
            {
                if (report != null) report(this, e);
                else Console.Error.WriteLine("wsnative: an event handler threw: " + e);
            }
            catch (Exception)
            {
                // Nothing may propagate into native code.
            }
        }

        // The socket of a callback, or null when its handlers must not run
        // (collected, or disposed while its queue was being dispatched).
        static WebSocket Enter(IntPtr userdata)
        {
            var ws = GCHandle.FromIntPtr(userdata).Target as WebSocket;
            if (ws == null) return null;
            if (!ws.queued)
            {
                lock (ws.gate) { }
            }
            return ws.disposed ? null : ws;
        }

        [MonoPInvokeCallback(typeof(Native.OpenFn))]
        static void NativeOpen(IntPtr socket, IntPtr userdata)
        {
            WebSocket ws = null;
            try
            {
                ws = Enter(userdata);
                if (ws == null) return;
                WebSocketOpenEventHandler h = ws.OnOpen;
                if (h != null) h();
            }
            catch (Exception e)
            {
                if (ws != null) ws.HandlerFailed(e);
            }
        }

        [MonoPInvokeCallback(typeof(Native.MessageFn))]
        static void NativeMessage(IntPtr socket, IntPtr data, UIntPtr len, uint kind, IntPtr userdata)
        {
            WebSocket ws = null;
            try
            {
                ws = Enter(userdata);
                if (ws == null) return;
                var bytes = new byte[checked((int)len.ToUInt64())];
                if (bytes.Length > 0) Marshal.Copy(data, bytes, 0, bytes.Length);
                WebSocketMessageEventHandler all = ws.OnMessage;
                if (all != null) all(bytes);
                if (kind == 0)
                {
                    WebSocketTextMessageEventHandler text = ws.OnTextMessage;
                    if (text != null) text(Encoding.UTF8.GetString(bytes));
                }
                else
                {
                    WebSocketMessageEventHandler binary = ws.OnBinaryMessage;
                    if (binary != null) binary(bytes);
                }
            }
            catch (Exception e)
            {
                if (ws != null) ws.HandlerFailed(e);
            }
        }

        [MonoPInvokeCallback(typeof(Native.ErrorFn))]
        static void NativeError(IntPtr socket, IntPtr message, IntPtr userdata)
        {
            WebSocket ws = null;
            try
            {
                ws = Enter(userdata);
                if (ws == null) return;
                // The cause getters are valid inside on_error only.
                var ev = new WebSocketErrorEvent(Native.Utf8(message) ?? "", (WebSocketErrorCause)Native.ws_error_cause(),
                                                 Native.ws_error_http_status());
                ev.handlerThread = Thread.CurrentThread;
                ev.Keep();
                ws.lastError = ev;
                try
                {
                    WebSocketErrorEventHandler h = ws.OnError;
                    if (h != null) h(ev.Message);
                    WebSocketErrorExEventHandler hx = ws.OnErrorEx;
                    if (hx != null) hx(ev);
                }
                finally
                {
                    ev.handlerThread = null;
                }
            }
            catch (Exception e)
            {
                if (ws != null) ws.HandlerFailed(e);
            }
        }

        [MonoPInvokeCallback(typeof(Native.CloseFn))]
        static void NativeClose(IntPtr socket, ushort code, IntPtr reason, UIntPtr reasonLen, byte wasClean, IntPtr userdata)
        {
            WebSocket ws = null;
            TaskCompletionSource<bool> tcs = null;
            try
            {
                ws = Enter(userdata);
                if (ws == null) return;
                // Before the handlers, which may Connect() again.
                lock (ws.gate)
                {
                    ws.closeDispatched = true;
                    tcs = ws.closed;
                }
                ws.FreePin();
                var ev = new WebSocketCloseEvent(code, Native.Utf8(reason, (int)reasonLen.ToUInt64()), wasClean != 0);
                WebSocketCloseEventHandler h = ws.OnClose;
                if (h != null) h((WebSocketCloseCode)code);
                WebSocketCloseExEventHandler hx = ws.OnCloseEx;
                if (hx != null) hx(ev);
            }
            catch (Exception e)
            {
                if (ws != null) ws.HandlerFailed(e);
            }
            finally
            {
                if (tcs != null) tcs.TrySetResult(true);
            }
        }

        [MonoPInvokeCallback(typeof(Native.FreeFn))]
        static void NativeFreeUserdata(IntPtr userdata)
        {
            GCHandle.FromIntPtr(userdata).Free();
            Interlocked.Decrement(ref liveCallbackHandles);
        }

        // At process exit, sockets still open are closed and the library's
        // threads joined (ws_shutdown), before the runtime shuts down: an
        // immediate socket's library thread must not call into a runtime that
        // is going away (Mono then hangs at exit), and no finalizer's
        // ws_free() may wait for such a callback.
        static readonly bool exitHook = HookProcessExit();

        static bool HookProcessExit()
        {
            AppDomain.CurrentDomain.ProcessExit += (sender, e) => Native.ws_shutdown(1000);
            return true;
        }

        // The delegates handed to native code: static methods, held in static
        // fields for the life of the process so that they are never collected.
        static readonly Native.OpenFn openFn = NativeOpen;
        static readonly Native.MessageFn messageFn = NativeMessage;
        static readonly Native.ErrorFn errorFn = NativeError;
        static readonly Native.CloseFn closeFn = NativeClose;
        static readonly Native.FreeFn freeFn = NativeFreeUserdata;
        static readonly Native.Callbacks Callbacks = new Native.Callbacks
        {
            on_open = Marshal.GetFunctionPointerForDelegate(openFn),
            on_message = Marshal.GetFunctionPointerForDelegate(messageFn),
            on_error = Marshal.GetFunctionPointerForDelegate(errorFn),
            on_close = Marshal.GetFunctionPointerForDelegate(closeFn),
            userdata = IntPtr.Zero,
            userdata_free = Marshal.GetFunctionPointerForDelegate(freeFn),
        };
    }

    // ------------------------------------------------------------------
    // The C ABI (include/wsnative.h). Strings go in as NUL-terminated UTF-8
    // byte arrays and come out as pointers decoded here, so no platform's
    // default string marshalling is involved.

    internal static class Native
    {
        const string Lib = "wsnative";

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void OpenFn(IntPtr socket, IntPtr userdata);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void MessageFn(IntPtr socket, IntPtr data, UIntPtr len, uint kind, IntPtr userdata);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void ErrorFn(IntPtr socket, IntPtr message, IntPtr userdata);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void CloseFn(IntPtr socket, ushort code, IntPtr reason, UIntPtr reasonLen, byte wasClean, IntPtr userdata);
        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        internal delegate void FreeFn(IntPtr userdata);

        [StructLayout(LayoutKind.Sequential)]
        internal struct Callbacks
        {
            public IntPtr on_open;
            public IntPtr on_message;
            public IntPtr on_error;
            public IntPtr on_close;
            public IntPtr userdata;
            public IntPtr userdata_free;
        }

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_version();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_result_str(uint result);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_last_error();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_error_cause();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ushort ws_error_http_status();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_error_http_header(byte[] name);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_error_code_str(uint code);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_shutdown(ulong timeoutMs);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_options_new();
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void ws_options_free(IntPtr options);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_add_header(IntPtr options, byte[] name, byte[] value);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_connect_timeout_ms(IntPtr options, ulong ms);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_close_timeout_ms(IntPtr options, ulong ms);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_max_message_size(IntPtr options, UIntPtr bytes);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_ca_file(IntPtr options, byte[] path, byte exclusive);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_ca_pem(IntPtr options, byte[] pem, UIntPtr len, byte exclusive);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_ca_crl_pem(IntPtr options, byte[] pem, UIntPtr len);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_dispatch(IntPtr options, uint mode);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_block_unsafe_ports(IntPtr options, byte block);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_dangerously_accept_invalid_certificates(IntPtr options, byte accept);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_max_queued_bytes(IntPtr options, ulong bytes);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_chromium_compat(IntPtr options, byte on);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_compression(IntPtr options, byte on);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_compression_window_bits(IntPtr options, uint client, uint server);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_compression_no_context_takeover(IntPtr options, byte on);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_proxy(IntPtr options, byte[] proxyUrl);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_options_set_client_cert_pem(IntPtr options, byte[] chain, UIntPtr chainLen, byte[] key, UIntPtr keyLen);

        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint ws_new(byte[] url, IntPtr[] protocols, UIntPtr protocolCount, IntPtr options, ref Callbacks callbacks, out IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint ws_validate(byte[] url, IntPtr[] protocols, UIntPtr protocolCount);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_send_text(IntPtr socket, byte[] text, UIntPtr len);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_send_binary(IntPtr socket, byte[] data, UIntPtr len);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_close(IntPtr socket, ushort code, byte[] reason);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_close_with_reason(IntPtr socket, ushort code, byte[] reason, UIntPtr reasonLen);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern uint ws_ready_state(IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_url(IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_protocol(IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern IntPtr ws_extensions(IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern ulong ws_buffered_amount(IntPtr socket);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern int ws_poll(IntPtr socket, int timeoutMs);
        [DllImport(Lib, CallingConvention = CallingConvention.Cdecl)] internal static extern void ws_free(IntPtr socket);

        internal static byte Bool(bool b) { return b ? (byte)1 : (byte)0; }

        internal static string ResultName(WsResult r) { return Utf8(ws_result_str((uint)r)) ?? r.ToString(); }

        /// <summary>A NUL-terminated UTF-8 copy. C strings cannot hold NUL:
        /// such a string is refused (SyntaxError for the URL, subprotocols and
        /// close reasons, InvalidOptionError for options).</summary>
        internal static byte[] Utf8Z(string s, string what = null, bool syntax = false)
        {
            if (s.IndexOf('\0') >= 0)
            {
                string m = (syntax ? "SyntaxError: " : "InvalidOption: ") + (what ?? "string") + " holds a NUL character";
                if (syntax) throw new SyntaxError(m);
                throw new InvalidOptionError(m);
            }
            int n = Encoding.UTF8.GetByteCount(s);
            var b = new byte[n + 1];
            Encoding.UTF8.GetBytes(s, 0, s.Length, b, 0);
            return b;
        }

        internal static IntPtr AllocUtf8Z(string s, string what)
        {
            if (s == null) throw new ArgumentNullException(what);
            byte[] b = Utf8Z(s, what, true);
            IntPtr p = Marshal.AllocHGlobal(b.Length);
            Marshal.Copy(b, 0, p, b.Length);
            return p;
        }

        /// <summary>An array of AllocUtf8Z copies of `strings`, as the C ABI
        /// takes a list of names (null when there is none); release it with
        /// FreeUtf8ZArray. Nothing stays allocated when a string is refused.</summary>
        internal static IntPtr[] AllocUtf8ZArray(List<string> strings, string what)
        {
            if (strings.Count == 0) return null;
            var ptrs = new IntPtr[strings.Count];
            try
            {
                for (int i = 0; i < ptrs.Length; i++)
                    ptrs[i] = AllocUtf8Z(strings[i], what);
                return ptrs;
            }
            catch
            {
                FreeUtf8ZArray(ptrs);
                throw;
            }
        }

        internal static void FreeUtf8ZArray(IntPtr[] ptrs)
        {
            if (ptrs == null) return;
            foreach (IntPtr p in ptrs)
                if (p != IntPtr.Zero) Marshal.FreeHGlobal(p);
        }

        internal static string Utf8(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int n = 0;
            while (Marshal.ReadByte(p, n) != 0) n++;
            return Utf8(p, n);
        }

        internal static string Utf8(IntPtr p, int len)
        {
            if (p == IntPtr.Zero || len == 0) return "";
            var b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return Encoding.UTF8.GetString(b);
        }
    }
}
