//! SIGINT and SIGTERM for `omew write`.
//!
//! The first signal asks the write loop to stop reading input: every frame already
//! handed to the stream is stored, the dataset is finished with status `partial`, and
//! `omew` exits with 128 + the signal number. A second signal aborts at once with the
//! same code; the dataset then says `acquiring` until `omew repair` finishes it, and
//! every frame before its last durability point reads back.
//!
//! The handler is installed without `SA_RESTART`, and the signals are blocked in every
//! thread but the main one (threads inherit the mask of the thread that spawns them),
//! so a read of a stalled input pipe returns `EINTR` on the main thread at once.

use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

static RECEIVED: AtomicUsize = AtomicUsize::new(0);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// A write stopped by a signal (the dataset was finished as partial).
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped by {name}: every frame read before it was stored and the dataset finished as \
     partial",
    name = signal_name(*signal)
)]
pub(crate) struct Interrupted {
    /// The signal number.
    pub(crate) signal: i32,
}

impl Interrupted {
    /// The conventional exit code, 128 + the signal number.
    pub(crate) fn exit_code(&self) -> u8 {
        u8::try_from(128 + self.signal).unwrap_or(1)
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        _ => "a signal",
    }
}

extern "C" fn on_signal(signal: libc::c_int) {
    // Only async-signal-safe work: atomics, and `_exit` on the second signal.
    SIGNAL.store(signal, Ordering::SeqCst);
    if RECEIVED.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: `_exit` is async-signal-safe and never returns.
        unsafe { libc::_exit(128 + signal) }
    }
}

/// The signal that asked the write to stop, if one came.
pub(crate) fn requested() -> Option<Interrupted> {
    (RECEIVED.load(Ordering::SeqCst) > 0).then(|| Interrupted {
        signal: SIGNAL.load(Ordering::SeqCst),
    })
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it before any use, and
    // sigaddset is given valid signal numbers.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
        set
    }
}

fn set_mask(how: libc::c_int) {
    let set = signal_set();
    // SAFETY: `set` is an initialized signal set; a null old-set pointer is allowed.
    unsafe {
        libc::pthread_sigmask(how, &raw const set, std::ptr::null_mut());
    }
}

/// Install the handlers, then run `spawn` (which starts the stream's threads) with the
/// signals blocked, so that only the calling thread ever receives them.
pub(crate) fn with_handlers<T>(spawn: impl FnOnce() -> T) -> T {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the action is zero-initialized plain data with a valid handler of
        // the `sa_handler` form (no SA_SIGINFO) and an empty mask; sigaction is given
        // a valid signal number and a null old-action pointer.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            libc::sigemptyset(&raw mut action.sa_mask);
            action.sa_flags = 0;
            libc::sigaction(signal, &raw const action, std::ptr::null_mut());
        }
    }
    set_mask(libc::SIG_BLOCK);
    let out = spawn();
    set_mask(libc::SIG_UNBLOCK);
    out
}
