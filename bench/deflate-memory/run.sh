#!/bin/sh
# Memory per idle connection with permessage-deflate negotiated (W5 with
# deflate): wsnative's C ABI against Python's websockets client, both with
# their compression defaults, against one Python websockets echo server on
# loopback (it accepts the offers with window bits 12). Each client opens N
# connections, sends one ~30-byte text on each and waits for the echo,
# then reports its RSS growth per connection right after the echoes and
# after 7 s idle (wsnative frees a compressor unused for 5 s). Run from the
# repository root after `make lib` and `make -C bench all` (for the venv).
#   sh bench/deflate-memory/run.sh [N]
set -eu
n=${1:-1000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
py="$root/bench/.venv/bin/python"
out=$(mktemp -d)
trap 'kill $srv 2>/dev/null; rm -rf "$out"' EXIT
cc -O2 -I"$root/include" -o "$out/wsnative_idle" "$here/wsnative_idle.c" \
  -L"$root/target/release" -Wl,-rpath,"$root/target/release" -lwsnative -lpthread
"$py" "$here/server.py" > "$out/server.out" 2>&1 &
srv=$!
for _ in $(seq 50); do grep -q PORT "$out/server.out" && break; sleep 0.1; done
url="ws://127.0.0.1:$(awk '/PORT/ {print $2}' "$out/server.out")/"
echo "== wsnative C, compression on (default), then off"
"$out/wsnative_idle" "$url" "$n" 1
"$out/wsnative_idle" "$url" "$n" 0
echo "== websockets (asyncio), compression on (default), then off"
"$py" "$here/websockets_idle.py" "$url" "$n" 1
"$py" "$here/websockets_idle.py" "$url" "$n" 0
