/* What the C benchmark clients share: arguments, clocks, checks and the one
 * JSON line of results. The workloads are described in bench/README.md. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *workload; /* W1..W5, W2z, W3z */
    const char *url;      /* ws:// or wss:// */
    const char *mode;     /* wsnative: "immediate" or "queued" */
    const char *ca;       /* --ca: the CA file to trust for wss:// */
    const char *trust;    /* --trust (wsnative): how the CA is trusted, see wsnative_c.c */
    uint64_t n;
    size_t size;
    uint64_t warmup;
} bench_args;

static const char *bench_workload = "";

static void bench_fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
    printf("{\"workload\":\"%s\",\"ok\":false,\"error\":\"%s\"}\n", bench_workload, msg);
    fflush(stdout);
    exit(1);
}

static bench_args bench_parse(int argc, char **argv) {
    bench_args a = {0};
    a.mode = "immediate";
    a.warmup = 1000;
    const char *n = NULL, *size = NULL, *warmup = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--workload")) a.workload = argv[i + 1];
        else if (!strcmp(argv[i], "--url")) a.url = argv[i + 1];
        else if (!strcmp(argv[i], "--n")) n = argv[i + 1];
        else if (!strcmp(argv[i], "--size")) size = argv[i + 1];
        else if (!strcmp(argv[i], "--warmup")) warmup = argv[i + 1];
        else if (!strcmp(argv[i], "--mode")) a.mode = argv[i + 1];
        else if (!strcmp(argv[i], "--ca")) a.ca = argv[i + 1];
        else if (!strcmp(argv[i], "--trust")) a.trust = argv[i + 1];
    }
    if (!a.workload || !a.url) bench_fail("--workload and --url are required");
    bench_workload = a.workload;
    if (!strcmp(a.workload, "W1")) { a.n = 20000; a.size = 32; }
    else if (!strcmp(a.workload, "W2") || !strcmp(a.workload, "W3")) { a.n = 1000000; a.size = 64; }
    else if (!strcmp(a.workload, "W4")) { a.n = 64; a.size = 16u << 20; }
    else if (!strcmp(a.workload, "W5")) { a.n = 2000; a.size = 32; }
    else if (!strcmp(a.workload, "W2z") || !strcmp(a.workload, "W3z")) { a.n = 500000; a.size = 0; }
    else bench_fail("unknown workload");
    if (n) a.n = strtoull(n, NULL, 10);
    if (size) a.size = strtoull(size, NULL, 10);
    if (warmup) a.warmup = strtoull(warmup, NULL, 10);
    return a;
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The W1 text of round trip i: 32 ASCII digits (33 bytes with the NUL). */
static inline void w1_text(uint64_t i, char out[33]) {
    snprintf(out, 33, "%032" PRIu64, i);
}

/* The four W4 payloads: payload k is `size` bytes of '0' + k. */
static uint8_t **w4_payloads(size_t size) {
    uint8_t **p = malloc(4 * sizeof *p);
    for (int k = 0; k < 4; k++) {
        p[k] = malloc(size);
        if (!p[k]) bench_fail("out of memory");
        memset(p[k], '0' + k, size);
    }
    return p;
}

/* Checks the echo of W4 round trip i: length, first, middle and last byte. */
static inline int w4_ok(uint64_t i, size_t size, const uint8_t *data, size_t len) {
    uint8_t want = (uint8_t)('0' + i % 4);
    return len == size && data[0] == want && data[size / 2] == want && data[size - 1] == want;
}

/* What a client counts of the W2/W2z stream: every message's length and its
 * first and last byte (read, as a program using the data would). */
typedef struct {
    uint64_t count, bytes, check;
} tally;

static inline void tally_add(tally *t, const uint8_t *data, size_t len) {
    t->count++;
    t->bytes += len;
    if (len) t->check += (uint64_t)data[0] + data[len - 1];
}

/* Compares with the server's trailer "END <count> <bytes> <check> ...";
 * fails the run if they differ. */
static void tally_verify(const tally *t, const char *trailer) {
    char want[96];
    int k = snprintf(want, sizeof want, "END %" PRIu64 " %" PRIu64 " %" PRIu64, t->count, t->bytes, t->check);
    if (strncmp(trailer, want, (size_t)k) || (trailer[k] != ' ' && trailer[k] != 0))
        bench_fail("received '%s', the server sent '%s'", want, trailer);
}

/* The W3z reply "<count> <wire bytes> <compressed> <pmd>": checks the count. */
static void check_zcount(const char *reply, uint64_t n) {
    char want[32];
    int k = snprintf(want, sizeof want, "%" PRIu64 " ", n);
    if (strncmp(reply, want, (size_t)k)) bench_fail("W3z: server counted '%s', expected %" PRIu64, reply, n);
}

/* The JSON-like text message i of W2z and W3z (the server and every client
 * build the same strings). Returns its length. */
static int json_message(uint64_t i, char *out, size_t cap) {
    static const char *const symbols[8] = {"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX"};
    static const char *const venues[4] = {"XNAS", "XNYS", "ARCX", "BATS"};
    static const char *const notes[4] = {"limit order from the web client", "rebalance of the model portfolio",
                                         "manual order from the phone desk",
                                         "algorithmic slice of a larger parent order"};
    uint64_t px = 10000 + (i * 7919) % 90000;
    return snprintf(out, cap,
                    "{\"id\":%" PRIu64 ",\"type\":\"order\",\"symbol\":\"%s\",\"side\":\"%s\",\"price\":%" PRIu64
                    ".%02" PRIu64 ",\"qty\":%" PRIu64 ",\"ts\":%" PRIu64 ",\"venue\":\"%s\",\"account\":\"ACC-%05" PRIu64
                    "\",\"note\":\"%s\"}",
                    i, symbols[i % 8], i % 3 == 0 ? "sell" : "buy", px / 100, px % 100, 1 + (i * 104729) % 5000,
                    (uint64_t)1764460800000ull + i * 37, venues[(i / 8) % 4], (i * 31337) % 100000, notes[(i / 3) % 4]);
}

/* The 4,096 distinct messages W3z sends in turn (message i is pool[i % 4096]). */
#define JSON_POOL 4096
typedef struct {
    char *text[JSON_POOL];
    size_t len[JSON_POOL];
} json_pool;

static json_pool *json_pool_new(void) {
    json_pool *p = malloc(sizeof *p);
    char buf[512];
    for (uint64_t i = 0; i < JSON_POOL; i++) {
        int n = json_message(i, buf, sizeof buf);
        p->text[i] = malloc((size_t)n + 1);
        memcpy(p->text[i], buf, (size_t)n + 1);
        p->len[i] = (size_t)n;
    }
    return p;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Prints the W1 line from `n` round-trip times in nanoseconds. */
static void report_latency(uint64_t *ns, uint64_t n, const char *extra) {
    double sum = 0;
    for (uint64_t i = 0; i < n; i++) sum += (double)ns[i];
    qsort(ns, n, sizeof *ns, cmp_u64);
    uint64_t i50 = (uint64_t)(n * 0.50), i99 = (uint64_t)(n * 0.99);
    if (i99 >= n) i99 = n - 1;
    printf("{\"workload\":\"W1\",\"ok\":true,\"n\":%" PRIu64 ",\"p50_us\":%.3f,\"p99_us\":%.3f,\"mean_us\":%.3f%s}\n",
           n, ns[i50] / 1e3, ns[i99] / 1e3, sum / n / 1e3, extra ? extra : "");
    fflush(stdout);
}

/* `extra`: more JSON fields, starting with a comma, or NULL. */
static void report_rate_extra(const char *workload, uint64_t n, uint64_t elapsed_ns, const char *extra) {
    double s = elapsed_ns / 1e9;
    printf("{\"workload\":\"%s\",\"ok\":true,\"n\":%" PRIu64 ",\"seconds\":%.6f,\"msgs_per_s\":%.1f%s}\n", workload, n,
           s, n / s, extra ? extra : "");
    fflush(stdout);
}

static void report_rate(const char *workload, uint64_t n, uint64_t elapsed_ns) {
    report_rate_extra(workload, n, elapsed_ns, NULL);
}

/* `,"name":"value"` with the value's quotes, backslashes and control
 * characters replaced by spaces. */
static void json_field(char *out, size_t cap, const char *name, const char *value) {
    int k = snprintf(out, cap, ",\"%s\":\"%s\"", name, value);
    if (k < 0) return;
    for (char *p = out + strlen(name) + 5; *p && p[1]; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) *p = ' ';
}

static void report_big(uint64_t n, size_t size, uint64_t elapsed_ns) {
    double s = elapsed_ns / 1e9;
    double mib = (double)n * (double)size / (1024.0 * 1024.0);
    printf("{\"workload\":\"W4\",\"ok\":true,\"n\":%" PRIu64 ",\"seconds\":%.6f,\"mib_per_s\":%.1f}\n", n, s, mib / s);
    fflush(stdout);
}

/* `extra`: more JSON members (",\"name\":value..."), or "". */
static void report_conns_with(uint64_t n, uint64_t open_ns, long rss0, long rss1, const char *extra) {
    printf("{\"workload\":\"W5\",\"ok\":true,\"n\":%" PRIu64
           ",\"open_seconds\":%.6f,\"kib_per_conn\":%.3f,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld%s}\n",
           n, open_ns / 1e9, (double)(rss1 - rss0) / n, rss0, rss1, extra);
    fflush(stdout);
}

static inline void report_conns(uint64_t n, uint64_t open_ns, long rss0, long rss1) {
    report_conns_with(n, open_ns, rss0, rss1, "");
}

/* Resident set size in KiB (VmRSS of /proc/self/status). */
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

#endif
