"""Independently check OME-TIFF files written by the Rust tests.

Usage:
    python check_tiff.py EXPECT.json [EXPECT.json ...]

Prints one line per EXPECT file, `ok <label>` or `FAIL <label>: reason`, and
exits non-zero if any file failed.  The label is EXPECT's optional "root", or
else the path of its first file.

EXPECT.json (written by the Rust tests):

    {"files": [{"path": "/abs/x.ome.tiff", "dtype": "uint16",
                "shape": [...], "axes": "TCZYX",
                "frames": [[[index without y,x], n], ...]}],
     "xml_valid": true,            # optional (default true): XSD-validate the XML
     "xml_files": ["/abs/x.companion.ome"],   # optional extra OME-XML files
     "root": "/abs/x"}             # optional label for the ok/FAIL line

Each file is read with tifffile and compared with the pattern described in
_common.py.  For a single-file OME-TIFF that is series 0; for multi-file sets
it is the first OME Image whose TiffData is stored in *that* file, and a
`BinaryOnly` description is resolved through its MetadataFile (companion
.ome file or master OME-TIFF), which is then XSD-validated as well.
`axes`/`shape` may name every axis (e.g. "TCZYX" with size-1 dims) or only
some: axes tifffile reports that are absent from `axes` must have size 1.
With `xml_valid`, the OME-XML in the first page's ImageDescription (and every
`xml_files` entry) must validate against the OME 2016-06 XSD shipped with
ome-types (lxml).
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

import numpy as np
import ome_types
import tifffile
from lxml import etree

from _common import CheckError, assert_pixels_equal, expected_array, run

OME_NS = "http://www.openmicroscopy.org/Schemas/OME/2016-06"
XSD = Path(ome_types.__file__).parent / "ome-2016-06.xsd"


@cache
def ome_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def validate_ome_xml(xml: str | bytes, where: str) -> None:
    if isinstance(xml, str):
        xml = xml.encode()
    try:
        doc = etree.fromstring(xml)
    except etree.XMLSyntaxError as e:
        raise CheckError(f"{where}: OME-XML is not well-formed: {e}") from None
    if doc.tag != f"{{{OME_NS}}}OME":
        raise CheckError(f"{where}: root element is {doc.tag}, expected OME 2016-06")
    schema = ome_schema()
    if not schema.validate(doc):
        errs = "\n".join(f"  line {e.line}: {e.message}" for e in schema.error_log)
        first = schema.error_log[0]
        raise CheckError(
            f"{where}: OME-XML invalid (line {first.line}: {first.message})\n{errs}"
        )


def own_series_index(omexml: str, own_uuid: str | None, filename: str) -> int:
    """Index of the first OME Image whose TiffData lives in this file.

    In multi-file OME-TIFF every file (or the companion) describes all images,
    so "series 0" of file N is not necessarily stored in file N.
    """
    images = etree.fromstring(omexml.encode()).findall(f"{{{OME_NS}}}Image")
    for i, image in enumerate(images):
        for td in image.iter(f"{{{OME_NS}}}TiffData"):
            uuid = td.find(f"{{{OME_NS}}}UUID")
            if uuid is None or uuid.text == own_uuid or uuid.get("FileName") == filename:
                return i
    raise CheckError(f"{filename}: no OME Image has TiffData in this file")


def check_file(spec: dict, xml_valid: bool) -> None:
    path = Path(spec["path"])
    dtype = np.dtype(spec["dtype"])
    want_axes, want_shape = spec["axes"].upper(), list(spec["shape"])

    with tifffile.TiffFile(path) as tf:
        if not tf.is_ome:
            raise CheckError(f"{path.name}: tifffile does not see an OME-TIFF")
        description = tf.pages[0].description
    own = etree.fromstring(description.encode())
    omexml, xml_docs = description, [(description, f"{path.name} ImageDescription")]
    binary_only = own.find(f"{{{OME_NS}}}BinaryOnly")
    if binary_only is not None:  # metadata lives in a companion file
        companion = path.parent / binary_only.get("MetadataFile", "")
        if companion.suffix.lower() in (".tif", ".tiff"):  # "master" OME-TIFF
            with tifffile.TiffFile(companion) as master:
                omexml = master.pages[0].description
        else:
            omexml = companion.read_text()
        xml_docs.append((omexml, companion.name))
    index = own_series_index(omexml, own.get("UUID"), path.name)

    with tifffile.TiffFile(path, omexml=omexml if binary_only is not None else None) as tf:
        n_images = len(etree.fromstring(omexml.encode()).findall(f"{{{OME_NS}}}Image"))
        if len(tf.series) != n_images:
            raise CheckError(f"{path.name}: tifffile found {len(tf.series)} series, "
                             f"OME-XML has {n_images} Images")
        series = tf.series[index]
        # keep the axes named in EXPECT; all others must be singleton
        full = list(zip(series.get_axes(False), series.get_shape(False)))
        got_axes = "".join(a for a, _ in full if a in want_axes)
        got_shape = [n for a, n in full if a in want_axes]
        extra = [f"{a}={n}" for a, n in full if a not in want_axes and n != 1]
        if got_axes != want_axes or got_shape != want_shape or extra:
            raise CheckError(
                f"{path.name}: series {index} axes/shape {series.axes} {list(series.shape)} "
                f"(unsqueezed {series.get_axes(False)} {list(series.get_shape(False))})"
                f", expected {want_axes} {want_shape}"
            )
        if series.dtype != dtype:
            raise CheckError(f"{path.name}: dtype {series.dtype}, expected {dtype}")
        data = series.asarray().reshape(want_shape)
    assert_pixels_equal(data, expected_array(want_shape, dtype, spec["frames"]), path.name)
    if xml_valid:
        for xml, where in xml_docs:
            validate_ome_xml(xml, where)


def check(expect: dict) -> None:
    if not expect.get("files"):
        raise CheckError("EXPECT has no files")
    xml_valid = expect.get("xml_valid", True)
    for spec in expect["files"]:
        check_file(spec, xml_valid)
    if xml_valid:
        for xml_path in expect.get("xml_files", []):
            validate_ome_xml(Path(xml_path).read_bytes(), xml_path)


def label(expect: dict) -> str:
    return expect.get("root") or (expect.get("files") or [{}])[0].get("path", "?")


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], check, label))
