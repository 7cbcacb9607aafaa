#!/usr/bin/env bash
# Fetches the reader corpus: the test files of pydicom 3.0.2, pydicom-data 1.0.0 and nibabel 5.4.2,
# from their source distributions on PyPI (hashes in tests/corpus/packages.txt), into
# tests/corpus/files/ (ignored by git). tests/corpus.rs and tests/browser/corpus.test.mjs run every
# file there against tests/corpus/expected.tsv. A no-op when the files are already there.
#   scripts/fetch-corpus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/corpus/files
stamp="$out/.fetched-$(sha256sum tests/corpus/packages.txt | cut -c1-16)"
[ -f "$stamp" ] && exit 0
python="$(command -v python3 || command -v python)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
    -r tests/corpus/packages.txt -d "$work"
rm -rf "$out"
mkdir -p "$out"
# Only the data folders: the packages' code is never unpacked here.
tar -xzf "$work/pydicom-3.0.2.tar.gz" -C "$work" pydicom-3.0.2/src/pydicom/data/test_files
tar -xzf "$work/pydicom-data-1.0.0.tar.gz" -C "$work" pydicom-data-1.0.0/data_store/data
tar -xzf "$work/nibabel-5.4.2.tar.gz" -C "$work" --wildcards 'nibabel-5.4.2/nibabel/*tests/data/*'
mv "$work/pydicom-3.0.2/src/pydicom/data/test_files" "$out/pydicom"
mv "$work/pydicom-data-1.0.0/data_store/data" "$out/pydicom-data"
mkdir -p "$out/nibabel"
(cd "$work/nibabel-5.4.2/nibabel" && find . -path '*tests/data/*' -type f ! -name '*.py' -print0 |
    xargs -0 -I{} cp --parents {} "$OLDPWD/$out/nibabel/")
find "$out" -name '*.py' -delete
touch "$stamp"
echo "fetched $(find "$out" -type f ! -name '.fetched-*' | wc -l) corpus files into $out"
