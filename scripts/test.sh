#!/usr/bin/env bash
# The whole test suite: formatting and lint, unit tests, and end-to-end tests that start
# their own berthd per test (root: namespaces, cgroups, overlayfs). Builds once.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
export CARGO_TERM_COLOR=never
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Build every binary once; the end-to-end tests run them from target/debug.
cargo build --workspace --bins --locked
if command -v cargo-nextest >/dev/null; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads "${TEST_THREADS:-4}"
else
  cargo test --workspace --locked --no-fail-fast -- --test-threads "${TEST_THREADS:-4}"
fi
