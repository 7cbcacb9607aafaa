#!/usr/bin/env bash
# daftseg build script.
#   build.sh start   what `npm start` runs: build what is missing, serve the app on 127.0.0.1
#   build.sh test    what `npm test` runs: format check, clippy, native tests (golden vs PyTorch,
#                    CLI), the wasm build, and the browser tests in Chromium
#   build.sh wasm    the browser build only: www/pkg/ (wasm-bindgen --target web)
#   build.sh bench   what `npm run bench` runs: tract-wasm vs onnxruntime-web in Chromium
#   build.sh cli     release build of the native CLI
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
        rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
    fi
}

# wasm-bindgen-cli must be exactly the version of the wasm-bindgen crate in Cargo.lock.
ensure_wasm_bindgen() {
    local want
    want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)"
    if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
        # Not --locked: one locked dependency of the CLI is missing from the registry mirror.
        cargo install wasm-bindgen-cli --version "$want"
    fi
}

build_wasm() {
    ensure_rust
    ensure_wasm_bindgen
    # +simd128 comes from .cargo/config.toml.
    cargo build --target wasm32-unknown-unknown --release --lib --no-default-features
    wasm-bindgen --target web --no-typescript --remove-name-section --out-dir www/pkg \
        "$TARGET_DIR/wasm32-unknown-unknown/release/daftseg.wasm"
    # wasm-bindgen's glue carries a comment citing an MDN page. The page never fetches it, but www/
    # is audited to name no origin but its own, so comment lines holding an address are dropped.
    sed -i -E '/^[[:space:]]*\/\/.*https?:\/\//d' www/pkg/daftseg.js
    # wasm-opt is not run: -O3 made the encoder 18% slower in one measurement (docs/BENCHMARKS.md).
    echo "built www/pkg ($(du -h www/pkg/daftseg_bg.wasm | cut -f1) wasm)"
}

ensure_node_modules() {
    if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/pngjs ] || [ ! -d node_modules/onnxruntime-web ]; then
        npm ci --no-audit --no-fund
    fi
}

ensure_chromium() {
    if ! command -v chromium >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
        else
            echo "build.sh: the browser tests need Debian's chromium: sudo apt-get install chromium" >&2
            exit 1
        fi
    fi
}

case "${1:-start}" in
test)
    ensure_rust
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    cargo clippy --target wasm32-unknown-unknown --lib --no-default-features -- -D warnings
    cargo test
    build_wasm
    ensure_node_modules
    ensure_chromium
    node --test --test-concurrency=1 tests/browser/
    ;;
wasm)
    build_wasm
    ;;
bench)
    build_wasm
    ensure_node_modules
    ensure_chromium
    node scripts/bench-browser.mjs "${@:2}"
    ;;
cli)
    ensure_rust
    cargo build --release
    echo "built $TARGET_DIR/release/daftseg"
    ;;
start)
    build_wasm
    exec node scripts/serve.mjs
    ;;
*)
    echo "usage: build.sh [start|test|wasm|bench|cli]" >&2
    exit 2
    ;;
esac
