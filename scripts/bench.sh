#!/usr/bin/env bash
# The benchmark suite (not part of the tests): hygge against pyarrow, polars, duckdb, ADBC,
# psycopg COPY and the peers dlt and ingestr, as whole processes, every output verified.
#   scripts/bench.sh                 everything, 5,000,000 rows (about half an hour, quiet)
#   scripts/bench.sh --quick         a one-minute smoke run
# Options go to bench/run.py (see bench/README.md). Afterwards the Dask-vs-local and the
# 2,000-objects-on-S3 measurements run and are saved beside the main results.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh test
.venv/bin/python -m pip install -q --disable-pip-version-check polars duckdb numpy \
  2> >(grep -v "^WARNING: Location" >&2)
export HYGGE_SERVICES_DIR="${HYGGE_SERVICES_DIR:-/tmp/hygge-services}"
python3 scripts/services.py install
trap 'python3 scripts/services.py stop >/dev/null 2>&1 || true' EXIT
python3 scripts/services.py start postgres s3
# shellcheck disable=SC1091
source "$HYGGE_SERVICES_DIR/services.env"
.venv/bin/python bench/run.py "$@"
stamp=$(date -u +%Y-%m-%d)
.venv/bin/python plugins/hygge_dask/bench_executor.py | tee "bench/results/$stamp-dask-vs-local.txt"
.venv/bin/python plugins/hygge_cloud/bench_many_files.py --json "bench/results/$stamp-s3-2000-files.json"
