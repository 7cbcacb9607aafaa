#!/usr/bin/env bash
# daftseg build script.
#   build.sh test    format check, clippy, and every test (unit, golden vs PyTorch, CLI)
#   build.sh cli     release build of the native CLI (target/release/daftseg)
#   build.sh start   what `npm start` runs: build the CLI and show how to use it
# Set CARGO_TARGET_DIR to keep build outputs outside the clone (CI does: cold tract builds are slow).
set -euo pipefail
cd "$(dirname "$0")"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

ensure_rust() {
    if ! command -v cargo >/dev/null; then
        echo "build.sh: cargo not found; install Rust (https://rustup.rs) and run again" >&2
        exit 1
    fi
    if command -v rustup >/dev/null; then
        # No-ops when present; needed on a bare toolchain.
        rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
        rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
    fi
}

case "${1:-start}" in
test)
    ensure_rust
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    cargo test
    ;;
cli)
    ensure_rust
    cargo build --release
    echo "built $TARGET_DIR/release/daftseg"
    ;;
start)
    ensure_rust
    cargo build --release
    bin="$TARGET_DIR/release/daftseg"
    cat <<USAGE

daftseg CLI built: $bin
  $bin segment tests/fixtures/images/ct_lung.png --box 321,334,392,398 --out mask.png --timings
  $bin segment CASE.npz --out SEG.npz        # CVPR24 challenge 2D case
  $bin route 2DBox_MR_0001.npz               # which model, and why
  $bin bench                                 # encoder/decoder milliseconds
The browser app is not built yet (see README).
USAGE
    ;;
*)
    echo "usage: build.sh [test|cli|start]" >&2
    exit 2
    ;;
esac
