//! Pixel types.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A supported pixel type. OME-TIFF has no 64-bit integers, so neither do we.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// `uint8`
    U8,
    /// `uint16`
    U16,
    /// `uint32`
    U32,
    /// `int8`
    I8,
    /// `int16`
    I16,
    /// `int32`
    I32,
    /// `float32`
    F32,
    /// `float64`
    F64,
}

impl DType {
    /// Every supported type.
    pub const ALL: [Self; 8] = [
        Self::U8,
        Self::U16,
        Self::U32,
        Self::I8,
        Self::I16,
        Self::I32,
        Self::F32,
        Self::F64,
    ];

    /// The numpy name (`uint16`).
    pub fn name(self) -> &'static str {
        match self {
            Self::U8 => "uint8",
            Self::U16 => "uint16",
            Self::U32 => "uint32",
            Self::I8 => "int8",
            Self::I16 => "int16",
            Self::I32 => "int32",
            Self::F32 => "float32",
            Self::F64 => "float64",
        }
    }

    /// Bytes per pixel.
    pub fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::F64 => 8,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Self::F32 | Self::F64)
    }

    /// The smallest and largest representable values, as f64 (for display windows).
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::U8 => (0.0, f64::from(u8::MAX)),
            Self::U16 => (0.0, f64::from(u16::MAX)),
            Self::U32 => (0.0, f64::from(u32::MAX)),
            Self::I8 => (f64::from(i8::MIN), f64::from(i8::MAX)),
            Self::I16 => (f64::from(i16::MIN), f64::from(i16::MAX)),
            Self::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
            Self::F32 => (f64::from(f32::MIN), f64::from(f32::MAX)),
            Self::F64 => (f64::MIN, f64::MAX),
        }
    }

    /// Parse a numpy dtype name or code (`uint16`, `u2`, `<u2`, `=u2`, `|u1`).
    /// Big-endian codes (`>u2`) are refused: frames are native little-endian.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let t = t
            .strip_prefix('<')
            .or_else(|| t.strip_prefix('='))
            .or_else(|| t.strip_prefix('|'))
            .unwrap_or(t);
        Some(match t {
            "uint8" | "u1" | "B" => Self::U8,
            "uint16" | "u2" | "H" => Self::U16,
            "uint32" | "u4" | "I" => Self::U32,
            "int8" | "i1" | "b" => Self::I8,
            "int16" | "i2" | "h" => Self::I16,
            "int32" | "i4" | "i" => Self::I32,
            "float32" | "f4" | "f" => Self::F32,
            "float64" | "f8" | "d" | "float" => Self::F64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Rust pixel type that frames can be appended as.
///
/// Sealed: implemented for exactly the eight pixel types OME supports here.
pub trait Pixel: bytemuck::Pod + Send + Sync + sealed::Sealed + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;
}

mod sealed {
    /// Only this crate's pixel types implement [`Pixel`](super::Pixel).
    pub trait Sealed {}
}

macro_rules! pixel {
    ($($t:ty => $d:ident),*) => { $(
        impl sealed::Sealed for $t {}
        impl Pixel for $t { const DTYPE: DType = DType::$d; }
    )* };
}
pixel!(u8 => U8, u16 => U16, u32 => U32, i8 => I8, i16 => I16, i32 => I32, f32 => F32, f64 => F64);

/// The allowed values, for error messages.
const EXPECTED: &str =
    "uint8, uint16, uint32, int8, int16, int32, float32 or float64 (or a numpy code such as <u2)";

impl std::str::FromStr for DType {
    type Err = crate::UnknownValue;
    fn from_str(text: &str) -> Result<Self, crate::UnknownValue> {
        Self::parse(text).ok_or_else(|| crate::UnknownValue {
            expected: if text.trim().starts_with('>') {
                "a little-endian type (frames are native little-endian): uint8, uint16, \
                 uint32, int8, int16, int32, float32 or float64"
            } else {
                EXPECTED
            },
            got: text.to_owned(),
        })
    }
}

/// Serialized as the numpy name (`uint16`), what Python's `np.dtype(..).name` writes.
impl Serialize for DType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Read from a numpy name or code ([`DType::parse`]); the error lists the names.
impl<'de> Deserialize<'de> for DType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DType;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<DType, E> {
                text.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn check(value: Value, expected: Result<&str, &str>) {
        let got = serde_json::from_value::<DType>(value.clone()).map_err(|e| e.to_string());
        assert_eq!(
            got.as_ref().map(|d| d.name()).map_err(String::as_str),
            expected,
            "{value}"
        );
    }

    #[test]
    fn numpy_names_and_codes_read_and_others_are_refused() {
        check(json!("uint16"), Ok("uint16"));
        check(json!("<u2"), Ok("uint16"));
        check(json!("|u1"), Ok("uint8"));
        check(json!("float"), Ok("float64"));
        check(
            json!("uint64"),
            Err(
                r#"expected uint8, uint16, uint32, int8, int16, int32, float32 or float64 (or a numpy code such as <u2), got "uint64""#,
            ),
        );
        check(
            json!(">u2"),
            Err(
                r#"expected a little-endian type (frames are native little-endian): uint8, uint16, uint32, int8, int16, int32, float32 or float64, got ">u2""#,
            ),
        );
        check(
            json!(16),
            Err(
                "invalid type: integer `16`, expected uint8, uint16, uint32, int8, int16, int32, float32 or float64 (or a numpy code such as <u2)",
            ),
        );
    }

    #[test]
    fn every_type_serializes_as_its_name() {
        for d in DType::ALL {
            assert_eq!(serde_json::to_value(d).ok(), Some(json!(d.name())));
        }
    }
}
