//! Reading a single-image OME-TIFF fileset plane by plane: one IFD per plane, in the
//! image's DimensionOrder (as our tiff backend and Bio-Formats' writers store them).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ome_writers_schema::DType;
use tiff::decoder::{Decoder, DecodingResult};

use crate::OmeroLocalError;
use crate::files::open_regular;
use crate::gateway::ImageInfo;
use crate::romio::Sizes;

fn tiff_err(path: &Path, e: tiff::TiffError) -> OmeroLocalError {
    OmeroLocalError::Decode {
        path: path.to_owned(),
        source: Box::new(e),
    }
}

/// The native bytes of one decoded IFD, if its type is `dtype`.
fn native_bytes(result: DecodingResult, dtype: DType) -> Option<Vec<u8>> {
    fn bytes<T: bytemuck::Pod>(v: &[T]) -> Vec<u8> {
        bytemuck::cast_slice(v).to_vec()
    }
    Some(match (result, dtype) {
        (DecodingResult::U8(v), DType::U8) => v,
        (DecodingResult::I8(v), DType::I8) => bytes(&v),
        (DecodingResult::U16(v), DType::U16) => bytes(&v),
        (DecodingResult::I16(v), DType::I16) => bytes(&v),
        (DecodingResult::U32(v), DType::U32) => bytes(&v),
        (DecodingResult::I32(v), DType::I32) => bytes(&v),
        (DecodingResult::F32(v), DType::F32) => bytes(&v),
        (DecodingResult::F64(v), DType::F64) => bytes(&v),
        _ => return None,
    })
}

/// A single-image OME-TIFF file, read one IFD (plane) at a time.
pub(crate) struct TiffPlanes {
    path: PathBuf,
    sizes: Sizes,
    dtype: DType,
    /// The three outer axes of the dimension order, fastest first (`ZCT` of `XYZCT`).
    axes: [char; 3],
    decoder: Mutex<Decoder<BufReader<File>>>,
}

impl TiffPlanes {
    /// Open `path` and check that it holds an IFD for every plane `info` declares (no
    /// pixel is read).
    pub(crate) fn open(
        path: &Path,
        info: &ImageInfo,
        dtype: DType,
    ) -> Result<Self, OmeroLocalError> {
        let sizes = info.sizes;
        sizes.total_bytes(dtype.size())?;
        let unsupported = |reason: String| OmeroLocalError::Unsupported {
            what: format!("read {}", path.display()),
            reason,
        };
        let order = info.dimension_order.to_ascii_uppercase();
        let axes = match order
            .strip_prefix("XY")
            .map(|r| r.chars().collect::<Vec<_>>())
        {
            Some(a) if a.len() == 3 && ['Z', 'C', 'T'].iter().all(|x| a.contains(x)) => {
                [a[0], a[1], a[2]]
            }
            _ => {
                return Err(unsupported(format!(
                    "dimension order {:?} is not an OME order",
                    info.dimension_order
                )));
            }
        };
        let (file, _) = open_regular(path)?;
        let mut decoder = Decoder::new(BufReader::new(file)).map_err(|e| tiff_err(path, e))?;
        // Every declared plane must have its IFD: walk the chain to the last one
        // (IFD headers only), so an image declared larger than the file is refused here.
        let planes = sizes.planes();
        let last = usize::try_from(planes - 1)
            .map_err(|_| unsupported(format!("{planes} planes ({sizes}) cannot be addressed")))?;
        decoder.seek_to_image(last).map_err(|e| {
            unsupported(format!(
                "the image is declared as {sizes}: {planes} planes, but IFD {last} cannot be \
                 read ({e})"
            ))
        })?;
        Ok(Self {
            path: path.to_owned(),
            sizes,
            dtype,
            axes,
            decoder: Mutex::new(decoder),
        })
    }

    /// The IFD of plane (z, c, t): the dimension order's mixed radix.
    fn ifd_index(&self, z: u64, c: u64, t: u64) -> u64 {
        let pick = |a: char| match a {
            'Z' => (self.sizes.z, z),
            'C' => (self.sizes.c, c),
            _ => (self.sizes.t, t),
        };
        let [(n0, i0), (n1, i1), (_, i2)] = self.axes.map(pick);
        i0 + n0 * (i1 + n1 * i2)
    }

    /// Plane (t, c, z) into `out` (one plane, native byte order).
    pub(crate) fn read_plane(
        &self,
        t: u64,
        c: u64,
        z: u64,
        out: &mut [u8],
    ) -> Result<(), OmeroLocalError> {
        self.sizes.plane_index(z, c, t)?;
        let k = self.ifd_index(z, c, t);
        let path = &self.path;
        let unsupported = |reason: String| OmeroLocalError::Unsupported {
            what: format!("read {}", path.display()),
            reason,
        };
        let mut decoder = self
            .decoder
            .lock()
            .map_err(|_| unsupported("an earlier read panicked".to_owned()))?;
        let ifd = usize::try_from(k).map_err(|_| unsupported(format!("IFD {k}")))?;
        decoder.seek_to_image(ifd).map_err(|e| tiff_err(path, e))?;
        let (w, h) = decoder.dimensions().map_err(|e| tiff_err(path, e))?;
        if u64::from(w) != self.sizes.x || u64::from(h) != self.sizes.y {
            return Err(unsupported(format!(
                "IFD {k} is {w}x{h}, the image is {} (tiled or pyramidal?)",
                self.sizes
            )));
        }
        let result = decoder.read_image().map_err(|e| tiff_err(path, e))?;
        let bytes = native_bytes(result, self.dtype)
            .filter(|b| b.len() == out.len())
            .ok_or_else(|| {
                unsupported(format!(
                    "IFD {k} does not hold one {} plane of {} bytes",
                    self.dtype,
                    out.len()
                ))
            })?;
        out.copy_from_slice(&bytes);
        Ok(())
    }
}
