#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, unit and integration tests.
# Integration tests drive real compilers (gcc, musl-gcc, go) and real image clients
# (podman, docker, skopeo, umoci). Where one is missing they print SKIPPED; with
# SCRATCHPACK_CI=1 (set by .ci/run) a missing tool fails the run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
