"""Virtual environments for peer tools with heavy or clashing dependencies (dlt, ingestr).

Each peer gets its own venv under ``bench/.venvs/<name>``, created on first use with pinned
versions, so the peers' dependency trees never leak into hygge's own environment. A venv records
the spec it was built from; a changed spec rebuilds it. Creation failures are reported, not
raised, so the benchmark marks that peer "not available" and goes on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from schema import VENVS_DIR

# Pinned so that figures stay comparable between runs of the benchmark.
PEER_SPECS: dict[str, list[str]] = {
    "dlt": [
        "dlt[parquet,filesystem,sql_database,postgres]==1.31.0",
        "connectorx==0.4.6",
        "sqlalchemy==2.1.9",  # the sql_database extra does not bring it
    ],
    # dlt's Delta and Iceberg destinations (filesystem with table_format), apart from "dlt"
    # so that the figures of the other workloads keep their environment.
    "dlt-lake": ["dlt[parquet,filesystem,deltalake,pyiceberg]==1.31.0"],
    # Newer ingestr releases download a binary on first run (no network here); 1.0.78 ships it.
    "ingestr": ["ingestr==1.0.78"],
}
# Distributions whose versions the results page reports for each peer.
PEER_REPORTED: dict[str, list[str]] = {
    "dlt": ["dlt", "connectorx", "pyarrow", "sqlalchemy", "psycopg2-binary"],
    "dlt-lake": ["dlt", "deltalake", "pyiceberg", "pyarrow"],
    "ingestr": ["ingestr"],  # a self-contained Go binary inside the wheel
}
_SPEC_FILE = ".hygge-bench-spec"
_INSTALL_TIMEOUT_S = 900

# Environment every peer process gets: no telemetry calls, no writes to the real home folder.
PEER_ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DLT_TELEMETRY": "false",
    "INGESTR_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
}


@dataclass
class Peer:
    """A ready peer venv (``python`` set) or the reason it is not available."""

    name: str
    python: Path | None = None
    error: str | None = None
    versions: dict[str, str] | None = None

    @property
    def bin_dir(self) -> Path:
        return VENVS_DIR / self.name / "bin"


def _versions(python: Path, dists: list[str]) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for d in sys.argv[1:]:\n"
        "    try: out[d] = m.version(d)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    import json

    res = subprocess.run(
        [str(python), "-c", code, *dists], capture_output=True, text=True, timeout=60
    )
    return json.loads(res.stdout) if res.returncode == 0 else {}


def ensure_peer(name: str, log: Path) -> Peer:
    """Create (or reuse) the venv of peer ``name``; its pip output goes to ``log``."""
    spec = PEER_SPECS[name]
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    spec_text = "\n".join(spec) + "\n"
    marker = venv / _SPEC_FILE
    if not (python.exists() and marker.exists() and marker.read_text() == spec_text):
        shutil.rmtree(venv, ignore_errors=True)
        log.parent.mkdir(parents=True, exist_ok=True)
        print(
            f"[bench] creating venv for {name}: pip install {' '.join(spec)}",
            file=sys.stderr,
            flush=True,
        )
        with log.open("w") as out:
            # The base interpreter (not this venv's) so that the peer venv stands on its own.
            base = getattr(sys, "_base_executable", sys.executable)
            steps = [
                [base, "-m", "venv", str(venv)],
                [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", *spec],
            ]
            for cmd in steps:
                try:
                    res = subprocess.run(
                        cmd,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=_INSTALL_TIMEOUT_S,
                        env=os.environ,
                    )
                except subprocess.TimeoutExpired:
                    return Peer(name, error=f"venv creation timed out (see {log})")
                if res.returncode != 0:
                    shutil.rmtree(venv, ignore_errors=True)
                    return Peer(name, error=f"pip install failed (see {log})")
        marker.write_text(spec_text)
    return Peer(name, python=python, versions=_versions(python, PEER_REPORTED[name]))
