#!/bin/sh
# Usage: tests-c/run.sh [asan|valgrind|plain] [PROGRAM...]
#
# Builds the C tests into build/tests-c/MODE/, starts the bundled echo test
# server (and, when openssl is available, a TLS echo server with a throwaway
# CA), runs every test program, prints each program's summary line and ends
# with the overall line "N passed, M failed". Exits non-zero on any failed
# test, sanitizer report, valgrind error or crash.
#
#   asan      tests linked with the STATIC library and
#             -fsanitize=address,undefined (the default)
#   valgrind  tests linked with the shared library, run under valgrind
#             memcheck (definite leaks are errors); sets WSNATIVE_TEST_SLOW=1
#             and WSNATIVE_TEST_REDUCE=4 (a quarter of the iterations)
#             so that counts shrink and timeouts grow
#   plain     tests linked with the shared library, no instrumentation
#
# Needs `make lib` first (target/release/libwsnative.{a,so,so.0} and
# target/release/wsnative-testserver). WSNATIVE_TEST_ONLY=substring runs only
# the matching tests of each program.
#
# A PROGRAM found as tests-cpp/PROGRAM.cpp is a C++ test (make test-cpp):
# built with $CXX -std=c++17 and the same flags, linked with the C harness.
set -u
mode=${1:-asan}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
rel=$root/target/release
out=$root/build/tests-c/$mode
CC=${CC:-gcc}
CWARN="-Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L"
CXX=${CXX:-g++}
CXXWARN="-Wall -Wextra -Werror -std=c++17"
LIBS="-lpthread -ldl -lm"
progs=${*:-"test_api test_events test_protocol test_queued test_lifetime test_threads test_free_race test_fork test_shutdown test_unload test_reach"}

case $mode in
asan)
    cflags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
    link="$rel/libwsnative.a"
    lib=$rel/libwsnative.a
    ;;
valgrind | plain)
    cflags="-O1 -g"
    link="-L$rel -Wl,-rpath,$rel -lwsnative"
    lib=$rel/libwsnative.so
    ;;
*)
    echo "usage: $0 [asan|valgrind|plain] [PROGRAM...]" >&2
    exit 2
    ;;
esac
server=${WSNATIVE_TESTSERVER:-$rel/wsnative-testserver}
for f in "$lib" "$rel/libwsnative.so" "$rel/libwsnative.so.0" "$server"; do
    [ -e "$f" ] || { echo "$f is missing: run 'make lib' first" >&2; exit 2; }
done
if [ "$mode" = valgrind ] && ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind is not installed (make test-c-valgrind installs it)" >&2
    exit 2
fi

# The tests talk to their own loopback servers: a proxy from the caller's
# environment (which wsnative reads as curl does) must not come between.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

mkdir -p "$out"
echo "== building the C tests ($mode) into build/tests-c/$mode"
harness_o=""
for p in $progs; do
    if [ -f "tests-cpp/$p.cpp" ]; then
        if [ -z "$harness_o" ]; then
            harness_o=$out/harness.o
            # shellcheck disable=SC2086
            $CC $cflags $CWARN -Iinclude -Itests-c -c -o "$harness_o" tests-c/harness.c ||
                { echo "build of the harness failed" >&2; exit 1; }
        fi
        # shellcheck disable=SC2086
        $CXX $cflags $CXXWARN -Iinclude -Itests-c -Itests-cpp -o "$out/$p" "tests-cpp/$p.cpp" "$harness_o" \
            $link $LIBS || { echo "build of $p failed" >&2; exit 1; }
        continue
    fi
    if [ "$p" = test_unload ]; then
        # Not linked with the library: it dlopen()s libwsnative.so itself.
        # shellcheck disable=SC2086
        $CC $cflags $CWARN -Iinclude -o "$out/$p" "tests-c/$p.c" $LIBS ||
            { echo "build of $p failed" >&2; exit 1; }
        continue
    fi
    # shellcheck disable=SC2086
    $CC $cflags $CWARN -Iinclude -Itests-c -o "$out/$p" "tests-c/$p.c" tests-c/harness.c $link $LIBS ||
        { echo "build of $p failed" >&2; exit 1; }
done
WSNATIVE_LIB=$rel/libwsnative.so
export WSNATIVE_LIB

pids=""
cleanup() {
    for pid in $pids; do kill "$pid" 2>/dev/null; done
    pids=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME ARGS...: starts the test server in the background (its
# pid joins $pids, killed on exit) and sets $url to the URL it prints. Not
# called in a subshell, so that $pids is kept.
start_server() {
    name=$1
    shift
    "$server" --ignore-stdin "$@" >"$out/$name.url" 2>"$out/$name.log" &
    pids="$pids $!"
    i=0
    while [ ! -s "$out/$name.url" ]; do
        i=$((i + 1))
        if [ $i -gt 200 ]; then
            echo "the $name test server did not start:" >&2
            cat "$out/$name.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    url=$(head -n 1 "$out/$name.url")
}

rm -f "$out"/*.url
start_server echo --mode echo
WSNATIVE_ECHO_URL=$url
export WSNATIVE_ECHO_URL
echo "== echo server: $WSNATIVE_ECHO_URL"

# A TLS echo server signed by a throwaway CA, for the wss:// and CA tests.
unset WSNATIVE_TLS_URL WSNATIVE_TLS_CA WSNATIVE_TLS_WRONG_HOST_URL WSNATIVE_TLS_CRL_REVOKED WSNATIVE_TLS_CRL_EMPTY
if command -v openssl >/dev/null 2>&1; then
    tls=$out/tls
    mkdir -p "$tls"
    if [ ! -s "$tls/leaf.pem" ] || [ ! -s "$tls/wrong.pem" ]; then
        (
            cd "$tls" &&
                openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                    -keyout ca.key -out ca.pem -days 3650 -subj "/CN=wsnative test CA" &&
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                    -keyout leaf.key -out leaf.csr -subj "/CN=127.0.0.1" &&
                printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >leaf.ext &&
                openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                    -out leaf.pem -days 3650 -extfile leaf.ext &&
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                    -keyout wrong.key -out wrong.csr -subj "/CN=wrong.example" &&
                printf 'subjectAltName=DNS:wrong.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >wrong.ext &&
                openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                    -out wrong.pem -days 3650 -extfile wrong.ext
        ) >"$out/openssl.log" 2>&1 || { echo "note: openssl failed; TLS tests skipped"; rm -f "$tls/leaf.pem"; }
    fi
    # A client certificate (mutual TLS) signed by the same CA.
    if [ -s "$tls/leaf.pem" ] && [ ! -s "$tls/client.pem" ]; then
        (
            cd "$tls" &&
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                    -keyout client.key -out client.csr -subj "/CN=wsnative test client" &&
                printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext &&
                openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                    -out client.pem -days 3650 -extfile client.ext
        ) >>"$out/openssl.log" 2>&1 || rm -f "$tls/client.pem"
    fi
    # Revocation lists from the same CA (openssl ca): one listing nothing,
    # one listing the TLS echo server's certificate.
    if [ -s "$tls/leaf.pem" ] && [ ! -s "$tls/revoked.crl" ]; then
        (
            cd "$tls" &&
                printf '[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\ndefault_md=sha256\ndefault_crl_days=3650\n' >ca.cnf &&
                : >index.txt && echo 01 >crlnumber &&
                openssl ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out empty.crl &&
                openssl ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -revoke leaf.pem &&
                openssl ca -batch -config ca.cnf -keyfile ca.key -cert ca.pem -gencrl -out revoked.crl
        ) >>"$out/openssl.log" 2>&1 || rm -f "$tls/revoked.crl"
    fi
    if [ -s "$tls/revoked.crl" ]; then
        WSNATIVE_TLS_CRL_REVOKED=$tls/revoked.crl
        WSNATIVE_TLS_CRL_EMPTY=$tls/empty.crl
        export WSNATIVE_TLS_CRL_REVOKED WSNATIVE_TLS_CRL_EMPTY
    fi
    if [ -s "$tls/client.pem" ]; then
        WSNATIVE_TLS_CLIENT_CERT=$tls/client.pem
        WSNATIVE_TLS_CLIENT_KEY=$tls/client.key
        export WSNATIVE_TLS_CLIENT_CERT WSNATIVE_TLS_CLIENT_KEY
    fi
    if [ -s "$tls/leaf.pem" ]; then
        start_server tls --mode echo --tls-cert "$tls/leaf.pem" --tls-key "$tls/leaf.key"
        WSNATIVE_TLS_URL=$url
        WSNATIVE_TLS_CA=$tls/ca.pem
        # The same CA, but a certificate for another host name.
        start_server tls-wrong-host --mode echo --tls-cert "$tls/wrong.pem" --tls-key "$tls/wrong.key"
        WSNATIVE_TLS_WRONG_HOST_URL=$url
        export WSNATIVE_TLS_URL WSNATIVE_TLS_CA WSNATIVE_TLS_WRONG_HOST_URL
        echo "== TLS echo servers: $WSNATIVE_TLS_URL, $WSNATIVE_TLS_WRONG_HOST_URL (wrong host)"
    fi
else
    echo "note: openssl not found; TLS tests skipped"
fi

# Proxies for test_reach, from Debian packages (make deps), on loopback:
# tinyproxy (HTTP CONNECT, Basic auth) and microsocks (SOCKS5, auth).
unset WSNATIVE_HTTP_PROXY_PORT WSNATIVE_SOCKS_PORT WSNATIVE_DUAL_HOST
WSNATIVE_PROXY_USER=alice
WSNATIVE_PROXY_PASSWORD=s3cret-pass
export WSNATIVE_PROXY_USER WSNATIVE_PROXY_PASSWORD
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_port() {
    i=0
    until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), timeout=1)" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 100 ] && return 1
        sleep 0.1
    done
}
tinyproxy=$(command -v tinyproxy || echo /usr/bin/tinyproxy)
if [ -x "$tinyproxy" ] && command -v python3 >/dev/null 2>&1; then
    port=$(free_port)
    printf 'Port %s\nListen 127.0.0.1\nTimeout 30\nMaxClients 50\nAllow 127.0.0.1\nBasicAuth %s %s\n' \
        "$port" "$WSNATIVE_PROXY_USER" "$WSNATIVE_PROXY_PASSWORD" >"$out/tinyproxy.conf"
    "$tinyproxy" -d -c "$out/tinyproxy.conf" >"$out/tinyproxy.log" 2>&1 &
    pids="$pids $!"
    if wait_port "$port"; then
        WSNATIVE_HTTP_PROXY_PORT=$port
        export WSNATIVE_HTTP_PROXY_PORT
        echo "== tinyproxy: 127.0.0.1:$port"
    fi
else
    echo "note: tinyproxy not found (make deps); HTTP proxy tests skipped"
fi
if command -v microsocks >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    port=$(free_port)
    microsocks -i 127.0.0.1 -p "$port" -u "$WSNATIVE_PROXY_USER" -P "$WSNATIVE_PROXY_PASSWORD" \
        >"$out/microsocks.log" 2>&1 &
    pids="$pids $!"
    if wait_port "$port"; then
        WSNATIVE_SOCKS_PORT=$port
        export WSNATIVE_SOCKS_PORT
        echo "== microsocks: 127.0.0.1:$port"
    fi
else
    echo "note: microsocks not found (make deps); SOCKS5 tests skipped"
fi
# test_reach runs in a private mount namespace where dual.test is ::1 and
# 127.0.0.1 (Happy Eyeballs), v4only.test 127.0.0.1 only and the resolver is a closed loopback port (a
# DNS failure that sends nothing off the machine).
printf '127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n127.0.0.1 v4only.test\n' >"$out/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$out/resolv.conf"
ns_ok=""
if command -v unshare >/dev/null 2>&1 && unshare -m true 2>/dev/null; then
    ns_ok=1
else
    echo "note: no private mount namespace (unshare -m); Happy Eyeballs C test skipped"
fi
wrap=""
# launch CMD...: runs CMD, in the private mount namespace when $wrap is set.
launch() {
    if [ -n "$wrap" ]; then
        unshare -m sh -c 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' \
            "$out/hosts" "$out/resolv.conf" "$@"
    else
        "$@"
    fi
}

total_pass=0
total_fail=0
bad=0
for p in $progs; do
    wrap=""
    if [ "$p" = test_reach ] && [ -n "$ns_ok" ]; then
        wrap=1
        WSNATIVE_DUAL_HOST=dual.test
        export WSNATIVE_DUAL_HOST
    fi
    log=$out/$p.log
    start=$(date +%s)
    case $mode in
    asan)
        (
            export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:exitcode=86}"
            export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
            launch "$out/$p"
        ) >"$log" 2>&1
        rc=$?
        ;;
    valgrind)
        (
            export WSNATIVE_TEST_SLOW=1
            # Memory errors, not volume, are what memcheck is for: a quarter
            # of the iterations (the ASan run does them all).
            export WSNATIVE_TEST_REDUCE=${WSNATIVE_TEST_REDUCE:-4}
            launch valgrind --quiet --error-exitcode=99 --leak-check=full \
                --errors-for-leak-kinds=definite --show-leak-kinds=definite \
                --suppressions="$root/tests-c/valgrind.supp" \
                "$out/$p"
        ) >"$log" 2>&1
        rc=$?
        ;;
    plain)
        launch "$out/$p" >"$log" 2>&1
        rc=$?
        ;;
    esac
    secs=$(($(date +%s) - start))
    summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    if [ -n "$summary" ]; then
        np=${summary%% passed*}
        nf=${summary#* passed, }
        nf=${nf%% failed}
    else
        np=0
        nf=0
        summary="no summary line"
    fi
    note=""
    if [ "$rc" -ne 0 ] && [ "$nf" -eq 0 ]; then
        # Every test passed but the process did not exit cleanly: a
        # sanitizer or valgrind report, or a crash. Count it as a failure.
        nf=1
        case $rc in
        86) note=" + AddressSanitizer/LeakSanitizer report" ;;
        99) note=" + valgrind errors" ;;
        *) note=" + exit status $rc" ;;
        esac
    fi
    total_pass=$((total_pass + np))
    total_fail=$((total_fail + nf))
    printf '%-14s %s%s (%ss)\n' "$p:" "$summary" "$note" "$secs"
    if [ "$rc" -ne 0 ]; then
        bad=1
        echo "---- $log ----"
        cat "$log"
        echo "----"
    fi
done
echo "$total_pass passed, $total_fail failed"
[ $bad -eq 0 ] && [ $total_fail -eq 0 ]
