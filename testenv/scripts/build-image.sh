#!/usr/bin/env bash
# Builds the operator's container image without a container engine: a statically linked binary
# (musl, cargo profile `image`), then testenv/go/imagebuild writes an OCI image layout and a
# `docker load`-able tarball holding it, a CA bundle and a non-root passwd entry.
# Output: $MESHES_IMAGE_DIR (default $CARGO_TARGET_DIR/container-image, else
# target/container-image), holding oci/ (the layout), meshes-operator.tar, meshes-operator (the
# binary) and ref.txt (name@digest). Prints that directory on its last line. Cached: cargo and imagebuild are both
# no-ops when nothing changed.
#
# Needs the musl target (`rustup target add x86_64-unknown-linux-musl`, done here) and a C
# compiler for it (musl-gcc from Debian's musl-tools: aws-lc-sys and ring compile C).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
log() { printf '[image] %s\n' "$*" >&2; }

target=x86_64-unknown-linux-musl
if ! rustup target list --installed | grep -qx "$target"; then
  log "adding the Rust target $target"
  rustup target add "$target" >&2
fi
if ! command -v musl-gcc >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing musl-tools (musl-gcc)"
    apt-get install -y -q musl-tools >&2 || { apt-get update -q >&2 && apt-get install -y -q musl-tools >&2; }
  else
    log "musl-gcc is missing: install musl-tools (Debian/Ubuntu) or musl-gcc"; exit 1
  fi
fi

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
repository="$(sed -n 's/^  repository: //p' charts/meshes-operator/values.yaml | head -1)"
tag="${repository}:${version}"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
out="${MESHES_IMAGE_DIR:-$target_dir/container-image}"
mkdir -p "$out"

start=$SECONDS
log "static binary: cargo build --profile image --target $target"
CC_x86_64_unknown_linux_musl=musl-gcc cargo build --locked -q --profile image --target "$target" \
  -p meshes-operator --bin meshes-operator >&2
bin="$target_dir/$target/image/meshes-operator"
log "binary built in $((SECONDS - start))s ($(du -h "$bin" | cut -f1))"
cp "$bin" "$out/meshes-operator.tmp" && mv "$out/meshes-operator.tmp" "$out/meshes-operator"

tools="${MESHES_TESTENV_BIN:-$(bash testenv/scripts/build.sh | tail -1)}"
start=$SECONDS
# Reproducible: the image's time is the last commit's (or 0 outside a git checkout).
created="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
"$tools/imagebuild" --binary "$out/meshes-operator" --tag "$tag" --created "$created" \
  --layout "$out/oci" --tarball "$out/meshes-operator.tar" > "$out/ref.txt"
log "image $(cat "$out/ref.txt") written in $((SECONDS - start))s ($(du -sh "$out/oci" | cut -f1))"
echo "$out"
