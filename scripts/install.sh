#!/bin/sh
# Installs (or removes) the C library: what `make install` / `make uninstall`
# run. Needs `make lib` first (target/release/libwsnative.{so,a}).
#
#   sh scripts/install.sh install|uninstall
#
# Read from the environment (the Makefile passes them):
#   PREFIX      where the library will live             (default /usr/local)
#   LIBDIR      its libraries                           (default PREFIX/lib)
#   INCLUDEDIR  its headers                             (default PREFIX/include)
#   DESTDIR     a staging root put before every path written, not before the
#               paths written into the files (the usual packaging convention)
#
# Installed:
#   LIBDIR/libwsnative.so.VERSION      the shared library (SONAME libwsnative.so.0)
#   LIBDIR/libwsnative.so.0            -> libwsnative.so.VERSION (what programs load)
#   LIBDIR/libwsnative.so              -> libwsnative.so.0 (what -lwsnative finds)
#   LIBDIR/libwsnative.a               the static library
#   INCLUDEDIR/wsnative.h              the C header
#   INCLUDEDIR/wsnative.hpp            the C++ header, when the tree has it
#   LIBDIR/pkgconfig/wsnative.pc       pkg-config (static link flags in Libs.private)
#   LIBDIR/cmake/wsnative/             wsnativeConfig.cmake, wsnativeConfigVersion.cmake
set -eu
action=${1:-install}
cd "$(dirname "$0")/.."

PREFIX=${PREFIX:-/usr/local}
LIBDIR=${LIBDIR:-$PREFIX/lib}
INCLUDEDIR=${INCLUDEDIR:-$PREFIX/include}
DESTDIR=${DESTDIR:-}
for d in "$PREFIX" "$LIBDIR" "$INCLUDEDIR"; do
    case $d in
    /*) ;;
    *) echo "install: PREFIX, LIBDIR and INCLUDEDIR must be absolute paths (got '$d')" >&2; exit 2 ;;
    esac
done

# The version of the workspace (Cargo.toml, [workspace.package]).
VERSION=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
case $VERSION in
[0-9]*.[0-9]*.[0-9]*) ;;
*) echo "install: no version found in Cargo.toml [workspace.package]" >&2; exit 2 ;;
esac
VERSION_MAJOR=${VERSION%%.*}
SONAME=libwsnative.so.$VERSION_MAJOR
# What the static library needs besides itself: the list rustc prints with
# `cargo rustc -p wsnative --release --crate-type staticlib -- --print
# native-static-libs` on Linux (gcc_s: unwinding; -lc left to the compiler).
STATIC_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl"

lib=$DESTDIR$LIBDIR
inc=$DESTDIR$INCLUDEDIR
pc=$lib/pkgconfig
cm=$lib/cmake/wsnative

if [ "$action" = uninstall ]; then
    rm -f "$lib/libwsnative.so.$VERSION" "$lib/$SONAME" "$lib/libwsnative.so" "$lib/libwsnative.a" \
        "$inc/wsnative.h" "$inc/wsnative.hpp" "$pc/wsnative.pc" \
        "$cm/wsnativeConfig.cmake" "$cm/wsnativeConfigVersion.cmake"
    rmdir "$cm" 2>/dev/null || true
    echo "uninstalled wsnative $VERSION from $DESTDIR$PREFIX"
    exit 0
fi
[ "$action" = install ] || { echo "usage: $0 install|uninstall" >&2; exit 2; }

rel=target/release
for f in "$rel/libwsnative.so" "$rel/libwsnative.a" include/wsnative.h; do
    [ -f "$f" ] || { echo "install: $f is missing: run 'make lib' first" >&2; exit 2; }
done
if ! readelf -d "$rel/libwsnative.so" 2>/dev/null | grep -q "SONAME.*\[$SONAME\]"; then
    echo "install: $rel/libwsnative.so has no SONAME $SONAME (ffi/build.rs sets it): rebuild with 'make lib'" >&2
    exit 2
fi

mkdir -p "$lib" "$inc" "$pc" "$cm"
install -m 755 "$rel/libwsnative.so" "$lib/libwsnative.so.$VERSION"
ln -sf "libwsnative.so.$VERSION" "$lib/$SONAME"
ln -sf "$SONAME" "$lib/libwsnative.so"
install -m 644 "$rel/libwsnative.a" "$lib/libwsnative.a"
install -m 644 include/wsnative.h "$inc/wsnative.h"
if [ -f include/wsnative.hpp ]; then
    install -m 644 include/wsnative.hpp "$inc/wsnative.hpp"
fi

# relpath FROM TO: TO relative to the directory FROM (both absolute), so that
# the CMake package finds the library from wherever the tree is moved.
relpath() {
    realpath -m --relative-to="$1" "$2"
}
# sizeof(void *) of the machine the library was built for (the file's class).
case $(od -An -tx1 -j4 -N1 "$rel/libwsnative.so" | tr -d ' ') in
01) SIZEOF_VOID_P=4 ;;
*) SIZEOF_VOID_P=8 ;;
esac

# @NAME@ -> value; values are paths and flags, never containing '|'.
fill() {
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@LIBDIR@|$LIBDIR|g" -e "s|@INCLUDEDIR@|$INCLUDEDIR|g" \
        -e "s|@VERSION@|$VERSION|g" -e "s|@VERSION_MAJOR@|$VERSION_MAJOR|g" \
        -e "s|@STATIC_LIBS@|$STATIC_LIBS|g" -e "s|@SIZEOF_VOID_P@|$SIZEOF_VOID_P|g" \
        -e "s|@CMAKE_TO_LIBDIR@|$(relpath "$LIBDIR/cmake/wsnative" "$LIBDIR")|g" \
        -e "s|@CMAKE_TO_INCLUDEDIR@|$(relpath "$LIBDIR/cmake/wsnative" "$INCLUDEDIR")|g" \
        "$1" >"$2"
    chmod 644 "$2"
}
fill packaging/wsnative.pc.in "$pc/wsnative.pc"
fill packaging/wsnativeConfig.cmake.in "$cm/wsnativeConfig.cmake"
fill packaging/wsnativeConfigVersion.cmake.in "$cm/wsnativeConfigVersion.cmake"

echo "installed wsnative $VERSION into $DESTDIR$PREFIX (library $LIBDIR/libwsnative.so.$VERSION, SONAME $SONAME)"
