//! Files whose tail was cut mid-page (a crash that lost the last writes, a copy
//! interrupted): `recover` cuts back to the last whole IFD and finishes the file.
//! Checked with tifffile (every page bit-exact), ome-types (XSD validation) and
//! Bio-Formats.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Schema};
use ome_writers_tiff::{TiffBackend, recover};
use serde_json::json;

/// One IFD of a file: where it is, where it ends (its `next` field included), and
/// its strip.
#[derive(Debug)]
struct Ifd {
    at: u64,
    end: u64,
    strip: (u64, u64),
    description: Option<(u64, u64)>,
}

/// A reader of our BigTIFF layout for the test (native byte order).
fn ifds(bytes: &[u8]) -> Vec<Ifd> {
    let u64_at = |i: u64| u64::from_ne_bytes(bytes[i as usize..i as usize + 8].try_into().unwrap());
    let u16_at = |i: u64| u16::from_ne_bytes(bytes[i as usize..i as usize + 2].try_into().unwrap());
    let mut out = Vec::new();
    let mut next = u64_at(8);
    while next != 0 {
        let count = u64_at(next);
        let (mut strip, mut description) = ((0, 0), None);
        for i in 0..count {
            let e = next + 8 + i * 20;
            match u16_at(e) {
                270 => description = Some((u64_at(e + 12), u64_at(e + 4))),
                273 => strip.0 = u64_at(e + 12),
                279 => strip.1 = u64_at(e + 12),
                _ => {}
            }
        }
        let end = next + 8 + count * 20 + 8;
        out.push(Ifd {
            at: next,
            end,
            strip,
            description,
        });
        next = u64_at(end - 8);
    }
    out
}

fn schema(root: &Path) -> Schema {
    Schema::from_json(
        &json!({"root_path": root.to_string_lossy(), "dtype": "uint16", "dimensions": [
            {"name": "t", "count": 10}, {"name": "c", "count": 2},
            {"name": "y", "count": 16}, {"name": "x", "count": 16}]})
        .to_string(),
    )
    .unwrap()
}

/// Write `frames` frames, a durability point after `flushed`; then either finalize
/// or die (the backend leaked).
fn write(root: &Path, flushed: u64, frames: u64, finalize: bool) -> Schema {
    let schema = schema(root);
    let router = FrameRouter::new(&schema);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    for n in 0..frames {
        if n == flushed {
            tiff.flush().unwrap();
        }
        let r = router.route(FrameNumber(n)).unwrap();
        let frame = support::frame(schema.dtype(), n, schema.frame_shape());
        tiff.write(r.position, &r.index, &frame, None).unwrap();
    }
    if finalize {
        tiff.finalize(&Progress {
            frames_written: frames,
            frames_reached: frames,
            growth_extent: router.extent_reached(frames),
            complete: Some(frames) == router.total(),
            ..Progress::default()
        })
        .unwrap();
    } else {
        std::mem::forget(tiff); // the process dies here
    }
    schema
}

/// How a copy of the file is damaged.
enum Damage {
    /// Truncated to this many bytes.
    Cut(u64),
    /// Zeroed from this offset on (blocks a crash never wrote).
    Zeroed(u64),
}

/// Damage a copy of `original`, recover it, and check it with the readers: `whole`
/// pages bit-exact, then zero padding to the end of their time point.
fn check(
    schema: &Schema,
    original: &Path,
    dir: &Path,
    name: &str,
    damage: Damage,
    whole: u64,
    status: &str,
) {
    let path: PathBuf = dir.join(format!("{name}.ome.tiff"));
    let mut bytes = std::fs::read(original).unwrap();
    match damage {
        Damage::Cut(at) => bytes.truncate(at as usize),
        Damage::Zeroed(at) => bytes[at as usize..].fill(0),
    }
    std::fs::write(&path, &bytes).unwrap();
    let recovery = recover(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(!recovery.already_final, "{name}");
    let f = &recovery.files[0];
    assert_eq!(f.pages_found, whole, "{name}: {recovery:?}");
    let file = &support::inspect(&[&path])[0];
    let pages = support::inspected_pages(file);
    let planes = support::check_agree(file, 0);
    assert_eq!(planes, whole.div_ceil(2) * 2, "{name}");
    for (i, page) in pages.iter().enumerate() {
        let want = if (i as u64) < whole {
            support::frame(schema.dtype(), i as u64, schema.frame_shape())
        } else {
            vec![0; schema.frame_bytes()]
        };
        assert!(page == &want, "{name}: page {i} differs");
    }
    let record = &file["images"][0]["record"];
    assert_eq!(record["status"], status, "{name}: {record}");
    assert!(record["repaired"].is_string(), "{name}: {record}");
    // Finished: a second repair changes nothing.
    let again = std::fs::read(&path).unwrap();
    assert!(recover(&path).unwrap().already_final, "{name}");
    assert!(std::fs::read(&path).unwrap() == again, "{name}");
    assert_eq!(
        f.torn_bytes_cut > 0,
        !name.starts_with("clean"),
        "{name}: {recovery:?}"
    );
    println!(
        "ok {name}: {whole} whole pages, {} bytes cut",
        f.torn_bytes_cut
    );
}

#[test]
fn torn_tails_are_cut_back_to_the_last_whole_page() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("killed.ome.tiff");
    let schema = write(&original, 8, 13, false);
    let bytes = std::fs::read(&original).unwrap();
    let ifd = ifds(&bytes);
    assert_eq!(ifd.len(), 13);
    let last = &ifd[12];
    let cases = [
        (
            "mid_strip",
            Damage::Cut(last.strip.0 + last.strip.1 / 2),
            12,
        ),
        ("mid_ifd_count", Damage::Cut(last.at + 4), 12),
        // In the middle of an entry's value (the fourth tag's).
        ("mid_tag_value", Damage::Cut(last.at + 8 + 3 * 20 + 14), 12),
        // Inside the previous IFD's link to the last one.
        ("mid_next_link", Damage::Cut(ifd[11].end - 3), 11),
        // Exactly after a whole IFD whose link points past the end.
        ("clean_cut", Damage::Cut(ifd[10].end), 11),
        ("zeroed_ifd", Damage::Zeroed(last.at), 12),
    ];
    for (name, damage, whole) in cases {
        check(
            &schema,
            &original,
            dir.path(),
            name,
            damage,
            whole,
            "partial",
        );
    }
}

#[test]
fn a_final_description_cut_falls_back_to_the_provisional_one() {
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("final.ome.tiff");
    let schema = write(&original, 8, 20, true);
    let bytes = std::fs::read(&original).unwrap();
    let (at, n) = ifds(&bytes)[0].description.unwrap();
    assert_eq!(
        at + n,
        bytes.len() as u64,
        "the final OME-XML is appended last"
    );
    // Every page is whole and every declared plane on disk: complete.
    let cut = Damage::Cut(at + n / 2);
    check(
        &schema,
        &original,
        dir.path(),
        "mid_final_xml",
        cut,
        20,
        "complete",
    );
}
