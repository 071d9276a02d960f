#!/usr/bin/env bash
# The README's first command: set up, make example data, run the example flows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh run
.venv/bin/python example/make_data.py
exec .venv/bin/hygge run example/flows.yaml "$@"
