/* libwebsockets (Debian's libwebsockets-dev) client for the same workloads.
 *
 * Usage: lws_client --workload W1..W5|W2z|W3z --url ws[s]://HOST:PORT/PATH
 *                   [--n N] [--size B] [--warmup N] [--ca FILE]
 *
 * wss:// (OpenSSL) trusts the --ca file (client_ssl_ca_filepath). W2z and
 * W3z enable lws' permessage-deflate extension
 * (lws_extension_callback_pm_deflate, offering
 * "permessage-deflate; client_max_window_bits"); the other workloads offer
 * no extension. W2/W2z read each message's first and last byte (a message
 * may arrive in several RECEIVE callbacks).
 *
 * One lws context, one service loop on the main thread, everything done in
 * the protocol callback, as lws intends. lws masks client payloads in place
 * (hence LWS_PRE headroom and a fresh copy before every write). For W2 and
 * W4 the receive buffers are enlarged (64 KiB per connection, 256 KiB
 * service buffer); the defaults (4 KiB) are kept otherwise;
 * several messages are written per WRITEABLE callback while
 * lws_send_pipe_choked() says the socket takes more (W3); one per callback
 * with permessage-deflate (W3z). */
#include "common.h"

#include <libwebsockets.h>

static bench_args A;
static struct lws_context *ctx;
static int finished;
static char failure[256];

static void fail_now(const char *msg) {
    if (!failure[0]) snprintf(failure, sizeof failure, "%s", msg);
    finished = 1;
}

/* --- state --- */
static uint64_t t0, t_end, sent_at;
static uint64_t i_msg;        /* messages completed (W1, W4) */
static tally rx;                 /* W2, W2z */
static uint64_t msg_len;         /* bytes of the message being received */
static uint8_t msg_first, msg_last;
static char trailer[256];
static json_pool *pool;          /* W3z */
static uint64_t *samples;
static uint8_t *txbuf;        /* LWS_PRE + payload */
static uint8_t *rxbuf;        /* W4 reassembly */
static uint8_t w3_payload[64 * 1024];
static size_t rxlen;
static uint8_t **w4_data;
static char w1_msg[33], reply[64];
static uint64_t w3_sent;
static int want_write; /* W1, W4: a message is due */

/* W5 */
struct conn {
    struct lws *wsi;
    int sent, echoed;
};
static struct conn *conns;
static uint64_t w5_target, w5_opened, w5_echoed;
static int w5_phase; /* 0: warm-up connection, 1: the n connections */

static int write_payload(struct lws *wsi, const void *data, size_t len, enum lws_write_protocol kind) {
    memcpy(txbuf + LWS_PRE, data, len);
    int r = lws_write(wsi, txbuf + LWS_PRE, len, kind);
    if (r < (int)len) {
        fail_now("lws_write failed");
        return -1;
    }
    return 0;
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len) {
    struct conn *c = user; /* connect_info.userdata: our struct conn, or NULL */
    const char *w = A.workload;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        fail_now(in ? (const char *)in : "connection error");
        return -1;

    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        if (!strcmp(w, "W1") || !strcmp(w, "W3") || !strcmp(w, "W3z")) {
            w1_text(0, w1_msg);
            sent_at = t0 = now_ns();
            want_write = 1;
            lws_callback_on_writable(wsi);
        } else if (!strcmp(w, "W4")) {
            t0 = now_ns();
            want_write = 1;
            lws_callback_on_writable(wsi);
        } else if (!strcmp(w, "W5")) {
            if (++w5_opened == w5_target) {
                t_end = now_ns();
                if (w5_phase == 0) {
                    lws_callback_on_writable(wsi);
                } else {
                    for (uint64_t k = 0; k < A.n; k++) lws_callback_on_writable(conns[k].wsi);
                }
            }
        }
        break;

    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (!strcmp(w, "W1")) {
            if (!want_write) break;
            want_write = 0;
            return write_payload(wsi, w1_msg, 32, LWS_WRITE_TEXT);
        } else if (!strcmp(w, "W5")) {
            if (!c || c->sent) break;
            c->sent = 1;
            return write_payload(wsi, w1_msg, 32, LWS_WRITE_TEXT);
        } else if (!strcmp(w, "W3")) {
            for (int k = 0; k < 256 && w3_sent < A.n; k++) {
                if (write_payload(wsi, w3_payload, A.size, LWS_WRITE_BINARY)) return -1;
                w3_sent++;
                if (lws_send_pipe_choked(wsi)) break;
            }
            if (w3_sent < A.n) lws_callback_on_writable(wsi);
        } else if (!strcmp(w, "W3z")) {
            /* One lws_write() per WRITEABLE callback, as lws requires when
             * an extension transforms the payload (several per callback
             * leave compressed data unsent). */
            uint64_t j = w3_sent % JSON_POOL;
            if (write_payload(wsi, pool->text[j], pool->len[j], LWS_WRITE_TEXT)) return -1;
            if (++w3_sent < A.n) lws_callback_on_writable(wsi);
        } else if (!strcmp(w, "W4")) {
            /* lws also signals WRITEABLE once it has drained a partial
             * write of its own: send only what was asked for. */
            if (!want_write) break;
            want_write = 0;
            return write_payload(wsi, w4_data[i_msg % 4], A.size, LWS_WRITE_BINARY);
        }
        break;

    case LWS_CALLBACK_CLIENT_RECEIVE: {
        int final = lws_is_final_fragment(wsi);
        if (!strcmp(w, "W2") || !strcmp(w, "W2z")) {
            const uint8_t *d = in;
            if (rx.count == A.n) { /* the trailer */
                if (msg_len + len >= sizeof trailer) {
                    fail_now("W2: trailer too long");
                    return -1;
                }
                memcpy(trailer + msg_len, in, len);
                msg_len += len;
                if (final) finished = 1;
                break;
            }
            if (msg_len == 0 && lws_frame_is_binary(wsi) != !strcmp(w, "W2")) {
                fail_now("W2: unexpected message type");
                return -1;
            }
            if (len) {
                if (msg_len == 0) msg_first = d[0];
                msg_last = d[len - 1];
            }
            msg_len += len;
            if (final) {
                rx.count++;
                rx.bytes += msg_len;
                if (msg_len) rx.check += (uint64_t)msg_first + msg_last;
                msg_len = 0;
                if (rx.count == A.n) t_end = now_ns();
            }
        } else if (!strcmp(w, "W1")) {
            uint64_t t = now_ns();
            if (!final || len != 32 || memcmp(in, w1_msg, 32)) {
                fail_now("W1: bad echo");
                return -1;
            }
            if (i_msg >= A.warmup) samples[i_msg - A.warmup] = t - sent_at;
            if (++i_msg == A.warmup + A.n) {
                finished = 1;
            } else {
                w1_text(i_msg, w1_msg);
                sent_at = now_ns();
                want_write = 1;
                lws_callback_on_writable(wsi);
            }
        } else if (!strcmp(w, "W3") || !strcmp(w, "W3z")) {
            t_end = now_ns();
            if (len >= sizeof reply) len = sizeof reply - 1;
            memcpy(reply, in, len);
            finished = 1;
        } else if (!strcmp(w, "W4")) {
            if (rxlen + len > A.size) {
                fail_now("W4: echo too long");
                return -1;
            }
            memcpy(rxbuf + rxlen, in, len);
            rxlen += len;
            if (final) {
                if (!w4_ok(i_msg, A.size, rxbuf, rxlen)) {
                    fail_now("W4: bad echo");
                    return -1;
                }
                rxlen = 0;
                if (++i_msg == A.n) {
                    t_end = now_ns();
                    finished = 1;
                } else {
                    want_write = 1;
                    lws_callback_on_writable(wsi);
                }
            }
        } else if (!strcmp(w, "W5")) {
            if (len != 32 || memcmp(in, w1_msg, 32) || (c && c->echoed++)) {
                fail_now("W5: bad echo");
                return -1;
            }
            if (++w5_echoed == w5_target) finished = 1;
        }
        break;
    }

    case LWS_CALLBACK_CLIENT_CLOSED:
        if (!finished) fail_now("closed early");
        break;

    default:
        break;
    }
    return 0;
}

static const struct lws_extension no_exts[] = {{NULL, NULL, NULL}};
static const struct lws_extension deflate_exts[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate, "permessage-deflate; client_max_window_bits"},
    {NULL, NULL, NULL},
};

static struct lws_protocols protocols[] = {
    {"bench", cb, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0},
};

static char url_copy[512];
static const char *host, *path_part;
static int port;
static char path[512];

static struct lws *connect_one(struct conn *c) {
    struct lws_client_connect_info i;
    memset(&i, 0, sizeof i);
    i.context = ctx;
    i.address = host;
    i.port = port;
    i.path = path;
    i.host = host;
    i.origin = host;
    i.protocol = NULL;
    i.local_protocol_name = "bench";
    i.userdata = c;
    if (!strncmp(A.url, "wss://", 6)) i.ssl_connection = LCCSCF_USE_SSL;
    struct lws *wsi = lws_client_connect_via_info(&i);
    if (!wsi) bench_fail("lws_client_connect_via_info failed");
    if (c) c->wsi = wsi;
    return wsi;
}

static void run_until_finished(void) {
    uint64_t deadline = now_ns() + 300ull * 1000000000ull;
    while (!finished && now_ns() < deadline)
        if (lws_service(ctx, 0) < 0) break;
    if (failure[0]) bench_fail("%s", failure);
    if (!finished) bench_fail("timed out");
}

int main(int argc, char **argv) {
    A = bench_parse(argc, argv);
    lws_set_log_level(LLL_ERR, NULL);

    snprintf(url_copy, sizeof url_copy, "%s", A.url);
    const char *prot;
    if (lws_parse_uri(url_copy, &prot, &host, &port, &path_part)) bench_fail("bad URL");
    snprintf(path, sizeof path, "/%s", path_part);

    const char *w = A.workload;
    int bulk = !strcmp(w, "W2") || !strcmp(w, "W2z") || !strcmp(w, "W4");
    int deflate = !strcmp(w, "W2z") || !strcmp(w, "W3z");

    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = protocols;
    if (bulk) {
        protocols[0].rx_buffer_size = 65536;
        info.pt_serv_buf_size = 256 * 1024;
    }
    info.fd_limit_per_thread = !strcmp(w, "W5") ? (unsigned)A.n + 64 : 256;
    info.extensions = deflate ? deflate_exts : no_exts;
    if (A.ca) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.client_ssl_ca_filepath = A.ca;
    }
    ctx = lws_create_context(&info);
    if (!ctx) bench_fail("lws_create_context failed");

    size_t bufsize = A.size > 1024 ? A.size : 1024;
    txbuf = malloc(LWS_PRE + bufsize);
    rxbuf = malloc(bufsize);
    memset(w3_payload, 0xA5, sizeof w3_payload);
    if (!strcmp(w, "W3") && A.size > sizeof w3_payload) bench_fail("W3: size too large");

    if (!strcmp(w, "W1")) {
        samples = malloc(A.n * sizeof *samples);
        connect_one(NULL);
        run_until_finished();
        report_latency(samples, A.n, NULL);
    } else if (!strcmp(w, "W2") || !strcmp(w, "W2z")) {
        t0 = now_ns();
        connect_one(NULL);
        run_until_finished();
        tally_verify(&rx, trailer);
        char extra[300];
        json_field(extra, sizeof extra, "trailer", trailer);
        report_rate_extra(w, A.n, t_end - t0, extra);
    } else if (!strcmp(w, "W3z")) {
        pool = json_pool_new();
        connect_one(NULL);
        run_until_finished();
        check_zcount(reply, A.n);
        char extra[300];
        json_field(extra, sizeof extra, "reply", reply);
        report_rate_extra(w, A.n, t_end - t0, extra);
    } else if (!strcmp(w, "W3")) {
        connect_one(NULL);
        run_until_finished();
        char want[64];
        snprintf(want, sizeof want, "%" PRIu64 " %" PRIu64, A.n, A.n * A.size);
        if (strcmp(reply, want)) bench_fail("W3: server counted '%s', expected '%s'", reply, want);
        report_rate("W3", A.n, t_end - t0);
    } else if (!strcmp(w, "W4")) {
        w4_data = w4_payloads(A.size);
        connect_one(NULL);
        run_until_finished();
        report_big(A.n, A.size, t_end - t0);
    } else {
        w1_text(1, w1_msg);
        static struct conn warm;
        w5_target = 1;
        connect_one(&warm);
        run_until_finished();
        finished = 0;
        w5_phase = 1;
        w5_target = A.n;
        w5_opened = w5_echoed = 0;
        conns = calloc(A.n, sizeof *conns);
        long rss0 = rss_kib();
        uint64_t start = now_ns();
        for (uint64_t k = 0; k < A.n; k++) connect_one(&conns[k]);
        run_until_finished();
        long rss1 = rss_kib();
        report_conns(A.n, t_end - start, rss0, rss1);
        finished = 1;
        return 0; /* no orderly teardown of 2,000 connections: not measured */
    }
    finished = 1;
    lws_context_destroy(ctx);
    return 0;
}
