/*
 * test_events: what an application sees on the wire side, in both dispatch
 * modes: open, echoed messages (text, binary, empty, 1 MiB), the closing
 * handshake and its codes, failures (refused, bad handshake, timeouts,
 * message too big), send/close validation while OPEN, bufferedAmount,
 * messages after close(), request headers, TLS and the blocked ports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static ws_dispatch g_mode = WS_DISPATCH_IMMEDIATE;

static ws_options *mode_options(void) {
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, g_mode);
    return o;
}

/* Waits for events in either mode (queued: pumps with ws_poll). */
static bool wait_ev(rec_t *r, ev_kind kind, int n, int timeout_ms) {
    return g_mode == WS_DISPATCH_QUEUED ? rec_poll(r, kind, n, timeout_ms) : rec_wait(r, kind, n, timeout_ms);
}

static rec_t *open_rec(const char *url, const char *const *protocols, size_t n, ws_options *o) {
    rec_t *r = rec_new();
    ws_options *own = o ? NULL : mode_options();
    ws_result res = rec_open(r, url, protocols, n, o ? o : own);
    ws_options_free(own);
    if (res != WS_RESULT_OK) {
        h_fail(__FILE__, __LINE__, "ws_new", "%s: %s: %s", url, ws_result_str(res), ws_last_error());
        rec_unref(r);
        return NULL;
    }
    return r;
}

/* Frees the socket and the recorder, after the common checks. */
static void finish(rec_t *r) {
    if (!r) return;
    if (r->ws && !r->freed_in_cb) ws_free(r->ws);
    rec_check_common(r);
    CHECK_EQ(r->finalized, 1);
    rec_unref(r);
}

static bool wait_buffered_zero(ws_socket *ws, int timeout_ms) {
    double deadline = h_now_ms() + timeout_ms;
    while (ws_buffered_amount(ws) != 0 && h_now_ms() < deadline) {
        if (g_mode == WS_DISPATCH_QUEUED) ws_poll(ws, 5);
        else h_sleep_ms(2);
    }
    return ws_buffered_amount(ws) == 0;
}

#define WAIT(r, kind, n) CHECK_MSG(wait_ev((r), (kind), (n), h_ms(5000)), "events: %s", rec_describe(r))
#define REQUIRE_WAIT(r, kind, n) \
    REQUIRE_MSG(wait_ev((r), (kind), (n), h_ms(5000)), "events: %s", rec_describe(r))

static bool msg_is(rec_t *r, int i, ws_message_type t, const void *data, size_t len) {
    int k = rec_find(r, EV_MESSAGE, i);
    if (k < 0) return false;
    event_t e = rec_get(r, (size_t)k);
    return e.mtype == t && e.len == len && (len == 0 || memcmp(e.data, data, len) == 0);
}

/* ---------------------------------------------------------------------- */

static void test_open_echo_close(void) {
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    ws_socket *ws = r->ws;
    REQUIRE_WAIT(r, EV_OPEN, 1);
    CHECK_EQ(rec_get(r, 0).state, WS_STATE_OPEN);
    CHECK_EQ(ws_ready_state(ws), WS_STATE_OPEN);
    CHECK_STR(ws_protocol(ws), "");
    CHECK_STR(ws_extensions(ws), "");
    CHECK_STR(ws_url(ws), h_echo_url("/"));

    static const char nul_text[] = {'a', 0, 'b'};
    static const uint8_t bin[] = {0x00, 0x01, 0x02, 0xfe, 0xff};
    static const char utf8[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9d\x84\x9e";
    CHECK_RES(ws_send_text(ws, "hello", 5), WS_RESULT_OK);
    CHECK_RES(ws_send_binary(ws, bin, sizeof bin), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, "", 0), WS_RESULT_OK);
    CHECK_RES(ws_send_binary(ws, NULL, 0), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, nul_text, sizeof nul_text), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, utf8, strlen(utf8)), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, NULL, 0), WS_RESULT_OK);
    WAIT(r, EV_MESSAGE, 7);
    CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_TEXT, "hello", 5));
    CHECK(msg_is(r, 1, WS_MESSAGE_TYPE_BINARY, bin, sizeof bin));
    CHECK(msg_is(r, 2, WS_MESSAGE_TYPE_TEXT, "", 0));
    CHECK(msg_is(r, 3, WS_MESSAGE_TYPE_BINARY, "", 0));
    CHECK(msg_is(r, 4, WS_MESSAGE_TYPE_TEXT, nul_text, sizeof nul_text));
    CHECK(msg_is(r, 5, WS_MESSAGE_TYPE_TEXT, utf8, strlen(utf8)));
    CHECK(msg_is(r, 6, WS_MESSAGE_TYPE_TEXT, "", 0));
    CHECK(wait_buffered_zero(ws, h_ms(5000)));

    CHECK_RES(ws_close(ws, 1000, "done"), WS_RESULT_OK);
    ws_state st = ws_ready_state(ws);
    CHECK_MSG(st == WS_STATE_CLOSING || st == WS_STATE_CLOSED, "state %d", (int)st);
    CHECK_RES(ws_close(ws, 1000, "again"), WS_RESULT_OK); /* CLOSING: nothing happens */
    WAIT(r, EV_CLOSE, 1);
    int k = rec_find(r, EV_CLOSE, 0);
    REQUIRE(k >= 0);
    event_t c = rec_get(r, (size_t)k);
    CHECK_EQ(c.code, 1000);
    CHECK(c.clean);
    CHECK_EQ(c.len, strlen((const char *)c.data));
    CHECK_EQ(ws_ready_state(ws), WS_STATE_CLOSED);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    CHECK_RES(ws_close(ws, 1000, NULL), WS_RESULT_OK); /* CLOSED: nothing happens */
    h_sleep_ms(50);
    if (g_mode == WS_DISPATCH_QUEUED) CHECK_EQ(ws_poll(ws, 0), 0);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    finish(r);
}

static void fill_pattern(uint8_t *p, size_t n, bool text) {
    for (size_t i = 0; i < n; i++) p[i] = text ? (uint8_t)('a' + (i * 7 + i / 1000) % 26) : (uint8_t)(i * 31 + i / 977);
}

static void test_one_mib_messages(void) {
    const size_t n = 1 << 20;
    uint8_t *text = malloc(n), *bin = malloc(n);
    fill_pattern(text, n, true);
    fill_pattern(bin, n, false);
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    if (wait_ev(r, EV_OPEN, 1, h_ms(5000))) {
        CHECK_RES(ws_send_text(r->ws, (const char *)text, n), WS_RESULT_OK);
        uint64_t b = ws_buffered_amount(r->ws);
        CHECK_MSG(b <= n, "bufferedAmount %llu", (unsigned long long)b);
        CHECK_RES(ws_send_binary(r->ws, bin, n), WS_RESULT_OK);
        WAIT(r, EV_MESSAGE, 2);
        CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_TEXT, text, n));
        CHECK(msg_is(r, 1, WS_MESSAGE_TYPE_BINARY, bin, n));
        CHECK(wait_buffered_zero(r->ws, h_ms(5000)));
        CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
        WAIT(r, EV_CLOSE, 1);
    } else {
        CHECK_MSG(false, "no open: %s", rec_describe(r));
    }
    finish(r);
    free(text);
    free(bin);
}

/* Sends every message back from the message callback, `*(int *)r->user`
 * times: in immediate mode, a large message sent from its own socket's
 * callback once everything the server sent is read is written by the send
 * itself while it is masked (core/src/outgoing.rs, Outgoing::stream). */
static ws_result g_echo_back_result = WS_RESULT_OK;

static void echo_back_hook(rec_t *r, ws_socket *ws, const event_t *e) {
    int *left = r->user;
    if (e->kind != EV_MESSAGE || *left <= 0) return;
    (*left)--;
    ws_result res = ws_send_binary(ws, e->data, e->len);
    if (res != WS_RESULT_OK) g_echo_back_result = res;
}

static void test_large_echoes_sent_back_from_the_callback(void) {
    const size_t n = 3 * 1024 * 1024 + 5; /* pieces and masking keys misaligned */
    uint8_t *bin = malloc(n);
    fill_pattern(bin, n, false);
    int left = 4;
    g_echo_back_result = WS_RESULT_OK;
    rec_t *r = rec_new();
    r->hook = echo_back_hook;
    r->user = &left;
    ws_options *o = mode_options();
    ws_result res = rec_open(r, h_echo_url("/"), NULL, 0, o);
    ws_options_free(o);
    CHECK_RES(res, WS_RESULT_OK);
    if (res == WS_RESULT_OK && wait_ev(r, EV_OPEN, 1, h_ms(5000))) {
        CHECK_RES(ws_send_binary(r->ws, bin, n), WS_RESULT_OK);
        WAIT(r, EV_MESSAGE, 5);
        CHECK_RES(g_echo_back_result, WS_RESULT_OK);
        for (int i = 0; i < 5; i++) CHECK_MSG(msg_is(r, i, WS_MESSAGE_TYPE_BINARY, bin, n), "echo %d differs", i);
        CHECK(wait_buffered_zero(r->ws, h_ms(5000)));
        CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_MESSAGE), 5);
    } else if (res == WS_RESULT_OK) {
        CHECK_MSG(false, "no open: %s", rec_describe(r));
    }
    if (res == WS_RESULT_OK) {
        finish(r);
    } else {
        rec_unref(r);
    }
    free(bin);
}

/* Answers the handshake only once the test opens the gate
 * (raw_set_value), selecting the subprotocol "chat". */
static void raw_ws_gated(raw_server *s, int fd) {
    char head[8192];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    if (!raw_wait_value(s, 10000)) return;
    if (raw_accept_ws(fd, head, "Sec-WebSocket-Protocol: chat\r\n", NULL, 0)) raw_hold(s, fd);
}

static void test_subprotocol(void) {
    const char *protos[] = {"chat", "superchat"};
    raw_server *s = raw_start(raw_ws_gated, NULL);
    rec_t *r = open_rec(raw_url(s, "/"), protos, 2, NULL);
    if (r) {
        h_sleep_ms(50);
        CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CONNECTING);
        CHECK_STR(ws_protocol(r->ws), ""); /* "" before open */
        CHECK_STR(ws_extensions(r->ws), "");
        raw_set_value(s, 1); /* let the handshake complete */
        WAIT(r, EV_OPEN, 1);
        CHECK_STR(ws_protocol(r->ws), "chat");
        CHECK_STR(ws_extensions(r->ws), "");
        finish(r);
    }
    raw_stop(s);

    r = open_rec(h_echo_url("/"), protos, 2, NULL);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    CHECK_STR(ws_protocol(r->ws), "chat"); /* the echo server picks the first */
    const char *p1 = ws_protocol(r->ws);
    CHECK(p1 == ws_protocol(r->ws)); /* borrowed, stable */
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    CHECK_STR(ws_protocol(r->ws), "chat"); /* still set when CLOSED */
    finish(r);

    /* The offer reaches the server. */
    r = open_rec(h_echo_url("/headers"), protos, 2, NULL);
    REQUIRE(r);
    WAIT(r, EV_MESSAGE, 1);
    int k = rec_find(r, EV_MESSAGE, 0);
    event_t m = k >= 0 ? rec_get(r, (size_t)k) : (event_t){0};
    CHECK_MSG(m.data && strstr((char *)m.data, "sec-websocket-protocol: chat, superchat") != NULL, "headers:\n%s",
              m.data ? (char *)m.data : "");
    finish(r);
}

static void test_server_closes_4001(void) {
    rec_t *r = open_rec(h_echo_url("/close/4001"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    int k = rec_find(r, EV_CLOSE, 0);
    REQUIRE(k >= 0);
    event_t c = rec_get(r, (size_t)k);
    CHECK_EQ(c.code, 4001);
    CHECK_EQ(c.len, 3);
    CHECK_STR((const char *)c.data, "bye");
    CHECK(c.clean);
    finish(r);
}

static void test_server_drops(void) {
    rec_t *r = open_rec(h_echo_url("/drop"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 1);
    CHECK_EQ(rec_count(r, EV_ERROR), 0); /* a drop is not a failure */
    event_t c = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
    CHECK_EQ(c.code, 1006);
    CHECK(!c.clean);
    CHECK_EQ(c.len, 0);
    finish(r);
}

static void test_refused(void) {
    rec_t *r = open_rec(h_refused_url(), NULL, 0, NULL);
    REQUIRE(r);
    ws_state st = ws_ready_state(r->ws); /* never fails synchronously (loopback may be quick) */
    CHECK_MSG(st == WS_STATE_CONNECTING || st == WS_STATE_CLOSED, "state %d", (int)st);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    CHECK_EQ(rec_n(r), 2);
    event_t e = rec_get(r, 0), c = rec_get(r, 1);
    CHECK_EQ(e.kind, EV_ERROR);
    CHECK_MSG(e.len > 5, "error message '%s'", e.data ? (char *)e.data : "");
    CHECK_EQ(c.kind, EV_CLOSE);
    CHECK_EQ(c.code, 1006);
    CHECK(!c.clean);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CLOSED);
    finish(r);
}

static void test_hello_right_after_open(void) {
    rec_t *r = open_rec(h_echo_url("/hello"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_MESSAGE, 1);
    CHECK_EQ(rec_get(r, 0).kind, EV_OPEN);
    CHECK_EQ(rec_get(r, 1).kind, EV_MESSAGE);
    CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_TEXT, "hello", 5));
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    finish(r);
}

static void test_count_payloads(void) {
    rec_t *r = open_rec(h_echo_url("/count/20/300"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_MESSAGE, 20);
    for (int i = 0; i < 20; i++) {
        int k = rec_find(r, EV_MESSAGE, i);
        if (k < 0) break;
        event_t m = rec_get(r, (size_t)k);
        CHECK_EQ(m.mtype, WS_MESSAGE_TYPE_BINARY);
        CHECK_EQ(m.len, 300);
        bool ok = m.len == 300;
        for (size_t j = 0; ok && j < m.len; j++) ok = m.data[j] == (uint8_t)((i + (int)j) % 256);
        CHECK_MSG(ok, "payload of message %d", i);
    }
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    finish(r);
}

/* ---------------------------------------------------------------------- */
/* Raw servers                                                             */

typedef struct {
    const char *extra;   /* more response header lines */
    const uint8_t *tail; /* frames sent with the 101 */
    size_t tail_len;
    bool reply_close;    /* answer the client's Close, then close TCP */
} ws_script;

/* Handshake, then read the client's frames; records the client's close
 * code with raw_set_value(). */
static void raw_ws_script(raw_server *s, int fd) {
    ws_script *sc = raw_arg(s);
    char head[8192];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    if (!raw_accept_ws(fd, head, sc->extra, sc->tail, sc->tail_len)) return;
    for (;;) {
        int op;
        uint8_t p[256];
        size_t n;
        if (!raw_read_frame(s, fd, &op, p, sizeof p, &n, 30000)) return;
        if (op == 8) {
            raw_set_value(s, n >= 2 ? (p[0] << 8 | p[1]) : 1005);
            if (sc->reply_close) {
                uint8_t f[160];
                raw_write(fd, f, ws_frame(f, 8, p, n));
                return; /* closes TCP */
            }
            raw_hold(s, fd);
            return;
        }
    }
}

static void test_bad_accept_key(void) {
    raw_server *s = raw_start(raw_bad_accept, NULL);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, NULL);
    if (r) {
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_OPEN), 0);
        CHECK_EQ(rec_count(r, EV_ERROR), 1);
        event_t c = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
        CHECK_EQ(c.code, 1006);
        CHECK(!c.clean);
        int k = rec_find(r, EV_ERROR, 0);
        if (k >= 0) {
            event_t e = rec_get(r, (size_t)k);
            CHECK_MSG(strstr((char *)e.data, "ccept") != NULL, "error: %s", (char *)e.data);
        }
        finish(r);
    }
    raw_stop(s);
}

static void test_raw_frames_with_the_101(void) {
    /* A text frame and a Close frame in the same packet as the 101. */
    uint8_t tail[64];
    size_t n = ws_frame(tail, 1, "early", 5);
    n += ws_frame(tail + n, 8, "\x0f\xa0" "fin", 5); /* 4000 "fin" */
    ws_script sc = {NULL, tail, n, false};
    raw_server *s = raw_start(raw_ws_script, &sc);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, NULL);
    if (r) {
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_OPEN), 1);
        CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_TEXT, "early", 5));
        int k = rec_find(r, EV_CLOSE, 0);
        if (k >= 0) {
            event_t c = rec_get(r, (size_t)k);
            CHECK_EQ(c.code, 4000);
            CHECK_STR((const char *)c.data, "fin");
            /* The server keeps TCP open: the client closes it after a short
             * wait and the close is still clean. */
            CHECK(c.clean);
        }
        CHECK_MSG(raw_wait_value(s, h_ms(2000)) && raw_value(s) == 4000, "the client echoed code %d", raw_value(s));
        finish(r);
    }
    raw_stop(s);
}

static void test_close_without_code(void) {
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    CHECK_RES(ws_close(r->ws, 0, NULL), WS_RESULT_OK);
    WAIT(r, EV_CLOSE, 1);
    event_t c = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
    CHECK_EQ(c.code, 1005);
    CHECK(c.clean);
    finish(r);
}

static void test_send_validation_when_open(void) {
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    REQUIRE_WAIT(r, EV_OPEN, 1);
    ws_socket *ws = r->ws;
    static const char *bad[] = {"\xff", "abc\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok\x80ok"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RES(ws_send_text(ws, bad[i], strlen(bad[i])), WS_RESULT_INVALID_UTF8);
        CHECK(strlen(ws_last_error()) > 0);
    }
    CHECK_EQ(ws_buffered_amount(ws), 0); /* nothing queued */
    CHECK_RES(ws_send_text(ws, NULL, 3), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_send_binary(ws, NULL, 3), WS_RESULT_NULL_ARGUMENT);
    CHECK_EQ(ws_buffered_amount(ws), 0);
    /* Binary takes any bytes. */
    CHECK_RES(ws_send_binary(ws, (const uint8_t *)"\xff\xfe", 2), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, "end", 3), WS_RESULT_OK);
    WAIT(r, EV_MESSAGE, 2);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 2);
    CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_BINARY, "\xff\xfe", 2));
    CHECK(msg_is(r, 1, WS_MESSAGE_TYPE_TEXT, "end", 3));
    CHECK_EQ(ws_ready_state(ws), WS_STATE_OPEN);
    ws_close(ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    finish(r);
}

static void test_close_validation(void) {
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    REQUIRE_WAIT(r, EV_OPEN, 1);
    ws_socket *ws = r->ws;
    static const uint16_t bad_codes[] = {1, 999, 1001, 1002, 1005, 1006, 1011, 1015, 2000, 2999, 5000, 65535};
    for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
        ws_result res = ws_close(ws, bad_codes[i], NULL);
        CHECK_MSG(res == WS_RESULT_INVALID_ACCESS_ERROR, "code %u: %s", bad_codes[i], ws_result_str(res));
    }
    CHECK(strlen(ws_last_error()) > 0);
    char r124[125], r123[124], utf8_124[125];
    memset(r124, 'x', 124);
    r124[124] = 0;
    memset(r123, 'y', 123);
    r123[123] = 0;
    for (int i = 0; i < 62; i++) memcpy(utf8_124 + 2 * i, "\xc3\xa9", 2); /* 62 x U+00E9 = 124 bytes */
    utf8_124[124] = 0;
    CHECK_RES(ws_close(ws, 1000, r124), WS_RESULT_SYNTAX_ERROR);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_close(ws, 4000, utf8_124), WS_RESULT_SYNTAX_ERROR);
    CHECK_RES(ws_close(ws, 999, r124), WS_RESULT_INVALID_ACCESS_ERROR); /* the code is checked first */
    CHECK_RES(ws_close(ws, 1000, "bad \xff utf8"), WS_RESULT_INVALID_UTF8);
    CHECK_EQ(ws_ready_state(ws), WS_STATE_OPEN); /* nothing happened */
    CHECK_RES(ws_send_text(ws, "still open", 10), WS_RESULT_OK);
    WAIT(r, EV_MESSAGE, 1);
    /* The longest reason and an application code. */
    CHECK_RES(ws_close(ws, 4321, r123), WS_RESULT_OK);
    WAIT(r, EV_CLOSE, 1);
    event_t c = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
    CHECK_EQ(c.code, 4321); /* the echo server answers with the same code */
    CHECK(c.clean);
    finish(r);

    /* ws_close_with_reason(): a reason holding NUL characters (valid
     * UTF-8, as the browser allows) reaches the server whole: the echo
     * server answers with the same code and reason. */
    static const char nul_reason[] = {'a', 0, 'b', 0};
    r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    CHECK_RES(ws_close_with_reason(r->ws, 1000, (const uint8_t *)"\xff", 1), WS_RESULT_INVALID_UTF8);
    CHECK_RES(ws_close_with_reason(r->ws, 1000, NULL, 5), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_close_with_reason(r->ws, 1000, (const uint8_t *)r124, 124), WS_RESULT_SYNTAX_ERROR);
    CHECK_RES(ws_close_with_reason(r->ws, 999, NULL, 0), WS_RESULT_INVALID_ACCESS_ERROR);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_OPEN);
    CHECK_RES(ws_close_with_reason(r->ws, 4000, (const uint8_t *)nul_reason, sizeof nul_reason), WS_RESULT_OK);
    WAIT(r, EV_CLOSE, 1);
    int n = rec_find(r, EV_CLOSE, 0);
    if (n >= 0) {
        event_t e = rec_get(r, (size_t)n);
        CHECK_EQ(e.code, 4000);
        CHECK_EQ(e.len, sizeof nul_reason);
        CHECK(e.len == sizeof nul_reason && memcmp(e.data, nul_reason, sizeof nul_reason) == 0);
    }
    finish(r);

    /* 3000 and 4999 are the bounds of the valid range. */
    static const uint16_t good[] = {3000, 4999};
    for (int i = 0; i < 2; i++) {
        r = open_rec(h_echo_url("/"), NULL, 0, NULL);
        REQUIRE(r);
        WAIT(r, EV_OPEN, 1);
        CHECK_RES(ws_close(r->ws, good[i], "ok"), WS_RESULT_OK);
        WAIT(r, EV_CLOSE, 1);
        int k = rec_find(r, EV_CLOSE, 0);
        if (k >= 0) CHECK_EQ(rec_get(r, (size_t)k).code, good[i]);
        finish(r);
    }
}

static void test_close_while_connecting(void) {
    raw_server *s = raw_start(raw_silent, NULL);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, NULL);
    if (r) {
        CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CONNECTING);
        CHECK_RES(ws_close(r->ws, 1000, "never mind"), WS_RESULT_OK);
        ws_state st = ws_ready_state(r->ws);
        CHECK_MSG(st == WS_STATE_CLOSING || st == WS_STATE_CLOSED, "state %d", (int)st);
        CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK); /* again: nothing */
        CHECK_RES(ws_send_text(r->ws, "x", 1), WS_RESULT_OK);  /* CLOSING: discarded but counted */
        CHECK_EQ(ws_buffered_amount(r->ws), 1);
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_OPEN), 0);
        CHECK_EQ(rec_count(r, EV_ERROR), 1);
        CHECK_EQ(rec_n(r), 2);
        event_t c = rec_get(r, 1);
        CHECK_EQ(c.kind, EV_CLOSE);
        CHECK_EQ(c.code, 1006);
        CHECK(!c.clean);
        finish(r);
    }
    raw_stop(s);
}

static void test_buffered_amount_after_close(void) {
    rec_t *r = open_rec(h_echo_url("/"), NULL, 0, NULL);
    REQUIRE(r);
    REQUIRE_WAIT(r, EV_OPEN, 1);
    ws_socket *ws = r->ws;
    CHECK_EQ(ws_buffered_amount(ws), 0);
    CHECK_RES(ws_close(ws, 1000, NULL), WS_RESULT_OK);
    CHECK_RES(ws_send_text(ws, "abc", 3), WS_RESULT_OK); /* CLOSING */
    CHECK_EQ(ws_buffered_amount(ws), 3);
    CHECK_RES(ws_send_binary(ws, (const uint8_t *)"12345", 5), WS_RESULT_OK);
    CHECK_EQ(ws_buffered_amount(ws), 8);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(ws_buffered_amount(ws), 8); /* never reset */
    CHECK_RES(ws_send_text(ws, "zz", 2), WS_RESULT_OK); /* CLOSED */
    CHECK_EQ(ws_buffered_amount(ws), 10);
    CHECK_RES(ws_send_text(ws, "\xff", 1), WS_RESULT_INVALID_UTF8); /* still validated */
    CHECK_EQ(ws_buffered_amount(ws), 10);
    h_sleep_ms(100);
    CHECK_EQ(ws_buffered_amount(ws), 10);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0); /* nothing was sent nor echoed */
    finish(r);
}

static void close_in_open_hook(rec_t *r, ws_socket *ws, const event_t *ev) {
    (void)r;
    if (ev->kind == EV_OPEN) {
        ws_send_text(ws, "one", 3);
        ws_send_text(ws, "two", 3);
        ws_close(ws, 1000, "bye");
    }
}

static void test_messages_after_close_not_delivered(void) {
    /* The echoes of "one" and "two" arrive after close(): dropped. */
    rec_t *r = rec_new();
    r->hook = close_in_open_hook;
    ws_options *o = mode_options();
    CHECK_RES(rec_open(r, h_echo_url("/"), NULL, 0, o), WS_RESULT_OK);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK(c.clean);
    }
    finish(r);

    /* 50 messages the server sends right after the handshake. */
    r = rec_new();
    r->close_on = EV_OPEN;
    r->close_code = 1000;
    CHECK_RES(rec_open(r, h_echo_url("/count/50/10"), NULL, 0, o), WS_RESULT_OK);
    WAIT(r, EV_CLOSE, 1);
    CHECK_RES(r->close_result, WS_RESULT_OK);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    finish(r);
    ws_options_free(o);
}

static const char *header_text(rec_t *r) {
    int k = rec_find(r, EV_MESSAGE, 0);
    if (k < 0) return "";
    event_t m = rec_get(r, (size_t)k);
    return m.data ? (const char *)m.data : "";
}

static void test_request_headers(void) {
    ws_options *o = mode_options();
    CHECK_RES(ws_options_add_header(o, "X-Wsnative-Test", "42"), WS_RESULT_OK);
    CHECK_RES(ws_options_add_header(o, "Origin", "http://example.com"), WS_RESULT_OK);
    CHECK_RES(ws_options_add_header(o, "Cookie", "a=b; c=d"), WS_RESULT_OK);
    rec_t *r = open_rec(h_echo_url("/headers"), NULL, 0, o);
    ws_options_free(o);
    REQUIRE(r);
    WAIT(r, EV_MESSAGE, 1);
    const char *h = header_text(r);
    CHECK_MSG(strstr(h, "x-wsnative-test: 42\n") != NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "origin: http://example.com\n") != NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "cookie: a=b; c=d\n") != NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "sec-websocket-version: 13\n") != NULL, "headers:\n%s", h);
    finish(r);

    /* Nothing the application did not ask for: no Origin, no cookie, and
     * no credentials from the URL. */
    char url[512];
    const char *base = h_echo_url("/headers");
    snprintf(url, sizeof url, "ws://user:secret@%s", base + strlen("ws://"));
    r = open_rec(url, NULL, 0, NULL);
    REQUIRE(r);
    CHECK_STR(ws_url(r->ws), url); /* credentials stay in the url */
    WAIT(r, EV_MESSAGE, 1);
    h = header_text(r);
    CHECK_MSG(strstr(h, "origin:") == NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "cookie:") == NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "authorization:") == NULL, "headers:\n%s", h);
    CHECK_MSG(strstr(h, "secret") == NULL, "headers:\n%s", h);
    finish(r);
}

static void test_max_message_size(void) {
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_max_message_size(o, 1024), WS_RESULT_OK);
    rec_t *r = open_rec(h_echo_url("/count/1/2048"), NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1006);
        CHECK(!c.clean);
    }
    finish(r);

    /* Exactly at the limit is fine. */
    r = open_rec(h_echo_url("/count/2/1024"), NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_MESSAGE, 2);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    finish(r);

    /* Our own large sends are not limited by it. */
    r = open_rec(h_echo_url("/"), NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    static uint8_t big[1500];
    CHECK_RES(ws_send_binary(r->ws, big, sizeof big), WS_RESULT_OK); /* its echo is too big */
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    finish(r);
    ws_options_free(o);
}

static void test_connect_timeout(void) {
    raw_server *s = raw_start(raw_silent, NULL);
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_connect_timeout_ms(o, 300), WS_RESULT_OK);
    double t0 = h_now_ms();
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, o);
    if (r) {
        CHECK(h_now_ms() - t0 < 100); /* ws_new never waits */
        WAIT(r, EV_CLOSE, 1);
        double dt = h_now_ms() - t0;
        CHECK_MSG(dt >= 250 && dt < h_ms(3000), "closed after %.0f ms", dt);
        CHECK_EQ(rec_count(r, EV_OPEN), 0);
        CHECK_EQ(rec_count(r, EV_ERROR), 1);
        int k = rec_find(r, EV_CLOSE, 0);
        if (k >= 0) CHECK_EQ(rec_get(r, (size_t)k).code, 1006);
        CHECK_MSG(raw_connections(s) >= 1, "the server saw no connection");
        finish(r);
    }
    /* A generous timeout does not get in the way. */
    r = open_rec(h_echo_url("/"), NULL, 0, o);
    if (r) {
        WAIT(r, EV_OPEN, 1);
        h_sleep_ms(400);
        CHECK_EQ(ws_ready_state(r->ws), WS_STATE_OPEN);
        ws_close(r->ws, 1000, NULL);
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_ERROR), 0);
        finish(r);
    }
    ws_options_free(o);
    raw_stop(s);
}

static void test_close_timeout(void) {
    /* The server never answers our Close: close 1006, not clean, no error,
     * after the close timeout. */
    ws_script sc = {NULL, NULL, 0, false};
    raw_server *s = raw_start(raw_ws_script, &sc);
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_close_timeout_ms(o, 300), WS_RESULT_OK);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, o);
    if (r) {
        WAIT(r, EV_OPEN, 1);
        double t0 = h_now_ms();
        CHECK_RES(ws_close(r->ws, 1000, "please"), WS_RESULT_OK);
        WAIT(r, EV_CLOSE, 1);
        double dt = h_now_ms() - t0;
        CHECK_MSG(dt >= 250 && dt < h_ms(3000), "closed after %.0f ms", dt);
        CHECK_EQ(rec_count(r, EV_ERROR), 0);
        int k = rec_find(r, EV_CLOSE, 0);
        if (k >= 0) {
            event_t c = rec_get(r, (size_t)k);
            CHECK_EQ(c.code, 1006);
            CHECK(!c.clean);
        }
        CHECK_MSG(raw_wait_value(s, h_ms(1000)) && raw_value(s) == 1000, "the server got close code %d",
                  raw_value(s));
        finish(r);
    }
    ws_options_free(o);
    raw_stop(s);
}

static void test_free_while_open_sends_1001(void) {
    ws_script sc = {NULL, NULL, 0, true};
    raw_server *s = raw_start(raw_ws_script, &sc);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, NULL);
    if (r) {
        WAIT(r, EV_OPEN, 1);
        ws_free(r->ws);
        r->ws = NULL;
        CHECK_EQ(r->finalized, 1);
        CHECK_MSG(raw_wait_value(s, h_ms(3000)) && raw_value(s) == 1001, "the server got close code %d",
                  raw_value(s));
        h_sleep_ms(50);
        CHECK_EQ(rec_count(r, EV_CLOSE), 0); /* freed first: no on_close */
        rec_check_common(r);
        rec_unref(r);
    }
    raw_stop(s);
}

static void test_tls(void) {
    const char *url = getenv("WSNATIVE_TLS_URL"), *ca = getenv("WSNATIVE_TLS_CA");
    if (!url || !ca || !*url || !*ca) {
        h_note("WSNATIVE_TLS_URL/WSNATIVE_TLS_CA not set: TLS skipped");
        return;
    }
    /* Trusting only the test CA. */
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_ca_file(o, ca, true), WS_RESULT_OK);
    rec_t *r = open_rec(url, NULL, 0, o);
    ws_options_free(o);
    REQUIRE(r);
    CHECK(strncmp(ws_url(r->ws), "wss://", 6) == 0);
    WAIT(r, EV_OPEN, 1);
    CHECK_RES(ws_send_text(r->ws, "secure", 6), WS_RESULT_OK);
    WAIT(r, EV_MESSAGE, 1);
    CHECK(msg_is(r, 0, WS_MESSAGE_TYPE_TEXT, "secure", 6));
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) CHECK(rec_get(r, (size_t)k).clean);
    finish(r);

    /* The same CA from memory, added to the default roots. */
    FILE *f = fopen(ca, "rb");
    REQUIRE(f != NULL);
    char pem[8192];
    size_t len = fread(pem, 1, sizeof pem, f);
    fclose(f);
    o = mode_options();
    CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)pem, len, false), WS_RESULT_OK);
    r = open_rec(url, NULL, 0, o);
    ws_options_free(o);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    finish(r);

    /* Without it the certificate is not trusted: error, then 1006. */
    r = open_rec(url, NULL, 0, NULL);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) CHECK_EQ(rec_get(r, (size_t)k).code, 1006);
    finish(r);

    /* http(s) becomes ws(s) and works the same way. */
    char https[512];
    snprintf(https, sizeof https, "https://%s", url + strlen("wss://"));
    o = mode_options();
    ws_options_set_ca_file(o, ca, true);
    r = open_rec(https, NULL, 0, o);
    ws_options_free(o);
    REQUIRE(r);
    CHECK_STR(ws_url(r->ws), url);
    WAIT(r, EV_OPEN, 1);
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    finish(r);
}

/* ws_options_set_dangerously_accept_invalid_certificates. */
static void test_tls_invalid_certificates(void) {
    const char *url = getenv("WSNATIVE_TLS_URL"), *ca = getenv("WSNATIVE_TLS_CA"),
               *wrong = getenv("WSNATIVE_TLS_WRONG_HOST_URL");
    if (!url || !ca || !wrong || !*url || !*ca || !*wrong) {
        h_note("WSNATIVE_TLS_* not set: TLS skipped");
        return;
    }
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(NULL, true), WS_RESULT_NULL_ARGUMENT);
    /* The certificate of the other server is signed by the trusted CA but
     * names another host: refused... */
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_ca_file(o, ca, true), WS_RESULT_OK);
    rec_t *r = open_rec(wrong, NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    finish(r);
    /* ...unless invalid certificates are accepted. */
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(o, true), WS_RESULT_OK);
    r = open_rec(wrong, NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    CHECK_RES(ws_send_text(r->ws, "insecure", 8), WS_RESULT_OK);
    WAIT(r, EV_MESSAGE, 1);
    ws_close(r->ws, 1000, NULL);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    finish(r);
    ws_options_free(o);

    /* An untrusted issuer (the default roots only): accepted when asked. */
    o = mode_options();
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(o, true), WS_RESULT_OK);
    r = open_rec(url, NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_OPEN, 1);
    finish(r);
    /* Turned off again: refused. */
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(o, false), WS_RESULT_OK);
    r = open_rec(url, NULL, 0, o);
    REQUIRE(r);
    WAIT(r, EV_CLOSE, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    finish(r);
    ws_options_free(o);
}

static void raw_ws_hold(raw_server *s, int fd) {
    char head[8192];
    if (raw_read_head(s, fd, head, sizeof head, 10000) && raw_accept_ws(fd, head, NULL, NULL, 0)) raw_hold(s, fd);
}

static void test_block_unsafe_ports(void) {
    /* 6667 (IRC) is on the browser's list of bad ports. */
    raw_server *s = raw_start_on(6667, raw_ws_hold, NULL);
    if (!s) {
        h_note("port 6667 is busy: blocked-port test skipped");
        return;
    }
    ws_options *o = mode_options();
    CHECK_RES(ws_options_set_block_unsafe_ports(o, true), WS_RESULT_OK);
    rec_t *r = open_rec(raw_url(s, "/"), NULL, 0, o);
    if (r) {
        WAIT(r, EV_CLOSE, 1);
        CHECK_EQ(rec_count(r, EV_OPEN), 0);
        CHECK_EQ(rec_count(r, EV_ERROR), 1);
        CHECK_EQ(raw_connections(s), 0); /* not even a TCP connection */
        finish(r);
    }
    /* Off (the default): the port is usable. */
    CHECK_RES(ws_options_set_block_unsafe_ports(o, false), WS_RESULT_OK);
    r = open_rec(raw_url(s, "/"), NULL, 0, o);
    if (r) {
        WAIT(r, EV_OPEN, 1);
        finish(r);
    }
    /* A non-listed port with blocking on is fine too. */
    CHECK_RES(ws_options_set_block_unsafe_ports(o, true), WS_RESULT_OK);
    r = open_rec(h_echo_url("/"), NULL, 0, o);
    if (r) {
        WAIT(r, EV_OPEN, 1);
        finish(r);
    }
    ws_options_free(o);
    raw_stop(s);
}

/* ---------------------------------------------------------------------- */

#define BOTH(fn)                                   \
    static void fn##_immediate(void) {             \
        g_mode = WS_DISPATCH_IMMEDIATE;            \
        fn();                                      \
    }                                              \
    static void fn##_queued(void) {                \
        g_mode = WS_DISPATCH_QUEUED;               \
        fn();                                      \
        g_mode = WS_DISPATCH_IMMEDIATE;            \
    }
BOTH(test_open_echo_close)
BOTH(test_one_mib_messages)
BOTH(test_large_echoes_sent_back_from_the_callback)
BOTH(test_subprotocol)
BOTH(test_server_closes_4001)
BOTH(test_server_drops)
BOTH(test_refused)
BOTH(test_hello_right_after_open)
BOTH(test_count_payloads)
BOTH(test_bad_accept_key)
BOTH(test_raw_frames_with_the_101)
BOTH(test_close_while_connecting)
BOTH(test_messages_after_close_not_delivered)
BOTH(test_max_message_size)
BOTH(test_connect_timeout)
BOTH(test_close_timeout)
BOTH(test_tls)
BOTH(test_tls_invalid_certificates)

int main(void) {
    h_init("test_events", 60);
    RUN(test_open_echo_close_immediate);
    RUN(test_open_echo_close_queued);
    RUN(test_one_mib_messages_immediate);
    RUN(test_one_mib_messages_queued);
    RUN(test_large_echoes_sent_back_from_the_callback_immediate);
    RUN(test_large_echoes_sent_back_from_the_callback_queued);
    RUN(test_subprotocol_immediate);
    RUN(test_subprotocol_queued);
    RUN(test_server_closes_4001_immediate);
    RUN(test_server_closes_4001_queued);
    RUN(test_server_drops_immediate);
    RUN(test_server_drops_queued);
    RUN(test_refused_immediate);
    RUN(test_refused_queued);
    RUN(test_hello_right_after_open_immediate);
    RUN(test_hello_right_after_open_queued);
    RUN(test_count_payloads_immediate);
    RUN(test_count_payloads_queued);
    RUN(test_bad_accept_key_immediate);
    RUN(test_bad_accept_key_queued);
    RUN(test_raw_frames_with_the_101_immediate);
    RUN(test_raw_frames_with_the_101_queued);
    RUN(test_close_without_code);
    RUN(test_send_validation_when_open);
    RUN(test_close_validation);
    RUN(test_close_while_connecting_immediate);
    RUN(test_close_while_connecting_queued);
    RUN(test_buffered_amount_after_close);
    RUN(test_messages_after_close_not_delivered_immediate);
    RUN(test_messages_after_close_not_delivered_queued);
    RUN(test_request_headers);
    RUN(test_max_message_size_immediate);
    RUN(test_max_message_size_queued);
    RUN(test_connect_timeout_immediate);
    RUN(test_connect_timeout_queued);
    RUN(test_close_timeout_immediate);
    RUN(test_close_timeout_queued);
    RUN(test_free_while_open_sends_1001);
    RUN(test_tls_immediate);
    RUN(test_tls_queued);
    RUN(test_tls_invalid_certificates_immediate);
    RUN(test_tls_invalid_certificates_queued);
    RUN(test_block_unsafe_ports);
    ws_shutdown(2000);
    return h_summary();
}
