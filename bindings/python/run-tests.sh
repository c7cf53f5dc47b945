#!/usr/bin/env bash
# Installs the wsnative wheel into bindings/python/.venv (building it unless
# WSNATIVE_WHEEL names one) and runs the stub check and the Python tests. Needs Rust (cargo), Python 3.9+ and a C
# compiler; fetches the pinned tools from PyPI on first run.
#   PYTHON=python3.11 ./run-tests.sh [pytest args...]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin==1.16.0" "pytest==9.2.0" "pytest-timeout==2.4.0" "pytest-asyncio==1.5.0" \
    "mypy==2.4.1" "websockets==17.4"

# The wheel to test: WSNATIVE_WHEEL (make test-python passes the one `make
# wheel` built into dist/), or one built here from the current sources.
if [ -n "${WSNATIVE_WHEEL:-}" ]; then
    wheel=$WSNATIVE_WHEEL
else
    wheels="$(mktemp -d)"
    trap 'rm -rf "$wheels"' EXIT
    (cd "$here" && "$venv/bin/maturin" build --release --quiet -o "$wheels")
    wheel=$(ls "$wheels"/wsnative-*.whl)
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"

# The tests use the project's test server; build it once here.
(cd "$repo" && cargo build --quiet -p wsnative-testserver)
export WSNATIVE_TESTSERVER="$repo/target/debug/wsnative-testserver"

# Run from outside the source tree so that the installed wheel is tested.
cd "$here/tests"
"$venv/bin/python" -m mypy.stubtest wsnative
"$venv/bin/python" -m pytest -c "$here/pyproject.toml" --rootdir "$here" "$@" "$here/tests"
