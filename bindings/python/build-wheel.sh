#!/usr/bin/env bash
# Builds the Python distribution into DIST (default: dist/ of the repository),
# what `make wheel` runs:
#   wsnative-VERSION-cp39-abi3-manylinux_2_34_x86_64.whl  one wheel for CPython 3.9+
#   wsnative-VERSION.tar.gz                               the sdist
# Earlier wsnative wheels and sdists in DIST are removed first, so that DIST
# holds exactly this build.
#
# The tag: without zig or an older build image, the extension links against
# this machine's glibc and needs symbols up to GLIBC_2.34 (pthread_*, dlsym
# moved into libc in 2.34), so manylinux_2_34 is the lowest honest tag; maturin
# checks the library against it (--auditwheel check) and `auditwheel show`
# must confirm it. The tools come from bindings/python/.venv (pinned).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
dist="$(mkdir -p "${1:-$repo/dist}" && cd "${1:-$repo/dist}" && pwd)"
python="${PYTHON:-python3}"
venv="$here/.venv"
TAG=manylinux_2_34

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "maturin==1.16.0" "auditwheel==6.8.2"

rm -f "$dist"/wsnative-*.whl "$dist"/wsnative-*.tar.gz
cd "$here"
# The wheel from the workspace's target/ (an incremental build); the sdist
# packed separately (`maturin build --sdist` would compile everything again
# from the unpacked sdist: minutes).
"$venv/bin/maturin" build --profile wheel --quiet --strip --compatibility "$TAG" --auditwheel check -o "$dist"
log=$("$venv/bin/maturin" sdist -o "$dist" 2>&1) || { echo "$log" >&2; exit 1; }

wheel=$(ls "$dist"/wsnative-*.whl)
sdist=$(ls "$dist"/wsnative-*.tar.gz)
case $wheel in
*-cp39-abi3-"$TAG"_x86_64.whl) ;;
*) echo "build-wheel: unexpected wheel name $wheel" >&2; exit 1 ;;
esac
# The abi3 floor (pyo3's abi3-py39 feature: the cp39 tag) and the
# requires-python of pyproject.toml (the wheel's Requires-Python) must agree.
"$venv/bin/python" - "$wheel" <<'PY'
import re, sys, zipfile
wheel = sys.argv[1]
floor = re.search(r"-cp3(\d+)-abi3-", wheel)
with zipfile.ZipFile(wheel) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    requires = re.search(r"^Requires-Python: *(.*)$", z.read(meta).decode(), re.M)
want = ">=3.%s" % floor.group(1) if floor else None
got = requires.group(1).strip() if requires else None
if want is None or got != want:
    sys.exit("build-wheel: the wheel's abi3 floor asks for %s, Requires-Python says %s" % (want, got))
PY
"$venv/bin/auditwheel" show "$wheel" >"$dist/auditwheel-show.txt"
grep -q "consistent with.*\"${TAG}_x86_64\"" <(tr '\n' ' ' <"$dist/auditwheel-show.txt") || {
    cat "$dist/auditwheel-show.txt" >&2
    echo "build-wheel: auditwheel does not confirm $TAG" >&2
    exit 1
}
rm -f "$dist/auditwheel-show.txt"
# The sdist must carry the core and the lock file to build anywhere.
listing=$(tar tzf "$sdist")
for f in core/src/lib.rs Cargo.lock pyproject.toml python/wsnative/__init__.py; do
    grep -q "/$f\$" <<<"$listing" || { echo "build-wheel: the sdist lacks $f" >&2; exit 1; }
done
echo "wheel: $wheel (auditwheel: $TAG)"
echo "sdist: $sdist"
