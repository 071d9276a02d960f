"""Ask Arrow's allocator to hand freed memory back to the system soon, not at once.

Arrow's default pool (mimalloc in the Linux wheels) keeps freed pages for reuse; with a
reader and a writer thread per work unit the pages it keeps add up to more than the data
in flight (measured: 5M rows Parquet→Parquet peaked at 450 MB by default, 310 MB with
pages returned at once). Returning them at once (a delay of 0) costs CPU instead: every
batch then lands on fresh pages, and the kernel faults and zeroes each one again — on
2M-row PostgreSQL→Parquet and Parquet→PostgreSQL runs, 85-95k page faults, twice the
reference programs'. 100 ms keeps the pages of the batches in flight and still gives back
the rest: faults halve, CPU drops 0.1-0.2 s on those runs, peak RSS grows 5-55 MB (the
5M-row tests stay under their 400 MB). mimalloc reads the setting when it loads, so this
module is imported before anything imports pyarrow; a user's own setting wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("MIMALLOC_PURGE_DELAY", "100")
