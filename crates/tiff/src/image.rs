//! One image's BigTIFF being written, over any medium: planes appended in order (zero
//! planes for skipped ones) and the provisional OME-XML kept in step with them. Shared
//! by the multi-file [`TiffBackend`](crate::TiffBackend) and the single-image
//! [`OmeTiffEncoder`](crate::OmeTiffEncoder).

use std::path::PathBuf;
use std::sync::Arc;

use ome_writers_backend::{BackendError, GlobalMetadata};
use ome_writers_schema::StorageIndex;

use crate::bigtiff::{PageFormat, TiffWriter};
use crate::error::TiffError;
use crate::ome::{self, Document, ImageState};
use crate::plan::{Codec, OME_INT_MAX, Plan};
use crate::read::Strips;
use crate::sink::{PathFile, TiffSink};

/// Buffers reused for every plane.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    ifd: Vec<u8>,
    packed: Vec<u8>,
    /// A zero plane and its encoded form, made on first use.
    zeros: Option<(Vec<u8>, Vec<u8>)>,
    /// The reduced resolutions of the plane being written (`multiscale`).
    levels: crate::pyramid::LevelBufs,
}

/// The BigTIFF of one image (position `p` of the plan).
#[derive(Debug)]
pub(crate) struct ImageWriter<W: TiffSink = PathFile> {
    pub(crate) writer: TiffWriter<W>,
    /// The index-axis extents the provisional OME-XML describes (empty before the
    /// first plane, and for schemas without index axes).
    pub(crate) described: Vec<u64>,
    /// The name I/O errors carry (the file's path).
    name: PathBuf,
    /// The acquisition-level metadata its provisional OME-XML carries (see
    /// [`ImageWriter::set_global`]).
    pub(crate) global: Option<Arc<GlobalMetadata>>,
    /// Provisional documents do not fit the description slots (the global metadata
    /// made them larger): they are written at durability points only, appended.
    defer: bool,
    /// The provisional document on disk is older than the pages or the global metadata.
    stale: bool,
    /// Where each page's strip went, for live views (`read.rs`).
    pub(crate) strips: Option<Arc<Strips>>,
}

/// The provisional OME-XML of position `p` describing `sizes`: a standalone document
/// for that file alone.
pub(crate) fn provisional_xml(
    plan: &Plan,
    p: usize,
    sizes: &[u64],
    global: Option<&GlobalMetadata>,
) -> Result<String, TiffError> {
    // Marked as provisional; position 0's document also records the settings, so that
    // `recover` can finish a dataset whose writer was killed.
    let mut record = vec![(ome::STATUS_KEY, ome::STATUS_ACQUIRING.to_owned())];
    if p == 0 {
        record.push((ome::SETTINGS_KEY, settings_json(plan)));
    }
    let images = [ImageState {
        position: p,
        sizes,
        planes: None,
        record,
    }];
    ome::full_xml(
        plan,
        &Document {
            uuid: &plan.files[p].uuid,
            images: &images,
            file_uuids: false,
            plate: false,
            provisional: true,
            global,
        },
    )
}

/// Bytes to reserve for each provisional description slot of position `p`: its
/// document with every number at its widest.
pub(crate) fn slot_cap(plan: &Plan, p: usize) -> Result<u64, TiffError> {
    let widest = vec![u64::MAX; plan.axes.len()];
    Ok(provisional_xml(plan, p, &widest, None)?.len() as u64 + 64)
}

/// The normalized settings JSON.
pub(crate) fn settings_json(plan: &Plan) -> String {
    // Plain data with string keys: serializing cannot fail.
    serde_json::to_string(plan.schema.settings()).unwrap_or_default()
}

impl<W: TiffSink> ImageWriter<W> {
    /// An image over `writer`, whose I/O errors name `name`.
    pub(crate) fn new(writer: TiffWriter<W>, described: Vec<u64>, name: PathBuf) -> Self {
        Self {
            writer,
            described,
            name,
            global: None,
            defer: false,
            stale: false,
            strips: None,
        }
    }

    pub(crate) fn io_err(&self, e: std::io::Error) -> BackendError {
        BackendError::io(&self.name, e)
    }

    /// Append one plane of position `p`: `data`, or zeros when `None`. The provisional
    /// OME-XML is brought up to date by [`describe`](Self::describe).
    pub(crate) fn append_plane(
        &mut self,
        plan: &Plan,
        format: &PageFormat,
        p: usize,
        scratch: &mut Scratch,
        data: Option<&[u8]>,
    ) -> Result<(), BackendError> {
        let pages = self.writer.pages();
        if pages >= OME_INT_MAX {
            return Err(TiffError::TooLarge {
                what: "planes in one file",
                value: pages + 1,
            }
            .into());
        }
        let description = if pages == 0 {
            let sizes = plan.prefix_box(1);
            let xml = provisional_xml(plan, p, &sizes, self.global.as_deref())?;
            self.described = sizes;
            self.stale = false;
            Some(xml)
        } else {
            None
        };
        let strip: &[u8] = match data {
            Some(frame) => format
                .encode(frame, &mut scratch.packed)
                .map_err(TiffError::Compression)?,
            None => {
                if scratch.zeros.is_none() {
                    let zeros = vec![0u8; plan.frame_bytes];
                    let mut packed = Vec::new();
                    format
                        .encode(&zeros, &mut packed)
                        .map_err(TiffError::Compression)?;
                    scratch.zeros = Some((zeros, packed));
                }
                match (&scratch.zeros, plan.codec) {
                    (Some((zeros, _)), Codec::None) => zeros,
                    (Some((_, packed)), _) => packed,
                    (None, _) => &[],
                }
            }
        };
        let raw = match (data, &scratch.zeros) {
            (Some(frame), _) => frame,
            (None, Some((zeros, _))) => zeros.as_slice(),
            (None, None) => &[],
        };
        let levels = crate::pyramid::reduce_levels(plan, format, raw, &mut scratch.levels)?;
        let result = self.writer.write_page_with_levels(
            format,
            strip,
            description.as_deref().map(str::as_bytes),
            &mut scratch.ifd,
            &levels,
        );
        let at = result.map_err(|e| self.io_err(e))?;
        if let Some(strips) = &self.strips {
            strips.push(at, strip.len() as u64);
        }
        Ok(())
    }

    /// Check one frame of position `p` and append it at its plane, after zero planes
    /// for the frames skipped before it; returns its plane number. The provisional
    /// OME-XML is brought up to date by [`describe`](Self::describe).
    pub(crate) fn write_frame(
        &mut self,
        (plan, format): (&Plan, &PageFormat),
        p: usize,
        scratch: &mut Scratch,
        index: &StorageIndex,
        frame: &[u8],
    ) -> Result<u64, BackendError> {
        if frame.len() != plan.frame_bytes {
            return Err(TiffError::FrameSize {
                expected: plan.frame_bytes,
                got: frame.len(),
            }
            .into());
        }
        let plane = plan.plane_of(index)?;
        let written = self.writer.pages();
        if plane < written {
            return Err(TiffError::OutOfOrder {
                position: p,
                plane,
                written,
            }
            .into());
        }
        if plane >= OME_INT_MAX {
            return Err(TiffError::TooLarge {
                what: "plane number",
                value: plane,
            }
            .into());
        }
        // Frames skipped before this one become zero planes in their IFD slots.
        while self.writer.pages() < plane {
            self.append_plane(plan, format, p, scratch, None)?;
        }
        self.append_plane(plan, format, p, scratch, Some(frame))?;
        Ok(plane)
    }

    /// Bring the provisional OME-XML of position `p` up to date with its pages.
    pub(crate) fn describe(&mut self, plan: &Plan, p: usize) -> Result<(), BackendError> {
        let sizes = plan.prefix_box(self.writer.pages());
        if sizes != self.described || self.stale {
            if self.defer {
                // Until the next durability point (`describe_now`).
                self.stale = true;
                return Ok(());
            }
            self.write_provisional(plan, p, sizes)?;
        }
        Ok(())
    }

    /// At a durability point: write the provisional OME-XML if it is out of date.
    pub(crate) fn describe_now(&mut self, plan: &Plan, p: usize) -> Result<(), BackendError> {
        if self.stale && self.writer.pages() > 0 {
            self.write_provisional(plan, p, plan.prefix_box(self.writer.pages()))?;
        }
        Ok(())
    }

    fn write_provisional(
        &mut self,
        plan: &Plan,
        p: usize,
        sizes: Vec<u64>,
    ) -> Result<(), BackendError> {
        let xml = provisional_xml(plan, p, &sizes, self.global.as_deref())?;
        let result = self.writer.set_provisional(xml.as_bytes());
        result.map_err(|e| self.io_err(e))?;
        self.described = sizes;
        self.stale = false;
        Ok(())
    }

    /// Carry `global` in the provisional OME-XML from the next durability point on.
    /// When the document with it cannot fit the description slots (sized at creation
    /// without it), provisional documents are written at durability points only
    /// (appended to the file), not at every frame.
    pub(crate) fn set_global(
        &mut self,
        plan: &Plan,
        p: usize,
        global: Arc<GlobalMetadata>,
    ) -> Result<(), BackendError> {
        let widest = vec![u64::MAX; plan.axes.len()];
        let len = provisional_xml(plan, p, &widest, Some(&global))?.len() as u64;
        self.defer = !self.writer.fits_slot(len + 64);
        self.global = Some(global);
        self.stale = true;
        Ok(())
    }

    /// Extent of the growth axis that the planes reach.
    pub(crate) fn reached(&self, plan: &Plan) -> u64 {
        self.writer.pages().div_ceil(plan.inner_planes().max(1))
    }

    /// Pad with zero planes to `growth_extent` steps of the growth axis (or more if
    /// the image holds planes beyond them); returns the image's extent.
    pub(crate) fn pad(
        &mut self,
        plan: &Plan,
        format: &PageFormat,
        p: usize,
        scratch: &mut Scratch,
        growth_extent: u64,
    ) -> Result<u64, BackendError> {
        let inner = plan.inner_planes().max(1);
        let reached = self.reached(plan);
        let mut extent = growth_extent.max(reached).max(1);
        if let Some(n) = plan.growth_count() {
            extent = extent.min(n).max(reached);
        }
        let total = extent
            .checked_mul(inner)
            .filter(|&t| t <= OME_INT_MAX)
            .ok_or(TiffError::TooLarge {
                what: "planes in one image",
                value: extent.saturating_mul(inner),
            })?;
        while self.writer.pages() < total {
            self.append_plane(plan, format, p, scratch, None)?;
            self.describe(plan, p)?;
        }
        Ok(extent)
    }

    /// Write the final OME-XML (made durable before and after IFD 0 points at it).
    pub(crate) fn set_final(&mut self, xml: &str) -> Result<(), BackendError> {
        let result = self.writer.set_final(xml.as_bytes());
        result.map_err(|e| self.io_err(e))
    }
}
