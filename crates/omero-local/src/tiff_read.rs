//! Reading a single-image OME-TIFF fileset: one IFD per plane, in the image's
//! DimensionOrder (as our tiff backend and Bio-Formats' writers store them).

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use ome_writers_schema::DType;
use tiff::decoder::{Decoder, DecodingResult};

use crate::OmeroLocalError;
use crate::gateway::ImageInfo;

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

/// Read every plane of the single image in `path` into `[T][C][Z][Y][X]`, native order.
pub(crate) fn read_ome_tiff(
    path: &Path,
    info: &ImageInfo,
    dtype: DType,
) -> Result<Vec<u8>, OmeroLocalError> {
    let sizes = info.sizes;
    let total = sizes.total_bytes(dtype.size())? as usize;
    let order = info.dimension_order.to_ascii_uppercase();
    let axes: Vec<char> = order.chars().skip(2).collect();
    let valid = order.starts_with("XY")
        && axes.len() == 3
        && ['Z', 'C', 'T'].iter().all(|a| axes.contains(a));
    if !valid {
        return Err(OmeroLocalError::Unsupported {
            what: format!("read {}", path.display()),
            reason: format!(
                "dimension order {:?} is not an OME order",
                info.dimension_order
            ),
        });
    }
    let size = |a: char| match a {
        'Z' => sizes.z,
        'C' => sizes.c,
        _ => sizes.t,
    };
    let file = File::open(path).map_err(|e| OmeroLocalError::io(path, e))?;
    let mut decoder = Decoder::new(BufReader::new(file)).map_err(|e| tiff_err(path, e))?;
    let plane_bytes = sizes.plane_pixels() as usize * dtype.size();
    let mut out = vec![0u8; total];
    for k in 0..sizes.planes() {
        decoder
            .seek_to_image(k as usize)
            .map_err(|e| tiff_err(path, e))?;
        let (w, h) = decoder.dimensions().map_err(|e| tiff_err(path, e))?;
        if u64::from(w) != sizes.x || u64::from(h) != sizes.y {
            return Err(OmeroLocalError::Unsupported {
                what: format!("read {}", path.display()),
                reason: format!("IFD {k} is {w}x{h}, the image is {sizes} (tiled or pyramidal?)"),
            });
        }
        let result = decoder.read_image().map_err(|e| tiff_err(path, e))?;
        let bytes = native_bytes(result, dtype)
            .filter(|b| b.len() == plane_bytes)
            .ok_or_else(|| OmeroLocalError::Unsupported {
                what: format!("read {}", path.display()),
                reason: format!("IFD {k} does not hold one {dtype} plane"),
            })?;
        let mut idx = [0u64; 3];
        let mut rem = k;
        for (i, a) in axes.iter().enumerate() {
            idx[i] = rem % size(*a);
            rem /= size(*a);
        }
        let get = |a: char| axes.iter().position(|x| *x == a).map_or(0, |i| idx[i]);
        let n = sizes.plane_index(get('Z'), get('C'), get('T'))? as usize;
        out[n * plane_bytes..(n + 1) * plane_bytes].copy_from_slice(&bytes);
    }
    Ok(out)
}
