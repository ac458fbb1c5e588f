//! Hostile outputs for `omew write`: `--overwrite` on things this library did not write,
//! an input inside the output, two writers on one path, an overwrite that fails half
//! way. Every case checks that each file the library did not write is still there,
//! byte for byte, and reads what it did write with zarr-python or tifffile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

use common::{omew, python};

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every file under `dir` (links and all) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            out.extend(snapshot(&e.path()));
        } else if t.is_symlink() {
            let target = std::fs::read_link(e.path()).unwrap();
            out.insert(e.path(), target.to_string_lossy().as_bytes().to_vec());
        } else {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

/// Run Python code in the readers' venv (zarr-python, tifffile); it must succeed.
fn py(code: &str) -> String {
    let Some(py) = python() else {
        return String::new();
    };
    let o = Command::new(py).args(["-c", code]).output().unwrap();
    assert!(
        o.status.success(),
        "python failed:\n{code}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn settings_file(dir: &Path, name: &str, t: u64) -> String {
    let s = json!({"dtype": "uint8", "dimensions": [
        {"name": "t", "count": t}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]});
    let path = dir.join(name);
    std::fs::write(&path, s.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn write(settings: &str, out: &Path, overwrite: bool) -> Output {
    let mut args = vec![
        "write",
        "--settings",
        settings,
        "--output",
        out.to_str().unwrap(),
        "--synthetic",
    ];
    if overwrite {
        args.push("--overwrite");
    }
    omew(&args, None)
}

/// `--overwrite` on `out` is refused with a message holding `needle`, and nothing in
/// `dir` changed.
fn refused(dir: &Path, settings: &str, out: &Path, needle: &str) {
    let before = snapshot(dir);
    let o = write(settings, out, true);
    let err = stderr(&o);
    assert!(!o.status.success(), "{}: overwritten", out.display());
    assert!(
        err.contains("refusing to overwrite") && err.contains(needle),
        "{}: {err}",
        out.display()
    );
    assert!(before == snapshot(dir), "{}: files changed", out.display());
    println!("ok refused {}: {}", out.display(), err.trim());
}

#[test]
fn overwrite_never_touches_what_this_library_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = settings_file(d, "s.json", 2);
    // Datasets written by other software: zarr-python and tifffile.
    let root = d.to_str().unwrap();
    py(&format!(
        "import zarr, numpy as np, tifffile\n\
         g = zarr.open_group('{root}/other.ome.zarr', mode='w')\n\
         g.create_array('0', shape=(2, 8, 8), dtype='uint8')[:] = 5\n\
         tifffile.imwrite('{root}/other.ome.tiff', np.full((2, 8, 8), 5, 'uint8'), ome=True)"
    ));
    refused(
        d,
        &s,
        &d.join("other.ome.zarr"),
        "not written by ome-writers-rs",
    );
    refused(
        d,
        &s,
        &d.join("other.ome.tiff"),
        "not written by ome-writers-rs",
    );
    // A text file with a TIFF name.
    std::fs::write(d.join("notes.ome.tiff"), b"lab notes").unwrap();
    refused(
        d,
        &s,
        &d.join("notes.ome.tiff"),
        "not written by ome-writers-rs",
    );
    // Our own datasets with a user's files put inside: refused, naming them.
    let ours = d.join("ours.ome.zarr");
    assert!(write(&s, &ours, false).status.success());
    std::fs::write(ours.join("analysis.csv"), b"a,b").unwrap();
    std::fs::write(ours.join("0/c/thesis.docx"), b"years of work").unwrap();
    refused(d, &s, &ours, "analysis.csv");
    refused(d, &s, &ours, "thesis.docx");
    let multi = json!({"dtype": "uint8", "dimensions": [
        {"name": "p", "count": 2}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]});
    std::fs::write(d.join("multi.json"), multi.to_string()).unwrap();
    let m = d.join("multi.json").to_string_lossy().into_owned();
    let set = d.join("set.ome.tiff");
    assert!(write(&m, &set, false).status.success());
    std::fs::write(d.join("set/keep.txt"), b"keep").unwrap();
    refused(d, &m, &set, "keep.txt");
}

#[test]
fn overwrite_replaces_our_own_dataset_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for name in ["run.ome.zarr", "run.ome.tiff"] {
        let out = d.join(name);
        assert!(
            write(&settings_file(d, "two.json", 2), &out, false)
                .status
                .success()
        );
        let o = write(&settings_file(d, "three.json", 3), &out, true);
        assert!(o.status.success(), "{name}: {}", stderr(&o));
        let path = out.to_str().unwrap();
        let shape = if name.ends_with("zarr") {
            py(&format!(
                "import zarr; print(list(zarr.open_array('{path}/0', mode='r').shape))"
            ))
        } else {
            py(&format!(
                "import tifffile; print(list(tifffile.imread('{path}').shape))"
            ))
        };
        assert_eq!(shape, "[3, 8, 8]", "{name}: the new dataset");
    }
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["run.ome.tiff", "run.ome.zarr", "three.json", "two.json"],
        "no lock file and no old copy left"
    );
}

#[test]
fn an_input_inside_the_output_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = settings_file(d, "s.json", 2);
    let out = d.join("run.ome.zarr");
    assert!(write(&s, &out, false).status.success());
    let input = out.join("0/c/frames.raw");
    std::fs::write(&input, vec![9u8; 128]).unwrap();
    let before = snapshot(d);
    for overwrite in [false, true] {
        let mut args = vec!["write", "--settings", &s, "--output"];
        args.extend([out.to_str().unwrap(), "--input", input.to_str().unwrap()]);
        if overwrite {
            args.push("--overwrite");
        }
        let o = omew(&args, None);
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("is inside the output"),
            "{}",
            stderr(&o)
        );
    }
    assert!(before == snapshot(d), "the input or the dataset changed");
}

#[test]
fn a_second_writer_on_the_same_output_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = settings_file(d, "s.json", 4);
    let out = d.join("run.ome.zarr");
    let mut first = Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(["write", "--settings", &s, "--input", "-", "--output"])
        .arg(&out)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = first.stdin.take().unwrap();
    stdin.write_all(&[42u8; 64]).unwrap();
    let t0 = Instant::now();
    while !out.join("zarr.json").exists() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(5));
    }
    // While the first runs: a second writer, with and without --overwrite, and a
    // repair, are all refused at once.
    for overwrite in [true, false] {
        let o = write(&s, &out, overwrite);
        assert!(!o.status.success(), "a second writer ran");
        assert!(stderr(&o).contains("another writer"), "{}", stderr(&o));
    }
    let o = omew(&["repair", out.to_str().unwrap()], None);
    assert!(!o.status.success(), "repair ran beside a writer");
    assert!(stderr(&o).contains("another writer"), "{}", stderr(&o));
    stdin.write_all(&[42u8; 64 * 3]).unwrap();
    drop(stdin);
    let o = first.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let path = out.to_str().unwrap();
    let got = py(&format!(
        "import zarr, numpy as np\n\
         a = zarr.open_array('{path}/0', mode='r')[...]\n\
         print(a.shape, bool((a == 42).all()))"
    ));
    assert_eq!(got, "(4, 8, 8) True", "only the first writer's frames");
}

#[test]
fn an_overwrite_that_cannot_create_the_new_dataset_keeps_the_old_one() {
    let Some(fs) = common::tmpfs("1m") else {
        return;
    };
    let d = fs.path();
    let s = settings_file(d, "s.json", 2);
    let out = d.join("run.ome.zarr");
    assert!(write(&s, &out, false).status.success());
    // Fill the disk: the new dataset's first metadata cannot be written.
    let mut filler = std::fs::File::create(d.join("filler")).unwrap();
    while filler.write_all(&[0u8; 4096]).is_ok() {}
    drop(filler);
    let before = snapshot(d);
    let o = write(&s, &out, true);
    assert!(!o.status.success(), "overwrite on a full disk succeeded?");
    assert!(stderr(&o).contains("No space left"), "{}", stderr(&o));
    assert!(before == snapshot(d), "the old dataset was not kept intact");
    std::fs::remove_file(d.join("filler")).unwrap();
    let path = out.to_str().unwrap();
    let shape = py(&format!(
        "import zarr; print(list(zarr.open_array('{path}/0', mode='r').shape))"
    ));
    assert_eq!(shape, "[2, 8, 8]");
}

/// Settings JSON with a `frame_metadata` key the library writes itself: refused by
/// name, not silently overwritten.
#[test]
fn reserved_frame_metadata_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = settings_file(d, "s.json", 2);
    let meta = d.join("meta.jsonl");
    std::fs::write(&meta, "{\"storage_index\": [9]}\n{}\n").unwrap();
    let out = d.join("run.ome.zarr");
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
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("\"storage_index\" is reserved"),
        "{}",
        stderr(&o)
    );
    let _: Value = serde_json::from_slice(&std::fs::read(out.join("zarr.json")).unwrap()).unwrap();
}

/// An I/O error names its path and its OS error once each.
#[test]
fn an_io_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let s = settings_file(d, "s.json", 2);
    std::fs::write(d.join("file"), b"x").unwrap();
    for name in ["run.ome.zarr", "run.ome.tiff"] {
        let out = d.join("file").join(name);
        let err = stderr(&write(&s, &out, false));
        assert_eq!(err.matches("(os error").count(), 1, "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&d.join("file").display().to_string()), "{err}");
    }
}
