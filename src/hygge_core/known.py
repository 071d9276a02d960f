"""What ships from the hygge repository, for "install ..." hints: which distribution serves
a type, a URL protocol, a file suffix or a top-level flows.yaml section that no installed
plugin handles.

One table, in the manner of fsspec's `registry.known_implementations`: core never imports
these plugins (they are found through entry points like any other); it only names them
when a user's flows.yaml needs one that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Known:
    """A first-party distribution (extras included, as `pip install` takes it) and what it
    serves."""

    dist: str
    types: tuple[str, ...] = ()
    protocols: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The distribution's name without extras, as `hygge plugins` shows it."""
        return self.dist.split("[", 1)[0]

    @property
    def hint(self) -> str:
        """`pip install DIST`, quoted when extras would upset a shell."""
        return f"pip install '{self.dist}'" if "[" in self.dist else f"pip install {self.dist}"


FIRST_PARTY = (
    Known("hygge-parquet", types=("parquet",), suffixes=(".parquet", ".pq", ".parq")),
    Known("hygge-csv", types=("csv", "jsonl"), suffixes=(".csv", ".tsv", ".jsonl", ".ndjson")),
    Known("hygge-sql", types=("sql", "postgres_cdc")),
    Known("hygge-delta", types=("delta",)),
    Known("hygge-iceberg", types=("iceberg",)),
    Known("hygge-dask", types=("dask",)),
    Known("hygge-metrics", sections=("metrics",)),
    Known("hygge-http", types=("http",)),
    Known("hygge-amqp", types=("rabbitmq",)),
    Known("hygge-cloud[s3]", protocols=("s3", "s3a")),
    Known("hygge-cloud[azure]", protocols=("az", "abfs", "abfss")),
    Known("hygge-cloud[gcs]", protocols=("gs", "gcs")),
)

# A compressed file keeps its format's suffix before the codec's: `events.csv.zst`.
CODEC_SUFFIXES = (".gz", ".bz2", ".zst", ".lz4")


def for_type(name: str) -> Known | None:
    """The distribution that registers type `name` (home, store or executor)."""
    return next((k for k in FIRST_PARTY if name in k.types), None)


def for_protocol(protocol: str) -> Known | None:
    """The distribution whose storage serves `protocol://` paths."""
    return next((k for k in FIRST_PARTY if protocol in k.protocols), None)


def for_section(name: str) -> Known | None:
    """The distribution that owns a top-level section of flows.yaml (`metrics:`)."""
    return next((k for k in FIRST_PARTY if name in k.sections), None)


def for_path(path: str) -> Known | None:
    """The distribution whose plugin claims a bare path by its suffix (`x.csv.gz`, `*.parq`)."""
    name = path.lower().rstrip("/")
    for codec in CODEC_SUFFIXES:
        name = name.removesuffix(codec)
    return next((k for k in FIRST_PARTY if name.endswith(k.suffixes)), None)
