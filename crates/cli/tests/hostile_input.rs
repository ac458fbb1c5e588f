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

/// A stand-in for omero-py's `omero`: answers the reader's queries from files in
/// `dir` (`pixels.csv` for the Pixels row, `files.csv` for the fileset), no
/// ExternalInfo.
#[cfg(unix)]
fn stand_in(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let exe = dir.join("omero");
    let script = format!(
        r#"#!/bin/sh
case "$*" in
  *"from Pixels p"*) cat '{d}/pixels.csv' ;;
  *usedFiles*) cat '{d}/files.csv' ;;
  *ext-info-get*) echo "No ExternalInfo found: Image:1" >&2; exit 90 ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
"#,
        d = dir.display()
    );
    std::fs::write(&exe, script).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    exe
}

/// `omew omero load --image 101 [--output OUT]` against the stand-in, under a
/// 2 GiB address-space limit (`ulimit -v`), killed after 60 s.
#[cfg(unix)]
fn omero_load(dir: &Path, data: &Path, output: Option<&Path>) -> Output {
    let exe = stand_in(dir);
    let mut cmd = format!(
        "ulimit -v 2097152; exec '{}' omero load --data-dir '{}' --omero-executable '{}' \
         --server localhost --port 4064 --key k --image 101",
        env!("CARGO_BIN_EXE_omew"),
        data.display(),
        exe.display()
    );
    if let Some(out) = output {
        cmd.push_str(&format!(" --output '{}'", out.display()));
    }
    run_with_timeout(std::process::Command::new("sh").arg("-c").arg(cmd), 60)
}

fn run_with_timeout(cmd: &mut std::process::Command, secs: u64) -> Output {
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("hung: killed after {secs} s\n{}", stderr(&o));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// A data directory with an empty `ManagedRepository/`, and the Pixels row the
/// stand-in answers: pixels 1001 of `x y z c t`, uint16.
#[cfg(unix)]
fn omero_site(dir: &Path, sizes: [u64; 5], files: &[(&str, &str)]) -> PathBuf {
    let data = dir.join("OMERO");
    std::fs::create_dir_all(data.join("ManagedRepository")).unwrap();
    std::fs::create_dir_all(data.join("Pixels/Dir-001")).unwrap();
    let [x, y, z, c, t] = sizes;
    std::fs::write(
        dir.join("pixels.csv"),
        format!("#,Col1,Col2,Col3,Col4,Col5,Col6,Col7,Col8,Col9\n0,1001,{x},{y},{z},{c},{t},uint16,XYZCT,0\n"),
    )
    .unwrap();
    let mut csv = String::from(if files.is_empty() {
        "#\n"
    } else {
        "#,Col1,Col2\n"
    });
    for (i, (path, name)) in files.iter().enumerate() {
        csv.push_str(&format!("{i},{path},{name}\n"));
    }
    std::fs::write(dir.join("files.csv"), csv).unwrap();
    data
}

const HUGE: [u64; 5] = [1024, 1024, 1024, 1, 1024];

/// `omew omero load` of images declared as 2^40 pixels, under a 2 GiB address-space
/// limit: a ROMIO file or an OME-TIFF smaller than declared is an error naming the
/// size; a sparse OME-Zarr of that size loads (nothing is read up front).
#[cfg(unix)]
#[test]
fn omero_load_of_a_huge_declared_image_is_an_error_or_streams_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // ROMIO: 16 bytes on disk.
    let data = omero_site(d, HUGE, &[]);
    std::fs::write(data.join("Pixels/Dir-001/1001"), [0u8; 16]).unwrap();
    let o = omero_load(d, &data, Some(&d.join("out.ome.zarr")));
    let err = failed_cleanly(&o, "huge ROMIO");
    assert!(
        err.contains(
            "X=1024 Y=1024 Z=1024 C=1 T=1024 uint16 holds 2199023255552 bytes, this one has 16"
        ),
        "{err}"
    );
    assert!(!d.join("out.ome.zarr").exists(), "nothing written");

    // An OME-TIFF fileset of 2 planes declared as 2^40 pixels.
    let rel = "alice/huge";
    let tiff_dir = d.join("t");
    let data = omero_site(&tiff_dir, HUGE, &[(&format!("{rel}/"), "h.ome.tiff")]);
    let path = data.join("ManagedRepository").join(rel).join("h.ome.tiff");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let s = d.join("tiff-settings.json");
    std::fs::write(
        &s,
        json!({"dtype": "uint16", "dimensions": [{"name": "z", "count": 2},
            {"name": "y", "count": 1024}, {"name": "x", "count": 1024}]})
        .to_string(),
    )
    .unwrap();
    let w = omew(
        &[
            "write",
            "--settings",
            s.to_str().unwrap(),
            "--output",
            path.to_str().unwrap(),
            "--synthetic",
        ],
        None,
    );
    assert!(w.status.success(), "{}", stderr(&w));
    let o = omero_load(&tiff_dir, &data, Some(&d.join("out2.ome.zarr")));
    let err = failed_cleanly(&o, "huge OME-TIFF");
    assert!(
        err.contains("declared as X=1024 Y=1024 Z=1024 C=1 T=1024: 1048576 planes"),
        "{err}"
    );

    // A sparse OME-Zarr fileset of 2^40 pixels: metadata only.
    let zarr_dir = d.join("z");
    let rel = "alice/sparse.ome.zarr";
    let data = omero_site(&zarr_dir, HUGE, &[(&format!("{rel}/"), "zarr.json")]);
    sparse_zarr(&data.join("ManagedRepository").join(rel), HUGE);
    let o = omero_load(&zarr_dir, &data, None);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("X=1024 Y=1024 Z=1024 C=1 T=1024 uint16 from fileset-zarr"),
        "{out}"
    );
}

/// OME-Zarr 0.5 metadata of a `t, c, z, y, x` uint16 image, one chunk per plane, no
/// chunk written.
fn sparse_zarr(group: &Path, [x, y, z, c, t]: [u64; 5]) {
    let axes: Vec<Value> = [
        ("t", "time"),
        ("c", "channel"),
        ("z", "space"),
        ("y", "space"),
        ("x", "space"),
    ]
    .iter()
    .map(|(n, k)| json!({"name": n, "type": k}))
    .collect();
    let ms = json!([{"axes": axes, "datasets": [{"path": "0", "coordinateTransformations":
        [{"type": "scale", "scale": [1.0, 1.0, 1.0, 1.0, 1.0]}]}]}]);
    let g = json!({"zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": ms}}});
    let a = json!({"zarr_format": 3, "node_type": "array",
        "shape": [t, c, z, y, x], "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [1, 1, 1, y, x]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
        "dimension_names": ["t", "c", "z", "y", "x"]});
    std::fs::create_dir_all(group.join("0")).unwrap();
    std::fs::write(group.join("zarr.json"), g.to_string()).unwrap();
    std::fs::write(group.join("0/zarr.json"), a.to_string()).unwrap();
}

/// A FIFO where the ROMIO pixel file is: `omew omero load` and `omew omero
/// export-pixels` refuse it, naming the path, instead of blocking in open().
#[cfg(unix)]
#[test]
fn omero_pixel_files_that_are_fifos_are_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = omero_site(d, [2, 2, 1, 1, 1], &[]);
    let fifo = data.join("Pixels/Dir-001/1001");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let want = format!("{}: expected a regular file, found a FIFO", fifo.display());
    let o = omero_load(d, &data, Some(&d.join("out.ome.zarr")));
    let err = failed_cleanly(&o, "load of a FIFO");
    assert!(err.contains(&want), "{err}");
    let out = d.join("export.ome.zarr");
    let o = run_with_timeout(
        std::process::Command::new(env!("CARGO_BIN_EXE_omew")).args([
            "omero",
            "export-pixels",
            "--data-dir",
            data.to_str().unwrap(),
            "--pixels-id",
            "1001",
            "--size-x",
            "2",
            "--size-y",
            "2",
            "--type",
            "uint16",
            "--output",
            out.to_str().unwrap(),
        ]),
        60,
    );
    let err = failed_cleanly(&o, "export-pixels of a FIFO");
    assert!(err.contains(&want), "{err}");
    assert!(!out.exists(), "nothing written");
}
