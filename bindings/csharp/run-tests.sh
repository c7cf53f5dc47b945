#!/bin/sh
# Builds the C# binding's tests, the C# chat example and the README's Unity
# and Godot examples with Debian's Mono C# compiler (mcs, package mono-mcs;
# make deps installs it) and runs the first two under the Mono runtime against the bundled test server (scripts/with-server.sh):
# bindings/csharp/tests/Tests.cs against the echo server, then
# examples-csharp/Chat.cs --once against the chat server. Needs `make lib`.
# Exits non-zero on any failure. WSNATIVE_TEST_ONLY=substring runs only the
# matching tests.
set -eu
cd "$(dirname "$0")/../.."
rel=target/release
out=build/csharp
for f in "$rel/libwsnative.so" "$rel/wsnative-testserver"; do
    [ -e "$f" ] || { echo "$f is missing: run 'make lib' first" >&2; exit 2; }
done
for tool in mcs mono; do
    command -v $tool >/dev/null 2>&1 || { echo "$tool is not installed (make deps installs mono-mcs and mono-runtime)" >&2; exit 2; }
done
mkdir -p "$out"
# -warnaserror: the drop-in file must build without a warning.
mcs -nologo -warn:4 -warnaserror -debug -r:System.dll -r:System.Core.dll \
    -out:"$out/WsNativeTests.exe" bindings/csharp/WsNative.cs bindings/csharp/tests/Tests.cs
mcs -nologo -warn:4 -warnaserror -debug -r:System.dll -r:System.Core.dll \
    -out:"$out/Chat.exe" bindings/csharp/WsNative.cs examples-csharp/Chat.cs
# The README's Unity MonoBehaviour and Godot Node compile with WsNative.cs
# (against stubs of the few engine types they use; Unity's build defines
# UNITY_5_3_OR_NEWER and brings AOT.MonoPInvokeCallbackAttribute).
python3 - "$out" <<'PY'
import re, sys
text = open("README.md", encoding="utf-8").read()
for name, heading in (("unity", "Unity:"), ("godot", "Godot 4 (C#):")):
    m = re.search("\n" + re.escape(heading) + "\n\n```csharp\n(.*?)```", text, re.S)
    if not m:
        sys.exit("README.md: no C# example after '%s'" % heading)
    open("%s/readme_%s.cs" % (sys.argv[1], name), "w", encoding="utf-8").write(m.group(1))
PY
mcs -nologo -warn:4 -warnaserror -target:library -define:UNITY_5_3_OR_NEWER -r:System.dll -r:System.Core.dll \
    -out:"$out/ReadmeUnity.dll" bindings/csharp/WsNative.cs bindings/csharp/tests/EngineStubs.cs "$out/readme_unity.cs"
mcs -nologo -warn:4 -warnaserror -target:library -r:System.dll -r:System.Core.dll \
    -out:"$out/ReadmeGodot.dll" bindings/csharp/WsNative.cs bindings/csharp/tests/EngineStubs.cs "$out/readme_godot.cs"
echo "README examples (Unity, Godot): compiled"

# The tests talk to their own loopback servers: no proxy from the caller's
# environment (which wsnative reads as curl does) may come between.
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
# DllImport("wsnative") finds libwsnative.so through the loader's path.
LD_LIBRARY_PATH=$(pwd)/$rel${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH

sh scripts/with-server.sh echo -- mono --debug "$out/WsNativeTests.exe" {URL}
# The chat client, non-interactively: alice's message (HTML tags stripped by
# the server) must come back; it exits 1 otherwise.
sh scripts/with-server.sh chat -- mono --debug "$out/Chat.exe" {URL} alice --once "hello <b>world</b>"
echo "chat example (C#): OK"
