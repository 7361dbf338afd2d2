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
step "control-plane binaries (kube-apiserver, kubectl, etcd, helm) and the test tools (imagebuild, gitopscheck)"
MESHES_TESTENV_BIN="$(bash testenv/scripts/build.sh)"
export MESHES_TESTENV_BIN
echo "using $MESHES_TESTENV_BIN"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny: licences, duplicate crates, sources (deny.toml)"
if ! cargo deny --version >/dev/null 2>&1; then
  # Built once from crates.io (about 4.5 min on 2 cores), then kept in ~/.cargo/bin.
  deny_build="$(mktemp -d)"
  CARGO_TARGET_DIR="$deny_build" cargo install cargo-deny --locked --version 0.20.2
  rm -rf "$deny_build"
fi
cargo deny --workspace --locked check --hide-inclusion-graph bans licenses sources

step "generated files (CRDs, docs/reference) match the code"
cargo run --locked -q -p meshes-operator -- generate --check

# The container image without a container engine: a static musl release binary (profile
# `image`) and an OCI layout written by testenv/go/imagebuild (built in the Go step above).
# Cached: a warm run is a cargo no-op plus a few seconds. The test `image::` inspects it.
step "container image (static binary + OCI layout, no container engine)"
image_start=$SECONDS
MESHES_IMAGE_DIR="$(bash testenv/scripts/build-image.sh | tail -1)"
export MESHES_IMAGE_DIR
echo "image in $MESHES_IMAGE_DIR ($((SECONDS - image_start))s)"

step "tests: unit, client<->emulator, control plane, chart, image (one shared apiserver per binary)"
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "${TMPDIR:-/tmp}/meshes-test-output.txt"

step "the demo, end to end (the README's other command)"
bash examples/demo.sh --check

step "done in $((SECONDS - start))s"
