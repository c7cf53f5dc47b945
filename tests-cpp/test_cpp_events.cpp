// C++ wrapper (include/wsnative.hpp) against the bundled echo server and
// raw servers: echo in both dispatch modes, close codes and reasons, error
// causes, the WebSocket destroyed inside its own handlers and from another
// thread while messages arrive, move semantics.
#include "recorder.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using wsnative::ReadyState;

static const std::string k_text_full("h\xc3\xa9llo \0w\xc3\xb6rld", 14);
static const std::vector<std::uint8_t> k_bin = {0x00, 0x01, 0x02, 0xfe, 0xff};

// Echo of a text (with a NUL byte and non-ASCII UTF-8), a binary and an
// empty message, then close(1000, "done"); every field of every event.
static void echo_checks(const std::shared_ptr<Recorder> &r, const wsnative::WebSocket &ws, bool queued) {
    auto open = r->nth(Kind::Open);
    REQUIRE(open);
    CHECK(open->state == ReadyState::Open);
    auto m0 = r->nth(Kind::Message, 0), m1 = r->nth(Kind::Message, 1), m2 = r->nth(Kind::Message, 2);
    REQUIRE(m0 && m1 && m2);
    CHECK(m0->type == wsnative::MessageType::Text);
    CHECK(m0->data == k_text_full);
    CHECK(m1->type == wsnative::MessageType::Binary);
    CHECK(m1->data == std::string(k_bin.begin(), k_bin.end()));
    CHECK(m2->type == wsnative::MessageType::Binary);
    CHECK(m2->data.empty());
    auto c = r->nth(Kind::Close);
    REQUIRE(c);
    CHECK_EQ(c->code, 1000);
    CHECK(c->data == "done");
    CHECK(c->clean);
    CHECK_EQ(r->count(Kind::Error), 0);
    CHECK(ws.ready_state() == ReadyState::Closed);
    CHECK_EQ(ws.buffered_amount(), 0);  // everything was written
    if (queued) {
        for (const Event &e : r->all()) CHECK(e.thread == std::this_thread::get_id());
    } else {
        for (const Event &e : r->all()) CHECK(e.thread != std::this_thread::get_id());
    }
    CHECK_ORDER(r);
}

static void send_three_and_close_after(const std::shared_ptr<Recorder> &r) {
    r->hook = [](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind == Kind::Open) {
            ws.send(std::string_view(k_text_full));
            ws.send(k_bin);
            ws.send_binary(nullptr, 0);
        } else if (e.kind == Kind::Message && e.type == wsnative::MessageType::Binary && e.data.empty()) {
            ws.close(1000, "done");
        }
    };
}

static void test_echo_immediate(void) {
    auto r = Recorder::make();
    send_three_and_close_after(r);
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r));
    CHECK(ws.url() == h_echo_url("/"));
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    CHECK(ws.protocol().empty());
    echo_checks(r, ws, false);
}

static void test_echo_queued(void) {
    auto r = Recorder::make();
    send_three_and_close_after(r);
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), queued());
    h_sleep_ms(100);
    // Nothing runs and nothing changes between two poll() calls.
    CHECK_EQ(r->all().size(), 0u);
    CHECK(ws.ready_state() == ReadyState::Connecting);
    REQUIRE(r->poll_until(ws, Kind::Close, 1, 5000));
    echo_checks(r, ws, true);
    CHECK_EQ(ws.poll(0ms), 0);
    double t0 = h_now_ms();
    CHECK_EQ(ws.poll(wsnative::forever), 0);  // CLOSED and drained: at once
    CHECK(h_now_ms() - t0 < h_ms(1000));
}

// poll() from a thread of its own: the handlers run there.
static void test_queued_poll_thread(void) {
    auto r = Recorder::make();
    send_three_and_close_after(r);
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), queued());
    std::thread::id poller;
    std::thread t([&] {
        poller = std::this_thread::get_id();
        wsnative::WebSocketRef ref = ws;
        for (int i = 0; i < 500 && ref.ready_state() != ReadyState::Closed; i++) ref.poll(20ms);
    });
    t.join();
    REQUIRE(r->count(Kind::Close) == 1);
    for (const Event &e : r->all()) CHECK(e.thread == poller);
}

static void test_subprotocol(void) {
    auto r = Recorder::make();
    wsnative::WebSocket ws(h_echo_url("/"), {"chat.v2", "chat.v1"}, Recorder::handlers(r));
    REQUIRE(r->wait(Kind::Open, 1, 5000));
    CHECK(ws.protocol() == "chat.v2");
    ws.close();
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    auto c = r->nth(Kind::Close);
    CHECK_EQ(c->code, 1005);  // a Close without a code comes back without one
    CHECK(c->clean);
    CHECK_ORDER(r);
}

static void test_close_codes(void) {
    {  // the server closes with 4001 "bye"
        auto r = Recorder::make();
        wsnative::WebSocket ws(h_echo_url("/close/4001"), Recorder::handlers(r));
        REQUIRE(r->wait(Kind::Close, 1, 5000));
        auto c = r->nth(Kind::Close);
        CHECK_EQ(c->code, 4001);
        CHECK(c->data == "bye");
        CHECK(c->clean);
        CHECK_EQ(r->count(Kind::Error), 0);
        CHECK_ORDER(r);
    }
    {  // the client closes with 3000 and a reason
        auto r = Recorder::make();
        r->hook = [](wsnative::WebSocketRef ws, const Event &e) {
            if (e.kind == Kind::Open) {
                ws.close(3000, std::string_view("r\xc3\xa9s\0um\xc3\xa9", 10));
                CHECK(ws.ready_state() == ReadyState::Closing);
                ws.close(1000, "again");  // CLOSING: nothing happens
            }
        };
        wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r));
        REQUIRE(r->wait(Kind::Close, 1, 5000));
        auto c = r->nth(Kind::Close);
        CHECK_EQ(c->code, 3000);
        CHECK(c->data == std::string_view("r\xc3\xa9s\0um\xc3\xa9", 10));  // a NUL inside, as the browser allows
        CHECK(c->clean);
        CHECK_ORDER(r);
    }
    {  // the server drops TCP: 1006, unclean, no error
        auto r = Recorder::make();
        wsnative::WebSocket ws(h_echo_url("/drop"), Recorder::handlers(r));
        REQUIRE(r->wait(Kind::Close, 1, 5000));
        auto c = r->nth(Kind::Close);
        CHECK_EQ(c->code, 1006);
        CHECK(!c->clean);
        CHECK_EQ(r->count(Kind::Error), 0);
        CHECK_ORDER(r);
    }
    {  // close() while CONNECTING fails the connection
        auto r = Recorder::make();
        wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), queued());
        ws.close(1000);
        CHECK(ws.ready_state() == ReadyState::Closing);
        REQUIRE(r->poll_until(ws, Kind::Close, 1, 5000));
        auto e = r->nth(Kind::Error);
        REQUIRE(e);
        CHECK_EQ(e->cause, WS_ERROR_CODE_CLOSED_WHILE_CONNECTING);
        CHECK_EQ(r->nth(Kind::Close)->code, 1006);
        CHECK_EQ(r->count(Kind::Open), 0);
        CHECK_ORDER(r);
    }
}

static void test_error_cause_refused(void) {
    auto r = Recorder::make();
    wsnative::WebSocket ws(h_refused_url(), Recorder::handlers(r));
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    auto e = r->nth(Kind::Error);
    REQUIRE(e);
    CHECK_EQ(e->cause, WS_ERROR_CODE_CONNECTION_REFUSED);
    CHECK_STR(ws_error_code_str(e->cause), "connection_refused");
    CHECK(!e->data.empty());
    CHECK_EQ(e->http_status, 0);
    CHECK(!e->retry_after);
    CHECK(e->state == ReadyState::Closed);
    auto c = r->nth(Kind::Close);
    CHECK_EQ(c->code, 1006);
    CHECK(!c->clean);
    CHECK_ORDER(r);
}

// A server that refuses the opening handshake with 429 and Retry-After.
static void raw_429(raw_server *s, int fd) {
    char head[4096];
    if (!raw_read_head(s, fd, head, sizeof head, 5000)) return;
    const char *resp = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n";
    raw_write(fd, resp, std::strlen(resp));
    raw_hold(s, fd);
}

static void test_error_cause_http(void) {
    raw_server *s = raw_start(raw_429, nullptr);
    REQUIRE(s);
    auto r = Recorder::make();
    std::optional<wsnative::ErrorEvent> kept;
    std::string kept_message;
    wsnative::Handlers h = Recorder::handlers(r);
    auto record_error = h.on_error;
    h.on_error = [&, record_error](wsnative::WebSocketRef ws, const wsnative::ErrorEvent &ev) {
        record_error(ws, ev);
        CHECK_STR(ev.code_name(), "handshake_refused");
        CHECK(ev.http_header("RETRY-AFTER") == std::optional<std::string>("7"));
        CHECK(!ev.http_header("X-Absent"));
        CHECK(!ev.http_header(std::string_view("Retry-After\0x", 13)));
        kept = ev;
        kept_message.assign(ev.message.data(), ev.message.size());
    };
    {
        wsnative::WebSocket ws(raw_url(s, "/"), std::move(h));
        REQUIRE(r->wait(Kind::Close, 1, 5000));
    }
    auto e = r->nth(Kind::Error);
    REQUIRE(e);
    CHECK_EQ(e->cause, WS_ERROR_CODE_HANDSHAKE_REFUSED);
    CHECK_EQ(e->http_status, 429);
    CHECK(e->retry_after == std::optional<std::string>("7"));
    CHECK(e->data.find("429") != std::string::npos);
    // Outside on_error the header getter has nothing (never a dangling view).
    REQUIRE(kept);
    CHECK(!kept->http_header("Retry-After"));
    CHECK_EQ(kept->code, WS_ERROR_CODE_HANDSHAKE_REFUSED);
    CHECK_EQ(r->nth(Kind::Close)->code, 1006);
    CHECK_ORDER(r);
    raw_stop(s);
}

static void test_request_headers_and_options(void) {
    auto r = Recorder::make();
    wsnative::Options o;
    o.header("X-Test", "1")
        .header("Origin", "https://example.test")
        .connect_timeout(5s)
        .close_timeout(2s)
        .max_message_size(1 << 20)
        .block_unsafe_ports(false)
        .max_queued_bytes(1 << 20)
        .chromium_compat(false)
        .compression(false)
        .compression_window_bits(0, 0)
        .compression_no_context_takeover(false)
        .proxy("")
        .no_client_cert()
        .dangerously_accept_invalid_certificates(false)
        .dispatch(wsnative::Dispatch::Queued);
    wsnative::WebSocket ws(h_echo_url("/headers"), Recorder::handlers(r), o);
    REQUIRE(r->poll_until(ws, Kind::Message, 1, 5000));
    std::string headers = r->nth(Kind::Message)->data;
    CHECK_MSG(headers.find("x-test: 1\n") != std::string::npos, "%s", headers.c_str());
    CHECK(headers.find("origin: https://example.test\n") != std::string::npos);
    CHECK(headers.find("sec-websocket-extensions") == std::string::npos);  // compression(false)
    CHECK(ws.extensions().empty());
    ws.close();
    REQUIRE(r->poll_until(ws, Kind::Close, 1, 5000));
}

static void test_max_message_size(void) {
    auto r = Recorder::make();
    r->hook = [](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind == Kind::Open) ws.send(std::string(100, 'x'));
    };
    wsnative::Options o;
    o.max_message_size(10);
    wsnative::WebSocket ws(h_echo_url("/"), Recorder::handlers(r), o);
    REQUIRE(r->wait(Kind::Close, 1, 5000));
    auto e = r->nth(Kind::Error);
    REQUIRE(e);
    CHECK_EQ(e->cause, WS_ERROR_CODE_MESSAGE_TOO_BIG);
    CHECK_EQ(r->count(Kind::Message), 0);
    CHECK_EQ(r->nth(Kind::Close)->code, 1006);
}

static void test_tls_ca_file(void) {
    const char *url = std::getenv("WSNATIVE_TLS_URL");
    const char *ca = std::getenv("WSNATIVE_TLS_CA");
    if (!url || !*url || !ca || !*ca) {
        h_note("no TLS server (openssl missing): wss:// part not run");
        return;
    }
    {  // the test CA is not trusted by the system: refused
        auto r = Recorder::make();
        wsnative::WebSocket ws(url, Recorder::handlers(r));
        REQUIRE(r->wait(Kind::Close, 1, 10000));
        auto e = r->nth(Kind::Error);
        REQUIRE(e);
        CHECK_EQ(e->cause, WS_ERROR_CODE_TLS_CERT_UNTRUSTED);
    }
    for (int exclusive = 0; exclusive < 2; exclusive++) {  // trusted with ca_file()
        auto r = Recorder::make();
        r->hook = [](wsnative::WebSocketRef ws, const Event &e) {
            if (e.kind == Kind::Open) ws.send("over tls");
            if (e.kind == Kind::Message) ws.close(1000);
        };
        wsnative::Options o;
        o.ca_file(ca, exclusive != 0);
        wsnative::WebSocket ws(url, Recorder::handlers(r), o);
        REQUIRE(r->wait(Kind::Close, 1, 10000));
        auto m = r->nth(Kind::Message);
        REQUIRE_MSG(m, "events: %d errors", r->count(Kind::Error));
        CHECK(m->data == "over tls");
        CHECK(r->nth(Kind::Close)->clean);
    }
}

// ---------------------------------------------------------------------------
// Lifetime

// The WebSocket destroyed inside each of its own handlers, in both modes:
// the handler goes on using what it captured (ASan would see a freed
// handler), no event follows, and the handlers are destroyed right after it
// returns (the recorder's use_count() counts the test plus the 4 handlers).
static void destroy_inside(Kind when, bool is_queued) {
    const char *path = when == Kind::Error ? nullptr : when == Kind::Close ? "/close/4001" : "/hello";
    std::string url = path ? h_echo_url(path) : h_refused_url();
    auto r = Recorder::make();
    std::optional<wsnative::WebSocket> holder;
    std::atomic<int> after{0}, destroyed_in{0};
    std::mutex ready_mu;  // the handler waits until `holder` is set (immediate mode)
    std::unique_lock<std::mutex> ready(ready_mu);
    r->hook = [&](wsnative::WebSocketRef ws, const Event &e) {
        if (destroyed_in) after++;
        if (e.kind != when) return;
        std::lock_guard<std::mutex> lock(ready_mu);
        holder.reset();  // ~WebSocket inside its own handler
        destroyed_in++;
        CHECK_EQ(r.use_count(), 5);  // the running handlers are intact
        CHECK_THROWS(wsnative::UnknownSocketError, ws.send("x"));
        CHECK(ws.ready_state() == ReadyState::Closed);
        h_sleep_ms(20);
    };
    if (is_queued)
        holder.emplace(url, Recorder::handlers(r), queued());
    else
        holder.emplace(url, Recorder::handlers(r));
    wsnative::WebSocketRef ref = *holder;
    ready.unlock();
    double deadline = h_now_ms() + h_ms(5000);
    while (!destroyed_in && h_now_ms() < deadline) {
        if (is_queued && holder)
            CHECK_NOTHROW(holder->poll(10ms));  // returns normally although a handler destroys *holder
        else if (is_queued)
            CHECK_NOTHROW(ref.poll(10ms));
        else
            h_sleep_ms(5);
    }
    REQUIRE_MSG(destroyed_in == 1, "the handler ran");
    deadline = h_now_ms() + h_ms(2000);
    while (r.use_count() > 1 && h_now_ms() < deadline) h_sleep_ms(5);
    CHECK_EQ(r.use_count(), 1);
    h_sleep_ms(100);
    CHECK_EQ(after, 0);
    CHECK(!holder);
    if (is_queued) CHECK_THROWS(wsnative::UnknownSocketError, ref.poll(0ms));
    CHECK_ORDER(r);
}

static void test_destroy_inside_handlers(void) {
    for (int q = 0; q < 2; q++)
        for (Kind k : {Kind::Open, Kind::Message, Kind::Error, Kind::Close}) destroy_inside(k, q == 1);
}

// Destroyed on this thread while a library thread delivers a stream of
// messages: no handler runs after the destructor returns, and the handlers
// are destroyed by then.
static void test_destroy_from_another_thread(void) {
    int rounds = h_count(20);
    for (int round = 0; round < rounds; round++) {
        std::atomic<bool> gone{false};
        std::atomic<int> late{0}, messages{0}, wrong_size{0};
        std::shared_ptr<int> token = std::make_shared<int>(0);
        wsnative::Handlers h;
        h.on_message = [&, token](wsnative::WebSocketRef, const wsnative::MessageEvent &ev) {
            if (gone) late++;
            if (ev.data.size() != 64) wrong_size++;
            if (++messages % 50 == 0) std::this_thread::sleep_for(std::chrono::microseconds(500));
        };
        h.on_close = [&, token](wsnative::WebSocketRef, const wsnative::CloseEvent &) {
            if (gone) late++;
        };
        auto ws = std::make_unique<wsnative::WebSocket>(h_echo_url("/count/100000/64"), std::move(h));
        double deadline = h_now_ms() + h_ms(5000);
        int target = 100 + round * 37;
        while (messages < target && h_now_ms() < deadline) std::this_thread::yield();
        REQUIRE(messages >= target);
        ws.reset();
        gone = true;
        CHECK_EQ(token.use_count(), 1);  // the handlers were destroyed by ~WebSocket
        h_sleep_ms(20);
        CHECK_EQ(late, 0);
        CHECK_EQ(wrong_size, 0);
    }
    // Queued: a thread waits in poll(forever) on a WebSocketRef while this
    // thread destroys the owner: poll() returns, no handler runs afterwards.
    for (int round = 0; round < h_count(10); round++) {
        std::atomic<bool> gone{false};
        std::atomic<int> late{0}, messages{0};
        wsnative::Handlers h;
        h.on_message = [&](wsnative::WebSocketRef, const wsnative::MessageEvent &) {
            if (gone) late++;
            messages++;
        };
        auto ws = std::make_unique<wsnative::WebSocket>(h_echo_url("/count/100000/64"), std::move(h), queued());
        wsnative::WebSocketRef ref = *ws;
        std::atomic<bool> poller_done{false};
        std::thread poller([&] {
            try {
                while (ref.poll(wsnative::forever) > 0) {
                }
            } catch (const wsnative::UnknownSocketError &) {
                // freed between two poll() calls
            }
            poller_done = true;
        });
        double deadline = h_now_ms() + h_ms(5000);
        while (messages < 200 && h_now_ms() < deadline) std::this_thread::yield();
        CHECK(messages >= 200);
        ws.reset();
        gone = true;
        deadline = h_now_ms() + h_ms(3000);
        while (!poller_done && h_now_ms() < deadline) h_sleep_ms(5);
        CHECK_MSG(poller_done, "poll(forever) returned after the owner was destroyed");
        poller.join();
        CHECK_EQ(late, 0);
    }
}

// The destructor of an open socket never waits on the network (the Close
// 1001 goes out in the background), and no on_close follows it.
static void test_destroy_is_prompt(void) {
    auto r = Recorder::make();
    auto ws = std::make_unique<wsnative::WebSocket>(h_echo_url("/"), Recorder::handlers(r));
    REQUIRE(r->wait(Kind::Open, 1, 5000));
    double t0 = h_now_ms();
    ws.reset();
    CHECK(h_now_ms() - t0 < h_ms(500));  // the close timeout is 5 s
    CHECK_EQ(r.use_count(), 1);
    CHECK_EQ(r->count(Kind::Close), 0);  // released first: no on_close
}

static void test_move_semantics(void) {
    static_assert(!std::is_copy_constructible_v<wsnative::WebSocket>);
    static_assert(!std::is_copy_assignable_v<wsnative::WebSocket>);
    static_assert(std::is_nothrow_move_constructible_v<wsnative::WebSocket>);
    static_assert(std::is_nothrow_move_assignable_v<wsnative::WebSocket>);
    static_assert(!std::is_copy_constructible_v<wsnative::Options>);
    static_assert(std::is_nothrow_move_constructible_v<wsnative::Options>);
    static_assert(std::is_copy_constructible_v<wsnative::WebSocketRef>);

    auto ra = Recorder::make(), rb = Recorder::make();
    ra->hook = [](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind == Kind::Open) ws.send("a");
    };
    wsnative::WebSocket a(h_echo_url("/"), Recorder::handlers(ra));
    ws_socket *handle = a.native_handle();
    wsnative::WebSocket b(std::move(a));  // move construction
    CHECK(!a);                            // NOLINT: moved-from is empty
    CHECK(a.native_handle() == nullptr);  // NOLINT
    CHECK(a.ready_state() == ReadyState::Closed);
    CHECK(a.url().empty());
    CHECK_THROWS(wsnative::NullArgumentError, a.send("x"));
    CHECK_THROWS(wsnative::NullArgumentError, a.close());
    CHECK_THROWS(wsnative::NullArgumentError, a.poll());
    CHECK(b.native_handle() == handle);
    REQUIRE(ra->wait(Kind::Message, 1, 5000));  // events still reach the handlers
    CHECK(ra->nth(Kind::Message)->data == "a");

    // Move assignment releases what the target held (its handlers go, no
    // on_close) and takes the other socket.
    wsnative::WebSocket c(h_echo_url("/"), Recorder::handlers(rb));
    REQUIRE(rb->wait(Kind::Open, 1, 5000));
    CHECK_EQ(rb.use_count(), 5);  // the test + 4 handlers
    c = std::move(b);
    CHECK_EQ(rb.use_count(), 1);
    CHECK_EQ(rb->count(Kind::Close), 0);
    CHECK(c.native_handle() == handle);
    CHECK(!b);  // NOLINT
    auto &alias = c;
    c = std::move(alias);  // self-move: nothing happens
    CHECK(c.native_handle() == handle);
    c.send("again");
    REQUIRE(ra->wait(Kind::Message, 2, 5000));

    // In a vector that grows (moves on reallocation).
    std::vector<wsnative::WebSocket> many;
    auto rm = Recorder::make();
    rm->hook = [](wsnative::WebSocketRef ws, const Event &e) {
        if (e.kind == Kind::Open) ws.close(1000, "v");
    };
    for (int i = 0; i < 8; i++) many.emplace_back(h_echo_url("/"), Recorder::handlers(rm));
    CHECK(rm->wait(Kind::Close, 8, 10000));
    for (const auto &w : many) CHECK(w.ready_state() == ReadyState::Closed);
    many.clear();
    CHECK_EQ(rm.use_count(), 1);
    wsnative::WebSocket empty;
    CHECK(!empty);
    c.close(1000);
    REQUIRE(ra->wait(Kind::Close, 1, 5000));
    CHECK_ORDER(ra);
}

int main() {
    h_init("test_cpp_events", 60);
    RUN(test_echo_immediate);
    RUN(test_echo_queued);
    RUN(test_queued_poll_thread);
    RUN(test_subprotocol);
    RUN(test_close_codes);
    RUN(test_error_cause_refused);
    RUN(test_error_cause_http);
    RUN(test_request_headers_and_options);
    RUN(test_max_message_size);
    RUN(test_tls_ca_file);
    RUN(test_destroy_inside_handlers);
    RUN(test_destroy_from_another_thread);
    RUN(test_destroy_is_prompt);
    RUN(test_move_semantics);
    wsnative::shutdown(2000ms);
    return h_summary();
}
