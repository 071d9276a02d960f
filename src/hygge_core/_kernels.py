"""Arrow compute kernels called by name, without importing `pyarrow.compute`.

`import pyarrow.compute` generates a Python wrapper, with its signature and docstring, for
each of Arrow's ~400 kernels: 26-28 ms of CPU, a tenth of what `hygge run` of a small flow
spent above `import pyarrow` itself (bench/README.md, "Start-up"). What every Parquet run
needs from it is a handful of kernels (statistics of the written files, the encoding
choice), and the wrappers only forward to `call_function` of the compiled
`pyarrow._compute`, which imports in about 5 ms. So the hot modules call kernels here by
name; the results are the same objects the wrappers return. Code that needs many kernels
(transforms, checks, expressions) keeps `pyarrow.compute`.
"""

from __future__ import annotations

from typing import Any

try:
    from pyarrow._compute import ScalarAggregateOptions, call_function
except ImportError:  # a pyarrow that moved its internals: the public module has both
    from pyarrow.compute import ScalarAggregateOptions, call_function

# The defaults of pyarrow.compute's `min_max`, `any` and `sum`.
_AGGREGATE = ScalarAggregateOptions(skip_nulls=True, min_count=1)


def call(name: str, *args: Any) -> Any:
    """`pyarrow.compute.<name>(*args)` for an element-wise kernel (Python scalars allowed)."""
    return call_function(name, list(args))


def aggregate(name: str, values: Any) -> Any:
    """`pyarrow.compute.<name>(values)` for `min_max`, `any`, `sum` with their defaults."""
    return call_function(name, [values], _AGGREGATE)
