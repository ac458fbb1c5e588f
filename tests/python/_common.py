"""Shared helpers for check_zarr.py and check_tiff.py.

The Rust tests write every frame with a deterministic pattern:

    value(n, y, x) = 1 + ((n*7 + y*3 + x) % M)     cast to the dtype

with M = 100 for int8/uint8, 30000 for int16/uint16 and 1000000 otherwise;
`n` is the frame number given in the EXPECT file.  Unwritten planes are 0.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Sequence

import numpy as np


class CheckError(Exception):
    """An expectation was not met (message is shown in the FAIL line)."""


def modulus(dtype: np.dtype) -> int:
    if dtype.itemsize == 1 and dtype.kind in "iu":
        return 100
    if dtype.itemsize == 2 and dtype.kind in "iu":
        return 30000
    return 1000000


def pattern_plane(n: int, ny: int, nx: int, dtype: np.dtype) -> np.ndarray:
    yy, xx = np.indices((ny, nx), dtype=np.int64)
    return (1 + ((n * 7 + yy * 3 + xx) % modulus(dtype))).astype(dtype)


def expected_array(shape: Sequence[int], dtype: np.dtype, frames: list) -> np.ndarray:
    """Zeros of `shape`, with pattern planes at each `[[index...], n]` entry."""
    out = np.zeros(shape, dtype=dtype)
    ny, nx = shape[-2:]
    for entry in frames:
        idx, n = entry
        idx = tuple(idx)
        if len(idx) != len(shape) - 2:
            raise CheckError(f"bad EXPECT frame index {list(idx)} for shape {shape}")
        if any(not 0 <= i < s for i, s in zip(idx, shape)):
            raise CheckError(f"EXPECT frame index {list(idx)} out of bounds {shape}")
        out[idx] = pattern_plane(n, ny, nx, dtype)
    return out


def assert_pixels_equal(actual: np.ndarray, expected: np.ndarray, what: str) -> None:
    if actual.shape != expected.shape:
        raise CheckError(f"{what}: shape {actual.shape} != expected {expected.shape}")
    if np.array_equal(actual, expected):
        return
    bad = np.argwhere(actual != expected)
    first = tuple(int(i) for i in bad[0])
    raise CheckError(
        f"{what}: {len(bad)} pixel(s) differ; first at index {list(first)}: "
        f"got {actual[first].item()!r}, expected {expected[first].item()!r}"
    )


def run(argv: list[str], check: Callable[[dict], None], label: Callable[[dict], str]) -> int:
    """Check each EXPECT file; print `ok <label>` / `FAIL <label>: reason`."""
    if not argv:
        print(f"usage: {sys.argv[0]} EXPECT.json [EXPECT.json ...]", file=sys.stderr)
        return 2
    n_fail = 0
    for path in argv:
        name = path
        try:
            with open(path) as f:
                expect = json.load(f)
            name = label(expect)
            check(expect)
        except Exception as e:  # noqa: BLE001 - report everything as FAIL
            n_fail += 1
            msg = str(e) if isinstance(e, CheckError) else f"{type(e).__name__}: {e}"
            first, *rest = msg.strip().splitlines() or [""]
            print(f"FAIL {name}: {first}{' (details on stderr)' if rest else ''}")
            if rest:
                print(f"--- {name}\n{msg}", file=sys.stderr)
            if not isinstance(e, CheckError):
                traceback.print_exc(file=sys.stderr)
        else:
            print(f"ok {name}")
        sys.stdout.flush()
    return 1 if n_fail else 0
