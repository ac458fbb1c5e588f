//! Typed OMERO addresses: a virtual location inside an OMERO server, never a path.

use std::fmt;
use std::str::FromStr;

use crate::SchemaError;

/// The kind of OMERO object an address points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OmeroObject {
    /// A Dataset (images are linked to it).
    Dataset,
    /// A Screen (plates are linked to it).
    Screen,
    /// An Image.
    Image,
    /// A Plate.
    Plate,
}

/// `omero://dataset/7`, `omero://screen/3`, `omero://image/123`, `omero://plate/5`.
///
/// It has no conversion to a filesystem path: a disk backend cannot be handed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OmeroAddress {
    /// The object kind.
    pub object: OmeroObject,
    /// The object id.
    pub id: u64,
}

/// The scheme prefix of OMERO addresses.
pub const OMERO_SCHEME: &str = "omero://";

impl OmeroAddress {
    /// Whether `text` is written as an OMERO address (whatever its validity).
    pub fn looks_like(text: &str) -> bool {
        text.trim_start()
            .to_ascii_lowercase()
            .starts_with(OMERO_SCHEME)
            || text.starts_with("/omero/")
    }
}

impl FromStr for OmeroAddress {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| SchemaError::invalid("root_path", format!("{s:?}"), reason);
        let rest = s
            .strip_prefix(OMERO_SCHEME)
            .ok_or_else(|| bad("an OMERO address starts with omero://"))?;
        let (kind, id) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected omero://<dataset|screen|image|plate>/<id>"))?;
        let object = match kind.to_ascii_lowercase().as_str() {
            "dataset" => OmeroObject::Dataset,
            "screen" => OmeroObject::Screen,
            "image" => OmeroObject::Image,
            "plate" => OmeroObject::Plate,
            _ => {
                return Err(bad(
                    "the object kind must be dataset, screen, image or plate",
                ));
            }
        };
        let id = id
            .trim_end_matches('/')
            .parse::<u64>()
            .map_err(|_| bad("the object id must be a non-negative integer"))?;
        Ok(Self { object, id })
    }
}

impl fmt::Display for OmeroAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.object {
            OmeroObject::Dataset => "dataset",
            OmeroObject::Screen => "screen",
            OmeroObject::Image => "image",
            OmeroObject::Plate => "plate",
        };
        write!(f, "{OMERO_SCHEME}{kind}/{}", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        for text in ["omero://dataset/7", "omero://image/123", "omero://screen/0"] {
            let a: OmeroAddress = text.parse().expect("valid");
            assert_eq!(a.to_string(), text);
        }
        for text in [
            "omero://dataset/x",
            "omero://thing/1",
            "/omero/plate_1",
            "omero://",
        ] {
            assert!(text.parse::<OmeroAddress>().is_err(), "{text}");
        }
        assert!(OmeroAddress::looks_like("/omero/plate_403_outputs"));
    }
}
