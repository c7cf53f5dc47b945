/*
 * TLS setup cost (issue 15, item 6): for each trust option, how long
 * ws_new() blocks the caller, and how long a wss:// connection takes to
 * open (ws_new() to on_open), over N sequential connections that share one
 * options object.
 *
 *   tls_setup WSS_URL CA_FILE [N [WS_URL]]
 *
 * With WS_URL (a plain ws:// server), the same for a direct ws:// open with
 * default options: what a connection without proxy or TLS costs.
 * WSS_URL: a TLS WebSocket server whose certificate CA_FILE signs (for
 * example wsnative-testserver --mode echo --tls-cert ... --tls-key ...).
 * Prints one line per trust option: the mean and median of both times.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsnative.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int state; /* 0 connecting, 1 open, 2 failed */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void set(int s) {
    pthread_mutex_lock(&mu);
    if (state == 0) state = s;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}
static void on_open(ws_socket *ws, void *u) { (void)ws, (void)u, set(1); }
static void on_error(ws_socket *ws, const char *m, void *u) {
    (void)ws, (void)u;
    fprintf(stderr, "error: %s\n", m);
    set(2);
}

/* Direct connections (no proxy from the environment); the baseline build,
 * from before ws_options_set_proxy existed, is compiled with -DWS_BASELINE. */
#ifdef WS_BASELINE
#define DIRECT(o) ((void)(o))
#else
#define DIRECT(o) ws_options_set_proxy((o), "")
#endif

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void measure(const char *label, const char *url, ws_options *o, int n) {
    double *call = calloc((size_t)n, sizeof *call), *open = calloc((size_t)n, sizeof *open);
    ws_callbacks cb = {0};
    cb.on_open = on_open;
    cb.on_error = on_error;
    for (int i = 0; i < n; i++) {
        state = 0;
        ws_socket *ws = NULL;
        double t0 = now_ms();
        ws_result r = ws_new(url, NULL, 0, o, &cb, &ws);
        call[i] = now_ms() - t0;
        if (r != WS_RESULT_OK) {
            fprintf(stderr, "ws_new: %s\n", ws_last_error());
            exit(1);
        }
        pthread_mutex_lock(&mu);
        while (state == 0) pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
        open[i] = now_ms() - t0;
        if (state != 1) exit(1);
        ws_free(ws);
    }
    double sc = 0, so = 0;
    for (int i = 0; i < n; i++) sc += call[i], so += open[i];
    qsort(call, (size_t)n, sizeof *call, cmp);
    qsort(open, (size_t)n, sizeof *open, cmp);
    printf("%-34s ws_new() mean %.3f ms, median %.3f ms | open mean %.3f ms, median %.3f ms (n=%d)\n", label,
           sc / n, call[n / 2], so / n, open[n / 2], n);
    free(call);
    free(open);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s WSS_URL CA_FILE [N]\n", argv[0]);
        return 2;
    }
    const char *url = argv[1], *ca = argv[2];
    int n = argc > 3 ? atoi(argv[3]) : 200;
    ws_options *o;
    if (argc > 4) {
        o = ws_options_new();
        measure("ws:// direct, default options", argv[4], o, n);
        ws_options_free(o);
    }
    o = ws_options_new();
    DIRECT(o);
    ws_options_set_dangerously_accept_invalid_certificates(o, true);
    measure("accept any certificate", url, o, n);
    ws_options_free(o);

    o = ws_options_new();
    DIRECT(o);
    if (ws_options_set_ca_file(o, ca, false) != WS_RESULT_OK) return 1;
    measure("CA file + system trust store", url, o, n);
    ws_options_free(o);

    o = ws_options_new();
    DIRECT(o);
    if (ws_options_set_ca_file(o, ca, true) != WS_RESULT_OK) return 1;
    measure("CA file, exclusive", url, o, n);
    ws_options_free(o);
    return 0;
}
