//! Stage positions as OME-XML: what each `Plane`'s `PositionX/Y/Z` says, from the
//! position's `x_coord`, `y_coord`, `z_coord` (in the units of the X, Y and Z axes) and
//! the frame's own `position_x/y/z` metadata (micrometres, as in the Python
//! ome-writers), which wins for its plane.

use ome_writers_schema::{Position, StageAxis};

/// Unit of the per-frame `position_x/y/z` metadata.
const FRAME_POSITION_UNIT: &str = "µm";

/// A value with its OME length unit symbol.
pub(crate) type Length = (f64, &'static str);

/// One image's stage coordinates along X, Y, Z, with their units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct StageCoords([Option<Length>; 3]);

impl StageCoords {
    /// The coordinates of `position` (none without one), in `units` (X, Y, Z).
    pub(crate) fn of(position: Option<&Position>, units: &[&'static str; 3]) -> Self {
        let mut out = Self::default();
        if let Some(pos) = position {
            for ((slot, axis), &unit) in out.0.iter_mut().zip(StageAxis::ALL).zip(units) {
                *slot = axis.coord(pos).map(|v| (v, unit));
            }
        }
        out
    }

    /// Whether the position has any coordinate (then every plane is described).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// `PositionX/Y/Z` of a plane whose frame said `frame` (per-frame metadata, in
    /// micrometres): the frame's value where it has one, else the position's.
    pub(crate) fn plane(&self, frame: [Option<f64>; 3]) -> [Option<Length>; 3] {
        let mut out = self.0;
        for (slot, f) in out.iter_mut().zip(frame) {
            if let Some(v) = f {
                *slot = Some((v, FRAME_POSITION_UNIT));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frames_own_position_wins_axis_by_axis() {
        let pos = Position {
            x_coord: Some(1.0),
            z_coord: Some(3.0),
            ..Position::named("a")
        };
        let stage = StageCoords::of(Some(&pos), &["nm", "mm", "cm"]);
        assert!(!stage.is_empty());
        assert_eq!(
            stage.plane([None, None, None]),
            [Some((1.0, "nm")), None, Some((3.0, "cm"))]
        );
        assert_eq!(
            stage.plane([Some(9.0), Some(8.0), None]),
            [Some((9.0, "µm")), Some((8.0, "µm")), Some((3.0, "cm"))]
        );
        assert!(StageCoords::of(None, &["µm"; 3]).is_empty());
        assert!(StageCoords::of(Some(&Position::named("b")), &["µm"; 3]).is_empty());
    }
}
