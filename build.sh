#!/usr/bin/env bash
# daftseg build script.
#   build.sh start   what `npm start` runs: build what is missing, serve the app on 127.0.0.1
#   build.sh test    what `npm test` runs: format check, clippy, native tests (golden vs PyTorch,
#                    CLI), the wasm build, and the browser tests in Chromium
#   build.sh wasm    the browser builds only: www/pkg/ (single-thread, stable Rust) and
#                    www/pkg-threads/ (wasm threads, the pinned nightly below), wasm-bindgen --target web
#   build.sh bench   what `npm run bench` runs: tract-wasm vs onnxruntime-web in Chromium
#   build.sh cli     release build of the native CLI
# Set CARGO_TARGET_DIR to keep build outputs outside the clone (CI does: cold tract builds are slow).
set -euo pipefail
cd "$(dirname "$0")"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
# The threaded browser module needs nightly Rust (-Z build-std, to rebuild std with atomics).
# Pinned, so that a build is reproducible: rustup publishes this nightly as rustc 1.97.0-nightly
# (e50aa6fba 2026-05-19).
THREADS_TOOLCHAIN=nightly-2026-05-20

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

# wasm-bindgen's glue carries a comment citing an MDN page. The page never fetches it, but www/ is
# audited to name no origin but its own, so comment lines holding an address are dropped.
drop_addresses() {
    find "$1" \( -name '*.js' -o -name '*.ts' \) -exec sed -i -E '/^[[:space:]]*(\/\/|\*).*https?:\/\//d' {} +
}

# The single-thread module: stable Rust, +simd128 from .cargo/config.toml. Every browser runs it.
build_wasm_single() {
    cargo build --target wasm32-unknown-unknown --release --lib --no-default-features
    wasm-bindgen --target web --remove-name-section --out-dir www/pkg \
        "$TARGET_DIR/wasm32-unknown-unknown/release/daftseg.wasm"
    drop_addresses www/pkg
    # wasm-opt is not run: -O3 made the encoder 18% slower in one measurement (docs/BENCHMARKS.md).
    echo "built www/pkg ($(du -h www/pkg/daftseg_bg.wasm | cut -f1) wasm, single-thread)"
}

# The pinned nightly with rust-src and the wasm target; false (and a reason) when rustup cannot
# provide them.
ensure_threads_toolchain() {
    command -v rustup >/dev/null || { echo "no rustup"; return 1; }
    rustup toolchain list | grep -q "^$THREADS_TOOLCHAIN" ||
        rustup toolchain install "$THREADS_TOOLCHAIN" --profile minimal --component rust-src \
            --target wasm32-unknown-unknown >&2 || { echo "rustup could not install $THREADS_TOOLCHAIN"; return 1; }
    rustup "+$THREADS_TOOLCHAIN" component list --installed | grep -q '^rust-src' ||
        rustup "+$THREADS_TOOLCHAIN" component add rust-src >&2 || { echo "no rust-src for $THREADS_TOOLCHAIN"; return 1; }
    rustup "+$THREADS_TOOLCHAIN" target list --installed | grep -q '^wasm32-unknown-unknown$' ||
        rustup "+$THREADS_TOOLCHAIN" target add wasm32-unknown-unknown >&2 || { echo "no wasm32 target for $THREADS_TOOLCHAIN"; return 1; }
}

# The threaded module: std rebuilt with atomics, a shared imported memory, tract on rayon's pool.
# The link arguments are needed because this nightly no longer adds them for +atomics: without
# them the memory is neither shared nor imported and wasm-bindgen silently does no threading.
# Its own target folder: the two builds would otherwise overwrite each other's daftseg.wasm.
build_wasm_threads() {
    local why
    if ! why="$(ensure_threads_toolchain)"; then
        rm -rf www/pkg-threads
        echo "" >&2
        echo "######## build.sh: NO THREADED MODULE: $why." >&2
        echo "######## Built only the single-thread module: the app will run the model on ONE thread." >&2
        echo "" >&2
        return 0
    fi
    local flags="-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128"
    flags+=" -C link-arg=--shared-memory -C link-arg=--import-memory -C link-arg=--max-memory=4294967296"
    flags+=" -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size"
    flags+=" -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base"
    RUSTFLAGS="$flags" cargo "+$THREADS_TOOLCHAIN" build --target wasm32-unknown-unknown --release --lib \
        --no-default-features --features threads -Z build-std=panic_abort,std \
        --target-dir "$TARGET_DIR/threads"
    rm -rf www/pkg-threads
    wasm-bindgen --target web --remove-name-section --out-dir www/pkg-threads \
        "$TARGET_DIR/threads/wasm32-unknown-unknown/release/daftseg.wasm"
    drop_addresses www/pkg-threads
    # Its file list, for the service worker to keep offline (a snippet's folder name is a hash).
    (cd www && find pkg-threads -type f ! -name files.json | sort |
        node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean)))') \
        > www/pkg-threads/files.json
    echo "built www/pkg-threads ($(du -h www/pkg-threads/daftseg_bg.wasm | cut -f1) wasm, threaded)"
}

build_wasm() {
    ensure_rust
    ensure_wasm_bindgen
    build_wasm_single
    build_wasm_threads
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

# GNU time measures the CLI's own peak memory in the reader tests (tests/corpus.rs, hostile.rs).
ensure_gnu_time() {
    if [ ! -x /usr/bin/time ]; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time
        else
            echo "build.sh: the reader tests need GNU time: sudo apt-get install time" >&2
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
    # The reader corpus (pydicom's and nibabel's test files, hash-checked; not committed).
    bash scripts/fetch-corpus.sh
    ensure_gnu_time
    # The independent DICOM SEG validators tests/seg.rs runs (dciodvfy, highdicom, dcmqi).
    bash tests/seg/setup.sh
    cargo test
    build_wasm
    ensure_node_modules
    ensure_chromium
    # Every browser test on the threaded module (the server is cross-origin isolated), then the
    # app's tests again as a host without COOP/COEP serves it: the single-thread fallback.
    node --test --test-concurrency=1 tests/browser/
    DAFTSEG_ISOLATION=off node --test --test-concurrency=1 tests/browser/app.test.mjs
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
