//! `omew bench`: the reference workloads, side by side with the disk's own speed and
//! the codec's single-core speed measured in the same run.
//!
//! Each writer run happens in a child process (`omew bench-one`), so that its peak RSS
//! is its own. Time = create + all appends + finish (which makes the output durable).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ome_writers::{EncoderOptions, EncoderPriority, Schema, StreamOptions, create_stream_with};
use ome_writers_zarr::ChunkCodec;
use serde_json::{Value, json};

/// A benchmark workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// 256 frames of 2048x2048 uint16, T axis, one frame per chunk, uncompressed.
    W1,
    /// The same frames as TCZYX (16, 2, 8), shards of 8 frames, uncompressed.
    W2,
    /// W1 with realistic frames (smooth structure + Poisson noise), zstd level 1.
    W3Zstd,
    /// W1 with realistic frames, blosc-lz4 level 1.
    W3Lz4,
    /// W1 as OME-TIFF, uncompressed.
    Tiff,
    /// W1 with a 4-level pyramid (`multiscale`, mean), written during acquisition.
    W1Pyramid,
}

/// How the synthetic camera delivers a frame into the stream's pooled buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Camera {
    /// The CPU copies every frame in (a camera SDK that hands out its own memory; the
    /// same cost as `Stream::append(&frame)`, and as the Python peers' `append`).
    Copy,
    /// The camera writes into the buffer itself (DMA into buffers the application
    /// provides, as most scientific camera SDKs allow): no CPU is spent on delivery.
    /// Simulated by copying a frame into each buffer the first time only; recycled
    /// buffers still hold a realistic frame, handed over as it is.
    InPlace,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Self::W1 => "W1 zarr",
            Self::W2 => "W2 zarr sharded",
            Self::W3Zstd => "W3 zarr zstd-1",
            Self::W3Lz4 => "W3 zarr blosc-lz4-1",
            Self::Tiff => "W1 ome-tiff",
            Self::W1Pyramid => "W1 zarr pyramid-4 mean",
        }
    }

    fn realistic(self) -> bool {
        matches!(self, Self::W3Zstd | Self::W3Lz4)
    }

    fn settings(self, root: &Path, frames: u64, size: u64) -> Value {
        let yx = [
            json!({"name": "y", "count": size}),
            json!({"name": "x", "count": size}),
        ];
        let t = json!({"name": "t", "count": frames});
        let (dims, compression, level) = match self {
            Self::W1 | Self::Tiff | Self::W1Pyramid => {
                (vec![t, yx[0].clone(), yx[1].clone()], "none", None)
            }
            Self::W2 => {
                let z = 8;
                let c = 2;
                let t = (frames / (z * c)).max(1);
                (
                    vec![
                        json!({"name": "t", "count": t}),
                        json!({"name": "c", "count": c}),
                        json!({"name": "z", "count": z, "shard_size_chunks": z}),
                        yx[0].clone(),
                        yx[1].clone(),
                    ],
                    "none",
                    None,
                )
            }
            Self::W3Zstd => (vec![t, yx[0].clone(), yx[1].clone()], "zstd", Some(1)),
            Self::W3Lz4 => (vec![t, yx[0].clone(), yx[1].clone()], "blosc-lz4", Some(1)),
        };
        let mut v = json!({
            "root_path": root.to_string_lossy(),
            "dtype": "uint16",
            "dimensions": dims,
            "compression": compression,
            "overwrite": true,
        });
        if let Some(l) = level {
            v["compression_level"] = json!(l);
        }
        if self == Self::W1Pyramid {
            v["multiscale"] = json!({"levels": 4, "method": "mean"});
        }
        v
    }

    fn suffix(self) -> &'static str {
        if self == Self::Tiff {
            ".ome.tiff"
        } else {
            ".ome.zarr"
        }
    }
}

pub(crate) fn peak_rss_bytes() -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// CPU seconds used by this process so far (user, system), from /proc.
fn process_cpu() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((
                f.get(11)?.parse::<f64>().ok()? / ticks,
                f.get(12)?.parse::<f64>().ok()? / ticks,
            ))
        })
        .unwrap_or((0.0, 0.0))
}

/// Busy and total CPU seconds of the whole machine so far (kernel writeback threads
/// included), from /proc/stat.
/// The whole machine's CPU seconds so far, from /proc/stat: (busy, total, stolen by
/// the hypervisor). Stolen time is when a virtual CPU had work but the host ran
/// something else: a thread then stalls without any context switch of its own.
fn machine_cpu() -> (f64, f64, f64) {
    let ticks = 100.0;
    fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let v: Vec<f64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: f64 = v.iter().sum();
            let idle = v.get(3)? + v.get(4)?;
            let steal = v.get(7).copied().unwrap_or(0.0);
            Some(((total - idle) / ticks, total / ticks, steal / ticks))
        })
        .unwrap_or((0.0, 0.0, 0.0))
}

fn dir_size(path: &Path) -> u64 {
    if path.is_file() {
        return fs::metadata(path).map_or(0, |m| m.len());
    }
    fs::read_dir(path).map_or(0, |rd| {
        rd.filter_map(Result::ok).map(|e| dir_size(&e.path())).sum()
    })
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// One writer run of `omew bench-one`.
pub(crate) struct Run<'a> {
    pub(crate) workload: Workload,
    pub(crate) dir: &'a Path,
    pub(crate) frames: u64,
    pub(crate) size: u64,
    /// Append at this many MB/s instead of as fast as possible.
    pub(crate) pace_mbps: Option<f64>,
    pub(crate) camera: Camera,
    /// Added to the workload's name in the results.
    pub(crate) label: Option<&'a str>,
    pub(crate) encoder_priority: EncoderPriority,
    /// A viewer thread reads every 10th frame through a live view.
    pub(crate) view_reader: bool,
}

/// One writer run (in its own process): prints one JSON line.
pub(crate) fn bench_one(run: &Run<'_>) -> Result<()> {
    let &Run {
        workload,
        dir,
        frames,
        size,
        pace_mbps,
        camera,
        label,
        encoder_priority,
        view_reader,
    } = run;
    let root = dir.join(format!("bench{}", workload.suffix()));
    let settings = workload.settings(&root, frames, size);
    let pool = ome_writers::frame_pool_u16(size, workload.realistic(), 8);
    let schema = Schema::from_json(&settings.to_string())?;
    let total = schema.num_frames().unwrap_or(frames);
    let mut latencies = Vec::with_capacity(total as usize);
    let (mut slow, mut slow_blocked) = (0u64, 0u64);
    let cpu0 = process_cpu();
    let machine0 = machine_cpu();
    let started = Instant::now();
    let options = StreamOptions::default()
        .with_encoders(EncoderOptions::default().with_priority(encoder_priority));
    let mut stream = create_stream_with(&schema, &options)?;
    let viewer =
        view_reader.then(|| crate::bench_view::Viewer::start(stream.view(true, false), 10));
    let frame_bytes = (size * size * 2) as f64;
    let interval = pace_mbps.map(|mbps| Duration::from_secs_f64(frame_bytes / (mbps * 1e6)));
    for n in 0..total {
        let frame = &pool[n as usize % pool.len()];
        if let Some(iv) = interval {
            // A camera at a fixed frame rate: wait for this frame's deadline.
            let deadline = started + iv.mul_f64(n as f64);
            if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        // The camera takes a pooled buffer, fills it (its DMA or SDK copy, not timed)
        // and hands it over: the append latency is `next_buffer` + `append_buffer`.
        // Paced runs also tell why a slow one was slow: the thread slept in it
        // (waited for the library: a lock, a full queue, the disk) or was only
        // preempted (runnable, waiting for a core).
        let paced = interval.is_some();
        let s0 = paced.then(context_switches).flatten();
        let t = Instant::now();
        let mut buf = stream.next_buffer()?;
        let taking = t.elapsed();
        let s1 = paced.then(context_switches).flatten();
        let pixels = buf.pixels_mut::<u16>()?;
        // Realistic frames are never 0 at their first pixel; a fresh buffer is.
        if camera == Camera::Copy || pixels.first() == Some(&0) {
            pixels.copy_from_slice(frame);
        }
        let s2 = paced.then(context_switches).flatten();
        let t = Instant::now();
        stream.append_buffer(buf, None)?;
        let latency = taking + t.elapsed();
        let s3 = paced.then(context_switches).flatten();
        latencies.push(latency);
        if latency > SLOW_APPEND {
            slow += 1;
            if let (Some((v0, _)), Some((v1, _)), Some((v2, _)), Some((v3, _))) = (s0, s1, s2, s3)
                && v1 + v3 > v0 + v2
            {
                slow_blocked += 1;
            }
        }
    }
    let summary = stream.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    let view_reads = viewer.map(crate::bench_view::Viewer::stop).transpose()?;
    let cpu1 = process_cpu();
    let machine1 = machine_cpu();
    latencies.sort_unstable();
    let on_disk = dir_size(&root);
    let mut name = match pace_mbps {
        Some(p) => format!("{} paced at {p:.0} MB/s", workload.name()),
        None => workload.name().to_owned(),
    };
    if camera == Camera::InPlace {
        name.push_str(", camera fills in place");
    }
    if let Some(l) = label {
        name.push_str(", ");
        name.push_str(l);
    }
    let line = json!({
        "workload": name,
        "seconds": seconds,
        "bytes": summary.bytes,
        "bytes_on_disk": on_disk,
        "append_p50_us": percentile(&latencies, 0.5),
        "append_p99_us": percentile(&latencies, 0.99),
        "appends_over_1ms": slow,
        "appends_over_1ms_blocked": pace_mbps.map(|_| slow_blocked),
        "peak_rss_bytes": peak_rss_bytes(),
        "cpu_user_s": cpu1.0 - cpu0.0,
        "cpu_system_s": cpu1.1 - cpu0.1,
        "machine_busy_s": machine1.0 - machine0.0,
        "machine_total_s": machine1.1 - machine0.1,
        "machine_steal_s": machine1.2 - machine0.2,
        "view_reads": view_reads,
    });
    println!("{line}");
    let _ = fs::remove_dir_all(&root);
    let _ = fs::remove_file(&root);
    Ok(())
}

/// A hand-over slower than this counts as slow (the p99 bound).
const SLOW_APPEND: Duration = Duration::from_millis(1);

/// This thread's (voluntary, involuntary) context switches so far, from
/// /proc/thread-self/status (Linux; `None` elsewhere). A voluntary switch means the
/// thread slept; an involuntary one, that the scheduler took its core away.
fn context_switches() -> Option<(u64, u64)> {
    let status = fs::read_to_string("/proc/thread-self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        field("voluntary_ctxt_switches:")?,
        field("nonvoluntary_ctxt_switches:")?,
    ))
}

/// The block order above which a Linux guest reports freed memory to its hypervisor
/// (virtio-balloon free page reporting), if it does: a balloon device is bound and
/// `page_reporting_order` is at or below the largest buddy order (10).
fn free_page_reporting() -> Option<u32> {
    let order = fs::read_to_string("/sys/module/page_reporting/parameters/page_reporting_order")
        .ok()?
        .trim()
        .parse::<u32>()
        .ok()?;
    let balloon = fs::read_dir("/sys/bus/virtio/drivers/virtio_balloon")
        .ok()?
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("virtio"));
    (balloon && order <= 10).then_some(order)
}

/// The disk's own speed: the same bytes to one file, fsync included.
fn disk_reference(dir: &Path, frames: u64, size: u64) -> Result<f64> {
    let pool = ome_writers::frame_pool_u16(size, false, 8);
    let path = dir.join("disk-reference.raw");
    let started = Instant::now();
    let mut f = fs::File::create(&path)?;
    let mut bytes = 0u64;
    for n in 0..frames {
        let frame: &[u8] = bytemuck_cast(&pool[n as usize % pool.len()]);
        f.write_all(frame)?;
        bytes += frame.len() as u64;
    }
    f.sync_all()?;
    let secs = started.elapsed().as_secs_f64();
    drop(f);
    fs::remove_file(&path)?;
    Ok(bytes as f64 / secs)
}

fn bytemuck_cast(v: &[u16]) -> &[u8] {
    bytemuck::cast_slice(v)
}

/// Single-core speed of the workload's codec, run as the encoder threads run it (one
/// reused context and output buffer per thread), on the realistic frames, no I/O, in
/// raw bytes per second: one sustained pass over as many frames as the workload has
/// (the 8 realistic frames in turn), the same bytes the writer compresses.
/// `frames`: the realistic frames to encode (generated once per `omew bench`).
fn codec_reference(
    dir: &Path,
    size: u64,
    workload: Workload,
    frames: &[Vec<u16>],
    total: u64,
) -> Result<f64> {
    let mut codec = workload_codec(dir, size, workload)?;
    let started = Instant::now();
    let raw = encode_frames(&mut codec, frames, (0..total).map(|n| n as usize))?;
    Ok(raw as f64 / started.elapsed().as_secs_f64())
}

/// The codec at its peak: the fastest of three short passes over the 8 frames (about
/// 0.1 s each). Reported beside the sustained reference (JSON only): on a shared VM a
/// short burst runs faster than any multi-second run can.
fn codec_burst(dir: &Path, size: u64, workload: Workload, frames: &[Vec<u16>]) -> Result<f64> {
    let mut codec = workload_codec(dir, size, workload)?;
    let mut best = 0f64;
    for _ in 0..3 {
        let started = Instant::now();
        let raw = encode_frames(&mut codec, frames, 0..frames.len())?;
        best = best.max(raw as f64 / started.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn workload_codec(dir: &Path, size: u64, workload: Workload) -> Result<ChunkCodec> {
    let settings = workload.settings(&dir.join("codec-reference.ome.zarr"), 1, size);
    let schema = Schema::from_json(&settings.to_string())?;
    ChunkCodec::for_schema(&schema)
        .with_context(|| format!("{} has no chunk codec", workload.name()))
}

/// Encode `frames[n % len]` for every `n`; returns the raw bytes encoded.
fn encode_frames(
    codec: &mut ChunkCodec,
    frames: &[Vec<u16>],
    order: impl Iterator<Item = usize>,
) -> Result<u64> {
    let mut raw = 0u64;
    for n in order {
        let bytes = bytemuck_cast(&frames[n % frames.len()]);
        raw += bytes.len() as u64;
        std::hint::black_box(codec.encode(bytes)?.len());
    }
    Ok(raw)
}

/// The codec on every core at once, no I/O: one thread per core, each with its own
/// codec, taking the workload's frames from one shared counter as the encoder threads
/// take chunks; raw bytes per second of wall time. What the cores can compress
/// together on this machine (cores that share a physical core or memory bandwidth make
/// it less than cores x the single-core speed).
fn codec_all_cores(
    dir: &Path,
    size: u64,
    workload: Workload,
    cores: usize,
    frames: &[Vec<u16>],
    total: u64,
) -> Result<f64> {
    let next = std::sync::atomic::AtomicU64::new(0);
    let started = Instant::now();
    let raws: Vec<Result<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut codec = workload_codec(dir, size, workload)?;
                    let order = std::iter::from_fn(|| {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        (n < total).then_some(n as usize)
                    });
                    encode_frames(&mut codec, frames, order)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a codec thread panicked"))
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    let raw: u64 = raws.into_iter().sum::<Result<u64>>()?;
    Ok(raw as f64 / seconds)
}

/// The realistic frames the codec references encode, made once.
fn codec_frames(cache: &mut Option<Vec<Vec<u16>>>, size: u64) -> &[Vec<u16>] {
    cache.get_or_insert_with(|| ome_writers::frame_pool_u16(size, true, 8))
}

/// Whether this process may run a child under SCHED_FIFO (`chrt` exists and the
/// privilege is there).
fn chrt_available() -> bool {
    Command::new("chrt")
        .args(["-f", "10", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run every workload and print (or return as JSON) the table.
pub(crate) fn bench(
    dir: &Path,
    frames: u64,
    size: u64,
    workloads: &[Workload],
    as_json: bool,
    out_md: Option<&PathBuf>,
) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let exe = std::env::current_exe()?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut rows = Vec::new();
    eprintln!(
        "omew bench: {frames} frames of {size}x{size} uint16 ({:.2} GB) per workload, in {}",
        (frames * size * size * 2) as f64 / 1e9,
        dir.display()
    );
    if let Some(order) = free_page_reporting() {
        eprintln!(
            "omew bench: this VM returns freed memory to its host (free page reporting, \
             order {order}): page-cache costs, and so the figures, swing between runs; \
             docs/benchmarks.md says how to measure anyway"
        );
    }
    // The codec references' realistic frames, generated on first need (slow to make).
    let mut realistic = None;
    for &w in workloads {
        let disk = disk_reference(dir, frames, size)?;
        // (paced, camera, the camera thread under SCHED_FIFO): the paced runs show the
        // append latency while the queue is not full, with the camera thread at normal
        // priority and at the real-time priority acquisition software often gives it.
        // They run at half the disk's speed, or at 70% of the writer's own unpaced
        // speed (measured first) if that is lower, so that the writer keeps up.
        // The last run: W1 (zarr and tiff) again with a live view and a viewer thread
        // reading every 10th frame, compared with the first run.
        let runs = [
            (false, Camera::Copy, false, false),
            (true, Camera::Copy, false, false),
            (true, Camera::Copy, true, false),
            (false, Camera::InPlace, false, false),
            (false, Camera::Copy, false, true),
        ];
        let mut unpaced_speed = f64::INFINITY;
        for (paced, camera, fifo, view) in runs {
            if view && !matches!(w, Workload::W1 | Workload::Tiff) {
                continue;
            }
            let pace = paced.then(|| (disk / 2e6).min(0.7 * unpaced_speed / 1e6));
            if pace.is_some() && w == Workload::W2 {
                continue;
            }
            if (camera == Camera::InPlace || fifo) && !w.realistic() {
                continue;
            }
            if fifo && !chrt_available() {
                eprintln!("(no SCHED_FIFO run: `chrt -f 10 true` failed here)");
                continue;
            }
            // The codec's reference speed is measured just before and just after the
            // writer, and the faster of the two kept.
            let measure_codec = w.realistic() && !paced;
            let codec_before = if measure_codec {
                codec_reference(dir, size, w, codec_frames(&mut realistic, size), frames)?
            } else {
                0.0
            };
            let mut cmd = if fifo {
                let mut c = Command::new("chrt");
                c.args(["-f", "10"]).arg(&exe);
                c
            } else {
                Command::new(&exe)
            };
            cmd.args(["bench-one", "--workload"])
                .arg(
                    clap::ValueEnum::to_possible_value(&w)
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default(),
                )
                .arg("--dir")
                .arg(dir)
                .args(["--frames", &frames.to_string(), "--size", &size.to_string()]);
            if let Some(p) = pace {
                cmd.arg("--pace-mbps").arg(format!("{p}"));
            }
            if fifo {
                cmd.arg("--label").arg("camera thread SCHED_FIFO");
            }
            if camera == Camera::InPlace {
                cmd.args(["--camera", "in-place"]);
            }
            if view {
                cmd.arg("--view-reader")
                    .arg("--label")
                    .arg("live view + reader of every 10th frame");
            }
            let out = cmd.output()?;
            if !out.status.success() {
                bail!(
                    "{} failed: {}",
                    w.name(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            let mut row: Value = serde_json::from_slice(&out.stdout)?;
            let secs = row["seconds"].as_f64().unwrap_or(f64::NAN);
            let bytes = row["bytes"].as_f64().unwrap_or(f64::NAN);
            let speed = bytes / secs;
            row["mb_per_s"] = json!(speed / 1e6);
            row["disk_mb_per_s"] = json!(disk / 1e6);
            row["ratio_to_disk"] = json!(speed / disk);
            if view {
                row["ratio_to_no_view"] = json!(speed / unpaced_speed);
            } else if !paced && camera == Camera::Copy {
                unpaced_speed = speed;
            }
            // How busy the whole machine was (kernel writeback included), in cores.
            row["cores_busy"] = json!(row["machine_busy_s"].as_f64().unwrap_or(f64::NAN) / secs);
            if w.realistic() {
                row["compression_ratio"] =
                    json!(bytes / row["bytes_on_disk"].as_f64().unwrap_or(f64::NAN));
            }
            if measure_codec {
                let count = frames;
                let frames = codec_frames(&mut realistic, size);
                let codec = codec_before.max(codec_reference(dir, size, w, frames, count)?);
                let all = codec_all_cores(dir, size, w, cores, frames, count)?;
                row["codec_1core_burst_mb_per_s"] = json!(codec_burst(dir, size, w, frames)? / 1e6);
                row["codec_all_cores_mb_per_s"] = json!(all / 1e6);
                row["ratio_to_codec_all_cores"] = json!(speed / all);
                row["codec_1core_mb_per_s"] = json!(codec / 1e6);
                row["ratio_to_codec_x_cores"] = json!(speed / (codec * cores as f64));
            }
            eprintln!("{row}");
            rows.push(row);
        }
    }
    if as_json {
        println!("{}", Value::Array(rows.clone()));
    } else {
        print!("{}", table(&rows, cores));
    }
    if let Some(md) = out_md {
        fs::write(md, table(&rows, cores))?;
    }
    Ok(())
}

fn table(rows: &[Value], cores: usize) -> String {
    let mut s = String::from(
        "| workload | MB/s | disk MB/s | x disk | x without view | codec 1-core MB/s | x codec*cores | codec all cores MB/s | x codec all cores | compression | cores busy | peak RSS MiB | append p50 us | append p99 us | appends > 1 ms (slept) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let f = |v: &Value, k: &str, scale: f64, digits: usize| {
        v[k].as_f64()
            .map_or_else(|| "-".to_owned(), |x| format!("{:.*}", digits, x * scale))
    };
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r["workload"].as_str().unwrap_or("?"),
            f(r, "mb_per_s", 1.0, 0),
            f(r, "disk_mb_per_s", 1.0, 0),
            f(r, "ratio_to_disk", 1.0, 2),
            f(r, "ratio_to_no_view", 1.0, 2),
            f(r, "codec_1core_mb_per_s", 1.0, 0),
            f(r, "ratio_to_codec_x_cores", 1.0, 2),
            f(r, "codec_all_cores_mb_per_s", 1.0, 0),
            f(r, "ratio_to_codec_all_cores", 1.0, 2),
            f(r, "compression_ratio", 1.0, 2),
            f(r, "cores_busy", 1.0, 2),
            f(r, "peak_rss_bytes", 1.0 / 1_048_576.0, 0),
            f(r, "append_p50_us", 1.0, 1),
            f(r, "append_p99_us", 1.0, 1),
            match (
                r["appends_over_1ms"].as_u64(),
                r["appends_over_1ms_blocked"].as_u64()
            ) {
                (Some(n), Some(b)) => format!("{n} ({b})"),
                (Some(n), None) => n.to_string(),
                _ => "-".to_owned(),
            },
        ));
    }
    s.push_str(&format!("\n({cores} cores)\n"));
    s
}
