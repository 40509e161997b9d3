//! External programs for the tests that need real BitTorrent software
//! (opentracker, aria2c, transmission-daemon): each runs under `timeout(1)`,
//! so it ends by itself even if the test dies, and is stopped by PID when its
//! [`Program`] is dropped.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use pactor_fetch::torrent::InfoHash;

/// Upper bound of every external program's life.
const PROGRAM_LIFETIME_SECS: &str = "90";

/// Whether `program` is installed.
pub fn have(program: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .any(|d| Path::new(d).join(program).exists())
}

/// A port free on 127.0.0.1 for both TCP and UDP (closed again at once; the
/// program binds it a moment later).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    if std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
        return free_port();
    }
    port
}

/// A program started under `timeout`, stopped by PID when dropped.
pub struct Program {
    child: std::process::Child,
    name: &'static str,
    log: Option<PathBuf>,
}

impl Program {
    pub fn start(name: &'static str, args: &[&str], log: Option<PathBuf>) -> Program {
        let child = std::process::Command::new("timeout")
            .arg(PROGRAM_LIFETIME_SECS)
            .arg(name)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Program { child, name, log }
    }

    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// Waits for the program to end by itself, at most `limit`.
    pub async fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SIGTERM to timeout(1), which passes it on to the program.
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
    }
}

/// opentracker on 127.0.0.1, whitelisting `hashes`; it drops to `nobody`
/// and chroots into `<dir>/tracker`.
pub fn start_tracker(dir: &Path, hashes: &[InfoHash]) -> (Program, String) {
    let root = dir.join("tracker");
    std::fs::create_dir_all(&root).unwrap();
    for d in [dir, &root] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let list: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
    std::fs::write(root.join("whitelist"), list).unwrap();
    let port = free_port().to_string();
    let root_s = root.to_str().unwrap().to_owned();
    let p = Program::start(
        "opentracker",
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-P",
            &port,
            "-d",
            &root_s,
            "-w",
            "whitelist",
        ],
        None,
    );
    (p, format!("http://127.0.0.1:{port}"))
}

/// Waits until the tracker counts a seeder for `hash`.
pub async fn seeder_announced(tracker: &str, hash: InfoHash) {
    let escaped: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
    let url = format!("{tracker}/scrape?info_hash={escaped}");
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(&url).send().await {
            if let Ok(body) = r.bytes().await {
                let text = String::from_utf8_lossy(&body);
                if text.contains("8:completei") && !text.contains("8:completei0e") {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
