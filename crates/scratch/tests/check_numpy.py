"""Independent reader for scratch directories: numpy only.

Usage: check_numpy.py DIR EXPECTED.json
EXPECTED: {"dtype": "uint16", "shapes": [[...], ...],
           "planes": [[position, [storage index...], value], ...]}
Every listed plane must hold `value` in every pixel, every other plane 0; shapes come
from manifest.json; each array is read twice: np.fromfile and np.memmap.
"""

import json
import sys
from pathlib import Path

import numpy as np

root = Path(sys.argv[1])
expected = json.loads(Path(sys.argv[2]).read_text())
manifest = json.loads((root / "manifest.json").read_text())
assert manifest["dtype"] == expected["dtype"], manifest["dtype"]
assert manifest["position_shapes"] == expected["shapes"], manifest["position_shapes"]
for p, shape in enumerate(manifest["position_shapes"]):
    path = root / f"pos_{p}.dat"
    want = np.zeros(shape, dtype=expected["dtype"])
    for pos, idx, value in expected["planes"]:
        if pos == p:
            want[tuple(idx)] = value
    mm = np.memmap(path, dtype=manifest["dtype"], mode="r", shape=tuple(shape))
    flat = np.fromfile(path, dtype=manifest["dtype"])
    assert flat.size == int(np.prod(shape)), (path, flat.size, shape)
    for got in (np.asarray(mm), flat.reshape(shape)):
        if not np.array_equal(got, want):
            bad = np.argwhere(got != want)[:5]
            raise SystemExit(f"{path}: differs at {bad.tolist()}")
print("ok", len(manifest["position_shapes"]))
