//! The `omew` binary end to end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::omew;
use serde_json::{Value, json};

fn settings(dir: &Path, dims: Value) -> String {
    let path = dir.join("settings.json");
    std::fs::write(
        &path,
        json!({"dtype": "uint16", "dimensions": dims}).to_string(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn group_attrs(root: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(root.join("zarr.json")).unwrap()).unwrap();
    v["attributes"]["ome_writers"].clone()
}

fn tyx() -> Value {
    json!([{"name": "t", "count": 4}, {"name": "y", "count": 3}, {"name": "x", "count": 2}])
}

#[test]
fn synthetic_write_reports_where_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), tyx());
    let out = dir.path().join("syn.ome.zarr");
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
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("wrote 4 frames") && stdout.contains("syn.ome.zarr"),
        "{stdout}"
    );
    assert_eq!(group_attrs(&out)["status"], "complete");
    // Again without --overwrite: refused, dataset untouched.
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
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));
    let o = omew(
        &[
            "write",
            "--settings",
            &s,
            "--output",
            out.to_str().unwrap(),
            "--synthetic",
            "--overwrite",
        ],
        None,
    );
    assert!(o.status.success());
}

#[test]
fn stdin_frames_with_a_trailing_partial_frame_keep_every_complete_frame() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), tyx());
    let out = dir.path().join("stdin.ome.zarr");
    let frame = 12usize; // 3 x 2 uint16
    let input: Vec<u8> = (0..(2 * frame + 5) as u8).collect();
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
        Some(&input),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("partial frame: 5 of 12 bytes after 2 complete frames"),
        "{err}"
    );
    let attrs = group_attrs(&out);
    assert_eq!(attrs["frames_written"], 2);
    assert_eq!(attrs["status"], "partial");
    let array: Value =
        serde_json::from_slice(&std::fs::read(out.join("0/zarr.json")).unwrap()).unwrap();
    assert_eq!(array["shape"], json!([2, 3, 2]));
}

#[test]
fn more_input_than_declared_is_an_error_after_writing_the_declared_frames() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), tyx());
    let out = dir.path().join("extra.ome.zarr");
    let raw = dir.path().join("frames.raw");
    std::fs::write(&raw, vec![1u8; 12 * 5]).unwrap();
    let o = omew(
        &[
            "write",
            "--settings",
            &s,
            "--output",
            out.to_str().unwrap(),
            "--input",
            raw.to_str().unwrap(),
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("more than the 4 frames"));
    assert_eq!(group_attrs(&out)["status"], "complete");
}

#[test]
fn frame_metadata_lines_are_stored_per_frame() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), tyx());
    let out = dir.path().join("meta.ome.zarr");
    let meta = dir.path().join("meta.jsonl");
    std::fs::write(
        &meta,
        "{\"delta_t\": 0.0}\n{\"delta_t\": 1.5, \"stage\": [1, 2]}\n",
    )
    .unwrap();
    let o = omew(
        &[
            "write",
            "--settings",
            &s,
            "--output",
            out.to_str().unwrap(),
            "--synthetic",
            "--frame-metadata",
            meta.to_str().unwrap(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let fm = &group_attrs(&out)["frame_metadata"];
    assert_eq!(fm.as_array().unwrap().len(), 2);
    assert_eq!(
        fm[1],
        json!({"delta_t": 1.5, "stage": [1, 2], "storage_index": [1]})
    );
}

#[test]
fn check_settings_names_the_bad_field() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(
        dir.path(),
        json!([{"name": "t", "count": 2}, {"name": "z", "count": null}, {"name": "y", "count": 3}, {"name": "x", "count": 2}]),
    );
    let o = omew(&["check-settings", &s], None);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "dimensions[1].count: null: unbounded (null) is only allowed for the first dimension"
        ),
        "{err}"
    );
}

/// `omew bench` at a toy size: every workload runs, and each row carries the figures
/// the performance goals are judged by (ratios to the disk and, compressed, to the
/// codec measured in the same run).
#[test]
fn bench_reports_every_workload_with_its_references() {
    let dir = tempfile::tempdir().unwrap();
    let o = omew(
        &[
            "bench",
            "--frames",
            "16",
            "--size",
            "64",
            "--json",
            "--dir",
            &dir.path().to_string_lossy(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["workload"].as_str()).collect();
    for w in [
        "W1 zarr",
        "W2 zarr sharded",
        "W3 zarr zstd-1",
        "W3 zarr blosc-lz4-1",
        "W1 ome-tiff",
    ] {
        assert!(names.contains(&w), "{w} missing from {names:?}");
    }
    for r in &rows {
        let name = r["workload"].as_str().unwrap();
        assert_eq!(r["bytes"], json!(16 * 64 * 64 * 2), "{name}");
        for k in [
            "mb_per_s",
            "ratio_to_disk",
            "peak_rss_bytes",
            "append_p99_us",
        ] {
            assert!(
                r[k].as_f64().is_some_and(|x| x > 0.0),
                "{name}: {k} = {}",
                r[k]
            );
        }
        assert!(r["appends_over_1ms"].as_u64().is_some(), "{name}");
        assert_eq!(
            r["appends_over_1ms_blocked"].as_u64().is_some(),
            name.contains("paced"),
            "{name}"
        );
        let unpaced_w3 = name.starts_with("W3") && !name.contains("paced");
        for k in [
            "codec_1core_mb_per_s",
            "codec_1core_burst_mb_per_s",
            "codec_all_cores_mb_per_s",
            "ratio_to_codec_x_cores",
        ] {
            assert_eq!(
                r[k].as_f64().is_some_and(|x| x > 0.0),
                unpaced_w3,
                "{name}: {k}"
            );
        }
        if name.starts_with("W3") {
            assert!(r["compression_ratio"].as_f64().unwrap() > 1.0, "{name}");
        }
    }
    // Nothing is left behind in the scratch directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// The encoder flags reach the writer (a compressed write with them completes), and a
/// bad value is refused by name before anything is written.
#[test]
fn encoder_flags_are_accepted_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.json");
    std::fs::write(
        &path,
        json!({"dtype": "uint16", "compression": "zstd", "dimensions": tyx()}).to_string(),
    )
    .unwrap();
    let s = path.to_string_lossy().into_owned();
    let out = dir.path().join("enc.ome.zarr");
    let write = |out: &Path, flags: &[&str]| {
        let out = out.to_string_lossy();
        let base = ["write", "--settings", &s, "--output", &out, "--synthetic"];
        omew(&[&base[..], flags].concat(), None)
    };
    let o = write(
        &out,
        &["--encoder-threads", "2", "--encoder-priority", "normal"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(group_attrs(&out)["status"], "complete");
    let codecs = std::fs::read_to_string(out.join("0/zarr.json")).unwrap();
    assert!(codecs.contains("\"zstd\""), "{codecs}");
    for (flag, value) in [("--encoder-threads", "0"), ("--encoder-priority", "high")] {
        let fresh = dir.path().join(format!("bad{value}.ome.zarr"));
        let o = write(&fresh, &[flag, value]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success());
        assert!(err.contains(flag) && err.contains(value), "{err}");
        assert!(!fresh.exists());
    }
}

/// `omew` with extra environment variables.
fn omew_env(args: &[&str], env: &[(&'static str, String)]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn write_repair_and_bench_take_s3_addresses() {
    use ome_writers_test_support::s3::{BUCKET, S3Server};
    let server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let s = settings(dir.path(), tyx());
    let url = format!("s3://{BUCKET}/cli/run.ome.zarr");
    // Credentials and endpoint from the standard AWS environment.
    let env = server.python_env();
    let o = omew_env(
        &["write", "--settings", &s, "--output", &url, "--synthetic"],
        &env,
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&o.stdout).contains(&format!("-> {url}")));
    let local = server.root().join(BUCKET).join("cli/run.ome.zarr");
    assert_eq!(group_attrs(&local)["status"], "complete");
    assert!(!Path::new("s3:").exists(), "nothing written locally");

    // The endpoint as a flag instead (the keys still from the environment).
    let keys: Vec<_> = env
        .iter()
        .filter(|(k, _)| k.contains("KEY"))
        .cloned()
        .collect();
    let endpoint = server.endpoint();
    let o = omew_env(&["repair", &url, "--s3-endpoint", &endpoint], &keys);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("nothing to repair"), "{stdout}");

    let prefix = format!("s3://{BUCKET}/bench");
    let o = omew_env(
        &[
            "bench",
            "--s3-url",
            &prefix,
            "--frames",
            "4",
            "--size",
            "64",
            "--s3-endpoint",
            &endpoint,
        ],
        &keys,
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        stdout.contains("| W1 zarr to S3 |") && stdout.contains("x plain upload"),
        "{stdout}"
    );
    assert!(
        !server
            .root()
            .join(BUCKET)
            .join("bench")
            .join("bench.ome.zarr/zarr.json")
            .exists()
    );
}
