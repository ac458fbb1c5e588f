"""ome_writers_rs: ome-writers' ``create_stream`` on the Rust ome-writers-rs core.

Switch by changing one import::

    from ome_writers_rs import create_stream

``create_stream(settings)`` takes an ``ome_writers.AcquisitionSettings`` (or a dict,
or its JSON) and returns an :class:`OMEStream` with ome-writers' API: ``append``,
``skip``, ``close``, ``view``, ``on``, ``set_global_metadata``, plus zero-copy
``next_buffer``/``append_buffer``. See docs/python.md.
"""

from __future__ import annotations

from ome_writers_rs._native import (
    CoordUpdate,
    FrameBuffer,
    OMEStream,
    Signal,
    StreamView,
    __version__,
    create_stream,
)
from ome_writers_rs._sink import OMEWriterSink

__all__ = [
    "CoordUpdate",
    "FrameBuffer",
    "OMEStream",
    "OMEWriterSink",
    "Signal",
    "StreamView",
    "__version__",
    "create_stream",
]
