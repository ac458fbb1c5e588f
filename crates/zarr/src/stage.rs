//! Stage positions as NGFF metadata: each image's `translation` transform.

use ome_writers_schema::{Position, Schema};

/// The `translation` of an image at `position`, one value per array axis in storage
/// order: the dimension's own `translation` plus the position's stage coordinate on
/// the axis that carries it ([`Schema::stage_axis`]), 0 where neither is given.
///
/// `None` (no translation transform, the metadata of a dataset without stage
/// positions) when no position of the acquisition has a coordinate and no dimension a
/// translation; otherwise every image has one, so that all of them share a frame.
pub(crate) fn translation(schema: &Schema, position: Option<&Position>) -> Option<Vec<f64>> {
    let dims = schema.dims();
    let n = dims.len();
    let axes = schema
        .storage_axes()
        .iter()
        .copied()
        .chain(n.saturating_sub(2)..n);
    let any_translation = dims.iter().any(|d| d.translation().is_some());
    if !any_translation && !schema.has_stage_coords() {
        return None;
    }
    Some(
        axes.map(|i| {
            let own = dims
                .get(i)
                .and_then(ome_writers_schema::Dim::translation)
                .unwrap_or(0.0);
            let stage = schema
                .stage_axis(i)
                .zip(position)
                .and_then(|(axis, pos)| axis.coord(pos))
                .unwrap_or(0.0);
            own + stage
        })
        .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(dims: &str, coords: &str, want: &[Option<Vec<f64>>]) {
        let schema = Schema::from_json(&format!(
            r#"{{"root_path": "a.ome.zarr", "dtype": "uint8", "dimensions": [
                {{"name": "p", "type": "position", "coords": [{coords}]}}, {dims}]}}"#
        ))
        .unwrap();
        let got: Vec<_> = schema
            .positions()
            .iter()
            .map(|p| translation(&schema, Some(p)))
            .collect();
        assert_eq!(got, want, "{dims} / {coords}");
    }

    #[test]
    fn coordinates_fall_on_their_axes_and_add_to_the_dimension_translation() {
        let tczyx = r#"{"name": "t", "count": 2}, {"name": "c", "count": 2},
            {"name": "z", "count": 3}, {"name": "y", "count": 4}, {"name": "x", "count": 4}"#;
        check(
            tczyx,
            r#"{"name": "a", "x_coord": 10, "y_coord": -2, "z_coord": 5}, {"name": "b", "y_coord": 7}"#,
            &[
                Some(vec![0.0, 0.0, 5.0, -2.0, 10.0]),
                Some(vec![0.0, 0.0, 0.0, 7.0, 0.0]),
            ],
        );
        // Nothing given: no translation at all.
        check(tczyx, r#""a", "b""#, &[None, None]);
        // A dimension translation alone, and added to the stage coordinate.
        let shifted = r#"{"name": "y", "count": 4, "translation": 0.5},
            {"name": "x", "count": 4, "translation": -1}"#;
        check(shifted, r#""a""#, &[Some(vec![0.5, -1.0])]);
        check(
            shifted,
            r#"{"name": "a", "x_coord": 3, "y_coord": 4}"#,
            &[Some(vec![4.5, 2.0])],
        );
        // No Z axis: z_coord has nowhere to go. Storage order moves the axes.
        check(
            r#"{"name": "c", "count": 2}, {"name": "t", "count": 2},
               {"name": "y", "count": 4}, {"name": "x", "count": 4}"#,
            r#"{"name": "a", "x_coord": 1, "y_coord": 2, "z_coord": 3}"#,
            &[Some(vec![0.0, 0.0, 2.0, 1.0])],
        );
    }
}
