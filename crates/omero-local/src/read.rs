//! The read side: find an OMERO image's pixels on local disk the way the server does,
//! and read them without going through the server.
//!
//! Resolution order (as `ome.io.nio.PixelsService` and omero-zarr-pixel-buffer do):
//! 1. an ExternalInfo of type `com.glencoesoftware.ngff:multiscales` whose lsid is a
//!    local path: that OME-Zarr image;
//! 2. a `Pixels/<id>_pyramid` file: refused ([`OmeroLocalError::Pyramid`]);
//! 3. the image's fileset under `ManagedRepository/`: an OME-Zarr fileset (image chosen
//!    by `Image.series`) or a single-file, single-image OME-TIFF;
//! 4. the ROMIO file `Pixels/<id>`, memory-mapped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ome_writers_schema::{DType, OmeroAddress, OmeroObject, Pixel};
use serde_json::Value;
use zarrs::array::{Array, ArrayBytes};
use zarrs::filesystem::FilesystemStore;

use crate::gateway::{Gateway, ImageInfo, NGFF_ENTITY_TYPE};
use crate::{DataDir, OmeroLocalError, RomioPixels, Sizes, parse_pixel_type};

/// Where an image's pixels were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PixelSource {
    /// An OME-Zarr image group named by the image's ExternalInfo (`omero zarr import`).
    ExternalZarr {
        /// The image group (holds the multiscales metadata).
        group: PathBuf,
    },
    /// An OME-Zarr image group inside the image's fileset.
    FilesetZarr {
        /// The image group.
        group: PathBuf,
    },
    /// A single-image OME-TIFF file of the image's fileset.
    FilesetTiff {
        /// The file.
        path: PathBuf,
    },
    /// A ROMIO pixel file.
    Romio {
        /// `Pixels/<id>`.
        path: PathBuf,
    },
}

enum ImageData {
    Mapped(RomioPixels),
    Decoded(Vec<u8>),
}

/// An OMERO image's pixels: always five axes `t, c, z, y, x` (C order), as OMERO
/// models every image.
pub struct OmeroImage {
    image: u64,
    source: PixelSource,
    sizes: Sizes,
    dtype: DType,
    data: ImageData,
}

impl std::fmt::Debug for OmeroImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmeroImage")
            .field("image", &self.image)
            .field("source", &self.source)
            .field("sizes", &self.sizes)
            .field("dtype", &self.dtype)
            .finish_non_exhaustive()
    }
}

/// The axis names of [`OmeroImage`] arrays.
pub const AXES: [&str; 5] = ["t", "c", "z", "y", "x"];

impl OmeroImage {
    /// The image id.
    pub fn image(&self) -> u64 {
        self.image
    }
    /// Where the pixels came from.
    pub fn source(&self) -> &PixelSource {
        &self.source
    }
    /// The dimensions.
    pub fn sizes(&self) -> Sizes {
        self.sizes
    }
    /// The pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// The axis names: `t, c, z, y, x`.
    pub fn axes(&self) -> [&'static str; 5] {
        AXES
    }
    /// The shape `[T, C, Z, Y, X]`.
    pub fn shape(&self) -> [u64; 5] {
        self.sizes.shape_tczyx()
    }
    /// The memory-mapped ROMIO file, when that is the source (big-endian, zero copy).
    pub fn romio(&self) -> Option<&RomioPixels> {
        match &self.data {
            ImageData::Mapped(r) => Some(r),
            ImageData::Decoded(_) => None,
        }
    }

    fn plane_bytes(&self) -> usize {
        self.sizes.plane_pixels() as usize * self.dtype.size()
    }

    /// Plane (t, c, z) in native byte order into `out` (one plane long).
    pub fn read_plane(
        &self,
        t: u64,
        c: u64,
        z: u64,
        out: &mut [u8],
    ) -> Result<(), OmeroLocalError> {
        match &self.data {
            ImageData::Mapped(r) => r.read_plane(z, c, t, out),
            ImageData::Decoded(bytes) => {
                let n = self.sizes.plane_index(z, c, t)? as usize;
                let len = self.plane_bytes();
                if out.len() != len {
                    return Err(OmeroLocalError::Unsupported {
                        what: format!("read a plane into a buffer of {} bytes", out.len()),
                        reason: format!("a plane of {} is {len} bytes", self.sizes),
                    });
                }
                out.copy_from_slice(&bytes[n * len..(n + 1) * len]);
                Ok(())
            }
        }
    }

    /// Every pixel in native byte order, `[T][C][Z][Y][X]`.
    pub fn to_native_bytes(&self) -> Vec<u8> {
        match &self.data {
            ImageData::Mapped(r) => r.to_native_vec(),
            ImageData::Decoded(bytes) => bytes.clone(),
        }
    }

    /// Every pixel as `T`, `[T][C][Z][Y][X]`; `T` must match the pixel type.
    pub fn to_vec<T: Pixel>(&self) -> Result<Vec<T>, OmeroLocalError> {
        if T::DTYPE != self.dtype {
            return Err(OmeroLocalError::PixelType {
                value: format!("{} (asked for {})", self.dtype, T::DTYPE),
            });
        }
        let bytes = self.to_native_bytes();
        let mut out = vec![T::zeroed(); bytes.len() / self.dtype.size()];
        bytemuck::cast_slice_mut::<T, u8>(&mut out).copy_from_slice(&bytes);
        Ok(out)
    }
}

/// Lists and loads OMERO images from a server's local data directory.
pub struct OmeroReader {
    data_dir: DataDir,
    gateway: Box<dyn Gateway>,
}

impl std::fmt::Debug for OmeroReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmeroReader")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl OmeroReader {
    /// A reader over `data_dir`, asking `gateway` for metadata.
    pub fn new(data_dir: DataDir, gateway: Box<dyn Gateway>) -> Self {
        Self { data_dir, gateway }
    }

    /// The images of a Dataset (`omero://dataset/<id>`), as `omero://image/<id>`.
    pub fn list_images(
        &mut self,
        dataset: OmeroAddress,
    ) -> Result<Vec<OmeroAddress>, OmeroLocalError> {
        if dataset.object != OmeroObject::Dataset {
            return Err(OmeroLocalError::Target {
                target: dataset,
                reason: "images are listed from a Dataset (omero://dataset/<id>)".to_owned(),
            });
        }
        Ok(self
            .gateway
            .list_images(dataset.id)?
            .into_iter()
            .map(|id| OmeroAddress {
                object: OmeroObject::Image,
                id,
            })
            .collect())
    }

    /// Where an image's pixels are on this machine.
    pub fn locate(
        &mut self,
        image: OmeroAddress,
    ) -> Result<(ImageInfo, PixelSource), OmeroLocalError> {
        if image.object != OmeroObject::Image {
            return Err(OmeroLocalError::Target {
                target: image,
                reason: "only images are loaded (omero://image/<id>)".to_owned(),
            });
        }
        let info = self.gateway.image_info(image.id)?;
        let source = resolve(&self.data_dir, &info)?;
        Ok((info, source))
    }

    /// Load an image's pixels from local disk.
    pub fn load(&mut self, image: OmeroAddress) -> Result<OmeroImage, OmeroLocalError> {
        let (info, source) = self.locate(image)?;
        load_source(&info, source)
    }
}

/// Read the pixels at `source` for the image `info` describes.
pub fn load_source(info: &ImageInfo, source: PixelSource) -> Result<OmeroImage, OmeroLocalError> {
    let dtype = parse_pixel_type(&info.pixel_type)?;
    let data = match &source {
        PixelSource::Romio { path } => {
            ImageData::Mapped(RomioPixels::open(path, info.sizes, dtype)?)
        }
        PixelSource::ExternalZarr { group } | PixelSource::FilesetZarr { group } => {
            let (sizes, zdtype, bytes) = read_zarr_image(group)?;
            check_agrees(group, info, sizes, zdtype, dtype)?;
            ImageData::Decoded(bytes)
        }
        PixelSource::FilesetTiff { path } => {
            ImageData::Decoded(crate::tiff_read::read_ome_tiff(path, info, dtype)?)
        }
    };
    Ok(OmeroImage {
        image: info.image,
        source,
        sizes: info.sizes,
        dtype,
        data,
    })
}

fn check_agrees(
    path: &Path,
    info: &ImageInfo,
    sizes: Sizes,
    zdtype: DType,
    dtype: DType,
) -> Result<(), OmeroLocalError> {
    if sizes != info.sizes || zdtype != dtype {
        return Err(OmeroLocalError::ZarrMetadata {
            path: path.to_owned(),
            reason: format!(
                "the array ({sizes}, {zdtype}) disagrees with OMERO's Pixels:{} ({}, {})",
                info.pixels, info.sizes, info.pixel_type
            ),
        });
    }
    Ok(())
}

/// Decide where an image's pixels are (no pixel is read).
pub fn resolve(data_dir: &DataDir, info: &ImageInfo) -> Result<PixelSource, OmeroLocalError> {
    let image = info.image;
    if let Some(ext) = &info.external {
        if ext.entity_type != NGFF_ENTITY_TYPE {
            return Err(OmeroLocalError::Unsupported {
                what: format!("read image {image}"),
                reason: format!(
                    "its ExternalInfo has entityType {:?}; only {NGFF_ENTITY_TYPE} is understood",
                    ext.entity_type
                ),
            });
        }
        if !ext.lsid.starts_with('/') {
            return Err(OmeroLocalError::Unsupported {
                what: format!("read image {image} from {}", ext.lsid),
                reason: "its OME-Zarr is remote (object storage), not local storage".to_owned(),
            });
        }
        return Ok(PixelSource::ExternalZarr {
            group: PathBuf::from(ext.lsid.trim_end_matches('/')),
        });
    }
    let pyramid = data_dir.pyramid_path(info.pixels);
    if pyramid.exists() {
        return Err(OmeroLocalError::Pyramid {
            image,
            path: pyramid,
        });
    }
    if !info.files.is_empty() {
        return resolve_fileset(data_dir, info);
    }
    let romio = data_dir.pixels_path(info.pixels);
    if romio.is_file() {
        return Ok(PixelSource::Romio { path: romio });
    }
    Err(OmeroLocalError::NoLocalPixels {
        image,
        tried: format!(
            "no ExternalInfo, no fileset, no ROMIO file at {}",
            romio.display()
        ),
    })
}

fn resolve_fileset(data_dir: &DataDir, info: &ImageInfo) -> Result<PixelSource, OmeroLocalError> {
    let image = info.image;
    let paths = info
        .files
        .iter()
        .map(|f| data_dir.managed_file(&f.path, &f.name))
        .collect::<Result<Vec<_>, _>>()?;
    // An OME-Zarr fileset: every file lies under a `*.zarr` folder.
    let repo = data_dir.managed_repository();
    let zarr_root = paths.iter().find_map(|p| {
        let rel = p.strip_prefix(&repo).ok()?;
        let mut root = repo.clone();
        for c in rel.components() {
            root.push(c);
            if c.as_os_str()
                .to_string_lossy()
                .to_ascii_lowercase()
                .ends_with(".zarr")
            {
                return Some(root);
            }
        }
        None
    });
    if let Some(root) = zarr_root {
        let group = zarr_series_group(&root, info.series)?;
        return Ok(PixelSource::FilesetZarr { group });
    }
    let tiffs: Vec<&PathBuf> = paths
        .iter()
        .filter(|p| {
            let n = p.to_string_lossy().to_ascii_lowercase();
            n.ends_with(".ome.tif") || n.ends_with(".ome.tiff")
        })
        .collect();
    if tiffs.len() == paths.len() && tiffs.len() == 1 && info.series == 0 {
        return Ok(PixelSource::FilesetTiff {
            path: tiffs[0].clone(),
        });
    }
    Err(OmeroLocalError::Unsupported {
        what: format!("read image {image} from its fileset"),
        reason: format!(
            "only OME-Zarr filesets and single-image, single-file OME-TIFF are read here \
             (the fileset has {} file(s), first {}); other formats need Bio-Formats",
            paths.len(),
            paths[0].display()
        ),
    })
}

fn read_json(path: &Path) -> Result<Option<Value>, OmeroLocalError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| OmeroLocalError::ZarrMetadata {
                    path: path.to_owned(),
                    reason: format!("not JSON: {e}"),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OmeroLocalError::io(path, e)),
    }
}

/// The NGFF attributes of a group: `attributes.ome` (v3, 0.5) or `.zattrs` (v2, 0.4).
fn ngff_attrs(group: &Path) -> Result<Value, OmeroLocalError> {
    if let Some(v) = read_json(&group.join("zarr.json"))? {
        return Ok(v["attributes"]["ome"].clone());
    }
    if let Some(v) = read_json(&group.join(".zattrs"))? {
        return Ok(v);
    }
    Err(OmeroLocalError::ZarrMetadata {
        path: group.to_owned(),
        reason: "no zarr.json or .zattrs: not a zarr group".to_owned(),
    })
}

/// The image group of series `series` in an OME-Zarr fileset root.
fn zarr_series_group(root: &Path, series: u64) -> Result<PathBuf, OmeroLocalError> {
    let attrs = ngff_attrs(root)?;
    if attrs.get("multiscales").is_some() {
        if series == 0 {
            return Ok(root.to_owned());
        }
        return Err(OmeroLocalError::ZarrMetadata {
            path: root.to_owned(),
            reason: format!("a single-image OME-Zarr has no series {series}"),
        });
    }
    if attrs.get("plate").is_some() {
        return Err(OmeroLocalError::Unsupported {
            what: format!("read series {series} of the plate {}", root.display()),
            reason: "reading plate filesets is not implemented; use omero zarr export".to_owned(),
        });
    }
    if attrs.get("bioformats2raw.layout").is_some() {
        let listed = ngff_attrs(&root.join("OME"))
            .ok()
            .and_then(|v| v.get("series").cloned())
            .and_then(|s| s.as_array().cloned());
        let name = match listed {
            Some(list) => list
                .get(series as usize)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| OmeroLocalError::ZarrMetadata {
                    path: root.join("OME"),
                    reason: format!("ome.series has no entry {series}"),
                })?,
            None => series.to_string(),
        };
        return Ok(root.join(name));
    }
    Err(OmeroLocalError::ZarrMetadata {
        path: root.to_owned(),
        reason: "no multiscales, bioformats2raw.layout or plate metadata".to_owned(),
    })
}

fn zarr_dtype(text: &str) -> Option<DType> {
    // v3 names (`uint16`) or v2 typestrings (`<u2`, `|u1`).
    DType::parse(text).or_else(|| match text {
        ">u2" | ">i2" | ">u4" | ">i4" | ">f4" | ">f8" => DType::parse(&text.replace('>', "<")),
        _ => None,
    })
}

/// Read the full-resolution array of an OME-Zarr image group as `[T][C][Z][Y][X]`,
/// native byte order.
pub fn read_zarr_image(group: &Path) -> Result<(Sizes, DType, Vec<u8>), OmeroLocalError> {
    let meta_err = |reason: String| OmeroLocalError::ZarrMetadata {
        path: group.to_owned(),
        reason,
    };
    let attrs = ngff_attrs(group)?;
    let ms = attrs
        .get("multiscales")
        .and_then(|m| m.get(0))
        .ok_or_else(|| meta_err("no multiscales: not an OME-Zarr image group".to_owned()))?;
    let axes: Vec<String> = ms
        .get("axes")
        .and_then(Value::as_array)
        .ok_or_else(|| meta_err("multiscales has no axes".to_owned()))?
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .or_else(|| a.as_str())
                .map(str::to_ascii_lowercase)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| meta_err("an axis has no name".to_owned()))?;
    let path = ms
        .get("datasets")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("path"))
        .and_then(Value::as_str)
        .ok_or_else(|| meta_err("multiscales has no datasets[0].path".to_owned()))?;
    let array_dir = group.join(path);
    let dtype_text = match read_json(&array_dir.join("zarr.json"))? {
        Some(v) => v["data_type"].as_str().map(str::to_owned),
        None => read_json(&array_dir.join(".zarray"))?
            .and_then(|v| v["dtype"].as_str().map(str::to_owned)),
    }
    .ok_or_else(|| meta_err(format!("{path}: no array metadata")))?;
    let dtype = zarr_dtype(&dtype_text)
        .ok_or_else(|| meta_err(format!("{path}: data type {dtype_text:?} is not supported")))?;

    let zarr_err = |e: Box<dyn std::error::Error + Send + Sync>| OmeroLocalError::Decode {
        path: array_dir.clone(),
        source: e,
    };
    let store = Arc::new(FilesystemStore::new(group).map_err(|e| zarr_err(Box::new(e)))?);
    let array = Array::open(store, &format!("/{path}")).map_err(|e| zarr_err(Box::new(e)))?;
    let shape = array.shape().to_vec();
    if shape.len() != axes.len() {
        return Err(meta_err(format!(
            "{} axes but the array has {} dimensions",
            axes.len(),
            shape.len()
        )));
    }
    let mut sizes5 = [1u64; 5];
    let mut position = [None; 5];
    for (i, name) in axes.iter().enumerate() {
        let k = AXES
            .iter()
            .position(|a| a == name)
            .ok_or_else(|| meta_err(format!("axis {name:?} is not one of t, c, z, y, x")))?;
        if position[k].is_some() {
            return Err(meta_err(format!("axis {name:?} appears twice")));
        }
        position[k] = Some(i);
        sizes5[k] = shape[i];
    }
    let sizes = Sizes {
        t: sizes5[0],
        c: sizes5[1],
        z: sizes5[2],
        y: sizes5[3],
        x: sizes5[4],
    };
    sizes.total_bytes(dtype.size())?;
    let bytes = array
        .retrieve_array_subset::<ArrayBytes<'static>>(&array.subset_all())
        .map_err(|e| zarr_err(Box::new(e)))?
        .into_fixed()
        .map_err(|e| zarr_err(Box::new(e)))?
        .into_owned();
    let present: Vec<usize> = position.iter().flatten().copied().collect();
    if present.windows(2).all(|w| w[0] < w[1]) {
        // Already t, c, z, y, x order with singleton axes left out: the same bytes.
        return Ok((sizes, dtype, bytes));
    }
    Ok((
        sizes,
        dtype,
        transpose(&bytes, &shape, &position, sizes, dtype.size()),
    ))
}

/// Reorder a C-order array with axes at `position[k]` (k over t, c, z, y, x) into
/// `[T][C][Z][Y][X]`.
fn transpose(
    src: &[u8],
    shape: &[u64],
    position: &[Option<usize>; 5],
    sizes: Sizes,
    elem: usize,
) -> Vec<u8> {
    let mut strides = vec![0u64; shape.len()];
    let mut s = 1u64;
    for i in (0..shape.len()).rev() {
        strides[i] = s;
        s *= shape[i];
    }
    let stride = |k: usize| position[k].map_or(0, |i| strides[i]);
    let st = [stride(0), stride(1), stride(2), stride(3), stride(4)];
    let mut out = Vec::with_capacity(src.len());
    for t in 0..sizes.t {
        for c in 0..sizes.c {
            for z in 0..sizes.z {
                for y in 0..sizes.y {
                    for x in 0..sizes.x {
                        let off = (t * st[0] + c * st[1] + z * st[2] + y * st[3] + x * st[4])
                            as usize
                            * elem;
                        out.extend_from_slice(&src[off..off + elem]);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_reorders_to_tczyx() {
        // A (y=2, c=3) array, stored y-major: element (y, c) = 10*y + c.
        let src: Vec<u8> = (0..2u8)
            .flat_map(|y| (0..3u8).map(move |c| 10 * y + c))
            .collect();
        let sizes = Sizes {
            x: 1,
            y: 2,
            z: 1,
            c: 3,
            t: 1,
        };
        // position[k] for k over t, c, z, y, x: c is axis 1, y is axis 0.
        let out = transpose(
            &src,
            &[2, 3],
            &[None, Some(1), None, Some(0), None],
            sizes,
            1,
        );
        assert_eq!(out, [0, 10, 1, 11, 2, 12]);
    }

    #[test]
    fn zarr_dtypes() {
        assert_eq!(zarr_dtype("uint16"), Some(DType::U16));
        assert_eq!(zarr_dtype("<u2"), Some(DType::U16));
        assert_eq!(zarr_dtype("|u1"), Some(DType::U8));
        assert_eq!(zarr_dtype("<f8"), Some(DType::F64));
        assert_eq!(zarr_dtype("uint64"), None);
    }
}
