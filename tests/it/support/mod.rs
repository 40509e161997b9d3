//! Test support: sandbox, packages, mirrors, runners, and the parity check
//! that holds pactor to the reference pacman.

#![allow(dead_code)] // not every test file uses every helper

pub mod bins;
pub mod localdb;
pub mod mirror;
pub mod netns;
pub mod nginx;
pub mod pkg;
pub mod run;
pub mod sandbox;
pub mod seed;

pub use mirror::Fault;
pub use pkg::Pkg;
pub use run::{Mode, Outcome};
pub use sandbox::{Root, Sandbox};

/// One body, two modes: `both_modes!(install_with_deps, …)` makes
/// `plain::install_with_deps` and `torrent::install_with_deps`, each calling
/// the body `fn install_with_deps(mode: Mode)` of the enclosing module.
macro_rules! both_modes {
    ($($name:ident),* $(,)?) => {
        mod plain {
            $( #[test] fn $name() { super::$name($crate::support::Mode::Plain) } )*
        }
        mod torrent {
            $( #[test] fn $name() { super::$name($crate::support::Mode::Torrent) } )*
        }
    };
}
pub(crate) use both_modes;

/// The package set most tests use, all in group `greet-suite`:
/// hello 2.0 depends on libgreet>=1.0 and greet-data (256 KiB, several
/// torrent pieces); hello-doc depends on hello.
pub fn greet_set() -> Vec<Pkg> {
    vec![
        Pkg::new("libgreet", "1.1-1")
            .group("greet-suite")
            .file("usr/lib/libgreet/greeting.txt", "Hello, world"),
        Pkg::new("greet-data", "1.0-1")
            .group("greet-suite")
            .random_file("usr/share/greet/phrases.bin", 256 * 1024),
        Pkg::new("hello", "2.0-1")
            .group("greet-suite")
            .depends("libgreet>=1.0")
            .depends("greet-data")
            .exec(
                "usr/bin/hello",
                "#!/bin/sh\ncat /usr/lib/libgreet/greeting.txt\n",
            ),
        Pkg::new("hello-doc", "2.0-1")
            .group("greet-suite")
            .depends("hello")
            .file("usr/share/doc/hello/README", "hello's manual"),
    ]
}

/// The package file of `name` in [`greet_set`].
pub fn pkg_file(name: &str) -> String {
    greet_set()
        .into_iter()
        .find(|p| p.name == name)
        .map(|p| p.filename())
        .unwrap()
}

/// [`greet_set`] as repo `demo` on `mirrors`, with a `.torrent` published
/// beside every package (see [`sandbox::SandboxBuilder::torrents`]).
pub fn greet_torrent_sandbox(mirrors: &[Fault]) -> Sandbox {
    Sandbox::builder()
        .mirrors(mirrors)
        .repo("demo", &greet_set())
        .torrents()
        .build()
}

/// Two 6 MiB incompressible packages, `bigone` and `bigtwo`: behind slow
/// mirrors their download takes long enough for an interrupt or a killed
/// daemon to land in the middle of it.
pub fn big_set() -> Vec<Pkg> {
    const PACKAGE_BYTES: usize = 6 * 1024 * 1024;
    vec![
        Pkg::new("bigone", "1.0-1").random_file("usr/share/big/one.bin", PACKAGE_BYTES),
        Pkg::new("bigtwo", "1.0-1").random_file("usr/share/big/two.bin", PACKAGE_BYTES),
    ]
}

/// The package file names of [`big_set`].
pub fn big_files() -> Vec<String> {
    big_set().iter().map(Pkg::filename).collect()
}

/// The bytes of [`big_set`]'s package files in `sb`'s repo `big`.
pub fn big_bytes(sb: &Sandbox) -> u64 {
    big_files()
        .iter()
        .map(|f| std::fs::metadata(sb.repo_dir("big").join(f)).unwrap().len())
        .sum()
}

/// Runs `pactor -Sw --noconfirm bigone bigtwo -x` on `r` to the end: it
/// exits 0 with both packages in the cache as in `sb`'s repo `big`
/// (`after` says when, in the failure message).
pub fn download_big(sb: &Sandbox, r: &Root, after: &str) -> Outcome {
    let out = r
        .pactor(Mode::Torrent)
        .args(["-Sw", "--noconfirm", "bigone", "bigtwo"])
        .run();
    out.assert_code(0);
    for f in big_files() {
        assert_eq!(
            std::fs::read(r.cachedir().join(&f)).ok(),
            std::fs::read(sb.repo_dir("big").join(&f)).ok(),
            "{f} missing from the cache or different {after}\n{out}"
        );
    }
    out
}

/// Starts `pactor <op> --noconfirm bigone bigtwo` on `r` in a process group
/// of its own (a SIGINT to the group is a terminal's Ctrl-C), with a clean
/// environment and its output piped.
pub fn spawn_big(r: &Root, op: &str) -> std::process::Child {
    spawn_pactor(r, op, &["bigone", "bigtwo"])
}

/// The live processes whose parent is `parent`, each with its
/// `/proc/<pid>/stat` line (its name and state are in it).
pub fn children_of(parent: u32) -> Vec<(nix::unistd::Pid, String)> {
    let parent = parent.to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // pid (comm) state ppid ...
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest)?;
            (after.split(' ').nth(1) == Some(parent.as_str()))
                .then(|| (nix::unistd::Pid::from_raw(pid), stat))
        })
        .collect()
}

/// [`spawn_big`] for any `targets`.
pub fn spawn_pactor(r: &Root, op: &str, targets: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut args = r.path_args();
    args.extend([op, "--noconfirm"].map(String::from));
    args.extend(targets.iter().map(|t| t.to_string()));
    Command::new(bins::pactor())
        .process_group(0)
        .args(&args)
        .env_clear()
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pactor")
}

/// The lines of a stream, put in a comparable form: download blocks (after
/// `:: Retrieving packages...` / `:: Synchronizing package databases...`, up
/// to pacman's next step) are sorted in plain mode (parallel downloads finish
/// in any order) and dropped with -x (pactor may report peers and mirrors
/// there); per-file download errors (stderr) are sorted or dropped the same
/// way, and with -x so are warnings naming a sandbox mirror.
pub fn canonical(text: &str, mode: Mode) -> Vec<String> {
    fn block_start(l: &str) -> bool {
        l.starts_with(":: Retrieving packages")
            || l.starts_with(":: Synchronizing package databases")
    }
    fn block_end(l: &str) -> bool {
        const NEXT: &[&str] = &[
            "resolving dependencies...",
            "checking keyring...",
            "checking package integrity...",
            "loading package files...",
            "checking for file conflicts...",
            "looking for conflicting packages...",
            " there is nothing to do",
        ];
        (l.starts_with(":: ") && !block_start(l))
            || NEXT.contains(&l)
            || l.starts_with("warning: ") && l.ends_with("is up to date -- skipping")
    }
    /// curl's "after 12 ms" varies from run to run.
    fn without_timing(l: &str) -> String {
        match l.find(" after ") {
            Some(i) => {
                let rest = &l[i + 7..];
                let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
                if digits > 0 && rest[digits..].starts_with(" ms") {
                    format!("{} after N ms{}", &l[..i], &rest[digits + 3..])
                } else {
                    l.to_owned()
                }
            }
            None => l.to_owned(),
        }
    }
    // Per-file download errors; with -x also pactor's warnings about a
    // mirror it dropped (stderr has no block to keep them in).
    let download_noise = |l: &str| {
        l.starts_with("error: failed retrieving file")
            || l.starts_with("warning: too many errors from")
            || (mode == Mode::Torrent && l.starts_with("warning: ") && l.contains("127.0.0.1:"))
    };
    let mut out = vec![];
    let mut block: Option<Vec<String>> = None;
    let flush = |block: &mut Option<Vec<String>>, out: &mut Vec<String>| {
        if let Some(mut b) = block.take() {
            if mode == Mode::Plain {
                b.sort();
                out.extend(b);
            }
        }
    };
    for l in text.lines() {
        if block.is_some() && block_end(l) {
            flush(&mut block, &mut out);
        }
        if block_start(l) {
            flush(&mut block, &mut out);
            out.push(l.to_owned());
            block = Some(vec![]);
            continue;
        }
        match block.as_mut() {
            Some(b) => b.push(l.to_owned()),
            None if download_noise(l) => {
                if mode == Mode::Plain {
                    out.push(format!("(download) {}", without_timing(l)));
                }
            }
            None => out.push(l.to_owned()),
        }
    }
    flush(&mut block, &mut out);
    if mode == Mode::Plain {
        // Download errors go to stderr in completion order.
        let (mut noise, rest): (Vec<String>, Vec<String>) =
            out.into_iter().partition(|l| l.starts_with("(download) "));
        noise.sort();
        out = rest;
        out.extend(noise);
    }
    out
}

/// pactor (`a`, run on root `ra`) did what the reference pacman (`b` on `rb`)
/// did: same exit code, same local database (names, versions, reasons), and
/// the same output outside the download blocks (see [`canonical`]).
#[track_caller]
pub fn assert_parity(mode: Mode, ra: &Root, a: &Outcome, rb: &Root, b: &Outcome) {
    assert!(!b.timed_out, "the reference pacman timed out:\n{b}");
    assert!(!a.timed_out, "pactor timed out after {:?}:\n{a}", a.elapsed);
    let ctx = || format!("pactor:\n{a}\nreference pacman:\n{b}");
    assert_eq!(a.code, b.code, "exit codes differ\n{}", ctx());
    assert_eq!(
        ra.local_summary(),
        rb.local_summary(),
        "local databases differ\n{}",
        ctx()
    );
    for (what, x, y) in [
        ("stdout", a.stdout_n(), b.stdout_n()),
        ("stderr", a.stderr_n(), b.stderr_n()),
    ] {
        let (x, y) = (canonical(&x, mode), canonical(&y, mode));
        if x != y {
            let i = x
                .iter()
                .zip(&y)
                .position(|(p, q)| p != q)
                .unwrap_or(x.len().min(y.len()));
            panic!(
                "{what} differs from the reference pacman at line {} (after normalizing paths and download blocks):\n  pactor: {:?}\n  pacman: {:?}\n{}",
                i + 1,
                x.get(i),
                y.get(i),
                ctx()
            );
        }
    }
}

/// pactor's "failed to commit transaction" line is the reference pacman's
/// (which has one).
#[track_caller]
pub fn assert_same_commit_error(a: &Outcome, b: &Outcome) {
    let commit = |o: &Outcome| o.stderr_line("error: failed to commit transaction");
    assert!(commit(b).is_some(), "{b}");
    assert_eq!(commit(a), commit(b), "pactor:\n{a}\nreference pacman:\n{b}");
}

/// Run the same arguments (and stdin) with pactor on a fresh root `pactor`
/// and with the reference pacman on a fresh root `pacman`, after `given`
/// prepared each root; assert parity and return both for further checks.
pub fn side_by_side(
    sb: &Sandbox,
    mode: Mode,
    given: impl Fn(&Root),
    args: &[&str],
    stdin: &str,
) -> (Root, Outcome, Root, Outcome) {
    let (ra, rb) = (sb.root("pactor"), sb.root("pacman"));
    given(&ra);
    given(&rb);
    let b = rb.pacman().args(args).stdin(stdin).run();
    let a = ra.pactor(mode).args(args).stdin(stdin).run();
    assert_parity(mode, &ra, &a, &rb, &b);
    (ra, a, rb, b)
}
