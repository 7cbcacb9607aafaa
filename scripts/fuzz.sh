#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ (issue 14): each reader entry point and the label
# exporters, seeded with the test fixtures (files up to 100 KB), with libFuzzer's memory limit.
# Not part of `npm test`: it needs nightly Rust and an instrumented build of the whole tree.
#   scripts/fuzz.sh [SECONDS_PER_TARGET (600)] [PARALLEL_JOBS (2)] [TARGET...]
# A target stops at SECONDS or after 1,000,000 runs, whichever comes first. Findings (crashes,
# out-of-memory, timeouts) go to $FUZZ_DIR/artifacts/TARGET/; a summary line per target is
# printed and kept in $FUZZ_DIR/summary.tsv. docs/RELIABILITY.md has the results.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
jobs="${2:-2}"
shift $(($# > 2 ? 2 : $#))
toolchain="${FUZZ_TOOLCHAIN:-nightly-2026-05-20}"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}/fuzz"
FUZZ_DIR="${FUZZ_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/fuzz-runs}"
export FUZZ_DIR
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q "^$toolchain" || rustup toolchain install "$toolchain" --profile minimal
# The readers are safe Rust (no C code is linked for them): coverage instrumentation only, no
# AddressSanitizer, which would only slow the runs.
cargo "+$toolchain" fuzz build --sanitizer none --target-dir "$target_dir"

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(open image dicom dicom_series nifti nrrd npz_case manifest export)

# Seeds: fixtures of each target's format, small enough to keep the runs fast.
seed() {
    local dir="$FUZZ_DIR/seeds/$1"
    shift
    rm -rf "$dir" && mkdir -p "$dir"
    for file in "$@"; do
        [ -f "$file" ] && [ "$(stat -c %s "$file")" -le 102400 ] && cp "$file" "$dir/" || true
    done
}
fixtures=tests/fixtures
seed image $fixtures/images/*
seed dicom $fixtures/medical/*.dcm $fixtures/medical/*/*.dcm
seed dicom_series
seed nifti $fixtures/medical/*.nii $fixtures/medical/*.nii.gz
seed nrrd $fixtures/medical/*.nrrd
seed npz_case $fixtures/medical/*.npz $fixtures/golden/*.npz
seed manifest models/manifest.json $fixtures/manifest_multi.json
seed export
# `open` takes the file's name from its first byte (fuzz/fuzz_targets/open.rs: .dcm .nii
# .nii.gz .nrrd .npz .png none .mgz): each fixture is prefixed with its own.
rm -rf "$FUZZ_DIR/seeds/open" && mkdir -p "$FUZZ_DIR/seeds/open"
for file in "$FUZZ_DIR"/seeds/{image,dicom,nifti,nrrd,npz_case}/*; do
    case "$file" in
    *.dcm) prefix='\x00' ;; *.nii) prefix='\x01' ;; *.nii.gz) prefix='\x02' ;;
    *.nrrd) prefix='\x03' ;; *.npz) prefix='\x04' ;; *.png) prefix='\x05' ;; *) prefix='\x06' ;;
    esac
    { printf "$prefix"; cat "$file"; } > "$FUZZ_DIR/seeds/open/$(basename "$(dirname "$file")")-$(basename "$file")"
done

run_one() {
    local target="$1" seconds="$2"
    local corpus="$FUZZ_DIR/corpus/$target" artifacts="$FUZZ_DIR/artifacts/$target/"
    mkdir -p "$corpus" "$artifacts"
    local log="$FUZZ_DIR/$target.log"
    # 2 GiB: the decoded copies of the largest input libFuzzer may build (-max_len 256 KiB,
    # inflated at most ~1000x) stay below it; a reader that allocates what a header claims does not.
    cargo "+$FUZZ_TOOLCHAIN" fuzz run --sanitizer none --target-dir "$FUZZ_TARGET_DIR" "$target" \
        "$corpus" "$FUZZ_DIR/seeds/$target" -- \
        -max_total_time="$seconds" -runs=1000000 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -timeout=30 -max_len=262144 -artifact_prefix="$artifacts" -print_final_stats=1 \
        >"$log" 2>&1 && status=0 || status=$?
    local runs findings
    runs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)"
    findings="$(find "$artifacts" -type f | wc -l)"
    printf '%s\t%s\t%s\t%s\t%s\n' "$target" "${runs:-?}" "$(find "$corpus" -type f | wc -l)" "$findings" "$status" |
        tee -a "$FUZZ_DIR/summary.tsv"
}
export -f run_one
export FUZZ_TOOLCHAIN="$toolchain" FUZZ_TARGET_DIR="$target_dir"
printf 'target\truns\tcorpus\tfindings\texit\n' | tee "$FUZZ_DIR/summary.tsv"
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c "run_one {} $seconds"
