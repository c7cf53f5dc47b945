/*
 * Network reach (issue 15) through the C ABI: proxies (tinyproxy and
 * microsocks started by run.sh on loopback), the proxy from the
 * environment, client certificates, Happy Eyeballs and a DNS failure (in
 * the private mount namespace run.sh gives this program, where dual.test
 * is ::1 and 127.0.0.1 and the resolver is a closed loopback port),
 * certificate revocation lists, and the cause of every failure as
 * ws_error_cause() reads it inside on_error.
 *
 * Environment (set by run.sh; the parts whose variable is missing are
 * skipped with a note): WSNATIVE_HTTP_PROXY_PORT, WSNATIVE_SOCKS_PORT,
 * WSNATIVE_PROXY_USER/_PASSWORD, WSNATIVE_TLS_CLIENT_CERT/_KEY,
 * WSNATIVE_TLS_CRL_REVOKED/_EMPTY, WSNATIVE_DUAL_HOST.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* What the hook saw inside on_error. */
typedef struct {
    ws_error_code code;
    uint16_t status;
    const char *header_name; /* read with ws_error_http_header() */
    char header[256];
    bool header_found;
} cause_t;

static void capture(rec_t *r, ws_socket *ws, const event_t *ev) {
    (void)ws;
    if (ev->kind != EV_ERROR) return;
    cause_t *c = r->user;
    c->code = ws_error_cause();
    c->status = ws_error_http_status();
    const char *v = c->header_name ? ws_error_http_header(c->header_name) : NULL;
    c->header_found = v != NULL;
    if (v) snprintf(c->header, sizeof c->header, "%s", v);
}

/* Opens `url` with `o` (may be NULL) and waits for its close. Returns the
 * cause seen in on_error (WS_ERROR_CODE_NONE when there was none); the
 * error message goes to msg. If the socket opens, sends "reach", expects
 * it back and closes: *echoed says whether that worked. */
static cause_t run(const char *url, const ws_options *o, const char *header_name, char *msg, size_t cap,
                   bool *echoed) {
    cause_t c = {WS_ERROR_CODE_NONE, 0, header_name, "", false};
    if (msg && cap) msg[0] = 0;
    if (echoed) *echoed = false;
    rec_t *r = rec_new();
    r->hook = capture;
    r->user = &c;
    ws_result res = rec_open(r, url, NULL, 0, o);
    if (res != WS_RESULT_OK) {
        h_fail(__FILE__, __LINE__, "ws_new", "%s: %s", url, ws_last_error());
        rec_unref(r);
        return c;
    }
    /* Open, or error then close. */
    for (int i = 0; i < h_ms(15000) / 10; i++) {
        if (rec_count(r, EV_OPEN) > 0 || rec_count(r, EV_CLOSE) > 0) break;
        h_sleep_ms(10);
    }
    if (rec_count(r, EV_OPEN) > 0) {
        CHECK_RES(ws_send_text(r->ws, "reach", 5), WS_RESULT_OK);
        for (int i = 0; i < h_ms(10000) / 10; i++) {
            if (rec_count(r, EV_MESSAGE) > 0 || rec_count(r, EV_CLOSE) > 0) break;
            h_sleep_ms(10);
        }
        if (rec_wait(r, EV_MESSAGE, 1, 0)) {
            event_t m = rec_get(r, (size_t)rec_find(r, EV_MESSAGE, 0));
            if (echoed) *echoed = m.len == 5 && memcmp(m.data, "reach", 5) == 0;
        }
        ws_close(r->ws, 1000, NULL);
    }
    CHECK_MSG(rec_wait(r, EV_CLOSE, 1, h_ms(15000)), "%s: no close: %s", url, rec_describe(r));
    int e = rec_find(r, EV_ERROR, 0);
    if (e >= 0 && msg) snprintf(msg, cap, "%s", (const char *)rec_get(r, (size_t)e).data);
    if (e >= 0) {
        event_t cl = rec_get(r, (size_t)rec_find(r, EV_CLOSE, 0));
        CHECK_EQ(cl.code, 1006);
    }
    rec_check_common(r);
    ws_free(r->ws);
    rec_unref(r);
    return c;
}

#define CHECK_CODE(c, want, msg) \
    CHECK_MSG((c).code == (want), "code %s, expected %s: %s", ws_error_code_str((c).code), ws_error_code_str(want), msg)

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static char g_user[64] = "alice", g_password[64] = "s3cret-pass";

static const char *proxy_url(const char *scheme, const char *port, const char *password) {
    static char buf[8][256];
    static int next;
    char *b = buf[next++ % 8];
    if (password)
        snprintf(b, 256, "%s://%s:%s@127.0.0.1:%s", scheme, g_user, password, port);
    else
        snprintf(b, 256, "%s://127.0.0.1:%s", scheme, port);
    return b;
}

static ws_options *with_proxy(const char *url) {
    ws_options *o = ws_options_new();
    ws_result r = ws_options_set_proxy(o, url);
    CHECK_MSG(r == WS_RESULT_OK, "ws_options_set_proxy(%s): %s", url ? url : "NULL", ws_last_error());
    ws_options_set_connect_timeout_ms(o, (uint64_t)h_ms(10000));
    return o;
}

static void test_proxy_option_validation(void) {
    ws_options *o = ws_options_new();
    CHECK_RES(ws_options_set_proxy(NULL, "http://h:1"), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_proxy(o, "ftp://h:1"), WS_RESULT_INVALID_OPTION);
    CHECK_MSG(strstr(ws_last_error(), "ftp") != NULL, "%s", ws_last_error());
    CHECK_RES(ws_options_set_proxy(o, "http://"), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_proxy(o, "http://u:p@h:3128"), WS_RESULT_OK);
    CHECK_RES(ws_options_set_proxy(o, "socks5h://[::1]:1080"), WS_RESULT_OK);
    CHECK_RES(ws_options_set_proxy(o, ""), WS_RESULT_OK);
    CHECK_RES(ws_options_set_proxy(o, NULL), WS_RESULT_OK);
    ws_options_free(o);
    /* Outside on_error there is no cause. */
    CHECK(ws_error_cause() == WS_ERROR_CODE_NONE);
    CHECK(ws_error_http_status() == 0);
    CHECK(ws_error_http_header("Retry-After") == NULL);
    CHECK(ws_error_http_header(NULL) == NULL);
    CHECK_STR(ws_error_code_str(WS_ERROR_CODE_PROXY_AUTH), "proxy_auth");
    CHECK_STR(ws_error_code_str(9999), "unknown");
}

static void test_http_connect_proxy(void) {
    const char *port = env("WSNATIVE_HTTP_PROXY_PORT");
    if (!port) {
        h_note("no tinyproxy (WSNATIVE_HTTP_PROXY_PORT): skipped");
        return;
    }
    char msg[512];
    bool echoed;
    ws_options *o = with_proxy(proxy_url("http", port, g_password));
    cause_t c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "through tinyproxy: %s", msg);
    ws_options_free(o);

    o = with_proxy(proxy_url("http", port, "wrong-password"));
    c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_AUTH, msg);
    CHECK_MSG(strstr(msg, port) != NULL && strstr(msg, "wrong-password") == NULL, "%s", msg);
    ws_options_free(o);

    o = with_proxy(proxy_url("http", port, NULL));
    c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_AUTH, msg);
    ws_options_free(o);

    /* The proxy cannot reach the target: it refuses the tunnel. */
    o = with_proxy(proxy_url("http", port, g_password));
    c = run(h_refused_url(), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_REFUSED, msg);
    CHECK_MSG(strstr(msg, g_password) == NULL, "%s", msg);
    ws_options_free(o);
}

static void hang_up_mid_connect(raw_server *s, int fd) {
    char head[4096];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    const char partial[] = "HTTP/1.1 200 Conn";
    ssize_t w = write(fd, partial, sizeof partial - 1);
    (void)w;
}

static void test_proxy_closing_mid_connect_and_unreachable(void) {
    char msg[512], url[128];
    raw_server *s = raw_start(hang_up_mid_connect, NULL);
    snprintf(url, sizeof url, "http://user:hidden@127.0.0.1:%u", (unsigned)raw_port(s));
    ws_options *o = with_proxy(url);
    cause_t c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_CLOSED, msg);
    CHECK_MSG(strstr(msg, "hidden") == NULL, "%s", msg);
    ws_options_free(o);
    raw_stop(s);

    /* A proxy port where nothing listens. */
    const char *refused = h_refused_url(); /* ws://127.0.0.1:PORT/ */
    const char *colon = strrchr(refused, ':');
    snprintf(url, sizeof url, "socks5h://127.0.0.1:%d", atoi(colon + 1));
    o = with_proxy(url);
    c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_UNREACHABLE, msg);
    CHECK_MSG(strstr(msg, "socks5h://127.0.0.1") != NULL, "%s", msg);
    ws_options_free(o);
}

static void test_socks5_proxy(void) {
    const char *port = env("WSNATIVE_SOCKS_PORT");
    if (!port) {
        h_note("no microsocks (WSNATIVE_SOCKS_PORT): skipped");
        return;
    }
    char msg[512];
    bool echoed;
    const char *schemes[] = {"socks5h", "socks5"};
    for (int i = 0; i < 2; i++) {
        ws_options *o = with_proxy(proxy_url(schemes[i], port, g_password));
        cause_t c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, &echoed);
        CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s: %s", schemes[i], msg);
        ws_options_free(o);
    }
    ws_options *o = with_proxy(proxy_url("socks5", port, "bad-password"));
    cause_t c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_AUTH, msg);
    ws_options_free(o);
    o = with_proxy(proxy_url("socks5h", port, g_password));
    c = run(h_refused_url(), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_REFUSED, msg);
    ws_options_free(o);
}

static void test_proxy_from_the_environment(void) {
    const char *port = env("WSNATIVE_HTTP_PROXY_PORT");
    if (!port) {
        h_note("no tinyproxy: skipped");
        return;
    }
    char msg[512];
    bool echoed;
    /* Wrong credentials in the environment: the failure proves it is read. */
    setenv("http_proxy", proxy_url("http", port, "env-wrong"), 1);
    cause_t c = run(h_echo_url("/"), NULL, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_PROXY_AUTH, msg);
    /* "" : no proxy, whatever the environment says. */
    ws_options *o = with_proxy("");
    c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    ws_options_free(o);
    /* no_proxy: CIDR blocks, or everything. */
    setenv("no_proxy", "example.test,127.0.0.0/8", 1);
    c = run(h_echo_url("/"), NULL, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    setenv("no_proxy", "*", 1);
    c = run(h_echo_url("/"), NULL, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    unsetenv("no_proxy");
    unsetenv("http_proxy");
    /* all_proxy, with the right credentials. */
    setenv("all_proxy", proxy_url("http", port, g_password), 1);
    c = run(h_echo_url("/"), NULL, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    unsetenv("all_proxy");
}

static void answer_429(raw_server *s, int fd) {
    char head[4096];
    if (!raw_read_head(s, fd, head, sizeof head, 10000)) return;
    const char resp[] = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 17\r\nContent-Length: 0\r\n\r\n";
    ssize_t w = write(fd, resp, sizeof resp - 1);
    (void)w;
}

static void test_failure_causes(void) {
    char msg[512];
    ws_options *o = with_proxy("");

    cause_t c = run(h_refused_url(), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_CONNECTION_REFUSED, msg);

    raw_server *s = raw_start(answer_429, NULL);
    c = run(raw_url(s, "/"), o, "retry-after", msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_HANDSHAKE_REFUSED, msg);
    CHECK_EQ(c.status, 429);
    CHECK_MSG(c.header_found && strcmp(c.header, "17") == 0, "Retry-After: %s", c.header);
    raw_stop(s);

    s = raw_start(raw_bad_accept, NULL);
    c = run(raw_url(s, "/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_HANDSHAKE_INVALID, msg);
    CHECK_EQ(c.status, 0);
    raw_stop(s);

    s = raw_start(raw_silent, NULL);
    ws_options_set_connect_timeout_ms(o, 300);
    c = run(raw_url(s, "/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_TIMEOUT_HANDSHAKE, msg);
    raw_stop(s);
    ws_options_set_connect_timeout_ms(o, (uint64_t)h_ms(10000));

    ws_options_set_block_unsafe_ports(o, true);
    c = run("ws://127.0.0.1:6000/", o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_BLOCKED_PORT, msg);
    ws_options_set_block_unsafe_ports(o, false);

    ws_options_set_max_message_size(o, 4);
    c = run(h_echo_url("/"), o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_MESSAGE_TOO_BIG, msg);
    ws_options_free(o);

    const char *tls = env("WSNATIVE_TLS_URL"), *ca = env("WSNATIVE_TLS_CA"),
               *wrong = env("WSNATIVE_TLS_WRONG_HOST_URL");
    if (!tls || !ca || !wrong) {
        h_note("no TLS server: the certificate causes were skipped");
        return;
    }
    o = with_proxy("");
    c = run(tls, o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_TLS_CERT_UNTRUSTED, msg);
    CHECK_RES(ws_options_set_ca_file(o, ca, false), WS_RESULT_OK);
    c = run(wrong, o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_TLS_CERT_NAME_MISMATCH, msg);
    ws_options_free(o);
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 16);
    *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

static void test_client_certificate_option(void) {
    ws_options *o = ws_options_new();
    const uint8_t junk[] = "not PEM";
    CHECK_RES(ws_options_set_client_cert_pem(o, junk, 7, junk, 7), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_client_cert_pem(o, junk, 7, NULL, 0), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_client_cert_pem(o, NULL, 0, NULL, 0), WS_RESULT_OK);
    const char *cert = env("WSNATIVE_TLS_CLIENT_CERT"), *key = env("WSNATIVE_TLS_CLIENT_KEY");
    const char *tls = env("WSNATIVE_TLS_URL"), *ca = env("WSNATIVE_TLS_CA");
    if (!cert || !key || !tls || !ca) {
        h_note("no client certificate: skipped");
        ws_options_free(o);
        return;
    }
    size_t cl = 0, kl = 0;
    char *c = slurp(cert, &cl), *k = slurp(key, &kl);
    REQUIRE(c && k);
    /* A certificate without its key (or a key for a chain) is refused. */
    CHECK_RES(ws_options_set_client_cert_pem(o, (uint8_t *)c, cl, (uint8_t *)c, cl), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_client_cert_pem(o, (uint8_t *)c, cl, (uint8_t *)k, kl), WS_RESULT_OK);
    CHECK_RES(ws_options_set_ca_file(o, ca, false), WS_RESULT_OK);
    CHECK_RES(ws_options_set_proxy(o, ""), WS_RESULT_OK);
    /* Offered only when asked: a server that does not ask still opens. */
    char msg[512];
    bool echoed;
    cause_t got = run(tls, o, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(got.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    free(c);
    free(k);
    ws_options_free(o);
}

/* Revocation lists (ws_options_set_ca_crl_pem) from the test CA: one that
 * lists the TLS echo server's certificate, one that lists nothing. */
static void test_revocation_lists(void) {
    ws_options *o = ws_options_new();
    const uint8_t junk[] = "not PEM";
    CHECK_RES(ws_options_set_ca_crl_pem(NULL, junk, 7), WS_RESULT_NULL_ARGUMENT);
    CHECK_RES(ws_options_set_ca_crl_pem(o, junk, 7), WS_RESULT_INVALID_OPTION);
    CHECK_RES(ws_options_set_ca_crl_pem(o, NULL, 0), WS_RESULT_OK);
    const char *revoked = env("WSNATIVE_TLS_CRL_REVOKED"), *empty = env("WSNATIVE_TLS_CRL_EMPTY");
    const char *tls = env("WSNATIVE_TLS_URL"), *ca = env("WSNATIVE_TLS_CA");
    if (!revoked || !empty || !tls || !ca) {
        h_note("no revocation lists: skipped");
        ws_options_free(o);
        return;
    }
    size_t rl = 0, el = 0;
    char *r = slurp(revoked, &rl), *e = slurp(empty, &el);
    REQUIRE(r && e);
    char msg[512];
    bool echoed;
    CHECK_RES(ws_options_set_proxy(o, ""), WS_RESULT_OK);
    ws_options_set_connect_timeout_ms(o, (uint64_t)h_ms(10000));
    /* Lists need an exclusive CA: the operating system's verifier takes none. */
    CHECK_RES(ws_options_set_ca_crl_pem(o, (uint8_t *)r, rl), WS_RESULT_OK);
    CHECK_RES(ws_options_set_ca_file(o, ca, false), WS_RESULT_OK);
    ws_callbacks cb = {0};
    ws_socket *s = NULL;
    CHECK_RES(ws_new(tls, NULL, 0, o, &cb, &s), WS_RESULT_INVALID_OPTION);
    CHECK_MSG(strstr(ws_last_error(), "exclusive") != NULL, "%s", ws_last_error());
    /* The server's certificate is listed: refused with its own code. */
    CHECK_RES(ws_options_set_ca_file(o, ca, true), WS_RESULT_OK);
    cause_t c = run(tls, o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_TLS_CERT_REVOKED, msg);
    /* A list from the same CA without it: the server opens. */
    CHECK_RES(ws_options_set_ca_crl_pem(o, (uint8_t *)e, el), WS_RESULT_OK);
    c = run(tls, o, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    free(r);
    free(e);
    ws_options_free(o);
}

/* Happy Eyeballs: dual.test is ::1 (a listener whose accept queue is full:
 * SYNs go unanswered) and 127.0.0.1 (the echo server), ::1 first. */
static void test_happy_eyeballs_and_dns(void) {
    const char *host = env("WSNATIVE_DUAL_HOST");
    if (!host) {
        h_note("no private mount namespace (WSNATIVE_DUAL_HOST): skipped");
        return;
    }
    const char *echo = h_echo_url("/");
    int port = atoi(strrchr(echo, ':') + 1);
    int silent = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a = {0};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    a.sin6_addr = in6addr_loopback;
    REQUIRE(silent >= 0 && bind(silent, (struct sockaddr *)&a, sizeof a) == 0 && listen(silent, 0) == 0);
    int fill[2];
    for (int i = 0; i < 2; i++) {
        fill[i] = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int r = connect(fill[i], (struct sockaddr *)&a, sizeof a);
        (void)r;
    }
    h_sleep_ms(200);
    char url[128], msg[512];
    bool echoed;
    snprintf(url, sizeof url, "ws://%s:%d/", host, port);
    ws_options *o = with_proxy("");
    double t0 = h_now_ms();
    cause_t c = run(url, o, NULL, msg, sizeof msg, &echoed);
    double took = h_now_ms() - t0;
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);
    /* One attempt delay (250 ms), not the 10 s connect timeout. */
    CHECK_MSG(took >= 250 && took < h_ms(3000), "took %.0f ms", took);
    h_note("dual-stack host with a silent IPv6 address opened in %.0f ms", took);

    /* A name with an A record only: its AAAA query fails, the A answer is used. */
    snprintf(url, sizeof url, "ws://v4only.test:%d/", port);
    c = run(url, o, NULL, msg, sizeof msg, &echoed);
    CHECK_MSG(c.code == WS_ERROR_CODE_NONE && echoed, "%s", msg);

    snprintf(url, sizeof url, "ws://nowhere.test:%d/", port);
    c = run(url, o, NULL, msg, sizeof msg, NULL);
    CHECK_CODE(c, WS_ERROR_CODE_DNS, msg);
    ws_options_free(o);
    for (int i = 0; i < 2; i++) close(fill[i]);
    close(silent);
}

/* Last: ws_shutdown() fails a connecting socket with WS_ERROR_CODE_SHUT_DOWN
 * (nothing works after it, so it runs last). */
static void test_shutdown_while_connecting(void) {
    raw_server *s = raw_start(raw_silent, NULL);
    cause_t c = {WS_ERROR_CODE_NONE, 0, NULL, "", false};
    rec_t *r = rec_new();
    r->hook = capture;
    r->user = &c;
    ws_options *o = with_proxy("");
    REQUIRE(rec_open(r, raw_url(s, "/"), NULL, 0, o) == WS_RESULT_OK);
    ws_options_free(o);
    h_sleep_ms(100);
    CHECK_RES(ws_shutdown((uint64_t)h_ms(5000)), WS_RESULT_OK);
    CHECK(rec_wait(r, EV_CLOSE, 1, h_ms(5000)));
    CHECK_CODE(c, WS_ERROR_CODE_SHUT_DOWN, rec_describe(r));
    rec_check_common(r);
    ws_free(r->ws);
    rec_unref(r);
    raw_stop(s);
}

int main(void) {
    h_init("test_reach", 240);
    if (env("WSNATIVE_PROXY_USER")) snprintf(g_user, sizeof g_user, "%s", env("WSNATIVE_PROXY_USER"));
    if (env("WSNATIVE_PROXY_PASSWORD"))
        snprintf(g_password, sizeof g_password, "%s", env("WSNATIVE_PROXY_PASSWORD"));
    /* The tests set these themselves. */
    const char *proxy_vars[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                "all_proxy",  "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
    for (size_t i = 0; i < sizeof proxy_vars / sizeof *proxy_vars; i++) unsetenv(proxy_vars[i]);
    RUN(test_proxy_option_validation);
    RUN(test_http_connect_proxy);
    RUN(test_proxy_closing_mid_connect_and_unreachable);
    RUN(test_socks5_proxy);
    RUN(test_proxy_from_the_environment);
    RUN(test_failure_causes);
    RUN(test_client_certificate_option);
    RUN(test_revocation_lists);
    RUN(test_happy_eyeballs_and_dns);
    RUN(test_shutdown_while_connecting);
    return h_summary();
}
