//! OME-TIFF pyramids (`multiscale`, ours): each plane's reduced resolutions, written as
//! SubIFDs of its page (bigtiff.rs), computed from the plane in memory by the shared
//! reduction (`ome_writers_backend::reduce_plane`: level k+1 from level k, Y and X
//! halved, rounded up). The OME-XML is unchanged: readers find the levels in the
//! SubIFDs.

use ome_writers_backend::{BackendError, reduce_plane, reduced};

use crate::bigtiff::PageFormat;
use crate::error::TiffError;
use crate::plan::{Codec, Plan};

/// Buffers of the levels of one plane, reused for every plane.
#[derive(Debug, Default)]
pub(crate) struct LevelBufs {
    /// Level k's plane at `planes[k - 1]`.
    planes: Vec<Vec<u8>>,
    /// Their encoded forms (compressed codecs only).
    packed: Vec<Vec<u8>>,
}

/// The levels 1.. of the plane `raw` (level 0), each with its page format and its
/// strip; empty without a pyramid.
pub(crate) fn reduce_levels<'a>(
    plan: &Plan,
    format: &PageFormat,
    raw: &[u8],
    bufs: &'a mut LevelBufs,
) -> Result<Vec<(PageFormat, &'a [u8])>, BackendError> {
    let pyramid = plan.schema.pyramid();
    let n = pyramid.levels() as usize;
    if n <= 1 {
        return Ok(Vec::new());
    }
    bufs.planes.resize_with(n - 1, Vec::new);
    bufs.packed.resize_with(n - 1, Vec::new);
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
    let mut levels = Vec::with_capacity(n - 1);
    for (k, (plane, packed)) in bufs.planes.iter().zip(bufs.packed.iter_mut()).enumerate() {
        let level_format = format.level(u32::try_from(k + 1).unwrap_or(u32::MAX));
        let strip: &[u8] = if plan.codec == Codec::None {
            plane
        } else {
            level_format
                .encode(plane, packed)
                .map_err(TiffError::Compression)?
        };
        levels.push((level_format, strip));
    }
    Ok(levels)
}
