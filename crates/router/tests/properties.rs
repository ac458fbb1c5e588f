//! Property tests: for any valid bounded schema, routing every frame is a bijection onto
//! positions x storage grid, every index lies inside the array shape, and storage axis
//! `k` carries the acquisition coordinate of dimension `storage_axes()[k]`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;

use ome_writers_router::{FrameRouter, RouteError};
use ome_writers_schema::{
    AcquisitionSettings, DType, Dimension, FrameNumber, Schema, StorageOrder,
};
use proptest::prelude::*;

/// Nested loops in acquisition order, rightmost fastest: the independent reference.
fn acquisition_coords(counts: &[u64]) -> Vec<Vec<u64>> {
    let mut out = vec![vec![]];
    for &c in counts {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                (0..c).map(move |i| {
                    let mut v = prefix.clone();
                    v.push(i);
                    v
                })
            })
            .collect();
    }
    out
}

fn schema_strategy() -> impl Strategy<Value = Schema> {
    let names = prop::sample::subsequence(vec!["t", "c", "z", "q"], 0..=3).prop_shuffle();
    (
        names,
        prop::collection::vec(1u64..4, 4),
        prop::option::of((1u64..4, 0usize..4)),
        any::<prop::sample::Index>(),
        any::<bool>(),
    )
        .prop_map(|(names, counts, position, perm_seed, tiff)| {
            let mut dims: Vec<Dimension> = names
                .iter()
                .zip(&counts)
                .map(|(n, c)| Dimension::new(*n, Some(*c)))
                .collect();
            if let Some((np, at)) = position {
                let at = at.min(dims.len());
                dims.insert(at, Dimension::new("p", Some(np)));
            }
            let index_names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
            dims.push(Dimension::new("y", Some(3)));
            dims.push(Dimension::new("x", Some(2)));
            let path = if tiff { "r.ome.tiff" } else { "r.ome.zarr" };
            let mut settings = AcquisitionSettings::new(path, dims, DType::U8);
            if tiff && !index_names.is_empty() {
                // Any permutation is a valid TIFF storage order.
                let mut order = index_names.clone();
                let k = perm_seed.index(order.len());
                order.rotate_left(k);
                if perm_seed.index(2) == 1 {
                    order.reverse();
                }
                order.extend(["y".to_owned(), "x".to_owned()]);
                settings.storage_order = StorageOrder::Explicit(order);
            }
            if !tiff
                && index_names.contains(&"q".to_owned())
                && index_names.contains(&"c".to_owned())
            {
                // NGFF allows one channel-or-custom axis: make it TIFF instead.
                settings.root_path = "r.ome.tiff".into();
            }
            settings.validate().expect("generated schema is valid")
        })
}

proptest! {
    #[test]
    fn routing_is_a_bijection_in_the_declared_order(schema in schema_strategy()) {
        let router = FrameRouter::new(&schema);
        let n_index = schema.dims().len() - 2;
        let counts: Vec<u64> = schema.dims()[..n_index].iter().map(|d| d.count().unwrap()).collect();
        let expected = acquisition_coords(&counts);
        let total = schema.num_frames().unwrap();
        prop_assert_eq!(expected.len() as u64, total);
        let shape = schema.array_shape(None);
        let mut seen = HashSet::new();
        for (n, acq) in expected.iter().enumerate() {
            let route = router.route(FrameNumber(n as u64)).unwrap();
            let pos = schema.position_axis().map_or(0, |p| acq[p] as usize);
            prop_assert_eq!(route.position.0, pos);
            prop_assert!(pos < schema.positions().len());
            let idx = route.index.as_slice();
            prop_assert_eq!(idx.len(), schema.storage_axes().len());
            for (k, &a) in schema.storage_axes().iter().enumerate() {
                prop_assert_eq!(idx[k], acq[a], "storage axis {} reads acquisition dim {}", k, a);
                prop_assert!(idx[k] < shape[k]);
            }
            prop_assert!(seen.insert((pos, idx.to_vec())), "frame {} collides", n);
        }
        let grid: u64 = shape[..shape.len() - 2].iter().product();
        prop_assert_eq!(seen.len() as u64, grid * schema.positions().len() as u64);
        prop_assert_eq!(
            router.route(FrameNumber(total)),
            Err(RouteError::PastEnd { frame: total, total })
        );
    }

    #[test]
    fn extent_reached_is_the_highest_growth_index_plus_one(schema in schema_strategy(), frac in 0.0f64..=1.0) {
        let router = FrameRouter::new(&schema);
        let total = schema.num_frames().unwrap();
        let frames = (total as f64 * frac) as u64;
        let expected = match schema.growth_axis() {
            None => u64::from(frames > 0),
            Some(g) => (0..frames)
                .map(|n| router.route(FrameNumber(n)).unwrap().index.as_slice()[g] + 1)
                .max()
                .unwrap_or(0),
        };
        prop_assert_eq!(router.extent_reached(frames), expected);
    }
}

fn schema(json: &str) -> Schema {
    Schema::from_json(json).unwrap()
}

#[test]
fn unbounded_first_dimension_never_ends() {
    let s = schema(
        r#"{"root_path": "u.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "t", "count": null}, {"name": "c", "count": 2},
            {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    );
    let mut router = FrameRouter::new(&s);
    assert_eq!(router.total(), None);
    let r = router.route(FrameNumber(1_000_001)).unwrap();
    assert_eq!(r.index.as_slice(), &[500_000, 1]);
    router.skip_frames(10).unwrap();
    assert_eq!(router.next_route().unwrap().frame, FrameNumber(10));
    assert_eq!(router.extent_reached(11), 6);
}

#[test]
fn position_in_the_middle_selects_an_image_not_an_axis() {
    let s = schema(
        r#"{"root_path": "p.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "t", "count": 2}, {"name": "p", "count": 3},
            {"name": "c", "count": 2}, {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    );
    let routes: Vec<_> = FrameRouter::new(&s)
        .map(|r| (r.position.0, r.index.as_slice().to_vec()))
        .collect();
    assert_eq!(routes.len(), 12);
    assert_eq!(routes[0], (0, vec![0, 0]));
    assert_eq!(routes[1], (0, vec![0, 1]));
    assert_eq!(routes[2], (1, vec![0, 0]));
    assert_eq!(routes[6], (0, vec![1, 0]));
}

#[test]
fn skip_past_the_end_is_refused_without_moving() {
    let s = schema(
        r#"{"root_path": "s.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "t", "count": 3}, {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    );
    let mut router = FrameRouter::new(&s);
    router.skip_frames(2).unwrap();
    assert!(router.skip_frames(2).is_err());
    assert_eq!(router.frames_reached(), 2);
    assert!(router.next_route().is_ok());
    assert!(router.next_route().is_err());
}
