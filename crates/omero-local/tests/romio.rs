//! ROMIO pixel files written by numpy (tests/data/omero/gen_romio.py) read back
//! pixel-exact, plane by plane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, data, fixtures, pixel_bytes, value};
use ome_writers_omero_local::{
    DataDir, OmeroLocalError, RomioPixels, Sizes, Store, parse_pixel_type, repository_path,
};

/// The expected native bytes of plane (z, c, t): plane number n = (t*C + c)*Z + z.
fn expected_plane(f: &Fixture, z: u64, c: u64, t: u64) -> Vec<u8> {
    let s = f.sizes;
    let n = (t * s.c + c) * s.z + z;
    let mut out = Vec::new();
    for y in 0..s.y {
        for x in 0..s.x {
            out.extend(pixel_bytes(f.dtype, value(f.dtype, n, y, x)));
        }
    }
    out
}

#[test]
fn fixtures_sit_where_omero_puts_them() {
    let dir = DataDir::open_for_pixels(data().join("datadir")).unwrap();
    for f in fixtures() {
        assert_eq!(
            dir.pixels_path(f.pixels_id),
            f.path.canonicalize().unwrap(),
            "{}",
            repository_path(Store::Pixels, f.pixels_id)
        );
    }
}

#[test]
fn numpy_fixtures_read_back_pixel_exact() {
    let dir = DataDir::open_for_pixels(data().join("datadir")).unwrap();
    let all = fixtures();
    assert!(all.len() >= 4);
    for f in all {
        let dtype = parse_pixel_type(&f.pixel_type).unwrap();
        assert_eq!(dtype, f.dtype, "{}", f.pixel_type);
        let px = RomioPixels::open(dir.pixels_path(f.pixels_id), f.sizes, dtype).unwrap();
        let s = f.sizes;
        let mut plane = vec![0u8; px.plane_bytes()];
        let mut whole = Vec::new();
        let mut distinct = std::collections::HashSet::new();
        for t in 0..s.t {
            for c in 0..s.c {
                for z in 0..s.z {
                    px.read_plane(z, c, t, &mut plane).unwrap();
                    let want = expected_plane(&f, z, c, t);
                    assert_eq!(
                        plane, want,
                        "pixels {} plane z={z} c={c} t={t}",
                        f.pixels_id
                    );
                    assert!(distinct.insert(plane.clone()), "planes must differ");
                    whole.extend_from_slice(&want);
                }
            }
        }
        // The whole array in [T][C][Z][Y][X] order, and the zero-copy big-endian view.
        assert_eq!(px.to_native_vec(), whole);
        let be = px.plane_be(0, 0, s.t - 1).unwrap();
        let n = (s.t - 1) * s.c * s.z;
        let first_be = &be[..dtype.size()];
        let mut first = vec![0u8; dtype.size()];
        ome_writers_omero_local::be_to_native(dtype, first_be, &mut first);
        assert_eq!(first, pixel_bytes(dtype, value(dtype, n, 0, 0)));
    }
}

#[test]
fn wrong_sizes_and_planes_are_refused() {
    let dir = DataDir::open_for_pixels(data().join("datadir")).unwrap();
    let f = &fixtures()[0];
    let mut bad = f.sizes;
    bad.z += 1;
    let e = RomioPixels::open(dir.pixels_path(f.pixels_id), bad, f.dtype).unwrap_err();
    assert!(
        matches!(e, OmeroLocalError::RomioSize { expected, actual, .. }
        if expected == actual / 3 * 4),
        "{e}"
    );
    let px = RomioPixels::open(dir.pixels_path(f.pixels_id), f.sizes, f.dtype).unwrap();
    let e = px.plane_be(f.sizes.z, 0, 0).unwrap_err();
    assert!(matches!(e, OmeroLocalError::PlaneOutOfRange { .. }), "{e}");
    let zero = Sizes { x: 0, ..f.sizes };
    assert!(matches!(
        RomioPixels::open(dir.pixels_path(f.pixels_id), zero, f.dtype).unwrap_err(),
        OmeroLocalError::Sizes { .. }
    ));
    let e = RomioPixels::open(dir.pixels_path(999), f.sizes, f.dtype).unwrap_err();
    assert!(matches!(e, OmeroLocalError::Io { .. }), "{e}");
}

#[test]
fn data_dirs_are_checked() {
    let e = DataDir::open(data().join("datadir")).unwrap_err();
    assert!(
        e.to_string().contains("no ManagedRepository/ folder"),
        "{e}"
    );
    assert!(DataDir::open_for_pixels(data()).is_err());
    assert!(DataDir::open("").is_err());
    assert!(DataDir::open(data().join("manifest.json")).is_err());
}
