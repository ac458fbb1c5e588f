//! Behaviour of the OME-TIFF backend beyond read-back: moved datasets, refusals that
//! leave nothing behind, overwrite, and errors on misuse.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
use ome_writers_tiff::{TiffBackend, TiffError};
use serde_json::{Value, json};
use support::Case;

fn pos_first(format: &str) -> Value {
    json!({"dtype": "uint16",
    "format": {"name": "ome-tiff", "multi_file_metadata": format},
    "dimensions": [
        {"name": "p", "type": "position", "coords": ["a", "b", "c"]},
        {"name": "t", "count": 2}, {"name": "c", "count": 2},
        {"name": "y", "count": 4}, {"name": "x", "count": 3}
    ]})
}

#[test]
fn moved_datasets_still_read_back() {
    let cases = [
        Case::new("moved_redundant", "TC", pos_first("redundant")).metadata(),
        Case::new("moved_master_tiff", "TC", pos_first("master-tiff")).metadata(),
        Case::new("moved_companion", "TC", pos_first("companion-file")).metadata(),
        Case::new(
            "moved_single",
            "T",
            json!({"dtype": "float32", "dimensions": [
                {"name": "t", "count": 3}, {"name": "y", "count": 4}, {"name": "x", "count": 3}]}),
        ),
    ];
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let mut moved = Vec::new();
    for case in &cases {
        let dir = first.path().join(case.name);
        std::fs::create_dir(&dir).unwrap();
        let w = support::write(case, &dir);
        let w = support::relocate(w, &second.path().join(case.name), "renamed");
        assert!(!dir.exists());
        support::check_rust(&w);
        moved.push(w);
    }
    support::check_python(&moved);
    support::check_bioformats(&moved);
}

fn schema_in(dir: &std::path::Path, mut settings: Value) -> Schema {
    settings["root_path"] = json!(dir.join("x.ome.tiff").to_string_lossy());
    Schema::from_json(&settings.to_string()).unwrap()
}

fn yx(extra: &[Value]) -> Value {
    let mut dims = extra.to_vec();
    dims.push(json!({"name": "y", "count": 4}));
    dims.push(json!({"name": "x", "count": 3}));
    json!({"dtype": "uint8", "dimensions": dims})
}

#[test]
fn refused_schemas_leave_nothing_behind() {
    let check = |settings: Value, needle: &str| {
        let dir = tempfile::tempdir().unwrap();
        let schema = schema_in(dir.path(), settings);
        let err = TiffBackend::create(&schema).unwrap_err();
        assert!(
            matches!(err, BackendError::Unsupported { .. }) && err.to_string().contains(needle),
            "{err}"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "{needle}"
        );
    };
    check(yx(&[json!({"name": "angle", "count": 2})]), "angle");
    check(
        yx(&[
            json!({"name": "z", "count": 2}),
            json!({"name": "w", "type": "space", "count": 2}),
        ]),
        "OME axis Z",
    );
    // A codec TIFF cannot write (zstd, blosc) is refused by schema validation
    // (crates/schema/tests/rules.rs), so no TIFF schema carries one.
}

/// Write one frame of `value` to x.ome.tiff in `dir`, with or without overwrite.
fn write_one(dir: &std::path::Path, value: u8, overwrite: bool) -> Result<(), BackendError> {
    let mut settings = yx(&[json!({"name": "t", "count": 1})]);
    settings["overwrite"] = json!(overwrite);
    let mut tiff = TiffBackend::create(&schema_in(dir, settings))?;
    tiff.write(
        PositionIndex(0),
        &StorageIndex::new(&[0]).unwrap(),
        &[value; 12],
        None,
    )?;
    tiff.finalize(&Progress {
        growth_extent: 1,
        complete: true,
        ..Progress::default()
    })
    .map(|_| ())
}

#[test]
fn overwrite_is_refused_unless_asked_and_replaces_only_our_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.ome.tiff");
    // A file of the right name that this library did not write: never replaced.
    std::fs::write(&path, b"precious").unwrap();
    for overwrite in [false, true] {
        let err = write_one(dir.path(), 7, overwrite).unwrap_err();
        let expected = if overwrite {
            matches!(err, BackendError::RefuseOverwrite { .. })
        } else {
            matches!(err, BackendError::Exists { .. })
        };
        assert!(expected, "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    }
    // Our own dataset is replaced, and the old one leaves nothing behind.
    std::fs::remove_file(&path).unwrap();
    write_one(dir.path(), 7, false).unwrap();
    assert!(matches!(
        write_one(dir.path(), 8, false),
        Err(BackendError::Exists { .. })
    ));
    write_one(dir.path(), 8, true).unwrap();
    let (pages, _) = support::read_pages(&path);
    assert_eq!(pages, vec![vec![8u8; 12]]);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x.ome.tiff"], "no aside copy, no lock file left");
}

fn tiff_error(e: &BackendError) -> &TiffError {
    match e {
        BackendError::Format { source, .. } => source.downcast_ref().unwrap(),
        other => panic!("not a format error: {other}"),
    }
}

#[test]
fn misuse_is_an_error_not_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let settings = yx(&[json!({"name": "t", "count": 3})]);
    let mut tiff = TiffBackend::create(&schema_in(dir.path(), settings)).unwrap();
    let at = |t| StorageIndex::new(&[t]).unwrap();
    let frame = [1u8; 12];
    tiff.write(PositionIndex(0), &at(1), &frame, None).unwrap();
    let e = tiff
        .write(PositionIndex(0), &at(0), &frame, None)
        .unwrap_err();
    assert!(
        matches!(
            tiff_error(&e),
            TiffError::OutOfOrder {
                plane: 0,
                written: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = tiff
        .write(PositionIndex(0), &at(3), &frame, None)
        .unwrap_err();
    assert!(
        matches!(tiff_error(&e), TiffError::IndexOutOfBounds { .. }),
        "{e}"
    );
    let e = tiff
        .write(PositionIndex(1), &at(2), &frame, None)
        .unwrap_err();
    assert!(
        matches!(tiff_error(&e), TiffError::NoSuchPosition { .. }),
        "{e}"
    );
    let e = tiff
        .write(PositionIndex(0), &at(2), &frame[..5], None)
        .unwrap_err();
    assert!(
        matches!(
            tiff_error(&e),
            TiffError::FrameSize {
                expected: 12,
                got: 5
            }
        ),
        "{e}"
    );
    tiff.flush().unwrap();
    let summary = tiff
        .finalize(&Progress {
            growth_extent: 2,
            ..Progress::default()
        })
        .unwrap();
    assert_eq!(summary.shape, vec![2, 4, 3]);
    assert_eq!(summary.frames_written, 1);
    assert!(matches!(
        tiff.write(PositionIndex(0), &at(2), &frame, None),
        Err(BackendError::Finalized)
    ));
    assert!(matches!(
        tiff.finalize(&Progress::default()),
        Err(BackendError::Finalized)
    ));
    assert!(matches!(tiff.flush(), Err(BackendError::Finalized)));
    let (pages, xml) = support::read_pages(&dir.path().join("x.ome.tiff"));
    assert_eq!(pages, vec![vec![0u8; 12], frame.to_vec()]);
    assert!(
        xml.contains("SizeT=\"2\"") && xml.contains("PlaneCount=\"2\""),
        "{xml}"
    );
    assert!(xml.contains("<M K=\"image_frames_written\">1</M>"), "{xml}");
}

#[test]
fn flushed_frames_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let settings = yx(&[
        json!({"name": "t", "count": null}),
        json!({"name": "c", "count": 2}),
    ]);
    let mut tiff = TiffBackend::create(&schema_in(dir.path(), settings)).unwrap();
    for n in 0..5u8 {
        let index = StorageIndex::new(&[u64::from(n / 2), u64::from(n % 2)]).unwrap();
        tiff.write(PositionIndex(0), &index, &[n + 1; 12], None)
            .unwrap();
    }
    tiff.flush().unwrap();
    std::mem::forget(tiff); // the process dies here
    let (pages, xml) = support::read_pages(&dir.path().join("x.ome.tiff"));
    assert_eq!(pages.len(), 5);
    // Two whole time points are described; the fifth plane waits for its partner.
    assert!(
        xml.contains("SizeT=\"2\"") && xml.contains("SizeC=\"2\""),
        "{xml}"
    );
    assert!(xml.contains("PlaneCount=\"4\""), "{xml}");
}

#[test]
fn more_positions_than_open_files() {
    let names: Vec<String> = (0..70).map(|i| format!("pos{i}")).collect();
    let case = Case::new(
        "seventy_positions",
        "T",
        json!({"dtype": "uint8",
        "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
        "dimensions": [
            {"name": "t", "count": 2},
            {"name": "p", "type": "position", "coords": names},
            {"name": "y", "count": 2}, {"name": "x", "count": 3}
        ]}),
    )
    .skip(&[75]);
    let dir = tempfile::tempdir().unwrap();
    let w = support::write(&case, dir.path());
    assert_eq!(w.files.len(), 70);
    support::check_rust(&w);
}

/// UUIDs numbered in order of appearance, the version dropped, one element per line.
fn normalize(xml: &str) -> String {
    let mut out = String::new();
    let mut seen: Vec<String> = Vec::new();
    let mut rest = xml;
    while let Some(at) = rest.find("urn:uuid:") {
        out.push_str(&rest[..at]);
        let uuid = rest[at..at + 45.min(rest.len() - at)].to_owned();
        let n = seen.iter().position(|u| *u == uuid).unwrap_or_else(|| {
            seen.push(uuid.clone());
            seen.len() - 1
        });
        out.push_str(&format!("urn:uuid:00000000-0000-0000-0000-{n:012}"));
        rest = &rest[at + uuid.len()..];
    }
    out.push_str(rest);
    let version = concat!("ome-writers-rs ", env!("CARGO_PKG_VERSION"));
    out.replace(version, "ome-writers-rs VERSION")
        .replace("><", ">\n<")
}

/// The OME-XML of a few cases, compared with `tests/data/golden/*.ome.xml`
/// (`OMEW_BLESS=1 cargo test -p ome-writers-tiff --test behaviour golden` rewrites them).
#[test]
fn golden_ome_xml() {
    let rich = json!({"dtype": "uint16", "dimensions": [
        {"name": "t", "count": 2, "unit": "ms", "scale": 250.0},
        {"name": "c", "coords": [
            {"name": "DAPI", "excitation_wavelength_nm": 405, "emission_wavelength_nm": 450,
             "fluorophore": "DAPI", "color": "blue"},
            {"name": "GFP", "color": [0, 255, 0]}
        ]},
        {"name": "z", "count": 2, "unit": "um", "scale": 2.0},
        {"name": "y", "count": 2, "unit": "um", "scale": 0.5},
        {"name": "x", "count": 2, "unit": "um", "scale": 0.5}
    ]});
    let plate = json!({"dtype": "uint8",
    "plate": {"row_names": ["A", "B"], "column_names": ["1", "2"], "name": "plate"},
    "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
    "dimensions": [
        {"name": "p", "type": "position", "coords": [
            {"name": "f0", "plate_row": "A", "plate_column": "1", "x_coord": 1.0, "y_coord": 2.0},
            {"name": "f1", "plate_row": "B", "plate_column": "2"}
        ]},
        {"name": "t", "count": 2},
        {"name": "y", "count": 2}, {"name": "x", "count": 2}
    ]});
    let mut transposed = json!({"dtype": "float32", "dimensions": [
        {"name": "t", "count": 2}, {"name": "z", "count": 2}, {"name": "c", "count": 2},
        {"name": "y", "count": 2}, {"name": "x", "count": 2}
    ]});
    transposed["storage_order"] = json!(["t", "c", "z", "y", "x"]);
    let cases = [
        Case::new("rich_5d_partial", "TCZ", rich)
            .metadata()
            .frames(6),
        Case::new("plate_companion", "T", plate).metadata(),
        Case::new("transposed", "TCZ", transposed),
    ];
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden");
    let bless = std::env::var_os("OMEW_BLESS").is_some();
    let dir = tempfile::tempdir().unwrap();
    for case in &cases {
        let case_dir = dir.path().join(case.name);
        std::fs::create_dir(&case_dir).unwrap();
        let w = support::write(case, &case_dir);
        let (_, own) = support::read_pages(&w.files[0].path);
        let xml = normalize(&support::metadata_of(&w.files[0].path, &own));
        let path = golden.join(format!("{}.ome.xml", case.name));
        if bless {
            std::fs::create_dir_all(&golden).unwrap();
            std::fs::write(&path, &xml).unwrap();
        } else {
            let want = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (bless with OMEW_BLESS=1)", path.display()));
            assert_eq!(
                xml, want,
                "{}: OME-XML changed (bless with OMEW_BLESS=1)",
                case.name
            );
        }
    }
}

#[test]
fn files_left_empty_by_a_writer_killed_before_their_headers_recover_as_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    std::fs::write(set.join("set_p000.ome.tiff"), b"").unwrap();
    let single = dir.path().join("one.ome.tiff");
    std::fs::write(&single, b"").unwrap();
    for path in [&set, &single] {
        let recovery = ome_writers_tiff::recover(path).unwrap();
        assert!(recovery.nothing_written, "{}", path.display());
        assert!(!recovery.already_final);
    }
}
