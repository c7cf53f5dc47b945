/*
 * echo: connect, send a text and a binary message, print every event, then
 * close. Callbacks run on a library thread (WS_DISPATCH_IMMEDIATE); the main
 * thread waits for on_close.
 *
 *   echo ws://127.0.0.1:PORT/ [subprotocol...]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsnative.h"

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int echoes;
    int done;
    int clean;
} app_state;

static void on_open(ws_socket *ws, void *userdata) {
    (void)userdata;
    printf("open: url=%s protocol='%s' extensions='%s'\n", ws_url(ws), ws_protocol(ws), ws_extensions(ws));
    const char *text = "Hello from wsnative, héllo wörld";
    const uint8_t bin[] = {0x00, 0x01, 0x02, 0xfe, 0xff};
    if (ws_send_text(ws, text, strlen(text)) != WS_RESULT_OK ||
        ws_send_binary(ws, bin, sizeof bin) != WS_RESULT_OK) {
        printf("send failed: %s\n", ws_last_error());
    }
    printf("sent 2 messages, bufferedAmount=%llu\n", (unsigned long long)ws_buffered_amount(ws));
    fflush(stdout);
}

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *userdata) {
    app_state *app = userdata;
    if (kind == WS_MESSAGE_TYPE_TEXT) {
        printf("message (text, %zu bytes): %.*s\n", len, (int)len, (const char *)data);
    } else {
        printf("message (binary, %zu bytes):", len);
        for (size_t i = 0; i < len; i++) printf(" %02x", data[i]);
        printf("\n");
    }
    fflush(stdout);
    pthread_mutex_lock(&app->lock);
    int n = ++app->echoes;
    pthread_mutex_unlock(&app->lock);
    if (n == 2 && ws_close(ws, 1000, "done") != WS_RESULT_OK) {
        printf("close failed: %s\n", ws_last_error());
    }
}

static void on_error(ws_socket *ws, const char *message, void *userdata) {
    (void)ws;
    (void)userdata;
    printf("error: %s\n", message);
    fflush(stdout);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool was_clean,
                     void *userdata) {
    app_state *app = userdata;
    printf("close: code=%u reason='%.*s' wasClean=%s readyState=%d\n", code, (int)reason_len, reason,
           was_clean ? "true" : "false", (int)ws_ready_state(ws));
    fflush(stdout);
    pthread_mutex_lock(&app->lock);
    app->done = 1;
    app->clean = was_clean;
    pthread_cond_signal(&app->done_cond);
    pthread_mutex_unlock(&app->lock);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s URL [subprotocol...]\n", argv[0]);
        return 2;
    }
    app_state app = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0};
    ws_callbacks cb = {on_open, on_message, on_error, on_close, &app, NULL};
    ws_socket *ws = NULL;
    printf("wsnative %s\n", ws_version());
    ws_result r = ws_new(argv[1], (const char *const *)(argv + 2), (size_t)(argc - 2), NULL, &cb, &ws);
    if (r != WS_RESULT_OK) {
        fprintf(stderr, "ws_new: %s: %s\n", ws_result_str(r), ws_last_error());
        return 1;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 15;
    pthread_mutex_lock(&app.lock);
    while (!app.done) {
        if (pthread_cond_timedwait(&app.done_cond, &app.lock, &deadline) != 0) break;
    }
    int done = app.done, clean = app.clean;
    pthread_mutex_unlock(&app.lock);
    if (!done) fprintf(stderr, "timed out waiting for close\n");
    ws_free(ws);
    ws_shutdown(2000);
    return done && clean ? 0 : 1;
}
