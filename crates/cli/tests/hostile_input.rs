//! Hostile input files through the `omew` binary: `--frame-metadata` without newlines
//! or with lines that are not objects or belong to no frame; OMERO images whose
//! declared size is absurd; FIFOs and directories where pixel files are expected. Each
//! case ends in an error naming the file, the line or the size — never a panic, an
//! abort or a hang — and every frame accepted before it is finalized and reads back
//! with the independent readers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::omew;
use serde_json::{Value, json};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A clean failure: exit status 1 (not a signal), no panic, no allocation abort.
fn failed_cleanly(o: &Output, what: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "{what}: {:?}\n{err}", o.status);
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{what}: {err}"
    );
    err
}

/// Four `t` frames of 3x2 uint16.
fn settings(dir: &Path) -> String {
    let path = dir.join("settings.json");
    let dims = json!([{"name": "t", "count": 4}, {"name": "y", "count": 3},
                      {"name": "x", "count": 2}]);
    std::fs::write(
        &path,
        json!({"dtype": "uint16", "dimensions": dims}).to_string(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

/// `omew write --synthetic --frame-metadata META` (+ `extra` arguments) into `name`.
fn write_with_metadata(dir: &Path, name: &str, meta: &Path, extra: &[&str]) -> (Output, PathBuf) {
    let out = dir.join(format!("{name}.ome.zarr"));
    let s = settings(dir);
    let mut args = vec![
        "write",
        "--settings",
        &s,
        "--output",
        out.to_str().unwrap(),
        "--synthetic",
        "--frame-metadata",
        meta.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    (omew(&args, None), out)
}

fn meta_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(format!("{name}.jsonl"));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn ome_writers_attrs(root: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(root.join("zarr.json")).unwrap()).unwrap();
    v["attributes"]["ome_writers"].clone()
}

/// What the independent readers must find: the first `frames` synthetic frames, and
/// `frames` per-frame metadata entries.
fn expect_frames(root: &Path, frames: u64) -> Value {
    let list: Vec<Value> = (0..frames).map(|n| json!([[n], n])).collect();
    json!({
        "root": root, "dtype": "uint16", "layout": "image",
        "images": [{"group": "", "shape": [frames, 3, 2], "dimension_names": ["t", "y", "x"],
                    "chunks": [1, 3, 2], "shards": null, "frames": list}],
        "plate": null, "frame_metadata_count": frames,
    })
}

/// Check stores with tests/python/check_zarr.py (zarr-python + yaozarrs); loud when
/// the readers are missing, a failure under CI.
fn check_with_zarr_python(expects: &[Value], dir: &Path) {
    let Some(py) = common::python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python readers are required under CI"
        );
        println!("SKIP zarr-python check: no venv (tests/python/setup_venv.sh)");
        return;
    };
    let mut paths = Vec::new();
    for (i, e) in expects.iter().enumerate() {
        let p = dir.join(format!("expect-{i}.json"));
        std::fs::write(&p, e.to_string()).unwrap();
        paths.push(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/check_zarr.py");
    let o = std::process::Command::new(py)
        .arg(script)
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

#[cfg(unix)]
#[test]
fn frame_metadata_without_newlines_is_an_error_naming_the_line_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (o, out) = write_with_metadata(dir.path(), "zero", Path::new("/dev/zero"), &[]);
    let err = failed_cleanly(&o, "/dev/zero");
    assert!(
        err.contains("frame 0 was not written")
            && err.contains("/dev/zero line 1 is longer than the limit of 1048576 bytes"),
        "{err}"
    );
    // The stream was still finished: a valid, empty, partial dataset.
    let attrs = ome_writers_attrs(&out);
    assert_eq!(attrs["frames_written"], 0, "{attrs}");
    assert_eq!(attrs["status"], "partial", "{attrs}");
}

#[test]
fn frame_metadata_lines_that_are_not_objects_or_have_no_frame_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut expects = Vec::new();

    // Six lines for four frames: every frame written and finalized, then the error.
    let six = meta_file(d, "six", "{\"i\": 0}\n".repeat(6).as_bytes());
    let (o, out) = write_with_metadata(d, "six", &six, &[]);
    let err = failed_cleanly(&o, "six lines");
    assert!(
        err.contains("more lines than the 4 frames written: line 5 belongs to no frame"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("wrote 4 frames"),
        "{o:?}"
    );
    assert_eq!(ome_writers_attrs(&out)["status"], "complete");
    expects.push(expect_frames(&out, 4));

    // Line 3 an array: frames 0 and 1 written and finalized, frame 2 refused.
    let bad = meta_file(d, "bad", b"{\"i\": 0}\n{\"i\": 1}\n[2]\n{\"i\": 3}\n");
    let (o, out) = write_with_metadata(d, "bad", &bad, &[]);
    let err = failed_cleanly(&o, "an array line");
    assert!(
        err.contains("frame 2 was not written")
            && err.contains("bad.jsonl line 3: expected a JSON object, got an array"),
        "{err}"
    );
    assert_eq!(ome_writers_attrs(&out)["status"], "partial");
    expects.push(expect_frames(&out, 2));

    // Not JSON at all (binary): the line is named.
    let bin = meta_file(d, "bin", b"{}\n\x00\x01\x02\n");
    let (o, _) = write_with_metadata(d, "bin", &bin, &[]);
    let err = failed_cleanly(&o, "binary line");
    assert!(err.contains("bin.jsonl line 2 is not JSON"), "{err}");

    // With --frames 2 the rest of the file is not read, as with raw input.
    let (o, out) = write_with_metadata(d, "first-two", &six, &["--frames", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    expects.push(expect_frames(&out, 2));

    // A byte order mark and CRLF line endings are accepted.
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend("{\"i\": 0}\r\n".repeat(4).as_bytes());
    let bom = meta_file(d, "bom", &bom);
    let (o, out) = write_with_metadata(d, "bom", &bom, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fm = &ome_writers_attrs(&out)["frame_metadata"];
    assert_eq!(fm[0], json!({"i": 0, "storage_index": [0]}), "{fm}");
    expects.push(expect_frames(&out, 4));

    check_with_zarr_python(&expects, d);
}
