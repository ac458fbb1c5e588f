//! The reduction against a naive reference written from the definition (f64
//! arithmetic, explicit neighbourhoods), for every dtype, method and size parity.

use super::*;
use proptest::prelude::*;

/// The source pixels of output `(oy, ox)`, from the definition.
fn block(planes: &[Vec<f64>], h: usize, w: usize, oy: usize, ox: usize) -> Vec<f64> {
    let mut v = Vec::new();
    for p in planes {
        for y in [2 * oy, 2 * oy + 1] {
            for x in [2 * ox, 2 * ox + 1] {
                if y < h && x < w {
                    v.push(p[y * w + x]);
                }
            }
        }
    }
    v
}

fn reference(method: ReduceMethod, planes: &[Vec<f64>], h: usize, w: usize, int: bool) -> Vec<f64> {
    let mut out = Vec::new();
    for oy in 0..h.div_ceil(2) {
        for ox in 0..w.div_ceil(2) {
            let b = block(planes, h, w, oy, ox);
            out.push(match method {
                ReduceMethod::Mean => {
                    let m = b.iter().sum::<f64>() / b.len() as f64;
                    if int { m.round_ties_even() } else { m }
                }
                ReduceMethod::Decimate => b[0],
                ReduceMethod::Min => b.iter().copied().fold(f64::NAN, f64::min),
                ReduceMethod::Max => b.iter().copied().fold(f64::NAN, f64::max),
            });
        }
    }
    out
}

fn check<T: Sample + Into<f64> + std::fmt::Debug>(
    method: ReduceMethod,
    planes: &[Vec<T>],
    h: usize,
    w: usize,
    int: bool,
    to_t: impl Fn(f64) -> T,
) {
    let f: Vec<Vec<f64>> = planes
        .iter()
        .map(|p| p.iter().map(|&v| v.into()).collect())
        .collect();
    let want: Vec<T> = reference(method, &f, h, w, int)
        .into_iter()
        .map(to_t)
        .collect();
    let refs: Vec<&[T]> = planes.iter().map(Vec::as_slice).collect();
    let mut got = vec![T::zeroed(); reduced(h) * reduced(w)];
    reduce_typed(method, &refs, h, w, &mut got);
    assert_eq!(
        bytemuck::cast_slice::<T, u8>(&got),
        bytemuck::cast_slice::<T, u8>(&want),
        "{method} {h}x{w} {} planes",
        planes.len()
    );
}

fn sizes() -> impl Strategy<Value = (usize, usize, usize)> {
    (1usize..9, 1usize..9, 1usize..3)
}

macro_rules! int_props {
    ($name:ident, $t:ty) => {
        proptest! {
            #[test]
            fn $name((h, w, np) in sizes(), seed in proptest::collection::vec(any::<$t>(), 128)) {
                let planes: Vec<Vec<$t>> = (0..np).map(|p| (0..h * w).map(|i| seed[(i + 64 * p) % 128]).collect()).collect();
                for m in ReduceMethod::ALL {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    check(*m, &planes, h, w, true, |v| v as $t);
                }
            }
        }
    };
}
int_props!(u8_matches_reference, u8);
int_props!(u16_matches_reference, u16);
int_props!(u32_matches_reference, u32);
int_props!(i8_matches_reference, i8);
int_props!(i16_matches_reference, i16);
int_props!(i32_matches_reference, i32);

proptest! {
    #[test]
    fn f32_matches_reference((h, w, np) in sizes(), seed in proptest::collection::vec(-1e6f32..1e6, 128)) {
        let planes: Vec<Vec<f32>> = (0..np).map(|p| (0..h * w).map(|i| seed[(i + 64 * p) % 128]).collect()).collect();
        for m in ReduceMethod::ALL {
            #[allow(clippy::cast_possible_truncation)]
            check(*m, &planes, h, w, false, |v| v as f32);
        }
    }

    #[test]
    fn f64_matches_reference((h, w, np) in sizes(), seed in proptest::collection::vec(-1e12f64..1e12, 128)) {
        let planes: Vec<Vec<f64>> = (0..np).map(|p| (0..h * w).map(|i| seed[(i + 64 * p) % 128]).collect()).collect();
        for m in ReduceMethod::ALL {
            check(*m, &planes, h, w, false, |v| v);
        }
    }
}

#[test]
fn mean_rounds_half_to_even() {
    let mut out = [0u8; 1];
    reduce_typed(ReduceMethod::Mean, &[&[1u8, 2][..]], 1, 2, &mut out);
    assert_eq!(out, [2]); // 1.5 -> 2
    reduce_typed(ReduceMethod::Mean, &[&[2u8, 3][..]], 1, 2, &mut out);
    assert_eq!(out, [2]); // 2.5 -> 2
    let mut out = [0i8; 1];
    reduce_typed(ReduceMethod::Mean, &[&[-3i8, -2][..]], 1, 2, &mut out);
    assert_eq!(out, [-2]); // -2.5 -> -2
    let mut out = [0u32; 1];
    reduce_typed(
        ReduceMethod::Mean,
        &[&[u32::MAX; 4][..], &[u32::MAX; 4][..]],
        2,
        2,
        &mut out,
    );
    assert_eq!(out, [u32::MAX]);
}

#[test]
fn odd_edges_reduce_over_existing_pixels() {
    // 3 x 3: the right column and bottom row reduce over 2 pixels, the corner over 1.
    let src: Vec<u16> = (1..=9).collect();
    let mut out = [0u16; 4];
    reduce_typed(ReduceMethod::Mean, &[&src], 3, 3, &mut out);
    assert_eq!(out, [3, 4, 8, 9]); // (1+2+4+5)/4, (3+6)/2, (7+8)/2, 9
    reduce_typed(ReduceMethod::Decimate, &[&src], 3, 3, &mut out);
    assert_eq!(out, [1, 3, 7, 9]);
}

#[test]
#[allow(clippy::float_cmp)] // exact values are the point
fn nan_is_ignored_by_min_max_and_propagates_in_mean() {
    let src = [f32::NAN, 1.0, 2.0, f32::NAN];
    let mut out = [0f32; 1];
    reduce_typed(ReduceMethod::Min, &[&src], 2, 2, &mut out);
    assert_eq!(out, [1.0]);
    reduce_typed(ReduceMethod::Max, &[&src], 2, 2, &mut out);
    assert_eq!(out, [2.0]);
    reduce_typed(ReduceMethod::Mean, &[&src], 2, 2, &mut out);
    assert!(out[0].is_nan());
    reduce_typed(ReduceMethod::Max, &[&[f32::NAN; 4]], 2, 2, &mut out);
    assert!(out[0].is_nan());
}

#[test]
fn byte_api_checks_lengths_and_handles_unaligned_buffers() {
    let src: Vec<u16> = (0..16).collect();
    let bytes: Vec<u8> = bytemuck::cast_slice(&src).to_vec();
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let mut out = vec![0u8; 9];
    reduce_plane(
        DType::U16,
        ReduceMethod::Max,
        &[&shifted[1..]],
        4,
        4,
        &mut out[1..],
    )
    .unwrap();
    let got: Vec<u16> = bytemuck::pod_collect_to_vec(&out[1..]);
    assert_eq!(got, [5, 7, 13, 15]);
    let e = reduce_plane(
        DType::U16,
        ReduceMethod::Max,
        &[&bytes[1..]],
        4,
        4,
        &mut out[1..],
    )
    .unwrap_err();
    assert!(e.to_string().contains("source plane holds 31 bytes"), "{e}");
    let e = reduce_plane(DType::U16, ReduceMethod::Max, &[&bytes], 4, 4, &mut out).unwrap_err();
    assert!(e.to_string().contains("output plane holds 9 bytes"), "{e}");
    let e = reduce_plane(DType::U16, ReduceMethod::Max, &[], 4, 4, &mut out).unwrap_err();
    assert_eq!(e, ReduceError::Planes(0));
}
