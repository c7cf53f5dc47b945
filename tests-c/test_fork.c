/*
 * test_fork: fork() after the library's runtime has started (the header's
 * fork rule). The parent opens two sockets (immediate and queued) and
 * forks; in the child:
 *   - the inherited sockets are dead: WS_STATE_CLOSED, sends, ws_close and
 *     ws_poll (even ws_poll(-1)) return WS_RESULT_FORKED_SOCKET at once;
 *   - a new socket opens, echoes and closes cleanly, within a bounded time
 *     (the child starts its own runtime);
 *   - the connect timeout works (error then close 1006);
 *   - ws_free() of an inherited socket runs its finalizer once, on the
 *     calling thread, and sends nothing;
 *   - ws_shutdown() returns promptly (it does not wait for the parent's
 *     connections).
 * Then the parent's sockets still work: the child wrote nothing on them.
 * A child that hangs is killed and reported.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static raw_server *g_silent; /* accepts, never answers: a connect timeout */

static bool wait_mode(rec_t *r, bool queued, ev_kind kind, int n, int ms) {
    return queued ? rec_poll(r, kind, n, ms) : rec_wait(r, kind, n, ms);
}

static ws_result open_mode(rec_t *r, const char *url, bool queued, uint64_t connect_timeout_ms) {
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, queued ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE);
    if (connect_timeout_ms) ws_options_set_connect_timeout_ms(o, connect_timeout_ms);
    ws_result res = rec_open(r, url, NULL, 0, o);
    ws_options_free(o);
    return res;
}

/* Sends `text` and waits for its echo (the n-th message). */
static void echo_round_trip(rec_t *r, bool queued, const char *text, int n) {
    CHECK_RES(ws_send_text(r->ws, text, strlen(text)), WS_RESULT_OK);
    REQUIRE_MSG(wait_mode(r, queued, EV_MESSAGE, n, h_ms(5000)), "events: %s", rec_describe(r));
    event_t e = rec_get(r, (size_t)rec_find(r, EV_MESSAGE, n - 1));
    CHECK_EQ(e.len, strlen(text));
    CHECK(e.data && memcmp(e.data, text, e.len) == 0);
}

static void inherited_is_dead(rec_t *r, bool queued) {
    ws_socket *ws = r->ws;
    CHECK_EQ(ws_ready_state(ws), WS_STATE_CLOSED);
    CHECK_RES(ws_send_text(ws, "x", 1), WS_RESULT_FORKED_SOCKET);
    CHECK_MSG(strstr(ws_last_error(), "fork") != NULL, "message: %s", ws_last_error());
    CHECK_RES(ws_send_binary(ws, (const uint8_t *)"x", 1), WS_RESULT_FORKED_SOCKET);
    CHECK_RES(ws_close(ws, 1000, "child"), WS_RESULT_FORKED_SOCKET);
    CHECK_EQ(ws_buffered_amount(ws), 0);
    CHECK_STR(ws_url(ws), "");
    CHECK_STR(ws_protocol(ws), "");
    double t0 = h_now_ms();
    CHECK_EQ(ws_poll(ws, queued ? -1 : 10), -(int)WS_RESULT_FORKED_SOCKET);
    CHECK(h_now_ms() - t0 < h_ms(1000));
    int events = (int)rec_n(r);
    ws_free(ws);
    CHECK_EQ(r->finalized, 1);
    CHECK(pthread_equal(r->final_thread, pthread_self()));
    CHECK_EQ((int)rec_n(r), events); /* no callback in the child */
    ws_free(ws);                      /* a second free does nothing */
    CHECK_EQ(r->finalized, 1);
}

static void child_new_socket_works(bool queued) {
    rec_t *r = rec_new();
    REQUIRE_RES(open_mode(r, h_echo_url("/"), queued, 0), WS_RESULT_OK);
    REQUIRE_MSG(wait_mode(r, queued, EV_OPEN, 1, h_ms(5000)), "no open in the child: %s", rec_describe(r));
    echo_round_trip(r, queued, "from the child", 1);
    CHECK_RES(ws_close(r->ws, 1000, "child done"), WS_RESULT_OK);
    CHECK_MSG(wait_mode(r, queued, EV_CLOSE, 1, h_ms(5000)), "events: %s", rec_describe(r));
    event_t e = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
    CHECK_EQ(e.code, 1000);
    CHECK(e.clean);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
}

static void child_connect_timeout_works(void) {
    rec_t *r = rec_new();
    double t0 = h_now_ms();
    REQUIRE_RES(open_mode(r, raw_url(g_silent, "/"), false, 300), WS_RESULT_OK);
    CHECK_MSG(rec_wait(r, EV_CLOSE, 1, h_ms(5000)), "no close after the connect timeout: %s", rec_describe(r));
    CHECK_EQ(rec_count(r, EV_ERROR), 1);
    int k = rec_find(r, EV_CLOSE, 0);
    if (k >= 0) CHECK_EQ(rec_get(r, (size_t)k).code, 1006);
    CHECK(h_now_ms() - t0 >= 250);
    ws_free(r->ws);
    rec_check_common(r);
    rec_unref(r);
}

/* The child's part; its failures are printed (same stdout) and give a
 * non-zero exit status. */
static int child_main(rec_t *imm, rec_t *q) {
    alarm(h_slow() ? 150 : 30); /* the watchdog (alarms do not survive fork) */
    inherited_is_dead(imm, false);
    inherited_is_dead(q, true);
    child_new_socket_works(false);
    child_new_socket_works(true);
    child_connect_timeout_works();
    double t0 = h_now_ms();
    CHECK_RES(ws_shutdown(5000), WS_RESULT_OK);
    CHECK_MSG(h_now_ms() - t0 < h_ms(3000), "ws_shutdown in the child took %.0f ms", h_now_ms() - t0);
    ws_socket *late = NULL;
    CHECK_RES(ws_new(h_echo_url("/"), NULL, 0, NULL, NULL, &late), WS_RESULT_SHUT_DOWN);
    return h_current_failed() ? 1 : 0;
}

static void test_fork_after_connecting(void) {
    rec_t *imm = rec_new(), *q = rec_new();
    REQUIRE_RES(open_mode(imm, h_echo_url("/"), false, 0), WS_RESULT_OK);
    REQUIRE_RES(open_mode(q, h_echo_url("/"), true, 0), WS_RESULT_OK);
    REQUIRE(wait_mode(imm, false, EV_OPEN, 1, h_ms(5000)));
    REQUIRE(wait_mode(q, true, EV_OPEN, 1, h_ms(5000)));
    echo_round_trip(imm, false, "before fork", 1);
    echo_round_trip(q, true, "before fork", 1);

    fflush(stdout);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) h_child_exit(child_main(imm, q));
    int status = 0;
    pid_t w = 0;
    double deadline = h_now_ms() + h_ms(30000);
    while ((w = waitpid(child, &status, WNOHANG)) == 0 && h_now_ms() < deadline) h_sleep_ms(10);
    if (w == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        CHECK_MSG(false, "the child hung (killed after 30 s)");
    } else {
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child: %s %d (failures above)",
                  WIFEXITED(status) ? "exit status" : "signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }

    /* The parent's connections are untouched by the child. */
    CHECK_EQ(ws_ready_state(imm->ws), WS_STATE_OPEN);
    CHECK_EQ(ws_ready_state(q->ws), WS_STATE_OPEN);
    echo_round_trip(imm, false, "after fork", 2);
    echo_round_trip(q, true, "after fork", 2);
    CHECK_EQ(rec_count(imm, EV_CLOSE) + rec_count(q, EV_CLOSE), 0);
    ws_free(imm->ws);
    ws_free(q->ws);
    CHECK_EQ(imm->finalized + q->finalized, 2);
    rec_check_common(imm);
    rec_check_common(q);
    rec_unref(imm);
    rec_unref(q);
}

int main(void) {
    h_init("test_fork", 90);
    g_silent = raw_start(raw_silent, NULL);
    RUN(test_fork_after_connecting);
    ws_shutdown(2000);
    raw_stop(g_silent);
    return h_summary();
}
