//! `omew`: write raw camera frames into OME-Zarr / OME-TIFF, check settings files.
//!
//! ```text
//! omew write --settings run.json --output out/run.ome.zarr --input frames.raw
//! camera-dump | omew write --settings run.json --output out/run.ome.zarr --input -
//! omew write --settings run.json --output out/demo.ome.zarr --synthetic
//! omew check-settings run.json
//! ```

mod bench;
mod bench_s3;
mod bench_view;
mod frame_meta;
mod global_meta;
mod omero;
mod repair;
mod s3_args;
mod signals;
mod write;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ome_writers::Schema;
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
    Write(write::WriteArgs),
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
        /// Run the object-storage row instead: W1 written under this s3:// prefix beside
        /// a plain parallel upload of the same object sizes to the same server
        /// (docs/object-storage.md).
        #[arg(long, value_name = "s3://BUCKET/PREFIX")]
        s3_url: Option<String>,
        /// How to reach the --s3-url server.
        #[command(flatten)]
        s3: s3_args::S3Args,
    },
    /// OMERO's local storage: list, load and write images, export ROMIO pixel files.
    Omero(omero::OmeroArgs),
    /// Finish a dataset left by a killed writer: final metadata from what is on disk,
    /// missing planes marked; complete data untouched. Idempotent.
    Repair {
        /// The dataset: an `.ome.zarr` directory, an `.ome.tiff` file, the folder of
        /// a multi-file OME-TIFF, or an OME-Zarr at `s3://BUCKET/KEY`.
        path: PathBuf,
        /// How to reach an s3:// dataset.
        #[command(flatten)]
        s3: s3_args::S3Args,
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
        encoder_priority: write::Priority,
        /// Open a live view and read every 10th frame from another thread while
        /// appending (a viewer during the acquisition).
        #[arg(long)]
        view_reader: bool,
    },
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
                    ome_writers::BackendKind::Scratch => "scratch",
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
        Command::Write(args) => write::run(&args),
        Command::Omero(args) => omero::run(args),
        Command::Repair { path, s3 } => match path.to_str() {
            Some(url) if ome_writers_schema::S3Url::looks_like(url) => {
                repair::run_s3(url, &s3.options())
            }
            _ => repair::run(&path),
        },
        Command::Bench {
            dir,
            frames,
            size,
            workloads,
            json,
            markdown,
            s3_url,
            s3,
        } => {
            if let Some(url) = s3_url {
                let row = bench_s3::bench_s3(&url, frames, size, &s3.options())?;
                let table = bench_s3::table(&row);
                if json {
                    println!("{row}");
                } else {
                    print!("{table}");
                }
                if let Some(md) = markdown {
                    fs::write(md, table)?;
                }
                return Ok(());
            }
            let all = [
                bench::Workload::W1,
                bench::Workload::W2,
                bench::Workload::W3Zstd,
                bench::Workload::W3Lz4,
                bench::Workload::Tiff,
                bench::Workload::W1Pyramid,
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
            view_reader,
        } => bench::bench_one(&bench::Run {
            workload,
            dir: &dir,
            frames,
            size,
            pace_mbps,
            camera,
            label: label.as_deref(),
            encoder_priority: encoder_priority.into(),
            view_reader,
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
