//! The write path with a fake gateway: staging, sealing, registration, provenance,
//! failures, configuration checks, and the virtual-root rule.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::{FakeGateway, Site, frame, site, tree};
use ome_writers::{StreamOptions, create_stream, create_stream_with_backend};
use ome_writers_omero_local::{
    OmeroLocalBackend, OmeroLocalError, OmeroLocalOptions, PROVENANCE_NAMESPACE, Registered,
    Registration,
};
use ome_writers_schema::{BackendKind, OmeroAddress, OmeroObject, Schema};
use serde_json::{Value, json};

fn tcyx() -> Value {
    json!([{"name": "t", "count": 2}, {"name": "c", "count": 3},
           {"name": "y", "count": 4}, {"name": "x", "count": 5}])
}

/// Settings for `site` with `format` fields merged into the omero_local format.
fn settings(site: &Site, root: &str, dims: Value, format: Value) -> Value {
    let mut f = json!({
        "name": "omero_local",
        "data_dir": site.data_dir,
        "staging_dir": site.staging,
        "omero_executable": "/opt/omero/bin/omero",
    });
    for (k, v) in format.as_object().unwrap() {
        f[k] = v.clone();
    }
    json!({"root_path": root, "dtype": "uint16", "dimensions": dims, "format": f})
}

fn schema(v: &Value) -> Schema {
    Schema::from_json(&v.to_string()).unwrap()
}

fn fake(images: Vec<u64>) -> FakeGateway {
    FakeGateway {
        targets: vec![
            OmeroAddress {
                object: OmeroObject::Dataset,
                id: 7,
            },
            OmeroAddress {
                object: OmeroObject::Screen,
                id: 3,
            },
        ],
        import_result: Some(Registered {
            fileset: Some(31),
            images,
            plates: vec![],
        }),
        ..FakeGateway::default()
    }
}

/// Write every frame of `schema` through a Stream over an `OmeroLocalBackend`.
fn write_all(
    schema: &Schema,
    gateway: &FakeGateway,
) -> Result<ome_writers::StreamSummary, ome_writers::StreamError> {
    let backend = OmeroLocalBackend::create_with(
        schema,
        &OmeroLocalOptions::default(),
        Box::new(gateway.clone()),
    )
    .unwrap();
    let mut stream =
        create_stream_with_backend(schema, Box::new(backend), &StreamOptions::default()).unwrap();
    let [h, w] = schema.frame_shape();
    for n in 0..schema.num_frames().unwrap() {
        stream.append_bytes(&frame(schema.dtype(), n, h, w), None)?;
    }
    stream.finish()
}

fn untouched(site: &Site) {
    assert_eq!(
        tree(&site.data_dir),
        ["Files", "ManagedRepository", "Pixels", "Thumbnails"],
        "the data directory must never be written"
    );
}

#[test]
fn stages_seals_registers_and_annotates() {
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![102]);
    let summary = write_all(&s, &gw).unwrap();

    let fileset = summary.paths[0].clone();
    assert_eq!(summary.paths[1], PathBuf::from("omero://image/102"));
    assert!(fileset.starts_with(&site.staging));
    assert!(fileset.to_string_lossy().ends_with(".ome.zarr"));
    assert!(fileset.join("zarr.json").is_file());
    let staged = tree(&site.staging);
    assert!(!staged.iter().any(|p| p.contains(".partial")), "{staged:?}");

    let log = gw.log.lock().unwrap();
    assert_eq!(
        log.checked,
        [OmeroAddress {
            object: OmeroObject::Dataset,
            id: 7
        }]
    );
    assert_eq!(log.imports.len(), 1);
    let req = &log.imports[0];
    assert_eq!(req.path, fileset);
    assert_eq!(req.method, Registration::InPlaceImport);
    assert_eq!(req.target.to_string(), "omero://dataset/7");
    assert_eq!(
        log.import_saw_complete,
        [true],
        "registered before it was complete"
    );

    let (objects, ns, pairs) = &log.annotations[0];
    assert_eq!(
        objects,
        &[OmeroAddress {
            object: OmeroObject::Image,
            id: 102
        }]
    );
    assert_eq!(ns, PROVENANCE_NAMESPACE);
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("writer"), "ome-writers-rs");
    assert_eq!(get("writer_version"), env!("CARGO_PKG_VERSION"));
    assert_eq!(get("status"), "complete");
    assert_eq!(get("frames_written"), "6");
    assert_eq!(get("fileset"), fileset.to_string_lossy());
    let ts = get("timestamp");
    assert!(
        ts.len() == 20 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    let recorded: Value = serde_json::from_str(&get("schema")).unwrap();
    assert_eq!(recorded["root_path"], "omero://dataset/7");
    assert_eq!(recorded["format"]["name"], "omero_local");
    // The recorded schema is the acquisition's own: it validates back to this backend.
    assert_eq!(schema(&recorded).backend(), BackendKind::OmeroLocal);
    drop(log);
    untouched(&site);

    // The staged fileset is what the zarr backend writes: zarr-python and yaozarrs agree.
    let Some(py) = common::python() else {
        return;
    };
    let frames: Vec<Value> = (0..6u64).map(|n| json!([[n / 3, n % 3], n])).collect();
    let expect = json!({
        "root": fileset, "dtype": "uint16", "layout": "image",
        "images": [{"group": "", "shape": [2, 3, 4, 5], "dimension_names": ["t", "c", "y", "x"],
                    "chunks": [1, 1, 4, 5], "shards": null, "frames": frames}],
        "plate": null, "frame_metadata_count": null,
    });
    common::check_with_python(&py, "check_zarr.py", &expect, site.dir.path());
}

#[test]
fn staged_ome_tiff_validates_like_the_tiff_backend() {
    let site = site();
    let dims = json!([
        {"name": "p", "type": "position", "coords": [{"name": "a"}, {"name": "b"}]},
        {"name": "z", "count": 2}, {"name": "y", "count": 3}, {"name": "x", "count": 4}]);
    let s = schema(&settings(
        &site,
        "omero://dataset/7",
        dims,
        json!({"container": "ome-tiff"}),
    ));
    let gw = fake(vec![301, 302]);
    let summary = write_all(&s, &gw).unwrap();
    let folder = summary.paths[0].clone();
    assert!(folder.is_dir(), "two positions: a folder of OME-TIFF files");
    assert_eq!(
        summary.paths[1..],
        [
            PathBuf::from("omero://image/301"),
            PathBuf::from("omero://image/302")
        ]
    );
    let log = gw.log.lock().unwrap();
    assert_eq!(log.imports[0].path, folder);
    assert_eq!(log.import_saw_complete, [true]);
    assert_eq!(log.annotations[0].0.len(), 2);
    drop(log);

    let Some(py) = common::python() else {
        return;
    };
    let stem = folder.file_name().unwrap().to_string_lossy().into_owned();
    let files: Vec<Value> = (0..2u64)
        .map(|p| {
            let frames: Vec<Value> = (0..2u64).map(|z| json!([[z], p * 2 + z])).collect();
            json!({"path": folder.join(format!("{stem}_p{p:03}.ome.tiff")),
                   "dtype": "uint16", "shape": [2, 3, 4], "axes": "ZYX", "frames": frames})
        })
        .collect();
    let expect = json!({"root": folder, "files": files, "xml_valid": true});
    common::check_with_python(&py, "check_tiff.py", &expect, site.dir.path());
}

#[test]
fn failed_registration_leaves_the_fileset_and_says_how_to_register_it() {
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let mut gw = fake(vec![]);
    gw.import_result = None;
    let e = write_all(&s, &gw).unwrap_err();
    let text = ome_writers_backend::error_chain(&e);
    let log = gw.log.lock().unwrap();
    let path = log.imports[0].path.clone();
    assert_eq!(log.import_saw_complete, [true]);
    assert!(log.annotations.is_empty());
    assert!(
        path.join("zarr.json").is_file(),
        "the fileset stays in place"
    );
    assert!(
        text.contains("The fileset is complete and was left in place"),
        "{text}"
    );
    let manual = format!(
        "/opt/omero/bin/omero import -d 7 -n {} --transfer=ln_s {}",
        path.file_stem()
            .unwrap()
            .to_string_lossy()
            .trim_end_matches(".ome"),
        path.display()
    );
    assert!(text.contains(&manual), "{text}\nexpected: {manual}");
    assert!(text.contains("Error on import"), "{text}");
    // The typed error is there for callers that look.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut found = false;
    while let Some(err) = source {
        if let Some(OmeroLocalError::Registration { path: p, .. }) = err.downcast_ref() {
            found = p == &path;
        }
        source = err.source();
    }
    assert!(
        found,
        "an OmeroLocalError::Registration in the chain: {e:?}"
    );
    untouched(&site);
}

#[test]
fn failed_provenance_is_reported_after_registration() {
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let mut gw = fake(vec![102]);
    gw.fail_annotate = true;
    let text = ome_writers_backend::error_chain(&write_all(&s, &gw).unwrap_err());
    assert!(text.contains("was registered as [\"Image:102\"]"), "{text}");
    assert!(text.contains("provenance"), "{text}");
}

#[test]
fn zarr_import_registers_the_sealed_zarr() {
    let site = site();
    let s = schema(&settings(
        &site,
        "omero://dataset/7",
        tcyx(),
        json!({"registration": "zarr-import"}),
    ));
    let gw = fake(vec![105]);
    let summary = write_all(&s, &gw).unwrap();
    let log = gw.log.lock().unwrap();
    assert_eq!(log.imports[0].method, Registration::ZarrImport);
    assert_eq!(log.imports[0].path, summary.paths[0]);
    assert_eq!(log.import_saw_complete, [true]);
}

/// seeds/004: a virtual OMERO root was created on disk by a disk backend after a
/// configuration round trip. Here the address is never a path, before or after
/// serialization, through our backend or the facade.
#[test]
fn no_path_under_a_virtual_omero_root_is_ever_created() {
    let site = site();
    let original = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let json = serde_json::to_string(&original).unwrap();
    let again: Schema = serde_json::from_str(&json).unwrap();
    assert_eq!(again, original);
    for s in [&original, &again] {
        assert_eq!(s.backend(), BackendKind::OmeroLocal);
        assert_eq!(s.output_path(), None);
        write_all(s, &fake(vec![1])).unwrap();
    }
    // Only the staging directory and the (untouched) data directory exist.
    let all = tree(site.dir.path());
    assert!(
        all.iter()
            .all(|p| p.starts_with("staging") || p.starts_with("OMERO")),
        "{all:?}"
    );
    untouched(&site);
    for virtual_root in ["omero:", "omero:/dataset", "/omero", "omero://dataset/7"] {
        assert!(
            !Path::new(virtual_root).exists(),
            "{virtual_root} was created"
        );
    }

    // Through the facade with no omero CLI: refused up front, nothing staged.
    let before = tree(&site.staging);
    let mut v = settings(
        &site,
        "omero://dataset/7",
        tcyx(),
        json!({"omero_executable": site.dir.path().join("no-omero-here")}),
    );
    let via_facade: Schema =
        serde_json::from_str(&serde_json::to_string(&schema(&v)).unwrap()).unwrap();
    let e = create_stream(&via_facade).err().unwrap();
    let text = ome_writers_backend::error_chain(&e);
    assert!(text.contains("cannot run the OMERO CLI"), "{text}");
    assert_eq!(tree(&site.staging), before);

    // The seed's virtual path: never accepted as a disk root, whatever the format.
    for format in [json!("auto"), json!("ome-zarr"), v["format"].clone()] {
        v["format"] = format;
        v["root_path"] = json!("/omero/plate_403_outputs/checkpoints_step0");
        assert!(Schema::from_json(&v.to_string()).is_err());
    }
    assert!(!Path::new("/omero").exists());
}

/// Configuration errors: each case is refused before anything is created.
// A table of one-line cases: long, but each line reads alone.
#[allow(clippy::too_many_lines)]
#[test]
fn configuration_fails_loudly_and_early() {
    let site = site();
    let file = site.dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let bare = site.dir.path().join("bare");
    std::fs::create_dir(&bare).unwrap();
    let positions = json!([
        {"name": "p", "type": "position", "coords": [{"name": "a"}, {"name": "b"}]},
        {"name": "y", "count": 2}, {"name": "x", "count": 2}]);
    let managed = site.data_dir.join("ManagedRepository");
    let cases: Vec<(&str, Value, Value, &str)> = vec![
        (
            "omero://dataset/7",
            tcyx(),
            json!({"data_dir": site.dir.path().join("nope")}),
            "not an OMERO data directory",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"data_dir": bare}),
            "no ManagedRepository/ folder",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"data_dir": ""}),
            "data_dir",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": ""}),
            "staging_dir",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": site.dir.path().join("nope")}),
            "create it first",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": file}),
            "not a directory",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": managed}),
            "which the OMERO server owns",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": site.data_dir.join("Pixels")}),
            "which the OMERO server owns",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": site.data_dir}),
            "which the OMERO server owns",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"omero_executable": ""}),
            "omero_executable",
        ),
        (
            "omero://screen/3",
            tcyx(),
            json!({}),
            "images are imported into a Dataset",
        ),
        (
            "omero://image/5",
            tcyx(),
            json!({}),
            "existing Image or Plate",
        ),
        (
            "omero://dataset/7",
            tcyx(),
            json!({"registration": "zarr-import", "container": "ome-tiff"}),
            "OME-Zarr only",
        ),
        (
            "omero://dataset/7",
            positions,
            json!({"registration": "zarr-import"}),
            "by number",
        ),
        (
            "omero://dataset/99",
            tcyx(),
            json!({}),
            "Dataset:99 does not exist",
        ),
    ];
    for (root, dims, format, want) in cases {
        let s = schema(&settings(&site, root, dims, format.clone()));
        let gw = fake(vec![1]);
        let e =
            OmeroLocalBackend::create_with(&s, &OmeroLocalOptions::default(), Box::new(gw.clone()))
                .unwrap_err();
        assert!(
            e.to_string().contains(want),
            "{format}: {e}\nexpected: {want}"
        );
        assert!(
            tree(&site.staging).is_empty(),
            "{format}: left {:?}",
            tree(&site.staging)
        );
        assert!(gw.log.lock().unwrap().imports.is_empty());
    }
    // A managed subfolder, reached through a symbolic link, is still refused.
    #[cfg(unix)]
    {
        let link = site.dir.path().join("sneaky");
        std::os::unix::fs::symlink(site.data_dir.join("ManagedRepository"), &link).unwrap();
        let s = schema(&settings(
            &site,
            "omero://dataset/7",
            tcyx(),
            json!({"staging_dir": link}),
        ));
        let e = OmeroLocalBackend::create_with(
            &s,
            &OmeroLocalOptions::default(),
            Box::new(fake(vec![1])),
        )
        .unwrap_err();
        assert!(matches!(e, OmeroLocalError::Staging { .. }), "{e}");
    }
    let e = OmeroLocalBackend::create_with(
        &schema(&settings(&site, "omero://dataset/7", tcyx(), json!({}))),
        &OmeroLocalOptions::default().with_namespace(" "),
        Box::new(fake(vec![1])),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            OmeroLocalError::Config {
                field: "namespace",
                ..
            }
        ),
        "{e}"
    );
    untouched(&site);
}

#[test]
fn image_names_and_namespaces_are_configurable() {
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![9]);
    let options = OmeroLocalOptions::default()
        .with_namespace("lab.example/acq")
        .with_image_name(Some("mouse 3/day 2".to_owned()));
    let backend = OmeroLocalBackend::create_with(&s, &options, Box::new(gw.clone())).unwrap();
    assert!(backend.partial_dir().ends_with(format!(
        "{}.partial",
        backend.fileset_path().parent().unwrap().file_name().unwrap().to_string_lossy()
    )));
    let mut stream =
        create_stream_with_backend(&s, Box::new(backend), &StreamOptions::default()).unwrap();
    stream
        .append_bytes(&frame(s.dtype(), 0, 4, 5), None)
        .unwrap();
    let summary = stream.finish().unwrap();
    let log = gw.log.lock().unwrap();
    assert_eq!(log.imports[0].name, "mouse 3/day 2");
    let dir = summary.paths[0]
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(dir.starts_with("mouse_3_day_2-"), "{dir}");
    assert_eq!(log.annotations[0].1, "lab.example/acq");
    let status = &log.annotations[0]
        .2
        .iter()
        .find(|(k, _)| k == "status")
        .unwrap()
        .1;
    assert_eq!(status, "partial", "one frame of six");
}

/// The staged fileset's `ome_writers` attributes.
fn staged_attrs(zarr: &Path) -> Value {
    let v: Value = serde_json::from_slice(&std::fs::read(zarr.join("zarr.json")).unwrap()).unwrap();
    v["attributes"]["ome_writers"].clone()
}

/// The zarr backend under omero_local fails a write (a file where a chunk folder must
/// go): the fileset is finalized with status `failed`, sealed, kept, and never
/// registered; the errors say how to register it by hand; the frames stored before
/// the failure read back with zarr-python.
#[test]
fn a_failed_staging_write_records_failed_and_is_not_registered() {
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![102]);
    let backend =
        OmeroLocalBackend::create_with(&s, &OmeroLocalOptions::default(), Box::new(gw.clone()))
            .unwrap();
    let fileset = backend.fileset_path();
    let name = fileset.file_name().unwrap().to_owned();
    let staged = backend.partial_dir().join(&name);
    let mut stream =
        create_stream_with_backend(&s, Box::new(backend), &StreamOptions::default()).unwrap();
    // Frame 3 is t=1, c=0: its chunk `0/c/1/0/0/0` cannot be created under a file.
    std::fs::create_dir_all(staged.join("0/c")).unwrap();
    std::fs::write(staged.join("0/c/1"), b"in the way").unwrap();
    let mut errors = Vec::new();
    for n in 0..3 {
        stream
            .append_bytes(&frame(s.dtype(), n, 4, 5), None)
            .unwrap();
    }
    for n in 3..6 {
        if let Err(e) = stream.append_bytes(&frame(s.dtype(), n, 4, 5), None) {
            errors.push(ome_writers_backend::error_chain(&e));
        }
    }
    errors.push(ome_writers_backend::error_chain(
        &stream.finish().unwrap_err(),
    ));
    let all = errors.join("\n");
    let manual = format!(
        "/opt/omero/bin/omero import -d 7 -n {} --transfer=ln_s {}",
        name.to_string_lossy().trim_end_matches(".ome.zarr"),
        fileset.display()
    );
    assert!(all.contains(&manual), "{all}\nexpected: {manual}");
    assert!(all.contains("not registered with OMERO"), "{all}");
    let log = gw.log.lock().unwrap();
    assert!(log.imports.is_empty(), "registered after a failed write");
    assert!(log.annotations.is_empty());
    drop(log);
    assert!(fileset.join("zarr.json").is_file(), "sealed and kept");
    assert!(!tree(&site.staging).iter().any(|p| p.contains(".partial")));
    let attrs = staged_attrs(&fileset);
    assert_eq!(attrs["status"], "failed", "{attrs}");
    assert_eq!(attrs["frames_written"], 3, "{attrs}");
    untouched(&site);

    std::fs::remove_file(fileset.join("0/c/1")).unwrap();
    let Some(py) = common::python() else {
        return;
    };
    let frames: Vec<Value> = (0..3u64).map(|n| json!([[n / 3, n % 3], n])).collect();
    let shape = attrs["shape"].clone();
    let shape = if shape.is_null() {
        json!([2, 3, 4, 5])
    } else {
        shape
    };
    let expect = json!({
        "root": fileset, "dtype": "uint16", "layout": "image",
        "images": [{"group": "", "shape": shape, "dimension_names": ["t", "c", "y", "x"],
                    "chunks": [1, 1, 4, 5], "shards": null, "frames": frames}],
        "plate": null, "frame_metadata_count": null,
    });
    common::check_with_python(&py, "check_zarr.py", &expect, site.dir.path());
}

/// A stream that failed for any reason (`Progress::failed`: a writer panic, a failed
/// durability point) is not registered either: the fileset says `failed`.
#[test]
fn a_failed_stream_is_sealed_and_kept_but_not_registered() {
    use ome_writers_backend::{Backend, Progress};
    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![102]);
    let mut backend =
        OmeroLocalBackend::create_with(&s, &OmeroLocalOptions::default(), Box::new(gw.clone()))
            .unwrap();
    let progress = Progress {
        failed: true,
        ..Progress::default()
    };
    let e = backend.finalize(&progress).unwrap_err();
    let text = ome_writers_backend::error_chain(&e);
    assert!(text.contains("was not registered with OMERO"), "{text}");
    assert!(text.contains("--transfer=ln_s"), "{text}");
    assert!(gw.log.lock().unwrap().imports.is_empty());
    assert_eq!(staged_attrs(&backend.fileset_path())["status"], "failed");
}

/// The staged fileset is written by the factory it is given (the facade's, with the
/// stream's encoder options), and the zero-copy path reaches it: every frame arrives
/// through `write_owned`.
#[test]
fn the_staging_backend_comes_from_the_factory_and_keeps_the_zero_copy_path() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use ome_writers_backend::{
        Backend, BackendError, FrameBuffer, FrameMetadata, Progress, Summary,
    };
    use ome_writers_schema::{PositionIndex, StorageIndex};

    /// The default staging backend, counting the frames handed over owned.
    struct Counting(Box<dyn Backend>, Arc<AtomicU64>);
    impl Backend for Counting {
        fn write(
            &mut self,
            p: PositionIndex,
            i: &StorageIndex,
            f: &[u8],
            m: Option<&FrameMetadata>,
        ) -> Result<(), BackendError> {
            self.0.write(p, i, f, m)
        }
        fn write_owned(
            &mut self,
            p: PositionIndex,
            i: &StorageIndex,
            f: FrameBuffer,
            m: Option<&FrameMetadata>,
        ) -> Result<(), BackendError> {
            self.1.fetch_add(1, Ordering::SeqCst);
            self.0.write_owned(p, i, f, m)
        }
        fn flush(&mut self) -> Result<(), BackendError> {
            self.0.flush()
        }
        fn finalize(&mut self, p: &Progress) -> Result<Summary, BackendError> {
            self.0.finalize(p)
        }
    }

    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![102]);
    let owned = Arc::new(AtomicU64::new(0));
    let counter = owned.clone();
    let factory = move |staged: &Schema| -> Result<Box<dyn Backend>, BackendError> {
        let inner = ome_writers_omero_local::default_staging(staged)?;
        Ok(Box::new(Counting(inner, counter.clone())))
    };
    let backend = OmeroLocalBackend::create_with_staging(
        &s,
        &OmeroLocalOptions::default(),
        Box::new(gw.clone()),
        &factory,
    )
    .unwrap();
    let mut stream =
        create_stream_with_backend(&s, Box::new(backend), &StreamOptions::default()).unwrap();
    let [h, w] = s.frame_shape();
    for n in 0..s.num_frames().unwrap() {
        stream
            .append_bytes(&frame(s.dtype(), n, h, w), None)
            .unwrap();
    }
    stream.finish().unwrap();
    assert_eq!(owned.load(Ordering::SeqCst), s.num_frames().unwrap());
    assert_eq!(gw.log.lock().unwrap().imports.len(), 1);
}

/// The backend contract's misuse cases on omero_local behind the facade's checked
/// layer: typed usage errors, no panic, nothing written to the staged fileset for them,
/// nothing registered.
#[test]
fn misuse_is_a_typed_usage_error_and_writes_nothing() {
    use ome_writers_backend::{Backend, BackendError, Checked, Progress, UsageError};
    use ome_writers_schema::{PositionIndex, StorageIndex};

    let site = site();
    let s = schema(&settings(&site, "omero://dataset/7", tcyx(), json!({})));
    let gw = fake(vec![7]);
    let inner =
        OmeroLocalBackend::create_with(&s, &OmeroLocalOptions::default(), Box::new(gw.clone()))
            .unwrap();
    let staged = inner.partial_dir().to_owned();
    let mut b = Checked::new(&s, inner);
    let at = |t: u64, c: u64| StorageIndex::new(&[t, c]).unwrap();
    let frame = vec![0u8; s.frame_bytes()];
    b.write(PositionIndex(0), &at(0, 0), &frame, None).unwrap();
    let before = tree(&staged);
    let usage = |r: Result<(), BackendError>| match r {
        Err(BackendError::Usage(u)) => u,
        other => panic!("expected a usage error, got {other:?}"),
    };
    usage(b.write(PositionIndex(0), &at(0, 1), &frame[1..], None));
    usage(b.write(
        PositionIndex(0),
        &at(0, 1),
        &[frame.clone(), vec![0]].concat(),
        None,
    ));
    usage(b.write(PositionIndex(1), &at(0, 1), &frame, None));
    usage(b.write(PositionIndex(0), &at(2, 0), &frame, None));
    assert_eq!(
        tree(&staged),
        before,
        "a refused write wrote to the fileset"
    );
    let progress = Progress {
        frames_written: 1,
        frames_reached: 1,
        growth_extent: 1,
        ..Progress::default()
    };
    b.finalize(&progress).unwrap();
    assert!(matches!(
        usage(b.write(PositionIndex(0), &at(0, 1), &frame, None)),
        UsageError::Finalized { call: "write" }
    ));
    assert!(matches!(
        b.finalize(&progress),
        Err(BackendError::Usage(UsageError::Finalized {
            call: "finalize"
        }))
    ));
    assert_eq!(gw.log.lock().unwrap().imports.len(), 1, "registered once");
}
