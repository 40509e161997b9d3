//! pacman.conf read in-process, the way pacman 7.1's `pacman-conf` reads it
//! (its conf.c and ini.c), so that a run does not wait for pacman-conf to
//! start: about 6 ms, most of it the dynamic linking of libalpm's libraries,
//! on the path to the first downloaded byte.
//!
//! [`dump`] returns exactly the text `pacman-conf` prints, and the rest of
//! pactor reads that text as it reads pacman-conf's. It reads only what it
//! can vouch for: whenever pacman-conf would print a warning or an error, or
//! a file holds something this reading does not model (bytes that are not
//! UTF-8, a NUL, a line too long for pacman's line buffer, quotes in
//! `XferCommand`), it returns `None` and pacman-conf runs instead, with its
//! own words for what is wrong. tests/pacman_conf.rs holds both readings
//! against each other.
//!
//! pacman-conf's compiled-in paths (`DBPath` and the others when
//! pacman.conf sets none) come from build.rs, which runs the pacman-conf of
//! the pacman pactor is built for on an empty file. With another pacman
//! (`PacmanBin`), or when that output is missing or not understood, this
//! reading stays off.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::sync::OnceLock;

/// `pacman-conf --config /dev/null`, as build.rs saw it (empty when it
/// could not run it).
const BUILT_DUMP: &str = include_str!(concat!(env!("OUT_DIR"), "/pacman-conf-defaults"));

// alpm_siglevel_t and alpm_db_usage_t bits (alpm.h).
const SIG_PACKAGE: u32 = 1;
const SIG_PACKAGE_OPTIONAL: u32 = 1 << 1;
const SIG_PACKAGE_MARGINAL_OK: u32 = 1 << 2;
const SIG_PACKAGE_UNKNOWN_OK: u32 = 1 << 3;
const SIG_DATABASE: u32 = 1 << 10;
const SIG_DATABASE_OPTIONAL: u32 = 1 << 11;
const SIG_DATABASE_MARGINAL_OK: u32 = 1 << 12;
const SIG_DATABASE_UNKNOWN_OK: u32 = 1 << 13;
const SIG_USE_DEFAULT: u32 = 1 << 30;
const USAGE_ALL: u32 = 15;

/// pacman reads a line into a `PATH_MAX` buffer: a longer one is cut in two.
const LINE_MAX: usize = 4095;
/// pacman's limit on nested `Include`s.
const MAX_DEPTH: usize = 10;

/// The text `pacman-conf --config FILE [--rootdir ROOT] [--sysroot SYSROOT]`
/// would print, or `None` when pacman-conf has to be asked (see the module
/// documentation).
pub fn dump(file: &Path, rootdir: Option<&str>, sysroot: Option<&str>) -> Option<String> {
    dump_with(defaults()?, file, rootdir, sysroot)
}

/// pacman-conf's compiled-in values.
#[derive(Debug)]
struct Defaults {
    rootdir: String,
    dbpath: String,
    cachedir: String,
    hookdir: String,
    gpgdir: String,
    logfile: String,
}

/// The defaults in [`BUILT_DUMP`], once this reading reproduces that dump
/// from an empty file (else `None`: this reading stays off).
fn defaults() -> Option<&'static Defaults> {
    static DEFAULTS: OnceLock<Option<Defaults>> = OnceLock::new();
    DEFAULTS
        .get_or_init(|| {
            let d = parse_defaults(BUILT_DUMP)?;
            let again = dump_with(&d, Path::new("/dev/null"), None, None)?;
            (again == BUILT_DUMP).then_some(d)
        })
        .as_ref()
}

fn parse_defaults(text: &str) -> Option<Defaults> {
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(" = "))
            .map(str::to_owned)
    };
    let d = Defaults {
        rootdir: value("RootDir")?,
        dbpath: value("DBPath")?,
        cachedir: value("CacheDir")?,
        hookdir: value("HookDir")?,
        gpgdir: value("GPGDir")?,
        logfile: value("LogFile")?,
    };
    // Under a root, pacman joins the root and these without their first '/'.
    (d.dbpath.starts_with('/') && d.logfile.starts_with('/')).then_some(d)
}

fn dump_with(
    d: &Defaults,
    file: &Path,
    rootdir: Option<&str>,
    sysroot: Option<&str>,
) -> Option<String> {
    let mut r = Reader {
        conf: Conf {
            rootdir: rootdir.map(str::to_owned),
            parallel_downloads: 1,
            // Defaults with signature support (the dump build.rs saw had it).
            siglevel: Level {
                level: SIG_PACKAGE | SIG_DATABASE,
                mask: 0,
            },
            localfile: Level::use_default(),
            remotefile: Level::use_default(),
            ..Conf::default()
        },
        section: Section::None,
        depth: 0,
        sysroot,
    };
    let file = file.to_str()?;
    r.read_file(&prepend_dir(sysroot, file))?;
    let mut conf = r.conf;
    conf.set_defaults(d)?;
    if let Some(sysroot) = sysroot {
        conf.prepend_sysroot(sysroot);
    }
    Some(conf.render())
}

/// A signature level and the bits pacman.conf set in it.
#[derive(Clone, Copy, Debug, Default)]
struct Level {
    level: u32,
    mask: u32,
}

/// Bits a SigLevel word sets (`true`) or clears, for packages or databases.
type Changes = &'static [(u32, bool)];

impl Level {
    fn use_default() -> Self {
        Level {
            level: SIG_USE_DEFAULT,
            mask: 0,
        }
    }

    /// pacman's `merge_siglevel`: the bits this level set, over `base`.
    fn over(self, base: u32) -> u32 {
        if self.mask == 0 {
            self.level
        } else {
            (self.level & self.mask) | (base & !self.mask)
        }
    }

    fn set(&mut self, bits: u32, on: bool) {
        if on {
            self.level |= bits;
        } else {
            self.level &= !bits;
        }
        self.mask |= bits;
    }

    /// pacman's `process_siglevel`; `None` for a word it rejects.
    fn apply<'a>(&mut self, words: impl Iterator<Item = &'a str>) -> Option<()> {
        let mut next = *self;
        for original in words {
            let (value, package, database) = if let Some(v) = original.strip_prefix("Package") {
                (v, true, false)
            } else if let Some(v) = original.strip_prefix("Database") {
                (v, false, true)
            } else {
                (original, true, true)
            };
            let (pkg, db): (Changes, Changes) = match value {
                "Never" => (&[(SIG_PACKAGE, false)], &[(SIG_DATABASE, false)]),
                "Optional" => (
                    &[(SIG_PACKAGE | SIG_PACKAGE_OPTIONAL, true)],
                    &[(SIG_DATABASE | SIG_DATABASE_OPTIONAL, true)],
                ),
                "Required" => (
                    &[(SIG_PACKAGE, true), (SIG_PACKAGE_OPTIONAL, false)],
                    &[(SIG_DATABASE, true), (SIG_DATABASE_OPTIONAL, false)],
                ),
                "TrustedOnly" => (
                    &[(SIG_PACKAGE_MARGINAL_OK | SIG_PACKAGE_UNKNOWN_OK, false)],
                    &[(SIG_DATABASE_MARGINAL_OK | SIG_DATABASE_UNKNOWN_OK, false)],
                ),
                "TrustAll" => (
                    &[(SIG_PACKAGE_MARGINAL_OK | SIG_PACKAGE_UNKNOWN_OK, true)],
                    &[(SIG_DATABASE_MARGINAL_OK | SIG_DATABASE_UNKNOWN_OK, true)],
                ),
                _ => return None,
            };
            let chosen = [(package, pkg), (database, db)];
            for (_, bits) in chosen.iter().filter(|(on, _)| *on) {
                bits.iter().for_each(|&(b, on)| next.set(b, on));
            }
            next.level &= !SIG_USE_DEFAULT;
        }
        *self = next;
        Some(())
    }
}

#[derive(Debug, Default)]
struct RepoSection {
    name: String,
    servers: Vec<String>,
    cache_servers: Vec<String>,
    siglevel: Level,
    usage: u32,
}

/// pacman-conf's `config_t`, as far as it prints it.
#[derive(Debug, Default)]
struct Conf {
    rootdir: Option<String>,
    dbpath: Option<String>,
    gpgdir: Option<String>,
    logfile: Option<String>,
    download_user: Option<String>,
    xfer_command: Option<String>,
    cachedirs: Vec<String>,
    hookdirs: Vec<String>,
    hold_pkg: Vec<String>,
    ignore_pkg: Vec<String>,
    ignore_group: Vec<String>,
    no_upgrade: Vec<String>,
    no_extract: Vec<String>,
    architectures: Vec<String>,
    use_syslog: bool,
    color: bool,
    check_space: bool,
    verbose_pkg_lists: bool,
    disable_download_timeout: bool,
    i_love_candy: bool,
    no_progress_bar: bool,
    disable_sandbox_filesystem: bool,
    disable_sandbox_syscalls: bool,
    parallel_downloads: u32,
    clean_method: u32,
    siglevel: Level,
    localfile: Level,
    remotefile: Level,
    repos: Vec<RepoSection>,
}

/// The section directives go to. Like pacman's, it is shared with included
/// files: a section an included file opens goes on after the `Include`.
#[derive(Clone, Copy)]
enum Section {
    None,
    Options,
    Repo(usize),
}

struct Reader<'a> {
    conf: Conf,
    section: Section,
    depth: usize,
    sysroot: Option<&'a str>,
}

impl Reader<'_> {
    /// pacman's `parse_ini`.
    fn read_file(&mut self, path: &str) -> Option<()> {
        // A file pacman cannot read, or reads as nothing (a directory), is
        // pacman-conf's to report.
        let bytes = std::fs::read(path).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        if text.contains('\0') {
            return None;
        }
        for raw in text.split_inclusive('\n') {
            if raw.len() >= LINE_MAX {
                return None;
            }
            let line = trim(raw);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
                self.open_section(&line[1..line.len() - 1])?;
                continue;
            }
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (trim(k), Some(trim(v))),
                None => (line, None),
            };
            self.directive(key, value)?;
        }
        Some(())
    }

    fn open_section(&mut self, name: &str) -> Option<()> {
        if name.is_empty() {
            return None;
        }
        self.section = if name == "options" {
            Section::Options
        } else {
            self.conf.repos.push(RepoSection {
                name: name.to_owned(),
                siglevel: Level::use_default(),
                ..RepoSection::default()
            });
            Section::Repo(self.conf.repos.len() - 1)
        };
        Some(())
    }

    fn directive(&mut self, key: &str, value: Option<&str>) -> Option<()> {
        if key == "Include" {
            return self.include(value?);
        }
        match self.section {
            Section::None => None,
            Section::Options => self.conf.option(key, value),
            Section::Repo(i) => self.conf.repos[i].directive(key, value),
        }
    }

    /// pacman's `process_include`: every match of the glob (under the
    /// sysroot), or the pattern itself when nothing matches.
    fn include(&mut self, pattern: &str) -> Option<()> {
        if self.depth >= MAX_DEPTH {
            return None;
        }
        let full = match self.sysroot {
            Some(root) => prepend_dir(Some(&escape_glob(root)), pattern),
            None => pattern.to_owned(),
        };
        self.depth += 1;
        for path in glob(&full)? {
            self.read_file(&path)?;
        }
        self.depth -= 1;
        Some(())
    }
}

impl Conf {
    /// pacman's `_parse_options`.
    fn option(&mut self, key: &str, value: Option<&str>) -> Option<()> {
        let Some(v) = value else {
            let flag = match key {
                "UseSyslog" => &mut self.use_syslog,
                "ILoveCandy" => &mut self.i_love_candy,
                "VerbosePkgLists" => &mut self.verbose_pkg_lists,
                "CheckSpace" => &mut self.check_space,
                "Color" => &mut self.color,
                "NoProgressBar" => &mut self.no_progress_bar,
                "DisableDownloadTimeout" => &mut self.disable_download_timeout,
                "DisableSandbox" => {
                    self.disable_sandbox_syscalls = true;
                    &mut self.disable_sandbox_filesystem
                }
                "DisableSandboxFilesystem" => &mut self.disable_sandbox_filesystem,
                "DisableSandboxSyscalls" => &mut self.disable_sandbox_syscalls,
                _ => return None,
            };
            *flag = true;
            return Some(());
        };
        let first = |slot: &mut Option<String>, resolve: bool| {
            if slot.is_none() {
                *slot = Some(if resolve { realpath(v)? } else { v.to_owned() });
            }
            Some(())
        };
        match key {
            "NoUpgrade" => self.no_upgrade.extend(words(v).map(str::to_owned)),
            "NoExtract" => self.no_extract.extend(words(v).map(str::to_owned)),
            "IgnorePkg" => self.ignore_pkg.extend(words(v).map(str::to_owned)),
            "IgnoreGroup" => self.ignore_group.extend(words(v).map(str::to_owned)),
            "HoldPkg" => self.hold_pkg.extend(words(v).map(str::to_owned)),
            "CacheDir" => self
                .cachedirs
                .extend(words(&realpath(v)?).map(str::to_owned)),
            "HookDir" => self
                .hookdirs
                .extend(words(&realpath(v)?).map(str::to_owned)),
            "Architecture" => self.architectures.extend(words(v).map(|a| {
                if a == "auto" {
                    crate::config::machine_arch()
                } else {
                    a.to_owned()
                }
            })),
            "DBPath" => first(&mut self.dbpath, true)?,
            "RootDir" => first(&mut self.rootdir, true)?,
            "GPGDir" => first(&mut self.gpgdir, true)?,
            "LogFile" => first(&mut self.logfile, false)?,
            "DownloadUser" => first(&mut self.download_user, false)?,
            // pacman splits it into words; only an unclosed quote fails.
            "XferCommand" if !v.contains(['\'', '"']) => self.xfer_command = Some(v.to_owned()),
            "CleanMethod" => {
                for w in words(v) {
                    self.clean_method |= match w {
                        "KeepInstalled" => 1,
                        "KeepCurrent" => 2,
                        _ => return None,
                    };
                }
            }
            "SigLevel" => self.siglevel.apply(words(v))?,
            "LocalFileSigLevel" => self.localfile.apply(words(v))?,
            "RemoteFileSigLevel" => self.remotefile.apply(words(v))?,
            // Plain digits only; pacman-conf judges anything else.
            "ParallelDownloads" if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                let n: i32 = v.parse().ok()?;
                if n < 1 {
                    return None;
                }
                self.parallel_downloads = n as u32;
            }
            _ => return None,
        }
        Some(())
    }

    /// pacman's `setdefaults` (without the sysroot, [`Conf::prepend_sysroot`]).
    fn set_defaults(&mut self, d: &Defaults) -> Option<()> {
        if let Some(root) = &self.rootdir {
            if root.is_empty() {
                return None;
            }
            let root = root.strip_suffix('/').unwrap_or(root);
            if self.dbpath.is_none() {
                self.dbpath = Some(format!("{root}/{}", &d.dbpath[1..]));
            }
            if self.logfile.is_none() {
                self.logfile = Some(format!("{root}/{}", &d.logfile[1..]));
            }
        } else {
            self.rootdir = Some(d.rootdir.clone());
            self.dbpath.get_or_insert_with(|| d.dbpath.clone());
        }
        // pacman builds those two in a PATH_MAX buffer.
        if [&self.dbpath, &self.logfile]
            .iter()
            .any(|p| p.as_ref().is_some_and(|p| p.len() > LINE_MAX))
        {
            return None;
        }
        self.logfile.get_or_insert_with(|| d.logfile.clone());
        self.gpgdir.get_or_insert_with(|| d.gpgdir.clone());
        if self.cachedirs.is_empty() {
            self.cachedirs.push(d.cachedir.clone());
        }
        if self.hookdirs.is_empty() {
            self.hookdirs.push(d.hookdir.clone());
        }
        if self.clean_method == 0 {
            self.clean_method = 1;
        }
        let base = self.siglevel.level;
        self.localfile.level = self.localfile.over(base);
        self.remotefile.level = self.remotefile.over(base);
        let arch = self.architectures.first().cloned();
        for r in &mut self.repos {
            if r.usage == 0 {
                r.usage = USAGE_ALL;
            }
            r.siglevel.level = r.siglevel.over(base);
            for url in r.cache_servers.iter_mut().chain(r.servers.iter_mut()) {
                *url = match &arch {
                    Some(arch) => url.replace("$arch", arch).replace("$repo", &r.name),
                    // pacman-conf's error: `$arch` with no Architecture.
                    None if url.contains("$arch") => return None,
                    None => url.replace("$repo", &r.name),
                };
            }
        }
        Some(())
    }

    /// pacman's `prepend_sysroot`: the paths, and `file://` servers.
    fn prepend_sysroot(&mut self, sysroot: &str) {
        let under = |p: &mut String| *p = prepend_dir(Some(sysroot), p);
        for p in [
            &mut self.rootdir,
            &mut self.dbpath,
            &mut self.logfile,
            &mut self.gpgdir,
        ]
        .into_iter()
        .flatten()
        {
            under(p);
        }
        self.cachedirs.iter_mut().for_each(under);
        self.hookdirs.iter_mut().for_each(under);
        for r in &mut self.repos {
            for url in &mut r.servers {
                if let Some(dir) = url.strip_prefix("file://") {
                    *url = format!("file://{}", prepend_dir(Some(sysroot), dir));
                }
            }
        }
    }

    /// pacman-conf's `dump_config`.
    fn render(&self) -> String {
        let mut out = Dump(String::from("[options]\n"));
        out.value("RootDir", &self.rootdir);
        out.value("DBPath", &self.dbpath);
        out.list("CacheDir", &self.cachedirs);
        out.list("HookDir", &self.hookdirs);
        out.value("GPGDir", &self.gpgdir);
        out.value("LogFile", &self.logfile);
        out.value("DownloadUser", &self.download_user);
        out.list("HoldPkg", &self.hold_pkg);
        out.list("IgnorePkg", &self.ignore_pkg);
        out.list("IgnoreGroup", &self.ignore_group);
        out.list("NoUpgrade", &self.no_upgrade);
        out.list("NoExtract", &self.no_extract);
        out.list("Architecture", &self.architectures);
        out.value("XferCommand", &self.xfer_command);
        for (name, on) in [
            ("UseSyslog", self.use_syslog),
            ("Color", self.color),
            ("CheckSpace", self.check_space),
            ("VerbosePkgLists", self.verbose_pkg_lists),
            ("DisableDownloadTimeout", self.disable_download_timeout),
            ("ILoveCandy", self.i_love_candy),
            ("NoProgressBar", self.no_progress_bar),
            ("DisableSandboxFilesystem", self.disable_sandbox_filesystem),
            ("DisableSandboxSyscalls", self.disable_sandbox_syscalls),
        ] {
            if on {
                out.0.push_str(name);
                out.0.push('\n');
            }
        }
        out.line("ParallelDownloads", &self.parallel_downloads.to_string());
        if self.clean_method & 1 != 0 {
            out.line("CleanMethod", "KeepInstalled");
        }
        if self.clean_method & 2 != 0 {
            out.line("CleanMethod", "KeepCurrent");
        }
        out.siglevel("SigLevel", self.siglevel.level, false);
        out.siglevel("LocalFileSigLevel", self.localfile.level, true);
        out.siglevel("RemoteFileSigLevel", self.remotefile.level, true);
        for r in &self.repos {
            out.0.push_str(&format!("[{}]\n", r.name));
            if r.usage == USAGE_ALL {
                out.line("Usage", "All");
            } else {
                for (bit, name) in [(1, "Sync"), (2, "Search"), (4, "Install"), (8, "Upgrade")] {
                    if r.usage & bit != 0 {
                        out.line("Usage", name);
                    }
                }
            }
            out.siglevel("SigLevel", r.siglevel.level, false);
            out.list("CacheServer", &r.cache_servers);
            out.list("Server", &r.servers);
        }
        out.0
    }
}

impl RepoSection {
    /// pacman's `_parse_repo`.
    fn directive(&mut self, key: &str, value: Option<&str>) -> Option<()> {
        // Each of them needs a value; pacman-conf reports one without.
        let v = value?;
        match key {
            "CacheServer" => self.cache_servers.push(v.to_owned()),
            "Server" => self.servers.push(v.to_owned()),
            "SigLevel" => self.siglevel.apply(words(v))?,
            "Usage" => {
                for w in words(v) {
                    self.usage |= match w {
                        "Sync" => 1,
                        "Search" => 2,
                        "Install" => 4,
                        "Upgrade" => 8,
                        "All" => USAGE_ALL,
                        _ => return None,
                    };
                }
            }
            _ => return None,
        }
        Some(())
    }
}

/// pacman-conf's output, line by line.
struct Dump(String);

impl Dump {
    fn line(&mut self, key: &str, value: &str) {
        self.0.push_str(key);
        self.0.push_str(" = ");
        self.0.push_str(value);
        self.0.push('\n');
    }

    fn value(&mut self, key: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.line(key, v);
        }
    }

    fn list(&mut self, key: &str, values: &[String]) {
        values.iter().for_each(|v| self.line(key, v));
    }

    /// pacman-conf's `show_siglevel`.
    fn siglevel(&mut self, key: &str, level: u32, package_only: bool) {
        if level == SIG_USE_DEFAULT {
            return;
        }
        let mut part = |on: u32, optional: u32, trust: u32, what: &str| {
            if level & on != 0 {
                let need = if level & optional != 0 {
                    "Optional"
                } else {
                    "Required"
                };
                self.line(key, &format!("{what}{need}"));
                let trust = if level & trust != 0 {
                    "TrustAll"
                } else {
                    "TrustedOnly"
                };
                self.line(key, &format!("{what}{trust}"));
            } else {
                self.line(key, &format!("{what}Never"));
            }
        };
        part(
            SIG_PACKAGE,
            SIG_PACKAGE_OPTIONAL,
            SIG_PACKAGE_UNKNOWN_OK,
            "Package",
        );
        if !package_only {
            part(
                SIG_DATABASE,
                SIG_DATABASE_OPTIONAL,
                SIG_DATABASE_UNKNOWN_OK,
                "Database",
            );
        }
    }
}

/// pacman's `strtrim`: the C locale's white space, both ends.
fn trim(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r'))
}

/// pacman's `setrepeatingoption`: words split at spaces (not tabs).
fn words(v: &str) -> impl Iterator<Item = &str> {
    v.split(' ').filter(|w| !w.is_empty())
}

/// pacman's `resolve_path` (realpath(3)); `None` when it fails, which
/// pacman-conf reports.
fn realpath(path: &str) -> Option<String> {
    std::fs::canonicalize(path)
        .ok()?
        .into_os_string()
        .into_string()
        .ok()
}

/// pacman's `prepend_dir`.
fn prepend_dir(dir: Option<&str>, path: &str) -> String {
    match dir {
        None => path.to_owned(),
        Some(dir) => {
            let sep = if dir.ends_with('/') { "" } else { "/" };
            format!("{dir}{sep}{}", path.trim_start_matches('/'))
        }
    }
}

/// pacman's `escape_glob_pattern`.
fn escape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '?' | '[') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// glob(3) with `GLOB_NOCHECK`, as pacman calls it; `None` when glob fails
/// or a match is not UTF-8.
fn glob(pattern: &str) -> Option<Vec<String>> {
    let c = CString::new(pattern).ok()?;
    // SAFETY: glob_t is plain data that glob(3) fills; it is zeroed as C
    // callers do, read only up to gl_pathc, and freed once.
    unsafe {
        let mut g: libc::glob_t = std::mem::zeroed();
        let ret = libc::glob(c.as_ptr(), libc::GLOB_NOCHECK, None, &mut g);
        let paths = (ret == 0).then(|| {
            (0..g.gl_pathc)
                .map(|i| {
                    CStr::from_ptr(*g.gl_pathv.add(i))
                        .to_str()
                        .ok()
                        .map(str::to_owned)
                })
                .collect::<Option<Vec<_>>>()
        });
        libc::globfree(&mut g);
        paths.flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siglevels_merge_like_pacman_s() {
        let mut repo = Level::use_default();
        repo.apply(["PackageOptional", "TrustAll"].into_iter())
            .unwrap();
        let base = SIG_PACKAGE | SIG_DATABASE;
        let merged = repo.over(base);
        assert_eq!(
            merged,
            SIG_PACKAGE
                | SIG_PACKAGE_OPTIONAL
                | SIG_PACKAGE_MARGINAL_OK
                | SIG_PACKAGE_UNKNOWN_OK
                | SIG_DATABASE
                | SIG_DATABASE_MARGINAL_OK
                | SIG_DATABASE_UNKNOWN_OK
        );
        assert!(Level::use_default()
            .apply(["Sometimes"].into_iter())
            .is_none());
        assert_eq!(Level::use_default().over(base), SIG_USE_DEFAULT);
    }

    #[test]
    fn paths_join_like_pacman_s() {
        assert_eq!(prepend_dir(Some("/sys/"), "//etc/x"), "/sys/etc/x");
        assert_eq!(prepend_dir(Some("/sys"), "etc"), "/sys/etc");
        assert_eq!(prepend_dir(None, "/etc"), "/etc");
        assert_eq!(escape_glob("/a*b?[c\\"), "/a\\*b\\?\\[c\\\\");
        assert_eq!(trim("\u{b} a = b\r\n"), "a = b");
        assert_eq!(words("a  b\tc ").collect::<Vec<_>>(), ["a", "b\tc"]);
    }
}
