#!/bin/sh
# Runs every fuzz target for SECONDS (default 30) each, starting from the
# committed corpus (fuzz/corpus/TARGET) and the hand-made seeds
# (fuzz/seeds/TARGET) and past findings (fuzz/regressions/TARGET); new
# interesting inputs are added to the corpus.
# cargo fuzz needs nightly flags: RUSTC_BOOTSTRAP lets the stable toolchain
# (which ships the sanitizer runtimes) accept them.
# Exit status: non-zero on any crash, panic, leak or timeout.
set -eu
cd "$(dirname "$0")/.."
seconds=${1:-30}
command -v cargo-fuzz >/dev/null 2>&1 || { echo "cargo-fuzz is missing: run make deps"; exit 1; }
export RUSTC_BOOTSTRAP=1
for target in url_and_protocols option_values handshake_response server_stream inflate proxy_reply; do
  mkdir -p "fuzz/corpus/$target"
  echo "== fuzz $target for ${seconds}s"
  # Text inputs are kept short (the corpus stays small); the byte stream
  # needs room for extended lengths and large frames.
  max_len=1024
  [ "$target" = server_stream ] && max_len=80000
  [ "$target" = inflate ] && max_len=16384
  extra=""
  [ -d "fuzz/regressions/$target" ] && extra="fuzz/regressions/$target"
  # shellcheck disable=SC2086
  cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" $extra -- \
    -max_len="$max_len" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss|==[0-9]+==|SUMMARY|thread '|panicked|Done)" || true
  # grep hides libFuzzer's progress; the pipeline's status is cargo fuzz's.
  [ -z "$(ls fuzz/artifacts/$target 2>/dev/null)" ] || { echo "crash artifacts in fuzz/artifacts/$target"; exit 1; }
done
echo "fuzzing: no crash"
