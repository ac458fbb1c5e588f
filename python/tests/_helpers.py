"""Helpers of ome_writers_rs' own tests (outputs read back with zarr-python
and tifffile; frames carry their acquisition number in their pixels)."""

from __future__ import annotations

import numpy as np


def settings(root, dims: dict[str, int | None], dtype: str = "uint16", **extra) -> dict:
    """Settings JSON (as Python's ``model_dump(mode="json")`` gives it)."""
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space", "p": "position"}
    dimensions = [
        {"name": n, "count": c, "type": kinds.get(n, "other")} for n, c in dims.items()
    ]
    return {"root_path": str(root), "dimensions": dimensions, "dtype": dtype, **extra}


def frame(n: int, shape=(16, 24), dtype="uint16") -> np.ndarray:
    """Frame ``n``: its number in every pixel, its row index in column 0."""
    f = np.full(shape, n, dtype=dtype)
    f[:, 0] = np.arange(shape[0], dtype=dtype)
    return f


