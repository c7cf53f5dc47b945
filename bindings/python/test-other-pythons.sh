#!/usr/bin/env bash
# Installs a built wheel into a fresh venv of another CPython and runs the
# Python tests there (not the stub check: mypy.stubtest runs once, in
# run-tests.sh, on the machine's Python).
#
#   bash test-other-pythons.sh WHEEL oldest|newest [pytest args...]
#
# oldest: CPython 3.9, the floor the wheel claims (requires-python >= 3.9,
# pyo3 abi3-py39); newest: the newest CPython of Debian testing. Both come
# from scripts/debian-python.sh (Debian's own builds, fetched with apt-get
# into build/pythons/, nothing installed on the system). The venv is made
# anew on every run, so what is tested is the wheel's own install.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
wheel=$1
which=$2
shift 2
[ -f "$wheel" ] || { echo "test-other-pythons: no wheel $wheel (make wheel)" >&2; exit 2; }

python=$(sh "$repo/scripts/debian-python.sh" "$which")
# The test tools, pinned per interpreter: the newest take the same pins as
# run-tests.sh; on 3.9 the last releases that support it.
case $which in
oldest) pins=("pytest==8.4.2" "pytest-timeout==2.4.0" "pytest-asyncio==1.2.0" "websockets==15.0.1") ;;
newest) pins=("pytest==9.2.0" "pytest-timeout==2.4.0" "pytest-asyncio==1.5.0" "websockets==17.4") ;;
*) echo "usage: $0 WHEEL oldest|newest [pytest args...]" >&2; exit 2 ;;
esac

# pip itself (Debian's interpreters come without it), fetched once with the
# package's tool venv.
PIP_VERSION=25.2
pip_wheel=$repo/build/pythons/wheels/pip-$PIP_VERSION-py3-none-any.whl
if [ ! -f "$pip_wheel" ]; then
    [ -x "$here/.venv/bin/pip" ] || { echo "test-other-pythons: no $here/.venv (make wheel makes it)" >&2; exit 2; }
    "$here/.venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$(dirname "$pip_wheel")" "pip==$PIP_VERSION"
fi

venv=$repo/build/pythons/venv-$which
rm -rf "$venv"
"$python" -m venv --without-pip "$venv"
"$venv/bin/python" "$pip_wheel/pip" install --quiet --disable-pip-version-check --no-index "$pip_wheel"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" "${pins[@]}"
"$venv/bin/python" -c 'import platform, wsnative; print("CPython", platform.python_version(), "glibc", platform.libc_ver()[1], "- wsnative", wsnative.__version__, "from", wsnative.__file__)'

(cd "$repo" && cargo build --quiet -p wsnative-testserver)
export WSNATIVE_TESTSERVER="$repo/target/debug/wsnative-testserver"
# From outside the source tree, so that the installed wheel is what runs.
cd "$here/tests"
"$venv/bin/python" -m pytest -c "$here/pyproject.toml" --rootdir "$here" -p no:cacheprovider "$@" "$here/tests"
