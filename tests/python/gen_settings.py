"""Generate AcquisitionSettings JSON fixtures with the Python ome-writers.

Each case below builds an `ome_writers.AcquisitionSettings(...)` and writes
`settings.model_dump(mode="json")` (json.dump, indent=2) to
`tests/data/python_settings/<case>.json`.  The Rust deserializer must accept
these files unchanged (see tests/data/python_settings/NOTES.md).

Usage:
    python tests/python/gen_settings.py [OUT_DIR]
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

from ome_writers import (
    AcquisitionSettings,
    Channel,
    Dimension,
    OmeTiffFormat,
    OmeZarrFormat,
    Plate,
    Position,
    ScratchFormat,
)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "data" / "python_settings"


def y_x(size_y: int = 64, size_x: int = 96) -> list[Dimension]:
    """The two in-frame dimensions (no explicit type: inferred from the unit)."""
    return [
        Dimension(name="y", count=size_y, unit="um", scale=0.325),
        Dimension(name="x", count=size_x, unit="um", scale=0.325),
    ]


def case_single_5d_tczyx_uint16() -> AcquisitionSettings:
    """One 5D image, every Dimension/Channel field populated."""
    return AcquisitionSettings(
        root_path="single_5d.ome.zarr",
        dimensions=[
            Dimension(
                name="t", count=4, type="time", unit="ms", scale=250.0,
                translation=10.0, chunk_size=1, shard_size_chunks=2,
            ),
            Dimension(
                name="c",
                coords=[
                    Channel(
                        name="DAPI", excitation_wavelength_nm=405,
                        emission_wavelength_nm=450, fluorophore="DAPI",
                        color="blue",
                    ),
                    Channel(
                        name="GFP", excitation_wavelength_nm=488,
                        emission_wavelength_nm=520, fluorophore="EGFP",
                        color=(0, 255, 0),
                    ),
                    Channel(name="Cy5", color="#FF00FF80"),
                ],
                chunk_size=1,
            ),
            Dimension(
                name="z", count=5, unit="um", scale=0.5, translation=-1.25,
                chunk_size=1, shard_size_chunks=5,
            ),
            Dimension(name="y", count=64, unit="um", scale=0.325, chunk_size=32,
                      shard_size_chunks=2),
            Dimension(name="x", count=96, unit="micrometer", scale=0.325,
                      translation=100.5, chunk_size=48, shard_size_chunks=2),
        ],
        dtype="uint16",
        format="ome-zarr",
        compression="blosc-zstd",
    )


def case_minimal_defaults() -> AcquisitionSettings:
    """Only the required fields; everything else left at its default."""
    return AcquisitionSettings(
        root_path="minimal.ome.zarr",
        dimensions=[
            Dimension(name="c", coords=["red", "green"]),  # type stays null
            Dimension(name="z", count=3),  # no unit, no type -> null
            Dimension(name="y", count=32),  # last two get type "space"
            Dimension(name="x", count=32),
        ],
        dtype="uint8",
    )


def case_multiposition_xyz() -> AcquisitionSettings:
    """Position objects with stage coordinates; zstd; format as an object."""
    return AcquisitionSettings(
        root_path="multipos.ome.zarr",
        dimensions=[
            Dimension(name="t", count=2, unit="s", scale=1.5),
            Dimension(
                name="p",
                coords=[
                    Position(name="left", x_coord=-100.0, y_coord=25.5, z_coord=3.0),
                    Position(name="right", x_coord=100.0, y_coord=25.5, z_coord=3.25),
                    "center",  # plain string, cast to Position(name="center")
                ],
            ),
            Dimension(name="c", type="channel", coords=["BF", "GFP"]),
            *y_x(),
        ],
        dtype="uint16",
        format=OmeZarrFormat(backend="zarr-python"),
        compression="zstd",
    )


def case_plate_grid() -> AcquisitionSettings:
    """A plate: wells A/1, A/2, B/1, two grid fields per well, same names."""
    positions = [
        Position(name=f"fov{g}", plate_row=row, plate_column=col,
                 grid_row=0, grid_column=g,
                 x_coord=1000.0 * i + 50.0 * g, y_coord=500.0 * i)
        for i, (row, col) in enumerate([("A", "1"), ("A", "2"), ("B", "1")])
        for g in range(2)
    ]
    return AcquisitionSettings(
        root_path="plate.ome.zarr",
        dimensions=[
            Dimension(name="p", type="position", coords=positions),
            Dimension(name="c", coords=[Channel(name="DAPI"), Channel(name="GFP")]),
            *y_x(32, 32),
        ],
        dtype="uint16",
        plate=Plate(row_names=["A", "B", "C"], column_names=["1", "2", "3", "4"],
                    name="test plate"),
        compression="blosc-lz4",
    )


def case_auto_positions_float_coords() -> AcquisitionSettings:
    """Position dim from a bare count; numeric (non-uniform) z coords."""
    return AcquisitionSettings(
        root_path="auto_positions.ome.zarr",
        dimensions=[
            Dimension(name="p", type="position", count=2),  # names "0", "1"
            Dimension(name="z", coords=[0, 0.5, 2.25], unit="um"),
            *y_x(16, 16),
        ],
        dtype="uint16",
    )


def case_unbounded_t() -> AcquisitionSettings:
    """First dimension unbounded (count=None)."""
    return AcquisitionSettings(
        root_path="unbounded.ome.zarr",
        dimensions=[
            Dimension(name="t", count=None, unit="second", chunk_size=1),
            Dimension(name="z", count=3, unit="um", scale=2.0),
            *y_x(),
        ],
        dtype="uint16",
    )


def case_tiff_multifile_companion() -> AcquisitionSettings:
    """OME-TIFF, one file per position + companion .ome file, LZW."""
    return AcquisitionSettings(
        root_path="multi.ome.tiff",
        dimensions=[
            Dimension(name="p", coords=[Position(name="pos0"), Position(name="pos1")]),
            Dimension(name="t", count=3, unit="ms", scale=100.0),
            Dimension(name="c", coords=[Channel(name="DAPI", color="cyan")]),
            *y_x(),
        ],
        dtype="uint16",
        format=OmeTiffFormat(multi_file_metadata="companion-file",
                             companion_file="experiment.companion.ome",
                             prefer_single_file=False),  # dumped as "never"
        compression="lzw",
    )


def case_tiff_single_file_string() -> AcquisitionSettings:
    """OME-TIFF picked from the root_path suffix, 'acquisition' storage order."""
    return AcquisitionSettings(
        root_path="single.ome.tif",
        dimensions=[
            Dimension(name="z", count=4, unit="um", scale=1.0),
            Dimension(name="c", coords=["a", "b"], type="channel"),
            *y_x(),
        ],
        dtype="uint8",
        storage_order="acquisition",
        compression="none",
    )


def case_storage_order_list() -> AcquisitionSettings:
    """Explicit storage_order list that differs from acquisition order."""
    return AcquisitionSettings(
        root_path="storage_order.ome.zarr",
        dimensions=[
            Dimension(name="z", count=3, unit="um"),
            Dimension(name="c", coords=["DAPI", "GFP"], type="channel"),
            Dimension(name="t", count=2, unit="ms"),
            *y_x(),
        ],
        dtype="uint16",
        storage_order=["t", "c", "z", "y", "x"],
        compression="zstd",
    )


def case_format_string_tensorstore_float32() -> AcquisitionSettings:
    """format given as the backend string 'tensorstore'; float32; overwrite."""
    return AcquisitionSettings(
        root_path="tensorstore.ome.zarr",
        dimensions=[
            Dimension(name="c", coords=["a", "b"], type="channel"),
            *y_x(),
        ],
        dtype="float32",
        format="tensorstore",
        overwrite=True,
    )


def case_format_object_dict() -> AcquisitionSettings:
    """format given as a plain dict with a non-default suffix."""
    return AcquisitionSettings(
        root_path="custom_suffix.zarr",
        dimensions=[Dimension(name="t", count=2, unit="min"), *y_x(16, 16)],
        dtype="int16",
        format={"name": "ome-zarr", "backend": "zarr-python"},
        overwrite=True,
        compression="blosc-zstd",
    )


def case_scratch_in_memory() -> AcquisitionSettings:
    """format "scratch" without root_path: arrays in memory (ScratchFormat defaults)."""
    return AcquisitionSettings(
        dimensions=[Dimension(name="t", count=3), Dimension(name="c", count=2), *y_x(8, 8)],
        dtype="uint16",
        format="scratch",
    )


def case_scratch_directory() -> AcquisitionSettings:
    """ScratchFormat object with every field set, written to a directory."""
    return AcquisitionSettings(
        root_path="scratch_run",
        dimensions=[Dimension(name="t", count=None), *y_x(8, 8)],
        dtype="uint8",
        format=ScratchFormat(max_memory_bytes=1024, spill_to_disk=False, suffix=".dat"),
        storage_order="ome",
    )


CASES = {
    name.removeprefix("case_"): fn
    for name, fn in sorted(globals().items())
    if name.startswith("case_") and callable(fn)
}


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    out.mkdir(parents=True, exist_ok=True)
    for name, fn in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # fixtures must not trigger warnings
            settings = fn()
        dumped = settings.model_dump(mode="json")
        # sanity: the dump must round-trip through the Python model unchanged
        # (deepcopy: the validators mutate the input dict in place)
        again = AcquisitionSettings.model_validate(copy.deepcopy(dumped))
        again = again.model_dump(mode="json")
        assert again == dumped, f"{name}: dump does not round-trip"
        path = out / f"{name}.json"
        with open(path, "w") as f:
            json.dump(dumped, f, indent=2)
            f.write("\n")
        print(path)


if __name__ == "__main__":
    main()
