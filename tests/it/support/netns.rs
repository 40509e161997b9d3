//! A private network namespace for one test: only loopback, no route out.
//! Tests of `-x` with published torrents use it, so that whatever the swarm
//! tries beyond the sandbox (DHT bootstrap, local service discovery) cannot
//! leave the machine; the mirrors are started after it, inside it.
//!
//! Namespaces belong to threads: `unshare(CLONE_NEWNET)` moves the calling
//! thread (each test runs in its own thread, or process under nextest), and
//! threads and processes it starts afterwards inherit the namespace.

use std::process::Command;

/// Moves the calling thread into a fresh network namespace with loopback up.
/// `Err` says why not (not root, no `ip`, kernel refused).
pub fn isolate_thread() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root for a private network namespace".into());
    }
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .ok_or("iproute2's ip not found")?;
    // SAFETY: unshare takes flags only; it changes this thread's namespace.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(format!(
            "unshare(CLONE_NEWNET): {}",
            std::io::Error::last_os_error()
        ));
    }
    let st = Command::new(ip)
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("{ip}: {e}"))?;
    if !st.success() {
        return Err(format!("{ip} link set lo up failed"));
    }
    Ok(())
}
