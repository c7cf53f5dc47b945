#!/usr/bin/env bash
# Regenerates bindings/python/symbol-order.txt, the order in which the
# linker lays out the extension's functions (see ../build.rs): the
# functions each scenario of scenarios.py executes, found with callgrind, in
# the order of the scenarios (import first, then the blocking API, asyncio,
# handlers, poll, TLS, errors), each name once. `make python-symbol-order`
# runs it; it needs valgrind and takes about two minutes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
work="$repo/build/symbol-order"
# The interpreter itself, not a wrapper script (pyenv's shims): valgrind
# follows no exec.
python="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"
rm -rf "$work"
mkdir -p "$work/pkg"

cd "$repo"
# The extension as the wheel builds it (profile wheel), symbols kept: the
# names callgrind reports are those the linker sees.
cargo build --quiet --profile wheel -p wsnative-python
cargo build --quiet --release -p wsnative-bench-server
cp -r bindings/python/python/wsnative "$work/pkg/"
rm -f "$work/pkg/wsnative/"*.so
cp target/wheel/lib_native.so "$work/pkg/wsnative/_native.abi3.so"

target/release/wsnative-bench-server --ws-port 0 --wss-port 0 --raw-port 0 --ca-out "$work/ca.pem" >"$work/server.out" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q READY "$work/server.out" && break; sleep 0.1; done
read -r ws wss < <(sed -n 's/^READY ws=\([0-9]*\) wss=\([0-9]*\) .*/\1 \2/p' "$work/server.out")
[ -n "${ws:-}" ] || { cat "$work/server.out" >&2; exit 1; }

for s in import sync asyncio thread poll tls errors; do
    PYTHONPATH="$work/pkg" timeout 600 valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$s.cg" \
        "$python" "$here/scenarios.py" "$s" "$ws" "$wss" "$work/ca.pem" >"$work/$s.log" 2>&1 ||
        { tail -20 "$work/$s.log" >&2; exit 1; }
    grep -q "scenario $s: ok" "$work/$s.log" || { tail -20 "$work/$s.log" >&2; exit 1; }
done

"$python" - "$work" "$work/pkg/wsnative/_native.abi3.so" "$here/../symbol-order.txt" <<'PY'
"""Names of the extension's functions each callgrind profile ran (the cost
lines of an `fn=` under the extension's `ob=`), kept if the library defines
them as functions, each once, in scenario order."""
import re, subprocess, sys
work, lib, out = sys.argv[1:4]
defined = set()
for line in subprocess.run(["nm", "--defined-only", lib], capture_output=True, text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[1] in "tTwW":
        defined.add(f[2])
pat = re.compile(r"^(ob|fn|cob|cfn)=\((\d+)\)(?: (.*))?$")
# Run natively but not under valgrind, which has no SHA-NI, AVX-512 or VAES:
# the C runtime's start-up functions (nameless to callgrind) first; the
# CPU-dispatched variants of the hashing and TLS ciphers after the TLS
# scenario. Found with /proc/PID/pagemap: code pages resident that no
# profiled function explains.
STARTUP = ["frame_dummy", "register_tm_clones", "deregister_tm_clones", "__do_global_dtors_aux"]
DISPATCHED = {
    "sync": re.compile(r"sha1.*compress"),  # the opening handshake's Sec-WebSocket-Accept
    "tls": re.compile(r"^ring_core_.*(aes|gcm|chacha|poly1305|sha|x25519|nistz|ghash)"),
}
order, seen = [], set()
for name in STARTUP:
    if name in defined:
        seen.add(name)
        order.append(name)
for s in ["import", "sync", "asyncio", "thread", "poll", "tls", "errors"]:
    obs, fns, ob = {}, {}, None
    for line in open(f"{work}/{s}.cg"):
        m = pat.match(line.rstrip("\n"))
        if not m:
            continue
        key, i, name = m.groups()
        table = obs if key in ("ob", "cob") else fns
        if name:
            table[i] = name
        name = table.get(i)
        if key == "ob":
            ob = name
        elif key == "fn" and ob and ob.endswith("_native.abi3.so") and name in defined and name not in seen:
            seen.add(name)
            order.append(name)
    if s in DISPATCHED:
        for name in sorted(defined):
            if DISPATCHED[s].search(name) and name not in seen:
                seen.add(name)
                order.append(name)
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
print(f"symbol-order.txt: {len(order)} functions")
PY
