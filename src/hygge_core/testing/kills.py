"""Killing a run of hygge with SIGKILL: at a named fault point, or at an instant.

A child process runs the flows; the kill comes from inside it (`HYGGE_FAULTS`, see
`hygge_core.faults`), at a step that `fault_point` names or a number of seconds after one,
or from outside, a number of seconds after the child started. Nothing of the child's
cleanup runs, exactly as when the machine loses power: the next run has to cope.

`run_hygge` starts the real `hygge` command. `run_flows` runs hygge's runner in a child
forked from a server process that has hygge and pyarrow imported already: the second of
start-up per kill that `hygge` pays would make the kit's kill checks slow.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass

# The child runs hygge's console entry point under this very interpreter, so it sees the
# same installed plugins (and PYTHONPATH) as the tests do.
HYGGE = [sys.executable, "-c", "from hygge_core.cli import main; main()"]


@dataclass
class Kill:
    """One kill: at the `nth` pass of fault point `point` (`delay` seconds after it, when
    set), or without a point `delay` seconds after the child started."""

    point: str | None = None
    nth: int = 1
    delay: float = 0.0

    def describe(self) -> str:
        """For assertion messages, so a failure can be replayed."""
        if not self.point:
            return f"SIGKILL {self.delay:.3f}s after start"
        at = f"{self.point}@{self.nth}"
        if self.delay:
            return f"SIGKILL {self.delay * 1000:.1f} ms after {at}"
        return f"SIGKILL at {at}"

    def faults(self) -> str | None:
        """The `HYGGE_FAULTS` rule that makes the child kill itself, if any."""
        if not self.point:
            return None
        action = f"kill-after:{self.delay:.6f}" if self.delay else "kill"
        return f"{self.point}@{self.nth}={action}"


def kill_points(default: int = 4) -> int:
    """How many random kills a check makes: `HYGGE_KILL_POINTS` (for stress runs, e.g.
    scripts/stress.sh sets 50) or the everyday `default`."""
    return int(os.environ.get("HYGGE_KILL_POINTS", str(default)))


def run_hygge(
    *args: str,
    kill: Kill | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `hygge ARGS` in a child, killed as `kill` says; returns the finished process
    (`returncode == -9` when the kill happened, 0 when the run finished first)."""
    full = {k: v for k, v in os.environ.items() if k != "HYGGE_FAULTS"}
    full.update(env or {})
    if kill is not None and kill.faults():
        full["HYGGE_FAULTS"] = kill.faults() or ""
    proc = subprocess.Popen(
        [*HYGGE, *args],
        env=full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if kill is not None and not kill.point:
        try:
            proc.wait(timeout=kill.delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


# A server process with these imported forks each run's child, so a child starts warm.
_PRELOAD = ("hygge_core.api", "hygge_core.runner", "pyarrow", "pyarrow.parquet", "pydantic")
_server: subprocess.Popen[bytes] | None = None
_pending = bytearray()


def _serve() -> None:
    """The fork server's loop: for each request line, fork a child that runs the flows,
    answer its pid, wait for it, answer how it ended. One child at a time."""
    for name in _PRELOAD:
        __import__(name)
    for line in sys.stdin.buffer:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(**request)
        _answer({"pid": pid})
        _answer({"status": os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])})


def _answer(message: dict[str, int]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(path: str, env: dict[str, str], sys_path: list[str], cwd: str, log: str) -> None:
    # The server was started with the environment of its first use: take this run's.
    os.environ.clear()
    os.environ.update(env)
    sys.path[:] = sys_path
    os.chdir(cwd)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 0
    try:
        from hygge_core.api import run_file

        failed = [f"{r.name}: {r.error}" for r in run_file(path) if r.status != "ok"]
        if failed:
            print("\n".join(failed), file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 2
    sys.stderr.flush()
    os._exit(code)


def _fork_server() -> subprocess.Popen[bytes]:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen(
            [sys.executable, "-c", "from hygge_core.testing.kills import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        _pending.clear()
        atexit.register(_stop, _server)
    return _server


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.stdin is not None:
        server.stdin.close()
    server.wait(timeout=30)


def _read(server: subprocess.Popen[bytes], timeout: float | None) -> dict[str, int] | None:
    """The server's next answer, or None if none came within `timeout` seconds."""
    assert server.stdout is not None
    fd = server.stdout.fileno()
    deadline = None if timeout is None else time.monotonic() + timeout
    while b"\n" not in _pending:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError("the kit's fork server died")
        _pending.extend(chunk)
    line, _, rest = bytes(_pending).partition(b"\n")
    _pending[:] = rest
    return json.loads(line)


def run_flows(
    flows: str | os.PathLike[str],
    *,
    kill: Kill | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run every flow of the flows.yaml file `flows` with hygge's runner in a child forked
    from a warm server, killed as `kill` says; returns the finished child (`returncode ==
    -9` when killed, 1 when a flow failed, 2 for a bad file; its output in `stderr`)."""
    folder = pathlib.Path(cwd or pathlib.Path(flows).parent)
    if not hasattr(os, "fork"):  # Windows: the real command, a second slower per run
        return run_hygge("run", str(flows), kill=kill, cwd=folder, timeout=timeout)
    env = {k: v for k, v in os.environ.items() if k != "HYGGE_FAULTS"}
    if kill is not None and kill.faults():
        env["HYGGE_FAULTS"] = kill.faults() or ""
    log = folder / f".hygge-kill-{os.getpid()}.log"
    request = {
        "path": str(flows),
        "env": env,
        "sys_path": list(sys.path),
        "cwd": str(folder),
        "log": str(log),
    }
    server = _fork_server()
    assert server.stdin is not None
    server.stdin.write((json.dumps(request) + "\n").encode())
    started = _read(server, 60)
    if started is None:
        raise RuntimeError("the kit's fork server did not start a child within 60s")
    ended = None
    if kill is not None and not kill.point:
        ended = _read(server, kill.delay)
        if ended is None:
            os.kill(started["pid"], signal.SIGKILL)
    if ended is None:
        ended = _read(server, timeout)
    if ended is None:
        os.kill(started["pid"], signal.SIGKILL)
        _read(server, None)
        raise TimeoutError(f"the run of {flows} took over {timeout}s: killed it")
    text = log.read_text(errors="replace") if log.exists() else ""
    log.unlink(missing_ok=True)
    return subprocess.CompletedProcess([str(flows)], ended["status"], "", text)
