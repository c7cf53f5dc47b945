#!/bin/sh
# Runs each make target given after the make command, in order, and prints
# how long each took; stops at the first failing suite.
#   sh scripts/timed-suites.sh make lint test-rust ...
make=$1
shift
total_start=$(date +%s)
report=""
passed=0
for target in "$@"; do
  echo "== $target"
  start=$(date +%s)
  if ! $make --no-print-directory "$target"; then
    secs=$(( $(date +%s) - start ))
    printf '%s' "$report"
    echo "== $target FAILED after ${secs} s"
    echo "suites: $passed passed, 1 failed"
    exit 1
  fi
  secs=$(( $(date +%s) - start ))
  passed=$((passed + 1))
  report="$report$(printf '  %-16s %5d s' "$target" "$secs")
"
  echo "== $target: ${secs} s"
done
echo "make test: every suite passed in $(( $(date +%s) - total_start )) s"
printf '%s' "$report"
echo "suites: $passed passed, 0 failed"
