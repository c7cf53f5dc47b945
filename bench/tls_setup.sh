#!/bin/sh
# TLS setup cost (issue 15, item 6): builds bench/clients/tls_setup.c
# against a libwsnative, starts the bundled test server (plain and TLS, with
# a throwaway CA) on loopback, and prints per trust option how long ws_new()
# blocks its caller and how long a connection takes to open.
#
#   sh bench/tls_setup.sh [N [LIB_DIR INCLUDE_DIR [CFLAGS]]]
#
# Defaults: N=200, the tree's target/release and include/. To measure an
# older build: LIB_DIR and INCLUDE_DIR of that tree, CFLAGS=-DWS_BASELINE
# for a library from before ws_options_set_proxy.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-200}
lib=${2:-$root/target/release}
inc=${3:-$root/include}
extra=${4:-}
out=$root/build/bench/tls_setup
mkdir -p "$out"
server=$root/target/release/wsnative-testserver
[ -x "$server" ] || { echo "run make lib first" >&2; exit 2; }
if [ ! -s "$out/leaf.pem" ]; then
    (
        cd "$out" &&
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout ca.key -out ca.pem -days 30 -subj "/CN=tls_setup CA" &&
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
                -keyout leaf.key -out leaf.csr -subj "/CN=127.0.0.1" &&
            printf 'subjectAltName=IP:127.0.0.1\n' >leaf.ext &&
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -out leaf.pem -days 30 -extfile leaf.ext
    ) >"$out/openssl.log" 2>&1
fi
# shellcheck disable=SC2086
${CC:-gcc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L $extra -I"$inc" -o "$out/tls_setup" \
    bench/clients/tls_setup.c -L"$lib" -Wl,-rpath,"$lib" -lwsnative -lpthread -ldl -lm
rm -f "$out/tls.url" "$out/plain.url"
"$server" --ignore-stdin --mode echo --tls-cert "$out/leaf.pem" --tls-key "$out/leaf.key" >"$out/tls.url" &
tls_pid=$!
"$server" --ignore-stdin --mode echo >"$out/plain.url" &
plain_pid=$!
trap 'kill $tls_pid $plain_pid 2>/dev/null' EXIT
while [ ! -s "$out/tls.url" ] || [ ! -s "$out/plain.url" ]; do sleep 0.05; done
"$out/tls_setup" "$(head -n 1 "$out/tls.url")" "$out/ca.pem" "$n" "$(head -n 1 "$out/plain.url")"
