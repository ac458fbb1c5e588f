//! Pyramid reduction: one plane of level k+1 from one or two planes of level k. Pure
//! computation, no I/O; shared by every backend that writes pyramids.
//!
//! **Definition.** A level-k plane of `h` x `w` pixels reduces to `ceil(h/2)` x
//! `ceil(w/2)`. Output pixel `(y, x)` reduces the source pixels `(2y + dy, 2x + dx)`,
//! `dy, dx` in `{0, 1}`, *that exist*: at an odd edge that is 2 (or 1, at an odd
//! corner) pixels instead of 4, with no padding and no replication. With two source
//! planes (Z halved too: planes `2i` and `2i + 1`) the pixels of both planes count, up
//! to 8; the last plane of an odd Z is reduced alone (one plane given).
//!
//! Methods ([`ReduceMethod`]):
//! - `mean`: integers: the exact sum divided by the number of pixels that exist,
//!   rounded half to even (numpy's `np.round`, so `np.round(block.mean())` of the same
//!   pixels); floats: the mean computed in `f64`, then converted (`f32` rounds to
//!   nearest); NaN propagates (as `np.mean`).
//! - `decimate`: the first pixel, `(2y, 2x)` of the first plane (`a[::2, ::2]`).
//! - `min`, `max`: of the pixels that exist; for floats NaN is ignored unless every
//!   pixel is NaN (`np.fmin`/`np.fmax`, as `np.nanmin` without its warning).

use bytemuck::Pod;
use ome_writers_schema::{DType, ReduceMethod};

/// A reduction that cannot run: a buffer whose length does not match the plane size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReduceError {
    /// A source plane or the output has the wrong length.
    #[error(
        "pyramid reduction: {what} holds {got} bytes, a {h} x {w} plane of {dtype} needs {expected}"
    )]
    Length {
        /// `source plane` or `output plane`.
        what: &'static str,
        /// Bytes held.
        got: usize,
        /// Bytes needed.
        expected: usize,
        /// Rows of that plane.
        h: usize,
        /// Columns of that plane.
        w: usize,
        /// Pixel type.
        dtype: &'static str,
    },
    /// Neither one nor two source planes.
    #[error("pyramid reduction: {0} source planes, expected 1 or 2")]
    Planes(usize),
}

/// Rows or columns of the reduced plane: `ceil(n / 2)`.
pub fn reduced(n: usize) -> usize {
    n.div_ceil(2)
}

/// A pixel type that reduces.
pub trait Sample: Pod + PartialOrd {
    /// Mean of `values` (1 to 8 of them), as the module documents.
    fn mean(values: &[Self]) -> Self;
    /// Smallest of `values` (NaN ignored unless all are NaN).
    fn min_of(values: &[Self]) -> Self;
    /// Largest of `values` (NaN ignored unless all are NaN).
    fn max_of(values: &[Self]) -> Self;
    /// [`mean`](Self::mean) of four values (the interior of a plane, the hot path).
    fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self;
    /// The smaller of two values (NaN ignored).
    fn min2(a: Self, b: Self) -> Self;
    /// The larger of two values (NaN ignored).
    fn max2(a: Self, b: Self) -> Self;
}

/// `sum / n` rounded half to even, `n` > 0.
fn div_round_even(sum: i64, n: i64) -> i64 {
    let q = sum.div_euclid(n);
    let r = sum.rem_euclid(n);
    match (2 * r).cmp(&n) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

macro_rules! int_sample {
    ($($t:ty => $acc:ty),*) => {$(
        impl Sample for $t {
            fn mean(values: &[Self]) -> Self {
                let sum: i64 = values.iter().map(|&v| i64::from(v)).sum();
                let n = i64::try_from(values.len()).unwrap_or(1).max(1);
                // The mean of values of a type lies in its range.
                <$t>::try_from(div_round_even(sum, n)).unwrap_or_default()
            }
            fn min_of(values: &[Self]) -> Self {
                values.iter().copied().min().unwrap_or_default()
            }
            fn max_of(values: &[Self]) -> Self {
                values.iter().copied().max().unwrap_or_default()
            }
            #[inline]
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_possible_wrap)]
            fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self {
                let s = <$acc>::from(a) + <$acc>::from(b) + <$acc>::from(c) + <$acc>::from(d);
                // floor(s / 4) and the remainder, for negative sums too; then half to even.
                let q = s >> 2;
                let r = s & 3;
                let up = <$acc>::from(r > 2 || (r == 2 && (q & 1) == 1));
                // The mean of four values of a type lies in its range.
                (q + up) as $t
            }
            #[inline]
            fn min2(a: Self, b: Self) -> Self {
                a.min(b)
            }
            #[inline]
            fn max2(a: Self, b: Self) -> Self {
                a.max(b)
            }
        }
    )*};
}
int_sample!(u8 => u32, u16 => u32, u32 => i64, i8 => i32, i16 => i32, i32 => i64);

macro_rules! float_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
            fn mean(values: &[Self]) -> Self {
                let sum: f64 = values.iter().map(|&v| f64::from(v)).sum();
                (sum / values.len().max(1) as f64) as $t
            }
            fn min_of(values: &[Self]) -> Self {
                values.iter().copied().fold(<$t>::NAN, <$t>::min)
            }
            fn max_of(values: &[Self]) -> Self {
                values.iter().copied().fold(<$t>::NAN, <$t>::max)
            }
            #[inline]
            #[allow(clippy::cast_possible_truncation)]
            fn mean4(a: Self, b: Self, c: Self, d: Self) -> Self {
                ((f64::from(a) + f64::from(b) + f64::from(c) + f64::from(d)) / 4.0) as $t
            }
            #[inline]
            fn min2(a: Self, b: Self) -> Self {
                a.min(b)
            }
            #[inline]
            fn max2(a: Self, b: Self) -> Self {
                a.max(b)
            }
        }
    )*};
}
float_sample!(f32, f64);

fn reduce_one<T: Sample>(method: ReduceMethod, values: &[T]) -> T {
    match method {
        ReduceMethod::Mean => T::mean(values),
        ReduceMethod::Decimate => values.first().copied().unwrap_or_else(T::zeroed),
        ReduceMethod::Min => T::min_of(values),
        ReduceMethod::Max => T::max_of(values),
    }
}

/// The interior of one plane: every output pixel of the row pair `r0`, `r1` whose 2 x 2
/// block is whole, with `f` (the method, monomorphized so the loop vectorizes).
#[inline]
fn interior<T: Sample>(r0: &[T], r1: &[T], out: &mut [T], f: impl Fn(T, T, T, T) -> T) {
    for ((o, a), b) in out
        .iter_mut()
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        if let (&[a0, a1], &[b0, b1]) = (a, b) {
            *o = f(a0, a1, b0, b1);
        }
    }
}

/// One plane whose rows pair up: the interior through [`interior`], the odd right
/// column and bottom row through the general path.
fn reduce_single<T: Sample>(method: ReduceMethod, plane: &[T], h: usize, w: usize, out: &mut [T]) {
    let ow = reduced(w);
    for (oy, out_row) in out.chunks_exact_mut(ow.max(1)).enumerate().take(h / 2) {
        let (Some(r0), Some(r1)) = (
            plane.get(2 * oy * w..(2 * oy + 1) * w),
            plane.get((2 * oy + 1) * w..(2 * oy + 2) * w),
        ) else {
            continue;
        };
        match method {
            ReduceMethod::Mean => interior(r0, r1, out_row, T::mean4),
            ReduceMethod::Decimate => interior(r0, r1, out_row, |a, _, _, _| a),
            ReduceMethod::Min => {
                interior(r0, r1, out_row, |a, b, c, d| {
                    T::min2(T::min2(a, b), T::min2(c, d))
                });
            }
            ReduceMethod::Max => {
                interior(r0, r1, out_row, |a, b, c, d| {
                    T::max2(T::max2(a, b), T::max2(c, d))
                });
            }
        }
        if w % 2 == 1
            && let (Some(slot), Some(&a), Some(&b)) = (out_row.last_mut(), r0.last(), r1.last())
        {
            *slot = reduce_one(method, &[a, b]);
        }
    }
    if h % 2 == 1 {
        // The last row alone.
        let (Some(last), Some(out_row)) = (
            plane.get((h - 1) * w..h * w),
            out.get_mut((h / 2) * ow..(h / 2 + 1) * ow),
        ) else {
            return;
        };
        general(method, &[last], 1, w, out_row);
    }
}

/// Reduce one or two `h` x `w` planes (row-major) into `out`, a
/// `reduced(h)` x `reduced(w)` plane. Lengths are the caller's to get right; a
/// mismatch reduces what fits and leaves the rest (the byte API checks them).
pub fn reduce_typed<T: Sample>(
    method: ReduceMethod,
    planes: &[&[T]],
    h: usize,
    w: usize,
    out: &mut [T],
) {
    match planes {
        [plane] => reduce_single(method, plane, h, w, out),
        _ => general(method, planes, h, w, out),
    }
}

/// Every output pixel over the pixels that exist, for any number of planes.
fn general<T: Sample>(method: ReduceMethod, planes: &[&[T]], h: usize, w: usize, out: &mut [T]) {
    let ow = reduced(w);
    let mut values = [T::zeroed(); 8];
    for (oy, out_row) in out.chunks_exact_mut(ow.max(1)).enumerate().take(reduced(h)) {
        let y0 = 2 * oy;
        let y1 = (y0 + 1 < h).then_some(y0 + 1);
        for (ox, slot) in out_row.iter_mut().enumerate() {
            let x0 = 2 * ox;
            let x1 = (x0 + 1 < w).then_some(x0 + 1);
            let mut n = 0;
            for plane in planes {
                for y in std::iter::once(y0).chain(y1) {
                    for x in std::iter::once(x0).chain(x1) {
                        if let (Some(v), Some(dst)) = (plane.get(y * w + x), values.get_mut(n)) {
                            *dst = *v;
                            n += 1;
                        }
                    }
                }
            }
            if let Some(vals) = values.get(..n) {
                *slot = reduce_one(method, vals);
            }
        }
    }
}

fn typed<T: Sample>(method: ReduceMethod, planes: &[&[u8]], h: usize, w: usize, out: &mut [u8]) {
    // Aligned buffers (frame and unit buffers are page-aligned) are read in place;
    // anything else is copied once.
    let owned: Vec<std::borrow::Cow<'_, [T]>> = planes
        .iter()
        .map(|p| match bytemuck::try_cast_slice::<u8, T>(p) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => std::borrow::Cow::Owned(bytemuck::pod_collect_to_vec(p)),
        })
        .collect();
    let refs: Vec<&[T]> = owned.iter().map(AsRef::as_ref).collect();
    if let Ok(o) = bytemuck::try_cast_slice_mut::<u8, T>(out) {
        reduce_typed(method, &refs, h, w, o);
    } else {
        let mut o: Vec<T> = vec![T::zeroed(); out.len() / std::mem::size_of::<T>()];
        reduce_typed(method, &refs, h, w, &mut o);
        out.copy_from_slice(bytemuck::cast_slice(&o));
    }
}

/// Reduce one or two `h` x `w` planes of `dtype` pixels (native byte order) into `out`
/// (`reduced(h) * reduced(w)` pixels).
///
/// # Errors
/// [`ReduceError`] when a buffer's length does not match, or not 1 or 2 planes.
pub fn reduce_plane(
    dtype: DType,
    method: ReduceMethod,
    planes: &[&[u8]],
    h: usize,
    w: usize,
    out: &mut [u8],
) -> Result<(), ReduceError> {
    if !(1..=2).contains(&planes.len()) {
        return Err(ReduceError::Planes(planes.len()));
    }
    let size = dtype.size();
    let expected = h.saturating_mul(w).saturating_mul(size);
    for p in planes {
        if p.len() != expected {
            return Err(ReduceError::Length {
                what: "source plane",
                got: p.len(),
                expected,
                h,
                w,
                dtype: dtype.name(),
            });
        }
    }
    let out_expected = reduced(h) * reduced(w) * size;
    if out.len() != out_expected {
        return Err(ReduceError::Length {
            what: "output plane",
            got: out.len(),
            expected: out_expected,
            h: reduced(h),
            w: reduced(w),
            dtype: dtype.name(),
        });
    }
    match dtype {
        DType::U8 => typed::<u8>(method, planes, h, w, out),
        DType::U16 => typed::<u16>(method, planes, h, w, out),
        DType::U32 => typed::<u32>(method, planes, h, w, out),
        DType::I8 => typed::<i8>(method, planes, h, w, out),
        DType::I16 => typed::<i16>(method, planes, h, w, out),
        DType::I32 => typed::<i32>(method, planes, h, w, out),
        DType::F32 => typed::<f32>(method, planes, h, w, out),
        DType::F64 => typed::<f64>(method, planes, h, w, out),
    }
    Ok(())
}

#[cfg(test)]
#[path = "reduce_tests.rs"]
mod tests;
