/*
 * test_protocol: what a C application notices when a server breaks the
 * protocol, with exact bytes from raw servers: the client side of the
 * opening handshake (status, Upgrade, Connection, accept key, subprotocol
 * and extension negotiation, no redirects), frames (pings answered with the
 * same payload, fragments reassembled, masked / unknown / RSV frames,
 * invalid UTF-8, oversized control frames, bad close codes, a fragmented
 * message over the size limit), and the Close frame the client sends when
 * it fails the connection (1002, 1007, 1009). A failure always reaches the
 * application as on_error, then on_close 1006, not clean.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---------------------------------------------------------------------- */
/* A scripted server: a handshake response, frames, then a log of what the
 * client sends back.                                                      */

#define MAX_FRAMES 16

typedef struct {
    int op;
    size_t len;
    uint8_t data[128];
    uint8_t mask[5]; /* mask bit, then the key */
} frame_t;

typedef struct {
    const char *response;  /* printf format with one %s: the accept key */
    const uint8_t *frames; /* sent in the same write as the response */
    size_t frames_len;
    bool reply_close;      /* echo the client's Close, then close TCP */
    /* filled by the server */
    pthread_mutex_t mu;
    frame_t got[MAX_FRAMES];
    int n_got;
    char request[8192];
} script_t;

static const char OK_101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: %s\r\n\r\n";

static void script_handler(raw_server *s, int fd) {
    script_t *sc = raw_arg(s);
    char head[8192];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    pthread_mutex_lock(&sc->mu);
    snprintf(sc->request, sizeof sc->request, "%s", head);
    pthread_mutex_unlock(&sc->mu);
    char key[128] = "", accept[29];
    const char *k = strstr(head, "Sec-WebSocket-Key: ");
    if (k) sscanf(k + strlen("Sec-WebSocket-Key: "), "%127s", key);
    ws_accept_key(key, accept);
    char resp[2048];
    int n = snprintf(resp, sizeof resp, sc->response, accept);
    size_t total = (size_t)n + sc->frames_len;
    uint8_t *out = malloc(total);
    memcpy(out, resp, (size_t)n);
    if (sc->frames_len) memcpy(out + n, sc->frames, sc->frames_len);
    bool ok = raw_write(fd, out, total);
    free(out);
    while (ok) {
        frame_t f;
        if (!raw_read_frame_ex(s, fd, &f.op, f.data, sizeof f.data, &f.len, f.mask, 10000)) break;
        pthread_mutex_lock(&sc->mu);
        if (sc->n_got < MAX_FRAMES) sc->got[sc->n_got++] = f;
        pthread_mutex_unlock(&sc->mu);
        if (f.op == 8) {
            if (sc->reply_close) {
                uint8_t c[140];
                raw_write(fd, c, ws_frame(c, 8, f.data, f.len));
                break;
            }
        }
    }
    raw_set_value(s, 1); /* done: the client closed TCP (or we did) */
}

/* Runs one connection against a script. Returns the recorder (caller
 * checks and releases with done()). */
static rec_t *run_script(script_t *sc, const char *const *protocols, size_t n, ws_options *o, raw_server **out) {
    pthread_mutex_init(&sc->mu, NULL);
    sc->n_got = 0;
    raw_server *s = raw_start(script_handler, sc);
    rec_t *r = rec_new();
    ws_result res = rec_open(r, raw_url(s, "/"), protocols, n, o);
    if (res != WS_RESULT_OK) {
        h_fail(__FILE__, __LINE__, "ws_new", "%s: %s", ws_result_str(res), ws_last_error());
        r->ws = NULL;
    }
    *out = s;
    return r;
}

static void done(rec_t *r, raw_server *s, script_t *sc) {
    if (r->ws) ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
    raw_stop(s);
    pthread_mutex_destroy(&sc->mu);
}

/* The connection was failed: error, close 1006 not clean, never open
 * (when `opened` is false). */
static void expect_failed(const char *file, int line, rec_t *r, bool opened, const char *what) {
    if (!rec_wait(r, EV_CLOSE, 1, h_ms(5000))) {
        h_fail(file, line, "on_close", "%s: none; events: %s", what, rec_describe(r));
        return;
    }
    int k = rec_find(r, EV_CLOSE, 0);
    event_t c = rec_get(r, (size_t)k);
    if (rec_count(r, EV_ERROR) != 1 || c.code != 1006 || c.clean)
        h_fail(file, line, "error, then close 1006", "%s: events: %s", what, rec_describe(r));
    if (rec_count(r, EV_OPEN) != (opened ? 1 : 0))
        h_fail(file, line, opened ? "opened" : "never opened", "%s: events: %s", what, rec_describe(r));
}
#define EXPECT_FAILED(r, opened, what) expect_failed(__FILE__, __LINE__, (r), (opened), (what))

/* The Close frame the client sent, or -1. */
static int client_close_code(script_t *sc, raw_server *s) {
    raw_wait_value(s, h_ms(3000));
    int code = -1;
    pthread_mutex_lock(&sc->mu);
    for (int i = 0; i < sc->n_got; i++)
        if (sc->got[i].op == 8) code = sc->got[i].len >= 2 ? (sc->got[i].data[0] << 8 | sc->got[i].data[1]) : 1005;
    pthread_mutex_unlock(&sc->mu);
    return code;
}

/* ---------------------------------------------------------------------- */
/* Opening handshake                                                       */

typedef struct {
    const char *name;
    const char *response;
    const char *protocols; /* one offered subprotocol, or NULL */
    bool opens;
} hs_case;

static void test_handshake_checks(void) {
    static const hs_case cases[] = {
        {"correct", OK_101, NULL, true},
        {"HTTP/1.0 101", "HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n", NULL, true},
        {"header case", "HTTP/1.1 101 OK\r\nupgrade: WebSocket\r\nCONNECTION: upgrade\r\n"
                        "sec-websocket-accept: %s\r\n\r\n", NULL, true},
        {"protocol selected", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n\r\n", "chat", true},
        {"status 200", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Key: %s\r\n\r\n", NULL, false},
        {"redirect", "HTTP/1.1 302 Found\r\nLocation: ws://127.0.0.1:1/\r\nX-Key: %s\r\nContent-Length: 0\r\n\r\n",
         NULL, false},
        {"no Upgrade", "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
         NULL, false},
        {"Upgrade: h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n", NULL, false},
        {"no Connection", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n\r\n",
         NULL, false},
        {"no accept", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Key: %s\r\n\r\n",
         NULL, false},
        {"protocol not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n\r\n", NULL, false},
        {"other protocol", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: superchat\r\n\r\n", "chat", false},
        {"offered, none selected", OK_101, "chat", false},
        {"extension not offered", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n",
         NULL, false},
        {"unknown deflate parameter", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                      "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate; foo\r\n\r\n",
         NULL, false},
        {"deflate window 16", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate; "
                              "server_max_window_bits=16\r\n\r\n",
         NULL, false},
        {"garbage", "SSH-2.0-OpenSSH_9.2 %s\r\n\r\n", NULL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const hs_case *c = &cases[i];
        script_t sc = {.response = c->response, .reply_close = true};
        raw_server *s;
        const char *protos[1] = {c->protocols};
        rec_t *r = run_script(&sc, protos, c->protocols ? 1 : 0, NULL, &s);
        if (c->opens) {
            bool opened = rec_wait(r, EV_OPEN, 1, h_ms(5000));
            CHECK_MSG(opened, "%s: events: %s", c->name, rec_describe(r));
            if (opened && c->protocols) CHECK_STR(ws_protocol(r->ws), c->protocols);
            CHECK_EQ(rec_count(r, EV_ERROR), 0);
        } else {
            EXPECT_FAILED(r, false, c->name);
        }
        done(r, s, &sc);
    }
}

static void test_request_is_a_websocket_handshake(void) {
    script_t sc = {.response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: b\r\n\r\n",
                   .reply_close = true};
    raw_server *s;
    const char *protos[] = {"a", "b"};
    rec_t *r = run_script(&sc, protos, 2, NULL, &s);
    CHECK(rec_wait(r, EV_OPEN, 1, h_ms(5000)));
    CHECK_STR(ws_protocol(r->ws), "b");
    pthread_mutex_lock(&sc.mu);
    char req[8192];
    snprintf(req, sizeof req, "%s", sc.request);
    pthread_mutex_unlock(&sc.mu);
    CHECK_MSG(strncmp(req, "GET / HTTP/1.1\r\n", 16) == 0, "request:\n%s", req);
    char host[64];
    snprintf(host, sizeof host, "Host: 127.0.0.1:%u\r\n", (unsigned)raw_port(s));
    CHECK_MSG(strstr(req, host) != NULL, "request:\n%s", req);
    CHECK_MSG(strstr(req, "Upgrade: websocket\r\n") != NULL, "request:\n%s", req);
    CHECK_MSG(strstr(req, "Connection: Upgrade\r\n") != NULL, "request:\n%s", req);
    CHECK_MSG(strstr(req, "Sec-WebSocket-Version: 13\r\n") != NULL, "request:\n%s", req);
    CHECK_MSG(strstr(req, "Sec-WebSocket-Protocol: a, b\r\n") != NULL, "request:\n%s", req);
    const char *key = strstr(req, "Sec-WebSocket-Key: ");
    CHECK(key != NULL);
    if (key) {
        char k[64] = "";
        sscanf(key + 19, "%63s", k);
        CHECK_MSG(strlen(k) == 24 && k[22] == '=' && k[23] == '=', "key '%s'", k); /* 16 random bytes, base64 */
    }
    done(r, s, &sc);
}

/* ---------------------------------------------------------------------- */
/* Frames                                                                  */

static size_t frame_raw(uint8_t *out, uint8_t b0, const void *p, size_t len) {
    size_t n = ws_frame(out, 0, p, len);
    out[0] = b0;
    return n;
}

static void test_ping_answered_and_fragments(void) {
    uint8_t f[256];
    size_t n = 0;
    n += ws_frame(f + n, 9, "abc", 3);            /* ping */
    n += frame_raw(f + n, 0x01, "hel", 3);        /* text, FIN=0 */
    n += ws_frame(f + n, 9, "mid", 3);            /* ping between fragments */
    n += frame_raw(f + n, 0x00, "l", 1);          /* continuation, FIN=0 */
    n += frame_raw(f + n, 0x80, "o", 1);          /* continuation, FIN=1 */
    n += frame_raw(f + n, 0x02, "\x01\x02", 2);   /* binary, FIN=0 */
    n += frame_raw(f + n, 0x80, "\x03", 1);       /* continuation, FIN=1 */
    n += ws_frame(f + n, 10, "unsolicited", 11);  /* a pong: ignored */
    n += ws_frame(f + n, 8, "\x03\xe8" "ok", 4);  /* close 1000 "ok" */
    script_t sc = {.response = OK_101, .frames = f, .frames_len = n, .reply_close = false};
    raw_server *s;
    rec_t *r = run_script(&sc, NULL, 0, NULL, &s);
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(6000)));
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 2);
    int k = rec_find(r, EV_MESSAGE, 0);
    if (k >= 0) {
        event_t m = rec_get(r, (size_t)k);
        CHECK(m.mtype == WS_MESSAGE_TYPE_TEXT && m.len == 5 && memcmp(m.data, "hello", 5) == 0);
    }
    k = rec_find(r, EV_MESSAGE, 1);
    if (k >= 0) {
        event_t m = rec_get(r, (size_t)k);
        CHECK(m.mtype == WS_MESSAGE_TYPE_BINARY && m.len == 3 && memcmp(m.data, "\x01\x02\x03", 3) == 0);
    }
    k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK_STR((const char *)c.data, "ok");
        CHECK(c.clean);
    }
    /* The client answered each ping with the same payload, then echoed the Close. */
    raw_wait_value(s, h_ms(4000));
    pthread_mutex_lock(&sc.mu);
    int pongs = 0, closes = 0;
    for (int i = 0; i < sc.n_got; i++) {
        if (sc.got[i].op == 10) {
            const char *want = pongs == 0 ? "abc" : "mid";
            if (sc.got[i].len == 3 && memcmp(sc.got[i].data, want, 3) == 0) pongs++;
        }
        if (sc.got[i].op == 8) closes++;
    }
    int n_got = sc.n_got;
    pthread_mutex_unlock(&sc.mu);
    CHECK_MSG(pongs == 2, "pongs %d of %d frames", pongs, n_got);
    CHECK_EQ(closes, 1);
    done(r, s, &sc);
}

typedef struct {
    const char *name;
    uint8_t bytes[160];
    size_t len;
    int client_code; /* the Close code the client must send (0: don't check) */
} bad_frame;

static void test_bad_frames_fail_the_connection(void) {
    static bad_frame cases[16];
    int nc = 0;
    uint8_t big[130];
    memset(big, 'p', sizeof big);
    /* Each case is preceded by a good text message, to show the socket was open. */
    cases[nc] = (bad_frame){"invalid UTF-8 text", {0}, 0, 1007};
    cases[nc].len = ws_frame(cases[nc].bytes, 1, "a\xff" "b", 3);
    nc++;
    cases[nc] = (bad_frame){"masked server frame", {0x81, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3}, 9, 1002};
    nc++;
    cases[nc] = (bad_frame){"unknown opcode 3", {0}, 0, 1002};
    cases[nc].len = ws_frame(cases[nc].bytes, 3, "x", 1);
    nc++;
    cases[nc] = (bad_frame){"RSV1 without extension", {0}, 0, 1002};
    cases[nc].len = frame_raw(cases[nc].bytes, 0xc1, "x", 1);
    nc++;
    cases[nc] = (bad_frame){"continuation without start", {0}, 0, 1002};
    cases[nc].len = frame_raw(cases[nc].bytes, 0x80, "x", 1);
    nc++;
    cases[nc] = (bad_frame){"ping of 126 bytes", {0}, 0, 1002};
    cases[nc].len = ws_frame(cases[nc].bytes, 9, big, 126);
    nc++;
    cases[nc] = (bad_frame){"fragmented ping", {0}, 0, 1002};
    cases[nc].len = frame_raw(cases[nc].bytes, 0x09, "x", 1);
    nc++;
    cases[nc] = (bad_frame){"close code 999", {0}, 0, 1002};
    cases[nc].len = ws_frame(cases[nc].bytes, 8, "\x03\xe7", 2);
    nc++;
    cases[nc] = (bad_frame){"close code 1005 on the wire", {0}, 0, 1002};
    cases[nc].len = ws_frame(cases[nc].bytes, 8, "\x03\xed", 2);
    nc++;
    cases[nc] = (bad_frame){"close with a 1-byte payload", {0}, 0, 1002};
    cases[nc].len = ws_frame(cases[nc].bytes, 8, "\x03", 1);
    nc++;
    cases[nc] = (bad_frame){"close reason not UTF-8", {0}, 0, 0};
    cases[nc].len = ws_frame(cases[nc].bytes, 8, "\x03\xe8\xff", 3);
    nc++;
    cases[nc] = (bad_frame){"non-minimal length", {0x81, 126, 0, 3, 'a', 'b', 'c'}, 7, 1002};
    nc++;
    cases[nc] = (bad_frame){"text inside a fragmented message", {0}, 0, 1002};
    cases[nc].len = frame_raw(cases[nc].bytes, 0x01, "a", 1);
    cases[nc].len += frame_raw(cases[nc].bytes + cases[nc].len, 0x81, "b", 1);
    nc++;
    for (int i = 0; i < nc; i++) {
        uint8_t f[256];
        size_t n = ws_frame(f, 1, "good", 4);
        memcpy(f + n, cases[i].bytes, cases[i].len);
        n += cases[i].len;
        script_t sc = {.response = OK_101, .frames = f, .frames_len = n, .reply_close = false};
        raw_server *s;
        rec_t *r = run_script(&sc, NULL, 0, NULL, &s);
        EXPECT_FAILED(r, true, cases[i].name);
        int k = rec_find(r, EV_MESSAGE, 0);
        CHECK_MSG(k >= 0 && rec_get(r, (size_t)k).len == 4, "%s: the good message: %s", cases[i].name,
                  rec_describe(r));
        if (cases[i].client_code) {
            int code = client_close_code(&sc, s);
            CHECK_MSG(code == cases[i].client_code, "%s: the client sent Close %d, expected %d", cases[i].name, code,
                      cases[i].client_code);
        }
        done(r, s, &sc);
    }
}

static void test_fragmented_message_over_the_limit(void) {
    /* Three 500-byte fragments: each frame is under the 1024-byte limit,
     * the message is not. */
    static uint8_t f[2048];
    uint8_t chunk[500];
    memset(chunk, 'z', sizeof chunk);
    size_t n = 0;
    n += frame_raw(f + n, 0x02, chunk, 500);
    n += frame_raw(f + n, 0x00, chunk, 500);
    n += frame_raw(f + n, 0x80, chunk, 500);
    script_t sc = {.response = OK_101, .frames = f, .frames_len = n, .reply_close = false};
    ws_options *o = ws_options_new();
    ws_options_set_max_message_size(o, 1024);
    raw_server *s;
    rec_t *r = run_script(&sc, NULL, 0, o, &s);
    ws_options_free(o);
    EXPECT_FAILED(r, true, "1500-byte message, limit 1024");
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0);
    int code = client_close_code(&sc, s);
    CHECK_MSG(code == 1009, "the client sent Close %d, expected 1009", code);
    done(r, s, &sc);
}

static void test_close_without_status(void) {
    uint8_t f[16];
    size_t n = ws_frame(f, 8, NULL, 0);
    script_t sc = {.response = OK_101, .frames = f, .frames_len = n, .reply_close = false};
    raw_server *s;
    rec_t *r = run_script(&sc, NULL, 0, NULL, &s);
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(6000)));
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1005);
        CHECK_EQ(c.len, 0);
        CHECK(c.clean);
    }
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    done(r, s, &sc);
}

static void test_client_frames_are_masked(void) {
    /* Every client frame has the mask bit, and keys are fresh. */
    script_t sc = {.response = OK_101, .reply_close = true};
    raw_server *s;
    rec_t *r = run_script(&sc, NULL, 0, NULL, &s);
    REQUIRE(rec_wait(r, EV_OPEN, 1, h_ms(5000)));
    for (int i = 0; i < 3; i++) CHECK_RES(ws_send_text(r->ws, "same", 4), WS_RESULT_OK);
    CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    raw_wait_value(s, h_ms(3000));
    pthread_mutex_lock(&sc.mu);
    int texts = 0, unmasked = 0, same_key = 0;
    for (int i = 0; i < sc.n_got; i++) {
        if (sc.got[i].op == 1 && sc.got[i].len == 4 && memcmp(sc.got[i].data, "same", 4) == 0) texts++;
        if (!sc.got[i].mask[0]) unmasked++;
        for (int j = 0; j < i; j++)
            if (memcmp(sc.got[i].mask + 1, sc.got[j].mask + 1, 4) == 0) same_key++;
    }
    int n_got = sc.n_got;
    pthread_mutex_unlock(&sc.mu);
    CHECK_EQ(n_got, 4); /* 3 texts and the Close */
    CHECK_EQ(sc.got[3].op, 8); /* close() goes after the messages already queued */
    CHECK_EQ(texts, 3);
    CHECK_EQ(unmasked, 0);
    CHECK_EQ(same_key, 0); /* 4 random 32-bit keys: a repeat means no CSPRNG */
    done(r, s, &sc);
}

int main(void) {
    h_init("test_protocol", 90);
    RUN(test_handshake_checks);
    RUN(test_request_is_a_websocket_handshake);
    RUN(test_ping_answered_and_fragments);
    RUN(test_bad_frames_fail_the_connection);
    RUN(test_fragmented_message_over_the_limit);
    RUN(test_close_without_status);
    RUN(test_client_frames_are_masked);
    ws_shutdown(2000);
    return h_summary();
}
