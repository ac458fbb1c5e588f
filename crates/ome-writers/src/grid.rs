//! The acquisition grid as viewers see it: every dimension of the settings in
//! acquisition order (the position axis included, Y and X last), the frame number of a
//! coordinate, and the high-water marks of the frames reached.

use ome_writers_schema::{Coord, Schema};

/// Coordinates along one dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Coords {
    /// `0..n`: the dimension has no coordinate labels.
    Range(u64),
    /// The labels of its first elements (channel or position names, texts, numbers).
    Labels(Vec<CoordLabel>),
}

impl Coords {
    /// How many elements.
    #[must_use]
    pub fn len(&self) -> u64 {
        match self {
            Self::Range(n) => *n,
            Self::Labels(l) => l.len() as u64,
        }
    }

    /// No element.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One coordinate label.
#[derive(Clone, Debug, PartialEq)]
pub enum CoordLabel {
    /// A name (channel, position, text coordinate).
    Text(String),
    /// A numeric coordinate.
    Number(f64),
}

/// The acquisition dimensions, shared by views and coordinate events.
#[derive(Debug)]
pub(crate) struct Grid {
    pub(crate) names: Vec<String>,
    /// Declared counts of the non-frame dimensions (`None`: unbounded, first only).
    pub(crate) counts: Vec<Option<u64>>,
    /// Frames per step along each non-frame dimension (rightmost fastest).
    pub(crate) strides: Vec<u64>,
    /// Labels of each non-frame dimension that has coordinates.
    labels: Vec<Option<Vec<CoordLabel>>>,
    /// Height and width of a frame.
    pub(crate) frame: [u64; 2],
}

impl Grid {
    pub(crate) fn new(schema: &Schema) -> Self {
        let settings = schema.settings();
        let dims = schema.dims();
        let outer = dims.len().saturating_sub(2);
        let counts: Vec<Option<u64>> = dims
            .iter()
            .take(outer)
            .map(ome_writers_schema::Dim::count)
            .collect();
        let mut strides = vec![1u64; outer];
        let mut stride = 1u64;
        for k in (0..outer).rev() {
            strides[k] = stride;
            stride = stride.saturating_mul(counts[k].unwrap_or(1).max(1));
        }
        let labels = settings
            .dimensions
            .iter()
            .take(outer)
            .map(|d| d.coords.as_ref().map(|c| c.iter().map(label).collect()))
            .collect();
        Self {
            names: dims.iter().map(|d| d.name().to_owned()).collect(),
            counts,
            strides,
            labels,
            frame: schema.frame_shape(),
        }
    }

    /// Non-frame dimensions.
    pub(crate) fn outer(&self) -> usize {
        self.counts.len()
    }

    /// The extent of each non-frame dimension after `reached` frames (written or
    /// skipped): its high-water mark + 1, 0 before the first frame.
    pub(crate) fn reached_shape(&self, reached: u64) -> Vec<u64> {
        let Some(last) = reached.checked_sub(1) else {
            return vec![0; self.outer()];
        };
        self.counts
            .iter()
            .zip(&self.strides)
            .map(|(count, &stride)| {
                let hwm = last / stride.max(1);
                count.map_or(hwm, |c| hwm.min(c.saturating_sub(1))) + 1
            })
            .collect()
    }

    /// The indices of frame `n` along each non-frame dimension.
    pub(crate) fn indices_of(&self, n: u64) -> Vec<u64> {
        self.counts
            .iter()
            .zip(&self.strides)
            .enumerate()
            .map(|(k, (count, &stride))| {
                let i = n / stride.max(1);
                match count {
                    Some(c) if k > 0 => i % c.max(&1),
                    _ => i,
                }
            })
            .collect()
    }

    /// The frame number of a coordinate (one index per non-frame dimension, each
    /// inside its count).
    pub(crate) fn frame_of(&self, coords: &[u64]) -> u64 {
        coords
            .iter()
            .zip(&self.strides)
            .fold(0u64, |n, (&c, &s)| n.saturating_add(c.saturating_mul(s)))
    }

    /// The coordinates of the first `extent` elements of non-frame dimension `k`.
    pub(crate) fn coords(&self, k: usize, extent: u64) -> Coords {
        match self.labels.get(k).and_then(Option::as_ref) {
            Some(l) => Coords::Labels(
                l.iter()
                    .take(usize::try_from(extent).unwrap_or(usize::MAX))
                    .cloned()
                    .collect(),
            ),
            None => Coords::Range(extent),
        }
    }
}

fn label(c: &Coord) -> CoordLabel {
    match c {
        Coord::Number(v) => CoordLabel::Number(*v),
        other => CoordLabel::Text(other.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(json: &str) -> Grid {
        Grid::new(&Schema::from_json(json).unwrap())
    }

    const TCZ: &str = r#"{"root_path": "x.ome.zarr", "dtype": "uint8", "dimensions": [
        {"name": "t", "count": 2}, {"name": "c", "count": 3}, {"name": "z", "count": 4},
        {"name": "y", "count": 8}, {"name": "x", "count": 8}]}"#;

    #[test]
    fn high_water_marks_follow_the_loops() {
        let g = grid(TCZ);
        assert_eq!(g.reached_shape(0), vec![0, 0, 0]);
        assert_eq!(g.reached_shape(1), vec![1, 1, 1]);
        assert_eq!(g.reached_shape(4), vec![1, 1, 4]);
        assert_eq!(g.reached_shape(5), vec![1, 2, 4]);
        assert_eq!(g.reached_shape(13), vec![2, 3, 4]);
        assert_eq!(g.reached_shape(24), vec![2, 3, 4]);
    }

    #[test]
    fn frame_numbers_round_trip() {
        let g = grid(TCZ);
        for n in 0..24 {
            assert_eq!(g.frame_of(&g.indices_of(n)), n);
        }
        assert_eq!(g.indices_of(13), vec![1, 0, 1]);
    }

    #[test]
    fn unbounded_first_axis_grows() {
        let g = grid(
            r#"{"root_path": "x.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "t", "count": null}, {"name": "c", "count": 2},
            {"name": "y", "count": 8}, {"name": "x", "count": 8}]}"#,
        );
        assert_eq!(g.reached_shape(7), vec![4, 2]);
        assert_eq!(g.indices_of(7), vec![3, 1]);
    }
}
