//! The conformance cases (REFERENCE.md section 5, and more): data, one per line where
//! possible. Every case runs on every backend that accepts it.

use serde_json::{Value, json};

use crate::harness::{Case, Outcome, Step};

const ALL: &[Step] = &[Step::Rest];

/// A dimension: `d("t", 3)`; `None` count is unbounded.
fn d(name: &str, count: impl Into<Option<u64>>) -> Value {
    json!({"name": name, "count": count.into()})
}

/// A dimension with a chunk size.
fn dc(name: &str, count: impl Into<Option<u64>>, chunk: u64) -> Value {
    json!({"name": name, "count": count.into(), "chunk_size": chunk})
}

fn settings(dtype: &str, dims: Vec<Value>) -> Value {
    json!({"dtype": dtype, "dimensions": dims})
}

fn with(mut base: Value, key: &str, v: Value) -> Value {
    base[key] = v;
    base
}

fn case(name: &'static str, settings: Value, script: &'static [Step], outcome: Outcome) -> Case {
    Case {
        name,
        settings,
        script,
        outcome,
    }
}

fn yx(h: u64, w: u64) -> [Value; 2] {
    [d("y", h), d("x", w)]
}

fn positions(names: &[&str]) -> Value {
    json!({"name": "p", "type": "position", "coords": names})
}

fn plate_positions() -> Value {
    json!({"name": "p", "type": "position", "coords": [
        {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 0},
        {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 1},
        {"name": "fov", "plate_row": "B", "plate_column": "3", "grid_row": 0, "grid_column": 0},
    ]})
}

#[allow(clippy::too_many_lines)]
pub fn cases() -> Vec<Case> {
    let [y8, x6] = yx(8, 6);
    let channels = json!({"name": "c", "coords": [
        {"name": "DAPI", "color": "blue", "excitation_wavelength_nm": 405, "emission_wavelength_nm": 450},
        {"name": "GFP", "color": "#00ff00", "fluorophore": "EGFP"}]});
    let um = |name: &str, n: u64| json!({"name": name, "count": n, "unit": "um", "scale": 0.65});
    vec![
        case(
            "yx_only",
            settings("uint16", vec![y8.clone(), x6.clone()]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "c_yx_uint8_units",
            settings("uint8", vec![channels.clone(), um("y", 8), um("x", 6)]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "tczyx_subframe_chunks",
            settings(
                "uint16",
                vec![
                    d("t", 2),
                    d("c", 2),
                    d("z", 3),
                    dc("y", 16, 8),
                    dc("x", 12, 5),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "tzc_acquired_stored_tcz",
            settings(
                "uint16",
                vec![d("t", 2), d("z", 3), d("c", 2), y8.clone(), x6.clone()],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "position_outermost",
            settings(
                "uint16",
                vec![
                    positions(&["A1", "B2", "C3"]),
                    d("t", 2),
                    d("c", 2),
                    y8.clone(),
                    x6.clone(),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "t_then_p_interleaved",
            settings(
                "uint16",
                vec![
                    d("t", 3),
                    positions(&["left", "right"]),
                    d("z", 2),
                    y8.clone(),
                    x6.clone(),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "plate_fields_in_wells",
            with(
                settings(
                    "uint16",
                    vec![
                        d("t", 2),
                        plate_positions(),
                        d("c", 2),
                        y8.clone(),
                        x6.clone(),
                    ],
                ),
                "plate",
                json!({"row_names": ["A", "B"], "column_names": ["1", "2", "3"], "name": "test plate"}),
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "unbounded_t_c_z",
            settings(
                "uint16",
                vec![d("t", None), d("c", 2), d("z", 2), y8.clone(), x6.clone()],
            ),
            &[Step::Append(12)],
            Outcome::Ok,
        ),
        case(
            "unbounded_t_partial_last",
            settings(
                "uint16",
                vec![d("t", None), d("c", 2), d("z", 2), y8.clone(), x6.clone()],
            ),
            &[Step::Append(10)],
            Outcome::Ok,
        ),
        case(
            "unbounded_t_chunk_2",
            settings(
                "uint16",
                vec![dc("t", None, 2), dc("z", 3, 2), y8.clone(), x6.clone()],
            ),
            &[Step::Append(9)],
            Outcome::Ok,
        ),
        case(
            "z_chunks_partial_edge",
            settings(
                "uint16",
                vec![d("t", 2), dc("z", 5, 2), y8.clone(), x6.clone()],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "transposed_storage_buffering",
            settings(
                "uint16",
                vec![
                    dc("z", 3, 3),
                    d("c", 2),
                    dc("t", 4, 2),
                    y8.clone(),
                    x6.clone(),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "positions_with_chunking",
            settings(
                "uint16",
                vec![
                    positions(&["a", "b"]),
                    dc("t", 5, 2),
                    dc("y", 8, 4),
                    x6.clone(),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "grid_positions_duplicate_names",
            settings(
                "uint16",
                vec![
                    json!({"name": "p", "type": "position", "coords": [
                        {"name": "tile", "grid_row": 0, "grid_column": 0},
                        {"name": "tile", "grid_row": 0, "grid_column": 1},
                        {"name": "tile", "grid_row": 1, "grid_column": 0}]}),
                    d("c", 2),
                    y8.clone(),
                    x6.clone(),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "sharding",
            settings(
                "uint16",
                vec![
                    json!({"name": "t", "count": 5, "chunk_size": 1, "shard_size_chunks": 2}),
                    d("c", 2),
                    json!({"name": "y", "count": 16, "chunk_size": 4, "shard_size_chunks": 2}),
                    json!({"name": "x", "count": 12, "chunk_size": 6, "shard_size_chunks": 2}),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "sharding_with_skips_and_early_stop",
            settings(
                "uint16",
                vec![
                    json!({"name": "t", "count": 4, "shard_size_chunks": 2}),
                    d("c", 2),
                    json!({"name": "y", "count": 8, "chunk_size": 4, "shard_size_chunks": 2}),
                    json!({"name": "x", "count": 6, "chunk_size": 3, "shard_size_chunks": 2}),
                ],
            ),
            &[Step::Append(3), Step::Skip(2), Step::Append(1)],
            Outcome::Ok,
        ),
        case(
            "sharding_zstd_with_skips",
            with(
                settings(
                    "uint16",
                    vec![
                        json!({"name": "t", "count": 4, "shard_size_chunks": 2}),
                        d("c", 2),
                        json!({"name": "y", "count": 8, "chunk_size": 4, "shard_size_chunks": 2}),
                        x6.clone(),
                    ],
                ),
                "compression",
                json!("zstd"),
            ),
            &[Step::Append(3), Step::Skip(2), Step::Rest],
            Outcome::Ok,
        ),
        case(
            "skip_frames",
            settings("uint16", vec![d("t", 4), d("c", 2), y8.clone(), x6.clone()]),
            &[Step::Append(2), Step::Skip(3), Step::Rest],
            Outcome::Ok,
        ),
        case(
            "too_many_frames",
            settings("uint16", vec![d("t", 2), d("c", 2), y8.clone(), x6.clone()]),
            &[Step::Append(5)],
            Outcome::TooMany,
        ),
        case(
            "empty_stream",
            settings("uint16", vec![d("t", 3), y8.clone(), x6.clone()]),
            &[],
            Outcome::Ok,
        ),
        case(
            "stopped_early_bounded",
            settings("uint16", vec![d("t", 5), d("c", 2), y8.clone(), x6.clone()]),
            &[Step::Append(7)],
            Outcome::Ok,
        ),
        case(
            "channel_outermost_stopped_early",
            settings(
                "uint16",
                vec![
                    json!({"name": "c", "coords": ["DAPI", "GFP", "RFP"]}),
                    d("z", 2),
                    y8.clone(),
                    x6.clone(),
                ],
            ),
            &[Step::Append(3)],
            Outcome::Ok,
        ),
        case(
            "frame_metadata",
            settings("uint16", vec![d("t", 3), d("c", 2), y8.clone(), x6.clone()]),
            &[Step::AppendMeta(4), Step::Rest],
            Outcome::Ok,
        ),
        case(
            "float32_with_channels",
            settings(
                "float32",
                vec![d("t", 2), channels.clone(), y8.clone(), x6.clone()],
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "float64",
            settings("float64", vec![d("z", 3), y8.clone(), x6.clone()]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "int8",
            settings("int8", vec![d("t", 3), y8.clone(), x6.clone()]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "int32",
            settings("int32", vec![d("t", 3), y8.clone(), x6.clone()]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "uint32",
            settings("uint32", vec![d("c", 2), y8.clone(), x6.clone()]),
            ALL,
            Outcome::Ok,
        ),
        case(
            "blosc_zstd",
            with(
                settings("uint16", vec![d("t", 3), dc("y", 8, 4), x6.clone()]),
                "compression",
                json!("blosc-zstd"),
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "blosc_lz4_level_1",
            with(
                with(
                    settings("uint16", vec![d("t", 3), y8.clone(), x6.clone()]),
                    "compression",
                    json!("blosc-lz4"),
                ),
                "compression_level",
                json!(1),
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "zstd",
            with(
                settings("uint8", vec![d("t", 3), y8.clone(), x6.clone()]),
                "compression",
                json!("zstd"),
            ),
            ALL,
            Outcome::Ok,
        ),
        case(
            "scale_translation_time_units",
            settings(
                "uint16",
                vec![
                    json!({"name": "t", "count": 2, "unit": "ms", "scale": 250.0}),
                    json!({"name": "z", "count": 2, "unit": "um", "scale": 2.0, "translation": 10.0}),
                    um("y", 8),
                    um("x", 6),
                ],
            ),
            ALL,
            Outcome::Ok,
        ),
    ]
}
