//! pactor-seed: a daemon that seeds pacman's package cache to the BitTorrent
//! swarm, and serves `pactor -Sx` over a local socket so that its warm
//! session (DHT table, peers) is reused.
//!
//! [`main`] parses the command line ([`cli`]); `run` starts the daemon
//! ([`daemon`]), `status` and `seed` ask the running one through its sockets
//! ([`server`], [`status`]). Settings come from the `[seed]` section of
//! pactor.conf and the CacheDirs of pacman.conf ([`SeedConfig`]). The daemon
//! never needs root: it reads the cache and pactor's torrents, and writes
//! only its state and runtime directories.

pub mod cli;
pub mod daemon;
pub mod handoff;
pub mod ledger;
pub mod lookup;
pub mod scan;
pub mod schedule;
pub mod server;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pactor_fetch::swarm::Swarm;
use pactor_fetch::{SwarmSettings, Url};
use tokio::sync::{mpsc, oneshot};

use crate::config::{ConfigError, SeedSettings};
use crate::ui::output;

/// Name of the socket that takes commands (root and the daemon's group).
pub const CONTROL_SOCKET: &str = "control.sock";
/// Name of the socket anyone may ask for the status.
pub const STATUS_SOCKET: &str = "status.sock";
/// Name of the lock file holding the daemon's pid.
pub const LOCK_FILE: &str = "pactor-seed.pid";

/// Everything the daemon reads from pactor.conf and pacman.conf.
#[derive(Debug, Clone, PartialEq)]
pub struct SeedConfig {
    /// The pactor.conf read.
    pub pactor_conf: PathBuf,
    /// The `[seed]` section.
    pub seed: SeedSettings,
    /// `Tracker`s of `[options]`, announced to for every torrent.
    pub trackers: Vec<Url>,
    /// pacman's CacheDirs.
    pub cachedirs: Vec<PathBuf>,
    /// pactor's stored torrents (`<pactor state>/torrents`).
    pub torrents_dir: PathBuf,
    /// Looking up torrents pactor does not hold.
    pub lookup: lookup::LookupConfig,
}

impl SeedConfig {
    /// Reads pactor.conf (`--config`, else beside pacman.conf) and
    /// pacman.conf (as pactor reads it, [`crate::config::load`]).
    pub fn load(opts: &cli::Options) -> Result<SeedConfig, ConfigError> {
        let (pactor_conf, pactor) = Self::read_pactor(opts)?;
        let cfg = Self::read_pacman(opts, &pactor)?;
        Ok(Self::assemble(pactor_conf, pactor, &cfg))
    }

    /// For SIGHUP: pactor.conf must be good (else the caller keeps the old
    /// configuration); if pacman.conf cannot be read again (a file out
    /// of the daemon user's reach), the CacheDirs stay as they were.
    pub fn reload(opts: &cli::Options, old: &SeedConfig) -> Result<SeedConfig, ConfigError> {
        let (pactor_conf, pactor) = Self::read_pactor(opts)?;
        match Self::read_pacman(opts, &pactor) {
            Ok(cfg) => Ok(Self::assemble(pactor_conf, pactor, &cfg)),
            Err(e) => {
                output::warning(&format!(
                    "could not read pacman.conf again ({e}); keeping the CacheDirs"
                ));
                let mut new = old.clone();
                new.pactor_conf = pactor_conf;
                new.seed = pactor.seed;
                new.trackers = trackers(&pactor.trackers);
                new.lookup.templates = pactor.torrent_servers;
                Ok(new)
            }
        }
    }

    /// Only the `[seed]` section, for the commands that talk to a running
    /// daemon (they need its RuntimeDir, not pacman.conf).
    pub fn load_seed_settings(opts: &cli::Options) -> Result<SeedSettings, ConfigError> {
        Ok(Self::read_pactor(opts)?.1.seed)
    }

    fn read_pactor(
        opts: &cli::Options,
    ) -> Result<(PathBuf, crate::config::PactorSettings), ConfigError> {
        let pactor_conf = opts.config.clone().unwrap_or_else(|| {
            opts.pacman_config
                .parent()
                .unwrap_or(Path::new("/"))
                .join(crate::env::PACTOR_CONF_NAME)
        });
        let pactor = crate::config::load_pactor_file(&pactor_conf, opts.config.is_some())?;
        Ok((pactor_conf, pactor))
    }

    fn read_pacman(
        opts: &cli::Options,
        pactor: &crate::config::PactorSettings,
    ) -> Result<crate::config::Config, ConfigError> {
        let argv = [
            "-S".to_owned(),
            "--config".to_owned(),
            opts.pacman_config.display().to_string(),
        ];
        let args = crate::cli::parse("pactor", &argv).map_err(|e| {
            ConfigError::PacmanConf(format!("{}: {e:?}", opts.pacman_config.display()))
        })?;
        crate::config::load(&args, pactor.clone())
    }

    fn assemble(
        pactor_conf: PathBuf,
        pactor: crate::config::PactorSettings,
        cfg: &crate::config::Config,
    ) -> SeedConfig {
        SeedConfig {
            pactor_conf,
            seed: pactor.seed.clone(),
            trackers: trackers(&pactor.trackers),
            cachedirs: cfg.cachedirs.iter().map(PathBuf::from).collect(),
            torrents_dir: crate::torrent::state_dir(cfg).join("torrents"),
            lookup: lookup::LookupConfig {
                templates: pactor.torrent_servers.clone(),
                arch: cfg
                    .architectures
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "x86_64".into()),
                root: cfg.root.clone(),
                dbpath: cfg.dbpath.clone(),
                repos: cfg
                    .repos
                    .iter()
                    .map(|r| (r.name.clone(), r.servers.clone()))
                    .collect(),
                store: pactor.seed.state_dir.join("torrents"),
            },
        }
    }

    /// The engine settings the daemon's session runs with (also what
    /// [`DaemonHandle::settings`] gives the `-Sx` handoff).
    pub fn swarm_settings(&self) -> SwarmSettings {
        SwarmSettings {
            enabled: true,
            state_dir: self.seed.state_dir.clone(),
            listen_port: Some(self.seed.listen_port),
            dht: self.seed.dht,
            lsd: self.seed.lsd,
            trackers: self.trackers.clone(),
            max_upload_rate: None,
            ..Default::default()
        }
    }

    /// The control socket's path.
    pub fn control_socket(&self) -> PathBuf {
        self.seed.runtime_dir.join(CONTROL_SOCKET)
    }

    /// The status socket's path.
    pub fn status_socket(&self) -> PathBuf {
        self.seed.runtime_dir.join(STATUS_SOCKET)
    }
}

fn trackers(list: &[String]) -> Vec<Url> {
    list.iter().filter_map(|t| Url::parse(t).ok()).collect()
}

/// What the socket server and the handoff ask of the daemon's main loop.
pub(crate) enum Request {
    /// Seed these files now (op `seed`).
    Seed {
        files: Vec<(PathBuf, bool)>,
        done: oneshot::Sender<()>,
    },
    /// The status object (op `status`).
    Status {
        reply: oneshot::Sender<status::Status>,
    },
}

/// The running daemon, as the socket server and the `-Sx` handoff
/// ([`handoff`]) see it. Cheap to clone.
#[derive(Clone)]
pub struct DaemonHandle {
    swarm: Arc<Swarm>,
    settings: Arc<Mutex<SwarmSettings>>,
    requests: mpsc::Sender<Request>,
}

impl DaemonHandle {
    /// The daemon's session: warm DHT table and peers, listening port,
    /// limits.
    pub fn swarm(&self) -> Arc<Swarm> {
        self.swarm.clone()
    }

    /// Trackers, port, DHT and LSD switches as configured (after the last
    /// SIGHUP); `max_upload_rate` is the limit in force now.
    pub fn settings(&self) -> SwarmSettings {
        self.settings
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Seeds cached package files now, like op `seed`: each must be a
    /// package file directly in a CacheDir with a torrent in pactor's
    /// torrents directory; `trusted` means the caller verified it against
    /// the sync db (it is then recorded in the trust ledger and seeded
    /// without a full check). Returns once the daemon has added them (files
    /// it cannot seed are logged and skipped).
    pub async fn seed_files(&self, files: Vec<(PathBuf, bool)>) {
        let (done, wait) = oneshot::channel();
        if self
            .requests
            .send(Request::Seed { files, done })
            .await
            .is_ok()
        {
            let _ = wait.await;
        }
    }

    /// The status object, as op `status` answers it.
    pub async fn status(&self) -> Option<status::Status> {
        let (reply, wait) = oneshot::channel();
        self.requests.send(Request::Status { reply }).await.ok()?;
        wait.await.ok()
    }
}

/// pactor-seed's entry point; returns the exit code.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let opts = match cli::parse(args) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let seed = match &opts.action {
        cli::Action::Run { .. } => None,
        _ => match SeedConfig::load_seed_settings(&opts) {
            Ok(s) => Some(s),
            Err(e) => {
                output::error(&e.to_string());
                return 1;
            }
        },
    };
    let runtime = seed.map(|s| s.runtime_dir).unwrap_or_default();
    match &opts.action {
        cli::Action::Run { user } => {
            let cfg = match SeedConfig::load(&opts) {
                Ok(c) => c,
                Err(e) => {
                    output::error(&e.to_string());
                    return 1;
                }
            };
            match daemon::run(opts.clone(), cfg, user.as_deref()) {
                Ok(()) => 0,
                Err(e) => {
                    output::error(&pactor_fetch::error::chain_text(&e));
                    1
                }
            }
        }
        cli::Action::Status { json } => {
            let req = serde_json::json!({"op": "status"});
            match status::request(&runtime.join(STATUS_SOCKET), &req) {
                Ok(v) if *json => {
                    output::print(&format!("{v}\n"));
                    0
                }
                Ok(v) => match serde_json::from_value::<status::Status>(v) {
                    Ok(s) => {
                        output::print(&s.render());
                        0
                    }
                    Err(e) => {
                        output::error(&format!("unexpected answer from pactor-seed: {e}"));
                        1
                    }
                },
                Err(e) => {
                    output::error(&e.to_string());
                    1
                }
            }
        }
        cli::Action::Seed { files, trusted } => {
            let files: Vec<serde_json::Value> = files
                .iter()
                .map(|f| {
                    let abs = std::path::absolute(f).unwrap_or_else(|_| f.clone());
                    serde_json::json!({"path": abs, "trusted": trusted})
                })
                .collect();
            let req = serde_json::json!({"op": "seed", "files": files});
            match status::request(&runtime.join(CONTROL_SOCKET), &req) {
                Ok(_) => 0,
                Err(e) => {
                    output::error(&e.to_string());
                    1
                }
            }
        }
    }
}
