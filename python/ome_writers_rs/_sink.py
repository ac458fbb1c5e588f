"""A pymmcore-plus output handler: ``core.run_mda(seq, output=OMEWriterSink(path))``.

pymmcore-plus connects any object with ``frameReady`` to the MDA's signals; this one
also has ``sequenceStarted`` and ``sequenceFinished``. It builds the acquisition
settings from the sequence with ``ome_writers.useq_to_acquisition_settings`` (when
ome-writers is installed; otherwise an unbounded t/y/x acquisition), writes every
frame with its metadata, and stores pymmcore-plus' summary metadata under the
``"pymmcore_plus"`` namespace, as pymmcore-plus' own sink does.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

from ome_writers_rs._native import create_stream

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from ome_writers_rs._native import OMEStream, StreamView


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data (pydantic models dumped, the rest through ``str``)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return json.loads(json.dumps(value, default=str))


def _frame_metadata(meta: Any) -> dict:
    """pymmcore-plus' FrameMetaV1 as ome-writers frame metadata."""
    if not meta:
        return {}
    d: dict = {}
    if (t := meta.get("runner_time_ms")) is not None:
        d["delta_t"] = t / 1000
    if (e := meta.get("exposure_ms")) is not None:
        d["exposure_time"] = e / 1000
    if pos := meta.get("position"):
        d.update({f"position_{k}": v for k, v in pos.items() if k in ("x", "y", "z")})
    return d


class OMEWriterSink:
    """Write a pymmcore-plus MDA to OME-Zarr (``.ome.zarr``) or OME-TIFF (``.ome.tiff``).

    Parameters
    ----------
    path : str | Path
        The output; its suffix picks the format.
    overwrite : bool
        Replace an existing output this library wrote.
    **settings
        Further ``AcquisitionSettings`` fields (``compression``, ``format``, ...).
    """

    def __init__(self, path: str | Path, *, overwrite: bool = False, **settings: Any):
        self.path = str(path)
        self.overwrite = overwrite
        self.extra = settings
        self.stream: OMEStream | None = None
        self.settings: Any = None

    def _settings(self, seq: Any, meta: Any) -> Any:
        info = (meta or {}).get("image_infos", [{}])[0]
        width, height = info["width"], info["height"]
        # 0 means "no pixel size configured": OME needs a positive size, so none at all.
        pixel = info.get("pixel_size_um") or None
        base = {"root_path": self.path, "overwrite": self.overwrite, "dtype": str(info["dtype"])}
        try:
            from ome_writers import AcquisitionSettings, useq_to_acquisition_settings
        except ImportError:
            dims = [
                {"name": "t", "count": None, "type": "time", "chunk_size": 1},
                {"name": "y", "count": height, "type": "space", "scale": pixel, "unit": "micrometer"},
                {"name": "x", "count": width, "type": "space", "scale": pixel, "unit": "micrometer"},
            ]
            return {**base, "dimensions": dims, **self.extra}
        useq_settings = useq_to_acquisition_settings(
            seq, image_width=width, image_height=height, pixel_size_um=pixel
        )
        # A time plan with interval 0 gives scale 0, which OME cannot hold (a scale
        # must be positive): no scale for that dimension.
        useq_settings["dimensions"] = [
            d.model_copy(update={"scale": None}) if d.scale == 0 else d
            for d in useq_settings["dimensions"]
        ]
        return AcquisitionSettings(**{**base, **useq_settings, **self.extra})

    def sequenceStarted(self, seq: Any, meta: Any = None) -> None:
        """Create the stream for ``seq`` and store the summary metadata."""
        self.settings = self._settings(seq, meta)
        self.stream = create_stream(self.settings)
        if meta:
            try:
                self.stream.set_global_metadata(
                    "pymmcore_plus", {"summary_metadata": _jsonable(dict(meta))}
                )
            except NotImplementedError as e:
                warnings.warn(f"summary metadata not stored: {e}", stacklevel=2)

    def frameReady(self, img: np.ndarray, event: Any = None, meta: Any = None) -> None:
        """Append the next frame with its metadata."""
        if self.stream is None:
            raise RuntimeError("frameReady before sequenceStarted")
        self.stream.append(img, frame_metadata=_frame_metadata(meta))

    def sequenceFinished(self, seq: Any = None) -> None:
        """Close the stream (final metadata, durable on disk)."""
        if self.stream is not None:
            self.stream.close()

    def view(self) -> StreamView | None:
        """A live view of the data written so far."""
        return None if self.stream is None else self.stream.view()
