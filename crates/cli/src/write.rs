//! `omew write`: raw frames from a file, a pipe or `--synthetic` into a stream, with
//! per-frame metadata, stop signals and a summary line.

use std::fs;
use std::io::{BufReader, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ome_writers::{
    EncoderOptions, EncoderPriority, Schema, Stream, StreamOptions, create_stream_with,
};

use crate::frame_meta::FrameMetadataFile;
use crate::{load_schema, signals};

/// `omew write`'s arguments.
#[derive(clap::Args)]
pub(crate) struct WriteArgs {
    /// The settings JSON.
    #[arg(long)]
    pub(crate) settings: PathBuf,
    /// Output path (overrides `root_path`; `.ome.zarr` or `.ome.tiff` picks the format
    /// when the settings say "auto").
    #[arg(long)]
    pub(crate) output: Option<String>,
    /// Raw frames: row-major, little-endian, the settings' dtype, one frame after
    /// another; `-` reads standard input.
    #[arg(long, conflicts_with = "synthetic")]
    pub(crate) input: Option<String>,
    /// Generate frames whose pixels encode their frame number and position
    /// (`1 + (n*7 + y*3 + x) % M`), instead of reading input.
    #[arg(long)]
    pub(crate) synthetic: bool,
    /// Stop after this many frames (required with --synthetic for unbounded settings).
    #[arg(long)]
    pub(crate) frames: Option<u64>,
    /// Per-frame metadata: one JSON object per line (at most 1 MiB), line i for frame i;
    /// more lines than frames written is an error (after every frame is written).
    #[arg(long)]
    pub(crate) frame_metadata: Option<PathBuf>,
    /// Acquisition-level metadata: `NAMESPACE=FILE.json`, the file holding a JSON
    /// object (zarr: root attribute NAMESPACE; OME-TIFF: a MapAnnotation); repeatable.
    #[arg(long, value_name = "NS=FILE")]
    pub(crate) global_metadata: Vec<String>,
    /// Replace an existing output (only ever a dataset of the same kind).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Queue bound between reading and writing, in MiB.
    #[arg(long, default_value_t = 256)]
    pub(crate) queue_mib: usize,
    /// A durability point every N frames (0: only time-based and at the end).
    #[arg(long, default_value_t = 1000)]
    pub(crate) flush_every: u64,
    /// Threads that compress (zarr); default: one per core plus a few that cover the
    /// waits for the disk.
    #[arg(long)]
    pub(crate) encoder_threads: Option<std::num::NonZeroUsize>,
    /// Priority of the compressing threads: `background` (Linux SCHED_IDLE: only the
    /// CPU the rest leaves) or `normal`.
    #[arg(long, value_enum, default_value = "background")]
    pub(crate) encoder_priority: Priority,
    /// How to reach an s3:// output.
    #[command(flatten)]
    pub(crate) s3: crate::s3_args::S3Args,
}

/// `--encoder-priority`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Priority {
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

/// Fill `buf` from `r`; returns the bytes read (less than `buf.len()` only at EOF).
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
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

pub(crate) fn run(args: &WriteArgs) -> Result<()> {
    let schema = load_schema(&args.settings, args.output.as_deref(), args.overwrite)?;
    let limit = frame_limit(args, &schema)?;
    refuse_input_inside_output(args.input.as_deref(), schema.output_path())?;
    let mut input = open_input(args)?;
    let mut metadata = args
        .frame_metadata
        .as_deref()
        .map(FrameMetadataFile::open)
        .transpose()?;
    let global = crate::global_meta::read_all(&args.global_metadata)?;
    let started = Instant::now();
    let options = stream_options(args);
    let mut stream = signals::with_handlers(|| create_stream_with(&schema, &options))?;
    for g in global {
        stream
            .set_global_metadata(&g.namespace, g.value)
            .with_context(|| format!("--global-metadata {:?}", g.namespace))?;
    }
    let mut fed = Fed::default();
    let mut progress = ProgressLine {
        enabled: std::io::stderr().is_terminal(),
        last: Instant::now(),
        total: limit,
    };
    while limit.is_none_or(|l| fed.frames < l) && fed.error.is_none() {
        if !feed_one(
            args,
            &schema,
            &mut stream,
            &mut input,
            metadata.as_mut(),
            &mut fed,
        ) {
            break;
        }
        progress.tick(fed.frames, fed.bytes, started);
    }
    check_nothing_left(args, &mut fed, input.as_mut(), metadata.as_mut());
    progress.done();
    finish(stream, fed.error, started)
}

/// The frames to write: `--frames`, else the settings' count (`None`: unbounded).
fn frame_limit(args: &WriteArgs, schema: &Schema) -> Result<Option<u64>> {
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
    Ok(limit)
}

fn open_input(args: &WriteArgs) -> Result<Option<Box<dyn Read>>> {
    Ok(match args.input.as_deref() {
        Some("-") => Some(Box::new(std::io::stdin().lock())),
        Some(path) => Some(Box::new(BufReader::with_capacity(
            8 << 20,
            fs::File::open(path).with_context(|| format!("opening --input {path}"))?,
        ))),
        None => None,
    })
}

fn stream_options(args: &WriteArgs) -> StreamOptions {
    StreamOptions::default()
        .with_queue_bytes(args.queue_mib.max(1) << 20)
        .with_flush_every_frames(args.flush_every)
        .with_encoders(
            EncoderOptions::default()
                .with_threads(args.encoder_threads)
                .with_priority(args.encoder_priority.into()),
        )
        .with_s3(args.s3.options())
}

/// What the write loop has handed to the stream, and the first error that stopped it.
#[derive(Default)]
struct Fed {
    frames: u64,
    bytes: u64,
    buf: Vec<u8>,
    error: Option<anyhow::Error>,
}

/// Read (or make) the next frame and its metadata and append them. `false` at the end
/// of the input or on an error (then in `fed.error`).
fn feed_one(
    args: &WriteArgs,
    schema: &Schema,
    stream: &mut Stream,
    input: &mut Option<Box<dyn Read>>,
    metadata: Option<&mut FrameMetadataFile>,
    fed: &mut Fed,
) -> bool {
    let n = fed.frames;
    if let Some(stop) = signals::requested() {
        fed.error = Some(stop.into());
        return false;
    }
    let frame_bytes = schema.frame_bytes();
    fed.buf.resize(frame_bytes, 0);
    if args.synthetic {
        ome_writers::pattern_frame(schema.dtype(), n, schema.frame_shape(), &mut fed.buf);
    } else if let Some(r) = input.as_mut() {
        match read_full(r, &mut fed.buf) {
            Ok(0) => return false,
            Ok(got) if got < frame_bytes => {
                fed.error = Some(anyhow::anyhow!(
                    "the input ends with a partial frame: {got} of {frame_bytes} bytes after \
                     {n} complete frames (those were written)"
                ));
                return false;
            }
            Ok(_) => {}
            Err(e) => {
                fed.error = Some(match signals::requested() {
                    Some(stop) => stop.into(),
                    None => anyhow::Error::new(e).context(format!("reading frame {n}")),
                });
                return false;
            }
        }
    }
    let meta = match metadata.map(FrameMetadataFile::next_object) {
        None => None,
        Some(Ok(m)) => m,
        Some(Err(e)) => {
            fed.error = Some(anyhow::Error::new(e).context(format!("frame {n} was not written")));
            return false;
        }
    };
    if let Err(e) = stream.append_bytes(&fed.buf, meta) {
        fed.error = Some(anyhow::Error::new(e).context(format!("frame {n}")));
        return false;
    }
    fed.frames += 1;
    fed.bytes += frame_bytes as u64;
    true
}

/// Input or metadata lines left after the last frame are an error (unless `--frames`
/// stopped the write early).
fn check_nothing_left(
    args: &WriteArgs,
    fed: &mut Fed,
    input: Option<&mut Box<dyn Read>>,
    metadata: Option<&mut FrameMetadataFile>,
) {
    let n = fed.frames;
    if fed.error.is_none()
        && !args.synthetic
        && args.frames.is_none()
        && let Some(r) = input
    {
        let mut probe = [0u8; 1];
        if read_full(r, &mut probe).unwrap_or(0) > 0 {
            fed.error = Some(anyhow::anyhow!(
                "the input holds more than the {n} frames the settings declare; the extra \
                 data was not written"
            ));
        }
    }
    if fed.error.is_none()
        && args.frames != Some(n)
        && let Some(m) = metadata
        && let Err(e) = m.check_no_more(n)
    {
        fed.error = Some(e.into());
    }
}

/// Finish the stream and print the summary; the first error wins.
fn finish(stream: Stream, input_error: Option<anyhow::Error>, started: Instant) -> Result<()> {
    let summary = match (stream.finish(), input_error) {
        (Ok(summary), error) => {
            print_summary(&summary, started);
            return error.map_or(Ok(()), Err);
        }
        // The first error (e.g. the disk filled during a write) says more than the
        // finish that followed it; a finish that only repeats it is not printed.
        (Err(ome_writers::StreamError::FailedEarlier { .. }), Some(first)) => {
            return Err(
                first.context("the write failed; the frames stored before it were finalized")
            );
        }
        // Finishing met the same cause again (the disk still full, the directory still
        // gone): say it once.
        (Err(finish), Some(first)) if root_cause(&finish) == first.root_cause().to_string() => {
            return Err(first.context("the write failed; finishing met the same error"));
        }
        (Err(finish), Some(first)) => {
            eprintln!("omew: error: {first:#}");
            return Err(anyhow::Error::new(finish).context("then, finishing failed too"));
        }
        (Err(finish), None) => finish,
    };
    Err(summary.into())
}

/// The innermost error of a chain, as text.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner = e;
    while let Some(source) = inner.source() {
        inner = source;
    }
    inner.to_string()
}

fn print_summary(summary: &ome_writers::StreamSummary, started: Instant) {
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
        if shown.is_empty() {
            "(in memory, not kept)".to_owned()
        } else {
            shown.join(", ")
        }
    );
}
