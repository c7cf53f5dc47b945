/*
 * test_api: the synchronous API: ws_version, ws_result_str, ws_last_error,
 * constructor validation, URL serialization, NULL arguments, lengths no
 * buffer can have, and every ws_options setter with its error paths
 * (including CA files that are not regular files or are too large).
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static raw_server *g_silent; /* accepts TCP, never answers: sockets stay CONNECTING */

static void test_version(void) {
    const char *v = ws_version();
    REQUIRE(v != NULL);
    CHECK(strlen(v) >= 5);
    int major = -1, minor = -1, patch = -1;
    CHECK_MSG(sscanf(v, "%d.%d.%d", &major, &minor, &patch) == 3, "version '%s'", v);
    CHECK(ws_version() == v); /* static storage */
}

static void test_result_str(void) {
    static const struct {
        ws_result r;
        const char *name;
    } names[] = {
        {WS_RESULT_OK, "OK"},
        {WS_RESULT_SYNTAX_ERROR, "SyntaxError"},
        {WS_RESULT_INVALID_STATE_ERROR, "InvalidStateError"},
        {WS_RESULT_INVALID_ACCESS_ERROR, "InvalidAccessError"},
        {WS_RESULT_NULL_ARGUMENT, "NullArgument"},
        {WS_RESULT_INVALID_UTF8, "InvalidUtf8"},
        {WS_RESULT_INVALID_OPTION, "InvalidOption"},
        {WS_RESULT_SHUT_DOWN, "ShutDown"},
        {WS_RESULT_WOULD_DEADLOCK, "WouldDeadlock"},
        {WS_RESULT_INTERNAL_ERROR, "InternalError"},
        {WS_RESULT_PANIC, "Panic"},
        {WS_RESULT_UNKNOWN_SOCKET, "UnknownSocket"},
        {WS_RESULT_INVALID_LENGTH, "InvalidLength"},
        {WS_RESULT_FORKED_SOCKET, "ForkedSocket"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        CHECK_EQ(names[i].r, i); /* ABI values never change */
        CHECK_STR(ws_result_str(names[i].r), names[i].name);
    }
    CHECK_STR(ws_result_str(14), "Unknown");
    CHECK_STR(ws_result_str(1000), "Unknown");
    CHECK_STR(ws_result_str(0xffffffffu), "Unknown");
}

typedef struct {
    const char *before;
    const char *after_fail;
    const char *after_ok;
    ws_result fail_result;
} last_error_probe;

static void *last_error_thread(void *arg) {
    last_error_probe *p = arg;
    p->before = strdup(ws_last_error());
    ws_options *o = ws_options_new();
    p->fail_result = ws_options_set_connect_timeout_ms(o, 0);
    p->after_fail = strdup(ws_last_error());
    ws_options_set_connect_timeout_ms(o, 100); /* succeeds: leaves the message */
    p->after_ok = strdup(ws_last_error());
    ws_options_free(o);
    return NULL;
}

static void test_last_error_is_per_thread(void) {
    /* Fail on this thread first, with a distinctive message. */
    ws_socket *ws = (ws_socket *)1;
    CHECK_RES(ws_new("ftp://example.com/", NULL, 0, NULL, NULL, &ws), WS_RESULT_SYNTAX_ERROR);
    char *mine = strdup(ws_last_error());
    CHECK(strlen(mine) > 0);

    last_error_probe p = {0};
    h_join(h_thread(last_error_thread, &p));
    CHECK_STR(p.before, ""); /* a fresh thread has no error */
    CHECK_RES(p.fail_result, WS_RESULT_INVALID_OPTION);
    CHECK(strlen(p.after_fail) > 0);
    CHECK_STR(p.after_ok, p.after_fail);
    /* The other thread's failure did not touch this thread's message. */
    CHECK_STR(ws_last_error(), mine);
    /* A successful call leaves it unchanged. */
    CHECK_STR(ws_result_str(0), "OK");
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_max_message_size(o, 10), WS_RESULT_OK);
    ws_options_free(o);
    CHECK_STR(ws_last_error(), mine);
    free((void *)p.before);
    free((void *)p.after_fail);
    free((void *)p.after_ok);
    free(mine);
}

/* ws_new() must fail with `expected`, leave *out NULL, give a readable
 * message, and never run the finalizer. */
static void expect_new_fails(const char *file, int line, const char *url, const char *const *protocols,
                             size_t n, ws_result expected) {
    rec_t *r = rec_new();
    r->ws = (ws_socket *)(uintptr_t)0x1234; /* must be overwritten with NULL */
    ws_result res = rec_open(r, url, protocols, n, NULL);
    const char *what = url ? url : "(NULL url)";
    if (res != expected)
        h_fail(file, line, "ws_new result", "url '%s': got %s, expected %s (%s)", what, ws_result_str(res),
               ws_result_str(expected), ws_last_error());
    if (r->ws != NULL) {
        h_fail(file, line, "*out == NULL", "url '%s'", what);
        if (res == WS_RESULT_OK) ws_free(r->ws);
    }
    const char *msg = ws_last_error();
    if (res != WS_RESULT_OK && (msg == NULL || strlen(msg) < 5))
        h_fail(file, line, "ws_last_error() is readable", "url '%s': '%s'", what, msg ? msg : "(null)");
    if (r->finalized) h_fail(file, line, "no finalizer when ws_new fails", "url '%s'", what);
    if (rec_n(r)) h_fail(file, line, "no callback when ws_new fails", "url '%s'", what);
    /* ws_validate() refuses the same arguments with the same code and
     * message, without connecting. */
    char new_msg[512];
    snprintf(new_msg, sizeof new_msg, "%s", msg ? msg : "");
    ws_result v = ws_validate(url, protocols, n);
    if (v != expected)
        h_fail(file, line, "ws_validate result", "url '%s': got %s, expected %s (%s)", what, ws_result_str(v),
               ws_result_str(expected), ws_last_error());
    else if (strcmp(ws_last_error(), new_msg) != 0)
        h_fail(file, line, "ws_validate message", "url '%s': '%s' instead of ws_new's '%s'", what, ws_last_error(),
               new_msg);
    rec_unref(r);
}
#define EXPECT_NEW_FAILS(url, protos, n, expected) \
    expect_new_fails(__FILE__, __LINE__, url, protos, n, expected)

static void test_ctor_invalid_urls(void) {
    static const char *bad[] = {
        "",
        "not a url",
        "ws//127.0.0.1/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "mailto:someone@example.com",
        "javascript:alert(1)",
        "ws://example.com/#x",
        "ws://example.com/#",
        "ws://example.com#",
        "wss://example.com/path?q=1#frag",
        "http://example.com/#top",
        "ws://",
        "ws://exa mple.com/",
        "ws://127.0.0.1:99999/",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) EXPECT_NEW_FAILS(bad[i], NULL, 0, WS_RESULT_SYNTAX_ERROR);

    /* The message names the problem. */
    ws_socket *ws = NULL;
    CHECK_RES(ws_new("ftp://example.com/", NULL, 0, NULL, NULL, &ws), WS_RESULT_SYNTAX_ERROR);
    CHECK_MSG(strstr(ws_last_error(), "ftp") != NULL, "message: %s", ws_last_error());
    CHECK_RES(ws_new("ws://example.com/#x", NULL, 0, NULL, NULL, &ws), WS_RESULT_SYNTAX_ERROR);
    CHECK_MSG(strstr(ws_last_error(), "fragment") != NULL || strstr(ws_last_error(), "#") != NULL, "message: %s",
              ws_last_error());
    CHECK(ws == NULL);
}

static void test_ctor_invalid_protocols(void) {
    const char *url = raw_url(g_silent, "/");
    const char *dup[] = {"chat", "chat"};
    EXPECT_NEW_FAILS(url, dup, 2, WS_RESULT_SYNTAX_ERROR);
    const char *dup3[] = {"a", "b", "a"};
    EXPECT_NEW_FAILS(url, dup3, 3, WS_RESULT_SYNTAX_ERROR);
    const char *empty[] = {""};
    EXPECT_NEW_FAILS(url, empty, 1, WS_RESULT_SYNTAX_ERROR);
    const char *space[] = {"a b"};
    EXPECT_NEW_FAILS(url, space, 1, WS_RESULT_SYNTAX_ERROR);
    const char *comma[] = {"a,b"};
    EXPECT_NEW_FAILS(url, comma, 1, WS_RESULT_SYNTAX_ERROR);
    const char *sep[] = {"chat", "x/y"};
    EXPECT_NEW_FAILS(url, sep, 2, WS_RESULT_SYNTAX_ERROR);
    const char *nonascii[] = {"caf\xc3\xa9"}; /* valid UTF-8, not a token */
    EXPECT_NEW_FAILS(url, nonascii, 1, WS_RESULT_SYNTAX_ERROR);
    const char *ctl[] = {"a\tb"};
    EXPECT_NEW_FAILS(url, ctl, 1, WS_RESULT_SYNTAX_ERROR);

    /* Every tchar is fine, and so are distinct names. */
    rec_t *r = rec_new();
    const char *good[] = {"chat", "v2.json", "!#$%&'*+-.^_`|~", "A1"};
    CHECK_RES(ws_validate(url, good, 4), WS_RESULT_OK);
    CHECK_RES(ws_validate("https://example.com/?q=1", NULL, 0), WS_RESULT_OK);
    CHECK_RES(rec_open(r, url, good, 4, NULL), WS_RESULT_OK);
    CHECK(r->ws != NULL);
    ws_free(r->ws);
    CHECK_EQ(r->finalized, 1);
    rec_check_common(r);
    rec_unref(r);
}

static void test_ctor_null_arguments(void) {
    const char *url = raw_url(g_silent, "/");
    EXPECT_NEW_FAILS(NULL, NULL, 0, WS_RESULT_NULL_ARGUMENT);
    EXPECT_NEW_FAILS(url, NULL, 1, WS_RESULT_NULL_ARGUMENT); /* protocols NULL with count > 0 */
    const char *holes[] = {"chat", NULL};
    EXPECT_NEW_FAILS(url, holes, 2, WS_RESULT_NULL_ARGUMENT);

    /* out == NULL: nothing is created (the finalizer never runs). */
    rec_t *r = rec_new();
    ws_callbacks cb = rec_callbacks(r);
    CHECK_RES(ws_new(url, NULL, 0, NULL, &cb, NULL), WS_RESULT_NULL_ARGUMENT);
    CHECK(strlen(ws_last_error()) > 0);
    h_sleep_ms(50);
    CHECK_EQ(r->finalized, 0);
    CHECK_EQ(rec_n(r), 0);
    rec_unref(r);
}

static void test_ctor_invalid_utf8(void) {
    EXPECT_NEW_FAILS("ws://127.0.0.1/\xff", NULL, 0, WS_RESULT_INVALID_UTF8);
    EXPECT_NEW_FAILS("ws://\xc3\x28.example/", NULL, 0, WS_RESULT_INVALID_UTF8);
    EXPECT_NEW_FAILS("ws://127.0.0.1/\xed\xa0\x80", NULL, 0, WS_RESULT_INVALID_UTF8); /* a surrogate */
    const char *proto[] = {"chat\xff"};
    EXPECT_NEW_FAILS(raw_url(g_silent, "/"), proto, 1, WS_RESULT_INVALID_UTF8);
}

/* A socket that stays CONNECTING, for the attributes' serialization. */
static void check_url(const char *file, int line, const char *in, const char *want) {
    ws_socket *ws = NULL;
    ws_result res = ws_new(in, NULL, 0, NULL, NULL, &ws);
    if (res != WS_RESULT_OK) {
        h_fail(file, line, "ws_new ok", "'%s': %s: %s", in, ws_result_str(res), ws_last_error());
        return;
    }
    const char *got = ws_url(ws);
    if (strcmp(got, want) != 0) h_fail(file, line, "ws_url", "'%s' became '%s', expected '%s'", in, got, want);
    if (ws_url(ws) != got) h_fail(file, line, "ws_url stable", "the pointer changed");
    ws_free(ws);
}
#define CHECK_URL(in, want) check_url(__FILE__, __LINE__, in, want)

static void test_url_serialization(void) {
    char in[256], want[256];
    unsigned p = raw_port(g_silent);
    snprintf(in, sizeof in, "ws://127.0.0.1:%u", p);
    snprintf(want, sizeof want, "ws://127.0.0.1:%u/", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "http://127.0.0.1:%u", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "WS://127.0.0.1:%u", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "HtTp://127.0.0.1:%u/a/b?c=d&e", p);
    snprintf(want, sizeof want, "ws://127.0.0.1:%u/a/b?c=d&e", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "https://127.0.0.1:%u/x", p);
    snprintf(want, sizeof want, "wss://127.0.0.1:%u/x", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "ws://user:pass@127.0.0.1:%u/creds", p);
    snprintf(want, sizeof want, "ws://user:pass@127.0.0.1:%u/creds", p);
    CHECK_URL(in, want);
    snprintf(in, sizeof in, "ws://127.0.0.1:%u/a b", p);
    snprintf(want, sizeof want, "ws://127.0.0.1:%u/a%%20b", p);
    CHECK_URL(in, want);
    /* Default ports are dropped (these connect to a closed port: refused). */
    CHECK_URL("ws://127.0.0.1:80/", "ws://127.0.0.1/");
    CHECK_URL("wss://127.0.0.1:443", "wss://127.0.0.1/");
    CHECK_URL("http://127.0.0.1:80", "ws://127.0.0.1/");
    CHECK_URL("ws://LOCALHOST:1", "ws://localhost:1/");
    CHECK_URL("ws://b\xc3\xbc" "cher.invalid:1/", "ws://xn--bcher-kva.invalid:1/"); /* IDNA */
    CHECK_URL("ws://127.0.0.1:1/?q=a b", "ws://127.0.0.1:1/?q=a%20b");
    CHECK_URL("ws://[::1]:1", "ws://[::1]:1/");
}

static void test_connecting_attributes(void) {
    rec_t *r = rec_new();
    REQUIRE_RES(rec_open(r, raw_url(g_silent, "/attr"), NULL, 0, NULL), WS_RESULT_OK);
    ws_socket *ws = r->ws;
    CHECK_EQ(ws_ready_state(ws), WS_STATE_CONNECTING);
    CHECK_STR(ws_protocol(ws), "");
    CHECK_STR(ws_extensions(ws), "");
    CHECK_EQ(ws_buffered_amount(ws), 0);
    CHECK_RES(ws_send_text(ws, "x", 1), WS_RESULT_INVALID_STATE_ERROR);
    CHECK(strlen(ws_last_error()) > 0);
    const uint8_t b[3] = {1, 2, 3};
    CHECK_RES(ws_send_binary(ws, b, 3), WS_RESULT_INVALID_STATE_ERROR);
    CHECK_RES(ws_send_text(ws, NULL, 0), WS_RESULT_INVALID_STATE_ERROR);
    CHECK_EQ(ws_buffered_amount(ws), 0); /* nothing queued */
    CHECK_EQ(ws_poll(ws, 0), 0);         /* immediate socket: no queue */
    h_sleep_ms(100);
    CHECK_EQ(ws_ready_state(ws), WS_STATE_CONNECTING);
    CHECK_EQ(rec_n(r), 0);
    ws_free(ws);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, pthread_self()));
    h_sleep_ms(50);
    CHECK_EQ(rec_n(r), 0); /* freed before any event: none afterwards */
    rec_check_common(r);
    rec_unref(r);
}

static void test_null_socket(void) {
    CHECK_EQ(ws_ready_state(NULL), WS_STATE_CLOSED);
    CHECK_STR(ws_url(NULL), "");
    CHECK_STR(ws_protocol(NULL), "");
    CHECK_STR(ws_extensions(NULL), "");
    CHECK_EQ(ws_buffered_amount(NULL), 0);
    CHECK_EQ(ws_poll(NULL, 0), -(int32_t)WS_RESULT_NULL_ARGUMENT);
    CHECK_EQ(ws_poll(NULL, 10), -(int32_t)WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_send_text(NULL, "x", 1), WS_RESULT_NULL_ARGUMENT);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_send_binary(NULL, (const uint8_t *)"x", 1), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_close(NULL, 1000, NULL), WS_RESULT_NULL_ARGUMENT);
    ws_free(NULL);         /* no-op */
    ws_options_free(NULL); /* no-op */
}

static void test_send_null_data(void) {
    /* NULL data with len > 0 is a NULL argument (checked before the state). */
    rec_t *r = rec_new();
    REQUIRE_RES(rec_open(r, raw_url(g_silent, "/"), NULL, 0, NULL), WS_RESULT_OK);
    ws_result a = ws_send_text(r->ws, NULL, 5);
    ws_result b = ws_send_binary(r->ws, NULL, 5);
    CHECK_MSG(a == WS_RESULT_NULL_ARGUMENT || a == WS_RESULT_INVALID_STATE_ERROR, "%s", ws_result_str(a));
    CHECK_MSG(b == WS_RESULT_NULL_ARGUMENT || b == WS_RESULT_INVALID_STATE_ERROR, "%s", ws_result_str(b));
    CHECK_EQ(ws_buffered_amount(r->ws), 0);
    ws_free(r->ws);
    rec_unref(r);
}

static void test_options_headers(void) {
    ws_options *o = ws_options_new();
    REQUIRE(o != NULL);
    CHECK_RES(ws_options_add_header(o, "Origin", "http://example.com"), WS_RESULT_OK);
    CHECK_RES(ws_options_add_header(o, "Authorization", "Bearer abc.def"), WS_RESULT_OK);
    CHECK_RES(ws_options_add_header(o, "X-Empty", ""), WS_RESULT_OK);
    CHECK_RES(ws_options_add_header(o, "X-Custom!#$%&'*+-.^_`|~", "v"), WS_RESULT_OK);
    /* CR, LF, NUL (NUL cannot be expressed in a C string; CR/LF can). */
    CHECK_RES(ws_options_add_header(o, "X-Bad", "a\r\nInjected: yes"), WS_RESULT_INVALID_OPTION);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_options_add_header(o, "X-Bad", "a\nb"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_add_header(o, "X-Bad", "a\rb"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_add_header(o, "X-Bad\r\n", "v"), WS_RESULT_INVALID_OPTION);
    /* Names must be tokens. */
    CHECK_RES(ws_options_add_header(o, "", "v"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_add_header(o, "Bad Name", "v"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_add_header(o, "Bad:Name", "v"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_add_header(o, "Bad(Name)", "v"), WS_RESULT_INVALID_OPTION);
    /* The handshake's own headers, in any case. */
    static const char *reserved[] = {"Host", "host", "Upgrade", "CONNECTION", "Sec-WebSocket-Key",
                                     "sec-websocket-version", "Sec-WebSocket-Protocol",
                                     "Sec-WebSocket-Extensions", "Sec-WebSocket-Accept"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        ws_result res = ws_options_add_header(o, reserved[i], "x");
        CHECK_MSG(res == WS_RESULT_INVALID_OPTION, "header '%s': %s", reserved[i], ws_result_str(res));
    }
    /* Not UTF-8: refused (InvalidUtf8 or InvalidOption), never accepted. */
    CHECK(ws_options_add_header(o, "X-Latin1", "caf\xe9") != WS_RESULT_OK);
    CHECK(ws_options_add_header(o, "X-\xff", "v") != WS_RESULT_OK);
    /* NULL arguments. */
    CHECK_RES(ws_options_add_header(NULL, "A", "b"), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_add_header(o, NULL, "b"), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_add_header(o, "A", NULL), WS_RESULT_NULL_ARGUMENT);
    /* After the failures the object is still good. */
    ws_socket *ws = NULL;
    CHECK_RES(ws_new(raw_url(g_silent, "/"), NULL, 0, o, NULL, &ws), WS_RESULT_OK);
    ws_free(ws);
    ws_options_free(o);
}

static void test_options_numbers(void) {
    ws_options *o = ws_options_new();
    REQUIRE(o != NULL);
    CHECK_RES(ws_options_set_connect_timeout_ms(o, 0), WS_RESULT_INVALID_OPTION);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_options_set_connect_timeout_ms(o, 1), WS_RESULT_OK);
    CHECK_RES(ws_options_set_connect_timeout_ms(o, 30000), WS_RESULT_OK);
    CHECK_RES(ws_options_set_connect_timeout_ms(o, UINT64_MAX / 4), WS_RESULT_OK);
    CHECK_RES(ws_options_set_connect_timeout_ms(NULL, 10), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_close_timeout_ms(o, 0), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_close_timeout_ms(o, 1), WS_RESULT_OK);
    CHECK_RES(ws_options_set_close_timeout_ms(o, 5000), WS_RESULT_OK);
    CHECK_RES(ws_options_set_close_timeout_ms(NULL, 10), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_max_message_size(o, 0), WS_RESULT_INVALID_OPTION);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_options_set_max_message_size(o, 1), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_message_size(o, SIZE_MAX), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_message_size(NULL, 10), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_dispatch(o, WS_DISPATCH_QUEUED), WS_RESULT_OK);
    CHECK_RES(ws_options_set_dispatch(o, WS_DISPATCH_IMMEDIATE), WS_RESULT_OK);
    CHECK_RES(ws_options_set_dispatch(o, 2), WS_RESULT_INVALID_OPTION);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_options_set_dispatch(o, 0xffffffffu), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_dispatch(NULL, 0), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_block_unsafe_ports(o, true), WS_RESULT_OK);
    CHECK_RES(ws_options_set_block_unsafe_ports(o, false), WS_RESULT_OK);
    CHECK_RES(ws_options_set_block_unsafe_ports(NULL, true), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(o, true), WS_RESULT_OK);
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(o, false), WS_RESULT_OK);
    CHECK_RES(ws_options_set_dangerously_accept_invalid_certificates(NULL, false), WS_RESULT_NULL_ARGUMENT);

    CHECK_RES(ws_options_set_max_queued_bytes(o, 0), WS_RESULT_OK); /* no limit */
    CHECK_RES(ws_options_set_max_queued_bytes(o, 1), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_queued_bytes(o, UINT64_MAX), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_queued_bytes(NULL, 1), WS_RESULT_NULL_ARGUMENT);

    /* Compression: window bits 0 (default) or 8..15; the rest is refused. */
    CHECK_RES(ws_options_set_compression(o, false), WS_RESULT_OK);
    CHECK_RES(ws_options_set_compression(o, true), WS_RESULT_OK);
    CHECK_RES(ws_options_set_compression_window_bits(o, 0, 0), WS_RESULT_OK);
    CHECK_RES(ws_options_set_compression_window_bits(o, 8, 15), WS_RESULT_OK);
    CHECK_RES(ws_options_set_compression_window_bits(o, 7, 0), WS_RESULT_INVALID_OPTION);
    CHECK(strstr(ws_last_error(), "client_max_window_bits") != NULL);
    CHECK_RES(ws_options_set_compression_window_bits(o, 0, 16), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_compression_window_bits(o, 0, 256 + 9), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_compression_no_context_takeover(o, true), WS_RESULT_OK);
    CHECK_RES(ws_options_set_compression(NULL, true), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_compression_window_bits(NULL, 0, 0), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_compression_no_context_takeover(NULL, true), WS_RESULT_NULL_ARGUMENT);

    /* A failed set_dispatch(2) left IMMEDIATE in place: ws_poll() has no queue. */
    CHECK_RES(ws_options_set_dispatch(o, WS_DISPATCH_IMMEDIATE), WS_RESULT_OK);
    CHECK_RES(ws_options_set_dispatch(o, 7), WS_RESULT_INVALID_OPTION);
    ws_socket *ws = NULL;
    CHECK_RES(ws_new(raw_url(g_silent, "/"), NULL, 0, o, NULL, &ws), WS_RESULT_OK);
    ws_free(ws);
    ws_options_free(o);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t k;
    while ((k = fread(buf + n, 1, cap - n, f)) > 0) {
        n += k;
        if (n == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    *len = n;
    return buf;
}

static void test_options_ca(void) {
    char dir[] = "/tmp/wsnative-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char garbage[128], empty[128], missing[128];
    snprintf(garbage, sizeof garbage, "%s/garbage.pem", dir);
    snprintf(empty, sizeof empty, "%s/empty.pem", dir);
    snprintf(missing, sizeof missing, "%s/missing.pem", dir);
    FILE *f = fopen(garbage, "w");
    fputs("-----BEGIN CERTIFICATE-----\nthis is not base64 !!!\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    f = fopen(empty, "w");
    fclose(f);

    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_ca_file(o, missing, false), WS_RESULT_INVALID_OPTION);
    CHECK_MSG(strstr(ws_last_error(), "missing.pem") != NULL, "message: %s", ws_last_error());
    CHECK_RES(ws_options_set_ca_file(o, garbage, true), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_ca_file(o, empty, false), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_ca_file(o, dir, false), WS_RESULT_INVALID_OPTION); /* a directory */
    CHECK_RES(ws_options_set_ca_file(o, NULL, false), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_ca_file(NULL, garbage, false), WS_RESULT_NULL_ARGUMENT);

    static const char text[] = "hello, not a certificate";
    CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)text, sizeof text - 1, false), WS_RESULT_INVALID_OPTION);
    CHECK(strlen(ws_last_error()) > 0);
    CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)"", 0, false), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_ca_pem(o, NULL, 0, false), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_ca_pem(o, NULL, 10, false), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_ca_pem(NULL, (const uint8_t *)text, 4, false), WS_RESULT_NULL_ARGUMENT);

    /* A real PEM bundle: the test CA from run.sh, else the system bundle. */
    const char *ca = getenv("WSNATIVE_TLS_CA");
    if (!ca || access(ca, R_OK) != 0) ca = "/etc/ssl/certs/ca-certificates.crt";
    if (access(ca, R_OK) == 0) {
        CHECK_RES(ws_options_set_ca_file(o, ca, false), WS_RESULT_OK);
        CHECK_RES(ws_options_set_ca_file(o, ca, true), WS_RESULT_OK);
        size_t len = 0;
        char *pem = read_file(ca, &len);
        REQUIRE(pem != NULL);
        CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)pem, len, true), WS_RESULT_OK);
        /* `len` bytes exactly: no NUL terminator needed, trailing junk after
         * the last certificate is ignored by PEM, garbage before it is not
         * a certificate. */
        CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)pem, len, false), WS_RESULT_OK);
        free(pem);
    } else {
        h_note("no PEM bundle found: the positive CA cases were skipped");
    }
    ws_options_free(o);
    unlink(garbage);
    unlink(empty);
    rmdir(dir);
}

/* Runs ws_options_set_ca_file(path) in a child process, so that a call that
 * never returns (or reads without end) is reported and killed instead of
 * hanging the program. Returns the result, or -1 if the call did not return
 * within `ms`; its ws_last_error() goes to `msg`. */
static int ca_file_in_child(const char *path, char *msg, size_t cap, int ms) {
    int fds[2];
    msg[0] = 0;
    if (pipe(fds) != 0) return -2;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -2;
    if (pid == 0) {
        close(fds[0]);
        ws_options *o = ws_options_new();
        ws_result r = ws_options_set_ca_file(o, path, false);
        char out[700];
        int n = snprintf(out, sizeof out, "%u %s", (unsigned)r, ws_last_error());
        ssize_t w = write(fds[1], out, (size_t)n);
        (void)w;
        ws_options_free(o);
        h_child_exit(0);
    }
    close(fds[1]);
    struct pollfd p = {fds[0], POLLIN, 0};
    char buf[700];
    ssize_t n = 0;
    if (poll(&p, 1, ms) == 1) n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    if (n <= 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    waitpid(pid, NULL, 0);
    buf[n] = 0;
    char *sp = strchr(buf, ' ');
    snprintf(msg, cap, "%s", sp ? sp + 1 : "");
    return atoi(buf);
}

#define CHECK_CA_FILE_REFUSED(path, words)                                                          \
    do {                                                                                           \
        char m_[600];                                                                              \
        int r_ = ca_file_in_child((path), m_, sizeof m_, h_ms(2000));                              \
        CHECK_MSG(r_ != -1, "ws_options_set_ca_file(\"%s\") did not return within 2 s", (path));  \
        CHECK_MSG(r_ == WS_RESULT_INVALID_OPTION, "%s: got %d (%s)", (path), r_, m_);              \
        CHECK_MSG(r_ != WS_RESULT_INVALID_OPTION || strstr(m_, (words)) != NULL, "%s: message '%s'", \
                  (path), m_);                                                                     \
    } while (0)

/* CA files: only a regular file of at most 16 MiB is read (issue 13: the
 * call never returned for /dev/zero, nor for a FIFO without a writer). */
static void test_options_ca_file_limits(void) {
    char dir[] = "/tmp/wsnative-test-XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    char fifo[128], big[128], exact[128];
    snprintf(fifo, sizeof fifo, "%s/fifo.pem", dir);
    snprintf(big, sizeof big, "%s/big.pem", dir);
    snprintf(exact, sizeof exact, "%s/exact.pem", dir);
    REQUIRE(mkfifo(fifo, 0600) == 0);
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    CHECK(ftruncate(fd, (16 << 20) + 1) == 0); /* sparse: 16 MiB + 1 byte */
    close(fd);

    CHECK_CA_FILE_REFUSED("/dev/zero", "not a regular file");
    CHECK_CA_FILE_REFUSED(fifo, "not a regular file");
    CHECK_CA_FILE_REFUSED(dir, "directory");
    CHECK_CA_FILE_REFUSED(big, "16 MiB");

    /* Exactly 16 MiB is accepted: a certificate padded with newlines. */
    const char *ca = getenv("WSNATIVE_TLS_CA");
    if (!ca || access(ca, R_OK) != 0) ca = "/etc/ssl/certs/ca-certificates.crt";
    size_t len = 0;
    char *pem = access(ca, R_OK) == 0 ? read_file(ca, &len) : NULL;
    size_t limit = (size_t)16 << 20;
    if (pem && len < limit) {
        char *padded = malloc(limit + 1);
        REQUIRE(padded != NULL);
        memcpy(padded, pem, len);
        memset(padded + len, '\n', limit + 1 - len);
        FILE *f = fopen(exact, "wb");
        REQUIRE(f != NULL);
        CHECK(fwrite(padded, 1, limit, f) == limit);
        fclose(f);
        ws_options *o = ws_options_new();
        CHECK_RES(ws_options_set_ca_file(o, exact, false), WS_RESULT_OK);
        CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)padded, limit, false), WS_RESULT_OK);
        /* One byte more is refused, from memory as from a file. */
        CHECK_RES(ws_options_set_ca_pem(o, (const uint8_t *)padded, limit + 1, false), WS_RESULT_INVALID_OPTION);
        CHECK_MSG(strstr(ws_last_error(), "16 MiB") != NULL, "message: %s", ws_last_error());
        ws_options_free(o);
        free(padded);
        unlink(exact);
    } else {
        h_note("no PEM bundle under 16 MiB found: the 16 MiB boundary was skipped");
    }
    free(pem);
    unlink(fifo);
    unlink(big);
    rmdir(dir);
}

/* Lengths no buffer can have are refused, with WS_RESULT_INVALID_LENGTH,
 * before the buffer is read (issue 13: SIZE_MAX read past a 16-byte buffer,
 * 2^63 panicked). */
static void test_impossible_lengths(void) {
    CHECK(WS_MAX_SEND_LENGTH == (size_t)PTRDIFF_MAX - 14);
    rec_t *r = rec_new();
    REQUIRE_RES(rec_open(r, h_echo_url("/"), NULL, 0, NULL), WS_RESULT_OK);
    static const uint8_t buf[16] = "0123456789abcde";
    /* Checked before the state: CONNECTING gives the same answer. */
    CHECK_RES(ws_send_binary(r->ws, buf, SIZE_MAX), WS_RESULT_INVALID_LENGTH);
    REQUIRE_MSG(rec_wait(r, EV_OPEN, 1, h_ms(5000)), "events: %s", rec_describe(r));
    const size_t lens[] = {SIZE_MAX, SIZE_MAX - 13, (SIZE_MAX >> 1) + 1, (size_t)PTRDIFF_MAX,
                           WS_MAX_SEND_LENGTH + 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        CHECK_RES(ws_send_binary(r->ws, buf, lens[i]), WS_RESULT_INVALID_LENGTH);
        CHECK_MSG(strstr(ws_last_error(), "WS_MAX_SEND_LENGTH") != NULL, "message: %s", ws_last_error());
        CHECK_RES(ws_send_text(r->ws, (const char *)buf, lens[i]), WS_RESULT_INVALID_LENGTH);
        CHECK_RES(ws_send_binary(r->ws, NULL, lens[i]), WS_RESULT_INVALID_LENGTH);
    }
    CHECK_EQ(ws_buffered_amount(r->ws), 0); /* nothing was queued */
    /* The socket is unharmed. */
    CHECK_RES(ws_send_text(r->ws, "still fine", 10), WS_RESULT_OK);
    CHECK_MSG(rec_wait(r, EV_MESSAGE, 1, h_ms(5000)), "events: %s", rec_describe(r));
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);

    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_ca_pem(o, buf, SIZE_MAX, false), WS_RESULT_INVALID_LENGTH);
    CHECK_RES(ws_options_set_ca_pem(o, buf, (size_t)PTRDIFF_MAX + 1, true), WS_RESULT_INVALID_LENGTH);
    ws_options_free(o);

    const char *protocols[] = {"a"};
    const size_t counts[] = {SIZE_MAX, (size_t)PTRDIFF_MAX / sizeof(char *) + 1};
    for (size_t i = 0; i < 2; i++) {
        ws_socket *ws = (ws_socket *)protocols; /* must be reset to NULL */
        CHECK_RES(ws_new(h_echo_url("/"), protocols, counts[i], NULL, NULL, &ws), WS_RESULT_INVALID_LENGTH);
        CHECK(ws == NULL);
        CHECK_MSG(strstr(ws_last_error(), "protocol_count") != NULL, "message: %s", ws_last_error());
    }
}

static void test_options_reusable_and_freed_after_new(void) {
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_add_header(o, "X-A", "1"), WS_RESULT_OK);
    ws_socket *a = NULL, *b = NULL;
    CHECK_RES(ws_new(raw_url(g_silent, "/a"), NULL, 0, o, NULL, &a), WS_RESULT_OK);
    CHECK_RES(ws_new(raw_url(g_silent, "/b"), NULL, 0, o, NULL, &b), WS_RESULT_OK);
    ws_options_free(o); /* the sockets copied it */
    CHECK_EQ(ws_ready_state(a), WS_STATE_CONNECTING);
    CHECK_EQ(ws_ready_state(b), WS_STATE_CONNECTING);
    ws_free(a);
    ws_free(b);
    /* Many option objects, created and freed: no leak (valgrind/ASan). */
    for (int i = 0; i < 100; i++) {
        ws_options *t = ws_options_new();
        ws_options_add_header(t, "X-I", "v");
        ws_options_free(t);
    }
}

static void test_new_without_callbacks_or_options(void) {
    ws_socket *ws = NULL;
    CHECK_RES(ws_new(h_echo_url("/"), NULL, 0, NULL, NULL, &ws), WS_RESULT_OK);
    REQUIRE(ws != NULL);
    double deadline = h_now_ms() + h_ms(5000);
    while (ws_ready_state(ws) == WS_STATE_CONNECTING && h_now_ms() < deadline) h_sleep_ms(5);
    CHECK_EQ(ws_ready_state(ws), WS_STATE_OPEN);
    CHECK_RES(ws_send_text(ws, "x", 1), WS_RESULT_OK);
    CHECK_RES(ws_close(ws, 1000, NULL), WS_RESULT_OK);
    deadline = h_now_ms() + h_ms(5000);
    while (ws_ready_state(ws) != WS_STATE_CLOSED && h_now_ms() < deadline) h_sleep_ms(5);
    CHECK_EQ(ws_ready_state(ws), WS_STATE_CLOSED);
    ws_free(ws);
}

int main(void) {
    h_init("test_api", 60);
    g_silent = raw_start(raw_silent, NULL);
    RUN(test_version);
    RUN(test_result_str);
    RUN(test_last_error_is_per_thread);
    RUN(test_ctor_invalid_urls);
    RUN(test_ctor_invalid_protocols);
    RUN(test_ctor_null_arguments);
    RUN(test_ctor_invalid_utf8);
    RUN(test_url_serialization);
    RUN(test_connecting_attributes);
    RUN(test_null_socket);
    RUN(test_send_null_data);
    RUN(test_options_headers);
    RUN(test_options_numbers);
    RUN(test_options_ca);
    RUN(test_options_ca_file_limits);
    RUN(test_impossible_lengths);
    RUN(test_options_reusable_and_freed_after_new);
    RUN(test_new_without_callbacks_or_options);
    ws_shutdown(2000);
    raw_stop(g_silent);
    return h_summary();
}
