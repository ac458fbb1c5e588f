//! A single 5D acquisition (T, C, Z, Y, X) written to OME-Zarr.
//!
//! cargo run --example single_5d -- out/single_5d.ome.zarr

use ome_writers::{Schema, create_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "out/single_5d.ome.zarr".into());
    let schema = Schema::from_json(&format!(
        r#"{{
        "root_path": {root:?}, "dtype": "uint16", "overwrite": true,
        "dimensions": [
            {{"name": "t", "count": 4, "unit": "s", "scale": 5.0}},
            {{"name": "c", "coords": [{{"name": "DAPI", "color": "blue"}}, {{"name": "GFP", "color": "lime"}}]}},
            {{"name": "z", "count": 6, "unit": "um", "scale": 2.0}},
            {{"name": "y", "count": 256, "unit": "um", "scale": 0.5}},
            {{"name": "x", "count": 256, "unit": "um", "scale": 0.5}}
        ]}}"#
    ))?;
    let mut stream = create_stream(&schema)?;
    let mut frame = vec![0u16; 256 * 256];
    for n in 0..schema.num_frames().unwrap_or(0) {
        frame.fill(n as u16); // a real program copies the camera buffer here
        stream.append(&frame)?;
    }
    let summary = stream.finish()?;
    println!("wrote {} frames -> {}", summary.frames_written, root);
    Ok(())
}
