//! The closed sets of string values in a settings file (`prefer_single_file`,
//! `multi_file_metadata`, `container`, `registration`), as enums whose serialized form
//! is exactly the string Python writes. Each is parsed once, when the settings are
//! read; nothing downstream compares strings.

use std::fmt;

/// A string that is not one of a setting's values. Read through
/// [`AcquisitionSettings::from_json`](crate::AcquisitionSettings::from_json), the
/// error is prefixed with the field's JSON path:
/// `format.prefer_single_file: expected auto, always, never or a bool, got "x"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got:?}")]
#[non_exhaustive]
pub struct UnknownValue {
    /// The values allowed, as a sentence (`auto, always or never`).
    pub expected: &'static str,
    /// The value given.
    pub got: String,
}

/// A string enum whose serde form is its JSON name: `as_str`, `parse`, `ALL`, `Display`, `FromStr`, `Serialize`, and a `Deserialize` whose error
/// lists the allowed values. `bool(true => A, false => B)` also accepts JSON booleans.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident expecting $expected:literal
        $(, bool(true => $on:ident, false => $off:ident))? {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in the order the documentation lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The JSON name (what Python writes).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value a JSON name stands for.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;
            fn from_str(text: &str) -> Result<Self, UnknownValue> {
                Self::parse(text).ok_or_else(|| UnknownValue {
                    expected: $expected,
                    got: text.to_owned(),
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expected)
                    }
                    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse().map_err(E::custom)
                    }
                    $(
                        fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<$name, E> {
                            Ok(if b { $name::$on } else { $name::$off })
                        }
                    )?
                }
                d.deserialize_any(V)
            }
        }
    };
}

string_enum! {
    /// When an OME-TIFF dataset is one file (`format.prefer_single_file`). JSON `true`
    /// reads as `always` and `false` as `never`, as in Python.
    #[derive(Default)]
    pub enum PreferSingleFile expecting "auto, always, never or a bool",
        bool(true => Always, false => Never) {
        /// One file for one position, one file per position otherwise.
        #[default]
        Auto = "auto",
        /// Always one file (several positions are refused: not supported).
        Always = "always",
        /// One file per position in a folder, even for one position.
        Never = "never",
    }
}

string_enum! {
    /// How OME-XML is arranged when there are several TIFF files
    /// (`format.multi_file_metadata`).
    #[derive(Default)]
    pub enum MultiFileMetadata expecting "redundant, master-tiff or companion-file" {
        /// Full OME-XML in every file.
        #[default]
        Redundant = "redundant",
        /// Full OME-XML in the first file, `BinaryOnly` in the others.
        MasterTiff = "master-tiff",
        /// Full OME-XML in a companion `.companion.ome` file, `BinaryOnly` in every TIFF.
        Companion = "companion-file",
    }
}

string_enum! {
    /// The container that holds the pixels: what `omero_local` stages
    /// (`format.container`), and the container of a disk format.
    #[derive(Default)]
    pub enum Container expecting "ome-zarr or ome-tiff" {
        /// OME-Zarr 0.5 (the zarr backend).
        #[default]
        OmeZarr = "ome-zarr",
        /// OME-TIFF (the tiff backend).
        OmeTiff = "ome-tiff",
    }
}

impl Container {
    /// The default file or directory suffix (`.ome.zarr`, `.ome.tiff`).
    pub fn suffix(self) -> &'static str {
        match self {
            Self::OmeZarr => ".ome.zarr",
            Self::OmeTiff => ".ome.tiff",
        }
    }

    /// The name for messages (`OME-Zarr`, `OME-TIFF`).
    pub fn title(self) -> &'static str {
        match self {
            Self::OmeZarr => "OME-Zarr",
            Self::OmeTiff => "OME-TIFF",
        }
    }

    /// The container a path's extension names, if any (`.zarr`; `.tif` or `.tiff`;
    /// any case).
    pub fn of_extension(path: &str) -> Option<Self> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".zarr") {
            Some(Self::OmeZarr)
        } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
            Some(Self::OmeTiff)
        } else {
            None
        }
    }
}

string_enum! {
    /// How a staged `omero_local` fileset becomes an OMERO image
    /// (`format.registration`).
    #[derive(Default)]
    pub enum Registration expecting "in-place-import or zarr-import" {
        /// `omero import --transfer=ln_s`: an in-place import (Bio-Formats reads the
        /// staged files through symbolic links in the managed repository).
        #[default]
        InPlaceImport = "in-place-import",
        /// `omero zarr import` (omero-cli-zarr): the image's ExternalInfo points at the
        /// zarr; single images only.
        ZarrImport = "zarr-import",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Deserialize `value` as `T`; `Ok` is the value serialized back, `Err` the message.
    fn check<T>(value: Value, expected: Result<Value, &str>)
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        let got = serde_json::from_value::<T>(value.clone())
            .map(|t| serde_json::to_value(t).unwrap_or(Value::Null))
            .map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map_err(String::as_str),
            expected.as_ref().map_err(|e| *e),
            "{value}"
        );
    }

    #[test]
    fn values_round_trip_and_bad_ones_list_the_allowed() {
        check::<PreferSingleFile>(json!("auto"), Ok(json!("auto")));
        check::<PreferSingleFile>(json!("never"), Ok(json!("never")));
        check::<PreferSingleFile>(json!(true), Ok(json!("always")));
        check::<PreferSingleFile>(json!(false), Ok(json!("never")));
        check::<PreferSingleFile>(
            json!("x"),
            Err(r#"expected auto, always, never or a bool, got "x""#),
        );
        check::<PreferSingleFile>(
            json!(3),
            Err("invalid type: integer `3`, expected auto, always, never or a bool"),
        );
        check::<MultiFileMetadata>(json!("companion-file"), Ok(json!("companion-file")));
        check::<MultiFileMetadata>(
            json!("Redundant"),
            Err(r#"expected redundant, master-tiff or companion-file, got "Redundant""#),
        );
        check::<MultiFileMetadata>(
            json!(true),
            Err("invalid type: boolean `true`, expected redundant, master-tiff or companion-file"),
        );
        check::<Container>(json!("ome-tiff"), Ok(json!("ome-tiff")));
        check::<Container>(
            json!("zarr"),
            Err(r#"expected ome-zarr or ome-tiff, got "zarr""#),
        );
        check::<Registration>(json!("zarr-import"), Ok(json!("zarr-import")));
        check::<Registration>(
            json!(""),
            Err(r#"expected in-place-import or zarr-import, got """#),
        );
    }

    #[test]
    fn every_value_parses_from_its_name() {
        for v in PreferSingleFile::ALL {
            assert_eq!(v.as_str().parse(), Ok(*v));
        }
        for v in MultiFileMetadata::ALL {
            assert_eq!(v.as_str().parse(), Ok(*v));
        }
        for v in Container::ALL {
            assert_eq!(v.as_str().parse(), Ok(*v));
        }
        for v in Registration::ALL {
            assert_eq!(v.as_str().parse(), Ok(*v));
        }
    }
}

string_enum! {
    /// How a pyramid level's pixel is computed from the (up to 2x2, or 2x2x2 with
    /// `downsample_z`) pixels of the level below (`multiscale.method`, ours).
    #[derive(Default)]
    pub enum ReduceMethod expecting "mean, decimate, min or max" {
        /// The mean of the pixels that exist, rounded half to even for integer types.
        #[default]
        Mean = "mean",
        /// The first pixel (top left, lowest z): plain subsampling.
        Decimate = "decimate",
        /// The smallest pixel (NaN ignored for floats unless all are NaN).
        Min = "min",
        /// The largest pixel (NaN ignored for floats unless all are NaN).
        Max = "max",
    }
}
