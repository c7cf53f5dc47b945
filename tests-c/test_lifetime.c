/*
 * test_lifetime: ws_free() and the userdata finalizer in every path:
 * ws_free(NULL); ws_free() inside on_open / on_message / on_error /
 * on_close (immediate and queued): no callback afterwards, the finalizer
 * once, after the last callback, on the callback's thread; ws_free() from
 * another thread while a callback runs (it waits); ws_close() inside
 * callbacks; freeing while connecting, while open, after close; freeing
 * another socket from a callback; a create/free stress.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static ws_dispatch g_mode = WS_DISPATCH_IMMEDIATE;
static raw_server *g_silent;

static rec_t *rec_for_mode(void) { return rec_new(); }

static ws_result open_mode(rec_t *r, const char *url) {
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, g_mode);
    ws_result res = rec_open(r, url, NULL, 0, o);
    ws_options_free(o);
    return res;
}

static bool wait_ev(rec_t *r, ev_kind kind, int n, int timeout_ms) {
    return g_mode == WS_DISPATCH_QUEUED ? rec_poll(r, kind, n, timeout_ms) : rec_wait(r, kind, n, timeout_ms);
}

/* Pumps (queued) or sleeps (immediate) for `ms` milliseconds, unless the
 * socket was freed inside a callback. */
static void settle(rec_t *r, int ms) {
    if (g_mode == WS_DISPATCH_QUEUED && !r->freed_in_cb) {
        double deadline = h_now_ms() + ms;
        while (!r->freed_in_cb && h_now_ms() < deadline) ws_poll(r->ws, 10);
    } else {
        h_sleep_ms(ms);
    }
}

static void test_free_null(void) {
    ws_free(NULL);
    ws_free(NULL);
    CHECK(true);
}

/* ws_free() inside the callback of `kind`: no callback after it, the
 * finalizer once, right after that callback, on its thread. */
static void free_inside(ev_kind kind, const char *url, int events_before) {
    rec_t *r = rec_for_mode();
    r->free_on = kind;
    REQUIRE_RES(open_mode(r, url), WS_RESULT_OK);
    if (g_mode == WS_DISPATCH_QUEUED) {
        double deadline = h_now_ms() + h_ms(5000);
        while (!r->freed_in_cb && h_now_ms() < deadline) {
            int n = ws_poll(r->ws, 10);
            CHECK(n >= 0);
        }
    }
    REQUIRE_MSG(rec_wait_final(r, h_ms(5000)), "events: %s", rec_describe(r));
    h_sleep_ms(h_ms(200)); /* nothing may follow */
    CHECK_MSG(rec_n(r) == (size_t)events_before, "events: %s", rec_describe(r));
    size_t last = rec_n(r) - 1;
    event_t e = rec_get(r, last);
    CHECK_EQ(e.kind, kind);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, e.thread)); /* the callback's thread */
    if (g_mode == WS_DISPATCH_QUEUED) CHECK(pthread_equal(r->final_thread, pthread_self()));
    else CHECK(!pthread_equal(r->final_thread, pthread_self()));
    CHECK(r->final_t >= e.t_ms);
    rec_check_common(r);
    rec_unref(r);
}

static void test_free_in_on_open(void) { free_inside(EV_OPEN, h_echo_url("/hello"), 1); }
static void test_free_in_on_message(void) { free_inside(EV_MESSAGE, h_echo_url("/count/20/10"), 2); }
static void test_free_in_on_close(void) { free_inside(EV_CLOSE, h_echo_url("/close/4001"), 2); }
static void test_free_in_on_error(void) { free_inside(EV_ERROR, h_refused_url(), 1); }

typedef struct {
    rec_t *r;
    int poll_result;
    pthread_t self;
} slow_poller;

static void *poll_once(void *arg) {
    slow_poller *p = arg;
    p->self = pthread_self();
    p->poll_result = ws_poll(p->r->ws, h_ms(5000));
    return NULL;
}

/* ws_free() on this thread while a callback sleeps 200 ms on another. */
static void test_free_while_callback_runs(void) {
    rec_t *r = rec_for_mode();
    r->sleep_ms = 200; /* in on_message only */
    REQUIRE_RES(open_mode(r, h_echo_url("/")), WS_RESULT_OK);
    pthread_t t = pthread_self();
    slow_poller p = {r, -100, pthread_self()};
    REQUIRE(wait_ev(r, EV_OPEN, 1, h_ms(5000)));
    CHECK_RES(ws_send_text(r->ws, "x", 1), WS_RESULT_OK); /* its echo: a slow on_message */
    if (g_mode == WS_DISPATCH_QUEUED) t = h_thread(poll_once, &p); /* dispatches the echo */
    /* entered counts callback entries: open (1), then the message (2). */
    REQUIRE_MSG(rec_wait_entered(r, 2, h_ms(5000)), "events: %s", rec_describe(r));
    double t0 = h_now_ms();
    ws_free(r->ws);
    double dt = h_now_ms() - t0;
    pthread_mutex_lock(&r->mu);
    int entered = r->entered, left = r->left;
    pthread_mutex_unlock(&r->mu);
    CHECK_EQ(left, entered); /* the running callback returned before ws_free did */
    CHECK_MSG(dt >= 100, "ws_free returned after %.0f ms, while the callback sleeps 200 ms", dt);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, pthread_self()));
    if (g_mode == WS_DISPATCH_QUEUED) {
        h_join(t);
        CHECK_MSG(p.poll_result >= 0, "ws_poll returned %d", p.poll_result);
    }
    h_sleep_ms(h_ms(200));
    pthread_mutex_lock(&r->mu);
    CHECK_EQ(r->entered, entered); /* no callback after ws_free returned */
    pthread_mutex_unlock(&r->mu);
    rec_check_common(r);
    rec_unref(r);
}

static void test_close_inside_callbacks(void) {
    /* on_open: close(1000, "x") */
    rec_t *r = rec_for_mode();
    r->close_on = EV_OPEN;
    r->close_code = 1000;
    r->close_reason = "x";
    REQUIRE_RES(open_mode(r, h_echo_url("/")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_RES(r->close_result, WS_RESULT_OK);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK(c.clean);
    }
    ws_free(r->ws);
    rec_check_common(r);
    CHECK_EQ(r->finalized, 1);
    rec_unref(r);

    /* on_message: close(4000) */
    r = rec_for_mode();
    r->close_on = EV_MESSAGE;
    r->close_code = 4000;
    REQUIRE_RES(open_mode(r, h_echo_url("/hello")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_RES(r->close_result, WS_RESULT_OK);
    k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) CHECK_EQ(rec_get(r, (size_t)k).code, 4000);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);

    /* on_close (CLOSED: nothing happens) and on_error (already failing). */
    r = rec_for_mode();
    r->close_on = EV_CLOSE;
    r->close_code = 1000;
    REQUIRE_RES(open_mode(r, h_echo_url("/close/4001")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_RES(r->close_result, WS_RESULT_OK);
    settle(r, 100);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);

    r = rec_for_mode();
    r->close_on = EV_ERROR;
    r->close_code = 1000;
    REQUIRE_RES(open_mode(r, h_refused_url()), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_RES(r->close_result, WS_RESULT_OK);
    settle(r, 100);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
}

static void test_finalizer_paths(void) {
    /* Freed while CONNECTING: no callback at all, finalizer on this thread. */
    rec_t *r = rec_for_mode();
    REQUIRE_RES(open_mode(r, raw_url(g_silent, "/")), WS_RESULT_OK);
    h_sleep_ms(20);
    ws_free(r->ws);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, pthread_self()));
    h_sleep_ms(h_ms(100));
    CHECK_EQ(rec_n(r), 0);
    rec_check_common(r);
    rec_unref(r);

    /* Freed while OPEN: no on_close afterwards. */
    r = rec_for_mode();
    REQUIRE_RES(open_mode(r, h_echo_url("/")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_OPEN, 1, h_ms(5000)));
    ws_send_text(r->ws, "x", 1);
    ws_free(r->ws);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, pthread_self()));
    h_sleep_ms(h_ms(200));
    CHECK_EQ(rec_count(r, EV_CLOSE), 0);
    rec_check_common(r);
    rec_unref(r);

    /* Freed after on_close. */
    r = rec_for_mode();
    REQUIRE_RES(open_mode(r, h_echo_url("/close/4001")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_EQ(r->finalized, 0); /* not before ws_free */
    ws_free(r->ws);
    CHECK_EQ(r->finalized, 1);
    rec_check_common(r);
    rec_unref(r);

    /* Queued socket freed with events still in its queue. */
    if (g_mode == WS_DISPATCH_QUEUED) {
        r = rec_for_mode();
        REQUIRE_RES(open_mode(r, h_echo_url("/count/10/10")), WS_RESULT_OK);
        h_sleep_ms(h_ms(300)); /* the events arrive (the application, not polling, sees none) */
        ws_free(r->ws);
        CHECK_EQ(r->finalized, 1);
        CHECK_EQ(rec_n(r), 0); /* never polled: never dispatched */
        rec_check_common(r);
        rec_unref(r);
    }

    /* No finalizer, no callbacks: nothing to call. */
    ws_socket *ws = NULL;
    ws_callbacks cb = {NULL, NULL, NULL, NULL, NULL, NULL};
    CHECK_RES(ws_new(h_echo_url("/hello"), NULL, 0, NULL, &cb, &ws), WS_RESULT_OK);
    h_sleep_ms(50);
    ws_free(ws);

    /* ws_new() failing: the finalizer is not called. */
    r = rec_for_mode();
    r->ws = (ws_socket *)1;
    CHECK_RES(open_mode(r, "ws://bad host/"), WS_RESULT_SYNTAX_ERROR);
    CHECK(r->ws == NULL);
    CHECK_EQ(r->finalized, 0);
    rec_unref(r);
}

typedef struct {
    ws_socket *victim;
    rec_t *victim_rec;
    bool done;
} free_other;

static void free_other_hook(rec_t *r, ws_socket *ws, const event_t *ev) {
    (void)ws;
    free_other *f = r->user;
    if (ev->kind == EV_MESSAGE && !f->done) {
        f->done = true;
        ws_free(f->victim);
    }
}

static void test_free_other_socket_from_callback(void) {
    rec_t *victim = rec_for_mode();
    REQUIRE_RES(open_mode(victim, h_echo_url("/")), WS_RESULT_OK);
    CHECK(wait_ev(victim, EV_OPEN, 1, h_ms(5000)));
    free_other f = {victim->ws, victim, false};
    rec_t *r = rec_for_mode();
    r->user = &f;
    r->hook = free_other_hook;
    REQUIRE_RES(open_mode(r, h_echo_url("/hello")), WS_RESULT_OK);
    CHECK(wait_ev(r, EV_MESSAGE, 1, h_ms(5000)));
    CHECK(rec_wait_final(victim, h_ms(2000)));
    CHECK_EQ(victim->finalized, 1);
    int k = rec_find(r, EV_MESSAGE, 0);
    if (k >= 0) CHECK(pthread_equal(victim->final_thread, rec_get(r, (size_t)k).thread));
    h_sleep_ms(h_ms(100));
    CHECK_EQ(rec_count(victim, EV_CLOSE), 0);
    rec_check_common(victim);
    rec_unref(victim);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
}

/* Sockets freed at every point of their life, many at once. */
static void test_create_free_stress(void) {
    int n = h_count(60);
    rec_t **rs = calloc((size_t)n, sizeof *rs);
    for (int i = 0; i < n; i++) {
        rs[i] = rec_for_mode();
        const char *url = i % 3 == 0 ? h_echo_url("/hello") : i % 3 == 1 ? h_echo_url("/close/4002")
                                                                          : h_echo_url("/count/50/100");
        CHECK_RES(open_mode(rs[i], url), WS_RESULT_OK);
        if (i % 5 == 0) {
            ws_free(rs[i]->ws); /* right away */
            rs[i]->ws = NULL;
        }
    }
    for (int i = 0; i < n; i++) {
        if (!rs[i]->ws) continue;
        if (g_mode == WS_DISPATCH_QUEUED) ws_poll(rs[i]->ws, i % 4);
        else if (i % 2) h_sleep_ms(1);
        ws_free(rs[i]->ws);
    }
    for (int i = 0; i < n; i++) {
        CHECK_EQ(rs[i]->finalized, 1);
        rec_check_common(rs[i]);
    }
    h_sleep_ms(h_ms(100));
    for (int i = 0; i < n; i++) {
        CHECK_EQ(rs[i]->finalized, 1);
        pthread_mutex_lock(&rs[i]->mu);
        CHECK_EQ(rs[i]->after_final, 0);
        pthread_mutex_unlock(&rs[i]->mu);
        rec_unref(rs[i]);
    }
    free(rs);
}

/* The reconnect pattern: a new socket created inside on_close (and its
 * finalizer set), the old one freed in the same callback. */
typedef struct {
    rec_t *next;
    ws_result result;
} reconnect_t;

static void reconnect_hook(rec_t *r, ws_socket *ws, const event_t *ev) {
    (void)ws;
    reconnect_t *rc = r->user;
    if (ev->kind != EV_CLOSE) return;
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, g_mode);
    rc->result = rec_open(rc->next, h_echo_url("/hello"), NULL, 0, o);
    ws_options_free(o);
}

static void test_new_inside_on_close(void) {
    reconnect_t rc = {rec_for_mode(), WS_RESULT_PANIC};
    rec_t *r = rec_for_mode();
    r->user = &rc;
    r->hook = reconnect_hook;
    r->free_on = EV_CLOSE;
    REQUIRE_RES(open_mode(r, h_echo_url("/close/4003")), WS_RESULT_OK);
    if (g_mode == WS_DISPATCH_QUEUED) {
        double deadline = h_now_ms() + h_ms(5000);
        while (!r->freed_in_cb && h_now_ms() < deadline) ws_poll(r->ws, 10);
    }
    CHECK(rec_wait_final(r, h_ms(5000)));
    CHECK_RES(rc.result, WS_RESULT_OK);
    if (rc.result == WS_RESULT_OK) {
        CHECK_MSG(wait_ev(rc.next, EV_MESSAGE, 1, h_ms(5000)), "second socket: %s", rec_describe(rc.next));
        ws_free(rc.next->ws);
        CHECK_EQ(rc.next->finalized, 1);
        rec_check_common(rc.next);
    }
    rec_check_common(r);
    CHECK_EQ(r->finalized, 1);
    rec_unref(rc.next);
    rec_unref(r);
}

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
BOTH(test_free_in_on_open)
BOTH(test_free_in_on_message)
BOTH(test_free_in_on_close)
BOTH(test_free_in_on_error)
BOTH(test_free_while_callback_runs)
BOTH(test_close_inside_callbacks)
BOTH(test_finalizer_paths)
BOTH(test_free_other_socket_from_callback)
BOTH(test_create_free_stress)
BOTH(test_new_inside_on_close)

int main(void) {
    h_init("test_lifetime", 60);
    g_silent = raw_start(raw_silent, NULL);
    RUN(test_free_null);
    RUN(test_free_in_on_open_immediate);
    RUN(test_free_in_on_open_queued);
    RUN(test_free_in_on_message_immediate);
    RUN(test_free_in_on_message_queued);
    RUN(test_free_in_on_close_immediate);
    RUN(test_free_in_on_close_queued);
    RUN(test_free_in_on_error_immediate);
    RUN(test_free_in_on_error_queued);
    RUN(test_free_while_callback_runs_immediate);
    RUN(test_free_while_callback_runs_queued);
    RUN(test_close_inside_callbacks_immediate);
    RUN(test_close_inside_callbacks_queued);
    RUN(test_finalizer_paths_immediate);
    RUN(test_finalizer_paths_queued);
    RUN(test_free_other_socket_from_callback_immediate);
    RUN(test_free_other_socket_from_callback_queued);
    RUN(test_create_free_stress_immediate);
    RUN(test_create_free_stress_queued);
    RUN(test_new_inside_on_close_immediate);
    RUN(test_new_inside_on_close_queued);
    ws_shutdown(2000);
    raw_stop(g_silent);
    return h_summary();
}
