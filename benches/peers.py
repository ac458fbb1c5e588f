#!/usr/bin/env python3
"""Side-by-side throughput of ome-writers-rs and its Python peers (issue 6).

Runs, on the same workloads, on the same machine, in the same run:

- ``disk``: the disk's own speed: the same raw bytes to one file, then fsync
  (measured before and after each workload; the mean is the reference).
- ``omew``: our writer, through ``omew bench-one`` (when the binary exists).
- ``omew-python``: our writer through the Python package ``ome_writers_rs``
  (``pip install ./python``): frames appended from numpy, as a Python user does.
- ``tensorstore``: tensorstore's zarr3 driver used directly.
- ``acquire-zarr``: the ``acquire-zarr`` package used directly.
- ``ow-<backend>``: the Python ``ome-writers`` through each of its backends
  (tensorstore, acquire-zarr, zarrs-python, zarr-python; tifffile for TIFF).

Workloads (as ``crates/cli/src/bench.rs``; ``--frames``/``--size`` scale them):

- ``w1``: FRAMES frames of SIZExSIZE uint16, T axis, one frame per chunk, uncompressed.
- ``w2``: the same frames as TCZYX (FRAMES/16, 2, 8, SIZE, SIZE), one frame per
  chunk, shards of 8 chunks along z, uncompressed.
- ``w3-zstd`` / ``w3-lz4``: W1 with realistic frames (smooth structure plus
  Poisson-like noise, values 100..4000), zstd level 1 / blosc-lz4 level 1 (shuffle).
- ``tiff``: W1 as OME-TIFF, uncompressed.

Every writer runs in its own child process; its peak RSS is the ``ru_maxrss`` of
that child (``os.wait4``), so it includes the interpreter, the imported library and
the pool of 8 source frames (64 MiB at 2048x2048), as ``omew bench-one`` includes
its own pool. Time = create + all appends + close/finish + fsync of every output
file and directory (frame generation and imports are not timed). Our writers
(``omew``, ``omew-python``) make everything durable in finish/close themselves (an
fsync of each file and directory, or one ``syncfs``), so they are timed without the
extra pass: on ext4 a second fsync of a file already durable still flushes the
device's cache, 0.6-1.2 s for W1's 256 chunk files and 512 directories here, which
measured nothing (``omew bench-one``'s own time never included it). The extra pass
still runs after the clock stops (``redundant_fsync_s`` in the JSON).

A writer that cannot be imported or fails is listed as ``unavailable: reason``.

Usage (``benches/run_peers.sh`` makes the venv and passes its arguments here)::

    python benches/peers.py --frames 32 --size 1024 --markdown target/peers.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ["w1", "w2", "w3-zstd", "w3-lz4", "tiff"]
WORKLOAD_NAMES = {
    "w1": "W1 zarr",
    "w2": "W2 zarr sharded",
    "w3-zstd": "W3 zarr zstd-1",
    "w3-lz4": "W3 zarr blosc-lz4-1",
    "tiff": "W1 ome-tiff",
}
ZARR_WRITERS = [
    "omew",
    "omew-python",
    "tensorstore",
    "acquire-zarr",
    "ow-tensorstore",
    "ow-acquire-zarr",
    "ow-zarrs-python",
    "ow-zarr-python",
]
TIFF_WRITERS = ["omew", "omew-python", "ow-tifffile"]
ALL_WRITERS = ZARR_WRITERS + ["ow-tifffile"]
POOL = 8  # distinct frames, cycled (as bench.rs)
# Writers whose close() makes every file and directory durable (see the docstring).
DURABLE_AT_CLOSE = {"omew-python"}


def writers_for(workload: str) -> list[str]:
    return TIFF_WRITERS if workload == "tiff" else ZARR_WRITERS


def shape_of(workload: str, frames: int) -> tuple[int, ...]:
    """Non-frame shape of the workload, in acquisition (= storage) order."""
    if workload == "w2":
        return (max(1, frames // 16), 2, 8)
    return (frames,)


def total_frames(workload: str, frames: int) -> int:
    n = 1
    for s in shape_of(workload, frames):
        n *= s
    return n


# --------------------------------------------------------------------------------------
# Frames (same kind as crates/cli/src/bench.rs::make_frames; not bit-identical)
# --------------------------------------------------------------------------------------


def make_frames(size: int, realistic: bool, count: int = POOL):
    """`count` distinct uint16 frames, generated in row blocks so that temporaries
    stay small (they would otherwise count in the child's peak RSS)."""
    import numpy as np

    frames = []
    block = max(1, min(size, (1 << 19) // size))  # ~512k pixels per block
    for k in range(count):
        f = np.empty((size, size), dtype=np.uint16)
        rng = np.random.default_rng(0x9E3779B97F4A7C15 ^ (k + 1))
        for r0 in range(0, size, block):
            r1 = min(size, r0 + block)
            rows = np.arange(r0, r1, dtype=np.uint64)[:, None]
            cols = np.arange(size, dtype=np.uint64)[None, :]
            if realistic:
                y = rows.astype(np.float64) / size
                x = cols.astype(np.float64) / size
                s = (
                    0.5
                    + 0.25 * np.sin(12.0 * x + k) * np.cos(9.0 * y)
                    + 0.25 * np.sin(30.0 * (x - 0.5) * (y - 0.3))
                )
                mean = 100.0 + 3900.0 * s * s
                z = rng.standard_normal(mean.shape)
                v = np.rint(mean + z * np.sqrt(mean))
                f[r0:r1] = np.clip(v, 0, 65535).astype(np.uint16)
            else:
                i = rows * np.uint64(size) + cols
                f[r0:r1] = ((i * np.uint64(7) + np.uint64(k * 131)) % np.uint64(30000) + np.uint64(1)).astype(
                    np.uint16
                )
        frames.append(f)
    return frames


# --------------------------------------------------------------------------------------
# Durability and sizes
# --------------------------------------------------------------------------------------


def _fsync_path(path: str, directory: bool) -> None:
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(out: Path) -> None:
    """fsync every file under `out` (or `out` itself), then every directory bottom-up,
    then `out`'s parent."""
    if out.is_file():
        _fsync_path(str(out), False)
    else:
        for root, _dirs, files in os.walk(out):
            for name in files:
                _fsync_path(os.path.join(root, name), False)
        for root, _dirs, _files in os.walk(out, topdown=False):
            _fsync_path(root, True)
    _fsync_path(str(out.parent), True)


def size_on_disk(out: Path) -> int:
    if out.is_file():
        return out.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(out):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def remove(out: Path) -> None:
    if out.is_dir():
        shutil.rmtree(out, ignore_errors=True)
    elif out.exists():
        out.unlink()


# --------------------------------------------------------------------------------------
# The writers (each runs in a child process: `peers.py --child WRITER ...`)
# --------------------------------------------------------------------------------------


class Unavailable(Exception):
    """The writer cannot run this workload (import failure, unsupported codec...)."""


def _indices(workload: str, frames: int):
    """Storage indices of each frame, in acquisition order (rightmost fastest)."""
    import itertools

    return list(itertools.product(*[range(s) for s in shape_of(workload, frames)]))


def write_disk(out: Path, workload: str, frames: int, pool) -> str:
    n = total_frames(workload, frames)
    with open(out, "wb", buffering=0) as f:
        for i in range(n):
            f.write(memoryview(pool[i % len(pool)]).cast("B"))
        os.fsync(f.fileno())
    return "raw bytes to one file + fsync"


def _ts_codecs(workload: str) -> tuple[list, str]:
    raw = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if workload == "w3-zstd":
        return raw + [{"name": "zstd", "configuration": {"level": 1}}], "zstd L1"
    if workload == "w3-lz4":
        blosc = {"cname": "lz4", "clevel": 1, "shuffle": "shuffle", "typesize": 2, "blocksize": 0}
        return raw + [{"name": "blosc", "configuration": blosc}], "blosc-lz4 L1 shuffle"
    return raw, "uncompressed"


def write_tensorstore(out: Path, workload: str, frames: int, size: int, pool, window_mib: int) -> str:
    """tensorstore's zarr3 driver, used directly: asynchronous writes, at most
    `window_mib` MiB of frames in flight (our stream's default queue bound); W2
    writes each shard's 8 frames in one transaction (no read-modify-write)."""
    try:
        import tensorstore as ts
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import tensorstore: {e}") from e

    lead = shape_of(workload, frames)
    codecs, note = _ts_codecs(workload)
    if workload == "w2":
        inner = [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": [1, 1, 1, size, size],
            "codecs": codecs,
            "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
            "index_location": "end",
        }}]
        grid, codecs, names = [1, 1, lead[2], size, size], inner, ["t", "c", "z", "y", "x"]
        note += ", shards of 8 (one transaction per shard)"
    else:
        grid, names = [1, size, size], ["t", "y", "x"]
    spec = {
        "driver": "zarr3",
        "kvstore": {"driver": "file", "path": str(out)},
        "metadata": {
            "shape": [*lead, size, size],
            "data_type": "uint16",
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": grid}},
            "chunk_key_encoding": {"name": "default"},
            "codecs": codecs,
            "fill_value": 0,
            "dimension_names": names,
        },
        "create": True,
        "delete_existing": True,
    }
    frame_bytes = size * size * 2
    window = max(1, (window_mib << 20) // frame_bytes)
    arr = ts.open(spec).result()
    pending: list = []  # futures, oldest first; each stands for `weight` frames
    in_flight = 0

    def admit(fut, weight: int) -> None:
        nonlocal in_flight
        pending.append((fut, weight))
        in_flight += weight
        while in_flight > window and pending:
            f, w = pending.pop(0)
            f.result()
            in_flight -= w

    idx = _indices(workload, frames)
    if workload == "w2":
        per_shard = lead[2]
        txn, tarr, staged = None, None, []
        for n, ix in enumerate(idx):
            if txn is None:
                txn = ts.Transaction()
                tarr = arr.with_transaction(txn)
            staged.append(tarr[ix].write(pool[n % len(pool)]))
            if ix[2] == per_shard - 1:
                for s in staged:
                    s.result()  # copied into the transaction
                staged = []
                admit(txn.commit_async(), per_shard)
                txn = None
        if txn is not None:
            for s in staged:
                s.result()
            admit(txn.commit_async(), len(staged))
    else:
        for n, ix in enumerate(idx):
            admit(arr[ix].write(pool[n % len(pool)]), 1)
    for f, _w in pending:
        f.result()
    return note + f", <= {window} frames in flight"


def write_acquire_zarr(out: Path, workload: str, frames: int, size: int, pool) -> str:
    try:
        import acquire_zarr as az
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import acquire_zarr: {e}") from e

    lead = shape_of(workload, frames)
    kinds = {"t": az.DimensionType.TIME, "c": az.DimensionType.CHANNEL, "z": az.DimensionType.SPACE}
    names = ["t", "c", "z"] if workload == "w2" else ["t"]
    dims = []
    for name, count in zip(names, lead):
        shard = count if (workload == "w2" and name == "z") else 1
        dims.append(az.Dimension(name=name, kind=kinds[name], array_size_px=count, chunk_size_px=1,
                                 shard_size_chunks=shard))
    for name in ("y", "x"):
        dims.append(az.Dimension(name=name, kind=az.DimensionType.SPACE, array_size_px=size,
                                 chunk_size_px=size, shard_size_chunks=1))
    compression, note = None, "uncompressed"
    if workload == "w3-zstd":
        # acquire-zarr has no plain zstd codec: its nearest is blosc-zstd.
        compression = az.CompressionSettings(compressor=az.Compressor.BLOSC1,
                                             codec=az.CompressionCodec.BLOSC_ZSTD, level=1, shuffle=1)
        note = "blosc-zstd L1 shuffle (no plain zstd in acquire-zarr)"
    elif workload == "w3-lz4":
        compression = az.CompressionSettings(compressor=az.Compressor.BLOSC1,
                                             codec=az.CompressionCodec.BLOSC_LZ4, level=1, shuffle=1)
        note = "blosc-lz4 L1 shuffle"
    if workload == "w2":
        note += ", shards of 8"
    settings = az.StreamSettings(
        store_path=str(out),
        overwrite=True,
        arrays=[az.ArraySettings(dimensions=dims, data_type=az.DataType.UINT16, compression=compression)],
    )
    stream = az.ZarrStream(settings)
    for n in range(total_frames(workload, frames)):
        stream.append(pool[n % len(pool)])
    stream.close()
    return note


OMEW_NOTE = {
    "w1": "uncompressed",
    "w2": "uncompressed, shards of 8",
    "w3-zstd": "zstd L1",
    "w3-lz4": "blosc-lz4 L1 shuffle",
    "tiff": "uncompressed BigTIFF",
}
OW_COMPRESSION = {"w1": None, "w2": None, "w3-zstd": "zstd", "w3-lz4": "blosc-lz4", "tiff": None}


def write_ome_writers(out: Path, workload: str, frames: int, size: int, pool, backend: str) -> str:
    try:
        import ome_writers as ow
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import ome_writers: {e}") from e
    from ome_writers import AcquisitionSettings, Dimension, create_stream

    lead = shape_of(workload, frames)
    if workload == "w2":
        dims = [
            Dimension(name="t", count=lead[0], type="time"),
            Dimension(name="c", count=lead[1], type="channel"),
            Dimension(name="z", count=lead[2], type="space", shard_size_chunks=lead[2]),
        ]
    else:
        dims = [Dimension(name="t", count=lead[0], type="time")]
    dims += [Dimension(name="y", count=size, type="space"), Dimension(name="x", count=size, type="space")]
    if backend == "tifffile":
        fmt = ow.OmeTiffFormat(backend="tifffile")
    else:
        fmt = ow.OmeZarrFormat(backend=backend)
    compression = OW_COMPRESSION[workload]
    try:
        settings = AcquisitionSettings(root_path=str(out), dimensions=dims, dtype="uint16", format=fmt,
                                       compression=compression, overwrite=True)
        stream = create_stream(settings)
    except (ValueError, NotImplementedError, ImportError) as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise Unavailable(f"{type(e).__name__}: {first[:160]}") from e
    for n in range(total_frames(workload, frames)):
        stream.append(pool[n % len(pool)])
    stream.close()
    # The library fixes the levels (yaozarrs / its acquire-zarr backend): zstd L3,
    # blosc-lz4 L5 (shuffle); the settings have no level field.
    level = {"zstd": "zstd L3 (fixed by the library)", "blosc-lz4": "blosc-lz4 L5 shuffle (fixed by the library)"}
    note = level.get(compression or "", "uncompressed")
    if workload == "w2":
        note += ", shards of 8"
    return note


def write_omew_python(out: Path, workload: str, frames: int, size: int, pool) -> str:
    """Our writer through ome_writers_rs, with omew bench-one's settings (levels 1)."""
    try:
        from ome_writers_rs import create_stream
    except Exception as e:  # noqa: BLE001
        raise Unavailable(f"import ome_writers_rs: {e} (pip install ./python)") from e
    lead = shape_of(workload, frames)
    names = [("t", "time"), ("c", "channel"), ("z", "space")] if workload == "w2" else [("t", "time")]
    dims = [{"name": n, "count": c, "type": k} for (n, k), c in zip(names, lead, strict=True)]
    if workload == "w2":
        dims[-1]["shard_size_chunks"] = lead[-1]
    dims += [{"name": "y", "count": size, "type": "space"}, {"name": "x", "count": size, "type": "space"}]
    compression = OW_COMPRESSION[workload]
    settings = {"root_path": str(out), "dimensions": dims, "dtype": "uint16", "overwrite": True,
                "compression": compression}
    if compression:
        settings["compression_level"] = 1
    with create_stream(settings) as stream:
        for n in range(total_frames(workload, frames)):
            stream.append(pool[n % len(pool)])
    return OMEW_NOTE[workload] + " (from Python)"


def output_path(dirpath: Path, writer: str, workload: str) -> Path:
    suffix = ".ome.tiff" if workload == "tiff" else ".ome.zarr"
    if writer == "disk":
        suffix = ".raw"
    return dirpath / f"peer-{writer}-{workload}{suffix}"


def child_main(args) -> int:
    """One writer run; prints one JSON line on stdout."""
    result: dict = {"writer": args.child, "workload": args.workload}
    dirpath = Path(args.dir)
    out = output_path(dirpath, args.child, args.workload)
    remove(out)
    try:
        realistic = args.workload.startswith("w3")
        pool = make_frames(args.size, realistic)
        # Import the library before the clock starts.
        writer = args.child
        if writer == "tensorstore" or writer == "ow-tensorstore":
            __import__("tensorstore")
        if writer in ("acquire-zarr", "ow-acquire-zarr"):
            __import__("acquire_zarr")
        if writer.startswith("ow-"):
            __import__("ome_writers")
        if writer == "ow-zarrs-python":
            __import__("zarrs")
        if writer in ("ow-zarr-python", "ow-zarrs-python"):
            __import__("zarr")
        if writer == "ow-tifffile":
            __import__("tifffile")
        if writer == "omew-python":
            __import__("ome_writers_rs")
    except ImportError as e:
        result["unavailable"] = f"import failed: {e}"
        print(json.dumps(result), flush=True)
        return 0
    try:
        started = time.perf_counter()
        if writer == "disk":
            note = write_disk(out, args.workload, args.frames, pool)
        elif writer == "tensorstore":
            note = write_tensorstore(out, args.workload, args.frames, args.size, pool, args.ts_window_mib)
        elif writer == "acquire-zarr":
            note = write_acquire_zarr(out, args.workload, args.frames, args.size, pool)
        elif writer == "omew-python":
            note = write_omew_python(out, args.workload, args.frames, args.size, pool)
        elif writer.startswith("ow-"):
            note = write_ome_writers(out, args.workload, args.frames, args.size, pool, writer[3:])
        else:
            raise Unavailable(f"unknown writer {writer}")
        if writer in DURABLE_AT_CLOSE:
            seconds = time.perf_counter() - started
            fsync_tree(out)
            result["redundant_fsync_s"] = time.perf_counter() - started - seconds
        else:
            fsync_tree(out)
            seconds = time.perf_counter() - started
        result.update(
            seconds=seconds,
            bytes=total_frames(args.workload, args.frames) * args.size * args.size * 2,
            bytes_on_disk=size_on_disk(out),
            note=note,
        )
    except Unavailable as e:
        result["unavailable"] = str(e)
    except Exception as e:  # noqa: BLE001
        msg = str(e).strip().splitlines()
        result["unavailable"] = f"failed: {type(e).__name__}: {msg[0][:200] if msg else ''}"
    finally:
        remove(out)
    print(json.dumps(result), flush=True)
    return 0


# --------------------------------------------------------------------------------------
# The parent: runs children, measures their peak RSS, prints the table
# --------------------------------------------------------------------------------------


def run_child(cmd: list[str], timeout: float) -> tuple[dict | None, str, int]:
    """Run `cmd`; return (last JSON line of stdout, stderr tail, ru_maxrss bytes)."""
    with tempfile.TemporaryFile() as so, tempfile.TemporaryFile() as se:
        proc = subprocess.Popen(cmd, stdout=so, stderr=se, start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        so.seek(0)
        se.seek(0)
        out = so.read().decode(errors="replace")
        err = se.read().decode(errors="replace")
    rss = usage.ru_maxrss * 1024  # KiB on Linux
    if timed_out.is_set():
        return {"unavailable": f"timed out after {timeout:.0f} s"}, err, rss
    row = None
    for line in reversed(out.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                row = json.loads(line)
                break
            except json.JSONDecodeError:
                continue
    if row is None:
        tail = (err.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        row = {"unavailable": f"crashed (exit {proc.returncode}): {tail[:200]}"}
    elif proc.returncode != 0 and "unavailable" not in row:
        row["unavailable"] = f"exit code {proc.returncode}"
    return row, err, rss


def run_writer(args, writer: str, workload: str) -> dict:
    dirpath = Path(args.dir)
    if writer == "omew":
        exe = Path(args.omew)
        if not exe.exists():
            return {"unavailable": f"{exe} not built (cargo build --release -p omew)"}
        root = dirpath / "omew"
        root.mkdir(parents=True, exist_ok=True)
        cmd = [str(exe), "bench-one", "--workload", workload, "--dir", str(root),
               "--frames", str(args.frames), "--size", str(args.size)]
        row, err, rss = run_child(cmd, args.timeout)
        shutil.rmtree(root, ignore_errors=True)
        if row and "unavailable" not in row:
            # bench-one's own figures: its time covers create + appends + finish
            # (finish makes the output durable); we use raw bytes of the workload.
            row = {
                "seconds": row.get("seconds"),
                "bytes": total_frames(workload, args.frames) * args.size * args.size * 2,
                "bytes_on_disk": row.get("bytes_on_disk"),
                "append_p99_us": row.get("append_p99_us"),
                "note": OMEW_NOTE[workload],
            }
        elif row and "crashed" in row.get("unavailable", "") and err.strip():
            row["unavailable"] = "failed: " + err.strip().splitlines()[-1][:200]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", writer, "--workload", workload,
               "--dir", str(dirpath), "--frames", str(args.frames), "--size", str(args.size),
               "--ts-window-mib", str(args.ts_window_mib)]
        row, err, rss = run_child(cmd, args.timeout)
        if args.verbose and err.strip():
            print(err, file=sys.stderr)
    row = dict(row or {})
    row["writer"] = writer
    row["workload"] = workload
    if "unavailable" not in row:
        row["peak_rss_bytes"] = rss
        row["mb_per_s"] = row["bytes"] / row["seconds"] / 1e6
    return row


def versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("ome-writers-rs", "numpy", "tensorstore", "acquire-zarr", "ome-writers", "zarr", "zarrs", "tifffile", "yaozarrs"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def machine_note(dirpath: Path) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1048576:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    fs = ""
    try:
        best = ""
        target = str(dirpath.resolve())
        for line in Path("/proc/mounts").read_text().splitlines():
            dev, mnt, typ = line.split()[:3]
            if target.startswith(mnt) and len(mnt) >= len(best):
                best, fs = mnt, f", output on {typ} ({dev} at {mnt})"
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}){mem}{fs}; Linux {platform.release()}; "
            f"Python {platform.python_version()}")


def fmt(v, digits: int = 0, scale: float = 1.0) -> str:
    return "-" if v is None else f"{v * scale:.{digits}f}"


def table(results: list[dict], args, disk: dict[str, dict]) -> str:
    lines = [
        f"Each workload: {args.frames} frames of {args.size}x{args.size} uint16 "
        f"({args.frames * args.size * args.size * 2 / 1e9:.2f} GB raw; W2 uses "
        f"{total_frames('w2', args.frames)} frames). Time = create + appends + close + fsync "
        "(omew, omew-python: their finish/close fsyncs).",
        "",
        "| workload | writer | codec / notes | MB/s | x disk | peak RSS MiB | compression | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wl = WORKLOAD_NAMES[r["workload"]]
        if r["writer"] == "disk":
            d = disk[r["workload"]]
            lines.append(f"| {wl} | disk reference | one raw file + fsync; runs before/after: "
                         f"{fmt(d['before'])}/{fmt(d['after'])} MB/s | {fmt(d['mean'])} | 1.00 | "
                         f"{fmt(d.get('rss'), 0, 1 / 1048576)} | - | - |")
            continue
        if "unavailable" in r:
            lines.append(f"| {wl} | {r['writer']} | unavailable: {r['unavailable']} | - | - | - | - | - |")
            continue
        ref = disk[r["workload"]]["mean"]
        ratio = r["mb_per_s"] / ref if ref else None
        comp = r["bytes"] / r["bytes_on_disk"] if r.get("bytes_on_disk") else None
        lines.append(
            f"| {wl} | {r['writer']} | {r.get('note', '')} | {fmt(r['mb_per_s'])} | {fmt(ratio, 2)} | "
            f"{fmt(r['peak_rss_bytes'], 0, 1 / 1048576)} | {fmt(comp, 2)} | {fmt(r['seconds'], 2)} |"
        )
    lines.append("")
    lines.append(f"Machine: {machine_note(Path(args.dir))}.")
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".")
    return "\n".join(lines) + "\n"


def parent_main(args) -> int:
    dirpath = Path(args.dir)
    dirpath.mkdir(parents=True, exist_ok=True)
    workloads = [w.strip() for w in args.workloads.split(",") if w.strip()]
    for w in workloads:
        if w not in WORKLOADS:
            print(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}", file=sys.stderr)
            return 2
    only = [w.strip() for w in args.writers.split(",")] if args.writers else None
    if only:
        bad = [w for w in only if w not in ALL_WRITERS]
        if bad:
            print(f"unknown writer(s) {bad}; choose from {', '.join(ALL_WRITERS)}", file=sys.stderr)
            return 2
    print(f"peers: {args.frames} frames of {args.size}x{args.size} uint16 per workload, in {dirpath}",
          file=sys.stderr)
    results: list[dict] = []
    disk: dict[str, dict] = {}
    for w in workloads:
        ref_before = run_writer(args, "disk", w)
        rows = []
        for writer in writers_for(w):
            if only and writer not in only:
                continue
            row = run_writer(args, writer, w)
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
        ref_after = run_writer(args, "disk", w)
        speeds = [r["mb_per_s"] for r in (ref_before, ref_after) if "mb_per_s" in r]
        disk[w] = {
            "before": ref_before.get("mb_per_s"),
            "after": ref_after.get("mb_per_s"),
            "mean": sum(speeds) / len(speeds) if speeds else None,
            "rss": ref_before.get("peak_rss_bytes"),
        }
        print(json.dumps({"workload": w, "disk_reference": disk[w]}), file=sys.stderr, flush=True)
        results.append({"writer": "disk", "workload": w})
        results.extend(rows)
    md = table(results, args, disk)
    print(md, end="")
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(md)
    if args.json:
        for r in results:
            if r["writer"] == "disk":
                r.update({"disk_reference_mb_per_s": disk[r["workload"]]})
            elif "mb_per_s" in r and disk[r["workload"]]["mean"]:
                r["ratio_to_disk"] = r["mb_per_s"] / disk[r["workload"]]["mean"]
        Path(args.json).write_text(json.dumps({"frames": args.frames, "size": args.size,
                                               "machine": machine_note(dirpath), "versions": versions(),
                                               "results": results}, indent=1))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=256, help="frames per workload (default 256)")
    p.add_argument("--size", type=int, default=2048, help="frame height = width (default 2048)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {','.join(WORKLOADS)}")
    p.add_argument("--writers", default="", help=f"comma list, default all: {','.join(ALL_WRITERS)}")
    p.add_argument("--dir", default=str(REPO / "target" / "peers-bench"), help="output directory")
    p.add_argument("--omew", default=str(REPO / "target" / "release" / "omew"), help="omew binary")
    p.add_argument("--markdown", help="also write the Markdown table to this file")
    p.add_argument("--json", help="also write all results as JSON to this file")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per writer run (default 600)")
    p.add_argument("--ts-window-mib", type=int, default=256,
                   help="tensorstore direct: MiB of frames in flight at most (default 256, our queue bound)")
    p.add_argument("--verbose", action="store_true", help="show the children's stderr")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.frames < 1 or args.size < 1:
        p.error("--frames and --size must be positive")
    if args.child:
        return child_main(args)
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
