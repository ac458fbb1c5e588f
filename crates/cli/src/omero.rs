//! `omew omero ...`: OMERO's local storage from the command line.
//!
//! ```text
//! omew omero export-pixels --data-dir /OMERO --pixels-id 1001 --size-x 512 --size-y 512 \
//!     --size-z 10 --size-c 2 --size-t 5 --type uint16 --output pixels-1001.ome.zarr
//! omew omero list --data-dir /OMERO --dataset omero://dataset/7
//! omew omero load --data-dir /OMERO --image omero://image/12 --output image-12.ome.zarr
//! omew omero write --settings run.json --target omero://dataset/7 --data-dir /OMERO \
//!     --staging-dir /data/staging --synthetic
//! ```
//!
//! `export-pixels` needs no server: it converts a ROMIO pixel file (data recovery,
//! migration). `list` and `load` ask the server through the `omero` CLI (session from
//! `--server/--port/--key/--user`, or the CLI's current login) and read pixels from
//! the local data directory. `write` streams frames like `omew write` into the
//! `omero_local` backend; its session comes from `OMERO_HOST`, `OMERO_PORT`,
//! `OMERO_SESSION_KEY`, `OMERO_USER` (or the CLI's current login).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use ome_writers::{Schema, create_stream};
use ome_writers_omero_local::{
    CliGateway, DataDir, OmeroImage, OmeroReader, PixelSource, RomioPixels, Session, Sizes,
    omero_pixel_type_name, parse_pixel_type,
};
use ome_writers_schema::{
    AcquisitionSettings, Container, DType, FormatSpec, OmeroAddress, OmeroLocalFormat, Registration,
};
use serde_json::json;

/// `omew omero`.
#[derive(Args)]
pub(crate) struct OmeroArgs {
    #[command(subcommand)]
    command: OmeroCommand,
}

#[derive(Subcommand)]
enum OmeroCommand {
    /// Convert a ROMIO pixel file (`<data-dir>/Pixels/...`) to OME-Zarr or OME-TIFF,
    /// with no server running.
    ExportPixels(ExportArgs),
    /// List the images of a Dataset.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// The Dataset: `omero://dataset/7` or `7`.
        #[arg(long)]
        dataset: String,
    },
    /// Find an image's pixels on local disk and read them; with --output, write them
    /// to OME-Zarr / OME-TIFF.
    Load {
        #[command(flatten)]
        server: ServerArgs,
        /// The image: `omero://image/12` or `12`.
        #[arg(long)]
        image: String,
        /// Write the pixels here (`.ome.zarr` or `.ome.tiff`).
        #[arg(long)]
        output: Option<String>,
    },
    /// Stream frames into a new OMERO image: staged beside the server, registered in
    /// place (like `omew write`, with the omero_local format set from these options).
    Write(WriteOmeroArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// The server's data directory (omero.data.dir), or a copy holding `Pixels/`.
    #[arg(long)]
    data_dir: PathBuf,
    /// The Pixels id (names the file).
    #[arg(long)]
    pixels_id: u64,
    /// SizeX.
    #[arg(long)]
    size_x: u64,
    /// SizeY.
    #[arg(long)]
    size_y: u64,
    /// SizeZ.
    #[arg(long, default_value_t = 1)]
    size_z: u64,
    /// SizeC.
    #[arg(long, default_value_t = 1)]
    size_c: u64,
    /// SizeT.
    #[arg(long, default_value_t = 1)]
    size_t: u64,
    /// OMERO pixel type: int8, uint8, int16, uint16, int32, uint32, float, double.
    #[arg(long = "type")]
    pixel_type: String,
    /// Output: `.ome.zarr` (or `.ome.tiff`).
    #[arg(long)]
    output: String,
    /// Replace an existing output (only a dataset of the same kind).
    #[arg(long)]
    overwrite: bool,
}

#[derive(Args)]
struct ServerArgs {
    /// The server's data directory (omero.data.dir).
    #[arg(long)]
    data_dir: PathBuf,
    /// The `omero` executable (omero-py).
    #[arg(long, default_value = "omero")]
    omero_executable: PathBuf,
    /// Server host (default: the CLI's current session, or $OMERO_HOST).
    #[arg(long)]
    server: Option<String>,
    /// Server port.
    #[arg(long)]
    port: Option<u16>,
    /// Session key (default: $OMERO_SESSION_KEY).
    #[arg(long)]
    key: Option<String>,
    /// User name (the CLI reads the password from $OMERO_PASSWORD).
    #[arg(long)]
    user: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct WriteOmeroArgs {
    #[command(flatten)]
    write: crate::write::WriteArgs,
    /// The Dataset (or Screen, for a plate): `omero://dataset/7`. Default: the
    /// settings' root_path.
    #[arg(long)]
    target: Option<String>,
    /// The server's data directory (omero.data.dir).
    #[arg(long)]
    data_dir: Option<String>,
    /// Where filesets are staged: writable, outside ManagedRepository, readable by
    /// the server. Filesets stay there after registration (in-place import).
    #[arg(long)]
    staging_dir: Option<String>,
    /// `ome-zarr` or `ome-tiff`.
    #[arg(long)]
    container: Option<Container>,
    /// `in-place-import` or `zarr-import`.
    #[arg(long)]
    registration: Option<Registration>,
    /// The `omero` executable.
    #[arg(long)]
    omero_executable: Option<String>,
}

pub(crate) fn run(args: OmeroArgs) -> Result<()> {
    match args.command {
        OmeroCommand::ExportPixels(a) => export_pixels(&a).map(|_| ()),
        OmeroCommand::List { server, dataset } => list(&server, &dataset),
        OmeroCommand::Load {
            server,
            image,
            output,
        } => load(&server, &image, output.as_deref()),
        OmeroCommand::Write(a) => write(a),
    }
}

/// `omero://<kind>/<id>` or a bare id.
fn address(text: &str, kind: &str) -> Result<OmeroAddress> {
    let full = if text.chars().all(|c| c.is_ascii_digit()) && !text.is_empty() {
        format!("omero://{kind}/{text}")
    } else {
        text.to_owned()
    };
    let a: OmeroAddress = full
        .parse()
        .with_context(|| format!("{text:?} is not an OMERO {kind} address"))?;
    Ok(a)
}

/// The settings that store a `[T][C][Z][Y][X]` image at `output`.
fn tczyx_schema(sizes: Sizes, dtype: DType, output: &str, overwrite: bool) -> Result<Schema> {
    let dims = json!([
        {"name": "t", "count": sizes.t, "type": "time"},
        {"name": "c", "count": sizes.c, "type": "channel"},
        {"name": "z", "count": sizes.z, "type": "space"},
        {"name": "y", "count": sizes.y, "type": "space"},
        {"name": "x", "count": sizes.x, "type": "space"},
    ]);
    let settings = json!({
        "root_path": output,
        "dtype": dtype.name(),
        "dimensions": dims,
        "overwrite": overwrite,
    });
    Schema::from_json(&settings.to_string()).context("building the output settings")
}

/// Stream every plane (T, then C, then Z, as acquisition order) through a Stream.
fn stream_planes(
    schema: &Schema,
    sizes: Sizes,
    mut read: impl FnMut(u64, u64, u64, &mut [u8]) -> Result<()>,
) -> Result<ome_writers::StreamSummary> {
    let mut stream = create_stream(schema)?;
    let mut plane = vec![0u8; schema.frame_bytes()];
    for t in 0..sizes.t {
        for c in 0..sizes.c {
            for z in 0..sizes.z {
                read(t, c, z, &mut plane)?;
                stream
                    .append_bytes(&plane, None)
                    .with_context(|| format!("plane t={t} c={c} z={z}"))?;
            }
        }
    }
    Ok(stream.finish()?)
}

fn export_pixels(a: &ExportArgs) -> Result<ome_writers::StreamSummary> {
    let dir = DataDir::open_for_pixels(&a.data_dir)?;
    let dtype = parse_pixel_type(&a.pixel_type)?;
    let sizes = Sizes {
        x: a.size_x,
        y: a.size_y,
        z: a.size_z,
        c: a.size_c,
        t: a.size_t,
    };
    let path = dir.pixels_path(a.pixels_id);
    let pixels = RomioPixels::open(&path, sizes, dtype)?;
    let schema = tczyx_schema(sizes, dtype, &a.output, a.overwrite)?;
    let summary = stream_planes(&schema, sizes, |t, c, z, out| {
        Ok(pixels.read_plane(z, c, t, out)?)
    })?;
    println!(
        "exported {} ({sizes}, {}) -> {} ({} planes)",
        path.display(),
        omero_pixel_type_name(dtype),
        summary
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        summary.frames_written
    );
    Ok(summary)
}

fn reader(server: &ServerArgs) -> Result<OmeroReader> {
    let env = Session::from_env()?;
    let session = Session {
        server: server.server.clone().or(env.server),
        port: server.port.or(env.port),
        key: server.key.clone().or(env.key),
        user: server.user.clone().or(env.user),
    };
    let data_dir = DataDir::open(&server.data_dir)?;
    let gateway = CliGateway::new(&server.omero_executable, session);
    Ok(OmeroReader::new(data_dir, Box::new(gateway)))
}

fn list(server: &ServerArgs, dataset: &str) -> Result<()> {
    let dataset = address(dataset, "dataset")?;
    let images = reader(server)?.list_images(dataset)?;
    if server.json {
        let ids: Vec<String> = images.iter().map(ToString::to_string).collect();
        println!("{}", json!({"dataset": dataset.to_string(), "images": ids}));
    } else {
        for i in &images {
            println!("{i}");
        }
        eprintln!("{} image(s) in {dataset}", images.len());
    }
    Ok(())
}

fn source_text(source: &PixelSource) -> (&'static str, &Path) {
    match source {
        PixelSource::ExternalZarr { group } => ("external-zarr", group),
        PixelSource::FilesetZarr { group } => ("fileset-zarr", group),
        PixelSource::FilesetTiff { path } => ("fileset-tiff", path),
        PixelSource::Romio { path } => ("romio", path),
    }
}

fn load(server: &ServerArgs, image: &str, output: Option<&str>) -> Result<()> {
    let image = address(image, "image")?;
    let loaded: OmeroImage = reader(server)?.load(image)?;
    let (kind, path) = source_text(loaded.source());
    let written = match output {
        Some(out) => {
            let schema = tczyx_schema(loaded.sizes(), loaded.dtype(), out, false)?;
            let summary = stream_planes(&schema, loaded.sizes(), |t, c, z, buf| {
                Ok(loaded.read_plane(t, c, z, buf)?)
            })?;
            summary.paths.first().map(|p| p.display().to_string())
        }
        None => None,
    };
    if server.json {
        println!(
            "{}",
            json!({
                "image": image.to_string(),
                "source": kind,
                "path": path.display().to_string(),
                "axes": loaded.axes(),
                "shape": loaded.shape(),
                "dtype": loaded.dtype().name(),
                "output": written,
            })
        );
    } else {
        println!(
            "{image}: {} {} from {kind} {}{}",
            loaded.sizes(),
            loaded.dtype(),
            path.display(),
            written.map(|w| format!(" -> {w}")).unwrap_or_default()
        );
    }
    Ok(())
}

fn write(a: WriteOmeroArgs) -> Result<()> {
    let mut w = a.write;
    let text = std::fs::read_to_string(&w.settings)
        .with_context(|| format!("reading {}", w.settings.display()))?;
    let mut settings = AcquisitionSettings::from_json(&text)
        .with_context(|| format!("{} is not valid settings", w.settings.display()))?;
    let mut format = match &settings.format {
        FormatSpec::OmeroLocal(f) => f.clone(),
        _ => OmeroLocalFormat::default(),
    };
    let set = |field: &mut String, value: &Option<String>| {
        if let Some(v) = value {
            v.clone_into(field);
        }
    };
    set(&mut format.data_dir, &a.data_dir);
    set(&mut format.staging_dir, &a.staging_dir);
    if let Some(container) = a.container {
        format.container = container;
    }
    if let Some(registration) = a.registration {
        format.registration = registration;
    }
    set(&mut format.omero_executable, &a.omero_executable);
    settings.format = FormatSpec::OmeroLocal(format);
    if let Some(t) = a.target.as_deref().or(w.output.as_deref()) {
        settings.root_path = address(t, "dataset")?.to_string();
    }
    if settings.root_path.is_empty() {
        bail!("give --target omero://dataset/<id> (or set root_path in the settings)");
    }
    // Validate here for a clear error, then hand the normalized settings to `write`.
    settings
        .clone()
        .validate()
        .context("the settings with the omero_local options are not valid")?;
    let tmp = std::env::temp_dir().join(format!(
        "omew-omero-write-{}-{}.json",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::write(&tmp, settings.to_json())
        .with_context(|| format!("writing {}", tmp.display()))?;
    w.settings = tmp.clone();
    w.output = None;
    let result = crate::write::run(&w);
    let _ = std::fs::remove_file(&tmp);
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::process::Command;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    fn python() -> Option<PathBuf> {
        ome_writers_test_support::python()
    }

    /// Every ROMIO fixture, exported through a Stream, read back by zarr-python
    /// (tests/python/check_zarr.py) plane by plane and validated by yaozarrs.
    #[test]
    fn export_pixels_round_trips_through_zarr_python() {
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(repo().join("tests/data/omero/manifest.json")).unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut expects = Vec::new();
        for f in manifest.as_array().unwrap() {
            let s = &f["sizes"];
            let n = |k: &str| s[k].as_u64().unwrap();
            let id = f["pixels_id"].as_u64().unwrap();
            let out = dir.path().join(format!("p{id}.ome.zarr"));
            let args = ExportArgs {
                data_dir: repo().join("tests/data/omero/datadir"),
                pixels_id: id,
                size_x: n("x"),
                size_y: n("y"),
                size_z: n("z"),
                size_c: n("c"),
                size_t: n("t"),
                pixel_type: f["pixel_type"].as_str().unwrap().to_owned(),
                output: out.to_string_lossy().into_owned(),
                overwrite: false,
            };
            let summary = export_pixels(&args).unwrap();
            let (t, c, z) = (n("t"), n("c"), n("z"));
            assert_eq!(summary.shape, vec![t, c, z, n("y"), n("x")]);
            let mut frames = Vec::new();
            for ti in 0..t {
                for ci in 0..c {
                    for zi in 0..z {
                        frames.push(json!([[ti, ci, zi], (ti * c + ci) * z + zi]));
                    }
                }
            }
            let expect = json!({
                "root": out.to_string_lossy(),
                "dtype": f["numpy_dtype"],
                "layout": "image",
                "images": [{
                    "group": "",
                    "shape": summary.shape,
                    "dimension_names": ["t", "c", "z", "y", "x"],
                    "chunks": [1, 1, 1, n("y"), n("x")],
                    "shards": null,
                    "frames": frames,
                }],
                "plate": null,
                "frame_metadata_count": null,
            });
            let p = dir.path().join(format!("expect-{id}.json"));
            std::fs::write(&p, expect.to_string()).unwrap();
            expects.push(p);
        }
        // A wrong size is refused before anything is written.
        let bad = ExportArgs {
            data_dir: repo().join("tests/data/omero/datadir"),
            pixels_id: 1,
            size_x: 5,
            size_y: 4,
            size_z: 2,
            size_c: 2,
            size_t: 2,
            pixel_type: "uint16".to_owned(),
            output: dir
                .path()
                .join("bad.ome.zarr")
                .to_string_lossy()
                .into_owned(),
            overwrite: false,
        };
        let e = export_pixels(&bad).unwrap_err();
        assert!(
            format!("{e:#}").contains("holds 320 bytes, this one has 480"),
            "{e:#}"
        );
        assert!(!dir.path().join("bad.ome.zarr").exists());

        let Some(py) = python() else {
            return;
        };
        let out = Command::new(py)
            .arg(repo().join("tests/python/check_zarr.py"))
            .arg("--strict")
            .args(&expects)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A stand-in for omero-py's `omero`, answering like the recorded transcripts
    /// (tests/data/omero/transcripts) and logging each call.
    #[cfg(unix)]
    fn stand_in(dir: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let exe = dir.join("omero");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> '{d}/calls'
case "$1" in
  hql)
    case "$*" in
      *DatasetImageLink*) printf '#,Col1\n0,101\n1,102\n' ;;
      *"from Pixels p"*) printf '#,Col1,Col2,Col3,Col4,Col5,Col6,Col7,Col8,Col9\n0,1001,7,3,2,3,1,uint16,XYZCT,0\n' ;;
      *) printf '#\n' ;;
    esac ;;
  obj)
    case "$*" in
      *ext-info-get*) echo "No ExternalInfo found: Image:101" >&2; exit 90 ;;
      *"get Dataset:7 id"*) echo 7 ;;
      *"new MapAnnotation"*) echo MapAnnotation:1 ;;
      *"--file -"*)
        while read -r c rest; do
          echo "$c $rest" >> '{d}/script'
          case "$c" in
            map-set) echo MapAnnotation:1 ;;
            new) set -- $rest; echo "$1:5" ;;
          esac
        done ;;
      *) echo "No object found: $4" >&2; exit 78 ;;
    esac ;;
  import)
    for last; do :; done
    test -f "$last/zarr.json" || {{ echo "ERROR  no fileset at $last" >&2; exit 2; }}
    echo "$last" > '{d}/imported'
    printf -- '---\n- Fileset: 31\n  Image: [5]\n' ;;
  *) exit 1 ;;
esac
"#,
            d = dir.display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        exe
    }

    /// A data directory with the ROMIO fixture 1001, and a staging directory.
    fn site(dir: &Path) -> (PathBuf, PathBuf) {
        let data = dir.join("OMERO");
        for f in ["ManagedRepository", "Pixels/Dir-001"] {
            std::fs::create_dir_all(data.join(f)).unwrap();
        }
        std::fs::copy(
            repo().join("tests/data/omero/datadir/Pixels/Dir-001/1001"),
            data.join("Pixels/Dir-001/1001"),
        )
        .unwrap();
        let staging = dir.join("staging");
        std::fs::create_dir_all(&staging).unwrap();
        (data, staging)
    }

    #[cfg(unix)]
    #[test]
    fn list_and_load_through_the_cli() {
        let dir = tempfile::tempdir().unwrap();
        let exe = stand_in(dir.path());
        let (data, _) = site(dir.path());
        let server = ServerArgs {
            data_dir: data,
            omero_executable: exe,
            server: Some("localhost".to_owned()),
            port: Some(4064),
            key: Some("k".to_owned()),
            user: None,
            json: true,
        };
        list(&server, "omero://dataset/7").unwrap();
        let out = dir.path().join("image-101.ome.zarr");
        load(&server, "101", Some(out.to_str().unwrap())).unwrap();
        // The loaded ROMIO image, written through a Stream, holds the fixture's planes.
        let z: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("0/zarr.json")).unwrap()).unwrap();
        assert_eq!(z["shape"], json!([1, 3, 2, 3, 7]));
        let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(calls.lines().count(), 4, "{calls}");
        assert!(
            calls.starts_with("hql -s localhost -p 4064 -k k -q --style csv"),
            "{calls}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn write_streams_stages_and_registers_through_the_cli() {
        let dir = tempfile::tempdir().unwrap();
        let exe = stand_in(dir.path());
        let (data, staging) = site(dir.path());
        let settings = dir.path().join("run.json");
        std::fs::write(
            &settings,
            json!({"dtype": "uint16", "dimensions": [
                {"name": "t", "count": 2}, {"name": "y", "count": 3}, {"name": "x", "count": 4}]})
            .to_string(),
        )
        .unwrap();
        let args = WriteOmeroArgs {
            write: crate::write::WriteArgs {
                settings,
                output: None,
                input: None,
                synthetic: true,
                frames: None,
                frame_metadata: None,
                global_metadata: Vec::new(),
                overwrite: false,
                queue_mib: 16,
                flush_every: 1000,
                encoder_threads: None,
                encoder_priority: crate::write::Priority::Background,
                s3: crate::s3_args::S3Args::default(),
            },
            target: Some("7".to_owned()),
            data_dir: Some(data.to_string_lossy().into_owned()),
            staging_dir: Some(staging.to_string_lossy().into_owned()),
            container: None,
            registration: None,
            omero_executable: Some(exe.to_string_lossy().into_owned()),
        };
        write(args).unwrap();
        let imported = std::fs::read_to_string(dir.path().join("imported")).unwrap();
        let imported = PathBuf::from(imported.trim());
        assert!(
            imported.starts_with(staging.canonicalize().unwrap()),
            "{imported:?}"
        );
        assert!(!imported.to_string_lossy().contains(".partial"));
        assert!(imported.join("0/zarr.json").is_file());
        let script = std::fs::read_to_string(dir.path().join("script")).unwrap();
        assert!(
            script.contains("new ImageAnnotationLink parent=Image:5 child=MapAnnotation:1"),
            "{script}"
        );
        assert!(
            script.contains("map-set MapAnnotation:1 mapValue writer ome-writers-rs"),
            "{script}"
        );
        // Nothing was written under the data directory.
        let mut under_data = Vec::new();
        for e in std::fs::read_dir(data.join("ManagedRepository")).unwrap() {
            under_data.push(e.unwrap().path());
        }
        assert!(under_data.is_empty(), "{under_data:?}");
    }

    #[test]
    fn addresses_accept_bare_ids() {
        assert_eq!(
            address("7", "dataset").unwrap().to_string(),
            "omero://dataset/7"
        );
        assert_eq!(
            address("omero://image/12", "image").unwrap().to_string(),
            "omero://image/12"
        );
        assert!(address("/omero/x", "image").is_err());
    }
}
