//! The conformance harness: frames whose pixels encode their frame number, a script
//! of appends and skips, and EXPECT files for the independent Python readers.

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers::{Schema, StreamError, StreamOptions, create_stream_with};
use ome_writers_router::FrameRouter;
use ome_writers_schema::FrameNumber;
use serde_json::{Value, json};

/// Frame `n` (the pattern shared with tests/python/_common.py), as little-endian bytes.
pub fn frame_bytes(schema: &Schema, n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(schema.frame_bytes());
    ome_writers::pattern_frame(schema.dtype(), n, schema.frame_shape(), &mut out);
    out
}

/// One step of a case's script.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// Append this many frames.
    Append(u64),
    /// Append this many frames, each with metadata.
    AppendMeta(u64),
    /// Skip this many frames.
    Skip(u64),
    /// Append every remaining frame (bounded schemas).
    Rest,
}

/// What a case must produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A valid dataset.
    Ok,
    /// Creation refused (nothing written).
    CreateRefused,
    /// The last append is refused as too many frames; the rest is a valid dataset.
    TooMany,
}

/// A conformance case: settings without `root_path`, a script, an outcome.
pub struct Case {
    pub name: &'static str,
    pub settings: Value,
    pub script: &'static [Step],
    pub outcome: Outcome,
}

/// What a run produced, for the readers.
pub struct Ran {
    pub schema: Schema,
    /// `(position, storage index, n)` of every frame written.
    pub frames: Vec<(usize, Vec<u64>, u64)>,
    pub shape: Vec<u64>,
    pub metadata_frames: Vec<u64>,
}

/// Run `case` writing to `root`. With `may_refuse`, a backend may refuse the case at
/// creation (or validation), and then must have written nothing: `Ok(None)`.
pub fn run(case: &Case, root: &Path, may_refuse: bool) -> Result<Option<Ran>, String> {
    let left_behind = || root.exists().then(|| root.display().to_string());
    run_at(
        case,
        &root.to_string_lossy(),
        StreamOptions::default(),
        may_refuse,
        &left_behind,
    )
}

/// [`run`] at any `root_path` (a path or an `s3://` address), with `base` options (the
/// queue and durability settings are the suite's); `left_behind` names what a refused
/// case left at the output, if anything.
pub fn run_at(
    case: &Case,
    root: &str,
    base: StreamOptions,
    may_refuse: bool,
    left_behind: &dyn Fn() -> Option<String>,
) -> Result<Option<Ran>, String> {
    let mut settings = case.settings.clone();
    settings["root_path"] = json!(root);
    let schema = match Schema::from_json(&settings.to_string()) {
        Ok(s) => s,
        Err(e) if may_refuse => {
            eprintln!("{}: refused by validation: {e}", case.name);
            return Ok(None);
        }
        Err(e) => return Err(format!("schema: {e}")),
    };
    let options = base
        .with_queue_bytes(3 * schema.frame_bytes())
        .with_flush_every_frames(5);
    let stream = create_stream_with(&schema, &options);
    let mut stream = match (stream, case.outcome) {
        (Err(_), Outcome::CreateRefused) => {
            return Ok(None);
        }
        (Err(e), _) if may_refuse => {
            if let Some(left) = left_behind() {
                return Err(format!("refused ({e}) but left {left} behind"));
            }
            eprintln!("{}: refused up front: {e}", case.name);
            return Ok(None);
        }
        (Err(e), _) => {
            return Err(format!("create: {}", ome_writers::error_chain(&e)));
        }
        (Ok(_), Outcome::CreateRefused) => return Err("creation should have been refused".into()),
        (Ok(s), _) => s,
    };
    let router = FrameRouter::new(&schema);
    // Where frames must land comes from the oracle (nested loops over the settings),
    // not from the router under test; the router must agree with it.
    let total = router.total().unwrap_or(0);
    let horizon = case
        .script
        .iter()
        .map(|s| match *s {
            Step::Append(k) | Step::AppendMeta(k) | Step::Skip(k) => k,
            Step::Rest => total,
        })
        .sum::<u64>()
        .max(total);
    let oracle = crate::oracle::placements(&schema, horizon);
    let mut n = 0u64;
    let mut frames = Vec::new();
    let mut metadata_frames: Vec<u64> = Vec::new();
    let mut refused = false;
    for step in case.script {
        let (count, meta) = match *step {
            Step::Append(k) => (k, false),
            Step::AppendMeta(k) => (k, true),
            Step::Rest => (router.total().unwrap_or(0).saturating_sub(n), false),
            Step::Skip(k) => {
                stream.skip(k).map_err(|e| format!("skip: {e}"))?;
                n += k;
                continue;
            }
        };
        for _ in 0..count {
            let bytes = frame_bytes(&schema, n);
            let meta_value = meta.then(|| {
                let mut m = serde_json::Map::new();
                m.insert("delta_t".into(), json!(n as f64 * 0.5));
                m.insert("exposure_time".into(), json!(10.0));
                m.insert("note".into(), json!(format!("frame {n}")));
                m
            });
            match stream.append_bytes(&bytes, meta_value) {
                Ok(()) => {
                    let route = router.route(FrameNumber(n)).map_err(|e| e.to_string())?;
                    let (position, index) = oracle
                        .get(usize::try_from(n).unwrap())
                        .cloned()
                        .ok_or_else(|| format!("frame {n} is past the oracle's horizon"))?;
                    if (route.position.0, route.index.as_slice()) != (position, index.as_slice()) {
                        return Err(format!(
                            "frame {n}: the router says ({}, {:?}), nested loops say \
                             ({position}, {index:?})",
                            route.position.0,
                            route.index.as_slice()
                        ));
                    }
                    frames.push((position, index, n));
                    if meta {
                        metadata_frames.push(n);
                    }
                    n += 1;
                }
                Err(StreamError::TooManyFrames { .. }) if case.outcome == Outcome::TooMany => {
                    refused = true;
                }
                Err(e) => return Err(format!("append {n}: {e}")),
            }
        }
    }
    if case.outcome == Outcome::TooMany && !refused {
        return Err("no append was refused as too many frames".into());
    }
    let summary = stream.finish().map_err(|e| format!("finish: {e}"))?;
    let extent = crate::oracle::extent(&schema, n);
    if schema.growth_axis().is_some() && extent != router.extent_reached(n) {
        return Err(format!(
            "growth extent after {n} frames: the router says {}, nested loops say {extent}",
            router.extent_reached(n)
        ));
    }
    let shape = schema.array_shape(schema.growth_axis().map(|_| extent));
    let mut reported = shape.clone();
    if schema.backend() == ome_writers::BackendKind::Tiff
        && let Some(g) = schema.growth_axis()
    {
        // OME sizes are at least 1: an empty TIFF image holds one zero plane.
        reported[g] = reported[g].max(1);
    }
    if schema.backend() == ome_writers::BackendKind::Scratch {
        // Scratch arrays are cut only along their first axis, and keep one row.
        if schema.growth_axis() == Some(0) {
            reported[0] = reported[0].max(1);
        } else {
            reported = schema.array_shape(None);
        }
    }
    if summary.shape != reported {
        return Err(format!(
            "summary shape {:?} != expected {shape:?}",
            summary.shape
        ));
    }
    Ok(Some(Ran {
        schema,
        frames,
        shape,
        metadata_frames,
    }))
}

/// The EXPECT document for tests/python/check_scratch.py (the shape is the one the
/// summary reported: scratch arrays keep one row, and a declared shape when the growth
/// axis is not the first).
pub fn scratch_expect(ran: &Ran, root: &Path, shape: &[u64]) -> Value {
    let npos = ran.schema.positions().len();
    let mut positions = vec![Vec::new(); npos];
    for (p, idx, n) in &ran.frames {
        positions[*p].push(json!([idx, n]));
    }
    json!({
        "root": root.to_string_lossy(),
        "dtype": ran.schema.dtype().name(),
        "shape": shape,
        "positions": positions,
        "metadata_frames": ran.metadata_frames.len(),
    })
}

/// The EXPECT document for tests/python/check_zarr.py.
pub fn zarr_expect(ran: &Ran, root: &Path) -> Value {
    zarr_expect_at(ran, &root.to_string_lossy())
}

/// [`zarr_expect`] of a root given as text (a path or an `s3://` address).
pub fn zarr_expect_at(ran: &Ran, root: &str) -> Value {
    let schema = &ran.schema;
    let npos = schema.positions().len();
    let layout = if schema.plate().is_some() {
        "plate"
    } else if npos > 1 {
        "bioformats2raw"
    } else {
        "image"
    };
    // Fields are named after their positions when every name is ASCII alphanumeric
    // and unique in its well ignoring case, else numbered (docs/layouts.md).
    let mut well_names: std::collections::HashMap<_, Vec<String>> =
        std::collections::HashMap::new();
    for pos in schema.positions() {
        well_names
            .entry((pos.plate_row.clone(), pos.plate_column.clone()))
            .or_default()
            .push(pos.name.to_ascii_lowercase());
    }
    let named = well_names.values().all(|names| {
        let unique: std::collections::HashSet<_> = names.iter().collect();
        unique.len() == names.len()
            && names
                .iter()
                .all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
    });
    let mut field_in_well = std::collections::HashMap::new();
    let images: Vec<Value> = schema
        .positions()
        .iter()
        .enumerate()
        .map(|(p, pos)| {
            let group = match layout {
                "plate" => {
                    let key = (pos.plate_row.clone(), pos.plate_column.clone());
                    let field = if named {
                        pos.name.clone()
                    } else {
                        field_in_well.get(&key).copied().unwrap_or(0usize).to_string()
                    };
                    *field_in_well.entry(key).or_insert(0) += 1;
                    format!(
                        "{}/{}/{field}",
                        pos.plate_row.as_deref().unwrap_or_default(),
                        pos.plate_column.as_deref().unwrap_or_default(),
                    )
                }
                "bioformats2raw" => match (pos.grid_row, pos.grid_column) {
                    (Some(r), Some(c)) => format!("{}_{r}_{c}", pos.name),
                    _ => pos.name.clone(),
                },
                _ => String::new(),
            };
            let frames: Vec<Value> = ran
                .frames
                .iter()
                .filter(|(fp, _, _)| *fp == p)
                .map(|(_, idx, n)| json!([idx, n]))
                .collect();
            let meta_count = ran
                .frames
                .iter()
                .filter(|(fp, _, n)| *fp == p && ran.metadata_frames.contains(n))
                .count();
            json!({
                "group": group,
                "shape": ran.shape,
                "dimension_names": schema.array_dims().map(|d| d.name().to_owned()).collect::<Vec<_>>(),
                "chunks": schema.chunk_shape(),
                "shards": schema.shard_shape(),
                "frames": frames,
                "frame_metadata_count": meta_count,
            })
        })
        .collect();
    let plate = schema.plate().map(|plate| {
        let mut wells: Vec<String> = Vec::new();
        for pos in schema.positions() {
            let w = format!(
                "{}/{}",
                pos.plate_row.as_deref().unwrap_or_default(),
                pos.plate_column.as_deref().unwrap_or_default()
            );
            if !wells.contains(&w) {
                wells.push(w);
            }
        }
        json!({"rows": plate.row_names, "columns": plate.column_names, "wells": wells})
    });
    json!({
        "root": root,
        "dtype": schema.dtype().name(),
        "layout": layout,
        "images": images,
        "plate": plate,
        "frame_metadata_count": null,
    })
}

/// The Python interpreter of the interop venv, or a loud skip
/// (ome-writers-test-support).
pub fn python() -> Option<PathBuf> {
    ome_writers_test_support::python()
}

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Run a checker script over EXPECT files; returns its output lines, failing on a
/// non-zero exit.
pub fn check(python: &Path, script: &str, expects: &[PathBuf]) -> Result<String, String> {
    check_env(python, script, expects, &[])
}

/// [`check`] with environment variables set (an S3 server's address and credentials).
pub fn check_env(
    python: &Path,
    script: &str,
    expects: &[PathBuf],
    env: &[(&str, String)],
) -> Result<String, String> {
    let out = Command::new(python)
        .arg(repo_root().join("tests/python").join(script))
        .args(expects)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("running {script}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!(
            "{script} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The EXPECT document for tests/python/check_tiff.py: one entry per position file.
pub fn tiff_expect(ran: &Ran, root: &Path) -> Value {
    let schema = &ran.schema;
    let layout = schema.tiff_layout().cloned();
    let multi = layout.as_ref().is_some_and(|l| l.multi_file);
    let suffix = layout.map_or_else(|| ".ome.tiff".to_owned(), |l| l.suffix);
    let stem = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, _) = ome_writers_schema::ome_stem_suffix(&stem);
    let out = schema
        .output_path()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    // An empty image still has one (zero) plane: OME sizes are at least 1.
    let mut shape = ran.shape.clone();
    if let Some(g) = schema.growth_axis()
        && shape[g] == 0
    {
        shape[g] = 1;
    }
    let axes: String = schema
        .array_dims()
        .map(|d| d.name().to_uppercase())
        .collect();
    let files: Vec<Value> = (0..schema.positions().len())
        .map(|p| {
            let path = if multi {
                out.join(format!("{stem}_p{p:03}{suffix}"))
            } else {
                out.clone()
            };
            let frames: Vec<Value> = ran
                .frames
                .iter()
                .filter(|(fp, _, _)| *fp == p)
                .map(|(_, idx, n)| json!([idx, n]))
                .collect();
            json!({
                "path": path.to_string_lossy(),
                "dtype": schema.dtype().name(),
                "shape": shape,
                "axes": axes,
                "frames": frames,
            })
        })
        .collect();
    json!({"root": root.to_string_lossy(), "files": files, "xml_valid": true})
}
