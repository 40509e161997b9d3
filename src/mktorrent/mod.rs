//! `pactor-mktorrent`, the mirror side: one deterministic `.torrent` per
//! package of a mirror tree, with the mirrors as BEP 19 webseeds.
//!
//! A run walks the tree ([`walk`]), decides per package whether the state
//! file vouches for its existing torrent ([`state`]) or it must be hashed
//! ([`hash`], all cores), writes each torrent whose bytes would change
//! (temporary file, then rename), deletes torrents whose package is gone, and
//! saves the state. The torrents themselves come from
//! `pactor_fetch::torrent`, the same code that validates them on clients.

pub mod cli;
pub mod config;
pub mod hash;
pub mod state;
pub mod urls;
pub mod walk;

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nix::fcntl::{Flock, FlockArg};
use pactor_fetch::torrent::{self, Metainfo};

use walk::{Package, Problem, TORRENT_SUFFIX};

/// Name of the lock file in the output root.
pub const LOCK_FILE: &str = ".pactor-mktorrent.lock";

/// What to do; filled from the command line and config file by
/// [`cli::parse`], or directly by tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Root of the mirror tree.
    pub tree: PathBuf,
    /// Output root; `None` writes each torrent beside its package.
    pub out: Option<PathBuf>,
    /// Webseed templates (`$repo`, `$arch`).
    pub webseeds: Vec<String>,
    /// Tracker announce URLs.
    pub trackers: Vec<String>,
    /// DHT bootstrap nodes as `HOST:PORT`.
    pub dht_nodes: Vec<String>,
    /// Delete torrents whose package is gone.
    pub prune: bool,
    /// Report only; hash and write nothing.
    pub dry_run: bool,
    /// Ignore the state file and hash everything.
    pub rehash: bool,
    /// Hashing threads, 0 for one per core.
    pub jobs: usize,
    /// Name every change.
    pub verbose: bool,
    /// Only warnings and errors.
    pub quiet: bool,
    /// Progress bar (if stdout is a terminal).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tree: PathBuf::new(),
            out: None,
            webseeds: Vec::new(),
            trackers: Vec::new(),
            dht_nodes: Vec::new(),
            prune: true,
            dry_run: false,
            rehash: false,
            jobs: 0,
            verbose: false,
            quiet: false,
            progress: true,
        }
    }
}

/// Errors that stop a run before it touches anything.
#[derive(Debug, thiserror::Error)]
pub enum MkError {
    /// The tree cannot be read.
    #[error("could not open directory '{}': {reason}", path.display())]
    Tree {
        /// The tree root.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The output root cannot be written.
    #[error("output directory '{}' is not writable: {reason}", path.display())]
    Output {
        /// The output root.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another run holds the lock.
    #[error("unable to lock '{}': another pactor-mktorrent is writing there", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A bad webseed, tracker or DHT node.
    #[error("invalid {what} '{url}': {reason}")]
    Url {
        /// "webseed", "tracker" or "DHT node".
        what: &'static str,
        /// As given.
        url: String,
        /// Why.
        reason: String,
    },
    /// A bad config file.
    #[error("config file {}: {reason}", config_location(path, *line))]
    Config {
        /// The file.
        path: PathBuf,
        /// 1-based line, 0 for the whole file.
        line: usize,
        /// Why.
        reason: String,
    },
}

fn config_location(path: &Path, line: usize) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}, line {line}", path.display())
    }
}

/// What a run did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Packages found.
    pub packages: usize,
    /// Torrents written where none was.
    pub created: Vec<PathBuf>,
    /// Torrents rewritten with new bytes.
    pub updated: Vec<PathBuf>,
    /// Torrents left as they were.
    pub unchanged: usize,
    /// Torrents deleted.
    pub removed: Vec<PathBuf>,
    /// Bytes of packages hashed.
    pub hashed_bytes: u64,
    /// Warnings printed.
    pub warnings: usize,
    /// Errors printed (the exit code is 1 if any).
    pub errors: usize,
}

/// Where messages go: `error:`/`warning:` to stderr, the rest to stdout, as
/// pacman does. A closed stdout (`| head`) silences output, not the run.
struct Ui {
    quiet: bool,
    verbose: bool,
    dry_run: bool,
}

impl Ui {
    fn say(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
    }

    fn change(&self, what: &str, path: &Path) {
        if self.verbose || self.dry_run {
            let verb = if self.dry_run {
                format!("would {what}")
            } else {
                format!("{what}d")
            };
            self.say(&format!("{verb} {}", path.display()));
        }
    }
}

fn warn(summary: &mut Summary, msg: &str) {
    summary.warnings += 1;
    let _ = writeln!(std::io::stderr().lock(), "warning: {msg}");
}

fn error(summary: &mut Summary, msg: &str) {
    summary.errors += 1;
    let _ = writeln!(std::io::stderr().lock(), "error: {msg}");
}

/// The whole program: parses `args` (program name first), runs, prints, and
/// returns the exit code.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let opts = match cli::parse(args) {
        Ok(o) => o,
        Err(Ok(code)) => return code,
        Err(Err(e)) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}");
            return 1;
        }
    };
    match run(&opts) {
        Ok(s) if s.errors == 0 => 0,
        Ok(_) => 1,
        Err(e) => {
            let _ = writeln!(std::io::stderr().lock(), "error: {e}");
            1
        }
    }
}

/// Checked URLs and nodes that go into every torrent.
struct Extras {
    webseeds: Vec<urls::Webseed>,
    trackers: Vec<String>,
    nodes: Vec<(String, u16)>,
}

impl Extras {
    fn from(opts: &Options) -> Result<Extras, MkError> {
        Ok(Extras {
            webseeds: opts
                .webseeds
                .iter()
                .map(|w| urls::Webseed::parse(w))
                .collect::<Result<_, _>>()?,
            trackers: opts
                .trackers
                .iter()
                .map(|t| urls::check_tracker(t))
                .collect::<Result<_, _>>()?,
            nodes: opts
                .dht_nodes
                .iter()
                .map(|n| urls::parse_dht_node(n))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Fills everything outside the info dictionary for a package.
    fn apply(&self, meta: &mut Metainfo, tree: &Path, pkg: &Package) -> Vec<String> {
        let dir = pkg.rel.parent().unwrap_or(Path::new(""));
        let mut skipped = Vec::new();
        meta.url_list = Vec::new();
        for w in &self.webseeds {
            match w.url_for(tree, dir) {
                Some(u) if !meta.url_list.contains(&u) => meta.url_list.push(u),
                Some(_) => {}
                None => skipped.push(w.template().to_owned()),
            }
        }
        meta.announce = self.trackers.first().cloned();
        // BEP 12: one tracker per tier, tried in order, as mktorrent's
        // repeated -a does. A single tracker needs no list.
        meta.announce_list = if self.trackers.len() > 1 {
            self.trackers.iter().map(|t| vec![t.clone()]).collect()
        } else {
            Vec::new()
        };
        meta.nodes = self.nodes.clone();
        skipped
    }
}

/// Checks that the tree root is a readable directory.
fn check_tree(tree: &Path) -> Result<(), MkError> {
    let err = |reason: String| MkError::Tree {
        path: tree.to_owned(),
        reason,
    };
    let md = std::fs::metadata(tree).map_err(|e| err(io_reason(&e)))?;
    if !md.is_dir() {
        return Err(err("Not a directory".into()));
    }
    std::fs::read_dir(tree).map_err(|e| err(io_reason(&e)))?;
    Ok(())
}

/// An io::Error's text without Rust's " (os error N)" tail, as C tools print it.
fn io_reason(e: &std::io::Error) -> String {
    crate::ui::output::strerror(e)
}

/// A hashing error as one line, without Rust's "(os error N)".
fn hash_error(e: &torrent::TorrentError) -> String {
    match e {
        torrent::TorrentError::Io { path, source } => {
            format!("{}: {}", path.display(), io_reason(source))
        }
        other => other.to_string(),
    }
}

/// Makes the output root and takes its lock (held until dropped).
fn lock_output(out: &Path) -> Result<Flock<File>, MkError> {
    let err = |e: std::io::Error| MkError::Output {
        path: out.to_owned(),
        reason: io_reason(&e),
    };
    std::fs::create_dir_all(out).map_err(err)?;
    let path = out.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(err)?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| MkError::Locked { path })
}

/// Writes `bytes` to the temporary name beside `path` (not yet synced or
/// renamed) and returns that name.
fn stage(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(walk::temp_name(&name));
    let written = File::create(&tmp).and_then(|mut f| f.write_all(bytes));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Writes `bytes` to `path` through a temporary file in the same directory,
/// synced, and a rename, so readers (and a crash) see the old file or the
/// new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = stage(path, bytes)?;
    let result = File::open(&tmp)
        .and_then(|f| f.sync_data())
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn torrent_rel(pkg_rel: &Path) -> PathBuf {
    let mut s = pkg_rel.as_os_str().to_owned();
    s.push(TORRENT_SUFFIX);
    PathBuf::from(s)
}

fn progress_bar(opts: &Options, total: u64) -> ProgressBar {
    if !opts.progress || opts.quiet || !std::io::stdout().is_terminal() || total == 0 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
    if let Ok(style) = ProgressStyle::with_template(
        "hashing {wide_bar} {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {eta:>4}",
    ) {
        bar.set_style(style.progress_chars("#-"));
    }
    bar
}

/// One run over the tree. `Err` is a problem found before any change; errors
/// about single packages are printed, counted in [`Summary::errors`], and do
/// not stop the others.
pub fn run(opts: &Options) -> Result<Summary, MkError> {
    let extras = Extras::from(opts)?;
    check_tree(&opts.tree)?;
    let tree = opts.tree.as_path();
    let out_root = opts.out.clone().unwrap_or_else(|| tree.to_owned());
    let _lock = if opts.dry_run {
        None
    } else {
        Some(lock_output(&out_root)?)
    };
    let ui = Ui {
        quiet: opts.quiet,
        verbose: opts.verbose,
        dry_run: opts.dry_run,
    };
    let mut summary = Summary::default();

    let state_path = out_root.join(state::STATE_FILE);
    let old_state = match state::load(&state_path) {
        Ok(s) => s,
        Err(reason) => {
            warn(&mut summary, &format!("{reason}; hashing every package"));
            state::State::new()
        }
    };

    let found = walk::walk(tree, true);
    for p in &found.problems {
        match p {
            Problem::Dangling(path) => warn(
                &mut summary,
                &format!("skipping dangling symlink '{}'", path.display()),
            ),
            Problem::Loop(path) => warn(
                &mut summary,
                &format!("skipping symlink loop at '{}'", path.display()),
            ),
            Problem::BadName(path) => warn(
                &mut summary,
                &format!("skipping '{}': file name is not UTF-8", path.display()),
            ),
            Problem::Unreadable(path, reason) => error(
                &mut summary,
                &format!("could not read '{}': {reason}", path.display()),
            ),
        }
    }
    summary.packages = found.packages.len();

    // Which packages the state file vouches for: same size and time as when
    // hashed, and the torrent on disk is still the one made then.
    let mut metas: Vec<Option<Metainfo>> = Vec::with_capacity(found.packages.len());
    for pkg in &found.packages {
        let target = out_root.join(torrent_rel(&pkg.rel));
        let reuse = (!opts.rehash)
            .then(|| old_state.get(&pkg.rel))
            .flatten()
            .filter(|e| e.size == pkg.size && e.mtime_ns == pkg.mtime_ns)
            .and_then(|e| {
                let m = Metainfo::from_file(&target).ok()?;
                let ok = m.info_hash() == e.info_hash
                    && torrent::validate_for_package(&m, &pkg.name, pkg.size).is_ok();
                ok.then_some(m)
            });
        metas.push(reuse);
    }

    let to_hash: Vec<usize> = (0..found.packages.len())
        .filter(|&i| metas[i].is_none())
        .collect();
    if !opts.dry_run && !to_hash.is_empty() {
        let pkgs: Vec<&Package> = to_hash.iter().map(|&i| &found.packages[i]).collect();
        let total: u64 = pkgs.iter().map(|p| p.size).sum();
        let bar = progress_bar(opts, total);
        let infos = hash::hash_packages(&pkgs, opts.jobs, &bar);
        bar.finish_and_clear();
        for (&i, info) in to_hash.iter().zip(infos) {
            match info {
                Ok(info) => {
                    summary.hashed_bytes += info.total_length();
                    metas[i] = Some(Metainfo::new(info));
                }
                Err(e) => error(&mut summary, &format!("failed to hash {}", hash_error(&e))),
            }
        }
    }

    let mut new_state = state::State::new();
    let mut skipped_webseeds: HashSet<String> = HashSet::new();
    let mut pending = Vec::new();
    for (pkg, meta) in found.packages.iter().zip(metas) {
        let target = out_root.join(torrent_rel(&pkg.rel));
        let exists = target.exists();
        let Some(mut meta) = meta else {
            if opts.dry_run {
                // Not hashed in a dry run: it would be (re)made.
                let what = if exists { "update" } else { "create" };
                ui.change(what, &target);
                if exists {
                    summary.updated.push(target);
                } else {
                    summary.created.push(target);
                }
            }
            continue;
        };
        skipped_webseeds.extend(extras.apply(&mut meta, tree, pkg));
        let bytes = meta.to_bytes();
        let entry = state::Entry {
            size: pkg.size,
            mtime_ns: pkg.mtime_ns,
            info_hash: meta.info_hash(),
        };
        if std::fs::read(&target).is_ok_and(|old| old == bytes) {
            summary.unchanged += 1;
            new_state.insert(pkg.rel.clone(), entry);
            continue;
        }
        let what = if exists { "update" } else { "create" };
        if opts.dry_run {
            ui.change(what, &target);
            if exists {
                summary.updated.push(target);
            } else {
                summary.created.push(target);
            }
            continue;
        }
        let staged = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| stage(&target, &bytes));
        match staged {
            Ok(tmp) => pending.push((target, tmp, exists, pkg.rel.clone(), entry)),
            Err(e) => error(
                &mut summary,
                &format!("failed to write '{}': {}", target.display(), io_reason(&e)),
            ),
        }
    }

    // One filesystem sync for all new torrents, then the renames: a crash
    // leaves each torrent old or new, never empty, without paying a
    // journal commit per file (fsync per file was most of the wall time
    // on a busy disk).
    if !pending.is_empty() {
        if let Err(e) = File::open(&out_root).and_then(|d| Ok(nix::unistd::syncfs(&d)?)) {
            warn(
                &mut summary,
                &format!("could not sync '{}': {}", out_root.display(), io_reason(&e)),
            );
        }
    }
    for (target, tmp, existed, rel, entry) in pending {
        if let Err(e) = std::fs::rename(&tmp, &target) {
            let _ = std::fs::remove_file(&tmp);
            error(
                &mut summary,
                &format!("failed to write '{}': {}", target.display(), io_reason(&e)),
            );
            continue;
        }
        new_state.insert(rel, entry);
        ui.change(if existed { "update" } else { "create" }, &target);
        if existed {
            summary.updated.push(target);
        } else {
            summary.created.push(target);
        }
    }
    let mut skipped: Vec<_> = skipped_webseeds.into_iter().collect();
    skipped.sort();
    for t in skipped {
        warn(
            &mut summary,
            &format!("webseed '{t}' left out for packages outside a $repo/os/$arch directory"),
        );
    }

    if opts.prune {
        prune(opts, &out_root, &found, &ui, &mut summary);
    }

    if !opts.dry_run {
        let text = state::render(&new_state);
        let same = std::fs::read_to_string(&state_path).is_ok_and(|old| old == text);
        if !same {
            if let Err(e) = write_atomic(&state_path, text.as_bytes()) {
                error(
                    &mut summary,
                    &format!(
                        "failed to write '{}': {}",
                        state_path.display(),
                        io_reason(&e)
                    ),
                );
            }
        }
    }

    let (c, u, r) = (
        summary.created.len(),
        summary.updated.len(),
        summary.removed.len(),
    );
    let s = |n: usize| if n == 1 { "" } else { "s" };
    if opts.dry_run {
        ui.say(&format!(
            ":: dry run: {} package{}: {c} torrent{} would be created, {u} updated, {} unchanged, {r} removed",
            summary.packages,
            s(summary.packages),
            s(c),
            summary.unchanged
        ));
    } else {
        ui.say(&format!(
            ":: {} package{}: {c} torrent{} created, {u} updated, {} unchanged, {r} removed",
            summary.packages,
            s(summary.packages),
            s(c),
            summary.unchanged
        ));
    }
    Ok(summary)
}

/// Deletes torrents whose package is gone. A torrent goes only when nothing
/// at all is left at its package's path: a dangling link or an unreadable
/// directory keeps it, so a half-synced or half-broken tree never loses its
/// torrents.
fn prune(opts: &Options, out_root: &Path, found: &walk::Found, ui: &Ui, summary: &mut Summary) {
    let out_found;
    let (torrents, temps) = if opts.out.is_some() {
        out_found = if out_root.is_dir() {
            walk::walk(out_root, false)
        } else {
            walk::Found::default()
        };
        (&out_found.torrents, &out_found.temps)
    } else {
        (&found.torrents, &found.temps)
    };
    let have: HashSet<&Path> = found.packages.iter().map(|p| p.rel.as_path()).collect();
    for t in torrents {
        let Some(pkg_rel) = t
            .to_str()
            .and_then(|s| s.strip_suffix(TORRENT_SUFFIX))
            .map(PathBuf::from)
        else {
            continue;
        };
        if have.contains(pkg_rel.as_path()) {
            continue;
        }
        let gone = std::fs::symlink_metadata(opts.tree.join(&pkg_rel))
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
        if !gone {
            continue;
        }
        let path = out_root.join(t);
        if !opts.dry_run {
            if let Err(e) = std::fs::remove_file(&path) {
                error(
                    summary,
                    &format!("failed to remove '{}': {}", path.display(), io_reason(&e)),
                );
                continue;
            }
            if opts.out.is_some() {
                remove_empty_parents(&path, out_root);
            }
        }
        ui.change("remove", &path);
        summary.removed.push(path);
    }
    // Leftovers of a run that died mid-write; we hold the lock, so nobody
    // else is writing them.
    if !opts.dry_run {
        for t in temps {
            let _ = std::fs::remove_file(out_root.join(t));
        }
    }
}

/// In the output tree (ours alone), removes directories emptied by pruning.
fn remove_empty_parents(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}
