#!/usr/bin/env bash
# Create models/.venv with the pinned Python environment of the models pipeline (~6 GB: PyPI's
# torch is the CUDA build; it runs on CPU).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -r requirements.txt
echo "models/.venv ready"
