/* wsnative through its C ABI (include/wsnative.h).
 *
 * Usage: wsnative_c --workload W1..W5|W2z|W3z --url URL [--n N] [--size B]
 *                   [--warmup N] [--mode immediate|queued] [--ca FILE]
 *                   [--trust exclusive|file|pem|os]
 *
 * Immediate dispatch (the default): callbacks run on the library's thread;
 * W1 and W4 chain the next send from on_message, W2/W2z count in
 * on_message (reading each message's first and last byte), W3/W3z send
 * from the main thread. `--mode queued` (W1 only): the main thread runs the
 * callbacks through ws_poll(). wss:// trusts the --ca file only
 * (ws_options_set_ca_file, exclusive). With --trust (W5 over TLS per trust
 * option), every socket shares one options object made before the clock
 * starts, and the CA is trusted as the flag says: `exclusive` (the file
 * only), `file` (ws_options_set_ca_file, added to the operating system's
 * store), `pem` (its text, ws_options_set_ca_pem, added), `os` (no CA
 * option: the operating system's store, which the caller makes trust the
 * CA, e.g. with SSL_CERT_FILE). Default options otherwise: whatever
 * extensions the library offers by default (permessage-deflate is taken by
 * the server on the W2z/W3z paths only). */
#include "common.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <wsnative.h>

static bench_args A;

/* --- completion signalling between the library thread and main --- */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int opened, done;
static char error[256];

static void set_flag(int *flag) {
    pthread_mutex_lock(&mu);
    *flag = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void fail_async(const char *msg) {
    pthread_mutex_lock(&mu);
    if (!error[0]) snprintf(error, sizeof error, "%s", msg);
    done = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_flag(int *flag) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 300;
    pthread_mutex_lock(&mu);
    while (!*flag && !error[0])
        if (pthread_cond_timedwait(&cv, &mu, &until)) break;
    int ok = *flag && !error[0];
    pthread_mutex_unlock(&mu);
    if (!ok) bench_fail("%s", error[0] ? error : "timed out");
}

static void on_error(ws_socket *s, const char *message, void *ud) {
    (void)s, (void)ud;
    fail_async(message);
}

static void on_close(ws_socket *s, uint16_t code, const char *reason, size_t len, bool clean, void *ud) {
    (void)s, (void)len, (void)ud;
    if (!done) {
        char msg[200];
        snprintf(msg, sizeof msg, "closed early: %u %s clean=%d", code, reason, clean);
        fail_async(msg);
    }
}

/* The options of --trust, made once (NULL without the flag). */
static ws_options *shared_options;

static ws_options *trust_options(void) {
    ws_options *o = ws_options_new();
    ws_options_set_dispatch(o, WS_DISPATCH_IMMEDIATE);
    const char *t = A.trust;
    ws_result r = WS_RESULT_OK;
    if (!strcmp(t, "exclusive") || !strcmp(t, "file")) {
        if (!A.ca) bench_fail("--trust %s needs --ca", t);
        r = ws_options_set_ca_file(o, A.ca, !strcmp(t, "exclusive"));
    } else if (!strcmp(t, "pem")) {
        FILE *f = A.ca ? fopen(A.ca, "rb") : NULL;
        if (!f) bench_fail("--trust pem needs a readable --ca");
        static char pem[1 << 16];
        size_t len = fread(pem, 1, sizeof pem, f);
        fclose(f);
        r = ws_options_set_ca_pem(o, (const uint8_t *)pem, len, false);
    } else if (strcmp(t, "os")) {
        bench_fail("unknown --trust '%s'", t);
    }
    if (r != WS_RESULT_OK) bench_fail("--trust %s: %s", t, ws_last_error());
    return o;
}

static ws_socket *open_socket(const char *url, ws_callbacks *cb, ws_dispatch mode) {
    ws_options *o = shared_options;
    if (!o) {
        o = ws_options_new();
        ws_options_set_dispatch(o, mode);
        ws_options_set_max_message_size(o, 128u << 20);
        if (A.ca && ws_options_set_ca_file(o, A.ca, true) != WS_RESULT_OK)
            bench_fail("ws_options_set_ca_file: %s", ws_last_error());
    }
    ws_socket *s = NULL;
    ws_result r = ws_new(url, NULL, 0, o, cb, &s);
    if (o != shared_options) ws_options_free(o);
    if (r != WS_RESULT_OK) bench_fail("ws_new: %s %s", ws_result_str(r), ws_last_error());
    return s;
}

/* --- W1: sequential round trips of a 32-byte text --- */
static uint64_t w1_i, w1_sent_at, *w1_samples;
static char w1_msg[33];

static void w1_send(ws_socket *s) {
    w1_text(w1_i, w1_msg);
    w1_sent_at = now_ns();
    if (ws_send_text(s, w1_msg, 32) != WS_RESULT_OK) fail_async("send failed");
}

static void w1_open(ws_socket *s, void *ud) {
    (void)ud;
    w1_send(s);
}

static void w1_message(ws_socket *s, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)ud;
    uint64_t t = now_ns();
    if (kind != WS_MESSAGE_TYPE_TEXT || len != 32 || memcmp(data, w1_msg, 32)) return fail_async("W1: bad echo");
    if (w1_i >= A.warmup) w1_samples[w1_i - A.warmup] = t - w1_sent_at;
    if (++w1_i == A.warmup + A.n) return set_flag(&done);
    w1_send(s);
}

static void w1(bool queued) {
    w1_samples = malloc(A.n * sizeof *w1_samples);
    ws_callbacks cb = {.on_open = w1_open, .on_message = w1_message, .on_error = on_error, .on_close = on_close};
    ws_socket *s = open_socket(A.url, &cb, queued ? WS_DISPATCH_QUEUED : WS_DISPATCH_IMMEDIATE);
    if (queued) {
        uint64_t deadline = now_ns() + 300ull * 1000000000ull;
        while (!done && now_ns() < deadline) ws_poll(s, 1000);
    }
    wait_flag(&done);
    report_latency(w1_samples, A.n, queued ? ",\"dispatch\":\"queued\"" : ",\"dispatch\":\"immediate\"");
    ws_free(s);
}

/* --- W2/W2z: receive n messages, counted in on_message, then the trailer --- */
static tally w2_tally;
static uint64_t t_end;
static char trailer[256], extensions[256];

static void w2_message(ws_socket *s, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)s, (void)ud;
    if (w2_tally.count < A.n) {
        ws_message_type want = strcmp(A.workload, "W2z") ? WS_MESSAGE_TYPE_BINARY : WS_MESSAGE_TYPE_TEXT;
        if (kind != want) return fail_async("W2: unexpected message type");
        tally_add(&w2_tally, data, len);
        if (w2_tally.count == A.n) t_end = now_ns();
        return;
    }
    if (kind != WS_MESSAGE_TYPE_TEXT || len >= sizeof trailer) return fail_async("W2: bad trailer");
    memcpy(trailer, data, len);
    trailer[len] = 0;
    snprintf(extensions, sizeof extensions, "%s", ws_extensions(s));
    set_flag(&done);
}

static void w2(void) {
    ws_callbacks cb = {.on_message = w2_message, .on_error = on_error, .on_close = on_close};
    uint64_t t0 = now_ns();
    ws_socket *s = open_socket(A.url, &cb, WS_DISPATCH_IMMEDIATE);
    wait_flag(&done);
    tally_verify(&w2_tally, trailer);
    char extra[600], f2[300];
    json_field(extra, sizeof extra, "trailer", trailer);
    json_field(f2, sizeof f2, "extensions", extensions);
    strncat(extra, f2, sizeof extra - strlen(extra) - 1);
    report_rate_extra(A.workload, A.n, t_end - t0, extra);
    ws_free(s);
}

/* --- W3: send n binary messages; the server reports its count --- */
static char w3_reply[64];

static void w3_open(ws_socket *s, void *ud) {
    (void)s, (void)ud;
    set_flag(&opened);
}

static void w3_message(ws_socket *s, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)s, (void)ud;
    t_end = now_ns();
    if (kind != WS_MESSAGE_TYPE_TEXT || len >= sizeof w3_reply) return fail_async("W3: unexpected reply");
    memcpy(w3_reply, data, len);
    set_flag(&done);
}

static void w3(bool z) {
    ws_callbacks cb = {.on_open = w3_open, .on_message = w3_message, .on_error = on_error, .on_close = on_close};
    ws_socket *s = open_socket(A.url, &cb, WS_DISPATCH_IMMEDIATE);
    wait_flag(&opened);
    if (z) {
        /* W3z: the JSON texts in turn. */
        json_pool *pool = json_pool_new();
        uint64_t t0 = now_ns();
        for (uint64_t i = 0; i < A.n; i++)
            if (ws_send_text(s, pool->text[i % JSON_POOL], pool->len[i % JSON_POOL]) != WS_RESULT_OK)
                bench_fail("W3z: send failed: %s", ws_last_error());
        wait_flag(&done);
        check_zcount(w3_reply, A.n);
        char extra[600], f2[300];
        json_field(extra, sizeof extra, "reply", w3_reply);
        json_field(f2, sizeof f2, "extensions", ws_extensions(s));
        strncat(extra, f2, sizeof extra - strlen(extra) - 1);
        report_rate_extra("W3z", A.n, t_end - t0, extra);
        ws_free(s);
        return;
    }
    uint8_t *payload = malloc(A.size);
    memset(payload, 0xA5, A.size);
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < A.n; i++)
        if (ws_send_binary(s, payload, A.size) != WS_RESULT_OK) bench_fail("W3: send failed: %s", ws_last_error());
    wait_flag(&done);
    char want[64];
    snprintf(want, sizeof want, "%" PRIu64 " %" PRIu64, A.n, A.n * A.size);
    if (strcmp(w3_reply, want)) bench_fail("W3: server counted '%s', expected '%s'", w3_reply, want);
    report_rate("W3", A.n, t_end - t0);
    ws_free(s);
}

/* --- W4: n sequential echoes of a large binary message --- */
static uint8_t **w4_data;
static uint64_t w4_i, w4_t0;

static void w4_open(ws_socket *s, void *ud) {
    (void)ud;
    w4_t0 = now_ns();
    if (ws_send_binary(s, w4_data[0], A.size) != WS_RESULT_OK) fail_async("W4: send failed");
}

static void w4_message(ws_socket *s, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)ud;
    if (kind != WS_MESSAGE_TYPE_BINARY || !w4_ok(w4_i, A.size, data, len)) return fail_async("W4: bad echo");
    if (++w4_i == A.n) {
        t_end = now_ns();
        return set_flag(&done);
    }
    if (ws_send_binary(s, w4_data[w4_i % 4], A.size) != WS_RESULT_OK) fail_async("W4: send failed");
}

static void w4(void) {
    w4_data = w4_payloads(A.size);
    ws_callbacks cb = {.on_open = w4_open, .on_message = w4_message, .on_error = on_error, .on_close = on_close};
    ws_socket *s = open_socket(A.url, &cb, WS_DISPATCH_IMMEDIATE);
    wait_flag(&done);
    report_big(A.n, A.size, t_end - w4_t0);
    ws_free(s);
}

/* --- W5: n concurrent connections --- */
static atomic_uint_fast64_t w5_opened, w5_echoed;
static uint64_t w5_target, w5_open_end;
static int all_open, all_echoed;
static char w5_msg[33];

static void w5_open(ws_socket *s, void *ud) {
    (void)s, (void)ud;
    if (atomic_fetch_add(&w5_opened, 1) + 1 == w5_target) {
        w5_open_end = now_ns();
        set_flag(&all_open);
    }
}

static void w5_message(ws_socket *s, const uint8_t *data, size_t len, ws_message_type kind, void *ud) {
    (void)s, (void)ud;
    if (kind != WS_MESSAGE_TYPE_TEXT || len != 32 || memcmp(data, w5_msg, 32)) return fail_async("W5: bad echo");
    if (atomic_fetch_add(&w5_echoed, 1) + 1 == w5_target) set_flag(&all_echoed);
}

static void w5(void) {
    w1_text(1, w5_msg);
    ws_callbacks cb = {.on_open = w5_open, .on_message = w5_message, .on_error = on_error, .on_close = on_close};
    /* A first connection starts the runtime and warms the allocator. */
    w5_target = 1;
    ws_socket *warm = open_socket(A.url, &cb, WS_DISPATCH_IMMEDIATE);
    wait_flag(&all_open);
    ws_send_text(warm, w5_msg, 32);
    wait_flag(&all_echoed);
    atomic_store(&w5_opened, 0);
    atomic_store(&w5_echoed, 0);
    pthread_mutex_lock(&mu);
    all_open = all_echoed = 0;
    w5_target = A.n;
    pthread_mutex_unlock(&mu);

    ws_socket **socks = malloc(A.n * sizeof *socks);
    struct mallinfo2 heap0 = mallinfo2();
    long rss0 = rss_kib();
    uint64_t t0 = now_ns();
    for (uint64_t i = 0; i < A.n; i++) socks[i] = open_socket(A.url, &cb, WS_DISPATCH_IMMEDIATE);
    wait_flag(&all_open);
    for (uint64_t i = 0; i < A.n; i++)
        if (ws_send_text(socks[i], w5_msg, 32) != WS_RESULT_OK) bench_fail("W5: send failed");
    wait_flag(&all_echoed);
    long rss1 = rss_kib();
    /* glibc's count of the bytes in use: exact, unlike VmRSS, but only of
     * the main arena, so it covers every thread only with MALLOC_ARENA_MAX=1
     * (the JSON says which). */
    struct mallinfo2 heap1 = mallinfo2();
    char extra[160];
    const char *arenas = getenv("MALLOC_ARENA_MAX");
    snprintf(extra, sizeof extra, ",\"heap_bytes_per_conn\":%.1f,\"malloc_arena_max\":\"%s\"",
             ((double)(heap1.uordblks + heap1.hblkhd) - (double)(heap0.uordblks + heap0.hblkhd)) / (double)A.n,
             arenas ? arenas : "");
    report_conns_with(A.n, w5_open_end - t0, rss0, rss1, extra);
    done = 1; /* the closes that follow are expected */
}

int main(int argc, char **argv) {
    A = bench_parse(argc, argv);
    if (A.trust) shared_options = trust_options();
    const char *w = A.workload;
    if (!strcmp(w, "W1")) w1(!strcmp(A.mode, "queued"));
    else if (!strcmp(w, "W2") || !strcmp(w, "W2z")) w2();
    else if (!strcmp(w, "W3") || !strcmp(w, "W3z")) w3(!strcmp(w, "W3z"));
    else if (!strcmp(w, "W4")) w4();
    else w5();
    return 0;
}
