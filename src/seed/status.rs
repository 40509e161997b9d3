//! `pactor-seed status`: the status object the daemon answers on its
//! sockets, and its rendering as a table for people.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The daemon's state (op `status`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    /// pactor-seed's version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// The port peers connect to, when listening.
    pub listen_port: Option<u16>,
    /// The upload limit in force now (bytes/s), `None` for no limit.
    pub upload_limit: Option<u64>,
    /// Packages being seeded (or checked).
    pub torrents: usize,
    /// Peers connected, over all packages.
    pub peers: usize,
    /// Bytes per second sent now.
    pub upload_rate: u64,
    /// Bytes per second received now (downloads handed over by pactor).
    pub download_rate: u64,
    /// Bytes sent since the daemon started.
    pub uploaded: u64,
    /// Bytes received since the daemon started.
    pub downloaded: u64,
    /// Bytes sent, all runs together.
    pub uploaded_all_time: u64,
    /// One entry per package, by file name.
    pub packages: Vec<PackageStatus>,
}

/// One seeded package.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PackageStatus {
    /// File name.
    pub filename: String,
    /// Path in its CacheDir.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// `checking`, `seeding` or `error: …`.
    pub state: String,
    /// Peers connected to this package.
    pub peers: usize,
    /// Bytes per second sent now.
    pub upload_rate: u64,
    /// Bytes sent since the daemon started.
    pub uploaded: u64,
    /// Bytes sent, all runs together.
    pub uploaded_all_time: u64,
}

fn size(bytes: u64) -> String {
    let (v, unit) = crate::ui::output::humanize_size(bytes as i64, None, 2);
    format!("{v:.2} {unit}")
}

fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m:02}m")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

impl Status {
    /// The table `pactor-seed status` prints, in pacman's `Key : value` form
    /// followed by one line per package.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let limit = match self.upload_limit {
            Some(l) => format!("{}/s", size(l)),
            None => "none".into(),
        };
        let port = self
            .listen_port
            .map_or_else(|| "not listening".into(), |p| p.to_string());
        let rows = [
            ("Version", self.version.clone()),
            ("PID", self.pid.to_string()),
            ("Running for", duration(self.uptime_secs)),
            ("Listen port", port),
            ("Torrents seeded", self.torrents.to_string()),
            ("Peers", self.peers.to_string()),
            ("Upload rate", format!("{}/s", size(self.upload_rate))),
            ("Upload limit", limit),
            ("Download rate", format!("{}/s", size(self.download_rate))),
            ("Uploaded", format!("{} since start", size(self.uploaded))),
            ("Uploaded all-time", size(self.uploaded_all_time)),
            (
                "Downloaded",
                format!("{} since start", size(self.downloaded)),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(o, "{k:<18}: {v}");
        }
        if self.packages.is_empty() {
            return o;
        }
        let width = self
            .packages
            .iter()
            .map(|p| p.filename.len())
            .max()
            .unwrap_or(0)
            .max("Package".len());
        let _ = writeln!(
            o,
            "\n{:<width$}  {:>11}  {:>5}  {:>13}  {:>11}  {:>11}  State",
            "Package", "Size", "Peers", "Upload rate", "Uploaded", "All-time"
        );
        for p in &self.packages {
            let _ = writeln!(
                o,
                "{:<width$}  {:>11}  {:>5}  {:>13}  {:>11}  {:>11}  {}",
                p.filename,
                size(p.size),
                p.peers,
                format!("{}/s", size(p.upload_rate)),
                size(p.uploaded),
                size(p.uploaded_all_time),
                p.state
            );
        }
        o
    }
}

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon listens on the socket.
    #[error("pactor-seed is not running (no socket at {0})")]
    NotRunning(String),
    /// The socket refused this user.
    #[error("{socket}: {message}")]
    Socket {
        /// The socket.
        socket: String,
        /// strerror text.
        message: String,
    },
    /// The daemon answered with an error.
    #[error("{0}")]
    Daemon(String),
    /// The answer was not what the protocol says.
    #[error("unexpected answer from pactor-seed: {0}")]
    Protocol(String),
}

/// Sends one request line to the daemon's socket and returns its one-line
/// answer, parsed; `{"error": …}` becomes [`ClientError::Daemon`].
pub fn request(socket: &Path, req: &serde_json::Value) -> Result<serde_json::Value, ClientError> {
    let name = socket.display().to_string();
    let stream = UnixStream::connect(socket).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(name.clone())
        }
        _ => ClientError::Socket {
            socket: name.clone(),
            message: crate::ui::output::strerror(&e),
        },
    })?;
    let io = |e: std::io::Error| ClientError::Socket {
        socket: name.clone(),
        message: crate::ui::output::strerror(&e),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io)?;
    let mut line = req.to_string();
    line.push('\n');
    (&stream).write_all(line.as_bytes()).map_err(io)?;
    let mut answer = String::new();
    BufReader::new(&stream).read_line(&mut answer).map_err(io)?;
    let v: serde_json::Value = serde_json::from_str(answer.trim_end())
        .map_err(|_| ClientError::Protocol(answer.trim_end().to_owned()))?;
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        return Err(ClientError::Daemon(e.to_owned()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_totals_and_one_line_per_package() {
        let s = Status {
            version: "0.1.0".into(),
            pid: 42,
            uptime_secs: 3723,
            listen_port: Some(6881),
            upload_limit: Some(262144),
            torrents: 1,
            peers: 2,
            upload_rate: 1024,
            uploaded: 5 * 1024 * 1024,
            uploaded_all_time: 7 * 1024 * 1024,
            packages: vec![PackageStatus {
                filename: "a-1-1-x86_64.pkg.tar.zst".into(),
                size: 1 << 20,
                state: "seeding".into(),
                peers: 2,
                ..Default::default()
            }],
            ..Default::default()
        };
        let t = s.render();
        assert!(t.contains("Running for       : 1h 02m\n"), "{t}");
        assert!(t.contains("Upload limit      : 256.00 KiB/s\n"), "{t}");
        assert!(t.contains("Uploaded all-time : 7.00 MiB\n"), "{t}");
        let line = t.lines().last().unwrap();
        assert!(line.starts_with("a-1-1-x86_64.pkg.tar.zst  "), "{line}");
        assert!(line.ends_with("  seeding"), "{line}");
    }
}
