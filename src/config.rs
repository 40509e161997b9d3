//! One `Config` from three sources, in pacman's order of priority: the
//! command line, pacman.conf (read exactly as pacman reads it: by pactor's
//! own reading in [`crate::pacman_conf`] where that can vouch for the result,
//! else by running the `pacman-conf` that belongs to the pacman binary; either
//! way as pacman-conf's text, through the `pacmanconf` crate), and
//! compiled-in defaults; plus pactor's own settings from
//! pactor.conf, which lives beside pacman.conf (`/etc/pactor.conf`) unless
//! `--pactor-config` names another file.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use crate::cli::Args;
use crate::env;

/// A configuration problem, worded like pacman's.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// pacman-conf refused pacman.conf; its own message (already pacman's
    /// words, such as `config file X could not be read: …`) is kept.
    #[error("{0}")]
    PacmanConf(String),
    /// pacman-conf could not be started.
    #[error("could not run {path}: {source}")]
    PacmanConfMissing {
        /// The binary tried.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A path option that does not resolve (pacman's `resolve_path`).
    #[error("'failed to resolve path '{path}' passed to '{option}': {reason}")]
    Path {
        /// The path as given.
        path: String,
        /// The option it was given to.
        option: &'static str,
        /// strerror text.
        reason: String,
    },
    /// A bad line in pactor.conf.
    #[error("config file {file}, line {line}: {message}")]
    PactorConf {
        /// The file.
        file: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// pactor.conf exists but cannot be read.
    #[error("config file {file} could not be read: {source}")]
    PactorConfRead {
        /// The file.
        file: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A sync repository, as pacman would register it.
#[derive(Clone, Debug)]
pub struct Repo {
    /// Section name.
    pub name: String,
    /// `Server` URLs, `$repo`/`$arch` already expanded by pacman-conf.
    pub servers: Vec<String>,
    /// `CacheServer` URLs.
    pub cache_servers: Vec<String>,
    /// `SigLevel`, fully resolved.
    pub sig_level: alpm::SigLevel,
    /// `Usage`.
    pub usage: alpm::Usage,
}

/// pactor's own settings (pactor.conf, `[options]`).
#[derive(Clone, Debug)]
pub struct PactorSettings {
    /// The file they came from, if it existed.
    pub file: Option<PathBuf>,
    /// `Torrent = yes`: make `-x` the default for `-S`.
    pub torrent_by_default: bool,
    /// `PacmanBin`: the pacman that non-downloading operations run.
    pub pacman_bin: PathBuf,
    /// `TorrentServer` templates (`$repo`, `$arch`), filename appended.
    pub torrent_servers: Vec<String>,
    /// `Tracker` URLs added to every torrent.
    pub trackers: Vec<String>,
    /// `DownloadLimit` in bytes per second (0: none).
    pub download_limit: u64,
    /// `UploadLimit` in bytes per second (0: none).
    pub upload_limit: u64,
    /// `ListenPort` for BitTorrent (0: any).
    pub listen_port: u16,
    /// `StateDir`: stored torrents, DHT table, partial downloads.
    pub state_dir: PathBuf,
    /// `DHT = no`: find no peers through the public DHT.
    pub dht: bool,
    /// `LSD = no`: no local peer discovery (multicast on the LAN).
    pub lsd: bool,
    /// `TorrentMinSize` in bytes: smaller packages skip the swarm.
    pub torrent_min_size: u64,
    /// The `[seed]` section: pactor-seed's settings.
    pub seed: SeedSettings,
}

/// pactor-seed's settings (pactor.conf, `[seed]`).
#[derive(Clone, Debug, PartialEq)]
pub struct SeedSettings {
    /// `UploadLimit` in bytes per second outside every `Schedule` window
    /// (0: none).
    pub upload_limit: u64,
    /// `Schedule` windows, each with its own rate; the first that holds the
    /// current local time applies.
    pub schedule: Vec<crate::seed::schedule::Window>,
    /// `MaxTorrents`: at most this many packages seeded (0: no limit).
    pub max_torrents: usize,
    /// `ShareRatio`: stop seeding a package once its all-time upload reaches
    /// this many times its size (0: never stop).
    pub share_ratio: f64,
    /// `ListenPort` for incoming peers.
    pub listen_port: u16,
    /// `DHT = no`: find no peers through the public DHT.
    pub dht: bool,
    /// `LSD = no`: no local peer discovery.
    pub lsd: bool,
    /// `StateDir`: resume data, DHT table, statistics, trust ledger.
    pub state_dir: PathBuf,
    /// `RuntimeDir`: the sockets and the lock file.
    pub runtime_dir: PathBuf,
}

impl Default for SeedSettings {
    fn default() -> Self {
        SeedSettings {
            upload_limit: 0,
            schedule: Vec::new(),
            max_torrents: 0,
            share_ratio: 0.0,
            listen_port: env::DEFAULT_SEED_PORT,
            dht: true,
            lsd: true,
            state_dir: PathBuf::from(env::DEFAULT_SEED_STATE_DIR),
            runtime_dir: PathBuf::from(env::DEFAULT_SEED_RUNTIME_DIR),
        }
    }
}

impl Default for PactorSettings {
    fn default() -> Self {
        PactorSettings {
            file: None,
            torrent_by_default: false,
            pacman_bin: PathBuf::from(env::DEFAULT_PACMAN_BIN),
            torrent_servers: Vec::new(),
            trackers: Vec::new(),
            download_limit: 0,
            upload_limit: 0,
            listen_port: 0,
            state_dir: PathBuf::from(env::DEFAULT_STATE_DIR),
            dht: true,
            lsd: true,
            torrent_min_size: pactor_fetch::transaction::DEFAULT_SWARM_MIN_SIZE,
            seed: SeedSettings::default(),
        }
    }
}

/// Everything an operation needs to set up libalpm and the engine.
#[derive(Clone, Debug)]
pub struct Config {
    /// pacman.conf path.
    pub config_file: PathBuf,
    /// RootDir.
    pub root: String,
    /// DBPath.
    pub dbpath: String,
    /// CacheDirs, command line first.
    pub cachedirs: Vec<String>,
    /// HookDirs, command line first.
    pub hookdirs: Vec<String>,
    /// GPGDir.
    pub gpgdir: String,
    /// LogFile.
    pub logfile: String,
    /// The parsed pacman.conf.
    pub pacman: pacmanconf::Config,
    /// Repositories in order.
    pub repos: Vec<Repo>,
    /// IgnorePkg (config and `--ignore`).
    pub ignore_pkg: Vec<String>,
    /// IgnoreGroup (config and `--ignoregroup`).
    pub ignore_group: Vec<String>,
    /// Architectures (`--arch` replaces the config's).
    pub architectures: Vec<String>,
    /// Global SigLevel.
    pub sig_level: alpm::SigLevel,
    /// LocalFileSigLevel.
    pub local_file_sig_level: alpm::SigLevel,
    /// RemoteFileSigLevel.
    pub remote_file_sig_level: alpm::SigLevel,
    /// Color wanted on stdout.
    pub color: bool,
    /// pactor.conf settings.
    pub pactor: PactorSettings,
}

/// pacman's `resolve_path`: realpath, or pacman's error.
pub fn resolve_path(path: &str, option: &'static str) -> Result<String, ConfigError> {
    std::fs::canonicalize(path)
        .map(|p| p.to_string_lossy().into_owned())
        .map_err(|e| ConfigError::Path {
            path: path.to_owned(),
            option,
            reason: crate::ui::output::strerror(&e),
        })
}

/// Where pactor.conf is read from for this command line.
pub fn pactor_conf_path(args: &Args) -> PathBuf {
    if let Some(p) = args.value("pactor-config") {
        return PathBuf::from(p);
    }
    if let Some(p) = std::env::var_os(env::PACTOR_CONFIG) {
        return PathBuf::from(p);
    }
    let pacman_conf = Path::new(args.value("config").unwrap_or(env::DEFAULT_PACMAN_CONF));
    pacman_conf
        .parent()
        .unwrap_or(Path::new("/"))
        .join(env::PACTOR_CONF_NAME)
}

/// Reads pactor.conf. A missing file at the default place is not an error (it
/// holds only pactor's additions); a missing file named on the command line is.
pub fn load_pactor(args: &Args) -> Result<PactorSettings, ConfigError> {
    load_pactor_file(&pactor_conf_path(args), args.has("pactor-config"))
}

/// Reads pactor.conf from `path`; a missing file gives the defaults unless
/// `must_exist`.
pub fn load_pactor_file(path: &Path, must_exist: bool) -> Result<PactorSettings, ConfigError> {
    let path = path.to_path_buf();
    let mut s = PactorSettings::default();
    let text = match fs_err::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => return Ok(s),
        Err(e) => {
            return Err(ConfigError::PactorConfRead {
                file: path,
                source: std::io::Error::new(e.kind(), crate::ui::output::strerror(&e)),
            })
        }
    };
    let bad = |line: usize, message: String| ConfigError::PactorConf {
        file: path.clone(),
        line,
        message,
    };
    let mut section = String::new();
    for (n, raw) in text.lines().enumerate() {
        let n = n + 1;
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(bad(n, format!("bad section name '{line}'")));
            };
            section = name.to_owned();
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        if section == "seed" {
            parse_seed_key(&mut s.seed, key, value).map_err(|m| bad(n, m))?;
            continue;
        }
        if section != "options" {
            return Err(bad(n, format!("directive '{line}' outside of [options]")));
        }
        fn need(v: Option<&str>) -> Result<&str, String> {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| "needs a value".to_owned())
        }
        let need = |v| need(v).map_err(|m| bad(n, format!("directive '{key}' {m}")));
        match key {
            "Torrent" => s.torrent_by_default = yes_no(key, value).map_err(|m| bad(n, m))?,
            "DHT" => s.dht = yes_no(key, value).map_err(|m| bad(n, m))?,
            "LSD" => s.lsd = yes_no(key, value).map_err(|m| bad(n, m))?,
            "PacmanBin" => {
                let v = need(value)?;
                if !v.starts_with('/') {
                    return Err(bad(
                        n,
                        format!("PacmanBin must be an absolute path, not '{v}'"),
                    ));
                }
                s.pacman_bin = PathBuf::from(v);
            }
            "TorrentServer" => s.torrent_servers.push(need(value)?.to_owned()),
            "Tracker" => s.trackers.push(need(value)?.to_owned()),
            "DownloadLimit" => {
                s.download_limit = parse_rate(need(value)?).map_err(|m| bad(n, m))?
            }
            "UploadLimit" => s.upload_limit = parse_rate(need(value)?).map_err(|m| bad(n, m))?,
            "ListenPort" => {
                let v = need(value)?;
                s.listen_port = v
                    .parse()
                    .map_err(|_| bad(n, format!("invalid port '{v}'")))?;
            }
            "StateDir" => s.state_dir = PathBuf::from(need(value)?),
            "TorrentMinSize" => {
                s.torrent_min_size = parse_size(need(value)?).map_err(|m| bad(n, m))?
            }
            other => {
                crate::ui::output::warning(&format!(
                    "config file {}, line {n}: directive '{other}' in section 'options' not recognized.",
                    path.display()
                ));
            }
        }
    }
    s.file = Some(path);
    Ok(s)
}

/// One directive of the `[seed]` section (pactor-seed's settings). An
/// unknown key is an error here: the daemon must not run with a limit it
/// did not understand.
fn parse_seed_key(s: &mut SeedSettings, key: &str, value: Option<&str>) -> Result<(), String> {
    let need = || {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("directive '{key}' needs a value"))
    };
    match key {
        "UploadLimit" => s.upload_limit = parse_rate(need()?)?,
        "Schedule" => s.schedule.push(need()?.parse()?),
        "MaxTorrents" => {
            let v = need()?;
            s.max_torrents = v
                .parse()
                .map_err(|_| format!("invalid number '{v}' for MaxTorrents"))?;
        }
        "ShareRatio" => {
            let v = need()?;
            s.share_ratio = v
                .parse::<f64>()
                .ok()
                .filter(|r| r.is_finite() && *r >= 0.0)
                .ok_or_else(|| format!("invalid ratio '{v}' for ShareRatio"))?;
        }
        "ListenPort" => {
            let v = need()?;
            s.listen_port = v.parse().map_err(|_| format!("invalid port '{v}'"))?;
        }
        "DHT" => s.dht = yes_no(key, value)?,
        "LSD" => s.lsd = yes_no(key, value)?,
        "StateDir" => s.state_dir = absolute(key, need()?)?,
        "RuntimeDir" => s.runtime_dir = absolute(key, need()?)?,
        other => {
            return Err(format!(
                "directive '{other}' in section 'seed' not recognized"
            ))
        }
    }
    Ok(())
}

/// An absolute path for `key`.
fn absolute(key: &str, v: &str) -> Result<PathBuf, String> {
    if v.starts_with('/') {
        Ok(PathBuf::from(v))
    } else {
        Err(format!("{key} must be an absolute path, not '{v}'"))
    }
}

/// A yes/no directive; a bare `Key` means yes, like pacman's boolean options.
fn yes_no(key: &str, value: Option<&str>) -> Result<bool, String> {
    match value {
        None | Some("yes" | "true" | "1" | "on") => Ok(true),
        Some("no" | "false" | "0" | "off") => Ok(false),
        Some(v) => Err(format!("invalid value '{v}' for {key} (yes or no)")),
    }
}

/// A rate such as `500K`, `2M`, `1.5MiB/s` or `0` (no limit), in bytes/s.
pub fn parse_rate(v: &str) -> Result<u64, String> {
    parse_amount(v.trim().trim_end_matches("/s"), v, "rate")
}

/// A size such as `512K`, `1M`, `1.5MiB` or `0`, in bytes.
pub fn parse_size(v: &str) -> Result<u64, String> {
    parse_amount(v.trim(), v, "size")
}

/// A number with an optional unit (`K`/`KiB` 1024, `KB`/`kB` 1000, and so
/// on up to G) in `t`; `v` and `what` name it in errors.
fn parse_amount(t: &str, v: &str, what: &str) -> Result<u64, String> {
    if !t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(format!("invalid {what} '{v}'"));
    }
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => {
            let mult = match &t[i..] {
                "B" => 1.0,
                "K" | "KiB" | "k" => 1024.0,
                "M" | "MiB" => 1024.0 * 1024.0,
                "G" | "GiB" => 1024.0 * 1024.0 * 1024.0,
                "KB" | "kB" => 1000.0,
                "MB" => 1e6,
                "GB" => 1e9,
                u => return Err(format!("invalid {what} unit '{u}' in '{v}'")),
            };
            (&t[..i], mult)
        }
        None => (t, 1.0),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("invalid {what} '{v}'"))?;
    if !(n >= 0.0 && n.is_finite()) {
        return Err(format!("invalid {what} '{v}'"));
    }
    Ok((n * mult) as u64)
}

/// The pacman-conf that belongs to a pacman binary (same directory).
pub fn pacman_conf_bin(pacman_bin: &Path) -> PathBuf {
    pacman_bin.with_file_name("pacman-conf")
}

/// Reads pacman.conf for this command line and merges the command line in.
pub fn load(args: &Args, pactor: PactorSettings) -> Result<Config, ConfigError> {
    let config_file = PathBuf::from(args.value("config").unwrap_or(env::DEFAULT_PACMAN_CONF));

    // Path options resolve first, in command-line order, like pacman.
    let mut cli_root = None;
    let mut cli_dbpath = None;
    let mut cli_gpgdir = None;
    let mut cli_sysroot = None;
    let mut cli_cachedirs = Vec::new();
    let mut cli_hookdirs = Vec::new();
    for g in &args.given {
        let Some(v) = g.value.as_deref() else {
            continue;
        };
        match g.flag.long {
            "root" => cli_root = Some(resolve_path(v, "--root")?),
            "dbpath" => cli_dbpath = Some(resolve_path(v, "--dbpath")?),
            "gpgdir" => cli_gpgdir = Some(resolve_path(v, "--gpgdir")?),
            "sysroot" => cli_sysroot = Some(resolve_path(v, "--sysroot")?),
            "cachedir" => cli_cachedirs.push(resolve_path(v, "--cachedir")?),
            "hookdir" => cli_hookdirs.push(resolve_path(v, "--hookdir")?),
            _ => {}
        }
    }

    // pactor's own reading when it can vouch for pacman-conf's answer (the
    // pacman it was built for), else pacman-conf.
    let native = (pactor.pacman_bin == Path::new(env::DEFAULT_PACMAN_BIN))
        .then(|| {
            crate::pacman_conf::dump(&config_file, cli_root.as_deref(), cli_sysroot.as_deref())
        })
        .flatten();
    let text = match native {
        Some(text) => text,
        None => run_pacman_conf(
            &pactor.pacman_bin,
            &config_file,
            cli_root.as_deref(),
            cli_sysroot.as_deref(),
        )?,
    };
    let pacman = pacmanconf::Config::from_str(text.trim_end())
        .map_err(|e| ConfigError::PacmanConf(e.to_string()))?;
    let cache_servers = cache_servers(&text);

    let default_cache = [env::DEFAULT_CACHE_DIR.to_owned()];
    let default_hooks = [env::DEFAULT_HOOK_DIR.to_owned()];
    // pacman-conf fills in the compiled default when pacman.conf sets none;
    // pacman does not add that default when the command line gave one.
    let conf_cache: Vec<String> = if !cli_cachedirs.is_empty() && pacman.cache_dir == default_cache
    {
        Vec::new()
    } else {
        pacman.cache_dir.clone()
    };
    let conf_hooks: Vec<String> = if !cli_hookdirs.is_empty() && pacman.hook_dir == default_hooks {
        Vec::new()
    } else {
        pacman.hook_dir.clone()
    };
    let cachedirs = cli_cachedirs.into_iter().chain(conf_cache).collect();
    let hookdirs = cli_hookdirs.into_iter().chain(conf_hooks).collect();

    let root = cli_root.clone().unwrap_or_else(|| pacman.root_dir.clone());
    let dbpath = cli_dbpath.unwrap_or_else(|| pacman.db_path.clone());
    let gpgdir = cli_gpgdir.unwrap_or_else(|| pacman.gpg_dir.clone());
    let logfile = args
        .value("logfile")
        .map(str::to_owned)
        .unwrap_or_else(|| pacman.log_file.clone());

    let mut architectures: Vec<String> =
        args.values("arch").iter().map(|s| s.to_string()).collect();
    if architectures.is_empty() {
        architectures = pacman.architecture.clone();
    }
    let architectures = architectures
        .into_iter()
        .map(|a| if a == "auto" { machine_arch() } else { a })
        .collect();

    let repos = pacman
        .repos
        .iter()
        .map(|r| Repo {
            name: r.name.clone(),
            servers: r.servers.clone(),
            cache_servers: cache_servers
                .iter()
                .filter(|(repo, _)| *repo == r.name)
                .map(|(_, url)| url.clone())
                .collect(),
            sig_level: sig_level(&r.sig_level),
            usage: usage(&r.usage),
        })
        .collect();

    let color = match args.value("color") {
        Some("always") => true,
        Some("never") => false,
        Some(_) => crate::ui::output::stdout_is_tty(),
        None => pacman.color && crate::ui::output::stdout_is_tty(),
    };

    Ok(Config {
        config_file,
        root,
        dbpath,
        cachedirs,
        hookdirs,
        gpgdir,
        logfile,
        ignore_pkg: pacman
            .ignore_pkg
            .iter()
            .cloned()
            .chain(args.list("ignore"))
            .collect(),
        ignore_group: pacman
            .ignore_group
            .iter()
            .cloned()
            .chain(args.list("ignoregroup"))
            .collect(),
        architectures,
        sig_level: sig_level(&pacman.sig_level),
        local_file_sig_level: sig_level(&pacman.local_file_sig_level),
        remote_file_sig_level: sig_level(&pacman.remote_file_sig_level),
        repos,
        color,
        pacman,
        pactor,
    })
}

/// pacman.conf as the `pacman-conf` beside `pacman_bin` prints it; its
/// warnings go to our stderr, its errors become pacman's error line.
fn run_pacman_conf(
    pacman_bin: &Path,
    config_file: &Path,
    cli_root: Option<&str>,
    cli_sysroot: Option<&str>,
) -> Result<String, ConfigError> {
    let bin = pacman_conf_bin(pacman_bin);
    let mut cmd = Command::new(&bin);
    cmd.arg("--config").arg(config_file);
    if let Some(root) = cli_root {
        cmd.arg("--rootdir").arg(root);
    }
    if let Some(sysroot) = cli_sysroot {
        cmd.arg("--sysroot").arg(sysroot);
    }
    let out = cmd
        .output()
        .map_err(|source| ConfigError::PacmanConfMissing {
            path: bin.clone(),
            source,
        })?;
    // pacman-conf prints pacman's own warnings and errors; keep the warnings
    // on our stderr and turn a failure into pacman's error line.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut errors = Vec::new();
    for line in stderr.lines() {
        if let Some(w) = line.strip_prefix("warning: ") {
            crate::ui::output::warning(w);
        } else if let Some(e) = line.strip_prefix("error: ") {
            errors.push(e.to_owned());
        }
    }
    if !out.status.success() {
        let msg = if errors.is_empty() {
            format!("config file {} could not be read", config_file.display())
        } else {
            errors.join("\n")
        };
        return Err(ConfigError::PacmanConf(msg));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `CacheServer` lines per repository from pacman-conf's output (the
/// pacmanconf crate does not keep them).
fn cache_servers(text: &str) -> Vec<(String, String)> {
    let mut section = "";
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(s) = line.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = s;
        } else if let Some((k, v)) = line.split_once(" = ") {
            if k == "CacheServer" && section != "options" {
                out.push((section.to_owned(), v.to_owned()));
            }
        }
    }
    out
}

/// A SigLevel from pacman-conf's fully resolved words.
pub fn sig_level(words: &[String]) -> alpm::SigLevel {
    use alpm::SigLevel as L;
    if words.is_empty() {
        return L::USE_DEFAULT;
    }
    let mut level = L::empty();
    for w in words {
        level |= match w.as_str() {
            "PackageRequired" => L::PACKAGE,
            "PackageOptional" => L::PACKAGE | L::PACKAGE_OPTIONAL,
            "PackageTrustAll" => L::PACKAGE_MARGINAL_OK | L::PACKAGE_UNKNOWN_OK,
            "DatabaseRequired" => L::DATABASE,
            "DatabaseOptional" => L::DATABASE | L::DATABASE_OPTIONAL,
            "DatabaseTrustAll" => L::DATABASE_MARGINAL_OK | L::DATABASE_UNKNOWN_OK,
            _ => L::empty(),
        };
    }
    level
}

/// A repository Usage from pacman-conf's words.
pub fn usage(words: &[String]) -> alpm::Usage {
    use alpm::Usage as U;
    let mut u = U::empty();
    for w in words {
        u |= match w.as_str() {
            "Sync" => U::SYNC,
            "Search" => U::SEARCH,
            "Install" => U::INSTALL,
            "Upgrade" => U::UPGRADE,
            "All" => U::ALL,
            _ => U::empty(),
        };
    }
    if u.is_empty() {
        U::ALL
    } else {
        u
    }
}

/// `uname -m`, for `Architecture = auto`.
pub(crate) fn machine_arch() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_else(|_| "x86_64".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_no_switches() {
        assert_eq!(yes_no("DHT", Some("no")), Ok(false));
        assert_eq!(yes_no("DHT", None), Ok(true));
        assert_eq!(yes_no("LSD", Some("yes")), Ok(true));
        assert_eq!(
            yes_no("LSD", Some("maybe")),
            Err("invalid value 'maybe' for LSD (yes or no)".to_owned())
        );
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("0"), Ok(0));
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("2MiB/s"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("1.5M"), Ok(1572864));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("5X").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("1MiB"), Ok(1024 * 1024));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert_eq!(
            parse_size("1M/s"),
            Err("invalid size unit 'M/s' in '1M/s'".to_owned())
        );
        assert_eq!(parse_size("big"), Err("invalid size 'big'".to_owned()));
        assert_eq!(parse_size("-1"), Err("invalid size '-1'".to_owned()));
    }

    #[test]
    fn torrent_min_size_from_pactor_conf() {
        let dir = std::env::temp_dir().join(format!("pactor-conf-test-{}", std::process::id()));
        fs_err::create_dir_all(&dir).unwrap();
        let path = dir.join("pactor.conf");
        let read = |text: &str| {
            fs_err::write(&path, text).unwrap();
            load_pactor_file(&path, true)
        };
        assert_eq!(
            read("[options]\n").unwrap().torrent_min_size,
            pactor_fetch::transaction::DEFAULT_SWARM_MIN_SIZE
        );
        assert_eq!(
            read("[options]\nTorrentMinSize = 0\n")
                .unwrap()
                .torrent_min_size,
            0
        );
        assert_eq!(
            read("[options]\nTorrentMinSize = 4M\n")
                .unwrap()
                .torrent_min_size,
            4 << 20
        );
        let err = read("[options]\nTorrentMinSize = lots\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("invalid size 'lots'"),
            "{err}"
        );
        let _ = fs_err::remove_dir_all(&dir);
    }

    #[test]
    fn siglevels_from_pacman_conf_words() {
        let w = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            sig_level(&w(&["PackageNever", "DatabaseNever"])),
            alpm::SigLevel::empty()
        );
        assert_eq!(
            sig_level(&w(&[
                "PackageRequired",
                "PackageTrustedOnly",
                "DatabaseOptional",
                "DatabaseTrustedOnly"
            ])),
            alpm::SigLevel::PACKAGE | alpm::SigLevel::DATABASE | alpm::SigLevel::DATABASE_OPTIONAL
        );
    }

    #[test]
    fn cache_servers_are_kept_per_repo() {
        let text = "[options]\nRootDir = /\n[core]\nUsage = All\nCacheServer = http://c/core\nServer = http://x/core\n[extra]\nServer = http://y\n";
        assert_eq!(
            cache_servers(text),
            vec![("core".to_owned(), "http://c/core".to_owned())]
        );
    }
}
