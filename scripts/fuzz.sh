#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo fuzz, libFuzzer) for a bounded time over its committed
# seed corpus (fuzz/corpus/<target>); a crash fails the run and leaves its input under
# fuzz/artifacts/<target>/, to be turned into a regression test and added to the corpus.
#
#   bash scripts/fuzz.sh [seconds per target, default $PACER_FUZZ_SECONDS or 20] [target ...]
#
# The targets build without RocksDB's C++ and the AWS SDK (pacer-server's `fuzzing` feature,
# no `standalone`) into their own cache, $HOME/.cache/pacer/fuzz-target. cargo fuzz needs
# nightly-only compiler flags; with no nightly toolchain here, RUSTC_BOOTSTRAP=1 lets the
# pinned stable compiler accept them. No sanitizer (-s none): panics, aborts, out-of-memory
# and time-outs are the findings.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PACER_ROOT/fuzz"

SECONDS_PER_TARGET="${1:-${PACER_FUZZ_SECONDS:-20}}"
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(webhook runner_callbacks backup_import config record_decoder graphql_variables)

CARGO_FUZZ_VERSION=0.13.2
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$HOME/.cache/pacer/fuzz-target"
say "building the fuzz targets"
cargo fuzz build -s none

for target in "${TARGETS[@]}"; do
  # New inputs go to a scratch corpus; the committed one is only read.
  scratch="$CARGO_TARGET_DIR/corpus/$target"
  mkdir -p "$scratch" "artifacts/$target"
  say "fuzzing $target for ${SECONDS_PER_TARGET} s"
  cargo fuzz run -s none "$target" "$scratch" "corpus/$target" -- \
    -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E '^(Done|stat::number_of_executed_units|SUMMARY|==[0-9]+== ERROR)|panicked|Test unit written' || true
  if compgen -G "artifacts/$target/*" >/dev/null; then
    echo "fuzz: $target found a crash: $(ls "artifacts/$target")" >&2
    exit 1
  fi
done
say "every fuzz target ran without a crash"
