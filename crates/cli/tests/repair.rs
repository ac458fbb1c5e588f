//! `omew repair` beyond the crash test: several positions with per-frame metadata (the
//! journal is folded in, a torn last line skipped), finished datasets left alone, and
//! paths that are not datasets refused without a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn omew(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(args)
        .output()
        .unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn snapshot(path: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for e in entries {
            snapshot(&e, out);
        }
    } else {
        out.push((path.display().to_string(), std::fs::read(path).unwrap()));
    }
}

/// Write `frames` frames through a pipe with metadata, then kill the writer.
fn killed_write(dir: &Path, settings: &Value, output: &Path, frames: usize, frame_bytes: usize) {
    let s = dir.join("settings.json");
    std::fs::write(&s, settings.to_string()).unwrap();
    let meta = dir.join("meta.jsonl");
    let mut lines = String::new();
    for n in 0..1000 {
        lines.push_str(&format!(
            "{{\"delta_t\": {n}.5, \"note\": \"frame {n}\"}}\n"
        ));
    }
    std::fs::write(&meta, lines).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_omew"))
        .arg("write")
        .arg("--settings")
        .arg(&s)
        .arg("--output")
        .arg(output)
        .arg("--frame-metadata")
        .arg(&meta)
        .args(["--input", "-", "--flush-every", "4"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for n in 0..frames {
        stdin
            .write_all(&vec![(n % 250) as u8 + 1; frame_bytes])
            .unwrap();
    }
    stdin.flush().unwrap();
    // Wait until the writer has made its durability points, then kill it.
    let t0 = Instant::now();
    let want = (frames / 4 * 4 / 2) as u64;
    while t0.elapsed() < Duration::from_secs(20) {
        let written = std::fs::read(output.join("left/zarr.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["attributes"]["ome_writers"]["frames_written"].as_u64())
            .unwrap_or(0);
        if written >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn several_positions_with_a_metadata_journal() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pos.ome.zarr");
    let settings = json!({"dtype": "uint8", "dimensions": [
        {"name": "t", "count": 50}, {"name": "p", "type": "position", "coords": ["left", "right"]},
        {"name": "c", "count": 2}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]});
    killed_write(dir.path(), &settings, &out, 30, 64);
    // A torn last journal line, as a kill during an append leaves it.
    let journal = out.join("left/ome_writers_frames.jsonl");
    if journal.exists() {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&journal)
            .unwrap();
        f.write_all(b"{\"delta_t\": 99.").unwrap();
    }
    let before: Vec<u64> = ["left", "right"]
        .iter()
        .map(|g| {
            read_json(&out.join(g).join("zarr.json"))["attributes"]["ome_writers"]["frames_written"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let o = omew(&["repair".as_ref(), out.as_os_str()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    println!("{stdout}");
    let mut shapes = Vec::new();
    for (g, durable) in ["left", "right"].iter().zip(before) {
        let attrs = &read_json(&out.join(g).join("zarr.json"))["attributes"]["ome_writers"];
        assert_eq!(attrs["status"], "partial", "{g}");
        assert!(attrs.get("frame_metadata_journal").is_none(), "{g}");
        let fm = attrs["frame_metadata"].as_array().unwrap();
        assert_eq!(attrs["frame_metadata_count"], fm.len());
        // Every frame durable before the kill kept its metadata, in order.
        assert!(fm.len() as u64 >= durable, "{g}: {} < {durable}", fm.len());
        for (i, entry) in fm.iter().enumerate() {
            assert!(entry["storage_index"].is_array(), "{g}: entry {i}: {entry}");
        }
        assert!(!out.join(g).join("ome_writers_frames.jsonl").exists());
        let repaired = &attrs["repaired"];
        assert_eq!(repaired["frames_durable"], durable);
        if *g == "left" && journal.exists() {
            assert_eq!(repaired["journal_lines_unreadable"], 1);
        }
        shapes.push(read_json(&out.join(g).join("0/zarr.json"))["shape"].clone());
    }
    // One extent for every image, as finish gives.
    assert_eq!(shapes[0], shapes[1]);
    // Idempotent: nothing changes the second time.
    let mut a = Vec::new();
    snapshot(&out, &mut a);
    let o = omew(&["repair".as_ref(), out.as_os_str()]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to repair"));
    let mut b = Vec::new();
    snapshot(&out, &mut b);
    assert!(a == b, "a second repair changed the dataset");
}

#[test]
fn finished_datasets_are_left_alone_and_non_datasets_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = dir.path().join("s.json");
    std::fs::write(
        &s,
        json!({"dtype": "uint16", "dimensions": [{"name": "t", "count": 3},
            {"name": "y", "count": 4}, {"name": "x", "count": 4}]})
        .to_string(),
    )
    .unwrap();
    for name in ["done.ome.zarr", "done.ome.tiff"] {
        let out = dir.path().join(name);
        let o = omew(&[
            "write".as_ref(),
            "--settings".as_ref(),
            s.as_os_str(),
            "--output".as_ref(),
            out.as_os_str(),
            "--synthetic".as_ref(),
        ]);
        assert!(o.status.success());
        let mut a = Vec::new();
        snapshot(&out, &mut a);
        let o = omew(&["repair".as_ref(), out.as_os_str()]);
        assert!(o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to repair"));
        let mut b = Vec::new();
        snapshot(&out, &mut b);
        assert!(a == b, "{name}: repair touched a finished dataset");
    }
    // Not datasets: an error, never a panic, nothing changed.
    let junk = dir.path().join("junk.ome.tiff");
    std::fs::write(&junk, b"II*\0not really a tiff").unwrap();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("notes.txt"), b"x").unwrap();
    let bad_json = dir.path().join("bad.ome.zarr");
    std::fs::create_dir(&bad_json).unwrap();
    std::fs::write(bad_json.join("zarr.json"), b"{\"zarr_format\": 3, ").unwrap();
    for p in [
        junk.as_path(),
        &other,
        &bad_json,
        &dir.path().join("missing"),
    ] {
        let o = omew(&["repair".as_ref(), p.as_os_str()]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{}: accepted", p.display());
        assert!(
            err.contains("omew: error:") && !err.contains("panicked"),
            "{err}"
        );
        println!("ok {}: {}", p.display(), err.trim());
    }
    assert_eq!(std::fs::read(&junk).unwrap(), b"II*\0not really a tiff");
}
