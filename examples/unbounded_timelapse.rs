//! An unbounded time-lapse stopped early: the time axis ends at the last time point
//! reached; the rest of that time point reads as 0.
//!
//! cargo run --example unbounded_timelapse -- out/timelapse.ome.zarr

use ome_writers::{Schema, create_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "out/timelapse.ome.zarr".into());
    let schema = Schema::from_json(&format!(
        r#"{{
        "root_path": {root:?}, "dtype": "uint16", "overwrite": true,
        "dimensions": [
            {{"name": "t", "count": null, "unit": "s", "scale": 30.0}},
            {{"name": "c", "count": 2}},
            {{"name": "y", "count": 128}}, {{"name": "x", "count": 128}}
        ]}}"#
    ))?;
    let mut stream = create_stream(&schema)?;
    let frame = vec![100u16; 128 * 128];
    for _ in 0..7 {
        // the user pressed stop after 3.5 time points
        stream.append(&frame)?;
    }
    let summary = stream.finish()?;
    println!("shape {:?} -> {:?}", summary.shape, summary.paths); // [4, 2, 128, 128]
    Ok(())
}
