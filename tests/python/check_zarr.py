"""Independently check OME-Zarr 0.5 stores written by the Rust tests.

Usage:
    python check_zarr.py [--strict] EXPECT.json [EXPECT.json ...]

Prints one line per EXPECT file, `ok <root>` or `FAIL <root>: reason`, and
exits non-zero if any file failed.  `--strict` also fails on yaozarrs
validation warnings (SHOULD-level recommendations); otherwise they are only
printed to stderr.

EXPECT.json (written by the Rust tests):

    {"root": "/abs/path/x.ome.zarr", "dtype": "uint16",
     "layout": "image" | "bioformats2raw" | "plate",
     "images": [{"group": "" | "p0" | "A/1/fov0", "shape": [...],
                 "dimension_names": ["t", "c", "z", "y", "x"],
                 "chunks": [...],            # inner chunk shape
                 "shards": [...] | null,     # shard shape, null = not sharded
                 "frames": [[[storage index without y,x], n], ...],
                 "frame_metadata_count": int  # optional, overrides top-level
                }],
     "plate": null | {"rows": [...], "columns": [...], "wells": ["A/1", ...]},
     "frame_metadata_count": null | int}

A `root` of `s3://BUCKET/KEY` (object storage, crates/ome-writers/tests/s3.rs) is
read over the S3 protocol with s3fs (endpoint and credentials from the standard AWS_*
environment): every array by zarr-python straight from the bucket, and the whole store
downloaded through s3fs for the metadata checks and yaozarrs.

For every image, `<root>/<group>/0` is read with zarr-python and compared with
the pattern described in _common.py.  `frame_metadata_count` (if not null) is
the expected length of `attributes.ome_writers.frame_metadata` in *each* image
group's zarr.json.  The whole store is validated with
`yaozarrs.validate_zarr_store(root)`, then the layout-specific metadata
(bioformats2raw series / plate + wells) is checked against the expectation.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import yaozarrs
import zarr
from yaozarrs._storage import StorageValidationError, StorageValidationWarning

from _common import CheckError, assert_pixels_equal, expected_array, run

STRICT = False


def group_attrs(root: Path, group: str) -> dict:
    """`attributes` of `<root>/<group>/zarr.json`, read as plain JSON."""
    path = root / group / "zarr.json"
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckError(f"missing {path}") from None
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "group":
        raise CheckError(f"{path} is not a zarr v3 group")
    return meta.get("attributes", {})


def expect_equal(what: str, got: object, want: object) -> None:
    if got != want:
        raise CheckError(f"{what}: got {got!r}, expected {want!r}")


def s3_options() -> dict:
    """s3fs options from the AWS_* environment (the test server's)."""
    import os
    return {
        "key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret": os.environ["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": os.environ["AWS_ENDPOINT_URL"],
                          "region_name": os.environ.get("AWS_REGION", "us-east-1")},
    }


def open_level0(root: Path, group: str, remote: str | None):
    """`<root>/<group>/0`, from the bucket when `remote` is an s3:// root."""
    if remote is None:
        return zarr.open_array(store=str(root / group / "0"), mode="r")
    url = "/".join(p for p in (remote.rstrip("/"), group, "0") if p)
    return zarr.open_array(store=url, mode="r", storage_options=s3_options())


def check_image(root: Path, dtype: np.dtype, img: dict, fm_count: int | None,
                remote: str | None = None) -> None:
    group = img["group"]
    where = f"image {group or '<root>'!r}"

    arr = open_level0(root, group, remote)
    expect_equal(f"{where} shape", list(arr.shape), list(img["shape"]))
    expect_equal(f"{where} dtype", str(arr.dtype), dtype.name)
    expect_equal(f"{where} dimension_names",
                 list(arr.metadata.dimension_names or []), list(img["dimension_names"]))
    expect_equal(f"{where} chunks", list(arr.chunks), list(img["chunks"]))
    if img.get("shards") is not None:
        expect_equal(f"{where} shards", list(arr.shards or []), list(img["shards"]))

    expected = expected_array(img["shape"], dtype, img["frames"])
    assert_pixels_equal(arr[...], expected, where)

    ome = group_attrs(root, group).get("ome", {})
    ms = (ome.get("multiscales") or [None])[0]
    if not ms:
        raise CheckError(f"{where}: no ome.multiscales in zarr.json")
    expect_equal(f"{where} multiscales axes",
                 [a.get("name") for a in ms.get("axes", [])], list(img["dimension_names"]))
    expect_equal(f"{where} first dataset path", ms["datasets"][0].get("path"), "0")

    fm_count = img.get("frame_metadata_count", fm_count)
    if fm_count is not None:
        ow = group_attrs(root, group).get("ome_writers", {})
        expect_equal(f"{where} len(ome_writers.frame_metadata)",
                     len(ow.get("frame_metadata", [])), fm_count)


def validate_store(root: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            group = yaozarrs.validate_zarr_store(str(root))
        except StorageValidationError as e:
            first = e.get_details()[0]
            loc = ".".join(map(str, first["loc"]))
            raise CheckError(f"yaozarrs: {first['msg']} (at {loc})\n{e}") from None
        except Exception as e:
            raise CheckError(f"yaozarrs validation failed: {e}") from None
    msgs = [d["msg"] for w in caught if isinstance(w.message, StorageValidationWarning)
            for d in w.message.get_details()]
    for m in msgs:
        print(f"warn {root}: yaozarrs: {m}", file=sys.stderr)
    if msgs and STRICT:
        raise CheckError(f"yaozarrs warning (--strict): {msgs[0]}")
    expect_equal("OME-Zarr version", group.ome_version(), "0.5")


def check_layout(root: Path, expect: dict) -> None:
    layout = expect["layout"]
    groups = [img["group"] for img in expect["images"]]
    ome = group_attrs(root, "").get("ome", {})
    expect_equal("root ome.version", ome.get("version"), "0.5")

    if layout == "image":
        expect_equal("image groups", groups, [""])
        if "multiscales" not in ome:
            raise CheckError("root group has no ome.multiscales")
    elif layout == "bioformats2raw":
        expect_equal('root ome."bioformats2raw.layout"', ome.get("bioformats2raw.layout"), 3)
        series = group_attrs(root, "OME").get("ome", {}).get("series")
        expect_equal("OME/zarr.json ome.series", series, groups)
    elif layout == "plate":
        plate, want = ome.get("plate"), expect["plate"]
        if not plate:
            raise CheckError("root group has no ome.plate")
        rows = [r["name"] for r in plate.get("rows", [])]
        cols = [c["name"] for c in plate.get("columns", [])]
        expect_equal("plate rows", rows, want["rows"])
        expect_equal("plate columns", cols, want["columns"])
        expect_equal("plate wells", [w["path"] for w in plate.get("wells", [])], want["wells"])
        for w in plate["wells"]:
            r, c = w["path"].split("/")
            expect_equal(f"well {w['path']} (rowIndex, columnIndex)",
                         (w.get("rowIndex"), w.get("columnIndex")),
                         (rows.index(r), cols.index(c)))
            well = group_attrs(root, w["path"]).get("ome", {}).get("well")
            if not well:
                raise CheckError(f"well {w['path']}: no ome.well in zarr.json")
            want_imgs = [g.rsplit("/", 1)[1] for g in groups
                         if g.rsplit("/", 1)[0] == w["path"]]
            expect_equal(f"well {w['path']} images",
                         [i.get("path") for i in well.get("images", [])], want_imgs)
    else:
        raise CheckError(f"unknown layout {layout!r} in EXPECT")


def download(remote: str) -> Path:
    """The whole store under `remote`, copied through s3fs into a temporary folder."""
    import tempfile
    import s3fs
    fs = s3fs.S3FileSystem(**s3_options())
    local = Path(tempfile.mkdtemp(prefix="omew-s3-check-")) / remote.rstrip("/").rsplit("/", 1)[-1]
    prefix = remote.removeprefix("s3://").rstrip("/")
    keys, folders = [], [prefix]
    while folders:  # listed folder by folder (delimiter listings, which every server has)
        for entry in fs.ls(folders.pop(), detail=True, refresh=True):
            (keys if entry["type"] == "file" else folders).append(entry["name"])
    if not keys:
        raise CheckError(f"no objects under {remote}")
    for key in keys:
        target = local / key[len(prefix) + 1:]
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.get_file(key, str(target))
    return local


def check(expect: dict) -> None:
    remote = expect["root"] if str(expect["root"]).startswith("s3://") else None
    root = download(remote) if remote else Path(expect["root"])
    if not (root / "zarr.json").is_file():
        raise CheckError(f"no zarr.json at {root}")
    dtype = np.dtype(expect["dtype"])
    for img in expect["images"]:
        check_image(root, dtype, img, expect.get("frame_metadata_count"), remote)
    validate_store(root)
    check_layout(root, expect)


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--strict" in args:
        args.remove("--strict")
        STRICT = True
    sys.exit(run(args, check, lambda e: e["root"]))
