#!/bin/sh
# Usage: with-server.sh MODE [--tls] -- COMMAND [ARGS...]
# Starts the bundled test server (target/release/wsnative-testserver) in MODE
# (echo or chat) on a random loopback port, runs COMMAND with the server's URL
# as its last argument (or in place of a literal {URL} argument), stops the
# server and exits with COMMAND's status.
set -eu
mode=$1; shift
[ "$1" = "--" ] && shift
server=${WSNATIVE_TESTSERVER:-target/release/wsnative-testserver}
urlfile=$(mktemp)
"$server" --mode "$mode" --ignore-stdin > "$urlfile" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$urlfile"' EXIT INT TERM
i=0
while [ ! -s "$urlfile" ]; do
  i=$((i + 1))
  [ $i -gt 200 ] && { echo "the test server did not start" >&2; exit 1; }
  sleep 0.05
done
url=$(head -n 1 "$urlfile")
echo "test server ($mode): $url" >&2
found=0
for a in "$@"; do [ "$a" = "{URL}" ] && found=1; done
if [ $found -eq 1 ]; then
  cmd=""
  for a in "$@"; do
    [ "$a" = "{URL}" ] && a=$url
    cmd="$cmd '$a'"
  done
  eval "set -- $cmd"
  "$@"
else
  "$@" "$url"
fi
