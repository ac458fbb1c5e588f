"""Independently check scratch directories written by the Rust tests, with numpy.

Usage:
    python check_scratch.py EXPECT.json [EXPECT.json ...]

EXPECT.json: {"root": "/abs/dir", "dtype": "uint16", "shape": [...],
              "positions": [[[index without y,x], n], ...] per position,
              "metadata_frames": K}

Each pos_<i>.dat is read with np.memmap and with np.fromfile, its shape taken from
manifest.json (which must equal "shape"), and compared with the pattern planes of
_common.py; frame_metadata.jsonl must have K lines, each with _pos and _idx.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from _common import CheckError, assert_pixels_equal, expected_array, run


def check(expect: dict) -> None:
    root = Path(expect["root"])
    manifest = json.loads((root / "manifest.json").read_text())
    dtype = np.dtype(manifest["dtype"])
    if manifest["dtype"] != expect["dtype"]:
        raise CheckError(f"dtype {manifest['dtype']} != {expect['dtype']}")
    shapes = manifest["position_shapes"]
    if len(shapes) != len(expect["positions"]):
        raise CheckError(f"{len(shapes)} positions, expected {len(expect['positions'])}")
    for p, (shape, frames) in enumerate(zip(shapes, expect["positions"])):
        if shape != expect["shape"]:
            raise CheckError(f"position {p}: shape {shape} != {expect['shape']}")
        path = root / f"pos_{p}.dat"
        want = expected_array(shape, dtype, frames)
        mm = np.memmap(path, dtype=dtype, mode="r", shape=tuple(shape))
        assert_pixels_equal(np.asarray(mm), want, f"{path} (memmap)")
        flat = np.fromfile(path, dtype=dtype)
        if flat.size != want.size:
            raise CheckError(f"{path}: {flat.size} elements, shape {shape} needs {want.size}")
        assert_pixels_equal(flat.reshape(shape), want, f"{path} (fromfile)")
    lines = []
    jsonl = root / "frame_metadata.jsonl"
    if jsonl.exists():
        lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    if len(lines) != expect["metadata_frames"]:
        raise CheckError(f"{len(lines)} metadata lines, expected {expect['metadata_frames']}")
    if any("_pos" not in x or "_idx" not in x for x in lines):
        raise CheckError("a metadata line lacks _pos or _idx")
    if manifest["ome_writers"]["status"] not in ("complete", "partial"):
        raise CheckError(f"status {manifest['ome_writers']['status']}")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], check, lambda e: e["root"]))
