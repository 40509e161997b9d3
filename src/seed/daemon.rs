//! The daemon's life: privileges, instance lock, one librqbit session for
//! its whole run, and a main loop that keeps the set of seeded packages in
//! step with the cache.
//!
//! The main loop owns every seed; the socket server and the `-Sx` handoff
//! reach it through [`Request`]s. It reconciles on a change in a CacheDir or
//! the torrents directory (inotify), every 30 seconds regardless, after op
//! `seed` and after SIGHUP: packages gone from the cache (or changed, or
//! past `ShareRatio`) are unseeded, new ones seeded newest first up to
//! `MaxTorrents`. A package is trusted (no full check) when the trust ledger
//! holds its size and mtime; otherwise librqbit checks every piece once and
//! a good result is recorded. The upload limit of the current `Schedule`
//! window is applied every minute.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::unistd::{Uid, User};
use pactor_fetch::swarm::{Seed, SeedItem, SeedState, Swarm, SwarmOptions};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

use super::ledger::{self, Ledger, Stamp, Totals};
use super::scan::{self, Candidate};
use super::schedule::{self, LocalTime};
use super::status::{PackageStatus, Status};
use super::{cli, server, DaemonHandle, Request, SeedConfig, LOCK_FILE};

/// How often the cache is scanned even without inotify events.
const RESCAN: Duration = Duration::from_secs(30);
/// How often statistics and the ledger are written.
const FLUSH: Duration = Duration::from_secs(30);
/// Events within this time are handled by one scan.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(opts: cli::Options, cfg: SeedConfig, user: Option<&str>) -> anyhow::Result<()> {
    become_user(&cfg, user)?;
    for dir in [&cfg.seed.state_dir, &cfg.seed.runtime_dir] {
        fs_err::create_dir_all(dir)?;
    }
    fs_err::create_dir_all(cfg.seed.state_dir.join("resume"))?;
    fs_err::create_dir_all(cfg.seed.state_dir.join("torrents"))?;
    let _lock = lock(&cfg.seed.runtime_dir)?;
    let rt = pactor_fetch::engine_runtime()?;
    let result = rt.block_on(main_loop(opts, cfg));
    // librqbit's tasks may hold the runtime; do not wait for them forever.
    rt.shutdown_timeout(Duration::from_secs(5));
    result
}

/// As root: with `--user`, prepares the directories for that user and
/// becomes it; without, refuses (the daemon needs no privilege, and its
/// systemd unit starts it as `pactor-seed`).
fn become_user(cfg: &SeedConfig, user: Option<&str>) -> anyhow::Result<()> {
    if !Uid::effective().is_root() {
        if let Some(u) = user {
            bail!("--user {u} needs root; pactor-seed already runs unprivileged");
        }
        return Ok(());
    }
    let Some(name) = user else {
        bail!(
            "pactor-seed does not run as root: start it with --user NAME, or through \
             pactor-seed.service (User=pactor-seed)"
        );
    };
    let u = User::from_name(name)
        .with_context(|| format!("looking up user {name}"))?
        .with_context(|| format!("no such user: {name}"))?;
    if u.uid.is_root() {
        bail!("--user {name} is root");
    }
    // The state directory is the daemon's own (0750); the runtime directory
    // must be searchable by others, who may connect to status.sock.
    for (dir, mode) in [(&cfg.seed.state_dir, 0o750), (&cfg.seed.runtime_dir, 0o755)] {
        fs_err::create_dir_all(dir)?;
        nix::unistd::chown(dir.as_path(), Some(u.uid), Some(u.gid))
            .with_context(|| format!("chown {}", dir.display()))?;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    }
    nix::unistd::setgroups(&[u.gid]).context("setgroups")?;
    nix::unistd::setgid(u.gid).context("setgid")?;
    nix::unistd::setuid(u.uid).context("setuid")?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        bail!("could not drop root privileges");
    }
    // HOME as systemd would give a system user; nothing is written there.
    std::env::set_var("HOME", &cfg.seed.state_dir);
    Ok(())
}

/// The single-instance lock: `pactor-seed.pid` in the runtime directory,
/// held with flock for the daemon's life.
fn lock(dir: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::io::{Read, Seek, Write};
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("could not open {}", path.display()))?;
    let mut file = match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock)
    {
        Ok(f) => f,
        Err((mut f, _)) => {
            let mut pid = String::new();
            let _ = f.read_to_string(&mut pid);
            bail!("pactor-seed is already running (pid {})", pid.trim());
        }
    };
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())?;
    Ok(file)
}

/// One seeded package.
struct Seeded {
    seed: Seed,
    cand: Candidate,
    /// Seeded as trusted (no full check).
    trusted: bool,
    /// Its good check was recorded in the ledger.
    recorded: bool,
}

/// The main loop's state.
struct Daemon {
    cfg: SeedConfig,
    swarm: Arc<Swarm>,
    settings: Arc<Mutex<pactor_fetch::SwarmSettings>>,
    seeds: HashMap<String, Seeded>,
    ledger: Ledger,
    /// All-time totals up to the start of this run.
    before: Totals,
    /// Bytes uploaded this run by seeds since removed, per package.
    removed_uploads: HashMap<String, u64>,
    /// Files that could not be seeded, with the stamps they and their
    /// torrent had: not tried again until one of them changes.
    rejected: HashMap<PathBuf, (Stamp, Stamp)>,
    started: Instant,
    limit: Option<u64>,
    /// The background torrent lookup ([`super::lookup`]).
    lookup: Option<tokio::sync::mpsc::UnboundedSender<Vec<(String, PathBuf)>>>,
}

fn swarm_options(cfg: &SeedConfig) -> SwarmOptions {
    SwarmOptions {
        state_dir: cfg.seed.state_dir.clone(),
        resume_dir: Some(cfg.seed.state_dir.join("resume")),
        listen_port: Some(cfg.seed.listen_port),
        dht: cfg.seed.dht,
        lsd: cfg.seed.lsd,
        trackers: cfg.trackers.clone(),
        ..Default::default()
    }
}

async fn main_loop(opts: cli::Options, cfg: SeedConfig) -> anyhow::Result<()> {
    let swarm = Arc::new(
        Swarm::start(swarm_options(&cfg))
            .await
            .context("starting the BitTorrent session")?,
    );
    let (tx, mut requests) = mpsc::channel(16);
    let settings = Arc::new(Mutex::new(cfg.swarm_settings()));
    let handle = DaemonHandle {
        swarm: swarm.clone(),
        settings: settings.clone(),
        requests: tx,
    };
    let control = server::bind(&cfg.control_socket(), 0o660)
        .with_context(|| format!("could not listen on {}", cfg.control_socket().display()))?;
    let status = server::bind(&cfg.status_socket(), 0o666)
        .with_context(|| format!("could not listen on {}", cfg.status_socket().display()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(server::accept_loop(
        control,
        true,
        handle.clone(),
        stop_rx.clone(),
    ));
    tokio::spawn(server::accept_loop(status, false, handle.clone(), stop_rx));
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let mut d = Daemon {
        ledger: ledger::load(&cfg.seed.state_dir.join("trusted.json")),
        before: ledger::load(&cfg.seed.state_dir.join("stats.json")),
        cfg,
        swarm,
        settings,
        seeds: HashMap::new(),
        removed_uploads: HashMap::new(),
        rejected: HashMap::new(),
        started: Instant::now(),
        limit: None,
        lookup: None,
    };
    d.lookup = Some(super::lookup::start(d.cfg.lookup.clone(), handle.clone()));
    eprintln!(
        "pactor-seed {} started: port {}, {} cache dir(s), {} trusted file(s) in the ledger",
        env!("CARGO_PKG_VERSION"),
        d.swarm
            .listen_addr()
            .map_or_else(|| "none".into(), |a| a.port().to_string()),
        d.cfg.cachedirs.len(),
        d.ledger.len()
    );
    d.apply_limit(true);
    let mut watcher = d.watch();
    d.reconcile().await;

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_scan = Instant::now();
    let mut last_flush = Instant::now();
    let mut dirty: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            Some(()) = async { match watcher.as_mut() { Some(w) => w.recv().await, None => std::future::pending().await } } => {
                dirty.get_or_insert_with(|| Instant::now() + DEBOUNCE);
            }
            Some(req) = requests.recv() => match req {
                Request::Seed { files, done } => {
                    d.seed_files(files).await;
                    let _ = done.send(());
                }
                Request::Status { reply } => {
                    let _ = reply.send(d.status());
                }
            },
            _ = hup.recv() => {
                d.reload(&opts).await;
                watcher = d.watch();
                dirty = Some(Instant::now());
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        d.check_seeds().await;
        if dirty.is_some_and(|t| Instant::now() >= t) || last_scan.elapsed() >= RESCAN {
            dirty = None;
            last_scan = Instant::now();
            d.reconcile().await;
        }
        if last_flush.elapsed() >= FLUSH {
            last_flush = Instant::now();
            d.flush();
            d.apply_limit(false);
        }
    }
    eprintln!("pactor-seed stopping");
    let _ = stop_tx.send(true);
    d.flush();
    let _ = std::fs::remove_file(d.cfg.control_socket());
    let _ = std::fs::remove_file(d.cfg.status_socket());
    let Daemon { swarm, seeds, .. } = d;
    drop(seeds);
    drop(handle);
    if let Ok(swarm) = Arc::try_unwrap(swarm) {
        // Saves the DHT table.
        tokio::time::timeout(Duration::from_secs(5), swarm.stop())
            .await
            .ok();
    }
    Ok(())
}

impl Daemon {
    /// Watches the CacheDirs and the torrents directory.
    fn watch(&self) -> Option<mpsc::Receiver<()>> {
        let mut dirs = self.cfg.cachedirs.clone();
        dirs.push(self.cfg.torrents_dir.clone());
        dirs.push(self.cfg.lookup.store.clone());
        scan::watch(&dirs)
    }

    /// The rate of the current schedule window, applied to the session.
    fn apply_limit(&mut self, force: bool) {
        let s = &self.cfg.seed;
        let rate = schedule::rate_at(&s.schedule, s.upload_limit, LocalTime::now());
        let limit = (rate > 0).then_some(rate);
        if force || limit != self.limit {
            self.swarm.set_upload_limit(limit);
            if let Ok(mut st) = self.settings.lock() {
                st.max_upload_rate = limit;
            }
            match limit {
                Some(r) => eprintln!("upload limit: {r} bytes/s"),
                None => eprintln!("upload limit: none"),
            }
            self.limit = limit;
        }
    }

    /// Bytes uploaded this run for a package (live seed and removed ones).
    fn session_upload(&self, filename: &str) -> u64 {
        let live = self
            .seeds
            .get(filename)
            .map_or(0, |s| s.seed.stats().uploaded);
        live + self.removed_uploads.get(filename).copied().unwrap_or(0)
    }

    fn all_time(&self, filename: &str) -> u64 {
        self.before.packages.get(filename).copied().unwrap_or(0) + self.session_upload(filename)
    }

    /// Brings the seeds in step with the cache.
    async fn reconcile(&mut self) {
        let (candidates, missing) = scan::scan(
            &self.cfg.cachedirs,
            &[self.cfg.torrents_dir.clone(), self.cfg.lookup.store.clone()],
        );
        if let Some(l) = &self.lookup {
            if !missing.is_empty() {
                let _ = l.send(missing);
            }
        }
        let s = &self.cfg.seed;
        let mut want: Vec<Candidate> = Vec::new();
        for c in candidates {
            if self.rejected.get(&c.path) == Some(&(c.stamp, c.torrent_stamp)) {
                continue;
            }
            if s.share_ratio > 0.0
                && self.all_time(&c.filename) as f64 >= s.share_ratio * c.stamp.size as f64
            {
                continue;
            }
            want.push(c);
            if s.max_torrents > 0 && want.len() >= s.max_torrents {
                break;
            }
        }
        let gone: Vec<String> = self
            .seeds
            .iter()
            .filter(|(name, seeded)| {
                !want
                    .iter()
                    .any(|c| &c.filename == *name && *c == seeded.cand)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            self.unseed(&name, "no longer in the cache, changed, or over a limit")
                .await;
        }
        for c in want {
            if self.seeds.contains_key(&c.filename) {
                continue;
            }
            self.seed(c).await;
        }
        // Forget ledger entries of files that are gone.
        self.ledger.retain(|p| p.exists());
    }

    async fn seed(&mut self, c: Candidate) {
        let metainfo = match read_torrent(&c.torrent) {
            Ok(m) => m,
            Err(e) => {
                crate::ui::output::warning(&format!("{}: {e}", c.torrent.display()));
                self.rejected
                    .insert(c.path.clone(), (c.stamp, c.torrent_stamp));
                return;
            }
        };
        let trusted = self.ledger.trusts(&c.path, c.stamp);
        if !trusted {
            // Not vouched for with this size and mtime: a bitfield librqbit
            // kept from an earlier check of another version of the file must
            // not stand in for a check of this one.
            self.forget_bitfield(&metainfo);
        }
        let item = SeedItem {
            path: c.path.clone(),
            metainfo,
            trusted,
        };
        match self.swarm.seed(item).await {
            Ok(seed) => {
                eprintln!(
                    "seeding {}{}",
                    c.filename,
                    if trusted { "" } else { " (checking it first)" }
                );
                self.seeds.insert(
                    c.filename.clone(),
                    Seeded {
                        seed,
                        cand: c,
                        trusted,
                        recorded: trusted,
                    },
                );
            }
            Err(e) => {
                crate::ui::output::warning(&format!("not seeding {}: {e}", c.filename));
                self.rejected.insert(c.path, (c.stamp, c.torrent_stamp));
            }
        }
    }

    /// Removes librqbit's stored have-bitfield of a torrent
    /// (`<StateDir>/resume/<infohash>.bitv`), so that the next add hashes
    /// the whole file.
    fn forget_bitfield(&self, metainfo: &[u8]) {
        let Ok(meta) = pactor_fetch::torrent::Metainfo::from_bytes(metainfo) else {
            return;
        };
        let bitv = self
            .cfg
            .seed
            .state_dir
            .join("resume")
            .join(format!("{}.bitv", meta.info_hash().to_hex()));
        match std::fs::remove_file(&bitv) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => crate::ui::output::warning(&format!("removing {}: {e}", bitv.display())),
        }
    }

    async fn unseed(&mut self, name: &str, why: &str) {
        let Some(s) = self.seeds.remove(name) else {
            return;
        };
        let up = s.seed.stats().uploaded;
        *self.removed_uploads.entry(name.to_owned()).or_default() += up;
        if let Err(e) = self.swarm.unseed(&s.seed).await {
            crate::ui::output::warning(&format!("unseeding {name}: {e}"));
        }
        eprintln!("stopped seeding {name}: {why}");
    }

    /// Records finished checks in the ledger; drops seeds in error.
    async fn check_seeds(&mut self) {
        let mut failed = Vec::new();
        for (name, s) in &mut self.seeds {
            let st = s.seed.stats();
            match st.state {
                SeedState::Seeding if st.have >= st.size => {
                    if !s.recorded {
                        // Only if the file is still the one that was checked.
                        if std::fs::metadata(&s.cand.path)
                            .is_ok_and(|m| Stamp::of(&m) == s.cand.stamp)
                        {
                            self.ledger.record(&s.cand.path, s.cand.stamp);
                        }
                        s.recorded = true;
                    }
                }
                SeedState::Seeding => {
                    failed.push((name.clone(), "pieces missing or bad".to_owned()))
                }
                SeedState::Error(e) => failed.push((name.clone(), e)),
                SeedState::Checking => {}
            }
        }
        for (name, why) in failed {
            if let Some(s) = self.seeds.get(&name) {
                let (path, stamps, trusted) = (
                    s.cand.path.clone(),
                    (s.cand.stamp, s.cand.torrent_stamp),
                    s.trusted,
                );
                self.rejected.insert(path.clone(), stamps);
                if trusted {
                    self.ledger.retain(|p| p != path);
                }
            }
            crate::ui::output::warning(&format!("not seeding {name}: {why}"));
            self.unseed(&name, "its check failed").await;
        }
    }

    /// Op `seed`: files pactor just placed in the cache.
    async fn seed_files(&mut self, files: Vec<(PathBuf, bool)>) {
        for (path, trusted) in files {
            let in_cache = path
                .parent()
                .is_some_and(|p| self.cfg.cachedirs.iter().any(|c| same_dir(c, p)));
            let name_ok = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(scan::is_package);
            if !in_cache || !name_ok {
                crate::ui::output::warning(&format!(
                    "not seeding {}: not a package file in a CacheDir",
                    path.display()
                ));
                continue;
            }
            if trusted {
                if let Ok(m) = std::fs::metadata(&path) {
                    self.ledger.record(&path, Stamp::of(&m));
                }
            }
            // A file sent again is worth another try.
            self.rejected.remove(&path);
        }
        self.reconcile().await;
        self.flush();
    }

    /// Writes statistics and the ledger.
    fn flush(&mut self) {
        let dir = &self.cfg.seed.state_dir;
        let mut t = self.before.clone();
        t.uploaded += self.swarm.totals().uploaded;
        let names: Vec<String> = self
            .seeds
            .keys()
            .chain(self.removed_uploads.keys())
            .cloned()
            .collect();
        for n in names {
            let up = self.session_upload(&n);
            *t.packages.entry(n).or_default() += up;
        }
        if let Err(e) = ledger::save(&dir.join("stats.json"), &t) {
            crate::ui::output::warning(&format!(
                "writing {}: {e}",
                dir.join("stats.json").display()
            ));
        }
        if let Err(e) = self.ledger.flush(&dir.join("trusted.json")) {
            crate::ui::output::warning(&format!(
                "writing {}: {e}",
                dir.join("trusted.json").display()
            ));
        }
    }

    /// SIGHUP: reads the configuration again; a bad one keeps the old.
    async fn reload(&mut self, opts: &cli::Options) {
        let new = match SeedConfig::reload(opts, &self.cfg) {
            Ok(c) => c,
            Err(e) => {
                crate::ui::output::error(&format!("{e} (keeping the previous configuration)"));
                return;
            }
        };
        let (o, n) = (&self.cfg.seed, &new.seed);
        if o.listen_port != n.listen_port
            || o.dht != n.dht
            || o.lsd != n.lsd
            || o.state_dir != n.state_dir
            || o.runtime_dir != n.runtime_dir
            || self.cfg.trackers != new.trackers
        {
            crate::ui::output::warning(
                "ListenPort, DHT, LSD, StateDir, RuntimeDir and Tracker take effect after a restart",
            );
        }
        let keep = (
            o.listen_port,
            o.dht,
            o.lsd,
            o.state_dir.clone(),
            o.runtime_dir.clone(),
            self.cfg.trackers.clone(),
        );
        self.cfg = new;
        let s = &mut self.cfg.seed;
        (s.listen_port, s.dht, s.lsd, s.state_dir, s.runtime_dir) =
            (keep.0, keep.1, keep.2, keep.3, keep.4);
        self.cfg.trackers = keep.5;
        if let Ok(mut st) = self.settings.lock() {
            *st = self.cfg.swarm_settings();
        }
        self.apply_limit(true);
        eprintln!("configuration reloaded");
    }

    fn status(&self) -> Status {
        let totals = self.swarm.totals();
        let mut packages: Vec<PackageStatus> = self
            .seeds
            .values()
            .map(|s| {
                let st = s.seed.stats();
                PackageStatus {
                    filename: s.cand.filename.clone(),
                    path: s.cand.path.display().to_string(),
                    size: st.size,
                    state: match st.state {
                        SeedState::Checking => "checking".into(),
                        SeedState::Seeding => "seeding".into(),
                        SeedState::Error(e) => format!("error: {e}"),
                    },
                    peers: st.peers,
                    upload_rate: st.upload_rate,
                    uploaded: self.session_upload(&s.cand.filename),
                    uploaded_all_time: self.all_time(&s.cand.filename),
                }
            })
            .collect();
        packages.sort_by(|a, b| a.filename.cmp(&b.filename));
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            listen_port: self.swarm.listen_addr().map(|a| a.port()),
            upload_limit: self.limit,
            torrents: packages.len(),
            peers: totals.peers,
            upload_rate: totals.upload_rate,
            download_rate: totals.download_rate,
            uploaded: totals.uploaded,
            downloaded: totals.downloaded,
            uploaded_all_time: self.before.uploaded + totals.uploaded,
            packages,
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    canon(a) == canon(b)
}

/// A stored torrent, size-checked before it is read.
fn read_torrent(path: &Path) -> std::io::Result<Vec<u8>> {
    let meta = fs_err::metadata(path)?;
    if meta.len() > pactor_fetch::torrent::MAX_TORRENT_BYTES as u64 {
        return Err(std::io::Error::other("torrent file too large"));
    }
    fs_err::read(path)
}
