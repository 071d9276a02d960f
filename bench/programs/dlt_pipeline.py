"""Peer: dlt pipelines (runs in the dlt venv under ``bench/.venvs/dlt``).

Sources: ``sql`` (``sql_table`` with a chosen backend: ``pyarrow`` is the issue's "dlt default"
configuration for SQL sources, ``connectorx`` the fastest), ``parquet`` (the filesystem
source with ``read_parquet`` left at its defaults) and ``rest`` (the ``rest_api`` source on a
paginated JSON endpoint, ``header_link`` paginator, everything else at its defaults).
Destinations: ``filesystem`` writing Parquet files (or, with ``--table-format delta|iceberg``,
a Delta or Iceberg table: dlt's lakehouse destinations, which need the
``deltalake``/``pyiceberg`` extras), or ``postgres`` with its default loader file format.
Everything else stays at dlt's defaults; the pipeline's working folder is a fresh throwaway one
for each run.

Usage::

    dlt_pipeline.py --source sql --url URL --table T --backend pyarrow \
        --dest filesystem --out DIR --dataset NAME --work DIR
    dlt_pipeline.py --source parquet --path FILE --dest postgres --url URL --dataset NAME --work DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dlt

TABLE_NAME = "bench"


def main() -> None:
    """Build the source and destination from the arguments and run one pipeline."""
    p = argparse.ArgumentParser()
    p.add_argument("--source", choices=["sql", "parquet", "rest"], required=True)
    p.add_argument("--source-url", help="SQLAlchemy URL of the SQL source (rest: base URL)")
    p.add_argument("--table", help="source table name (rest: the endpoint path)")
    p.add_argument("--page", type=int, default=1000, help="rest: records per page to ask for")
    p.add_argument("--backend", default="pyarrow", choices=["sqlalchemy", "pyarrow", "connectorx"])
    p.add_argument("--path", help="Parquet source file")
    p.add_argument("--dest", choices=["filesystem", "postgres"], required=True)
    p.add_argument("--out", help="output folder of the filesystem destination")
    p.add_argument("--dest-url", help="PostgreSQL URL of the postgres destination")
    p.add_argument("--table-format", choices=["delta", "iceberg"], help="filesystem table format")
    p.add_argument("--dataset", required=True, help="dataset (folder or schema) name")
    p.add_argument("--work", required=True, help="pipelines_dir for this run")
    a = p.parse_args()

    if a.source == "sql":
        from dlt.sources.sql_database import sql_table

        resource = sql_table(credentials=a.source_url, table=a.table, backend=a.backend)
    elif a.source == "rest":
        from dlt.sources.rest_api import rest_api_source

        api = rest_api_source(
            {
                "client": {"base_url": a.source_url, "paginator": "header_link"},
                "resources": [
                    {
                        "name": TABLE_NAME,
                        "endpoint": {
                            "path": a.table,
                            "params": {"per_page": a.page},
                            "data_selector": "$",
                        },
                    }
                ],
            }
        )
        resource = api.resources[TABLE_NAME]
    else:
        from dlt.sources.filesystem import filesystem, read_parquet

        src = Path(a.path).resolve()
        files = filesystem(bucket_url=src.parent.as_uri(), file_glob=src.name)
        resource = files | read_parquet()

    if a.dest == "filesystem":
        destination = dlt.destinations.filesystem(bucket_url=Path(a.out).resolve().as_uri())
        file_format = "parquet"
    else:
        destination = dlt.destinations.postgres(credentials=a.dest_url)
        file_format = None

    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{a.dataset}",
        pipelines_dir=a.work,
        destination=destination,
        dataset_name=a.dataset,
        progress=None,
    )
    if a.table_format:
        resource.apply_hints(table_format=a.table_format)
    info = pipeline.run(
        resource.with_name(TABLE_NAME),
        write_disposition="append" if a.table_format else "replace",
        loader_file_format=file_format,
    )
    info.raise_on_failed_jobs()


if __name__ == "__main__":
    main()
