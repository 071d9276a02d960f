"""A plugin written outside this repository, with only the documented API, just works.

The test generates a small third-party distribution (`hygge-arrowipc`: Arrow IPC files as a
home and a store) into a temp dir, pip-installs it into the running venv, and checks what a
plugin author is promised: `hygge plugins` lists it, the kit passes, and `hygge run` moves
data through it, with no change to hygge-core. It is uninstalled at the end, pass or fail.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hygge_core.testing import sample_table, tables_equal

HYGGE = str(pathlib.Path(sys.executable).parent / "hygge")
DIST = "hygge-arrowipc"

FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "hygge-arrowipc"
        version = "0.3.0"
        description = "Arrow IPC files as a hygge home and store (a test fixture)."
        requires-python = ">=3.11"
        dependencies = ["hygge-core", "pyarrow"]

        [project.entry-points.hygge]
        arrowipc = "hygge_arrowipc.plugin"

        [tool.setuptools.packages.find]
        where = ["src"]
    """,
    "src/hygge_arrowipc/__init__.py": '''
        """Arrow IPC files for hygge."""
    ''',
    "src/hygge_arrowipc/plugin.py": """
        from hygge_core import hookimpl

        from hygge_arrowipc.ipc import IpcHome, IpcStore


        @hookimpl
        def hygge_register_homes(register):
            register("arrowipc", IpcHome)


        @hookimpl
        def hygge_register_stores(register):
            register("arrowipc", IpcStore)


        @hookimpl
        def hygge_type_for_path(path, side):
            return "arrowipc" if path.endswith(".arrows") else None
    """,
    "src/hygge_arrowipc/ipc.py": '''
        """One IPC stream file per work unit; a directory of them is the dataset."""

        import posixpath
        from functools import cached_property

        import pyarrow as pa
        import pyarrow.compute as pc
        from pydantic import Field

        from hygge_core import (
            FileCommitter,
            Home,
            HomeConfig,
            PermanentError,
            StagedUnit,
            Store,
            StoreConfig,
            WorkUnit,
        )


        class IpcHomeConfig(HomeConfig):
            path: str = Field(description="a directory of .arrows files")


        class IpcHome(Home):
            config_model = IpcHomeConfig
            supports_incremental = True
            splits = True
            transient = ("fs",)

            @cached_property
            def fs(self):
                return self.context.filesystem(self.config.path)[0]

            @property
            def root(self):
                return self.context.filesystem(self.config.path)[1]

            def files(self):
                if not self.fs.exists(self.root):
                    raise PermanentError(f"no such directory: {self.config.path}")
                return sorted(p for p in self.fs.ls(self.root, detail=False)
                              if p.endswith(".arrows"))

            def schema(self):
                files = self.files()
                if not files:
                    raise PermanentError(f"no .arrows files in {self.config.path}")
                with self.fs.open(files[0], "rb") as f:
                    return pa.ipc.open_stream(f).schema

            def plan(self, window):
                return [WorkUnit(id=posixpath.basename(p), payload={"path": p})
                        for p in self.files()]

            def read(self, unit):
                with self.fs.open(unit.payload["path"], "rb") as f:
                    for batch in pa.ipc.open_stream(f):
                        window = unit.window
                        if window is not None and window.after is not None:
                            col = batch.column(window.cursor)
                            batch = batch.filter(
                                pc.greater(col, pa.scalar(window.after, col.type)))
                        yield batch


        class IpcStoreConfig(StoreConfig):
            path: str = Field(description="the directory to write .arrows files into")


        class IpcStore(Store):
            config_model = IpcStoreConfig
            modes = frozenset({"append", "replace"})
            transient = ("fs", "committer")

            @cached_property
            def fs(self):
                return self.context.filesystem(self.config.path)[0]

            @cached_property
            def root(self):
                return self.context.filesystem(self.config.path)[1].rstrip("/")

            @cached_property
            def committer(self):
                atomic = self.context.storage.is_atomic_rename(self.config.path)
                return FileCommitter(self.fs, self.root, self.context.flow, atomic_rename=atomic)

            def lock(self):
                return self.committer.lock()

            def recover(self):
                return self.committer.recover(current_run=self.context.run_id)

            def read_state(self):
                return self.committer.read_state()

            def reset_state(self):
                return self.committer.reset_state()

            def prepare(self, schema):
                self.schema = schema

            def stage(self, unit, batches):
                folder = self.committer.staging_dir(self.context.run_id)
                path = posixpath.join(folder, f"{self.context.run_id}-{unit.seq:05d}.arrows")
                self.fs.makedirs(folder, exist_ok=True)
                rows = nbytes = 0
                with self.fs.open(path, "wb") as f, pa.ipc.new_stream(f, self.schema) as w:
                    for batch in batches:
                        w.write_batch(batch)
                        rows += batch.num_rows
                        nbytes += batch.nbytes
                return StagedUnit(unit.id, rows, nbytes, {"file": path})

            def commit(self, staged, state):
                moves = [(s.payload["file"],
                          posixpath.join(self.root, posixpath.basename(s.payload["file"])))
                         for s in staged]
                deletes = (self.committer.data_files()
                           if self.config.mode == "replace" else [])
                self.committer.commit(self.context.run_id, moves, deletes, state)

            def abort(self, staged):
                self.committer.abort(self.context.run_id)
    ''',
    "tests/test_kit.py": """
        import pathlib

        import pyarrow as pa
        import pytest

        from hygge_core.testing import HomeContract, StoreContract


        def read_dir(path):
            files = sorted(pathlib.Path(path).glob("*.arrows"))
            tables = [pa.ipc.open_stream(f.read_bytes()).read_all() for f in files]
            return pa.concat_tables(tables) if tables else None


        class TestIpcStore(StoreContract):
            @pytest.fixture
            def store_config(self, tmp_path):
                return {"type": "arrowipc", "path": str(tmp_path / "out")}

            def read_back(self, store_config):
                got = read_dir(store_config["path"])
                return got if got is not None else self.table(rows=0)


        class TestIpcHome(HomeContract):
            def home_config(self, table, tmp_path):
                folder = tmp_path / "in"
                folder.mkdir(exist_ok=True)
                self.write(table.slice(0, table.num_rows // 2), folder / "a.arrows")
                self.write(table.slice(table.num_rows // 2), folder / "b.arrows")
                return {"type": "arrowipc", "path": str(folder)}

            def append_rows(self, config, table, tmp_path):
                self.write(table, pathlib.Path(config["path"]) / "c.arrows")

            @staticmethod
            def write(table, path):
                with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, table.schema) as w:
                    w.write_table(table)
    """,
}


def pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def can_build_offline() -> bool:
    """`--no-build-isolation` needs a setuptools that builds wheels by itself (or `wheel`)."""
    probe = (
        "import setuptools, sys\n"
        "major, minor = map(int, setuptools.__version__.split('.')[:2])\n"
        "if (major, minor) < (70, 1):\n"
        "    import wheel  # older setuptools needs it for bdist_wheel\n"
    )
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def install(path: pathlib.Path, *extra: str) -> None:
    """pip-install the package at `path` into this venv, fast when it can be."""
    isolation = ["--no-build-isolation"] if can_build_offline() else []
    done = pip("install", "--no-deps", *isolation, *extra, str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def write_package(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip())
    return root


def hygge(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [HYGGE, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pathlib.Path]:
    """The generated distribution, installed for the module's tests and removed after."""
    root = write_package(tmp_path_factory.mktemp("external") / "hygge-arrowipc", FILES)
    try:
        install(root)
        yield root
    finally:
        pip("uninstall", "-y", DIST)


def test_plugin_shows_up_in_hygge_plugins(plugin: pathlib.Path) -> None:
    done = hygge("plugins", "--json", cwd=plugin)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    mine = [p for p in listing["plugins"] if p["distribution"] == DIST]
    assert mine, f"{DIST} not listed: {[p['distribution'] for p in listing['plugins']]}"
    assert mine[0]["version"] == "0.3.0"
    assert mine[0]["homes"] == ["arrowipc"] and mine[0]["stores"] == ["arrowipc"]
    assert set(mine[0]["hooks"]) == {
        "hygge_register_homes",
        "hygge_register_stores",
        "hygge_type_for_path",
    }
    assert not [b for b in listing["broken"] if b["distribution"] == DIST]


def test_plugin_capabilities_are_listed(plugin: pathlib.Path) -> None:
    listing = json.loads(hygge("plugins", "--json", cwd=plugin).stdout)
    mine = next(p for p in listing["plugins"] if p["distribution"] == DIST)
    assert mine["capabilities"]["store:arrowipc"]["modes"] == ["append", "replace"]
    assert mine["capabilities"]["home:arrowipc"]["incremental"] is True
    assert mine["capabilities"]["home:arrowipc"]["splits"] is True


def test_plugin_passes_the_kit(plugin: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_kit.py"],
        cwd=plugin,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    passed = int(summary.split(" passed")[0].split()[-1])
    assert passed >= 25, summary  # the kit really ran: stores and homes, faults included


def test_flow_runs_through_the_plugin_with_the_cli(plugin: pathlib.Path, tmp_path) -> None:
    table = sample_table(2000, types={"int64", "string", "timestamp_tz", "decimal"})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=500)
    (tmp_path / "flows.yaml").write_text(
        textwrap.dedent(
            """
            flows:
              out:
                home: {type: parquet, path: in.parquet, unit_rows: 500}
                store: {type: arrowipc, path: ipc, mode: replace}
              back:
                home: {type: arrowipc, path: ipc, incremental: {cursor: id}}
                store: {type: parquet, path: lake, mode: append}
            """
        )
    )
    first = hygge("run", "flows.yaml", "--flow", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert len(list((tmp_path / "ipc").glob("*.arrows"))) == 4
    second = hygge("run", "flows.yaml", "--flow", "back", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert tables_equal(pq.read_table(tmp_path / "lake"), table)
    state = hygge("state", "show", "flows.yaml", "--flow", "back", "--json", cwd=tmp_path)
    shown = json.loads(state.stdout)["back"]
    assert shown["cursor"]["column"] == "id" and shown["cursor"]["value"] == 1999


def test_hook_calls_are_traced_with_hygge_trace_plugins(plugin, tmp_path) -> None:
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "t.parquet")
    (tmp_path / "flows.yaml").write_text(
        "flows:\n  t:\n    home: t.parquet\n    store: {type: arrowipc, path: out}\n"
    )
    traced = hygge("-v", "run", "flows.yaml", cwd=tmp_path, env={"HYGGE_TRACE_PLUGINS": "1"})
    assert traced.returncode == 0, traced.stderr
    lines = [ln for ln in traced.stderr.splitlines() if "hygge.plugins: hook " in ln]
    # Path resolution asks every plugin in turn (firstresult); lifecycle hooks follow.
    ask = next(ln for ln in lines if "hook hygge_type_for_path →" in ln)
    assert "hygge-arrowipc:arrowipc" in ask and "hygge-parquet:parquet" in ask, ask
    for hook in ("hygge_flow_started", "hygge_batch_staged", "hygge_flow_finished"):
        assert any(f"hook {hook} " in ln for ln in lines), f"{hook} not traced:\n{lines}"
    quiet = hygge("-v", "run", "flows.yaml", cwd=tmp_path)
    assert "hygge.plugins: hook " not in quiet.stderr
