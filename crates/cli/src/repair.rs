//! `omew repair PATH`: finish a dataset whose writer was killed, or stopped by a write
//! error.
//!
//! A killed writer leaves a dataset that already opens (the metadata of its last
//! durability point, see docs/layouts.md), but with the status `acquiring`, a shape that
//! may not cover chunks written after that point, and per-frame metadata still in the
//! journal; a writer stopped by a write error (a full disk) leaves the status `failed`.
//! Repair writes the final metadata from what is on disk, by the partial-acquisition
//! rule, and never rewrites a chunk or a page:
//!
//! - **OME-Zarr**: [`ome_writers::recover_zarr`] (`ome_writers_zarr::recover` with the
//!   router's acquisition order): the chunks on disk are checked (a
//!   damaged one set aside) and counted, the shape set from them, the journal folded
//!   and the final metadata written, with a `repaired` record.
//! - **OME-TIFF**: [`ome_writers_tiff::recover`]: zero planes are appended up to the
//!   rule's shape and the final OME-XML written as `finalize` writes it, with a record of
//!   the planes that are padding.
//!
//! - **Scratch**: [`ome_writers::scratch::repair`]: the manifest is rewritten from the
//!   array files (an unbounded first axis measured from them) and the frame metadata
//!   lines, status `partial` (`failed` kept), with a `repaired` record.
//!
//! A dataset whose status is neither `acquiring` nor `failed` (finished, or already
//! repaired) is left untouched, so repair is idempotent.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// Repair the OME-Zarr dataset at an `s3://` address and print what was done
/// ([`ome_writers::recover_zarr_s3`]: recovered in a local copy, the changes uploaded).
pub(crate) fn run_s3(url: &str, s3: &ome_writers::S3Options) -> Result<()> {
    let url: ome_writers_schema::S3Url = url.parse()?;
    let report = ome_writers::recover_zarr_s3(&url, s3)?;
    println!("{report}");
    Ok(())
}

/// Repair the dataset at `path` and print what was done.
pub(crate) fn run(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    // Never beside a writer that is still running (or another repair).
    let _lock = ome_writers_backend::lock_output(path)?;
    if meta.is_dir() && path.join(ome_writers::scratch::MANIFEST).exists() {
        match ome_writers::scratch::repair(path) {
            Ok(report) => println!("{report}"),
            Err(ome_writers::scratch::ScratchError::Finished { status, .. }) => {
                println!(
                    "nothing to repair: {} is final (status {status})",
                    path.display()
                );
            }
            Err(e) => return Err(e.into()),
        }
        return Ok(());
    }
    // A root zarr.json entry (a FIFO included: recovery refuses it unopened), or a
    // directory that holds no data.
    if meta.is_dir() && ome_writers_zarr::recover_applies(path) {
        let report = ome_writers::recover_zarr(path)?;
        println!("{report}");
        return Ok(());
    }
    let recovery = ome_writers_tiff::recover(path).with_context(|| {
        format!(
            "{} is not an OME-Zarr or OME-TIFF dataset we can repair",
            path.display()
        )
    })?;
    if recovery.nothing_written {
        println!(
            "nothing to repair: {} holds no page (the writer was killed before its first \
             frame; no frame was written)",
            path.display()
        );
        return Ok(());
    }
    if recovery.already_final {
        println!(
            "nothing to repair: {} is final ({} file(s))",
            path.display(),
            recovery.files.len()
        );
        return Ok(());
    }
    for f in &recovery.files {
        println!(
            "{}: {} pages found, {} described before, {} zero planes appended{}",
            f.path.display(),
            f.pages_found,
            f.planes_described
                .map_or_else(|| "final".to_owned(), |n| n.to_string()),
            f.zero_planes_appended,
            if f.torn_bytes_cut > 0 {
                format!(", torn tail of {} bytes cut", f.torn_bytes_cut)
            } else {
                String::new()
            }
        );
    }
    println!(
        "repaired {}: shape {:?}, final OME-XML written",
        path.display(),
        recovery.shape
    );
    Ok(())
}
