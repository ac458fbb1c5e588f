//! Crash consistency of the real `omew write` binary.
//!
//! Each case runs `omew write` in a child process with a small `--flush-every`, feeding
//! it frames through a pipe (so the test knows exactly how many frames were handed over)
//! or letting it make `--synthetic` frames, and kills it with SIGKILL at points chosen
//! by a seeded RNG (`OMEW_CRASH_SEED`, printed). Then, for every kill point:
//!
//! - the dataset opens with the ordinary readers (zarr-python + yaozarrs, tifffile + the
//!   OME XSD, Bio-Formats for a few TIFF points), every frame before the last
//!   durability point (zarr: `frames_written`; TIFF: the provisional OME-XML's planes)
//!   reads back exactly, every later frame reads back whole or as zeros, and no plane
//!   holds data no frame put there (crates/cli/tests/crash_check.py);
//! - `omew repair` finalizes a copy; the same checks pass on it with the final
//!   metadata; a second `omew repair` changes no byte.
//!
//! A third of the kill points of the piped cases send SIGTERM or SIGINT instead: then
//! `omew write` must exit with 128 + the signal number having finished the dataset
//! (every frame it read stored, status partial), so the first repair finds nothing to do.
//!
//! It prints the number of kill points and the frames lost (must be 0).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ome_writers_router::FrameRouter;
use ome_writers_schema::{DType, FrameNumber, Schema};
use serde_json::{Value, json};

mod common;

/// splitmix64: a small seeded generator (no dependency needed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Feed {
    /// Frames written to the child's stdin by the test; kill after a random count.
    Pipe,
    /// `--synthetic`; kill after a random delay.
    Synthetic,
}

struct Case {
    name: &'static str,
    /// Settings without root_path.
    settings: Value,
    /// `--output`.
    output: &'static str,
    /// What the dataset is on disk: the output, or the folder of a multi-file OME-TIFF.
    dataset: &'static str,
    feed: Feed,
    /// Frames to hand over at most (pipe) or `--frames` (synthetic).
    frames: u64,
    flush_every: u64,
    kills: usize,
    /// Run Bio-Formats on the first kill point (TIFF).
    bioformats: bool,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "zarr_raw",
            settings: json!({"dtype": "uint16", "dimensions": [
                {"name": "t", "count": 150}, {"name": "c", "count": 2},
                {"name": "y", "count": 32}, {"name": "x", "count": 32}]}),
            output: "raw.ome.zarr",
            dataset: "raw.ome.zarr",
            feed: Feed::Pipe,
            frames: 300,
            flush_every: 5,
            kills: 12,
            bioformats: false,
        },
        Case {
            name: "zarr_zstd_multiframe_chunks",
            settings: json!({"dtype": "uint16", "compression": "zstd", "dimensions": [
                {"name": "t", "count": 60, "chunk_size": 4}, {"name": "c", "count": 2},
                {"name": "z", "count": 3, "chunk_size": 3},
                {"name": "y", "count": 32, "chunk_size": 16}, {"name": "x", "count": 32}]}),
            output: "zstd.ome.zarr",
            dataset: "zstd.ome.zarr",
            feed: Feed::Synthetic,
            frames: 360,
            flush_every: 7,
            kills: 7,
            bioformats: false,
        },
        Case {
            name: "zarr_unbounded_sharded",
            settings: json!({"dtype": "uint8", "dimensions": [
                {"name": "t", "count": null, "chunk_size": 1, "shard_size_chunks": 3},
                {"name": "c", "count": 2},
                {"name": "y", "count": 32, "chunk_size": 16},
                {"name": "x", "count": 48, "chunk_size": 16, "shard_size_chunks": 3}]}),
            output: "unbounded.ome.zarr",
            dataset: "unbounded.ome.zarr",
            feed: Feed::Pipe,
            frames: 300,
            flush_every: 4,
            kills: 10,
            bioformats: false,
        },
        Case {
            name: "zarr_pyramid",
            settings: json!({"dtype": "uint16", "compression": "zstd",
                "multiscale": {"levels": 3, "method": "mean"}, "dimensions": [
                {"name": "t", "count": 60}, {"name": "c", "count": 2},
                {"name": "y", "count": 37, "chunk_size": 16}, {"name": "x", "count": 32}]}),
            output: "pyramid.ome.zarr",
            dataset: "pyramid.ome.zarr",
            feed: Feed::Pipe,
            frames: 120,
            flush_every: 5,
            kills: 6,
            bioformats: false,
        },
        Case {
            name: "tiff_single",
            settings: json!({"dtype": "uint16", "dimensions": [
                {"name": "t", "count": 100}, {"name": "c", "count": 3},
                {"name": "y", "count": 32}, {"name": "x", "count": 32}]}),
            output: "single.ome.tiff",
            dataset: "single.ome.tiff",
            feed: Feed::Pipe,
            frames: 300,
            flush_every: 5,
            kills: 9,
            bioformats: true,
        },
        Case {
            name: "tiff_companion_positions",
            settings: json!({"dtype": "uint8",
                "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
                "dimensions": [
                {"name": "t", "count": 80}, {"name": "p", "type": "position", "coords": ["a", "b"]},
                {"name": "c", "count": 2},
                {"name": "y", "count": 24}, {"name": "x", "count": 32}]}),
            output: "set.ome.tiff",
            dataset: "set",
            feed: Feed::Synthetic,
            frames: 320,
            flush_every: 6,
            kills: 4,
            bioformats: true,
        },
    ]
}

fn omew() -> Command {
    Command::new(env!("CARGO_BIN_EXE_omew"))
}

/// Frame `n` as raw little-endian bytes (the pattern of tests/python/_common.py).
fn frame(dtype: DType, [h, w]: [u64; 2], n: u64) -> Vec<u8> {
    let m = match dtype {
        DType::U8 | DType::I8 => 100,
        DType::U16 | DType::I16 => 30_000,
        _ => 1_000_000,
    };
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let v = 1 + (n * 7 + y * 3 + x) % m;
            match dtype {
                DType::U8 => out.push(v as u8),
                DType::U16 => out.extend((v as u16).to_le_bytes()),
                other => panic!("dtype {other:?} not used here"),
            }
        }
    }
    out
}

/// Copy a file or directory tree.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// Every file under `path` with its content (to prove a second repair changes nothing).
fn snapshot(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    if path.is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            out.extend(snapshot(&e.unwrap().path()));
        }
    } else {
        out.insert(path.to_owned(), std::fs::read(path).unwrap());
    }
    out
}

/// Bio-Formats' `ImageInfo` (reading every plane): the series' sizes, or a failure.
/// After reading, `ImageInfo` tries to open a viewer, which fails without a display:
/// success is the validation line and every plane read, whatever the exit status.
fn image_info(jar: &Path, path: &Path) -> Result<String, String> {
    let out = Command::new("java")
        .args([
            "-Djava.awt.headless=true",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-cp",
        ])
        .arg(jar)
        .args(["loci.formats.tools.ImageInfo", "-no-upgrade", "-omexml"])
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let read_all = stdout.lines().any(|l| l.contains("planes (100%)"));
    if !read_all || !stdout.contains("No validation errors found.") {
        return Err(format!(
            "ImageInfo {} failed:\n{stdout}\n{}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let sizes: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("SizeT =") || l.starts_with("Image count ="))
        .collect();
    Ok(sizes.join(", "))
}

/// Whether an OME-TIFF (or the first file of a multi-file set) holds a page.
fn has_pages(path: &Path) -> bool {
    let file = if path.is_dir() {
        path.join("set_p000.ome.tiff")
    } else {
        path.to_owned()
    };
    std::fs::read(file).is_ok_and(|b| b.len() >= 16 && b[8..16] != [0; 8])
}

/// How a kill point stops the writer: SIGKILL, or a stop signal that `omew write`
/// must answer by finishing the dataset (status partial, exit 128 + N).
fn stop_signal(case: &Case, k: usize) -> Option<(&'static str, i32)> {
    match (case.feed, k % 3) {
        (Feed::Pipe, 1) => Some(("TERM", 15)),
        (Feed::Pipe, 2) => Some(("INT", 2)),
        _ => None,
    }
}

/// Send `signal` to the child and check it finished the dataset and exited 128 + N.
fn stop_gracefully(label: &str, child: &mut std::process::Child, (name, number): (&str, i32)) {
    let sent = Command::new("kill")
        .args(["-s", name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "{label}: kill -s {name} failed");
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(128 + number),
        "{label}: after SIG{name}, omew write must finish and exit {}",
        128 + number
    );
}

/// Feed `target` frames (random) to a writer through its stdin, then SIGKILL it or
/// send it a stop signal; returns the frames handed over.
fn feed_pipe(
    case: &Case,
    k: usize,
    cmd: &mut Command,
    out: &Path,
    schema: &Schema,
    rng: &mut Rng,
    label: &str,
) -> u64 {
    let (dtype, shape) = (schema.dtype(), schema.frame_shape());
    cmd.args(["--input", "-"]).stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let target = rng.range(0, case.frames);
    // Kill at once, or let the writer catch up for a while.
    let linger = Duration::from_millis(match rng.range(0, 2) {
        0 => 0,
        1 => rng.range(1, 30),
        _ => rng.range(30, 400),
    });
    let mut stdin = child.stdin.take().unwrap();
    let signal = stop_signal(case, k);
    // Most points: once the dataset exists (else small targets would all
    // be killed while the process starts); a few: at once. A stop signal
    // always once it exists (its handler is installed by then).
    if k % 4 != 3 || signal.is_some() {
        let t0 = Instant::now();
        while !out.exists() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let mut handed = 0;
    while handed < target {
        if stdin.write_all(&frame(dtype, shape, handed)).is_err() {
            break;
        }
        handed += 1;
    }
    std::thread::sleep(linger);
    match signal {
        Some(signal) => stop_gracefully(label, &mut child, signal),
        None => {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
    drop(stdin);
    handed
}

/// Repair a copy of the killed dataset twice: the first must succeed (and find nothing
/// to do after a stop signal), the second must change nothing. Returns the copy.
fn repair_copy(case: &Case, k: usize, out: &Path, run_dir: &Path, label: &str) -> PathBuf {
    let repaired_dir = run_dir.join("repaired");
    std::fs::create_dir_all(&repaired_dir).unwrap();
    let repaired = repaired_dir.join(case.dataset);
    copy_tree(out, &repaired);
    let o = omew().arg("repair").arg(&repaired).output().unwrap();
    if stop_signal(case, k).is_some() {
        // Finished by the signal handler: nothing is left for repair.
        let said = String::from_utf8_lossy(&o.stdout);
        assert!(
            said.contains("nothing to repair"),
            "{label}: a dataset stopped by a signal must be finished: {said}"
        );
    }
    assert!(
        o.status.success(),
        "{label}: omew repair failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let before = snapshot(&repaired);
    let o = omew().arg("repair").arg(&repaired).output().unwrap();
    let again = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && again.contains("nothing to repair"),
        "{label}: second repair: {again}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        before == snapshot(&repaired),
        "{label}: a second repair changed the dataset"
    );
    repaired
}

/// The readers' job for one dataset (crates/cli/tests/crash_check.py).
fn job(
    schema: &Schema,
    routes: &[ome_writers_router::Route],
    label: &str,
    stage: &str,
    path: &Path,
    finished: bool,
) -> Value {
    let dtype = schema.dtype();
    if schema.backend() == ome_writers::BackendKind::Zarr {
        let frames: Vec<Value> = routes
            .iter()
            .map(|r| json!([r.index.as_slice(), r.frame.0]))
            .collect();
        return json!({"kind": "zarr", "label": format!("{label} {stage}"), "root": path,
               "dtype": dtype.name(), "stage": stage, "frames": frames,
               "finished": finished});
    }
    let npos = schema.positions().len();
    let files: Vec<Value> = (0..npos)
        .map(|p| {
            let file = if npos > 1 {
                path.join(format!("set_p{p:03}.ome.tiff"))
            } else {
                path.to_owned()
            };
            let frames: Vec<u64> = routes
                .iter()
                .filter(|r| r.position.0 == p)
                .map(|r| r.frame.0)
                .collect();
            json!({"path": file, "frames": frames})
        })
        .collect();
    let companion = (npos > 1).then(|| path.join("set.companion.ome"));
    json!({"kind": "tiff", "label": format!("{label} {stage}"), "stage": stage,
           "dtype": dtype.name(), "files": files, "companion": companion,
           "finished": finished})
}

/// One kill point: what was handed over and where the copies are.
struct Killed {
    label: String,
    handed: u64,
    original: PathBuf,
    repaired: PathBuf,
}

fn run_case(case: &Case, base: &Path, rng: &mut Rng, jobs: &mut Vec<Value>) -> Vec<Killed> {
    let dir = base.join(case.name);
    std::fs::create_dir_all(&dir).unwrap();
    let mut settings = case.settings.clone();
    settings["root_path"] = json!(dir.join(case.output).to_string_lossy());
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let settings_path = dir.join("settings.json");
    std::fs::write(&settings_path, settings.to_string()).unwrap();
    let router = FrameRouter::new(&schema);

    // How long a whole synthetic run takes, to spread the kill points over it.
    let full_run = if case.feed == Feed::Synthetic {
        let out = dir.join("full").join(case.output);
        let started = Instant::now();
        let o = omew()
            .args(["write", "--settings"])
            .arg(&settings_path)
            .arg("--output")
            .arg(&out)
            .args(["--synthetic", "--frames", &case.frames.to_string()])
            .args(["--flush-every", &case.flush_every.to_string()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        started.elapsed()
    } else {
        Duration::ZERO
    };

    let mut killed = Vec::new();
    for k in 0..case.kills {
        let label = format!("{}#{k}", case.name);
        let run_dir = dir.join(format!("kill{k}"));
        std::fs::create_dir_all(&run_dir).unwrap();
        let out = run_dir.join(case.dataset);
        let mut cmd = omew();
        cmd.args(["write", "--settings"])
            .arg(&settings_path)
            .arg("--output")
            .arg(run_dir.join(case.output))
            .args(["--flush-every", &case.flush_every.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let handed = match case.feed {
            Feed::Pipe => feed_pipe(case, k, &mut cmd, &out, &schema, rng, &label),
            Feed::Synthetic => {
                cmd.args(["--synthetic", "--frames", &case.frames.to_string()]);
                let mut child = cmd.spawn().unwrap();
                let ms = full_run.as_millis() as u64;
                std::thread::sleep(Duration::from_millis(rng.range(ms / 20, ms)));
                child.kill().unwrap();
                child.wait().unwrap();
                // Any of them may have been written.
                case.frames
            }
        };
        if !out.exists() {
            // Killed before it created the dataset: nothing was written, nothing lost.
            println!("{label}: killed before the dataset existed");
            continue;
        }
        let repaired = repair_copy(case, k, &out, &run_dir, &label);

        let metadata_exists = if schema.backend() == ome_writers::BackendKind::Zarr {
            out.join("zarr.json").exists()
        } else {
            true
        };
        if !metadata_exists {
            // Killed while creating the dataset: no frame was written yet.
            println!("{label}: killed before the first zarr.json (handed {handed})");
            killed.push(Killed {
                label,
                handed,
                original: out,
                repaired,
            });
            continue;
        }
        let routes: Vec<_> = (0..handed)
            .map_while(|n| router.route(FrameNumber(n)).ok())
            .collect();
        let finished = stop_signal(case, k).is_some();
        for (stage, path) in [("killed", &out), ("repaired", &repaired)] {
            jobs.push(job(&schema, &routes, &label, stage, path, finished));
        }
        killed.push(Killed {
            label,
            handed,
            original: out,
            repaired,
        });
    }
    killed
}

#[test]
fn killed_writers_lose_no_durable_frame_and_repair_finishes_them() {
    let started = Instant::now();
    let seed = std::env::var("OMEW_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_260_422_u64);
    println!("crash test seed {seed} (set OMEW_CRASH_SEED to vary)");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    let mut all: Vec<(&'static str, Vec<Killed>, bool)> = Vec::new();
    for case in cases() {
        let killed = run_case(&case, tmp.path(), &mut rng, &mut jobs);
        all.push((case.name, killed, case.bioformats));
    }
    let points: usize = all.iter().map(|(_, k, _)| k.len()).sum();
    println!(
        "{points} kill points run in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Bio-Formats on the first kill point of the TIFF cases, killed and repaired,
    // in the background while the Python readers run.
    let jar = ome_writers_test_support::bioformats();
    let bf_targets: Vec<(String, PathBuf)> = all
        .iter()
        .filter(|(_, _, bf)| *bf)
        .filter_map(|(_, k, _)| k.iter().find(|k| has_pages(&k.original)))
        .flat_map(|k| {
            let entry = |p: &Path, stage: &str| {
                if p.is_dir() {
                    if stage == "repaired" {
                        p.join("set.companion.ome")
                    } else {
                        p.join("set_p000.ome.tiff")
                    }
                } else {
                    p.to_owned()
                }
            };
            [
                (format!("{} killed", k.label), entry(&k.original, "killed")),
                (
                    format!("{} repaired", k.label),
                    entry(&k.repaired, "repaired"),
                ),
            ]
        })
        .collect();
    let bf = jar.map(|jar| {
        std::thread::spawn(move || {
            bf_targets
                .iter()
                .map(|(label, path)| (label.clone(), image_info(&jar, path)))
                .collect::<Vec<_>>()
        })
    });

    common::check_with_readers(&jobs, tmp.path());
    if let Some(bf) = bf {
        for (label, result) in bf.join().unwrap() {
            match result {
                Ok(sizes) => println!("ok bioformats {label}: {sizes}"),
                Err(e) => panic!("{label}: {e}"),
            }
        }
    }
    for (name, killed, _) in &all {
        let handed: Vec<u64> = killed.iter().map(|k| k.handed).collect();
        println!(
            "{name}: {} kill points, frames handed {handed:?}",
            killed.len()
        );
    }
    println!(
        "crash test: {points} kill points tried, 0 frames lost before their durability \
         point, every dataset repaired (idempotently) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        points >= 25,
        "too few kill points reached a dataset: {points}"
    );
}
