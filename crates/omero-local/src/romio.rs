//! ROMIO pixel files: OMERO's headerless pixel store.
//!
//! A ROMIO file (`Pixels/<id>`) holds the planes of one Pixels object, big-endian, in
//! XYZCT order: X fastest, then Y, Z, C and T, i.e. a C-order `[T][C][Z][Y][X]` array
//! (`ome.io.nio.RomioPixelBuffer::getPlaneOffset` = `t*timepoint + c*stack + z*plane`).

use std::fmt;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use ome_writers_schema::DType;

use crate::OmeroLocalError;
use crate::files::open_regular;

/// The five dimensions of an OMERO Pixels object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sizes {
    /// SizeX (columns).
    pub x: u64,
    /// SizeY (rows).
    pub y: u64,
    /// SizeZ (focal planes).
    pub z: u64,
    /// SizeC (channels).
    pub c: u64,
    /// SizeT (time points).
    pub t: u64,
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "X={} Y={} Z={} C={} T={}",
            self.x, self.y, self.z, self.c, self.t
        )
    }
}

impl Sizes {
    /// Number of planes (Z x C x T).
    pub fn planes(&self) -> u64 {
        self.z * self.c * self.t
    }

    /// Pixels per plane.
    pub fn plane_pixels(&self) -> u64 {
        self.x * self.y
    }

    /// The C-order shape `[T, C, Z, Y, X]`.
    pub fn shape_tczyx(&self) -> [u64; 5] {
        [self.t, self.c, self.z, self.y, self.x]
    }

    /// Index of plane (z, c, t) in XYZCT order: `(t * C + c) * Z + z`.
    pub fn plane_index(&self, z: u64, c: u64, t: u64) -> Result<u64, OmeroLocalError> {
        if z >= self.z || c >= self.c || t >= self.t {
            return Err(OmeroLocalError::PlaneOutOfRange {
                z,
                c,
                t,
                sizes: *self,
            });
        }
        Ok((t * self.c + c) * self.z + z)
    }

    /// Total bytes for `bytes_per_pixel`, refusing zero dimensions and overflow.
    pub fn total_bytes(&self, bytes_per_pixel: usize) -> Result<u64, OmeroLocalError> {
        if [self.x, self.y, self.z, self.c, self.t].contains(&0) {
            return Err(OmeroLocalError::Sizes {
                sizes: *self,
                reason: "every size must be at least 1",
            });
        }
        let overflow = || OmeroLocalError::Sizes {
            sizes: *self,
            reason: "the pixel data would exceed the address space",
        };
        let total = [self.x, self.y, self.z, self.c, self.t]
            .iter()
            .try_fold(bytes_per_pixel as u64, |acc, &n| acc.checked_mul(n))
            .ok_or_else(overflow)?;
        usize::try_from(total).map_err(|_| overflow())?;
        Ok(total)
    }
}

/// The OMERO name of a pixel type (`float` is 32-bit, `double` 64-bit).
pub fn omero_pixel_type_name(dtype: DType) -> &'static str {
    match dtype {
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::I8 => "int8",
        DType::I16 => "int16",
        DType::I32 => "int32",
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

/// Parse an OMERO pixel type name (`uint16`, `float`, `double`); numpy names
/// (`float32`, `float64`, `<u2`) are accepted too. `float` is OMERO's: 32-bit.
/// `bit` and the complex types are refused.
pub fn parse_pixel_type(text: &str) -> Result<DType, OmeroLocalError> {
    match text.trim() {
        "float" => Ok(DType::F32),
        "double" => Ok(DType::F64),
        other => DType::parse(other).ok_or_else(|| OmeroLocalError::PixelType {
            value: text.to_owned(),
        }),
    }
}

/// Copy big-endian pixels into native byte order.
pub fn be_to_native(dtype: DType, src: &[u8], dst: &mut [u8]) {
    match dtype.size() {
        2 => {
            for (d, s) in dst.chunks_exact_mut(2).zip(src.chunks_exact(2)) {
                d.copy_from_slice(&u16::from_be_bytes([s[0], s[1]]).to_ne_bytes());
            }
        }
        4 => {
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&u32::from_be_bytes([s[0], s[1], s[2], s[3]]).to_ne_bytes());
            }
        }
        8 => {
            for (d, s) in dst.chunks_exact_mut(8).zip(src.chunks_exact(8)) {
                let mut b = [0u8; 8];
                b.copy_from_slice(s);
                d.copy_from_slice(&u64::from_be_bytes(b).to_ne_bytes());
            }
        }
        _ => dst.copy_from_slice(src),
    }
}

/// A ROMIO pixel file, memory-mapped read-only: planes are borrowed straight from the
/// page cache, never copied until converted to native byte order.
#[derive(Debug)]
pub struct RomioPixels {
    path: PathBuf,
    sizes: Sizes,
    dtype: DType,
    map: Mmap,
}

impl RomioPixels {
    /// Map the file at `path`, checking that its length is exactly what `sizes` and
    /// `dtype` require.
    pub fn open(
        path: impl AsRef<Path>,
        sizes: Sizes,
        dtype: DType,
    ) -> Result<Self, OmeroLocalError> {
        let path = path.as_ref();
        let expected = sizes.total_bytes(dtype.size())?;
        // A FIFO, device or directory is refused here (it could block or never end).
        let (file, meta) = open_regular(path)?;
        let actual = meta.len();
        if actual != expected {
            return Err(OmeroLocalError::RomioSize {
                path: path.to_owned(),
                sizes,
                pixel_type: omero_pixel_type_name(dtype),
                expected,
                actual,
            });
        }
        // SAFETY: the map is read-only and we never write through it. Mapping is sound
        // as long as no one truncates or rewrites the file while it is mapped. A ROMIO
        // file is written once, when its Pixels are created, and the server opens an
        // existing one read-only from then on (PixelsService: "Pixel buffer file exists
        // returning read-only ROMIO pixel buffer"); nothing in this crate ever writes
        // under a data directory's Pixels/. The length was checked just above, so every
        // slice we hand out lies inside the mapping.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| OmeroLocalError::io(path, e))?;
        Ok(Self {
            path: path.to_owned(),
            sizes,
            dtype,
            map,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The dimensions.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Bytes per plane.
    pub fn plane_bytes(&self) -> usize {
        self.sizes.plane_pixels() as usize * self.dtype.size()
    }

    /// The whole file: big-endian, `[T][C][Z][Y][X]`.
    pub fn as_bytes(&self) -> &[u8] {
        &self.map
    }

    /// Plane (z, c, t), big-endian, borrowed from the mapping (zero copy).
    pub fn plane_be(&self, z: u64, c: u64, t: u64) -> Result<&[u8], OmeroLocalError> {
        let n = self.sizes.plane_index(z, c, t)? as usize;
        let len = self.plane_bytes();
        // In range: the file's length was checked against the sizes at open.
        self.map
            .get(n * len..(n + 1) * len)
            .ok_or(OmeroLocalError::PlaneOutOfRange {
                z,
                c,
                t,
                sizes: self.sizes,
            })
    }

    /// Plane (z, c, t) in native byte order, into `out` (exactly one plane long).
    pub fn read_plane(
        &self,
        z: u64,
        c: u64,
        t: u64,
        out: &mut [u8],
    ) -> Result<(), OmeroLocalError> {
        let src = self.plane_be(z, c, t)?;
        if out.len() != src.len() {
            return Err(OmeroLocalError::Unsupported {
                what: format!("read a plane into a buffer of {} bytes", out.len()),
                reason: format!("a plane of {} is {} bytes", self.sizes, src.len()),
            });
        }
        be_to_native(self.dtype, src, out);
        Ok(())
    }

    /// Every pixel in native byte order, `[T][C][Z][Y][X]`.
    pub fn to_native_vec(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.map.len()];
        be_to_native(self.dtype, &self.map, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plane_index_is_xyzct() {
        let s = Sizes {
            x: 2,
            y: 2,
            z: 3,
            c: 2,
            t: 2,
        };
        assert_eq!(s.plane_index(0, 0, 0).unwrap(), 0);
        assert_eq!(s.plane_index(1, 0, 0).unwrap(), 1);
        assert_eq!(s.plane_index(0, 1, 0).unwrap(), 3);
        assert_eq!(s.plane_index(0, 0, 1).unwrap(), 6);
        assert_eq!(s.plane_index(2, 1, 1).unwrap(), 11);
        assert!(s.plane_index(3, 0, 0).is_err());
    }

    #[test]
    fn pixel_type_names() {
        for (name, d) in [
            ("uint16", DType::U16),
            ("float", DType::F32),
            ("double", DType::F64),
            ("int8", DType::I8),
            ("float32", DType::F32),
        ] {
            assert_eq!(parse_pixel_type(name).unwrap(), d, "{name}");
        }
        for bad in ["bit", "complex", "double-complex", "uint64", ""] {
            assert!(parse_pixel_type(bad).is_err(), "{bad}");
        }
        assert_eq!(omero_pixel_type_name(DType::F32), "float");
    }

    #[test]
    fn sizes_refuse_zero_and_overflow() {
        let zero = Sizes {
            x: 0,
            y: 1,
            z: 1,
            c: 1,
            t: 1,
        };
        assert!(zero.total_bytes(2).is_err());
        let huge = Sizes {
            x: u64::MAX,
            y: 2,
            z: 1,
            c: 1,
            t: 1,
        };
        assert!(huge.total_bytes(2).is_err());
    }
}
