//! `omew`: write raw camera frames into OME-Zarr / OME-TIFF, check settings files.
//!
//! ```text
//! omew write --settings run.json --output out/run.ome.zarr --input frames.raw
//! camera-dump | omew write --settings run.json --output out/run.ome.zarr --input -
//! omew write --settings run.json --output out/demo.ome.zarr --synthetic
//! omew check-settings run.json
//! ```

mod bench;
mod frame_meta;
mod omero;
mod repair;
mod signals;

use std::fs;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use ome_writers::{EncoderOptions, EncoderPriority, Schema, StreamOptions, create_stream_with};
use ome_writers_schema::AcquisitionSettings;

#[derive(Parser)]
#[command(
    name = "omew",
    version,
    about = "Stream camera frames into OME-Zarr 0.5 and OME-TIFF"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write frames into a dataset described by a settings JSON file.
    Write(WriteArgs),
    /// Validate a settings file and print the normalized schema (or the error).
    CheckSettings {
        /// The settings JSON (Python ome-writers' `model_dump(mode="json")` shape).
        settings: PathBuf,
    },
    /// Measure the reference workloads against the disk's own speed, in one run.
    Bench {
        /// Scratch directory on the disk to measure (files are removed afterwards).
        #[arg(long, default_value = "target/omew-bench")]
        dir: PathBuf,
        /// Frames per workload.
        #[arg(long, default_value_t = 256)]
        frames: u64,
        /// Frame height and width.
        #[arg(long, default_value_t = 2048)]
        size: u64,
        /// Workloads to run (default: all).
        #[arg(long, value_enum, value_delimiter = ',')]
        workloads: Vec<bench::Workload>,
        /// Print the results as JSON.
        #[arg(long)]
        json: bool,
        /// Also write the Markdown table to this file.
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
    /// OMERO's local storage: list, load and write images, export ROMIO pixel files.
    Omero(omero::OmeroArgs),
    /// Finish a dataset left by a killed writer: final metadata from what is on disk,
    /// missing planes marked; complete data untouched. Idempotent.
    Repair {
        /// The dataset: an `.ome.zarr` directory, an `.ome.tiff` file, or the folder of
        /// a multi-file OME-TIFF.
        path: PathBuf,
    },
    /// One writer run of `bench` (used by `bench` in a child process).
    #[command(hide = true)]
    BenchOne {
        #[arg(long, value_enum)]
        workload: bench::Workload,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        frames: u64,
        #[arg(long)]
        size: u64,
        /// Append at this many MB/s instead of as fast as possible.
        #[arg(long)]
        pace_mbps: Option<f64>,
        /// How the synthetic camera fills the stream's buffers.
        #[arg(long, value_enum, default_value = "copy")]
        camera: bench::Camera,
        /// Added to the workload's name in the results.
        #[arg(long)]
        label: Option<String>,
        /// Priority of the encoder threads.
        #[arg(long, value_enum, default_value = "background")]
        encoder_priority: Priority,
    },
}

#[derive(clap::Args)]
struct WriteArgs {
    /// The settings JSON.
    #[arg(long)]
    settings: PathBuf,
    /// Output path (overrides `root_path`; `.ome.zarr` or `.ome.tiff` picks the format
    /// when the settings say "auto").
    #[arg(long)]
    output: Option<String>,
    /// Raw frames: row-major, little-endian, the settings' dtype, one frame after
    /// another; `-` reads standard input.
    #[arg(long, conflicts_with = "synthetic")]
    input: Option<String>,
    /// Generate frames whose pixels encode their frame number and position
    /// (`1 + (n*7 + y*3 + x) % M`), instead of reading input.
    #[arg(long)]
    synthetic: bool,
    /// Stop after this many frames (required with --synthetic for unbounded settings).
    #[arg(long)]
    frames: Option<u64>,
    /// Per-frame metadata: one JSON object per line (at most 1 MiB), line i for frame i;
    /// more lines than frames written is an error (after every frame is written).
    #[arg(long)]
    frame_metadata: Option<PathBuf>,
    /// Replace an existing output (only ever a dataset of the same kind).
    #[arg(long)]
    overwrite: bool,
    /// Queue bound between reading and writing, in MiB.
    #[arg(long, default_value_t = 256)]
    queue_mib: usize,
    /// A durability point every N frames (0: only time-based and at the end).
    #[arg(long, default_value_t = 1000)]
    flush_every: u64,
    /// Threads that compress (zarr); default: one per core plus a few that cover the
    /// waits for the disk.
    #[arg(long)]
    encoder_threads: Option<std::num::NonZeroUsize>,
    /// Priority of the compressing threads: `background` (Linux SCHED_IDLE: only the
    /// CPU the rest leaves) or `normal`.
    #[arg(long, value_enum, default_value = "background")]
    encoder_priority: Priority,
}

/// `--encoder-priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Priority {
    Background,
    Normal,
}

impl From<Priority> for EncoderPriority {
    fn from(p: Priority) -> Self {
        match p {
            Priority::Background => Self::Background,
            Priority::Normal => Self::Normal,
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("omew: error: {e:#}");
            e.downcast_ref::<signals::Interrupted>()
                .map_or(ExitCode::FAILURE, |stop| ExitCode::from(stop.exit_code()))
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::CheckSettings { settings } => {
            let schema = load_schema(&settings, None, false)?;
            println!("{}", schema.settings().to_json());
            eprintln!(
                "ok: {} backend, {} frames of {:?} {}, {} position(s), output {}",
                match schema.backend() {
                    ome_writers::BackendKind::Zarr => "OME-Zarr",
                    ome_writers::BackendKind::Tiff => "OME-TIFF",
                    ome_writers::BackendKind::OmeroLocal => "omero_local",
                },
                schema
                    .num_frames()
                    .map_or_else(|| "unbounded".to_owned(), |n| n.to_string()),
                schema.frame_shape(),
                schema.dtype(),
                schema.positions().len(),
                schema.output_path().map_or_else(
                    || format!("{:?}", schema.target()),
                    |p| p.display().to_string()
                ),
            );
            Ok(())
        }
        Command::Write(args) => write(&args),
        Command::Omero(args) => omero::run(args),
        Command::Repair { path } => repair::run(&path),
        Command::Bench {
            dir,
            frames,
            size,
            workloads,
            json,
            markdown,
        } => {
            let all = [
                bench::Workload::W1,
                bench::Workload::W2,
                bench::Workload::W3Zstd,
                bench::Workload::W3Lz4,
                bench::Workload::Tiff,
            ];
            let chosen = if workloads.is_empty() {
                all.to_vec()
            } else {
                workloads
            };
            bench::bench(&dir, frames, size, &chosen, json, markdown.as_ref())
        }
        Command::BenchOne {
            workload,
            dir,
            frames,
            size,
            pace_mbps,
            camera,
            label,
            encoder_priority,
        } => bench::bench_one(&bench::Run {
            workload,
            dir: &dir,
            frames,
            size,
            pace_mbps,
            camera,
            label: label.as_deref(),
            encoder_priority: encoder_priority.into(),
        }),
    }
}

fn load_schema(path: &Path, output: Option<&str>, overwrite: bool) -> Result<Schema> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut settings = AcquisitionSettings::from_json(&text)
        .with_context(|| format!("{} is not valid settings", path.display()))?;
    if let Some(out) = output {
        out.clone_into(&mut settings.root_path);
    }
    if overwrite {
        settings.overwrite = true;
    }
    // --output replaces root_path, so an error about root_path is about it.
    settings.validate().with_context(|| match output {
        Some(out) => format!(
            "{} is not valid settings with --output {out:?} as root_path",
            path.display()
        ),
        None => format!("{} is not valid settings", path.display()),
    })
}

/// Fill `buf` from `r`; returns the bytes read (less than `buf.len()` only at EOF).
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            // A stop signal interrupts a read of stalled input (see `signals`).
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if signals::requested().is_some() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct ProgressLine {
    enabled: bool,
    last: Instant,
    total: Option<u64>,
}

impl ProgressLine {
    fn tick(&mut self, frames: u64, bytes: u64, started: Instant) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(250) {
            return;
        }
        self.last = Instant::now();
        let secs = started.elapsed().as_secs_f64().max(1e-9);
        let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
        eprint!(
            "\r{frames}{of} frames, {:.1} MB, {:.1} MB/s   ",
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs
        );
        let _ = std::io::stderr().flush();
    }
    fn done(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}

/// An `--input` file inside the output (which `--overwrite` would replace, and which
/// the writer fills) is refused before anything is touched.
fn refuse_input_inside_output(input: Option<&str>, output: Option<&Path>) -> Result<()> {
    let (Some(input), Some(output)) = (input.filter(|i| *i != "-"), output) else {
        return Ok(());
    };
    let (Ok(input), Ok(output)) = (fs::canonicalize(input), fs::canonicalize(output)) else {
        // Either does not exist yet: the input cannot be inside the output.
        return Ok(());
    };
    if input.starts_with(&output) {
        bail!(
            "--input {} is inside the output {}; move it elsewhere first (the output is \
             replaced or filled by this write)",
            input.display(),
            output.display()
        );
    }
    Ok(())
}

fn write(args: &WriteArgs) -> Result<()> {
    let schema = load_schema(&args.settings, args.output.as_deref(), args.overwrite)?;
    if cfg!(target_endian = "big") {
        bail!("raw input is little-endian; this build runs on a big-endian machine");
    }
    let limit = match (args.frames, schema.num_frames()) {
        (Some(f), Some(total)) if f > total => {
            bail!("--frames {f} is more than the {total} frames the settings declare")
        }
        (Some(f), _) => Some(f),
        (None, total) => total,
    };
    if args.synthetic && limit.is_none() {
        bail!("the settings declare an unbounded acquisition: give --frames N with --synthetic");
    }
    if !args.synthetic && args.input.is_none() {
        bail!("give --input FILE (or - for standard input), or --synthetic");
    }
    refuse_input_inside_output(args.input.as_deref(), schema.output_path())?;
    let mut input: Option<Box<dyn Read>> = match args.input.as_deref() {
        Some("-") => Some(Box::new(std::io::stdin().lock())),
        Some(path) => Some(Box::new(BufReader::with_capacity(
            8 << 20,
            fs::File::open(path).with_context(|| format!("opening --input {path}"))?,
        ))),
        None => None,
    };
    let mut metadata = args
        .frame_metadata
        .as_deref()
        .map(frame_meta::FrameMetadataFile::open)
        .transpose()?;
    let options = StreamOptions {
        queue_bytes: args.queue_mib.max(1) << 20,
        flush_every_frames: args.flush_every,
        encoders: EncoderOptions {
            threads: args.encoder_threads,
            priority: args.encoder_priority.into(),
        },
        ..StreamOptions::default()
    };
    let started = Instant::now();
    let mut stream = signals::with_handlers(|| create_stream_with(&schema, &options))?;
    let frame_bytes = schema.frame_bytes();
    let mut buf = vec![0u8; frame_bytes];
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut progress = ProgressLine {
        enabled: std::io::stderr().is_terminal(),
        last: Instant::now(),
        total: limit,
    };
    let mut input_error: Option<anyhow::Error> = None;
    while limit.is_none_or(|l| n < l) {
        if let Some(stop) = signals::requested() {
            input_error = Some(stop.into());
            break;
        }
        if args.synthetic {
            ome_writers::pattern_frame(schema.dtype(), n, schema.frame_shape(), &mut buf);
        } else if let Some(r) = input.as_mut() {
            let got = match read_full(r, &mut buf) {
                Ok(got) => got,
                Err(e) => {
                    input_error = Some(match signals::requested() {
                        Some(stop) => stop.into(),
                        None => anyhow::Error::new(e).context(format!("reading frame {n}")),
                    });
                    break;
                }
            };
            if got == 0 {
                break;
            }
            if got < frame_bytes {
                input_error = Some(anyhow::anyhow!(
                    "the input ends with a partial frame: {got} of {frame_bytes} bytes after \
                     {n} complete frames (those were written)"
                ));
                break;
            }
        }
        let meta = match metadata
            .as_mut()
            .map(frame_meta::FrameMetadataFile::next_object)
        {
            None => None,
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                input_error =
                    Some(anyhow::Error::new(e).context(format!("frame {n} was not written")));
                break;
            }
        };
        if let Err(e) = stream.append_bytes(&buf, meta) {
            input_error = Some(anyhow::Error::new(e).context(format!("frame {n}")));
            break;
        }
        n += 1;
        bytes += frame_bytes as u64;
        progress.tick(n, bytes, started);
    }
    if input_error.is_none()
        && !args.synthetic
        && args.frames.is_none()
        && let Some(r) = input.as_mut()
    {
        let mut probe = [0u8; 1];
        if read_full(r, &mut probe).unwrap_or(0) > 0 {
            input_error = Some(anyhow::anyhow!(
                "the input holds more than the {n} frames the settings declare; the extra \
                 data was not written"
            ));
        }
    }
    // Like extra input, extra metadata lines are an error (unless --frames stopped early).
    if input_error.is_none()
        && args.frames != Some(n)
        && let Some(m) = metadata.as_mut()
        && let Err(e) = m.check_no_more(n)
    {
        input_error = Some(e.into());
    }
    progress.done();
    let summary = match (stream.finish(), input_error) {
        (Ok(summary), error) => {
            input_error = error;
            summary
        }
        // The first error (e.g. the disk filled during a write) says more than the
        // finish that followed it; a finish that only repeats it is not printed.
        (Err(ome_writers::StreamError::FailedEarlier { .. }), Some(first)) => {
            return Err(
                first.context("the write failed; the frames stored before it were finalized")
            );
        }
        (Err(finish), Some(first)) => {
            eprintln!("omew: error: {first:#}");
            return Err(anyhow::Error::new(finish).context("then, finishing failed too"));
        }
        (Err(finish), None) => return Err(finish.into()),
    };
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let shown: Vec<String> = summary
        .paths
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    println!(
        "wrote {} frames ({:.1} MB) in {:.2} s, {:.1} MB/s, shape {:?}{} -> {}",
        summary.frames_written,
        summary.bytes as f64 / 1e6,
        secs,
        summary.bytes as f64 / 1e6 / secs,
        summary.shape,
        if summary.complete { "" } else { " (partial)" },
        shown.join(", ")
    );
    match input_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
