"""Our pyramid beside the peers': ome-zarr-py's reader lists our levels; acquire-zarr,
fed level 0 of our dataset frame by frame (T outermost, Y, X), writes its pyramid,
compared level by level (shapes, and pixels where its rounding agrees).

usage: check_pyramid_peers.py OURS.ome.zarr METHOD OUT_DIR  -> prints one JSON line
"""
import json, sys, warnings

import numpy as np
import zarr

ours_path, method, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
ours = zarr.open_group(ours_path, mode="r")
paths = [d["path"] for d in ours.attrs["ome"]["multiscales"][0]["datasets"]]
levels = [ours[p][...] for p in paths]

# ome-zarr-py's reader.
from ome_zarr.io import parse_url
from ome_zarr.reader import Reader

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    nodes = list(Reader(parse_url(ours_path))())
omezarr_shapes = [list(d.shape) for d in nodes[0].data]

# acquire-zarr on the same frames.
import acquire_zarr as aqz

l0 = levels[0]
t, h, w = l0.shape
dtype = {np.dtype("uint8"): aqz.DataType.UINT8, np.dtype("uint16"): aqz.DataType.UINT16,
         np.dtype("float32"): aqz.DataType.FLOAT32}[l0.dtype]
settings = aqz.StreamSettings(
    store_path=out_dir,
    overwrite=True,
    arrays=[aqz.ArraySettings(
        output_key="img",
        data_type=dtype,
        downsampling_method=getattr(aqz.DownsamplingMethod, method.upper()),
        max_levels=len(levels) - 1,
        dimensions=[
            aqz.Dimension(name="t", kind=aqz.DimensionType.TIME, array_size_px=t, chunk_size_px=1, shard_size_chunks=1),
            aqz.Dimension(name="y", kind=aqz.DimensionType.SPACE, array_size_px=h, chunk_size_px=ours["0"].chunks[1], shard_size_chunks=1),
            aqz.Dimension(name="x", kind=aqz.DimensionType.SPACE, array_size_px=w, chunk_size_px=ours["0"].chunks[2], shard_size_chunks=1),
        ],
    )],
)
stream = aqz.ZarrStream(settings)
for frame in l0:
    stream.append(np.ascontiguousarray(frame))
stream.close()
theirs = zarr.open_group(out_dir + "/img", mode="r")
their_paths = [d["path"] for d in theirs.attrs["ome"]["multiscales"][0]["datasets"]]
report = {"ours": [list(a.shape) for a in levels], "ome_zarr": omezarr_shapes,
          "acquire": [list(theirs[p].shape) for p in their_paths], "pixels": []}
for k, p in enumerate(their_paths):
    if k >= len(levels):
        break
    a, b = levels[k], theirs[p][...]
    if a.shape != b.shape:
        report["pixels"].append(None)
        continue
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    report["pixels"].append({"equal": int((diff == 0).sum()), "total": int(diff.size),
                             "max_diff": float(diff.max())})
print(json.dumps(report))
