//! The sandbox: a temp dir with repositories (packages made by [`Pkg`], a db
//! made by the real `repo-add`), mirrors serving them on 127.0.0.1, one
//! pacman.conf, and any number of independent roots using them, so that pactor
//! and the reference pacman play the same scenario side by side.
//!
//! ```text
//! given  let sb = Sandbox::builder().mirrors(&[Fault::Dead, Fault::None]).repo("demo", set).build();
//!        let (a, b) = (sb.root("pactor"), sb.root("pacman"));
//! when   let out = a.pactor(mode).args(["-Sy", "--noconfirm", "hello"]).run();
//! then   out.code, out.stdout, a.local() …
//! ```

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::bins;
use super::localdb::{self, LocalPkg};
use super::mirror::{Fault, Mirror};
use super::pkg::Pkg;
use super::run::{Mode, Run};

pub struct SandboxBuilder {
    torrents: bool,
    mirrors: Vec<Fault>,
    repos: Vec<(String, Vec<Pkg>)>,
    extra_options: Vec<String>,
}

impl SandboxBuilder {
    /// Mirrors in `Server =` order (default: one healthy mirror).
    pub fn mirrors(mut self, faults: &[Fault]) -> Self {
        self.mirrors = faults.to_vec();
        self
    }
    pub fn repo(mut self, name: &str, pkgs: &[Pkg]) -> Self {
        self.repos.push((name.to_owned(), pkgs.to_vec()));
        self
    }
    /// Publish a `.torrent` beside every package (pactor-mktorrent, every
    /// mirror as a webseed, no tracker), as a mirror running it would.
    pub fn torrents(mut self) -> Self {
        self.torrents = true;
        self
    }
    /// A line for `[options]` in pacman.conf.
    pub fn option(mut self, line: &str) -> Self {
        self.extra_options.push(line.to_owned());
        self
    }
    pub fn build(self) -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("pactor-it-")
            .tempdir()
            .expect("temp dir");
        // Readable by anyone: the reference tools may drop privileges.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let serve = dir.path().join("mirror");
        fs::create_dir_all(&serve).unwrap();
        let mirrors: Vec<Mirror> = self
            .mirrors
            .iter()
            .map(|f| Mirror::start(&serve, *f))
            .collect();
        let mut sb = Sandbox {
            dir,
            serve,
            mirrors,
            repos: vec![],
            extra_options: self.extra_options,
            torrents: self.torrents,
            last_db_stamp: std::cell::Cell::new(std::time::UNIX_EPOCH),
        };
        for (name, pkgs) in &self.repos {
            sb.repos.push(name.clone());
            fs::create_dir_all(sb.repo_dir(name)).unwrap();
            sb.add_packages(name, pkgs);
        }
        sb.write_conf(&sb.conf_path(), "");
        if sb.torrents {
            sb.write_pactor_conf(SWARM_FOR_ALL);
        }
        sb
    }
}

/// pactor.conf's `[options]` of a sandbox with torrents: the test packages
/// are far below the default `TorrentMinSize`, and what these sandboxes test
/// is the swarm.
pub const SWARM_FOR_ALL: &str = "TorrentMinSize = 0\n";

pub struct Sandbox {
    dir: tempfile::TempDir,
    serve: PathBuf,
    pub mirrors: Vec<Mirror>,
    repos: Vec<String>,
    extra_options: Vec<String>,
    torrents: bool,
    /// mtime given to the last database written (see `add_packages`).
    last_db_stamp: std::cell::Cell<std::time::SystemTime>,
}

impl Sandbox {
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder {
            torrents: false,
            mirrors: vec![Fault::None],
            repos: vec![],
            extra_options: vec![],
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `<mirror root>/<repo>/os/<arch>`, what every mirror serves.
    pub fn repo_dir(&self, repo: &str) -> PathBuf {
        self.serve.join(repo).join("os").join(arch())
    }

    /// Build `pkgs` into the repository and (re)run repo-add on them.
    pub fn add_packages(&self, repo: &str, pkgs: &[Pkg]) {
        self.repo_add(repo, pkgs);
        if self.torrents {
            self.make_torrents();
        }
        // pacman syncs with If-Modified-Since at one-second resolution: a db
        // rewritten within the second of the last sync would look unchanged.
        let dir = self.repo_dir(repo);
        let stamp = std::time::SystemTime::now()
            .max(self.last_db_stamp.get() + std::time::Duration::from_secs(1));
        self.last_db_stamp.set(stamp);
        for f in [format!("{repo}.db.tar.gz"), format!("{repo}.files.tar.gz")] {
            if let Ok(file) = fs::File::options().write(true).open(dir.join(f)) {
                file.set_modified(stamp).unwrap();
            }
        }
    }

    /// Run pactor-mktorrent over the mirror tree (no host config, no tracker).
    fn make_torrents(&self) {
        let empty = self.path().join("mktorrent.conf");
        fs::write(&empty, "").unwrap();
        let mut cmd = Command::new(bins::pactor_mktorrent());
        cmd.env_clear()
            .env("LC_ALL", "C")
            .arg("--config")
            .arg(&empty)
            .arg("--quiet");
        for m in &self.mirrors {
            cmd.arg("--webseed").arg(m.server_line());
        }
        let out = cmd.arg(&self.serve).output().expect("run pactor-mktorrent");
        assert!(
            out.status.success(),
            "pactor-mktorrent failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `.torrent` files published beside the packages of `repo`.
    pub fn published_torrents(&self, repo: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.repo_dir(repo))
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".torrent"))
            .collect();
        v.sort();
        v
    }

    fn repo_add(&self, repo: &str, pkgs: &[Pkg]) {
        let dir = self.repo_dir(repo);
        let files: Vec<PathBuf> = pkgs.iter().map(|p| p.build_to(&dir)).collect();
        if files.is_empty() {
            // An empty repo still needs a database.
            let out = Command::new(bins::repo_add())
                .arg("-q")
                .arg(dir.join(format!("{repo}.db.tar.gz")))
                .output()
                .expect("repo-add");
            assert!(
                out.status.success(),
                "repo-add: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        let out = Command::new(bins::repo_add())
            .arg("-q")
            .arg(dir.join(format!("{repo}.db.tar.gz")))
            .args(&files)
            .output()
            .expect("repo-add");
        assert!(
            out.status.success(),
            "repo-add failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// pactor.conf beside pacman.conf: `[options]` lines.
    pub fn write_pactor_conf(&self, options: &str) {
        fs::write(
            self.path().join("pactor.conf"),
            format!("[options]\n{options}"),
        )
        .unwrap();
    }

    /// pacman.conf with every mirror, in order, for every repository.
    fn write_conf(&self, path: &Path, extra: &str) {
        let servers: Vec<String> = self.mirrors.iter().map(Mirror::server_line).collect();
        self.write_conf_for(path, extra, &servers);
    }

    /// A pacman.conf named `name` whose repositories have `servers` (`Server`
    /// values, `$repo` and `$arch` left for pactor) instead of the sandbox's
    /// mirrors.
    pub fn conf_with_servers(&self, name: &str, servers: &[String]) -> PathBuf {
        let p = self.path().join(name);
        self.write_conf_for(&p, "", servers);
        p
    }

    fn write_conf_for(&self, path: &Path, extra: &str, servers: &[String]) {
        let mut c = String::from("# pactor integration test sandbox\n[options]\nArchitecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n");
        for o in &self.extra_options {
            c.push_str(o);
            c.push('\n');
        }
        c.push_str(extra);
        for r in &self.repos {
            c.push_str(&format!("\n[{r}]\n"));
            for server in servers {
                c.push_str(&format!("Server = {server}\n"));
            }
        }
        fs::write(path, c).unwrap();
    }

    /// Body bytes all mirrors served for paths ending in `suffix`.
    pub fn served(&self, suffix: &str) -> u64 {
        self.mirrors.iter().map(|m| m.bytes_served(suffix)).sum()
    }

    /// [`Sandbox::served`] once the mirrors' books are closed: a request is
    /// logged when its server thread ends, which for a connection the client
    /// dropped can be a moment later. Waits until the count holds still for
    /// a second (at most 15 s).
    pub fn served_in_the_end(&self, suffix: &str) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        let mut last = self.served(suffix);
        while std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let now = self.served(suffix);
            if now == last {
                break;
            }
            last = now;
        }
        last
    }

    pub fn conf_path(&self) -> PathBuf {
        self.path().join("pacman.conf")
    }

    /// A variant of pacman.conf with `extra` appended to `[options]`.
    pub fn conf_with(&self, name: &str, extra: &str) -> PathBuf {
        let p = self.path().join(name);
        self.write_conf(&p, extra);
        p
    }

    /// A fresh, empty root named `name` (its own root dir, db, cache, log).
    pub fn root(&self, name: &str) -> Root {
        let base = self.path().join(name);
        assert!(!base.exists(), "root {name} exists already");
        let r = Root {
            base,
            conf: self.conf_path(),
        };
        for d in [
            r.rootdir(),
            r.dbpath(),
            r.cachedir(),
            r.hookdir(),
            r.gpgdir(),
        ] {
            fs::create_dir_all(d).unwrap();
        }
        r
    }
}

/// The machine architecture, as pacman's `Architecture = auto` sees it.
pub fn arch() -> String {
    let out = Command::new("uname").arg("-m").output().expect("uname");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// One installation target: a root dir with its own db, cache and log.
#[derive(Clone, Debug)]
pub struct Root {
    pub base: PathBuf,
    pub conf: PathBuf,
}

impl Root {
    pub fn rootdir(&self) -> PathBuf {
        self.base.join("root")
    }
    pub fn dbpath(&self) -> PathBuf {
        self.base.join("root/var/lib/pacman")
    }
    pub fn cachedir(&self) -> PathBuf {
        self.base.join("cache")
    }
    pub fn hookdir(&self) -> PathBuf {
        self.base.join("hooks")
    }
    pub fn gpgdir(&self) -> PathBuf {
        self.base.join("gnupg")
    }
    /// pactor's state directory for this root: `pactor` beside the db dir.
    pub fn statedir(&self) -> PathBuf {
        self.base.join("root/var/lib/pactor")
    }
    /// Bytes written so far into pactor's download directory (package
    /// files and their `.part`s, the swarm's included): the partial files
    /// are sparse, so their allocated blocks tell how far a download got.
    pub fn written(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        walkdir::WalkDir::new(self.statedir().join("partial"))
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.ends_with(".pkg.tar.zst") || name.ends_with(".pkg.tar.zst.part")
            })
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.blocks() * 512)
            .sum()
    }
    pub fn logfile(&self) -> PathBuf {
        self.base.join("pacman.log")
    }

    /// Use another pacman.conf for this root (e.g. a broken one).
    pub fn with_conf(mut self, conf: PathBuf) -> Self {
        self.conf = conf;
        self
    }

    /// The path options pactest passes too, before the operation.
    pub fn path_args(&self) -> Vec<String> {
        let p = |s: &str, p: PathBuf| [s.to_owned(), p.display().to_string()];
        [
            p("--config", self.conf.clone()),
            p("--root", self.rootdir()),
            p("--dbpath", self.dbpath()),
            p("--cachedir", self.cachedir()),
            p("--hookdir", self.hookdir()),
            p("--gpgdir", self.gpgdir()),
            p("--logfile", self.logfile()),
        ]
        .concat()
    }

    /// The binary under test on this root.
    pub fn pactor(&self, mode: Mode) -> Run {
        Run::new(bins::pactor(), self.clone(), mode)
    }

    /// The reference pacman on this root (never with `-x`).
    pub fn pacman(&self) -> Run {
        Run::new(bins::pacman(), self.clone(), Mode::Plain)
    }

    /// Installed packages, from `<dbpath>/local/*/desc`.
    pub fn local(&self) -> Vec<LocalPkg> {
        localdb::read(&self.dbpath())
    }

    /// `name version reason` per installed package, sorted, for comparisons.
    pub fn local_summary(&self) -> Vec<String> {
        self.local()
            .iter()
            .map(|p| {
                format!(
                    "{} {} {}",
                    p.name,
                    p.version,
                    if p.explicit { "explicit" } else { "dependency" }
                )
            })
            .collect()
    }

    /// Files in the cache dir (names only, sorted).
    pub fn cached(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.cachedir())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Sync the databases with the reference pacman (a "given" step).
    pub fn given_synced(&self) {
        let out = self.pacman().args(["-Sy"]).run();
        assert_eq!(
            out.code, 0,
            "given: reference pacman could not sync:\n{out}"
        );
    }

    /// Install `targets` with the reference pacman (a "given" step).
    pub fn given_installed(&self, targets: &[&str]) {
        let mut args = vec!["-Sy", "--noconfirm"];
        args.extend_from_slice(targets);
        let out = self.pacman().args(args).run();
        assert_eq!(
            out.code, 0,
            "given: reference pacman could not install {targets:?}:\n{out}"
        );
    }
}
