#!/bin/sh
# The installed C library as a program outside this tree uses it (`make
# test-install`): `make install` into a staging root (DESTDIR), then
#   - the installed files: the SONAME, the links, and exports that are
#     exactly the ws_* functions of include/wsnative.h;
#   - examples-c/echo.c (and examples-cpp/echo.cpp, when the tree has the
#     C++ header) built with pkg-config, against the shared library and with
#     `pkg-config --static` against the static one;
#   - the same built by a CMake project (tests-install/CMakeLists.txt) with
#     find_package(wsnative) from the staged prefix, which is not the prefix
#     the package was installed for (it must be relocatable);
#   - every program run against the bundled echo server: it must echo both
#     messages and close cleanly.
# Needs `make lib`, cmake and pkg-config (make deps). Ends with the line
# "N passed, M failed".
set -u
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
out=$root/build/tests-install
stage=$out/stage
prefix=/usr/local
CC=${CC:-gcc}
CXX=${CXX:-g++}
MAKE=${MAKE:-make}
unset http_proxy HTTP_PROXY https_proxy HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
bad() { fail=$((fail + 1)); echo "FAIL $*"; }
# check NAME COMMAND...: one test, its output kept in $out/NAME.log.
check() {
    name=$1
    shift
    if "$@" >"$out/$name.log" 2>&1; then ok "$name"; else
        bad "$name"
        sed 's/^/    /' "$out/$name.log"
    fi
}

for tool in cmake pkg-config readelf nm "$CC"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$tool is missing (make deps installs it)" >&2; exit 2; }
done

# The C++ example comes with the C++ header; one without the other is a
# broken tree, not a reason to skip.
cpp=""
if [ -f include/wsnative.hpp ]; then
    if [ ! -f examples-cpp/echo.cpp ]; then
        echo "include/wsnative.hpp is there but examples-cpp/echo.cpp is missing" >&2
        exit 1
    fi
    cpp=1
    command -v "$CXX" >/dev/null 2>&1 || { echo "$CXX is missing" >&2; exit 2; }
else
    echo "note: no include/wsnative.hpp in this tree: the C++ example is not built"
fi

rm -rf "$out"
mkdir -p "$out"
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
major=${version%%.*}

echo "== make install PREFIX=$prefix DESTDIR=$stage"
"$MAKE" --no-print-directory install PREFIX="$prefix" DESTDIR="$stage" >"$out/install.log" 2>&1 ||
    { cat "$out/install.log"; echo "make install failed" >&2; exit 1; }
lib=$stage$prefix/lib
inc=$stage$prefix/include

# --- the installed files ---------------------------------------------------
installed_files() {
    for f in "$lib/libwsnative.so.$version" "$lib/libwsnative.a" "$inc/wsnative.h" \
        "$lib/pkgconfig/wsnative.pc" "$lib/cmake/wsnative/wsnativeConfig.cmake" \
        "$lib/cmake/wsnative/wsnativeConfigVersion.cmake"; do
        [ -f "$f" ] || { echo "missing: $f"; return 1; }
    done
    [ "$(readlink "$lib/libwsnative.so.$major")" = "libwsnative.so.$version" ] || { echo "bad link libwsnative.so.$major"; return 1; }
    [ "$(readlink "$lib/libwsnative.so")" = "libwsnative.so.$major" ] || { echo "bad link libwsnative.so"; return 1; }
    if [ -n "$cpp" ]; then cmp include/wsnative.hpp "$inc/wsnative.hpp" || return 1; fi
    cmp include/wsnative.h "$inc/wsnative.h"
}
check installed-files installed_files

soname() {
    readelf -d "$lib/libwsnative.so.$version" | tee "$out/readelf.txt" | grep -F "Library soname: [libwsnative.so.$major]"
}
check soname soname

# Exactly the functions the header declares, and nothing of Rust's.
exports() {
    nm -D --defined-only "$lib/libwsnative.so.$version" | awk '{print $NF}' | sort -u >"$out/exported.txt"
    grep -oE '\bws_[a-z0-9_]+\(' include/wsnative.h | tr -d '(' | sort -u >"$out/declared.txt"
    [ -s "$out/declared.txt" ] || { echo "no functions found in include/wsnative.h"; return 1; }
    echo "$(wc -l <"$out/exported.txt") exported, $(wc -l <"$out/declared.txt") declared"
    diff "$out/declared.txt" "$out/exported.txt"
}
check exports-only-ws exports

# --- programs built against the installed tree -----------------------------
# Both must name the SONAME (shared) or no libwsnative at all (static).
needs() {
    readelf -d "$1" | grep NEEDED | grep -F "[libwsnative.so.$major]"
}
needs_none() {
    ! readelf -d "$1" | grep NEEDED | grep -F libwsnative
}
# run_echo PROGRAM: against the bundled echo server; it exits 0 only on a
# clean close, and it must have seen both echoed messages.
server=$root/target/release/wsnative-testserver
run_echo() {
    WSNATIVE_TESTSERVER=$server LD_LIBRARY_PATH=$lib timeout 30 sh scripts/with-server.sh echo -- "$@" &&
        grep -q "message (text" "$out/$name.log" && grep -q "message (binary" "$out/$name.log" &&
        grep -q "wasClean=true" "$out/$name.log"
}
# The C++ example prints its own lines: its exit status (0 only after a
# clean close) is what is checked.
run_echo_cpp() {
    WSNATIVE_TESTSERVER=$server LD_LIBRARY_PATH=$lib timeout 30 sh scripts/with-server.sh echo -- "$@"
}

export PKG_CONFIG_LIBDIR="$lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$stage"
check pkg-config-version sh -c "[ \"\$(pkg-config --modversion wsnative)\" = '$version' ]"
cflags=$(pkg-config --cflags wsnative)
libs=$(pkg-config --libs wsnative)
# pkg-config --static adds Libs.private; -Bstatic makes -lwsnative pick the
# archive over the shared library beside it.
static_libs=$(pkg-config --static --libs wsnative | sed 's/-lwsnative/-Wl,-Bstatic -lwsnative -Wl,-Bdynamic/')
cwarn="-Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L"
# shellcheck disable=SC2086
{
    check pkgconfig-build-c-shared $CC $cwarn $cflags -o "$out/echo-pc-shared" examples-c/echo.c $libs
    check pkgconfig-build-c-static $CC $cwarn $cflags -o "$out/echo-pc-static" examples-c/echo.c $static_libs
    if [ -n "$cpp" ]; then
        check pkgconfig-build-cpp-shared $CXX -std=c++17 -Wall -Wextra -Werror $cflags -o "$out/echocpp-pc-shared" examples-cpp/echo.cpp $libs
        check pkgconfig-build-cpp-static $CXX -std=c++17 -Wall -Wextra -Werror $cflags -o "$out/echocpp-pc-static" examples-cpp/echo.cpp $static_libs
    fi
}
check pkgconfig-c-shared-needs-soname needs "$out/echo-pc-shared"
check pkgconfig-c-static-needs-nothing needs_none "$out/echo-pc-static"
check pkgconfig-c-shared-echo run_echo "$out/echo-pc-shared"
check pkgconfig-c-static-echo run_echo "$out/echo-pc-static"
if [ -n "$cpp" ]; then
    check pkgconfig-cpp-shared-echo run_echo_cpp "$out/echocpp-pc-shared"
    check pkgconfig-cpp-static-echo run_echo_cpp "$out/echocpp-pc-static"
fi
unset PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR

# --- a CMake project ---------------------------------------------------------
# CMAKE_PREFIX_PATH is the staged tree: the package finds its files from its
# own location, not from the /usr/local it was installed for.
cmake_configure() {
    cmake -S tests-install -B "$out/cmake" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$stage$prefix" -DCMAKE_FIND_USE_CMAKE_SYSTEM_PATH=OFF \
        -DWSNATIVE_SOURCE_DIR="$root" -DWSNATIVE_EXPECTED_VERSION="$version"
}
check cmake-configure cmake_configure
check cmake-build cmake --build "$out/cmake"
check cmake-c-shared-needs-soname needs "$out/cmake/echo_c"
check cmake-c-static-needs-nothing needs_none "$out/cmake/echo_c_static"
check cmake-c-shared-echo run_echo "$out/cmake/echo_c"
check cmake-c-static-echo run_echo "$out/cmake/echo_c_static"
if [ -n "$cpp" ]; then
    check cmake-cpp-shared-needs-soname needs "$out/cmake/echo_cpp"
    check cmake-cpp-shared-echo run_echo_cpp "$out/cmake/echo_cpp"
fi

# --- make uninstall leaves nothing of ours -----------------------------------
uninstall() {
    "$MAKE" --no-print-directory uninstall PREFIX="$prefix" DESTDIR="$stage" &&
        left=$(find "$stage" -type f -o -type l) && { [ -z "$left" ] || { echo "left behind: $left"; false; }; }
}
check uninstall uninstall

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
