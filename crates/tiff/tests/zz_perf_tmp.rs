#![allow(clippy::unwrap_used)]
use ome_writers_backend::{Backend, Progress};
use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
use ome_writers_tiff::TiffBackend;
#[test]
fn perf() {
    let dir = std::env::var("PERF_DIR").unwrap_or("/tmp".into());
    let path = format!("{dir}/perf.ome.tiff");
    let _ = std::fs::remove_file(&path);
    let comp = std::env::var("PERF_COMP").unwrap_or("none".into());
    let s = Schema::from_json(&format!(r#"{{"root_path": "{path}", "dtype": "uint16", "compression": "{comp}",
      "dimensions": [{{"name":"t","count":200}},{{"name":"c","count":2}},{{"name":"y","count":1024}},{{"name":"x","count":1024}}]}}"#)).unwrap();
    let mut b = TiffBackend::create(&s).unwrap();
    let frame: Vec<u8> = (0..1024 * 1024 * 2).map(|i| (i % 251) as u8).collect();
    let t0 = std::time::Instant::now();
    for t in 0..200 {
        for c in 0..2 {
            b.write(
                PositionIndex(0),
                &StorageIndex::new(&[t, c]).unwrap(),
                &frame,
                None,
            )
            .unwrap();
        }
    }
    b.finalize(&Progress {
        growth_extent: 200,
        ..Default::default()
    })
    .unwrap();
    let el = t0.elapsed().as_secs_f64();
    println!(
        "{comp}: {:.2} GB/s ({el:.2}s)",
        400.0 * 2.0 * 1048576.0 / el / 1e9
    );
    std::fs::remove_file(&path).unwrap();
}
