//! Test driver for the OME-TIFF backend: runs a case through the router and the
//! backend, then reads the files back three ways:
//!
//! 1. in Rust, always: every page with the `tiff` decoder against the expected
//!    pattern, and the OME-XML sizes against the number of pages;
//! 2. with tifffile + the OME XSD through `tests/python/check_tiff.py`, when a Python
//!    with those packages is found (`OMEW_PYTHON`, else `target/pyenv`);
//! 3. with Bio-Formats' `ImageInfo`, when `java` and the jar are found
//!    (`OMEW_BIOFORMATS_JAR`, else `target/bioformats/bioformats_package.jar`; see
//!    `tests/data/get_bioformats.sh`).
//!
//! A missing reader fails the test unless `OMEW_ALLOW_SKIP=1` (ome-writers-test-support).
//!
//! Frames carry their acquisition number in their pixels:
//! `value(n, y, x) = 1 + ((n*7 + y*3 + x) % M)`, M = 100 for 8-bit, 30000 for 16-bit
//! and 1000000 otherwise; planes never written read as 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    dead_code,
    unreachable_pub
)]

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, FrameMetadata, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{DType, FrameNumber, Schema};
use ome_writers_tiff::TiffBackend;
use serde_json::{Value, json};

/// How a case ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// `finalize` with the router's progress.
    Finalize,
    /// Drop the backend without finalizing (its `Drop` finalizes).
    Drop,
    /// Leak the backend: as if the process died. Only the provisional OME-XML is there.
    Crash,
}

/// One case: settings, how many frames, which are skipped, how it ends.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    /// Settings JSON without `root_path`.
    pub settings: Value,
    /// Output name inside the case's temporary folder (`x.ome.tiff`).
    pub root: &'static str,
    /// Expected OME axes of each image in storage order, without Y and X (`"TCZ"`).
    pub axes: &'static str,
    /// Frames reached (written or skipped); `None`: all frames of a bounded schema.
    pub frames: Option<u64>,
    /// Frame numbers skipped instead of written.
    pub skip: Vec<u64>,
    /// Attach per-frame metadata.
    pub metadata: bool,
    /// Also let Bio-Formats decode every pixel (single-file cases).
    pub bioformats_pixels: bool,
    pub end: End,
}

impl Case {
    pub fn new(name: &'static str, axes: &'static str, settings: Value) -> Self {
        Self {
            name,
            settings,
            root: "x.ome.tiff",
            axes,
            frames: None,
            skip: Vec::new(),
            metadata: false,
            bioformats_pixels: false,
            end: End::Finalize,
        }
    }
    pub fn frames(mut self, n: u64) -> Self {
        self.frames = Some(n);
        self
    }
    pub fn skip(mut self, frames: &[u64]) -> Self {
        self.skip = frames.to_vec();
        self
    }
    pub fn metadata(mut self) -> Self {
        self.metadata = true;
        self
    }
    pub fn bioformats_pixels(mut self) -> Self {
        self.bioformats_pixels = true;
        self
    }
    pub fn end(mut self, end: End) -> Self {
        self.end = end;
        self
    }
}

/// The dataset a case wrote and what it should contain.
pub struct Written {
    pub case: Case,
    /// OME axes of the files' index axes as readers see them (the case's, or after a
    /// crash the acquisition order).
    pub axes: String,
    pub schema: Schema,
    pub dir: PathBuf,
    /// One entry per position file.
    pub files: Vec<ExpectedFile>,
    /// The file Bio-Formats should open (companion, master or single file).
    pub entry: PathBuf,
    /// Extra OME-XML files (companion).
    pub xml_files: Vec<PathBuf>,
}

pub struct ExpectedFile {
    pub path: PathBuf,
    /// Storage-order shape, Y and X included.
    pub shape: Vec<u64>,
    /// `[storage index, frame number]` of every written frame.
    pub frames: Vec<(Vec<u64>, u64)>,
}

pub fn modulus(dtype: DType) -> u64 {
    match dtype.size() {
        1 => 100,
        2 => 30000,
        _ => 1_000_000,
    }
}

/// The pattern frame `n`, native byte order.
pub fn frame(dtype: DType, n: u64, [h, w]: [u64; 2]) -> Vec<u8> {
    let m = modulus(dtype);
    let mut out = Vec::with_capacity((h * w) as usize * dtype.size());
    for y in 0..h {
        for x in 0..w {
            let v = 1 + (n * 7 + y * 3 + x) % m;
            match dtype {
                DType::U8 => out.push(v as u8),
                DType::I8 => out.extend_from_slice(&(v as i8).to_ne_bytes()),
                DType::U16 => out.extend_from_slice(&(v as u16).to_ne_bytes()),
                DType::I16 => out.extend_from_slice(&(v as i16).to_ne_bytes()),
                DType::U32 => out.extend_from_slice(&(v as u32).to_ne_bytes()),
                DType::I32 => out.extend_from_slice(&(v as i32).to_ne_bytes()),
                DType::F32 => out.extend_from_slice(&(v as f32).to_ne_bytes()),
                DType::F64 => out.extend_from_slice(&(v as f64).to_ne_bytes()),
            }
        }
    }
    out
}

fn frame_metadata(n: u64) -> FrameMetadata {
    let v = json!({
        "delta_t": n as f64 * 0.5,
        "exposure_time": 0.01,
        "position_x": 100.0 + n as f64,
        "position_y": -5.5,
        "camera": format!("cam<{n}>&\"x\""),
        "info": {"frame": n},
    });
    v.as_object().cloned().unwrap_or_default()
}

/// Write a case into `dir` (which must exist) and return what to expect.
pub fn write(case: &Case, dir: &Path) -> Written {
    let root = dir.join(case.root);
    let mut settings = case.settings.clone();
    settings["root_path"] = json!(root.to_string_lossy());
    let schema = Schema::from_json(&settings.to_string())
        .unwrap_or_else(|e| panic!("{}: settings invalid: {e}", case.name));
    let router = FrameRouter::new(&schema);
    let mut backend = TiffBackend::create(&schema)
        .unwrap_or_else(|e| panic!("{}: create failed: {e}", case.name));
    let reached = case
        .frames
        .or(router.total())
        .expect("unbounded cases must say how many frames");
    let n_pos = schema.positions().len();
    let mut per_pos: Vec<Vec<(Vec<u64>, u64)>> = vec![Vec::new(); n_pos];
    let mut skipped = 0;
    for n in 0..reached {
        let route = router.route(FrameNumber(n)).unwrap();
        if case.skip.contains(&n) {
            skipped += 1;
            continue;
        }
        let data = frame(schema.dtype(), n, schema.frame_shape());
        let meta = case.metadata.then(|| frame_metadata(n));
        backend
            .write(route.position, &route.index, &data, meta.as_ref())
            .unwrap_or_else(|e| panic!("{}: frame {n}: {e}", case.name));
        per_pos[route.position.0].push((route.index.as_slice().to_vec(), n));
    }
    let growth_extent = router.extent_reached(reached);
    match case.end {
        End::Finalize => {
            let progress = Progress {
                frames_written: reached - skipped,
                frames_skipped: skipped,
                frames_reached: reached,
                growth_extent,
                complete: Some(reached) == router.total(),
                failed: false,
            };
            backend
                .finalize(&progress)
                .unwrap_or_else(|e| panic!("{}: finalize: {e}", case.name));
        }
        End::Drop => drop(backend),
        End::Crash => std::mem::forget(backend),
    }

    // Expected shape of each file.
    let growth = schema.growth_axis();
    let declared = schema.array_shape(None);
    let index_len = declared.len() - 2;
    let mut files = Vec::new();
    let multi = schema.tiff_layout().is_some_and(|l| l.multi_file);
    let output = schema.output_path().unwrap().to_owned();
    let stem = output.file_name().unwrap().to_string_lossy().into_owned();
    for (p, frames) in per_pos.into_iter().enumerate() {
        let path = if multi {
            output.join(format!("{stem}_p{p:03}.ome.tiff"))
        } else {
            output.clone()
        };
        let mut shape = declared.clone();
        if let Some(g) = growth {
            let own = frames.iter().map(|(i, _)| i[g] + 1).max().unwrap_or(0);
            let mut extent = if case.end == End::Finalize {
                growth_extent.max(own)
            } else {
                own
            };
            extent = extent.max(1);
            shape[g] = extent;
        }
        let mut frames = frames;
        if case.end == End::Crash {
            // Only the largest complete block of planes is described, in the order the
            // planes were written (acquisition order): permute to it.
            let perm: Vec<usize> = schema
                .index_axes()
                .iter()
                .map(|a| schema.storage_axes().iter().position(|s| s == a).unwrap())
                .collect();
            let acq_shape: Vec<u64> = perm.iter().map(|&k| shape[k]).collect();
            for (i, _) in &mut frames {
                *i = perm.iter().map(|&k| i[k]).collect();
            }
            let pages = frames
                .iter()
                .map(|(i, _)| linear(i, &acq_shape) + 1)
                .max()
                .unwrap_or(0);
            let (sizes, planes) = prefix_box(&acq_shape, pages);
            shape[..index_len].copy_from_slice(&sizes);
            frames.retain(|(i, _)| linear(i, &acq_shape) < planes);
        }
        files.push(ExpectedFile {
            path,
            shape,
            frames,
        });
    }
    let mode = schema.tiff_layout().map(|l| l.metadata).filter(|_| multi);
    let companion = output.join(format!("{stem}.companion.ome"));
    let (entry, xml_files) = match mode {
        Some(ome_writers_schema::MultiFileMetadata::Companion) if case.end != End::Crash => {
            (companion.clone(), vec![companion])
        }
        _ => (files[0].path.clone(), Vec::new()),
    };
    let axes = if case.end == End::Crash {
        let letters: Vec<char> = case.axes.chars().collect();
        schema
            .index_axes()
            .iter()
            .map(|a| letters[schema.storage_axes().iter().position(|s| s == a).unwrap()])
            .collect()
    } else {
        case.axes.to_owned()
    };
    Written {
        axes,
        case: case.clone(),
        schema,
        dir: dir.to_owned(),
        files,
        entry,
        xml_files,
    }
}

/// Linear plane number of a storage index (storage order is acquisition order).
pub fn linear(index: &[u64], shape: &[u64]) -> u64 {
    index.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

/// IFD number of a storage index: planes are written in acquisition order.
pub fn acquisition_linear(schema: &Schema, index: &[u64], shape: &[u64]) -> u64 {
    schema.index_axes().iter().fold(0, |acc, a| {
        let k = schema.storage_axes().iter().position(|s| s == a).unwrap();
        acc * shape[k] + index[k]
    })
}

/// The reference rule for interrupted files: the largest box of complete planes.
pub fn prefix_box(shape: &[u64], k: u64) -> (Vec<u64>, u64) {
    let n = shape.len();
    for i in 0..n {
        let stride: u64 = shape[i + 1..].iter().product();
        let q = k / stride;
        if q >= 1 {
            let mut out = vec![1; n];
            out[i] = q.min(if i == 0 { u64::MAX } else { shape[i] });
            out[i + 1..].copy_from_slice(&shape[i + 1..]);
            let planes = out.iter().product();
            return (out, planes);
        }
    }
    (vec![1; n], 1)
}

/// `name="value"` of the first `<element ...>` in `xml` (or in `scope` of it).
pub fn attr<'a>(element: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = element.find(&key)? + key.len();
    let end = element[start..].find('"')? + start;
    Some(&element[start..end])
}

/// The `<Image ...>...</Image>` blocks of an OME-XML document.
pub fn images(xml: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(s) = rest.find("<Image ") {
        let end = rest[s..].find("</Image>").map_or(rest.len(), |e| s + e + 8);
        out.push(&rest[s..end]);
        rest = &rest[end..];
    }
    out
}

fn pixels(image: &str) -> &str {
    let s = image.find("<Pixels ").unwrap_or(0);
    let e = image[s..].find('>').map_or(image.len(), |e| s + e);
    &image[s..e]
}

/// Every page of a TIFF file as native-endian bytes, and IFD 0's description.
pub fn read_pages(path: &Path) -> (Vec<Vec<u8>>, String) {
    use tiff::decoder::{Decoder, DecodingResult};
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut d = Decoder::new(std::io::BufReader::new(file)).unwrap();
    let desc = d
        .get_tag_ascii_string(tiff::tags::Tag::ImageDescription)
        .unwrap();
    let mut pages = Vec::new();
    loop {
        let bytes: Vec<u8> = match d.read_image().unwrap() {
            DecodingResult::U8(v) => v,
            DecodingResult::I8(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::U16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::I16(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::U32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::I32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::F32(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            DecodingResult::F64(v) => v.iter().flat_map(|x| x.to_ne_bytes()).collect(),
            _ => panic!("{}: unexpected sample type", path.display()),
        };
        pages.push(bytes);
        if !d.more_images() {
            break;
        }
        d.next_image().unwrap();
    }
    (pages, desc)
}

/// The OME-XML that describes `path`: its own, or the one its `BinaryOnly` names.
pub fn metadata_of(path: &Path, own: &str) -> String {
    if let Some(b) = own.find("<BinaryOnly ") {
        let file = attr(&own[b..], "MetadataFile").unwrap();
        assert!(
            !file.contains('/') && !file.contains('\\'),
            "MetadataFile {file:?} is not a relative file name"
        );
        let target = path.parent().unwrap().join(file);
        if file.ends_with(".ome") {
            std::fs::read_to_string(&target).unwrap()
        } else {
            read_pages(&target).1
        }
    } else {
        own.to_owned()
    }
}

/// Rust-side read-back: pixels page by page, and OME sizes = pages = expected shape.
pub fn check_rust(w: &Written) {
    let name = w.case.name;
    let dtype = w.schema.dtype();
    let frame_shape = w.schema.frame_shape();
    let multi = w.files.len() > 1 || w.schema.tiff_layout().is_some_and(|l| l.multi_file);
    for f in &w.files {
        let (pages, own) = read_pages(&f.path);
        let index_shape = &f.shape[..f.shape.len() - 2];
        let planes: u64 = index_shape.iter().product();
        let xml = metadata_of(&f.path, &own);
        let file_name = f.path.file_name().unwrap().to_string_lossy().into_owned();
        let imgs = images(&xml);
        let image = if multi && w.case.end != End::Crash {
            imgs.iter()
                .find(|i| i.contains(&format!("FileName=\"{file_name}\"")))
                .unwrap_or_else(|| panic!("{name}: no Image refers to {file_name}"))
        } else {
            assert_eq!(imgs.len(), 1, "{name}: {xml}");
            &imgs[0]
        };
        let px = pixels(image);
        let size = |k: &str| -> u64 { attr(px, k).unwrap().parse().unwrap() };
        let (sz, sc, st) = (size("SizeZ"), size("SizeC"), size("SizeT"));
        // Every IFD is used once across the TiffData elements.
        let mut ifds = Vec::new();
        for (at, _) in image.match_indices("<TiffData ") {
            let td = &image[at..];
            let first: u64 = attr(td, "IFD").unwrap().parse().unwrap();
            let count: u64 = attr(td, "PlaneCount").unwrap().parse().unwrap();
            ifds.extend(first..first + count);
        }
        ifds.sort_unstable();
        let plane_count = ifds.len() as u64;
        assert!(
            ifds.iter().copied().eq(0..plane_count),
            "{name}: {file_name}: TiffData IFDs {ifds:?}"
        );
        assert_eq!(
            sz * sc * st,
            plane_count,
            "{name}: {file_name}: sizes vs PlaneCount"
        );
        assert_eq!(
            plane_count, planes,
            "{name}: {file_name}: PlaneCount vs expected shape"
        );
        if w.case.end == End::Crash {
            assert!(pages.len() as u64 >= planes, "{name}: {file_name}: pages");
        } else {
            assert_eq!(
                pages.len() as u64,
                planes,
                "{name}: {file_name}: pages vs PlaneCount"
            );
        }
        let mut expected: BTreeMap<u64, u64> = BTreeMap::new();
        for (index, n) in &f.frames {
            let ifd = if w.case.end == End::Crash {
                linear(index, index_shape) // already in acquisition order
            } else {
                acquisition_linear(&w.schema, index, index_shape)
            };
            expected.insert(ifd, *n);
        }
        let zero = vec![0u8; w.schema.frame_bytes()];
        for (i, page) in pages.iter().enumerate().take(planes as usize) {
            let want = expected
                .get(&(i as u64))
                .map_or_else(|| zero.clone(), |&n| frame(dtype, n, frame_shape));
            assert!(page == &want, "{name}: {file_name}: page {i} differs");
        }
        check_resolution(w, &f.path);
        assert_eq!(attr(px, "SizeX").unwrap(), frame_shape[1].to_string());
        assert_eq!(attr(px, "SizeY").unwrap(), frame_shape[0].to_string());
    }
}

/// The repository root (for `tests/python` and `target/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap()
        .to_owned()
}

/// Under CI a missing independent reader is a failure, not a skip.
/// The Python to read back with (it must import the TIFF readers), or a loud skip.
pub fn python() -> Option<PathBuf> {
    let py = ome_writers_test_support::python()?;
    let ok = Command::new(&py)
        .args(["-c", "import tifffile, ome_types, lxml, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} cannot import tifffile, ome_types, lxml and numpy",
        py.display()
    );
    Some(py)
}

/// Run `tests/python/check_tiff.py` on every dataset; panics listing failures.
pub fn check_python(written: &[Written]) {
    let Some(py) = python() else { return };
    let mut expects = Vec::new();
    for w in written {
        let files: Vec<Value> = w
            .files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "dtype": w.schema.dtype().name(),
                    "shape": f.shape,
                    "axes": format!("{}YX", w.axes),
                    "frames": f.frames.iter().map(|(i, n)| json!([i, n])).collect::<Vec<_>>(),
                })
            })
            .collect();
        let expect = json!({
            "files": files,
            "xml_files": w.xml_files,
            "root": w.case.name,
        });
        let path = w.dir.join(format!("{}.expect.json", w.case.name));
        std::fs::write(&path, expect.to_string()).unwrap();
        expects.push(path);
    }
    let script = repo_root().join("tests/python/check_tiff.py");
    let out = Command::new(&py)
        .arg(&script)
        .args(&expects)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "check_tiff.py failed:\n{stdout}\n{stderr}"
    );
}

/// The Bio-Formats jar and `java`, or a loud skip.
pub fn bioformats() -> Option<PathBuf> {
    ome_writers_test_support::bioformats()
}

/// What Bio-Formats reports for one series.
#[derive(Debug, Default)]
pub struct Series {
    pub values: BTreeMap<String, String>,
}

impl Series {
    pub fn num(&self, key: &str) -> u64 {
        self.values
            .get(key)
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {:?}", self.values))
    }
    pub fn text(&self, key: &str) -> &str {
        self.values
            .get(key)
            .map_or("", |v| v.split_whitespace().next().unwrap_or(""))
    }
}

/// Run `ImageInfo -nopix -omexml` on `path`: the series and the OME-XML it printed.
pub fn image_info(jar: &Path, path: &Path) -> (Vec<Series>, String) {
    let out = Command::new("java")
        // Short runs: the quick JIT and the serial GC start faster.
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"])
        .arg("-cp")
        .arg(jar)
        .args([
            "loci.formats.tools.ImageInfo",
            "-nopix",
            "-no-upgrade",
            "-omexml",
        ])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ImageInfo {} failed:\n{stdout}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut series = Vec::new();
    for line in stdout.lines() {
        let line = line.trim();
        if line.starts_with("Series #") {
            series.push(Series::default());
        } else if let (Some(s), Some((k, v))) = (series.last_mut(), line.split_once(" = ")) {
            s.values
                .entry(k.trim().to_owned())
                .or_insert_with(|| v.trim().to_owned());
        }
    }
    (series, stdout)
}

/// Bio-Formats must see one series per position with the expected sizes, dimension
/// order, pixel type and channel count (and the plate, if any), and no XML errors.
pub fn check_bioformats(written: &[Written]) {
    let Some(jar) = bioformats() else { return };
    // After a crash every file is a standalone OME-TIFF; otherwise the entry file
    // describes the whole dataset.
    let mut jobs: Vec<(&Written, &Path, &[ExpectedFile])> = Vec::new();
    for w in written {
        if w.case.end == End::Crash {
            for f in &w.files {
                jobs.push((w, f.path.as_path(), std::slice::from_ref(f)));
            }
        } else {
            jobs.push((w, w.entry.as_path(), &w.files[..]));
            // A BinaryOnly file leads to the whole dataset too.
            let binary_only = w.schema.tiff_layout().is_some_and(|l| {
                l.multi_file && l.metadata != ome_writers_schema::MultiFileMetadata::Redundant
            });
            if let (true, Some(last)) = (binary_only && w.files.len() > 1, w.files.last()) {
                jobs.push((w, last.path.as_path(), &w.files[..]));
            }
        }
    }
    // One JVM per file is slow: run a few at once.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 6));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<(Vec<Series>, String)>>> =
        jobs.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((_, entry, _)) = jobs.get(i) else {
                        break;
                    };
                    let r = image_info(&jar, entry);
                    *results[i].lock().unwrap() = Some(r);
                }
            });
        }
    });
    for ((w, entry, files), r) in jobs.iter().zip(results) {
        let name = w.case.name;
        let (series, out) = r.into_inner().unwrap().unwrap();
        check_series(w, entry, &series, files, &out);
        if w.schema.plate().is_some() && w.case.end != End::Crash {
            assert!(
                out.contains("<Plate "),
                "{name}: Bio-Formats sees no plate\n{out}"
            );
            let samples = out.matches("<WellSample ").count();
            assert_eq!(samples, w.files.len(), "{name}: well samples\n{out}");
        }
        println!("ok bioformats {name} {}", entry.display());
    }
    for w in written.iter().filter(|w| w.case.bioformats_pixels) {
        check_bioformats_pixels(&jar, w);
        println!("ok bioformats pixels {}", w.case.name);
    }
}

/// Bio-Formats decodes every plane of a single-file case (`ImageConverter` to a plain
/// TIFF, planes in the `DimensionOrder`, i.e. storage order) to the expected pixels.
fn check_bioformats_pixels(jar: &Path, w: &Written) {
    let name = w.case.name;
    assert_eq!(w.files.len(), 1, "{name}: pixel check is for single files");
    let f = &w.files[0];
    let out_path = w.dir.join("bioformats_pixels.tif");
    let out = Command::new("java")
        .args(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp"])
        .arg(jar)
        .args([
            "loci.formats.tools.ImageConverter",
            "-no-upgrade",
            "-overwrite",
        ])
        .arg(&f.path)
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name}: ImageConverter failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (pages, _) = read_pages(&out_path);
    let index_shape = &f.shape[..f.shape.len() - 2];
    let planes: u64 = index_shape.iter().product();
    assert_eq!(pages.len() as u64, planes, "{name}: Bio-Formats planes");
    let by_plane: BTreeMap<u64, u64> = f
        .frames
        .iter()
        .map(|(i, n)| (linear(i, index_shape), *n))
        .collect();
    for (i, page) in pages.iter().enumerate() {
        let want = by_plane.get(&(i as u64)).map_or_else(
            || vec![0u8; w.schema.frame_bytes()],
            |&n| frame(w.schema.dtype(), n, w.schema.frame_shape()),
        );
        assert!(page == &want, "{name}: Bio-Formats plane {i} differs");
    }
}

fn check_series(w: &Written, entry: &Path, series: &[Series], files: &[ExpectedFile], out: &str) {
    let name = w.case.name;
    assert!(
        out.contains("No validation errors found."),
        "{name}: Bio-Formats found OME-XML validation errors\n{out}"
    );
    assert_eq!(
        series.len(),
        files.len(),
        "{name}: {}: series count\n{out}",
        entry.display()
    );
    for (s, f) in series.iter().zip(files) {
        let index_shape = &f.shape[..f.shape.len() - 2];
        let mut zct = [1u64; 3];
        for (letter, &n) in w.axes.chars().zip(index_shape) {
            zct["ZCT".find(letter).unwrap()] = n;
        }
        let [h, wd] = w.schema.frame_shape();
        let got = (
            s.num("Width"),
            s.num("Height"),
            s.num("SizeZ"),
            s.num("SizeC"),
            s.num("SizeT"),
            s.num("Image count"),
        );
        assert_eq!(
            got,
            (wd, h, zct[0], zct[1], zct[2], zct.iter().product()),
            "{name}: {} (Width, Height, SizeZ, SizeC, SizeT, Image count)\n{out}",
            f.path.display()
        );
        let pixel_type = match w.schema.dtype() {
            DType::F32 => "float",
            DType::F64 => "double",
            d => d.name(),
        };
        assert_eq!(s.text("Pixel type"), pixel_type, "{name}\n{out}");
        let mut order = String::from("XY");
        order.extend(w.axes.chars().rev());
        for l in ['Z', 'C', 'T'] {
            if !order.contains(l) {
                order.push(l);
            }
        }
        assert_eq!(
            s.text("Dimension order"),
            order,
            "{name}: dimension order\n{out}"
        );
    }
}

/// With `OMEW_KEEP_OUTPUT` set, keep a test's temporary folder and print where it is.
pub fn keep_if_asked(dir: tempfile::TempDir) {
    if std::env::var_os("OMEW_KEEP_OUTPUT").is_some() {
        println!("kept output in {}", dir.keep().display());
    }
}

/// XResolution/YResolution (pixels per centimetre) must match the X/Y scale.
fn check_resolution(w: &Written, path: &Path) {
    use tiff::decoder::{Decoder, ifd::Value as V};
    use tiff::tags::Tag;
    let metres = |unit: Option<&str>| match unit.unwrap_or("micrometer") {
        "micrometer" => 1e-6,
        "nanometer" => 1e-9,
        "millimeter" => 1e-3,
        other => panic!("add {other} to the test's unit table"),
    };
    let frame = w.schema.frame_dims();
    let expected: Vec<Option<f64>> = [&frame[1], &frame[0]]
        .iter()
        .map(|d| {
            d.scale()
                .map(|s| 0.01 / (s * metres(d.unit().map(ome_writers_schema::Unit::ngff_name))))
        })
        .collect();
    let mut d = Decoder::new(std::io::BufReader::new(File::open(path).unwrap())).unwrap();
    let mut got = |tag| match d.find_tag(tag).unwrap() {
        Some(V::Rational(n, den)) => Some(f64::from(n) / f64::from(den)),
        None => None,
        Some(other) => panic!("{tag:?} = {other:?}"),
    };
    let found = [got(Tag::XResolution), got(Tag::YResolution)];
    if let [Some(x), Some(y)] = expected[..] {
        for (g, e) in found.iter().zip([x, y]) {
            let g = g.unwrap_or_else(|| panic!("{}: no resolution tags", w.case.name));
            assert!(
                (g - e).abs() <= e * 1e-6,
                "{}: resolution {g} px/cm, expected {e}",
                w.case.name
            );
        }
        let unit = d.find_tag(Tag::ResolutionUnit).unwrap();
        assert!(
            matches!(unit, Some(V::Short(3) | V::Unsigned(3))),
            "{}: unit {unit:?}",
            w.case.name
        );
    } else {
        assert_eq!(
            found,
            [None, None],
            "{}: resolution without a scale",
            w.case.name
        );
    }
}

/// Move a written dataset: its case folder to `to` (which must not exist), and a
/// multi-file dataset's own folder to `renamed`. Returns it with the new paths.
pub fn relocate(mut w: Written, to: &Path, renamed: &str) -> Written {
    std::fs::rename(&w.dir, to).unwrap();
    let multi = w.schema.tiff_layout().is_some_and(|l| l.multi_file);
    let folder = w
        .schema
        .output_path()
        .unwrap()
        .file_name()
        .unwrap()
        .to_owned();
    if multi {
        std::fs::rename(to.join(&folder), to.join(renamed)).unwrap();
    }
    let map = |p: &Path| -> PathBuf {
        let rel = p.strip_prefix(&w.dir).unwrap();
        let mut parts = rel.components();
        match parts.next() {
            Some(first) if multi && first.as_os_str() == folder => {
                to.join(renamed).join(parts.as_path())
            }
            _ => to.join(rel),
        }
    };
    for f in &mut w.files {
        f.path = map(&f.path);
    }
    w.entry = map(&w.entry);
    w.xml_files = w.xml_files.iter().map(|p| map(p)).collect();
    w.dir = to.to_owned();
    w
}

/// Read files back with tifffile and ome-types (`support/inspect_tiff.py`, one JSON
/// object per file: pages as hex, series shapes, the describing OME-XML validated
/// against the XSD). The readers are required: without them this panics, so a test
/// never passes without its independent reader.
pub fn inspect(paths: &[&Path]) -> Vec<Value> {
    let py = python().unwrap_or_else(|| {
        panic!("tifffile and ome-types are required for this test: set OMEW_PYTHON")
    });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/inspect_tiff.py");
    let out = Command::new(&py).arg(&script).args(paths).output().unwrap();
    assert!(
        out.status.success(),
        "inspect_tiff.py {paths:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The pages of an [`inspect`] result, as bytes.
pub fn inspected_pages(file: &Value) -> Vec<Vec<u8>> {
    file["pages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_str().unwrap().as_bytes();
            h.chunks(2)
                .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
                .collect()
        })
        .collect()
}

/// Image `i`'s sizes, plane count and page count of an [`inspect`] result must agree,
/// with the series tifffile found; returns the plane count.
pub fn check_agree(file: &Value, i: usize) -> u64 {
    let image = &file["images"][i];
    let n = |k: &str| image[k].as_u64().unwrap();
    let planes = n("size_z") * n("size_c") * n("size_t");
    let pages = file["pages"].as_array().unwrap().len() as u64;
    assert_eq!(planes, n("plane_count"), "sizes vs PlaneCount: {image}");
    assert_eq!(planes, pages, "PlaneCount vs pages: {image}");
    let shape: Vec<u64> = file["series"][i]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(shape.len() >= 2, "series {}", file["series"]);
    let series: u64 = shape.iter().product();
    let frame: u64 = shape[shape.len() - 2..].iter().product();
    assert_eq!(series / frame, planes, "tifffile series vs PlaneCount");
    planes
}

/// Bio-Formats (`ImageInfo`) must open `path` without OME-XML validation errors and see
/// one series of `planes` planes. Required: without java and the jar this panics.
pub fn check_bioformats_planes(path: &Path, planes: u64) {
    let jar = bioformats().unwrap_or_else(|| {
        panic!("Bio-Formats is required for this test: set OMEW_BIOFORMATS_JAR, install java")
    });
    let (series, out) = image_info(&jar, path);
    assert!(
        out.contains("No validation errors found."),
        "{}: Bio-Formats found OME-XML validation errors\n{out}",
        path.display()
    );
    assert_eq!(series.len(), 1, "{}\n{out}", path.display());
    assert_eq!(
        series[0].num("Image count"),
        planes,
        "{}\n{out}",
        path.display()
    );
}
