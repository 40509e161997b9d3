//! `-S`: installs with dependencies, upgrades, `--needed`, groups, conflict
//! prompts, a corrupt cached package, `-Sw`, `-Sp`. Each body runs plain and
//! with `-x`, and each compares pactor with the reference pacman on the same
//! repository and mirrors.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::*;

both_modes!(
    install_with_deps,
    upgrade_after_repo_update,
    needed_skips_up_to_date,
    group_selection_from_stdin,
    conflict_prompt_answered_yes,
    conflict_prompt_answered_no,
    corrupt_package_in_cache,
    download_only,
    print_urls,
);

/// As root, `-x` starts its download process before it knows whether there
/// is anything to download. Given nothing to download, when `-Sx --needed
/// hello`, then that process still ends before pactor does: nothing pactor
/// started outlives it. The same after `-Sxw hello`, where pactor goes on
/// with its last steps while the process, its report complete, exits.
/// (Without root the download process does not exist and there is nothing
/// to see.)
#[test]
fn no_download_process_outlives_pactor() {
    // Whatever pactor leaves behind becomes this process's child.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let left_behind = || -> Vec<String> {
        children_of(std::process::id())
            .into_iter()
            .map(|(_, stat)| stat)
            .collect()
    };
    let sb = greet_sandbox(&[Fault::None]);
    let ra = sb.root("pactor");
    ra.given_installed(&["hello"]);
    let a = ra
        .pactor(Mode::Torrent)
        .args(["-S", "--needed", "--noconfirm", "hello"])
        .run();
    a.assert_code(0);
    a.assert_contains(" there is nothing to do");
    let left = left_behind();
    assert!(left.is_empty(), "pactor left behind: {left:?}");

    let rb = sb.root("download");
    rb.given_synced();
    let b = rb
        .pactor(Mode::Torrent)
        .args(["-Sw", "--noconfirm", "hello"])
        .run();
    b.assert_code(0);
    assert_eq!(cached_packages(&rb), hello_files(), "{b}");
    let left = left_behind();
    assert!(left.is_empty(), "pactor left behind: {left:?}");
}

/// `-Sw -x` checks each package once. Given a repository that checks no
/// package signature, when `-Sxw hello`, then the three packages are in the
/// cache, each fetched once, the keyring and integrity checks are shown,
/// and libalpm hashed none of them again (its debug line "checking
/// sha256sum for" is absent: pactor's own check, with the bytes frozen,
/// stood for it). Given a SigLevel under which libalpm checks package
/// signatures (optional ones here), the same command goes through
/// libalpm's commit, which checks the packages itself.
#[test]
fn download_only_checks_each_package_once() {
    let sb = greet_sandbox(&[Fault::None]);
    let want = hello_files();
    let download = |r: &Root| {
        r.given_synced();
        let out = r
            .pactor(Mode::Torrent)
            .args(["-Sw", "--debug", "--noconfirm", "hello"])
            .run();
        out.assert_code(0);
        (out, cached_packages(r))
    };
    let ra = sb.root("pactor");
    let (a, cached) = download(&ra);
    a.assert_contains("checking keyring...");
    a.assert_contains("checking package integrity...");
    assert!(
        !a.all_n().contains("checking sha256sum for"),
        "libalpm hashed the packages again:\n{}",
        a.all_n()
    );
    assert_eq!(
        ra.cached(),
        want,
        "cache after -Sxw (nothing but the packages)"
    );
    assert_eq!(cached, want);
    for f in &want {
        assert_eq!(
            sb.served(f),
            file_size(&sb, f),
            "{f} was not fetched exactly once"
        );
    }

    let signed = sb.conf_with("pacman-sigs.conf", "SigLevel = PackageOptional\n");
    let (b, cached) = download(&sb.root("signatures").with_conf(signed));
    b.assert_contains("checking sha256sum for");
    assert_eq!(cached, want, "cache after -Sxw with package signatures");
}

/// With nothing to ask the user, the download's first connections open
/// while the transaction is prepared. Given a repository on one mirror,
/// when `-Sxw --noconfirm hello`, then pactor says it opened them (debug)
/// before libalpm read the databases (to pacman.conf's mirrors, one for
/// the one target; more for what the packages call for),
/// the three packages are in the cache, and the mirror saw one GET per
/// package and nothing else, and no connection without its request: the
/// connections opened ahead carried the plan's requests; the same with the
/// download in pactor's own process (`--disable-sandbox`). Asked instead
/// (the answer on stdin), nothing is opened ahead.
#[test]
fn connections_open_ahead_of_the_plan_when_nothing_waits_for_the_user() {
    let sb = greet_sandbox(&[Fault::None]);
    let want = hello_files();
    let download = |r: &Root, extra: &str, answer: Option<&str>| {
        r.given_synced();
        let mirror = &sb.mirrors[0];
        let (requests, connections) = (mirror.requests().len(), mirror.connections());
        let mut args = vec!["-Sw", "--debug", "hello"];
        if !extra.is_empty() {
            args.push(extra);
        }
        let run = r.pactor(Mode::Torrent).args(args);
        let out = match answer {
            Some(answer) => run.stdin(answer).run(),
            None => run.args(["--noconfirm"]).run(),
        };
        out.assert_code(0);
        assert_eq!(cached_packages(r), want);
        let asked: Vec<String> = mirror.requests()[requests..]
            .iter()
            .map(|q| format!("{} {}", q.method, q.path.rsplit('/').next().unwrap_or("")))
            .collect();
        let mut gets: Vec<String> = want.iter().map(|f| format!("GET {f}")).collect();
        let mut seen = asked.clone();
        seen.sort();
        gets.sort();
        assert_eq!(seen, gets, "requests of the download");
        assert_eq!(
            mirror.connections() - connections,
            asked.len() as u64,
            "connections without a request"
        );
        out
    };
    let ahead = download(&sb.root("noconfirm"), "", None);
    ahead.assert_contains("opened ahead of the plan");
    // The first open before libalpm reads the databases: pacman.conf's
    // mirrors are known before the packages are.
    let stderr = ahead.stderr_n();
    let (opened, loading) = (
        stderr.find("opened ahead of the plan"),
        stderr.find("loading package cache for repository"),
    );
    assert!(
        opened.zip(loading).is_some_and(|(o, l)| o < l),
        "connections opened after the databases were read:\n{ahead}"
    );
    let here = download(&sb.root("in-process"), "--disable-sandbox", None);
    here.assert_contains("opened ahead of the plan");
    let asked = download(&sb.root("asked"), "", Some("y\n"));
    assert!(
        !asked.all_n().contains("opened ahead of the plan"),
        "{asked}"
    );
}

/// Named targets get their first connections before the packages are
/// known: as many to each of pacman.conf's mirrors as there are targets, up
/// to six; what the packages then call for is added, and none is opened
/// twice. Given eight packages of 100 KiB on one mirror, when `-Sxw
/// --noconfirm` of the eight, then pactor opens six connections, then two
/// more (debug; 1 MiB in flight takes eleven 100 KiB requests, eight files
/// eight), the eight packages are in the cache, and the mirror saw eight
/// GETs on eight connections: each one opened ahead carried a request.
#[test]
fn connections_opened_early_are_topped_up_for_the_packages() {
    let set: Vec<Pkg> = (0..8)
        .map(|i| {
            Pkg::new(&format!("small{i}"), "1.0-1")
                .random_file(&format!("usr/share/small{i}.bin"), 100 * 1024)
        })
        .collect();
    let sb = Sandbox::builder()
        .mirrors(&[Fault::None])
        .repo("demo", &set)
        .build();
    let r = sb.root("topped-up");
    r.given_synced();
    let mirror = &sb.mirrors[0];
    let (requests, connections) = (mirror.requests().len(), mirror.connections());
    let names: Vec<String> = set.iter().map(|p| p.name.clone()).collect();
    let out = r
        .pactor(Mode::Torrent)
        .args(["-Sw", "--debug", "--noconfirm"])
        .args(&names)
        .run();
    out.assert_code(0);
    let opened: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.ends_with("opened ahead of the plan"))
        .collect();
    assert_eq!(
        opened,
        [
            "debug: 6 connections to 1 mirrors opened ahead of the plan",
            "debug: 2 connections to 1 mirrors opened ahead of the plan",
        ],
        "{out}"
    );
    let mut want: Vec<String> = set.iter().map(Pkg::filename).collect();
    want.sort();
    assert_eq!(cached_packages(&r), want);
    let asked = mirror.requests().len() - requests;
    assert_eq!(asked, 8, "{:?}", &mirror.requests()[requests..]);
    assert_eq!(
        mirror.connections() - connections,
        8,
        "connections without a request"
    );
}

/// The download process is `pactor-engine`, found beside pactor. Given
/// pactor with `engine` beside it (`None`: alone), when `-Sxw hello` as
/// root, then the three packages are in the cache; returns the output.
fn download_with_engine(sb: &Sandbox, name: &str, engine: Option<&str>) -> Outcome {
    let dir = sb.path().join(format!("bin-{name}"));
    fs::create_dir_all(&dir).unwrap();
    let pactor = dir.join("pactor");
    // A link of pactor's own binary (a copy where that fails): pactor
    // looks for the engine beside the path it was started by.
    if fs::hard_link(bins::pactor(), &pactor).is_err() {
        fs::copy(bins::pactor(), &pactor).unwrap();
    }
    if let Some(script) = engine {
        let path = dir.join("pactor-engine");
        fs::write(&path, script).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let r = sb.root(name);
    r.given_synced();
    let out = run::Run::new(pactor, r.clone(), Mode::Torrent)
        .args(["-Sw", "--noconfirm", "hello"])
        .run();
    out.assert_code(0);
    assert_eq!(
        cached_packages(&r),
        hello_files(),
        "{name}: cache after -Sxw\n{out}"
    );
    out
}

/// As root, `-x` downloads in `pactor-engine` (a small binary without
/// libalpm), started from beside pactor: given an engine there that marks
/// its start, the mark is there after `-Sxw hello`. Given none, pactor
/// starts itself in its place. Given one from another pactor version, it
/// says so and hands over to pactor's own binary. (Not root: there is no
/// download process.)
#[test]
fn the_download_process_is_pactor_engine_beside_pactor() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let sb = greet_sandbox(&[Fault::None]);
    let engine = env!("CARGO_BIN_EXE_pactor-engine");
    let mark = sb.path().join("engine-started");
    let marking = format!(
        "#!/bin/sh\n: > '{}'\nexec '{engine}' \"$@\"\n",
        mark.display()
    );
    let a = download_with_engine(&sb, "marking", Some(&marking));
    assert!(mark.exists(), "pactor-engine was not started:\n{a}");
    assert!(!a.all_n().contains("does not belong"), "{a}");

    download_with_engine(&sb, "alone", None);

    let other = format!("#!/bin/sh\nPACTOR_ENGINE_FOR=0.0.0 exec '{engine}' \"$@\"\n");
    let c = download_with_engine(&sb, "other", Some(&other));
    c.assert_contains("does not belong to pactor 0.0.0; pactor downloads in its place");
    assert!(!c.all_n().contains("error"), "{c}");
}

fn greet_sandbox(mirrors: &[Fault]) -> Sandbox {
    Sandbox::builder()
        .mirrors(mirrors)
        .repo("demo", &greet_set())
        .build()
}

/// The package files `hello` pulls in (the cache after `-Sw hello`).
fn hello_files() -> Vec<String> {
    ["greet-data", "hello", "libgreet"].map(pkg_file).to_vec()
}

/// The package files in `r`'s cache.
fn cached_packages(r: &Root) -> Vec<String> {
    r.cached()
        .into_iter()
        .filter(|f| f.ends_with(".pkg.tar.zst"))
        .collect()
}

fn file_size(sb: &Sandbox, file: &str) -> u64 {
    std::fs::metadata(sb.repo_dir("demo").join(file))
        .unwrap()
        .len()
}

/// given a repo whose first mirror is dead, when `-Sy hello`, then hello is
/// installed explicitly and its two dependencies as dependencies, each
/// package downloaded once.
fn install_with_deps(mode: Mode) {
    let sb = greet_sandbox(&[Fault::Dead, Fault::None, Fault::None]);
    let (ra, rb) = (sb.root("pactor"), sb.root("pacman"));
    let files = ["hello", "libgreet", "greet-data"].map(pkg_file);

    let b = rb.pacman().args(["-Sy", "--noconfirm", "hello"]).run();
    let served_before: Vec<u64> = files.iter().map(|f| sb.served(f)).collect();
    let a = ra.pactor(mode).args(["-Sy", "--noconfirm", "hello"]).run();

    assert_parity(mode, &ra, &a, &rb, &b);
    a.assert_code(0);
    if mode == Mode::Torrent {
        // The dead mirror is dropped with the system's words for it.
        let dropped = a.stderr_line("warning: mirror ").unwrap_or_default();
        assert!(
            dropped.ends_with(" dropped: unreachable: Connection refused"),
            "{a}"
        );
    }
    a.assert_lines(&[
        "resolving dependencies...",
        "Packages (3) greet-data-1.0-1  libgreet-1.1-1  hello-2.0-1",
        ":: Processing package changes...",
        "installing hello...",
    ]);
    assert_eq!(
        ra.local_summary(),
        [
            "greet-data 1.0-1 dependency",
            "hello 2.0-1 explicit",
            "libgreet 1.1-1 dependency"
        ]
    );
    assert!(
        ra.rootdir().join("usr/bin/hello").is_file(),
        "hello's file is not in the root"
    );
    // Downloaded once (the design's "no second download" for -x): the mirrors
    // served each package's size, give or take a re-fetched piece with -x.
    for (f, before) in files.iter().zip(served_before) {
        let (size, got) = (file_size(&sb, f), sb.served(f) - before);
        match mode {
            Mode::Plain => assert_eq!(
                got, size,
                "{f}: mirrors served {got} bytes for a {size}-byte package"
            ),
            Mode::Torrent => assert!(
                got >= size && got <= size + size / 4 + 64 * 1024,
                "{f}: mirrors served {got} bytes for a {size}-byte package"
            ),
        }
    }
    assert_eq!(ra.cached(), rb.cached(), "cache contents differ");
}

/// given hello 2.0 installed, when the repo gets hello 2.1 and `-Syu`
/// runs, then hello is upgraded and keeps its install reason.
fn upgrade_after_repo_update(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None, Fault::None]);
    let (ra, rb) = (sb.root("pactor"), sb.root("pacman"));
    ra.given_installed(&["hello"]);
    rb.given_installed(&["hello"]);
    let newer = Pkg::new("hello", "2.1-1")
        .group("greet-suite")
        .depends("libgreet>=1.0")
        .depends("greet-data")
        .exec("usr/bin/hello", "#!/bin/sh\necho hello 2.1\n");
    sb.add_packages("demo", &[newer]);

    let b = rb.pacman().args(["-Syu", "--noconfirm"]).run();
    let a = ra.pactor(mode).args(["-Syu", "--noconfirm"]).run();

    assert_parity(mode, &ra, &a, &rb, &b);
    a.assert_code(0);
    a.assert_lines(&[
        ":: Starting full system upgrade...",
        "Packages (1) hello-2.1-1",
        "upgrading hello...",
    ]);
    assert_eq!(
        ra.local_summary(),
        [
            "greet-data 1.0-1 dependency",
            "hello 2.1-1 explicit",
            "libgreet 1.1-1 dependency"
        ]
    );
    let script = std::fs::read_to_string(ra.rootdir().join("usr/bin/hello")).unwrap();
    assert!(
        script.contains("2.1"),
        "usr/bin/hello is not the new version"
    );
}

/// given hello installed, when `-S --needed hello`, then nothing happens:
/// a warning, "there is nothing to do", exit 0, nothing downloaded.
fn needed_skips_up_to_date(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let (ra, rb) = (sb.root("pactor"), sb.root("pacman"));
    ra.given_installed(&["hello"]);
    rb.given_installed(&["hello"]);
    let date_before = ra
        .local()
        .into_iter()
        .find(|p| p.name == "hello")
        .unwrap()
        .install_date;
    let served_before = sb.served(".pkg.tar.zst");

    let b = rb
        .pacman()
        .args(["-S", "--needed", "--noconfirm", "hello"])
        .run();
    let a = ra
        .pactor(mode)
        .args(["-S", "--needed", "--noconfirm", "hello"])
        .run();

    assert_parity(mode, &ra, &a, &rb, &b);
    a.assert_code(0);
    a.assert_lines(&[
        "warning: hello-2.0-1 is up to date -- skipping",
        " there is nothing to do",
    ]);
    assert_eq!(
        sb.served(".pkg.tar.zst"),
        served_before,
        "--needed downloaded something"
    );
    let date_after = ra
        .local()
        .into_iter()
        .find(|p| p.name == "hello")
        .unwrap()
        .install_date;
    assert_eq!(date_before, date_after, "hello was reinstalled");
}

/// when `-S greet-suite` without --noconfirm and the user picks members 2 and
/// 4 (hello, libgreet) then confirms, then those two are explicit and
/// greet-data comes in as a dependency of hello.
fn group_selection_from_stdin(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let (ra, a, _rb, _b) = side_by_side(
        &sb,
        mode,
        Root::given_synced,
        &["-S", "greet-suite"],
        "2 4\ny\n",
    );
    a.assert_code(0);
    a.assert_contains(":: There are 4 members in group greet-suite:");
    a.assert_contains("Enter a selection (default=all): ");
    a.assert_contains(":: Proceed with installation? [Y/n] ");
    assert_eq!(
        ra.local_summary(),
        [
            "greet-data 1.0-1 dependency",
            "hello 2.0-1 explicit",
            "libgreet 1.1-1 explicit"
        ]
    );
}

fn conflict_sandbox() -> Sandbox {
    let mut set = greet_set();
    set.push(
        Pkg::new("libgreet-ng", "2.0-1")
            .conflicts("libgreet")
            .provides("libgreet=2.0")
            .file("usr/lib/libgreet-ng/greeting.txt", "Hi"),
    );
    Sandbox::builder()
        .mirrors(&[Fault::None])
        .repo("demo", &set)
        .build()
}

/// given libgreet installed, when `-S libgreet-ng` (which conflicts with it)
/// and the user answers yes to removing libgreet and to proceeding, then
/// libgreet is replaced.
fn conflict_prompt_answered_yes(mode: Mode) {
    let sb = conflict_sandbox();
    let (ra, a, _rb, _b) = side_by_side(
        &sb,
        mode,
        |r| r.given_installed(&["libgreet"]),
        &["-S", "libgreet-ng"],
        "y\ny\n",
    );
    a.assert_code(0);
    a.assert_contains(
        ":: libgreet-ng-2.0-1 and libgreet-1.1-1 are in conflict. Remove libgreet? [y/N] ",
    );
    assert_eq!(ra.local_summary(), ["libgreet-ng 2.0-1 explicit"]);
}

/// ... and when the user answers no, nothing changes and pactor fails like
/// pacman.
fn conflict_prompt_answered_no(mode: Mode) {
    let sb = conflict_sandbox();
    let (ra, a, _rb, _b) = side_by_side(
        &sb,
        mode,
        |r| r.given_installed(&["libgreet"]),
        &["-S", "libgreet-ng"],
        "n\n",
    );
    a.assert_code(1);
    a.assert_lines(&[
        "error: unresolvable package conflicts detected",
        "error: failed to prepare transaction (conflicting dependencies)",
    ]);
    assert_eq!(ra.local_summary(), ["libgreet 1.1-1 explicit"]);
}

/// given a corrupt file under hello's package name in the cache, when
/// `-S hello`, then pactor behaves as pacman: libalpm trusts the cached file
/// (nothing downloaded for it), the integrity check fails, the file is
/// deleted (the default answer under --noconfirm) and the transaction fails.
fn corrupt_package_in_cache(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let hello = pkg_file("hello");
    let corrupt = |r: &Root| {
        r.given_synced();
        std::fs::write(r.cachedir().join(&hello), b"this is not a package").unwrap();
    };
    let served_before = sb.served(&hello);
    let (ra, a, rb, _b) = side_by_side(&sb, mode, corrupt, &["-S", "--noconfirm", "hello"], "");
    a.assert_code(1);
    a.assert_lines(&[
        ":: File [ROOT]/cache/hello-2.0-1-any.pkg.tar.zst is corrupted (invalid or corrupted package (checksum)).",
        "Errors occurred, no packages were upgraded.",
        "error: failed to commit transaction (invalid or corrupted package (checksum))",
    ]);
    assert!(
        ra.local().is_empty(),
        "something got installed: {:?}",
        ra.local_summary()
    );
    assert_eq!(
        sb.served(&hello),
        served_before,
        "hello was downloaded although a file of its name was cached"
    );
    assert!(
        !ra.cached().contains(&hello),
        "the corrupt file was not deleted"
    );
    assert_eq!(
        ra.cached(),
        rb.cached(),
        "cache contents differ from pacman's"
    );
}

/// when `-Sw hello`, then the three packages are in the cache and nothing is
/// installed.
fn download_only(mode: Mode) {
    let sb = greet_sandbox(&[Fault::Dead, Fault::None]);
    let (ra, a, rb, _b) = side_by_side(
        &sb,
        mode,
        Root::given_synced,
        &["-Syw", "--noconfirm", "hello"],
        "",
    );
    a.assert_code(0);
    assert!(
        ra.local().is_empty(),
        "-Sw installed something: {:?}",
        ra.local_summary()
    );
    let want = hello_files();
    assert_eq!(cached_packages(&ra), want, "cache after -Sw");
    assert_eq!(
        ra.cached(),
        rb.cached(),
        "cache contents differ from pacman's"
    );
    for f in &want {
        let a_bytes = std::fs::read(ra.cachedir().join(f)).unwrap();
        let s_bytes = std::fs::read(sb.repo_dir("demo").join(f)).unwrap();
        assert!(
            a_bytes == s_bytes,
            "{f} in the cache differs from the mirror's"
        );
    }
    assert!(
        !ra.cached().iter().any(|f| f.ends_with(".part")),
        "partial download left in the cache: {:?}",
        ra.cached()
    );
}

/// given synced databases, when `-Sp hello`, then the URLs of the three
/// packages are printed (first mirror, as pacman does) and nothing is
/// downloaded.
fn print_urls(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None, Fault::None]);
    let served_before = sb.served(".pkg.tar.zst");
    let (ra, a, _rb, _b) = side_by_side(&sb, mode, Root::given_synced, &["-Sp", "hello"], "");
    a.assert_code(0);
    let base = format!("{}/demo/os/{}", sb.mirrors[0].base_url(), sandbox::arch());
    let mut want: Vec<String> = ["greet-data", "libgreet", "hello"]
        .map(|n| format!("{base}/{}", pkg_file(n)))
        .to_vec();
    let mut lines: Vec<&str> = a.stdout.lines().collect();
    // The order (resolution order) is checked by the parity with pacman.
    want.sort();
    lines.sort();
    assert_eq!(lines, want, "-Sp output");
    assert_eq!(
        sb.served(".pkg.tar.zst"),
        served_before,
        "-Sp downloaded packages"
    );
    assert!(ra.local().is_empty());
}

/// `pactor -x -Sy --noconfirm hello` into `r`: it exits 0 with hello
/// installed explicitly and its two dependencies as dependencies.
fn torrent_install_hello(r: &Root) -> Outcome {
    let a = r
        .pactor(Mode::Torrent)
        .args(["-Sy", "--noconfirm", "hello"])
        .run();
    a.assert_code(0);
    assert_eq!(
        r.local_summary(),
        [
            "greet-data 1.0-1 dependency",
            "hello 2.0-1 explicit",
            "libgreet 1.1-1 dependency"
        ],
        "{a}"
    );
    a
}

/// -x only: a transaction survives a stalling, a lying and a slow mirror, as
/// long as one mirror is healthy, and does not wait for pacman's 10-second
/// low-speed timeout.
#[test]
fn torrent_survives_faulty_mirrors() {
    let sb = greet_sandbox(&[
        Fault::StallAfter { bytes: 16 * 1024 },
        Fault::WrongBytes,
        Fault::Slow {
            bytes_per_sec: 64 * 1024,
        },
        Fault::None,
    ]);
    let r = sb.root("pactor");
    let a = torrent_install_hello(&r);
    assert!(
        a.elapsed.as_secs() < 30,
        "-x took {:?} with one healthy mirror",
        a.elapsed
    );
    let corrupt_cached = r.cached().iter().any(|f| {
        let p = r.cachedir().join(f);
        f.ends_with(".pkg.tar.zst")
            && std::fs::read(&p).ok() != std::fs::read(sb.repo_dir("demo").join(f)).ok()
    });
    assert!(
        !corrupt_cached,
        "a package in the cache differs from the repository's"
    );
}

/// -x only: with a lying first mirror, plain pacman fails the integrity check;
/// pactor -x must verify against the db and take the bytes elsewhere.
#[test]
fn torrent_rejects_wrong_bytes_from_first_mirror() {
    let sb = greet_sandbox(&[Fault::WrongBytes, Fault::None]);
    let r = sb.root("pactor");
    let a = r
        .pactor(Mode::Torrent)
        .args(["-Sy", "--noconfirm", "hello"])
        .run();
    a.assert_code(0);
    assert_eq!(r.local().len(), 3, "{a}");
}

/// With pactor.conf's default `TorrentMinSize` (1 MiB) packages as small as
/// these are not looked up in the swarm: they come from the mirrors at once,
/// each served once, and no torrent is kept for them.
#[test]
fn torrent_small_packages_come_from_the_mirrors_alone() {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return;
    }
    let sb = greet_torrent_sandbox(&[Fault::None, Fault::None]);
    sb.write_pactor_conf("");
    let r = sb.root("pactor");
    let a = torrent_install_hello(&r);
    for f in ["hello", "libgreet", "greet-data"].map(pkg_file) {
        let asked = sb.mirrors.iter().any(|m| {
            m.requests()
                .iter()
                .any(|q| q.path.ends_with(&format!("{f}.torrent")))
        });
        assert!(!asked, "{f}.torrent was looked up\n{a}");
        assert_eq!(
            sb.served(&f),
            file_size(&sb, &f),
            "{f} served more than once\n{a}"
        );
    }
    let kept = std::fs::read_dir(r.statedir().join("torrents")).map_or(0, |rd| rd.count());
    assert_eq!(kept, 0, "torrents kept for packages that never used one");
}

/// -x only, with a `.torrent` published beside every package (mirrors as
/// BEP 19 webseeds, no tracker, no peers): pactor looks the torrents up on the
/// mirrors, takes the packages through the swarm from the healthy mirrors
/// despite a dead and a lying one, downloads each package about once, and
/// keeps the accepted torrents in its state directory. Runs in a private
/// network namespace, so nothing (DHT, LSD) can leave the machine.
#[test]
fn torrent_with_published_torrents() {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return;
    }
    let sb = greet_torrent_sandbox(&[Fault::Dead, Fault::WrongBytes, Fault::None, Fault::None]);
    let files = ["hello", "libgreet", "greet-data"].map(pkg_file);
    let published = sb.published_torrents("demo");
    for f in &files {
        assert!(
            published.contains(&format!("{f}.torrent")),
            "pactor-mktorrent made no torrent for {f}: {published:?}"
        );
    }
    let r = sb.root("pactor");
    let a = torrent_install_hello(&r);
    for f in &files {
        let asked = sb.mirrors.iter().any(|m| {
            m.requests()
                .iter()
                .any(|q| q.path.ends_with(&format!("{f}.torrent")))
        });
        assert!(
            asked,
            "pactor -x never looked up {f}.torrent on the mirrors\n{a}"
        );
        let (size, got) = (file_size(&sb, f), sb.served(f));
        assert!(
            got <= 2 * size + 256 * 1024,
            "{f}: mirrors served {got} bytes for a {size}-byte package"
        );
        let cached = std::fs::read(r.cachedir().join(f)).unwrap();
        assert!(
            cached == std::fs::read(sb.repo_dir("demo").join(f)).unwrap(),
            "{f} in the cache differs from the repository's"
        );
    }
    let kept: Vec<String> = std::fs::read_dir(r.statedir().join("torrents"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    for f in &files {
        assert!(
            kept.contains(&format!("{f}.torrent")),
            "{f}.torrent not kept in {}/torrents: {kept:?}",
            r.statedir().display()
        );
    }
}
