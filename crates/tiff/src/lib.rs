//! OME-TIFF backend (placeholder).
