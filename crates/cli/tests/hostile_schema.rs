//! Settings that would write somewhere the user never named, collide inside a dataset,
//! or that `write` would refuse only later, through the `omew` binary: `check-settings`
//! and `write --synthetic` must both fail, naming the field, and create nothing at all
//! (the working directory and its parent are compared before and after).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// Every file and directory under `root`, with file sizes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            let path = entry.path();
            let size = if meta.is_dir() { 0 } else { meta.len() };
            out.insert(path.strip_prefix(root).unwrap().to_owned(), size);
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// A scratch area: `outer/work` is the working directory of every run, the settings
/// live elsewhere, so anything written (also into `..`) shows up in `outer`.
struct Scratch {
    _tmp: tempfile::TempDir,
    outer: PathBuf,
    work: PathBuf,
    settings_dir: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let outer = tmp.path().join("outer");
        let work = outer.join("work");
        let settings_dir = tmp.path().join("settings");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&settings_dir).unwrap();
        Self {
            _tmp: tmp,
            outer,
            work,
            settings_dir,
        }
    }

    fn settings(&self, name: &str, text: &str) -> String {
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let path = self.settings_dir.join(format!("{safe}.json"));
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn omew(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_omew"))
            .args(args)
            .current_dir(&self.work)
            .output()
            .unwrap()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `base` with the top-level fields of `patch` replaced: t=2, 4x4 uint8 frames.
fn settings(patch: &Value) -> String {
    let mut v = json!({"root_path": "run.ome.zarr", "dtype": "uint8",
        "dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]});
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

/// Dimensions p (these coords), t=2, 4x4.
fn positions(coords: Value) -> Value {
    json!([{"name": "p", "type": "position", "coords": coords}, {"name": "t", "count": 2},
           {"name": "y", "count": 4}, {"name": "x", "count": 4}])
}

/// Both commands refuse `text` (with `--output` when given), each message holding
/// every needle, and nothing appears on disk. `check-settings` runs first, so a
/// setting it accepted by mistake is never written.
#[track_caller]
fn refused(name: &str, text: &str, output: Option<&str>, needles: &[&str]) {
    let scratch = Scratch::new();
    let s = scratch.settings(name, text);
    let before = snapshot(&scratch.outer);
    let check = match output {
        // check-settings has no --output: validate the settings with it instead.
        Some(out) => {
            let mut v: Value = serde_json::from_str(text).unwrap();
            v["root_path"] = json!(out);
            scratch.omew(&[
                "check-settings",
                &scratch.settings(&format!("{name}_out"), &v.to_string()),
            ])
        }
        None => scratch.omew(&["check-settings", &s]),
    };
    let mut write = vec!["write", "--settings", s.as_str(), "--synthetic"];
    let with_output = output.map(|out| format!("with --output {out:?} as root_path"));
    if let Some(out) = output {
        write.extend(["--output", out]);
    }
    for (what, o) in [("check-settings", check), ("write", scratch.omew(&write))] {
        let err = stderr(&o);
        assert!(!o.status.success(), "{name}: {what} accepted it: {err}");
        assert!(!err.contains("panicked"), "{name}: {what}: {err}");
        for needle in needles {
            assert!(
                err.contains(needle),
                "{name}: {what}: no {needle:?} in {err}"
            );
        }
        if let (Some(context), "write") = (&with_output, what) {
            assert!(
                err.contains(context.as_str()),
                "{name}: no {context:?} in {err}"
            );
        }
        assert_eq!(
            snapshot(&scratch.outer),
            before,
            "{name}: {what} created files"
        );
        println!("ok {name} ({what}): {}", err.trim());
    }
}

#[test]
#[rustfmt::skip]
fn outputs_nobody_named_are_refused_before_anything_is_written() {
    let zarr_suffix = |suffix: &str| settings(&json!({"root_path": "run", "format": {"name": "ome-zarr", "suffix": suffix}}));
    let good = settings(&json!({}));
    refused("empty_suffix", &zarr_suffix(""), None, &["format.suffix", "must start with '.'"]);
    refused("empty_suffix_output_dot", &zarr_suffix(""), Some("."), &["root_path", "names a directory"]);
    refused("dot_suffix", &zarr_suffix("."), None, &["format.suffix"]);
    refused("dotdot_suffix", &zarr_suffix(".."), None, &["format.suffix", "dots only"]);
    refused("slash_suffix", &zarr_suffix("/../escape.zarr"), None, &["format.suffix"]);
    refused("traversal_suffix", &zarr_suffix("./../../escape.zarr"), None, &["format.suffix", "must not contain '/'"]);
    refused("backslash_suffix", &zarr_suffix(".a\\..\\b.zarr"), None, &["format.suffix"]);
    refused("nul_suffix", &zarr_suffix(".ome\u{0}.zarr"), None, &["format.suffix", "NUL"]);
    refused("tiff_suffix_for_zarr", &zarr_suffix(".ome.tiff"), None, &["format.suffix", "must end in .zarr"]);
    for out in [".", "..", "/", "out/", "out/..", "../.."] {
        refused(&format!("output_{out}"), &good, Some(out), &["root_path", "names a directory, not a dataset"]);
    }
    refused("multi_tiff_folder_dot", &settings(&json!({"root_path": "..ome.tiff", "dimensions": positions(json!(["a", "b"]))})), None, &["root_path", "resolves to \".\""]);
    refused("long_component", &good, Some(&format!("{}.ome.zarr", "n".repeat(300))), &["root_path", "component of 309 bytes"]);
    refused("nul_root", &settings(&json!({"root_path": "a\u{0}b.ome.zarr"})), None, &["root_path", "NUL"]);
    for url in ["gs://bucket/run.ome.zarr", "https://host/run.ome.tiff", "file:///tmp/run.ome.zarr"] {
        refused(url, &good, Some(url), &["root_path", "the only object storage is s3://"]);
    }
    refused("s3_tiff", &good, Some("s3://bucket/run.ome.tiff"), &["format", "OME-TIFF cannot be written to object storage"]);
    refused("zarr_format_tiff_root", &settings(&json!({"root_path": "x.ome.tiff", "format": "ome-zarr"})), None, &["format", "root_path \"x.ome.tiff\"", "OME-Zarr"]);
    refused("tiff_format_zarr_root", &settings(&json!({"root_path": "x.ome.zarr", "format": {"name": "ome-tiff"}})), None, &["format", "root_path \"x.ome.zarr\"", "OME-TIFF"]);
    refused("tiff_format_zarr_output", &settings(&json!({"root_path": "x", "format": "tifffile"})), Some("x.zarr"), &["format", "\"x.zarr\""]);
}

#[test]
#[rustfmt::skip]
fn names_that_collide_or_no_filesystem_accepts_are_refused() {
    let zarr = |coords: Value| settings(&json!({"dimensions": positions(coords)}));
    let f = "dimensions[0].coords[1].name";
    refused("case_collision", &zarr(json!(["a", "A"])), None, &[f, "ignoring ASCII case"]);
    refused("grid_collision", &zarr(json!([{"name": "a_0_1"}, {"name": "a", "grid_row": 0, "grid_column": 1}])), None, &[f, "\"a_0_1\""]);
    refused("slash_in_group", &zarr(json!(["a", "b/c"])), None, &[f, "has '/'"]);
    refused("dotdot_group", &zarr(json!(["a", ".."])), None, &[f, "is . or .."]);
    refused("nul_in_group", &zarr(json!(["a", "b\u{0}"])), None, &[f, "NUL"]);
    refused("ome_group", &zarr(json!(["a", "ome"])), None, &[f, "\"OME\""]);
    refused("long_group", &zarr(json!(["a", "g".repeat(256)])), None, &[f, "256 bytes"]);
    refused("plate_rows_case", &settings(&json!({"dimensions": positions(json!([{"name": "f", "plate_row": "A", "plate_column": "1"}, {"name": "f", "plate_row": "a", "plate_column": "1"}])), "plate": {"row_names": ["A", "a"], "column_names": ["1"]}})), None, &["plate.row_names[1]"]);
    let companion = |name: &str| settings(&json!({"root_path": "run.ome.tiff", "dimensions": positions(json!(["a", "b"])), "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file", "companion_file": name}}));
    refused("companion_is_position_file", &companion("run_p000.ome.tiff"), None, &["format.companion_file", "position 0"]);
    refused("companion_case", &companion("Run_P001.ome.TIFF"), None, &["format.companion_file", "position 1"]);
    refused("companion_path", &companion("../run.companion.ome"), None, &["format.companion_file", "plain file name"]);
}

#[test]
#[rustfmt::skip]
fn values_write_would_refuse_are_refused_by_check_settings_too() {
    let tiff = |c: &str| settings(&json!({"root_path": "run.ome.tiff", "compression": c}));
    refused("tiff_zstd", &tiff("zstd"), None, &["compression", "\"zstd\"", "OME-TIFF"]);
    refused("tiff_blosc_zstd", &tiff("blosc-zstd"), None, &["compression", "OME-TIFF"]);
    refused("tiff_blosc_lz4", &tiff("blosc-lz4"), None, &["compression", "OME-TIFF"]);
    refused("zarr_lzw", &settings(&json!({"compression": "lzw"})), None, &["compression", "OME-Zarr"]);
    let big = 1u64 << 40;
    refused("frames_overflow", &settings(&json!({"dimensions": [{"name": "t", "count": big}, {"name": "z", "count": big}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]})), None, &["dimensions[1].count", "frames in total"]);
    refused("chunk_files", &settings(&json!({"dimensions": [{"name": "t", "count": 100_000}, {"name": "y", "count": 512, "chunk_size": 1}, {"name": "x", "count": 4}]})), None, &["dimensions[1].chunk_size", "chunk files per image"]);
}

/// Runs that must succeed; returns the dataset's directory listing.
fn written(scratch: &Scratch, name: &str, text: &str) -> BTreeMap<PathBuf, u64> {
    let s = scratch.settings(name, text);
    let o = scratch.omew(&["check-settings", &s]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    let o = scratch.omew(&["write", "--settings", &s, "--synthetic"]);
    assert!(o.status.success(), "{name}: {}", stderr(&o));
    snapshot(&scratch.work)
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let scratch = Scratch::new();
    let files = written(
        &scratch,
        "bom",
        &format!("\u{feff}{}", settings(&json!({}))),
    );
    assert!(
        files.contains_key(Path::new("run.ome.zarr/zarr.json")),
        "{files:?}"
    );
}

#[test]
fn a_chunk_longer_than_its_dimension_stores_only_the_dimension() {
    // chunk 50000 on t=4 once stored a 50000-plane chunk: 196 MB for 16 KB of data.
    let scratch = Scratch::new();
    let text = settings(
        &json!({"dimensions": [{"name": "t", "count": 4, "chunk_size": 50_000},
        {"name": "y", "count": 32}, {"name": "x", "count": 32}], "dtype": "uint32"}),
    );
    let files = written(&scratch, "chunk", &text);
    let total: u64 = files.values().sum();
    assert!(total < 64 * 1024, "{total} bytes: {files:?}");
    let meta: Value = serde_json::from_slice(
        &std::fs::read(scratch.work.join("run.ome.zarr/0/zarr.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        meta["chunk_grid"]["configuration"]["chunk_shape"],
        json!([4, 32, 32])
    );
}

#[test]
fn the_schema_states_the_names_the_backends_write() {
    use ome_writers_schema::{
        Schema, tiff_companion_file_name, tiff_position_file_name, zarr_image_groups,
    };
    let scratch = Scratch::new();
    let coords = json!([{"name": "a", "grid_row": 0, "grid_column": 1}, "b", "c"]);
    let zarr =
        settings(&json!({"root_path": "z.ome.zarr", "dimensions": positions(coords.clone())}));
    let tiff = settings(
        &json!({"root_path": "t.ome.tiff", "dimensions": positions(coords),
        "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"}}),
    );
    let files = written(&scratch, "zarr", &zarr);
    for group in zarr_image_groups(&Schema::from_json(&zarr).unwrap()) {
        assert!(
            files.contains_key(&Path::new("z.ome.zarr").join(&group).join("zarr.json")),
            "{group}: {files:?}"
        );
    }
    let files = written(&scratch, "tiff", &tiff);
    let mut expected: Vec<String> = (0..3)
        .map(|p| tiff_position_file_name("t", p, ".ome.tiff"))
        .collect();
    expected.push(tiff_companion_file_name("t", "companion.ome"));
    let mut found: Vec<String> = files
        .keys()
        .filter_map(|p| p.strip_prefix("t").ok())
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}
