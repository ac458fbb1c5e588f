//! OME-TIFF outputs under hostile conditions, through the stream and `omew`: a writer
//! killed (SIGKILL) after durability points keeps its per-frame metadata through
//! `omew repair`, and files removed or replaced mid-acquisition fail the stream with an
//! error naming them. Read back with tifffile and ome-types (XSD validation), which are
//! required: without them these tests fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ome_writers::{Schema, StreamOptions, create_stream_with};
use ome_writers_tiff::JOURNAL_SUFFIX;
use serde_json::{Value, json};

mod common;

/// Frame `n`: its number in every pixel's pattern (see tests/python/_common.py).
fn frame(n: u64, pixels: u64) -> Vec<u8> {
    (0..pixels)
        .flat_map(|i| {
            let (y, x) = (i / 8, i % 8);
            ((1 + (n * 7 + y * 3 + x) % 30_000) as u16).to_ne_bytes()
        })
        .collect()
}

fn journal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(JOURNAL_SUFFIX);
    PathBuf::from(name)
}

/// tifffile + ome-types on `path` (crates/tiff/tests/support/inspect_tiff.py).
fn inspect(path: &Path) -> Value {
    let py = common::python().expect("tifffile and ome-types are required (OMEW_PYTHON)");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tiff/tests/support/inspect_tiff.py");
    let out = Command::new(py).arg(script).arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "inspect_tiff.py {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn frame_metadata_survives_sigkill_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.ome.tiff");
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        json!({"dtype": "uint16", "dimensions": [
            {"name": "t", "count": 50}, {"name": "c", "count": 2},
            {"name": "y", "count": 8}, {"name": "x", "count": 8}]})
        .to_string(),
    )
    .unwrap();
    let meta = dir.path().join("meta.jsonl");
    let mut lines = String::new();
    for n in 0..100u32 {
        let line = json!({"delta_t": f64::from(n) * 0.5, "exposure_time": f64::from(n + 1) / 64.0,
                          "position_x": 100 + n, "stage": format!("s{n}")});
        lines.push_str(&format!("{line}\n"));
    }
    std::fs::write(&meta, lines).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(["write", "--input", "-", "--flush-every", "4", "--settings"])
        .arg(&settings)
        .arg("--output")
        .arg(&out)
        .arg("--frame-metadata")
        .arg(&meta)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // 18 frames, stdin kept open: the writer waits for more, after 4 durability points.
    let mut stdin = child.stdin.take().unwrap();
    for n in 0..18 {
        stdin.write_all(&frame(n, 64)).unwrap();
    }
    stdin.flush().unwrap();
    let journal = journal_of(&out);
    let t0 = Instant::now();
    let lines = || std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count());
    while lines() < 18 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(lines(), 18, "the writer did not journal every frame");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(stdin);

    let o = Command::new(env!("CARGO_BIN_EXE_omew"))
        .arg("repair")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "repair: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!journal.exists(), "repair leaves the journal behind");
    let file = inspect(&out);
    let pages = file["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 18);
    let image = &file["images"][0];
    assert_eq!(image["plane_count"], 18);
    assert_eq!(image["record"]["status"], "partial", "{image}");
    let planes = image["planes"].as_array().unwrap();
    assert_eq!(planes.len(), 18, "{image}");
    for (n, plane) in planes.iter().enumerate() {
        let n = n as u64;
        let hex: String = frame(n, 64)
            .iter()
            .fold(String::new(), |h, b| h + &format!("{b:02x}"));
        assert_eq!(pages[n as usize], hex.as_str(), "page {n}");
        assert_eq!(plane["the_t"], n / 2, "{plane}");
        assert_eq!(plane["the_c"], n % 2, "{plane}");
        assert_eq!(plane["delta_t"].as_f64(), Some(n as f64 * 0.5), "{plane}");
        assert_eq!(plane["exposure_time"].as_f64(), Some((n + 1) as f64 / 64.0));
        assert_eq!(plane["position_x"].as_f64(), Some(100.0 + n as f64));
        assert_eq!(plane["extra"]["stage"], format!("s{n}"), "{plane}");
    }
}

/// Run a stream into `root`, doing `meddle` to the file `victim` after 4 frames; the
/// stream's finish must fail naming the victim.
fn meddled(settings: Value, root: &Path, victim: &Path, meddle: &dyn Fn(&Path)) {
    let mut settings = settings;
    settings["root_path"] = json!(root.to_string_lossy());
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let options = StreamOptions::default().with_flush_every_frames(2);
    let mut stream = create_stream_with(&schema, &options).unwrap();
    let mut error = None;
    for n in 0..8 {
        if n == 4 {
            meddle(victim);
        }
        if let Err(e) = stream.append_bytes(&frame(n, 64), None) {
            error = Some(e);
            break;
        }
    }
    let finished = stream.finish();
    assert!(
        finished.is_err(),
        "{}: finish reported success",
        victim.display()
    );
    let mut chain = Vec::new();
    for e in error.iter().chain(finished.as_ref().err()) {
        let mut source: Option<&dyn std::error::Error> = Some(e);
        while let Some(s) = source {
            chain.push(s.to_string());
            source = s.source();
        }
    }
    let text = chain.join(" | ");
    assert!(
        text.contains("was removed or replaced during the acquisition")
            && text.contains(&victim.display().to_string()),
        "{text}"
    );
    println!("{}: {text}", victim.display());
}

fn tc(extra: &[Value]) -> Value {
    let mut dims = vec![json!({"name": "t", "count": 4})];
    dims.extend_from_slice(extra);
    dims.push(json!({"name": "c", "count": 2}));
    dims.push(json!({"name": "y", "count": 8}));
    dims.push(json!({"name": "x", "count": 8}));
    json!({"dtype": "uint16", "format": {"name": "ome-tiff"}, "dimensions": dims})
}

#[test]
fn outputs_removed_or_replaced_fail_the_stream() {
    let dir = tempfile::tempdir().unwrap();
    let unlink = |p: &Path| std::fs::remove_file(p).unwrap();
    let replace = |p: &Path| {
        std::fs::remove_file(p).unwrap();
        std::fs::write(p, b"another file").unwrap();
    };
    let single = dir.path().join("unlinked.ome.tiff");
    meddled(tc(&[]), &single, &single, &unlink);
    let single = dir.path().join("replaced.ome.tiff");
    meddled(tc(&[]), &single, &single, &replace);
    assert_eq!(std::fs::read(&single).unwrap(), b"another file");
    let multi = dir.path().join("multi");
    let victim = multi.join("multi_p001.ome.tiff");
    let positions = json!({"name": "p", "type": "position", "coords": ["a", "b"]});
    meddled(tc(&[positions]), &multi, &victim, &unlink);
}

#[test]
fn repair_cuts_a_torn_tail_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("torn.ome.tiff");
    let settings = dir.path().join("settings.json");
    std::fs::write(
        &settings,
        json!({"dtype": "uint16", "dimensions": [
            {"name": "t", "count": 3}, {"name": "c", "count": 2},
            {"name": "y", "count": 8}, {"name": "x", "count": 8}]})
        .to_string(),
    )
    .unwrap();
    let frames: Vec<u8> = (0..6).flat_map(|n| frame(n, 64)).collect();
    let args = ["write", "--input", "-", "--settings"];
    let mut argv: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    argv.extend([settings.display().to_string(), "--output".to_owned()]);
    argv.push(out.display().to_string());
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let o = common::omew(&argv, Some(&frames));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // An interrupted copy: the final OME-XML, written last, is cut in half.
    let bytes = std::fs::read(&out).unwrap();
    let tail = bytes.len() - bytes.iter().rev().position(|&b| b == b'<').unwrap();
    std::fs::write(&out, &bytes[..tail - 200]).unwrap();
    let o = common::omew(&["repair", &out.display().to_string()], None);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("torn tail of"), "{stdout}");
    let file = inspect(&out);
    let pages = file["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 6);
    for (n, page) in pages.iter().enumerate() {
        let hex: String = frame(n as u64, 64)
            .iter()
            .fold(String::new(), |h, b| h + &format!("{b:02x}"));
        assert_eq!(page, hex.as_str(), "page {n}");
    }
    let image = &file["images"][0];
    assert_eq!(image["plane_count"], 6);
    assert_eq!(image["record"]["status"], "complete", "{image}");
}
