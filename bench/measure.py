"""Run one program as a whole process and measure it: wall time, CPU time, peak RSS.

Why a wrapper process: on Linux a forked child starts with its parent's peak-RSS mark (it is
carried over at fork and again at exec), so a program started straight from the harness —
which holds numpy arrays from verification — would report the harness's few hundred MB as its
own peak. So the harness starts this file as a small wrapper (``python -S``, stdlib only,
~10 MB), and the wrapper starts the program. The wrapper waits for it with ``os.wait4``, whose
usage covers the program and every descendant it waited for: user+system CPU seconds summed
over them, and ``ru_maxrss`` — the peak resident set of the largest single process among them
(KiB on Linux), the figure ``/usr/bin/time -v`` prints. Wall time is taken around the program
only, so the wrapper's own start is not counted. Program output goes to a log file, so a chatty
program cannot block on a full pipe.

Wrapper usage (internal): ``python -S measure.py RESULT.json TIMEOUT_S -- PROGRAM [ARGS...]``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measurement:
    """What one whole-process run cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    returncode: int
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_measured(
    argv: list[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout_s: float = 900,
) -> Measurement:
    """Run ``argv`` to completion through the wrapper (killed after ``timeout_s``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    result = log.with_suffix(".measure.json")
    result.unlink(missing_ok=True)
    wrapper = [
        sys.executable,
        "-S",
        str(Path(__file__).resolve()),
        str(result),
        str(timeout_s),
        "--",
        *argv,
    ]
    # Write back what the previous program left dirty (its output: hundreds of MB) before
    # this one starts, outside its timing: the kernel would otherwise flush it during this
    # program's run, on its CPU and disk time (seen on 2 cores: a CSV run's ratio moved
    # 1.10-1.25x with what ran before it).
    os.sync()
    with log.open("wb") as out:
        # A session of its own, so that a hung run can be ended by its process group alone.
        proc = subprocess.Popen(
            wrapper,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=timeout_s + 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if not result.exists():
        return Measurement(
            0.0, 0.0, 0.0, proc.returncode or -1, timed_out=proc.returncode == -signal.SIGKILL
        )
    data = json.loads(result.read_text())
    result.unlink()
    return Measurement(**data)


def _wrapper_main(argv: list[str]) -> int:
    """Inside the wrapper: run the program, wait4 it, write the measurement as JSON."""
    result_path, timeout_s = argv[0], float(argv[1])
    program = argv[3:]  # argv[2] is the "--" separator
    t0 = time.perf_counter()
    try:
        proc = subprocess.Popen(program, start_new_session=True)
    except OSError as exc:
        print(f"cannot start {program[0]}: {exc}", flush=True)
        status, usage, timed_out = 127 << 8, None, False
    else:
        fired = threading.Event()

        def kill() -> None:
            fired.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # only the group this wrapper started

        timer = threading.Timer(timeout_s, kill)
        timer.start()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        timed_out = fired.is_set()
    wall = time.perf_counter() - t0
    measurement = {
        "wall_s": wall,
        "cpu_s": (usage.ru_utime + usage.ru_stime) if usage else 0.0,
        "peak_rss_mb": (usage.ru_maxrss / 1024) if usage else 0.0,
        "returncode": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
    }
    with open(result_path, "w") as f:
        json.dump(measurement, f)
    return 0


if __name__ == "__main__":
    sys.exit(_wrapper_main(sys.argv[1:]))


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.01


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all cores), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal ...: everything but idle and iowait
    ticks = [int(x) for x in fields[:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) * _TICK_S


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after "pid (comm) "


def server_cpu_s(root_pid: int) -> float | None:
    """CPU seconds used so far by a server and its processes (e.g. PostgreSQL's postmaster).

    The root's own time and the time of children it already reaped (cutime/cstime), plus the
    time of its live children (backends, checkpointer, WAL writer...). Taking it before and
    after a run tells how much server work the run caused.
    """
    root = _stat(root_pid)
    if root is None:
        return None
    total = sum(int(x) for x in root[11:15])  # utime, stime, cutime, cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None and st[1] == str(root_pid):  # field 4: ppid
                total += int(st[11]) + int(st[12])
    return total * _TICK_S


def parent_pid(pid: int) -> int | None:
    """The parent of ``pid`` (used to find the postmaster from one of its processes)."""
    st = _stat(pid)
    return int(st[1]) if st else None
