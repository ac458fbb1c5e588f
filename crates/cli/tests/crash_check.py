"""Check datasets left by a killed `omew write` (and then repaired) with the ordinary
readers: zarr-python + yaozarrs for OME-Zarr, tifffile + the OME XSD for OME-TIFF.

Usage (run by crates/cli/tests/crash.rs):
    python crash_check.py JOBS.json

JOBS.json is a list of jobs; one line `ok <label>` or `FAIL <label>: reason` per job,
exit status 1 if any failed.  Frames follow the pattern of tests/python/_common.py.

Zarr job:
    {"kind": "zarr", "label": str, "root": path, "dtype": "uint16",
     "stage": "killed" | "repaired",
     "frames": [[[storage index], n], ...]   # every frame handed to the writer, in order
     "max_total": int | null}                # declared frames (null: unbounded)

  The durable frames are the first `frames_written` (from the image group's zarr.json):
  each must read back exactly. Every other frame handed over must read back exactly or
  as zeros (written after the last durability point, or not at all) - or, when it spans
  several write units (chunks or shards), each unit's part whole or zero; every other plane
  must be zero. After repair the store must validate (yaozarrs) and the status must
  not be "acquiring".

TIFF job:
    {"kind": "tiff", "label": str, "stage": "killed" | "repaired", "dtype": "uint16",
     "files": [{"path": path, "frames": [n, ...]}],   # per file: frames in page order
     "companion": path | null}

  Killed: each file is a standalone OME-TIFF whose series 0 (the provisional OME-XML,
  or a final one with status failed after a write error, padded with zero planes
  within its last step) holds exactly its first planes; every page on disk is a
  whole frame or that padding. Repaired: the
  series covers every page (the last growth step padded with zero planes), the
  description is final (not "acquiring") and records the repair, every XML validates.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests" / "python"))

from _common import CheckError, pattern_plane  # noqa: E402


def zarr_job(job: dict) -> str:
    import yaozarrs
    import zarr

    root = Path(job["root"])
    dtype = np.dtype(job["dtype"])
    attrs = json.loads((root / "zarr.json").read_text())["attributes"]
    ow = attrs["ome_writers"]
    durable = ow["frames_written"]
    status = ow["status"]
    frames = job["frames"]
    if durable > len(frames):
        raise CheckError(f"metadata says {durable} frames written, only {len(frames)} handed over")
    if job.get("finished"):
        # Stopped by SIGTERM/SIGINT: the writer finished it; repair has nothing to do.
        if status not in ("partial", "complete"):
            raise CheckError(f"stopped by a signal but status is {status!r}")
    elif job["stage"] == "repaired":
        if status == "acquiring":
            raise CheckError("status still 'acquiring' after repair")
        if status != "complete" and "repaired" not in ow:
            raise CheckError("no 'repaired' record after repair")
    arr = zarr.open_array(store=str(root / "0"), mode="r")
    data = arr[...]
    if str(data.dtype) != dtype.name:
        raise CheckError(f"dtype {data.dtype}, expected {dtype}")
    ny, nx = data.shape[-2:]
    unit_y, unit_x = (arr.shards or arr.chunks)[-2:]
    partial = 0
    covered = np.zeros(data.shape[:-2], dtype=bool)
    present = 0
    for i, (idx, n) in enumerate(frames):
        idx = tuple(idx)
        inside = all(0 <= k < s for k, s in zip(idx, data.shape))
        if i < durable:
            if not inside:
                raise CheckError(f"durable frame {n} at {list(idx)} is outside shape {data.shape}")
            if not np.array_equal(data[idx], pattern_plane(n, ny, nx, dtype)):
                raise CheckError(f"durable frame {n} at {list(idx)} does not read back")
        elif inside:
            plane = data[idx]
            want = pattern_plane(n, ny, nx, dtype)
            if np.array_equal(plane, want):
                present += 1
            elif plane.any():
                # A frame spanning several write units (chunks, or shards) may have been
                # killed between them: each unit's part must be whole or zero.
                for y0 in range(0, ny, unit_y):
                    for x0 in range(0, nx, unit_x):
                        got = plane[y0:y0 + unit_y, x0:x0 + unit_x]
                        if got.any() and not np.array_equal(
                                got, want[y0:y0 + unit_y, x0:x0 + unit_x]):
                            raise CheckError(f"frame {n} at {list(idx)} is torn inside "
                                             f"the write unit at y={y0}, x={x0}")
                partial += 1
        if inside:
            covered[idx] = True
    stray = np.argwhere(data.reshape(-1, ny * nx).any(axis=1).reshape(covered.shape) & ~covered)
    if len(stray):
        raise CheckError(f"plane {list(stray[0])} holds data no frame put there")
    if job["stage"] == "repaired":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yaozarrs.validate_zarr_store(str(root))
    levels = check_levels(root, ow, job, frames[:durable], data, dtype)
    return (f"status={status} frames_written={durable} shape={list(data.shape)} "
            f"later_frames_present={present} later_frames_in_part={partial} levels={levels}")


def reduce_xy(a: np.ndarray, method: str, dtype: np.dtype) -> np.ndarray:
    """One pyramid level up in Y and X, by the definition in docs/layouts.md."""
    f = a.astype(np.float64)
    pad = [(0, 0)] * (f.ndim - 2) + [(0, f.shape[-2] % 2), (0, f.shape[-1] % 2)]
    f = np.pad(f, pad, constant_values=np.nan)
    h, w = f.shape[-2:]
    b = f.reshape(f.shape[:-2] + (h // 2, 2, w // 2, 2))
    if method == "decimate":
        r = b[..., :, 0, :, 0]
    else:
        r = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[method](b, axis=(-3, -1))
    if np.issubdtype(dtype, np.integer):
        r = np.round(r)
    return r.astype(dtype)


def check_levels(root, ow, job, durable_frames, data, dtype) -> int:
    """Pyramid levels (Y and X halved): killed, every durable frame's planes of every
    level are its reduction; repaired, every level is the reduction of the one below."""
    import zarr

    ms = (ow.get("settings") or {}).get("multiscale") or {}
    paths = [d["path"] for d in json.loads((root / "zarr.json").read_text())
             ["attributes"]["ome"]["multiscales"][0]["datasets"]]
    if len(paths) <= 1:
        return 1
    method = ms.get("method", "mean")
    below = data
    for path in paths[1:]:
        level = zarr.open_array(store=str(root / path), mode="r")[...]
        want = reduce_xy(below, method, dtype)
        if job["stage"] == "repaired" or job.get("finished"):
            if level.shape != want.shape or not np.array_equal(level, want):
                raise CheckError(f"level {path} is not the reduction of the level below")
        else:
            for idx, _ in durable_frames:
                idx = tuple(idx)
                if not np.array_equal(level[idx], want[idx]):
                    raise CheckError(f"level {path}: durable frame at {list(idx)} is not "
                                     f"the reduction of level 0")
        below = want
    return len(paths)


def tiff_job(job: dict) -> str:
    import tifffile
    from check_tiff import OME_NS, own_series_index, validate_ome_xml
    from lxml import etree

    dtype = np.dtype(job["dtype"])
    notes = []
    finished = job.get("finished", False)
    # A killed file is provisional; one stopped by a signal was finished by the writer.
    killed = job["stage"] == "killed" and not finished
    for spec in job["files"]:
        path = Path(spec["path"])
        frames = spec["frames"]
        raw = path.read_bytes()[:16]
        if len(raw) == 16 and raw[8:16] == bytes(8):
            # Killed before its first page: no frame was written, and repair has
            # nothing to recover (it says so and leaves the file).
            notes.append(f"{path.name}: killed before its first page (no frame written)")
            continue
        with tifffile.TiffFile(path) as tf:
            description = tf.pages[0].description
            pages = [p.asarray() for p in tf.pages]
        validate_ome_xml(description, f"{path.name} ImageDescription")
        own = etree.fromstring(description.encode())
        acquiring = 'K="status">acquiring<' in description
        # A writer that met an error (a full disk) finalizes with status failed: final,
        # padded only within the last step its pages reach.
        failed = 'K="status">failed<' in description
        omexml = description
        binary_only = own.find(f"{{{OME_NS}}}BinaryOnly")
        if binary_only is not None:
            meta = path.parent / binary_only.get("MetadataFile", "")
            if meta.suffix.lower() in (".tif", ".tiff"):
                with tifffile.TiffFile(meta) as master:
                    omexml = master.pages[0].description
            else:
                omexml = meta.read_text()
            validate_ome_xml(omexml, meta.name)
        if killed and not (acquiring or failed) and binary_only is None:
            raise CheckError(f"{path.name}: killed file has a final description?")
        if finished and acquiring:
            raise CheckError(f"{path.name}: stopped by a signal but still provisional")
        if job["stage"] == "repaired" and not finished:
            if acquiring:
                raise CheckError(f"{path.name}: still provisional after repair")
            if "repaired" not in omexml and 'K="complete">true<' not in omexml:
                raise CheckError(f"{path.name}: the final OME-XML does not record the repair")
        if len(pages) > len(frames) and killed:
            raise CheckError(f"{path.name}: {len(pages)} pages but {len(frames)} frames handed")
        ny, nx = pages[0].shape[-2:]
        zero = np.zeros((ny, nx), dtype=dtype)
        written = 0
        for i, page in enumerate(pages):
            if i < len(frames) and np.array_equal(page, pattern_plane(frames[i], ny, nx, dtype)):
                written += 1
                if written != i + 1:
                    raise CheckError(f"{path.name}: page {i} follows a zero page")
            elif not np.array_equal(page, zero) or (killed and not failed):
                raise CheckError(f"{path.name}: page {i} is neither frame nor zero padding")
        index = own_series_index(omexml, own.get("UUID"), path.name)
        with tifffile.TiffFile(path, omexml=omexml if binary_only is not None else None) as tf:
            series = tf.series[index]
            data = series.asarray().reshape(-1, ny, nx)
        if len(data) > len(pages):
            raise CheckError(f"{path.name}: series has {len(data)} planes, file {len(pages)}")
        for i, plane in enumerate(data):
            want = pattern_plane(frames[i], ny, nx, dtype) if i < written else zero
            if not np.array_equal(plane, want):
                raise CheckError(f"{path.name}: series plane {i} differs")
        if job["stage"] == "repaired" and len(data) != len(pages):
            raise CheckError(f"{path.name}: series has {len(data)} planes, file {len(pages)}")
        notes.append(f"{path.name}: pages={len(pages)} described={len(data)} "
                     f"shape={list(series.shape)}")
    nothing = all("before its first page" in n for n in notes)
    if job.get("companion") and job["stage"] == "repaired" and not nothing:
        validate_ome_xml(Path(job["companion"]).read_bytes(), job["companion"])
    return "; ".join(notes)


def main(argv: list[str]) -> int:
    jobs = json.loads(Path(argv[0]).read_text())
    failed = 0
    for job in jobs:
        try:
            note = zarr_job(job) if job["kind"] == "zarr" else tiff_job(job)
        except Exception as e:  # noqa: BLE001 - every failure is reported
            failed += 1
            print(f"FAIL {job['label']}: {type(e).__name__}: {e}")
        else:
            print(f"ok {job['label']}: {note}")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
