"""Ask Arrow's allocator to hand freed memory back to the system soon: after 10 ms.

Arrow's default pool (mimalloc in the Linux wheels) keeps freed pages for reuse; with a
reader and a writer thread per work unit the pages it keeps add up to more than the data
in flight (measured on 2026-11-26: 5M rows Parquet→Parquet peaked at 450 MB with pages
kept, 310 MB returned at once). Returning them at once (a delay of 0) has its own price:
every batch lands on fresh pages the kernel faults in and zeroes again — 57k faults for a
2M-row narrow table against 22k at 10 ms, and 0.12-0.14 s more CPU on a 5M-row
Parquet→Parquet run (2026-12-05, 5 interleaved runs: narrow 1.35 → 1.20 CPU s, main
table 2.06 → 1.92; peak RSS +3 to +16 MB). 50 ms saved more CPU but took the 16-unit,
128 MB test past its RSS bound (tests/test_memory_budget.py). mimalloc reads the setting
when it loads, so this module is imported before anything imports pyarrow; a user's own
setting wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("MIMALLOC_PURGE_DELAY", "10")
