"""The GIL is released while frames are handed over and while waiting on a full
queue; Ctrl-C in a blocked append raises KeyboardInterrupt and the stream can still
be closed."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import zarr
from _helpers import settings

import ome_writers_rs as owr

SHAPE = (1024, 1024)


def _slow_settings(root, t):
    # zstd at its top level on noisy frames, so the writer is slower than append
    s = settings(root, {"t": t, "y": SHAPE[0], "x": SHAPE[1]}, compression="zstd")
    return s


def _noise(i):
    rng = np.random.default_rng(i)
    return rng.integers(0, 65535, SHAPE, dtype=np.uint16)


def test_gil_released_while_waiting_on_backpressure(zarr_root):
    frames = [_noise(i) for i in range(4)]
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    stream = owr.create_stream(_slow_settings(zarr_root, 40), queue_bytes=2 * frames[0].nbytes)
    t = threading.Thread(target=ticker)
    t.start()
    start = time.perf_counter()
    for i in range(40):
        stream.append(frames[i % 4])
    elapsed = time.perf_counter() - start
    stop.set()
    t.join()
    stream.close()
    # The ticker ran throughout: gaps are short although appends waited.
    during = [b - a for a, b in zip(ticks, ticks[1:], strict=False) if a > start]
    assert len(during) > elapsed / 0.01, (len(during), elapsed)
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    np.testing.assert_array_equal(arr[39], frames[3])


def test_ctrl_c_in_a_blocked_append(zarr_root):
    frames = [_noise(i) for i in range(4)]
    stream = owr.create_stream(_slow_settings(zarr_root, 10_000), queue_bytes=frames[0].nbytes)
    fired = []

    def interrupt():
        fired.append(time.perf_counter())
        _thread.interrupt_main()

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    i = 0
    try:
        while True:
            stream.append(frames[i % 4])
            i += 1
    except KeyboardInterrupt:
        caught = time.perf_counter()
    timer.join()
    # Raised promptly (the append checks for signals while it waits)...
    assert caught - fired[0] < 0.5
    # ...and the stream still works: every frame appended is in the dataset.
    appended = stream.frames_written
    assert 0 < appended < 10_000
    stream.close()
    arr = zarr.open_array(str(zarr_root / "0"), mode="r")
    assert arr.shape[0] == appended
    np.testing.assert_array_equal(arr[appended - 1], frames[(appended - 1) % 4])
