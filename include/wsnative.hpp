/*
 * wsnative.hpp: the browser's WebSocket for C++17, header-only, over the C
 * ABI of wsnative.h (link libwsnative as for C; nothing else to build).
 *
 *   wsnative::Handlers h;
 *   h.on_open = [](wsnative::WebSocketRef ws) { ws.send("hello"); };
 *   h.on_message = [](wsnative::WebSocketRef ws, const wsnative::MessageEvent &ev) {
 *       if (ev.is_text()) std::cout << ev.text << "\n";
 *       ws.close(1000, "bye");
 *   };
 *   h.on_close = [](wsnative::WebSocketRef, const wsnative::CloseEvent &ev) {
 *       std::cout << ev.code << " " << ev.reason << " " << ev.was_clean << "\n";
 *   };
 *   wsnative::WebSocket ws("ws://127.0.0.1:8080/", {"chat.v1"}, std::move(h));
 *
 * The classes:
 *   - WebSocket: owns one socket (RAII, move-only). The constructor is the
 *     browser's `new WebSocket(url, protocols)`: it validates (SyntaxError),
 *     starts connecting and returns at once. The handlers are given to the
 *     constructor, so no event can be lost. The destructor releases the
 *     socket (ws_free()): an open connection is closed with 1001 in the
 *     background, and no handler of the socket runs after the destructor
 *     returns. It may run anywhere, also inside one of the socket's own
 *     handlers (the handler object is then destroyed when it returns) and on
 *     another thread while a handler runs (it waits for that handler).
 *   - WebSocketRef: a non-owning handle to the same socket, what handlers
 *     receive. Copyable; has every method of WebSocket. Used after its
 *     socket was released it throws UnknownSocketError (getters return what
 *     they return for a closed socket): it never touches freed memory.
 *   - Handlers: four std::function members, each optional.
 *   - Options: a builder over ws_options (every ws_options_* setter); each
 *     setter checks its value at once and throws InvalidOptionError.
 *   - Error and its subclasses, one per C result code, named after the
 *     browser's DOMExceptions where there is one (SyntaxError,
 *     InvalidStateError, InvalidAccessError).
 *
 * Threads and dispatch, as in C (see wsnative.h): with Dispatch::Immediate
 * (the default) handlers run on a library thread as soon as each event
 * happens; with Dispatch::Queued they run inside poll() on the thread that
 * calls it. Either way the handlers of one socket run one at a time, in
 * order; on_close is always last and comes exactly once (unless the
 * WebSocket is destroyed first). Every method may be called from any thread
 * and from inside any handler. Handlers must not throw: an exception that
 * escapes a handler calls std::terminate(), as one escaping a std::thread
 * does (the library's threads cannot carry it anywhere).
 *
 * Deadlock potential: destroying a WebSocket on one thread while one of its
 * handlers runs on another waits for that handler; a handler that itself
 * waits for the destroying thread deadlocks.
 *
 * Views passed to handlers (MessageEvent::text and ::data, the reason of a
 * CloseEvent, the message of an ErrorEvent) are borrowed until the handler
 * returns: copy what you keep.
 */
#ifndef WSNATIVE_HPP
#define WSNATIVE_HPP

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#if __cplusplus >= 202002L && defined(__has_include)
#if __has_include(<span>)
#include <span>
#endif
#endif

#include "wsnative.h"

namespace wsnative {

// ---------------------------------------------------------------------------
// Binary data

#if defined(__cpp_lib_span) && __cpp_lib_span >= 202002L
// A view of bytes: std::span in C++20.
using bytes_view = std::span<const std::uint8_t>;
#else
// A view of bytes: the part of C++20's std::span<const std::uint8_t> that
// wsnative uses, for C++17. Code written against it compiles unchanged with
// std::span.
class bytes_view {
   public:
    using element_type = const std::uint8_t;
    using value_type = std::uint8_t;
    using size_type = std::size_t;
    using pointer = const std::uint8_t *;
    using iterator = const std::uint8_t *;

    constexpr bytes_view() noexcept = default;
    constexpr bytes_view(const std::uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}
    // Any contiguous container of std::uint8_t (std::vector, std::array, a
    // C array, ...), as std::span's range constructor.
    template <class C, class = std::enable_if_t<
                           !std::is_same_v<std::remove_cv_t<std::remove_reference_t<C>>, bytes_view> &&
                           std::is_convertible_v<decltype(std::data(std::declval<C &>())), const std::uint8_t *> &&
                           std::is_convertible_v<decltype(std::size(std::declval<C &>())), std::size_t>>>
    constexpr bytes_view(C &&c) noexcept : data_(std::data(c)), size_(std::size(c)) {}

    constexpr const std::uint8_t *data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr std::size_t size_bytes() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr iterator begin() const noexcept { return data_; }
    constexpr iterator end() const noexcept { return data_ + size_; }
    constexpr const std::uint8_t &operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr const std::uint8_t &front() const noexcept { return data_[0]; }
    constexpr const std::uint8_t &back() const noexcept { return data_[size_ - 1]; }
    constexpr bytes_view first(std::size_t n) const noexcept { return {data_, n}; }
    constexpr bytes_view last(std::size_t n) const noexcept { return {data_ + size_ - n, n}; }
    constexpr bytes_view subspan(std::size_t offset, std::size_t count = std::size_t(-1)) const noexcept {
        return {data_ + offset, count == std::size_t(-1) ? size_ - offset : count};
    }

   private:
    const std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
};
#endif

// ---------------------------------------------------------------------------
// Errors

// Every exception wsnative throws. code() is the C result code, name() its
// name ("SyntaxError", ...), what() "Name: readable message".
class Error : public std::runtime_error {
   public:
    Error(ws_result code, const std::string &message)
        : std::runtime_error(std::string(ws_result_str(code)) + ": " + message), code_(code) {}
    ws_result code() const noexcept { return code_; }
    const char *name() const noexcept { return ws_result_str(code_); }

   private:
    ws_result code_;
};

#define WSNATIVE_HPP_ERROR(cls, result)                                                                   \
    class cls : public Error {                                                                            \
       public:                                                                                            \
        explicit cls(const std::string &message) : Error(result, message) {}                             \
    }

// The browser's DOMException "SyntaxError": an invalid URL, scheme,
// fragment or subprotocol list; a close reason over 123 bytes.
WSNATIVE_HPP_ERROR(SyntaxError, WS_RESULT_SYNTAX_ERROR);
// "InvalidStateError": send() while CONNECTING.
WSNATIVE_HPP_ERROR(InvalidStateError, WS_RESULT_INVALID_STATE_ERROR);
// "InvalidAccessError": a close code other than 1000 or 3000..4999.
WSNATIVE_HPP_ERROR(InvalidAccessError, WS_RESULT_INVALID_ACCESS_ERROR);
// A method of an empty (default-constructed or moved-from) WebSocket.
WSNATIVE_HPP_ERROR(NullArgumentError, WS_RESULT_NULL_ARGUMENT);
// Text (send(), a close reason) that is not valid UTF-8.
WSNATIVE_HPP_ERROR(InvalidUtf8Error, WS_RESULT_INVALID_UTF8);
// An option value the library refuses (a header with CR/LF, an unreadable
// CA file, a zero timeout, a proxy URL that does not parse, ...).
WSNATIVE_HPP_ERROR(InvalidOptionError, WS_RESULT_INVALID_OPTION);
// wsnative::shutdown() was called: no new socket can be created.
WSNATIVE_HPP_ERROR(ShutDownError, WS_RESULT_SHUT_DOWN);
// shutdown() from a handler, poll() inside a handler of the same socket.
WSNATIVE_HPP_ERROR(WouldDeadlockError, WS_RESULT_WOULD_DEADLOCK);
// A bug inside wsnative: code() is WS_RESULT_INTERNAL_ERROR, or
// WS_RESULT_PANIC for a panic caught at the boundary.
class InternalError : public Error {
   public:
    explicit InternalError(const std::string &message, ws_result code = WS_RESULT_INTERNAL_ERROR)
        : Error(code, message) {}
};
// A WebSocketRef used after its socket was released.
WSNATIVE_HPP_ERROR(UnknownSocketError, WS_RESULT_UNKNOWN_SOCKET);
// A length no buffer can have (above WS_MAX_SEND_LENGTH); nothing was read.
WSNATIVE_HPP_ERROR(InvalidLengthError, WS_RESULT_INVALID_LENGTH);
// A socket inherited through fork(): in the child only its release works.
WSNATIVE_HPP_ERROR(ForkedSocketError, WS_RESULT_FORKED_SOCKET);

#undef WSNATIVE_HPP_ERROR

namespace detail {

// Throws the exception of a failed C call; reads ws_last_error() at once
// (it is per thread and kept until the next failing call).
[[noreturn]] inline void throw_result(ws_result r) {
    std::string m = ws_last_error();
    switch (r) {
    case WS_RESULT_SYNTAX_ERROR: throw SyntaxError(m);
    case WS_RESULT_INVALID_STATE_ERROR: throw InvalidStateError(m);
    case WS_RESULT_INVALID_ACCESS_ERROR: throw InvalidAccessError(m);
    case WS_RESULT_NULL_ARGUMENT: throw NullArgumentError(m);
    case WS_RESULT_INVALID_UTF8: throw InvalidUtf8Error(m);
    case WS_RESULT_INVALID_OPTION: throw InvalidOptionError(m);
    case WS_RESULT_SHUT_DOWN: throw ShutDownError(m);
    case WS_RESULT_WOULD_DEADLOCK: throw WouldDeadlockError(m);
    case WS_RESULT_INTERNAL_ERROR: throw InternalError(m);
    case WS_RESULT_PANIC: throw InternalError(m, WS_RESULT_PANIC);
    case WS_RESULT_UNKNOWN_SOCKET: throw UnknownSocketError(m);
    case WS_RESULT_INVALID_LENGTH: throw InvalidLengthError(m);
    case WS_RESULT_FORKED_SOCKET: throw ForkedSocketError(m);
    default: throw Error(r, m);  // a code newer than this header
    }
}

inline void check(ws_result r) {
    if (r != WS_RESULT_OK) throw_result(r);
}

// A NUL-terminated copy of `s` for the C ABI; `E` when `s` holds a NUL
// byte, which a C string cannot carry (the call would see less than given).
template <class E>
std::string c_string(std::string_view s, const char *what) {
    if (s.find('\0') != std::string_view::npos) throw E(std::string(what) + " contains a NUL byte");
    return std::string(s);
}

inline std::uint64_t to_ms(std::chrono::milliseconds d) {
    return d.count() < 0 ? 0 : static_cast<std::uint64_t>(d.count());
}

}  // namespace detail

// ---------------------------------------------------------------------------
// Enumerations

// readyState.
enum class ReadyState : std::uint32_t {
    Connecting = WS_STATE_CONNECTING,
    Open = WS_STATE_OPEN,
    Closing = WS_STATE_CLOSING,
    Closed = WS_STATE_CLOSED,
};

// How a socket's handlers run (see the top of this file).
enum class Dispatch : std::uint32_t {
    Immediate = WS_DISPATCH_IMMEDIATE,
    Queued = WS_DISPATCH_QUEUED,
};

enum class MessageType : std::uint32_t {
    Text = WS_MESSAGE_TYPE_TEXT,
    Binary = WS_MESSAGE_TYPE_BINARY,
};

// Why a connection was failed: the C enum ws_error_code
// (WS_ERROR_CODE_CONNECTION_REFUSED, WS_ERROR_CODE_HANDSHAKE_REFUSED, ...).
using ErrorCode = ws_error_code;

// For poll(): wait until an event arrives or the socket is done.
inline constexpr std::chrono::milliseconds forever{-1};

// ---------------------------------------------------------------------------
// Events (every view is borrowed until the handler returns)

struct MessageEvent {
    MessageType type;
    std::string_view text;  // the bytes as characters (valid UTF-8 for Text)
    bytes_view data;        // the same bytes
    bool is_text() const noexcept { return type == MessageType::Text; }
    bool is_binary() const noexcept { return type == MessageType::Binary; }
};

struct CloseEvent {
    std::uint16_t code;       // 1005: the server's Close had none; 1006: abnormal
    std::string_view reason;  // UTF-8
    bool was_clean;
};

// The connection was failed; on_close (1006) follows. The browser gives
// scripts no detail; native programs get the cause.
struct ErrorEvent {
    std::string_view message;   // readable
    ErrorCode code;             // stable cause (ws_error_cause())
    std::uint16_t http_status;  // for WS_ERROR_CODE_HANDSHAKE_REFUSED, else 0
    // A stable short name of `code`: "connection_refused", "dns", ...
    const char *code_name() const noexcept { return ws_error_code_str(code); }
    // For WS_ERROR_CODE_HANDSHAKE_REFUSED: the value of the server's first
    // response header `name` (case-insensitive), copied. Only inside the
    // on_error handler that received this event; std::nullopt elsewhere and
    // when there is no such header.
    std::optional<std::string> http_header(std::string_view name) const {
        if (name.find('\0') != std::string_view::npos) return std::nullopt;
        const char *v = ws_error_http_header(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    }
};

// ---------------------------------------------------------------------------
// Options

// Settings for new sockets (ws_options). Each setter checks its value at
// once (InvalidOptionError, InvalidLengthError) and returns *this, so calls
// chain. The WebSocket constructor copies the settings: one Options may
// serve any number of sockets. Move-only.
class Options {
   public:
    Options() : p_(ws_options_new()) {}
    Options(Options &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    Options &operator=(Options &&o) noexcept {
        if (this != &o) {
            ws_options_free(p_);
            p_ = std::exchange(o.p_, nullptr);
        }
        return *this;
    }
    Options(const Options &) = delete;
    Options &operator=(const Options &) = delete;
    ~Options() { ws_options_free(p_); }

    // A request header of the opening handshake (Origin, Authorization,
    // Cookie...: none is sent unless added).
    Options &header(std::string_view name, std::string_view value) {
        return set(ws_options_add_header(p_, detail::c_string<InvalidOptionError>(name, "header name").c_str(),
                                         detail::c_string<InvalidOptionError>(value, "header value").c_str()));
    }
    // DNS, TCP, proxy, TLS and the handshake together (default 30 s).
    Options &connect_timeout(std::chrono::milliseconds t) {
        return set(ws_options_set_connect_timeout_ms(p_, detail::to_ms(t)));
    }
    // The closing handshake (default 5 s).
    Options &close_timeout(std::chrono::milliseconds t) {
        return set(ws_options_set_close_timeout_ms(p_, detail::to_ms(t)));
    }
    // Largest message accepted, in bytes (default 64 MiB; larger: 1009).
    Options &max_message_size(std::size_t bytes) { return set(ws_options_set_max_message_size(p_, bytes)); }
    // Trust the certificates of a PEM file, besides the system's trust store
    // or (exclusive) instead of it. The file is read now.
    Options &ca_file(const std::string &path, bool exclusive = false) {
        return set(ws_options_set_ca_file(p_, detail::c_string<InvalidOptionError>(path, "CA file path").c_str(),
                                          exclusive));
    }
    // The same with the PEM text in memory.
    Options &ca_pem(std::string_view pem, bool exclusive = false) {
        return set(ws_options_set_ca_pem(p_, reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size(),
                                         exclusive));
    }
    // Certificate revocation lists (PEM) checked against an exclusive CA
    // bundle: a revoked server certificate fails the connection
    // (tls_cert_revoked). Empty: none.
    Options &ca_crl_pem(std::string_view pem) {
        if (pem.empty()) return set(ws_options_set_ca_crl_pem(p_, nullptr, 0));
        return set(ws_options_set_ca_crl_pem(p_, reinterpret_cast<const std::uint8_t *>(pem.data()), pem.size()));
    }
    Options &dispatch(Dispatch mode) {
        return set(ws_options_set_dispatch(p_, static_cast<std::uint32_t>(mode)));
    }
    // Refuse the browser's blocked ports (Fetch "bad ports").
    Options &block_unsafe_ports(bool on = true) { return set(ws_options_set_block_unsafe_ports(p_, on)); }
    // DANGEROUS: accept any server certificate (tests only).
    Options &dangerously_accept_invalid_certificates(bool on = true) {
        return set(ws_options_set_dangerously_accept_invalid_certificates(p_, on));
    }
    // Queued dispatch: stop reading from the network while this much waits
    // for poll() (default 64 MiB; 0: no limit).
    Options &max_queued_bytes(std::uint64_t bytes) { return set(ws_options_set_max_queued_bytes(p_, bytes)); }
    // Behave as Chromium where wsnative deliberately differs (README).
    Options &chromium_compat(bool on = true) { return set(ws_options_set_chromium_compat(p_, on)); }
    // permessage-deflate, offered as Chromium offers it (default on).
    Options &compression(bool on) { return set(ws_options_set_compression(p_, on)); }
    // Window bits of the offer: 0 (default) or 8..15 each.
    Options &compression_window_bits(std::uint32_t client_max, std::uint32_t server_max) {
        return set(ws_options_set_compression_window_bits(p_, client_max, server_max));
    }
    Options &compression_no_context_takeover(bool on = true) {
        return set(ws_options_set_compression_no_context_takeover(p_, on));
    }
    // The proxy: http://, https://, socks5:// or socks5h:// URL (with
    // credentials), or "" for none.
    Options &proxy(std::string_view url) {
        return set(ws_options_set_proxy(p_, detail::c_string<InvalidOptionError>(url, "proxy URL").c_str()));
    }
    // The proxy from the environment, as curl reads it (the default).
    Options &proxy_from_environment() { return set(ws_options_set_proxy(p_, nullptr)); }
    // A client certificate for mutual TLS: the chain (leaf first) and its
    // private key, both PEM.
    Options &client_cert_pem(std::string_view chain_pem, std::string_view key_pem) {
        return set(ws_options_set_client_cert_pem(p_, reinterpret_cast<const std::uint8_t *>(chain_pem.data()),
                                                  chain_pem.size(),
                                                  reinterpret_cast<const std::uint8_t *>(key_pem.data()),
                                                  key_pem.size()));
    }
    // Removes the client certificate.
    Options &no_client_cert() { return set(ws_options_set_client_cert_pem(p_, nullptr, 0, nullptr, 0)); }

    const ws_options *native_handle() const noexcept { return p_; }

   private:
    Options &set(ws_result r) {
        detail::check(r);
        return *this;
    }
    ws_options *p_;
};

// ---------------------------------------------------------------------------
// Sockets

class WebSocket;
class WebSocketRef;

namespace detail {

// The methods of a socket, shared by WebSocket (owner) and WebSocketRef
// (handle). Each is one call of the C ABI.
class SocketApi {
   public:
    // send(text) / send(binary), as the browser: InvalidStateError while
    // CONNECTING; while CLOSING or CLOSED the data is dropped but
    // buffered_amount() still grows. Text must be UTF-8 (InvalidUtf8Error).
    void send(std::string_view text) const { send_text(text); }
    void send(bytes_view data) const { send_binary(data); }
    void send_text(std::string_view text) const { check(ws_send_text(h_, text.data(), text.size())); }
    void send_binary(bytes_view data) const { check(ws_send_binary(h_, data.data(), data.size())); }
    void send_binary(const void *data, std::size_t len) const {
        check(ws_send_binary(h_, static_cast<const std::uint8_t *>(data), len));
    }

    // close(), close(code), close(code, reason), as the browser: the code
    // must be 1000 or 3000..4999 (InvalidAccessError), the reason at most
    // 123 bytes of UTF-8 (SyntaxError). Nothing happens while CLOSING or
    // CLOSED; while CONNECTING the connection is failed (error, close 1006).
    void close() const { check(ws_close(h_, 0, nullptr)); }
    void close(std::uint16_t code) const {
        if (code == 0) throw InvalidAccessError("close code 0 is neither 1000 nor in 3000..4999");
        check(ws_close(h_, code, nullptr));
    }
    void close(std::uint16_t code, std::string_view reason) const {
        if (code == 0) throw InvalidAccessError("close code 0 is neither 1000 nor in 3000..4999");
        // The reason's length travels with it: it may hold NUL characters.
        check(ws_close_with_reason(h_, code, reinterpret_cast<const std::uint8_t *>(reason.data()), reason.size()));
    }

    // Queued dispatch: runs the waiting handlers on this thread and returns
    // how many ran. 0 ms never blocks; a positive timeout waits that long
    // for the first event; wsnative::forever waits until an event arrives
    // or the socket is done. 0 in immediate mode. WouldDeadlockError inside
    // a handler of the same socket. The WebSocket may be destroyed by one
    // of the handlers it runs: poll() then returns without touching it.
    int poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) const {
        auto ms = timeout.count();
        std::int32_t t = ms < 0 ? -1
                                : ms > std::numeric_limits<std::int32_t>::max()
                                      ? std::numeric_limits<std::int32_t>::max()
                                      : static_cast<std::int32_t>(ms);
        std::int32_t n = ws_poll(h_, t);
        if (n < 0) throw_result(static_cast<ws_result>(-n));
        return n;
    }

    // The state as of the last event dispatched to the application.
    ReadyState ready_state() const noexcept { return static_cast<ReadyState>(ws_ready_state(h_)); }
    // The serialized URL; "" for a released socket.
    std::string url() const { return ws_url(h_); }
    // The subprotocol the server chose ("" before open or when none).
    std::string protocol() const { return ws_protocol(h_); }
    // The negotiated extensions ("" before open).
    std::string extensions() const { return ws_extensions(h_); }
    // Bytes given to send() not yet written to the network (never reset).
    std::uint64_t buffered_amount() const noexcept { return ws_buffered_amount(h_); }

    ws_socket *native_handle() const noexcept { return h_; }
    explicit operator bool() const noexcept { return h_ != nullptr; }

   protected:
    SocketApi() noexcept = default;
    explicit SocketApi(ws_socket *h) noexcept : h_(h) {}
    ws_socket *h_ = nullptr;
};

}  // namespace detail

// A non-owning handle to a socket: what handlers receive. Copyable; never
// keeps the socket alive and never touches freed memory (after the socket's
// release its methods throw UnknownSocketError).
class WebSocketRef : public detail::SocketApi {
   public:
    WebSocketRef() noexcept = default;
    explicit WebSocketRef(ws_socket *h) noexcept : SocketApi(h) {}
    WebSocketRef(const WebSocket &ws) noexcept;  // NOLINT: implicit on purpose
    friend bool operator==(const WebSocketRef &a, const WebSocketRef &b) noexcept { return a.h_ == b.h_; }
    friend bool operator!=(const WebSocketRef &a, const WebSocketRef &b) noexcept { return a.h_ != b.h_; }
};

// The handlers of a socket; each may be empty. Given to the WebSocket
// constructor and fixed from then on (they are never replaced while the
// library may call them).
struct Handlers {
    std::function<void(WebSocketRef)> on_open;
    std::function<void(WebSocketRef, const MessageEvent &)> on_message;
    std::function<void(WebSocketRef, const ErrorEvent &)> on_error;
    std::function<void(WebSocketRef, const CloseEvent &)> on_close;
};

namespace detail {

// The C callbacks: `userdata` is a heap copy of the Handlers, deleted by
// the finalizer (after the last callback, so a handler object is never
// destroyed while it runs). noexcept: an escaping exception terminates.
struct Callbacks {
    static Handlers &of(void *ud) noexcept { return *static_cast<Handlers *>(ud); }
    static void open(ws_socket *s, void *ud) noexcept {
        if (of(ud).on_open) of(ud).on_open(WebSocketRef(s));
    }
    static void message(ws_socket *s, const std::uint8_t *data, std::size_t len, ws_message_type kind,
                        void *ud) noexcept {
        if (!of(ud).on_message) return;
        MessageEvent ev{static_cast<MessageType>(kind),
                        std::string_view(reinterpret_cast<const char *>(data), len), bytes_view(data, len)};
        of(ud).on_message(WebSocketRef(s), ev);
    }
    static void error(ws_socket *s, const char *message, void *ud) noexcept {
        if (!of(ud).on_error) return;
        ErrorEvent ev{message ? std::string_view(message) : std::string_view(), ws_error_cause(),
                      ws_error_http_status()};
        of(ud).on_error(WebSocketRef(s), ev);
    }
    static void close(ws_socket *s, std::uint16_t code, const char *reason, std::size_t reason_len, bool clean,
                      void *ud) noexcept {
        if (!of(ud).on_close) return;
        CloseEvent ev{code, std::string_view(reason ? reason : "", reason ? reason_len : 0), clean};
        of(ud).on_close(WebSocketRef(s), ev);
    }
    static void finalize(void *ud) noexcept { delete static_cast<Handlers *>(ud); }
};

}  // namespace detail

// One WebSocket, owned (RAII, move-only). See the top of this file.
class WebSocket : public detail::SocketApi {
   public:
    // An empty WebSocket (no socket): its methods throw NullArgumentError,
    // its getters return what they return for a closed socket.
    WebSocket() noexcept = default;

    // new WebSocket(url, protocols): validates (SyntaxError for a bad URL,
    // scheme, fragment or protocol list; ShutDownError after shutdown()),
    // then connects in the background and returns at once. Connection
    // failures arrive as on_error then on_close 1006.
    explicit WebSocket(std::string_view url, Handlers handlers = {}) { open(url, {}, std::move(handlers), nullptr); }
    WebSocket(std::string_view url, Handlers handlers, const Options &options) {
        open(url, {}, std::move(handlers), options.native_handle());
    }
    WebSocket(std::string_view url, const std::vector<std::string> &protocols, Handlers handlers = {}) {
        open(url, protocols, std::move(handlers), nullptr);
    }
    WebSocket(std::string_view url, const std::vector<std::string> &protocols, Handlers handlers,
              const Options &options) {
        open(url, protocols, std::move(handlers), options.native_handle());
    }

    WebSocket(WebSocket &&o) noexcept : SocketApi(std::exchange(o.h_, nullptr)) {}
    // Releases the socket held (as the destructor), then takes o's.
    WebSocket &operator=(WebSocket &&o) noexcept {
        if (this != &o) {
            ws_socket *old = std::exchange(h_, std::exchange(o.h_, nullptr));
            ws_free(old);
        }
        return *this;
    }
    WebSocket(const WebSocket &) = delete;
    WebSocket &operator=(const WebSocket &) = delete;

    // ws_free(): no handler runs after it returns (inside a handler of this
    // socket: after that handler returns), and the Handlers are destroyed.
    ~WebSocket() { ws_free(h_); }

    WebSocketRef ref() const noexcept { return WebSocketRef(h_); }

   private:
    void open(std::string_view url, const std::vector<std::string> &protocols, Handlers handlers,
              const ws_options *options) {
        std::string u = detail::c_string<SyntaxError>(url, "the URL");
        std::vector<std::string> names;
        std::vector<const char *> ptrs;
        names.reserve(protocols.size());
        for (const std::string &p : protocols) {
            names.push_back(detail::c_string<SyntaxError>(p, "a subprotocol"));
            ptrs.push_back(names.back().c_str());
        }
        auto state = std::make_unique<Handlers>(std::move(handlers));
        ws_callbacks cb{&detail::Callbacks::open, &detail::Callbacks::message, &detail::Callbacks::error,
                        &detail::Callbacks::close, state.get(),           &detail::Callbacks::finalize};
        ws_socket *out = nullptr;
        ws_result r = ws_new(u.c_str(), ptrs.empty() ? nullptr : ptrs.data(), ptrs.size(), options, &cb, &out);
        if (r != WS_RESULT_OK) detail::throw_result(r);  // no finalizer: `state` frees the handlers
        state.release();                                  // the finalizer owns them now
        h_ = out;
    }
};

inline WebSocketRef::WebSocketRef(const WebSocket &ws) noexcept : SocketApi(ws.native_handle()) {}

// ---------------------------------------------------------------------------
// The library

// The library's version, e.g. "0.1.0".
inline const char *version() noexcept { return ws_version(); }

// ws_shutdown(): closes every socket (each gets on_close), joins the
// library's threads; afterwards new sockets throw ShutDownError.
// WouldDeadlockError from an immediate handler.
inline void shutdown(std::chrono::milliseconds timeout = std::chrono::milliseconds(2000)) {
    detail::check(ws_shutdown(detail::to_ms(timeout)));
}

}  // namespace wsnative

#endif  // WSNATIVE_HPP
