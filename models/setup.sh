#!/usr/bin/env bash
# Create models/.venv with the pinned Python environment of the models pipeline (~6 GB: PyPI's
# torch is the CUDA build; it runs on CPU).
# requirements.txt is the hashed lock compiled from requirements.in (the direct pins); refresh it
# after editing requirements.in with:
#   pip-compile --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
#       --no-emit-find-links -o requirements.txt requirements.in
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip
# --require-hashes: every wheel, dependencies included, must match the lock's sha256.
.venv/bin/pip install -q --require-hashes -r requirements.txt
echo "models/.venv ready (run a step with: models/.venv/bin/python -m models <step>; list them with: models/.venv/bin/python -m models list)"
