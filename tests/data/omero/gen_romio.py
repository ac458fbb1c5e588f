"""Write the ROMIO pixel fixtures under tests/data/omero/datadir/Pixels/.

A ROMIO pixel file is headerless and big-endian, with planes in XYZCT order: a
C-order [T][C][Z][Y][X] array. Plane (z, c, t) is plane number n = (t*C + c)*Z + z
and holds `pattern_plane(n)` from tests/python/_common.py,

    value(n, y, x) = 1 + ((n*7 + y*3 + x) % M)

so every (z, c, t) plane has its own values and any plane-order mistake shows.
The same pattern is what tests/python/check_zarr.py expects, so an export of these
files can be checked by zarr-python with frames [[t, c, z], n].

Run from the repository root (any Python with numpy):

    target/pyenv/bin/python tests/data/omero/gen_romio.py

It also writes manifest.json, which the Rust tests read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "python"))
from _common import pattern_plane  # noqa: E402

# pixels id, OMERO pixel type, big-endian numpy dtype, sizes (X, Y, Z, C, T)
FIXTURES = [
    (1, "uint16", ">u2", (5, 4, 3, 2, 2)),
    (1001, "uint16", ">u2", (7, 3, 2, 3, 1)),
    (2, "float", ">f4", (3, 2, 1, 2, 3)),
    (3, "int8", ">i1", (4, 3, 2, 1, 2)),
    (4, "uint32", ">u4", (2, 2, 1, 1, 3)),
]


def romio_path(root: Path, pixels_id: int) -> Path:
    """omero-romio's AbstractFileSystemService.getPath, written independently."""
    dirs = []
    remaining = pixels_id
    while remaining > 999:
        remaining //= 1000
        dirs.append("Dir-%03d" % (remaining % 1000))
    return root.joinpath("Pixels", *reversed(dirs), str(pixels_id))


def main() -> None:
    root = HERE / "datadir"
    manifest = []
    for pid, ptype, be, (sx, sy, sz, sc, st) in FIXTURES:
        native = np.dtype(be).newbyteorder("=")
        arr = np.zeros((st, sc, sz, sy, sx), dtype=native)
        for t in range(st):
            for c in range(sc):
                for z in range(sz):
                    n = (t * sc + c) * sz + z
                    arr[t, c, z] = pattern_plane(n, sy, sx, native)
        path = romio_path(root, pid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(arr.astype(be).tobytes(order="C"))
        manifest.append({
            "pixels_id": pid,
            "pixel_type": ptype,
            "numpy_dtype": native.name,
            "path": str(path.relative_to(HERE)),
            "sizes": {"x": sx, "y": sy, "z": sz, "c": sc, "t": st},
            "bytes": arr.nbytes,
        })
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for m in manifest:
        print(m["path"], m["bytes"], "bytes")


if __name__ == "__main__":
    main()
