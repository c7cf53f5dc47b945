/*
 * test_free_race: ws_free() racing every other socket function from a
 * second thread ("every function may be called from any thread,
 * concurrently"). A call in progress when ws_free() runs keeps the socket
 * alive until it returns, and a call made after ws_free() returned fails
 * cleanly: WS_RESULT_UNKNOWN_SOCKET, or what the getter returns for NULL.
 * Either way: no crash, no read of freed memory, no leak (ASan, valgrind),
 * the finalizer exactly once, no callback after ws_free() returned.
 *
 *   - a 64 MiB ws_send_binary() still copying when another thread frees
 *     the socket (the frames it queued are released: LeakSanitizer and
 *     valgrind see no leak);
 *   - for each of ws_send_text, ws_send_binary, ws_close, ws_ready_state,
 *     ws_url, ws_protocol, ws_extensions, ws_buffered_amount, ws_poll and
 *     ws_free itself: thread B calls it in a loop while thread A frees the
 *     socket at a random moment, B goes on calling a few times after the
 *     free returned; sockets connecting, open and closed, immediate and
 *     queued.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

static int entered(rec_t *r) {
    pthread_mutex_lock(&r->mu);
    int n = r->entered;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---------------------------------------------------------------------- */

typedef struct {
    ws_socket *ws;
    const uint8_t *data;
    size_t len;
    atomic_int calling; /* set right before the call */
    ws_result result;
} big_send_t;

static void *big_send(void *arg) {
    big_send_t *b = arg;
    atomic_store(&b->calling, 1);
    b->result = ws_send_binary(b->ws, b->data, b->len);
    return NULL;
}

/* The report of issue 13: thread B sends 64 MiB, thread A frees the
 * socket while B is still copying. */
static void test_free_during_large_send(void) {
    size_t len = (size_t)64 << 20;
    uint8_t *data = malloc(len);
    REQUIRE(data != NULL);
    memset(data, 0x5a, len);
    int rounds = h_count(4), in_progress = 0;
    /* A few more rounds if the free always won (a loaded machine). */
    for (int i = 0; i < rounds || (in_progress == 0 && i < rounds + 6); i++) {
        rec_t *r = rec_new();
        ws_options *o = ws_options_new();
        ws_options_set_dispatch(o, i % 2 ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE);
        /* The echo server answers the Close 1001 of ws_free() at once, so
         * the connection ends while the copy goes on. */
        REQUIRE_RES(rec_open(r, h_echo_url("/"), NULL, 0, o), WS_RESULT_OK);
        ws_options_free(o);
        bool open = i % 2 ? rec_poll(r, EV_OPEN, 1, h_ms(5000)) : rec_wait(r, EV_OPEN, 1, h_ms(5000));
        REQUIRE_MSG(open, "events: %s", rec_describe(r));
        big_send_t b = {.ws = r->ws, .data = data, .len = len};
        pthread_t t = h_thread(big_send, &b);
        while (!atomic_load(&b.calling)) h_sleep_ms(1);
        h_sleep_ms(1 + i); /* B is copying 64 MiB (tens of ms) */
        ws_free(r->ws);
        CHECK_EQ(r->finalized, 1);
        int before = entered(r);
        h_join(t);
        /* OK when B's call began first (the usual case), UNKNOWN_SOCKET
         * when the free won. */
        CHECK_MSG(b.result == WS_RESULT_OK || b.result == WS_RESULT_UNKNOWN_SOCKET, "%s",
                  ws_result_str(b.result));
        if (b.result == WS_RESULT_OK) in_progress++;
        CHECK_RES(ws_send_binary(r->ws, data, 16), WS_RESULT_UNKNOWN_SOCKET);
        CHECK_EQ(entered(r), before); /* no callback after ws_free() */
        rec_check_common(r);
        rec_unref(r);
    }
    h_note("%d sends were still copying when the socket was freed", in_progress);
    CHECK(in_progress > 0);
    free(data);
}

/* ---------------------------------------------------------------------- */

typedef enum {
    F_SEND_TEXT,
    F_SEND_BINARY,
    F_CLOSE,
    F_READY_STATE,
    F_URL,
    F_PROTOCOL,
    F_EXTENSIONS,
    F_BUFFERED_AMOUNT,
    F_POLL,
    F_FREE,
    F_COUNT
} fn_id;

static const char *const fn_names[F_COUNT] = {
    "ws_send_text", "ws_send_binary", "ws_close",           "ws_ready_state", "ws_url",
    "ws_protocol",  "ws_extensions",  "ws_buffered_amount", "ws_poll",        "ws_free",
};

typedef struct {
    ws_socket *ws;
    fn_id fn;
    atomic_int started;
    atomic_int freed; /* A's ws_free() has returned */
    int calls, after; /* calls made, calls made after the free returned */
    int bad;          /* results that must not happen */
    char first_bad[160];
} race_t;

static uint8_t g_payload[100 * 1024];

static void bad(race_t *r, bool after, const char *what, long long got) {
    if (r->bad++ == 0)
        snprintf(r->first_bad, sizeof r->first_bad, "%s %s the free: %s (got %lld; last error: %s)",
                 fn_names[r->fn], after ? "after" : "during", what, got, ws_last_error());
}

static bool call_ok(ws_result res, bool after) {
    if (after) return res == WS_RESULT_UNKNOWN_SOCKET;
    return res == WS_RESULT_OK || res == WS_RESULT_INVALID_STATE_ERROR || res == WS_RESULT_UNKNOWN_SOCKET;
}

/* One call of r->fn; `after`: the free had returned before it began. */
static void call_once(race_t *r, bool after) {
    ws_socket *ws = r->ws;
    switch (r->fn) {
    case F_SEND_TEXT: {
        ws_result res = ws_send_text(ws, "race", 4);
        if (!call_ok(res, after)) bad(r, after, "unexpected result", res);
        break;
    }
    case F_SEND_BINARY: {
        /* Every other message is large: encoded outside the queue's lock. */
        ws_result res = ws_send_binary(ws, g_payload, r->calls % 2 ? sizeof g_payload : 7);
        if (!call_ok(res, after)) bad(r, after, "unexpected result", res);
        break;
    }
    case F_CLOSE: {
        ws_result res = ws_close(ws, 1000, "bye");
        if (!call_ok(res, after)) bad(r, after, "unexpected result", res);
        break;
    }
    case F_READY_STATE: {
        ws_state st = ws_ready_state(ws);
        if ((after && st != WS_STATE_CLOSED) || st > WS_STATE_CLOSED) bad(r, after, "state", st);
        break;
    }
    case F_URL:
    case F_PROTOCOL:
    case F_EXTENSIONS: {
        const char *s = r->fn == F_URL ? ws_url(ws) : r->fn == F_PROTOCOL ? ws_protocol(ws) : ws_extensions(ws);
        /* Borrowed until ws_free(): only read once it is the static "". */
        if (s == NULL) bad(r, after, "NULL string", 0);
        else if (after && s[0] != '\0') bad(r, after, "not \"\"", (long long)strlen(s));
        break;
    }
    case F_BUFFERED_AMOUNT: {
        uint64_t n = ws_buffered_amount(ws);
        if (after && n != 0) bad(r, after, "bufferedAmount", (long long)n);
        break;
    }
    case F_POLL: {
        int n = ws_poll(ws, 1);
        if (after ? n != -(int)WS_RESULT_UNKNOWN_SOCKET : n < 0 && n != -(int)WS_RESULT_UNKNOWN_SOCKET)
            bad(r, after, "ws_poll", n);
        break;
    }
    case F_FREE:
        ws_free(ws); /* the second free of the pair does nothing */
        break;
    case F_COUNT:
        break;
    }
    r->calls++;
}

static void *caller(void *arg) {
    race_t *r = arg;
    atomic_store(&r->started, 1);
    double deadline = h_now_ms() + h_ms(5000);
    for (int i = 0; i < 1000000 && h_now_ms() < deadline; i++) {
        bool after = atomic_load(&r->freed) != 0;
        call_once(r, after);
        if (after && ++r->after >= 5) break;
        if ((i & 63) == 63) sched_yield(); /* valgrind runs one thread at a time */
    }
    return NULL;
}

typedef enum { S_CONNECTING, S_OPEN, S_CLOSED, S_COUNT } sock_state;

static void race_one(fn_id fn, ws_dispatch mode, sock_state state, unsigned *seed, int *failures) {
    rec_t *r = rec_new();
    r->store_data = false;
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, mode);
    const char *url = state == S_CLOSED ? h_echo_url("/close/4001") : h_echo_url("/");
    ws_result res = rec_open(r, url, NULL, 0, o);
    ws_options_free(o);
    if (res != WS_RESULT_OK) {
        CHECK_RES(res, WS_RESULT_OK);
        rec_unref(r);
        return;
    }
    bool queued = mode == WS_DISPATCH_QUEUED;
    if (state != S_CONNECTING) {
        ev_kind want = state == S_OPEN ? EV_OPEN : EV_CLOSE;
        bool ok = queued ? rec_poll(r, want, 1, h_ms(5000)) : rec_wait(r, want, 1, h_ms(5000));
        CHECK_MSG(ok, "events: %s", rec_describe(r));
    }
    race_t race = {.ws = r->ws, .fn = fn};
    pthread_t t = h_thread(caller, &race);
    while (!atomic_load(&race.started)) sched_yield();
    int wait_us = (int)(rand_r(seed) % 1500);
    if (wait_us > 500) {
        struct timespec ts = {0, (long)(wait_us - 500) * 1000L};
        nanosleep(&ts, NULL);
    }
    ws_free(r->ws);
    atomic_store(&race.freed, 1);
    int before = entered(r);
    h_join(t);
    CHECK_EQ(r->finalized, 1);
    CHECK_MSG(race.after >= 1, "%s: no call after the free (%d calls)", fn_names[fn], race.calls);
    if (race.bad) {
        CHECK_MSG(race.bad == 0, "%s, %s, state %d: %d bad results; first: %s", fn_names[fn],
                  queued ? "queued" : "immediate", (int)state, race.bad, race.first_bad);
        ++*failures;
    }
    CHECK_EQ(entered(r), before); /* no callback after ws_free() returned */
    rec_check_common(r);
    rec_unref(r);
}

static void race_function(fn_id fn) {
    unsigned seed = 1234u + (unsigned)fn;
    int rounds = h_count(30), failures = 0;
    for (int i = 0; i < rounds && failures < 3; i++) {
        for (int m = 0; m < 2; m++)
            race_one(fn, m ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE, (sock_state)(i % S_COUNT), &seed,
                     &failures);
    }
}

static void test_free_races_send_text(void) { race_function(F_SEND_TEXT); }
static void test_free_races_send_binary(void) { race_function(F_SEND_BINARY); }
static void test_free_races_close(void) { race_function(F_CLOSE); }
static void test_free_races_ready_state(void) { race_function(F_READY_STATE); }
static void test_free_races_url(void) { race_function(F_URL); }
static void test_free_races_protocol(void) { race_function(F_PROTOCOL); }
static void test_free_races_extensions(void) { race_function(F_EXTENSIONS); }
static void test_free_races_buffered_amount(void) { race_function(F_BUFFERED_AMOUNT); }
static void test_free_races_poll(void) { race_function(F_POLL); }
static void test_free_races_free(void) { race_function(F_FREE); }

/* A handle stays invalid after its slot is reused by new sockets. */
static void test_freed_handle_never_names_a_new_socket(void) {
    ws_socket *old = NULL;
    REQUIRE_RES(ws_new(h_echo_url("/"), NULL, 0, NULL, NULL, &old), WS_RESULT_OK);
    ws_free(old);
    ws_socket *fresh[8];
    for (int i = 0; i < 8; i++) {
        CHECK_RES(ws_new(h_echo_url("/"), NULL, 0, NULL, NULL, &fresh[i]), WS_RESULT_OK);
        CHECK(fresh[i] != old);
    }
    CHECK_RES(ws_send_text(old, "x", 1), WS_RESULT_UNKNOWN_SOCKET);
    CHECK(strstr(ws_last_error(), "ws_free") != NULL);
    CHECK_RES(ws_close(old, 1000, NULL), WS_RESULT_UNKNOWN_SOCKET);
    CHECK_EQ(ws_ready_state(old), WS_STATE_CLOSED);
    CHECK_EQ(ws_poll(old, 0), -(int)WS_RESULT_UNKNOWN_SOCKET);
    ws_free(old); /* nothing happens */
    for (int i = 0; i < 8; i++) {
        CHECK(ws_ready_state(fresh[i]) != WS_STATE_CLOSED); /* the double free touched none */
        ws_free(fresh[i]);
    }
    /* A value that never was a socket. */
    CHECK_RES(ws_send_text((ws_socket *)(uintptr_t)0x12345678, "x", 1), WS_RESULT_UNKNOWN_SOCKET);
}

int main(void) {
    h_init("test_free_race", 120);
    RUN(test_free_during_large_send);
    RUN(test_free_races_send_text);
    RUN(test_free_races_send_binary);
    RUN(test_free_races_close);
    RUN(test_free_races_ready_state);
    RUN(test_free_races_url);
    RUN(test_free_races_protocol);
    RUN(test_free_races_extensions);
    RUN(test_free_races_buffered_amount);
    RUN(test_free_races_poll);
    RUN(test_free_races_free);
    RUN(test_freed_handle_never_names_a_new_socket);
    ws_shutdown(5000);
    return h_summary();
}
