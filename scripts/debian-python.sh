#!/bin/sh
# Prints the path of a CPython that the Python tests run the wheel on besides
# the machine's own: Debian's own builds, fetched with apt-get from Debian's
# archive into build/pythons/ (nothing is installed on the system: a private
# apt state, the packages unpacked with dpkg-deb), then reused.
#
#   sh scripts/debian-python.sh oldest   # CPython 3.9 of Debian 11 (bullseye)
#   sh scripts/debian-python.sh newest   # the newest CPython of Debian testing
#
# The oldest is the floor the wheel claims (requires-python >= 3.9, pyo3
# abi3-py39); Debian 11's build runs on this glibc as it is. The newest is
# built for a newer glibc than Debian 12's, so it comes with the glibc of its
# own release: its binary is pointed at that loader and those libraries
# (patchelf: interpreter and an RPATH, which its extension modules and the
# wheel's library inherit), so the wheel also runs under a newer glibc.
# Needs apt-get, dpkg-deb and patchelf (make deps).
set -eu
which=${1:?usage: debian-python.sh oldest|newest}
cd "$(dirname "$0")/.."
root=$(pwd)/build/pythons
case $which in
oldest) suite=bullseye ;;
newest) suite=forky ;;
*) echo "usage: $0 oldest|newest" >&2; exit 2 ;;
esac
dir=$root/$which
# The interpreter's own path (not a link to it: Python finds its standard
# library from where its executable lies), kept in $dir/interpreter.
if [ -s "$dir/interpreter" ] && [ -x "$(cat "$dir/interpreter")" ]; then
    cat "$dir/interpreter"
    exit 0
fi

apt_dir=$root/apt-$suite
rm -rf "$dir" "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$dir/tree"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$apt_dir/sources.list"
# A private apt: its own sources, lists and download folder, only the package
# lists (no translations, no AppStream data); no packages counted as
# installed, so that the whole dependency closure is fetched.
apt() {
    "$@" -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir" \
        -o Dir::Cache::archives="$apt_dir/archives" -o Dir::State::status=/dev/null \
        -o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Languages=none \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-large::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi::DefaultEnabled=false
}
apt apt-get update -qq >&2
if [ "$which" = oldest ]; then
    version=3.9
else
    version=$(apt apt-cache search --names-only '^python3\.[0-9]+-minimal$' |
        sed -n 's/^python\(3\.[0-9]*\)-minimal .*/\1/p' | sort -t. -k2 -n | tail -n 1)
    [ -n "$version" ] || { echo "debian-python: no python3.N-minimal in Debian $suite" >&2; exit 1; }
fi
if [ "$which" = oldest ]; then
    # Its own packages and the libraries Debian 12 no longer has (OpenSSL
    # 1.1, libffi 7); everything else, glibc first, is the machine's, since
    # the wheel is built for this glibc.
    # Debian 11 keeps distutils (which pip needs on 3.9) in python3-distutils.
    (cd "$apt_dir/archives" && apt apt-get download -qq "python$version-minimal" \
        "libpython$version-minimal" "libpython$version-stdlib" python3-distutils python3-lib2to3 \
        libssl1.1 libffi7 >&2)
else
    # The whole dependency closure, glibc included.
    apt apt-get install -y -qq --download-only --no-install-recommends \
        "python$version-minimal" "libpython$version-stdlib" >&2
fi
for deb in "$apt_dir"/archives/*.deb; do
    dpkg-deb -x "$deb" "$dir/tree"
done
python=$dir/tree/usr/bin/python$version
libs=$dir/tree/usr/lib/x86_64-linux-gnu
if [ "$which" = newest ]; then
    patchelf --set-interpreter "$libs/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$libs" "$python"
else
    patchelf --force-rpath --set-rpath "$libs" "$python"
fi
"$python" -c 'import ssl, zlib, asyncio, hashlib, ctypes, sysconfig' >&2 ||
    { echo "debian-python: the unpacked CPython $version does not run" >&2; exit 1; }
rm -rf "$apt_dir"
echo "$python" >"$dir/interpreter"
echo "$python"
