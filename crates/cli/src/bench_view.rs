//! The viewer of `omew bench-one --view-reader`: a thread that reads every k-th frame
//! through a live view as soon as it is reached, the way a display follows an
//! acquisition.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Result, anyhow};
use ome_writers::{Sel, StreamView};

pub(crate) struct Viewer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<u64>>,
}

impl Viewer {
    /// Read frame 0, k, 2k, ... of the first axis as each is reached.
    pub(crate) fn start(view: StreamView, every: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut next, mut reads) = (0u64, 0u64);
            loop {
                let done = flag.load(Ordering::Acquire);
                let reached = view.frames_reached();
                while next < reached {
                    let i = i64::try_from(next)?;
                    let plane = view.read::<u16>(&[Sel::Index(i)])?;
                    std::hint::black_box(&plane);
                    reads += 1;
                    next += every;
                }
                if done {
                    return Ok(reads);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        Self { stop, thread }
    }

    /// Stop after reading what is left; the number of frames read.
    pub(crate) fn stop(self) -> Result<u64> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| anyhow!("the viewer thread panicked"))?
    }
}
