#!/usr/bin/env bash
# Every DICOM test file pydicom ships (from models/.venv, see models/setup.sh) through
# `daftseg segment FILE --info`: exit status, peak resident memory (GNU time), and the first line
# daftseg prints. docs/RELIABILITY.md has the results.
#   scripts/reader-corpus.sh [DAFTSEG_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
binary="${1:-${CARGO_TARGET_DIR:-target}/debug/daftseg}"
files="$(models/.venv/bin/python -c 'import pydicom, pathlib; print(pathlib.Path(pydicom.__file__).parent / "data" / "test_files")')"
command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install time" >&2; exit 1; }
printf 'exit\tpeak_rss_kib\tfile\tmessage\n'
for file in "$files"/*.dcm "$files"/*/*.dcm; do
    out="$( { /usr/bin/time -f 'RSS=%M' timeout 120 "$binary" segment "$file" --info; } 2>&1 )" && status=0 || status=$?
    rss="$(grep -o 'RSS=[0-9]*' <<<"$out" | cut -d= -f2)"
    message="$(grep -v '^RSS=' <<<"$out" | head -1 | sed -E 's/^error: cannot read image: [^:]*: DICOM: //')"
    printf '%s\t%s\t%s\t%s\n' "$status" "$rss" "$(basename "$file")" "$message"
done
