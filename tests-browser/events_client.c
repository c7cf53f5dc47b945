/*
 * The C client of differential.py: does what the browser page does and
 * prints what the application saw as JSON lines, one record per line.
 *
 * A record is written at construction ("new"), at the start of every
 * callback (open, message, error, close) and right after every call the
 * client makes ("call": send, close); each carries readyState, protocol,
 * extensions and bufferedAmount as read at that moment. Records are kept in
 * memory and printed when the socket is closed (printing from a callback
 * would slow it down and interleave with other threads).
 *
 * What it does: with --close-now, close() and then send("hello") right
 * after construction. In on_open: with --slow-open MS, spend MS ms and
 * record again ("open-late"); send "hello"; send each --send TEXT (at
 * most 8, recorded as call "send NB", N its bytes); with --close CODE
 * REASON, close(CODE, REASON). In on_message: with --slow-message MS, spend
 * MS ms and record again ("message-late").
 *
 *   events_client URL [--dispatch immediate|queued] [--compat]
 *                 [--protocol P] [--close CODE REASON] [--close-now]
 *                 [--slow-open MS] [--slow-message MS] [--send TEXT]...
 *
 * --dispatch queued pumps ws_poll(socket, 0) from the main thread, 30 ms
 * after construction and then with 1 ms sleeps in between, and checks that
 * readyState, protocol and extensions do not change between two polls (a
 * change is recorded as "changed-between-polls"). --compat sets ws_options_set_chromium_compat.
 * Exits after on_close (status 0) or after 20 s (status 1).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsnative.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;
/* Closed until main() has made its synchronous calls (construction, and
 * with --close-now close() and send()): like the browser, which runs the
 * script that creates a socket as one task, the application here lets no
 * callback start before that code has run. */
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open;
/* Set when a callback starts. If one started before main() finished its
 * synchronous calls, an immediate callback ran concurrently with them (a
 * thread was descheduled for longer than the server took to answer): what
 * main() read may then legitimately be the state of that event, which no
 * browser can show. The output then says "raced" and differential.py runs
 * the client again. */
static atomic_int entered;
static int close_code;
static const char *close_reason;
static int slow_open_ms;
static int slow_message_ms;
/* The --send texts, sent in on_open after "hello". */
#define MAX_SENDS 8
static const char *sends[MAX_SENDS];
static int nsends;

/* The records, as JSON text, appended under `lock`. */
static char *out;
static size_t out_len, out_cap;

static void append(const char *s, size_t n) {
    if (out_len + n + 1 > out_cap) {
        size_t cap = out_cap ? out_cap : 4096;
        while (out_len + n + 1 > cap) cap *= 2;
        char *p = realloc(out, cap);
        if (!p) abort();
        out = p;
        out_cap = cap;
    }
    memcpy(out + out_len, s, n);
    out_len += n;
    out[out_len] = 0;
}

static void appendf(const char *fmt, ...) {
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n >= sizeof buf) n = sizeof buf - 1;
    append(buf, (size_t)n);
}

/* Text is UTF-8 and kept as is; binary bytes become code points
 * U+0000..U+00FF (as the other clients of differential.py do). */
static void append_json_bytes(const char *s, size_t len, int binary) {
    append("\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') appendf("\\%c", c);
        else if (c < 0x20 || (binary && c >= 0x80)) appendf("\\u%04x", c);
        else append((const char *)&c, 1);
    }
    append("\"", 1);
}

static void append_json_string(const char *s) { append_json_bytes(s, strlen(s), 0); }

/* Starts a record: {"type":TYPE ... (the caller adds its fields). */
static void begin(const char *type) { appendf("{\"type\":\"%s\"", type); }

/* Ends a record with the socket's state as read now; returns readyState. */
static ws_state end(ws_socket *ws) {
    ws_state state = ws_ready_state(ws);
    appendf(",\"readyState\":%u,\"protocol\":", (unsigned)state);
    append_json_string(ws_protocol(ws));
    append(",\"extensions\":", 14);
    append_json_string(ws_extensions(ws));
    appendf(",\"bufferedAmount\":%llu}\n", (unsigned long long)ws_buffered_amount(ws));
    return state;
}

static ws_state record(ws_socket *ws, const char *type) {
    pthread_mutex_lock(&lock);
    begin(type);
    ws_state state = end(ws);
    pthread_mutex_unlock(&lock);
    return state;
}

static ws_state record_call(ws_socket *ws, const char *call, ws_result r) {
    pthread_mutex_lock(&lock);
    begin("call");
    appendf(",\"call\":\"%s\",\"result\":\"%s\"", call, ws_result_str(r));
    ws_state state = end(ws);
    pthread_mutex_unlock(&lock);
    return state;
}

static void wait_gate(void) {
    atomic_store(&entered, 1);
    pthread_mutex_lock(&lock);
    while (!gate_open) pthread_cond_wait(&gate_cond, &lock);
    pthread_mutex_unlock(&lock);
}

static void spend_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0) {
    }
}

static void on_open(ws_socket *ws, void *ud) {
    (void)ud;
    wait_gate();
    record(ws, "open");
    if (slow_open_ms) {
        spend_ms(slow_open_ms);
        record(ws, "open-late");
    }
    record_call(ws, "send", ws_send_text(ws, "hello", 5));
    for (int i = 0; i < nsends; i++) {
        char name[32];
        snprintf(name, sizeof name, "send %zuB", strlen(sends[i]));
        record_call(ws, name, ws_send_text(ws, sends[i], strlen(sends[i])));
    }
    if (close_code) record_call(ws, "close", ws_close(ws, (uint16_t)close_code, close_reason));
}

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)ud;
    wait_gate();
    pthread_mutex_lock(&lock);
    begin("message");
    appendf(",\"binary\":%s,\"data\":", kind == WS_MESSAGE_TYPE_BINARY ? "true" : "false");
    append_json_bytes((const char *)data, len, kind == WS_MESSAGE_TYPE_BINARY);
    end(ws);
    pthread_mutex_unlock(&lock);
    if (slow_message_ms) {
        spend_ms(slow_message_ms);
        record(ws, "message-late");
    }
}

static void on_error(ws_socket *ws, const char *message, void *ud) {
    (void)ud;
    wait_gate();
    pthread_mutex_lock(&lock);
    begin("error");
    append(",\"cause\":", 9);
    append_json_string(message);
    end(ws);
    pthread_mutex_unlock(&lock);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool clean, void *ud) {
    (void)ud;
    wait_gate();
    pthread_mutex_lock(&lock);
    begin("close");
    appendf(",\"code\":%u,\"reason\":", code);
    append_json_bytes(reason, reason_len, 0);
    appendf(",\"wasClean\":%s", clean ? "true" : "false");
    end(ws);
    done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
}

/* What the application is shown, bufferedAmount aside (that one is live). */
struct view {
    ws_state ready_state;
    char protocol[64];
    char extensions[256];
};

static void read_view(ws_socket *ws, struct view *v) {
    v->ready_state = ws_ready_state(ws);
    snprintf(v->protocol, sizeof v->protocol, "%s", ws_protocol(ws));
    snprintf(v->extensions, sizeof v->extensions, "%s", ws_extensions(ws));
}

static int same_view(const struct view *a, const struct view *b) {
    return a->ready_state == b->ready_state && strcmp(a->protocol, b->protocol) == 0 &&
           strcmp(a->extensions, b->extensions) == 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s URL [--dispatch immediate|queued] [--compat] [--protocol P] "
                "[--close CODE REASON] [--close-now] [--slow-open MS] [--slow-message MS] [--send TEXT]...\n",
                argv[0]);
        return 2;
    }
    const char *protocols[1];
    size_t nproto = 0;
    int queued = 0, compat = 0, close_now = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc) {
            protocols[0] = argv[++i];
            nproto = 1;
        } else if (strcmp(argv[i], "--close") == 0 && i + 2 < argc) {
            close_code = atoi(argv[++i]);
            close_reason = argv[++i];
        } else if (strcmp(argv[i], "--dispatch") == 0 && i + 1 < argc) {
            queued = strcmp(argv[++i], "queued") == 0;
        } else if (strcmp(argv[i], "--compat") == 0) {
            compat = 1;
        } else if (strcmp(argv[i], "--close-now") == 0) {
            close_now = 1;
        } else if (strcmp(argv[i], "--slow-open") == 0 && i + 1 < argc) {
            slow_open_ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--slow-message") == 0 && i + 1 < argc) {
            slow_message_ms = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--send") == 0 && i + 1 < argc && nsends < MAX_SENDS) {
            sends[nsends++] = argv[++i];
        } else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    ws_callbacks cb = {on_open, on_message, on_error, on_close, NULL, NULL};
    ws_socket *ws = NULL;
    ws_options *opts = ws_options_new();
    ws_result r = ws_options_set_dispatch(opts, queued ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE);
    if (r == WS_RESULT_OK && compat) r = ws_options_set_chromium_compat(opts, true);
    if (r != WS_RESULT_OK) {
        fprintf(stderr, "option refused: %s %s\n", ws_result_str(r), ws_last_error());
        return 2;
    }
    r = ws_new(argv[1], protocols, nproto, opts, &cb, &ws);
    ws_options_free(opts);
    if (r != WS_RESULT_OK) {
        printf("{\"type\":\"exception\",\"name\":\"%s\"}\n", ws_result_str(r));
        return 0;
    }
    int odd = record(ws, "new") != WS_STATE_CONNECTING;
    if (close_now) {
        odd |= record_call(ws, "close", ws_close(ws, 0, NULL)) != WS_STATE_CLOSING;
        odd |= record_call(ws, "send", ws_send_text(ws, "hello", 5)) != WS_STATE_CLOSING;
    }
    /* A state other than the one these calls give: if a callback starts
     * within 200 ms, its dispatch was under way when main() read it (the
     * library shows an event's state just before it calls the callback, and
     * its thread may be descheduled in between): raced. If none starts, the
     * state ran ahead of dispatch, and stays recorded as read. */
    for (int i = 0; odd && !queued && i < 200 && !atomic_load(&entered); i++) spend_ms(1);
    pthread_mutex_lock(&lock);
    if (atomic_load(&entered)) append("{\"type\":\"raced\"}\n", 17);
    gate_open = 1;
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&lock);
    double deadline = now_s() + 20;
    int ok;
    if (queued) {
        /* The application does other work before its first poll and between
         * polls: what it reads must not change meanwhile (SPEC.md 5). The
         * first change seen is recorded ("changed-between-polls"). */
        struct view before, after;
        int changed = 0;
        read_view(ws, &before);
        spend_ms(30);
        for (;;) {
            read_view(ws, &after);
            if (!changed && !same_view(&before, &after)) {
                changed = 1;
                record(ws, "changed-between-polls");
            }
            int32_t n = ws_poll(ws, 0);
            if (n < 0) {
                fprintf(stderr, "ws_poll: %s\n", ws_result_str((uint32_t)-n));
                break;
            }
            read_view(ws, &before);
            pthread_mutex_lock(&lock);
            int d = done;
            pthread_mutex_unlock(&lock);
            if (d || now_s() > deadline) break;
            spend_ms(1);
        }
        pthread_mutex_lock(&lock);
        ok = done;
        pthread_mutex_unlock(&lock);
    } else {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 20;
        pthread_mutex_lock(&lock);
        while (!done && pthread_cond_timedwait(&done_cond, &lock, &until) == 0) {
        }
        ok = done;
        pthread_mutex_unlock(&lock);
    }
    ws_free(ws);
    ws_shutdown(1000);
    pthread_mutex_lock(&lock);
    if (out) fputs(out, stdout);
    pthread_mutex_unlock(&lock);
    if (!ok) printf("{\"type\":\"timeout\"}\n");
    fflush(stdout);
    return ok ? 0 : 1;
}
