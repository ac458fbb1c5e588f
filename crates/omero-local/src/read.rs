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
//!
//! Loading reads no pixel: [`OmeroImage::read_plane`] reads one plane at a time (from
//! the mapping, one IFD, or the chunks of one zarr plane), so memory stays bounded by a
//! plane whatever the image's size. Only regular files are opened: a FIFO, device or
//! directory in place of a pixel file is an error naming it.

use std::path::{Path, PathBuf};

use ome_writers_schema::{DType, OmeroAddress, OmeroObject, Pixel};

use crate::files::check_regular;
use crate::gateway::{Gateway, ImageInfo, NGFF_ENTITY_TYPE};
use crate::tiff_read::TiffPlanes;
use crate::zarr_read::{ZarrPlanes, zarr_series_group};
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
    Zarr(Box<ZarrPlanes>),
    Tiff(Box<TiffPlanes>),
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
            ImageData::Zarr(_) | ImageData::Tiff(_) => None,
        }
    }

    /// Plane (t, c, z) in native byte order into `out` (one plane long). Reads only
    /// that plane.
    pub fn read_plane(
        &self,
        t: u64,
        c: u64,
        z: u64,
        out: &mut [u8],
    ) -> Result<(), OmeroLocalError> {
        match &self.data {
            ImageData::Mapped(r) => r.read_plane(z, c, t, out),
            ImageData::Zarr(a) => a.read_plane(t, c, z, out),
            ImageData::Tiff(f) => f.read_plane(t, c, z, out),
        }
    }

    /// Every pixel in native byte order, `[T][C][Z][Y][X]`: the whole image in memory
    /// (use [`read_plane`](Self::read_plane) to stream). An image too large to hold is
    /// an error, not an abort.
    pub fn to_native_bytes(&self) -> Result<Vec<u8>, OmeroLocalError> {
        let sizes = self.sizes;
        let too_large = || OmeroLocalError::Sizes {
            sizes,
            reason: "the image does not fit in memory (read it plane by plane)",
        };
        let total =
            usize::try_from(sizes.total_bytes(self.dtype.size())?).map_err(|_| too_large())?;
        let plane = total / usize::try_from(sizes.planes()).map_err(|_| too_large())?;
        let mut out = Vec::new();
        out.try_reserve_exact(total).map_err(|_| too_large())?;
        out.resize(total, 0);
        let mut chunks = out.chunks_exact_mut(plane);
        for t in 0..sizes.t {
            for c in 0..sizes.c {
                for z in 0..sizes.z {
                    if let Some(dst) = chunks.next() {
                        self.read_plane(t, c, z, dst)?;
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every pixel as `T`, `[T][C][Z][Y][X]`; `T` must match the pixel type.
    pub fn to_vec<T: Pixel>(&self) -> Result<Vec<T>, OmeroLocalError> {
        if T::DTYPE != self.dtype {
            return Err(OmeroLocalError::PixelType {
                value: format!("{} (asked for {})", self.dtype, T::DTYPE),
            });
        }
        let bytes = self.to_native_bytes()?;
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
        // Sizes that are zero or overflow are refused before any file is looked at.
        info.sizes
            .total_bytes(parse_pixel_type(&info.pixel_type)?.size())?;
        let source = resolve(&self.data_dir, &info)?;
        Ok((info, source))
    }

    /// Load an image's pixels from local disk.
    pub fn load(&mut self, image: OmeroAddress) -> Result<OmeroImage, OmeroLocalError> {
        let (info, source) = self.locate(image)?;
        load_source(&info, source)
    }
}

/// Open the pixels at `source` for the image `info` describes: sizes and pixel type
/// checked against the file, no pixel read.
pub fn load_source(info: &ImageInfo, source: PixelSource) -> Result<OmeroImage, OmeroLocalError> {
    let dtype = parse_pixel_type(&info.pixel_type)?;
    info.sizes.total_bytes(dtype.size())?;
    let data = match &source {
        PixelSource::Romio { path } => {
            ImageData::Mapped(RomioPixels::open(path, info.sizes, dtype)?)
        }
        PixelSource::ExternalZarr { group } | PixelSource::FilesetZarr { group } => {
            let planes = ZarrPlanes::open(group)?;
            check_agrees(group, info, planes.sizes(), planes.dtype(), dtype)?;
            ImageData::Zarr(Box::new(planes))
        }
        PixelSource::FilesetTiff { path } => {
            ImageData::Tiff(Box::new(TiffPlanes::open(path, info, dtype)?))
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
    if check_regular(&romio)? {
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
    if let ([only], 1, 0) = (tiffs.as_slice(), paths.len(), info.series) {
        return Ok(PixelSource::FilesetTiff {
            path: (*only).clone(),
        });
    }
    Err(OmeroLocalError::Unsupported {
        what: format!("read image {image} from its fileset"),
        reason: format!(
            "only OME-Zarr filesets and single-image, single-file OME-TIFF are read here \
             (the fileset has {} file(s), first {}); other formats need Bio-Formats",
            paths.len(),
            paths
                .first()
                .map_or_else(String::new, |p| p.display().to_string())
        ),
    })
}
