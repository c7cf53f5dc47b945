/*
 * Prints a socket's events as JSON lines, doing what the browser page of
 * differential.py does: send "hello" on open; with --close CODE REASON, call
 * close(CODE, REASON) right after that send. Exits after on_close (or after
 * 15 s).
 *
 *   events_client URL [--protocol P] [--close CODE REASON]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsnative.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int done;
static int close_code;
static const char *close_reason;

/* Text is UTF-8 and printed as is; binary bytes become code points
 * U+0000..U+00FF (as the other clients of differential.py do). */
static void json_bytes(const char *s, size_t len, int binary) {
    putchar('"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || (binary && c >= 0x80)) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void json_string(const char *s, size_t len) { json_bytes(s, len, 0); }

static void on_open(ws_socket *ws, void *ud) {
    (void)ud;
    printf("{\"type\":\"open\",\"protocol\":");
    json_string(ws_protocol(ws), strlen(ws_protocol(ws)));
    printf("}\n");
    fflush(stdout);
    ws_send_text(ws, "hello", 5);
    if (close_code) ws_close(ws, (uint16_t)close_code, close_reason);
}

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)ws;
    (void)ud;
    printf("{\"type\":\"message\",\"binary\":%s,\"data\":", kind == WS_MESSAGE_TYPE_BINARY ? "true" : "false");
    json_bytes((const char *)data, len, kind == WS_MESSAGE_TYPE_BINARY);
    printf("}\n");
    fflush(stdout);
}

static void on_error(ws_socket *ws, const char *message, void *ud) {
    (void)ws;
    (void)ud;
    printf("{\"type\":\"error\",\"cause\":");
    json_string(message, strlen(message));
    printf("}\n");
    fflush(stdout);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool clean, void *ud) {
    (void)ws;
    (void)ud;
    printf("{\"type\":\"close\",\"code\":%u,\"reason\":", code);
    json_string(reason, reason_len);
    printf(",\"wasClean\":%s}\n", clean ? "true" : "false");
    fflush(stdout);
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [--protocol P] [--close CODE REASON]\n", argv[0]);
        return 2;
    }
    const char *protocols[1];
    size_t nproto = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--protocol") == 0 && i + 1 < argc) {
            protocols[0] = argv[++i];
            nproto = 1;
        } else if (strcmp(argv[i], "--close") == 0 && i + 2 < argc) {
            close_code = atoi(argv[++i]);
            close_reason = argv[++i];
        }
    }
    ws_callbacks cb = {on_open, on_message, on_error, on_close, NULL, NULL};
    ws_socket *ws = NULL;
    ws_options *opts = ws_options_new();
    ws_options_set_close_timeout_ms(opts, 3000);
    ws_result r = ws_new(argv[1], protocols, nproto, opts, &cb, &ws);
    ws_options_free(opts);
    if (r != WS_RESULT_OK) {
        printf("{\"type\":\"exception\",\"name\":\"%s\"}\n", ws_result_str(r));
        return 0;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 15;
    pthread_mutex_lock(&lock);
    while (!done && pthread_cond_timedwait(&done_cond, &lock, &deadline) == 0) {
    }
    int ok = done;
    pthread_mutex_unlock(&lock);
    ws_free(ws);
    ws_shutdown(1000);
    return ok ? 0 : 1;
}
