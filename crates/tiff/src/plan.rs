//! What to write, decided once from the schema: the OME axis of every index dimension,
//! the `DimensionOrder` (storage order) and the IFD order (acquisition order), the
//! files and their names. Everything the backend cannot write
//! is refused here, before any file exists.

use std::path::{Path, PathBuf};

use ome_writers_backend::BackendError;
use ome_writers_schema::{
    Compression, DType, DimensionType, MultiFileMetadata, Schema, StorageIndex, TiffLayout,
    ome_stem_suffix, tiff_companion_file_name, tiff_position_file_name,
};

use crate::BACKEND;
use crate::error::TiffError;

/// The three OME plane axes besides X and Y.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OmeAxis {
    Z,
    C,
    T,
}

impl OmeAxis {
    fn letter(self) -> char {
        match self {
            Self::Z => 'Z',
            Self::C => 'C',
            Self::T => 'T',
        }
    }

    /// Slot in `[z, c, t]` arrays.
    pub(crate) fn slot(self) -> usize {
        match self {
            Self::Z => 0,
            Self::C => 1,
            Self::T => 2,
        }
    }
}

/// One index dimension (neither position nor Y/X), in acquisition order.
#[derive(Clone, Debug)]
pub(crate) struct Axis {
    /// The OME axis it is written as.
    pub(crate) ome: OmeAxis,
    /// Its count, `None` when unbounded (only the first axis).
    pub(crate) count: Option<u64>,
    /// Index into `schema.dims()`.
    pub(crate) dim: usize,
}

/// How the OME-XML is spread over the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// One file, full OME-XML.
    Single,
    /// Several files, full OME-XML in each.
    Redundant,
    /// Several files, full OME-XML in the first, `BinaryOnly` in the others.
    MasterTiff,
    /// Several files with `BinaryOnly`, full OME-XML in a companion file.
    Companion,
}

/// A file of the dataset.
#[derive(Clone, Debug)]
pub(crate) struct FileRef {
    /// File name, relative to the dataset folder (what the OME-XML refers to).
    pub(crate) name: String,
    /// Full path.
    pub(crate) path: PathBuf,
    /// `urn:uuid:...`.
    pub(crate) uuid: String,
}

impl FileRef {
    fn new(folder: &Path, name: String) -> Self {
        Self {
            path: folder.join(&name),
            name,
            uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
        }
    }
}

/// TIFF compression of the strips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Codec {
    None,
    Lzw,
    Deflate(tiff::encoder::DeflateLevel),
}

/// Everything decided from the schema before writing.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) schema: Schema,
    /// Index dimensions in acquisition order; `axes[0]` is the growth axis.
    pub(crate) axes: Vec<Axis>,
    /// For storage coordinate `k`, the axis (into `axes`) it holds.
    storage_to_axis: Vec<usize>,
    /// `XY` followed by Z, C, T, fastest first, in storage order: the final
    /// `DimensionOrder`.
    pub(crate) dimension_order: String,
    /// The same in acquisition order: the order of the IFDs.
    pub(crate) acquisition_order: String,
    /// Whether IFD order is storage order (they differ at most in axes of length 1).
    pub(crate) sequential: bool,
    pub(crate) mode: Mode,
    /// The output path (`stem.ome.tiff`, or the folder for several files).
    pub(crate) output: PathBuf,
    /// The folder holding every file.
    pub(crate) folder: PathBuf,
    /// Dataset name (the stem of the output path).
    pub(crate) stem: String,
    /// One file per position.
    pub(crate) files: Vec<FileRef>,
    /// The companion OME-XML file, in companion mode.
    pub(crate) companion: Option<FileRef>,
    pub(crate) codec: Codec,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) dtype: DType,
    pub(crate) frame_bytes: usize,
}

fn unsupported(reason: impl Into<String>) -> BackendError {
    BackendError::Unsupported {
        backend: BACKEND,
        reason: reason.into(),
    }
}

/// The largest value of an OME `NonNegativeInt` / `PositiveInt` (an `xsd:int`).
pub(crate) const OME_INT_MAX: u64 = i32::MAX as u64;

impl Plan {
    /// Check that the schema can be written as OME-TIFF and decide how.
    pub(crate) fn new(schema: &Schema) -> Result<Self, BackendError> {
        let Some(layout) = schema.tiff_layout() else {
            return Err(unsupported(
                "the schema does not describe an OME-TIFF output (no TIFF layout)",
            ));
        };
        let Some(output) = schema.output_path() else {
            return Err(unsupported("OME-TIFF needs an output path on disk"));
        };
        let axes = ome_axes(schema)?;
        let orders = Orders::of(schema, &axes);
        let codec = codec(schema)?;
        let (width, height) = frame_size(schema, &axes)?;
        let files = Layout::of(schema, layout, output)?;
        Ok(Self {
            schema: schema.clone(),
            axes,
            storage_to_axis: orders.storage_to_axis,
            dimension_order: orders.storage,
            acquisition_order: orders.acquisition,
            sequential: orders.sequential,
            mode: files.mode,
            output: files.output,
            folder: files.folder,
            stem: files.stem,
            files: files.files,
            companion: files.companion,
            codec,
            width,
            height,
            dtype: schema.dtype(),
            frame_bytes: schema.frame_bytes(),
        })
    }

    /// Planes per step of the growth axis (1 when there is no index axis).
    pub(crate) fn inner_planes(&self) -> u64 {
        self.axes
            .iter()
            .skip(1)
            .map(|a| a.count.unwrap_or(1))
            .product()
    }

    /// The declared extent of the growth axis, `None` when unbounded.
    pub(crate) fn growth_count(&self) -> Option<u64> {
        match self.axes.first() {
            Some(a) => a.count,
            None => Some(1),
        }
    }

    /// The plane number (IFD index in the position's file) of a storage index.
    pub(crate) fn plane_of(&self, index: &StorageIndex) -> Result<u64, TiffError> {
        let coords = index.as_slice();
        let oob = || TiffError::IndexOutOfBounds {
            index: coords.to_vec(),
            extents: self
                .storage_to_axis
                .iter()
                .map(|&a| self.axes[a].count.unwrap_or(0))
                .collect(),
        };
        if coords.len() != self.axes.len() {
            return Err(oob());
        }
        let mut acq = [0u64; ome_writers_schema::MAX_INDEX_AXES];
        for (&c, &a) in coords.iter().zip(&self.storage_to_axis) {
            if self.axes[a].count.is_some_and(|n| c >= n) {
                return Err(oob());
            }
            acq[a] = c;
        }
        let mut plane: u64 = 0;
        for (a, &c) in self.axes.iter().zip(&acq) {
            plane = plane
                .checked_mul(a.count.unwrap_or(1))
                .and_then(|p| p.checked_add(c))
                .ok_or_else(oob)?;
        }
        Ok(plane)
    }

    /// Sizes per axis of the full image with `extent` steps on the growth axis.
    pub(crate) fn full_box(&self, extent: u64) -> Vec<u64> {
        self.axes
            .iter()
            .enumerate()
            .map(|(i, a)| if i == 0 { extent } else { a.count.unwrap_or(1) })
            .collect()
    }

    /// The largest box of whole planes that the first `k >= 1` planes fill completely,
    /// in acquisition order: complete growth steps if there is one, otherwise one step
    /// with complete steps of the next axis, and so on. It describes exactly the
    /// planes `0..product` of the file, so a reader never meets a missing plane.
    pub(crate) fn prefix_box(&self, k: u64) -> Vec<u64> {
        let n = self.axes.len();
        let counts: Vec<u64> = self.axes.iter().map(|a| a.count.unwrap_or(1)).collect();
        let mut out = vec![1u64; n];
        let mut stride: u64 = counts.iter().skip(1).product();
        for i in 0..n {
            let q = k / stride.max(1);
            if q >= 1 {
                out[i] = if i == 0 && self.axes[0].count.is_none() {
                    q
                } else {
                    q.min(counts[i])
                };
                out[i + 1..].copy_from_slice(&counts[i + 1..]);
                return out;
            }
            if i + 1 < n {
                stride /= counts[i + 1].max(1);
            }
        }
        out
    }

    /// Sizes `[Z, C, T]` of a box.
    pub(crate) fn zct_sizes(&self, sizes: &[u64]) -> [u64; 3] {
        let mut out = [1u64; 3];
        for (a, &s) in self.axes.iter().zip(sizes) {
            out[a.ome.slot()] = s;
        }
        out
    }

    /// Coordinates `[z, c, t]` of plane `p` of a box.
    pub(crate) fn zct_of(&self, sizes: &[u64], p: u64) -> [u64; 3] {
        let mut out = [0u64; 3];
        let mut rest = p;
        for (a, &s) in self.axes.iter().zip(sizes).rev() {
            let s = s.max(1);
            out[a.ome.slot()] = rest % s;
            rest /= s;
        }
        out
    }

    /// Where plane `p` (in IFD order, i.e. acquisition order) of a box falls in the
    /// storage-order `DimensionOrder`.
    pub(crate) fn order_index(&self, sizes: &[u64], p: u64) -> u64 {
        let mut coords = [0u64; ome_writers_schema::MAX_INDEX_AXES];
        let mut rest = p;
        let n = sizes.len().min(coords.len());
        for (c, &s) in coords[..n].iter_mut().zip(sizes).rev() {
            let s = s.max(1);
            *c = rest % s;
            rest /= s;
        }
        self.storage_to_axis
            .iter()
            .fold(0, |acc, &a| acc * sizes[a].max(1) + coords[a])
    }

    /// The dimension written as OME axis `ome`, if any.
    pub(crate) fn dim_of(&self, ome: OmeAxis) -> Option<&ome_writers_schema::Dim> {
        self.axes
            .iter()
            .find(|a| a.ome == ome)
            .map(|a| &self.schema.dims()[a.dim])
    }
}

/// Every index dimension as one of OME's Z, C, T (by type, or by name for `other`).
fn ome_axes(schema: &Schema) -> Result<Vec<Axis>, BackendError> {
    let dims = schema.dims();
    // Every index dimension becomes one of Z, C, T.
    let mut axes: Vec<Axis> = Vec::new();
    for &i in schema.index_axes() {
        let d = &dims[i];
        let by_name = match d.name().to_ascii_lowercase().as_str() {
            "t" | "time" => Some(OmeAxis::T),
            "c" | "channel" => Some(OmeAxis::C),
            "z" => Some(OmeAxis::Z),
            _ => None,
        };
        let ome = match d.kind() {
            DimensionType::Time => OmeAxis::T,
            DimensionType::Channel => OmeAxis::C,
            DimensionType::Space => OmeAxis::Z,
            DimensionType::Other | DimensionType::Position => by_name.ok_or_else(|| {
                unsupported(format!(
                    "dimension {:?} has type {}; OME-TIFF only has Z, C and T besides Y and X \
                     (give it type space, channel or time)",
                    d.name(),
                    d.kind().as_str()
                ))
            })?,
        };
        if let Some(other) = axes.iter().find(|a| a.ome == ome) {
            return Err(unsupported(format!(
                "dimensions {:?} and {:?} would both be OME axis {}; OME-TIFF has one Z, one C \
                 and one T axis",
                dims[other.dim].name(),
                d.name(),
                ome.letter()
            )));
        }
        axes.push(Axis {
            ome,
            count: d.count(),
            dim: i,
        });
    }

    Ok(axes)
}

/// The storage and acquisition `DimensionOrder`s, and whether they agree.
struct Orders {
    sequential: bool,
    storage_to_axis: Vec<usize>,
    acquisition: String,
    storage: String,
}

impl Orders {
    fn of(schema: &Schema, axes: &[Axis]) -> Self {
        let dims = schema.dims();
        // Planes are written as they arrive, in acquisition order. When the storage order
        // differs from it (beyond axes of length 1), the final OME-XML places each run of
        // IFDs in the storage-order DimensionOrder with TiffData FirstZ/FirstC/FirstT.
        let moving = |order: &[usize]| -> Vec<usize> {
            order
                .iter()
                .copied()
                .filter(|&i| dims[i].count() != Some(1))
                .collect()
        };
        let sequential = moving(schema.storage_axes()) == moving(schema.index_axes());
        let storage_to_axis: Vec<usize> = schema
            .storage_axes()
            .iter()
            .map(|s| schema.index_axes().iter().position(|a| a == s).unwrap_or(0))
            .collect();
        let order_of = |fastest_last: &mut dyn Iterator<Item = OmeAxis>| {
            let letters: Vec<OmeAxis> = fastest_last.collect();
            let mut order = String::from("XY");
            for a in letters.iter().rev() {
                order.push(a.letter());
            }
            for ome in [OmeAxis::Z, OmeAxis::C, OmeAxis::T] {
                if !letters.contains(&ome) {
                    order.push(ome.letter());
                }
            }
            order
        };
        let acquisition_order = order_of(&mut axes.iter().map(|a| a.ome));
        let order = order_of(&mut storage_to_axis.iter().map(|&k| axes[k].ome));

        Self {
            sequential,
            storage_to_axis,
            acquisition: acquisition_order,
            storage: order,
        }
    }
}

/// The TIFF codec of the schema's compression.
fn codec(schema: &Schema) -> Result<Codec, BackendError> {
    Ok(match schema.compression() {
        Compression::None => Codec::None,
        Compression::Lzw => Codec::Lzw,
        Compression::Deflate => {
            use tiff::encoder::DeflateLevel;
            Codec::Deflate(match schema.compression_level() {
                None => DeflateLevel::Balanced,
                Some(l) if l <= 3 => DeflateLevel::Fast,
                Some(l) if l <= 7 => DeflateLevel::Balanced,
                Some(_) => DeflateLevel::Best,
            })
        }
        other => {
            return Err(unsupported(format!(
                "compression {:?} is not available for OME-TIFF; use lzw, deflate or none",
                other.as_str()
            )));
        }
    })
}

/// The frame's width and height, checked against what TIFF and OME-XML can hold, and
/// the planes per position against what OME-XML can number.
fn frame_size(schema: &Schema, axes: &[Axis]) -> Result<(u32, u32), BackendError> {
    let [h, w] = schema.frame_shape();
    let (Ok(height), Ok(width)) = (u32::try_from(h), u32::try_from(w)) else {
        return Err(unsupported(format!(
            "frame {h} x {w} is larger than TIFF allows"
        )));
    };
    if h > OME_INT_MAX || w > OME_INT_MAX {
        return Err(unsupported(format!(
            "frame {h} x {w} is larger than OME-XML allows"
        )));
    }
    let inner: u128 = axes
        .iter()
        .skip(1)
        .map(|a| u128::from(a.count.unwrap_or(1)))
        .product();
    let planes = inner * u128::from(axes.first().and_then(|a| a.count).unwrap_or(1));
    if planes > u128::from(OME_INT_MAX) {
        return Err(unsupported(format!(
            "{planes} planes per position is more than OME-XML can number"
        )));
    }

    Ok((width, height))
}

/// The files of the dataset and how the OME-XML is spread over them.
struct Layout {
    mode: Mode,
    output: PathBuf,
    folder: PathBuf,
    stem: String,
    files: Vec<FileRef>,
    companion: Option<FileRef>,
}

impl Layout {
    fn of(schema: &Schema, layout: &TiffLayout, output: &Path) -> Result<Self, BackendError> {
        let multi = layout.multi_file;
        let output = output.to_owned();
        let (folder, stem) = if multi {
            let stem = output
                .file_name()
                .map_or_else(|| "image".to_owned(), |n| n.to_string_lossy().into_owned());
            (output.clone(), stem)
        } else {
            let name = output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (stem, _) = ome_stem_suffix(&name);
            let folder = output
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            (folder, stem.to_owned())
        };
        let n_pos = schema.positions().len();
        let files: Vec<FileRef> = if multi {
            (0..n_pos)
                .map(|p| FileRef::new(&folder, tiff_position_file_name(&stem, p, &layout.suffix)))
                .collect()
        } else {
            let name = output
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            vec![FileRef {
                path: output.clone(),
                name,
                uuid: format!("urn:uuid:{}", uuid::Uuid::new_v4()),
            }]
        };
        if !multi && n_pos > 1 {
            return Err(unsupported(
                "several positions need one file each (prefer_single_file must not be \"always\")",
            ));
        }
        let mode = match (multi, layout.metadata) {
            (false, _) => Mode::Single,
            (true, MultiFileMetadata::Redundant) => Mode::Redundant,
            (true, MultiFileMetadata::MasterTiff) => Mode::MasterTiff,
            (true, MultiFileMetadata::Companion) => Mode::Companion,
        };
        // The names validation checked (ome_writers_schema::validate_paths).
        let companion = (mode == Mode::Companion).then(|| {
            FileRef::new(
                &folder,
                tiff_companion_file_name(&stem, &layout.companion_file),
            )
        });
        if let Some(c) = &companion
            && (c.name.contains(['/', '\\']) || c.name == "." || c.name == "..")
        {
            return Err(unsupported(format!(
                "companion_file {:?} must be a plain file name (it lives beside the TIFF files)",
                c.name
            )));
        }

        Ok(Self {
            mode,
            output,
            folder,
            stem,
            files,
            companion,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ome_writers_schema::AcquisitionSettings;

    fn schema(json: &str) -> Schema {
        AcquisitionSettings::from_json(json)
            .and_then(|s| s.validate())
            .unwrap()
    }

    fn dims(spec: &[(&str, u64)]) -> String {
        let d: Vec<String> = spec
            .iter()
            .map(|(n, c)| format!(r#"{{"name": "{n}", "count": {c}}}"#))
            .collect();
        format!(
            r#"{{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8", "dimensions": [{}]}}"#,
            d.join(",")
        )
    }

    fn check_order(spec: &[(&str, u64)], expected: &str) {
        let plan = Plan::new(&schema(&dims(spec))).unwrap();
        assert_eq!(plan.dimension_order, expected, "{spec:?}");
    }

    #[test]
    fn dimension_order_is_the_reverse_of_acquisition() {
        check_order(&[("y", 4), ("x", 4)], "XYZCT");
        check_order(&[("t", 2), ("c", 3), ("z", 4), ("y", 4), ("x", 4)], "XYZCT");
        check_order(&[("t", 2), ("z", 3), ("c", 4), ("y", 4), ("x", 4)], "XYCZT");
        check_order(&[("c", 2), ("t", 3), ("z", 4), ("y", 4), ("x", 4)], "XYZTC");
        check_order(&[("z", 2), ("c", 3), ("t", 4), ("y", 4), ("x", 4)], "XYTCZ");
        check_order(&[("z", 2), ("t", 3), ("y", 4), ("x", 4)], "XYTZC");
        check_order(&[("c", 2), ("y", 4), ("x", 4)], "XYCZT");
        check_order(&[("p", 2), ("t", 3), ("y", 4), ("x", 4)], "XYTZC");
    }

    fn check_refused(json: &str, needle: &str) {
        let err = Plan::new(&schema(json)).unwrap_err();
        assert!(
            matches!(err, BackendError::Unsupported { .. }) && err.to_string().contains(needle),
            "{err}"
        );
    }

    #[test]
    fn refuses_what_it_cannot_write() {
        check_refused(
            r#"{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8",
                "dimensions": [{"name": "angle", "count": 2},
                               {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
            "angle",
        );
        check_refused(
            r#"{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8",
                "dimensions": [{"name": "z", "count": 2}, {"name": "w", "type": "space", "count": 2},
                               {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
            "both be OME axis Z",
        );
        // A codec TIFF cannot write (zstd, blosc) is refused by schema validation.
    }

    #[test]
    fn transposed_storage_keeps_acquisition_order_on_disk() {
        // Acquired T, Z, C; stored T, C, Z.
        let s = schema(
            r#"{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8", "storage_order": ["t", "c", "z", "y", "x"],
                "dimensions": [{"name": "t", "count": 2}, {"name": "z", "count": 3}, {"name": "c", "count": 2},
                               {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
        );
        let plan = Plan::new(&s).unwrap();
        assert!(!plan.sequential);
        assert_eq!(plan.acquisition_order, "XYCZT");
        assert_eq!(plan.dimension_order, "XYZCT");
        // storage index (t, c, z) = (1, 1, 2) is acquisition plane t*6 + z*2 + c = 11
        assert_eq!(
            plan.plane_of(&StorageIndex::new(&[1, 1, 2]).unwrap())
                .unwrap(),
            11
        );
        // ... and storage-order plane t*6 + c*3 + z = 11 as well; plane 1 (z0 c1) is 3.
        let full = plan.full_box(2);
        assert_eq!(plan.order_index(&full, 11), 11);
        assert_eq!(plan.order_index(&full, 1), 3);
        assert_eq!(plan.order_index(&full, 2), 1);
    }

    #[test]
    fn length_one_axes_may_move() {
        let s = schema(
            r#"{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8", "storage_order": ["c", "t", "y", "x"],
                "dimensions": [{"name": "t", "count": 3}, {"name": "c", "count": 1},
                               {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
        );
        let plan = Plan::new(&s).unwrap();
        assert_eq!(
            plan.plane_of(&StorageIndex::new(&[0, 2]).unwrap()).unwrap(),
            2
        );
    }

    #[test]
    fn prefix_box_covers_only_written_planes() {
        let plan = Plan::new(&schema(&dims(&[
            ("t", 5),
            ("c", 2),
            ("z", 3),
            ("y", 2),
            ("x", 2),
        ])))
        .unwrap();
        let check = |k: u64, expected: &[u64]| assert_eq!(plan.prefix_box(k), expected, "k={k}");
        check(1, &[1, 1, 1]);
        check(2, &[1, 1, 2]);
        check(3, &[1, 1, 3]);
        check(4, &[1, 1, 3]);
        check(5, &[1, 1, 3]);
        check(6, &[1, 2, 3]);
        check(7, &[1, 2, 3]);
        check(12, &[2, 2, 3]);
        check(30, &[5, 2, 3]);
        for k in 1..=30 {
            let b = plan.prefix_box(k);
            assert!(b.iter().product::<u64>() <= k);
        }
        let unbounded = schema(
            r#"{"root_path": "/tmp/x.ome.tiff", "dtype": "uint8",
                "dimensions": [{"name": "t", "count": null}, {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
        );
        let plan = Plan::new(&unbounded).unwrap();
        assert_eq!(plan.prefix_box(7), vec![7]);
        let plane = Plan::new(&schema(&dims(&[("y", 2), ("x", 2)]))).unwrap();
        assert_eq!(plane.prefix_box(1), Vec::<u64>::new());
    }

    #[test]
    fn planes_map_to_zct() {
        let plan = Plan::new(&schema(&dims(&[
            ("t", 5),
            ("z", 2),
            ("c", 3),
            ("y", 2),
            ("x", 2),
        ])))
        .unwrap();
        let full = plan.full_box(5);
        assert_eq!(plan.zct_sizes(&full), [2, 3, 5]);
        // plane 7 = t1, z0, c1
        assert_eq!(plan.zct_of(&full, 7), [0, 1, 1]);
        assert_eq!(
            plan.plane_of(&StorageIndex::new(&[1, 0, 1]).unwrap())
                .unwrap(),
            7
        );
        assert!(
            plan.plane_of(&StorageIndex::new(&[1, 2, 1]).unwrap())
                .is_err()
        );
    }

    #[test]
    fn names_files_per_position() {
        let s = schema(
            r#"{"root_path": "/tmp/run.ome.tiff", "dtype": "uint8",
                "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
                "dimensions": [{"name": "p", "count": 2}, {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
        );
        let plan = Plan::new(&s).unwrap();
        assert_eq!(plan.mode, Mode::Companion);
        let names: Vec<&str> = plan.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["run_p000.ome.tiff", "run_p001.ome.tiff"]);
        assert_eq!(plan.files[1].path, Path::new("/tmp/run/run_p001.ome.tiff"));
        assert_eq!(
            plan.companion.as_ref().map(|c| c.name.as_str()),
            Some("run.companion.ome")
        );
    }
}
