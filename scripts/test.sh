#!/usr/bin/env bash
# The README's second command (and CI's): set up, start the real services, run every test
# except the long stress runs (scripts/stress.sh), stop the services.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
export HYGGE_SERVICES_DIR="${HYGGE_SERVICES_DIR:-/tmp/hygge-services}"
python3 scripts/services.py install
trap 'python3 scripts/services.py stop >/dev/null 2>&1 || true' EXIT
python3 scripts/services.py start
# shellcheck disable=SC1091
source "$HYGGE_SERVICES_DIR/services.env"
export HYGGE_REQUIRE_SERVICES=1
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # hygge-core and every plugin's src/ (pyproject.toml [tool.mypy])
.venv/bin/python -m pytest -m "not stress" -p no:cacheprovider "$@"
