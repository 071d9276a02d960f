"""A stable 64-bit hash of Arrow columns, row by row, computed with numpy (no per-row Python).

Used by the `hash` and `mask` transforms (stable ids) and the `unique` check (keys spilled
as hashes). The algorithm is fixed and documented in docs/transforms.md, so ids computed
by one hygge version equal those computed by the next:

- every column is turned into one 64-bit word per row (integers, dates and timestamps by
  value, floats by their IEEE bits, decimals by their two 64-bit halves, booleans 0/1),
  except strings and binaries, which are read 8 bytes at a time;
- each word is folded into the row's state with `mix(state ^ word)`, where `mix` is the
  splitmix64 finaliser; a null folds a fixed marker instead, and a column's first word is
  also xor-ed with a constant of its position, so `(a, null)` and `(null, a)` differ.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_COLUMN = 0xD6E8FEB86659FD93  # column i's first word is xor-ed with (i + 1) * this
_NULL = np.uint64(0x6E756C6C6E756C6C)  # "nullnull"
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_MASK64 = (1 << 64) - 1


def mix(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser, elementwise on uint64 (wrapping), in place on `x`."""
    with np.errstate(over="ignore"):
        x += _GOLDEN
        x ^= x >> _S30
        x *= _M1
        x ^= x >> _S27
        x *= _M2
        x ^= x >> _S31
    return x


def hash_columns(columns: list[pa.Array | pa.ChunkedArray], seed: int = 0) -> np.ndarray:
    """One uint64 per row over `columns` (all of one length), stable across runs."""
    return hash_columns_seeded(columns, [seed])[0]


def hash_columns_seeded(
    columns: list[pa.Array | pa.ChunkedArray], seeds: list[int]
) -> list[np.ndarray]:
    """`hash_columns` for several seeds at once: each column is read into words once."""
    n = len(columns[0]) if columns else 0
    states = [np.full(n, np.uint64(seed), dtype=np.uint64) for seed in seeds]
    for position, column in enumerate(columns):
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        tag = np.uint64(((position + 1) * _COLUMN) & _MASK64)
        _fold(states, array, tag)
    return states


def _fold(states: list[np.ndarray], array: pa.Array, tag: np.uint64) -> None:
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_fixed_size_binary(kind):
        array = array.cast(pa.binary())
        kind = array.type
    if pa.types.is_large_string(kind) or pa.types.is_large_binary(kind):
        _fold_bytes(states, array.cast(pa.large_binary()), np.int64, tag)
        return
    if pa.types.is_string(kind) or pa.types.is_binary(kind) or pa.types.is_string_view(kind):
        _fold_bytes(states, array.cast(pa.binary()), np.int32, tag)
        return
    words = _words(array)
    if array.null_count:
        valid = _valid(array)
        words = [np.where(valid, w, _NULL) for w in words]
    for state in states:
        for i, word in enumerate(words):
            state ^= word ^ tag if i == 0 else word
            mix(state)


def _valid(array: pa.Array) -> np.ndarray:
    if array.null_count == 0:
        return np.ones(len(array), dtype=bool)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def _words(array: pa.Array) -> list[np.ndarray]:
    """The 64-bit words of a fixed-width column (nulls as zeros; the caller masks them)."""
    kind = array.type
    if pa.types.is_boolean(kind):
        return [_np(pc.fill_null(array, False)).astype(np.uint64)]
    if pa.types.is_floating(kind):
        as64 = _np(pc.fill_null(array.cast(pa.float64()), 0.0)).astype(np.float64)
        as64 = np.where(as64 == 0.0, 0.0, as64)  # -0.0 and 0.0 are one value
        return [as64.view(np.uint64)]
    if pa.types.is_decimal(kind):
        if kind.bit_width != 128:
            array = array.cast(pa.decimal128(min(kind.precision, 38), kind.scale))
        buf = array.buffers()[1]
        words = np.frombuffer(buf, dtype=np.uint64, count=2 * (len(array) + array.offset))
        words = words[2 * array.offset :]
        return [words[0::2].copy(), words[1::2].copy()]
    if pa.types.is_integer(kind) or pa.types.is_temporal(kind):
        target = pa.uint64() if pa.types.is_unsigned_integer(kind) else pa.int64()
        if pa.types.is_temporal(kind):
            # Dates, times, timestamps and durations by their stored integer value.
            array = array.view(pa.int64()) if kind.bit_width == 64 else array.cast(pa.int32())
        values = _np(pc.fill_null(array.cast(target), 0))
        return [values.astype(np.int64, copy=False).view(np.uint64)]
    # Anything else (lists, structs, ...): by its text, which is stable for equal values.
    text = array.cast(pa.string()) if _castable(kind) else pa.array(map(str, array.to_pylist()))
    return [hash_columns([text])]


def _castable(kind: pa.DataType) -> bool:
    try:
        pa.array([], kind).cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return False
    return True


def _np(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False))


def _fold_bytes(
    states: list[np.ndarray], array: pa.Array, offset_type: Any, tag: np.uint64
) -> None:
    """Fold variable-length values: the length first (so `"ab" + ""` and `"a" + "b"` in two
    columns differ), then 8 bytes at a time: one vectorised step per word of the longest
    value, each over only the rows that still have bytes left."""
    n = len(array)
    valid = _valid(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=offset_type, count=n + 1 + array.offset)
    offsets = offsets[array.offset :].astype(np.int64)
    data_buf = array.buffers()[2]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    padded = np.concatenate([data, np.zeros(8, dtype=np.uint8)])
    starts, lengths = offsets[:-1], offsets[1:] - offsets[:-1]
    lengths = np.where(valid, lengths, 0)
    first = np.where(valid, lengths.astype(np.uint64), _NULL) ^ tag
    for state in states:
        state ^= first
        mix(state)
    windows = np.lib.stride_tricks.as_strided(
        padded, shape=(max(len(padded) - 7, 0), 8), strides=(1, 1), writeable=False
    )
    active = np.nonzero(lengths > 0)[0]
    step = 0
    while active.size:
        at = starts[active] + 8 * step
        left = lengths[active] - 8 * step
        word = np.ascontiguousarray(windows[at]).view("<u8").reshape(-1)
        short = left < 8
        if short.any():
            bits = (left[short] * 8).astype(np.uint64)
            word[short] &= (np.uint64(1) << bits) - np.uint64(1)
        for state in states:
            state[active] = mix(state[active] ^ word)
        active = active[left > 8]
        step += 1


# Two ASCII hex digits per byte value, as one little-endian uint16 (first digit first).
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_HEX2 = (_HEX[np.arange(256) >> 4].astype(np.uint16)) | (
    _HEX[np.arange(256) & 15].astype(np.uint16) << np.uint16(8)
)


def hex_ids(words: list[np.ndarray]) -> pa.Array:
    """Strings of 16 hex digits per word, joined per row (big-endian, lower case)."""
    n = len(words[0])
    width = 16 * len(words)
    chars = np.empty((n, width // 2), dtype=np.uint16)
    for i, w in enumerate(words):
        raw = w.astype(">u8").view(np.uint8).reshape(n, 8)
        chars[:, 8 * i : 8 * (i + 1)] = _HEX2[raw]
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(chars.tobytes())
    )
