#!/usr/bin/env bash
# The independent validators tests/seg.rs runs on our DICOM SEG: Debian's dicom3tools (dciodvfy),
# and tests/seg/.venv with highdicom, dcmqi (segimage2itkimage) and nibabel, hash-pinned in
# tests/seg/requirements.txt. A no-op when both are there.
#   bash tests/seg/setup.sh
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v dciodvfy >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dicom3tools
    else
        echo "tests/seg/setup.sh: the DICOM SEG tests need dciodvfy: sudo apt-get install dicom3tools" >&2
        exit 1
    fi
fi
stamp=".venv/.installed-$(sha256sum requirements.txt | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    rm -rf .venv
    python3 -m venv .venv
    .venv/bin/pip install -q --require-hashes --no-deps -r requirements.txt
    touch "$stamp"
fi
