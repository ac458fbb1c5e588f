//! [`OmeTiffEncoder`]: one image (one position) written as an OME-TIFF to any
//! [`TiffSink`], e.g. an in-memory buffer.

use std::collections::BTreeMap;

use ome_writers_backend::{BackendError, DatasetStatus, Progress};
use ome_writers_schema::{Schema, StorageIndex};

use crate::backend::{final_documents, image_record, page_format, stream_record};
use crate::bigtiff::{PageFormat, TiffWriter};
use crate::error::TiffError;
use crate::image::{ImageWriter, Scratch, slot_cap};
use crate::ome::ImageState;
use crate::plan::{Mode, Plan};
use crate::sink::TiffSink;

/// Writes one image as OME-TIFF to a medium `W` (a [`File`](std::fs::File), a
/// `Cursor<Vec<u8>>`, anything [`TiffSink`]): the page writer of
/// [`TiffBackend`](crate::TiffBackend) without its files, locks and journals.
///
/// Built from a schema of one position whose TIFF layout is a single file (others are
/// refused with [`TiffError::NotSingleImage`]); the schema's `root_path` only names the
/// image. Planes are written in acquisition order with
/// [`write_plane`](Self::write_plane), each a BigTIFF page the moment it is written,
/// under a provisional OME-XML; [`finish`](Self::finish) pads the image to the
/// partial-acquisition rule, writes the same final OME-XML as the single-file
/// `TiffBackend` and returns the medium. Misuse (a frame of the wrong length, a plane
/// outside the schema or behind the ones written) is a typed error; after any error
/// the image is recorded as `failed`. Dropped without `finish`, the medium holds a
/// valid OME-TIFF with the provisional OME-XML.
///
/// ```
/// use std::io::Cursor;
/// use ome_writers_backend::Progress;
/// use ome_writers_schema::{Schema, StorageIndex};
/// use ome_writers_tiff::OmeTiffEncoder;
///
/// let schema = Schema::from_json(r#"{
///     "root_path": "run.ome.tiff", "dtype": "uint16",
///     "dimensions": [{"name": "t", "count": 2}, {"name": "c", "count": 2},
///                    {"name": "y", "count": 4}, {"name": "x", "count": 4}]
/// }"#)?;
/// let mut tiff = OmeTiffEncoder::new(Cursor::new(Vec::new()), &schema)?;
/// for t in 0..2 {
///     for c in 0..2 {
///         let index = StorageIndex::new(&[t, c]).unwrap_or_default();
///         tiff.write_plane(&index, &[t as u8; 32])?;
///     }
/// }
/// assert_eq!(tiff.planes_written(), 4);
/// let bytes = tiff.finish(&Progress { growth_extent: 2, complete: true, ..Progress::default() })?
///     .into_inner();
/// assert_eq!(&bytes[..4], b"II\x2b\x00");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OmeTiffEncoder<W: TiffSink> {
    plan: Plan,
    format: PageFormat,
    image: ImageWriter<W>,
    scratch: Scratch,
    /// Data frames written (zero planes not counted).
    frames_written: u64,
    /// A write returned an error: the image can only be recorded as `failed`.
    failed: bool,
}

fn layout_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Single => "single-file",
        Mode::Redundant => "redundant",
        Mode::MasterTiff => "master-tiff",
        Mode::Companion => "companion-file",
    }
}

impl<W: TiffSink> OmeTiffEncoder<W> {
    /// Check that `schema` describes one OME-TIFF image and start it at the start of
    /// `sink`, which should be empty (the BigTIFF header and the description slots are
    /// written now; bytes already past what the encoder writes are left as they are).
    pub fn new(sink: W, schema: &Schema) -> Result<Self, BackendError> {
        let plan = Plan::new(schema)?;
        if plan.mode != Mode::Single || plan.files.len() != 1 {
            return Err(TiffError::NotSingleImage {
                positions: plan.files.len(),
                layout: layout_name(plan.mode),
            }
            .into());
        }
        let format = page_format(&plan);
        let name = plan.files[0].path.clone();
        let writer =
            TiffWriter::new(sink, slot_cap(&plan, 0)?).map_err(|e| BackendError::io(&name, e))?;
        Ok(Self {
            image: ImageWriter::new(writer, Vec::new(), name),
            plan,
            format,
            scratch: Scratch::default(),
            frames_written: 0,
            failed: false,
        })
    }

    /// Write the frame at storage index `index` (the schema's storage axes, without Y
    /// and X). Frames come in acquisition order; a plane skipped before it becomes a
    /// zero plane.
    pub fn write_plane(&mut self, index: &StorageIndex, frame: &[u8]) -> Result<(), BackendError> {
        let result = self.store(index, frame);
        self.failed |= result.is_err();
        result
    }

    fn store(&mut self, index: &StorageIndex, frame: &[u8]) -> Result<(), BackendError> {
        let both = (&self.plan, &self.format);
        self.image
            .write_frame(both, 0, &mut self.scratch, index, frame)?;
        self.frames_written += 1;
        self.image.describe(&self.plan, 0)
    }

    /// Pages written so far (frames and the zero planes before them).
    pub fn planes_written(&self) -> u64 {
        self.image.writer.pages()
    }

    /// Pad the image with zero planes to `progress.growth_extent` steps of its first
    /// index axis (only to the last step reached when the stream or this encoder
    /// failed), write the final OME-XML, make it durable and return the medium.
    pub fn finish(mut self, progress: &Progress) -> Result<W, BackendError> {
        let status = progress.status(self.failed);
        let failed = status == DatasetStatus::Failed;
        let extent = if failed {
            self.image.reached(&self.plan)
        } else {
            progress.growth_extent
        };
        let record = stream_record(self.frames_written, progress, status, extent);
        let extent = self
            .image
            .pad(&self.plan, &self.format, 0, &mut self.scratch, extent)?;
        let sizes = self.plan.full_box(extent);
        let planes = BTreeMap::new();
        let images = [ImageState {
            position: 0,
            sizes: &sizes,
            planes: Some(&planes),
            record: image_record(&self.plan, 0, self.frames_written, &record, 0, failed),
        }];
        let xmls = final_documents(&self.plan, &images, None)?;
        if let Some(xml) = xmls.first() {
            self.image.set_final(xml)?;
        }
        Ok(self.image.writer.into_inner())
    }
}
