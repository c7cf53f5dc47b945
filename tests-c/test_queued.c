/*
 * test_queued: WS_DISPATCH_QUEUED and ws_poll(): nothing is dispatched
 * until ws_poll; ws_poll(ws, 0) never blocks; a positive timeout waits, a
 * negative one waits for an event; callbacks run on the polling thread, in
 * order; the return value counts callbacks (at most 65536 per call);
 * immediate sockets have no queue; ws_poll inside its own callback is
 * WS_RESULT_WOULD_DEADLOCK; close() drops messages still in the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include "harness.h"

static raw_server *g_silent;

static rec_t *open_queued(const char *url, ws_options *extra) {
    ws_options *o = extra ? extra : ws_options_new();
    ws_options_set_dispatch(o, WS_DISPATCH_QUEUED);
    rec_t *r = rec_new();
    ws_result res = rec_open(r, url, NULL, 0, o);
    if (!extra) ws_options_free(o);
    if (res != WS_RESULT_OK) {
        h_fail(__FILE__, __LINE__, "ws_new", "%s: %s", ws_result_str(res), ws_last_error());
        rec_unref(r);
        return NULL;
    }
    return r;
}

static void finish(rec_t *r) {
    if (!r) return;
    if (!r->freed_in_cb) ws_free(r->ws);
    rec_check_common(r);
    CHECK_EQ(r->finalized, 1);
    rec_unref(r);
}

static void test_nothing_until_poll(void) {
    rec_t *r = open_queued(h_echo_url("/hello"), NULL);
    REQUIRE(r);
    /* Let the connection open and "hello" arrive: the application has been
       told nothing, so it still reads CONNECTING (SPEC 5: nothing changes
       between two ws_poll calls). */
    h_sleep_ms(h_ms(300));
    CHECK_EQ(rec_n(r), 0); /* nothing without ws_poll */
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CONNECTING);
    CHECK_STR(ws_protocol(r->ws), "");
    int n = ws_poll(r->ws, 0);
    CHECK_EQ(n, 2); /* open and "hello", both waiting */
    CHECK_EQ(rec_n(r), 2);
    CHECK_EQ(rec_get(r, 0).kind, EV_OPEN);
    CHECK_EQ(rec_get(r, 1).kind, EV_MESSAGE);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_OPEN);
    CHECK_EQ(ws_poll(r->ws, 0), 0);
    /* CLOSING at once; the close event, and CLOSED, wait for ws_poll. */
    CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CLOSING);
    h_sleep_ms(h_ms(300));
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CLOSING);
    CHECK_EQ(rec_count(r, EV_CLOSE), 0);
    double deadline = h_now_ms() + h_ms(5000);
    while (rec_count(r, EV_CLOSE) == 0 && h_now_ms() < deadline) ws_poll(r->ws, 50);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CLOSED);
    CHECK_EQ(ws_poll(r->ws, 0), 0);
    finish(r);
}

static void test_poll_zero_never_blocks(void) {
    rec_t *r = open_queued(raw_url(g_silent, "/"), NULL);
    REQUIRE(r);
    double worst = 0, t_all = h_now_ms();
    int nonzero = 0;
    for (int i = 0; i < 1000; i++) {
        double t0 = h_now_ms();
        if (ws_poll(r->ws, 0) != 0) nonzero++;
        double dt = h_now_ms() - t0;
        if (dt > worst) worst = dt;
    }
    CHECK_EQ(nonzero, 0);
    CHECK_MSG(worst < h_ms(20), "slowest ws_poll(ws, 0): %.1f ms", worst);
    CHECK_MSG(h_now_ms() - t_all < h_ms(200), "1000 calls took %.1f ms", h_now_ms() - t_all);
    CHECK_EQ(rec_n(r), 0);
    finish(r);
}

static void test_poll_timeout_waits(void) {
    rec_t *r = open_queued(raw_url(g_silent, "/"), NULL);
    REQUIRE(r);
    double t0 = h_now_ms();
    CHECK_EQ(ws_poll(r->ws, 300), 0);
    double dt = h_now_ms() - t0;
    CHECK_MSG(dt >= 290 && dt < h_ms(1500), "ws_poll(ws, 300) took %.0f ms", dt);
    finish(r);

    /* It returns as soon as an event arrives. */
    r = open_queued(h_echo_url("/"), NULL);
    REQUIRE(r);
    t0 = h_now_ms();
    int n = ws_poll(r->ws, 10000);
    dt = h_now_ms() - t0;
    CHECK_EQ(n, 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 1);
    CHECK_MSG(dt < h_ms(2000), "ws_poll(ws, 10000) took %.0f ms for the open", dt);
    finish(r);
}

static void test_poll_negative_waits_for_event(void) {
    rec_t *r = open_queued(h_echo_url("/"), NULL);
    REQUIRE(r);
    CHECK_EQ(ws_poll(r->ws, -1), 1); /* the open (the watchdog guards a hang) */
    CHECK_EQ(rec_count(r, EV_OPEN), 1);
    CHECK_RES(ws_send_text(r->ws, "ping", 4), WS_RESULT_OK);
    CHECK_EQ(ws_poll(r->ws, -1), 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 1);
    finish(r);

    /* A failure arrives as error + close; -1 waits for it (longer than
     * the 1 s internal wait slice). */
    ws_options *o = ws_options_new();
    ws_options_set_connect_timeout_ms(o, 1300);
    r = open_queued(raw_url(g_silent, "/"), o);
    ws_options_free(o);
    REQUIRE(r);
    double t0 = h_now_ms();
    int n = ws_poll(r->ws, -5);
    double dt = h_now_ms() - t0;
    CHECK_MSG(n >= 1 && n <= 2, "n = %d", n);
    CHECK_MSG(dt >= 1200, "returned after %.0f ms", dt);
    CHECK(rec_poll(r, EV_CLOSE, 1, h_ms(2000)));
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    finish(r);
}

typedef struct {
    rec_t *r;
    int n_msgs;
    pthread_t self;
    int total;
    int errors;
} poller;

static void *poll_until_close(void *arg) {
    poller *p = arg;
    p->self = pthread_self();
    double deadline = h_now_ms() + h_ms(10000);
    while (rec_count(p->r, EV_CLOSE) == 0 && h_now_ms() < deadline) {
        int n = ws_poll(p->r->ws, 20);
        if (n < 0) p->errors++;
        else p->total += n;
    }
    return NULL;
}

static void order_hook(rec_t *r, ws_socket *ws, const event_t *ev) {
    int *sent = r->user;
    /* Send the messages from the callback thread once open; close after the
     * last echo. */
    if (ev->kind == EV_OPEN) {
        char buf[32];
        for (int i = 0; i < *sent; i++) {
            int n = snprintf(buf, sizeof buf, "m%d", i);
            ws_send_text(ws, buf, (size_t)n);
        }
    } else if (ev->kind == EV_MESSAGE && rec_count(r, EV_MESSAGE) == *sent) {
        ws_close(ws, 1000, "done");
    }
}

static void test_dispatch_on_polling_thread_in_order(void) {
    int n_msgs = h_count(200);
    rec_t *r = rec_new();
    r->user = &n_msgs;
    r->hook = order_hook;
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, WS_DISPATCH_QUEUED);
    CHECK_RES(rec_open(r, h_echo_url("/"), NULL, 0, o), WS_RESULT_OK);
    ws_options_free(o);
    poller p = {r, n_msgs, pthread_self(), 0, 0};
    pthread_t t = h_thread(poll_until_close, &p);
    h_join(t);
    CHECK_EQ(p.errors, 0);
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), n_msgs);
    CHECK_EQ(p.total, (int)rec_n(r)); /* ws_poll counts the callbacks it ran */
    int wrong_thread = 0, wrong_order = 0;
    for (size_t i = 0; i < rec_n(r); i++) {
        event_t e = rec_get(r, i);
        if (!pthread_equal(e.thread, p.self)) wrong_thread++;
        if (e.kind == EV_MESSAGE) {
            char want[32];
            int n = snprintf(want, sizeof want, "m%d", (int)i - 1);
            if (e.len != (size_t)n || memcmp(e.data, want, (size_t)n) != 0) wrong_order++;
        }
    }
    CHECK_EQ(wrong_thread, 0);
    CHECK_EQ(wrong_order, 0);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK(c.clean);
    }
    finish(r);
}

static void test_immediate_socket_has_no_queue(void) {
    rec_t *r = rec_new();
    CHECK_RES(rec_open(r, h_echo_url("/hello"), NULL, 0, NULL), WS_RESULT_OK);
    CHECK(rec_wait(r, EV_MESSAGE, 1, h_ms(5000)));
    CHECK_EQ(ws_poll(r->ws, 0), 0);
    double t0 = h_now_ms();
    CHECK_EQ(ws_poll(r->ws, 500), 0); /* no queue: returns at once */
    CHECK_MSG(h_now_ms() - t0 < h_ms(100), "took %.0f ms", h_now_ms() - t0);
    CHECK_EQ(ws_poll(r->ws, -1), 0);
    /* Immediate callbacks run on a library thread. */
    CHECK(!pthread_equal(rec_get(r, 0).thread, pthread_self()));
    ws_close(r->ws, 1000, NULL);
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    finish(r);
}

typedef struct {
    int self_result[4];
    int n_self;
    int other_result;
    ws_socket *other;
    char message[256];
} deadlock_probe;

static void poll_self_hook(rec_t *r, ws_socket *ws, const event_t *ev) {
    deadlock_probe *d = r->user;
    if (d->n_self < 4) {
        d->self_result[d->n_self++] = ws_poll(ws, ev->kind == EV_OPEN ? 0 : 200);
        snprintf(d->message, sizeof d->message, "%s", ws_last_error());
    }
    if (ev->kind == EV_OPEN && d->other) d->other_result = ws_poll(d->other, h_ms(3000));
}

static void test_poll_inside_own_callback(void) {
    deadlock_probe d = {{0}, 0, -100, NULL, ""};
    rec_t *other = open_queued(h_echo_url("/hello"), NULL);
    REQUIRE(other);
    d.other = other->ws;
    rec_t *r = rec_new();
    r->user = &d;
    r->hook = poll_self_hook;
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, WS_DISPATCH_QUEUED);
    CHECK_RES(rec_open(r, h_echo_url("/hello"), NULL, 0, o), WS_RESULT_OK);
    ws_options_free(o);
    double t0 = h_now_ms();
    CHECK(rec_poll(r, EV_MESSAGE, 1, h_ms(5000)));
    CHECK_EQ(d.n_self, 2);
    CHECK_EQ(d.self_result[0], -(int)WS_RESULT_WOULD_DEADLOCK);
    CHECK_EQ(d.self_result[1], -(int)WS_RESULT_WOULD_DEADLOCK); /* even with a timeout: no wait */
    CHECK_MSG(strlen(d.message) > 0, "ws_last_error() inside the callback is empty");
    /* Polling ANOTHER queued socket from a callback is fine. */
    CHECK_MSG(d.other_result >= 1, "ws_poll(other) = %d", d.other_result);
    CHECK_EQ(rec_count(other, EV_OPEN), 1);
    CHECK_MSG(h_now_ms() - t0 < h_ms(4000), "took %.0f ms", h_now_ms() - t0);
    /* After the callback, polling is allowed again. */
    CHECK_EQ(ws_poll(r->ws, 0), 0);
    finish(r);
    finish(other);
}

static void test_close_drops_queued_messages(void) {
    rec_t *r = open_queued(h_echo_url("/count/5/10"), NULL);
    REQUIRE(r);
    /* Wait (without polling) until the messages are surely queued; the
       application still reads CONNECTING. */
    h_sleep_ms(h_ms(300));
    CHECK_EQ(rec_n(r), 0);
    CHECK_EQ(ws_ready_state(r->ws), WS_STATE_CONNECTING);
    CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
    /* Poll by hand, adding up what ws_poll says it ran. */
    int ran = 0;
    double deadline = h_now_ms() + h_ms(5000);
    while (rec_count(r, EV_CLOSE) == 0 && h_now_ms() < deadline) {
        int n = ws_poll(r->ws, 10);
        CHECK(n >= 0);
        if (n > 0) ran += n;
    }
    /* The application had seen nothing, so it was still CONNECTING when it
       called close(): as in the browser, that fails the connection even
       though the network side had opened. No open, no message. */
    CHECK_EQ(rec_count(r, EV_CLOSE), 1);
    CHECK_EQ(rec_count(r, EV_OPEN), 0);
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 0); /* queued before close(), delivered after: dropped */
    /* "returns how many callbacks it ran": error and close only. */
    CHECK_MSG(ran == (int)rec_n(r), "ws_poll returned %d in total for %zu callbacks (%s)", ran, rec_n(r),
              rec_describe(r));
    finish(r);
}

typedef struct {
    rec_t *r;
    int target;
    int errors;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int ready;
} multi_poller;

static void *poll_until_count(void *arg) {
    multi_poller *p = arg;
    /* Start together, for as much contention as possible. */
    pthread_mutex_lock(&p->mu);
    if (++p->ready == 4) pthread_cond_broadcast(&p->cv);
    while (p->ready < 4) pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    double deadline = h_now_ms() + h_ms(20000);
    while (rec_count(p->r, EV_MESSAGE) < p->target && h_now_ms() < deadline) {
        if (ws_poll(p->r->ws, 5) < 0) p->errors++;
    }
    return NULL;
}

/* Every function may be called from any thread, concurrently: several
 * threads polling one queued socket still get its callbacks one at a time
 * and in order. The race is timing-dependent: up to 5 rounds. */
static void test_concurrent_pollers_keep_order(void) {
    int n = h_count(20000), rounds = 5, sent = 0;
    rec_t *r = open_queued(h_echo_url("/"), NULL);
    REQUIRE(r);
    r->store_data = true;
    REQUIRE(rec_poll(r, EV_OPEN, 1, h_ms(5000)));
    int inversions = 0, first_bad = -1, prev = -1, round = 0;
    size_t checked = 0;
    char seq[128] = "";
    for (round = 0; round < rounds && inversions == 0; round++) {
        char buf[32];
        for (int i = 0; i < n; i++, sent++) {
            int len = snprintf(buf, sizeof buf, "%d", sent);
            ws_send_text(r->ws, buf, (size_t)len);
        }
        /* Let the echoes arrive and wait in the queue. */
        double deadline = h_now_ms() + h_ms(3000);
        while (ws_buffered_amount(r->ws) > 0 && h_now_ms() < deadline) h_sleep_ms(5);
        h_sleep_ms(h_ms(300));
        multi_poller p = {r, sent, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
        pthread_t t[4];
        for (int i = 0; i < 4; i++) t[i] = h_thread(poll_until_count, &p);
        for (int i = 0; i < 4; i++) h_join(t[i]);
        CHECK_EQ(p.errors, 0);
        CHECK_EQ(rec_count(r, EV_MESSAGE), sent);
        /* Inversions: a message dispatched after a later one. */
        for (; checked < rec_n(r); checked++) {
            event_t e = rec_get(r, checked);
            if (e.kind != EV_MESSAGE) continue;
            int v = atoi((const char *)e.data);
            if (v < prev) {
                if (first_bad < 0) {
                    first_bad = (int)checked;
                    snprintf(seq, sizeof seq, "... %d, %d ...", prev, v);
                }
                inversions++;
            }
            prev = v;
        }
    }
    CHECK_MSG(inversions == 0, "%d inversions within %d round(s) of %d messages; first at callback #%d: %s",
              inversions, round, n, first_bad, seq);
    ws_close(r->ws, 1000, NULL);
    CHECK(rec_poll(r, EV_CLOSE, 1, h_ms(5000)));
    finish(r); /* rec_check_common: one callback at a time */
}

static void test_close_from_queued_callbacks(void) {
    rec_t *r = rec_new();
    r->close_on = EV_MESSAGE;
    r->close_code = 4000;
    r->close_reason = "from on_message";
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, WS_DISPATCH_QUEUED);
    CHECK_RES(rec_open(r, h_echo_url("/count/3/10"), NULL, 0, o), WS_RESULT_OK);
    ws_options_free(o);
    CHECK(rec_poll(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_RES(r->close_result, WS_RESULT_OK);
    CHECK_EQ(rec_count(r, EV_MESSAGE), 1); /* the other two came after close() */
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 4000);
        CHECK(c.clean);
    }
    finish(r);
}

static void test_poll_dispatch_cap(void) {
    /* At most 65536 callbacks per call. */
    const int n = 66000;
    rec_t *r = open_queued(h_echo_url("/count/66000/1"), NULL);
    REQUIRE(r);
    r->store_data = false;
    h_sleep_ms(h_ms(1500)); /* everything arrives meanwhile (the application still sees CONNECTING) */
    int a = ws_poll(r->ws, 0);
    int b = ws_poll(r->ws, 0);
    CHECK_EQ(a, 65536);
    CHECK_EQ(a + b, n + 1);
    CHECK_EQ(rec_count(r, EV_MESSAGE), n);
    finish(r);
}

/* ---------------------------------------------------------------------- */
/* Flow control: ws_options_set_max_queued_bytes                           */

#define FLOOD_FRAME (64 * 1024)

typedef struct {
    int frames;             /* to send */
    pthread_mutex_t mu;
    long long stalled_at;   /* bytes written when the first 500 ms stall began, -1: none */
    long long written;
    int client_close;       /* code of the client's Close reply */
} flood_t;

/* Handshake, then `frames` binary frames of 64 KiB (first byte = index),
 * written without blocking; records where writing first stalled for
 * 500 ms (the client stopped reading), then keeps going as the client
 * reads; then Close 1000 and waits for the reply. */
static void flood_handler(raw_server *s, int fd) {
    flood_t *f = raw_arg(s);
    char head[8192];
    if (!raw_read_head(s, fd, head, sizeof head, 10000) || !raw_accept_ws(fd, head, NULL, NULL, 0)) return;
    int small = 64 * 1024;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    uint8_t *frame = malloc(FLOOD_FRAME + 16);
    uint8_t *payload = calloc(1, FLOOD_FRAME);
    long long written = 0;
    bool ok = true;
    for (int i = 0; i < f->frames && ok; i++) {
        payload[0] = (uint8_t)i;
        size_t len = ws_frame(frame, 2, payload, FLOOD_FRAME), off = 0;
        while (off < len) {
            ssize_t n = send(fd, frame + off, len - off, MSG_NOSIGNAL);
            if (n > 0) {
                off += (size_t)n;
                written += n;
                continue;
            }
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                ok = false;
                break;
            }
            struct pollfd p = {fd, POLLOUT, 0};
            int r = poll(&p, 1, 500);
            if (r == 0) {
                pthread_mutex_lock(&f->mu);
                if (f->stalled_at < 0) f->stalled_at = written;
                pthread_mutex_unlock(&f->mu);
                if (poll(&p, 1, 20000) <= 0) { /* the test polls meanwhile */
                    ok = false;
                    break;
                }
            }
        }
    }
    pthread_mutex_lock(&f->mu);
    f->written = written;
    pthread_mutex_unlock(&f->mu);
    free(frame);
    free(payload);
    if (ok) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        uint8_t c[8];
        raw_write(fd, c, ws_frame(c, 8, "\x03\xe8", 2));
        int op;
        uint8_t pl[128];
        size_t n;
        while (raw_read_frame(s, fd, &op, pl, sizeof pl, &n, 10000)) {
            if (op == 8) {
                pthread_mutex_lock(&f->mu);
                f->client_close = n >= 2 ? (pl[0] << 8 | pl[1]) : 1005;
                pthread_mutex_unlock(&f->mu);
                break;
            }
        }
    }
    raw_set_value(s, 1);
}

static long long flood_stalled_at(flood_t *f) {
    pthread_mutex_lock(&f->mu);
    long long v = f->stalled_at;
    pthread_mutex_unlock(&f->mu);
    return v;
}

/* Sends `frames` x 64 KiB to a queued socket with the given limit; the
 * test does not poll for 2 s. Returns where the server stalled (-1: never). */
static long long flood(uint64_t limit, int frames) {
    flood_t f = {frames, PTHREAD_MUTEX_INITIALIZER, -1, 0, 0};
    raw_server *s = raw_start(flood_handler, &f);
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_max_queued_bytes(o, limit), WS_RESULT_OK);
    rec_t *r = open_queued(raw_url(s, "/"), o);
    ws_options_free(o);
    if (!r) {
        raw_stop(s);
        return -2;
    }
    r->store_data = false;
    CHECK(rec_poll(r, EV_OPEN, 1, h_ms(5000)));
    /* Not polling: with a limit the server must stall. */
    double deadline = h_now_ms() + h_ms(2000);
    while (flood_stalled_at(&f) < 0 && h_now_ms() < deadline) h_sleep_ms(20);
    long long stalled = flood_stalled_at(&f);
    /* Now read everything: nothing lost, in order, then the server's Close. */
    CHECK_MSG(rec_poll(r, EV_CLOSE, 1, h_ms(30000)), "limit %llu: %d of %d messages; events: %s",
              (unsigned long long)limit, rec_count(r, EV_MESSAGE), frames, rec_describe(r));
    CHECK_EQ(rec_count(r, EV_MESSAGE), frames);
    int bad = 0;
    for (size_t i = 0, m = 0; i < rec_n(r); i++) {
        event_t e = rec_get(r, i);
        if (e.kind != EV_MESSAGE) continue;
        if (e.len != FLOOD_FRAME) bad++;
        m++;
    }
    CHECK_EQ(bad, 0);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK(c.clean);
    }
    raw_wait_value(s, h_ms(5000));
    finish(r);
    raw_stop(s);
    pthread_mutex_destroy(&f.mu);
    return stalled;
}

static void test_max_queued_bytes_flow_control(void) {
    const int frames = 512; /* 32 MiB */
    long long limited = flood(256 * 1024, frames);
    long long unlimited = flood(0, frames);
    h_note("server stalled after %lld KiB with a 256 KiB limit; %s without a limit", limited / 1024,
           unlimited < 0 ? "never stalled" : "stalled");
    CHECK_MSG(limited >= 0, "the server never stalled: the 256 KiB limit did not hold the socket back");
    CHECK_MSG(limited < 16LL * 1024 * 1024, "the server wrote %lld KiB before stalling", limited / 1024);
    CHECK_MSG(unlimited < 0 || unlimited > limited, "without a limit the server stalled at %lld KiB", unlimited / 1024);
}

static void test_max_queued_bytes_edges(void) {
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_max_queued_bytes(NULL, 10), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_max_queued_bytes(o, 0), WS_RESULT_OK);
    CHECK_RES(ws_options_set_max_queued_bytes(o, UINT64_MAX), WS_RESULT_OK);
    /* A single message larger than the limit is still delivered. */
    CHECK_RES(ws_options_set_max_queued_bytes(o, 1024), WS_RESULT_OK);
    rec_t *r = open_queued(h_echo_url("/count/3/4096"), o);
    REQUIRE(r);
    h_sleep_ms(h_ms(200));
    CHECK(rec_poll(r, EV_MESSAGE, 3, h_ms(5000)));
    finish(r);

    /* After ws_close() the limit no longer applies: the closing handshake
     * completes although 16 MiB are waiting behind the limit. */
    CHECK_RES(ws_options_set_max_queued_bytes(o, 64 * 1024), WS_RESULT_OK);
    r = open_queued(h_echo_url("/count/2048/8192"), o);
    REQUIRE(r);
    CHECK(rec_poll(r, EV_OPEN, 1, h_ms(5000)));
    h_sleep_ms(h_ms(300));
    double t0 = h_now_ms();
    CHECK_RES(ws_close(r->ws, 1000, NULL), WS_RESULT_OK);
    CHECK_MSG(rec_poll(r, EV_CLOSE, 1, h_ms(6000)), "events: %s", rec_describe(r));
    h_note("closed %.0f ms after ws_close()", h_now_ms() - t0);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) {
        event_t c = rec_get(r, (size_t)k);
        CHECK_EQ(c.code, 1000);
        CHECK(c.clean);
    }
    finish(r);
    ws_options_free(o);
}

static void test_poll_forever_after_close_returns(void) {
    rec_t *r = open_queued(h_echo_url("/close/4001"), NULL);
    REQUIRE(r);
    CHECK(rec_poll(r, EV_CLOSE, 1, h_ms(5000)));
    double t0 = h_now_ms();
    CHECK_EQ(ws_poll(r->ws, -1), 0); /* CLOSED, on_close dispatched: nothing will come */
    CHECK_MSG(h_now_ms() - t0 < h_ms(1000), "took %.0f ms", h_now_ms() - t0);
    finish(r);
}

int main(void) {
    h_init("test_queued", 60);
    g_silent = raw_start(raw_silent, NULL);
    RUN(test_nothing_until_poll);
    RUN(test_poll_zero_never_blocks);
    RUN(test_poll_timeout_waits);
    RUN(test_poll_negative_waits_for_event);
    RUN(test_dispatch_on_polling_thread_in_order);
    RUN(test_immediate_socket_has_no_queue);
    RUN(test_poll_inside_own_callback);
    RUN(test_close_drops_queued_messages);
    RUN(test_concurrent_pollers_keep_order);
    RUN(test_close_from_queued_callbacks);
    RUN(test_poll_dispatch_cap);
    RUN(test_max_queued_bytes_edges);
    RUN(test_max_queued_bytes_flow_control);
    RUN(test_poll_forever_after_close_returns);
    ws_shutdown(2000);
    raw_stop(g_silent);
    return h_summary();
}
