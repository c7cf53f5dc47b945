// C++ wrapper (include/wsnative.hpp): every exception the API throws, the
// mapping of every C result code, every Options setter's errors, the
// bytes_view fallback, fork and shutdown (in forked children).
#include "recorder.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace std::chrono_literals;
using wsnative::ReadyState;

static void test_exception_hierarchy(void) {
    static_assert(std::is_base_of_v<std::runtime_error, wsnative::Error>);
    static_assert(std::is_base_of_v<wsnative::Error, wsnative::SyntaxError>);
    static_assert(std::is_base_of_v<wsnative::Error, wsnative::InvalidStateError>);
    static_assert(std::is_base_of_v<wsnative::Error, wsnative::InvalidAccessError>);
    static_assert(std::is_base_of_v<wsnative::Error, wsnative::ForkedSocketError>);
    // Each C result code becomes its own class, with the code, the name
    // and ws_last_error()'s message.
    struct Case {
        ws_result code;
        const char *name;
        std::function<bool(const wsnative::Error &)> is;
    };
    auto is = [](auto *tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        return [](const wsnative::Error &e) { return dynamic_cast<const T *>(&e) != nullptr; };
    };
    const Case cases[] = {
        {WS_RESULT_SYNTAX_ERROR, "SyntaxError", is((wsnative::SyntaxError *)nullptr)},
        {WS_RESULT_INVALID_STATE_ERROR, "InvalidStateError", is((wsnative::InvalidStateError *)nullptr)},
        {WS_RESULT_INVALID_ACCESS_ERROR, "InvalidAccessError", is((wsnative::InvalidAccessError *)nullptr)},
        {WS_RESULT_NULL_ARGUMENT, "NullArgument", is((wsnative::NullArgumentError *)nullptr)},
        {WS_RESULT_INVALID_UTF8, "InvalidUtf8", is((wsnative::InvalidUtf8Error *)nullptr)},
        {WS_RESULT_INVALID_OPTION, "InvalidOption", is((wsnative::InvalidOptionError *)nullptr)},
        {WS_RESULT_SHUT_DOWN, "ShutDown", is((wsnative::ShutDownError *)nullptr)},
        {WS_RESULT_WOULD_DEADLOCK, "WouldDeadlock", is((wsnative::WouldDeadlockError *)nullptr)},
        {WS_RESULT_INTERNAL_ERROR, "InternalError", is((wsnative::InternalError *)nullptr)},
        {WS_RESULT_PANIC, "Panic", is((wsnative::InternalError *)nullptr)},
        {WS_RESULT_UNKNOWN_SOCKET, "UnknownSocket", is((wsnative::UnknownSocketError *)nullptr)},
        {WS_RESULT_INVALID_LENGTH, "InvalidLength", is((wsnative::InvalidLengthError *)nullptr)},
        {WS_RESULT_FORKED_SOCKET, "ForkedSocket", is((wsnative::ForkedSocketError *)nullptr)},
    };
    // A real failure sets this thread's last error message.
    CHECK(ws_options_set_connect_timeout_ms(nullptr, 1) == WS_RESULT_NULL_ARGUMENT);
    std::string last = ws_last_error();
    REQUIRE(!last.empty());
    for (const Case &c : cases) {
        try {
            wsnative::detail::throw_result(c.code);
            h_fail(__FILE__, __LINE__, c.name, "did not throw");
        } catch (const wsnative::Error &e) {
            CHECK_MSG(c.is(e), "%s: wrong class", c.name);
            CHECK_EQ(e.code(), c.code);
            CHECK_MSG(std::string(e.what()).find(last) != std::string::npos, "%s", e.what());
            CHECK_MSG(std::string(e.what()).find(c.name) != std::string::npos, "%s", e.what());
        }
    }
    try {  // a code newer than the header: the base class
        wsnative::detail::throw_result(static_cast<ws_result>(200));
    } catch (const wsnative::Error &e) {
        CHECK_EQ(e.code(), 200);
        CHECK(typeid(e) == typeid(wsnative::Error));
    }
}

static void test_syntax_errors(void) {
    const char *bad_urls[] = {"", "not a url", "ftp://127.0.0.1/", "ws://127.0.0.1/#frag", "ws://127.0.0.1/#",
                              "ws://"};
    for (const char *u : bad_urls) {
        auto r = Recorder::make();
        CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(u, Recorder::handlers(r)));
        CHECK_EQ(r.use_count(), 1);  // the handlers were released
    }
    CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(std::string_view("ws://127.0.0.1/\0x", 17)));
    CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(h_echo_url("/"), {"a b"}));
    CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(h_echo_url("/"), {"chat", "chat"}));
    CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(h_echo_url("/"), {""}));
    CHECK_THROWS(wsnative::SyntaxError, wsnative::WebSocket ws(h_echo_url("/"), {std::string("a\0b", 3)}));
    // http(s) become ws(s); the URL is serialized.
    std::string http = std::string("http") + (h_echo_url("") + 2);  // ws://host:port -> http://host:port
    wsnative::WebSocket ws(http);
    CHECK(ws.url() == h_echo_url("/"));
}

static void test_send_and_close_errors(void) {
    auto r = Recorder::make();
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), queued());
    // CONNECTING (queued: nothing changes until poll()).
    CHECK(ws.ready_state() == ReadyState::Connecting);
    CHECK_THROWS(wsnative::InvalidStateError, ws.send("too early"));
    CHECK_THROWS(wsnative::InvalidStateError, ws.send(std::vector<std::uint8_t>{1, 2}));
    CHECK_EQ(ws.buffered_amount(), 0);  // nothing queued
    // A length no buffer can have is refused before the buffer is read.
    static const std::uint8_t one = 1;
    CHECK_THROWS(wsnative::InvalidLengthError, ws.send_binary(&one, WS_MAX_SEND_LENGTH + 1));
    CHECK_THROWS(wsnative::InvalidLengthError, ws.send_binary(&one, SIZE_MAX));
    REQUIRE(r->poll_until(ws, Kind::Open, 1, 5000));
    CHECK_THROWS(wsnative::InvalidUtf8Error, ws.send("\xff\xfe"));
    CHECK_THROWS(wsnative::InvalidUtf8Error, ws.send("\xed\xa0\x80"));  // a surrogate
    for (std::uint16_t code : {0, 1, 999, 1001, 1005, 1006, 2999, 5000, 65535})
        CHECK_THROWS(wsnative::InvalidAccessError, ws.close(code));
    CHECK_THROWS(wsnative::InvalidAccessError, ws.close(1001, "r"));
    CHECK_THROWS(wsnative::SyntaxError, ws.close(1000, std::string(124, 'x')));
    std::string e_acute_62;  // 62 x U+00E9: 124 bytes
    for (int i = 0; i < 62; i++) e_acute_62 += "\xc3\xa9";
    CHECK_THROWS(wsnative::SyntaxError, ws.close(1000, e_acute_62));
    CHECK_THROWS(wsnative::InvalidUtf8Error, ws.close(1000, "\xff"));
    CHECK(ws.ready_state() == ReadyState::Open);  // none of these closed it
    ws.send("still open");
    REQUIRE(r->poll_until(ws, Kind::Message, 1, 5000));
    ws.close(1000, std::string(123, 'x'));  // the longest reason
    CHECK(ws.ready_state() == ReadyState::Closing);
    std::uint64_t before = ws.buffered_amount();
    CHECK_NOTHROW(ws.send("dropped"));  // CLOSING: discarded, bufferedAmount grows
    CHECK_EQ(ws.buffered_amount(), before + 7);
    REQUIRE(r->poll_until(ws, Kind::Close, 1, 5000));
    CHECK_EQ(r->nth(Kind::Close)->data.size(), 123u);
    CHECK_NOTHROW(ws.close(1000));  // CLOSED: nothing happens
    CHECK_ORDER(r);
}

static void test_option_errors(void) {
    wsnative::Options o;
    CHECK_THROWS(wsnative::InvalidOptionError, o.header("Bad Name", "x"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.header("X-Ok", "a\r\nInjected: 1"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.header(std::string_view("X-N\0ul", 6), "x"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.header("X-Ok", std::string_view("a\0b", 3)));
    CHECK_THROWS(wsnative::InvalidOptionError, o.header("Sec-WebSocket-Key", "x"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.connect_timeout(0ms));
    CHECK_THROWS(wsnative::InvalidOptionError, o.connect_timeout(-5ms));
    CHECK_THROWS(wsnative::InvalidOptionError, o.close_timeout(0ms));
    CHECK_THROWS(wsnative::InvalidOptionError, o.max_message_size(0));
    CHECK_THROWS(wsnative::InvalidOptionError, o.ca_file("/nonexistent/ca.pem"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.ca_file("/dev/zero"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.ca_pem("not a certificate"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.ca_crl_pem("not a revocation list"));
    CHECK_NOTHROW(o.ca_crl_pem(""));  // none
    CHECK_THROWS(wsnative::InvalidOptionError, o.compression_window_bits(7, 0));
    CHECK_THROWS(wsnative::InvalidOptionError, o.compression_window_bits(0, 16));
    CHECK_THROWS(wsnative::InvalidOptionError, o.proxy("ftp://proxy.test/"));
    CHECK_THROWS(wsnative::InvalidOptionError, o.client_cert_pem("not pem", "not pem"));
    // Every setter with a valid value, chained.
    CHECK_NOTHROW(o.header("X-Ok", "1")
                      .connect_timeout(1s)
                      .close_timeout(1s)
                      .max_message_size(1)
                      .dispatch(wsnative::Dispatch::Queued)
                      .dispatch(wsnative::Dispatch::Immediate)
                      .block_unsafe_ports()
                      .dangerously_accept_invalid_certificates(false)
                      .max_queued_bytes(0)
                      .chromium_compat()
                      .compression(true)
                      .compression_window_bits(15, 8)
                      .compression_no_context_takeover()
                      .proxy("socks5h://user:pw@127.0.0.1:1080")
                      .proxy_from_environment()
                      .no_client_cert());
    const char *ca = std::getenv("WSNATIVE_TLS_CA");
    const char *cert = std::getenv("WSNATIVE_TLS_CLIENT_CERT");
    const char *key = std::getenv("WSNATIVE_TLS_CLIENT_KEY");
    if (ca && cert && key) {
        auto slurp = [](const char *path) {
            std::string s;
            if (FILE *f = std::fopen(path, "rb")) {
                char buf[4096];
                std::size_t n;
                while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
                std::fclose(f);
            }
            return s;
        };
        CHECK_NOTHROW(o.ca_file(ca).ca_pem(slurp(ca), true).client_cert_pem(slurp(cert), slurp(key)));
        CHECK_THROWS(wsnative::InvalidOptionError, o.client_cert_pem(slurp(cert), "no key"));
    } else {
        h_note("no test CA or client certificate (openssl missing): PEM setters not run");
    }
    // The ports the browser blocks: refused as a connection failure.
    wsnative::Options blocked;
    blocked.block_unsafe_ports();
    auto r = Recorder::make();
    wsnative::WebSocket ws("ws://127.0.0.1:6667/", Recorder::handlers(r), blocked);
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    REQUIRE(r->nth(Kind::Error));
    CHECK_EQ(r->nth(Kind::Error)->cause, WS_ERROR_CODE_BLOCKED_PORT);
    // Options move; a moved-from Options is empty and refused.
    wsnative::Options moved(std::move(o));
    CHECK(moved.native_handle() != nullptr);
    CHECK(o.native_handle() == nullptr);  // NOLINT
    CHECK_THROWS(wsnative::NullArgumentError, o.connect_timeout(1s));
}

// Without any: NullArgumentError (empty WebSocket); UnknownSocketError (a
// WebSocketRef after its socket was released).
static void test_empty_and_released(void) {
    wsnative::WebSocket empty;
    CHECK_THROWS(wsnative::NullArgumentError, empty.send("x"));
    CHECK_THROWS(wsnative::NullArgumentError, empty.close(1000, "x"));
    CHECK(empty.ready_state() == ReadyState::Closed);
    CHECK(empty.protocol().empty());
    CHECK_EQ(empty.buffered_amount(), 0);
    wsnative::WebSocketRef ref;
    {
        wsnative::WebSocket ws(h_echo_url("/"));
        ref = ws;
        CHECK(ref == ws.ref());
        CHECK(ref.url() == h_echo_url("/"));
    }
    CHECK(ref);  // still names the released socket: its methods fail safely
    CHECK_THROWS(wsnative::UnknownSocketError, ref.send("x"));
    CHECK_THROWS(wsnative::UnknownSocketError, ref.close());
    CHECK_THROWS(wsnative::UnknownSocketError, ref.poll(10ms));
    CHECK(ref.ready_state() == ReadyState::Closed);
    CHECK(ref.url().empty());
}

static void test_would_deadlock(void) {
    auto r = Recorder::make();
    std::atomic<int> checked{0};
    r->hook = [&](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind != Kind::Open) return;
        CHECK_THROWS(wsnative::WouldDeadlockError, ws.poll(0ms));  // inside its own handler
        checked++;
        ws.close();
    };
    wsnative::WebSocket q(h_echo_url("/"), Recorder::handlers(r), queued());
    REQUIRE(r->poll_until(q, Kind::Close, 1, 5000));
    CHECK_EQ(checked, 1);
    // shutdown() from an immediate handler (a library thread).
    auto r2 = Recorder::make();
    r2->hook = [&](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind != Kind::Open) return;
        CHECK_THROWS(wsnative::WouldDeadlockError, wsnative::shutdown(100ms));
        checked++;
        ws.close();
    };
    wsnative::WebSocket i(h_echo_url("/"), Recorder::handlers(r2));
    REQUIRE(r2->wait(Kind::Close, 1, 5000));
    CHECK_EQ(checked, 2);
}

// Runs `child` in a forked process; the child's checks count as this test's.
static void in_child(const std::function<void()> &child) {
    std::fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        child();
        h_child_exit(h_current_failed() ? 1 : 0);
    }
    int status = 0;
    double deadline = h_now_ms() + h_ms(20000);
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (h_now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            h_fail(__FILE__, __LINE__, "child", "did not finish");
            return;
        }
        h_sleep_ms(10);
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
}

static void test_forked_socket_and_shutdown(void) {
    auto r = Recorder::make();
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), queued());
    REQUIRE(r->poll_until(ws, Kind::Open, 1, 5000));
    in_child([&] {
        // Inherited: dead in the child.
        CHECK_THROWS(wsnative::ForkedSocketError, ws.send("from the child"));
        CHECK_THROWS(wsnative::ForkedSocketError, ws.close());
        CHECK_THROWS(wsnative::ForkedSocketError, ws.poll(0ms));
        CHECK(ws.ready_state() == ReadyState::Closed);
        // A new socket works, then shutdown(): no new socket after it.
        auto rc = Recorder::make();
        rc->hook = [](wsnative::WebSocketRef s, const Event &e) {
            if (e.kind == Kind::Open) s.send("child");
            if (e.kind == Kind::Message) s.close(1000);
        };
        {
            wsnative::WebSocket fresh(h_echo_url("/"), Recorder::handlers(rc));
            CHECK(rc->wait(Kind::Close, 1, 5000));
            CHECK(rc->nth(Kind::Message) && rc->nth(Kind::Message)->data == "child");
        }
        wsnative::shutdown(2s);
        CHECK_THROWS(wsnative::ShutDownError, wsnative::WebSocket late(h_echo_url("/")));
    });
    // The parent's connection is untouched.
    ws.send("parent");
    REQUIRE(r->poll_until(ws, Kind::Message, 1, 5000));
    CHECK(r->nth(Kind::Message)->data == "parent");
    ws.close(1000);
    REQUIRE(r->poll_until(ws, Kind::Close, 1, 5000));
    CHECK(r->nth(Kind::Close)->clean);
}

// An exception escaping a handler calls std::terminate() (documented: the
// library's threads cannot carry it), in both dispatch modes.
static void test_exception_in_handler_terminates(void) {
    for (int q = 0; q < 2; q++) {
        std::fflush(stdout);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::set_terminate([] { h_child_exit(42); });  // no leak check in a forked child
            wsnative::Handlers h;
            h.on_open = [](wsnative::WebSocketRef) { throw std::runtime_error("from a handler"); };
            wsnative::WebSocket ws = q ? wsnative::WebSocket(h_echo_url("/"), std::move(h), queued())
                                       : wsnative::WebSocket(h_echo_url("/"), std::move(h));
            for (int i = 0; i < 500; i++) q ? (void)ws.poll(10ms) : h_sleep_ms(10);
            h_child_exit(0);
        }
        int status = 0;
        double deadline = h_now_ms() + h_ms(20000);
        while (waitpid(pid, &status, WNOHANG) == 0 && h_now_ms() < deadline) h_sleep_ms(10);
        if (h_now_ms() >= deadline) kill(pid, SIGKILL), waitpid(pid, &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 42, "%s: child status %d",
                  q ? "queued" : "immediate", status);
    }
}

static void test_bytes_view(void) {
    std::vector<std::uint8_t> v = {1, 2, 3, 4};
    std::array<std::uint8_t, 3> a = {5, 6, 7};
    const std::uint8_t c[2] = {8, 9};
    wsnative::bytes_view bv = v, ba = a, bc = c;
    CHECK_EQ(bv.size(), 4u);
    CHECK(bv.data() == v.data());
    CHECK_EQ(ba[2], 7);
    CHECK_EQ(bc.size(), 2u);
    CHECK_EQ(bv.subspan(1).size(), 3u);
    CHECK_EQ(bv.subspan(1, 2)[1], 3);
    CHECK_EQ(bv.first(2).back(), 2);
    CHECK_EQ(bv.last(1).front(), 4);
    CHECK(!bv.empty() && wsnative::bytes_view().empty());
    int sum = 0;
    for (std::uint8_t b : bv) sum += b;
    CHECK_EQ(sum, 10);
#if defined(__cpp_lib_span)
    static_assert(std::is_same_v<wsnative::bytes_view, std::span<const std::uint8_t>>);
#else
    static_assert(!std::is_convertible_v<std::string, wsnative::bytes_view>);
    static_assert(!std::is_convertible_v<const char *, wsnative::bytes_view>);
#endif
    // Echoed through a socket, as a view of the received bytes.
    auto r = Recorder::make();
    r->hook = [&](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind == Kind::Open) ws.send(bv.subspan(1, 2));
        if (e.kind == Kind::Message) ws.close(1000);
    };
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r));
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    auto m = r->nth(Kind::Message);
    REQUIRE(m);
    CHECK(m->type == wsnative::MessageType::Binary);
    CHECK(m->data == std::string("\x02\x03", 2));
}

int main() {
    h_init("test_cpp_api", 60);
    std::printf("C++ %ld, wsnative %s\n", static_cast<long>(__cplusplus), wsnative::version());
    RUN(test_exception_hierarchy);
    RUN(test_syntax_errors);
    RUN(test_send_and_close_errors);
    RUN(test_option_errors);
    RUN(test_empty_and_released);
    RUN(test_would_deadlock);
    RUN(test_forked_socket_and_shutdown);
    RUN(test_exception_in_handler_terminates);
    RUN(test_bytes_view);
    wsnative::shutdown(2000ms);
    return h_summary();
}
