#!/usr/bin/env python3
"""omew-python against omew bench-one, like with like (issue 14's bar: >= 0.95x).

Each pair runs, back to back and in alternating order, the same workload twice, each
in its own process, writing to the same directory:

- ``omew``: ``omew bench-one --workload W`` (its camera copies each frame from a pool
  of 8 into the stream's pooled buffer, or with ``--camera in-place`` fills it in place);
- ``python``: ``ome_writers_rs.create_stream`` + ``stream.append(numpy_frame)`` from a
  pool of 8 numpy frames (``--mode append``: one copy into the pooled buffer, as
  ``--camera copy``), or ``next_buffer()`` / ``append_buffer()`` (``--mode buffer``:
  ``frame[...] = pool[k]`` into the pooled buffer, the same one copy; ``--mode
  buffer-in-place``: the copy only into a fresh buffer, as ``--camera in-place``).

Both time the same span: create + all appends + close/finish (which makes the data
durable), after the frames are generated and the library imported. The Python child
also reports the time of peers.py's extra ``fsync_tree`` after close (not in the
ratio). Prints one JSON line per run and a Markdown table of the pairs.

    python benches/python_ratio.py --workloads w1,tiff --pairs 3 --dir target/ratio
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import peers  # noqa: E402  (make_frames, fsync_tree, shape_of: the peers' definitions)

SUFFIX = {"w1": ".ome.zarr", "w2": ".ome.zarr", "w3-zstd": ".ome.zarr", "w3-lz4": ".ome.zarr",
          "tiff": ".ome.tiff"}


def settings_for(out: Path, workload: str, frames: int, size: int) -> dict:
    """The settings of crates/cli/src/bench.rs's workload, as a dict."""
    yx = [{"name": "y", "count": size}, {"name": "x", "count": size}]
    if workload == "w2":
        dims = [{"name": "t", "count": max(1, frames // 16)}, {"name": "c", "count": 2},
                {"name": "z", "count": 8, "shard_size_chunks": 8}]
    else:
        dims = [{"name": "t", "count": frames}]
    comp = {"w3-zstd": "zstd", "w3-lz4": "blosc-lz4"}.get(workload, "none")
    s = {"root_path": str(out), "dtype": "uint16", "dimensions": dims + yx, "compression": comp,
         "overwrite": True}
    if comp != "none":
        s["compression_level"] = 1
    return s


def child(args) -> int:
    from ome_writers_rs import create_stream

    out = Path(args.dir) / f"python{SUFFIX[args.workload]}"
    peers.remove(out)
    pool = peers.make_frames(args.size, args.workload.startswith("w3"))
    n = peers.total_frames(args.workload, args.frames)
    settings = settings_for(out, args.workload, args.frames, args.size)
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with create_stream(settings) as stream:
        if args.mode == "append":
            for k in range(n):
                stream.append(pool[k % len(pool)])
        else:
            in_place = args.mode == "buffer-in-place"
            for k in range(n):
                buf = stream.next_buffer()
                if not in_place or buf[0, 0] == 0:
                    buf[...] = pool[k % len(pool)]
                stream.append_buffer(buf)
    seconds = time.perf_counter() - started
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    peers.fsync_tree(out)
    fsync_s = time.perf_counter() - started - seconds
    peers.remove(out)
    print(json.dumps({"seconds": seconds, "fsync_tree_s": fsync_s, "cpu_user_s": ru1.ru_utime - ru0.ru_utime,
                      "cpu_system_s": ru1.ru_stime - ru0.ru_stime}), flush=True)
    return 0


def run_json(cmd: list[str]) -> dict:
    p = subprocess.run(cmd, capture_output=True, text=True, check=False)
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"{cmd[0]} failed (exit {p.returncode}): {p.stderr.strip()[-400:]}")


def cpu(us: list[float]) -> str:
    return f"{us[0]:.2f}+{us[1]:.2f}"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", default="w1,tiff")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--frames", type=int, default=256)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--dir", default=str(REPO / "target" / "python-ratio"))
    p.add_argument("--omew", default=str(REPO / "target" / "release" / "omew"))
    p.add_argument("--mode", default="append", choices=["append", "buffer", "buffer-in-place"])
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--workload", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    camera = "in-place" if args.mode == "buffer-in-place" else "copy"
    total = args.frames * args.size * args.size * 2
    rows = []
    for w in [x.strip() for x in args.workloads.split(",") if x.strip()]:
        nbytes = peers.total_frames(w, args.frames) * args.size * args.size * 2
        for i in range(args.pairs):
            omew = [args.omew, "bench-one", "--workload", w, "--dir", str(d), "--frames",
                    str(args.frames), "--size", str(args.size), "--camera", camera]
            py = [sys.executable, __file__, "--child", "--workload", w, "--dir", str(d), "--frames",
                  str(args.frames), "--size", str(args.size), "--mode", args.mode]
            got = {}
            before = load()
            for name, cmd in ([("omew", omew), ("python", py)] if i % 2 == 0
                              else [("python", py), ("omew", omew)]):
                got[name] = run_json(cmd)
            o = nbytes / got["omew"]["seconds"] / 1e6
            q = nbytes / got["python"]["seconds"] / 1e6
            row = {"workload": w, "pair": i + 1, "omew_mb_s": o, "python_mb_s": q, "ratio": q / o,
                   "fsync_tree_s": got["python"]["fsync_tree_s"], "load": before,
                   "first": "omew" if i % 2 == 0 else "python",
                   "omew_cpu_s": [round(got["omew"]["cpu_user_s"], 2), round(got["omew"]["cpu_system_s"], 2)],
                   "python_cpu_s": [round(got["python"]["cpu_user_s"], 2), round(got["python"]["cpu_system_s"], 2)]}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
    print(f"{args.frames} frames of {args.size}x{args.size} uint16 ({total / 1e9:.2f} GB), "
          f"python mode {args.mode}, omew --camera {camera}; in {d}\n")
    print("| workload | pair | first | omew bench-one MB/s | omew-python MB/s | ratio | CPU user+sys s omew / python "
          "| load (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {peers.WORKLOAD_NAMES[r['workload']]} | {r['pair']} | {r['first']} | {r['omew_mb_s']:.0f} | "
              f"{r['python_mb_s']:.0f} | {r['ratio']:.2f} | {cpu(r['omew_cpu_s'])} / {cpu(r['python_cpu_s'])} | "
              f"{r['load']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
