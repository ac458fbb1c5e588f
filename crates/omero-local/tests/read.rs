//! The read side: images resolved to local bytes the way the server finds them, and read
//! back pixel-exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{FakeGateway, Site, fixtures, frame, site};
use ome_writers::create_stream;
use ome_writers_omero_local::{
    DataDir, ExternalInfo, FilesetFile, ImageInfo, NGFF_ENTITY_TYPE, OmeroLocalError, OmeroReader,
    PixelSource, Sizes,
};
use ome_writers_schema::{OmeroAddress, OmeroObject, Schema};
use serde_json::{Value, json};

fn image(id: u64) -> OmeroAddress {
    OmeroAddress {
        object: OmeroObject::Image,
        id,
    }
}

fn info(image: u64, pixels: u64, sizes: Sizes, pixel_type: &str) -> ImageInfo {
    ImageInfo {
        image,
        pixels,
        sizes,
        pixel_type: pixel_type.to_owned(),
        dimension_order: "XYZCT".to_owned(),
        series: 0,
        external: None,
        files: vec![],
    }
}

fn reader(site: &Site, infos: Vec<ImageInfo>) -> OmeroReader {
    let gw = FakeGateway {
        infos: infos.into_iter().map(|i| (i.image, i)).collect(),
        images: [(7, vec![101, 102])].into_iter().collect(),
        ..FakeGateway::default()
    };
    OmeroReader::new(DataDir::open(&site.data_dir).unwrap(), Box::new(gw))
}

/// Write `dims` (u16, every frame the test pattern) to `root` through a Stream;
/// returns the frames' bytes in acquisition order.
fn write(root: &Path, dims: Value, format: Value) -> Vec<Vec<u8>> {
    let s = Schema::from_json(
        &json!({"root_path": root, "dtype": "uint16", "dimensions": dims, "format": format})
            .to_string(),
    )
    .unwrap();
    let mut stream = create_stream(&s).unwrap();
    let [h, w] = s.frame_shape();
    let frames: Vec<Vec<u8>> = (0..s.num_frames().unwrap())
        .map(|n| frame(s.dtype(), n, h, w))
        .collect();
    for f in &frames {
        stream.append_bytes(f, None).unwrap();
    }
    stream.finish().unwrap();
    frames
}

fn plane(img: &ome_writers_omero_local::OmeroImage, t: u64, c: u64, z: u64) -> Vec<u8> {
    let s = img.sizes();
    let mut out = vec![0u8; (s.x * s.y) as usize * img.dtype().size()];
    img.read_plane(t, c, z, &mut out).unwrap();
    out
}

#[test]
fn romio_images_are_memory_mapped_and_exact() {
    let site = site();
    let f = fixtures()
        .into_iter()
        .find(|f| f.pixels_id == 1001)
        .unwrap();
    let dest = site.data_dir.join("Pixels/Dir-001/1001");
    std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
    std::fs::copy(&f.path, &dest).unwrap();
    let mut r = reader(&site, vec![info(101, 1001, f.sizes, "uint16")]);
    let img = r.load(image(101)).unwrap();
    assert_eq!(img.source(), &PixelSource::Romio { path: dest.clone() });
    assert!(img.romio().is_some(), "zero copy: the file is mapped");
    assert_eq!(img.axes(), ["t", "c", "z", "y", "x"]);
    assert_eq!(img.shape(), [1, 3, 2, 3, 7]);
    let s = f.sizes;
    let values = img.to_vec::<u16>().unwrap();
    let mut i = 0;
    for t in 0..s.t {
        for c in 0..s.c {
            for z in 0..s.z {
                let n = (t * s.c + c) * s.z + z;
                assert_eq!(plane(&img, t, c, z), frame(f.dtype, n, s.y, s.x));
                for y in 0..s.y {
                    for x in 0..s.x {
                        assert_eq!(u64::from(values[i]), common::value(f.dtype, n, y, x) as u64);
                        i += 1;
                    }
                }
            }
        }
    }
    assert!(img.to_vec::<f32>().is_err(), "the pixel type is checked");
}

#[test]
fn pyramids_are_refused_clearly() {
    let site = site();
    let sizes = Sizes {
        x: 8,
        y: 8,
        z: 1,
        c: 1,
        t: 1,
    };
    std::fs::write(site.data_dir.join("Pixels/55_pyramid"), b"II*\0").unwrap();
    let mut r = reader(&site, vec![info(5, 55, sizes, "uint8")]);
    let e = r.load(image(5)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Pyramid { image: 5, path } if path.ends_with("Pixels/55_pyramid")),
        "{e}"
    );
    assert!(e.to_string().contains("JPEG-2000"), "{e}");
}

#[test]
fn zarr_named_by_external_info_is_read() {
    let site = site();
    let root = site.staging.join("ext.ome.zarr");
    let dims = json!([{"name": "t", "count": 2}, {"name": "c", "count": 3},
                      {"name": "y", "count": 4}, {"name": "x", "count": 5}]);
    let frames = write(&root, dims, json!("auto"));
    let sizes = Sizes {
        x: 5,
        y: 4,
        z: 1,
        c: 3,
        t: 2,
    };
    let mut i = info(105, 1005, sizes, "uint16");
    i.external = Some(ExternalInfo {
        entity_type: NGFF_ENTITY_TYPE.to_owned(),
        lsid: format!("{}/", root.display()),
    });
    let mut remote = i.clone();
    remote.image = 106;
    remote.external = Some(ExternalInfo {
        entity_type: NGFF_ENTITY_TYPE.to_owned(),
        lsid: "s3://bucket/ext.ome.zarr/".to_owned(),
    });
    let mut wrong = i.clone();
    wrong.image = 107;
    wrong.sizes.c = 2;
    let mut r = reader(&site, vec![i, remote, wrong]);
    let img = r.load(image(105)).unwrap();
    assert_eq!(
        img.source(),
        &PixelSource::ExternalZarr {
            group: root.clone()
        }
    );
    assert!(img.romio().is_none());
    for t in 0..2 {
        for c in 0..3 {
            assert_eq!(
                plane(&img, t, c, 0),
                frames[(t * 3 + c) as usize],
                "t={t} c={c}"
            );
        }
    }
    let e = r.load(image(106)).unwrap_err();
    assert!(e.to_string().contains("remote"), "{e}");
    let e = r.load(image(107)).unwrap_err();
    assert!(
        e.to_string().contains("disagrees with OMERO's Pixels"),
        "{e}"
    );
}

/// An in-place imported OME-Zarr: its files under ManagedRepository, the image chosen
/// by `Image.series` (bioformats2raw series listed in OME/zarr.json).
#[test]
fn zarr_filesets_are_read_by_series() {
    let site = site();
    let rel = "alice_3/2024-05/02/10-15-41.310";
    let root = site
        .data_dir
        .join("ManagedRepository")
        .join(rel)
        .join("run.ome.zarr");
    let dims = json!([
        {"name": "p", "type": "position", "coords": [{"name": "left"}, {"name": "right"}]},
        {"name": "z", "count": 3}, {"name": "y", "count": 2}, {"name": "x", "count": 3}]);
    let frames = write(&root, dims, json!("auto"));
    let sizes = Sizes {
        x: 3,
        y: 2,
        z: 3,
        c: 1,
        t: 1,
    };
    let files = |extra: &str| {
        vec![
            FilesetFile {
                path: format!("{rel}/run.ome.zarr/"),
                name: "zarr.json".to_owned(),
            },
            FilesetFile {
                path: format!("{rel}/run.ome.zarr/{extra}/0/"),
                name: "zarr.json".to_owned(),
            },
        ]
    };
    let mut a = info(201, 2001, sizes, "uint16");
    a.files = files("left");
    let mut b = info(202, 2002, sizes, "uint16");
    b.files = files("right");
    b.series = 1;
    let mut r = reader(&site, vec![a, b]);
    for (id, p) in [(201u64, 0usize), (202, 1)] {
        let img = r.load(image(id)).unwrap();
        let group = root.join(["left", "right"][p]);
        assert_eq!(img.source(), &PixelSource::FilesetZarr { group });
        for z in 0..3 {
            assert_eq!(plane(&img, 0, 0, z), frames[p * 3 + z as usize]);
        }
    }
}

/// A single-file OME-TIFF fileset, acquired z outer and c inner: DimensionOrder XYCZT.
#[test]
fn ome_tiff_filesets_follow_the_dimension_order() {
    let site = site();
    let rel = "alice_3/2024-05/02/11-00-00.000";
    let path = site
        .data_dir
        .join("ManagedRepository")
        .join(rel)
        .join("a.ome.tiff");
    let dims = json!([{"name": "z", "count": 2}, {"name": "c", "count": 3},
                      {"name": "y", "count": 3}, {"name": "x", "count": 4}]);
    let frames = write(&path, dims, json!("auto"));
    let sizes = Sizes {
        x: 4,
        y: 3,
        z: 2,
        c: 3,
        t: 1,
    };
    let mut i = info(301, 3001, sizes, "uint16");
    i.dimension_order = "XYCZT".to_owned();
    i.files = vec![FilesetFile {
        path: format!("{rel}/"),
        name: "a.ome.tiff".to_owned(),
    }];
    let mut r = reader(&site, vec![i]);
    let img = r.load(image(301)).unwrap();
    assert_eq!(
        img.source(),
        &PixelSource::FilesetTiff { path: path.clone() }
    );
    for z in 0..2u64 {
        for c in 0..3u64 {
            assert_eq!(
                plane(&img, 0, c, z),
                frames[(z * 3 + c) as usize],
                "z={z} c={c}"
            );
        }
    }
}

#[test]
fn what_cannot_be_read_locally_says_why() {
    let site = site();
    let sizes = Sizes {
        x: 2,
        y: 2,
        z: 1,
        c: 1,
        t: 1,
    };
    let mut dv = info(401, 4001, sizes, "uint16");
    dv.files = vec![FilesetFile {
        path: "alice_3/x/".to_owned(),
        name: "a.dv".to_owned(),
    }];
    let mut escape = info(402, 4002, sizes, "uint16");
    escape.files = vec![FilesetFile {
        path: "../../etc/".to_owned(),
        name: "passwd".to_owned(),
    }];
    let nothing = info(403, 4003, sizes, "uint16");
    let bit = info(404, 4004, sizes, "bit");
    let romio = DataDir::open(&site.data_dir).unwrap().pixels_path(4004);
    std::fs::create_dir_all(romio.parent().unwrap()).unwrap();
    std::fs::write(romio, [0u8; 1]).unwrap();
    let mut other_ext = info(405, 4005, sizes, "uint16");
    other_ext.external = Some(ExternalInfo {
        entity_type: "com.example:thing".to_owned(),
        lsid: "/x".to_owned(),
    });
    let mut r = reader(&site, vec![dv, escape, nothing, bit, other_ext]);
    let cases: [(u64, &str); 5] = [
        (401, "need Bio-Formats"),
        (402, "not a path inside the managed repository"),
        (403, "no local pixels found"),
        (404, "pixel type \"bit\" is not supported"),
        (405, "only com.glencoesoftware.ngff:multiscales"),
    ];
    for (id, want) in cases {
        let e = r.load(image(id)).unwrap_err();
        assert!(e.to_string().contains(want), "{id}: {e}");
    }
    let e = r.load(image(999)).unwrap_err();
    assert!(matches!(e, OmeroLocalError::NotFound { .. }), "{e}");
}

#[test]
fn addresses_are_typed() {
    let site = site();
    let mut r = reader(&site, vec![]);
    let ids = r
        .list_images(OmeroAddress {
            object: OmeroObject::Dataset,
            id: 7,
        })
        .unwrap();
    let shown: Vec<String> = ids.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["omero://image/101", "omero://image/102"]);
    assert!(
        r.list_images(image(7)).is_err(),
        "an Image is not a Dataset"
    );
    assert!(
        r.load(OmeroAddress {
            object: OmeroObject::Dataset,
            id: 7
        })
        .is_err()
    );
}

/// Run `f` on another thread; a hang (a blocked open of a FIFO) fails the test instead
/// of stalling it.
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what}: hung (or panicked)"))
}

#[cfg(unix)]
fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}

/// 2^40 pixels: X=Y=Z=T=1024.
const HUGE: Sizes = Sizes {
    x: 1024,
    y: 1024,
    z: 1024,
    c: 1,
    t: 1024,
};

/// Images whose declared size is absurd or larger than what is on disk are refused
/// when loaded, naming the size, before any pixel buffer is allocated (the whole-image
/// read of old aborted on a 2 TiB allocation); a sparse OME-Zarr of that size loads
/// and reads one plane at a time.
#[test]
fn huge_declared_images_are_refused_or_streamed_never_allocated() {
    let site = site();
    let dir = DataDir::open(&site.data_dir).unwrap();
    // ROMIO: a 16-byte file declared as 2^40 uint16 pixels.
    let romio = dir.pixels_path(5001);
    std::fs::create_dir_all(romio.parent().unwrap()).unwrap();
    std::fs::write(&romio, [0u8; 16]).unwrap();
    // OME-TIFF fileset: a real 2-plane file declared as 2^40 pixels.
    let rel = "alice_3/huge";
    let tiff = site
        .data_dir
        .join("ManagedRepository")
        .join(rel)
        .join("h.ome.tiff");
    write(
        &tiff,
        json!([{"name": "z", "count": 2}, {"name": "y", "count": 1024}, {"name": "x", "count": 1024}]),
        json!("auto"),
    );
    let mut t = info(502, 5002, HUGE, "uint16");
    t.files = vec![FilesetFile {
        path: format!("{rel}/"),
        name: "h.ome.tiff".to_owned(),
    }];
    let mut overflow = info(503, 5003, HUGE, "uint16");
    overflow.sizes.x = u64::MAX / 2;
    // A sparse OME-Zarr of 2^40 pixels: metadata only, every chunk missing (fill 0).
    let group = site.staging.join("sparse.ome.zarr");
    sparse_zarr(&group, HUGE);
    let mut z = info(504, 5004, HUGE, "uint16");
    z.external = Some(ExternalInfo {
        entity_type: NGFF_ENTITY_TYPE.to_owned(),
        lsid: group.display().to_string(),
    });
    let mut r = reader(&site, vec![info(501, 5001, HUGE, "uint16"), t, overflow, z]);
    let e = r.load(image(501)).unwrap_err();
    assert!(
        matches!(
            &e,
            OmeroLocalError::RomioSize {
                expected: 2_199_023_255_552,
                actual: 16,
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string().contains("X=1024 Y=1024 Z=1024 C=1 T=1024"),
        "{e}"
    );
    let e = r.load(image(502)).unwrap_err().to_string();
    assert!(
        e.contains("declared as X=1024 Y=1024 Z=1024 C=1 T=1024: 1048576 planes")
            && e.contains("h.ome.tiff"),
        "{e}"
    );
    let e = r.load(image(503)).unwrap_err();
    assert!(
        matches!(&e, OmeroLocalError::Sizes { .. }) && e.to_string().contains("address space"),
        "{e}"
    );
    let img = r.load(image(504)).unwrap();
    assert_eq!(img.shape(), [1024, 1, 1024, 1024, 1024]);
    let mut buf = vec![1u8; 1024 * 1024 * 2];
    img.read_plane(1023, 0, 1023, &mut buf).unwrap();
    assert!(
        buf.iter().all(|&b| b == 0),
        "a missing chunk reads as the fill value"
    );
    assert!(
        img.read_plane(1024, 0, 0, &mut buf).is_err(),
        "outside the image"
    );
}

/// OME-Zarr 0.5 metadata of a `t, c, z, y, x` uint16 image of `s` with one chunk per
/// plane, and no chunk.
fn sparse_zarr(group: &Path, s: Sizes) {
    sparse_zarr_with(group, s, [1, 1, 1, s.y, s.x], json!([]));
}

/// A zstd-compressed chunk of the whole 2^40-pixel image would be decoded whole to
/// read one plane: refused when the image is loaded, naming the chunk's size.
#[test]
fn a_compressed_chunk_too_large_to_decode_is_refused_at_load() {
    let site = site();
    let group = site.staging.join("bomb.ome.zarr");
    let whole = [HUGE.t, HUGE.c, HUGE.z, HUGE.y, HUGE.x];
    sparse_zarr_with(
        &group,
        HUGE,
        whole,
        json!([{"name": "zstd", "configuration": {"level": 1, "checksum": false}}]),
    );
    let mut i = info(701, 7001, HUGE, "uint16");
    i.external = Some(ExternalInfo {
        entity_type: NGFF_ENTITY_TYPE.to_owned(),
        lsid: group.display().to_string(),
    });
    let e = reader(&site, vec![i])
        .load(image(701))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("a chunk of shape [1024, 1, 1024, 1024, 1024] (2199023255552 bytes decoded)")
            && e.contains("larger than the 4294967296 bytes"),
        "{e}"
    );
}

fn sparse_zarr_with(group: &Path, s: Sizes, chunk: [u64; 5], compressors: Value) {
    let axes = json!([{"name": "t", "type": "time"}, {"name": "c", "type": "channel"},
        {"name": "z", "type": "space"}, {"name": "y", "type": "space"},
        {"name": "x", "type": "space"}]);
    let ms = json!([{"axes": axes, "datasets": [{"path": "0", "coordinateTransformations":
        [{"type": "scale", "scale": [1.0, 1.0, 1.0, 1.0, 1.0]}]}]}]);
    let g = json!({"zarr_format": 3, "node_type": "group",
        "attributes": {"ome": {"version": "0.5", "multiscales": ms}}});
    let mut codecs = vec![json!({"name": "bytes", "configuration": {"endian": "little"}})];
    codecs.extend(compressors.as_array().unwrap().iter().cloned());
    let a = json!({"zarr_format": 3, "node_type": "array",
        "shape": [s.t, s.c, s.z, s.y, s.x], "data_type": "uint16",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunk}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0, "codecs": codecs,
        "dimension_names": ["t", "c", "z", "y", "x"]});
    std::fs::create_dir_all(group.join("0")).unwrap();
    std::fs::write(group.join("zarr.json"), g.to_string()).unwrap();
    std::fs::write(group.join("0/zarr.json"), a.to_string()).unwrap();
}

/// A FIFO, a directory or a device where a pixel file, a fileset file or zarr
/// metadata or chunk is expected: an error naming the path, never a blocked open.
#[cfg(unix)]
#[test]
fn fifos_and_directories_in_place_of_pixel_files_are_refused() {
    let site = site();
    let sizes = Sizes {
        x: 2,
        y: 2,
        z: 1,
        c: 1,
        t: 1,
    };
    let dir = DataDir::open(&site.data_dir).unwrap();
    // ROMIO Pixels/601 a FIFO, Pixels/602 a directory.
    let fifo = dir.pixels_path(601);
    mkfifo(&fifo);
    std::fs::create_dir_all(dir.pixels_path(602)).unwrap();
    // An OME-TIFF fileset file that is a FIFO.
    let rel = "alice_3/fifo";
    let tiff = site
        .data_dir
        .join("ManagedRepository")
        .join(rel)
        .join("f.ome.tiff");
    mkfifo(&tiff);
    let mut t = info(603, 6003, sizes, "uint16");
    t.files = vec![FilesetFile {
        path: format!("{rel}/"),
        name: "f.ome.tiff".to_owned(),
    }];
    // OME-Zarr: one with its group zarr.json a FIFO, one with a chunk a FIFO.
    let bad_meta = site.staging.join("meta.ome.zarr");
    mkfifo(&bad_meta.join("zarr.json"));
    let bad_chunk = site.staging.join("chunk.ome.zarr");
    let dims =
        json!([{"name": "t", "count": 2}, {"name": "y", "count": 2}, {"name": "x", "count": 2}]);
    write(&bad_chunk, dims, json!("auto"));
    let chunk = bad_chunk.join("0/c/1/0/0");
    assert!(chunk.is_file(), "the chunk of frame 1");
    std::fs::remove_file(&chunk).unwrap();
    mkfifo(&chunk);
    let ext = |image: u64, group: &Path, t: u64| {
        let mut i = info(image, image * 10, Sizes { t, ..sizes }, "uint16");
        i.external = Some(ExternalInfo {
            entity_type: NGFF_ENTITY_TYPE.to_owned(),
            lsid: group.display().to_string(),
        });
        i
    };
    let infos = vec![
        info(601, 601, sizes, "uint16"),
        info(602, 602, sizes, "uint16"),
        t,
        ext(604, &bad_meta, 1),
        ext(605, &bad_chunk, 2),
    ];
    let site_dir = site.data_dir.clone();
    let (errors, chunk_error) = within("loading FIFOs", move || {
        let mut r = reader_at(&site_dir, infos);
        let errors: Vec<String> = [601, 602, 603, 604]
            .map(|id| ome_writers_backend::error_chain(&r.load(image(id)).unwrap_err()))
            .to_vec();
        let img = r.load(image(605)).unwrap();
        let mut buf = vec![0u8; 8];
        img.read_plane(0, 0, 0, &mut buf).unwrap();
        (
            errors,
            ome_writers_backend::error_chain(&img.read_plane(1, 0, 0, &mut buf).unwrap_err()),
        )
    });
    let wants = [
        format!("{}: expected a regular file, found a FIFO", fifo.display()),
        format!(
            "{}: expected a regular file, found a directory",
            dir.pixels_path(602).display()
        ),
        format!("{}: expected a regular file, found a FIFO", tiff.display()),
        format!(
            "{}: expected a regular file, found a FIFO",
            bad_meta.join("zarr.json").display()
        ),
    ];
    for (e, want) in errors.iter().zip(&wants) {
        assert!(e.contains(want.as_str()), "{e}\nexpected: {want}");
    }
    assert!(
        chunk_error.contains(&format!(
            "{}: expected a regular file, found a FIFO",
            chunk.display()
        )),
        "{chunk_error}"
    );
    // export-pixels' path: RomioPixels::open on a FIFO or a device.
    for (path, found) in [
        (fifo.as_path(), "a FIFO"),
        (Path::new("/dev/zero"), "a character device"),
    ] {
        let p = path.to_owned();
        let e = within("RomioPixels::open", move || {
            ome_writers_omero_local::RomioPixels::open(&p, sizes, ome_writers_schema::DType::U16)
                .unwrap_err()
                .to_string()
        });
        assert!(
            e.contains(&format!("expected a regular file, found {found}")),
            "{e}"
        );
    }
}

fn reader_at(data_dir: &Path, infos: Vec<ImageInfo>) -> OmeroReader {
    let gw = FakeGateway {
        infos: infos.into_iter().map(|i| (i.image, i)).collect(),
        ..FakeGateway::default()
    };
    OmeroReader::new(DataDir::open(data_dir).unwrap(), Box::new(gw))
}
