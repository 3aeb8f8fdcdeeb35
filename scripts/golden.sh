#!/usr/bin/env bash
# Prints the golden values of tests/package.rs (golden_digests) for the committed
# fixture. Run it only after a deliberate change of the image format, and say why in
# the commit: a changed digest breaks every user's reproducible build.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/scratchpack
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unset SOURCE_DATE_EPOCH
manifest=$("$bin" package fixtures/hello-amd64 -o "$tmp/hello.tar")
tar_sha=$(sha256sum "$tmp/hello.tar" | cut -d' ' -f1)
epoch=$(SOURCE_DATE_EPOCH=1700000000 "$bin" package fixtures/hello-amd64 -o "$tmp/epoch.tar")
two=$("$bin" package fixtures/hello-amd64 fixtures/hello-arm64 -o "$tmp/two.tar")
echo "const GOLDEN_TAR_SHA256: &str = \"$tar_sha\";"
echo "const GOLDEN_MANIFEST: &str = \"$manifest\";"
echo "const GOLDEN_MANIFEST_EPOCH: &str = \"$epoch\";"
echo "const GOLDEN_TWO_PLATFORMS: &str = \"$two\";"
