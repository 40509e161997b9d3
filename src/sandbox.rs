//! The network-facing engine does not run as root. When pactor runs as root
//! (and the sandbox is not disabled with `--disable-sandbox` or
//! pacman.conf's `DisableSandbox`), the engine runs in a child process —
//! `pactor-engine`, or pactor itself started again with [`CHILD_ENV`] set
//! when that is not installed beside it — that drops to pacman.conf's
//! `DownloadUser` (else `nobody`), confines its writes to the download
//! directory with Landlock where the kernel has it, and reports through a
//! pipe. The parent re-verifies every file it is handed (size and sha256
//! from the sync db) before anything moves towards the cache, with the
//! file's bytes frozen first and only that very file moved on
//! ([`verify_in_parent`]): a compromised child can waste a download, not
//! plant a file, nor change one after its check.
//!
//! Wire format: the parent writes one JSON [`WirePlan`] to the child's
//! stdin; the child writes one JSON [`WireEvent`] per line to its stdout.
//! Before the plan may come lines of their own ([`warm_up`]: the user, the
//! download directory and the mirrors), on the first of which the child
//! enters its sandbox and opens its first connections while pactor
//! prepares the transaction (the next ones, for the same sandbox, open
//! more); the plan must then be for that user and directory.
//!
//! The child is started early ([`prespawn_early`], before pacman.conf is
//! read; the user it drops to then comes with its plan) and waits for its
//! plan, building its HTTP client meanwhile, so that its start (exec and
//! dynamic linking) overlaps pactor's own work (the system's CA
//! certificates wait for a plan with an HTTPS mirror, `pactor_fetch::tls`);
//! an empty plan (nothing to download, or the daemon took it) ends it.
//! `pactor-engine` is a binary of its own because without libalpm and the
//! libraries that loads it starts in ~3 ms, where pactor's binary took ~9
//! ms when the dynamic loader still loaded libalpm before its `main` (it
//! now opens libalpm beside its start, `lazy_alpm` in src/main.rs): on
//! small transactions that start was the last thing between the plan and
//! the first request.
//!
//! When `pactor-seed` runs, the plan goes to it instead (its control socket,
//! `{"op":"fetch","plan":…}`), so that its warm DHT table and peers serve the
//! transaction; its events come back on the socket in the same format and
//! are read and re-verified by the same code ([`receive`]). If it is not
//! there, pactor runs the engine itself; if it dies midway, pactor's engine
//! takes over what it had not delivered, from the pieces already on disk.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pactor_fetch::{
    Checked, FetchError, FetchItem, FetchOutcome, FetchPlan, FetchSummary, FetchedFile,
    FileFailure, ItemId, ItemKind, Limits, Reporter, SourceAttempt, SourceKind, SwarmSettings,
    TorrentSource, Url,
};
use serde::{Deserialize, Serialize};

use crate::ui::output;

/// Set in the environment of the engine child (the value is the user name).
pub const CHILD_ENV: &str = "PACTOR_ENGINE_CHILD";

/// How the engine may run.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Run the engine in a child as this user; `None`: in this process.
    pub user: Option<String>,
    /// pactor-seed's control socket: hand the plan to the daemon when it
    /// answers there; `None`: never.
    pub daemon: Option<PathBuf>,
}

impl SandboxOptions {
    /// The sandbox pacman would use: as root, unless disabled, the
    /// `DownloadUser` (or `nobody` when pacman.conf names none).
    ///
    /// Not under fakeroot (pacman's test suite): there "root" is pretend and
    /// a child could not change user.
    pub fn for_config(cfg: &crate::config::Config, disable_flag: bool) -> Self {
        let root = real_root();
        let disabled = disable_flag || cfg.pacman.disable_sandbox;
        let user = (root && !disabled).then(|| {
            cfg.pacman
                .download_user
                .clone()
                .unwrap_or_else(|| "nobody".into())
        });
        // Under fakeroot (pactest) the download directory cannot really be
        // handed to the daemon, and a test must not reach a host's daemon.
        let daemon = (std::env::var_os("FAKEROOTKEY").is_none())
            .then(|| seed_runtime_dir(cfg).join(crate::seed::CONTROL_SOCKET));
        SandboxOptions { user, daemon }
    }
}

/// Root, and not under fakeroot (pacman's test suite): there "root" is
/// pretend and a child could not change user.
fn real_root() -> bool {
    nix::unistd::getuid().is_root() && std::env::var_os("FAKEROOTKEY").is_none()
}

/// The engine child started ahead of its plan.
static PRESPAWNED: Mutex<Option<Waiting>> = Mutex::new(None);

/// An engine child waiting for its plan.
struct Waiting {
    /// The user it drops to (`None`: the one its plan names,
    /// [`prespawn_early`]).
    user: Option<String>,
    /// The download directory it is confined to, after a [`warm_up`]: its
    /// plan must be for that one.
    dir: Option<PathBuf>,
    child: Child,
}

/// Starts the engine child now, before pacman.conf is read (that is what
/// names the user), when a sandboxed download is likely: as root, not under
/// fakeroot, not with `--disable-sandbox`. Its start and its HTTP client
/// then overlap pacman-conf, the databases and the transaction's prepare;
/// the user comes with its plan. [`prespawn`] keeps it, or ends it when the
/// configuration turns the sandbox off.
pub fn prespawn_early(disable_flag: bool) {
    if !real_root() || disable_flag {
        return;
    }
    let mut slot = pactor_fetch::lock(&PRESPAWNED);
    if slot.is_none() {
        if let Ok(child) = spawn_child(None) {
            *slot = Some(Waiting {
                user: None,
                dir: None,
                child,
            });
        }
    }
}

/// Starts the engine child for `opts.user` now, to wait for its plan (see
/// the module's documentation), unless one waits already. Without a user
/// (no sandbox), or when the user does not exist (the fetch then says so
/// and runs the engine here), a child started early is ended.
pub fn prespawn(opts: &SandboxOptions) {
    let user = opts
        .user
        .as_ref()
        .filter(|u| nix::unistd::User::from_name(u).ok().flatten().is_some());
    let Some(user) = user else {
        discard_prespawned();
        return;
    };
    let mut slot = pactor_fetch::lock(&PRESPAWNED);
    if slot.is_some() {
        return;
    }
    if let Ok(child) = spawn_child(Some(user)) {
        *slot = Some(Waiting {
            user: Some(user.clone()),
            dir: None,
            child,
        });
    }
}

/// Engine children whose report was complete, still exiting.
static FINISHED: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Waits for the engine children that delivered their whole report: none
/// outlives pactor.
pub fn reap_finished() {
    let children = std::mem::take(&mut *pactor_fetch::lock(&FINISHED));
    for mut child in children {
        let _ = child.wait();
    }
}

/// Ends a prespawned child that got no plan: its stdin closes, it reads an
/// empty plan and exits, and is reaped here.
pub fn discard_prespawned() {
    let taken = pactor_fetch::lock(&PRESPAWNED).take();
    pactor_fetch::lock(&WARMED).clear();
    if let Some(waiting) = taken {
        retire(waiting.child);
    }
}

/// Closes an idle engine child's stdin (an empty plan: it exits) and reaps it.
fn retire(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// The engine child for `user` and download directory `dir`: the
/// prespawned one, or a new one.
fn engine_child(user: &str, dir: &Path) -> std::io::Result<Child> {
    let taken = pactor_fetch::lock(&PRESPAWNED).take();
    // Its warm connections are its own: a next child starts without.
    pactor_fetch::lock(&WARMED).clear();
    match taken {
        Some(w)
            if w.user.as_deref().is_none_or(|u| u == user)
                && w.dir.as_deref().is_none_or(|d| d == dir) =>
        {
            Ok(w.child)
        }
        Some(other) => {
            retire(other.child);
            spawn_child(Some(user))
        }
        None => spawn_child(Some(user)),
    }
}

/// Has the engine open its first connections now, before its plan, to
/// `origins` (a URL of each mirror and how many): the prespawned child gets
/// its user and download directory ahead of the plan, enters its sandbox
/// and connects (`pactor_fetch::warm`); without a sandbox the engine runs
/// in this process and connects from here. Called again (the targets known
/// after a first call that only had pacman.conf's mirrors), it opens only
/// what the earlier calls did not. Nothing when pactor-seed may take the
/// plan, or when no child waits.
pub fn warm_up(opts: &SandboxOptions, download_dir: &Path, origins: &[(Url, usize)]) {
    if origins.is_empty() || opts.daemon.as_deref().is_some_and(Path::exists) {
        return;
    }
    let mut warmed = pactor_fetch::lock(&WARMED);
    let had = |warmed: &[(url::Origin, usize)], url: &Url| {
        let origin = url.origin();
        warmed
            .iter()
            .find(|(o, _)| *o == origin)
            .map_or(0, |(_, n)| *n)
    };
    let more: Vec<(Url, usize)> = origins
        .iter()
        .filter_map(|(url, n)| {
            let had = had(&warmed, url);
            (*n > had).then(|| (url.clone(), n - had))
        })
        .collect();
    if more.is_empty() {
        return;
    }
    let opened = |warmed: &mut Vec<(url::Origin, usize)>| {
        for (url, n) in &more {
            let origin = url.origin();
            match warmed.iter_mut().find(|(o, _)| *o == origin) {
                Some((_, had)) => *had += n,
                None => warmed.push((origin, *n)),
            }
        }
        let connections: usize = more.iter().map(|(_, n)| n).sum();
        output::debug(&format!(
            "{connections} connections to {} mirrors opened ahead of the plan",
            more.len()
        ));
    };
    let Some(user) = opts.user.as_deref() else {
        pactor_fetch::warm::warm_up(&more);
        opened(&mut warmed);
        return;
    };
    let Some(pw) = nix::unistd::User::from_name(user).ok().flatten() else {
        return;
    };
    let mut slot = pactor_fetch::lock(&PRESPAWNED);
    let waiting = slot.as_mut().filter(|w| {
        w.dir.as_deref().is_none_or(|d| d == download_dir)
            && w.user.as_deref().is_none_or(|u| u == user)
    });
    let Some(waiting) = waiting else {
        return;
    };
    // What `fetch_in_child` does before the plan goes out, done now (once).
    if waiting.dir.is_none()
        && (!reachable_by(download_dir, pw.uid) || hand_over_dir(download_dir, &pw).is_err())
    {
        return;
    }
    let warm = WireWarm {
        warm: WarmUp {
            user: user.to_owned(),
            download_dir: download_dir.to_owned(),
            origins: more.iter().map(|(u, n)| (u.to_string(), *n)).collect(),
        },
    };
    let Ok(mut line) = serde_json::to_vec(&warm) else {
        return;
    };
    line.push(b'\n');
    // The child is this user's and this directory's from now on
    // (`engine_child`).
    if let Some(stdin) = waiting.child.stdin.as_mut() {
        if stdin.write_all(&line).is_ok() {
            waiting.user = Some(user.to_owned());
            waiting.dir = Some(download_dir.to_owned());
            opened(&mut warmed);
        }
    }
}

/// Connections [`warm_up`] opened in this run, by mirror (origin).
static WARMED: Mutex<Vec<(url::Origin, usize)>> = Mutex::new(Vec::new());

/// Creates the download directory `dir` and hands it, with what is in it,
/// to the download process's user `pw`.
fn hand_over_dir(dir: &Path, pw: &nix::unistd::User) -> Result<(), FetchError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err("could not create", dir, e))?;
    chown_tree(dir, pw.uid, pw.gid).map_err(|e| io_err("could not hand over", dir, e))
}

/// The engine child's binary for pactor's binary `exe`: `pactor-engine`
/// beside it (a build tree) or in `../lib/pactor/` from it (the package),
/// else `exe` itself.
fn engine_exe(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(Path::new("/"));
    [
        dir.join(ENGINE_BIN),
        dir.join("../lib/pactor").join(ENGINE_BIN),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| exe.to_owned())
}

/// The engine's own binary (src/bin/pactor-engine.rs).
const ENGINE_BIN: &str = "pactor-engine";

/// Set for the engine child: the version of the pactor that started it,
/// which `pactor-engine` must match (the plan's format is theirs alone),
/// and that pactor's binary, which runs in its place when it does not.
const VERSION_ENV: &str = "PACTOR_ENGINE_FOR";
const PARENT_EXE_ENV: &str = "PACTOR_ENGINE_PARENT";

/// The engine child for `user` (`None`: the user its plan names).
fn spawn_child(user: Option<&str>) -> std::io::Result<Child> {
    let exe = std::env::current_exe()?;
    Command::new(engine_exe(&exe))
        .env_clear()
        .env(CHILD_ENV, user.unwrap_or(""))
        .env(VERSION_ENV, env!("CARGO_PKG_VERSION"))
        .env(PARENT_EXE_ENV, &exe)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

/// pactor-seed's runtime directory (pactor.conf `[seed]` `RuntimeDir`).
fn seed_runtime_dir(cfg: &crate::config::Config) -> PathBuf {
    cfg.pactor.seed.runtime_dir.clone()
}

#[derive(Serialize, Deserialize)]
struct WireItem {
    filename: String,
    size: Option<u64>,
    sha256: Option<[u8; 32]>,
    mirrors: Vec<String>,
    signature: bool,
    /// Where its torrent may be found (a hint; the child validates it).
    #[serde(default)]
    torrent: Option<WireTorrent>,
}

#[derive(Serialize, Deserialize)]
enum WireTorrent {
    File(PathBuf),
    Urls(Vec<String>),
}

/// pactor.conf's BitTorrent settings as they cross the pipe. The child keeps
/// its DHT table in `<download_dir>/swarm`: Landlock lets it write nowhere
/// else.
#[derive(Serialize, Deserialize)]
struct WireSwarm {
    enabled: bool,
    listen_port: Option<u16>,
    dht: bool,
    lsd: bool,
    trackers: Vec<String>,
    max_upload_rate: Option<u64>,
    #[serde(default = "default_min_size")]
    min_size: u64,
}

fn default_min_size() -> u64 {
    pactor_fetch::transaction::DEFAULT_SWARM_MIN_SIZE
}

/// The plan as it crosses the pipe.
#[derive(Serialize, Deserialize)]
pub struct WirePlan {
    items: Vec<WireItem>,
    download_dir: PathBuf,
    max_download_rate: Option<u64>,
    #[serde(default)]
    swarm: Option<WireSwarm>,
    /// The user a download process started before it was known drops to.
    #[serde(default)]
    user: Option<String>,
}

impl WirePlan {
    /// Where the engine is to write.
    pub fn download_dir(&self) -> &Path {
        &self.download_dir
    }

    /// The file names it is to write there.
    pub fn filenames(&self) -> impl Iterator<Item = &str> {
        self.items.iter().map(|i| i.filename.as_str())
    }
}

/// The line a waiting engine child may get before its plan ([`warm_up`]):
/// whom it runs as, where it writes, and the mirrors to connect to now.
#[derive(Serialize, Deserialize)]
struct WireWarm {
    warm: WarmUp,
}

#[derive(Serialize, Deserialize)]
struct WarmUp {
    user: String,
    download_dir: PathBuf,
    /// A URL of each mirror, and how many connections to open to it.
    origins: Vec<(String, usize)>,
}

/// One engine event as it crosses the pipe.
#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "e")]
pub enum WireEvent {
    /// [`Reporter::on_start`].
    Start {
        /// Items.
        items: usize,
        /// Known bytes.
        total: u64,
    },
    /// [`Reporter::on_item_start`].
    ItemStart {
        /// Item index.
        item: usize,
        /// File name.
        filename: String,
        /// Size if known.
        size: Option<u64>,
        /// Bytes already on disk.
        resumed: u64,
    },
    /// [`Reporter::on_progress`].
    Progress {
        /// Item index.
        item: usize,
        /// New bytes.
        bytes: u64,
        /// From a peer (else a mirror).
        peer: bool,
    },
    /// [`Reporter::on_discard`].
    Discard {
        /// Item index.
        item: usize,
        /// Bytes thrown away.
        bytes: u64,
    },
    /// [`Reporter::on_item_ready`]: a swarm file, complete, that the engine
    /// checks now (the parent may start its own check).
    Ready {
        /// Item index.
        item: usize,
        /// File name.
        filename: String,
    },
    /// A verified file (the parent checks again).
    Done {
        /// Item index.
        item: usize,
        /// File name.
        filename: String,
        /// Bytes from mirrors.
        from_mirrors: u64,
        /// Bytes from peers.
        from_peers: u64,
        /// Bytes resumed.
        resumed: u64,
    },
    /// A file that could not be fetched.
    Failed {
        /// Item index.
        item: usize,
        /// File name.
        filename: String,
        /// (url, outcome) per source.
        attempts: Vec<(String, String)>,
        /// Extra reason.
        note: Option<String>,
    },
    /// A warning for the user (a benched mirror, a bad torrent).
    Warning {
        /// Text.
        message: String,
    },
    /// The engine could not take the plan (pactor-seed refused it, or a
    /// fatal error); nothing more follows.
    Error {
        /// Why.
        message: String,
    },
    /// The run's totals.
    Finish {
        /// Bytes from mirrors.
        from_mirrors: u64,
        /// Bytes from peers.
        from_peers: u64,
        /// Bytes resumed.
        resumed: u64,
        /// Bytes discarded.
        discarded: u64,
        /// Wall time in ms.
        elapsed_ms: u64,
    },
}

pub(crate) fn to_wire(plan: &FetchPlan, swarm: &SwarmSettings) -> WirePlan {
    WirePlan {
        items: plan
            .items
            .iter()
            .map(|i| WireItem {
                filename: i.filename.clone(),
                size: i.size,
                sha256: i.sha256,
                mirrors: i.mirrors.iter().map(|u| u.to_string()).collect(),
                signature: i.kind == ItemKind::Signature,
                torrent: i.torrent.as_ref().map(|t| match t {
                    TorrentSource::File(p) => WireTorrent::File(p.clone()),
                    TorrentSource::Urls(u) => {
                        WireTorrent::Urls(u.iter().map(|u| u.to_string()).collect())
                    }
                }),
            })
            .collect(),
        download_dir: plan.download_dir.clone(),
        max_download_rate: plan.limits.max_download_rate,
        swarm: Some(WireSwarm {
            enabled: swarm.enabled,
            listen_port: swarm.listen_port,
            dht: swarm.dht,
            lsd: swarm.lsd,
            trackers: swarm.trackers.iter().map(|u| u.to_string()).collect(),
            max_upload_rate: swarm.max_upload_rate,
            min_size: swarm.min_size,
        }),
        user: None,
    }
}

pub(crate) fn from_wire(w: WirePlan) -> (FetchPlan, SwarmSettings) {
    // Every package of a repository names the same mirrors: each parsed once.
    let mut parsed: HashMap<String, Option<Url>> = HashMap::new();
    let mut mirror = |m: String| {
        parsed
            .entry(m)
            .or_insert_with_key(|m| Url::parse(m).ok())
            .clone()
    };
    let swarm = match &w.swarm {
        Some(s) => SwarmSettings {
            enabled: s.enabled,
            state_dir: w.download_dir.join(pactor_fetch::transaction::SWARM_DIR),
            listen_port: s.listen_port,
            dht: s.dht,
            lsd: s.lsd,
            trackers: s
                .trackers
                .iter()
                .filter_map(|t| Url::parse(t).ok())
                .collect(),
            max_upload_rate: s.max_upload_rate,
            min_size: s.min_size,
            ..Default::default()
        },
        None => SwarmSettings {
            enabled: false,
            ..Default::default()
        },
    };
    let plan = FetchPlan {
        items: w
            .items
            .into_iter()
            .map(|i| FetchItem {
                filename: i.filename,
                size: i.size,
                sha256: i.sha256,
                mirrors: i.mirrors.into_iter().filter_map(&mut mirror).collect(),
                torrent: i.torrent.map(|t| match t {
                    WireTorrent::File(p) => TorrentSource::File(p),
                    WireTorrent::Urls(u) => {
                        TorrentSource::Urls(u.iter().filter_map(|u| Url::parse(u).ok()).collect())
                    }
                }),
                kind: if i.signature {
                    ItemKind::Signature
                } else {
                    ItemKind::Package
                },
            })
            .collect(),
        download_dir: w.download_dir,
        limits: Limits {
            max_download_rate: w.max_download_rate,
            ..Default::default()
        },
        options: Default::default(),
    };
    (plan, swarm)
}

/// Runs the engine for `plan`, in a sandboxed child when `opts.user` is set,
/// without torrents and never through pactor-seed.
pub fn fetch(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    opts: &SandboxOptions,
) -> Result<FetchOutcome, FetchError> {
    let swarm = SwarmSettings {
        enabled: false,
        ..Default::default()
    };
    let opts = SandboxOptions {
        daemon: None,
        ..opts.clone()
    };
    fetch_with_swarm(plan, reporter, &opts, swarm)
}

/// [`fetch`] with the swarm for packages that have a usable torrent, handed
/// to pactor-seed when it answers on `opts.daemon`.
pub fn fetch_with_swarm(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    opts: &SandboxOptions,
    swarm: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    if let Some(daemon) = opts
        .daemon
        .as_deref()
        .and_then(|s| Daemon::connect(s, &plan))
    {
        discard_prespawned();
        return fetch_through_daemon(daemon, plan, reporter, opts, swarm);
    }
    match &opts.user {
        None => fetch_here(plan, reporter, swarm),
        Some(user) => fetch_in_child(plan, reporter, user, swarm),
    }
}

/// The engine in this process, stopped by Ctrl-C: dropping its future writes
/// the resume records, so the next run continues from the verified blocks.
fn fetch_here(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    swarm: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    let dir = plan.download_dir.clone();
    pactor_fetch::warm::runtime()?.block_on(async move {
        tokio::select! {
            r = pactor_fetch::fetch_transaction(plan, reporter, swarm) => r,
            () = async {
                while !crate::signals::interrupted() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => Err(interrupted(dir)),
        }
    })
}

fn interrupted(dir: PathBuf) -> FetchError {
    FetchError::Io {
        action: "interrupted while downloading into",
        path: dir,
        source: std::io::Error::from(std::io::ErrorKind::Interrupted),
    }
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> FetchError {
    FetchError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Whether `user` can reach `dir`: every ancestor searchable by others (or
/// owned by the user). The download directory itself is handed over.
fn reachable_by(dir: &Path, uid: nix::unistd::Uid) -> bool {
    use std::os::unix::fs::MetadataExt;
    dir.ancestors().skip(1).all(|a| match std::fs::metadata(a) {
        Ok(m) => m.mode() & 0o001 != 0 || m.uid() == uid.as_raw(),
        Err(_) => true,
    })
}

fn fetch_in_child(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    user: &str,
    swarm: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    let Some(pw) = nix::unistd::User::from_name(user).ok().flatten() else {
        output::warning(&format!(
            "download user '{user}' does not exist; downloading without dropping privileges"
        ));
        return fetch_here(plan, reporter, swarm);
    };
    if !reachable_by(&plan.download_dir, pw.uid) {
        output::warning(&format!(
            "{} is not reachable by user '{user}'; downloading without dropping privileges",
            plan.download_dir.display()
        ));
        discard_prespawned();
        return fetch_here(plan, reporter, swarm);
    }
    // The child owns its download directory and nothing else.
    hand_over_dir(&plan.download_dir, &pw)?;
    let exe = std::env::current_exe()
        .map_err(|e| io_err("could not find", Path::new("/proc/self/exe"), e))?;
    let mut child = engine_child(user, &plan.download_dir)
        .map_err(|e| io_err("could not start", &engine_exe(&exe), e))?;
    let wire = WirePlan {
        user: Some(user.to_owned()),
        ..to_wire(&plan, &swarm)
    };
    let wire = serde_json::to_vec(&wire).map_err(|e| FetchError::InvalidPlan(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&wire);
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| FetchError::InvalidPlan("no pipe".into()))?;
    // Ctrl-C reaches the child too (same process group): it stops, and the
    // pipe ends. A SIGINT or SIGHUP sent to pactor alone is passed on to it
    // by the signal handler.
    crate::signals::engine_child(Some(child.id()));
    let mut got = receive(
        BufReader::new(stdout),
        &plan,
        reporter.as_ref(),
        &|| true,
        None,
    );
    // The pipe is closed: the child is exiting. It stays ours (unreaped)
    // until the wait below, so the handler never signals a stranger.
    crate::signals::engine_child(None);
    if got.finished {
        // Its report is complete, every file in it checked here: its exit
        // (~2 ms of a process's teardown) overlaps our own last steps, and
        // it is reaped before pactor ends ([`reap_finished`]).
        pactor_fetch::lock(&FINISHED).push(child);
        return got.into_result();
    }
    let status = child
        .wait()
        .map_err(|e| io_err("could not wait for", &engine_exe(&exe), e))?;
    if !status.success() {
        // The child died: every file it did not report failed with it.
        got.fail_the_rest(
            &plan,
            &format!("the download process ended unexpectedly ({status})"),
        );
    }
    got.into_result()
}

/// What an engine elsewhere (the sandboxed child, pactor-seed) reported,
/// with every delivered file re-verified here.
#[derive(Default)]
struct Received {
    files: Vec<FetchedFile>,
    failures: Vec<(usize, FileFailure)>,
    summary: FetchSummary,
    /// The engine's finish event arrived: its report is complete.
    finished: bool,
    /// The engine's [`WireEvent::Error`].
    error: Option<String>,
    /// Reading stopped because `keep_going` said so.
    stopped: bool,
    /// The engine said nothing for longer than allowed.
    silent: bool,
    /// Bytes shown on each started item's bar (resumed + progress −
    /// discarded), so that an engine taking over can start from them.
    shown: HashMap<usize, u64>,
    /// The checks begun on [`WireEvent::Ready`], by item.
    prechecks: HashMap<usize, Precheck>,
}

/// A [`verify_in_parent`] begun on [`WireEvent::Ready`], on its own thread.
type Precheck = std::thread::JoinHandle<Result<(u64, Checked), String>>;

impl Received {
    /// Whether item `i` of the plan was delivered or failed.
    fn settled(&self, i: usize) -> bool {
        self.files.iter().any(|f| f.item.0 == i) || self.failures.iter().any(|(j, _)| *j == i)
    }

    /// Every item neither delivered nor failed fails with `why`.
    fn fail_the_rest(&mut self, plan: &FetchPlan, why: &str) {
        let rest: Vec<_> = FileFailure::for_unsettled(plan, |i| self.settled(i), why).collect();
        self.failures.extend(rest);
    }

    fn into_result(mut self) -> Result<FetchOutcome, FetchError> {
        self.files.sort_by_key(|f| f.item);
        self.summary.files = self.files.len();
        self.summary.packages = self
            .files
            .iter()
            .filter(|f| f.kind == ItemKind::Package)
            .count();
        let outcome = FetchOutcome {
            files: self.files,
            summary: self.summary,
        };
        if self.failures.is_empty() {
            Ok(outcome)
        } else {
            self.failures.sort_by_key(|(i, _)| *i);
            Err(FetchError::Failed {
                failures: self.failures.into_iter().map(|(_, f)| f).collect(),
                partial: Box::new(outcome),
            })
        }
    }
}

/// Reads [`WireEvent`] lines from `input` until the engine's finish (or
/// error) event, the end of the stream or a read error, passing them on to
/// `reporter`. A file announced as done counts only once it passes
/// [`verify_in_parent`]. On a read timeout (a socket with one set) reading
/// goes on while `keep_going()` holds and the engine has not been silent
/// for `quiet_limit`.
fn receive(
    mut input: impl BufRead,
    plan: &FetchPlan,
    reporter: &dyn Reporter,
    keep_going: &dyn Fn() -> bool,
    quiet_limit: Option<Duration>,
) -> Received {
    let mut got = Received::default();
    let mut line = Vec::new();
    let mut heard = Instant::now();
    loop {
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => heard = Instant::now(),
            // What was read so far stays in `line`; read on.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if !keep_going() {
                    got.stopped = true;
                    break;
                }
                if quiet_limit.is_some_and(|limit| heard.elapsed() > limit) {
                    got.silent = true;
                    break;
                }
                continue;
            }
            Err(_) => break,
        }
        if line.last() != Some(&b'\n') {
            // The stream ended inside a line.
            break;
        }
        let event = serde_json::from_slice::<WireEvent>(&line);
        line.clear();
        let Ok(event) = event else { continue };
        if handle_event(event, plan, reporter, &mut got) {
            break;
        }
    }
    got
}

/// Passes one event on; `true` when it ends the engine's report.
fn handle_event(
    event: WireEvent,
    plan: &FetchPlan,
    reporter: &dyn Reporter,
    got: &mut Received,
) -> bool {
    match event {
        WireEvent::Start { items, total } => reporter.on_start(items, total),
        WireEvent::ItemStart {
            item,
            filename,
            size,
            resumed,
        } => {
            got.shown.insert(item, resumed);
            reporter.on_item_start(ItemId(item), &filename, size, resumed)
        }
        WireEvent::Progress { item, bytes, peer } => {
            if let Some(n) = got.shown.get_mut(&item) {
                *n += bytes;
            }
            reporter.on_progress(
                ItemId(item),
                bytes,
                if peer {
                    SourceKind::Peer
                } else {
                    SourceKind::Mirror
                },
            )
        }
        WireEvent::Discard { item, bytes } => {
            if let Some(n) = got.shown.get_mut(&item) {
                *n = n.saturating_sub(bytes);
            }
            reporter.on_discard(ItemId(item), bytes)
        }
        WireEvent::Ready { item, filename } => {
            let Some(planned) = plan.items.get(item).filter(|p| p.filename == filename) else {
                return false;
            };
            if got.settled(item) {
                return false;
            }
            let (dir, planned) = (plan.download_dir.clone(), planned.clone());
            got.prechecks.insert(
                item,
                std::thread::spawn(move || {
                    let (file, meta) = open_swarm_file(&dir, &planned.filename)
                        .map_err(|e| output::strerror(&e))?;
                    verify_opened(file, &meta, &planned)
                }),
            );
        }
        WireEvent::Done {
            item,
            filename,
            from_mirrors,
            from_peers,
            resumed,
        } => {
            let Some(planned) = plan.items.get(item).filter(|p| p.filename == filename) else {
                return false;
            };
            if got.settled(item) {
                return false;
            }
            got.shown.remove(&item);
            let path = plan.download_dir.join(&filename);
            let prechecked = got
                .prechecks
                .remove(&item)
                .and_then(|pre| precheck_holds(pre, &path));
            match prechecked.map_or_else(|| verify_in_parent(&path, planned), Ok) {
                Ok((size, checked)) => {
                    if !checked.frozen {
                        output::debug(&format!(
                            "{filename}: a writer still had it open when it was checked"
                        ));
                    }
                    let f = FetchedFile {
                        item: ItemId(item),
                        filename,
                        path,
                        size,
                        kind: planned.kind,
                        from_mirrors,
                        from_peers,
                        resumed,
                        checked: Some(checked),
                    };
                    reporter.on_item_done(ItemId(item), &f);
                    got.files.push(f);
                }
                Err(why) => {
                    let _ = std::fs::remove_file(&path);
                    let failure = FileFailure::noted(&filename, &why);
                    reporter.on_item_failed(ItemId(item), &failure);
                    got.failures.push((item, failure));
                }
            }
        }
        WireEvent::Failed {
            item,
            filename,
            attempts,
            note,
        } => {
            if item >= plan.items.len() || got.settled(item) {
                return false;
            }
            got.shown.remove(&item);
            let failure = FileFailure {
                filename,
                attempts: attempts
                    .into_iter()
                    .map(|(url, outcome)| SourceAttempt { url, outcome })
                    .collect(),
                note,
            };
            reporter.on_item_failed(ItemId(item), &failure);
            got.failures.push((item, failure));
        }
        WireEvent::Warning { message } => reporter.on_warning(&message),
        WireEvent::Error { message } => {
            got.error = Some(message);
            return true;
        }
        WireEvent::Finish {
            from_mirrors,
            from_peers,
            resumed,
            discarded,
            elapsed_ms,
        } => {
            got.summary = FetchSummary {
                bytes_from_mirrors: from_mirrors,
                bytes_from_peers: from_peers,
                bytes_resumed: resumed,
                bytes_discarded: discarded,
                elapsed: Duration::from_millis(elapsed_ms),
                ..Default::default()
            };
            got.finished = true;
            return true;
        }
    }
    false
}

/// A daemon that says nothing for this long (no progress, no event) is
/// taken for hung and left, as if it had died. The engine itself gives up a
/// silent swarm transfer after 15 s and reports its move to HTTP.
const DAEMON_QUIET_LIMIT: Duration = Duration::from_secs(60);

/// A connection to pactor-seed's control socket, with the daemon's
/// credentials (`SO_PEERCRED`: the kernel's word, not the daemon's).
struct Daemon {
    stream: UnixStream,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
}

impl Daemon {
    /// Connects when the daemon answers at `socket` and can take `plan`'s
    /// download directory; `None` (a debug line) otherwise.
    fn connect(socket: &Path, plan: &FetchPlan) -> Option<Daemon> {
        let stream = match UnixStream::connect(socket) {
            Ok(s) => s,
            Err(e) => {
                output::debug(&format!(
                    "pactor-seed not used ({}: {})",
                    socket.display(),
                    output::strerror(&e)
                ));
                return None;
            }
        };
        let cred =
            match nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
            {
                Ok(c) => c,
                Err(e) => {
                    output::debug(&format!("pactor-seed not used (SO_PEERCRED: {e})"));
                    return None;
                }
            };
        let uid = nix::unistd::Uid::from_raw(cred.uid());
        if !reachable_by(&plan.download_dir, uid) {
            output::debug(&format!(
                "pactor-seed not used: {} is not reachable by uid {uid}",
                plan.download_dir.display()
            ));
            return None;
        }
        Some(Daemon {
            stream,
            uid,
            gid: nix::unistd::Gid::from_raw(cred.gid()),
        })
    }
}

/// Hands the plan to pactor-seed: the download directory becomes the
/// daemon's (as it would the sandboxed child's), its events feed `reporter`,
/// every file it delivers is re-verified here. If it refuses the plan or
/// stops before its finish event, this process's engine (sandboxed as
/// usual) takes over every file not yet delivered, from the same directory:
/// the swarm re-checks the pieces on disk, the HTTP engine reads its resume
/// records, so nothing finished is fetched again.
fn fetch_through_daemon(
    daemon: Daemon,
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    opts: &SandboxOptions,
    swarm: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    let started = Instant::now();
    std::fs::create_dir_all(&plan.download_dir)
        .map_err(|e| io_err("could not create", &plan.download_dir, e))?;
    let own = nix::unistd::geteuid();
    let handed = chown_tree(&plan.download_dir, daemon.uid, daemon.gid);
    let local = SandboxOptions {
        daemon: None,
        ..opts.clone()
    };
    if let Err(e) = handed {
        output::debug(&format!(
            "pactor-seed not used: could not hand over {}: {}",
            plan.download_dir.display(),
            output::strerror(&e)
        ));
        return fetch_with_swarm(plan, reporter, &local, swarm);
    }
    output::debug(&format!(
        "handing the download to pactor-seed (uid {}, own uid {own})",
        daemon.uid
    ));
    let request = serde_json::json!({ "op": "fetch", "plan": to_wire(&plan, &swarm) });
    let mut stream = daemon.stream;
    let sent = serde_json::to_vec(&request)
        .map_err(std::io::Error::other)
        .and_then(|mut line| {
            line.push(b'\n');
            stream.write_all(&line)
        })
        .and_then(|()| stream.set_read_timeout(Some(Duration::from_millis(100))));
    let got = match sent {
        Ok(()) => receive(
            BufReader::new(&stream),
            &plan,
            reporter.as_ref(),
            &|| !crate::signals::interrupted(),
            Some(DAEMON_QUIET_LIMIT),
        ),
        Err(_) => Received::default(),
    };
    // Closing the connection cancels whatever the daemon still runs; the
    // pieces it wrote stay on disk.
    drop(stream);
    if got.stopped {
        return Err(interrupted(plan.download_dir));
    }
    if got.finished {
        return got.into_result();
    }
    match &got.error {
        Some(why) => output::warning(&format!(
            "pactor-seed did not take the download ({why}); continuing without it"
        )),
        None if got.silent => output::warning(&format!(
            "pactor-seed said nothing for {}s; continuing without it",
            DAEMON_QUIET_LIMIT.as_secs()
        )),
        None => output::warning("pactor-seed stopped during the download; continuing without it"),
    }
    // Back to pactor's own engine for the rest. In this process it needs the
    // directory back; a sandboxed child gets it handed over again.
    if local.user.is_none() {
        let _ = chown_tree(&plan.download_dir, own, nix::unistd::getegid());
    }
    let ids: Vec<usize> = (0..plan.items.len())
        .filter(|i| !got.files.iter().any(|f| f.item.0 == *i))
        .collect();
    if ids.is_empty() {
        return got.into_result();
    }
    let rest = FetchPlan {
        items: ids.iter().map(|i| plan.items[*i].clone()).collect(),
        download_dir: plan.download_dir.clone(),
        limits: plan.limits.clone(),
        options: plan.options.clone(),
    };
    let takeover = Arc::new(Takeover {
        inner: reporter.clone(),
        ids: ids.clone(),
        shown: got.shown.clone(),
    });
    let daemon_share = got.files.iter().fold((0, 0, 0), |(m, p, r), f| {
        (m + f.from_mirrors, p + f.from_peers, r + f.resumed)
    });
    let mut all = Received {
        files: got.files,
        ..Default::default()
    };
    let (outcome, failures) = match fetch_with_swarm(rest, takeover, &local, swarm) {
        Ok(o) => (o, Vec::new()),
        Err(FetchError::Failed { failures, partial }) => (*partial, failures),
        Err(e) => return Err(e),
    };
    for mut f in outcome.files {
        f.item = ItemId(ids.get(f.item.0).copied().unwrap_or(f.item.0));
        all.files.push(f);
    }
    for f in failures {
        let i = ids
            .iter()
            .copied()
            .find(|i| plan.items[*i].filename == f.filename)
            .unwrap_or(usize::MAX);
        all.failures.push((i, f));
    }
    // The daemon's report ended early: the counts of the files it delivered
    // are all there is of its share.
    let s = &mut all.summary;
    s.bytes_from_mirrors = daemon_share.0 + outcome.summary.bytes_from_mirrors;
    s.bytes_from_peers = daemon_share.1 + outcome.summary.bytes_from_peers;
    s.bytes_resumed = daemon_share.2 + outcome.summary.bytes_resumed;
    s.bytes_discarded = outcome.summary.bytes_discarded;
    s.elapsed = started.elapsed();
    all.into_result()
}

/// Asks pactor-seed to seed `files` (verified packages in a CacheDir) at
/// once: op "seed" on its control socket. Failing is quiet (a debug line):
/// seeding is a service to others, never a reason to fail a transaction.
pub fn seed_files(socket: &Path, files: &[PathBuf]) {
    let request = serde_json::json!({
        "op": "seed",
        "files": files
            .iter()
            .map(|p| serde_json::json!({ "path": p, "trusted": true }))
            .collect::<Vec<_>>(),
    });
    let answer = (|| -> std::io::Result<String> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut line = serde_json::to_vec(&request).map_err(std::io::Error::other)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        let mut answer = String::new();
        BufReader::new(&stream).read_line(&mut answer)?;
        Ok(answer)
    })();
    let ok = |a: &str| {
        serde_json::from_str::<serde_json::Value>(a)
            .is_ok_and(|v| v.get("ok") == Some(&serde_json::Value::Bool(true)))
    };
    match answer {
        Ok(a) if ok(&a) => output::debug(&format!(
            "pactor-seed seeds {} new package file(s)",
            files.len()
        )),
        Ok(a) => output::debug(&format!("pactor-seed did not take the files: {}", a.trim())),
        Err(e) => output::debug(&format!(
            "pactor-seed not told about the new files ({}: {})",
            socket.display(),
            output::strerror(&e)
        )),
    }
}

/// The reporter of the engine that takes over from pactor-seed: the items
/// of the rest plan are reported under their ids in the whole plan, and an
/// item whose bar the daemon started goes on on that bar, from what the
/// engine found on disk.
struct Takeover {
    inner: Arc<dyn Reporter>,
    ids: Vec<usize>,
    shown: HashMap<usize, u64>,
}

impl Takeover {
    fn id(&self, item: ItemId) -> ItemId {
        ItemId(self.ids.get(item.0).copied().unwrap_or(item.0))
    }
}

impl Reporter for Takeover {
    // The total bar stands since the daemon's start.
    fn on_start(&self, _items: usize, _total: u64) {}
    fn on_item_start(&self, item: ItemId, filename: &str, size: Option<u64>, resumed: u64) {
        let id = self.id(item);
        match self.shown.get(&id.0) {
            Some(&shown) if shown > resumed => self.inner.on_discard(id, shown - resumed),
            Some(_) => {}
            None => self.inner.on_item_start(id, filename, size, resumed),
        }
    }
    fn on_progress(&self, item: ItemId, bytes: u64, source: SourceKind) {
        self.inner.on_progress(self.id(item), bytes, source);
    }
    fn on_discard(&self, item: ItemId, bytes: u64) {
        self.inner.on_discard(self.id(item), bytes);
    }
    fn on_item_ready(&self, item: ItemId, filename: &str) {
        self.inner.on_item_ready(self.id(item), filename);
    }
    fn on_item_done(&self, item: ItemId, file: &FetchedFile) {
        let mut file = file.clone();
        file.item = self.id(item);
        self.inner.on_item_done(file.item, &file);
    }
    fn on_item_failed(&self, item: ItemId, failure: &FileFailure) {
        self.inner.on_item_failed(self.id(item), failure);
    }
    fn on_mirror_benched(&self, mirror: &str, reason: &pactor_fetch::BenchReason) {
        self.inner.on_mirror_benched(mirror, reason);
    }
    fn on_warning(&self, message: &str) {
        self.inner.on_warning(message);
    }
}

/// The parent's own check of a file the child (or pactor-seed) delivered,
/// done so that what it checked cannot change afterwards. The file is
/// opened without following a link and must be a regular file; it becomes
/// this process's, mode 0644, through that descriptor, so that the writer
/// can no longer open it for writing; a read lease then proves that no
/// writer is left open (a descriptor or shared mapping from before, even in
/// another process); only then is it hashed, through the same descriptor.
/// What is placed later must be this very file ([`Checked`]'s device and
/// inode): a file put under its name afterwards is refused.
///
/// A writer still open (or a file system without leases) leaves the check
/// unfrozen: still right at the time, but the bytes could yet change, and
/// the caller keeps libalpm's own check after the download.
fn verify_in_parent(path: &Path, item: &FetchItem) -> Result<(u64, Checked), String> {
    let (file, meta) = open_regular(path).map_err(|e| output::strerror(&e))?;
    verify_opened(file, &meta, item)
}

/// [`verify_in_parent`] of a file already opened.
fn verify_opened(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    item: &FetchItem,
) -> Result<(u64, Checked), String> {
    use std::os::unix::fs::MetadataExt;
    if let Some(size) = item.size {
        if meta.len() != size {
            return Err(format!("size {} instead of {size}", meta.len()));
        }
    }
    let frozen = make_own(&file).is_ok() && pactor_fetch::verify::no_writer_left(&file);
    if let Some(want) = item.sha256 {
        let got = pactor_fetch::verify::sha256_of(&mut &file).map_err(|e| output::strerror(&e))?;
        if got != want {
            return Err("sha256 mismatch".into());
        }
    }
    let checked = Checked {
        dev: meta.dev(),
        ino: meta.ino(),
        frozen,
    };
    Ok((meta.len(), checked))
}

/// Opens `<dir>/`[`SWARM_DIR`](pactor_fetch::transaction::SWARM_DIR)`/<filename>`,
/// where the engine's swarm leaves a finished file ([`WireEvent::Ready`]),
/// as [`open_regular`] does, and without following a link at the
/// directory either: the engine made that directory, and could have made it
/// a link.
fn open_swarm_file(
    dir: &Path,
    filename: &str,
) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    use nix::fcntl::OFlag;
    let sub = nix::dir::Dir::open(
        &dir.join(pactor_fetch::transaction::SWARM_DIR),
        TREE_FLAGS,
        nix::sys::stat::Mode::empty(),
    )?;
    let fd = nix::fcntl::openat(
        &sub,
        filename,
        OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((file, meta))
}

/// The check begun on [`WireEvent::Ready`], when it holds for the file now
/// at `path`: it passed, it was frozen (this process owns the file and no
/// writer was left, so its bytes cannot have changed since), and `path` is
/// that very file, moved there by the engine. Else `None`: the caller checks
/// `path` itself. The engine hashed the file meanwhile; for the last package
/// of a transaction the two hashes no longer run one after the other.
fn precheck_holds(pre: Precheck, path: &Path) -> Option<(u64, Checked)> {
    use std::os::unix::fs::MetadataExt;
    let (size, checked) = pre.join().ok()?.ok()?;
    let (_, meta) = open_regular(path).ok()?;
    (checked.frozen && meta.dev() == checked.dev && meta.ino() == checked.ino && meta.len() == size)
        .then_some((size, checked))
}

/// Opens a file another process left for pactor (the download process,
/// pactor-seed, which may be hostile) without following a link and without
/// blocking on a pipe; it must be a regular file.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<(std::fs::File, std::fs::Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((file, meta))
}

/// Makes an [`open_regular`] file this process's, mode 0644 (like every
/// file libalpm downloads), through its descriptor: root would otherwise
/// change the owner and mode of whatever a link put under its name names.
pub(crate) fn make_own(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
    std::os::unix::fs::fchown(file, Some(uid.as_raw()), Some(gid.as_raw()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
}

/// Gives `dir` and everything below it to `uid`:`gid`. The tree holds what
/// a download process or pactor-seed wrote, and either may be hostile:
/// nothing is followed, neither a link in place of a file nor one in place
/// of a directory (each step goes through a descriptor opened without
/// following links), so root never changes the owner of anything outside
/// the tree. Links, pipes and devices in it are left as they are.
fn chown_tree(dir: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> std::io::Result<()> {
    let d = nix::dir::Dir::open(dir, TREE_FLAGS, nix::sys::stat::Mode::empty())?;
    chown_dir(d, uid, gid)
}

const TREE_FLAGS: nix::fcntl::OFlag = nix::fcntl::OFlag::O_RDONLY
    .union(nix::fcntl::OFlag::O_DIRECTORY)
    .union(nix::fcntl::OFlag::O_NOFOLLOW)
    .union(nix::fcntl::OFlag::O_CLOEXEC);

fn chown_dir(
    mut d: nix::dir::Dir,
    uid: nix::unistd::Uid,
    gid: nix::unistd::Gid,
) -> std::io::Result<()> {
    use nix::fcntl::AtFlags;
    use nix::sys::stat::SFlag;
    nix::unistd::fchown(&d, Some(uid), Some(gid))?;
    let names: Vec<std::ffi::CString> = d
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        let Ok(st) = nix::sys::stat::fstatat(&d, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
        else {
            continue;
        };
        match SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT {
            SFlag::S_IFDIR => {
                let sub = nix::dir::Dir::openat(
                    &d,
                    name.as_c_str(),
                    TREE_FLAGS,
                    nix::sys::stat::Mode::empty(),
                )?;
                chown_dir(sub, uid, gid)?;
            }
            SFlag::S_IFREG => nix::unistd::fchownat(
                &d,
                name.as_c_str(),
                Some(uid),
                Some(gid),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// `pactor-engine`'s main: the user comes from [`CHILD_ENV`] (empty: the
/// one its plan names). An engine of another version than the pactor that
/// started it (a stale install) hands over to that pactor's own binary.
pub fn engine_main() -> i32 {
    let mine = env!("CARGO_PKG_VERSION");
    let parent = std::env::var(VERSION_ENV).unwrap_or_default();
    if parent != mine {
        let Some(exe) = std::env::var_os(PARENT_EXE_ENV).filter(|_| !parent.is_empty()) else {
            output::error(&format!(
                "{ENGINE_BIN} is pactor's download process; pactor starts it"
            ));
            return 2;
        };
        output::warning(&format!(
            "{ENGINE_BIN} {mine} does not belong to pactor {parent}; pactor downloads in its place"
        ));
        // Same environment, same pipes: pactor then runs as the child.
        let err = std::os::unix::process::CommandExt::exec(&mut Command::new(&exe));
        output::error(&format!(
            "download process: could not start {}: {}",
            Path::new(&exe).display(),
            output::strerror(&err)
        ));
        return 2;
    }
    let user = std::env::var_os(CHILD_ENV).unwrap_or_default();
    child_main(&user.to_string_lossy())
}

/// Entry point of the engine child: drop privileges, confine, run, report.
/// Returns the exit code.
pub fn child_main(user: &str) -> i32 {
    // The HTTP client is built while the plan is awaited; the thread is gone
    // before privileges are dropped. The system's CA certificates are read
    // later, confined, when the plan has an HTTPS mirror (`tls`).
    let mut client = Some(std::thread::spawn(|| {
        pactor_fetch::prebuild_client(&Default::default(), &Default::default())
    }));
    let mut join_client = || {
        if let Some(thread) = client.take() {
            let _ = thread.join();
        }
    };
    let mut stdin = BufReader::new(std::io::stdin().lock());
    let mut input = Vec::new();
    // Warm-up lines may come first ([`warm_up`]): at the first, enter the
    // sandbox and connect while pactor prepares the plan; at the next ones
    // (for the same sandbox), connect more.
    let mut entered: Option<(String, PathBuf)> = None;
    loop {
        input.clear();
        if stdin.read_until(b'\n', &mut input).is_err() {
            return 2;
        }
        let warm_line = input.starts_with(br#"{"warm":"#);
        let warm_msg = warm_line.then(|| serde_json::from_slice::<WireWarm>(&input).ok());
        let Some(WireWarm { warm }) = warm_msg.flatten() else {
            break;
        };
        join_client();
        let user = if user.is_empty() { &warm.user } else { user };
        match &entered {
            None => {
                if let Err(code) = enter_sandbox(user, &warm.download_dir) {
                    return code;
                }
                entered = Some((user.to_owned(), warm.download_dir.clone()));
            }
            Some((as_user, dir)) => {
                if as_user != user || *dir != warm.download_dir {
                    output::error("download process: a warm-up for another sandbox");
                    return 2;
                }
            }
        }
        let origins: Vec<(Url, usize)> = warm
            .origins
            .iter()
            .filter_map(|(u, n)| Some((Url::parse(u).ok()?, *n)))
            .collect();
        pactor_fetch::warm::warm_up(&origins);
    }
    let read = std::io::Read::read_to_end(&mut stdin, &mut input);
    join_client();
    if read.is_err() {
        return 2;
    }
    // A prespawned child whose plan never came: nothing to do.
    if input.is_empty() {
        return 0;
    }
    let Ok(wire) = serde_json::from_slice::<WirePlan>(&input) else {
        output::error("download process: invalid plan");
        return 2;
    };
    // Started early, it learns its user from the plan.
    let named = if user.is_empty() {
        wire.user.clone()
    } else {
        Some(user.to_owned())
    };
    let Some(user) = named.as_deref() else {
        output::error("download process: no user to drop privileges to");
        return 2;
    };
    match &entered {
        Some((as_user, dir)) => {
            if as_user != user || *dir != wire.download_dir {
                output::error("download process: the plan is not for the sandbox it entered");
                return 2;
            }
        }
        None => {
            if let Err(code) = enter_sandbox(user, &wire.download_dir) {
                return code;
            }
        }
    }
    let (plan, swarm) = from_wire(wire);
    let stdout = std::sync::Mutex::new(std::io::stdout());
    let reporter = Arc::new(EventReporter::new(move |line| {
        if let Ok(mut out) = stdout.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }));
    let r = pactor_fetch::fetch_transaction_blocking(plan, reporter, swarm);
    match r {
        Ok(_) | Err(FetchError::Failed { .. }) => 0,
        Err(e) => {
            output::error(&e.to_string());
            1
        }
    }
}

/// Drops to `user` and confines writes to `dir`; the exit code on failure.
fn enter_sandbox(user: &str, dir: &Path) -> Result<(), i32> {
    let parent = nix::unistd::getppid();
    if let Err(e) = drop_privileges(user) {
        output::error(&format!(
            "download process: could not drop privileges to '{user}': {e}"
        ));
        return Err(2);
    }
    // Should pactor die (killed, or by its caller's timeout), stop as on
    // Ctrl-C rather than download on for nobody. Set after the change of
    // user, which clears it.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGINT);
    if nix::unistd::getppid() != parent {
        return Err(1);
    }
    confine_writes(dir);
    Ok(())
}

fn drop_privileges(user: &str) -> Result<(), String> {
    let pw = nix::unistd::User::from_name(user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "no such user".to_owned())?;
    nix::unistd::setgroups(&[pw.gid]).map_err(|e| e.to_string())?;
    nix::unistd::setgid(pw.gid).map_err(|e| e.to_string())?;
    nix::unistd::setuid(pw.uid).map_err(|e| e.to_string())?;
    if nix::unistd::setuid(nix::unistd::Uid::from_raw(0)).is_ok() {
        return Err("could regain root".into());
    }
    Ok(())
}

/// Landlock: everything readable, only the download directory writable.
/// A kernel without Landlock leaves the user/permission barrier alone.
fn confine_writes(dir: &Path) {
    use landlock::{
        path_beneath_rules, Access, AccessFs, Ruleset, RulesetAttr, RulesetCreatedAttr,
        RulesetStatus, ABI,
    };
    let abi = ABI::V3;
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(|r| r.create())
        .and_then(|r| r.add_rules(path_beneath_rules(["/"], AccessFs::from_read(abi))))
        .and_then(|r| r.add_rules(path_beneath_rules([dir], AccessFs::from_all(abi))))
        .and_then(|r| r.restrict_self());
    match status {
        Ok(s) if s.ruleset == RulesetStatus::NotEnforced => output::debug(
            "landlock is not available in this kernel: the download process is confined by its user only",
        ),
        Ok(_) => output::debug("landlock: the download process can write only its download directory"),
        Err(e) => output::debug(&format!("landlock: {e}")),
    }
}

/// An engine's reporter far from the bars: each event becomes one
/// [`WireEvent`] JSON line, given to `sink` (the child's stdout, a
/// pactor-seed connection).
pub(crate) struct EventReporter {
    sink: Box<dyn Fn(String) + Send + Sync>,
}

impl EventReporter {
    pub(crate) fn new(sink: impl Fn(String) + Send + Sync + 'static) -> Self {
        EventReporter {
            sink: Box::new(sink),
        }
    }

    pub(crate) fn send(&self, e: &WireEvent) {
        if let Ok(line) = serde_json::to_string(e) {
            (self.sink)(line);
        }
    }
}

impl Reporter for EventReporter {
    fn on_start(&self, items: usize, total: u64) {
        self.send(&WireEvent::Start { items, total });
    }
    fn on_item_start(&self, item: ItemId, filename: &str, size: Option<u64>, resumed: u64) {
        self.send(&WireEvent::ItemStart {
            item: item.0,
            filename: filename.to_owned(),
            size,
            resumed,
        });
    }
    fn on_progress(&self, item: ItemId, bytes: u64, source: SourceKind) {
        self.send(&WireEvent::Progress {
            item: item.0,
            bytes,
            peer: source == SourceKind::Peer,
        });
    }
    fn on_discard(&self, item: ItemId, bytes: u64) {
        self.send(&WireEvent::Discard {
            item: item.0,
            bytes,
        });
    }
    fn on_item_ready(&self, item: ItemId, filename: &str) {
        self.send(&WireEvent::Ready {
            item: item.0,
            filename: filename.to_owned(),
        });
    }
    fn on_item_done(&self, item: ItemId, file: &FetchedFile) {
        self.send(&WireEvent::Done {
            item: item.0,
            filename: file.filename.clone(),
            from_mirrors: file.from_mirrors,
            from_peers: file.from_peers,
            resumed: file.resumed,
        });
    }
    fn on_item_failed(&self, item: ItemId, failure: &FileFailure) {
        self.send(&WireEvent::Failed {
            item: item.0,
            filename: failure.filename.clone(),
            attempts: failure
                .attempts
                .iter()
                .map(|a| (a.url.clone(), a.outcome.clone()))
                .collect(),
            note: failure.note.clone(),
        });
    }
    fn on_mirror_benched(&self, mirror: &str, reason: &pactor_fetch::BenchReason) {
        self.send(&WireEvent::Warning {
            message: format!("mirror {mirror} dropped: {reason}"),
        });
    }
    fn on_warning(&self, message: &str) {
        self.send(&WireEvent::Warning {
            message: message.to_owned(),
        });
    }
    fn on_finish(&self, s: &FetchSummary) {
        self.send(&WireEvent::Finish {
            from_mirrors: s.bytes_from_mirrors,
            from_peers: s.bytes_from_peers,
            resumed: s.bytes_resumed,
            discarded: s.bytes_discarded,
            elapsed_ms: s.elapsed.as_millis() as u64,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given a download directory holding, besides a file and a
    /// subdirectory, a link to a file outside and a link to a directory
    /// outside, when it is handed to another user, then the file and the
    /// subdirectory's file are that user's and nothing outside changed
    /// owner. (As root only: nobody else can give files away.)
    #[test]
    fn chown_tree_follows_no_link() {
        use std::os::unix::fs::MetadataExt;
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("secret"), b"x").unwrap();
        let tree = tmp.path().join("partial");
        std::fs::create_dir_all(tree.join("swarm")).unwrap();
        std::fs::write(tree.join("a.pkg.tar.zst"), b"a").unwrap();
        std::fs::write(tree.join("swarm").join("b.pkg.tar.zst"), b"b").unwrap();
        std::os::unix::fs::symlink(outside.join("secret"), tree.join("c.pkg.tar.zst")).unwrap();
        std::os::unix::fs::symlink(&outside, tree.join("d")).unwrap();
        let nobody = nix::unistd::Uid::from_raw(65534);
        let nogroup = nix::unistd::Gid::from_raw(65534);
        chown_tree(&tree, nobody, nogroup).unwrap();
        let uid = |p: &Path| std::fs::symlink_metadata(p).unwrap().uid();
        assert_eq!(uid(&tree), 65534);
        assert_eq!(uid(&tree.join("a.pkg.tar.zst")), 65534);
        assert_eq!(uid(&tree.join("swarm").join("b.pkg.tar.zst")), 65534);
        assert_eq!(
            uid(&outside.join("secret")),
            0,
            "a link to a file was followed"
        );
        assert_eq!(uid(&outside), 0, "a link to a directory was followed");
    }

    /// A delivered file the download process still holds open for writing
    /// could change after the parent's check. Given such a writer, when the
    /// parent checks the file, then the check passes but is not frozen
    /// (libalpm's own check is kept); once the writer is closed, the check
    /// is frozen; either way the file is now the parent's, mode 0644, and a
    /// wrong sha256 still fails.
    #[test]
    fn a_check_is_frozen_only_when_no_writer_is_left() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a-1-1-any.pkg.tar.zst");
        std::fs::write(&path, b"abc").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut item = FetchItem {
            filename: "a-1-1-any.pkg.tar.zst".into(),
            size: Some(3),
            sha256: Some(pactor_fetch::verify::sha256_of(&mut &b"abc"[..]).unwrap()),
            mirrors: Vec::new(),
            torrent: None,
            kind: ItemKind::Package,
        };
        let writer = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let (size, checked) = verify_in_parent(&path, &item).unwrap();
        assert_eq!(size, 3);
        assert!(!checked.frozen, "frozen while a writer was open");
        drop(writer);
        let (_, checked) = verify_in_parent(&path, &item).unwrap();
        assert!(checked.frozen, "not frozen with no writer left");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((checked.dev, checked.ino), (meta.dev(), meta.ino()));
        assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        item.sha256 = Some([0; 32]);
        assert!(verify_in_parent(&path, &item).is_err());
    }

    #[test]
    fn plan_survives_the_pipe() {
        let plan = FetchPlan {
            items: vec![FetchItem {
                filename: "a-1-1-any.pkg.tar.zst".into(),
                size: Some(3),
                sha256: Some([7; 32]),
                mirrors: vec![Url::parse("http://127.0.0.1:1/repo").unwrap()],
                torrent: Some(TorrentSource::Urls(vec![Url::parse(
                    "http://127.0.0.1:1/repo/a-1-1-any.pkg.tar.zst.torrent",
                )
                .unwrap()])),
                kind: ItemKind::Package,
            }],
            download_dir: "/tmp/x".into(),
            limits: Limits {
                max_download_rate: Some(5),
                ..Default::default()
            },
            options: Default::default(),
        };
        let swarm = SwarmSettings {
            listen_port: Some(6881),
            trackers: vec![Url::parse("udp://127.0.0.1:6969/announce").unwrap()],
            max_upload_rate: Some(7),
            min_size: 12345,
            ..Default::default()
        };
        let (back, back_swarm) = from_wire(
            serde_json::from_slice(&serde_json::to_vec(&to_wire(&plan, &swarm)).unwrap()).unwrap(),
        );
        assert_eq!(back_swarm.listen_port, Some(6881));
        assert_eq!(back_swarm.trackers, swarm.trackers);
        assert_eq!(back_swarm.max_upload_rate, Some(7));
        assert_eq!(back_swarm.min_size, 12345);
        assert_eq!(back_swarm.state_dir, Path::new("/tmp/x/swarm"));
        assert_eq!(back.items, plan.items);
        assert_eq!(back.download_dir, plan.download_dir);
        assert_eq!(back.limits.max_download_rate, Some(5));
    }

    /// An engine that stops midway (the child killed, pactor-seed gone):
    /// what it delivered and what checks out is kept, a file that does not
    /// match the db is thrown away, the rest is left for a takeover with the
    /// bytes its bar shows.
    #[test]
    fn events_are_read_and_files_checked_until_the_stream_ends() {
        use pactor_fetch::reporter::{CollectingReporter, Event};
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (b"package a".to_vec(), b"package b".to_vec());
        std::fs::write(tmp.path().join("a.pkg"), &a).unwrap();
        std::fs::write(tmp.path().join("b.pkg"), b"tampered!").unwrap();
        let sha = |data: &[u8]| {
            let p = tmp.path().join("sha.tmp");
            std::fs::write(&p, data).unwrap();
            let h = pactor_fetch::verify::sha256_file(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            h
        };
        let item = |name: &str, data: &[u8]| FetchItem {
            filename: name.into(),
            size: Some(data.len() as u64),
            sha256: Some(sha(data)),
            mirrors: vec![],
            torrent: None,
            kind: ItemKind::Package,
        };
        let plan = FetchPlan {
            items: vec![
                item("a.pkg", &a),
                item("b.pkg", &b),
                item("c.pkg", &[0; 100]),
            ],
            download_dir: tmp.path().to_owned(),
            limits: Limits::default(),
            options: Default::default(),
        };
        let events = [
            WireEvent::Start {
                items: 3,
                total: 118,
            },
            WireEvent::ItemStart {
                item: 0,
                filename: "a.pkg".into(),
                size: Some(9),
                resumed: 0,
            },
            WireEvent::Progress {
                item: 0,
                bytes: 9,
                peer: true,
            },
            WireEvent::Done {
                item: 0,
                filename: "a.pkg".into(),
                from_mirrors: 0,
                from_peers: 9,
                resumed: 0,
            },
            WireEvent::ItemStart {
                item: 1,
                filename: "b.pkg".into(),
                size: Some(9),
                resumed: 0,
            },
            WireEvent::Done {
                item: 1,
                filename: "b.pkg".into(),
                from_mirrors: 9,
                from_peers: 0,
                resumed: 0,
            },
            WireEvent::ItemStart {
                item: 2,
                filename: "c.pkg".into(),
                size: Some(100),
                resumed: 30,
            },
            WireEvent::Progress {
                item: 2,
                bytes: 50,
                peer: false,
            },
            WireEvent::Discard { item: 2, bytes: 20 },
        ];
        let mut stream = String::new();
        for e in &events {
            stream.push_str(&serde_json::to_string(e).unwrap());
            stream.push('\n');
        }
        // A line cut off by the engine's death is not an event.
        stream.push_str("{\"e\":\"Progress\",\"item\":2,");
        let reporter = CollectingReporter::default();
        let got = receive(stream.as_bytes(), &plan, &reporter, &|| true, None);

        assert!(!got.finished && !got.stopped && got.error.is_none());
        assert_eq!(got.files.len(), 1);
        assert_eq!(got.files[0].filename, "a.pkg");
        assert_eq!(got.files[0].from_peers, 9);
        assert_eq!(got.failures.len(), 1);
        assert_eq!(got.failures[0].0, 1);
        assert!(!tmp.path().join("b.pkg").exists(), "a bad file was kept");
        assert!(!got.settled(2));
        assert_eq!(got.shown.get(&2), Some(&60));
        let seen = reporter.events();
        assert!(seen.iter().any(|e| matches!(
            e,
            Event::ItemDone {
                item: ItemId(0),
                ..
            }
        )));
        assert!(seen.iter().any(|e| matches!(
            e,
            Event::ItemFailed {
                item: ItemId(1),
                ..
            }
        )));

        let mut got = got;
        got.fail_the_rest(&plan, "gone");
        match got.into_result() {
            Err(FetchError::Failed { failures, partial }) => {
                assert_eq!(failures.len(), 2);
                assert_eq!(failures[1].filename, "c.pkg");
                assert_eq!(partial.summary.packages, 1);
            }
            other => panic!("{other:?}"),
        }
    }

    /// A check begun when the engine says a swarm file is ready counts
    /// when that very file is reported done: a writer opened on it later
    /// (root's, as this test runs) does not unfreeze it, because it was not
    /// checked again. A different file put under the name instead is
    /// checked afresh and refused. A swarm directory that is a link is not
    /// followed: the file it leads to is neither checked nor made the
    /// parent's.
    #[test]
    fn a_check_begun_on_ready_holds_for_that_very_file_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let swarm = tmp.path().join(pactor_fetch::transaction::SWARM_DIR);
        std::fs::create_dir(&swarm).unwrap();
        let item = |name: &str, data: &[u8]| FetchItem {
            filename: name.into(),
            size: Some(data.len() as u64),
            sha256: Some(pactor_fetch::verify::sha256_of(&mut &data[..]).unwrap()),
            mirrors: vec![],
            torrent: None,
            kind: ItemKind::Package,
        };
        let (a, b) = (b"package a", b"package b");
        let plan = FetchPlan {
            items: vec![item("a.pkg", a), item("b.pkg", b)],
            download_dir: tmp.path().to_owned(),
            limits: Limits::default(),
            options: Default::default(),
        };
        std::fs::write(swarm.join("a.pkg"), a).unwrap();
        std::fs::write(swarm.join("b.pkg"), b).unwrap();
        let reporter = pactor_fetch::reporter::CollectingReporter::default();
        let mut got = Received::default();
        let ready = |item: usize, name: &str| WireEvent::Ready {
            item,
            filename: name.into(),
        };
        let done = |item: usize, name: &str| WireEvent::Done {
            item,
            filename: name.into(),
            from_mirrors: 9,
            from_peers: 0,
            resumed: 0,
        };
        let finished = |got: &Received, item: usize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !got.prechecks[&item].is_finished() {
                assert!(Instant::now() < deadline, "the check never ended");
                std::thread::sleep(Duration::from_millis(5));
            }
        };

        handle_event(ready(0, "a.pkg"), &plan, &reporter, &mut got);
        finished(&got, 0);
        std::fs::rename(swarm.join("a.pkg"), tmp.path().join("a.pkg")).unwrap();
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .open(tmp.path().join("a.pkg"))
            .unwrap();
        handle_event(done(0, "a.pkg"), &plan, &reporter, &mut got);
        drop(writer);
        assert_eq!(got.files.len(), 1, "{:?}", got.failures);
        let checked = got.files[0].checked.as_ref().unwrap();
        assert!(
            checked.frozen,
            "checked again instead of the check begun on ready"
        );

        handle_event(ready(1, "b.pkg"), &plan, &reporter, &mut got);
        finished(&got, 1);
        std::fs::write(tmp.path().join("b.pkg"), b"tampered!").unwrap();
        handle_event(done(1, "b.pkg"), &plan, &reporter, &mut got);
        assert_eq!(got.files.len(), 1);
        assert_eq!(got.failures.len(), 1);
        assert_eq!(got.failures[0].0, 1);
        assert!(got.prechecks.is_empty());

        let linked = tempfile::tempdir().unwrap();
        let elsewhere = linked.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::write(elsewhere.join("a.pkg"), a).unwrap();
        std::fs::set_permissions(
            elsewhere.join("a.pkg"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink(
            &elsewhere,
            linked.path().join(pactor_fetch::transaction::SWARM_DIR),
        )
        .unwrap();
        let plan = FetchPlan {
            download_dir: linked.path().to_owned(),
            ..plan
        };
        let mut got = Received::default();
        handle_event(ready(0, "a.pkg"), &plan, &reporter, &mut got);
        let pre = got.prechecks.remove(&0).unwrap();
        assert!(pre.join().unwrap().is_err(), "followed the link");
        let mode = std::fs::metadata(elsewhere.join("a.pkg"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    /// A takeover continues the bars the daemon started, from what the
    /// engine found on disk, under the ids of the whole plan.
    #[test]
    fn takeover_reports_under_the_whole_plan_ids() {
        use pactor_fetch::reporter::{CollectingReporter, Event};
        let inner = Arc::new(CollectingReporter::default());
        let t = Takeover {
            inner: inner.clone(),
            ids: vec![2, 5],
            shown: HashMap::from([(2, 700)]),
        };
        t.on_start(2, 1000);
        t.on_item_start(ItemId(0), "c", Some(1000), 600);
        t.on_item_start(ItemId(1), "f", Some(10), 0);
        t.on_progress(ItemId(0), 400, SourceKind::Mirror);
        assert_eq!(
            inner.events(),
            [
                Event::Discard {
                    item: ItemId(2),
                    bytes: 100
                },
                Event::ItemStart {
                    item: ItemId(5),
                    filename: "f".into(),
                    size: Some(10),
                    resumed: 0
                },
                Event::Progress {
                    item: ItemId(2),
                    bytes: 400,
                    source: SourceKind::Mirror
                },
            ]
        );
    }

    #[test]
    fn events_round_trip() {
        let e = WireEvent::Progress {
            item: 3,
            bytes: 10,
            peer: true,
        };
        let s = serde_json::to_string(&e).unwrap();
        assert!(matches!(
            serde_json::from_str::<WireEvent>(&s).unwrap(),
            WireEvent::Progress {
                item: 3,
                bytes: 10,
                peer: true
            }
        ));
    }
}
