//! The libalpm side of an operation: a handle set up exactly as pacman sets
//! it up (`src/pacman/conf.c`, `setup_libalpm`), target resolution into a
//! transaction (`src/pacman/sync.c`), and the owned [`FetchPlan`] that the
//! download engine takes from a prepared transaction.

use std::ffi::CString;

use alpm::{Alpm, SigLevel, TransFlag};

use crate::cli::Args;
use crate::config::Config;
use crate::ui::output;

/// Setting up libalpm failed; the message is pacman's.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// `alpm_initialize` failed.
    #[error("failed to initialize alpm library:\n(root: {root}, dbpath: {dbpath})\n{err}{hint}")]
    Init {
        /// Root.
        root: String,
        /// DB path.
        dbpath: String,
        /// libalpm's error.
        err: alpm::Error,
        /// `try running pacman-db-upgrade` for old databases.
        hint: &'static str,
    },
    /// An option libalpm refused.
    #[error("problem setting {what} '{value}' ({err})")]
    Option {
        /// Which option.
        what: &'static str,
        /// Its value.
        value: String,
        /// libalpm's error.
        err: alpm::Error,
    },
    /// DownloadUser names no user.
    #[error("problem setting DownloadUser '{0}' (user does not exist)")]
    SandboxUser(String),
    /// A `--assume-installed` entry that is not a dependency string.
    #[error("Failed to pass assume-installed entry to libalpm")]
    AssumeInstalled,
}

/// Creates and configures the libalpm handle.
pub fn open_handle(cfg: &Config, args: &Args) -> Result<Alpm, SetupError> {
    let mut handle =
        Alpm::new(cfg.root.as_str(), cfg.dbpath.as_str()).map_err(|err| SetupError::Init {
            root: cfg.root.clone(),
            dbpath: cfg.dbpath.clone(),
            err,
            hint: if err == alpm::Error::DbVersion {
                "\ntry running pacman-db-upgrade"
            } else {
                ""
            },
        })?;
    let opt = |what: &'static str, value: &str| {
        let value = value.to_owned();
        move |err| SetupError::Option { what, value, err }
    };
    if args.op == Some(crate::cli::Op::Files) {
        handle.set_dbext(".files");
    }
    handle
        .set_logfile(cfg.logfile.as_str())
        .map_err(opt("logfile", &cfg.logfile))?;
    handle
        .set_gpgdir(cfg.gpgdir.as_str())
        .map_err(opt("gpgdir", &cfg.gpgdir))?;
    for dir in &cfg.hookdirs {
        handle
            .add_hookdir(dir.as_str())
            .map_err(opt("hookdir", dir))?;
    }
    handle
        .set_cachedirs(
            cfg.cachedirs
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("cachedir", &cfg.cachedirs.join(" ")))?;
    for f in args.list("overwrite") {
        handle
            .add_overwrite_file(f.as_str())
            .map_err(opt("overwrite", &f))?;
    }
    handle
        .set_default_siglevel(cfg.sig_level)
        .map_err(opt("SigLevel", "default"))?;
    handle
        .set_local_file_siglevel(cfg.local_file_sig_level)
        .map_err(opt("LocalFileSigLevel", ""))?;
    handle
        .set_remote_file_siglevel(cfg.remote_file_sig_level)
        .map_err(opt("RemoteFileSigLevel", ""))?;

    for repo in &cfg.repos {
        let level = if repo.sig_level == SigLevel::USE_DEFAULT {
            cfg.sig_level
        } else {
            repo.sig_level
        };
        let db = match handle.register_syncdb_mut(repo.name.as_str(), level) {
            Ok(db) => db,
            Err(err) => {
                output::error(&format!(
                    "could not register '{}' database ({err})",
                    repo.name
                ));
                continue;
            }
        };
        let _ = db.set_usage(repo.usage);
        for server in &repo.cache_servers {
            add_cache_server(db.as_ptr(), server);
        }
        for server in &repo.servers {
            if let Err(err) = db.add_server(server.as_str()) {
                output::error(&format!(
                    "could not add server URL to database '{}': {server} ({err})",
                    repo.name
                ));
            }
        }
    }

    handle
        .set_architectures(
            cfg.architectures
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("Architecture", &cfg.architectures.join(" ")))?;
    handle.set_check_space(cfg.pacman.check_space);
    handle.set_use_syslog(cfg.pacman.use_syslog);
    if !cfg.pacman.disable_sandbox && !args.has("disable-sandbox") {
        if let Some(user) = &cfg.pacman.download_user {
            handle
                .set_sandbox_user(Some(user.as_str()))
                .map_err(|_| SetupError::SandboxUser(user.clone()))?;
        }
    }
    let no_fs_sandbox = cfg.pacman.disable_sandbox
        || cfg.pacman.disable_sandbox_filesystem
        || args.has("disable-sandbox");
    let no_sys_sandbox = cfg.pacman.disable_sandbox
        || cfg.pacman.disable_sandbox_syscalls
        || args.has("disable-sandbox");
    handle.set_disable_sandbox_filesystem(no_fs_sandbox);
    handle.set_disable_sandbox_syscalls(no_sys_sandbox);
    handle
        .set_ignorepkgs(
            cfg.ignore_pkg
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("IgnorePkg", ""))?;
    handle
        .set_ignoregroups(
            cfg.ignore_group
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("IgnoreGroup", ""))?;
    handle
        .set_noupgrades(
            cfg.pacman
                .no_upgrade
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("NoUpgrade", ""))?;
    handle
        .set_noextracts(
            cfg.pacman
                .no_extract
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map_err(opt("NoExtract", ""))?;
    handle.set_disable_dl_timeout(
        cfg.pacman.disable_download_timeout || args.has("disable-download-timeout"),
    );
    handle.set_parallel_downloads(cfg.pacman.parallel_downloads.max(1) as u32);
    for entry in args.list("assume-installed") {
        let dep = alpm::Depend::new(entry.as_str());
        output::debug(&format!(
            "parsed assume installed: {} {}",
            dep.name(),
            dep.version().map(|v| v.to_string()).unwrap_or_default()
        ));
        handle
            .add_assume_installed(&dep)
            .map_err(|_| SetupError::AssumeInstalled)?;
    }
    Ok(handle)
}

/// A sync db's `CacheServer`s (alpm.rs has no binding).
trait CacheServers {
    fn cache_servers(&self) -> Vec<String>;
}

impl CacheServers for alpm::Db {
    fn cache_servers(&self) -> Vec<String> {
        let mut out = Vec::new();
        // SAFETY: a registered db; the list and strings belong to libalpm.
        unsafe {
            let mut node = alpm_sys::alpm_db_get_cache_servers(self.as_ptr());
            while !node.is_null() {
                let s = std::ffi::CStr::from_ptr((*node).data as *const std::ffi::c_char);
                out.push(s.to_string_lossy().into_owned());
                node = (*node).next;
            }
        }
        out
    }
}

/// alpm.rs has no binding for `alpm_db_add_cache_server` (pacman 7's
/// `CacheServer`), so call libalpm directly.
fn add_cache_server(db: *mut alpm_sys::alpm_db_t, url: &str) {
    let Ok(url) = CString::new(url) else { return };
    // SAFETY: db is a registered sync db; libalpm copies the string.
    unsafe {
        alpm_sys::alpm_db_add_cache_server(db, url.as_ptr());
    }
}

/// The transaction flags the command line asks for (pacman's `config->flags`).
pub fn trans_flags(args: &Args) -> TransFlag {
    let mut f = TransFlag::empty();
    match args.count("nodeps") {
        0 => {}
        1 => f |= TransFlag::NO_DEP_VERSION,
        _ => f |= TransFlag::NO_DEP_VERSION | TransFlag::NO_DEPS,
    }
    if args.has("dbonly") {
        f |= TransFlag::DB_ONLY | TransFlag::NO_SCRIPTLET | TransFlag::NO_HOOKS;
    }
    if args.has("noscriptlet") {
        f |= TransFlag::NO_SCRIPTLET;
    }
    if args.has("asdeps") {
        f |= TransFlag::ALL_DEPS;
    }
    if args.has("asexplicit") {
        f |= TransFlag::ALL_EXPLICIT;
    }
    if args.has("needed") {
        f |= TransFlag::NEEDED;
    }
    if args.has("downloadonly") {
        f |= TransFlag::DOWNLOAD_ONLY | TransFlag::NO_CONFLICTS;
    }
    if args.has("print") || args.has("print-format") {
        f |= TransFlag::NO_CONFLICTS | TransFlag::NO_LOCK;
    }
    f
}

/// One file the engine must fetch for a prepared transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedFile {
    /// Repository.
    pub repo: String,
    /// Package file name.
    pub filename: String,
    /// Exact size from the sync db.
    pub size: u64,
    /// sha256 from the sync db, hex.
    pub sha256: Option<String>,
    /// The repo's servers (CacheServers first, as libalpm tries them).
    pub servers: Vec<String>,
    /// Also fetch `<filename>.sig` (the db carries no signature and
    /// signatures are checked).
    pub want_sig: bool,
}

/// What a prepared transaction will download: owned data, no alpm types.
#[derive(Clone, Debug, Default)]
pub struct FetchPlan {
    /// Files in transaction order.
    pub files: Vec<PlannedFile>,
}

impl FetchPlan {
    /// Total bytes of package files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A sync db's servers, CacheServers first, as libalpm tries them.
pub fn servers_of(db: &alpm::Db) -> Vec<String> {
    db.cache_servers()
        .into_iter()
        .chain(db.servers().iter().map(str::to_owned))
        .collect()
}

/// Reads the fetch plan from a prepared transaction: every added sync
/// package libalpm will download (download size not zero), like libalpm's
/// `find_dl_candidates`.
pub fn fetch_plan(handle: &Alpm) -> FetchPlan {
    let checks_sigs = |level: SigLevel| level.contains(SigLevel::PACKAGE);
    let mut files = Vec::new();
    for pkg in handle.trans_add() {
        let Some(db) = pkg.db() else { continue };
        if pkg.download_size() == 0 {
            continue;
        }
        let Some(filename) = pkg.filename() else {
            continue;
        };
        let level = db.siglevel();
        let level = if level.contains(SigLevel::USE_DEFAULT) {
            handle.default_siglevel()
        } else {
            level
        };
        files.push(PlannedFile {
            repo: db.name().to_owned(),
            filename: filename.to_owned(),
            size: pkg.size().max(0) as u64,
            sha256: pkg.sha256sum().map(str::to_owned),
            servers: servers_of(db),
            want_sig: checks_sigs(level) && pkg.base64_sig().is_none(),
        });
    }
    FetchPlan { files }
}
