/*
 * test_unload: "the library may be unloaded after [ws_shutdown] returns".
 * Loads libwsnative.so with dlopen (this program is NOT linked with the
 * library, so it does not use harness.c), opens a socket, shuts the library
 * down, frees the socket, dlclose()s it, and keeps running: a library
 * thread left behind would crash on unmapped code, and so would a fork()
 * handler (pthread_atfork) left registered. Then loads it again.
 *
 * Environment: WSNATIVE_LIB (path of libwsnative.so), WSNATIVE_ECHO_URL.
 * Prints "N passed, M failed" like the other programs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "wsnative.h"

static int g_failed_checks;
#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            printf("    %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            g_failed_checks++;                                                      \
        }                                                                           \
    } while (0)

typedef struct {
    void *handle;
    const char *(*version)(void);
    const char *(*result_str)(uint32_t);
    const char *(*last_error)(void);
    ws_result (*new_)(const char *, const char *const *, size_t, const ws_options *, const ws_callbacks *,
                      ws_socket **);
    ws_state (*ready_state)(const ws_socket *);
    ws_result (*send_text)(ws_socket *, const char *, size_t);
    ws_result (*shutdown)(uint64_t);
    void (*free_)(ws_socket *);
} lib_t;

static bool load(lib_t *l, const char *path) {
    memset(l, 0, sizeof *l);
    l->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l->handle) {
        printf("    dlopen(%s): %s\n", path, dlerror());
        return false;
    }
#define SYM(field, name)                                              \
    do {                                                              \
        *(void **)&l->field = dlsym(l->handle, name);                 \
        if (!l->field) {                                              \
            printf("    dlsym(%s): %s\n", name, dlerror());           \
            return false;                                             \
        }                                                             \
    } while (0)
    SYM(version, "ws_version");
    SYM(result_str, "ws_result_str");
    SYM(last_error, "ws_last_error");
    SYM(new_, "ws_new");
    SYM(ready_state, "ws_ready_state");
    SYM(send_text, "ws_send_text");
    SYM(shutdown, "ws_shutdown");
    SYM(free_, "ws_free");
    return true;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int library_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        if (fgets(name, sizeof name, f) && strncmp(name, "wsnative", 8) == 0) n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* fork() after dlclose(): the library's fork handlers must be gone with it
 * (or the library still mapped). The child ends through exec, without a
 * leak check. */
static bool fork_still_works(void) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
        _exit(0);
    }
    int status = 0;
    return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int g_closes, g_messages, g_finalized;

static void on_message(ws_socket *ws, const uint8_t *d, size_t n, ws_message_type k, void *u) {
    (void)ws, (void)d, (void)n, (void)k, (void)u;
    __atomic_add_fetch(&g_messages, 1, __ATOMIC_SEQ_CST);
}

static void on_close(ws_socket *ws, uint16_t c, const char *r, size_t n, bool clean, void *u) {
    (void)ws, (void)c, (void)r, (void)n, (void)clean, (void)u;
    __atomic_add_fetch(&g_closes, 1, __ATOMIC_SEQ_CST);
}

static void finalize(void *u) {
    (void)u;
    __atomic_add_fetch(&g_finalized, 1, __ATOMIC_SEQ_CST);
}

static int passed, failed;

static void run(const char *name, void (*fn)(void)) {
    int before = g_failed_checks;
    double t0 = now_ms();
    fn();
    bool ok = g_failed_checks == before;
    printf("  %s %s (%.0f ms)\n", ok ? "ok  " : "FAIL", name, now_ms() - t0);
    if (ok) passed++;
    else failed++;
}

static const char *g_lib, *g_url;

static void test_unload_after_shutdown(void) {
    lib_t l;
    CHECK(load(&l, g_lib));
    if (!l.handle) return;
    CHECK(strlen(l.version()) > 0);
    ws_callbacks cb = {NULL, on_message, NULL, on_close, NULL, finalize};
    ws_socket *ws = NULL;
    ws_result r = l.new_(g_url, NULL, 0, NULL, &cb, &ws);
    CHECK(r == WS_RESULT_OK);
    if (r != WS_RESULT_OK) {
        printf("    ws_new: %s\n", l.last_error());
        return;
    }
    double deadline = now_ms() + 10000;
    while (l.ready_state(ws) != WS_STATE_OPEN && now_ms() < deadline) sleep_ms(5);
    CHECK(l.ready_state(ws) == WS_STATE_OPEN);
    CHECK(l.send_text(ws, "x", 1) == WS_RESULT_OK);
    while (__atomic_load_n(&g_messages, __ATOMIC_SEQ_CST) < 1 && now_ms() < deadline) sleep_ms(5);
    CHECK(library_threads() > 0);
    CHECK(l.shutdown(2000) == WS_RESULT_OK);
    CHECK(__atomic_load_n(&g_closes, __ATOMIC_SEQ_CST) == 1);
    CHECK(library_threads() == 0);
    l.free_(ws);
    CHECK(__atomic_load_n(&g_finalized, __ATOMIC_SEQ_CST) == 1);
    CHECK(dlclose(l.handle) == 0);
    CHECK(fork_still_works());
    /* Keep running a while: a leftover library thread would now crash. */
    sleep_ms(300);
    void *still = dlopen(g_lib, RTLD_NOW | RTLD_NOLOAD);
    printf("    note: after dlclose the library is %s\n",
           still ? "still mapped (glibc may keep it, e.g. for thread-local destructors)" : "unmapped");
    if (still) dlclose(still);
}

static void test_load_again(void) {
    lib_t l;
    CHECK(load(&l, g_lib));
    if (!l.handle) return;
    ws_socket *ws = NULL;
    ws_result r = l.new_(g_url, NULL, 0, NULL, NULL, &ws);
    /* A fresh copy works; a copy that stayed mapped stays shut down. */
    CHECK(r == WS_RESULT_OK || r == WS_RESULT_SHUT_DOWN);
    printf("    note: ws_new after reloading: %s\n", l.result_str(r));
    if (r == WS_RESULT_OK) {
        double deadline = now_ms() + 10000;
        while (l.ready_state(ws) != WS_STATE_OPEN && now_ms() < deadline) sleep_ms(5);
        CHECK(l.ready_state(ws) == WS_STATE_OPEN);
        l.free_(ws);
    }
    CHECK(l.shutdown(2000) == WS_RESULT_OK);
    CHECK(library_threads() == 0);
    CHECK(dlclose(l.handle) == 0);
    CHECK(fork_still_works());
    sleep_ms(100);
}

int main(void) {
    g_lib = getenv("WSNATIVE_LIB");
    g_url = getenv("WSNATIVE_ECHO_URL");
    if (!g_lib || !g_url) {
        fprintf(stderr, "test_unload: set WSNATIVE_LIB and WSNATIVE_ECHO_URL (run tests-c/run.sh)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("test_unload: %s\n", g_lib);
    run("test_unload_after_shutdown", test_unload_after_shutdown);
    run("test_load_again", test_load_again);
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0;
}
