//! The cargo-fuzz bodies (fuzz/src/bodies.rs) on stable Rust: over the seed corpus
//! (fuzz/corpus/*) and over inputs from a seeded generator for a bounded time
//! (`OMEW_FUZZ_SECS` per body, default 4; `OMEW_FUZZ_SEED`). CI also runs the real
//! fuzzers (.ci/run); this keeps the bodies exercised by `cargo test` everywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../fuzz/src/bodies.rs"]
#[allow(unreachable_pub, dead_code)]
mod bodies;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

fn budget() -> Duration {
    Duration::from_secs_f64(
        std::env::var("OMEW_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(4.0),
    )
}

fn seed() -> u64 {
    std::env::var("OMEW_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x0e3e_5eed)
}

/// Run `body` on `input`, reporting the input when it panics.
fn run(name: &str, body: fn(&[u8]), input: &[u8]) {
    if std::panic::catch_unwind(|| body(input)).is_err() {
        let keep = std::env::temp_dir().join(format!("omew-fuzz-{name}-crash"));
        std::fs::write(&keep, input).unwrap();
        panic!(
            "{name}: the body panicked on an input saved to {} ({} bytes): {:?}",
            keep.display(),
            input.len(),
            String::from_utf8_lossy(&input[..input.len().min(400)])
        );
    }
}

/// Tokens that make JSON hostile: extremes, wrong types, nesting.
const TOKENS: &[&str] = &[
    "null",
    "0",
    "-1",
    "1e308",
    "18446744073709551615",
    "18446744073709551616",
    "4294967296",
    "\"\"",
    "[]",
    "{}",
    "[[[[[[[[",
    "]]]]",
    "\"uint64\"",
    "\"float32\"",
    "\"position\"",
    "\"channel\"",
    "\"time\"",
    "\"space\"",
    "\"other\"",
    "true",
    "\"ome-tiff\"",
    "\"ome-zarr\"",
    "\"omero://x/1\"",
    "\"../x.ome.zarr\"",
    "\"\\u0000\"",
    "{\"name\": \"t\", \"count\": null}",
    "\"chunk_size\": 1",
    "\"shard_size_chunks\": 1000",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(6) {
            0 => v.truncate(at),
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            2 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            3 => {
                // Replace a number with a token.
                let digits: Vec<usize> = (0..v.len()).filter(|&i| v[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let i = digits[rng.below(digits.len())];
                    let mut j = i;
                    while j < v.len() && v[j].is_ascii_digit() {
                        j += 1;
                    }
                    let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                    v.splice(i..j, t.iter().copied());
                }
            }
            4 if !v.is_empty() => {
                // Duplicate a slice.
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let piece = v[a..b].to_vec();
                v.splice(at.min(v.len())..at.min(v.len()), piece);
            }
            _ => v.insert(at.min(v.len()), (rng.next() & 0xff) as u8),
        }
    }
    v
}

#[test]
fn settings_body_over_corpus_and_generated_inputs() {
    let seeds = corpus("settings");
    for (path, bytes) in &seeds {
        run("settings", bodies::settings, bytes);
        println!("ok corpus {}", path.display());
    }
    let mut rng = Rng(seed());
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget() {
        let (_, base) = &seeds[rng.below(seeds.len())];
        run("settings", bodies::settings, &mutate(&mut rng, base));
        runs += 1;
    }
    println!(
        "settings: {} corpus files + {runs} generated inputs (seed {}), no panic",
        seeds.len(),
        seed()
    );
}

#[test]
fn router_body_over_corpus_and_generated_inputs() {
    let seeds = corpus("router");
    for (_, bytes) in &seeds {
        run("router", bodies::router, bytes);
    }
    let mut rng = Rng(seed() ^ 0x5eed);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget() {
        let len = 8 + rng.below(48);
        let input: Vec<u8> = (0..len)
            .map(|i| {
                // Frame numbers near the interesting edges now and then.
                if i >= 16 && rng.below(4) == 0 {
                    [0x00, 0xff, 0x7f, 0x01][rng.below(4)]
                } else {
                    (rng.next() & 0xff) as u8
                }
            })
            .collect();
        run("router", bodies::router, &input);
        runs += 1;
    }
    println!(
        "router: {} corpus files + {runs} generated inputs (seed {}), no panic",
        seeds.len(),
        seed()
    );
}

/// Binary mutations of a TIFF: truncation, bit flips, and 2-, 4- and 8-byte fields
/// set to edge values (offsets, counts and sizes past the end or near 2^64).
fn mutate_binary(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    const EDGES: [u64; 6] = [0, 1, 0xff, 0xffff_ffff, u64::MAX, 1 << 40];
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(v.len().max(1));
        match rng.below(4) {
            0 => v.truncate(at),
            1 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            _ => {
                let width = [2, 4, 8][rng.below(3)];
                let value = EDGES[rng.below(EDGES.len())].to_le_bytes();
                for (k, b) in value.iter().take(width).enumerate() {
                    if let Some(slot) = v.get_mut(at + k) {
                        *slot = *b;
                    }
                }
            }
        }
    }
    v
}

#[test]
fn tiff_recover_body_over_corpus_and_generated_inputs() {
    let seeds = corpus("tiff_recover");
    for (path, bytes) in &seeds {
        run("tiff_recover", bodies::tiff_recover, bytes);
        println!("ok corpus {}", path.display());
    }
    let mut rng = Rng(seed() ^ 0x71ff);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget() {
        let (_, base) = &seeds[rng.below(seeds.len())];
        run(
            "tiff_recover",
            bodies::tiff_recover,
            &mutate_binary(&mut rng, base),
        );
        runs += 1;
    }
    println!(
        "tiff_recover: {} corpus files + {runs} generated inputs (seed {}), no panic",
        seeds.len(),
        seed()
    );
}

/// Tokens that make a zarr document hostile: shapes, codecs and statuses at the edges.
const ZARR_TOKENS: &[&str] = &[
    "\"acquiring\"",
    "\"failed\"",
    "\"complete\"",
    "\"partial\"",
    "\"group\"",
    "\"array\"",
    "[0]",
    "[18446744073709551615, 2, 3]",
    "[1, 4294967296, 4294967296]",
    "\"v2\"",
    "\".\"",
    "{\"name\": \"zstd\", \"configuration\": {\"level\": 0, \"checksum\": false}}",
    "{\"storage_index\": [18446744073709551615]}",
];

/// The JSON mutations of [`mutate`], with zarr tokens now and then.
fn mutate_zarr(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let (&which, doc) = seed.split_first().unwrap_or((&0, &[]));
    let mut v = if rng.below(3) == 0 {
        let mut v = doc.to_vec();
        let at = rng.below(v.len() + 1);
        let t = ZARR_TOKENS[rng.below(ZARR_TOKENS.len())].as_bytes();
        if rng.below(2) == 0 {
            // Replace the value after a `:`.
            if let Some(colon) = v[at.min(v.len())..].iter().position(|&b| b == b':') {
                let start = at + colon + 1;
                let end = v[start..]
                    .iter()
                    .position(|&b| b == b',' || b == b'}' || b == b'\n')
                    .map_or(v.len(), |e| start + e);
                v.splice(start..end, t.iter().copied());
            }
        } else {
            v.splice(at..at, t.iter().copied());
        }
        v
    } else {
        mutate(rng, doc)
    };
    v.insert(0, which);
    v
}

#[test]
fn zarr_recover_body_over_corpus_and_generated_inputs() {
    let seeds = corpus("zarr_recover");
    for (path, bytes) in &seeds {
        run("zarr_recover", bodies::zarr_recover, bytes);
        println!("ok corpus {}", path.display());
    }
    let mut rng = Rng(seed() ^ 0x2a77);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget() {
        let (_, base) = &seeds[rng.below(seeds.len())];
        run(
            "zarr_recover",
            bodies::zarr_recover,
            &mutate_zarr(&mut rng, base),
        );
        runs += 1;
    }
    println!(
        "zarr_recover: {} corpus files + {runs} generated inputs (seed {}), no panic",
        seeds.len(),
        seed()
    );
}
