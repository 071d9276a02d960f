"""What the benchmark runs: each workload and the programs that perform it side by side.

A workload is one movement of the same table (e.g. PostgreSQL → Parquet). Its entries are whole
programs: ``hygge run`` on a generated ``flows.yaml``, the reference programs in ``programs/``
(the fastest way a skilled user could do it with one library), and peers (dlt, ingestr) in their
own venvs. Each entry says where its output lands, so the harness can clear it before a run and
verify it after.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen
from gen import SQLITE_TABLE, Dataset
from peers import PEER_ENV, Peer
from schema import COLUMNS, DATA_DIR, PROGRAMS_DIR, Column
from shapes import SHAPES

WORK_DIR = DATA_DIR / "work"


@dataclass
class PgTarget:
    """One PostgreSQL server, spelled the way each client wants its connection string."""

    host: str
    port: str
    user: str
    password: str | None
    dbname: str

    @classmethod
    def parse(cls, dsn: str) -> PgTarget:
        """Accept a libpq URL or ``key=value`` string (as ``HYGGE_TEST_PG_DSN`` may be)."""
        from psycopg.conninfo import conninfo_to_dict

        d = conninfo_to_dict(dsn)
        return cls(
            host=str(d.get("host", "127.0.0.1")),
            port=str(d.get("port", "5432")),
            user=str(d.get("user", "postgres")),
            password=str(d["password"]) if d.get("password") else None,
            dbname=str(d.get("dbname", "postgres")),
        )

    def url(self, scheme: str = "postgresql", need_password: bool = False) -> str:
        """A URL; ``need_password`` puts in a dummy one for clients that insist (dlt)."""
        pw = self.password or ("bench" if need_password else None)
        auth = quote(self.user, safe="") + (f":{quote(pw, safe='')}" if pw else "")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    @property
    def libpq(self) -> str:
        """For psycopg and the ADBC driver."""
        return self.url()

    @property
    def sqlalchemy(self) -> str:
        """For hygge's SQL plugin (SQLAlchemy with psycopg 3)."""
        return self.url("postgresql+psycopg")


@dataclass
class ParquetOutput:
    """A Parquet file or folder of part files written by a program."""

    path: Path


@dataclass
class DeltaOutput:
    """A Delta table (its folder) written by a program."""

    path: Path


@dataclass
class IcebergOutput:
    """A folder holding an Iceberg table's files (and maybe its SQLite catalog)."""

    path: Path


@dataclass
class PgOutput:
    """A PostgreSQL table written by a program; schemas the program creates are dropped too."""

    table: str
    drop_schemas: list[str] = field(default_factory=list)


@dataclass
class Entry:
    """One program of one workload."""

    workload: str
    name: str
    kind: str  # "hygge", "reference", "peer" or "baseline"
    rows: int
    argv: list[str] = field(default_factory=list)
    output: ParquetOutput | DeltaOutput | IcebergOutput | PgOutput | None = None
    expected_rows: int | None = None  # rows the output must hold (None: no output to check)
    expected_checksum: str | None = None
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    scratch: list[Path] = field(default_factory=list)  # folders cleared before each run
    unavailable: str | None = None
    note: str = ""
    dlt_default: bool = False  # the "dlt default" configuration the issue compares against
    runs: int | None = None  # overrides the harness's --runs (peers, start-up)
    columns: tuple[Column, ...] | None = None  # checksum columns, if not the main table's
    # After each verified run: "" if what the run sent elsewhere arrived, else what is wrong
    # (metrics_overhead's OTLP receiver: a collector that is not reached costs hygge only a
    # warning, and would make the run look cheap).
    check: Callable[[], str] | None = None

    @property
    def slug(self) -> str:
        return "".join(ch if ch.isalnum() else "-" for ch in self.name.lower()).strip("-")


@dataclass
class Context:
    """Everything the workload builders need to know about this benchmark run."""

    rows: int
    data: Dataset
    peer_data: Dataset
    python: str
    hygge: Path | None
    pg: PgTarget | None
    peers: dict[str, Peer]
    peer_runs: int | None
    scaling: list[Dataset] = field(default_factory=list)
    shapes: dict[str, tuple[Dataset, tuple[Column, ...]]] = field(default_factory=dict)

    @property
    def peer_rows(self) -> int:
        return self.peer_data.rows


def quote_ident(name: str) -> str:
    """Quote a table name for SQL, allowing a ``schema.table`` dotted name."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in name.split("."))


def _program(ctx: Context, script: str, *args: object) -> list[str]:
    return [ctx.python, str(PROGRAMS_DIR / script), *map(str, args)]


def _expect(entry: Entry, ds: Dataset) -> Entry:
    entry.expected_rows = ds.rows
    entry.expected_checksum = ds.checksum
    return entry


def _workdir(workload: str, slug: str) -> Path:
    return WORK_DIR / workload / slug


def _hygge_entry(
    ctx: Context,
    workload: str,
    home: dict,
    store: dict,
    output: ParquetOutput | DeltaOutput | IcebergOutput | PgOutput,
    ds: Dataset,
    name: str = "hygge",
    options: dict | None = None,
    top: dict | None = None,
) -> Entry:
    """``hygge run flows.yaml`` with one flow ``bench`` from ``home`` to ``store`` (and the
    flow's ``options``, such as ``memory``; ``top``: sections beside ``flows:``, such as
    ``metrics``)."""
    entry = Entry(workload, name, "hygge", ds.rows, output=output)
    if ctx.hygge is None:
        entry.unavailable = "hygge CLI not installed (no .venv/bin/hygge yet)"
        return _expect(entry, ds)
    work = _workdir(workload, entry.slug)
    work.mkdir(parents=True, exist_ok=True)
    flows = work / "flows.yaml"
    flows.write_text(
        yaml.safe_dump(
            {"flows": {"bench": {"home": home, "store": store, **(options or {})}}, **(top or {})},
            sort_keys=False,
        )
    )
    entry.argv = [str(ctx.hygge), "run", str(flows)]
    entry.cwd = work
    return _expect(entry, ds)


def _parquet_store(path: Path) -> dict:
    return {"type": "parquet", "path": str(path), "mode": "replace"}


def _dlt_entry(
    ctx: Context,
    workload: str,
    name: str,
    args: list[str],
    output: ParquetOutput | DeltaOutput | IcebergOutput | PgOutput,
    dlt_default: bool,
    peer_name: str = "dlt",
) -> Entry:
    peer = ctx.peers.get(peer_name)
    entry = Entry(
        workload,
        name,
        "peer",
        ctx.peer_rows,
        output=output,
        dlt_default=dlt_default,
        runs=ctx.peer_runs,
    )
    work = _workdir(workload, entry.slug)
    entry.scratch = [work]
    if peer is None or peer.python is None:
        entry.unavailable = peer.error if peer else "peers not requested (--no-peers)"
        return _expect(entry, ctx.peer_data)
    entry.argv = [
        str(peer.python),
        str(PROGRAMS_DIR / "dlt_pipeline.py"),
        *args,
        "--work",
        str(work / "pipelines"),
    ]
    entry.env = {**PEER_ENV, "DLT_DATA_DIR": str(work / "dlt-data")}
    entry.cwd = None
    return _expect(entry, ctx.peer_data)


def _out(workload: str, slug: str) -> Path:
    return _workdir(workload, slug) / "out"


# --- workloads -------------------------------------------------------------------------------


def parquet_to_parquet(ctx: Context) -> list[Entry]:
    """Parquet file → Parquet: the pure Arrow path, no database in the way."""
    w, src = "parquet_to_parquet", ctx.data.parquet
    entries = []
    for name, script, args in [
        ("polars scan→sink", "polars_copy.py", ["parquet"]),
        ("pyarrow iter_batches→writer", "pyarrow_parquet.py", []),
        ("duckdb COPY", "duckdb_copy.py", ["parquet"]),
    ]:
        e = Entry(w, name, "reference", ctx.rows)
        out = _out(w, e.slug)
        e.argv, e.output = _program(ctx, script, *args, src, out), ParquetOutput(out)
        entries.append(_expect(e, ctx.data))
    out = _out(w, "hygge")
    entries.append(
        _hygge_entry(
            ctx,
            w,
            {"type": "parquet", "path": str(src)},
            _parquet_store(out),
            ParquetOutput(out),
            ctx.data,
        )
    )
    out = _out(w, "hygge-pyarrow-default")
    old = _hygge_entry(
        ctx,
        w,
        {"type": "parquet", "path": str(src)},
        {**_parquet_store(out), "dictionary": True},
        ParquetOutput(out),
        ctx.data,
        name=PYARROW_DEFAULT_ENCODINGS,
    )
    old.kind = "baseline"
    entries.append(old)
    return entries


def csv_to_parquet(ctx: Context) -> list[Entry]:
    """CSV file → Parquet: parsing text dominates."""
    w, src = "csv_to_parquet", ctx.data.csv
    entries = []
    for name, script, args in [
        ("duckdb COPY", "duckdb_copy.py", ["csv"]),
        ("pyarrow open_csv→writer", "pyarrow_csv.py", []),
        ("polars scan_csv→sink", "polars_copy.py", ["csv"]),
    ]:
        e = Entry(w, name, "reference", ctx.rows)
        out = _out(w, e.slug)
        e.argv, e.output = _program(ctx, script, *args, src, out), ParquetOutput(out)
        entries.append(_expect(e, ctx.data))
    out = _out(w, "hygge")
    entries.append(
        _hygge_entry(
            ctx,
            w,
            {"type": "csv", "path": str(src)},
            _parquet_store(out),
            ParquetOutput(out),
            ctx.data,
        )
    )
    return entries


def sqlite_to_parquet(ctx: Context) -> list[Entry]:
    """SQLite table → Parquet: a single-file database read through a driver."""
    w = "sqlite_to_parquet"
    e = Entry(w, "ADBC fetch_record_batch (reader thread)", "reference", ctx.rows)
    out = _out(w, e.slug)
    e.argv = _program(ctx, "adbc_to_parquet.py", "sqlite", ctx.data.sqlite, SQLITE_TABLE, out)
    e.output = ParquetOutput(out)
    entries = [_expect(e, ctx.data)]
    peer_url = f"sqlite:///{ctx.peer_data.sqlite}"
    for backend, default in [("pyarrow", True), ("connectorx", False)]:
        name = f"dlt sql_database ({backend} backend)"
        out = _out(w, name.replace(" ", "-"))
        entries.append(
            _dlt_entry(
                ctx,
                w,
                name,
                [
                    "--source",
                    "sql",
                    "--source-url",
                    peer_url,
                    "--table",
                    SQLITE_TABLE,
                    "--backend",
                    backend,
                    "--dest",
                    "filesystem",
                    "--out",
                    out,
                    "--dataset",
                    "dlt_bench",
                ],
                ParquetOutput(out / "dlt_bench" / "bench"),
                default,
            )
        )
        entries[-1].scratch.append(out)
    out = _out(w, "hygge")
    home = {"type": "sql", "url": f"sqlite:///{ctx.data.sqlite}", "table": SQLITE_TABLE}
    entries.append(_hygge_entry(ctx, w, home, _parquet_store(out), ParquetOutput(out), ctx.data))
    return entries


def rabbitmq_stream_to_parquet(ctx: Context) -> list[Entry]:
    """A RabbitMQ stream → Parquet: a plain pika consumer against hygge's stream home (same
    client, so the ratio is hygge's own cost: offsets as state, the commit). The stream is
    published once per `--rows` (~10 000 messages/s: use a few 100 000 rows)."""
    from rabbitmq import rabbitmq_url, stream_with

    w, ds = "rabbitmq_stream_to_parquet", ctx.data
    url = rabbitmq_url()
    if url is None:
        why = "no RabbitMQ: set HYGGE_TEST_RABBITMQ_URL (scripts/services.py start rabbitmq)"
        return [Entry(w, "(all programs)", "reference", ds.rows, unavailable=why)]
    stream = stream_with(url, ds.parquet, ds.rows)
    e = Entry(w, "pika consumer → pyarrow JSON → ParquetWriter", "reference", ds.rows)
    out = _out(w, e.slug)
    e.argv = _program(ctx, "pika_stream_to_parquet.py", url, stream, ds.rows, out)
    e.output = ParquetOutput(out)
    columns = {c.name: str(c.arrow) for c in gen.COLUMNS}
    home = {"type": "rabbitmq", "url": url, "stream": stream, "columns": columns}
    out = _out(w, "hygge")
    hy = _hygge_entry(ctx, w, home, _parquet_store(out), ParquetOutput(out), ds)
    return [_expect(e, ds), hy]


def _pg_unavailable(ctx: Context, w: str) -> list[Entry] | None:
    if ctx.pg is None or ctx.data.pg_table is None:
        return [
            Entry(
                w,
                "(all programs)",
                "reference",
                ctx.rows,
                unavailable="no PostgreSQL: set HYGGE_BENCH_PG_DSN or HYGGE_TEST_PG_DSN",
            )
        ]
    return None


def pg_to_parquet(ctx: Context) -> list[Entry]:
    """PostgreSQL table → Parquet: network protocol decoding plus Parquet encoding."""
    w = "pg_to_parquet"
    if (skip := _pg_unavailable(ctx, w)) is not None:
        return skip
    assert ctx.pg is not None
    e = Entry(w, "ADBC fetch_record_batch (reader thread)", "reference", ctx.rows)
    out = _out(w, e.slug)
    e.argv = _program(ctx, "adbc_to_parquet.py", "postgresql", ctx.pg.libpq, ctx.data.pg_table, out)
    e.output = ParquetOutput(out)
    entries = [_expect(e, ctx.data)]
    for backend, default in [("pyarrow", True), ("connectorx", False)]:
        name = f"dlt sql_database ({backend} backend)"
        out = _out(w, name.replace(" ", "-"))
        entries.append(
            _dlt_entry(
                ctx,
                w,
                name,
                [
                    "--source",
                    "sql",
                    "--source-url",
                    ctx.pg.url("postgresql+psycopg2", need_password=True),
                    "--table",
                    ctx.peer_data.pg_table or "",
                    "--backend",
                    backend,
                    "--dest",
                    "filesystem",
                    "--out",
                    out,
                    "--dataset",
                    "dlt_bench",
                ],
                ParquetOutput(out / "dlt_bench" / "bench"),
                default,
            )
        )
        entries[-1].scratch.append(out)
    out = _out(w, "hygge")
    home = {"type": "sql", "url": ctx.pg.sqlalchemy, "table": ctx.data.pg_table}
    entries.append(_hygge_entry(ctx, w, home, _parquet_store(out), ParquetOutput(out), ctx.data))
    return entries


def parquet_to_pg(ctx: Context) -> list[Entry]:
    """Parquet file → PostgreSQL table (created by the program; dropped before each run)."""
    w = "parquet_to_pg"
    if (skip := _pg_unavailable(ctx, w)) is not None:
        return skip
    assert ctx.pg is not None
    src = ctx.data.parquet
    entries = []
    for name, script, args, table in [
        ("ADBC adbc_ingest (whole table)", "adbc_ingest_pg.py", ["table"], "bench_out_adbc_table"),
        (
            "ADBC adbc_ingest (streaming reader)",
            "adbc_ingest_pg.py",
            ["stream"],
            "bench_out_adbc_stream",
        ),
        ("psycopg binary COPY", "psycopg_copy_pg.py", ["binary"], "bench_out_psycopg_binary"),
        ("psycopg CSV COPY", "psycopg_copy_pg.py", ["csv"], "bench_out_psycopg_csv"),
    ]:
        e = Entry(w, name, "reference", ctx.rows, output=PgOutput(table))
        e.argv = _program(ctx, script, *args, src, ctx.pg.libpq, table)
        entries.append(_expect(e, ctx.data))
    entries.append(
        _dlt_entry(
            ctx,
            w,
            "dlt filesystem+read_parquet (defaults)",
            [
                "--source",
                "parquet",
                "--path",
                ctx.peer_data.parquet,
                "--dest",
                "postgres",
                "--dest-url",
                ctx.pg.url(need_password=True),
                "--dataset",
                "dlt_bench_in",
            ],
            PgOutput("dlt_bench_in.bench", drop_schemas=["dlt_bench_in", "dlt_bench_in_staging"]),
            True,
        )
    )
    table = "bench_out_hygge"
    home = {"type": "parquet", "path": str(src)}
    store = {"type": "sql", "url": ctx.pg.sqlalchemy, "table": table, "mode": "replace"}
    entries.append(_hygge_entry(ctx, w, home, store, PgOutput(table), ctx.data))
    return entries


def pg_to_pg(ctx: Context) -> list[Entry]:
    """PostgreSQL table → another table on the same server (read and write both on the wire)."""
    w = "pg_to_pg"
    if (skip := _pg_unavailable(ctx, w)) is not None:
        return skip
    assert ctx.pg is not None
    src = ctx.data.pg_table
    entries = []
    for name, script, table in [
        ("ADBC read→adbc_ingest", "adbc_pg_to_pg.py", "bench_out_adbc_pg"),
        ("psycopg binary COPY pipe", "psycopg_pipe_pg.py", "bench_out_psycopg_pipe"),
    ]:
        e = Entry(w, name, "reference", ctx.rows, output=PgOutput(table))
        e.argv = _program(ctx, script, ctx.pg.libpq, src, table)
        entries.append(_expect(e, ctx.data))
    entries.append(
        _dlt_entry(
            ctx,
            w,
            "dlt sql_database (pyarrow backend)",
            [
                "--source",
                "sql",
                "--source-url",
                ctx.pg.url("postgresql+psycopg2", need_password=True),
                "--table",
                ctx.peer_data.pg_table or "",
                "--backend",
                "pyarrow",
                "--dest",
                "postgres",
                "--dest-url",
                ctx.pg.url(need_password=True),
                "--dataset",
                "dlt_bench_pg",
            ],
            PgOutput("dlt_bench_pg.bench", drop_schemas=["dlt_bench_pg", "dlt_bench_pg_staging"]),
            True,
        )
    )
    entries.append(_ingestr_entry(ctx, w))
    table = "bench_out_hygge"
    home = {"type": "sql", "url": ctx.pg.sqlalchemy, "table": src}
    store = {"type": "sql", "url": ctx.pg.sqlalchemy, "table": table, "mode": "replace"}
    entries.append(_hygge_entry(ctx, w, home, store, PgOutput(table), ctx.data))
    return entries


def _json_api(ds: Dataset, page: int) -> str:
    """Start (once per data set) the JSON API serving ``ds`` (programs/json_api.py) and
    return its base URL; it is stopped when the benchmark exits."""
    import atexit
    import subprocess
    import time

    key = (ds.rows, page)
    if key not in _APIS:
        port_file = _workdir("http_to_parquet", f"api-{ds.rows}") / "port"
        port_file.parent.mkdir(parents=True, exist_ok=True)
        port_file.unlink(missing_ok=True)
        proc = subprocess.Popen(
            [
                sys.executable,
                str(PROGRAMS_DIR / "json_api.py"),
                str(ds.parquet),
                str(port_file),
                "--page",
                str(page),
            ]
        )
        atexit.register(proc.kill)
        deadline = time.monotonic() + 600  # rendering 1M records to JSON: ~10 s
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the JSON API for {ds.parquet} did not start")
            time.sleep(0.1)
        _APIS[key] = f"http://127.0.0.1:{port_file.read_text().strip()}"
    return _APIS[key]


_APIS: dict[tuple[int, int], str] = {}
API_PAGE = 1000  # records per page: GitHub's and many APIs' maximum is 100, a generous one


def http_to_parquet(ctx: Context) -> list[Entry]:
    """A paginated JSON API (Link header, 1,000 records a page) → Parquet, hygge against
    dlt's rest_api source, both at the peers' size so that the two are side by side."""
    w, ds = "http_to_parquet", ctx.peer_data
    base = _json_api(ds, API_PAGE)
    out = _out(w, "dlt-rest_api")
    dlt = _dlt_entry(
        ctx,
        w,
        "dlt rest_api (header_link paginator)",
        [
            *("--source", "rest", "--source-url", base, "--table", "items"),
            *("--dest", "filesystem", "--out", str(out), "--dataset", "dlt_bench"),
            *("--page", str(API_PAGE)),
        ],
        ParquetOutput(out / "dlt_bench" / "bench"),
        True,
    )
    dlt.scratch.append(out)
    out = _out(w, "hygge")
    types = {"timestamp": "timestamp", "date": "date"}
    home = {
        "type": "http",
        "url": f"{base}/items",
        "params": {"per_page": API_PAGE},
        "paginate": "link",
        "columns": {c.name: types.get(c.kind, str(c.arrow)) for c in COLUMNS},
    }
    hy = _hygge_entry(ctx, w, home, _parquet_store(out), ParquetOutput(out), ds)
    return [dlt, hy]


def _ingestr_entry(ctx: Context, w: str) -> Entry:
    """ingestr (a Go binary shipped in its wheel) copying the table with its defaults."""
    assert ctx.pg is not None
    peer = ctx.peers.get("ingestr")
    e = Entry(
        w,
        "ingestr 1.0.78 (defaults)",
        "peer",
        ctx.peer_rows,
        runs=ctx.peer_runs,
        output=PgOutput("ingestr_bench.bench", drop_schemas=["ingestr_bench", "_bruin_staging"]),
    )
    work = _workdir(w, e.slug)
    e.scratch = [work]
    if peer is None or peer.python is None:
        e.unavailable = peer.error if peer else "peers not requested (--no-peers)"
        return _expect(e, ctx.peer_data)
    url = ctx.pg.url(need_password=True) + "?sslmode=disable"
    e.argv = [
        str(peer.bin_dir / "ingestr"),
        "ingest",
        "--source-uri",
        url,
        "--source-table",
        f"public.{ctx.peer_data.pg_table}",
        "--dest-uri",
        url,
        "--dest-table",
        "ingestr_bench.bench",
        "--yes",
        "--progress",
        "log",
        "--pipelines-dir",
        str(work / "pipelines"),
    ]
    e.env = dict(PEER_ENV)
    e.cwd = work
    return _expect(e, ctx.peer_data)


def startup(ctx: Context) -> list[Entry]:
    """Fixed cost of starting: ``hygge --help`` and an empty-file flow vs importing pyarrow."""
    w = "startup"
    runs = None  # set by the harness (more runs: these are short and noisy)
    entries = [
        Entry(w, "python -c pass", "baseline", 0, argv=[ctx.python, "-c", "pass"], runs=runs),
        Entry(
            w,
            'python -c "import pyarrow"',
            "reference",
            0,
            argv=[ctx.python, "-c", "import pyarrow"],
            runs=runs,
        ),
    ]
    help_entry = Entry(w, "hygge --help", "hygge", 0, runs=runs)
    if ctx.hygge is None:
        help_entry.unavailable = "hygge CLI not installed (no .venv/bin/hygge yet)"
    else:
        help_entry.argv = [str(ctx.hygge), "--help"]
    entries.append(help_entry)
    out = _out(w, "hygge-empty")
    empty = Dataset(0, ctx.data.empty_parquet.parent, "0000000000000000")
    flow = _hygge_entry(
        ctx,
        w,
        {"type": "parquet", "path": str(ctx.data.empty_parquet)},
        _parquet_store(out),
        ParquetOutput(out),
        empty,
        name="hygge run (empty file)",
    )
    flow.rows = 0
    entries.append(flow)
    return entries


def rss_scaling(ctx: Context) -> list[Entry]:
    """Parquet → Parquet at 1x, 4x, 10x rows: does peak memory stay flat as data grows?"""
    w = "rss_scaling"
    entries = []
    for ds in ctx.scaling:
        for name, script, args in [
            ("polars scan→sink", "polars_copy.py", ["parquet"]),
            ("pyarrow iter_batches→writer", "pyarrow_parquet.py", []),
        ]:
            e = Entry(w, f"{name} @ {ds.rows:,} rows", "reference", ds.rows)
            out = _out(w, e.slug)
            e.argv, e.output = _program(ctx, script, *args, ds.parquet, out), ParquetOutput(out)
            entries.append(_expect(e, ds))
        out = _out(w, f"hygge-{ds.rows}")
        entries.append(
            _hygge_entry(
                ctx,
                w,
                {"type": "parquet", "path": str(ds.parquet)},
                _parquet_store(out),
                ParquetOutput(out),
                ds,
                name=f"hygge @ {ds.rows:,} rows",
            )
        )
    return entries


# memory_budget: the entries are named "<source>: <program> @ <rows> rows" so that the
# targets can pair each hygge configuration with polars at the same source and size.
BUDGET = "256MB"


def budget_name(source: str, program: str, rows: int) -> str:
    return f"{source}: {program} @ {rows:,} rows"


def memory_budget(ctx: Context) -> list[Entry]:
    """Peak RSS under the byte budget (issue 14): Parquet→Parquet and CSV (16 files)→Parquet
    with defaults and `memory: 256MB` beside polars, at 1x and 10x rows; SQLite→Parquet and
    PostgreSQL→Parquet (split reads) with `memory: 256MB`; and the one-row run whose RSS is
    the base of the bound (256 MB + the empty run + 150 MB)."""
    w = "memory_budget"
    entries: list[Entry] = []
    sets = ctx.scaling or [ctx.data]
    for ds in sets:
        csv16 = gen.ensure_csv16(ds)
        for source, fmt, src, home in [
            ("Parquet", "parquet", str(ds.parquet), {"type": "parquet", "path": str(ds.parquet)}),
            ("CSV x16", "csv", f"{csv16}/*.csv", {"type": "csv", "path": str(csv16)}),
        ]:
            e = Entry(w, budget_name(source, "polars", ds.rows), "reference", ds.rows)
            out = _out(w, e.slug)
            e.argv = _program(ctx, "polars_copy.py", fmt, src, out)
            e.output = ParquetOutput(out)
            entries.append(_expect(e, ds))
            for label, options in [
                ("hygge defaults", None),
                (f"hygge memory {BUDGET}", {"memory": BUDGET}),
            ]:
                name = budget_name(source, label, ds.rows)
                out = _out(w, name)
                entries.append(
                    _hygge_entry(
                        ctx, w, home, _parquet_store(out), ParquetOutput(out), ds, name, options
                    )
                )
    ds = ctx.data
    sql = [("SQLite", {"type": "sql", "url": f"sqlite:///{ds.sqlite}", "table": SQLITE_TABLE})]
    if ctx.pg is not None and ds.pg_table:
        sql.append(("PostgreSQL", {"type": "sql", "url": ctx.pg.sqlalchemy, "table": ds.pg_table}))
    for source, home in sql:
        home = {**home, "split": {"column": "id"}}
        name = budget_name(source, f"hygge memory {BUDGET}, split", ds.rows)
        out = _out(w, name)
        entries.append(
            _hygge_entry(
                ctx, w, home, _parquet_store(out), ParquetOutput(out), ds, name, {"memory": BUDGET}
            )
        )
    out = _out(w, "hygge-one-row")
    empty = Dataset(0, ds.empty_parquet.parent, "0000000000000000")
    flow = _hygge_entry(
        ctx,
        w,
        {"type": "parquet", "path": str(ds.empty_parquet)},
        _parquet_store(out),
        ParquetOutput(out),
        empty,
        name="empty run (hygge run, empty file)",
    )
    flow.rows = 0
    entries.append(flow)
    return entries


class OtlpReceiver:
    """A local OpenTelemetry collector for ``metrics_overhead``: answers every OTLP/HTTP
    POST with 200 at once and counts, per path, the requests that name the bench flow.
    It runs in a thread of the harness, not in the measured process."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.got: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if b"bench" in body:  # the flow's name, as a protobuf string
                    receiver.got[self.path] = receiver.got.get(self.path, 0) + 1
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def check(self) -> str:
        """Empty if one trace and one metrics request arrived since the last check."""
        got, self.got = self.got, {}
        if got == {"/v1/traces": 1, "/v1/metrics": 1}:
            return ""
        return f"the OTLP receiver got {got or 'nothing'}, expected one request of each signal"


def metrics_overhead(ctx: Context) -> list[Entry]:
    """What hygge-metrics costs (issue 20: at most 2%): Parquet→Parquet without a
    `metrics:` section (the baseline) beside the same run exporting to a node-exporter
    textfile, to an OTLP/HTTP receiver this harness starts on 127.0.0.1, and to the
    Pushgateway when one runs ($HYGGE_TEST_PUSHGATEWAY_URL)."""
    import os

    w, src = "metrics_overhead", ctx.data.parquet
    home = {"type": "parquet", "path": str(src)}
    out = _out(w, "no-metrics")
    plain = _hygge_entry(
        ctx, w, home, _parquet_store(out), ParquetOutput(out), ctx.data, "hygge, no metrics:"
    )
    plain.kind = "baseline"
    entries = [plain]
    receiver = OtlpReceiver()
    destinations: list[tuple[str, dict, Callable[[], str] | None]] = [
        ("textfile", {"textfile": str(_workdir(w, "textfile") / "hygge.prom")}, None),
        ("otlp", {"otlp": receiver.url}, receiver.check),
    ]
    gateway = os.environ.get("HYGGE_TEST_PUSHGATEWAY_URL")
    if gateway:
        destinations.append(("pushgateway", {"pushgateway": gateway, "job": "hygge-bench"}, None))
    for label, metrics, check in destinations:
        out = _out(w, label)
        entry = _hygge_entry(
            ctx,
            w,
            home,
            _parquet_store(out),
            ParquetOutput(out),
            ctx.data,
            f"hygge, metrics: {label}",
            top={"metrics": metrics},
        )
        entry.check = check
        entries.append(entry)
    return entries


# hygge as it wrote before issue 22: pyarrow's default, a dictionary on every column.
PYARROW_DEFAULT_ENCODINGS = "hygge, dictionary: true (pyarrow's default encodings)"


def _shape_workload(shape: str) -> Callable[[Context], list[Entry]]:
    """Parquet → Parquet on one table shape of ``shapes.py``: polars, pyarrow, duckdb, hygge."""

    def build(ctx: Context) -> list[Entry]:
        w = f"shape_{shape}"
        ds, columns = ctx.shapes[shape]
        entries = []
        for name, script, args in [
            ("polars scan→sink", "polars_copy.py", ["parquet"]),
            ("pyarrow iter_batches→writer", "pyarrow_parquet.py", []),
            ("duckdb COPY", "duckdb_copy.py", ["parquet"]),
        ]:
            e = Entry(w, name, "reference", ds.rows, columns=columns)
            out = _out(w, e.slug)
            e.argv, e.output = _program(ctx, script, *args, ds.parquet, out), ParquetOutput(out)
            entries.append(_expect(e, ds))
        out = _out(w, "hygge")
        home = {"type": "parquet", "path": str(ds.parquet)}
        hy = _hygge_entry(ctx, w, home, _parquet_store(out), ParquetOutput(out), ds)
        out = _out(w, "hygge-pyarrow-default")
        old = _hygge_entry(
            ctx,
            w,
            home,
            {**_parquet_store(out), "dictionary": True},
            ParquetOutput(out),
            ds,
            name=PYARROW_DEFAULT_ENCODINGS,
        )
        old.kind = "baseline"
        for e in (hy, old):
            e.columns = columns
            entries.append(e)
        return entries

    return build


# Issue 19: five transforms that keep the source's rows and values (the output verifies
# against the source's checksum; added columns are ignored, renamed ones are matched
# without regard to case) and five checks, all `warn` so that a finding cannot stop the
# timed run. A third entry adds `hash` (a 32-hex-digit id per row) and `mask`: new
# incompressible columns the store must also write, shown beside the target.
TRANSFORMS = [
    {"rename": {"case": "snake"}},
    {"cast": {"columns": {"quantity": "int64"}}},
    {"filter": "id >= 0 and quantity >= 0"},
    {"derive": {"total": "amount * quantity", "big": "amount > 100"}},
    {"load_metadata": True},
]
IDS = [
    {"hash": {"column": "row_key", "columns": ["id", "customer_id"]}},
    {"derive": {"comment_masked": "comment"}},
    {"mask": ["comment_masked"]},
]
CHECKS = [
    {"not_null": {"columns": ["id", "customer_id", "created_at"], "severity": "warn"}},
    {"unique": {"columns": ["id"], "severity": "warn"}},
    {"range": {"column": "quantity", "min": 0, "severity": "warn"}},
    {"regex": {"column": "category", "pattern": "^.+$", "severity": "warn"}},
    {"expression": {"expression": "amount is not null or not is_active", "severity": "warn"}},
]
WITH_STEPS = "hygge, 5 transforms + 5 checks"
WITH_IDS = "hygge, 5 transforms + 5 checks + hash and mask"


def transforms_checks(ctx: Context) -> list[Entry]:
    """The same flow without and with 5 transforms + 5 checks (target: at most 1.3x)."""
    w, src = "transforms_checks", ctx.data.parquet
    entries = []
    for name, slug, options in [
        ("hygge", "hygge", None),
        (WITH_STEPS, "hygge-steps", {"transform": TRANSFORMS, "checks": CHECKS}),
        (WITH_IDS, "hygge-ids", {"transform": TRANSFORMS + IDS, "checks": CHECKS}),
    ]:
        out = _out(w, slug)
        entries.append(
            _hygge_entry(
                ctx,
                w,
                {"type": "parquet", "path": str(src)},
                _parquet_store(out),
                ParquetOutput(out),
                ctx.data,
                name=name,
                options=options,
            )
        )
    return entries


def _lake_workload(fmt: str) -> Callable[[Context], list[Entry]]:
    """Parquet → a Delta or Iceberg table (issue 15): hygge's store beside the format
    library's own direct write of the same Arrow data, and dlt's lakehouse destination."""
    output = DeltaOutput if fmt == "delta" else IcebergOutput
    reference = {
        "delta": ("deltalake write_deltalake (stream)", "delta_write.py"),
        "iceberg": ("pyiceberg Table.append", "iceberg_append.py"),
    }[fmt]

    def build(ctx: Context) -> list[Entry]:
        w, src = f"parquet_to_{fmt}", ctx.data.parquet
        e = Entry(w, reference[0], "reference", ctx.rows)
        out = _out(w, e.slug)
        e.argv, e.output = _program(ctx, reference[1], src, out), output(out)
        entries = [_expect(e, ctx.data)]
        out = _out(w, "hygge")
        store = (
            {"type": "delta", "path": str(out), "mode": "append"}
            if fmt == "delta"
            else {"type": "iceberg", "warehouse": str(out), "table": "bench.t", "mode": "append"}
        )
        home = {"type": "parquet", "path": str(src)}
        entries.append(_hygge_entry(ctx, w, home, store, output(out), ctx.data))
        out = _out(w, "dlt")
        args = ["--source", "parquet", "--path", str(ctx.peer_data.parquet), "--dest"]
        args += ["filesystem", "--out", str(out), "--table-format", fmt, "--dataset", "bench"]
        # dlt writes the table at <bucket>/<dataset>/<table name>.
        table = output(out / "bench" / "bench")
        dlt = _dlt_entry(ctx, w, f"dlt {fmt} destination", args, table, True, "dlt-lake")
        dlt.scratch.append(out)
        entries.append(dlt)
        return entries

    return build


@dataclass(frozen=True)
class Workload:
    """A named workload: its title, builder, and what data it needs."""

    name: str
    title: str
    build: Callable[[Context], list[Entry]]
    formats: tuple[str, ...]
    peers: tuple[str, ...] = ()


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in [
        Workload("parquet_to_parquet", "Parquet → Parquet", parquet_to_parquet, ("parquet",)),
        Workload("csv_to_parquet", "CSV → Parquet", csv_to_parquet, ("parquet", "csv")),
        Workload(
            "metrics_overhead",
            "Parquet → Parquet with and without hygge-metrics",
            metrics_overhead,
            ("parquet",),
        ),
        Workload(
            "sqlite_to_parquet",
            "SQLite → Parquet",
            sqlite_to_parquet,
            ("parquet", "sqlite"),
            ("dlt",),
        ),
        Workload(
            "pg_to_parquet", "PostgreSQL → Parquet", pg_to_parquet, ("parquet", "pg"), ("dlt",)
        ),
        Workload(
            "parquet_to_pg", "Parquet → PostgreSQL", parquet_to_pg, ("parquet", "pg"), ("dlt",)
        ),
        Workload(
            "pg_to_pg", "PostgreSQL → PostgreSQL", pg_to_pg, ("parquet", "pg"), ("dlt", "ingestr")
        ),
        Workload(
            "rabbitmq_stream_to_parquet",
            "RabbitMQ stream → Parquet",
            rabbitmq_stream_to_parquet,
            ("parquet",),
        ),
        Workload(
            "parquet_to_delta",
            "Parquet → Delta",
            _lake_workload("delta"),
            ("parquet",),
            ("dlt-lake",),
        ),
        Workload(
            "parquet_to_iceberg",
            "Parquet → Iceberg",
            _lake_workload("iceberg"),
            ("parquet",),
            ("dlt-lake",),
        ),
        Workload("http_to_parquet", "JSON API → Parquet", http_to_parquet, ("parquet",), ("dlt",)),
        Workload("startup", "Start-up", startup, ("parquet",)),
        Workload(
            "transforms_checks",
            "Parquet → Parquet without and with 5 transforms + 5 checks",
            transforms_checks,
            ("parquet",),
        ),
        Workload(
            "rss_scaling", "Peak memory as rows grow (Parquet → Parquet)", rss_scaling, ("parquet",)
        ),
        Workload(
            "memory_budget",
            "Memory under the byte budget (defaults and memory: 256MB, 1x and 10x rows)",
            memory_budget,
            ("parquet", "csv", "sqlite", "pg"),
        ),
        *[
            Workload(
                f"shape_{s.name}", f"Parquet → Parquet, {s.title}", _shape_workload(s.name), ()
            )
            for s in SHAPES.values()
        ],
    ]
}


def clear(entry: Entry, pg_exec: Callable[[str], None] | None) -> None:
    """Remove what a previous run of ``entry`` left, so each run starts from the same state."""
    for path in entry.scratch:
        shutil.rmtree(path, ignore_errors=True)
    if isinstance(entry.output, ParquetOutput | DeltaOutput | IcebergOutput):
        shutil.rmtree(entry.output.path, ignore_errors=True)
    elif isinstance(entry.output, PgOutput) and pg_exec is not None:
        for schema in entry.output.drop_schemas:
            pg_exec(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        pg_exec(f"DROP TABLE IF EXISTS {quote_ident(entry.output.table)}")
        # Flush the dropped table's dirty pages now rather than during the next timed run.
        pg_exec("CHECKPOINT")
    for path in entry.scratch:
        path.mkdir(parents=True, exist_ok=True)


def hygge_cli() -> Path | None:
    """The hygge console script, once the core provides one."""
    candidates = [Path(os.environ["HYGGE_BENCH_CLI"])] if os.environ.get("HYGGE_BENCH_CLI") else []
    candidates.append(Path(sys.executable).parent / "hygge")
    candidates.append(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "hygge")
    return next((c for c in candidates if c.exists()), None)
