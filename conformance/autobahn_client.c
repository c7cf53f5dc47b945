/*
 * autobahn_client: the Autobahn TestSuite "fuzzing client" flow on the
 * wsnative C ABI. Point it at a fuzzing server (Autobahn's wstest or
 * kosoku, mode fuzzingserver):
 *
 *   1. ws://HOST/getCaseCount            one text message: the case count
 *   2. ws://HOST/runCase?case=N&agent=A  for N = 1..count: every message
 *                                        is echoed back as received (text
 *                                        as text, binary as binary) until
 *                                        the connection closes
 *   3. ws://HOST/updateReports?agent=A   the server finalizes the run
 *
 * Every wait is bounded: a case whose connection has not closed after the
 * case timeout is released (ws_free) and the run goes on with the next one
 * (the server records that case as failed); the client then exits 1.
 *
 *   autobahn_client [-a AGENT] [-t CASE_TIMEOUT_S] [-q] ws://HOST:PORT
 *
 * Exit status: 0 when the case count was read, every case connection
 * closed in time and the reports were updated; 1 otherwise; 2 on a usage
 * error. Whether the cases passed is the server's verdict, not ours.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wsnative.h"

/* The largest Autobahn messages (cases 9.1.6 / 9.2.6) are 16 MiB. */
#define MAX_MESSAGE_SIZE ((size_t)64 * 1024 * 1024)
/* Time allowed for the control connections (getCaseCount, updateReports). */
#define CONTROL_TIMEOUT_S 30

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int closed;
    uint16_t code;
    int was_clean;
    int had_error;
    char error[256];
    char reason[128];
    unsigned long messages;
    unsigned long send_failures;
    /* The first text message, NUL-terminated (for getCaseCount). */
    char first_text[64];
    int have_first_text;
    int echo;
} conn_state;

static int quiet = 0;

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *userdata) {
    conn_state *st = userdata;
    ws_result r = WS_RESULT_OK;
    if (st->echo) {
        r = kind == WS_MESSAGE_TYPE_TEXT ? ws_send_text(ws, (const char *)data, len) : ws_send_binary(ws, data, len);
    }
    pthread_mutex_lock(&st->lock);
    st->messages++;
    if (r != WS_RESULT_OK) st->send_failures++;
    if (!st->have_first_text && kind == WS_MESSAGE_TYPE_TEXT) {
        size_t n = len < sizeof st->first_text - 1 ? len : sizeof st->first_text - 1;
        memcpy(st->first_text, data, n);
        st->first_text[n] = '\0';
        st->have_first_text = 1;
    }
    pthread_mutex_unlock(&st->lock);
}

static void on_error(ws_socket *ws, const char *message, void *userdata) {
    (void)ws;
    conn_state *st = userdata;
    pthread_mutex_lock(&st->lock);
    st->had_error = 1;
    snprintf(st->error, sizeof st->error, "%s", message);
    pthread_mutex_unlock(&st->lock);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool was_clean,
                     void *userdata) {
    (void)ws;
    conn_state *st = userdata;
    pthread_mutex_lock(&st->lock);
    st->closed = 1;
    st->code = code;
    st->was_clean = was_clean;
    size_t n = reason_len < sizeof st->reason - 1 ? reason_len : sizeof st->reason - 1;
    memcpy(st->reason, reason, n);
    st->reason[n] = '\0';
    pthread_cond_signal(&st->cond);
    pthread_mutex_unlock(&st->lock);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Opens `url`, echoing messages when `echo` is set, and waits up to
 * `timeout_s` for on_close. Fills `st`. Returns 0 when the connection
 * closed in time, -1 on a ws_new() failure, -2 on a timeout (the socket is
 * then released, which closes it with 1001 in the background).
 */
static int run_connection(const char *url, const ws_options *opts, int echo, int timeout_s, conn_state *st) {
    pthread_condattr_t attr;
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &attr);
    pthread_condattr_destroy(&attr);
    st->echo = echo;

    ws_callbacks cb = {NULL, on_message, on_error, on_close, st, NULL};
    ws_socket *ws = NULL;
    ws_result r = ws_new(url, NULL, 0, opts, &cb, &ws);
    if (r != WS_RESULT_OK) {
        fprintf(stderr, "ws_new(%s): %s: %s\n", url, ws_result_str(r), ws_last_error());
        pthread_cond_destroy(&st->cond);
        pthread_mutex_destroy(&st->lock);
        return -1;
    }

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    pthread_mutex_lock(&st->lock);
    while (!st->closed) {
        int e = pthread_cond_timedwait(&st->cond, &st->lock, &deadline);
        if (e == ETIMEDOUT) break;
    }
    int closed = st->closed;
    pthread_mutex_unlock(&st->lock);

    /* After ws_free() returns no callback runs, so `st` may go. */
    ws_free(ws);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    return closed ? 0 : -2;
}

/* Whether `n` is in the comma-separated list `list`. */
static int in_list(const char *list, long n) {
    while (*list) {
        char *end = NULL;
        long v = strtol(list, &end, 10);
        if (end == list) return 0;
        if (v == n) return 1;
        list = *end == ',' ? end + 1 : end;
    }
    return 0;
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [-a AGENT] [-t CASE_TIMEOUT_S] [-n CASE,CASE,...] [-q] ws://HOST:PORT\n", argv0);
}

int main(int argc, char **argv) {
    const char *agent = "wsnative";
    int case_timeout = 60;
    const char *base = NULL;
    /* Case numbers whose compression offer adds client_no_context_takeover
       (the cases whose server accepts only such an offer). */
    const char *no_context = "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-a") == 0 && i + 1 < argc) {
            agent = argv[++i];
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            case_timeout = atoi(argv[++i]);
            if (case_timeout <= 0) {
                usage(argv[0]);
                return 2;
            }
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            no_context = argv[++i];
        } else if (strcmp(argv[i], "-q") == 0) {
            quiet = 1;
        } else if (argv[i][0] != '-' && base == NULL) {
            base = argv[i];
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (base == NULL) {
        usage(argv[0]);
        return 2;
    }
    size_t base_len = strlen(base);
    while (base_len > 0 && base[base_len - 1] == '/') base_len--;

    ws_options *opts = ws_options_new();
    if (ws_options_set_max_message_size(opts, MAX_MESSAGE_SIZE) != WS_RESULT_OK ||
        ws_options_set_connect_timeout_ms(opts, 10000) != WS_RESULT_OK) {
        fprintf(stderr, "options: %s\n", ws_last_error());
        ws_options_free(opts);
        return 1;
    }

    printf("wsnative %s, agent '%s', server %.*s\n", ws_version(), agent, (int)base_len, base);
    fflush(stdout);

    char url[1024];
    conn_state st;
    int status = 0;

    /* 1. The case count. */
    snprintf(url, sizeof url, "%.*s/getCaseCount", (int)base_len, base);
    int rc = run_connection(url, opts, 0, CONTROL_TIMEOUT_S, &st);
    char *end = NULL;
    long count = st.have_first_text ? strtol(st.first_text, &end, 10) : -1;
    if (rc != 0 || !st.have_first_text || end == st.first_text || *end != '\0' || count < 0) {
        fprintf(stderr, "getCaseCount failed (rc=%d, close %u, error '%s', message '%s')\n", rc, st.code, st.error,
                st.have_first_text ? st.first_text : "");
        ws_options_free(opts);
        ws_shutdown(2000);
        return 1;
    }
    printf("%ld cases (getCaseCount: close %u wasClean=%s)\n", count, st.code, st.was_clean ? "true" : "false");
    fflush(stdout);

    /* 2. Every case. */
    double run_start = now_s();
    for (long n = 1; n <= count; n++) {
        snprintf(url, sizeof url, "%.*s/runCase?case=%ld&agent=%s", (int)base_len, base, n, agent);
        double t0 = now_s();
        int nct = in_list(no_context, n);
        if (ws_options_set_compression_no_context_takeover(opts, nct) != WS_RESULT_OK) {
            fprintf(stderr, "options: %s\n", ws_last_error());
            return 1;
        }
        rc = run_connection(url, opts, 1, case_timeout, &st);
        ws_options_set_compression_no_context_takeover(opts, 0);
        double dt = now_s() - t0;
        if (rc == -2) {
            printf("case %ld/%ld: TIMEOUT after %d s (%lu messages echoed); connection dropped\n", n, count,
                   case_timeout, st.messages);
            status = 1;
        } else if (rc != 0) {
            printf("case %ld/%ld: could not start\n", n, count);
            status = 1;
        } else if (!quiet || st.had_error || st.send_failures) {
            printf("case %ld/%ld: %.3f s, %lu messages, close %u '%s' wasClean=%s%s%s%s\n", n, count, dt,
                   st.messages, st.code, st.reason, st.was_clean ? "true" : "false", st.had_error ? ", error: " : "",
                   st.had_error ? st.error : "", st.send_failures ? ", SEND FAILURES" : "");
        }
        fflush(stdout);
    }
    printf("ran %ld cases in %.1f s\n", count, now_s() - run_start);

    /* 3. Let the server write its reports. */
    snprintf(url, sizeof url, "%.*s/updateReports?agent=%s", (int)base_len, base, agent);
    rc = run_connection(url, opts, 0, CONTROL_TIMEOUT_S, &st);
    if (rc != 0) {
        fprintf(stderr, "updateReports failed (rc=%d)\n", rc);
        status = 1;
    } else {
        printf("updateReports: close %u wasClean=%s%s%s\n", st.code, st.was_clean ? "true" : "false",
               st.had_error ? ", error: " : "", st.had_error ? st.error : "");
    }

    ws_options_free(opts);
    if (ws_shutdown(5000) != WS_RESULT_OK) {
        fprintf(stderr, "ws_shutdown: %s\n", ws_last_error());
        status = 1;
    }
    return status;
}
