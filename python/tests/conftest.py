"""Fixtures of ome_writers_rs' own tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def zarr_root(tmp_path):
    return tmp_path / "run.ome.zarr"


@pytest.fixture
def tiff_root(tmp_path):
    return tmp_path / "run.ome.tiff"
