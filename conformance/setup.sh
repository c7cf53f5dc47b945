#!/bin/sh
# Creates conformance/.venv (gitignored) with the pinned fuzzing server,
# kosoku (Autobahn TestSuite's cases on a native engine; Python 3.10+).
# Idempotent: does nothing, and needs no network, when the venv already has
# the pinned version.
#
#   sh conformance/setup.sh        (PYTHON=python3.12 sh ... to choose)
set -eu

KOSOKU_VERSION=0.1.0
here=$(cd "$(dirname "$0")" && pwd)
venv="$here/.venv"
python=${PYTHON:-python3}

if [ -x "$venv/bin/python" ] &&
   "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kosoku') != '$KOSOKU_VERSION')" 2>/dev/null; then
  exit 0
fi

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
  echo "conformance/setup.sh: kosoku needs Python 3.10 or newer ($python is $("$python" --version 2>&1))" >&2
  exit 1
}
if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
fi
echo "installing kosoku==$KOSOKU_VERSION into $venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kosoku==$KOSOKU_VERSION"
