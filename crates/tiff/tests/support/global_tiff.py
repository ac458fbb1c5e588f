"""Independent read-back of the global metadata of OME-TIFF files for the Rust tests.

Usage:
    python global_tiff.py PATH [PATH ...]

Prints one JSON object per line and path: its OME-XML (a TIFF's first-page
ImageDescription read by tifffile, whose pages must all read; or a companion file's
text) parsed by ome-types with XSD validation, whether it is BinaryOnly, the
MapAnnotations with IDs `Annotation:global:N` (id, namespace, entries with each value
parsed as JSON) and every AnnotationRef that points at one. Any reader error is a
non-zero exit with the reason on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ome_types
import tifffile

PREFIX = "Annotation:global:"


def refs(doc) -> list[str]:
    out = []
    for image in doc.images:
        out += [r.id for r in image.annotation_refs]
        for plane in image.pixels.planes:
            out += [r.id for r in plane.annotation_refs]
    return [r for r in out if r.startswith(PREFIX)]


def main() -> None:
    for arg in sys.argv[1:]:
        path = Path(arg)
        if path.name.lower().endswith((".ome.tif", ".ome.tiff")):
            with tifffile.TiffFile(path) as tf:
                for page in tf.pages:
                    page.asarray()
                xml = tf.pages[0].description
        else:
            xml = path.read_text()
        doc = ome_types.from_xml(xml, validate=True)
        maps = []
        if doc.structured_annotations is not None:
            for m in doc.structured_annotations.map_annotations:
                if m.id.startswith(PREFIX):
                    maps.append(
                        {
                            "id": m.id,
                            "ns": m.namespace,
                            "raw": {e.k: e.value for e in m.value.ms},
                            "entries": {e.k: json.loads(e.value) for e in m.value.ms},
                        }
                    )
        print(
            json.dumps(
                {
                    "path": str(path),
                    "binary_only": doc.binary_only is not None,
                    "maps": maps,
                    "refs": refs(doc),
                }
            )
        )


if __name__ == "__main__":
    main()
