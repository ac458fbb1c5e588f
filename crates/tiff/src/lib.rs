//! The OME-TIFF backend: BigTIFF files written one IFD per plane as frames arrive,
//! with OME-XML 2016-06 metadata that Bio-Formats, tifffile and the OME schema accept.
//!
//! [`TiffBackend::create`] checks the schema and refuses, before writing anything, what
//! OME-TIFF cannot hold (dimensions that are not Z, C or T, two dimensions on one of
//! them, zstd compression). Planes are written in acquisition order; a different
//! storage order is expressed in the final OME-XML, whose `DimensionOrder` follows the
//! storage order and whose `TiffData` elements place each run of IFDs. Each position
//! gets its own file (`stem_p000.ome.tiff`, ... in the folder `stem` when there are
//! several), with the OME-XML in every file, in the first file only (`master-tiff`) or
//! in a `stem.companion.ome` file, as the schema's TIFF layout says; files refer to each
//! other by relative name only, so a dataset can be moved.
//!
//! Redundant OME-XML costs the square of the positions: every file repeats every
//! image's metadata, measured at about 790 bytes per image for a minimal one
//! (`tests/redundant.rs`: 8.2 KB of OME-XML per file for 10 positions, 79 KB for 100,
//! 159 KB for 200), so N positions write about 0.8·N² KB in all (7.9 MB for 100, some
//! 800 MB for 1000), while companion mode writes the document once and 474 bytes
//! (`BinaryOnly`) per file. Creating a redundant dataset of more than 100 positions logs
//! a warning that suggests `multi_file_metadata: "companion-file"`.
//!
//! **Invariant:** at every moment each file on disk is a valid BigTIFF whose first IFD
//! holds an OME-XML document that describes only planes present in the file: a
//! provisional, standalone one while writing (the largest block of planes held
//! completely, in the order they were written), then the final one after
//! [`finalize`](ome_writers_backend::Backend::finalize), where `SizeZ`/`SizeC`/`SizeT`,
//! `PlaneCount` and the number of IFDs agree. Planes are never rewritten: a skipped
//! frame becomes a zero plane in its IFD slot as soon as a later frame of the same
//! position arrives, or at finalize.
//!
//! The partial-acquisition rule: each image keeps `progress.growth_extent` steps of its
//! first (outermost) index axis, or more if it holds planes beyond them, at least one
//! (OME sizes are positive); every plane inside that shape that was not written is a
//! zero plane. Dropping the backend unfinalized finalizes it with the extent reached.
//!
//! Failures: after any error of its own (a `write` or `flush` that returned one, e.g. a
//! full disk) or when the stream says so ([`Progress::failed`](ome_writers_backend::Progress)),
//! `finalize` records the status `failed` and the frames actually stored (pages on
//! disk holding a frame), pads only within the last step those pages reach, and
//! records the settings so that [`recover`] can finish it again later (as `partial`,
//! or `complete` if every declared plane is on disk). A file unlinked or replaced
//! while it is written (its open handle's device and inode no longer those at its
//! path) fails the next durability point and `finalize` with
//! [`TiffError::Vanished`], naming it.
//!
//! Per-frame metadata keys `delta_t` and `exposure_time` (seconds) and `position_x/y/z`
//! (micrometres) become `Plane` attributes; other keys go to a `MapAnnotation`
//! referenced by the plane. Until finish the metadata lives in a journal beside each
//! file (`run.ome.tiff`[`JOURNAL_SUFFIX`], one JSON line per frame, synced at every
//! durability point), so it survives a crash: finish and [`recover`] fold it into the
//! `Plane` elements and remove it. Each image also references a `MapAnnotation`
//! recording the acquisition (status, frames written to it, and the stream's counts).
//! A position's stage coordinates (`x_coord`, `y_coord`, `z_coord`, in the units of the
//! X, Y and Z axes, µm for an axis without one) become its `StageLabel` and, in the
//! final OME-XML, every plane's `PositionX/Y/Z`, where a frame's own `position_x/y/z`
//! wins.
//! Compression is none, LZW or Deflate (levels 0-3, 4-7 and 8-9 map to the encoder's
//! fast, balanced, best).
//!
//! The page writer is generic over the medium ([`TiffSink`]: `Write + Seek + Send`,
//! implemented for [`File`](std::fs::File) and `Cursor<Vec<u8>>`); [`TiffBackend`] is
//! the path-based, multi-file API on top, and [`OmeTiffEncoder`] writes one image (one
//! position, single-file layout) to any medium, e.g. into memory, with the same final
//! OME-XML as the single-file backend. The encoder has no journal, lock or companion
//! file: per-frame metadata and crash recovery are the backend's.
//!
//! ```
//! use ome_writers_backend::{Backend, Progress};
//! use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
//! use ome_writers_tiff::TiffBackend;
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("run.ome.tiff");
//! let schema = Schema::from_json(&format!(r#"{{
//!     "root_path": {path:?}, "dtype": "uint8",
//!     "dimensions": [{{"name": "t", "count": 2}}, {{"name": "y", "count": 4}}, {{"name": "x", "count": 4}}]
//! }}"#))?;
//! let mut tiff = TiffBackend::create(&schema)?;
//! for t in 0..2 {
//!     let index = StorageIndex::new(&[t]).unwrap_or_default();
//!     tiff.write(PositionIndex(0), &index, &[t as u8; 16], None)?;
//! }
//! let summary = tiff.finalize(&Progress { growth_extent: 2, complete: true, ..Progress::default() })?;
//! assert_eq!(summary.shape, vec![2, 4, 4]);
//! assert_eq!(summary.paths, vec![path]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backend;
mod bigtiff;
mod encoder;
mod error;
mod global;
mod image;
mod journal;
mod ome;
mod owned;
mod plan;
mod pyramid;
mod read;
mod recover;
mod sink;
mod stage;

pub use backend::TiffBackend;
pub use encoder::OmeTiffEncoder;
pub use error::TiffError;
pub use global::set_global_metadata;
pub use journal::JOURNAL_SUFFIX;
pub use recover::{RecoveredFile, Recovery, recover};
pub use sink::TiffSink;

/// Backend name in errors.
const BACKEND: &str = "tiff";
