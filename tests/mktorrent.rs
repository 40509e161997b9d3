//! pactor-mktorrent end to end: the built binary on trees made in temp
//! directories, checked with real BitTorrent tools (transmission-show,
//! aria2c, Debian's mktorrent, qbittorrent-nox) and a local nginx.
//!
//! Every server these tests start listens on 127.0.0.1, runs under
//! `timeout` so that it stops by itself, and is killed by PID when the test
//! ends. Set PACTOR_BLESS=1 to rewrite the checked-in man page and
//! completions from the clap definition.

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use pactor_fetch::torrent::{self, Metainfo};
use tempfile::TempDir;

#[path = "it/support/nginx.rs"]
mod nginx_conf;

const BIN: &str = env!("CARGO_BIN_EXE_pactor-mktorrent");

// ---- support -------------------------------------------------------------

/// Deterministic pseudo-random bytes (xorshift), so sizes and contents are
/// fixed without a dependency.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A small Arch-like mirror:
/// core/os/x86_64/{bash (real), zlib (link into pool), *.sig}
/// extra/os/x86_64/{vim (real), zlib (link)}, pool/packages/zlib (real).
struct Mirror {
    _dir: TempDir,
    root: PathBuf,
}

const BASH: &str = "core/os/x86_64/bash-5.2.037-1-x86_64.pkg.tar.zst";
const ZLIB_CORE: &str = "core/os/x86_64/zlib-1:1.3.1-2-x86_64.pkg.tar.zst";
const ZLIB_EXTRA: &str = "extra/os/x86_64/zlib-1:1.3.1-2-x86_64.pkg.tar.zst";
const ZLIB_POOL: &str = "pool/packages/zlib-1:1.3.1-2-x86_64.pkg.tar.zst";
const VIM: &str = "extra/os/x86_64/vim-9.1.0-1-x86_64.pkg.tar.xz";

impl Mirror {
    fn new() -> Mirror {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mirror");
        for d in ["core/os/x86_64", "extra/os/x86_64", "pool/packages"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join(BASH), bytes(1, 1_900_000)).unwrap();
        fs::write(root.join(format!("{BASH}.sig")), b"sig").unwrap();
        fs::write(root.join(ZLIB_POOL), bytes(2, 150_000)).unwrap();
        symlink(
            "../../../pool/packages/zlib-1:1.3.1-2-x86_64.pkg.tar.zst",
            root.join(ZLIB_CORE),
        )
        .unwrap();
        symlink(
            "../../../pool/packages/zlib-1:1.3.1-2-x86_64.pkg.tar.zst",
            root.join(ZLIB_EXTRA),
        )
        .unwrap();
        fs::write(root.join(VIM), bytes(3, 70_000_000 / 10)).unwrap();
        fs::write(root.join("core/os/x86_64/core.db.tar.gz"), b"db").unwrap();
        Mirror { _dir: dir, root }
    }

    fn packages(&self) -> [&'static str; 5] {
        [BASH, ZLIB_CORE, ZLIB_EXTRA, ZLIB_POOL, VIM]
    }
}

fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let mut c = Command::new(BIN);
    c.env_clear().env("LC_ALL", "C");
    for a in args {
        c.arg(a);
    }
    c.output().unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[track_caller]
fn ok(o: &Output) -> (String, String) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    (text(&o.stdout), text(&o.stderr))
}

fn torrent_of(dir: &Path, rel: &str) -> Metainfo {
    Metainfo::from_file(&dir.join(format!("{rel}.torrent"))).unwrap()
}

/// (inode, mtime_ns, bytes) of every file under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i128, Vec<u8>)> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let md = e.metadata().unwrap();
            let mtime = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
            out.insert(
                e.path().to_owned(),
                (md.ino(), mtime, fs::read(e.path()).unwrap()),
            );
        }
    }
    out
}

fn need(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    assert!(found, "{tool} is not installed: run ./setup.sh deps");
}

/// A free port below Linux's ephemeral range (32768+), so that polling it
/// before the server is up cannot connect a socket to itself (TCP
/// simultaneous open), which would also keep the server from binding it.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 1000) as u16 * 12;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 12_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
}

fn sha256(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    text(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A child process that is killed (by its PID) when dropped. Started
/// under `timeout` so that it stops by itself even if the test is killed.
struct Server(Child);

impl Server {
    fn start(secs: u32, program: &str, args: &[&str], log: &Path) -> Server {
        let log = fs::File::create(log).unwrap();
        let child = Command::new("timeout")
            .arg(secs.to_string())
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Server(child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // `timeout` passes SIGTERM on to the server it runs.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let up = || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok_and(|c| c.local_addr().ok() != c.peer_addr().ok())
    };
    while !up() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        sleep(Duration::from_millis(50));
    }
}

/// nginx serving `root` on 127.0.0.1:`port`, for at most two minutes.
fn nginx(root: &Path, work: &Path, port: u16) -> Server {
    need("nginx");
    fs::create_dir_all(work).unwrap();
    let w = work.display();
    let conf = nginx_conf::conf(work, &format!("127.0.0.1:{port}"), root, "");
    fs::write(work.join("nginx.conf"), conf).unwrap();
    let conf = work.join("nginx.conf");
    let s = Server::start(
        120,
        "nginx",
        &["-p", &w.to_string(), "-c", conf.to_str().unwrap()],
        &work.join("stdout.log"),
    );
    wait_for_port(port, 10);
    s
}

// ---- the tree walk and the torrents --------------------------------------

#[test]
fn makes_one_torrent_per_package_including_symlinked_ones() {
    let m = Mirror::new();
    let (stdout, stderr) = ok(&run(&[&m.root]));
    assert_eq!(stderr, "");
    assert!(
        stdout.contains(":: 5 packages: 5 torrents created, 0 updated, 0 unchanged, 0 removed"),
        "{stdout}"
    );
    for rel in m.packages() {
        let t = torrent_of(&m.root, rel);
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let size = fs::metadata(m.root.join(rel)).unwrap().len();
        torrent::validate_for_package(&t, name, size).unwrap();
    }
    // A symlinked package has the same torrent info as its target.
    assert_eq!(
        torrent_of(&m.root, ZLIB_CORE).info_hash(),
        torrent_of(&m.root, ZLIB_POOL).info_hash()
    );
    // Nothing for signatures or the database.
    assert!(!m.root.join(format!("{BASH}.sig.torrent")).exists());
    assert!(!m
        .root
        .join("core/os/x86_64/core.db.tar.gz.torrent")
        .exists());
}

#[test]
fn dangling_links_and_loops_are_warnings_not_crashes() {
    let m = Mirror::new();
    let x = m.root.join("extra/os/x86_64");
    symlink(
        "gone-1-1-any.pkg.tar.zst.target",
        x.join("gone-1-1-any.pkg.tar.zst"),
    )
    .unwrap();
    symlink("..", x.join("up")).unwrap(); // extra/os/x86_64/up -> extra/os
    symlink("b-link", x.join("a-link")).unwrap(); // a -> b -> a
    symlink("a-link", x.join("b-link")).unwrap();
    let o = run(&[&m.root]);
    let (stdout, stderr) = ok(&o);
    assert!(
        stdout.contains(":: 5 packages: 5 torrents created"),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: skipping dangling symlink '{}'",
            x.join("gone-1-1-any.pkg.tar.zst").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: skipping symlink loop at '{}'",
            x.join("up").display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "warning: skipping symlink loop at '{}'",
            x.join("a-link").display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("error"), "{stderr}");
}

#[test]
fn out_dir_keeps_the_tree_layout_and_leaves_the_tree_alone() {
    let m = Mirror::new();
    let out = m.root.parent().unwrap().join("torrents");
    let before = snapshot(&m.root);
    ok(&run(&[&"--out", &out, &m.root]));
    assert_eq!(snapshot(&m.root), before, "the tree was written to");
    for rel in m.packages() {
        assert!(out.join(format!("{rel}.torrent")).is_file(), "{rel}");
    }
}

#[test]
fn deterministic_infohash_across_operators_and_against_mktorrent() {
    // Two operators, different paths, different mtimes, different mirrors.
    let a = Mirror::new();
    let b = Mirror::new();
    let later = filetime_touch(&b.root.join(BASH));
    assert!(later);
    ok(&run(&[
        &"-w",
        &"http://127.0.0.1:1/$repo/os/$arch",
        &a.root,
    ]));
    ok(&run(&[
        &"-w",
        &"http://127.0.0.2:2/arch",
        &"-t",
        &"udp://127.0.0.1:3",
        &b.root,
    ]));
    for rel in a.packages() {
        let ta = torrent_of(&a.root, rel);
        let tb = torrent_of(&b.root, rel);
        assert_eq!(ta.info_hash(), tb.info_hash(), "{rel}");
        assert_eq!(ta.info_bytes(), tb.info_bytes());
        assert_ne!(ta.url_list, tb.url_list);
        let raw = String::from_utf8_lossy(ta.info_bytes()).into_owned();
        for word in ["creation date", "created by", "comment"] {
            assert!(!raw.contains(word), "{word} in the info dict");
        }
        let whole = fs::read(a.root.join(format!("{rel}.torrent"))).unwrap();
        assert!(!String::from_utf8_lossy(&whole).contains("creation date"));
    }
    // Debian's mktorrent with our piece length and no date: same infohash.
    need("mktorrent");
    let tmp = tempfile::tempdir().unwrap();
    for rel in [BASH, VIM, ZLIB_POOL] {
        let path = a.root.join(rel);
        let size = fs::metadata(&path).unwrap().len();
        let exp = torrent::piece_length_for(size).trailing_zeros().to_string();
        let out = tmp.path().join("ref.torrent");
        let _ = fs::remove_file(&out);
        let o = Command::new("mktorrent")
            .args(["-d", "-l", &exp, "-o"])
            .arg(&out)
            .arg(&path)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert_eq!(
            Metainfo::from_file(&out).unwrap().info_hash(),
            torrent_of(&a.root, rel).info_hash(),
            "{rel}"
        );
    }
}

/// Sets a file's mtime one hour back (content unchanged).
fn filetime_touch(path: &Path) -> bool {
    Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(path)
        .status()
        .unwrap()
        .success()
}

#[test]
fn rerun_on_an_unchanged_tree_writes_nothing() {
    let m = Mirror::new();
    let args: [&dyn AsRef<std::ffi::OsStr>; 5] = [
        &"-w",
        &"http://127.0.0.1:8/$repo/os/$arch",
        &"-t",
        &"http://127.0.0.1:9/announce",
        &m.root,
    ];
    ok(&run(&args));
    let before = snapshot(&m.root);
    let (stdout, _) = ok(&run(&args));
    assert!(
        stdout.contains(":: 5 packages: 0 torrents created, 0 updated, 5 unchanged, 0 removed"),
        "{stdout}"
    );
    assert_eq!(snapshot(&m.root), before, "something was rewritten");
}

#[test]
fn changed_packages_get_new_torrents_and_touched_ones_do_not() {
    let m = Mirror::new();
    ok(&run(&[&m.root]));
    let old = torrent_of(&m.root, BASH).info_hash();
    let vim_before = snapshot(&m.root.join("extra/os/x86_64"));

    // New content, same size: only a rehash can notice.
    fs::write(m.root.join(BASH), bytes(99, 1_900_000)).unwrap();
    // Same content, new mtime: rehashed, torrent bytes identical.
    assert!(filetime_touch(&m.root.join(VIM)));
    let (stdout, _) = ok(&run(&[&"-v", &m.root]));
    assert!(
        stdout.contains(&format!(
            "updated {}",
            m.root.join(format!("{BASH}.torrent")).display()
        )),
        "{stdout}"
    );
    assert!(stdout.contains("1 updated, 4 unchanged"), "{stdout}");
    assert_ne!(torrent_of(&m.root, BASH).info_hash(), old);
    let vim_t = m.root.join(format!("{VIM}.torrent"));
    assert_eq!(
        snapshot(&m.root.join("extra/os/x86_64"))[&vim_t],
        vim_before[&vim_t],
        "touched package's torrent was rewritten"
    );

    // New options: torrents rewritten, nothing rehashed needed but bytes change.
    let (stdout, _) = ok(&run(&[&"-w", &"http://127.0.0.1:7/", &m.root]));
    assert!(stdout.contains("0 torrents created, 5 updated"), "{stdout}");
}

#[test]
fn prune_removes_torrents_of_deleted_packages_and_dry_run_only_tells() {
    let m = Mirror::new();
    ok(&run(&[&m.root]));
    fs::remove_file(m.root.join(VIM)).unwrap();
    let vim_t = m.root.join(format!("{VIM}.torrent"));
    let new = "core/os/x86_64/new-1-1-any.pkg.tar.zst";
    fs::write(m.root.join(new), bytes(5, 1000)).unwrap();

    let before = snapshot(&m.root);
    let (stdout, _) = ok(&run(&[&"--dry-run", &m.root]));
    assert!(
        stdout.contains(&format!("would remove {}", vim_t.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "would create {}.torrent",
            m.root.join(new).display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            ":: dry run: 5 packages: 1 torrent would be created, 0 updated, 4 unchanged, 1 removed"
        ),
        "{stdout}"
    );
    assert_eq!(snapshot(&m.root), before, "dry run changed files");

    let (stdout, _) = ok(&run(&[&"--no-prune", &m.root]));
    assert!(stdout.contains("0 removed"), "{stdout}");
    assert!(vim_t.exists());

    let (stdout, _) = ok(&run(&[&m.root]));
    assert!(stdout.contains("1 removed"), "{stdout}");
    assert!(!vim_t.exists());
}

#[test]
fn prune_keeps_torrents_of_dangling_links_and_cleans_the_out_dir() {
    let m = Mirror::new();
    let out = m.root.parent().unwrap().join("out");
    ok(&run(&[&"-o", &out, &m.root]));
    // The pool file vanishes: its links dangle, the pool torrent goes.
    fs::remove_file(m.root.join(ZLIB_POOL)).unwrap();
    fs::remove_dir(m.root.join("pool/packages")).unwrap();
    let (stdout, stderr) = ok(&run(&[&"-o", &out, &m.root]));
    assert!(stdout.contains("1 removed"), "{stdout}");
    assert!(stderr.contains("dangling symlink"), "{stderr}");
    assert!(out.join(format!("{ZLIB_CORE}.torrent")).exists());
    assert!(!out.join(format!("{ZLIB_POOL}.torrent")).exists());
    // Emptied output directories go too.
    assert!(!out.join("pool").exists());
}

#[test]
fn config_file_supplies_options() {
    let m = Mirror::new();
    let conf = m.root.parent().unwrap().join("mk.conf");
    let out = m.root.parent().unwrap().join("out");
    fs::write(
        &conf,
        format!(
            "[options]\nWebseed = http://127.0.0.1:5/$repo/os/$arch\nTracker = http://127.0.0.1:6/announce\n\
             DHTNode = 127.0.0.1:6881\nOut = {}\n",
            out.display()
        ),
    )
    .unwrap();
    ok(&run(&[&"--config", &conf, &m.root]));
    let t = torrent_of(&out, BASH);
    assert_eq!(t.url_list, ["http://127.0.0.1:5/core/os/x86_64/"]);
    assert_eq!(t.announce.as_deref(), Some("http://127.0.0.1:6/announce"));
    assert_eq!(t.nodes, [("127.0.0.1".to_owned(), 6881)]);
    // The pool is outside $repo/os/$arch: no webseed from that template.
    assert!(torrent_of(&out, ZLIB_POOL).url_list.is_empty());

    // The command line replaces the file's list.
    ok(&run(&[
        &"--config",
        &conf,
        &"-w",
        &"http://127.0.0.1:4/arch",
        &m.root,
    ]));
    assert_eq!(
        torrent_of(&out, ZLIB_POOL).url_list,
        ["http://127.0.0.1:4/arch/pool/packages/"]
    );
}

#[test]
fn errors_are_pacman_style_lines_with_exit_1() {
    let m = Mirror::new();
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec!["/nonexistent/tree".into()],
            "error: could not open directory '/nonexistent/tree': No such file or directory\n"
                .into(),
        ),
        (
            vec![m.root.join(BASH).display().to_string()],
            format!(
                "error: could not open directory '{}': Not a directory\n",
                m.root.join(BASH).display()
            ),
        ),
        (
            vec![
                "-w".into(),
                "mirror/$repo".into(),
                m.root.display().to_string(),
            ],
            "error: invalid webseed 'mirror/$repo': relative URL without a base\n".into(),
        ),
        (
            vec![
                "-t".into(),
                "ftp://127.0.0.1/".into(),
                m.root.display().to_string(),
            ],
            "error: invalid tracker 'ftp://127.0.0.1/': scheme must be http, https, udp or wss\n"
                .into(),
        ),
        (
            vec![
                "-o".into(),
                m.root.join(BASH).join("sub").display().to_string(),
                m.root.display().to_string(),
            ],
            format!(
                "error: output directory '{}' is not writable: Not a directory\n",
                m.root.join(BASH).join("sub").display()
            ),
        ),
        (
            vec![
                "-c".into(),
                "/nonexistent.conf".into(),
                m.root.display().to_string(),
            ],
            "error: config file /nonexistent.conf: No such file or directory\n".into(),
        ),
    ];
    for (args, want) in cases {
        let o = Command::new(BIN).args(&args).env_clear().output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&o.stderr), want, "{args:?}");
        assert_eq!(text(&o.stdout), "", "{args:?}");
    }
    // Usage errors are clap's, also exit 1; --help exits 0.
    let o = Command::new(BIN).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let o = Command::new(BIN).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn unreadable_package_is_an_error_but_the_rest_is_done() {
    // Root reads any file, so use a kernel file that refuses reads to
    // everyone: sysfs write-only attributes (size 4096, open fails).
    let Some(target) = ["/sys/bus/cpu/uevent", "/sys/bus/pci/rescan"]
        .into_iter()
        .find(|p| fs::metadata(p).is_ok() && fs::File::open(p).is_err())
    else {
        eprintln!("skipped: no unreadable sysfs file here");
        return;
    };
    let m = Mirror::new();
    let bad = m.root.join("core/os/x86_64/broken-1-1-any.pkg.tar.zst");
    symlink(target, &bad).unwrap();
    let o = run(&[&m.root]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(
        err.contains(&format!("error: failed to hash {}: ", bad.display())),
        "{err}"
    );
    // The others were still made, and the broken one is not in the summary
    // as created.
    assert!(m.root.join(format!("{BASH}.torrent")).exists());
    assert!(text(&o.stdout).contains(":: 6 packages: 5 torrents created"));
}

// ---- real clients ----------------------------------------------------------

#[test]
fn transmission_and_aria2_read_name_size_and_webseeds() {
    need("transmission-show");
    need("aria2c");
    let m = Mirror::new();
    ok(&run(&[
        &"-w",
        &"http://127.0.0.1:8080/archlinux/$repo/os/$arch",
        &"-w",
        &"https://127.0.0.2/arch",
        &"-t",
        &"http://127.0.0.1:6969/announce",
        &m.root,
    ]));
    for rel in [BASH, ZLIB_CORE, VIM] {
        let t = m.root.join(format!("{rel}.torrent"));
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let size = fs::metadata(m.root.join(rel)).unwrap().len();
        let dir = Path::new(rel).parent().unwrap().display().to_string();
        let repo = dir.split('/').next().unwrap();
        let seed1 = format!("http://127.0.0.1:8080/archlinux/{repo}/os/x86_64/");
        let seed2 = format!("https://127.0.0.2/arch/{dir}/");

        let o = Command::new("transmission-show").arg(&t).output().unwrap();
        let show = text(&o.stdout);
        assert!(o.status.success(), "{show}");
        assert!(show.contains(&format!("Name: {name}")), "{show}");
        assert!(show.contains(&format!("  {seed1}\n")), "{show}");
        assert!(show.contains(&format!("  {seed2}\n")), "{show}");
        assert!(show.contains("http://127.0.0.1:6969/announce"), "{show}");

        let o = Command::new("aria2c")
            .arg("--show-files")
            .arg(&t)
            .output()
            .unwrap();
        let show = text(&o.stdout);
        assert!(o.status.success(), "{show}");
        assert!(show.contains(&format!("Name: {name}")), "{show}");
        assert!(show.contains("Total Length: "), "{show}");
        assert!(
            show.contains(&format!("({})", group_thousands(size))),
            "{show}"
        );
        assert!(show.contains(&format!(" {seed1}\n")), "{show}");
        assert!(show.contains(&format!(" {seed2}\n")), "{show}");
        assert!(show.contains("Mode: single"), "{show}");
    }
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn aria2_downloads_a_package_from_webseeds_alone() {
    need("aria2c");
    let m = Mirror::new();
    let work = m.root.parent().unwrap().to_owned();
    let port = free_port();
    let _nginx = nginx(&m.root, &work.join("nginx"), port);
    let out = work.join("torrents");
    // A tracker that does not exist and no DHT: the webseeds are all there is.
    ok(&run(&[
        &"-o",
        &out,
        &"-w",
        &format!("http://127.0.0.1:{port}/$repo/os/$arch"),
        &m.root,
    ]));
    for rel in [ZLIB_CORE, VIM] {
        let dl = work.join("dl");
        let o = Command::new("timeout")
            .args(["90", "aria2c", "--enable-dht=false", "--enable-dht6=false"])
            .args([
                "--bt-enable-lpd=false",
                "--enable-peer-exchange=false",
                "--seed-time=0",
            ])
            .args([
                "--no-conf",
                "--console-log-level=warn",
                "--summary-interval=0",
            ])
            .args([
                "--follow-torrent=mem",
                "--allow-overwrite=true",
                "--file-allocation=none",
            ])
            .arg(format!("--dir={}", dl.display()))
            .arg(out.join(format!("{rel}.torrent")))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "aria2c: {}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        let name = Path::new(rel).file_name().unwrap();
        assert_eq!(sha256(&dl.join(name)), sha256(&m.root.join(rel)), "{rel}");
    }
    let log = fs::read_to_string(work.join("nginx/access.log")).unwrap();
    assert!(
        log.contains("GET /core/os/x86_64/zlib-1%3A1.3.1-2-x86_64.pkg.tar.zst"),
        "{log}"
    );
    assert!(log.contains(" 206 "), "no range requests: {log}");
}

/// qbittorrent-nox downloads a package from an aria2c seeder it is told about
/// (no tracker, no DHT, no webseeds: the bytes can only come from the peer).
#[test]
fn qbittorrent_downloads_a_package_from_a_seeder() {
    need("aria2c");
    need("qbittorrent-nox");
    need("curl");
    let m = Mirror::new();
    let work = m.root.parent().unwrap().to_owned();
    let out = work.join("torrents");
    ok(&run(&[&"-o", &out, &m.root]));
    let rel = BASH;
    let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
    let torrent = out.join(format!("{rel}.torrent"));

    // Seeder: aria2c with the package already in its directory.
    let seed_port = free_port();
    let seed_dir = m.root.join(Path::new(rel).parent().unwrap());
    let _seeder = Server::start(
        150,
        "aria2c",
        &[
            "--no-conf",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-ratio=0.0",
            "--check-integrity=true",
            "--bt-seed-unverified=false",
            &format!("--listen-port={seed_port}"),
            &format!("--dir={}", seed_dir.display()),
            torrent.to_str().unwrap(),
        ],
        &work.join("aria2-seed.log"),
    );
    wait_for_port(seed_port, 20);

    // Leecher: qbittorrent-nox with a throwaway profile, everything on lo.
    let profile = work.join("qbt");
    let conf_dir = profile.join("qBittorrent/config");
    fs::create_dir_all(&conf_dir).unwrap();
    let web_port = free_port();
    let bt_port = free_port();
    let save = work.join("qbt-dl");
    fs::write(
        conf_dir.join("qBittorrent.conf"),
        format!(
            "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\Port={bt_port}\n\
             Session\\InterfaceAddress=127.0.0.1\n\
             Session\\DHTEnabled=false\nSession\\LSDEnabled=false\nSession\\PeXEnabled=false\n\
             Session\\DefaultSavePath={}\n\n[Preferences]\nWebUI\\Address=127.0.0.1\n\
             WebUI\\Port={web_port}\nWebUI\\LocalHostAuth=false\nWebUI\\HostHeaderValidation=false\n\
             WebUI\\CSRFProtection=false\nConnection\\ResolvePeerCountries=false\n",
            save.display()
        ),
    )
    .unwrap();
    let _qbt = Server::start(
        150,
        "qbittorrent-nox",
        &[
            &format!("--profile={}", profile.display()),
            &format!("--webui-port={web_port}"),
        ],
        &work.join("qbt.log"),
    );
    wait_for_port(web_port, 30);
    let api = |path: &str, form: &[String]| {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "10"]);
        for f in form {
            c.arg("-F").arg(f);
        }
        c.arg(format!("http://127.0.0.1:{web_port}/api/v2/{path}"));
        let o = c.output().unwrap();
        assert!(o.status.success(), "curl {path}: {}", text(&o.stderr));
        text(&o.stdout)
    };
    let added = api(
        "torrents/add",
        &[
            format!("torrents=@{}", torrent.display()),
            format!("savepath={}", save.display()),
        ],
    );
    assert_eq!(added.trim(), "Ok.", "torrents/add answered {added}");
    let hash = torrent_of(&out, rel).info_hash().to_hex();

    let deadline = Instant::now() + Duration::from_secs(90);
    let mut next_hint = Instant::now();
    loop {
        // Tell it about the seeder, and again now and then until it has the
        // data (re-adding at once would reset a connection under way).
        if Instant::now() >= next_hint {
            api(
                "torrents/addPeers",
                &[
                    format!("hashes={hash}"),
                    format!("peers=127.0.0.1:{seed_port}"),
                ],
            );
            next_hint = Instant::now() + Duration::from_secs(15);
        }
        let info = api("torrents/info", &[format!("hashes={hash}")]);
        if info.contains("\"progress\":1") && save.join(name).is_file() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "qbittorrent did not finish: {info}\nqbittorrent log: {}\naria2c log: {}",
            api("log/main", &[]),
            fs::read_to_string(work.join("aria2-seed.log")).unwrap_or_default()
        );
        sleep(Duration::from_millis(500));
    }
    assert_eq!(sha256(&save.join(name)), sha256(&m.root.join(rel)));
}

// ---- generated files -------------------------------------------------------

#[test]
fn man_page_and_completions_match_the_clap_definition() {
    use clap_complete::{generate, Shell};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wanted: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "completions/pactor-mktorrent.bash"),
        (Shell::Zsh, "completions/pactor-mktorrent.zsh"),
        (Shell::Fish, "completions/pactor-mktorrent.fish"),
    ] {
        let mut cmd = pactor::mktorrent::cli::command();
        let mut buf = Vec::new();
        generate(shell, &mut cmd, "pactor-mktorrent", &mut buf);
        wanted.push((root.join(file), buf));
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(pactor::mktorrent::cli::command())
        .section("1")
        .render(&mut page)
        .unwrap();
    wanted.push((
        root.join("man/pactor-mktorrent.1"),
        pactor::mktorrent::cli::render_man(&page),
    ));
    let bless = std::env::var_os("PACTOR_BLESS").is_some();
    for (path, want) in wanted {
        if bless {
            fs::write(&path, &want).unwrap();
        }
        let have = fs::read(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date: run PACTOR_BLESS=1 cargo test --test mktorrent",
            path.display()
        );
    }
}
