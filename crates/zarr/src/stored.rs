//! Which frames are stored: the count a failed acquisition records.
//!
//! Frames are numbered in arrival order (`seq`, over all positions). A frame is
//! *stored* once every write unit holding it was written without error (in full, or
//! as the copy a durability point stores of an incomplete unit). After a write error
//! the metadata records `frames_written` = the **longest prefix of frames, in arrival
//! order, all stored**: every frame before it reads back, frames after it may or may
//! not. A durability point that succeeded stored every frame before it; after a failed
//! sync only the frames of the last successful durability point count.

/// The bookkeeping behind the stored prefix (see the module docs).
pub(crate) struct StoredFrames {
    /// Frames that reached the backend (the next frame's `seq`).
    next: u64,
    /// The first frame known not to be stored.
    failed: Option<u64>,
    /// `next` at the last successful durability point.
    durable: u64,
    /// Per image: frames written at the last successful durability point.
    durable_per_image: Vec<u64>,
    /// Image of each frame since the last successful durability point (several images
    /// only; one image needs no log).
    log: Vec<u32>,
    /// A sync failed: nothing after the last successful durability point counts.
    sync_failed: bool,
}

impl StoredFrames {
    pub(crate) fn new(images: usize) -> Self {
        Self {
            next: 0,
            failed: None,
            durable: 0,
            durable_per_image: vec![0; images],
            log: Vec::new(),
            sync_failed: false,
        }
    }

    /// A frame for `image` arrives: its `seq`.
    pub(crate) fn arrive(&mut self, image: usize) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.durable_per_image.len() > 1 {
            self.log.push(u32::try_from(image).unwrap_or(u32::MAX));
        }
        seq
    }

    /// The frames from `seq` on are not known stored (a failed write of a unit whose
    /// first unstored frame is `seq`).
    pub(crate) fn failed(&mut self, seq: Option<u64>) {
        if let Some(s) = seq {
            self.failed = Some(self.failed.map_or(s, |f| f.min(s)));
        }
    }

    /// A sync failed.
    pub(crate) fn sync_failed(&mut self) {
        self.sync_failed = true;
    }

    /// A durability point stored every frame that arrived (the caller checked
    /// [`all`](Self::all)): O(frames since the last point), not O(images).
    pub(crate) fn durable(&mut self) {
        if let [only] = self.durable_per_image.as_mut_slice() {
            *only = self.next;
        } else {
            for &image in &self.log {
                if let Some(c) = self.durable_per_image.get_mut(image as usize) {
                    *c += 1;
                }
            }
        }
        self.durable = self.next;
        self.log.clear();
    }

    /// The stored prefix, given the first unstored frames known elsewhere (open
    /// units, the encoders).
    pub(crate) fn prefix(&self, also: impl Iterator<Item = u64>) -> u64 {
        let mut p = self.next;
        if let Some(f) = self.failed {
            p = p.min(f);
        }
        p = also.fold(p, u64::min);
        if self.sync_failed {
            p = p.min(self.durable);
        }
        // Everything before the last durability point was stored (its drain and
        // sync succeeded).
        p.max(self.durable)
    }

    /// Frames that reached the backend.
    pub(crate) fn arrived(&self) -> u64 {
        self.next
    }

    /// The first frame known not to be stored.
    pub(crate) fn first_failed(&self) -> Option<u64> {
        self.failed
    }

    /// Whether every frame that arrived is stored.
    pub(crate) fn all(&self, prefix: u64) -> bool {
        prefix >= self.next
    }

    /// Per image, the frames within the first `prefix`.
    pub(crate) fn per_image(&self, prefix: u64) -> Vec<u64> {
        let mut counts = self.durable_per_image.clone();
        if counts.len() == 1 {
            counts[0] += prefix.saturating_sub(self.durable);
            return counts;
        }
        let since = usize::try_from(prefix.saturating_sub(self.durable)).unwrap_or(usize::MAX);
        for &image in self.log.iter().take(since) {
            if let Some(c) = counts.get_mut(image as usize) {
                *c += 1;
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::StoredFrames;

    #[test]
    fn the_prefix_stops_at_the_first_unstored_frame_and_never_before_a_durable_point() {
        let mut s = StoredFrames::new(2);
        for n in 0..6 {
            s.arrive(n % 2);
        }
        s.durable();
        for n in 6..12 {
            s.arrive(n % 2);
        }
        assert_eq!(s.prefix(std::iter::empty()), 12);
        assert!(s.all(12));
        s.failed(Some(9));
        s.failed(Some(10));
        assert_eq!(s.prefix(std::iter::empty()), 9);
        assert_eq!(s.prefix([7].into_iter()), 7);
        // Frames 6, 8 of image 0 and 7 of image 1 are in the prefix of 9.
        assert_eq!(s.per_image(9), vec![5, 4]);
        s.sync_failed();
        assert_eq!(s.prefix(std::iter::empty()), 6);
        assert_eq!(s.per_image(6), vec![3, 3]);
        let mut one = StoredFrames::new(1);
        for _ in 0..5 {
            one.arrive(0);
        }
        one.failed(Some(2));
        assert_eq!(one.per_image(one.prefix(std::iter::empty())), vec![2]);
    }
}
