//! Writing a whole file around the page cache (`O_DIRECT`).
//!
//! A buffered write copies every byte into the page cache, and the kernel's writeback
//! threads then spend CPU again getting the pages to the disk: on a 2-core machine
//! that compresses frames, both come straight out of the compression budget. A direct
//! write hands the caller's (page-aligned) memory to the device: no copy, no dirty
//! pages, no writeback work left behind. The file is still only durable after an
//! fsync (metadata and the device cache), which the callers do at their durability
//! points as before.
//!
//! Direct I/O has rules (buffer address, length and file offset aligned to the
//! logical block size) and not every filesystem takes it (tmpfs and some network
//! filesystems refuse the flag). [`create_direct`] only writes when the rules can be
//! kept and otherwise says so, writing nothing, so the caller falls back to a buffered
//! write of the same bytes.

use std::fs;
use std::path::Path;

use crate::aligned::{ALIGN, is_aligned};

/// At most this many bytes (the first part's unaligned tail plus the parts after it)
/// go through the page cache after the direct body; more and the whole file is left to
/// the caller's buffered path.
const MAX_TAIL: usize = 1 << 20;

/// What [`create_direct`] did.
#[derive(Debug)]
pub enum Direct {
    /// The file holds exactly the parts, written directly; it is returned open.
    Written(fs::File),
    /// The parts do not suit a direct write (the first is not page-aligned, or too
    /// much follows it); nothing was created.
    NotSuitable,
    /// The filesystem refused direct I/O at `path`; nothing is left at `path`.
    Refused,
}

/// Create `path` (truncating it) holding `parts` back to back, written directly.
///
/// The first part, which must start on a page boundary, is written directly from its
/// own memory up to its last whole page; then `O_DIRECT` is cleared on the same
/// descriptor (`fcntl`) and the rest (under a page, plus the parts after it) goes
/// through the page cache. No padding and no truncate: a truncate after a padded
/// direct write is a metadata transaction per file, which measured slower than writing
/// through the page cache.
///
/// # Errors
/// Any I/O error but the filesystem's refusal of direct I/O (`EINVAL`), which is
/// [`Direct::Refused`].
pub fn create_direct(path: &Path, parts: &[&[u8]]) -> std::io::Result<Direct> {
    let Some((first, rest)) = parts.split_first() else {
        return Ok(Direct::NotSuitable);
    };
    let rest_len: usize = rest.iter().map(|p| p.len()).sum();
    if !is_aligned(first) || (first.len() % ALIGN) + rest_len > MAX_TAIL {
        return Ok(Direct::NotSuitable);
    }
    imp::create(path, first, rest)
}

#[cfg(target_os = "linux")]
mod imp {
    use std::fs;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::Path;

    use super::{ALIGN, Direct};

    fn refused(e: &std::io::Error) -> bool {
        e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error())
    }

    pub(super) fn create(path: &Path, first: &[u8], rest: &[&[u8]]) -> std::io::Result<Direct> {
        #[allow(clippy::cast_possible_wrap)]
        let flags = rustix::fs::OFlags::DIRECT.bits() as i32;
        let mut f = match fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(flags)
            .open(path)
        {
            Ok(f) => f,
            Err(e) if refused(&e) => return Ok(Direct::Refused),
            Err(e) => return Err(e),
        };
        let body = first.len() - first.len() % ALIGN;
        let written = (|| {
            if body > 0 {
                f.write_all(&first[..body])?;
            }
            if body < first.len() || !rest.is_empty() {
                // The unaligned tail (under a page, plus whatever follows) goes
                // through the page cache: the same file, the flag turned off.
                let flags = rustix::fs::fcntl_getfl(&f)?;
                rustix::fs::fcntl_setfl(&f, flags - rustix::fs::OFlags::DIRECT)?;
                f.write_all(&first[body..])?;
                for p in rest {
                    f.write_all(p)?;
                }
            }
            Ok::<(), std::io::Error>(())
        })();
        match written {
            Ok(()) => Ok(Direct::Written(f)),
            Err(e) => {
                drop(f);
                let _ = fs::remove_file(path);
                if refused(&e) {
                    Ok(Direct::Refused)
                } else {
                    Err(e)
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::path::Path;

    use super::Direct;

    pub(super) fn create(_path: &Path, _first: &[u8], _rest: &[&[u8]]) -> std::io::Result<Direct> {
        Ok(Direct::Refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aligned::AlignedBuf;

    fn check(dir: &Path, first_len: usize, rest: &[&[u8]]) {
        let mut first = AlignedBuf::zeroed(first_len);
        for (i, b) in first.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let path = dir.join(format!("f{first_len}"));
        let mut parts: Vec<&[u8]> = vec![&first];
        parts.extend_from_slice(rest);
        match create_direct(&path, &parts).unwrap() {
            Direct::Written(f) => {
                f.sync_all().unwrap();
                assert_eq!(fs::read(&path).unwrap(), parts.concat(), "{first_len}");
            }
            // tmpfs and friends: nothing left behind.
            Direct::Refused => assert!(!path.exists()),
            Direct::NotSuitable => panic!("aligned parts are suitable"),
        }
    }

    #[test]
    fn exact_bytes_whatever_the_lengths() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, ALIGN - 1, ALIGN, ALIGN + 1, 3 * ALIGN + 17, 1 << 20] {
            check(dir.path(), len, &[]);
            check(dir.path(), len, &[b"index", &[9u8; 5000]]);
        }
    }

    #[test]
    fn unaligned_or_oversized_input_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let buf = AlignedBuf::zeroed(2 * ALIGN);
        let path = dir.path().join("x");
        assert!(matches!(
            create_direct(&path, &[&buf[1..]]).unwrap(),
            Direct::NotSuitable
        ));
        let big = vec![0u8; MAX_TAIL + 1];
        assert!(matches!(
            create_direct(&path, &[&buf, &big]).unwrap(),
            Direct::NotSuitable
        ));
        assert!(!path.exists());
    }
}
