"""Independent read-back of OME-TIFF files for the Rust tests.

Usage:
    python inspect_tiff.py PATH [PATH ...]

Prints one JSON object per line and path: every page read with tifffile (its bytes as
hex, native byte order), the shapes of tifffile's series, and the OME-XML that
describes the file (its own, or the one its BinaryOnly names) parsed by ome-types with
XSD validation: per image the sizes, DimensionOrder, the TiffData plane count, the
acquisition record and the Plane elements with their per-frame metadata. Any reader
error (an invalid document included) is a non-zero exit with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ome_types
import tifffile

RECORD_NS = "https://github.com/ome-writers-rs/ome-writers-rs/acquisition"


def describing_xml(path: Path, own: str) -> str:
    doc = ome_types.from_xml(own, validate=True)
    if doc.binary_only is None:
        return own
    target = path.parent / doc.binary_only.metadata_file
    if target.suffix.lower() in (".tif", ".tiff"):
        with tifffile.TiffFile(target) as master:
            return master.pages[0].description
    return target.read_text()


def maps_by_id(doc) -> dict:
    sa = doc.structured_annotations
    maps = getattr(sa, "map_annotations", None) or [
        a for a in (sa or []) if type(a).__name__ == "MapAnnotation"
    ]
    return {a.id: a for a in maps}


def entries(annotation) -> dict:
    return {m.k: m.value for m in annotation.value.ms}


def image_json(image, maps: dict) -> dict:
    px = image.pixels
    record = {}
    for ref in image.annotation_refs:
        a = maps.get(ref.id)
        if a is not None and a.namespace == RECORD_NS:
            record = entries(a)
    planes = []
    for p in px.planes:
        extra = {}
        for ref in p.annotation_refs:
            if ref.id in maps:
                extra.update(entries(maps[ref.id]))
        planes.append({
            "the_z": p.the_z, "the_c": p.the_c, "the_t": p.the_t,
            "delta_t": p.delta_t, "exposure_time": p.exposure_time,
            "position_x": p.position_x, "position_y": p.position_y,
            "position_z": p.position_z, "extra": extra,
        })
    return {
        "id": image.id,
        "size_z": px.size_z, "size_c": px.size_c, "size_t": px.size_t,
        "dimension_order": px.dimension_order.value,
        "plane_count": sum(td.plane_count or 0 for td in px.tiff_data_blocks),
        "record": record,
        "planes": planes,
    }


def inspect(path: Path) -> dict:
    with tifffile.TiffFile(path) as tf:
        pages = [page.asarray().tobytes().hex() for page in tf.pages]
        own = tf.pages[0].description
        series = [list(s.shape) for s in tf.series]
        is_ome = tf.is_ome
    doc = ome_types.from_xml(describing_xml(path, own), validate=True)
    maps = maps_by_id(doc)
    return {
        "path": str(path),
        "is_ome": is_ome,
        "pages": pages,
        "series": series,
        "images": [image_json(i, maps) for i in doc.images],
    }


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(inspect(Path(arg))))
