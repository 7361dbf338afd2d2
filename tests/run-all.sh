#!/usr/bin/env bash
# The project's one test command (the README's, and what .ci/run calls): builds the pinned
# control plane when its cache is empty, then runs formatting, lints, generated-file drift checks
# and every test tier. Never skips a tier: a control plane that cannot start fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

for tool in go cargo git; do
  command -v "$tool" >/dev/null || { echo "missing prerequisite: $tool" >&2; exit 1; }
done
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
  rustup component add clippy rustfmt
fi

# Go builds run alone: never in parallel with a cargo build (2 cores, memory peaks at link).
step "control-plane binaries (kube-apiserver, kubectl, etcd, helm)"
MESHES_TESTENV_BIN="$(bash testenv/scripts/build.sh)"
export MESHES_TESTENV_BIN
echo "using $MESHES_TESTENV_BIN"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "generated CRDs match the Rust types"
cargo run --locked -q -p meshes-operator -- crds --check

step "tests: unit, client<->emulator, control plane (one shared apiserver per binary)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/meshes-test-output.txt"

step "the demo, end to end (the README's other command)"
bash examples/demo.sh --check

step "done in $((SECONDS - start))s"
