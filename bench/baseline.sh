#!/bin/sh
# Builds the wsnative C library of an older revision and the current C
# benchmark client against it, for `run.py --baseline REV` (the
# `wsnative-c@REV` column of W1 and W5: what a direct connection costs
# compared with that revision, in the same run).
#
#   sh bench/baseline.sh REV
#
# REV is checked out in a detached git worktree under build/bench-baseline/
# (kept between runs; rebuilt only when missing) and built with its own
# cargo target directory, so the current tree's target/ is never touched.
# Prints the client's path on its last line.
set -eu
cd "$(dirname "$0")/.."
root=$(pwd)
rev=$(git rev-parse --verify --quiet "$1^{commit}") || { echo "baseline.sh: unknown revision '$1'" >&2; exit 2; }
short=$(git rev-parse --short=7 "$rev")
top=$root/build/bench-baseline
tree=$top/$short
client=$root/build/bench/wsnative_c@$short
mkdir -p "$top" "$root/build/bench"
if [ ! -e "$tree/.git" ]; then
    git worktree prune
    git worktree add --detach --force "$tree" "$rev" >&2
fi
# The baseline's own target directory; CARGO as in the Makefile.
(cd "$tree" && CARGO_TARGET_DIR=$top/target ${CARGO:-cargo} build --release -p wsnative >&2)
lib=$top/target/release
if [ ! -x "$client" ] || [ "$lib/libwsnative.so" -nt "$client" ] || [ bench/clients/wsnative_c.c -nt "$client" ]; then
    ${CC:-gcc} -O2 -g -Wall -Wextra -Werror -std=c11 -D_POSIX_C_SOURCE=200809L -I"$tree/include" \
        -o "$client" bench/clients/wsnative_c.c -L"$lib" -Wl,-rpath,"$lib" -lwsnative -lpthread -ldl -lm >&2
fi
echo "$client"
