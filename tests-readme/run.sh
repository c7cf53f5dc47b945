#!/bin/sh
# make test-readme: builds and runs the README's four "in ten lines"
# examples (the code block after each `<!-- readme-example: LANG -->`
# marker) against the bundled echo server; each must print the echo of
# "hello" and exit 0. C and C++ link the shared library of the tree; Python
# uses the package's test venv (make test-python); C# is compiled with
# Mono's mcs together with bindings/csharp/WsNative.cs.
set -eu
cd "$(dirname "$0")/.."
out=build/readme-examples
mkdir -p "$out"
python3 - "$out" <<'PY'
import re, sys
out = sys.argv[1]
text = open("README.md", encoding="utf-8").read()
found = re.findall(r"<!-- readme-example: (\w+) -->\n```\w+\n(.*?)```", text, re.S)
ext = {"c": "c", "cpp": "cpp", "python": "py", "csharp": "cs"}
if sorted(lang for lang, _ in found) != sorted(ext):
    sys.exit(f"README: expected one example for each of {sorted(ext)}, found {[l for l, _ in found]}")
for lang, code in found:
    open(f"{out}/example.{ext[lang]}", "w", encoding="utf-8").write(code)
PY
rel=target/release
CC=${CC:-gcc}
CXX=${CXX:-g++}
$CC -std=c11 -Wall -Wextra -Werror -Iinclude -o "$out/example_c" "$out/example.c" -L$rel -Wl,-rpath,"$PWD/$rel" -lwsnative
$CXX -std=c++17 -Wall -Wextra -Werror -Iinclude -o "$out/example_cpp" "$out/example.cpp" -L$rel -Wl,-rpath,"$PWD/$rel" -lwsnative
mcs -nologo -warnaserror -langversion:6 -out:"$out/example_cs.exe" "$out/example.cs" bindings/csharp/WsNative.cs
py=bindings/python/.venv/bin/python
[ -x "$py" ] || { echo "test-readme: no $py: run make test-python first" >&2; exit 1; }

fails=0
check() {
    name=$1; shift
    if got=$(timeout 30 sh scripts/with-server.sh echo -- "$@" 2>"$out/$name.err") && [ "$got" = "hello" ]; then
        echo "  ok   $name"
    else
        echo "  FAIL $name: printed '$got'"; cat "$out/$name.err"; fails=$((fails + 1))
    fi
}
check c "$out/example_c"
check cpp "$out/example_cpp"
check python "$py" "$out/example.py"
LD_LIBRARY_PATH="$PWD/$rel" check csharp mono "$out/example_cs.exe"
[ $fails -eq 0 ] && echo "test-readme: 4 examples OK" || { echo "test-readme: $fails failed"; exit 1; }
