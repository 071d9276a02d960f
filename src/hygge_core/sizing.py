"""What the process may use where it runs: memory limit and cores, from the cgroup first.

A container's limits are not the host's: `os.cpu_count()` and the machine's memory say 64
cores and 256 GB inside a container allowed 2 CPUs and 4 GB, and a budget sized from them
gets the process killed by the kernel. So the limits come from the cgroup (v2 `memory.max`
and `cpu.max`; v1 `memory.limit_in_bytes` and `cpu.cfs_quota_us`/`cpu.cfs_period_us`), then
the CPU affinity mask, and only then the machine.

`HYGGE_CGROUP_ROOT` points the reading at another directory laid out like the cgroup of the
process (v2: `memory.max`, `cpu.max` in it; v1: `memory/…` and `cpu/…` below it): tests use
it to emulate a container, and it is an escape hatch where the cgroup is mounted elsewhere.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT_ENV = "HYGGE_CGROUP_ROOT"
_MOUNT = "/sys/fs/cgroup"

# The default run-wide budget: this fraction of the memory limit, at most DEFAULT_CAP.
# The rest of the limit is for what no budget counts (the interpreter and libraries, about
# 100 MB; the allocator's slack; a driver's own buffers). The cap keeps a large machine's
# default near what a streaming reader of one file needs: more units in flight, each with
# gigabytes of row groups, is what made peak RSS grow with the number of cores.
DEFAULT_FRACTION = 4  # a quarter
DEFAULT_CAP = 512 << 20
DEFAULT_FLOOR = 64 << 20


@dataclass(frozen=True)
class Limits:
    """The memory and cores this process may use, and where each figure came from."""

    memory: int
    memory_source: str
    cores: int
    cores_source: str

    def default_budget(self) -> int:
        """The run-wide budget when neither `--memory` nor `memory:` sets one."""
        return max(DEFAULT_FLOOR, min(self.memory // DEFAULT_FRACTION, DEFAULT_CAP))


def detect() -> Limits:
    """Read the limits of this process (see the module docstring for the order)."""
    fake = os.environ.get(CGROUP_ROOT_ENV)
    machine_memory, machine_source = _machine_memory()
    memory, memory_source = _cgroup_memory(fake)
    if memory is None or memory >= machine_memory:
        memory, memory_source = machine_memory, machine_source
    affinity = _affinity()
    quota, quota_source = _cgroup_cpus(fake)
    if quota is not None and quota < affinity:
        cores, cores_source = quota, quota_source
    else:
        cores, cores_source = affinity, f"CPU affinity ({affinity} of {os.cpu_count() or 1})"
    return Limits(memory, memory_source, max(1, cores), cores_source)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, ValueError):
        return None


def _own_paths(controller: str) -> list[Path]:
    """This process's cgroup directory for `controller` (v2: ""), then its ancestors.

    A limit set on a parent bounds the child too, so every level is read and the smallest
    wins. Inside a container's cgroup namespace the path is "/", and the mount point is the
    container's own cgroup.
    """
    base = Path(_MOUNT) if controller == "" else Path(_MOUNT) / controller
    text = _read(Path("/proc/self/cgroup")) or ""
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        names = parts[1].split(",") if parts[1] else [""]
        if controller in names:
            rel = parts[2].strip("/")
            found = [base / rel] if rel else []
            while rel:
                rel = rel.rpartition("/")[0]
                found.append(base / rel if rel else base)
            return [p for p in found if p.is_dir()] or [base]
    return [base]


def _cgroup_memory(fake: str | None) -> tuple[int | None, str]:
    candidates: list[tuple[Path, str]] = []
    if fake:
        root = Path(fake)
        candidates = [
            (root / "memory.max", "cgroup v2 memory.max"),
            (root / "memory" / "memory.limit_in_bytes", "cgroup v1 memory.limit_in_bytes"),
        ]
    else:
        candidates = [(p / "memory.max", "cgroup v2 memory.max") for p in _own_paths("")]
        candidates += [
            (p / "memory.limit_in_bytes", "cgroup v1 memory.limit_in_bytes")
            for p in _own_paths("memory")
        ]
    best: tuple[int | None, str] = (None, "")
    for path, label in candidates:
        text = _read(path)
        if text is None or text == "max" or not text.lstrip("-").isdigit():
            continue
        value = int(text)
        if value > 0 and (best[0] is None or value < best[0]):
            best = (value, f"{label} ({_fmt(value)})")
    return best


def _cgroup_cpus(fake: str | None) -> tuple[int | None, str]:
    if fake:
        v2 = [Path(fake) / "cpu.max"]
        v1 = [Path(fake) / "cpu", Path(fake) / "cpu,cpuacct"]
    else:
        v2 = [p / "cpu.max" for p in _own_paths("")]
        v1 = _own_paths("cpu")
    best: tuple[int | None, str] = (None, "")
    for path in v2:
        fields = (_read(path) or "max").split()
        if fields[0] == "max" or not fields[0].isdigit():
            continue
        every = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 100_000
        best = _smaller(best, int(fields[0]), every, f"cgroup v2 cpu.max {fields[0]} {every}")
    for folder in v1:
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if not quota or not period or not quota.isdigit() or not period.isdigit():
            continue  # "-1": no quota
        best = _smaller(
            best, int(quota), int(period), f"cgroup v1 cpu.cfs_quota_us {quota}/{period}"
        )
    return best


def _smaller(
    best: tuple[int | None, str], quota: int, period: int, label: str
) -> tuple[int | None, str]:
    if quota <= 0 or period <= 0:
        return best
    # 1.5 CPUs of quota keep two threads busy part of the time: round up, at least one.
    cores = max(1, math.ceil(quota / period))
    if best[0] is None or cores < best[0]:
        return cores, label
    return best


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _machine_memory() -> tuple[int, str]:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = 4 << 30
        return total, "assumed (the machine's memory could not be read)"
    return total, f"the machine's memory ({_fmt(total)})"


def _fmt(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
