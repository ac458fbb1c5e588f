//! Coordinate events: frame order, high-water marks, skips, and a slow callback that
//! never makes the camera thread wait (counted, not timed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ome_writers::{CoordLabel, Coords, EVENT_QUEUE, Schema, create_stream};

fn schema(root: &Path, outer: &str) -> Schema {
    let root = root.join("ev.ome.zarr");
    Schema::from_json(&format!(
        r#"{{"root_path": {root:?}, "dtype": "uint8", "dimensions": [{outer},
            {{"name": "y", "count": 4}}, {{"name": "x", "count": 4}}]}}"#
    ))
    .unwrap()
}

type Seen = Arc<Mutex<Vec<(u64, bool, Vec<u64>, Vec<u64>)>>>;

fn recorder(seen: &Seen) -> impl Fn(&ome_writers::CoordUpdate) + Send + Sync + 'static {
    let seen = seen.clone();
    move |u| {
        let current = u.current_indices().into_iter().map(|(_, i)| i).collect();
        seen.lock()
            .unwrap()
            .push((u.frame_number, u.is_high_water_mark, u.max_shape(), current));
    }
}

#[test]
fn every_frame_in_order_and_high_water_marks_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(
        dir.path(),
        r#"{"name": "t", "count": 3}, {"name": "c", "coords": ["DAPI", "GFP"]}"#,
    );
    let mut stream = create_stream(&s).unwrap();
    let (changed, expanded): (Seen, Seen) = Default::default();
    stream.on_coords_changed(recorder(&changed)).unwrap();
    stream.on_coords_expanded(recorder(&expanded)).unwrap();
    let labels = Arc::new(Mutex::new(Vec::new()));
    {
        let labels = labels.clone();
        stream
            .on_coords_expanded(move |u| {
                labels.lock().unwrap().push(u.max_coords()[1].1.clone());
            })
            .unwrap();
    }
    let frame = [0u8; 16];
    for _ in 0..4 {
        stream.append(&frame).unwrap();
    }
    stream.skip(1).unwrap();
    stream.append(&frame).unwrap();
    stream.wait_for_events();
    let changed = changed.lock().unwrap().clone();
    let frames: Vec<u64> = changed.iter().map(|c| c.0).collect();
    assert_eq!(frames, vec![0, 1, 2, 3, 4, 5]);
    let hwm: Vec<bool> = changed.iter().map(|c| c.1).collect();
    // t grows at frames 0, 2, 4; c at frames 0 and 1.
    assert_eq!(hwm, vec![true, true, true, false, true, false]);
    assert_eq!(changed[3].2, vec![2, 2, 4, 4]);
    assert_eq!(changed[3].3, vec![1, 1, 0, 0]);
    let expanded: Vec<u64> = expanded.lock().unwrap().iter().map(|c| c.0).collect();
    assert_eq!(expanded, vec![0, 1, 2, 4]);
    let text =
        |v: &[&str]| Coords::Labels(v.iter().map(|s| CoordLabel::Text((*s).into())).collect());
    assert_eq!(labels.lock().unwrap()[0], text(&["DAPI"]));
    assert_eq!(labels.lock().unwrap()[1], text(&["DAPI", "GFP"]));
    stream.finish().unwrap();
}

#[test]
fn a_sleeping_callback_never_blocks_appends() {
    let dir = tempfile::tempdir().unwrap();
    let frames = EVENT_QUEUE as u64 * 3;
    let s = schema(
        dir.path(),
        &format!(r#"{{"name": "t", "count": {frames}}}"#),
    );
    let mut stream = create_stream(&s).unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let seen: Seen = Seen::default();
    // The callback blocks until the test releases it: as slow as a callback gets.
    let (release, released) = crossbeam_channel::bounded::<()>(0);
    {
        let (calls, seen) = (calls.clone(), recorder(&seen));
        stream
            .on_coords_changed(move |u| {
                calls.fetch_add(1, Ordering::SeqCst);
                seen(u);
                let _ = released.recv_timeout(Duration::from_mins(1));
            })
            .unwrap();
    }
    let frame = [0u8; 16];
    for _ in 0..frames {
        stream.append(&frame).unwrap();
    }
    // The camera thread is done with every frame while the callback has run only a
    // handful of times: it never waited for the callback.
    let during = calls.load(Ordering::SeqCst);
    assert!(
        during <= 1,
        "{during} callbacks ran while appending {frames} frames"
    );
    drop(release);
    stream.wait_for_events();
    let seen = seen.lock().unwrap();
    let numbers: Vec<u64> = seen.iter().map(|s| s.0).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "frame order");
    // Coalesced: the latest update arrives last, and it is a high-water mark.
    assert_eq!(numbers.last(), Some(&(frames - 1)));
    assert!(seen.last().unwrap().1);
    assert!(numbers.len() as u64 <= EVENT_QUEUE as u64 + 2);
    drop(seen);
    stream.finish().unwrap();
}

#[test]
fn a_callback_that_panics_or_reenters_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(dir.path(), r#"{"name": "t", "count": 5}"#);
    let mut stream = create_stream(&s).unwrap();
    let view = stream.view(true, false);
    let shapes = Arc::new(Mutex::new(Vec::new()));
    stream
        .on_coords_changed(|_| panic!("a bad callback"))
        .unwrap();
    {
        let shapes = shapes.clone();
        // Reads the view from the callback (re-entering the stream's data).
        stream
            .on_coords_expanded(move |u| {
                let plane = view.read::<u8>(&[ome_writers::Sel::Index(u.frame_number as i64)]);
                shapes.lock().unwrap().push(plane.unwrap()[[0, 0]]);
            })
            .unwrap();
    }
    for n in 0..5u8 {
        stream.append(&[n + 1; 16]).unwrap();
    }
    stream.wait_for_events();
    assert_eq!(*shapes.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    stream.finish().unwrap();
}
