//! Stage positions: which spatial dimension carries which coordinate of a
//! [`Position`] (`x_coord`, `y_coord`, `z_coord`).
//!
//! The rule, shared by every backend: X is the last dimension and Y the one before it
//! (the frame), Z the space dimension that is not a frame dimension (validation allows
//! at most one for OME-Zarr; OME-TIFF's Z axis). The coordinates are taken as given, in
//! the unit of the dimension they fall on.

use crate::schema::{Dim, Schema};
use crate::settings::{DimensionType, Position};

/// One of the stage's three axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StageAxis {
    /// `x_coord`, on the last dimension.
    X,
    /// `y_coord`, on the second-to-last dimension.
    Y,
    /// `z_coord`, on the space dimension that is not a frame dimension.
    Z,
}

impl StageAxis {
    /// X, Y, Z.
    pub const ALL: [Self; 3] = [Self::X, Self::Y, Self::Z];

    /// The coordinate of `position` along this axis.
    pub fn coord(self, position: &Position) -> Option<f64> {
        match self {
            Self::X => position.x_coord,
            Self::Y => position.y_coord,
            Self::Z => position.z_coord,
        }
    }

    /// The settings field that holds it (`x_coord`, ...).
    pub fn field(self) -> &'static str {
        match self {
            Self::X => "x_coord",
            Self::Y => "y_coord",
            Self::Z => "z_coord",
        }
    }
}

impl Position {
    /// Whether any of `x_coord`, `y_coord`, `z_coord` is set.
    pub fn has_stage_coords(&self) -> bool {
        StageAxis::ALL.iter().any(|a| a.coord(self).is_some())
    }
}

impl Schema {
    /// The stage axis dimension `dim` (an index into [`dims`](Self::dims)) carries, if
    /// any.
    pub fn stage_axis(&self, dim: usize) -> Option<StageAxis> {
        let n = self.dims().len();
        if dim + 1 == n {
            Some(StageAxis::X)
        } else if dim + 2 == n {
            Some(StageAxis::Y)
        } else {
            self.dims()
                .get(dim)
                .filter(|d| d.kind() == DimensionType::Space)
                .map(|_| StageAxis::Z)
        }
    }

    /// The dimension along stage axis `axis`, if the acquisition has one.
    pub fn stage_dim(&self, axis: StageAxis) -> Option<&Dim> {
        (0..self.dims().len())
            .find(|&i| self.stage_axis(i) == Some(axis))
            .and_then(|i| self.dims().get(i))
    }

    /// Whether any position has a stage coordinate.
    pub fn has_stage_coords(&self) -> bool {
        self.positions().iter().any(Position::has_stage_coords)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(dims: &str, coords: &str) -> Schema {
        Schema::from_json(&format!(
            r#"{{"root_path": "a.ome.zarr", "dtype": "uint8", "dimensions": [
                {{"name": "p", "type": "position", "coords": [{coords}]}}, {dims}]}}"#
        ))
        .unwrap()
    }

    #[test]
    fn frame_dimensions_are_x_and_y_and_the_other_space_dimension_is_z() {
        let s = schema(
            r#"{"name": "t", "count": 2}, {"name": "plane", "count": 3, "type": "space"},
               {"name": "row", "count": 2}, {"name": "col", "count": 2}"#,
            r#"{"name": "a", "x_coord": 1.0}"#,
        );
        let axes: Vec<_> = (0..s.dims().len()).map(|i| s.stage_axis(i)).collect();
        assert_eq!(
            axes,
            [
                None,
                None,
                Some(StageAxis::Z),
                Some(StageAxis::Y),
                Some(StageAxis::X)
            ]
        );
        assert_eq!(s.stage_dim(StageAxis::Z).map(Dim::name), Some("plane"));
        assert!(s.has_stage_coords());
        let flat = schema(
            r#"{"name": "y", "count": 2}, {"name": "x", "count": 2}"#,
            r#""a""#,
        );
        assert_eq!(flat.stage_dim(StageAxis::Z), None);
        assert!(!flat.has_stage_coords());
    }
}
