"""OMEWriterSink with a real pymmcore-plus MDA: UniMMCore and a camera written in
Python (no Micro-Manager device adapters), read back with zarr-python / tifffile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import zarr

useq = pytest.importorskip("useq")  # a test dependency (pyproject [test]); CI installs it
unicore = pytest.importorskip("pymmcore_plus.experimental.unicore")
from pymmcore_plus.experimental.unicore.devices._camera import SimpleCameraDevice  # noqa: E402

from ome_writers_rs import OMEWriterSink  # noqa: E402

H, W = 32, 48


class CountingCamera(SimpleCameraDevice):
    """Frame n has n in every pixel."""

    def __init__(self) -> None:
        super().__init__()
        self._exposure = 10.0
        self.n = 0

    def sensor_shape(self) -> tuple[int, int]:
        return (H, W)

    def dtype(self) -> str:
        return "uint16"

    def get_exposure(self) -> float:
        return self._exposure

    def set_exposure(self, exposure: float) -> None:
        self._exposure = exposure

    def snap(self, buffer: np.ndarray):
        buffer[:] = self.n
        self.n += 1
        return {}


def _core():
    core = unicore.UniMMCore()
    core.loadPyDevice("Cam", CountingCamera())
    core.initializeDevice("Cam")
    core.setCameraDevice("Cam")
    return core


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_mda_through_the_sink(tmp_path, suffix):
    core = _core()
    root = tmp_path / f"mda{suffix}"
    sink = OMEWriterSink(root)
    seq = useq.MDASequence(time_plan={"interval": 0, "loops": 6})
    with pytest.warns(UserWarning, match="summary metadata") if not _has_global() else _null():
        core.mda.run(seq, output=sink)
    assert sink.stream is not None and sink.stream.closed
    if suffix == ".ome.zarr":
        data = zarr.open_array(str(root / "0"), mode="r")[:]
        if _has_global():
            attrs = json.loads((root / "zarr.json").read_text())["attributes"]
            assert "pymmcore_plus" in attrs
    else:
        data = tifffile.imread(root)
    assert data.shape == (6, H, W)
    assert [int(data[i, 3, 5]) for i in range(6)] == list(range(6))


def _has_global() -> bool:
    """Whether this build stores global metadata (the facade may not have it yet)."""
    import tempfile

    from ome_writers_rs import create_stream

    with tempfile.TemporaryDirectory() as d:
        s = {"root_path": f"{d}/g.ome.zarr", "dtype": "uint8",
             "dimensions": [{"name": "y", "count": 2}, {"name": "x", "count": 2}]}
        with create_stream(s) as st:
            try:
                st.set_global_metadata("probe", {"a": 1})
            except NotImplementedError:
                return False
    return True


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
