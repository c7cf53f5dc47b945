/*
 * chat: the JSON chat client of MDN's "Writing WebSocket client
 * applications", in C, for the bundled chat server
 * (wsnative-testserver --mode chat).
 *
 *   chat URL USERNAME                  interactive: each stdin line is a
 *                                      chat message; EOF closes and exits
 *   chat URL USERNAME --once TEXT      sends TEXT once the username is
 *                                      registered, waits for its own message
 *                                      to come back, closes; exit 0, or 1 on
 *                                      error or after 10 s
 *
 * Protocol (server -> client): {"type":"id","id":N} on connect;
 * {"type":"rejectusername","name":NEW}; {"type":"userlist","users":[...]};
 * {"type":"message","text":T,"name":NAME,"id":N,"date":MS};
 * {"type":"username","name":NAME,"date":MS}. Client -> server:
 * {"type":"username","name":NAME,"id":N,"date":MS} and
 * {"type":"message","text":T,"id":N,"date":MS}.
 *
 * The socket uses WS_DISPATCH_QUEUED: the main loop, like a game or UI
 * loop, calls ws_poll(ws, 0) and then poll(2) on stdin with a 50 ms
 * timeout, so every callback runs on the main thread and the program needs
 * no locks.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsnative.h"

/* ---------------------------------------------------------------------- */
/* Growable string                                                         */

typedef struct {
    char *p;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        fprintf(stderr, "chat: out of memory\n");
        exit(1);
    }
    b->p = p;
    b->cap = cap;
}

static void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void buf_addc(buf_t *b, char c) { buf_add(b, &c, 1); }

static void buf_addf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[128];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---------------------------------------------------------------------- */
/* UTF-8                                                                   */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n) {
    if (n == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned min;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    if (n < len) return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static void utf8_put(buf_t *b, unsigned cp) {
    char o[4];
    if (cp < 0x80) {
        o[0] = (char)cp;
        buf_add(b, o, 1);
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        buf_add(b, o, 2);
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        buf_add(b, o, 3);
    } else {
        o[0] = (char)(0xf0 | cp >> 18);
        o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        buf_add(b, o, 4);
    }
}

/* ---------------------------------------------------------------------- */
/* JSON writer                                                             */

/* Appends s (n bytes) as a JSON string: quotes, backslashes and control
 * characters escaped; invalid UTF-8 becomes U+FFFD (a JavaScript string,
 * like the text box of MDN's page, cannot hold it either). */
static void json_put_string(buf_t *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    buf_addc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        if (c == '"' || c == '\\') {
            buf_addc(b, '\\');
            buf_addc(b, (char)c);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            switch (c) {
            case '\n': buf_add(b, "\\n", 2); break;
            case '\r': buf_add(b, "\\r", 2); break;
            case '\t': buf_add(b, "\\t", 2); break;
            case '\b': buf_add(b, "\\b", 2); break;
            case '\f': buf_add(b, "\\f", 2); break;
            default: buf_addf(b, "\\u%04x", c); break;
            }
            i++;
        } else if (c < 0x80) {
            buf_addc(b, (char)c);
            i++;
        } else {
            size_t k = utf8_seq(u + i, n - i);
            if (k == 0) {
                utf8_put(b, 0xfffd);
                i++;
            } else {
                buf_add(b, s + i, k);
                i += k;
            }
        }
    }
    buf_addc(b, '"');
}

/* ---------------------------------------------------------------------- */
/* JSON reader for flat objects                                            */

enum { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_STRINGS, J_OTHER };

typedef struct {
    char *key;
    int type;
    char *str;      /* J_STRING: UTF-8, NUL-terminated (may hold \u0000 as NUL) */
    size_t str_len;
    double num;     /* J_NUMBER, J_BOOL (0/1) */
    char **items;   /* J_STRINGS: the string elements of an array */
    size_t n_items;
} jfield;

typedef struct {
    jfield *f;
    size_t n;
} jobject;

typedef struct {
    const char *s, *end;
    int depth;
} jparser;

static void jskip_ws(jparser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r')) p->s++;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool jhex4(jparser *p, unsigned *out) {
    if (p->end - p->s < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[i]);
        if (h < 0) return false;
        v = v << 4 | (unsigned)h;
    }
    p->s += 4;
    *out = v;
    return true;
}

/* Parses a string at p->s (the opening quote) into out (if not NULL). */
static bool jstring(jparser *p, buf_t *out) {
    if (p->s >= p->end || *p->s != '"') return false;
    p->s++;
    buf_t tmp = {0};
    buf_t *b = out ? out : &tmp;
    buf_reserve(b, 0);
    b->p[b->len] = 0;
    while (p->s < p->end) {
        unsigned char c = (unsigned char)*p->s;
        if (c == '"') {
            p->s++;
            free(tmp.p);
            return true;
        }
        if (c < 0x20) break; /* raw control characters are not allowed */
        if (c != '\\') {
            size_t k = utf8_seq((const unsigned char *)p->s, (size_t)(p->end - p->s));
            if (k == 0) {
                utf8_put(b, 0xfffd);
                p->s++;
            } else {
                buf_add(b, p->s, k);
                p->s += k;
            }
            continue;
        }
        if (++p->s >= p->end) break;
        char e = *p->s++;
        switch (e) {
        case '"': buf_addc(b, '"'); break;
        case '\\': buf_addc(b, '\\'); break;
        case '/': buf_addc(b, '/'); break;
        case 'b': buf_addc(b, '\b'); break;
        case 'f': buf_addc(b, '\f'); break;
        case 'n': buf_addc(b, '\n'); break;
        case 'r': buf_addc(b, '\r'); break;
        case 't': buf_addc(b, '\t'); break;
        case 'u': {
            unsigned cp;
            if (!jhex4(p, &cp)) goto fail;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate: a low one must follow to make a pair. */
                unsigned lo;
                const char *save = p->s;
                if (p->end - p->s >= 6 && p->s[0] == '\\' && p->s[1] == 'u') {
                    p->s += 2;
                    if (jhex4(p, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    } else {
                        p->s = save;
                        cp = 0xfffd;
                    }
                } else {
                    cp = 0xfffd;
                }
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                cp = 0xfffd; /* a lone low surrogate */
            }
            utf8_put(b, cp);
            break;
        }
        default: goto fail;
        }
    }
fail:
    free(tmp.p);
    return false;
}

static bool jnumber(jparser *p, double *out) {
    const char *start = p->s;
    if (p->s < p->end && *p->s == '-') p->s++;
    if (p->s >= p->end) return false;
    if (*p->s == '0') {
        p->s++;
    } else if (*p->s >= '1' && *p->s <= '9') {
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    } else {
        return false;
    }
    if (p->s < p->end && *p->s == '.') {
        p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return false;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    if (p->s < p->end && (*p->s == 'e' || *p->s == 'E')) {
        p->s++;
        if (p->s < p->end && (*p->s == '+' || *p->s == '-')) p->s++;
        if (p->s >= p->end || *p->s < '0' || *p->s > '9') return false;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') p->s++;
    }
    char tmp[64];
    size_t n = (size_t)(p->s - start);
    if (n >= sizeof tmp) n = sizeof tmp - 1; /* absurdly long: keep the prefix */
    memcpy(tmp, start, n);
    tmp[n] = 0;
    *out = strtod(tmp, NULL);
    return true;
}

static bool jliteral(jparser *p, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return false;
    p->s += n;
    return true;
}

static bool jvalue(jparser *p, jfield *f);

static void jfield_clear(jfield *f) {
    free(f->str);
    for (size_t i = 0; i < f->n_items; i++) free(f->items[i]);
    free(f->items);
    memset(f, 0, sizeof *f);
}

/* An array; its string elements are kept when f is not NULL. */
static bool jarray(jparser *p, jfield *f) {
    p->s++; /* [ */
    jskip_ws(p);
    if (p->s < p->end && *p->s == ']') {
        p->s++;
        return true;
    }
    for (;;) {
        jskip_ws(p);
        jfield item = {0};
        if (!jvalue(p, &item)) {
            jfield_clear(&item);
            return false;
        }
        if (f && item.type == J_STRING) {
            char **items = realloc(f->items, (f->n_items + 1) * sizeof *items);
            if (!items) exit(1);
            f->items = items;
            f->items[f->n_items++] = item.str;
            item.str = NULL;
        }
        jfield_clear(&item);
        jskip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == ']') {
            p->s++;
            return true;
        }
        return false;
    }
}

/* Skips a nested object (other messages may carry one). */
static bool jskip_object(jparser *p) {
    p->s++; /* { */
    jskip_ws(p);
    if (p->s < p->end && *p->s == '}') {
        p->s++;
        return true;
    }
    for (;;) {
        jskip_ws(p);
        if (!jstring(p, NULL)) return false;
        jskip_ws(p);
        if (p->s >= p->end || *p->s++ != ':') return false;
        jskip_ws(p);
        jfield v = {0};
        bool ok = jvalue(p, &v);
        jfield_clear(&v);
        if (!ok) return false;
        jskip_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            return true;
        }
        return false;
    }
}

static bool jvalue(jparser *p, jfield *f) {
    if (p->s >= p->end) return false;
    if (++p->depth > 32) return false; /* no stack exhaustion on hostile input */
    bool ok;
    char c = *p->s;
    if (c == '"') {
        buf_t b = {0};
        ok = jstring(p, &b);
        if (ok) {
            f->type = J_STRING;
            f->str = b.p;
            f->str_len = b.len;
        } else {
            free(b.p);
        }
    } else if (c == '[') {
        f->type = J_STRINGS;
        ok = jarray(p, f);
    } else if (c == '{') {
        f->type = J_OTHER;
        ok = jskip_object(p);
    } else if (c == 't' || c == 'f') {
        f->type = J_BOOL;
        f->num = c == 't';
        ok = jliteral(p, c == 't' ? "true" : "false");
    } else if (c == 'n') {
        f->type = J_NULL;
        ok = jliteral(p, "null");
    } else {
        f->type = J_NUMBER;
        ok = jnumber(p, &f->num);
    }
    p->depth--;
    return ok;
}

static void jobject_free(jobject *o) {
    for (size_t i = 0; i < o->n; i++) {
        free(o->f[i].key);
        jfield_clear(&o->f[i]);
    }
    free(o->f);
    o->f = NULL;
    o->n = 0;
}

/* Parses one JSON object (len bytes). False if it is not one. */
static bool jparse_object(const char *s, size_t len, jobject *o) {
    jparser p = {s, s + len, 0};
    o->f = NULL;
    o->n = 0;
    jskip_ws(&p);
    if (p.s >= p.end || *p.s != '{') return false;
    p.s++;
    jskip_ws(&p);
    if (p.s < p.end && *p.s == '}') {
        p.s++;
        goto end;
    }
    for (;;) {
        jskip_ws(&p);
        buf_t key = {0};
        if (!jstring(&p, &key)) {
            free(key.p);
            goto fail;
        }
        jskip_ws(&p);
        if (p.s >= p.end || *p.s++ != ':') {
            free(key.p);
            goto fail;
        }
        jskip_ws(&p);
        jfield *f = realloc(o->f, (o->n + 1) * sizeof *f);
        if (!f) exit(1);
        o->f = f;
        f = &o->f[o->n++];
        memset(f, 0, sizeof *f);
        f->key = key.p;
        if (!jvalue(&p, f)) goto fail;
        jskip_ws(&p);
        if (p.s < p.end && *p.s == ',') {
            p.s++;
            continue;
        }
        if (p.s < p.end && *p.s == '}') {
            p.s++;
            break;
        }
        goto fail;
    }
end:
    jskip_ws(&p);
    if (p.s == p.end) return true;
fail:
    jobject_free(o);
    return false;
}

/* The last field named key (JSON.parse keeps the last duplicate). */
static const jfield *jget(const jobject *o, const char *key) {
    for (size_t i = o->n; i-- > 0;)
        if (strcmp(o->f[i].key, key) == 0) return &o->f[i];
    return NULL;
}

static const char *jstr(const jobject *o, const char *key) {
    const jfield *f = jget(o, key);
    return f && f->type == J_STRING ? f->str : NULL;
}

/* ---------------------------------------------------------------------- */
/* The chat client                                                         */

typedef struct {
    ws_socket *ws;
    const char *username; /* as given */
    char *my_name;        /* as the server knows it */
    double client_id;     /* from the "id" message */
    bool have_id;
    bool sent_username;
    bool registered;      /* our name is in a userlist */
    const char *once_text;
    char *once_expect;    /* once_text as the server will send it back */
    bool once_sent;
    bool once_seen;
    bool closed;
    bool clean;
    bool failed;
} app_t;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)(ts.tv_nsec / 1000000);
}

/* HH:MM:SS (local time) of a JavaScript date (milliseconds since 1970). */
static void time_str(double ms, char out[16]) {
    time_t t = (time_t)(ms / 1000.0);
    struct tm tm;
    if (ms <= 0 || !localtime_r(&t, &tm) || strftime(out, 16, "%H:%M:%S", &tm) == 0) snprintf(out, 16, "--:--:--");
}

/* Prints untrusted text for a terminal: control characters (escape
 * sequences!) are shown as '?'; newlines and tabs are kept. */
static void print_safe(const char *s) {
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if ((*u < 0x20 && *u != '\n' && *u != '\t') || *u == 0x7f) putchar('?');
        else putchar(*u);
    }
}

/* The server removes HTML tags like MDN's /(<([^>]+)>)/ig: a '<', at least
 * one character other than '>', then '>'. */
static char *strip_tags(const char *s) {
    buf_t b = {0};
    buf_reserve(&b, 0);
    b.p[0] = 0;
    while (*s) {
        if (*s == '<') {
            const char *close = strchr(s + 1, '>');
            if (close && close > s + 1) {
                s = close + 1;
                continue;
            }
        }
        buf_addc(&b, *s++);
    }
    return b.p;
}

static bool send_json(app_t *app, buf_t *b) {
    ws_result r = ws_send_text(app->ws, b->p, b->len);
    if (r != WS_RESULT_OK) {
        fprintf(stderr, "chat: send failed: %s: %s\n", ws_result_str(r), ws_last_error());
        return false;
    }
    return true;
}

static void send_username(app_t *app) {
    buf_t b = {0};
    buf_add(&b, "{\"type\":\"username\",\"name\":", 26);
    json_put_string(&b, app->username, strlen(app->username));
    buf_addf(&b, ",\"id\":%.0f,\"date\":%.0f}", app->client_id, now_ms());
    if (send_json(app, &b)) app->sent_username = true;
    free(b.p);
}

static void send_message(app_t *app, const char *text, size_t len) {
    buf_t b = {0};
    buf_add(&b, "{\"type\":\"message\",\"text\":", 25);
    json_put_string(&b, text, len);
    buf_addf(&b, ",\"id\":%.0f,\"date\":%.0f}", app->client_id, now_ms());
    send_json(app, &b);
    free(b.p);
}

static void set_my_name(app_t *app, const char *name) {
    free(app->my_name);
    app->my_name = strdup(name);
}

static void handle(app_t *app, const jobject *o) {
    const char *type = jstr(o, "type");
    if (!type) return;
    const jfield *date = jget(o, "date");
    char when[16];
    time_str(date && date->type == J_NUMBER ? date->num : now_ms(), when);

    if (strcmp(type, "id") == 0) {
        const jfield *id = jget(o, "id");
        if (!id || id->type != J_NUMBER) return;
        app->client_id = id->num;
        app->have_id = true;
        if (!app->sent_username) send_username(app);
    } else if (strcmp(type, "username") == 0) {
        const char *name = jstr(o, "name");
        printf("User ");
        print_safe(name ? name : "?");
        printf(" signed in at %s\n", when);
    } else if (strcmp(type, "rejectusername") == 0) {
        const char *name = jstr(o, "name");
        if (!name) return;
        set_my_name(app, name);
        printf("your username has been set to ");
        print_safe(name);
        printf(" because the name you chose is in use\n");
    } else if (strcmp(type, "userlist") == 0) {
        const jfield *users = jget(o, "users");
        if (!users || users->type != J_STRINGS) return;
        printf("Users:");
        for (size_t i = 0; i < users->n_items; i++) {
            printf(i ? ", " : " ");
            print_safe(users->items[i]);
            if (app->sent_username && strcmp(users->items[i], app->my_name) == 0) app->registered = true;
        }
        printf("\n");
    } else if (strcmp(type, "message") == 0) {
        const char *name = jstr(o, "name");
        const char *text = jstr(o, "text");
        printf("(%s) ", when);
        print_safe(name ? name : "(no name)");
        printf(": ");
        print_safe(text ? text : "");
        printf("\n");
        if (app->once_sent && name && text && strcmp(name, app->my_name) == 0 &&
            (strcmp(text, app->once_expect) == 0 || strcmp(text, app->once_text) == 0))
            app->once_seen = true;
    }
    /* Other types (MDN's video-call signalling, ...) are not for this client. */
}

static void on_message(ws_socket *ws, const uint8_t *data, size_t len, ws_message_type kind, void *userdata) {
    (void)ws;
    app_t *app = userdata;
    if (kind != WS_MESSAGE_TYPE_TEXT) return;
    jobject o;
    if (!jparse_object((const char *)data, len, &o)) {
        fprintf(stderr, "chat: ignoring a message that is not a JSON object (%zu bytes)\n", len);
        return;
    }
    handle(app, &o);
    jobject_free(&o);
    fflush(stdout);
}

static void on_open(ws_socket *ws, void *userdata) {
    (void)userdata;
    fprintf(stderr, "connected to %s\n", ws_url(ws));
}

static void on_error(ws_socket *ws, const char *message, void *userdata) {
    (void)ws;
    app_t *app = userdata;
    app->failed = true;
    fprintf(stderr, "chat: connection error: %s\n", message);
}

static void on_close(ws_socket *ws, uint16_t code, const char *reason, size_t reason_len, bool was_clean,
                     void *userdata) {
    (void)ws;
    app_t *app = userdata;
    app->closed = true;
    app->clean = was_clean;
    fprintf(stderr, "connection closed (code %u%s%.*s%s)\n", code, reason_len ? ", \"" : "", (int)reason_len,
            reason, reason_len ? "\"" : "");
}

/* Sends every complete line of `in` (and, at EOF, the rest). */
static void send_lines(app_t *app, buf_t *in, bool eof) {
    size_t start = 0;
    for (size_t i = 0; i < in->len; i++) {
        if (in->p[i] != '\n') continue;
        size_t end = i;
        if (end > start && in->p[end - 1] == '\r') end--;
        send_message(app, in->p + start, end - start);
        start = i + 1;
    }
    if (eof && start < in->len) {
        send_message(app, in->p + start, in->len - start);
        start = in->len;
    }
    memmove(in->p, in->p + start, in->len - start);
    in->len -= start;
    if (in->p) in->p[in->len] = 0;
}

int main(int argc, char **argv) {
    const char *once = NULL;
    if (argc == 5 && strcmp(argv[3], "--once") == 0) once = argv[4];
    if (!(argc == 3 || (argc == 5 && once)) || !*argv[2]) {
        fprintf(stderr, "usage: %s URL USERNAME [--once TEXT]\n", argv[0]);
        return 2;
    }
    app_t app;
    memset(&app, 0, sizeof app);
    app.username = argv[2];
    app.my_name = strdup(argv[2]);
    app.once_text = once;
    app.once_expect = once ? strip_tags(once) : NULL;

    ws_options *opts = ws_options_new();
    ws_options_set_dispatch(opts, WS_DISPATCH_QUEUED);
    ws_callbacks cb = {on_open, on_message, on_error, on_close, &app, NULL};
    ws_result r = ws_new(argv[1], NULL, 0, opts, &cb, &app.ws);
    ws_options_free(opts);
    if (r != WS_RESULT_OK) {
        fprintf(stderr, "chat: %s: %s\n", ws_result_str(r), ws_last_error());
        free(app.my_name);
        free(app.once_expect);
        return 1;
    }

    /* The main loop: events, then up to 50 ms waiting for stdin. */
    buf_t in = {0};
    bool stdin_open = once == NULL; /* --once does not read stdin */
    bool eof = false;               /* stdin ended: close once the input is sent */
    bool closing = false;
    double start = now_ms(), eof_at = 0, close_deadline = 0;
    int status = 0;
    while (!app.closed) {
        int n = ws_poll(app.ws, 0);
        if (n < 0) {
            fprintf(stderr, "chat: ws_poll: %s\n", ws_last_error());
            status = 1;
            break;
        }
        if (app.closed) break;
        bool ready_to_send = app.have_id && ws_ready_state(app.ws) == WS_STATE_OPEN;
        if (once && !closing) {
            if (app.registered && !app.once_sent) {
                send_message(&app, once, strlen(once));
                app.once_sent = true;
            }
            if (app.once_seen || now_ms() - start > 10000) {
                if (!app.once_seen) {
                    fprintf(stderr, "chat: timed out after 10 s (%s)\n",
                            !app.have_id ? "no id from the server" : !app.registered ? "username not registered"
                                                                                      : "no echo of our message");
                    status = 1;
                }
                ws_close(app.ws, 1000, NULL);
                closing = true;
                close_deadline = now_ms() + 5000;
            }
        }
        /* Lines typed before the id arrived go out once it has. */
        if (in.len && ready_to_send) send_lines(&app, &in, eof);
        if (eof && !closing && (ready_to_send || now_ms() - eof_at > 10000)) {
            ws_close(app.ws, 1000, NULL); /* after the queued messages */
            closing = true;
            close_deadline = now_ms() + 5000;
        }
        if (closing && now_ms() > close_deadline) {
            fprintf(stderr, "chat: the closing handshake did not finish\n");
            status = 1;
            break;
        }
        struct pollfd p = {STDIN_FILENO, POLLIN, 0};
        int ready = poll(&p, stdin_open ? 1 : 0, 50);
        if (ready < 0 && errno != EINTR) {
            perror("chat: poll");
            status = 1;
            break;
        }
        if (ready > 0 && stdin_open) {
            char chunk[4096];
            ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
            if (got > 0) {
                buf_add(&in, chunk, (size_t)got);
            } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                stdin_open = false;
                eof = true;
                eof_at = now_ms();
            }
        }
    }
    if (app.failed || (app.closed && !app.clean && !status)) status = 1;
    if (once && !app.once_seen) status = 1;
    ws_free(app.ws);
    ws_shutdown(1000);
    free(in.p);
    free(app.my_name);
    free(app.once_expect);
    return status;
}
