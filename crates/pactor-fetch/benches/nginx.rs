//! Resource use of the engine against nginx on loopback (a separate process,
//! so this process's CPU time and peak RSS are the engine's own):
//!
//! - `throughput`: one 512 MiB package from two nginx "mirrors" under a
//!   100 MB/s global limit: CPU cores used while downloading at 100 MB/s.
//! - `many`: 300 packages of 20–420 kB: peak RSS.
//!
//! Each scenario runs in a child process of its own (peak RSS is per
//! process). Prints results; never fails on them. Skips itself without nginx.
//! `cargo bench -p pactor-fetch --bench nginx`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pactor_fetch::{fetch_all_blocking, FetchItem, FetchOptions, FetchPlan, ItemKind, Limits};
use pactor_fetch::{NoopReporter, Url};
use sha2::{Digest, Sha256};

const SCENARIO_ENV: &str = "PACTOR_BENCH_SCENARIO";

fn main() {
    if let Ok(scenario) = std::env::var(SCENARIO_ENV) {
        run_scenario(&scenario);
        return;
    }
    if Command::new("nginx")
        .arg("-v")
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("nginx not installed: skipped");
        return;
    }
    for scenario in ["throughput", "many"] {
        let out = Command::new(std::env::current_exe().expect("own path"))
            .env(SCENARIO_ENV, scenario)
            .stderr(Stdio::inherit())
            .output()
            .expect("child");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// An nginx serving `root` on a free loopback port; killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    _prefix: tempfile::TempDir,
}

impl Nginx {
    fn start(root: &Path) -> Nginx {
        let prefix = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let p = prefix.path().display();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1;\n\
             pid {p}/nginx.pid; error_log {p}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{ access_log off; sendfile on;\n\
               client_body_temp_path {p}/b; proxy_temp_path {p}/p;\n\
               fastcgi_temp_path {p}/f; uwsgi_temp_path {p}/u; scgi_temp_path {p}/s;\n\
               server {{ listen 127.0.0.1:{port}; root {}; }} }}\n",
            root.display()
        );
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(prefix.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(prefix.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        // Wait until it listens (bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            _prefix: prefix,
        }
    }

    fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}/repo", self.port)).expect("url")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes files of pseudo-random bytes (streamed, so this process's peak
/// RSS stays the engine's); returns name, size and sha256 of each.
fn make_files(dir: &Path, sizes: &[usize]) -> Vec<(String, u64, [u8; 32])> {
    use std::io::Write;
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("repo");
    let mut out = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let name = format!("bench{i}-1-1-x86_64.pkg.tar.zst");
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(repo.join(&name)).expect("create"));
        let mut hasher = Sha256::new();
        let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut left = *size;
        let mut buf = Vec::with_capacity(1 << 16);
        while left > 0 {
            buf.clear();
            while buf.len() < (1 << 16).min(left) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.extend_from_slice(&x.to_le_bytes());
            }
            buf.truncate((1 << 16).min(left));
            hasher.update(&buf);
            file.write_all(&buf).expect("write");
            left -= buf.len();
        }
        file.flush().expect("flush");
        out.push((name, *size as u64, hasher.finalize().into()));
    }
    out
}

/// (user + system CPU seconds, peak RSS in KiB) of this process so far.
fn usage() -> (f64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    // USER_HZ is 100 on Linux.
    (ticks / 100.0, hwm)
}

fn run_scenario(name: &str) {
    let work = tempfile::tempdir().expect("tempdir");
    let (sizes, limit): (Vec<usize>, Option<u64>) = match name {
        "throughput" => (vec![512 * 1024 * 1024], Some(100_000_000)),
        _ => (
            (0..300).map(|i| 20_000 + (i * 7919) % 400_000).collect(),
            None,
        ),
    };
    let files = make_files(work.path(), &sizes);
    let a = Nginx::start(work.path());
    let b = Nginx::start(work.path());
    let download: PathBuf = work.path().join("download");
    let items = files
        .iter()
        .map(|(name, size, sha)| FetchItem {
            filename: name.clone(),
            size: Some(*size),
            sha256: Some(*sha),
            mirrors: vec![a.url(), b.url()],
            torrent: None,
            kind: ItemKind::Package,
        })
        .collect();
    let plan = FetchPlan {
        items,
        download_dir: download,
        limits: Limits {
            max_download_rate: limit,
            ..Limits::default()
        },
        options: FetchOptions::default(),
    };
    let total: u64 = sizes.iter().map(|s| *s as u64).sum();
    let (cpu0, _) = usage();
    let start = Instant::now();
    let result = fetch_all_blocking(plan, Arc::new(NoopReporter));
    let wall = start.elapsed().as_secs_f64();
    let (cpu1, hwm) = usage();
    let cpu = cpu1 - cpu0;
    match result {
        Ok(_) => println!(
            "{name:10}: {} files, {:.0} MB in {wall:.2} s ({:.0} MB/s), CPU {cpu:.2} s = {:.2} cores \
             (includes sha256 of every byte), peak RSS {} MiB",
            sizes.len(),
            total as f64 / 1e6,
            total as f64 / 1e6 / wall,
            cpu / wall,
            hwm / 1024
        ),
        Err(e) => println!("{name:10}: failed: {e}"),
    }
}
