//! The network-facing engine does not run as root. When pactor runs as root
//! (and the sandbox is not disabled with `--disable-sandbox` or
//! pacman.conf's `DisableSandbox`), the engine runs in a child process — pactor
//! itself, started again with [`CHILD_ENV`] set — that drops to pacman.conf's
//! `DownloadUser` (else `nobody`), confines its writes to the download
//! directory with Landlock where the kernel has it, and reports through a
//! pipe. The parent re-verifies every file it is handed (size and sha256
//! from the sync db) before anything moves towards the cache: a compromised
//! child can waste a download, not plant a file.
//!
//! Wire format: the parent writes one JSON [`WirePlan`] to the child's
//! stdin; the child writes one JSON [`WireEvent`] per line to its stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pactor_fetch::{
    FetchError, FetchItem, FetchOutcome, FetchPlan, FetchSummary, FetchedFile, FileFailure, ItemId,
    ItemKind, Limits, Reporter, SourceAttempt, SourceKind, SwarmSettings, TorrentSource, Url,
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
}

impl SandboxOptions {
    /// The sandbox pacman would use: as root, unless disabled, the
    /// `DownloadUser` (or `nobody` when pacman.conf names none).
    ///
    /// Not under fakeroot (pacman's test suite): there "root" is pretend and
    /// a child could not change user.
    pub fn for_config(cfg: &crate::config::Config, disable_flag: bool) -> Self {
        let root = nix::unistd::getuid().is_root() && std::env::var_os("FAKEROOTKEY").is_none();
        let disabled = disable_flag || cfg.pacman.disable_sandbox;
        let user = (root && !disabled).then(|| {
            cfg.pacman
                .download_user
                .clone()
                .unwrap_or_else(|| "nobody".into())
        });
        SandboxOptions { user }
    }
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
}

/// The plan as it crosses the pipe.
#[derive(Serialize, Deserialize)]
pub struct WirePlan {
    items: Vec<WireItem>,
    download_dir: PathBuf,
    max_download_rate: Option<u64>,
    #[serde(default)]
    swarm: Option<WireSwarm>,
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

fn to_wire(plan: &FetchPlan, swarm: &SwarmSettings) -> WirePlan {
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
        }),
    }
}

fn from_wire(w: WirePlan) -> (FetchPlan, SwarmSettings) {
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
                mirrors: i
                    .mirrors
                    .iter()
                    .filter_map(|m| Url::parse(m).ok())
                    .collect(),
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
/// without torrents.
pub fn fetch(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    opts: &SandboxOptions,
) -> Result<FetchOutcome, FetchError> {
    let swarm = SwarmSettings {
        enabled: false,
        ..Default::default()
    };
    fetch_with_swarm(plan, reporter, opts, swarm)
}

/// [`fetch`] with the swarm for packages that have a usable torrent.
pub fn fetch_with_swarm(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    opts: &SandboxOptions,
    swarm: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
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
    pactor_fetch::engine_runtime()?.block_on(async move {
        tokio::select! {
            r = pactor_fetch::fetch_transaction(plan, reporter, swarm) => r,
            () = async {
                while !crate::signals::interrupted() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            } => Err(FetchError::Io {
                action: "interrupted while downloading into",
                path: dir,
                source: std::io::Error::from(std::io::ErrorKind::Interrupted),
            }),
        }
    })
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
        return fetch_here(plan, reporter, swarm);
    }
    // The child owns its download directory and nothing else.
    std::fs::create_dir_all(&plan.download_dir)
        .map_err(|e| io_err("could not create", &plan.download_dir, e))?;
    chown_tree(&plan.download_dir, pw.uid, pw.gid)
        .map_err(|e| io_err("could not hand over", &plan.download_dir, e))?;
    let exe = std::env::current_exe()
        .map_err(|e| io_err("could not find", Path::new("/proc/self/exe"), e))?;
    let mut child = Command::new(&exe)
        .env_clear()
        .env(CHILD_ENV, user)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| io_err("could not start", &exe, e))?;
    let wire = serde_json::to_vec(&to_wire(&plan, &swarm))
        .map_err(|e| FetchError::InvalidPlan(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&wire);
    }
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| FetchError::InvalidPlan("no pipe".into()))?;
    let mut files = Vec::new();
    let mut failures = Vec::new();
    let mut summary = FetchSummary::default();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(event) = serde_json::from_str::<WireEvent>(&line) else {
            continue;
        };
        match event {
            WireEvent::Start { items, total } => reporter.on_start(items, total),
            WireEvent::ItemStart {
                item,
                filename,
                size,
                resumed,
            } => reporter.on_item_start(ItemId(item), &filename, size, resumed),
            WireEvent::Progress { item, bytes, peer } => reporter.on_progress(
                ItemId(item),
                bytes,
                if peer {
                    SourceKind::Peer
                } else {
                    SourceKind::Mirror
                },
            ),
            WireEvent::Discard { item, bytes } => reporter.on_discard(ItemId(item), bytes),
            WireEvent::Done {
                item,
                filename,
                from_mirrors,
                from_peers,
                resumed,
            } => {
                let Some(planned) = plan.items.get(item).filter(|p| p.filename == filename) else {
                    continue;
                };
                let path = plan.download_dir.join(&filename);
                match verify_in_parent(&path, planned) {
                    Ok(size) => {
                        let f = FetchedFile {
                            item: ItemId(item),
                            filename,
                            path,
                            size,
                            kind: planned.kind,
                            from_mirrors,
                            from_peers,
                            resumed,
                        };
                        reporter.on_item_done(ItemId(item), &f);
                        files.push(f);
                    }
                    Err(why) => {
                        let _ = std::fs::remove_file(&path);
                        let failure = FileFailure {
                            filename,
                            attempts: Vec::new(),
                            note: Some(why),
                        };
                        reporter.on_item_failed(ItemId(item), &failure);
                        failures.push(failure);
                    }
                }
            }
            WireEvent::Failed {
                item,
                filename,
                attempts,
                note,
            } => {
                let failure = FileFailure {
                    filename,
                    attempts: attempts
                        .into_iter()
                        .map(|(url, outcome)| SourceAttempt { url, outcome })
                        .collect(),
                    note,
                };
                reporter.on_item_failed(ItemId(item), &failure);
                failures.push(failure);
            }
            WireEvent::Warning { message } => reporter.on_warning(&message),
            WireEvent::Finish {
                from_mirrors,
                from_peers,
                resumed,
                discarded,
                elapsed_ms,
            } => {
                summary = FetchSummary {
                    files: files.len(),
                    packages: files.iter().filter(|f| f.kind == ItemKind::Package).count(),
                    bytes_from_mirrors: from_mirrors,
                    bytes_from_peers: from_peers,
                    bytes_resumed: resumed,
                    bytes_discarded: discarded,
                    elapsed: Duration::from_millis(elapsed_ms),
                };
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| io_err("could not wait for", &exe, e))?;
    if !status.success() && files.len() + failures.len() < plan.items.len() {
        // The child died: every file it did not report failed with it.
        for (i, item) in plan.items.iter().enumerate() {
            if !files.iter().any(|f| f.item.0 == i)
                && !failures.iter().any(|f| f.filename == item.filename)
            {
                failures.push(FileFailure {
                    filename: item.filename.clone(),
                    attempts: Vec::new(),
                    note: Some(format!(
                        "the download process ended unexpectedly ({status})"
                    )),
                });
            }
        }
    }
    summary.files = files.len();
    summary.packages = files.iter().filter(|f| f.kind == ItemKind::Package).count();
    let outcome = FetchOutcome { files, summary };
    if failures.is_empty() {
        Ok(outcome)
    } else {
        Err(FetchError::Failed {
            failures,
            partial: Box::new(outcome),
        })
    }
}

/// The parent's own check of a file the child delivered.
fn verify_in_parent(path: &Path, item: &FetchItem) -> Result<u64, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| output::strerror(&e))?;
    if !meta.file_type().is_file() {
        return Err("not a regular file".into());
    }
    if let Some(size) = item.size {
        if meta.len() != size {
            return Err(format!("size {} instead of {size}", meta.len()));
        }
    }
    if let Some(want) = item.sha256 {
        let got = pactor_fetch::verify::sha256_file(path).map_err(|e| output::strerror(&e))?;
        if got != want {
            return Err("sha256 mismatch".into());
        }
    }
    Ok(meta.len())
}

fn chown_tree(dir: &Path, uid: nix::unistd::Uid, gid: nix::unistd::Gid) -> std::io::Result<()> {
    nix::unistd::chown(dir, Some(uid), Some(gid))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let ft = entry.file_type()?;
        if ft.is_dir() {
            chown_tree(&entry.path(), uid, gid)?;
        } else if ft.is_file() {
            nix::unistd::chown(&entry.path(), Some(uid), Some(gid))?;
        }
    }
    // The user must be able to reach it: make the parents traversable.
    Ok(())
}

/// Entry point of the engine child: drop privileges, confine, run, report.
/// Returns the exit code.
pub fn child_main(user: &str) -> i32 {
    let mut input = Vec::new();
    if std::io::Read::read_to_end(&mut std::io::stdin(), &mut input).is_err() {
        return 2;
    }
    let Ok(wire) = serde_json::from_slice::<WirePlan>(&input) else {
        output::error("download process: invalid plan");
        return 2;
    };
    if let Err(e) = drop_privileges(user) {
        output::error(&format!(
            "download process: could not drop privileges to '{user}': {e}"
        ));
        return 2;
    }
    confine_writes(&wire.download_dir);
    let (plan, swarm) = from_wire(wire);
    let reporter = Arc::new(PipeReporter(std::sync::Mutex::new(std::io::stdout())));
    match pactor_fetch::fetch_transaction_blocking(plan, reporter, swarm) {
        Ok(_) | Err(FetchError::Failed { .. }) => 0,
        Err(e) => {
            output::error(&e.to_string());
            1
        }
    }
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

/// The child's reporter: JSON lines on stdout.
struct PipeReporter(std::sync::Mutex<std::io::Stdout>);

impl PipeReporter {
    fn send(&self, e: &WireEvent) {
        if let (Ok(mut out), Ok(line)) = (self.0.lock(), serde_json::to_string(e)) {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

impl Reporter for PipeReporter {
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
            ..Default::default()
        };
        let (back, back_swarm) = from_wire(
            serde_json::from_slice(&serde_json::to_vec(&to_wire(&plan, &swarm)).unwrap()).unwrap(),
        );
        assert_eq!(back_swarm.listen_port, Some(6881));
        assert_eq!(back_swarm.trackers, swarm.trackers);
        assert_eq!(back_swarm.max_upload_rate, Some(7));
        assert_eq!(back_swarm.state_dir, Path::new("/tmp/x/swarm"));
        assert_eq!(back.items, plan.items);
        assert_eq!(back.download_dir, plan.download_dir);
        assert_eq!(back.limits.max_download_rate, Some(5));
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
