//! A `pactor-seed` daemon for one test: the real binary, started as root
//! with `--user nobody`, on the sandbox's pacman.conf and a pactor.conf
//! beside it whose `[seed]` section keeps its runtime and state directories
//! inside the sandbox and turns DHT and LSD off. Its log (stderr) goes to a
//! file; it is stopped (SIGTERM, then SIGKILL) when dropped.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The daemon binary built with pactor.
pub fn pactor_seed() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pactor-seed"))
}

/// pactor.conf for a sandbox whose pacman.conf is in `dir`: pactor and the
/// daemon talk to no one but the sandbox (no DHT, no LSD), every package with
/// a torrent goes to the swarm however small, and the daemon keeps its
/// sockets in `<dir>/seed-run` and its state in `<dir>/seed-state`.
pub fn write_pactor_conf(dir: &Path) {
    let conf = format!(
        "[options]\nDHT = no\nLSD = no\nTorrentMinSize = 0\n\n[seed]\nRuntimeDir = {run}\nStateDir = {state}\nListenPort = 0\nDHT = no\nLSD = no\n",
        run = dir.join("seed-run").display(),
        state = dir.join("seed-state").display(),
    );
    std::fs::write(dir.join("pactor.conf"), conf).unwrap();
}

pub struct SeedDaemon {
    child: Option<Child>,
    pub runtime_dir: PathBuf,
    log: PathBuf,
}

impl SeedDaemon {
    /// Starts the daemon on `pacman_conf` (pactor.conf beside it, see
    /// [`write_pactor_conf`]) and waits until its control socket answers.
    pub fn start(pacman_conf: &Path) -> SeedDaemon {
        let dir = pacman_conf.parent().unwrap();
        let log = dir.join("pactor-seed.log");
        let child = Command::new(pactor_seed())
            .arg("--pacman-config")
            .arg(pacman_conf)
            .args(["run", "--user", "nobody"])
            .env_clear()
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start pactor-seed");
        let d = SeedDaemon {
            child: Some(child),
            runtime_dir: dir.join("seed-run"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(d.runtime_dir.join("control.sock")).is_err() {
            assert!(
                Instant::now() < deadline,
                "pactor-seed did not open its control socket in 20 s; its log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().unwrap().id() as i32)
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The status object (op `status` on status.sock).
    pub fn status(&self) -> serde_json::Value {
        let mut s = UnixStream::connect(self.runtime_dir.join("status.sock")).expect("status.sock");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"{\"op\":\"status\"}\n").unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("status {line:?}: {e}"))
    }

    /// Waits up to `limit` until `ok(status)`; returns the last status.
    pub fn wait_status(
        &self,
        limit: Duration,
        ok: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.status();
            if ok(&s) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, no goodbye; waits for it to be gone.
    pub fn kill_hard(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(self.pid_of(&c), Signal::SIGKILL);
            let _ = c.wait();
        }
    }

    fn pid_of(&self, c: &Child) -> Pid {
        Pid::from_raw(c.id() as i32)
    }
}

impl Drop for SeedDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = kill(self.pid_of(&c), Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
