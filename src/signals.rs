//! pacman's soft interrupt (`src/pacman/sighandler.c`): SIGINT or SIGHUP
//! during a commit asks libalpm to stop at a safe point; at any other time the
//! database lock is released and pactor exits with 128 + the signal. Files
//! already in the cache (and the engine's verified pieces) stay. The signal
//! is passed on to the download process, when one runs (src/sandbox.rs), so
//! that it stops as well even when the signal was sent to pactor alone.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering};

static HANDLE: AtomicPtr<alpm_sys::alpm_handle_t> = AtomicPtr::new(std::ptr::null_mut());
static INTERRUPTED: AtomicBool = AtomicBool::new(false);
/// The download process's pid while it runs, else 0.
static ENGINE_CHILD: AtomicI32 = AtomicI32::new(0);

/// Whether SIGINT/SIGHUP arrived during a transaction: pactor's downloads
/// stop (keeping verified pieces) and libalpm's commit winds down.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

fn xwrite(fd: i32, msg: &[u8]) {
    // SAFETY: write(2) is async-signal-safe; the buffer is valid.
    unsafe {
        libc::write(fd, msg.as_ptr().cast(), msg.len());
    }
}

extern "C" fn soft_interrupt(signum: libc::c_int) {
    if signum == libc::SIGINT {
        xwrite(2, b"\nInterrupt signal received\n");
    } else {
        xwrite(2, b"\nHangup signal received\n");
    }
    INTERRUPTED.store(true, Ordering::SeqCst);
    let child = ENGINE_CHILD.load(Ordering::SeqCst);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe; the pid is our unreaped child.
        unsafe {
            libc::kill(child, signum);
        }
    }
    let handle = HANDLE.load(Ordering::SeqCst);
    if !handle.is_null() {
        // SAFETY: the handle stays alive while registered (see `register`);
        // alpm_trans_interrupt only sets a flag.
        if unsafe { alpm_sys::alpm_trans_interrupt(handle) } == 0 {
            return;
        }
        // SAFETY: alpm_unlock only unlinks the lock file.
        unsafe {
            alpm_sys::alpm_unlock(handle);
        }
    }
    xwrite(1, b"\n");
    // SAFETY: _exit is async-signal-safe.
    unsafe { libc::_exit(128 + signum) }
}

/// Installs the handler for SIGINT and SIGHUP.
pub fn install() {
    // SAFETY: installing a handler that only calls async-signal-safe code.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = soft_interrupt as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaddset(&mut action.sa_mask, libc::SIGINT);
        libc::sigaddset(&mut action.sa_mask, libc::SIGHUP);
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGHUP, &action, std::ptr::null_mut());
    }
}

/// Tells the handler which download process to pass the signal on to
/// (`None` once it has ended, before it is reaped).
pub fn engine_child(pid: Option<u32>) {
    let pid = pid.and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
    ENGINE_CHILD.store(pid, Ordering::SeqCst);
}

/// Makes `handle` the one the handler interrupts or unlocks; `None` before
/// the handle is released.
pub fn register(handle: Option<*mut alpm_sys::alpm_handle_t>) {
    HANDLE.store(handle.unwrap_or(std::ptr::null_mut()), Ordering::SeqCst);
}
