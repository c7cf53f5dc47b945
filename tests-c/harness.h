/*
 * harness: a tiny test framework for the wsnative C tests.
 *
 *   - CHECK*() macros print file:line and the failing expression, mark the
 *     current test failed and go on; REQUIRE*() also return from the test.
 *   - RUN(test) runs one test (a `static void test(void)`); h_summary()
 *     prints the final line "N passed, M failed" and gives the exit status.
 *   - rec_t records the events of one socket (kind, data, thread, time,
 *     readyState) with the checks every test wants for free: one callback
 *     at a time, the right socket pointer, nothing after the finalizer.
 *   - raw_server: a scripted TCP server on 127.0.0.1 port 0, for tests that
 *     need exact bytes (bad handshakes, a server that never answers, ...).
 *
 * Every wait is bounded: waits take a deadline, and a watchdog (alarm)
 * ends the program with a message if a test hangs anyway.
 *
 * Environment:
 *   WSNATIVE_ECHO_URL   the bundled echo server, e.g. ws://127.0.0.1:PORT/
 *                       (started by tests-c/run.sh)
 *   WSNATIVE_TLS_URL    optional: the same server over TLS (wss://)
 *   WSNATIVE_TLS_CA     optional: the PEM file of the CA that signed it
 *   WSNATIVE_TEST_SLOW  set (e.g. under valgrind): timeouts x5
 *   WSNATIVE_TEST_REDUCE  N > 1: iteration counts divided by N
 *   WSNATIVE_TEST_ONLY  run only the tests whose name contains this string
 */
#ifndef WSNATIVE_TEST_HARNESS_H
#define WSNATIVE_TEST_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsnative.h"

/* ---------------------------------------------------------------------- */
/* Assertions                                                              */

void h_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
bool h_current_failed(void);

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) h_fail(__FILE__, __LINE__, #cond, NULL);             \
    } while (0)

#define CHECK_MSG(cond, ...)                                              \
    do {                                                                  \
        if (!(cond)) h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);      \
    } while (0)

#define CHECK_EQ(a, b)                                                    \
    do {                                                                  \
        long long h_a_ = (long long)(a), h_b_ = (long long)(b);           \
        if (h_a_ != h_b_)                                                 \
            h_fail(__FILE__, __LINE__, #a " == " #b, "%lld != %lld",      \
                   h_a_, h_b_);                                           \
    } while (0)

#define CHECK_STR(a, b)                                                   \
    do {                                                                  \
        const char *h_a_ = (a), *h_b_ = (b);                              \
        if (h_a_ == NULL || h_b_ == NULL || strcmp(h_a_, h_b_) != 0)      \
            h_fail(__FILE__, __LINE__, #a " == " #b, "\"%s\" != \"%s\"",  \
                   h_a_ ? h_a_ : "(null)", h_b_ ? h_b_ : "(null)");       \
    } while (0)

/* A ws_result: prints both names and ws_last_error() on mismatch. */
#define CHECK_RES(call, expected)                                         \
    do {                                                                  \
        ws_result h_r_ = (call);                                          \
        ws_result h_e_ = (expected);                                      \
        if (h_r_ != h_e_)                                                 \
            h_fail(__FILE__, __LINE__, #call " == " #expected,            \
                   "got %s (%u), expected %s (%u); last error: %s",       \
                   ws_result_str(h_r_), (unsigned)h_r_,                   \
                   ws_result_str(h_e_), (unsigned)h_e_, ws_last_error()); \
    } while (0)

#define REQUIRE(cond)                                                     \
    do {                                                                  \
        if (!(cond)) {                                                    \
            h_fail(__FILE__, __LINE__, #cond, NULL);                      \
            return;                                                       \
        }                                                                 \
    } while (0)

#define REQUIRE_MSG(cond, ...)                                            \
    do {                                                                  \
        if (!(cond)) {                                                    \
            h_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);               \
            return;                                                       \
        }                                                                 \
    } while (0)

#define REQUIRE_RES(call, expected)                                       \
    do {                                                                  \
        ws_result h_r_ = (call);                                          \
        ws_result h_e_ = (expected);                                      \
        if (h_r_ != h_e_) {                                               \
            h_fail(__FILE__, __LINE__, #call " == " #expected,            \
                   "got %s (%u), expected %s (%u); last error: %s",       \
                   ws_result_str(h_r_), (unsigned)h_r_,                   \
                   ws_result_str(h_e_), (unsigned)h_e_, ws_last_error()); \
            return;                                                       \
        }                                                                 \
    } while (0)

/* ---------------------------------------------------------------------- */
/* Running tests                                                           */

typedef void (*h_test_fn)(void);

/* Parses the environment and starts the watchdog (seconds, scaled). */
void h_init(const char *program, int watchdog_s);
void h_run(const char *name, h_test_fn fn);
#define RUN(fn) h_run(#fn, fn)
/* A note in the output (a skipped part, a measured time, ...). */
void h_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "N passed, M failed"; returns the exit status. */
int h_summary(void);

/* Under valgrind (WSNATIVE_TEST_SLOW): longer timeouts; with
 * WSNATIVE_TEST_REDUCE=N: fewer iterations. */
bool h_slow(void);
int h_ms(int ms);       /* a timeout, scaled */
int h_count(int n);     /* an iteration count, divided by N (at least 1) */

double h_now_ms(void);  /* CLOCK_MONOTONIC in milliseconds */
void h_sleep_ms(int ms);

/* The echo server's URL with `path` (which starts with '/'); exits if
 * WSNATIVE_ECHO_URL is not set. The string is static (up to 8 live). */
const char *h_echo_url(const char *path);
/* A loopback URL on which nothing listens (connection refused). */
const char *h_refused_url(void);

/* Ends a child made by fork() with exit status `code`, without atexit
 * handlers and without the leak check of ASan or valgrind (it execs
 * `sh -c 'exit CODE'`): in a child of a multithreaded process, what the
 * parent's threads held is unreachable by nature. Flushes stdout first. */
void h_child_exit(int code) __attribute__((noreturn));

/* A thread that runs fn(arg); joined by h_join(). */
pthread_t h_thread(void *(*fn)(void *), void *arg);
void h_join(pthread_t t);

/* ---------------------------------------------------------------------- */
/* Event recorder                                                          */

typedef enum { EV_OPEN = 1, EV_MESSAGE, EV_ERROR, EV_CLOSE, EV_KINDS } ev_kind;

typedef struct {
    ev_kind kind;
    ws_message_type mtype;  /* EV_MESSAGE */
    uint8_t *data;          /* message payload, error message or close
                               reason (copy, NUL-terminated) */
    size_t len;
    uint16_t code;          /* EV_CLOSE */
    bool clean;             /* EV_CLOSE */
    bool ptr_ok;            /* data pointer non-NULL (and reason NUL-terminated) */
    ws_state state;         /* ws_ready_state() inside the callback */
    pthread_t thread;
    double t_ms;
} event_t;

typedef struct rec rec_t;

/* Called inside every callback after the event is recorded (not under the
 * recorder's lock). `ws` is the socket the library passed. */
typedef void (*rec_hook)(rec_t *r, ws_socket *ws, const event_t *ev);

struct rec {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    event_t *ev;
    size_t n, cap;
    int count[EV_KINDS];       /* events recorded, by kind */
    int done[EV_KINDS];        /* callbacks returned (actions done), by kind */
    ws_socket *ws;             /* ws_new() writes the socket here */
    bool store_data;           /* copy message payloads (default true) */
    /* Checked in every test by rec_check_common(). */
    int in_cb;                 /* callbacks running now */
    int overlap;               /* callbacks that ran concurrently */
    int wrong_socket;          /* callback got a socket != ws */
    int after_final;           /* callbacks after the finalizer */
    int finalized;             /* finalizer runs */
    int final_during_cb;       /* finalizer ran while a callback ran */
    pthread_t final_thread;
    double final_t;
    /* Actions taken by the built-in callbacks (0 = none). */
    ev_kind free_on;           /* ws_free() inside this event's callback */
    ev_kind close_on;          /* ws_close(close_code, close_reason) in it */
    uint16_t close_code;
    const char *close_reason;
    ws_result close_result;    /* what that ws_close() returned */
    bool freed_in_cb;          /* the built-in ws_free() happened */
    int sleep_ms;              /* sleep in every on_message */
    rec_hook hook;
    void *user;                /* for hooks */
    int entered;               /* callbacks entered (for sleep tests) */
    int left;                  /* callbacks returned */
};

rec_t *rec_new(void);
void rec_unref(rec_t *r);  /* every rec_new() needs one */

/* ws_new() with the recorder's callbacks (and finalizer): on success the
 * socket is in r->ws and the recorder holds a reference for the library. */
ws_result rec_open(rec_t *r, const char *url, const char *const *protocols, size_t n,
                   const ws_options *options);
/* The callbacks rec_open() uses (userdata r, finalizer included); the
 * caller must take a reference (rec_ref) for the library. */
ws_callbacks rec_callbacks(rec_t *r);
void rec_ref(rec_t *r);

/* Immediate mode: waits until `count` callbacks of `kind` have returned
 * (so their hook and actions are done). */
bool rec_wait(rec_t *r, ev_kind kind, int count, int timeout_ms);
/* Waits until the finalizer ran. */
bool rec_wait_final(rec_t *r, int timeout_ms);
/* Waits until r->entered >= n. */
bool rec_wait_entered(rec_t *r, int n, int timeout_ms);
/* Queued mode: calls ws_poll(r->ws, 10) until `count` events of `kind`,
 * the deadline, or a ws_free() inside a callback. */
bool rec_poll(rec_t *r, ev_kind kind, int count, int timeout_ms);

int rec_count(rec_t *r, ev_kind kind);
size_t rec_n(rec_t *r);
event_t rec_get(rec_t *r, size_t i);  /* a copy; data stays owned by r */
/* Index of the i-th (from 0) event of `kind`, or -1. */
int rec_find(rec_t *r, ev_kind kind, int i);
/* The event log as text ("open msg(5) error close(1000)") for messages. */
const char *rec_describe(rec_t *r);

/* Checks that hold in every test: the order open, message..., [error],
 * close (last, at most once); one callback at a time; the socket pointer;
 * nothing after the finalizer; the finalizer at most once. */
#define rec_check_common(r) rec_check_common_at((r), __FILE__, __LINE__)
void rec_check_common_at(rec_t *r, const char *file, int line);

/* ---------------------------------------------------------------------- */
/* Raw TCP servers with scripted bytes                                     */

typedef struct raw_server raw_server;
/* Handles one accepted connection (on its own thread). */
typedef void (*raw_handler)(raw_server *s, int fd);

/* Listens on 127.0.0.1 port 0 (or `port` if non-zero; NULL if that port
 * cannot be bound). */
raw_server *raw_start(raw_handler handler, void *arg);
raw_server *raw_start_on(uint16_t port, raw_handler handler, void *arg);
/* Closes the listener and every connection, joins the threads, frees. */
void raw_stop(raw_server *s);
const char *raw_url(raw_server *s, const char *path);
uint16_t raw_port(raw_server *s);
void *raw_arg(raw_server *s);
int raw_connections(raw_server *s);

/* Helpers for handlers. All return false on EOF, error, timeout or stop. */
bool raw_read_head(raw_server *s, int fd, char *buf, size_t cap, int timeout_ms);
bool raw_write(int fd, const void *data, size_t len);
/* Completes the server handshake for a request head (correct accept key;
 * `extra` holds more header lines ending in CRLF, or NULL), followed in
 * the same write by `tail_len` bytes at `tail` (e.g. the first frames). */
bool raw_accept_ws(int fd, const char *request_head, const char *extra, const uint8_t *tail, size_t tail_len);
/* Writes an unmasked, final server frame into out (len + 10 bytes of room);
 * returns its size. */
size_t ws_frame(uint8_t *out, int opcode, const void *payload, size_t len);
/* Reads one client frame (unmasked into payload, at most cap bytes). */
bool raw_read_frame(raw_server *s, int fd, int *opcode, uint8_t *payload, size_t cap,
                    size_t *len, int timeout_ms);
/* Same, and mask_out[0] = the mask bit, mask_out[1..4] = the key. */
bool raw_read_frame_ex(raw_server *s, int fd, int *opcode, uint8_t *payload, size_t cap, size_t *len,
                       uint8_t mask_out[5], int timeout_ms);
/* Waits until the peer closes or the server stops. */
void raw_hold(raw_server *s, int fd);
/* Records one value per server (e.g. a close code the client sent). */
void raw_set_value(raw_server *s, int value);
int raw_value(raw_server *s);
bool raw_wait_value(raw_server *s, int timeout_ms);

/* Ready-made handlers. */
void raw_silent(raw_server *s, int fd);      /* accepts, never answers */
void raw_bad_accept(raw_server *s, int fd);  /* 101 with a wrong accept key */

/* Sec-WebSocket-Accept for a key (28 chars + NUL into out). */
void ws_accept_key(const char *key, char out[29]);

#endif
