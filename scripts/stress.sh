#!/usr/bin/env bash
# The long runs kept out of the everyday suite: the kill loops with many random kill points.
# HYGGE_KILL_POINTS (default 50) sets the kill points per store/mode combination.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
export HYGGE_SERVICES_DIR="${HYGGE_SERVICES_DIR:-/tmp/hygge-services}"
python3 scripts/services.py install
trap 'python3 scripts/services.py stop >/dev/null 2>&1 || true' EXIT
python3 scripts/services.py start postgres
# shellcheck disable=SC1091
source "$HYGGE_SERVICES_DIR/services.env"
export HYGGE_REQUIRE_SERVICES=1 HYGGE_KILL_POINTS="${HYGGE_KILL_POINTS:-50}"
# The kill loops are the everyday ones with 50 kill points per combination, plus anything
# marked stress.
.venv/bin/python -m pytest -p no:cacheprovider tests/exactly_once plugins/hygge_delta/tests/test_kill.py \
  plugins/hygge_iceberg/tests/test_kill.py plugins/hygge_parquet/tests/test_hive_kill.py \
  plugins/hygge_csv/tests/test_hive.py::test_kill_anywhere_then_rerun_converges "$@"
.venv/bin/python -m pytest -p no:cacheprovider -m stress "$@" || [[ $? == 5 ]]
