"""Start-up cost of the `hygge` command in CPU seconds, side by side with `import pyarrow.parquet`.

Wall time on a shared machine says more about the neighbours than about hygge; the CPU seconds
a process spends (user + system, of the process and its children, from `wait4`) do not depend
on how long it waited for a core. Each round runs every program once, in turn, so all of them
see the same conditions; the table gives the median and the range over the rounds.

    .venv/bin/python bench/startup.py --runs 9
    .venv/bin/python bench/startup.py --before ../main/.venv/bin/hygge   # before/after a change

Programs: `python -c "import pyarrow.parquet"` (the floor: no data moves without it),
`python -c "import pyarrow"` (what issue 14's target is measured from), `hygge --help`,
`hygge validate` and `hygge run` of a 3-row Parquet → Parquet flow.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _cpu(argv: list[str], cwd: str) -> float:
    """CPU seconds (user + system) `argv` spent, its children included."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {proc.returncode}")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="rounds (default 9)")
    parser.add_argument(
        "--before",
        metavar="HYGGE",
        help="another `hygge` (another checkout's venv) to run in the same rounds, for a "
        "before/after comparison",
    )
    args = parser.parse_args()
    python = sys.executable
    hygge = str(Path(python).with_name("hygge"))
    work = tempfile.mkdtemp(prefix="hygge-startup-")
    subprocess.run(
        [
            python,
            "-c",
            "import pyarrow as pa, pyarrow.parquet as pq; "
            "pq.write_table(pa.table({'id': [1, 2, 3], 'name': ['a', 'b', 'c']}), 'in.parquet')",
        ],
        cwd=work,
        check=True,
    )
    Path(work, "flows.yaml").write_text(
        "flows:\n"
        "  three_rows:\n"
        "    home: in.parquet\n"
        "    store: {type: parquet, path: out, mode: replace}\n"
    )
    programs = {
        'python -c "import pyarrow.parquet"': [python, "-c", "import pyarrow.parquet"],
        'python -c "import pyarrow"': [python, "-c", "import pyarrow"],  # issue 14's base
        "hygge --help": [hygge, "--help"],
        "hygge validate flows.yaml": [hygge, "validate", "flows.yaml"],
        "hygge run flows.yaml (3 rows)": [hygge, "run", "flows.yaml"],
    }
    if args.before:
        for name, argv in list(programs.items())[2:]:
            programs[f"before: {name}"] = [args.before, *argv[1:]]
    for argv in programs.values():  # once unmeasured: byte-code caches, page cache
        _cpu(argv, work)
    seconds: dict[str, list[float]] = {name: [] for name in programs}
    for _ in range(args.runs):
        for name, argv in programs.items():
            seconds[name].append(_cpu(argv, work))
    floor, base = (statistics.median(v) for v in list(seconds.values())[:2])
    print(f"{args.runs} rounds; CPU seconds (user + system)\n")
    print("| program | median | min-max | over import pyarrow.parquet | over import pyarrow |")
    print("|---|--:|--:|--:|--:|")
    for name, values in seconds.items():
        med = statistics.median(values)
        spread = f"{min(values):.3f}-{max(values):.3f}"
        print(f"| {name} | {med:.3f} | {spread} | {med - floor:+.3f} | {med - base:+.3f} |")


if __name__ == "__main__":
    main()
