//! Coordinate events: callbacks told when the acquisition reaches new coordinates,
//! run in frame order on one background thread (`ome-writers-events`), never on the
//! thread that appends.
//!
//! The camera thread hands each update to a bounded queue ([`EVENT_QUEUE`]) without
//! waiting. When the queue is full (a callback slower than the frames), updates are
//! **coalesced**: later ones replace one pending update (its `is_high_water_mark` is
//! true if any coalesced update's was), delivered after everything queued before it,
//! so callbacks still see updates in frame order, and always the latest state.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::grid::{Coords, Grid};

/// Updates queued for the callbacks before they are coalesced.
pub const EVENT_QUEUE: usize = 1024;

/// Where the acquisition is after a frame (or a skip).
#[derive(Clone, Debug)]
pub struct CoordUpdate {
    grid: Arc<Grid>,
    /// Frames reached after this one: the extents behind `max_coords`.
    reached: u64,
    /// The frame's acquisition number (the last skipped one, for a skip).
    pub frame_number: u64,
    /// Whether this frame raised a high-water mark (`max_coords` grew).
    pub is_high_water_mark: bool,
}

impl CoordUpdate {
    /// The extent reached along every dimension (acquisition order, Y and X whole).
    #[must_use]
    pub fn max_shape(&self) -> Vec<u64> {
        let mut s = self.grid.reached_shape(self.reached);
        s.extend(self.grid.frame);
        s
    }

    /// The coordinates reached along each dimension (labels where the settings have
    /// them, else ranges).
    #[must_use]
    pub fn max_coords(&self) -> Vec<(&str, Coords)> {
        let shape = self.max_shape();
        self.grid
            .names
            .iter()
            .zip(shape)
            .enumerate()
            .map(|(k, (name, n))| {
                let c = if k < self.grid.outer() {
                    self.grid.coords(k, n)
                } else {
                    Coords::Range(n)
                };
                (name.as_str(), c)
            })
            .collect()
    }

    /// The frame's index along each dimension (0 for Y and X).
    #[must_use]
    pub fn current_indices(&self) -> Vec<(&str, u64)> {
        let mut idx = self.grid.indices_of(self.frame_number);
        idx.extend([0, 0]);
        self.grid
            .names
            .iter()
            .map(String::as_str)
            .zip(idx)
            .collect()
    }
}

/// Which updates a callback wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordEvent {
    /// Only frames that raise a high-water mark.
    Expanded,
    /// Every frame.
    Changed,
}

type Callback = Arc<dyn Fn(&CoordUpdate) + Send + Sync>;

#[derive(Default)]
struct Shared {
    callbacks: Mutex<Arc<Vec<(CoordEvent, Callback)>>>,
    /// The coalesced update and how many it stands for, while the queue overflows.
    overflow: Mutex<Option<(CoordUpdate, u64)>>,
    /// Updates handed over / delivered (for `wait`).
    sent: AtomicU64,
    done: Mutex<u64>,
    delivered: Condvar,
}

/// The stream's side of the events: started with the first callback.
pub(crate) struct Events {
    grid: Arc<Grid>,
    shared: Arc<Shared>,
    tx: Option<Sender<CoordUpdate>>,
    wake: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// Someone wants every frame (not only high-water marks).
    every_frame: bool,
}

impl Events {
    pub(crate) fn new(grid: Arc<Grid>) -> Self {
        Self {
            grid,
            shared: Arc::default(),
            tx: None,
            wake: None,
            thread: None,
            every_frame: false,
        }
    }

    /// Register a callback; the first one starts the delivery thread.
    pub(crate) fn on(
        &mut self,
        event: CoordEvent,
        callback: Callback,
    ) -> Result<(), std::io::Error> {
        if self.thread.is_none() {
            let (tx, rx) = crossbeam_channel::bounded(EVENT_QUEUE);
            let (wake, woken) = crossbeam_channel::bounded(1);
            let shared = self.shared.clone();
            let thread = std::thread::Builder::new()
                .name("ome-writers-events".to_owned())
                .spawn(move || deliver(&rx, &woken, &shared))?;
            self.tx = Some(tx);
            self.wake = Some(wake);
            self.thread = Some(thread);
        }
        self.every_frame |= event == CoordEvent::Changed;
        let mut list = self
            .shared
            .callbacks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut new = (**list).clone();
        new.push((event, callback));
        *list = Arc::new(new);
        Ok(())
    }

    /// Camera thread: frames `[before, after)` were reached (one appended, or
    /// skipped). Never waits.
    pub(crate) fn reached(&self, before: u64, after: u64) {
        let Some(tx) = &self.tx else { return };
        if after <= before {
            return;
        }
        let is_hwm = self.grid.reached_shape(before) != self.grid.reached_shape(after);
        if !is_hwm && !self.every_frame {
            return;
        }
        let update = CoordUpdate {
            grid: self.grid.clone(),
            reached: after,
            frame_number: after - 1,
            is_high_water_mark: is_hwm,
        };
        self.shared.sent.fetch_add(1, Ordering::SeqCst);
        let mut overflow = self
            .shared
            .overflow
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((pending, count)) = overflow.as_mut() {
            coalesce(pending, update);
            *count += 1;
            return;
        }
        match tx.try_send(update) {
            Ok(()) => {}
            Err(TrySendError::Full(u) | TrySendError::Disconnected(u)) => {
                *overflow = Some((u, 1));
                drop(overflow);
                if let Some(w) = &self.wake {
                    let _ = w.try_send(());
                }
            }
        }
    }

    /// Wait until every update handed over so far was delivered (or coalesced).
    pub(crate) fn wait(&self) {
        if self.thread.is_none() {
            return;
        }
        let target = self.shared.sent.load(Ordering::SeqCst);
        let mut done = self
            .shared
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while *done < target {
            done = self
                .shared
                .delivered
                .wait(done)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Deliver what is queued and stop the thread.
    pub(crate) fn stop(&mut self) {
        self.tx = None;
        self.wake = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Later `next` replaces `pending`, keeping whether any was a high-water mark; the
/// coalesced ones count as delivered with it.
fn coalesce(pending: &mut CoordUpdate, next: CoordUpdate) {
    let hwm = pending.is_high_water_mark || next.is_high_water_mark;
    *pending = next;
    pending.is_high_water_mark = hwm;
}

fn deliver(rx: &Receiver<CoordUpdate>, woken: &Receiver<()>, shared: &Shared) {
    let mut open = true;
    while open {
        crossbeam_channel::select! {
            recv(rx) -> msg => match msg {
                Ok(u) => run(shared, &u, 1),
                Err(_) => open = false,
            },
            recv(woken) -> _ => {},
        }
        // The queue drained: an overflowing update is now the newest, deliver it.
        if rx.is_empty() {
            deliver_overflow(shared);
        }
    }
    deliver_overflow(shared);
}

fn deliver_overflow(shared: &Shared) {
    let pending = shared
        .overflow
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some((u, count)) = pending {
        run(shared, &u, count);
    }
}

fn run(shared: &Shared, update: &CoordUpdate, count: u64) {
    let callbacks = shared
        .callbacks
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for (event, cb) in callbacks.iter() {
        if *event == CoordEvent::Expanded && !update.is_high_water_mark {
            continue;
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb(update))) {
            log::error!(
                "a coordinate event callback panicked: {}",
                crate::writer::panic_message(p.as_ref())
            );
        }
    }
    let mut done = shared.done.lock().unwrap_or_else(PoisonError::into_inner);
    *done += count;
    shared.delivered.notify_all();
}
