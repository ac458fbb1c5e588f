//! The `multiscale` extension: parsing, resolution (`auto`) and every rule's error.

use ome_writers_schema::{Levels, ReduceMethod, Schema, SchemaError};

fn schema(multiscale: &str, dims: &str, root: &str) -> Result<Schema, SchemaError> {
    Schema::from_json(&format!(
        r#"{{"root_path": "{root}", "dtype": "uint16", "multiscale": {multiscale},
            "dimensions": [{dims}]}}"#
    ))
}

const TZYX: &str = r#"{"name": "t", "count": 2}, {"name": "z", "count": 5},
    {"name": "y", "count": 2048, "chunk_size": 256}, {"name": "x", "count": 1000, "chunk_size": 256}"#;

fn err(multiscale: &str, dims: &str, root: &str) -> String {
    match schema(multiscale, dims, root) {
        Ok(_) => panic!("accepted {multiscale}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn absent_is_one_level_and_not_serialized() {
    let s = Schema::from_json(
        r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
    )
    .unwrap();
    assert_eq!(s.pyramid().levels(), 1);
    assert!(!s.pyramid().is_pyramid());
    assert!(!s.settings().to_json().contains("multiscale"));
}

#[test]
fn counts_methods_and_round_trip() {
    for method in ReduceMethod::ALL {
        let s = schema(
            &format!(r#"{{"levels": 3, "method": "{method}", "downsample_z": true}}"#),
            TZYX,
            "a.ome.zarr",
        )
        .unwrap();
        assert_eq!(s.pyramid().levels(), 3);
        assert_eq!(s.pyramid().method(), *method);
        assert_eq!(s.pyramid().z_dim(), Some(1));
        let again = Schema::from_json(&s.settings().to_json()).unwrap();
        assert_eq!(again, s);
    }
    let s = schema(r#"{"levels": 2}"#, TZYX, "a.ome.zarr").unwrap();
    assert_eq!(s.pyramid().method(), ReduceMethod::Mean);
    assert_eq!(s.pyramid().z_dim(), None);
    let m = s.settings().multiscale.clone().unwrap();
    assert_eq!(m.levels, Levels::Count(2));
}

#[test]
fn auto_stops_at_512_or_one_chunk() {
    // 2048 -> 1024 -> 512: three levels.
    assert_eq!(
        schema(r#"{"levels": "auto"}"#, TZYX, "a.ome.zarr")
            .unwrap()
            .pyramid()
            .levels(),
        3
    );
    let one_chunk =
        r#"{"name": "y", "count": 3000, "chunk_size": 3000}, {"name": "x", "count": 700}"#;
    assert_eq!(
        schema(r#"{"levels": "auto"}"#, one_chunk, "a.ome.zarr")
            .unwrap()
            .pyramid()
            .levels(),
        1
    );
    let small = r#"{"name": "y", "count": 300}, {"name": "x", "count": 512}"#;
    assert_eq!(
        schema(r#"{"levels": "auto"}"#, small, "a.ome.zarr")
            .unwrap()
            .pyramid()
            .levels(),
        1
    );
}

#[test]
fn bad_values_are_named() {
    let e = err(r#"{"levels": 0}"#, TZYX, "a.ome.zarr");
    assert!(e.starts_with("multiscale.levels: 0:"), "{e}");
    // 2048 x 1000 reaches 1 x 1 at level 11: 12 levels at most.
    let e = err(r#"{"levels": 13}"#, TZYX, "a.ome.zarr");
    assert!(
        e.contains("multiscale.levels: 13:") && e.contains("at most 12 levels"),
        "{e}"
    );
    assert!(schema(r#"{"levels": 12}"#, TZYX, "a.ome.zarr").is_ok());
    let e = err(r#"{"levels": -1}"#, TZYX, "a.ome.zarr");
    assert!(e.starts_with("multiscale.levels:"), "{e}");
    let e = err(r#"{"levels": "many"}"#, TZYX, "a.ome.zarr");
    assert!(
        e.starts_with("multiscale.levels:") && e.contains("\"many\""),
        "{e}"
    );
    let e = err(r#"{"levels": 2, "method": "median"}"#, TZYX, "a.ome.zarr");
    assert!(
        e.starts_with("multiscale.method:") && e.contains("median"),
        "{e}"
    );
    let e = err(r#"{"levels": 2, "factor": 3}"#, TZYX, "a.ome.zarr");
    assert!(
        e.starts_with("multiscale.factor:") && e.contains("unknown field"),
        "{e}"
    );
    let tcyx = r#"{"name": "t", "count": 2}, {"name": "c", "count": 2},
        {"name": "y", "count": 64}, {"name": "x", "count": 64}"#;
    let e = err(r#"{"levels": 2, "downsample_z": true}"#, tcyx, "a.ome.zarr");
    assert!(
        e.starts_with("multiscale.downsample_z: true:") && e.contains("no Z"),
        "{e}"
    );
    let e = err(r#"{"levels": 2, "downsample_z": true}"#, TZYX, "a.ome.tiff");
    assert!(
        e.starts_with("multiscale.downsample_z: true:") && e.contains("Y and X only"),
        "{e}"
    );
    assert!(schema(r#"{"levels": 2}"#, TZYX, "a.ome.tiff").is_ok());
    // The scratch format (an empty root path) writes no pyramid.
    let e = err(r#"{"levels": 2}"#, TZYX, "");
    assert!(
        e.starts_with("multiscale.levels: 2:") && e.contains("ome-zarr and ome-tiff"),
        "{e}"
    );
    // One level is allowed everywhere.
    assert!(schema(r#"{"levels": 1}"#, TZYX, "a.ome.tiff").is_ok());
}

#[test]
fn level_schemas_halve_and_clamp() {
    let s = schema(r#"{"levels": 4, "downsample_z": true}"#, TZYX, "a.ome.zarr").unwrap();
    let l2 = s.level_schema(2).unwrap();
    // z 5 -> 3 -> 2, y 2048 -> 512, x 1000 -> 250 (chunk 256 clamped to 250).
    assert_eq!(l2.array_shape(None), vec![2, 2, 512, 250]);
    assert_eq!(l2.chunk_shape(), vec![1, 1, 256, 250]);
    assert_eq!(l2.pyramid().levels(), 1);
    assert_eq!(
        s.level_schema(0).unwrap().array_shape(None),
        s.array_shape(None)
    );
    let flat = schema(r#"{"levels": 2}"#, TZYX, "a.ome.zarr").unwrap();
    assert_eq!(
        flat.level_schema(1).unwrap().array_shape(None),
        vec![2, 5, 1024, 500]
    );
}
