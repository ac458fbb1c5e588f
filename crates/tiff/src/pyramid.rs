//! OME-TIFF pyramids (`multiscale`, ours): each plane's reduced resolutions, written as
//! SubIFDs of its page (bigtiff.rs), computed from the plane in memory by the shared
//! reduction (`ome_writers_backend::reduce_plane`: level k+1 from level k, Y and X
//! halved, rounded up). The OME-XML is unchanged: readers find the levels in the
//! SubIFDs.
//!
//! Levels are tiled (tiles of at most [`LEVEL_TILE`](crate::bigtiff::LEVEL_TILE) pixels a side, multiples of 16,
//! row by row; edge tiles padded with zeros), as Bio-Formats writes pyramids and as
//! viewers read them: a region of a level costs the tiles it touches, not the whole
//! level. Level 0 stays one strip per plane (Python ome-writers' layout, written
//! straight from the frame buffer).

use ome_writers_backend::{BackendError, reduce_plane, reduced};

use crate::bigtiff::{LevelData, PageFormat};
use crate::error::TiffError;
use crate::plan::{Codec, Plan};

/// Buffers of the levels of one plane, reused for every plane.
#[derive(Debug, Default)]
pub(crate) struct LevelBufs {
    /// Level k's plane at `planes[k - 1]`.
    planes: Vec<Vec<u8>>,
    /// Their tiles, one after the other (encoded, for compressed codecs).
    tiled: Vec<Vec<u8>>,
    /// The bytes of each of those tiles.
    pieces: Vec<Vec<u64>>,
    /// One raw tile being encoded (compressed codecs only).
    tile: Vec<u8>,
    /// Its encoded form.
    packed: Vec<u8>,
}

/// The levels 1.. of the plane `raw` (level 0), each with its page format and its
/// tiles; empty without a pyramid.
pub(crate) fn reduce_levels<'a>(
    plan: &Plan,
    format: &PageFormat,
    raw: &[u8],
    bufs: &'a mut LevelBufs,
) -> Result<Vec<LevelData<'a>>, BackendError> {
    let pyramid = plan.schema.pyramid();
    let n = pyramid.levels() as usize;
    if n <= 1 {
        return Ok(Vec::new());
    }
    bufs.planes.resize_with(n - 1, Vec::new);
    bufs.tiled.resize_with(n - 1, Vec::new);
    bufs.pieces.resize_with(n - 1, Vec::new);
    let size = plan.dtype.size();
    let (mut h, mut w) = (plan.height as usize, plan.width as usize);
    for k in 1..n {
        let (done, rest) = bufs.planes.split_at_mut(k - 1);
        let src: &[u8] = match done.last() {
            Some(below) => below,
            None => raw,
        };
        let Some(out) = rest.first_mut() else {
            break;
        };
        out.resize(reduced(h) * reduced(w) * size, 0);
        reduce_plane(plan.dtype, pyramid.method(), &[src], h, w, out)
            .map_err(TiffError::Pyramid)?;
        (h, w) = (reduced(h), reduced(w));
    }
    let formats: Vec<PageFormat> = (1..n)
        .map(|k| format.level(u32::try_from(k).unwrap_or(u32::MAX)))
        .collect();
    for (k, level_format) in formats.iter().enumerate() {
        let (Some(plane), Some(tiled), Some(pieces)) = (
            bufs.planes.get(k),
            bufs.tiled.get_mut(k),
            bufs.pieces.get_mut(k),
        ) else {
            break;
        };
        let mut tiles = Tiles {
            format: level_format,
            size,
            tile: &mut bufs.tile,
            packed: &mut bufs.packed,
        };
        tiles.write(plane, tiled, pieces)?;
    }
    Ok(formats
        .into_iter()
        .zip(bufs.tiled.iter().zip(bufs.pieces.iter()))
        .map(|(format, (data, pieces))| LevelData {
            format,
            data,
            pieces,
        })
        .collect())
}

/// Cuts one level plane into the tiles its format gives.
struct Tiles<'b> {
    format: &'b PageFormat,
    size: usize,
    tile: &'b mut Vec<u8>,
    packed: &'b mut Vec<u8>,
}

impl Tiles<'_> {
    /// `plane` (the format's height x width pixels) as tiles, row by row, into `out`
    /// (encoded one by one for a compressed codec), with each tile's bytes in `pieces`.
    fn write(
        &mut self,
        plane: &[u8],
        out: &mut Vec<u8>,
        pieces: &mut Vec<u64>,
    ) -> Result<(), BackendError> {
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let (tw, th) = match self.format.tile {
            Some((tw, th)) => (tw as usize, th as usize),
            None => (w, h),
        };
        out.clear();
        pieces.clear();
        let row = w * self.size;
        let tile_row = tw * self.size;
        for ty in (0..h).step_by(th.max(1)) {
            for tx in (0..w).step_by(tw.max(1)) {
                let raw_tile = self.format.codec == Codec::None;
                let dest: &mut Vec<u8> = if raw_tile { &mut *out } else { &mut *self.tile };
                let start = if raw_tile { dest.len() } else { 0 };
                dest.truncate(start);
                dest.resize(start + tile_row * th, 0);
                let cols = tw.min(w - tx) * self.size;
                for y in 0..th.min(h - ty) {
                    let from = (ty + y) * row + tx * self.size;
                    let to = start + y * tile_row;
                    let (Some(src), Some(dst)) =
                        (plane.get(from..from + cols), dest.get_mut(to..to + cols))
                    else {
                        return Err(TiffError::FrameSize {
                            expected: h * row,
                            got: plane.len(),
                        }
                        .into());
                    };
                    dst.copy_from_slice(src);
                }
                let bytes = if raw_tile {
                    (tile_row * th) as u64
                } else {
                    let encoded = self
                        .format
                        .encode(self.tile, self.packed)
                        .map_err(TiffError::Compression)?;
                    out.extend_from_slice(encoded);
                    encoded.len() as u64
                };
                pieces.push(bytes);
            }
        }
        Ok(())
    }
}
