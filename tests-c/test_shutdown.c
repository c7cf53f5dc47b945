/*
 * test_shutdown: ws_shutdown(). Runs in phases, in this order:
 *   1. ws_shutdown() from inside immediate callbacks (on_open, on_message,
 *      on_error, on_close) returns WS_RESULT_WOULD_DEADLOCK and changes
 *      nothing: the library keeps working;
 *   2. sockets in every state (open immediate, connecting immediate, open
 *      queued, connecting queued, a server that never answers the Close,
 *      one already closed), then ws_shutdown(): every socket gets exactly
 *      one on_close (immediate ones before ws_shutdown returns, queued ones
 *      through ws_poll), within the bounded time;
 *   3. afterwards ws_new() is WS_RESULT_SHUT_DOWN, ws_shutdown() again is
 *      OK, the sockets still answer and are freed cleanly.
 * Plus, in a child process forked before the library is used,
 * ws_shutdown() from an atexit() handler.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static raw_server *g_silent;
static raw_server *g_mute; /* completes the handshake, never answers a Close */

static void mute_handler(raw_server *s, int fd) {
    char head[8192];
    if (raw_read_head(s, fd, head, sizeof head, 10000) && raw_accept_ws(fd, head, NULL, NULL, 0)) raw_hold(s, fd);
}

/* Threads of this process named by the library's runtime. */
static int library_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(name, sizeof name, f) && strncmp(name, "wsnative", 8) == 0) n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------- */
/* Phase 1                                                                 */

typedef struct {
    ws_result results[8];
    int n;
} shutdown_probe;

static void shutdown_in_callback(rec_t *r, ws_socket *ws, const event_t *ev) {
    (void)ws;
    (void)ev;
    shutdown_probe *p = r->user;
    if (p->n < 8) p->results[p->n++] = ws_shutdown(100);
}

static rec_t *g_survivor; /* phase 1's /hello socket, still open in phase 2 */

static void test_shutdown_inside_callbacks(void) {
    shutdown_probe p1 = {{0}, 0}, p2 = {{0}, 0}, p3 = {{0}, 0};
    /* on_open and on_message */
    rec_t *a = rec_new();
    a->user = &p1;
    a->hook = shutdown_in_callback;
    REQUIRE_RES(rec_open(a, h_echo_url("/hello"), NULL, 0, NULL), WS_RESULT_OK);
    CHECK(rec_wait(a, EV_MESSAGE, 1, h_ms(5000)));
    /* on_close */
    rec_t *b = rec_new();
    b->user = &p2;
    b->hook = shutdown_in_callback;
    REQUIRE_RES(rec_open(b, h_echo_url("/close/4001"), NULL, 0, NULL), WS_RESULT_OK);
    CHECK(rec_wait(b, EV_CLOSE, 1, h_ms(5000)));
    /* on_error (then on_close) */
    rec_t *c = rec_new();
    c->user = &p3;
    c->hook = shutdown_in_callback;
    REQUIRE_RES(rec_open(c, h_refused_url(), NULL, 0, NULL), WS_RESULT_OK);
    CHECK(rec_wait(c, EV_CLOSE, 1, h_ms(5000)));

    CHECK_EQ(p1.n, 2);
    CHECK_EQ(p2.n, 2);
    CHECK_EQ(p3.n, 2);
    for (int i = 0; i < p1.n; i++) CHECK_RES(p1.results[i], WS_RESULT_WOULD_DEADLOCK);
    for (int i = 0; i < p2.n; i++) CHECK_RES(p2.results[i], WS_RESULT_WOULD_DEADLOCK);
    for (int i = 0; i < p3.n; i++) CHECK_RES(p3.results[i], WS_RESULT_WOULD_DEADLOCK);

    /* Nothing was shut down: the open socket still echoes, new sockets work. */
    a->hook = NULL;
    CHECK_EQ(ws_ready_state(a->ws), WS_STATE_OPEN);
    CHECK_RES(ws_send_text(a->ws, "still here", 10), WS_RESULT_OK);
    CHECK(rec_wait(a, EV_MESSAGE, 2, h_ms(5000)));
    rec_t *d = rec_new();
    CHECK_RES(rec_open(d, h_echo_url("/"), NULL, 0, NULL), WS_RESULT_OK);
    CHECK(rec_wait(d, EV_OPEN, 1, h_ms(5000)));
    ws_free(d->ws);
    rec_unref(d);
    ws_free(b->ws);
    ws_free(c->ws);
    rec_check_common(b);
    rec_check_common(c);
    rec_unref(b);
    rec_unref(c);
    g_survivor = a; /* stays open for phase 2 */
}

/* ---------------------------------------------------------------------- */
/* Phases 2 and 3                                                          */

typedef struct {
    const char *name;
    rec_t *r;
    bool queued;
    bool was_open;
} entry;

static rec_t *make(const char *url, bool queued) {
    rec_t *r = rec_new();
    ws_options *o = ws_options_new();
    if (queued) ws_options_set_dispatch(o, WS_DISPATCH_QUEUED);
    ws_result res = rec_open(r, url, NULL, 0, o);
    ws_options_free(o);
    if (res != WS_RESULT_OK) {
        h_fail(__FILE__, __LINE__, "ws_new", "%s: %s", url, ws_result_str(res));
        rec_unref(r);
        return NULL;
    }
    return r;
}

static void test_shutdown_closes_everything(void) {
    REQUIRE(g_survivor != NULL);
    entry e[] = {
        {"open immediate", make(h_echo_url("/"), false), false, true},
        {"connecting immediate", make(raw_url(g_silent, "/"), false), false, false},
        {"open queued", make(h_echo_url("/"), true), true, true},
        {"connecting queued", make(raw_url(g_silent, "/"), true), true, false},
        {"open, server mute", make(raw_url(g_mute, "/"), false), false, true},
        {"already closed", make(h_echo_url("/close/4001"), false), false, true},
        {"phase-1 survivor", g_survivor, false, true},
    };
    const int n = (int)(sizeof e / sizeof e[0]);
    for (int i = 0; i < n; i++) REQUIRE(e[i].r != NULL);
    /* Bring each to its state. */
    CHECK(rec_wait(e[0].r, EV_OPEN, 1, h_ms(5000)));
    CHECK(rec_poll(e[2].r, EV_OPEN, 1, h_ms(5000)));
    CHECK(rec_wait(e[4].r, EV_OPEN, 1, h_ms(5000)));
    CHECK(rec_wait(e[5].r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_EQ(ws_ready_state(e[1].r->ws), WS_STATE_CONNECTING);
    CHECK_EQ(ws_ready_state(e[3].r->ws), WS_STATE_CONNECTING);
    /* A message waiting in the queued socket's queue. */
    CHECK_RES(ws_send_text(e[2].r->ws, "queued", 6), WS_RESULT_OK);
    h_sleep_ms(h_ms(100));

    int before = library_threads();
    CHECK_MSG(before > 0, "no library thread found before ws_shutdown (%d)", before);
    int timeout = 1500;
    double t0 = h_now_ms();
    CHECK_RES(ws_shutdown((uint64_t)timeout), WS_RESULT_OK);
    double dt = h_now_ms() - t0;
    /* The mute server holds it up to the timeout; joining the threads
     * takes at most about one more second. */
    CHECK_MSG(dt < timeout + h_ms(2000), "ws_shutdown took %.0f ms", dt);
    h_note("ws_shutdown(%d) took %.0f ms", timeout, dt);
    /* "Then the library's threads are joined." */
    int after = library_threads();
    CHECK_MSG(after == 0, "%d library threads still running after ws_shutdown (%d before)", after, before);

    /* Immediate sockets: on_close already delivered, exactly once. */
    for (int i = 0; i < n; i++) {
        if (e[i].queued) continue;
        CHECK_MSG(rec_count(e[i].r, EV_CLOSE) == 1, "%s: %s", e[i].name, rec_describe(e[i].r));
        CHECK_EQ(ws_ready_state(e[i].r->ws), WS_STATE_CLOSED);
    }
    /* Queued sockets: on_close is in their queue. */
    for (int i = 0; i < n; i++) {
        if (!e[i].queued) continue;
        CHECK_MSG(rec_poll(e[i].r, EV_CLOSE, 1, h_ms(3000)), "%s: %s", e[i].name, rec_describe(e[i].r));
        CHECK_EQ(ws_poll(e[i].r->ws, 0), 0);
        CHECK_EQ(ws_ready_state(e[i].r->ws), WS_STATE_CLOSED);
    }
    /* Connecting ones failed: error, then 1006. */
    CHECK_EQ(rec_count(e[1].r, EV_ERROR), 1);
    CHECK_EQ(rec_count(e[3].r, EV_ERROR), 1);
    for (int i = 0; i < n; i++) {
        int k = rec_find(e[i].r, EV_CLOSE, 0);
        if (k < 0) continue;
        event_t c = rec_get(e[i].r, (size_t)k);
        if (i == 5) CHECK_EQ(c.code, 4001); /* closed before: unchanged */
        if (i == 1 || i == 3 || i == 4) {
            CHECK_MSG(c.code == 1006 && !c.clean, "%s: %s", e[i].name, rec_describe(e[i].r));
        }
        if (i == 0 || i == 2 || i == 6) {
            /* The echo server answers the 1001: normally a clean close;
             * 1006 is allowed if the handshake was cut short. */
            CHECK_MSG((c.code == 1001 && c.clean) || c.code == 1006, "%s: %s", e[i].name, rec_describe(e[i].r));
        }
    }

    /* Phase 3: the library is shut down. */
    rec_t *late = rec_new();
    late->ws = (ws_socket *)1;
    CHECK_RES(rec_open(late, h_echo_url("/"), NULL, 0, NULL), WS_RESULT_SHUT_DOWN);
    CHECK(late->ws == NULL);
    CHECK(strlen(ws_last_error()) > 0);
    h_sleep_ms(20);
    CHECK_EQ(late->finalized, 0);
    rec_unref(late);
    ws_socket *q = NULL;
    ws_options *o = ws_options_new(); /* options need no runtime */
    CHECK_RES(ws_options_set_dispatch(o, WS_DISPATCH_QUEUED), WS_RESULT_OK);
    CHECK_RES(ws_new(h_echo_url("/"), NULL, 0, o, NULL, &q), WS_RESULT_SHUT_DOWN);
    CHECK(q == NULL);
    ws_options_free(o);

    t0 = h_now_ms();
    CHECK_RES(ws_shutdown(1000), WS_RESULT_OK); /* again: nothing to do */
    CHECK_RES(ws_shutdown(0), WS_RESULT_OK);
    CHECK(h_now_ms() - t0 < h_ms(100));

    /* The sockets still answer (CLOSED), then are freed cleanly. */
    for (int i = 0; i < n; i++) {
        ws_socket *ws = e[i].r->ws;
        uint64_t b = ws_buffered_amount(ws);
        CHECK_RES(ws_send_text(ws, "late", 4), WS_RESULT_OK);
        CHECK_EQ(ws_buffered_amount(ws), b + 4);
        CHECK_RES(ws_close(ws, 1000, NULL), WS_RESULT_OK);
        CHECK(strlen(ws_url(ws)) > 0);
        CHECK_EQ(ws_poll(ws, 0), 0);
    }
    h_sleep_ms(h_ms(100));
    for (int i = 0; i < n; i++) {
        CHECK_MSG(rec_count(e[i].r, EV_CLOSE) == 1, "%s: %s", e[i].name, rec_describe(e[i].r));
        ws_free(e[i].r->ws);
        CHECK_EQ(e[i].r->finalized, 1);
        CHECK(pthread_equal(e[i].r->final_thread, pthread_self()));
        rec_check_common(e[i].r);
        rec_unref(e[i].r);
    }
    g_survivor = NULL;
}

/* ---------------------------------------------------------------------- */
/* ws_shutdown() in an atexit() handler, in a child process                */

static ws_socket *g_child_ws;
static volatile int g_child_closes;

static void child_on_close(ws_socket *ws, uint16_t code, const char *reason, size_t len, bool clean, void *ud) {
    (void)ws, (void)code, (void)reason, (void)len, (void)clean, (void)ud;
    __atomic_add_fetch(&g_child_closes, 1, __ATOMIC_SEQ_CST);
}

static void child_atexit(void) {
    ws_result r = ws_shutdown(2000);
    if (r != WS_RESULT_OK) _exit(4);
    if (__atomic_load_n(&g_child_closes, __ATOMIC_SEQ_CST) != 1) _exit(5);
    ws_free(g_child_ws);
}

static int child_main(const char *url) {
    atexit(child_atexit);
    ws_callbacks cb = {NULL, NULL, NULL, child_on_close, NULL, NULL};
    if (ws_new(url, NULL, 0, NULL, &cb, &g_child_ws) != WS_RESULT_OK) return 2;
    double deadline = h_now_ms() + h_ms(5000);
    while (ws_ready_state(g_child_ws) != WS_STATE_OPEN && h_now_ms() < deadline) h_sleep_ms(5);
    if (ws_ready_state(g_child_ws) != WS_STATE_OPEN) return 3;
    return 0; /* exit() runs child_atexit */
}

static pid_t g_child = -1;

/* Two threads call ws_shutdown() at once; each return must mean what the
 * header says: every socket got its on_close and the library's threads
 * are joined (so the library may be unloaded). Exit status: 0 good,
 * 6 the second call returned before the sockets were closed, 7 before the
 * threads were joined, other: setup failed. */
static void *child_first_shutdown(void *arg) {
    (void)arg;
    ws_shutdown(1500);
    return NULL;
}

static int concurrent_child_main(void) {
    raw_server *mute = raw_start(mute_handler, NULL);
    ws_callbacks cb = {NULL, NULL, NULL, child_on_close, NULL, NULL};
    ws_socket *ws = NULL;
    if (ws_new(raw_url(mute, "/"), NULL, 0, NULL, &cb, &ws) != WS_RESULT_OK) return 2;
    double deadline = h_now_ms() + h_ms(5000);
    while (ws_ready_state(ws) != WS_STATE_OPEN && h_now_ms() < deadline) h_sleep_ms(5);
    if (ws_ready_state(ws) != WS_STATE_OPEN) return 3;
    /* The mute server never answers the Close: the first call takes ~1.5 s. */
    pthread_t t = h_thread(child_first_shutdown, NULL);
    h_sleep_ms(200);
    double t0 = h_now_ms();
    ws_result r = ws_shutdown(1500);
    double dt = h_now_ms() - t0;
    int closes = __atomic_load_n(&g_child_closes, __ATOMIC_SEQ_CST);
    int threads = library_threads();
    h_join(t);
    printf("    note: the second, concurrent ws_shutdown returned %s after %.0f ms; on_close %d, "
           "library threads left %d\n", ws_result_str(r), dt, closes, threads);
    fflush(stdout);
    ws_free(ws);
    raw_stop(mute);
    if (r != WS_RESULT_OK) return 4;
    if (closes != 1) return 6;
    if (threads != 0) return 7;
    return 0;
}

static pid_t g_child2 = -1;

static void test_concurrent_shutdown(void) {
    REQUIRE(g_child2 > 0);
    int status = 0;
    double deadline = h_now_ms() + h_ms(15000);
    pid_t w = 0;
    while ((w = waitpid(g_child2, &status, WNOHANG)) == 0 && h_now_ms() < deadline) h_sleep_ms(10);
    if (w == 0) {
        kill(g_child2, SIGKILL);
        waitpid(g_child2, &status, 0);
        CHECK_MSG(false, "the child hung");
        return;
    }
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK_MSG(code != 6, "a concurrent ws_shutdown() returned before every socket got its on_close");
    CHECK_MSG(code != 7, "a concurrent ws_shutdown() returned before the library's threads were joined");
    CHECK_MSG(code == 0 || code == 6 || code == 7, "child exit status %d", code);
}

static void test_shutdown_in_atexit(void) {
    REQUIRE(g_child > 0);
    int status = 0;
    double deadline = h_now_ms() + h_ms(15000);
    pid_t w = 0;
    while ((w = waitpid(g_child, &status, WNOHANG)) == 0 && h_now_ms() < deadline) h_sleep_ms(10);
    if (w == 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, &status, 0);
        CHECK_MSG(false, "the child hung in exit()");
        return;
    }
    CHECK(WIFEXITED(status));
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit status %d (4: ws_shutdown failed, "
              "5: no single on_close, other: see above)", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

int main(void) {
    h_init("test_shutdown", 60);
    const char *url = h_echo_url("/");
    fflush(stdout);
    /* Fork before any library use: the child starts its own runtime. */
    g_child = fork();
    if (g_child == 0) exit(child_main(url));
    g_child2 = fork();
    if (g_child2 == 0) exit(concurrent_child_main());
    g_silent = raw_start(raw_silent, NULL);
    g_mute = raw_start(mute_handler, NULL);
    RUN(test_shutdown_inside_callbacks);
    RUN(test_shutdown_closes_everything);
    RUN(test_shutdown_in_atexit);
    RUN(test_concurrent_shutdown);
    if (g_survivor) {
        ws_free(g_survivor->ws);
        rec_unref(g_survivor);
    }
    raw_stop(g_silent);
    raw_stop(g_mute);
    return h_summary();
}
