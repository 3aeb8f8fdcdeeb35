#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and integration tests,
# then each fuzzer for FUZZ_SECONDS (default 60; 0 skips them).
# Integration tests drive real compilers (gcc, musl-gcc, go) and real image clients
# (podman, docker, skopeo, umoci). Where one is missing they print SKIPPED; with
# SCRATCHPACK_CI=1 (set by .ci/run) a missing tool fails the run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
if [ "${FUZZ_SECONDS:-60}" != 0 ]; then
    if cargo fuzz --version >/dev/null 2>&1; then
        scripts/fuzz.sh "${FUZZ_SECONDS:-60}"
    elif [ "${SCRATCHPACK_CI:-}" = 1 ]; then
        echo "cargo fuzz is required in CI (installed by .ci/run)" >&2
        exit 1
    else
        echo "SKIPPED: the fuzzers (cargo install cargo-fuzz to run them)" >&2
    fi
fi
