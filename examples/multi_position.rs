//! Several stage positions: one image per position (bioformats2raw layout).
//!
//! cargo run --example multi_position -- out/positions.ome.zarr

use ome_writers::{Schema, create_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "out/positions.ome.zarr".into());
    let schema = Schema::from_json(&format!(
        r#"{{
        "root_path": {root:?}, "dtype": "uint8", "overwrite": true,
        "dimensions": [
            {{"name": "t", "count": 3}},
            {{"name": "p", "type": "position", "coords": [
                {{"name": "left", "x_coord": 0.0, "y_coord": 0.0}},
                {{"name": "right", "x_coord": 500.0, "y_coord": 0.0}}]}},
            {{"name": "y", "count": 128}}, {{"name": "x", "count": 128}}
        ]}}"#
    ))?;
    let mut stream = create_stream(&schema)?;
    for n in 0..6u8 {
        // t0: left, right; t1: left, right; ...
        stream.append(&vec![n; 128 * 128])?;
    }
    println!("{:?}", stream.finish()?.paths);
    Ok(())
}
