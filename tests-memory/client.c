/*
 * client: the C side of the memory matrix (tests-memory/README.md).
 *
 *   client --mode immediate|queued --url URL [--seconds 10]
 *          [--max-queued BYTES] [--send-threshold BYTES]
 *
 * Talks with tests-memory/matrix.py over stdin/stdout, one line each way:
 * prints "ready" once loaded (the harness then takes the baseline RSS) and
 * waits for a line; connects and consumes events the way a plain program
 * does for --seconds after open; closes (1000) and waits for on_close;
 * prints "closed {json}" and waits for a line (the harness takes the RSS
 * after close); on "trim", calls malloc_trim(0) (so that what glibc keeps
 * cached is not counted as the library's) and prints "trimmed", then waits
 * for a line; on "free", frees the socket, trims again and prints "freed"
 * (for the log: is what stays after close held by the socket?), then waits
 * for a line; exits 0.
 *
 *   immediate  callbacks do a trivial amount of work (count, touch a byte);
 *              the main thread sleeps 1 ms at a time.
 *   queued     a game loop: ws_poll(ws, 0) every 16 ms, with a slow
 *              on_message (it sleeps 1 ms every 100 messages, like the
 *              Python clients' handlers): the game falls behind a fast
 *              server, and the queue limit is what holds memory.
 *
 * With --send-threshold N (the "server never reads" stream) the main loop
 * sends 16-byte binary messages while ws_buffered_amount() < N, as a
 * careful program does: bufferedAmount is the application's to bound.
 *
 * A watchdog (alarm) ends the process after --seconds + 40 s whatever
 * happens.
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsnative.h"

static atomic_int g_open;
static atomic_int g_closed;
static atomic_ullong g_messages;
static atomic_ullong g_bytes;
static atomic_uint g_touch;
static atomic_int g_close_code;
static atomic_int g_was_clean;
static atomic_int g_errors;
static int g_slow; /* queued mode: on_message sleeps 1 ms every 100 messages */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void on_open(ws_socket *ws, void *ud) {
    (void)ws;
    (void)ud;
    atomic_store(&g_open, 1);
}

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)ws;
    (void)kind;
    (void)ud;
    unsigned long long n = atomic_fetch_add_explicit(&g_messages, 1, memory_order_relaxed) + 1;
    atomic_fetch_add_explicit(&g_bytes, len, memory_order_relaxed);
    if (len > 0) atomic_fetch_xor_explicit(&g_touch, data[len - 1], memory_order_relaxed);
    if (g_slow && n % 100 == 0) sleep_ms(1);
}

static void on_error(ws_socket *ws, const char *message, void *ud) {
    (void)ws;
    (void)ud;
    atomic_fetch_add(&g_errors, 1);
    fprintf(stderr, "client: error event: %s\n", message);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool was_clean,
                     void *ud) {
    (void)ws;
    (void)reason;
    (void)reason_len;
    (void)ud;
    atomic_store(&g_close_code, code);
    atomic_store(&g_was_clean, was_clean ? 1 : 0);
    atomic_store(&g_closed, 1);
}

static char g_line[64];

static int wait_line(void) {
    return fgets(g_line, sizeof g_line, stdin) != NULL;
}

static void usage(void) {
    fprintf(stderr,
            "usage: client --mode immediate|queued --url URL [--seconds S] [--max-queued BYTES] "
            "[--send-threshold BYTES]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *mode = NULL, *url = NULL;
    double seconds = 10;
    unsigned long long max_queued = 8ull << 20, send_threshold = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mode")) mode = argv[i + 1];
        else if (!strcmp(argv[i], "--url")) url = argv[i + 1];
        else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-queued")) max_queued = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--send-threshold")) send_threshold = strtoull(argv[i + 1], NULL, 10);
        else usage();
    }
    if (!mode || !url || (strcmp(mode, "immediate") && strcmp(mode, "queued"))) usage();
    int queued = !strcmp(mode, "queued");
    g_slow = queued;
    alarm((unsigned)seconds + 40);
    setvbuf(stdout, NULL, _IOLBF, 0);

    ws_options *o = ws_options_new();
    if (ws_options_set_dispatch(o, queued ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE) != WS_RESULT_OK ||
        ws_options_set_max_queued_bytes(o, max_queued) != WS_RESULT_OK ||
        ws_options_set_connect_timeout_ms(o, 10000) != WS_RESULT_OK) {
        fprintf(stderr, "client: options: %s\n", ws_last_error());
        return 1;
    }
    static const uint8_t small[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

    printf("ready\n");
    if (!wait_line()) return 1;

    ws_callbacks cb = {on_open, on_message, on_error, on_close, NULL, NULL};
    ws_socket *ws = NULL;
    if (ws_new(url, NULL, 0, o, &cb, &ws) != WS_RESULT_OK) {
        fprintf(stderr, "client: ws_new: %s\n", ws_last_error());
        return 1;
    }
    ws_options_free(o);

    /* Wait for open. */
    double deadline = now_s() + 10;
    while (!atomic_load(&g_open) && !atomic_load(&g_closed) && now_s() < deadline) {
        if (queued) ws_poll(ws, 16);
        else sleep_ms(1);
    }
    if (!atomic_load(&g_open)) {
        fprintf(stderr, "client: not open after 10 s\n");
        return 1;
    }

    /* The hostile phase: consume events as the mode does, for `seconds`. */
    unsigned long long sent = 0;
    double end = now_s() + seconds;
    while (now_s() < end && !atomic_load(&g_closed)) {
        if (queued) ws_poll(ws, 0);
        while (send_threshold && ws_buffered_amount(ws) < send_threshold) {
            if (ws_send_binary(ws, small, sizeof small) != WS_RESULT_OK) {
                fprintf(stderr, "client: send: %s\n", ws_last_error());
                break;
            }
            sent++;
        }
        sleep_ms(queued ? 16 : 1);
    }
    unsigned long long buffered_at_close = ws_buffered_amount(ws);

    /* Close and wait for on_close: at most the close timeout (5 s) and the
     * 2 s the library waits for the server to close TCP, so 10 s. */
    ws_result r = ws_close(ws, 1000, NULL);
    if (r != WS_RESULT_OK) fprintf(stderr, "client: ws_close: %s\n", ws_result_str(r));
    deadline = now_s() + 10;
    while (!atomic_load(&g_closed) && now_s() < deadline) {
        if (queued) ws_poll(ws, 16);
        else sleep_ms(5);
    }
    int closed = atomic_load(&g_closed);
    printf("closed {\"closed\": %s, \"code\": %d, \"was_clean\": %s, \"errors\": %d, \"messages\": %llu, "
           "\"bytes\": %llu, \"sent\": %llu, \"buffered_at_close\": %llu, \"max_queued_bytes\": %llu}\n",
           closed ? "true" : "false", atomic_load(&g_close_code), atomic_load(&g_was_clean) ? "true" : "false",
           atomic_load(&g_errors), (unsigned long long)atomic_load(&g_messages),
           (unsigned long long)atomic_load(&g_bytes), sent, buffered_at_close, max_queued);
    if (wait_line() && !strcmp(g_line, "trim\n")) {
        malloc_trim(0);
        printf("trimmed\n");
        if (wait_line() && !strcmp(g_line, "free\n")) {
            ws_free(ws);
            ws = NULL;
            malloc_trim(0);
            printf("freed\n");
            wait_line();
        }
    }
    ws_free(ws);
    ws_shutdown(2000);
    return closed ? 0 : 1;
}
