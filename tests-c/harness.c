/* harness.c: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------- */
/* Assertions and test runner                                              */

static const char *g_program = "test";
static const char *g_current = "(none)";
static int g_passed, g_failed;
static int g_current_failed;
static int g_slow;
static int g_reduce = 1;
static const char *g_only;
static int g_watchdog_s = 60;
static pthread_mutex_t g_print_mu = PTHREAD_MUTEX_INITIALIZER;

void h_fail(const char *file, int line, const char *expr, const char *fmt, ...) {
    pthread_mutex_lock(&g_print_mu);
    fprintf(stdout, "    %s:%d: CHECK failed: %s", file, line, expr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(" (", stdout);
        vfprintf(stdout, fmt, ap);
        fputs(")", stdout);
        va_end(ap);
    }
    fputc('\n', stdout);
    fflush(stdout);
    __atomic_store_n(&g_current_failed, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&g_print_mu);
}

bool h_current_failed(void) { return __atomic_load_n(&g_current_failed, __ATOMIC_SEQ_CST) != 0; }

void h_note(const char *fmt, ...) {
    pthread_mutex_lock(&g_print_mu);
    va_list ap;
    va_start(ap, fmt);
    fputs("    note: ", stdout);
    vfprintf(stdout, fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
    pthread_mutex_unlock(&g_print_mu);
}

static void on_alarm(int sig) {
    (void)sig;
    /* Only async-signal-safe calls here. */
    const char *a = "\n    WATCHDOG: the test ";
    const char *b = " hung; giving up\n";
    ssize_t w = write(1, a, strlen(a));
    w = write(1, g_current, strlen(g_current));
    w = write(1, b, strlen(b));
    char line[128];
    int n = snprintf(line, sizeof line, "%d passed, %d failed\n", g_passed, g_failed + 1);
    w = write(1, line, (size_t)n);
    (void)w;
    _exit(3);
}

void h_init(const char *program, int watchdog_s) {
    g_program = program;
    const char *slow = getenv("WSNATIVE_TEST_SLOW");
    g_slow = slow && *slow && strcmp(slow, "0") != 0;
    const char *reduce = getenv("WSNATIVE_TEST_REDUCE");
    if (reduce && atoi(reduce) > 1) g_reduce = atoi(reduce);
    g_only = getenv("WSNATIVE_TEST_ONLY");
    if (g_only && !*g_only) g_only = NULL;
    g_watchdog_s = watchdog_s > 0 ? watchdog_s : 60;
    if (g_slow) g_watchdog_s *= 4;
    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("%s: wsnative %s%s", g_program, ws_version(), g_slow ? " (slow mode: timeouts x5)" : "");
    if (g_reduce > 1) printf(" (counts / %d)", g_reduce);
    printf("\n");
}

void h_run(const char *name, h_test_fn fn) {
    if (g_only && !strstr(name, g_only)) return;
    g_current = name;
    __atomic_store_n(&g_current_failed, 0, __ATOMIC_SEQ_CST);
    alarm((unsigned)g_watchdog_s);
    double t0 = h_now_ms();
    fn();
    alarm(0);
    double dt = h_now_ms() - t0;
    if (h_current_failed()) {
        g_failed++;
        printf("  FAIL %s (%.0f ms)\n", name, dt);
    } else {
        g_passed++;
        printf("  ok   %s (%.0f ms)\n", name, dt);
    }
    fflush(stdout);
    g_current = "(between tests)";
}

int h_summary(void) {
    printf("%d passed, %d failed\n", g_passed, g_failed);
    fflush(stdout);
    return g_failed > 0 ? 1 : 0;
}

bool h_slow(void) { return g_slow != 0; }
int h_ms(int ms) { return g_slow ? ms * 5 : ms; }
int h_count(int n) { return n / g_reduce > 0 ? n / g_reduce : 1; }

double h_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void h_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char g_urls[8][512];
static int g_url_next;
static pthread_mutex_t g_url_mu = PTHREAD_MUTEX_INITIALIZER;

static char *next_url_buf(void) {
    pthread_mutex_lock(&g_url_mu);
    char *b = g_urls[g_url_next++ % 8];
    pthread_mutex_unlock(&g_url_mu);
    return b;
}

const char *h_echo_url(const char *path) {
    const char *base = getenv("WSNATIVE_ECHO_URL");
    if (!base || !*base) {
        fprintf(stderr, "%s: WSNATIVE_ECHO_URL is not set (run tests-c/run.sh)\n", g_program);
        exit(2);
    }
    char *b = next_url_buf();
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    snprintf(b, 512, "%.*s%s", (int)n, base, path && *path ? path : "/");
    return b;
}

const char *h_refused_url(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    uint16_t port = 1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd); /* nothing listens there now */
    char *b = next_url_buf();
    snprintf(b, 512, "ws://127.0.0.1:%u/", (unsigned)port);
    return b;
}

void h_child_exit(int code) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "exit %d", code & 0xff);
    fflush(stdout);
    execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
    _exit(code); /* no shell: exit without it */
}

pthread_t h_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        perror("pthread_create");
        exit(2);
    }
    return t;
}

void h_join(pthread_t t) { pthread_join(t, NULL); }

/* ---------------------------------------------------------------------- */
/* Recorder                                                                */

static void abs_deadline(struct timespec *ts, int timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

rec_t *rec_new(void) {
    rec_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    r->refs = 1;
    r->store_data = true;
    return r;
}

void rec_ref(rec_t *r) {
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
}

void rec_unref(rec_t *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left > 0) return;
    for (size_t i = 0; i < r->n; i++) free(r->ev[i].data);
    free(r->ev);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static void cb_enter(rec_t *r, ws_socket *ws) {
    pthread_mutex_lock(&r->mu);
    if (r->in_cb++ > 0) r->overlap++;
    if (ws != r->ws) r->wrong_socket++;
    if (r->finalized) r->after_final++;
    r->entered++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void cb_leave(rec_t *r, ev_kind kind) {
    pthread_mutex_lock(&r->mu);
    r->in_cb--;
    r->left++;
    r->done[kind]++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static void record(rec_t *r, event_t *e) {
    e->thread = pthread_self();
    e->t_ms = h_now_ms();
    pthread_mutex_lock(&r->mu);
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        event_t *ev = realloc(r->ev, cap * sizeof *ev);
        if (!ev) abort();
        r->ev = ev;
        r->cap = cap;
    }
    r->ev[r->n++] = *e;
    r->count[e->kind]++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static uint8_t *copy_bytes(const void *p, size_t len) {
    uint8_t *d = malloc(len + 1);
    if (!d) abort();
    if (len) memcpy(d, p, len);
    d[len] = 0;
    return d;
}

static void actions(rec_t *r, ws_socket *ws, const event_t *e) {
    if (r->hook) r->hook(r, ws, e);
    if (r->close_on == e->kind) r->close_result = ws_close(ws, r->close_code, r->close_reason);
    if (r->free_on == e->kind) {
        pthread_mutex_lock(&r->mu);
        r->freed_in_cb = true;
        pthread_mutex_unlock(&r->mu);
        ws_free(ws);
    }
}

static void cb_open(ws_socket *ws, void *ud) {
    rec_t *r = ud;
    cb_enter(r, ws);
    event_t e = {.kind = EV_OPEN, .ptr_ok = true, .state = ws_ready_state(ws)};
    record(r, &e);
    actions(r, ws, &e);
    cb_leave(r, EV_OPEN);
}

static void cb_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    rec_t *r = ud;
    cb_enter(r, ws);
    if (r->sleep_ms) h_sleep_ms(r->sleep_ms);
    event_t e = {.kind = EV_MESSAGE, .mtype = kind, .len = len, .ptr_ok = data != NULL,
                 .state = ws_ready_state(ws)};
    if (r->store_data && data) e.data = copy_bytes(data, len);
    record(r, &e);
    actions(r, ws, &e);
    cb_leave(r, EV_MESSAGE);
}

static void cb_error(ws_socket *ws, const char *message, void *ud) {
    rec_t *r = ud;
    cb_enter(r, ws);
    event_t e = {.kind = EV_ERROR, .ptr_ok = message != NULL, .state = ws_ready_state(ws)};
    if (message) {
        e.len = strlen(message);
        e.data = copy_bytes(message, e.len);
    }
    record(r, &e);
    actions(r, ws, &e);
    cb_leave(r, EV_ERROR);
}

static void cb_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool was_clean,
                     void *ud) {
    rec_t *r = ud;
    cb_enter(r, ws);
    event_t e = {.kind = EV_CLOSE, .code = code, .clean = was_clean, .len = reason_len,
                 .ptr_ok = reason != NULL && reason[reason_len] == '\0', .state = ws_ready_state(ws)};
    if (reason) e.data = copy_bytes(reason, reason_len);
    record(r, &e);
    actions(r, ws, &e);
    cb_leave(r, EV_CLOSE);
}

static void cb_final(void *ud) {
    rec_t *r = ud;
    pthread_mutex_lock(&r->mu);
    r->finalized++;
    if (r->in_cb > 0) r->final_during_cb++;
    r->final_thread = pthread_self();
    r->final_t = h_now_ms();
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    rec_unref(r);
}

ws_callbacks rec_callbacks(rec_t *r) {
    ws_callbacks cb = {cb_open, cb_message, cb_error, cb_close, r, cb_final};
    return cb;
}

ws_result rec_open(rec_t *r, const char *url, const char *const *protocols, size_t n,
                   const ws_options *options) {
    ws_callbacks cb = rec_callbacks(r);
    rec_ref(r);
    ws_result res = ws_new(url, protocols, n, options, &cb, &r->ws);
    if (res != WS_RESULT_OK) rec_unref(r); /* the finalizer will not run */
    return res;
}

bool rec_wait(rec_t *r, ev_kind kind, int count, int timeout_ms) {
    struct timespec dl;
    abs_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (r->done[kind] < count) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = r->done[kind] >= count;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

bool rec_wait_final(rec_t *r, int timeout_ms) {
    struct timespec dl;
    abs_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (r->finalized == 0) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = r->finalized > 0;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

bool rec_wait_entered(rec_t *r, int n, int timeout_ms) {
    struct timespec dl;
    abs_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&r->mu);
    while (r->entered < n) {
        if (pthread_cond_timedwait(&r->cv, &r->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = r->entered >= n;
    pthread_mutex_unlock(&r->mu);
    return ok;
}

bool rec_poll(rec_t *r, ev_kind kind, int count, int timeout_ms) {
    double deadline = h_now_ms() + timeout_ms;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        bool done = r->count[kind] >= count;
        bool freed = r->freed_in_cb;
        pthread_mutex_unlock(&r->mu);
        if (done) return true;
        if (freed || h_now_ms() > deadline) return false;
        int n = ws_poll(r->ws, 10);
        if (n < 0) {
            h_fail(__FILE__, __LINE__, "ws_poll(r->ws, 10) >= 0", "got %d: %s", n, ws_last_error());
            return false;
        }
    }
}

int rec_count(rec_t *r, ev_kind kind) {
    pthread_mutex_lock(&r->mu);
    int c = r->count[kind];
    pthread_mutex_unlock(&r->mu);
    return c;
}

size_t rec_n(rec_t *r) {
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

event_t rec_get(rec_t *r, size_t i) {
    event_t e;
    memset(&e, 0, sizeof e);
    pthread_mutex_lock(&r->mu);
    if (i < r->n) e = r->ev[i];
    pthread_mutex_unlock(&r->mu);
    return e;
}

int rec_find(rec_t *r, ev_kind kind, int i) {
    int found = -1;
    pthread_mutex_lock(&r->mu);
    for (size_t k = 0; k < r->n; k++) {
        if (r->ev[k].kind == kind && i-- == 0) {
            found = (int)k;
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

const char *rec_describe(rec_t *r) {
    static __thread char buf[1024];
    size_t o = 0;
    buf[0] = 0;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n && o < sizeof buf - 64; i++) {
        const event_t *e = &r->ev[i];
        int w = 0;
        switch (e->kind) {
        case EV_OPEN: w = snprintf(buf + o, sizeof buf - o, "open "); break;
        case EV_MESSAGE:
            w = snprintf(buf + o, sizeof buf - o, "%s(%zu) ", e->mtype == WS_MESSAGE_TYPE_TEXT ? "text" : "bin",
                         e->len);
            break;
        case EV_ERROR:
            w = snprintf(buf + o, sizeof buf - o, "error[%.60s] ", e->data ? (char *)e->data : "");
            break;
        case EV_CLOSE:
            w = snprintf(buf + o, sizeof buf - o, "close(%u,%s,'%.20s') ", e->code, e->clean ? "clean" : "unclean",
                         e->data ? (char *)e->data : "");
            break;
        default: break;
        }
        if (w > 0) o += (size_t)w;
    }
    if (r->n > 0 && o >= sizeof buf - 64) snprintf(buf + o, sizeof buf - o, "... (%zu events)", r->n);
    if (r->finalized) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "finalized(%d)", r->finalized);
    pthread_mutex_unlock(&r->mu);
    return buf;
}

void rec_check_common_at(rec_t *r, const char *file, int line) {
    pthread_mutex_lock(&r->mu);
    bool open = false, error = false, closed = false;
    const char *problem = NULL;
    size_t at = 0;
    for (size_t i = 0; i < r->n && !problem; i++) {
        const event_t *e = &r->ev[i];
        at = i;
        if (!e->ptr_ok) problem = "a callback got a NULL or unterminated pointer";
        else if (closed) problem = "an event after on_close";
        else if (e->kind == EV_OPEN) {
            if (i != 0) problem = "on_open is not the first event";
            open = true;
        } else if (e->kind == EV_MESSAGE) {
            if (!open) problem = "on_message before on_open";
            else if (error) problem = "on_message after on_error";
        } else if (e->kind == EV_ERROR) {
            if (error) problem = "on_error twice";
            error = true;
        } else if (e->kind == EV_CLOSE) {
            closed = true;
            if (error && e->code != 1006) problem = "on_close after on_error has a code other than 1006";
            if (error && e->clean) problem = "on_close after on_error is clean";
            if (e->state != WS_STATE_CLOSED) problem = "readyState is not CLOSED in on_close";
        }
    }
    int overlap = r->overlap, wrong = r->wrong_socket, after = r->after_final, fin = r->finalized,
        during = r->final_during_cb;
    pthread_mutex_unlock(&r->mu);
    if (problem) h_fail(file, line, "event order", "%s at event %zu: %s", problem, at, rec_describe(r));
    if (overlap) h_fail(file, line, "callbacks one at a time", "%d overlapping callbacks", overlap);
    if (wrong) h_fail(file, line, "callback socket == *out", "%d callbacks got another pointer", wrong);
    if (after) h_fail(file, line, "no callback after the finalizer", "%d callbacks after it", after);
    if (fin > 1) h_fail(file, line, "finalizer at most once", "ran %d times", fin);
    if (during) h_fail(file, line, "finalizer after the last callback", "ran during a callback");
}

/* ---------------------------------------------------------------------- */
/* SHA-1 and base64, for Sec-WebSocket-Accept                              */

typedef struct {
    uint32_t h[5];
    uint64_t len;
    uint8_t buf[64];
    size_t used;
} sha1_ctx;

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(sha1_ctx *c, const uint8_t *p) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) f = (b & cc) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ cc ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & cc) | (b & d) | (cc & d), k = 0x8F1BBCDC;
        else f = b ^ cc ^ d, k = 0xCA62C1D6;
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d, d = cc, cc = rol(b, 30), b = a, a = t;
    }
    c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e;
}

static void sha1(const uint8_t *data, size_t len, uint8_t out[20]) {
    sha1_ctx c = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    c.len = (uint64_t)len * 8;
    while (len >= 64) {
        sha1_block(&c, data);
        data += 64, len -= 64;
    }
    uint8_t tail[128] = {0};
    memcpy(tail, data, len);
    tail[len] = 0x80;
    size_t total = len + 1 + 8 <= 64 ? 64 : 128;
    for (int i = 0; i < 8; i++) tail[total - 1 - i] = (uint8_t)(c.len >> (8 * i));
    sha1_block(&c, tail);
    if (total == 128) sha1_block(&c, tail + 64);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) out[4 * i + j] = (uint8_t)(c.h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t len, char *out) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = 0;
}

void ws_accept_key(const char *key, char out[29]) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    uint8_t d[20];
    sha1((const uint8_t *)buf, strlen(buf), d);
    base64(d, 20, out);
}

/* ---------------------------------------------------------------------- */
/* Raw servers                                                             */

#define RAW_MAX_CONNS 64

struct raw_server {
    int lfd;
    uint16_t port;
    int stop_pipe[2];
    pthread_t accept_thread;
    raw_handler handler;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t conn_threads[RAW_MAX_CONNS];
    int nconns;
    int value;
    bool has_value;
    char urls[4][256];
    int url_next;
};

typedef struct {
    raw_server *s;
    int fd;
} conn_start;

/* Waits until fd is readable: 1 readable, 0 timeout, -1 stop. */
static int wait_readable(raw_server *s, int fd, int timeout_ms) {
    struct pollfd p[2] = {{fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
    double deadline = h_now_ms() + timeout_ms;
    for (;;) {
        int left = timeout_ms < 0 ? -1 : (int)(deadline - h_now_ms());
        if (timeout_ms >= 0 && left <= 0) return 0;
        int n = poll(p, 2, left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        if (n == 0) return 0;
        if (p[1].revents) return -1;
        return 1;
    }
}

static void *conn_main(void *arg) {
    conn_start *cs = arg;
    raw_server *s = cs->s;
    int fd = cs->fd;
    free(cs);
    s->handler(s, fd);
    close(fd);
    return NULL;
}

static void *accept_main(void *arg) {
    raw_server *s = arg;
    for (;;) {
        if (wait_readable(s, s->lfd, -1) != 1) break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) continue;
        pthread_mutex_lock(&s->mu);
        if (s->nconns >= RAW_MAX_CONNS) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        conn_start *cs = malloc(sizeof *cs);
        cs->s = s;
        cs->fd = fd;
        if (pthread_create(&s->conn_threads[s->nconns], NULL, conn_main, cs) == 0) {
            s->nconns++;
        } else {
            free(cs);
            close(fd);
        }
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

raw_server *raw_start_on(uint16_t port, raw_handler handler, void *arg) {
    raw_server *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->handler = handler;
    s->arg = arg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    socklen_t al = sizeof a;
    if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 64) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0 || pipe(s->stop_pipe) != 0) {
        if (s->lfd >= 0) close(s->lfd);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        free(s);
        return NULL;
    }
    s->port = ntohs(a.sin_port);
    if (pthread_create(&s->accept_thread, NULL, accept_main, s) != 0) abort();
    return s;
}

raw_server *raw_start(raw_handler handler, void *arg) {
    raw_server *s = raw_start_on(0, handler, arg);
    if (!s) {
        perror("raw_start");
        exit(2);
    }
    return s;
}

void raw_stop(raw_server *s) {
    if (!s) return;
    ssize_t w = write(s->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(s->accept_thread, NULL);
    pthread_mutex_lock(&s->mu);
    int n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < n; i++) pthread_join(s->conn_threads[i], NULL);
    close(s->lfd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

const char *raw_url(raw_server *s, const char *path) {
    char *b = s->urls[s->url_next++ % 4];
    snprintf(b, 256, "ws://127.0.0.1:%u%s", (unsigned)s->port, path && *path ? path : "/");
    return b;
}

uint16_t raw_port(raw_server *s) { return s->port; }
void *raw_arg(raw_server *s) { return s->arg; }

int raw_connections(raw_server *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void raw_set_value(raw_server *s, int value) {
    pthread_mutex_lock(&s->mu);
    s->value = value;
    s->has_value = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int raw_value(raw_server *s) {
    pthread_mutex_lock(&s->mu);
    int v = s->value;
    pthread_mutex_unlock(&s->mu);
    return v;
}

bool raw_wait_value(raw_server *s, int timeout_ms) {
    struct timespec dl;
    abs_deadline(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    while (!s->has_value) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
    }
    bool ok = s->has_value;
    pthread_mutex_unlock(&s->mu);
    return ok;
}

bool raw_write(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool raw_read_head(raw_server *s, int fd, char *buf, size_t cap, int timeout_ms) {
    size_t used = 0;
    double deadline = h_now_ms() + timeout_ms;
    while (used + 1 < cap) {
        int left = (int)(deadline - h_now_ms());
        if (left <= 0 || wait_readable(s, fd, left) != 1) return false;
        ssize_t n = recv(fd, buf + used, 1, 0); /* byte by byte: never read past the head */
        if (n <= 0) return false;
        used += (size_t)n;
        buf[used] = 0;
        if (used >= 4 && memcmp(buf + used - 4, "\r\n\r\n", 4) == 0) return true;
    }
    return false;
}

static bool read_exact(raw_server *s, int fd, uint8_t *p, size_t len, double deadline) {
    while (len > 0) {
        int left = (int)(deadline - h_now_ms());
        if (left <= 0 || wait_readable(s, fd, left) != 1) return false;
        ssize_t n = recv(fd, p, len, 0);
        if (n <= 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

bool raw_read_frame(raw_server *s, int fd, int *opcode, uint8_t *payload, size_t cap, size_t *len,
                    int timeout_ms) {
    return raw_read_frame_ex(s, fd, opcode, payload, cap, len, NULL, timeout_ms);
}

bool raw_read_frame_ex(raw_server *s, int fd, int *opcode, uint8_t *payload, size_t cap, size_t *len,
                       uint8_t mask_out[5], int timeout_ms) {
    double deadline = h_now_ms() + timeout_ms;
    uint8_t h[2];
    if (!read_exact(s, fd, h, 2, deadline)) return false;
    *opcode = h[0] & 0x0f;
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        uint8_t e[2];
        if (!read_exact(s, fd, e, 2, deadline)) return false;
        n = (uint64_t)e[0] << 8 | e[1];
    } else if (n == 127) {
        uint8_t e[8];
        if (!read_exact(s, fd, e, 8, deadline)) return false;
        n = 0;
        for (int i = 0; i < 8; i++) n = n << 8 | e[i];
    }
    uint8_t mask[4] = {0, 0, 0, 0};
    if ((h[1] & 0x80) && !read_exact(s, fd, mask, 4, deadline)) return false;
    if (mask_out) {
        mask_out[0] = (h[1] & 0x80) != 0;
        memcpy(mask_out + 1, mask, 4);
    }
    size_t keep = n < cap ? (size_t)n : cap;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t b;
        if (!read_exact(s, fd, &b, 1, deadline)) return false;
        if (i < keep) payload[i] = b ^ mask[i % 4];
    }
    *len = keep;
    return true;
}

static bool header_value(const char *head, const char *name, char *out, size_t cap) {
    size_t nl = strlen(name);
    for (const char *p = head; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ' || *v == '\t') v++;
            size_t o = 0;
            while (v[o] && v[o] != '\r' && v[o] != '\n' && o + 1 < cap) {
                out[o] = v[o];
                o++;
            }
            out[o] = 0;
            return true;
        }
    }
    return false;
}

bool raw_accept_ws(int fd, const char *request_head, const char *extra, const uint8_t *tail, size_t tail_len) {
    char key[128], accept[29];
    if (!header_value(request_head, "Sec-WebSocket-Key", key, sizeof key)) return false;
    ws_accept_key(key, accept);
    size_t cap = 1024 + tail_len;
    char *resp = malloc(cap);
    if (!resp) abort();
    int n = snprintf(resp, 1024,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n%s\r\n",
                     accept, extra ? extra : "");
    if (tail_len) memcpy(resp + n, tail, tail_len);
    bool ok = raw_write(fd, resp, (size_t)n + tail_len); /* one write: one packet on loopback */
    free(resp);
    return ok;
}

size_t ws_frame(uint8_t *out, int opcode, const void *payload, size_t len) {
    size_t o = 0;
    out[o++] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        out[o++] = (uint8_t)len;
    } else if (len < 65536) {
        out[o++] = 126;
        out[o++] = (uint8_t)(len >> 8);
        out[o++] = (uint8_t)len;
    } else {
        out[o++] = 127;
        for (int i = 7; i >= 0; i--) out[o++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    if (len) memcpy(out + o, payload, len);
    return o + len;
}

void raw_hold(raw_server *s, int fd) {
    char buf[4096];
    for (;;) {
        if (wait_readable(s, fd, -1) != 1) return;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return;
    }
}

void raw_silent(raw_server *s, int fd) { raw_hold(s, fd); }

void raw_bad_accept(raw_server *s, int fd) {
    char head[8192], key[128], accept[29], resp[512];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    if (!header_value(head, "Sec-WebSocket-Key", key, sizeof key)) return;
    ws_accept_key(key, accept);
    accept[0] = accept[0] == 'A' ? 'B' : 'A'; /* well-formed, but wrong */
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n",
                     accept);
    raw_write(fd, resp, (size_t)n);
    raw_hold(s, fd);
}
