#!/usr/bin/env bash
# Runs the fuzzers (fuzz/: elf, archive, toolchain, release) with libFuzzer through cargo fuzz,
# each from a copy of its committed corpus (fuzz/corpus/TARGET), so a run never changes
# the checkout. A crash fails the script and leaves its input in fuzz/artifacts/.
#
#   scripts/fuzz.sh [SECONDS]      each target for SECONDS (default 60): what CI runs
#   scripts/fuzz.sh --runs N       each target for N executions: the README's measurement
#
# cargo fuzz passes instrumentation flags; without a sanitizer they are all stable ones
# except what RUSTC_BOOTSTRAP lets the stable compiler accept.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--runs" ]; then
    limit="-runs=${2:?--runs needs a number}"
else
    limit="-max_total_time=${1:-60}"
fi
export RUSTC_BOOTSTRAP=1
for target in elf archive toolchain release; do
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    cp fuzz/corpus/"$target"/* "$work"/
    echo "fuzz: $target ($limit)" >&2
    start=$(date +%s)
    cargo fuzz run --sanitizer none -O "$target" "$work" -- \
        "$limit" -rss_limit_mb=4096 -timeout=20 -max_len=1048576 -print_final_stats=1 \
        2> "$work.log" || { tail -n 60 "$work.log" >&2; exit 1; }
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz: $target: $runs executions in $(( $(date +%s) - start )) s, no crash" >&2
    rm -rf "$work" "$work.log"
    trap - EXIT
done
