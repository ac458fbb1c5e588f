//! A well plate: two fields in well A/1, one in B/3, written as plate/well/field groups.
//!
//! cargo run --example plate -- out/plate.ome.zarr

use ome_writers::{Schema, create_stream};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "out/plate.ome.zarr".into());
    let schema = Schema::from_json(&format!(
        r#"{{
        "root_path": {root:?}, "dtype": "uint16", "overwrite": true,
        "plate": {{"row_names": ["A", "B"], "column_names": ["1", "2", "3"], "name": "screen 1"}},
        "dimensions": [
            {{"name": "p", "type": "position", "coords": [
                {{"name": "fov0", "plate_row": "A", "plate_column": "1"}},
                {{"name": "fov1", "plate_row": "A", "plate_column": "1"}},
                {{"name": "fov0", "plate_row": "B", "plate_column": "3"}}]}},
            {{"name": "c", "count": 2}},
            {{"name": "y", "count": 64}}, {{"name": "x", "count": 64}}
        ]}}"#
    ))?;
    let mut stream = create_stream(&schema)?;
    for n in 0..6u16 {
        stream.append(&vec![n; 64 * 64])?;
    }
    println!("{:?}", stream.finish()?.paths);
    Ok(())
}
