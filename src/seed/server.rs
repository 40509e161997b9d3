//! The daemon's two Unix sockets, in its runtime directory. Requests are
//! JSON lines: one object per line with an `"op"`, answered by one line.
//!
//! - `status.sock` (mode 0666): op `status` only, for anyone.
//! - `control.sock` (mode 0660, the daemon's user and group): ops `status`,
//!   `seed` and `fetch`. The file mode keeps other users out; the peer's
//!   credentials (`SO_PEERCRED`) are checked as well, so a socket whose
//!   mode was opened up still takes commands only from root, the daemon's
//!   own user and members of its group. Others get
//!   `{"error": "permission denied"}`.
//!
//! Op `fetch` hands the connection over to [`super::handoff`], which runs a
//! `pactor -Sx` download in the daemon's session.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

/// A stop signal for the accept loops: turns true once.
type Cancel = tokio::sync::watch::Receiver<bool>;

use super::DaemonHandle;

/// Longest request line accepted (a fetch plan of a whole system upgrade
/// fits many times over).
const MAX_LINE: usize = 16 << 20;

/// How long a connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds a socket at `path` with `mode`, replacing a stale one (the caller
/// holds the instance lock, so no live daemon owns it).
pub fn bind(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(l)
}

/// Accepts connections on one socket until `stop` turns true.
pub(crate) async fn accept_loop(
    listener: UnixListener,
    control: bool,
    daemon: DaemonHandle,
    mut stop: Cancel,
) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    let d = daemon.clone();
                    tokio::spawn(async move { connection(stream, control, d).await });
                }
                Err(e) => {
                    crate::ui::output::warning(&format!("accepting a connection: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.changed() => return,
        }
    }
}

/// Whether the peer may command downloads and seeding: root, the daemon's
/// own user, or a member of the daemon's group.
fn may_command(stream: &UnixStream) -> (bool, u32) {
    let Ok(cred) = stream.peer_cred() else {
        return (false, u32::MAX);
    };
    let uid = cred.uid();
    let my_uid = nix::unistd::geteuid().as_raw();
    let my_gid = nix::unistd::getegid().as_raw();
    let ok = uid == 0
        || uid == my_uid
        || cred.gid() == my_gid
        || cred
            .pid()
            .is_some_and(|pid| supplementary_groups(pid).contains(&my_gid));
    (ok, uid)
}

/// The supplementary groups of a process (`Groups:` of /proc/PID/status).
fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    text.lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Reads one request line without reading past it: bytes are peeked first,
/// so a connection handed over after a `fetch` line loses nothing.
async fn read_line(stream: &UnixStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        stream.readable().await?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(stream);
        // SAFETY: a valid socket and buffer; MSG_PEEK leaves the bytes.
        let n = unsafe {
            libc::recv(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                continue;
            }
            return Err(e);
        }
        let n = n as usize;
        if n == 0 {
            return Ok((!line.is_empty()).then_some(line));
        }
        // Everything before the first newline belongs to this line.
        let take = buf[..n].iter().position(|&b| b == b'\n').map(|i| i + 1);
        let want = take.unwrap_or(n);
        let mut got = 0;
        while got < want {
            match stream.try_read(&mut buf[got..want]) {
                Ok(0) => return Ok(Some(line)),
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    stream.readable().await?;
                }
                Err(e) => return Err(e),
            }
        }
        line.extend_from_slice(&buf[..want]);
        if take.is_some() {
            line.pop();
            return Ok(Some(line));
        }
        if line.len() > MAX_LINE {
            return Err(std::io::Error::other("request too long"));
        }
    }
}

async fn reply(stream: &mut UnixStream, v: &Value) -> std::io::Result<()> {
    let mut line = v.to_string();
    line.push('\n');
    stream.write_all(line.as_bytes()).await
}

/// One connection: requests until the peer closes, or until a `fetch`
/// takes the connection over.
async fn connection(mut stream: UnixStream, control: bool, daemon: DaemonHandle) {
    let (allowed, uid) = if control {
        may_command(&stream)
    } else {
        (false, u32::MAX)
    };
    loop {
        let line = match tokio::time::timeout(REQUEST_TIMEOUT, read_line(&stream)).await {
            Ok(Ok(Some(l))) => l,
            _ => return,
        };
        let req: Value = match serde_json::from_slice(&line) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                let _ = reply(
                    &mut stream,
                    &json!({"error": "bad request: not a JSON object"}),
                )
                .await;
                return;
            }
        };
        let op = req.get("op").and_then(Value::as_str).unwrap_or("");
        let answer = match op {
            "status" => match daemon.status().await {
                Some(s) => serde_json::to_value(s).unwrap_or(Value::Null),
                None => json!({"error": "pactor-seed is stopping"}),
            },
            "seed" | "fetch" if !control => {
                json!({"error": format!("op '{op}' is only taken on {}", super::CONTROL_SOCKET)})
            }
            "seed" | "fetch" if !allowed => json!({"error": "permission denied"}),
            "seed" => match seed_request(&req) {
                Ok(files) => {
                    daemon.seed_files(files).await;
                    json!({"ok": true})
                }
                Err(e) => json!({"error": e}),
            },
            // The connection is the transaction's from here on.
            "fetch" => {
                if let Err(e) = super::handoff::serve(req, stream, uid, daemon).await {
                    let why = pactor_fetch::error::chain_text(&e);
                    eprintln!("handoff from uid {uid}: {why}");
                }
                return;
            }
            other => json!({"error": format!("unknown op '{other}'")}),
        };
        if reply(&mut stream, &answer).await.is_err() {
            return;
        }
    }
}

/// The files of an op `seed` request.
fn seed_request(req: &Value) -> Result<Vec<(PathBuf, bool)>, String> {
    let files = req
        .get("files")
        .and_then(Value::as_array)
        .ok_or("op 'seed' needs \"files\": [{\"path\": …, \"trusted\": …}]")?;
    files
        .iter()
        .map(|f| {
            let path = f
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| p.starts_with('/'))
                .ok_or("each file needs an absolute \"path\"")?;
            let trusted = f.get("trusted").and_then(Value::as_bool).unwrap_or(false);
            Ok((PathBuf::from(path), trusted))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_requests_need_absolute_paths() {
        let ok = json!({"op": "seed", "files": [{"path": "/c/a.pkg.tar.zst", "trusted": true}, {"path": "/c/b.pkg.tar.zst"}]});
        assert_eq!(
            seed_request(&ok).unwrap(),
            vec![
                (PathBuf::from("/c/a.pkg.tar.zst"), true),
                (PathBuf::from("/c/b.pkg.tar.zst"), false)
            ]
        );
        assert!(seed_request(&json!({"op": "seed", "files": [{"path": "a"}]})).is_err());
        assert!(seed_request(&json!({"op": "seed"})).is_err());
    }
}
