//! Hostile input through the `omew` binary: settings that are malformed, truncated,
//! deeply nested or absurd; outputs that cannot be written or must not be replaced;
//! floats that are not numbers; a directory that vanishes mid-acquisition. Every case
//! must end in an error message (naming the number, for limits) and never a panic,
//! and must not touch anything outside the dataset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::omew;
use serde_json::{Value, json};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `omew check-settings` on `text` must fail with a message holding every `needle`.
fn refused(dir: &Path, name: &str, text: &str, needles: &[&str]) {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    let o = omew(&["check-settings", path.to_str().unwrap()], None);
    let err = stderr(&o);
    assert!(!o.status.success(), "{name}: accepted");
    assert!(
        !err.contains("panicked") && !err.contains("memory allocation"),
        "{name}: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "{name}: no {needle:?} in: {err}");
    }
    println!("ok {name}: {}", err.lines().next().unwrap_or_default());
}

fn dims(d: Value) -> String {
    json!({"root_path": "x.ome.zarr", "dtype": "uint16", "dimensions": d}).to_string()
}

#[test]
fn hostile_settings_are_refused_with_messages_that_name_the_number() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = dims(json!([{"name": "t", "count": 4}, {"name": "y", "count": 8},
                           {"name": "x", "count": 8}]));
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        ("empty", String::new(), vec!["EOF"]),
        ("not_json", "dtype = uint16".into(), vec!["expected value"]),
        ("truncated", good[..good.len() / 2].to_owned(), vec!["EOF"]),
        ("trailing_garbage", format!("{good} {{"), vec!["trailing"]),
        (
            "wrong_type",
            r#"{"dtype": 16, "dimensions": []}"#.into(),
            vec!["dtype"],
        ),
        (
            "deeply_nested",
            format!(
                r#"{{"dtype": "uint8", "dimensions": [{{"name": "t", "count": 1, "coords": {}{}}}]}}"#,
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            vec!["recursion limit"],
        ),
        (
            "deeply_nested_unknown_field",
            format!(
                r#"{{"junk": {}{}}}"#,
                "{\"a\":".repeat(50_000),
                "}".repeat(50_000)
            ),
            vec!["junk"],
        ),
        (
            "unknown_field",
            r#"{"dtype": "uint8", "dimensions": [], "rm_rf": true}"#.into(),
            vec!["rm_rf"],
        ),
        (
            "negative_count",
            dims(
                json!([{"name": "t", "count": -1}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]),
            ),
            vec!["-1"],
        ),
        (
            "count_beyond_u64",
            dims(json!([{"name": "t", "count": 4}, {"name": "y", "count": 8},
                        {"name": "x", "count": 8}]))
            .replace("\"count\":4", "\"count\":18446744073709551616"),
            vec!["dimensions[0].count"],
        ),
        (
            "zero_count",
            dims(
                json!([{"name": "t", "count": 0}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]),
            ),
            vec!["dimensions[0].count", "must be positive"],
        ),
        (
            "frames_product_overflows",
            dims(
                json!([{"name": "t", "count": 4_294_967_296_u64}, {"name": "z", "count": 4_294_967_296_u64},
                        {"name": "q", "count": 4_294_967_296_u64},
                        {"name": "y", "count": 8}, {"name": "x", "count": 8}]),
            ),
            vec!["18446744073709551616", "frames in total"],
        ),
        (
            "channel_count_huge",
            dims(
                json!([{"name": "c", "count": 4_294_967_296_u64}, {"name": "y", "count": 8},
                        {"name": "x", "count": 8}]),
            ),
            vec!["4294967296", "channels"],
        ),
        (
            "position_count_huge",
            dims(
                json!([{"name": "p", "type": "position", "count": 1_000_000_000_000_u64},
                        {"name": "y", "count": 8}, {"name": "x", "count": 8}]),
            ),
            vec!["1000000000000", "positions"],
        ),
        (
            "frame_bytes_overflow",
            dims(
                json!([{"name": "t", "count": 2}, {"name": "y", "count": u64::MAX},
                        {"name": "x", "count": u64::MAX}]),
            ),
            vec!["exceeds the limit"],
        ),
        (
            "frame_too_large",
            dims(
                json!([{"name": "t", "count": 2}, {"name": "y", "count": 100_000},
                        {"name": "x", "count": 100_000}]),
            ),
            vec!["20000000000", "bytes per frame"],
        ),
        (
            "millions_of_chunk_files",
            dims(json!([{"name": "t", "count": 100_000, "chunk_size": 1},
                        {"name": "y", "count": 4096, "chunk_size": 1},
                        {"name": "x", "count": 4096, "chunk_size": 1}])),
            vec!["1677721600000", "chunk files per image", "10000000"],
        ),
        (
            "huge_chunk",
            dims(json!([{"name": "t", "count": 4, "chunk_size": u64::MAX},
                        {"name": "y", "count": 64}, {"name": "x", "count": 64}])),
            vec!["18446744073709551615", "exceeds the limit"],
        ),
        (
            "zero_chunk",
            dims(json!([{"name": "t", "count": 4, "chunk_size": 0},
                        {"name": "y", "count": 64}, {"name": "x", "count": 64}])),
            vec!["chunk_size", "must be positive"],
        ),
        (
            "unbounded_inner",
            dims(
                json!([{"name": "t", "count": 2}, {"name": "z", "count": null},
                        {"name": "y", "count": 8}, {"name": "x", "count": 8}]),
            ),
            vec!["dimensions[1].count", "null"],
        ),
        ("no_dimensions", dims(json!([])), vec!["dimensions"]),
        (
            "bad_dtype",
            json!({"root_path": "x.ome.zarr", "dtype": "complex128",
                   "dimensions": [{"name": "y", "count": 8}, {"name": "x", "count": 8}]})
            .to_string(),
            vec!["complex128"],
        ),
    ];
    for (name, text, needles) in &cases {
        refused(d, name, text, needles);
    }
    println!(
        "{} hostile settings files refused, none panicked",
        cases.len()
    );
}

fn write_settings(dir: &Path, settings: &Value) -> String {
    let p = dir.join("s.json");
    std::fs::write(&p, settings.to_string()).unwrap();
    p.to_string_lossy().into_owned()
}

fn tyx(dtype: &str) -> Value {
    json!({"dtype": dtype, "dimensions": [{"name": "t", "count": 3}, {"name": "y", "count": 4},
                                          {"name": "x", "count": 5}]})
}

#[test]
fn unwritable_outputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let s = write_settings(dir.path(), &tyx("uint16"));
    let file = dir.path().join("a_file");
    std::fs::write(&file, b"keep me").unwrap();
    let outputs = [
        file.join("x.ome.zarr"),
        file.join("x.ome.tiff"),
        file.join("deeper/x.ome.zarr"),
        Path::new("/proc/omew_test.ome.zarr").to_owned(),
        Path::new("/proc/omew_test.ome.tiff").to_owned(),
        Path::new("/proc/self/omew/x.ome.zarr").to_owned(),
    ];
    for out in &outputs {
        let o = omew(
            &[
                "write",
                "--settings",
                &s,
                "--output",
                out.to_str().unwrap(),
                "--synthetic",
            ],
            None,
        );
        let err = stderr(&o);
        assert!(!o.status.success(), "{}: accepted", out.display());
        assert!(!err.contains("panicked"), "{}: {err}", out.display());
        assert!(err.contains("omew: error:"), "{}: {err}", out.display());
        println!("ok {}: {}", out.display(), err.trim());
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn existing_outputs_are_refused_and_overwrite_stays_inside_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = write_settings(d, &tyx("uint8"));
    let run = |out: &Path, overwrite: bool| {
        let mut args = vec![
            "write",
            "--settings",
            &s,
            "--output",
            out.to_str().unwrap(),
            "--synthetic",
        ];
        if overwrite {
            args.push("--overwrite");
        }
        omew(&args, None)
    };

    // Existing datasets: refused without --overwrite, replaced with it.
    for name in ["a.ome.zarr", "a.ome.tiff"] {
        let out = d.join(name);
        assert!(run(&out, false).status.success());
        let o = run(&out, false);
        assert!(
            !o.status.success() && stderr(&o).contains("already exists"),
            "{}",
            stderr(&o)
        );
        assert!(run(&out, true).status.success(), "{name}: overwrite");
    }

    // Things that are not our dataset are never removed, overwrite or not.
    let precious_dir = d.join("thesis.ome.zarr");
    std::fs::create_dir(&precious_dir).unwrap();
    std::fs::write(precious_dir.join("chapter1.docx"), b"years of work").unwrap();
    let precious_file = d.join("notes.ome.zarr");
    std::fs::write(&precious_file, b"notes").unwrap();
    let tiff_dir = d.join("dir.ome.tiff");
    std::fs::create_dir(&tiff_dir).unwrap();
    std::fs::write(tiff_dir.join("keep.txt"), b"keep").unwrap();
    let target = d.join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("zarr.json"), b"{}").unwrap();
    std::fs::write(target.join("data.bin"), b"other data").unwrap();
    let link = d.join("link.ome.zarr");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for out in [&precious_dir, &precious_file, &tiff_dir, &link] {
        let o = run(out, true);
        let err = stderr(&o);
        assert!(!o.status.success(), "{}: overwritten", out.display());
        assert!(
            err.contains("refusing to overwrite"),
            "{}: {err}",
            out.display()
        );
        println!("ok {}: {}", out.display(), err.trim());
    }
    assert_eq!(
        std::fs::read(precious_dir.join("chapter1.docx")).unwrap(),
        b"years of work"
    );
    assert_eq!(std::fs::read(&precious_file).unwrap(), b"notes");
    assert_eq!(std::fs::read(tiff_dir.join("keep.txt")).unwrap(), b"keep");
    assert_eq!(
        std::fs::read(target.join("data.bin")).unwrap(),
        b"other data"
    );
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// NaN, infinities, signed zero and subnormals go to disk bit for bit.
#[test]
fn non_finite_floats_are_stored_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let specials32 = [
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001),
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::MIN_POSITIVE / 2.0,
        f32::MAX,
    ];
    let specials64 = [
        f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::MIN_POSITIVE / 4.0,
    ];
    for (dtype, bytes) in [
        (
            "float32",
            (0..60)
                .flat_map(|i| specials32[i % specials32.len()].to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
        (
            "float64",
            (0..60)
                .flat_map(|i| specials64[i % specials64.len()].to_le_bytes())
                .collect::<Vec<u8>>(),
        ),
    ] {
        let s = write_settings(dir.path(), &tyx(dtype));
        let esz = if dtype == "float32" { 4 } else { 8 };
        let frame = 20 * esz;
        for out in ["f.ome.zarr", "f.ome.tiff"] {
            let out = dir.path().join(format!("{dtype}_{out}"));
            let o = omew(
                &[
                    "write",
                    "--settings",
                    &s,
                    "--output",
                    out.to_str().unwrap(),
                    "--input",
                    "-",
                ],
                Some(&bytes),
            );
            assert!(
                o.status.success(),
                "{dtype} {}: {}",
                out.display(),
                stderr(&o)
            );
            if out.extension().is_some_and(|e| e == "zarr") {
                // Uncompressed whole-frame chunks: each chunk file is the frame.
                for t in 0..3 {
                    let chunk = std::fs::read(out.join(format!("0/c/{t}/0/0"))).unwrap();
                    assert_eq!(
                        chunk,
                        bytes[t * frame..(t + 1) * frame],
                        "{dtype} zarr frame {t}"
                    );
                }
            } else {
                // Uncompressed single-strip pages: the frames appear verbatim, in order.
                let file = std::fs::read(&out).unwrap();
                let mut at = 0;
                for t in 0..3 {
                    let want = &bytes[t * frame..(t + 1) * frame];
                    let found = file[at..]
                        .windows(frame)
                        .position(|w| w == want)
                        .unwrap_or_else(|| panic!("{dtype} tiff frame {t} not stored verbatim"));
                    at += found + frame;
                }
            }
            println!("ok {dtype} {}: NaN/inf stored bit for bit", out.display());
        }
    }
}

/// The output directory removed while frames arrive: an I/O error naming a path, no
/// panic, no hang.
#[test]
fn a_vanished_output_directory_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"dtype": "uint8", "dimensions": [{"name": "t", "count": 200},
        {"name": "y", "count": 16}, {"name": "x", "count": 16}]});
    let s = write_settings(dir.path(), &settings);
    for name in ["v.ome.zarr", "v.ome.tiff"] {
        let out = dir.path().join("sub").join(name);
        let mut child = Command::new(env!("CARGO_BIN_EXE_omew"))
            .args(["write", "--settings", &s, "--output", out.to_str().unwrap()])
            .args(["--input", "-", "--flush-every", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        for _ in 0..20 {
            stdin.write_all(&[7u8; 256]).unwrap();
        }
        stdin.flush().unwrap();
        let t0 = std::time::Instant::now();
        while !out.exists() && t0.elapsed().as_secs() < 10 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        // Vanish at once (a rename cannot race with the writer's new files).
        let gone = dir.path().join(format!("gone_{name}"));
        std::fs::rename(dir.path().join("sub"), &gone).unwrap();
        for _ in 20..200 {
            if stdin.write_all(&[7u8; 256]).is_err() {
                break;
            }
        }
        drop(stdin);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{name}: {err}");
        // The dataset (its directory, or the file's folder) was moved away: the writer
        // says so, naming it, at the next durability point or at finish.
        assert!(
            !o.status.success(),
            "{name}: the vanished output went unnoticed"
        );
        assert!(
            err.contains("was removed") || err.contains("No such file or directory"),
            "{name}: {err}"
        );
        println!("ok {name}: status {:?}: {}", o.status.code(), err.trim());
    }
}
