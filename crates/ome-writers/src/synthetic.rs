//! Synthetic frames for demos, tests and benchmarks.
//!
//! - [`pattern_frame`]: every pixel encodes its frame number and position,
//!   `1 + (n*7 + y*3 + x) % M` (M = 100 for 8-bit, 30 000 for 16-bit, 10^6 otherwise), so
//!   reading a dataset back proves where each frame landed (the Python checkers in
//!   tests/python use the same formula). Never 0, so a missing plane (fill value 0) shows.
//! - [`realistic_frame`]: what a camera sees, for compression benchmarks: smooth structure
//!   between 100 and 4000 plus shot noise.

use ome_writers_schema::DType;

/// The pattern value of pixel `(y, x)` of frame `n` for `dtype`.
pub fn pattern_value(dtype: DType, n: u64, y: u64, x: u64) -> u64 {
    let m = match dtype {
        DType::U8 | DType::I8 => 100,
        DType::U16 | DType::I16 => 30_000,
        _ => 1_000_000,
    };
    1 + (n.wrapping_mul(7).wrapping_add(y * 3).wrapping_add(x)) % m
}

/// Frame `n` of shape `[height, width]` as little-endian bytes of `dtype`, into `out`
/// (cleared first, reused without reallocating once large enough).
pub fn pattern_frame(dtype: DType, n: u64, [height, width]: [u64; 2], out: &mut Vec<u8>) {
    out.clear();
    for y in 0..height {
        for x in 0..width {
            let v = pattern_value(dtype, n, y, x);
            match dtype {
                DType::U8 => out.extend((v as u8).to_le_bytes()),
                DType::I8 => out.extend((v as i8).to_le_bytes()),
                DType::U16 => out.extend((v as u16).to_le_bytes()),
                DType::I16 => out.extend((v as i16).to_le_bytes()),
                DType::U32 => out.extend((v as u32).to_le_bytes()),
                DType::I32 => out.extend((v as i32).to_le_bytes()),
                DType::F32 => out.extend((v as f32).to_le_bytes()),
                DType::F64 => out.extend((v as f64).to_le_bytes()),
            }
        }
    }
}

/// A small, fast, deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// About Poisson(mean) for mean >= 100: a normal with variance = mean.
    fn poisson(&mut self, mean: f64) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (mean + z * mean.sqrt()).round()
    }
}

/// A `size` x `size` uint16 frame like a camera's: smooth structure between 100 and
/// 4000 plus shot noise; `k` varies the structure and the noise.
pub fn realistic_frame(size: u64, k: u64) -> Vec<u16> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (k + 1));
    (0..size * size)
        .map(|i| {
            let y = (i / size) as f64 / size as f64;
            let x = (i % size) as f64 / size as f64;
            let s = 0.5
                + 0.25 * (12.0 * x + k as f64).sin() * (9.0 * y).cos()
                + 0.25 * (30.0 * (x - 0.5) * (y - 0.3)).sin();
            rng.poisson(100.0 + 3900.0 * s * s).clamp(0.0, 65535.0) as u16
        })
        .collect()
}

/// `count` distinct `size` x `size` uint16 frames, realistic or pattern ones (frame `k`
/// of the pool is frame number `k`), for benchmarks that cycle through them.
pub fn frame_pool_u16(size: u64, realistic: bool, count: usize) -> Vec<Vec<u16>> {
    (0..count as u64)
        .map(|k| {
            if realistic {
                realistic_frame(size, k)
            } else {
                (0..size * size)
                    .map(|i| pattern_value(DType::U16, k, i / size, i % size) as u16)
                    .collect()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_never_the_fill_value_and_differ_per_frame() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        pattern_frame(DType::U8, 0, [3, 4], &mut a);
        pattern_frame(DType::U8, 1, [3, 4], &mut b);
        assert_eq!(a.len(), 12);
        assert!(a.iter().all(|&v| v > 0));
        assert_ne!(a, b);
        let f = realistic_frame(16, 0);
        assert!(f.iter().all(|&v| (50..5000).contains(&v)));
    }
}
