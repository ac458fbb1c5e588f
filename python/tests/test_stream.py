"""create_stream / OMEStream: settings, frames, errors, read back by zarr-python and
tifffile."""

from __future__ import annotations

import gc
import json
import os
import threading

import numpy as np
import pytest
import tifffile
import zarr
from _helpers import frame, settings

import ome_writers_rs as owr


def _write(root, n=6, **extra):
    s = settings(root, {"t": 3, "c": 2, "y": 16, "x": 24}, **extra)
    with owr.create_stream(s) as stream:
        for i in range(n):
            stream.append(frame(i))
    return s


def _expected(n=6):
    return np.stack([frame(i) for i in range(n)]).reshape(3, 2, 16, 24)


def test_zarr_round_trip(zarr_root):
    _write(zarr_root)
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    np.testing.assert_array_equal(arr[:], _expected())
    attrs = zarr.open_group(str(zarr_root), mode="r").attrs.asdict()
    axes = [a["name"] for a in attrs["ome"]["multiscales"][0]["axes"]]
    assert axes == ["t", "c", "y", "x"]


def test_tiff_round_trip(tiff_root):
    _write(tiff_root)
    with tifffile.TiffFile(tiff_root) as tif:
        assert tif.is_ome
        data = tif.series[0].asarray()
    np.testing.assert_array_equal(data.reshape(3, 2, 16, 24), _expected())


@pytest.mark.parametrize("kind", ["dict", "json", "pydantic"])
def test_settings_forms(zarr_root, kind):
    s = settings(zarr_root, {"t": 2, "y": 16, "x": 24})
    if kind == "json":
        s = json.dumps(s)
    elif kind == "pydantic":
        import ome_writers

        s = ome_writers.AcquisitionSettings.model_validate(s)
    with owr.create_stream(s) as stream:
        stream.append(frame(0))
        stream.append(frame(1))
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    assert arr.shape == (2, 16, 24) and arr[1, 3, 5] == 1


def test_backend_names_map_to_our_writers(tmp_path):
    for backend, suffix, fmt in [
        ("tensorstore", ".ome.zarr", "ome-zarr"),
        ("zarr-python", ".ome.zarr", "ome-zarr"),
        ("acquire-zarr", ".ome.zarr", "ome-zarr"),
        ("zarrs-python", ".ome.zarr", "ome-zarr"),
        ("tifffile", ".ome.tiff", "ome-tiff"),
    ]:
        root = tmp_path / f"{backend}{suffix}"
        s = settings(root, {"t": 1, "y": 16, "x": 24}, format={"name": fmt, "backend": backend})
        with owr.create_stream(s) as stream:
            stream.append(frame(4))
        assert root.exists(), backend


def test_invalid_settings_name_the_field(zarr_root):
    with pytest.raises(ValueError, match="dtype"):
        owr.create_stream(settings(zarr_root, {"t": 2, "y": 16, "x": 24}, dtype="uint17"))
    bad = settings(zarr_root, {"t": 2, "y": 16, "x": 24})
    bad["dimensions"][0]["count"] = -1
    with pytest.raises(ValueError, match=r"dimensions\[0\]\.count"):
        owr.create_stream(bad)
    with pytest.raises(TypeError):
        owr.create_stream(42)


def test_bad_frames_are_value_errors_naming_expected_and_got(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 2, "y": 16, "x": 24})) as stream:
        with pytest.raises(ValueError, match=r"expected \(16, 24\), got \(16, 23\)"):
            stream.append(np.zeros((16, 23), np.uint16))
        with pytest.raises(ValueError, match="expected uint16, got uint8"):
            stream.append(np.zeros((16, 24), np.uint8))
        with pytest.raises(ValueError, match=r"got \(384,\)"):
            stream.append(np.zeros(384, np.uint16))
        stream.append(frame(0))  # a refused frame took no slot
        stream.append(frame(1))
        with pytest.raises(IndexError, match="would exceed total of 2 frames"):
            stream.append(frame(2))
        with pytest.raises(IndexError):
            stream.skip(frames=1)
        with pytest.raises(ValueError, match="positive"):
            stream.skip(frames=0)
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    assert arr[0, 0, 5] == 0 and arr[1, 0, 5] == 1


def test_strided_byteswapped_and_buffer_protocol_frames(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 4, "y": 16, "x": 24})) as stream:
        big = np.zeros((32, 48), np.uint16)
        big[::2, ::2] = frame(0)
        stream.append(big[::2, ::2])  # strided
        stream.append(np.asfortranarray(frame(1)))  # F order
        stream.append(frame(2).astype(">u2"))  # other byte order
        stream.append(memoryview(frame(3)))  # buffer protocol
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")[:]
    for i in range(4):
        np.testing.assert_array_equal(arr[i], frame(i))


def test_skip_reads_back_zero(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 4, "y": 16, "x": 24})) as stream:
        stream.append(frame(1))
        stream.skip(frames=2)
        stream.append(frame(4))
        assert stream.frames_written == 2
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")[:]
    assert arr[0, 3, 5] == 1 and not arr[1:3].any() and arr[3, 3, 5] == 4


def test_close_is_idempotent_and_context_manager(zarr_root):
    stream = owr.create_stream(settings(zarr_root, {"t": 1, "y": 16, "x": 24}))
    assert not stream.closed
    with stream as s:
        assert s is stream
        s.append(frame(0))
    assert stream.closed
    stream.close()
    with pytest.raises(RuntimeError, match="closed"):
        stream.append(frame(0))


def test_frame_metadata_is_stored(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 2, "y": 16, "x": 24})) as stream:
        stream.append(frame(0), frame_metadata={"delta_t": 0.5, "note": "a", "n": np.int64(3)})
        stream.append(frame(1), frame_metadata=None)
        with pytest.raises(TypeError):
            stream.append(frame(1), frame_metadata=[1, 2])
    text = json.dumps(zarr.open_group(str(zarr_root), mode="r").attrs.asdict())
    text += "".join(p.read_text() for p in zarr_root.rglob("zarr.json"))
    assert '"note"' in text and "0.5" in text


def test_existing_output_is_file_exists_error_with_errno_and_filename(zarr_root):
    _write(zarr_root)
    with pytest.raises(FileExistsError) as info:
        owr.create_stream(settings(zarr_root, {"t": 3, "c": 2, "y": 16, "x": 24}))
    assert info.value.errno == 17
    assert info.value.filename == str(zarr_root)
    _write(zarr_root, overwrite=True)


def test_io_error_is_oserror_with_errno_and_path(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    root = blocker / "run.ome.zarr"  # a directory under a regular file
    with pytest.raises(OSError) as info:
        with owr.create_stream(settings(root, {"t": 1, "y": 16, "x": 24})) as stream:
            stream.append(frame(0))
    assert info.value.errno is not None
    assert str(blocker) in (info.value.filename or "")


def test_next_buffer_append_buffer_zero_copy(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": 3, "y": 16, "x": 24})) as stream:
        for i in range(3):
            buf = stream.next_buffer()
            assert buf.shape == (16, 24) and buf.dtype == np.uint16 and buf.flags.writeable
            buf[:] = frame(i)
            stream.append_buffer(buf, frame_metadata={"delta_t": i})
            assert not buf.flags.writeable
            with pytest.raises(ValueError, match="already appended"):
                stream.append_buffer(buf)
        with pytest.raises(TypeError):
            stream.append_buffer(frame(0))
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")[:]
    for i in range(3):
        np.testing.assert_array_equal(arr[i], frame(i))


def test_unclosed_stream_warns_and_still_finalizes(zarr_root):
    stream = owr.create_stream(settings(zarr_root, {"t": 2, "y": 16, "x": 24}))
    stream.append(frame(7))
    with pytest.warns(UserWarning, match="not closed"):
        del stream
        gc.collect()
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    assert arr[0, 2, 5] == 7


def test_unbounded_first_dimension(zarr_root):
    with owr.create_stream(settings(zarr_root, {"t": None, "c": 2, "y": 16, "x": 24})) as stream:
        for i in range(7):
            stream.append(frame(i))
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    assert arr.shape[0] == 4  # stopped early: t kept up to the last index reached
    assert arr[3, 0, 2, 5] == 6


def test_appends_from_many_threads_one_at_a_time(zarr_root):
    stream = owr.create_stream(settings(zarr_root, {"t": 40, "y": 16, "x": 24}))
    lock = threading.Lock()
    count = iter(range(40))

    def work():
        for _ in range(10):
            with lock:
                stream.append(frame(next(count)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stream.close()
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")[:]
    assert sorted(arr[:, 2, 5].tolist()) == list(range(40))


def test_module_surface():
    assert owr.__version__
    for name in ["create_stream", "OMEStream", "StreamView", "CoordUpdate", "OMEWriterSink"]:
        assert hasattr(owr, name)
    stub = os.path.join(os.path.dirname(owr.__file__), "_native.pyi")
    assert os.path.exists(stub)
