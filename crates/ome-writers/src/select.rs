//! Numpy-style selections on a view: integers (negative from the end) and slices
//! (start, stop, step; clipped; negative steps too), resolved against a shape.

/// One axis of a selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sel {
    /// One element; the axis is dropped from the result. Negative counts from the end.
    Index(i64),
    /// `start:stop:step` as in Python (missing bounds are `None`; `step` is not 0).
    Slice {
        /// First element (`None`: the start, or the end for a negative step).
        start: Option<i64>,
        /// One past the last element (`None`: the end, or before the start).
        stop: Option<i64>,
        /// Step (negative walks backwards).
        step: i64,
    },
}

impl Sel {
    /// The whole axis (`:`).
    #[must_use]
    pub fn all() -> Self {
        Self::Slice {
            start: None,
            stop: None,
            step: 1,
        }
    }

    /// `start..stop` (`start:stop`).
    #[must_use]
    pub fn range(range: std::ops::Range<i64>) -> Self {
        Self::Slice {
            start: Some(range.start),
            stop: Some(range.end),
            step: 1,
        }
    }
}

/// An axis after resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Axis {
    /// One index; the axis is dropped.
    One(u64),
    /// Elements `start, start + step, ...` (`count` of them); the axis is kept.
    Many { start: i64, step: i64, count: usize },
}

impl Axis {
    /// The indices, in order.
    pub(crate) fn indices(&self) -> Vec<u64> {
        match *self {
            Self::One(i) => vec![i],
            Self::Many { start, step, count } => (0..count)
                .filter_map(|k| u64::try_from(start + step * k as i64).ok())
                .collect(),
        }
    }

    pub(crate) fn kept(&self) -> Option<usize> {
        match self {
            Self::One(_) => None,
            Self::Many { count, .. } => Some(*count),
        }
    }

    /// `(start, step, count)` for a frame axis.
    pub(crate) fn span(&self) -> (i64, i64, usize) {
        match *self {
            Self::One(i) => (i64::try_from(i).unwrap_or(i64::MAX), 1, 1),
            Self::Many { start, step, count } => (start, step, count),
        }
    }
}

/// Why a slice is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ZeroStep;

/// Python's `slice.indices(len)`: the clipped start, step and count.
pub(crate) fn resolve_slice(
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
    len: u64,
) -> Result<Axis, ZeroStep> {
    if step == 0 {
        return Err(ZeroStep);
    }
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let (lower, upper) = if step > 0 { (0, len) } else { (-1, len - 1) };
    let clip = |v: Option<i64>, default: i64| match v {
        None => default,
        Some(v) if v < 0 => (v.saturating_add(len)).max(lower),
        Some(v) => v.min(upper),
    };
    let first = clip(start, if step > 0 { lower } else { upper });
    let end = clip(stop, if step > 0 { upper } else { lower });
    let count = if step > 0 {
        if end > first {
            (end - first - 1) / step + 1
        } else {
            0
        }
    } else if first > end {
        (first - end - 1) / (-step) + 1
    } else {
        0
    };
    Ok(Axis::Many {
        start: first,
        step,
        count: usize::try_from(count).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(a: Axis) -> Vec<u64> {
        a.indices()
    }

    #[test]
    fn slices_match_python() {
        // Python: list(range(5))[s] for each slice s.
        assert_eq!(
            idx(resolve_slice(None, None, 1, 5).unwrap()),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            idx(resolve_slice(Some(1), Some(3), 1, 5).unwrap()),
            vec![1, 2]
        );
        assert_eq!(
            idx(resolve_slice(Some(-2), None, 1, 5).unwrap()),
            vec![3, 4]
        );
        assert_eq!(
            idx(resolve_slice(None, Some(99), 2, 5).unwrap()),
            vec![0, 2, 4]
        );
        assert_eq!(
            idx(resolve_slice(None, None, -1, 5).unwrap()),
            vec![4, 3, 2, 1, 0]
        );
        assert_eq!(
            idx(resolve_slice(Some(3), Some(0), -2, 5).unwrap()),
            vec![3, 1]
        );
        assert_eq!(
            idx(resolve_slice(Some(-99), Some(-98), 1, 5).unwrap()),
            Vec::<u64>::new()
        );
        assert_eq!(
            idx(resolve_slice(Some(4), Some(2), 1, 5).unwrap()),
            Vec::<u64>::new()
        );
        assert_eq!(
            idx(resolve_slice(None, None, 1, 0).unwrap()),
            Vec::<u64>::new()
        );
        assert_eq!(resolve_slice(None, None, 0, 5), Err(ZeroStep));
    }
}
