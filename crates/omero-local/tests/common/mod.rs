//! Helpers shared by the integration tests: the fixture manifest, the pixel pattern,
//! a fake gateway, an OMERO-like data directory, and the Python checkers.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use ome_writers_omero_local::{
    Gateway, ImageInfo, ImportRequest, OmeroLocalError, Registered, Registration, Sizes,
};
use ome_writers_schema::{DType, OmeroAddress};
use serde_json::Value;

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// tests/data/omero.
pub fn data() -> PathBuf {
    repo_root().join("tests/data/omero")
}

/// One ROMIO fixture from manifest.json.
#[derive(Clone, Debug)]
pub struct Fixture {
    pub pixels_id: u64,
    pub pixel_type: String,
    pub dtype: DType,
    pub path: PathBuf,
    pub sizes: Sizes,
}

pub fn fixtures() -> Vec<Fixture> {
    let text = std::fs::read_to_string(data().join("manifest.json")).unwrap();
    let v: Vec<Value> = serde_json::from_str(&text).unwrap();
    v.iter()
        .map(|f| {
            let s = &f["sizes"];
            let n = |k: &str| s[k].as_u64().unwrap();
            Fixture {
                pixels_id: f["pixels_id"].as_u64().unwrap(),
                pixel_type: f["pixel_type"].as_str().unwrap().to_owned(),
                dtype: DType::parse(f["numpy_dtype"].as_str().unwrap()).unwrap(),
                path: data().join(f["path"].as_str().unwrap()),
                sizes: Sizes {
                    x: n("x"),
                    y: n("y"),
                    z: n("z"),
                    c: n("c"),
                    t: n("t"),
                },
            }
        })
        .collect()
}

/// The pattern of tests/python/_common.py: `1 + ((n*7 + y*3 + x) % M)`.
pub fn value(dtype: DType, n: u64, y: u64, x: u64) -> f64 {
    let m = match dtype {
        DType::U8 | DType::I8 => 100,
        DType::U16 | DType::I16 => 30_000,
        _ => 1_000_000,
    };
    (1 + (n * 7 + y * 3 + x) % m) as f64
}

/// Native bytes of one pixel value.
pub fn pixel_bytes(dtype: DType, v: f64) -> Vec<u8> {
    match dtype {
        DType::U8 => (v as u8).to_ne_bytes().to_vec(),
        DType::I8 => (v as i8).to_ne_bytes().to_vec(),
        DType::U16 => (v as u16).to_ne_bytes().to_vec(),
        DType::I16 => (v as i16).to_ne_bytes().to_vec(),
        DType::U32 => (v as u32).to_ne_bytes().to_vec(),
        DType::I32 => (v as i32).to_ne_bytes().to_vec(),
        DType::F32 => (v as f32).to_ne_bytes().to_vec(),
        DType::F64 => v.to_ne_bytes().to_vec(),
    }
}

/// Frame `n` of an `h` x `w` image, native bytes.
pub fn frame(dtype: DType, n: u64, h: u64, w: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for y in 0..h {
        for x in 0..w {
            out.extend(pixel_bytes(dtype, value(dtype, n, y, x)));
        }
    }
    out
}

/// A directory that looks like an OMERO data directory, and a staging directory
/// beside it.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub staging: PathBuf,
}

pub fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("OMERO");
    for f in ["ManagedRepository", "Pixels", "Files", "Thumbnails"] {
        std::fs::create_dir_all(data_dir.join(f)).unwrap();
    }
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    Site {
        data_dir: data_dir.canonicalize().unwrap(),
        staging: staging.canonicalize().unwrap(),
        dir,
    }
}

/// Every path under `root`, relative, sorted.
pub fn tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// What the fake gateway saw.
#[derive(Debug, Default)]
pub struct Log {
    pub checked: Vec<OmeroAddress>,
    pub imports: Vec<ImportRequest>,
    /// For each import: did the path exist, hold no `.partial`, and look complete?
    pub import_saw_complete: Vec<bool>,
    pub annotations: Vec<(Vec<OmeroAddress>, String, Vec<(String, String)>)>,
}

/// A gateway that answers from tables and records every call.
#[derive(Clone, Default)]
pub struct FakeGateway {
    pub log: Arc<Mutex<Log>>,
    /// Targets that exist.
    pub targets: Vec<OmeroAddress>,
    /// What `import` answers (`None`: a failure).
    pub import_result: Option<Registered>,
    pub fail_annotate: bool,
    pub images: HashMap<u64, Vec<u64>>,
    pub infos: HashMap<u64, ImageInfo>,
}

fn looks_complete(path: &Path) -> bool {
    let s = path.to_string_lossy();
    if s.contains(".partial") || !path.exists() {
        return false;
    }
    if s.ends_with(".ome.zarr") {
        // The root metadata is written last, at finalize.
        let meta = std::fs::read_to_string(path.join("zarr.json")).unwrap_or_default();
        return meta.contains("\"ome\"");
    }
    true
}

impl Gateway for FakeGateway {
    fn check_target(&mut self, target: OmeroAddress) -> Result<(), OmeroLocalError> {
        self.log.lock().unwrap().checked.push(target);
        if self.targets.contains(&target) {
            Ok(())
        } else {
            Err(OmeroLocalError::NotFound {
                object: ome_writers_omero_local::object_ref(target),
            })
        }
    }

    fn import(&mut self, request: &ImportRequest) -> Result<Registered, OmeroLocalError> {
        let mut log = self.log.lock().unwrap();
        log.imports.push(request.clone());
        log.import_saw_complete.push(looks_complete(&request.path));
        match &self.import_result {
            Some(r) => Ok(r.clone()),
            None => Err(OmeroLocalError::Omero {
                command: match request.method {
                    Registration::InPlaceImport => "import".to_owned(),
                    Registration::ZarrImport => "zarr import".to_owned(),
                },
                exit_code: 2,
                message: "ERROR [ome.formats.importer.ImportLibrary] Error on import".to_owned(),
            }),
        }
    }

    fn annotate(
        &mut self,
        objects: &[OmeroAddress],
        namespace: &str,
        pairs: &[(String, String)],
    ) -> Result<u64, OmeroLocalError> {
        self.log.lock().unwrap().annotations.push((
            objects.to_vec(),
            namespace.to_owned(),
            pairs.to_vec(),
        ));
        if self.fail_annotate {
            return Err(OmeroLocalError::Unreachable {
                server: "localhost:4064".to_owned(),
                message: "Ice.ConnectionRefusedException: localhost:4064 isn't running".to_owned(),
            });
        }
        Ok(900)
    }

    fn list_images(&mut self, dataset: u64) -> Result<Vec<u64>, OmeroLocalError> {
        self.images
            .get(&dataset)
            .cloned()
            .ok_or_else(|| OmeroLocalError::NotFound {
                object: format!("Dataset:{dataset}"),
            })
    }

    fn image_info(&mut self, image: u64) -> Result<ImageInfo, OmeroLocalError> {
        self.infos
            .get(&image)
            .cloned()
            .ok_or_else(|| OmeroLocalError::NotFound {
                object: format!("Image:{image}"),
            })
    }
}

/// The interop venv's python, or a loud skip (see ome-writers-test-support).
pub fn python() -> Option<PathBuf> {
    ome_writers_test_support::python()
}

/// Run a checker script of tests/python on one EXPECT document.
pub fn check_with_python(python: &Path, script: &str, expect: &Value, dir: &Path) {
    let path = dir.join(format!("expect-{script}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(expect).unwrap()).unwrap();
    let out = Command::new(python)
        .arg(repo_root().join("tests/python").join(script))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
