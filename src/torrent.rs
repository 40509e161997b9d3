//! `-x`: pactor's engine takes over the downloads of a transaction.
//!
//! libalpm fixes each package's download size when the transaction is
//! prepared, so a file placed in the cache after `trans_prepare` would be
//! downloaded again. pactor therefore answers libalpm's fetch callback
//! (`alpm_option_set_fetchcb`): libalpm calls it one file at a time at commit;
//! on the first call for a planned file pactor downloads the whole plan in
//! parallel into its own directory (never a CacheDir, see DESIGN), verifies
//! each file against the sync db, and moves each verified file into
//! libalpm's download directory as soon as it is verified ([`Placer`]); every
//! call is then answered from there. libalpm keeps its own signature checks
//! and server fallback, and nothing is fetched twice.
//!
//! Files the plan does not cover (a `.sig` libalpm asks for anyway, a URL
//! target) are fetched alone through the same engine.
//!
//! When `pactor-seed` runs, the plan is handed to it (src/sandbox.rs), and
//! after the commit every package pactor verified and placed in the cache is
//! handed to it for seeding at once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use alpm::{Alpm, FetchResult};
use pactor_fetch::{
    BenchReason, Checked, FetchItem, FetchPlan, FetchSummary, FetchedFile, FileFailure, ItemId,
    ItemKind, Limits, SourceKind, Url,
};

use crate::cli::Args;
use crate::config::Config;
use crate::resolve::{self, PlannedFile};
use crate::ui::bars::EngineReporter;
use crate::ui::callbacks::{self, Ui};
use crate::ui::output;

/// One `-x` run: the plan, where the engine works, and what it delivered.
struct Run {
    /// pactor's download directory (partials, resume records).
    download_dir: PathBuf,
    limits: Limits,
    planned: Vec<PlannedFile>,
    /// Verified files by name, waiting to be handed to libalpm: where each
    /// is, and pactor's check of it when another process wrote it.
    ready: HashMap<String, (PathBuf, Option<Checked>)>,
    /// Whether every file the engine delivered was checked with its bytes
    /// frozen (or written by this process): pactor's check then stands for
    /// libalpm's in `-Sw` ([`download_only`]).
    all_frozen: bool,
    /// Files the plan run could not deliver, with the reason.
    failed: HashMap<String, String>,
    /// Why the last file libalpm asked for could not be fetched, in
    /// libalpm's terms (see [`download_error`]).
    last_error: Option<alpm::Error>,
    engine_ran: bool,
    bars: bool,
    /// Every `CacheServer` of the configuration.
    cache_servers: Vec<String>,
    /// Where the engine runs (an unprivileged child as root).
    sandbox: crate::sandbox::SandboxOptions,
    /// Torrents pactor accepted earlier (`<state>/torrents`).
    torrents_dir: PathBuf,
    /// `TorrentServer` templates from pactor.conf.
    torrent_servers: Vec<String>,
    /// The first configured architecture, for `$arch`.
    arch: String,
    /// pactor.conf's BitTorrent settings for the plan run.
    swarm: pactor_fetch::SwarmSettings,
    /// Verified package files handed to libalpm, for pactor-seed.
    placed: Vec<String>,
    /// Every CacheDir, where libalpm keeps them.
    cachedirs: Vec<PathBuf>,
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
}

/// pactor's state directory for this configuration: `StateDir` from
/// pactor.conf when set, else `pactor` beside the database directory
/// (`/var/lib/pactor` for the default `/var/lib/pacman`), so a sandboxed
/// root keeps its state inside the sandbox.
pub fn state_dir(cfg: &Config) -> PathBuf {
    if cfg.pactor.state_dir != Path::new(crate::env::DEFAULT_STATE_DIR) {
        return cfg.pactor.state_dir.clone();
    }
    let db = Path::new(cfg.dbpath.trim_end_matches('/'));
    db.parent().unwrap_or(Path::new("/")).join("pactor")
}

/// Registers the fetch callback for a `-x` run.
pub fn install_fetch_cb(handle: &Alpm, cfg: &Config, args: &Args, ui: &Ui) {
    let download_dir = state_dir(cfg).join("partial");
    let rate = args
        .value("download-limit")
        .and_then(|v| crate::config::parse_rate(v).ok())
        .unwrap_or(cfg.pactor.download_limit);
    let limits = Limits {
        max_download_rate: (rate > 0).then_some(rate),
        ..Default::default()
    };
    let bars = ui.borrow().bars.enabled();
    // The engine draws the bars of the packages and their total.
    ui.borrow_mut().engine_downloads = true;
    RUN.with(|r| {
        *r.borrow_mut() = Some(Run {
            download_dir,
            limits,
            planned: Vec::new(),
            ready: HashMap::new(),
            all_frozen: true,
            failed: HashMap::new(),
            last_error: None,
            engine_ran: false,
            bars,
            cache_servers: cfg
                .repos
                .iter()
                .flat_map(|r| r.cache_servers.iter().cloned())
                .collect(),
            sandbox: crate::sandbox::SandboxOptions::for_config(cfg, args.has("disable-sandbox")),
            torrents_dir: state_dir(cfg).join("torrents"),
            torrent_servers: cfg.pactor.torrent_servers.clone(),
            arch: cfg
                .architectures
                .first()
                .cloned()
                .unwrap_or_else(|| "x86_64".into()),
            placed: Vec::new(),
            cachedirs: cfg.cachedirs.iter().map(PathBuf::from).collect(),
            swarm: {
                let up = args
                    .value("upload-limit")
                    .and_then(|v| crate::config::parse_rate(v).ok())
                    .unwrap_or(cfg.pactor.upload_limit);
                pactor_fetch::SwarmSettings {
                    state_dir: state_dir(cfg),
                    listen_port: pactor_fetch::SwarmSettings::default()
                        .listen_port
                        .map(|_| cfg.pactor.listen_port),
                    trackers: cfg
                        .pactor
                        .trackers
                        .iter()
                        .filter_map(|t| Url::parse(t).ok())
                        .collect(),
                    max_upload_rate: (up > 0).then_some(up),
                    // pactor.conf can keep the swarm to trackers and
                    // known peers (no public DHT, no LAN multicast).
                    dht: cfg.pactor.dht && pactor_fetch::SwarmSettings::default().dht,
                    lsd: cfg.pactor.lsd && pactor_fetch::SwarmSettings::default().lsd,
                    min_size: cfg.pactor.torrent_min_size,
                    ..Default::default()
                }
            },
        })
    });
    handle.set_fetch_cb((), |url, localpath, force, _| {
        fetch_cb(url, Path::new(localpath), force)
    });
}

/// Right after pacman.conf is read, while libalpm still loads
/// (`lazy_alpm` in the binary) and before the databases: the download
/// process opens connections to every mirror pacman.conf names, as many as
/// the explicit targets (up to the six a mirror gets first), so that the
/// handshakes are done by the time the plan is. [`warm_up`] adds what the
/// packages then call for. Only for named targets without `-y` or `-u`: a
/// refresh or an upgrade may find nothing to download, and would leave the
/// connections waiting a while either way. If nothing turns out to be
/// downloaded, the process ends with its connections unused.
pub fn warm_up_early(cfg: &Config, args: &Args, targets: &[String]) {
    if targets.is_empty() || args.has("refresh") || args.has("sysupgrade") {
        return;
    }
    let mut mirrors: Vec<Url> = Vec::new();
    for repo in &cfg.repos {
        let servers: Vec<String> = repo
            .cache_servers
            .iter()
            .chain(&repo.servers)
            .cloned()
            .collect();
        for url in split_mirrors(&servers).1 {
            if !mirrors.iter().any(|m| m.origin() == url.origin()) {
                mirrors.push(url);
            }
        }
    }
    let n = targets
        .len()
        .min(pactor_fetch::FIRST_CONNECTIONS_PER_MIRROR);
    let origins: Vec<(Url, usize)> = mirrors.into_iter().map(|url| (url, n)).collect();
    crate::sandbox::warm_up(
        &crate::sandbox::SandboxOptions::for_config(cfg, args.has("disable-sandbox")),
        &state_dir(cfg).join("partial"),
        &origins,
    );
}

/// Before `trans_prepare`, when nothing will wait for the user: the
/// download process opens its first connections to the mirrors of the
/// packages to download now (TCP, and TLS for HTTPS), so that they are
/// ready when the plan comes after the prepare, instead of costing the
/// first requests one or two round trips (`pactor_fetch::warm`). As many to
/// each mirror as the engine opens to it first (fewer for fewer files).
/// The prepare may add dependencies; their mirrors are those of their
/// repositories, usually the same.
pub fn warm_up(handle: &Alpm, cfg: &Config, args: &Args) {
    // Files and bytes by repository, then by mirror. (Before the prepare,
    // libalpm's download sizes are not worked out yet: a package is to be
    // downloaded unless its file is in a CacheDir.)
    let mut repos: HashMap<&str, (&alpm::Db, usize, u64)> = HashMap::new();
    for pkg in handle.trans_add() {
        let (Some(db), Some(name)) = (pkg.db(), pkg.filename()) else {
            continue;
        };
        if cfg
            .cachedirs
            .iter()
            .any(|d| Path::new(d).join(name).exists())
        {
            continue;
        }
        let (_, files, bytes) = repos.entry(db.name()).or_insert((db, 0, 0));
        *files += 1;
        *bytes += pkg.size().max(0) as u64;
    }
    let mut origins: Vec<(Url, usize, u64)> = Vec::new();
    for (db, n, size) in repos.into_values() {
        for url in split_mirrors(&resolve::servers_of(db)).1 {
            match origins
                .iter_mut()
                .find(|(o, ..)| o.origin() == url.origin())
            {
                Some((_, files, bytes)) => {
                    *files += n;
                    *bytes += size;
                }
                None => origins.push((url, n, size)),
            }
        }
    }
    let origins: Vec<(Url, usize)> = origins
        .into_iter()
        .map(|(url, files, bytes)| {
            let typical = bytes / files as u64;
            (url, pactor_fetch::first_connections(typical).min(files))
        })
        .collect();
    crate::sandbox::warm_up(
        &crate::sandbox::SandboxOptions::for_config(cfg, args.has("disable-sandbox")),
        &state_dir(cfg).join("partial"),
        &origins,
    );
}

/// Takes the fetch plan from the prepared transaction (no-op without `-x`).
pub fn before_commit(handle: &Alpm, _ui: &Ui) {
    RUN.with(|r| {
        if let Some(run) = r.borrow_mut().as_mut() {
            run.planned = resolve::fetch_plan(handle).files;
        }
    });
}

/// `-Sw`: downloads the plan before libalpm's commit, straight into the
/// CacheDir libalpm would use, and answers whether that is the whole job.
///
/// For a download only, libalpm's commit would hash every package again
/// after the download (about 30 ms for 300 small packages) and do nothing
/// else. pactor has checked each one against the same sha256 from the sync
/// db as it arrived, with its bytes frozen (see `verify_in_parent`). So
/// when that is all libalpm would check — no package signature to check
/// (the repository's SigLevel), every package in the plan with a sha256,
/// delivered, and frozen — the commit is left out and its two checks are
/// shown as passed. Otherwise (and when libalpm itself must create the
/// CacheDir, or free space is short while CheckSpace is on) this returns
/// `false` and the commit runs as usual, taking the files already placed.
pub fn download_only(handle: &Alpm, ui: &Ui) -> bool {
    let Some(planned) = RUN.with(|r| r.borrow().as_ref().map(|run| run.planned.clone())) else {
        return false;
    };
    let adds = handle.trans_add();
    let with_sha256: std::collections::HashSet<&str> = planned
        .iter()
        .filter(|f| f.sha256.is_some())
        .map(|f| f.filename.as_str())
        .collect();
    let own_check_suffices = !planned.is_empty()
        && adds.len() == planned.len()
        && adds.iter().all(|pkg| {
            let signed = pkg
                .db()
                .is_none_or(|db| db.siglevel().contains(alpm::SigLevel::PACKAGE));
            !signed && pkg.filename().is_some_and(|f| with_sha256.contains(f))
        });
    if !own_check_suffices {
        return false;
    }
    let Some(cachedir) = cachedir_in_use(handle) else {
        return false;
    };
    let total: u64 = planned.iter().map(|f| f.size).sum();
    if handle.check_space() && !has_room(&cachedir, total) {
        return false;
    }
    callbacks::retrieve_start(ui);
    run_plan(&cachedir);
    callbacks::retrieve_done(ui);
    if crate::signals::interrupted() {
        return false;
    }
    let done = RUN.with(|r| {
        let b = r.borrow();
        let Some(run) = b.as_ref() else { return false };
        run.all_frozen
            && planned.iter().all(|f| {
                run.ready
                    .get(&f.filename)
                    .is_some_and(|(at, _)| *at == cachedir.join(&f.filename))
            })
    });
    if !done {
        return false;
    }
    RUN.with(|r| {
        if let Some(run) = r.borrow_mut().as_mut() {
            for f in &planned {
                run.ready.remove(&f.filename);
                run.placed.push(f.filename.clone());
            }
        }
    });
    callbacks::checks_passed(ui, planned.len());
    true
}

/// The CacheDir libalpm downloads into: the first that is a directory it
/// may write (`_alpm_filecache_setup`). `None` when one before it is
/// missing: libalpm creates it (with a warning) at the commit.
fn cachedir_in_use(handle: &Alpm) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    for dir in handle.cachedirs() {
        let meta = std::fs::metadata(dir).ok()?;
        let writable = nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
            && meta.permissions().mode() & 0o222 != 0;
        if meta.is_dir() && writable {
            return Some(PathBuf::from(dir));
        }
    }
    None
}

/// Whether `dir`'s file system has `bytes` free for unprivileged users.
fn has_room(dir: &Path, bytes: u64) -> bool {
    nix::sys::statvfs::statvfs(dir)
        .is_ok_and(|s| s.blocks_available().saturating_mul(s.fragment_size()) > bytes)
}

/// What a commit that failed in pactor's fetch callback reports, as
/// pacman's own downloader would have: libalpm calls any failure there an
/// external downloader's, pacman's downloader sets "failed to retrieve some
/// files" for an HTTP error status and "download library error" for every
/// other failure (connection, TLS, a cut transfer). `None` outside `-x`
/// or when no download failed.
pub fn download_error() -> Option<alpm::Error> {
    RUN.with(|r| r.borrow().as_ref().and_then(|run| run.last_error))
}

/// libalpm's error for a download that failed with `reason` (from
/// [`fetch_url`]).
fn alpm_error_for(reason: &str) -> alpm::Error {
    if reason.starts_with(HTTP_ERROR_WORDS) {
        alpm::Error::Retrieve
    } else {
        alpm::Error::Libcurl
    }
}

/// After the commit (whatever its outcome): the packages pactor verified
/// and libalpm moved into a CacheDir are handed to pactor-seed, when it
/// runs, to be seeded at once (no-op without `-x`).
pub fn after_commit() {
    let Some((placed, cachedirs, socket)) = RUN.with(|r| {
        let mut b = r.borrow_mut();
        let run = b.as_mut()?;
        Some((
            std::mem::take(&mut run.placed),
            run.cachedirs.clone(),
            run.sandbox.daemon.clone(),
        ))
    }) else {
        return;
    };
    let Some(socket) = socket else { return };
    let files: Vec<PathBuf> = placed
        .iter()
        .filter_map(|f| cachedirs.iter().map(|d| d.join(f)).find(|p| p.is_file()))
        .collect();
    if !files.is_empty() {
        crate::sandbox::seed_files(&socket, &files);
    }
}

fn fetch_cb(url: &str, localpath: &Path, force: bool) -> FetchResult {
    // After Ctrl-C nothing more is fetched; libalpm's commit stops.
    if crate::signals::interrupted() {
        return FetchResult::Err;
    }
    let filename = url.rsplit('/').next().unwrap_or(url).to_owned();
    let dest = localpath.join(&filename);
    let planned = is_planned(&filename);
    if dest.exists() && !force && !planned && !filename.ends_with(".sig") {
        return FetchResult::FileExists;
    }
    if planned {
        let must_run = RUN.with(|r| r.borrow().as_ref().is_some_and(|run| !run.engine_ran));
        if must_run {
            run_plan(localpath);
        }
    }
    if crate::signals::interrupted() {
        return FetchResult::Err;
    }
    let ready = RUN.with(|r| {
        r.borrow_mut()
            .as_mut()
            .and_then(|run| run.ready.remove(&filename))
    });
    let verified = ready.is_some();
    let (path, checked) = match ready {
        // Placed as soon as it was verified.
        Some((p, _)) if p == dest => return placed(&filename, verified),
        Some(ready) => ready,
        // Not in the plan, or the engine could not deliver it verified:
        // fetch exactly what libalpm asks for, server by server in its
        // order, as pacman would. libalpm checks the file before use.
        None => match fetch_url(url, &filename) {
            Ok(p) => (p, None),
            Err(reason) => {
                let error = alpm_error_for(&reason);
                RUN.with(|r| {
                    if let Some(run) = r.borrow_mut().as_mut() {
                        run.last_error = Some(error);
                    }
                });
                if !is_cache_server(url) {
                    output::error(&format!(
                        "failed retrieving file '{filename}' from {} : {reason}",
                        host_of(url)
                    ));
                }
                return FetchResult::Err;
            }
        },
    };
    match place(&path, &dest, checked) {
        Ok(()) => placed(&filename, verified),
        Err(e) => {
            output::error(&format!(
                "could not move {} into {}: {}",
                path.display(),
                localpath.display(),
                output::strerror(&e)
            ));
            FetchResult::Err
        }
    }
}

/// Notes a verified package in the cache (for pactor-seed) and answers
/// libalpm.
fn placed(filename: &str, verified: bool) -> FetchResult {
    if verified && !filename.ends_with(".sig") {
        RUN.with(|r| {
            if let Some(run) = r.borrow_mut().as_mut() {
                run.placed.push(filename.to_owned());
            }
        });
    }
    FetchResult::Ok
}

/// The engine's reporter for a plan, moving each file into libalpm's
/// download directory `dir` the moment it is verified, instead of when
/// libalpm asks for it once the whole plan is done: the moves (an owner, a
/// mode and a rename each) then overlap the download, about 10 ms for 300
/// small packages, and a verified file leaves the download process's
/// directory at once. A file it could not move is left where it is, for
/// [`fetch_cb`] to move or report.
struct Placer {
    inner: Arc<EngineReporter>,
    dir: PathBuf,
    /// File name -> where it is now.
    placed: Mutex<HashMap<String, PathBuf>>,
}

impl pactor_fetch::Reporter for Placer {
    fn on_start(&self, items: usize, total_bytes: u64) {
        self.inner.on_start(items, total_bytes);
    }
    fn on_item_start(&self, item: ItemId, filename: &str, size: Option<u64>, resumed: u64) {
        self.inner.on_item_start(item, filename, size, resumed);
    }
    fn on_progress(&self, item: ItemId, bytes: u64, source: SourceKind) {
        self.inner.on_progress(item, bytes, source);
    }
    fn on_discard(&self, item: ItemId, bytes: u64) {
        self.inner.on_discard(item, bytes);
    }
    fn on_item_done(&self, item: ItemId, file: &FetchedFile) {
        let dest = self.dir.join(&file.filename);
        if place(&file.path, &dest, file.checked).is_ok() {
            let mut placed = pactor_fetch::lock(&self.placed);
            placed.insert(file.filename.clone(), dest);
        }
        self.inner.on_item_done(item, file);
    }
    fn on_item_failed(&self, item: ItemId, failure: &FileFailure) {
        self.inner.on_item_failed(item, failure);
    }
    fn on_mirror_benched(&self, mirror: &str, reason: &BenchReason) {
        self.inner.on_mirror_benched(mirror, reason);
    }
    fn on_warning(&self, message: &str) {
        self.inner.on_warning(message);
    }
    fn on_finish(&self, summary: &FetchSummary) {
        self.inner.on_finish(summary);
    }
}

/// libalpm's name for a server in error lines: the URL's authority
/// (`host:port`), or `disk` for `file://`.
fn host_of(url: &str) -> String {
    match url.split_once("://") {
        Some(("file", _)) => "disk".into(),
        Some((_, rest)) => rest.split('/').next().unwrap_or(rest).to_owned(),
        None => url.to_owned(),
    }
}

/// Whether `url` lies on a `CacheServer` (whose failures libalpm keeps quiet).
fn is_cache_server(url: &str) -> bool {
    RUN.with(|r| {
        r.borrow().as_ref().is_some_and(|run| {
            run.cache_servers
                .iter()
                .any(|c| url.starts_with(c.trim_end_matches('/')))
        })
    })
}

fn is_planned(filename: &str) -> bool {
    RUN.with(|r| {
        r.borrow().as_ref().is_some_and(|run| {
            run.planned.iter().any(|f| {
                f.filename == filename || (f.want_sig && format!("{}.sig", f.filename) == filename)
            })
        })
    })
}

/// Moves a verified file into libalpm's directory (copying across file
/// systems), never leaving a partial file there. `from` lies where the
/// unprivileged download process can write, and that process could have
/// put a link or a pipe there in place of the file: `from` is opened
/// without following a link and must be a regular file, it gets pactor's
/// owner and mode 0644 (like every file libalpm downloads) through that
/// descriptor, not through its name (root would otherwise change the owner
/// and mode of whatever a link names), and what arrives at `to` must be
/// that same file. A file pactor checked in place (`checked`) must be the
/// very file it checked: another put under its name since is refused.
fn place(from: &Path, to: &Path, checked: Option<Checked>) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (file, meta) = crate::sandbox::open_regular(from)?;
    if checked.is_some_and(|c| (c.dev, c.ino) != (meta.dev(), meta.ino())) {
        return Err(std::io::Error::other(
            "the file was replaced after it was checked",
        ));
    }
    let _ = crate::sandbox::make_own(&file);
    match std::fs::rename(from, to) {
        Ok(()) => {
            let arrived = std::fs::symlink_metadata(to)?;
            if (arrived.dev(), arrived.ino()) != (meta.dev(), meta.ino()) {
                let _ = std::fs::remove_file(to);
                return Err(std::io::Error::other(
                    "the file was replaced while it was moved",
                ));
            }
            Ok(())
        }
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let tmp = to.with_extension("pactor-tmp");
            let mut out = std::fs::File::create(&tmp)?;
            std::io::copy(&mut &file, &mut out)?;
            out.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            drop(out);
            std::fs::rename(&tmp, to)?;
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Splits mirrors into local `file://` directories (copied directly) and
/// network URLs (the engine).
fn split_mirrors(servers: &[String]) -> (Vec<PathBuf>, Vec<Url>) {
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for s in servers {
        match Url::parse(s) {
            Ok(u) if u.scheme() == "file" => {
                if let Ok(p) = u.to_file_path() {
                    local.push(p);
                }
            }
            Ok(u) if matches!(u.scheme(), "http" | "https") => remote.push(u),
            _ => {}
        }
    }
    (local, remote)
}

/// Copies a file from a local mirror into the download dir and checks it.
fn copy_local(
    dirs: &[PathBuf],
    filename: &str,
    size: Option<u64>,
    sha256: Option<[u8; 32]>,
    into: &Path,
) -> Option<PathBuf> {
    for dir in dirs {
        let src = dir.join(filename);
        let Ok(meta) = std::fs::metadata(&src) else {
            continue;
        };
        if size.is_some_and(|s| s != meta.len()) {
            continue;
        }
        let dest = into.join(filename);
        let part = into.join(format!("{filename}.part"));
        if std::fs::copy(&src, &part).is_err() {
            continue;
        }
        if let Some(want) = sha256 {
            match pactor_fetch::verify::sha256_file(&part) {
                Ok(got) if got == want => {}
                _ => {
                    let _ = std::fs::remove_file(&part);
                    continue;
                }
            }
        }
        if std::fs::rename(&part, &dest).is_ok() {
            return Some(dest);
        }
    }
    None
}

/// Where a package's torrent may be found, in DESIGN's order: a torrent
/// pactor stored earlier; each `TorrentServer` template (`$repo`, `$arch`,
/// file name appended, like a pacman Server); `<Server>/<file>.torrent` on the
/// repo's own mirrors. A hint only: the engine validates it against the db.
///
/// The mirrors are taken in turn from a different one for each package
/// (`turn`: the package's place among those looked up), so that the
/// lookups of a transaction spread over its mirrors instead of all asking
/// the first, and each mirror has connections open by the time the
/// webseeds start on it (the engine's lookups and webseeds share one HTTP
/// client). Any copy will do: the engine checks it against the sync db.
struct TorrentLookup {
    stored: PathBuf,
    templates: Vec<String>,
    arch: String,
}

impl TorrentLookup {
    fn source(
        &self,
        repo: &str,
        filename: &str,
        servers: &[String],
        turn: usize,
    ) -> pactor_fetch::TorrentSource {
        let stored = self.stored.join(format!("{filename}.torrent"));
        if stored.is_file() {
            return pactor_fetch::TorrentSource::File(stored);
        }
        let torrent = format!("{filename}.torrent");
        let url = |base: String| {
            Url::parse(&format!("{}/{torrent}", base.trim_end_matches('/')))
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
        };
        let mut mirrors: Vec<Url> = servers.iter().cloned().filter_map(url).collect();
        if !mirrors.is_empty() {
            let first = turn % mirrors.len();
            mirrors.rotate_left(first);
        }
        let urls = self
            .templates
            .iter()
            .map(|t| t.replace("$repo", repo).replace("$arch", &self.arch))
            .filter_map(url)
            .chain(mirrors)
            .collect();
        pactor_fetch::TorrentSource::Urls(urls)
    }
}

/// Downloads the whole plan in parallel (first planned call at commit),
/// each file moved into `dest_dir`, libalpm's download directory, as soon
/// as it is verified.
fn run_plan(dest_dir: &Path) {
    let Some((planned, download_dir, limits, bars, sandbox, lookup, swarm)) = RUN.with(|r| {
        let mut b = r.borrow_mut();
        let run = b.as_mut()?;
        run.engine_ran = true;
        Some((
            run.planned.clone(),
            run.download_dir.clone(),
            run.limits.clone(),
            run.bars,
            run.sandbox.clone(),
            TorrentLookup {
                stored: run.torrents_dir.clone(),
                templates: run.torrent_servers.clone(),
                arch: run.arch.clone(),
            },
            run.swarm.clone(),
        ))
    }) else {
        return;
    };
    if let Err(e) = std::fs::create_dir_all(&download_dir) {
        output::error(&format!(
            "could not create directory {}: {}",
            download_dir.display(),
            output::strerror(&e)
        ));
        return;
    }
    let mut ready = HashMap::new();
    let mut items = Vec::new();
    // The packages of a repository share its servers: parsed once.
    let mut by_servers: HashMap<&[String], (Vec<PathBuf>, Vec<Url>)> = HashMap::new();
    // Packages whose torrent is looked up so far ([`TorrentLookup::source`]).
    let mut turn = 0;
    for f in &planned {
        let sha = f.sha256.as_deref().and_then(parse_sha256);
        // libalpm tries CacheServers first; so does the engine.
        let (local, remote) = by_servers
            .entry(&f.servers)
            .or_insert_with(|| split_mirrors(&f.servers))
            .clone();
        let mut wanted = vec![(f.filename.clone(), Some(f.size), sha, ItemKind::Package)];
        if f.want_sig {
            wanted.push((
                format!("{}.sig", f.filename),
                None,
                None,
                ItemKind::Signature,
            ));
        }
        for (name, size, sha, kind) in wanted {
            if let Some(p) = copy_local(&local, &name, size, sha, &download_dir) {
                ready.insert(name, (p, None));
                continue;
            }
            if remote.is_empty() {
                continue;
            }
            // A package below TorrentMinSize never goes to the swarm: no
            // torrent to look for (a stat and a URL per server saved each).
            let for_swarm = kind == ItemKind::Package && size.is_some_and(|s| s >= swarm.min_size);
            let torrent = for_swarm.then(|| {
                turn += 1;
                lookup.source(&f.repo, &name, &f.servers, turn - 1)
            });
            items.push(FetchItem {
                filename: name,
                size,
                sha256: sha,
                mirrors: remote.clone(),
                torrent,
                kind,
            });
        }
    }
    let mut failed = HashMap::new();
    let mut all_frozen = true;
    if !items.is_empty() {
        let asked: Vec<String> = items.iter().map(|i| i.filename.clone()).collect();
        // Only these can come with a .torrent (the others skip the swarm).
        let with_torrent: std::collections::HashSet<String> = items
            .iter()
            .filter(|i| i.torrent.is_some())
            .map(|i| i.filename.clone())
            .collect();
        let mut engine_error = false;
        let plan = FetchPlan {
            items,
            download_dir: download_dir.clone(),
            limits,
            options: Default::default(),
        };
        let reporter = Arc::new(EngineReporter::new(bars));
        let placer = Arc::new(Placer {
            inner: reporter.clone(),
            dir: dest_dir.to_owned(),
            placed: Mutex::default(),
        });
        let result = crate::sandbox::fetch_with_swarm(plan, placer.clone(), &sandbox, swarm);
        let outcome = match result {
            Ok(o) => o,
            Err(pactor_fetch::FetchError::Failed { failures, partial }) => {
                for f in failures {
                    failed.insert(f.filename.clone(), f.to_string());
                }
                *partial
            }
            Err(e) => {
                output::error(&e.to_string());
                engine_error = true;
                Default::default()
            }
        };
        let mut placed = std::mem::take(&mut *pactor_fetch::lock(&placer.placed));
        for f in &outcome.files {
            let at = placed.remove(&f.filename).unwrap_or_else(|| f.path.clone());
            ready.insert(f.filename.clone(), (at, f.checked));
            all_frozen &= f.checked.is_none_or(|c| c.frozen);
            // Keep the torrent the engine accepted for a delivered package,
            // for the next run and pactor-seed (a hint: validated on use).
            if !with_torrent.contains(&f.filename) {
                continue;
            }
            let got = download_dir.join(format!("{}.torrent", f.filename));
            let small = std::fs::symlink_metadata(&got).is_ok_and(|m| {
                m.file_type().is_file()
                    && m.len() <= pactor_fetch::torrent::MAX_TORRENT_BYTES as u64
            });
            if f.kind == ItemKind::Package && small {
                // Written by the download process or pactor-seed: from now
                // on pactor's own, like the cache (readable by all, so that
                // pactor-seed can seed the package), moved as a package is.
                let stored = lookup.stored.join(format!("{}.torrent", f.filename));
                if std::fs::create_dir_all(&lookup.stored).is_err()
                    || place(&got, &stored, None).is_err()
                {
                    let _ = std::fs::remove_file(&got);
                }
            }
        }
        reporter.summary(&outcome.summary);
        // What libalpm now fetches itself, server by server, it does without
        // a word until that fails too: say why it has to.
        if !engine_error && !crate::signals::interrupted() {
            for name in asked.iter().filter(|n| !ready.contains_key(*n)) {
                match failed.get(name) {
                    Some(reason) => {
                        output::debug(&format!("{reason}; trying one server at a time"))
                    }
                    None => output::warning(&format!(
                        "the parallel download ended without {name}; trying one server at a time"
                    )),
                }
            }
        }
    }
    RUN.with(|r| {
        if let Some(run) = r.borrow_mut().as_mut() {
            run.ready.extend(ready);
            run.failed.extend(failed);
            run.all_frozen &= all_frozen;
        }
    });
}

/// Fetches exactly `url` into pactor's download directory, unverified:
/// used for files outside the plan and for planned files the engine could not
/// deliver verified, where pactor steps back to what pacman does (libalpm
/// checks size, checksum and signature before anything is installed).
fn fetch_url(url: &str, filename: &str) -> Result<PathBuf, String> {
    let (download_dir, limits, sandbox) = RUN.with(|r| {
        let b = r.borrow();
        match b.as_ref() {
            Some(run) => (
                run.download_dir.join("single"),
                run.limits.clone(),
                run.sandbox.clone(),
            ),
            None => (
                std::env::temp_dir(),
                Limits::default(),
                crate::sandbox::SandboxOptions {
                    user: None,
                    daemon: None,
                },
            ),
        }
    });
    std::fs::create_dir_all(&download_dir).map_err(|e| output::strerror(&e))?;
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    let (local, remote) = split_mirrors(&[base.to_owned()]);
    if !local.is_empty() {
        return copy_local(&local, filename, None, None, &download_dir)
            .ok_or_else(|| "file not found".into());
    }
    if remote.is_empty() {
        return Err(format!("unsupported URL {url}"));
    }
    let plan = FetchPlan {
        items: vec![FetchItem {
            filename: filename.to_owned(),
            size: None,
            sha256: None,
            mirrors: remote,
            torrent: None,
            kind: if filename.ends_with(".sig") {
                ItemKind::Signature
            } else {
                ItemKind::Package
            },
        }],
        download_dir,
        limits,
        options: pactor_fetch::FetchOptions {
            max_unknown_size: 4 * 1024 * 1024 * 1024,
            ..Default::default()
        },
    };
    match crate::sandbox::fetch(plan, Arc::new(pactor_fetch::NoopReporter), &sandbox) {
        Ok(mut o) if !o.files.is_empty() => Ok(o.files.remove(0).path),
        Ok(_) => Err("nothing delivered".into()),
        Err(pactor_fetch::FetchError::Failed { failures, .. }) => Err(failures
            .first()
            .and_then(|f| f.attempts.last())
            .map(|a| curl_words(&a.outcome))
            .unwrap_or_else(|| "download failed".into())),
        Err(e) => Err(e.to_string()),
    }
}

/// How curl, and so pacman, words an HTTP error status.
const HTTP_ERROR_WORDS: &str = "The requested URL returned error: ";

/// The engine's outcome in libalpm's words where libalpm has them.
fn curl_words(outcome: &str) -> String {
    let code = outcome
        .strip_prefix("HTTP ")
        .unwrap_or(outcome)
        .split_whitespace()
        .next()
        .and_then(|c| c.parse::<u16>().ok());
    match code {
        Some(c) if c >= 400 => format!("{HTTP_ERROR_WORDS}{c}"),
        _ => outcome.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given a link or a pipe where the download process left a verified
    /// file, `place` refuses it, leaves the link's target as it was and puts
    /// nothing in libalpm's directory; a regular file arrives with mode 0644.
    #[test]
    fn place_takes_only_a_regular_file_and_never_follows_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"not for everyone").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("a-1-1-x86_64.pkg.tar.zst");
        std::os::unix::fs::symlink(&secret, &link).unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let dest = cache.join("a-1-1-x86_64.pkg.tar.zst");
        assert!(place(&link, &dest, None).is_err());
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the link's target was changed");
        assert!(std::fs::symlink_metadata(&dest).is_err());

        let fifo = dir.path().join("b-1-1-x86_64.pkg.tar.zst");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(place(&fifo, &cache.join("b-1-1-x86_64.pkg.tar.zst"), None).is_err());

        let file = dir.path().join("c-1-1-x86_64.pkg.tar.zst");
        std::fs::write(&file, b"package").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let dest = cache.join("c-1-1-x86_64.pkg.tar.zst");
        place(&file, &dest, None).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"package");
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        assert!(!file.exists());
    }

    /// The download process could put another file under a checked file's
    /// name before it is moved. Given a file pactor checked, when another
    /// file takes its name, then `place` refuses it and puts nothing in
    /// libalpm's directory; the checked file itself is placed.
    #[test]
    fn place_takes_only_the_file_that_was_checked() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        std::fs::create_dir(&cache).unwrap();
        let name = "a-1-1-x86_64.pkg.tar.zst";
        let (from, dest) = (dir.path().join(name), cache.join(name));
        std::fs::write(&from, b"checked").unwrap();
        let meta = std::fs::metadata(&from).unwrap();
        let checked = Checked {
            dev: meta.dev(),
            ino: meta.ino(),
            frozen: true,
        };
        let kept = dir.path().join("kept");
        std::fs::rename(&from, &kept).unwrap();
        std::fs::write(&from, b"planted").unwrap();
        assert!(place(&from, &dest, Some(checked)).is_err());
        assert!(std::fs::symlink_metadata(&dest).is_err());
        std::fs::rename(&kept, &from).unwrap();
        place(&from, &dest, Some(checked)).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"checked");
    }

    #[test]
    fn sha256_hex() {
        let hex = "00".repeat(31) + "ff";
        let mut want = [0u8; 32];
        want[31] = 255;
        assert_eq!(parse_sha256(&hex), Some(want));
        assert_eq!(parse_sha256("zz"), None);
    }

    #[test]
    fn torrent_lookup_order() {
        let dir = tempfile::tempdir().unwrap();
        let lookup = TorrentLookup {
            stored: dir.path().to_owned(),
            templates: vec!["http://t.example/$repo/$arch/".into()],
            arch: "x86_64".into(),
        };
        let servers = vec![
            "http://m1/core/os/x86_64".to_owned(),
            "file:///srv/core".to_owned(),
        ];
        match lookup.source("core", "a-1-1-x86_64.pkg.tar.zst", &servers, 0) {
            pactor_fetch::TorrentSource::Urls(u) => assert_eq!(
                u.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                [
                    "http://t.example/core/x86_64/a-1-1-x86_64.pkg.tar.zst.torrent",
                    "http://m1/core/os/x86_64/a-1-1-x86_64.pkg.tar.zst.torrent"
                ]
            ),
            other => panic!("{other:?}"),
        }
        // The next package starts at the next mirror (file:// ones are
        // never asked); the templates stay first.
        let servers = [
            "http://m1/core/os/x86_64".to_owned(),
            "file:///srv/core".to_owned(),
            "https://m2/core/os/x86_64".to_owned(),
        ];
        for (turn, first) in [(1, "https://m2"), (2, "http://m1"), (7, "https://m2")] {
            match lookup.source("core", "b-1-1-any.pkg.tar.zst", &servers, turn) {
                pactor_fetch::TorrentSource::Urls(u) => {
                    let hosts: Vec<String> = u
                        .iter()
                        .map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap()))
                        .collect();
                    let other = if first == "http://m1" {
                        "https://m2"
                    } else {
                        "http://m1"
                    };
                    assert_eq!(hosts, ["http://t.example", first, other], "turn {turn}");
                }
                other => panic!("{other:?}"),
            }
        }
        std::fs::write(
            dir.path().join("a-1-1-x86_64.pkg.tar.zst.torrent"),
            b"d4:infode",
        )
        .unwrap();
        assert!(matches!(
            lookup.source("core", "a-1-1-x86_64.pkg.tar.zst", &servers, 0),
            pactor_fetch::TorrentSource::File(_)
        ));
    }

    #[test]
    fn mirrors_split_by_scheme() {
        let (l, r) = split_mirrors(&[
            "file:///srv/repo".into(),
            "http://127.0.0.1:1/x".into(),
            "ftp://x".into(),
        ]);
        assert_eq!(l, vec![PathBuf::from("/srv/repo")]);
        assert_eq!(r.len(), 1);
    }
}
