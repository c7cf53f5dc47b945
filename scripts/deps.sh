#!/usr/bin/env bash
# Installs what `make test` needs on a machine that has only Rust (cargo),
# Python 3, gcc and make. Called by `make deps`, which `make test` runs first.
# Every step checks first and costs nothing when the tool is already there.
#
#   Debian packages: valgrind (C tests under memcheck), chromium (the
#                    reference browser of the differential test), openssl
#                    (throwaway CAs for the TLS tests), tinyproxy (HTTP
#                    CONNECT proxy with Basic auth) and microsocks (SOCKS5
#                    with auth) for the proxy tests, started on loopback;
#                    nlohmann-json3-dev (header-only JSON for the C++ chat
#                    example, examples-cpp/chat.cpp); mono-mcs and
#                    mono-runtime (the Mono C# compiler, which brings the
#                    System and System.Core assemblies, and the runtime, for
#                    the C# binding's tests; about 35 s cold); cmake and pkg-config
#                    (programs built against the installed library, make
#                    test-install), patchelf (the newest CPython of Debian
#                    testing pointed at its own glibc, scripts/debian-python.sh)
#   cargo tools:     cbindgen 0.29.4 (pinned: the committed header must be
#                    its exact output), cargo-fuzz 0.13.2
#
# The Python venvs (bindings/python/.venv, conformance/.venv) are made by the
# scripts that use them (bindings/python/run-tests.sh, conformance/setup.sh).
#
# Apt runs directly as root, through sudo otherwise; when neither works it
# stops and names the packages to install by hand.
set -euo pipefail

CBINDGEN_VERSION=0.29.4
CARGO_FUZZ_VERSION=0.13.2
CARGO=${CARGO:-cargo}

say() { echo "deps: $*"; }

# --- Debian packages -------------------------------------------------------
apt_missing=()
command -v valgrind >/dev/null 2>&1 || apt_missing+=(valgrind)
command -v chromium >/dev/null 2>&1 || apt_missing+=(chromium)
command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
[ -x /usr/bin/tinyproxy ] || command -v tinyproxy >/dev/null 2>&1 || apt_missing+=(tinyproxy)
command -v microsocks >/dev/null 2>&1 || apt_missing+=(microsocks)
[ -f /usr/include/nlohmann/json.hpp ] || apt_missing+=(nlohmann-json3-dev)
command -v mcs >/dev/null 2>&1 || apt_missing+=(mono-mcs)
command -v mono >/dev/null 2>&1 || apt_missing+=(mono-runtime)
command -v cmake >/dev/null 2>&1 || apt_missing+=(cmake)
command -v pkg-config >/dev/null 2>&1 || apt_missing+=(pkgconf)
command -v patchelf >/dev/null 2>&1 || apt_missing+=(patchelf)

if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "deps: these Debian packages are needed and I cannot install them" >&2
    echo "deps: (not root, and sudo is missing or asks for a password):" >&2
    echo "deps:   sudo apt-get install ${apt_missing[*]}" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "deps: apt-get not found; install by hand: ${apt_missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${apt_missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# --- cargo tools -------------------------------------------------------------
if ! command -v cbindgen >/dev/null 2>&1 || ! cbindgen --version | grep -q "$CBINDGEN_VERSION"; then
  say "cargo install cbindgen $CBINDGEN_VERSION"
  "$CARGO" install --quiet cbindgen --version "$CBINDGEN_VERSION" --locked
fi
if ! command -v cargo-fuzz >/dev/null 2>&1 || ! cargo-fuzz --version | grep -q "$CARGO_FUZZ_VERSION"; then
  say "cargo install cargo-fuzz $CARGO_FUZZ_VERSION"
  "$CARGO" install --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

say "all present (valgrind, chromium, openssl, tinyproxy, microsocks, nlohmann-json3-dev, mono, cmake, pkg-config, patchelf, cbindgen $CBINDGEN_VERSION, cargo-fuzz $CARGO_FUZZ_VERSION)"
