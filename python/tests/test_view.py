"""StreamView: numpy indexing against the same data in numpy, shape, coords, the
coords_changed signal; `on()` callbacks and CoordUpdate."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from _helpers import frame, settings

import ome_writers_rs as owr

DIMS = {"t": 3, "c": 2, "z": 4, "y": 16, "x": 24}


def _full(n):
    return np.stack([frame(i) for i in range(n)])


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_indexing_matches_numpy(tmp_path, suffix):
    root = tmp_path / f"run{suffix}"
    n = 24
    expected = _full(n).reshape(3, 2, 4, 16, 24)
    with owr.create_stream(settings(root, DIMS)) as stream:
        view = stream.view(dynamic_shape=False)
        for i in range(n):
            stream.append(frame(i))
        keys = [
            0, -1, (1, 0), (slice(None), 1), (slice(0, 3, 2), 1, slice(None, None, -1)),
            (Ellipsis, 3, 5), (0, Ellipsis), (np.int64(2), 1, 3), (slice(-2, None),),
            (1, 1, 1, slice(2, 9, 3), slice(None, None, 5)), (0, 0, 0, 0, 0),
        ]
        for key in keys:
            np.testing.assert_array_equal(view[key], expected[key], err_msg=str(key))
        np.testing.assert_array_equal(np.asarray(view), expected)
        assert np.asarray(view, dtype=np.float32).dtype == np.float32
    assert view.shape == (3, 2, 4, 16, 24) and view.ndim == 5 and len(view) == 3
    assert view.dims == ("t", "c", "z", "y", "x") and view.dtype == np.uint16
    # still readable after close, and from a view made after close
    np.testing.assert_array_equal(view[2, 1, 3], expected[2, 1, 3])
    np.testing.assert_array_equal(stream.view()[1], expected[1])
    if suffix == ".ome.tiff":
        data = tifffile.imread(root)
        np.testing.assert_array_equal(data.reshape(expected.shape), expected)


def test_dynamic_shape_strict_and_unwritten_zeros(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 3, "c": 2, "y": 16, "x": 24})) as stream:
        view = stream.view()
        strict = stream.view(strict=True)
        assert view.shape == (0, 0, 16, 24)
        stream.append(frame(0))
        stream.append(frame(1))
        stream.append(frame(2))
        assert view.shape == (2, 2, 16, 24) and len(view) == 2
        assert view[1, 0, 3, 5] == 2
        assert not view[1, 1].any()  # not written yet: zeros
        assert not view[2, 0].any()  # past the live shape, not strict: zeros
        with pytest.raises(IndexError):
            strict[2, 0]
        with pytest.raises(IndexError, match="too many indices"):
            view[0, 0, 0, 0, 0]
        with pytest.raises(TypeError):
            view[0.5]
        with pytest.raises(ValueError):
            view[::0]
        assert view.coords["t"] == range(2) and view.coords["y"] == range(16)


def test_channel_names_in_coords(zarr_root):
    s = settings(zarr_root, {"c": 2, "y": 16, "x": 24})
    s["dimensions"][0]["coords"] = ["DAPI", "GFP"]
    with owr.create_stream(s) as stream:
        stream.append(frame(0))
        coords = stream.view(dynamic_shape=False).coords
    assert list(coords["c"]) == ["DAPI", "GFP"]


def test_coords_changed_signal(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 3, "c": 2, "y": 16, "x": 24})) as stream:
        view = stream.view()
        shapes = []
        seen = []

        @view.coords_changed.connect
        def on_change():
            shapes.append(view.shape)

        def other():
            seen.append(1)

        view.coords_changed.connect(other)
        view.coords_changed.disconnect(other)
        with pytest.raises(ValueError):
            view.coords_changed.disconnect(other)
        for i in range(6):
            stream.append(frame(i))
        stream.wait_for_events()
    assert shapes and shapes[-1] == (3, 2, 16, 24) and not seen


def test_on_callbacks_receive_coord_updates_on_another_thread(zarr_root):
    changed, expanded, threads = [], [], set()
    with owr.create_stream(settings(zarr_root, {"t": 3, "c": 2, "y": 16, "x": 24})) as stream:
        stream.on("coords_changed", changed.append)

        def on_expanded(u):
            threads.add(threading.current_thread().name)
            expanded.append(u)

        stream.on("coords_expanded", on_expanded)
        with pytest.raises(ValueError, match="unknown event"):
            stream.on("nope", print)
        for i in range(6):
            stream.append(frame(i))
        stream.wait_for_events()
    assert [u.frame_number for u in changed] == list(range(6))
    last = changed[-1]
    assert last.current_indices["t"] == 2 and last.current_indices["c"] == 1
    assert last.max_coords["t"] == range(3) and last.max_coords["c"] == range(2)
    assert [u.frame_number for u in expanded] == [0, 1, 2, 4]
    assert all(u.is_high_water_mark for u in expanded)
    assert threading.current_thread().name not in threads
    assert "CoordUpdate(" in repr(last)


def test_callback_that_calls_back_into_the_stream_does_not_deadlock(zarr_root):
    reads, errors = [], []
    with owr.create_stream(settings(zarr_root, {"t": 20, "y": 16, "x": 24})) as stream:
        view = stream.view()

        def cb(u):
            reads.append(int(view[u.frame_number, 3, 5]))
            try:
                stream.close()
            except RuntimeError as e:
                errors.append(str(e))
            stream.view()  # and making a view from the events thread

        stream.on("coords_changed", cb)
        for i in range(20):
            stream.append(frame(i))
        stream.wait_for_events()
    assert reads == list(range(20))
    assert errors and "event callback" in errors[0]


def test_callback_exception_is_printed_not_raised(zarr_root, capfd):
    with owr.create_stream(settings(zarr_root, {"t": 2, "y": 16, "x": 24})) as stream:
        stream.on("coords_changed", lambda u: 1 / 0)
        stream.append(frame(0))
        stream.wait_for_events()
        stream.append(frame(1))
    assert "ZeroDivisionError" in capfd.readouterr().err
