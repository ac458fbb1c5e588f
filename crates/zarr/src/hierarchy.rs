//! The group hierarchy: root, bioformats2raw series, plate and well groups and their
//! documents; image groups (their array, NGFF metadata and writer attributes) and the
//! batch that replaces their `zarr.json` documents at a durability point.

use std::collections::HashMap;
use std::sync::Arc;

use ome_writers_backend::BackendError;
use ome_writers_schema::{DType, Schema};
use zarrs::array::{Array, ArrayBuilder, data_type};
use zarrs::storage::StoreKey;

use crate::ZarrStore;
use crate::backend::ZarrBackend;
use crate::codecs::bytes_codecs;
use crate::error::ZarrError;
use crate::global::GlobalAttrs;
use crate::names::JOURNAL;
use crate::ngff::{
    self, Bf2RawRoot, GroupDoc, ImageAttrs, ImageMeta, Named, OmeOnly, PlateDef, PlateMeta,
    PlateWell, RootWriterAttrs, SeriesMeta, WellDef, WellImage, WellMeta, WriterAttrs,
};
use crate::units::{Unit, UnitKey};

/// One image group: its array, metadata and the state of its frames.
pub(crate) struct Image {
    /// Group path inside the store, `""` for the root.
    pub(crate) group: String,
    pub(crate) meta: ImageMeta,
    pub(crate) array: Array<dyn ZarrStore>,
    pub(crate) open: HashMap<UnitKey, Unit>,
    /// Highest growth-axis index written, plus one.
    pub(crate) growth_reached: u64,
    /// Growth-axis unit index of the last frame written (units before it are closed).
    pub(crate) growth_unit: u64,
    /// Frames written to this image.
    pub(crate) frames_written: u64,
    /// Per-frame metadata kept in memory (stores without journals), or read back from
    /// the journal at finish.
    pub(crate) frame_metadata: Vec<serde_json::Value>,
    /// Frames that came with metadata.
    pub(crate) metadata_count: u64,
    /// The journal holding per-frame metadata during acquisition, once one is used.
    pub(crate) journal: Option<String>,
    /// The group's `zarr.json` is out of date.
    pub(crate) dirty: bool,
    /// The array shape its `zarr.json` on disk holds (`None`: not written yet); the
    /// array document is rewritten only when the shape changes.
    pub(crate) stored_shape: Option<Vec<u64>>,
}

impl Image {
    pub(crate) fn new(
        schema: &Schema,
        store: &Arc<dyn ZarrStore>,
        p: usize,
        group: String,
        level: u32,
    ) -> Result<Self, BackendError> {
        let position = schema.positions().get(p);
        let name = position.map(|pos| pos.name.clone());
        Ok(Self {
            meta: ngff::image_meta(schema, position, name),
            array: build_array(schema, store.clone(), &group, level)?,
            group,
            open: HashMap::new(),
            growth_reached: 0,
            growth_unit: 0,
            frames_written: 0,
            frame_metadata: Vec::new(),
            metadata_count: 0,
            journal: None,
            dirty: true,
            stored_shape: None,
        })
    }
}

pub(crate) fn build_array(
    schema: &Schema,
    store: Arc<dyn ZarrStore>,
    group: &str,
    level: u32,
) -> Result<Array<dyn ZarrStore>, BackendError> {
    let shape = schema.array_shape(None);
    let (outer, inner) = match schema.shard_shape() {
        Some(shard) => (shard, Some(schema.chunk_shape())),
        None => (schema.chunk_shape(), None),
    };
    let mut builder = match schema.dtype() {
        DType::U8 => ArrayBuilder::new(shape, outer, data_type::uint8(), 0u8),
        DType::U16 => ArrayBuilder::new(shape, outer, data_type::uint16(), 0u16),
        DType::U32 => ArrayBuilder::new(shape, outer, data_type::uint32(), 0u32),
        DType::I8 => ArrayBuilder::new(shape, outer, data_type::int8(), 0i8),
        DType::I16 => ArrayBuilder::new(shape, outer, data_type::int16(), 0i16),
        DType::I32 => ArrayBuilder::new(shape, outer, data_type::int32(), 0i32),
        DType::F32 => ArrayBuilder::new(shape, outer, data_type::float32(), 0f32),
        DType::F64 => ArrayBuilder::new(shape, outer, data_type::float64(), 0f64),
    };
    let names: Vec<String> = schema.array_dims().map(|d| d.name().to_owned()).collect();
    builder.dimension_names(Some(names));
    if let Some(inner) = inner {
        builder.subchunk_shape(inner);
    }
    let codecs = bytes_codecs(schema)?;
    if !codecs.is_empty() {
        builder.bytes_to_bytes_codecs(codecs);
    }
    // Pyramid level k is the array `k` of the image group.
    let path = if group.is_empty() {
        format!("/{level}")
    } else {
        format!("/{group}/{level}")
    };
    Ok(builder
        .build(store, &path)
        .map_err(|source| ZarrError::CreateArray { path, source })?)
}

impl ZarrBackend {
    pub(crate) fn put_json(
        &self,
        key: &str,
        value: &impl serde::Serialize,
    ) -> Result<(), BackendError> {
        let bytes = serde_json::to_vec_pretty(value)?;
        let key = StoreKey::new(key).map_err(|source| ZarrError::StoreKey {
            key: key.to_owned(),
            source,
        })?;
        self.store
            .set(&key, bytes.into())
            .map_err(|e| self.store_err(&key, e))
    }

    pub(crate) fn root_writer_attrs(&self) -> RootWriterAttrs<'_> {
        RootWriterAttrs {
            version: env!("CARGO_PKG_VERSION"),
            settings: &self.settings_json,
        }
    }

    /// Root, series, plate and well groups (everything but the image groups).
    pub(crate) fn write_hierarchy(&mut self) -> Result<(), BackendError> {
        let root_ome = if let Some(plate) = self.schema.plate() {
            self.write_plate(plate)?
        } else if self.images.len() > 1 {
            self.write_series()?
        } else {
            return Ok(());
        };
        // Kept: the root document is written again when the global metadata changes.
        self.root_ome = Some(root_ome);
        self.put_root_doc()
    }

    /// The row and well groups; returns the plate group's `ome` attribute (its wells
    /// and fields).
    fn write_plate(
        &self,
        plate: &ome_writers_schema::Plate,
    ) -> Result<serde_json::Value, BackendError> {
        let version = ngff::NGFF_VERSION;
        let mut wells: Vec<(String, String)> = Vec::new();
        let mut fields: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (pos, group) in self.schema.positions().iter().zip(&self.images) {
            let key = (
                pos.plate_row.clone().unwrap_or_default(),
                pos.plate_column.clone().unwrap_or_default(),
            );
            let field = group
                .group
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            if !fields.contains_key(&key) {
                wells.push(key.clone());
            }
            fields.entry(key).or_default().push(field);
        }
        let def = PlateDef {
            name: plate.name.clone(),
            rows: plate
                .row_names
                .iter()
                .map(|n| Named { name: n.clone() })
                .collect(),
            columns: plate
                .column_names
                .iter()
                .map(|n| Named { name: n.clone() })
                .collect(),
            wells: wells
                .iter()
                .map(|(r, c)| PlateWell {
                    path: format!("{r}/{c}"),
                    row_index: plate.row_names.iter().position(|x| x == r).unwrap_or(0),
                    column_index: plate.column_names.iter().position(|x| x == c).unwrap_or(0),
                })
                .collect(),
            field_count: fields.values().map(Vec::len).max().unwrap_or(0),
        };
        let root_ome = serde_json::to_value(PlateMeta {
            version,
            plate: def,
        })?;
        let mut rows_written = std::collections::HashSet::new();
        for (r, c) in &wells {
            let images = fields
                .get(&(r.clone(), c.clone()))
                .map(|f| f.iter().map(|p| WellImage { path: p.clone() }).collect())
                .unwrap_or_default();
            if rows_written.insert(r.as_str()) {
                self.put_json(
                    &format!("{r}/zarr.json"),
                    &GroupDoc::new(serde_json::Map::new()),
                )?;
            }
            self.put_json(
                &format!("{r}/{c}/zarr.json"),
                &GroupDoc::new(OmeOnly {
                    ome: WellMeta {
                        version,
                        well: WellDef { images },
                    },
                }),
            )?;
        }
        Ok(root_ome)
    }

    /// The `OME` series group; returns the bioformats2raw root's `ome` attribute.
    fn write_series(&self) -> Result<serde_json::Value, BackendError> {
        let version = ngff::NGFF_VERSION;
        let root_ome = serde_json::to_value(Bf2RawRoot { version, layout: 3 })?;
        let series: Vec<String> = self.images.iter().map(|i| i.group.clone()).collect();
        self.put_json(
            "OME/zarr.json",
            &GroupDoc::new(OmeOnly {
                ome: SeriesMeta {
                    version,
                    series: &series,
                },
            }),
        )?;
        Ok(root_ome)
    }

    /// The dirty images' documents, put into place as one batch (one durability step
    /// for all); never into a dataset directory that was replaced.
    pub(crate) fn put_metadata(&mut self, status: &str) -> Result<(), BackendError> {
        self.store.check_root()?;
        self.store.begin_metadata();
        let written = self.put_image_docs(status);
        let committed = match written {
            Ok(()) => self.store.commit_metadata(),
            Err(e) => {
                self.store.discard_metadata();
                Err(e)
            }
        };
        match committed {
            Ok(()) => {
                self.global_dirty = false;
                for p in std::mem::take(&mut self.touched) {
                    if let Some(img) = self.images.get_mut(p) {
                        img.dirty = false;
                        img.stored_shape = Some(img.array.shape().to_vec());
                    }
                }
                Ok(())
            }
            Err(e) => {
                // Nothing of this batch is in place: the arrays are written again.
                for &p in &self.touched {
                    if let Some(img) = self.images.get_mut(p) {
                        img.stored_shape = None;
                    }
                }
                Err(e)
            }
        }
    }

    /// The `zarr.json` documents of every dirty image (the array's only when its shape
    /// changed since it was last stored).
    pub(crate) fn put_image_docs(&self, status: &str) -> Result<(), BackendError> {
        if self.global_dirty && self.root_ome.is_some() && self.level == 0 {
            self.put_root_doc()?;
        }
        for img in self.touched.iter().filter_map(|&p| self.images.get(p)) {
            if img.stored_shape.as_deref() != Some(img.array.shape()) {
                img.array.store_metadata().map_err(|e| {
                    let key = zarrs::node::meta_key_v3(img.array.path());
                    self.store_err(&key, e)
                })?;
            }
            if self.level > 0 {
                // A pyramid level writes its arrays only; level 0 the groups.
                continue;
            }
            let key = if img.group.is_empty() {
                "zarr.json".to_owned()
            } else {
                format!("{}/zarr.json", img.group)
            };
            let doc = GroupDoc::new(ImageAttrs {
                ome: &img.meta,
                ome_writers: WriterAttrs {
                    version: env!("CARGO_PKG_VERSION"),
                    frames_written: img.frames_written,
                    status,
                    settings: img.group.is_empty().then_some(&self.settings_json),
                    frame_metadata: &img.frame_metadata,
                    frame_metadata_count: img.metadata_count,
                    frame_metadata_journal: img.journal.as_ref().map(|_| JOURNAL),
                },
                global: GlobalAttrs(img.group.is_empty().then_some(&self.global)),
            });
            self.put_json(&key, &doc)?;
        }
        Ok(())
    }
}
