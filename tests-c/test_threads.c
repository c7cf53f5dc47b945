/*
 * test_threads: one socket used from many threads at once: 4 threads send
 * 1000 messages each (all 4000 echoes arrive, each thread's order kept,
 * bufferedAmount back to 0), in both dispatch modes; concurrent readers of
 * the attributes; concurrent close() calls and sends racing a close();
 * ws_last_error() per thread; many sockets created from many threads.
 *
 * Under valgrind (WSNATIVE_TEST_SLOW) the counts are divided by 10.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define THREADS 4

static raw_server *g_silent;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting, total;
} gate_t;

static void gate_init(gate_t *g, int total) {
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->waiting = 0;
    g->total = total;
}

/* All threads leave together (the last one to arrive opens the gate). */
static void gate_pass(gate_t *g) {
    pthread_mutex_lock(&g->mu);
    if (++g->waiting >= g->total) pthread_cond_broadcast(&g->cv);
    while (g->waiting < g->total) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(gate_t *g) {
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

typedef struct {
    ws_socket *ws;
    int id, n;
    gate_t *gate;
    int failures;
    uint64_t bytes;
} sender_t;

static void *sender_main(void *arg) {
    sender_t *s = arg;
    char buf[64];
    gate_pass(s->gate);
    for (int i = 0; i < s->n; i++) {
        int len = snprintf(buf, sizeof buf, "t%d:%d", s->id, i);
        ws_result r = i % 2 ? ws_send_text(s->ws, buf, (size_t)len)
                            : ws_send_binary(s->ws, (const uint8_t *)buf, (size_t)len);
        if (r != WS_RESULT_OK) s->failures++;
        s->bytes += (uint64_t)len;
    }
    return NULL;
}

typedef struct {
    ws_socket *ws;
    gate_t *gate;
    volatile int stop;
    uint64_t max_seen;
    int bad_state;
    int reads;
} watcher_t;

static void *watcher_main(void *arg) {
    watcher_t *w = arg;
    gate_pass(w->gate);
    while (!__atomic_load_n(&w->stop, __ATOMIC_SEQ_CST)) {
        uint64_t b = ws_buffered_amount(w->ws);
        if (b > w->max_seen) w->max_seen = b;
        if (ws_ready_state(w->ws) != WS_STATE_OPEN) w->bad_state++;
        if (strlen(ws_url(w->ws)) == 0) w->bad_state++;
        w->reads++;
        /* Not a pure spin: under valgrind (one thread runs at a time) a
         * spinning thread would starve the library's threads. */
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void four_threads_send(ws_dispatch mode) {
    int per = h_count(1000);
    rec_t *r = rec_new();
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, mode);
    REQUIRE_RES(rec_open(r, h_echo_url("/"), NULL, 0, o), WS_RESULT_OK);
    ws_options_free(o);
    bool queued = mode == WS_DISPATCH_QUEUED;
    REQUIRE(queued ? rec_poll(r, EV_OPEN, 1, h_ms(5000)) : rec_wait(r, EV_OPEN, 1, h_ms(5000)));

    gate_t gate;
    gate_init(&gate, THREADS + 1);
    sender_t s[THREADS];
    pthread_t t[THREADS + 1];
    watcher_t w = {r->ws, &gate, 0, 0, 0, 0};
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sender_t){r->ws, i, per, &gate, 0, 0};
        t[i] = h_thread(sender_main, &s[i]);
    }
    t[THREADS] = h_thread(watcher_main, &w);
    for (int i = 0; i < THREADS; i++) h_join(t[i]);
    uint64_t total_bytes = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(s[i].failures, 0);
        total_bytes += s[i].bytes;
    }
    int expected = THREADS * per;
    bool all = queued ? rec_poll(r, EV_MESSAGE, expected, h_ms(20000))
                      : rec_wait(r, EV_MESSAGE, expected, h_ms(20000));
    CHECK_MSG(all, "got %d of %d echoes", rec_count(r, EV_MESSAGE), expected);
    /* bufferedAmount goes back to 0 once everything is written. */
    double deadline = h_now_ms() + h_ms(5000);
    while (ws_buffered_amount(r->ws) != 0 && h_now_ms() < deadline) h_sleep_ms(2);
    CHECK_EQ(ws_buffered_amount(r->ws), 0);
    __atomic_store_n(&w.stop, 1, __ATOMIC_SEQ_CST);
    h_join(t[THREADS]);
    CHECK_MSG(w.max_seen <= total_bytes, "bufferedAmount %llu > %llu bytes sent",
              (unsigned long long)w.max_seen, (unsigned long long)total_bytes);
    CHECK_EQ(w.bad_state, 0);
    CHECK(w.reads > 0);

    /* Each thread's messages come back in the order it sent them. */
    int next[THREADS] = {0}, bad_parse = 0, bad_order = 0, bad_kind = 0;
    for (size_t i = 0; i < rec_n(r); i++) {
        event_t e = rec_get(r, i);
        if (e.kind != EV_MESSAGE) continue;
        int id = -1, k = -1;
        if (sscanf((const char *)e.data, "t%d:%d", &id, &k) != 2 || id < 0 || id >= THREADS) {
            bad_parse++;
            continue;
        }
        if (k != next[id]) bad_order++;
        next[id] = k + 1;
        if ((int)e.mtype != (k % 2 ? WS_MESSAGE_TYPE_TEXT : WS_MESSAGE_TYPE_BINARY)) bad_kind++;
    }
    CHECK_EQ(bad_parse, 0);
    CHECK_EQ(bad_order, 0);
    CHECK_EQ(bad_kind, 0);
    for (int i = 0; i < THREADS; i++) CHECK_EQ(next[i], per);

    CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
    CHECK(queued ? rec_poll(r, EV_CLOSE, 1, h_ms(5000)) : rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) CHECK(rec_get(r, (size_t)k).clean);
    ws_free(r->ws);
    rec_check_common(r);
    CHECK_EQ(r->finalized, 1);
    rec_unref(r);
    gate_destroy(&gate);
}

static void test_four_threads_send_immediate(void) { four_threads_send(WS_DISPATCH_IMMEDIATE); }
static void test_four_threads_send_queued(void) { four_threads_send(WS_DISPATCH_QUEUED); }

typedef struct {
    ws_socket *ws;
    gate_t *gate;
    uint16_t code;
    ws_result result;
    const char *protocol;
    const char *url;
} closer_t;

static void *closer_main(void *arg) {
    closer_t *c = arg;
    gate_pass(c->gate);
    c->protocol = ws_protocol(c->ws);
    c->url = ws_url(c->ws);
    c->result = ws_close(c->ws, c->code, "race");
    return NULL;
}

static void test_concurrent_close_calls(void) {
    const char *protos[] = {"p1"};
    rec_t *r = rec_new();
    REQUIRE_RES(rec_open(r, h_echo_url("/"), protos, 1, NULL), WS_RESULT_OK);
    REQUIRE(rec_wait(r, EV_OPEN, 1, h_ms(5000)));
    gate_t gate;
    gate_init(&gate, THREADS);
    static const uint16_t codes[THREADS] = {1000, 3000, 4000, 4999};
    closer_t c[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        c[i] = (closer_t){r->ws, &gate, codes[i], WS_RESULT_PANIC, NULL, NULL};
        t[i] = h_thread(closer_main, &c[i]);
    }
    for (int i = 0; i < THREADS; i++) h_join(t[i]);
    for (int i = 0; i < THREADS; i++) {
        CHECK_RES(c[i].result, WS_RESULT_OK);
        CHECK(c[i].protocol == c[0].protocol); /* one borrowed string */
        CHECK(c[i].url == c[0].url);
        CHECK_STR(c[i].protocol, "p1");
    }
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    h_sleep_ms(h_ms(100));
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        uint16_t code = rec_get(r, (size_t)k).code;
        CHECK_MSG(code == 1000 || code == 3000 || code == 4000 || code == 4999, "code %u", code);
    }
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
    gate_destroy(&gate);
}

static void test_sends_racing_close(void) {
    rec_t *r = rec_new();
    r->store_data = false;
    REQUIRE_RES(rec_open(r, h_echo_url("/"), NULL, 0, NULL), WS_RESULT_OK);
    REQUIRE(rec_wait(r, EV_OPEN, 1, h_ms(5000)));
    gate_t gate;
    gate_init(&gate, THREADS + 1);
    sender_t s[THREADS];
    pthread_t t[THREADS + 1];
    for (int i = 0; i < THREADS; i++) {
        s[i] = (sender_t){r->ws, i, h_count(2000), &gate, 0, 0};
        t[i] = h_thread(sender_main, &s[i]);
    }
    closer_t c = {r->ws, &gate, 1000, WS_RESULT_PANIC, NULL, NULL};
    t[THREADS] = h_thread(closer_main, &c);
    for (int i = 0; i <= THREADS; i++) h_join(t[i]);
    CHECK_RES(c.result, WS_RESULT_OK);
    uint64_t total = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(s[i].failures, 0); /* OPEN, CLOSING or CLOSED: send() never fails */
        total += s[i].bytes;
    }
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    CHECK_EQ(rec_count(r, EV_ERROR), 0);
    /* Whatever was discarded after close() stays counted. */
    uint64_t b = ws_buffered_amount(r->ws);
    CHECK_MSG(b <= total, "bufferedAmount %llu > %llu sent", (unsigned long long)b, (unsigned long long)total);
    h_sleep_ms(50);
    CHECK_EQ(ws_buffered_amount(r->ws), b);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
    gate_destroy(&gate);
}

typedef struct {
    int id;
    int iterations;
    ws_socket *connecting;
    gate_t *gate;
    int wrong_result, wrong_message;
} err_thread_t;

static void *last_error_main(void *arg) {
    err_thread_t *e = arg;
    ws_options *o = ws_options_new();
    char first[512] = "";
    gate_pass(e->gate);
    for (int i = 0; i < e->iterations; i++) {
        ws_result r, want;
        ws_socket *out = NULL;
        switch (e->id) {
        case 0: r = ws_new("ftp://x/", NULL, 0, NULL, NULL, &out), want = WS_RESULT_SYNTAX_ERROR; break;
        case 1: r = ws_options_set_connect_timeout_ms(o, 0), want = WS_RESULT_INVALID_OPTION; break;
        case 2: r = ws_send_text(NULL, "x", 1), want = WS_RESULT_NULL_ARGUMENT; break;
        default: r = ws_close(e->connecting, 999, NULL), want = WS_RESULT_INVALID_ACCESS_ERROR; break;
        }
        if (r != want) e->wrong_result++;
        const char *m = ws_last_error();
        if (i == 0) snprintf(first, sizeof first, "%s", m);
        else if (strcmp(first, m) != 0) e->wrong_message++;
        /* A success in between leaves it unchanged. */
        ws_options_set_max_message_size(o, 100);
        if (strcmp(first, ws_last_error()) != 0) e->wrong_message++;
    }
    ws_options_free(o);
    return NULL;
}

static void test_last_error_per_thread_concurrently(void) {
    ws_socket *connecting = NULL;
    REQUIRE_RES(ws_new(raw_url(g_silent, "/"), NULL, 0, NULL, NULL, &connecting), WS_RESULT_OK);
    gate_t gate;
    gate_init(&gate, THREADS);
    err_thread_t e[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        e[i] = (err_thread_t){i, h_count(2000), connecting, &gate, 0, 0};
        t[i] = h_thread(last_error_main, &e[i]);
    }
    for (int i = 0; i < THREADS; i++) h_join(t[i]);
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(e[i].wrong_result, 0);
        CHECK_EQ(e[i].wrong_message, 0);
    }
    CHECK_EQ(ws_ready_state(connecting), WS_STATE_CONNECTING);
    ws_free(connecting);
    gate_destroy(&gate);
}

typedef struct {
    int sockets;
    int failures;
} lifecycle_t;

static void *lifecycle_main(void *arg) {
    lifecycle_t *l = arg;
    for (int i = 0; i < l->sockets; i++) {
        rec_t *r = rec_new();
        bool ok = rec_open(r, h_echo_url("/"), NULL, 0, NULL) == WS_RESULT_OK && rec_wait(r, EV_OPEN, 1, h_ms(5000)) &&
                  ws_send_text(r->ws, "hi", 2) == WS_RESULT_OK && rec_wait(r, EV_MESSAGE, 1, h_ms(5000)) &&
                  ws_close(r->ws, 1000, NULL) == WS_RESULT_OK && rec_wait(r, EV_CLOSE, 1, h_ms(5000));
        if (!ok) l->failures++;
        if (r->ws) ws_free(r->ws);
        if (r->finalized != 1 && r->ws) l->failures++;
        rec_check_common(r);
        rec_unref(r);
    }
    return NULL;
}

static void test_many_sockets_from_many_threads(void) {
    lifecycle_t l[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        l[i] = (lifecycle_t){h_count(20), 0};
        t[i] = h_thread(lifecycle_main, &l[i]);
    }
    for (int i = 0; i < THREADS; i++) h_join(t[i]);
    for (int i = 0; i < THREADS; i++) CHECK_EQ(l[i].failures, 0);
}

typedef struct {
    int close_returned; /* atomic */
    int late;           /* on_message entered after ws_close() returned */
} late_t;

static void late_message_check(ws_socket *ws, const uint8_t *d, size_t n, ws_message_type k, void *ud) {
    (void)ws, (void)d, (void)n, (void)k;
    late_t *l = ud;
    if (__atomic_load_n(&l->close_returned, __ATOMIC_SEQ_CST)) __atomic_add_fetch(&l->late, 1, __ATOMIC_SEQ_CST);
}

/* Messages stream in; another thread calls ws_close(): once it returned,
 * no further message is dispatched ("messages that arrive afterwards are
 * dropped"). Immediate mode: the library thread may already be inside
 * on_message, or past its check and about to enter it, when ws_close()
 * runs on the main thread (ws_close() never waits for it), and that one
 * callback may read close_returned as set: at most one. Queued mode:
 * ws_poll() runs on the thread that called ws_close(): none. */
static void test_no_message_after_close_returns(void) {
    for (int mode = 0; mode < 2; mode++) {
        late_t l = {0, 0};
        ws_callbacks cb = {NULL, late_message_check, NULL, NULL, &l, NULL};
        ws_options *o = ws_options_new();
        ws_options_set_dispatch(o, mode ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE);
        ws_socket *ws = NULL;
        REQUIRE_RES(ws_new(h_echo_url("/count/200000/8"), NULL, 0, o, &cb, &ws), WS_RESULT_OK);
        ws_options_free(o);
        double deadline = h_now_ms() + h_ms(5000);
        while (ws_ready_state(ws) != WS_STATE_OPEN && h_now_ms() < deadline) h_sleep_ms(1);
        if (mode) ws_poll(ws, 0);
        h_sleep_ms(20); /* the flood is on */
        CHECK_RES(ws_close(ws, 1000, NULL), WS_RESULT_OK);
        __atomic_store_n(&l.close_returned, 1, __ATOMIC_SEQ_CST);
        if (mode) {
            deadline = h_now_ms() + h_ms(3000);
            while (h_now_ms() < deadline && ws_ready_state(ws) != WS_STATE_CLOSED) ws_poll(ws, 10);
            ws_poll(ws, 0);
        } else {
            h_sleep_ms(h_ms(300));
        }
        int allowed = mode ? 0 : 1;
        CHECK_MSG(l.late <= allowed, "%s: %d on_message after ws_close() returned (at most %d may be in flight)",
                  mode ? "queued" : "immediate", l.late, allowed);
        ws_free(ws);
    }
}

typedef struct {
    const ws_options *options;
    gate_t *gate;
    rec_t *r[8];
    int failures;
} creator_t;

static void *creator_main(void *arg) {
    creator_t *c = arg;
    gate_pass(c->gate);
    for (int i = 0; i < 8; i++) {
        c->r[i] = rec_new();
        if (rec_open(c->r[i], h_echo_url("/headers"), NULL, 0, c->options) != WS_RESULT_OK) {
            c->failures++;
            c->r[i]->ws = NULL;
        }
    }
    return NULL;
}

/* One options object read by several ws_new() calls at once. */
static void test_shared_options_concurrent_new(void) {
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_add_header(o, "X-Shared", "yes"), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_message_size(o, 4096), WS_RESULT_OK);
    gate_t gate;
    gate_init(&gate, THREADS);
    creator_t c[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].options = o;
        c[i].gate = &gate;
        t[i] = h_thread(creator_main, &c[i]);
    }
    for (int i = 0; i < THREADS; i++) h_join(t[i]);
    ws_options_free(o);
    for (int i = 0; i < THREADS; i++) {
        CHECK_EQ(c[i].failures, 0);
        for (int k = 0; k < 8; k++) {
            rec_t *r = c[i].r[k];
            if (r->ws) {
                bool got = rec_wait(r, EV_MESSAGE, 1, h_ms(5000));
                int m = rec_find(r, EV_MESSAGE, 0);
                CHECK_MSG(got && m >= 0 && strstr((const char *)rec_get(r, (size_t)m).data, "x-shared: yes\n"),
                          "events: %s", rec_describe(r));
                ws_free(r->ws);
            }
            rec_check_common(r);
            rec_unref(r);
        }
    }
    gate_destroy(&gate);
}

int main(void) {
    h_init("test_threads", 90);
    g_silent = raw_start(raw_silent, NULL);
    RUN(test_four_threads_send_immediate);
    RUN(test_four_threads_send_queued);
    RUN(test_concurrent_close_calls);
    RUN(test_sends_racing_close);
    RUN(test_last_error_per_thread_concurrently);
    RUN(test_many_sockets_from_many_threads);
    RUN(test_shared_options_concurrent_new);
    RUN(test_no_message_after_close_returns);
    ws_shutdown(2000);
    raw_stop(g_silent);
    return h_summary();
}
