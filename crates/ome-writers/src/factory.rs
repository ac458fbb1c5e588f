//! The one place a backend is chosen: from [`Schema::backend`], fixed by validation.

use ome_writers_backend::{Backend, BackendError, Checked};
use ome_writers_schema::{BackendKind, Schema};

use crate::{StreamError, StreamOptions};

/// Create the backend a schema selects. The choice comes only from
/// [`Schema::backend`], which validation fixed.
pub fn create_backend(schema: &Schema) -> Result<Box<dyn Backend>, StreamError> {
    create_backend_with(schema, &StreamOptions::default())
}

/// [`create_backend`] with the options that concern backends (the encoder threads).
///
/// The backend comes behind the contract checks ([`Checked`]): misuse is a
/// [`UsageError`](ome_writers_backend::UsageError), never a panic or a file.
pub fn create_backend_with(
    schema: &Schema,
    options: &StreamOptions,
) -> Result<Box<dyn Backend>, StreamError> {
    Ok(Box::new(Checked::new(
        schema,
        create_unchecked(schema, options)?,
    )))
}

/// The backend the schema selects, without the checks (the stream adds them).
pub(crate) fn create_unchecked(
    schema: &Schema,
    options: &StreamOptions,
) -> Result<Box<dyn Backend>, StreamError> {
    match schema.backend() {
        #[cfg(feature = "omero-local")]
        BackendKind::OmeroLocal => {
            // The staged fileset is written by this factory's own disk backends, so the
            // stream's options (encoder threads) reach it.
            let staging = |staged: &Schema| disk_backend(staged, options);
            Ok(Box::new(
                ome_writers_omero_local::OmeroLocalBackend::create_using(schema, &staging)
                    .map_err(StreamError::Create)?,
            ))
        }
        _ => disk_backend(schema, options).map_err(StreamError::Create),
    }
}

/// A zarr, tiff or scratch backend.
fn disk_backend(
    schema: &Schema,
    options: &StreamOptions,
) -> Result<Box<dyn Backend>, BackendError> {
    #[cfg(not(feature = "zarr"))]
    let _ = options;
    match schema.backend() {
        #[cfg(feature = "s3")]
        BackendKind::Zarr if schema.output_url().is_some() => Ok(Box::new(
            ome_writers_zarr::ZarrBackend::create_s3(schema, &options.encoders, &options.s3)?,
        )),
        #[cfg(feature = "zarr")]
        BackendKind::Zarr => Ok(Box::new(ome_writers_zarr::ZarrBackend::create_with(
            schema,
            &options.encoders,
        )?)),
        #[cfg(feature = "tiff")]
        BackendKind::Tiff => Ok(Box::new(ome_writers_tiff::TiffBackend::create(schema)?)),
        #[cfg(feature = "scratch")]
        BackendKind::Scratch => Ok(Box::new(ome_writers_scratch::ScratchBackend::create(
            schema,
        )?)),
        #[allow(unreachable_patterns)]
        other => Err(BackendError::NotAvailable {
            backend: match other {
                BackendKind::Zarr => "zarr",
                BackendKind::Tiff => "tiff",
                BackendKind::OmeroLocal => "omero_local",
                BackendKind::Scratch => "scratch",
            },
            reason: "this build was compiled without that backend's feature".to_owned(),
        }),
    }
}
