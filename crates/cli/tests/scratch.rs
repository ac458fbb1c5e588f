//! `omew write` and `omew repair` with the scratch format.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::omew;
use ome_writers::DType;
use serde_json::{Value, json};

fn write_settings(dir: &std::path::Path, v: &Value) -> String {
    let path = dir.join("settings.json");
    std::fs::write(&path, v.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn dims() -> Value {
    json!([{"name": "t", "count": null}, {"name": "y", "count": 3}, {"name": "x", "count": 4}])
}

#[test]
fn omew_writes_a_scratch_directory_and_repairs_a_killed_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_settings(
        dir.path(),
        &json!({"format": "scratch", "dtype": "uint16", "dimensions": dims()}),
    );
    let out = dir.path().join("run");
    let o = omew(
        &[
            "write",
            "--settings",
            &s,
            "--output",
            out.to_str().unwrap(),
            "--synthetic",
            "--frames",
            "5",
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("wrote 5 frames") && stdout.contains("run"),
        "{stdout}"
    );
    let ds = ome_writers::scratch::open(&out).unwrap();
    assert_eq!(ds.shapes(), [vec![5, 3, 4]]);
    let a = ds.array::<u16>(0).unwrap();
    for n in 0..5u64 {
        for (y, x) in [(0, 0), (2, 3)] {
            let want = ome_writers::pattern_value(DType::U16, n, y, x);
            assert_eq!(
                u64::from(a[[n as usize, y as usize, x as usize]]),
                want,
                "frame {n}"
            );
        }
    }
    assert_eq!(
        ds.status(),
        Some(ome_writers::DatasetStatus::Partial),
        "unbounded, stopped"
    );

    // A writer killed before finish leaves status acquiring; repair finishes it once.
    let manifest = out.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    m["ome_writers"]["status"] = json!("acquiring");
    std::fs::write(&manifest, m.to_string()).unwrap();
    let o = omew(&["repair", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("acquiring -> partial"));
    let o = omew(&["repair", out.to_str().unwrap()], None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to repair"));
}

#[test]
fn omew_writes_in_memory_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_settings(
        dir.path(),
        &json!({"format": "scratch", "dtype": "uint8", "dimensions": dims()}),
    );
    let o = omew(
        &["write", "--settings", &s, "--synthetic", "--frames", "3"],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("wrote 3 frames") && stdout.contains("in memory"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the settings file"
    );
    let o = omew(&["check-settings", &s], None);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("scratch backend"));
}
