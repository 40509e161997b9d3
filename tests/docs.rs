//! The documents derived from the flag table (`src/cli/flags.rs`) and from
//! pactor.conf's keys: the man pages `man/pactor.8` and `man/pactor.conf.5`,
//! the example `etc/pactor.conf`, and the shell completions
//! `completions/pactor.bash`, `completions/_pactor` (zsh) and
//! `completions/pactor.fish`. This file is their generator and the tests that
//! keep them from drifting:
//!
//! ```text
//! PACTOR_BLESS=1 cargo test --test docs    # rewrite the checked-in files
//! cargo test --test docs                   # fail if one is out of date
//! ```
//!
//! Neither clap_mangen nor clap_complete fits pacman's grammar: an option's
//! letter depends on the operation (`-c` is `--clean` under `-S` and
//! `--changelog` under `-Q`), pacman's man page groups options by the
//! operations they apply to, and `-S` must complete package names from the
//! sync databases at completion time. So the renderers below read `FLAGS`
//! directly. Besides the byte-for-byte check, the tests compare the man page
//! with what the built `pactor -<op> -h` prints, the pactor.conf keys with the
//! ones `src/config.rs` parses, and run the completions in bash, zsh and fish
//! (skipped with a note when a shell is not installed).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use pactor::cli::flags::{ops_of, Arg, Flag, Op, FLAGS};

const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---- the flag table, grouped like pacman's man page ------------------------

/// The operation letters plus `-V` and `-h` (what `pactor -h` lists).
fn is_operation(f: &Flag) -> bool {
    f.short.is_some_and(|c| "DFQRSTUVh".contains(c))
}

/// The operations that share pacman's transaction options.
const TRANSACTION_OPS: [Op; 4] = [Op::Files, Op::Remove, Op::Sync, Op::Upgrade];
/// The operations that share pacman's upgrade options.
const UPGRADE_OPS: [Op; 2] = [Op::Sync, Op::Upgrade];

/// A section of options in pactor(8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Operations,
    General,
    Transaction,
    Upgrade,
    Only(OpKey),
}

/// `Op` in man page order (pacman's: Query, Remove, Sync, Database, Files,
/// then Deptest and Upgrade, which have no options of their own today).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct OpKey(u8);

fn op_key(op: Op) -> OpKey {
    OpKey(match op {
        Op::Query => 0,
        Op::Remove => 1,
        Op::Sync => 2,
        Op::Database => 3,
        Op::Files => 4,
        Op::Deptest => 5,
        Op::Upgrade => 6,
    })
}

fn op_of_key(k: OpKey) -> Op {
    *Op::ALL.iter().find(|op| op_key(**op) == k).unwrap()
}

/// The sections an option is listed in: shared sections first, then one per
/// remaining operation (`--asdeps` is an upgrade option and a database one).
fn groups_of(f: &Flag) -> Vec<Group> {
    if is_operation(f) {
        return vec![Group::Operations];
    }
    if f.scope.allows(None) {
        return vec![Group::General];
    }
    let mut rest: Vec<Op> = ops_of(f);
    let mut out = Vec::new();
    let covers = |set: &[Op], rest: &[Op]| set.iter().all(|op| rest.contains(op));
    if covers(&TRANSACTION_OPS, &rest) {
        out.push(Group::Transaction);
        rest.retain(|op| !TRANSACTION_OPS.contains(op));
    } else if covers(&UPGRADE_OPS, &rest) {
        out.push(Group::Upgrade);
        rest.retain(|op| !UPGRADE_OPS.contains(op));
    }
    out.extend(rest.into_iter().map(|op| Group::Only(op_key(op))));
    out
}

/// pacman's help order: letters first (case-insensitively), then long-only
/// options by name.
fn help_order(f: &&Flag) -> (char, &'static str) {
    (
        f.short.map(|c| c.to_ascii_lowercase()).unwrap_or('~'),
        f.long,
    )
}

/// Letters that count when repeated (`-yy`, `-cc`, `-ii`), read from the
/// help text's own `(-yy …)` note.
fn repeatable(f: &Flag) -> bool {
    f.short
        .is_some_and(|c| f.help.contains(&format!("(-{c}{c}")))
}

/// Value options that may be given more than once.
fn multi_value(f: &Flag) -> bool {
    f.help.contains("more than once")
}

// ---- prose -----------------------------------------------------------------
//
// Markup in the texts below: `code` is bold, |name| is italic. Everything
// else is plain text and escaped for roff.

/// What each option does, for the man page. An entry with an operation
/// letter is used in that operation's section; one without is the default.
/// An option without an entry gets its `--help` line.
const OPTION_DOCS: &[(&str, &str, &str)] = &[
    // operations
    ("database", "", "Work on the local package database: change the install reason of installed packages (`--asdeps`, `--asexplicit`) or check the databases for consistency (`--check`)."),
    ("files", "", "Query the files databases of the sync repositories: find the package that owns a file, or list the files of a package that need not be installed. Refresh these databases with `-Fy`."),
    ("query", "", "Query the local package database: list installed packages, their files and their metadata (dependencies, install reason, sizes, dates), or inspect a package file with `-p`. Without targets every installed package is queried, narrowed by the filter options."),
    ("remove", "", "Remove packages, or every member of a group, with their files. Modified configuration files are kept with a `.pacsave` suffix unless `--nosave` is given."),
    ("sync", "", "Install packages from the sync repositories together with their dependencies, upgrade the system (`-Syu`), or search and inspect the repositories. A target may name its repository (`extra/firefox`), carry a version constraint (`\"bash>=5\"`, quoted for the shell), name a group (pactor asks which members to install) or a virtual package that other packages provide (pactor asks which provider to use when there are several). With `-x` every package of the transaction is downloaded at once from the BitTorrent swarm and from all mirrors; see TORRENT MODE."),
    ("deptest", "", "Print each target dependency (such as `qt` or `\"bash>=5\"`) that the installed packages do not satisfy. The exit status is 127 when there is one. makepkg uses this to find missing build dependencies."),
    ("upgrade", "", "Install or upgrade packages from package files or URLs, pulling missing dependencies from the sync repositories. Files already on the system are replaced; configuration files that were changed locally are kept and the packaged version is installed beside them as `.pacnew`, as pacman does."),
    ("version", "", "Print pactor's version and the versions of the libraries it is built on, and exit."),
    ("help", "", "Print the options of the given operation, or the list of operations when none is given, and exit."),
    // general options
    ("dbpath", "", "Use |path| as the database directory instead of pacman.conf's DBPath (by default `/var/lib/pacman/`). The path is taken as it is: the root directory is not put in front of it."),
    ("root", "", "Install into |path| instead of `/`. Unless set elsewhere, the database and the log file are then placed inside this root. This is not the way to work on a mounted guest system; see `--sysroot`."),
    ("sysroot", "", "Work on the mounted guest system at |path|: the path is put in front of every configured directory and of `file://` servers, while targets are used as given. Only root may use it."),
    ("verbose", "", "Print the paths in use (root, configuration file, database, cache and hook directories, lock file, log file, GnuPG directory) before starting."),
    ("noconfirm", "", "Take the default answer to every question instead of waiting for input. For scripts."),
    ("confirm", "", "Ask questions again, cancelling an earlier `--noconfirm`."),
    ("config", "", "Read pacman's configuration from |path| instead of `/etc/pacman.conf`. pactor.conf is then looked for in the same directory."),
    ("debug", "", "Print debug messages from pactor and libalpm. `--debug=2` adds libalpm's function traces; the level is only accepted in the `--debug=`|level| form."),
    ("ask", "", "Answer libalpm's questions without asking: each bit of |number| selects a kind of question (libalpm's question type values) whose default answer is reversed. For tests."),
    ("cachedir", "", "Use |dir| as a package cache, ahead of pacman.conf's CacheDir entries. It may be given more than once; the caches are searched in order. The root directory is not put in front of it."),
    ("hookdir", "", "Read hooks (see alpm-hooks(5)) from |dir| as well. It may be given more than once; a hook in a later directory overrides one of the same name in an earlier one. The root directory is not put in front of it."),
    ("logfile", "", "Write the log to |path| instead of pacman.conf's LogFile. The path is taken as it is, whatever the root."),
    ("arch", "", "Use |arch| as the architecture instead of pacman.conf's Architecture."),
    ("gpgdir", "", "Use |path| as the GnuPG home directory whose keyring verifies package and database signatures, instead of `/etc/pacman.d/gnupg/`. The root directory is not put in front of it."),
    ("color", "", "When to colour the output: `always`, `never` or `auto` (only when writing to a terminal, and only if pacman.conf enables Color)."),
    ("disable-download-timeout", "", "Keep waiting on slow or stalled downloads instead of giving up after the usual limits. Useful behind slow proxies."),
    ("disable-sandbox", "", "Run the download process without the sandbox that otherwise confines it."),
    ("pactor-config", "", "Read pactor's own settings from |path| instead of the pactor.conf beside pacman.conf; the file must exist. The PACTOR_CONFIG environment variable does the same. See pactor.conf(5)."),
    // transaction options
    ("nodeps", "", "Skip dependency version checks; the names of dependencies are still checked. Given twice (`-dd`), skip the dependency checks altogether."),
    ("assume-installed", "", "Treat |package=version| as an installed package while checking dependencies. This silences one dependency check instead of all of them."),
    ("dbonly", "", "Change the database entries only and leave the files on disk alone."),
    ("noprogressbar", "", "Show no progress bars while downloading. None are shown when standard output is not a terminal."),
    ("noscriptlet", "", "Do not run the install scriptlets of the packages."),
    ("print", "", "Print the targets instead of acting on them: their URLs with `-S`, their files with `-U`, name and version with `-R`. `--print-format` chooses what to print."),
    ("print-format", "", "Print each target in this format, and imply `--print`. Placeholders: %n name, %v version, %l location (the default: a URL or a file), %f file name, %r repository, %s size, %a architecture, %b build date, %d description, %e pkgbase, %h SHA-256 sum, %m MD5 sum, %p packager, %g base64 signature, %C checkdepends, %D depends, %G groups, %H conflicts, %L licenses, %M makedepends, %O optdepends, %P provides, %R replaces."),
    // upgrade options
    ("downloadonly", "", "Download the packages into the cache and stop; nothing is installed or upgraded."),
    ("asdeps", "", "Record the packages as installed as dependencies, the way makepkg installs build dependencies."),
    ("asexplicit", "", "Record the packages as explicitly installed."),
    ("ignore", "", "Do not upgrade |pkg| even when a newer version exists. Several names may be separated by commas, and the option may be repeated."),
    ("ignoregroup", "", "Do not upgrade the members of group |grp|. Several groups may be separated by commas, and the option may be repeated."),
    ("needed", "", "Leave out targets that are already installed at the same version."),
    ("overwrite", "", "Where a file of a package conflicts with a file on disk that matches |glob|, overwrite it instead of refusing. Several patterns may be separated by commas and the option may be repeated; a leading `!` negates a pattern and a later pattern wins over an earlier one. A directory is never replaced by a file."),
    ("torrent", "", "Torrent mode: download every package of the transaction at once from the BitTorrent swarm of its .torrent and from every mirror of its repository, which serve as web seeds; a package without a torrent comes from all mirrors at once in byte ranges. Resolution, questions, verification and installation stay exactly as without it. Accepted under `-U` as well, so that AUR helpers may pass it on with `-S`'s options; under `-F`, `-x` keeps pacman's meaning, `--regex`. See TORRENT MODE."),
    ("no-torrent", "", "Download as pacman does for this run, even when pactor.conf sets `Torrent = yes`."),
    ("download-limit", "", "In torrent mode, download at most |rate| bytes per second in all, from peers and mirrors together, for this run; it overrides `DownloadLimit` of pactor.conf. The rate is written as in pactor.conf(5), such as `2M` or `500K`; `0` means no limit."),
    ("upload-limit", "", "In torrent mode, upload at most |rate| bytes per second to other peers for this run; it overrides `UploadLimit` of pactor.conf. `0` means no limit."),
    // query options
    ("changelog", "Q", "Show the changelog of each package, if it has one."),
    ("deps", "Q", "List only packages installed as dependencies. With `-t`: orphans, dependencies nothing requires any more."),
    ("explicit", "Q", "List only explicitly installed packages. With `-t`: explicitly installed packages that nothing else requires."),
    ("groups", "Q", "List the installed members of the named groups, or every installed package that belongs to a group."),
    ("info", "Q", "Show the metadata of each package. Given twice (`-ii`), also list its backup files and whether they were changed. With `-p` the targets are package files."),
    ("check", "Q", "Check that every file of each package is present. Given twice (`-kk`), also check the mode, size and modification time recorded in the package's mtree."),
    ("list", "Q", "List the files of each package."),
    ("foreign", "Q", "List only packages that no sync database has, such as packages built from the AUR."),
    ("native", "Q", "List only packages that a sync database has."),
    ("owns", "Q", "For each target file (a relative or absolute path), name the package that owns it."),
    ("file", "Q", "The targets are package files, not names of installed packages. Useful with `-i` and `-l`."),
    ("quiet", "Q", "Print less, for scripts: names without versions, without descriptions or messages."),
    ("search", "Q", "Treat the targets as regular expressions and list the installed packages whose name or description matches all of them."),
    ("unrequired", "Q", "List only packages that no installed package requires or optionally requires. Given twice (`-tt`), optional dependencies do not count."),
    ("upgrades", "Q", "List only packages that have a newer version in the sync databases (refresh them with `-Sy` first)."),
    // remove options
    ("cascade", "R", "Also remove every installed package that depends on a target, and so on recursively. Use with care."),
    ("nosave", "R", "Delete changed configuration files instead of keeping them as `.pacsave`."),
    ("recursive", "R", "Also remove the dependencies of the targets that nothing else requires and that were not explicitly installed, recursively. Given twice (`-ss`), explicitly installed dependencies go too."),
    ("unneeded", "R", "Remove only the targets that no other package requires, for example the unused members of a group."),
    // sync options
    ("clean", "S", "Remove packages that are no longer installed from the cache, and the databases of repositories no longer configured. Given twice (`-cc`), empty the cache. pactor asks first. See CleanMethod in pacman.conf(5) for a shared cache."),
    ("groups", "S", "List the members of the named groups. Without names, list every group; given twice (`-gg`), every group with its members."),
    ("info", "S", "Show the metadata of each sync package. Given twice (`-ii`), also list the packages of all repositories that depend on it."),
    ("list", "S", "List the packages of the named repositories, or of all of them."),
    ("quiet", "S", "Print less, for scripts: package names only."),
    ("search", "S", "Treat the targets as regular expressions and list the sync packages whose name or description matches all of them."),
    ("sysupgrade", "S", "Upgrade every installed package that has a newer version in the sync repositories, after showing the list and asking. Given twice (`-uu`), also downgrade packages whose sync version is older. Further targets are installed in the same transaction."),
    ("refresh", "S", "Download fresh copies of the sync databases first. Given twice (`-yy`), even those that seem up to date. Use it with every `-u`."),
    // database options
    ("asdeps", "D", "Mark the target packages as installed as dependencies."),
    ("asexplicit", "D", "Mark the target packages as explicitly installed."),
    ("check", "D", "Check that the local database is consistent: every file it needs is there, the dependencies of installed packages are met, nothing conflicts and no file belongs to two packages. Given twice (`-kk`), check that the sync databases can satisfy every dependency."),
    ("quiet", "D", "Print nothing when an operation succeeds."),
    // file options
    ("list", "F", "List the files of the named sync packages."),
    ("quiet", "F", "Print less, for scripts: package names or paths only."),
    ("regex", "F", "Treat the targets as regular expressions."),
    ("machinereadable", "F", "Print each match as |repository|\\0|pkgname|\\0|pkgver|\\0|path|\\n, with NUL bytes between the fields."),
    ("refresh", "F", "Download fresh copies of the files databases first. Given twice (`-yy`), even those that seem up to date."),
];

/// The man page text for an option in a section for `op` (`None`: shared).
fn option_doc(f: &Flag, op: Option<Op>) -> String {
    let letter = op.map(|o| o.short().to_string()).unwrap_or_default();
    let pick = |l: &str| {
        OPTION_DOCS
            .iter()
            .find(|(long, o, _)| *long == f.long && *o == l)
            .map(|(_, _, t)| *t)
    };
    if let Some(t) = pick(&letter).or_else(|| pick("")) {
        return t.to_owned();
    }
    // No entry: the --help line as a sentence.
    let mut s = f.help.to_owned();
    if let Some(first) = s.get(..1) {
        s.replace_range(..1, &first.to_uppercase());
    }
    s.push('.');
    s
}

// ---- roff ------------------------------------------------------------------

/// The markup of the texts above (`bold`, |italic|) as roff.
fn roff_text(s: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    let mut italic = false;
    let mut plain = String::new();
    for c in s.chars() {
        if c == '`' || c == '|' {
            out.push_str(&esc_inline(&plain));
            plain.clear();
            if c == '`' {
                bold = !bold;
                out.push_str(if bold { "\\fB" } else { "\\fR" });
            } else {
                italic = !italic;
                out.push_str(if italic { "\\fI" } else { "\\fR" });
            }
        } else {
            plain.push(c);
        }
    }
    out.push_str(&esc_inline(&plain));
    assert!(!bold && !italic, "unbalanced markup in {s:?}");
    if out.starts_with('.') || out.starts_with('\'') {
        out.insert_str(0, "\\&");
    }
    out
}

fn esc_inline(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// The `.TP` header of an option: `-b, --dbpath <path>`.
fn option_header(f: &Flag) -> String {
    let mut h = String::new();
    if let Some(c) = f.short {
        let _ = write!(h, "\\fB\\-{c}\\fR, ");
    }
    let _ = write!(h, "\\fB\\-\\-{}\\fR", esc_inline(f.long));
    match f.arg {
        Arg::None => {}
        Arg::Required => {
            let _ = write!(h, " <\\fI{}\\fR>", esc_inline(f.value_name));
        }
        Arg::Optional => {
            let _ = write!(h, "[=\\fI{}\\fR]", esc_inline(f.value_name));
        }
    }
    h
}

fn section_title(g: Group) -> String {
    let applies = |ops: &[Op]| {
        let mut letters: Vec<String> = ops.iter().map(|o| format!("\\-{}", o.short())).collect();
        letters.sort();
        match letters.len() {
            1 => letters[0].clone(),
            n => format!("{} AND {}", letters[..n - 1].join(", "), letters[n - 1]),
        }
    };
    match g {
        Group::Operations => "OPERATIONS".into(),
        Group::General => "OPTIONS".into(),
        Group::Transaction => format!(
            "TRANSACTION OPTIONS (APPLY TO {})",
            applies(&TRANSACTION_OPS)
        ),
        Group::Upgrade => format!("UPGRADE OPTIONS (APPLY TO {})", applies(&UPGRADE_OPS)),
        Group::Only(k) => {
            let op = op_of_key(k);
            let name = match op {
                Op::Database => "DATABASE",
                Op::Files => "FILE",
                Op::Query => "QUERY",
                Op::Remove => "REMOVE",
                Op::Sync => "SYNC",
                Op::Deptest => "DEPTEST",
                Op::Upgrade => "UPGRADE",
            };
            format!("{name} OPTIONS (APPLY TO {})", applies(&[op]))
        }
    }
}

fn section_intro(g: Group) -> Option<&'static str> {
    match g {
        Group::Operations => Some("Exactly one operation is given, usually first; its letter may start a cluster of options (`-Syu`)."),
        Group::General => Some("These options apply to every operation."),
        _ => None,
    }
}

const PACTOR_8_HEAD: &str = r#".SH NAME
pactor \- package manager with parallel BitTorrent and multi\-mirror downloads
.SH SYNOPSIS
\fBpactor\fR <\fIoperation\fR> [\fIoptions\fR] [\fItargets\fR]
.SH DESCRIPTION
"#;

const PACTOR_8_DESCRIPTION: &[&str] = &[
    "pactor is pacman, the package manager of Arch Linux, rebuilt on the same library, libalpm. It takes pacman's command line, asks pacman's questions, prints pacman's messages and returns pacman's exit codes, so it can stand in for `pacman` wherever pacman is called, including from makepkg and AUR helpers.",
    "What it adds is how packages are downloaded. With `-x` (`--torrent`), or with `Torrent = yes` in pactor.conf(5), every package of a transaction is downloaded at the same time from the BitTorrent swarm of the package and from every mirror of its repository, so that a slow or dead mirror no longer holds up an upgrade. libalpm still resolves dependencies, checks signatures and installs; pactor only changes where the bytes come from.",
    "A command line names one operation, options for it, and targets: package names, group names, file names, URLs or search patterns, depending on the operation. Options may be clustered (`-Syu`), given before or after the targets, and long options may be shortened as long as they stay unambiguous. When standard input is not a terminal and a single `-` is given as a target, the targets are read from standard input, one a line.",
];

const PACTOR_8_TAIL: &[(&str, &[&str])] = &[
    ("TORRENT MODE", &[
        "With `-x`, pactor first resolves the transaction exactly as pacman does and shows the same list of packages and the same questions. It then downloads every package that is not already in a cache, all at once. When no question will wait for an answer (`--noconfirm`), the download process opens its first connections while the transaction is still being prepared, so that the first requests do not wait for a handshake: for packages named on the command line (without `-y` or `-u`), to every mirror of pacman.conf right after it is read, one for each package named and at most six to a mirror; then, once the packages are known, as many more to their repositories' mirrors as their number and sizes call for. A connection still unused after 10 seconds is not used any more; when nothing turns out to be downloaded, the connections are closed unused.",
        "For each package it looks for a .torrent: one pactor stored before, then one from each `TorrentServer` of pactor.conf(5), then |file|`.torrent` beside the package on the repository's mirrors (each package asks a different mirror first, in turn, spreading the lookups over them; when that one has none, the others at once; a server that has answered that it has none, and has given no torrent for any package, is not asked again during that transaction). Mirror operators publish these with pactor-mktorrent(1). A torrent is only a hint: it is used only when it describes exactly the file the sync database names (a single file, with the package's name and size); otherwise, and when there is none, the package is downloaded from all mirrors at once in byte ranges. Packages smaller than `TorrentMinSize` of pactor.conf(5) (1 MiB unless set) are not looked up at all: they start on all mirrors at once, since a swarm would cost them more time than it saves.",
        "Pieces come from BitTorrent peers (trackers, DHT, local peer discovery) and from every `Server` of the package's repository in pacman.conf, which act as web seeds, so a download starts at once even when nobody seeds. Slow, stalled or failing sources get less of the work, and a mirror that is far away but fast gets more connections at once, up to twelve, as many as keep it busy; one dead mirror does not stall the transaction.",
        "Every file is checked against the size and SHA-256 sum in the sync database before it is moved into the package cache, and moved there as soon as it is checked, so an interrupted run keeps every finished package in the cache, as pacman does; libalpm checks signatures as usual. As root, the download process hands each file over before it is checked: pactor takes the file over, makes sure no one can still write to it, checks it, and moves that very file, not another put under its name; a package from the swarm is taken over as soon as its last piece is in, while the download process checks it too. With `-w` and no package signature to check (the repository's `SigLevel`), that check stands for libalpm's own, which would read every package a second time; otherwise libalpm checks the packages after the download as usual. A bad torrent or a lying peer costs time, never a broken install. Unfinished downloads are kept in pactor's state directory, never as `.part` files in the cache, and the next run continues where the last one stopped. A download that fails names the package and every source that was tried.",
        "When pactor-seed(8) runs, pactor hands it the downloads through its control socket (`control.sock` in the `RuntimeDir` of pactor.conf(5)'s `[seed]` section), so that its DHT routing table and its peers, already known, serve the transaction. The unfinished downloads directory is handed to the daemon's user for the time, as to pacman's `DownloadUser`; pactor shows the progress in its own bars and checks every file itself before it goes into the cache. If the daemon is not running, pactor downloads by itself; if it stops during the download, pactor says so and finishes by itself from the pieces already on disk. Packages pactor placed in the cache are then handed to the daemon, which seeds them at once.",
        "Rates are limited by `DownloadLimit` and `UploadLimit` in pactor.conf(5).",
    ]),
    ("USE WITH MAKEPKG AND AUR HELPERS", &[
        "Tell the program which pacman to run: `PACMAN=pactor makepkg -si`; `yay --pacman pactor`; `paru --pacman pactor` (or `Pacman = pactor` under `[bin]` in paru.conf). These pass pacman's options, which pactor accepts unchanged. Because `sudo` drops the environment and makepkg looks `$PACMAN` up by name, torrent mode is switched on in pactor.conf(5) with `Torrent = yes` rather than through the environment; `--no-torrent` switches it off for one run.",
        "Operations that download nothing may be carried out by pacman itself: pactor runs the pacman binary named by `PacmanBin` in pactor.conf(5), never one found through PATH, with pactor's own options removed from the command line.",
    ]),
    ("EXIT STATUS", &[
        "0 on success and 1 on an error, as with pacman. `-T` exits with 127 when a dependency is not satisfied. When pacman carries out an operation, its exit status is pactor's.",
    ]),
    ("ENVIRONMENT", &[
        "`PACTOR_CONFIG`: read pactor.conf from this file, like `--pactor-config`.",
    ]),
    ("FILES", &[
        "`/etc/pacman.conf`: pacman's configuration, which pactor reads as pacman does (see pacman.conf(5)).",
        "`/etc/pactor.conf`: pactor's own settings, beside pacman.conf (see pactor.conf(5)).",
        "`/var/lib/pactor/`: pactor's state: stored torrents and unfinished downloads (`StateDir`).",
        "`/var/cache/pacman/pkg/`: the package cache, as configured in pacman.conf.",
        "`/usr/lib/pactor/pactor-engine`: the download process of `-x` as root, which drops to pacman.conf's `DownloadUser` (pactor runs in its place when it is missing or belongs to another version).",
        "`/run/pactor-seed/control.sock`: pactor-seed(8)'s control socket, where pactor hands it the downloads of `-x` (`RuntimeDir`).",
    ]),
    ("SEE ALSO", &[
        "pacman(8), pacman.conf(5), pactor.conf(5), pactor-mktorrent(1), pactor-seed(8), alpm-hooks(5), makepkg(8), libalpm(3)",
    ]),
];

fn render_pactor_8() -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        ".\\\" Generated from src/cli/flags.rs by tests/docs.rs; do not edit.\n\
         .\\\" Regenerate with: PACTOR_BLESS=1 cargo test --test docs\n\
         .TH PACTOR 8 \"\" \"pactor {VERSION}\" \"pactor manual\""
    );
    m.push_str(PACTOR_8_HEAD);
    for (i, p) in PACTOR_8_DESCRIPTION.iter().enumerate() {
        if i > 0 {
            m.push_str(".PP\n");
        }
        let _ = writeln!(m, "{}", roff_text(p));
    }
    let mut groups: BTreeSet<Group> = BTreeSet::new();
    for f in FLAGS {
        groups.extend(groups_of(f));
    }
    for g in groups {
        let _ = writeln!(m, ".SH \"{}\"", section_title(g));
        if let Some(intro) = section_intro(g) {
            let _ = writeln!(m, "{}", roff_text(intro));
        }
        let mut flags: Vec<&Flag> = FLAGS.iter().filter(|f| groups_of(f).contains(&g)).collect();
        if g != Group::Operations {
            flags.sort_by_key(help_order);
        }
        let op = match g {
            Group::Only(k) => Some(op_of_key(k)),
            _ => None,
        };
        for f in flags {
            let _ = writeln!(m, ".TP\n{}", option_header(f));
            let _ = writeln!(m, "{}", roff_text(&option_doc(f, op)));
            if f.pactor_only {
                let _ = writeln!(
                    m,
                    "{}",
                    roff_text("This option is pactor's own: pacman does not know it, and pactor removes it before handing a command line to pacman.")
                );
            }
        }
    }
    for (title, paras) in PACTOR_8_TAIL {
        let _ = writeln!(m, ".SH \"{title}\"");
        for (i, p) in paras.iter().enumerate() {
            if i > 0 {
                m.push_str(".PP\n");
            }
            let _ = writeln!(m, "{}", roff_text(p));
        }
    }
    m
}

// ---- pactor.conf -----------------------------------------------------------

/// One directive of pactor.conf, for pactor.conf(5) and etc/pactor.conf.
struct ConfKey {
    key: &'static str,
    /// The value's form, for the man page (`Key = <this>`).
    syntax: &'static str,
    /// The default as the man page states it.
    default: &'static str,
    /// The value shown (commented out) in etc/pactor.conf: the default where
    /// there is one, else an example.
    example: &'static str,
    /// The man page text (markup as above).
    doc: &'static str,
    /// The comment above the line in etc/pactor.conf.
    comment: &'static str,
}

const CONF_KEYS: &[ConfKey] = &[
    ConfKey {
        key: "Torrent",
        syntax: "yes | no",
        default: "no",
        example: "no",
        doc: "Download in torrent mode by default, as if `-x` were given to every operation that downloads packages. `--no-torrent` turns it off for one run. A bare `Torrent` means `yes`; `true`, `on`, `1` and `false`, `off`, `0` are accepted too.",
        comment: "Download every transaction in torrent mode, as if -x were given\n(--no-torrent turns it off for one run).",
    },
    ConfKey {
        key: "PacmanBin",
        syntax: "/path/to/pacman",
        default: "/usr/bin/pacman (fixed when pactor is built)",
        example: "/usr/bin/pacman",
        doc: "The pacman binary that runs the operations pactor hands over to pacman. pacman.conf is read as the `pacman-conf` in the same directory reads it: for the pacman pactor was built for, by pactor itself, which runs that `pacman-conf` wherever it would warn or fail; for any other, by running it. It must be an absolute path: pactor never looks pacman up through PATH.",
        comment: "The pacman that runs the operations pactor hands over (absolute path;\npacman.conf is read as the pacman-conf beside it reads it).",
    },
    ConfKey {
        key: "TorrentServer",
        syntax: "URL",
        default: "none",
        example: "https://torrents.example.org/$repo/os/$arch",
        doc: "Where to look for a package's .torrent before trying its mirrors. Like a `Server` line in pacman.conf: `$repo` and `$arch` are replaced, and `/`|file|`.torrent` is appended. May be repeated; the servers are tried in order, and a missing torrent is not an error.",
        comment: "Where to find each package's .torrent before its mirrors are tried;\n$repo and $arch are expanded, /<file>.torrent is appended. Repeatable.",
    },
    ConfKey {
        key: "Tracker",
        syntax: "URL",
        default: "none",
        example: "udp://tracker.example.org:6969/announce",
        doc: "A BitTorrent tracker to announce to for every torrent, in addition to the trackers the torrent names. May be repeated.",
        comment: "A tracker to announce to for every torrent, besides the torrent's own.\nRepeatable.",
    },
    ConfKey {
        key: "DownloadLimit",
        syntax: "rate",
        default: "0 (no limit)",
        example: "0",
        doc: "The most pactor downloads per second, from peers and mirrors together. `--download-limit` overrides it for one run. See RATES.",
        comment: "Limits in bytes per second: 0 for none, or a number with a unit,\nsuch as 500K, 2M, 1.5MiB/s or 10MB (K, M, G count 1024s; KB, MB, GB 1000s).",
    },
    ConfKey {
        key: "UploadLimit",
        syntax: "rate",
        default: "0 (no limit)",
        example: "0",
        doc: "The most pactor uploads per second to other BitTorrent peers. `--upload-limit` overrides it for one run. See RATES.",
        comment: "",
    },
    ConfKey {
        key: "ListenPort",
        syntax: "port",
        default: "0 (any free port)",
        example: "0",
        doc: "The TCP and UDP port on which pactor accepts BitTorrent connections. 0 lets the system choose a free one.",
        comment: "The port for incoming BitTorrent connections (0: any free port).",
    },
    ConfKey {
        key: "StateDir",
        syntax: "/path/to/dir",
        default: "/var/lib/pactor, or pactor beside the database directory when the database is elsewhere",
        example: "/var/lib/pactor",
        doc: "Where pactor keeps its state: stored torrents and unfinished downloads, from which an interrupted run continues.",
        comment: "pactor's state: stored torrents and unfinished downloads.",
    },
    ConfKey {
        key: "DHT",
        syntax: "yes|no",
        default: "yes",
        example: "yes",
        doc: "In torrent mode, look for peers through the public BitTorrent DHT (BEP 5), with the routing table kept in `StateDir` between runs. `no` keeps the swarm to the torrent's trackers, `Tracker` and local peers.",
        comment: "Find peers through the public DHT (no: trackers and local peers only).",
    },
    ConfKey {
        key: "LSD",
        syntax: "yes|no",
        default: "yes",
        example: "yes",
        doc: "In torrent mode, find peers on the local network by Local Service Discovery (BEP 14, multicast), so machines on one LAN share their caches first. `no` sends no multicast.",
        comment: "Find peers on the local network by multicast (BEP 14).",
    },
    ConfKey {
        key: "TorrentMinSize",
        syntax: "size",
        default: "1M",
        example: "1M",
        doc: "In torrent mode, packages smaller than |size| are not looked up in the swarm: they are downloaded from all mirrors at once from the first moment, like packages without a torrent. A torrent's lookup, its peers and its webseed connections cost more time than such a package takes from the mirrors. `0` sends every package with a torrent to the swarm. Written like a rate without `/s`, such as `512K` or `4M`.",
        comment: "Packages smaller than this come from the mirrors alone, at once\n(0: every package with a torrent goes to the swarm).",
    },
];

/// The directives of pactor.conf's `[seed]` section (pactor-seed(8)).
const SEED_KEYS: &[ConfKey] = &[
    ConfKey {
        key: "UploadLimit",
        syntax: "rate",
        default: "0 (no limit)",
        example: "0",
        doc: "The most pactor-seed uploads per second, over all packages, outside every `Schedule` window. See RATES.",
        comment: "The most pactor-seed uploads per second outside every Schedule window.",
    },
    ConfKey {
        key: "Schedule",
        syntax: "[days] HH:MM-HH:MM rate",
        default: "none",
        example: "Mon-Fri 08:00-18:00 256K",
        doc: "A time window with an upload rate of its own, in local time. |days| is a day (`Mon` to `Sun`), a range (`Mon-Fri`, `Sat-Mon`), a comma-separated list of these, or `*`; without it the window holds every day. A window whose end is not after its start crosses midnight and belongs to the day it starts on (`Fri 22:00-06:00` holds until Saturday 06:00); `24:00` ends a day. May be repeated: the first window that holds applies, and outside all of them `UploadLimit` does. The rate of the current window is applied every 30 seconds.",
        comment: "A time window with its own upload rate (local time; the first that\nholds applies). Days: Mon..Sun, ranges and lists, or * (every day).\nA window may cross midnight. Repeatable.",
    },
    ConfKey {
        key: "MaxTorrents",
        syntax: "number",
        default: "0 (no limit)",
        example: "0",
        doc: "Seed at most this many packages, the most recently modified first.",
        comment: "Seed at most this many packages, newest first (0: all).",
    },
    ConfKey {
        key: "ShareRatio",
        syntax: "ratio",
        default: "0 (no limit)",
        example: "0",
        doc: "Stop seeding a package once the bytes uploaded from it, over all runs, reach this many times its size (such as `2` or `0.5`).",
        comment: "Stop seeding a package once it uploaded this many times its size\n(all-time; 0: never stop).",
    },
    ConfKey {
        key: "ListenPort",
        syntax: "port",
        default: "6881",
        example: "6881",
        doc: "The TCP port on which pactor-seed accepts BitTorrent connections. It is fixed so that a firewall can open it; `0` lets the system choose a free one at each start.",
        comment: "The port for incoming BitTorrent connections (open it in a firewall).",
    },
    ConfKey {
        key: "DHT",
        syntax: "yes|no",
        default: "yes",
        example: "yes",
        doc: "Announce the seeded packages on the public BitTorrent DHT (BEP 5); the routing table is kept in `StateDir`.",
        comment: "Announce on the public DHT.",
    },
    ConfKey {
        key: "LSD",
        syntax: "yes|no",
        default: "yes",
        example: "yes",
        doc: "Announce the seeded packages on the local network by Local Service Discovery (BEP 14, multicast), so that machines on one LAN fetch from each other first.",
        comment: "Announce on the local network by multicast (BEP 14).",
    },
    ConfKey {
        key: "StateDir",
        syntax: "/path/to/dir",
        default: "/var/lib/pactor-seed",
        example: "/var/lib/pactor-seed",
        doc: "Where pactor-seed keeps its state: resume data of the seeded torrents, the DHT routing table, upload statistics and the trust ledger of files known to be good.",
        comment: "pactor-seed's state: resume data, DHT table, statistics, trust ledger.",
    },
    ConfKey {
        key: "RuntimeDir",
        syntax: "/path/to/dir",
        default: "/run/pactor-seed",
        example: "/run/pactor-seed",
        doc: "Where pactor-seed puts its sockets (`control.sock`, `status.sock`) and its lock file. pactor looks for `control.sock` here to hand the daemon the downloads of `-x`.",
        comment: "pactor-seed's sockets and lock file.",
    },
];

fn render_pactor_conf_5() -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        ".\\\" Generated by tests/docs.rs; do not edit.\n\
         .\\\" Regenerate with: PACTOR_BLESS=1 cargo test --test docs\n\
         .TH PACTOR.CONF 5 \"\" \"pactor {VERSION}\" \"pactor manual\""
    );
    m.push_str(".SH NAME\npactor.conf \\- pactor configuration file\n");
    m.push_str(".SH SYNOPSIS\n\\fI/etc/pactor.conf\\fR\n");
    m.push_str(".SH DESCRIPTION\n");
    for (i, p) in [
        "pactor(8) reads pacman.conf(5) for everything pacman reads (repositories and their servers, cache directories, signature levels, ignored packages), exactly as pacman does: as `pacman-conf` reads it (pactor follows the same rules itself, and runs `pacman-conf` wherever that would warn or fail). pactor.conf holds only pactor's own settings. They live in a file of their own because pacman would take any new section of pacman.conf for a repository.",
        "pactor.conf is read from the directory of pacman.conf: `/etc/pactor.conf`, or the file of that name beside the one given with `--config`. The PACTOR_CONFIG environment variable or the `--pactor-config` option name another file. When the file is missing at its usual place, the defaults below apply; a file named explicitly must exist.",
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            m.push_str(".PP\n");
        }
        let _ = writeln!(m, "{}", roff_text(p));
    }
    m.push_str(".SH FORMAT\n");
    let _ = writeln!(
        m,
        "{}",
        roff_text("The syntax is pacman.conf's: an `[options]` section for pactor and a `[seed]` section for pactor-seed(8), each holding `Key = value` lines. Text after `#` is a comment, blank lines are ignored, and spaces around keys and values are removed. A directive outside these sections is an error; an unknown directive in `[options]` is reported with a warning and ignored, one in `[seed]` is an error (the daemon does not run on settings it does not understand). A directive given twice replaces the earlier value, except those that may be repeated, which add to it.")
    );
    m.push_str(".SH OPTIONS\n");
    for k in CONF_KEYS {
        let _ = writeln!(m, ".TP\n\\fB{}\\fR = {}", k.key, esc_inline(k.syntax));
        let _ = writeln!(m, "{}", roff_text(k.doc));
        let _ = writeln!(m, ".RS\n.PP\nDefault: {}.\n.RE", esc_inline(k.default));
    }
    m.push_str(".SH \"SEED OPTIONS\"\n");
    let _ = writeln!(
        m,
        "{}",
        roff_text("The `[seed]` section configures pactor-seed(8), the daemon that seeds the package cache. It shares the file so that one place holds every BitTorrent setting; pactor itself reads only `RuntimeDir` from it, to find the daemon and hand it the downloads of `-x`. pactor-seed reads `Tracker` and `TorrentServer` from `[options]` too. Send the daemon SIGHUP (`systemctl reload pactor-seed`) to apply changes; `ListenPort`, `DHT`, `LSD`, `StateDir` and `RuntimeDir` need a restart.")
    );
    for k in SEED_KEYS {
        let _ = writeln!(m, ".TP\n\\fB{}\\fR = {}", k.key, esc_inline(k.syntax));
        let _ = writeln!(m, "{}", roff_text(k.doc));
        let _ = writeln!(m, ".RS\n.PP\nDefault: {}.\n.RE", esc_inline(k.default));
    }
    m.push_str(".SH RATES\n");
    let _ = writeln!(
        m,
        "{}",
        roff_text("A rate is in bytes per second: a number, with an optional fraction, followed by an optional unit and an optional `/s`. `B` is bytes; `K` (or `k`, `KiB`), `M` (`MiB`) and `G` (`GiB`) count 1024, 1024\u{b2} and 1024\u{b3}; `KB` (`kB`), `MB` and `GB` count 1000, 1000\u{b2} and 1000\u{b3}. `0` means no limit. Examples: `500K`, `2M`, `1.5MiB/s`, `10MB`.")
    );
    m.push_str(".SH EXAMPLE\n.nf\n");
    m.push_str(
        "[options]\nTorrent = yes\nTorrentServer = https://torrents.example.org/$repo/os/$arch\n",
    );
    m.push_str("DownloadLimit = 20M\nUploadLimit = 1M\n\n[seed]\nUploadLimit = 512K\nSchedule = Mon-Fri 08:00-18:00 64K\nMaxTorrents = 200\n.fi\n");
    let _ = writeln!(
        m,
        "{}",
        roff_text("pactor installs a commented example as `/etc/pactor.conf`, listing every directive with its default.")
    );
    m.push_str(".SH FILES\n");
    let _ = writeln!(m, ".TP\n\\fI/etc/pactor.conf\\fR\nThis file.");
    let _ = writeln!(
        m,
        ".TP\n\\fI/etc/pacman.conf\\fR\npacman's configuration, read through pacman\\-conf."
    );
    m.push_str(".SH \"SEE ALSO\"\npactor(8), pacman.conf(5), pacman(8), pactor\\-mktorrent(1), pactor\\-seed(8)\n");
    m
}

fn render_example_conf() -> String {
    let mut c = String::new();
    c.push_str(
        "#\n\
         # /etc/pactor.conf: pactor's own settings. See pactor.conf(5).\n\
         #\n\
         # Everything pacman reads (repositories, mirrors, cache directories,\n\
         # signature levels) stays in /etc/pacman.conf, which pactor reads the way\n\
         # pacman does. This file holds only what pacman has no place for.\n\
         # Every directive is shown commented out, with its default or, for\n\
         # those that may be repeated, an example.\n\
         #\n\
         # Generated by tests/docs.rs (PACTOR_BLESS=1 cargo test --test docs).\n\
         #\n\n\
         [options]\n",
    );
    for k in CONF_KEYS {
        if !k.comment.is_empty() {
            c.push('\n');
            for line in k.comment.lines() {
                let _ = writeln!(c, "# {line}");
            }
        }
        let _ = writeln!(c, "#{} = {}", k.key, k.example);
    }
    c.push_str(
        "\n# pactor-seed(8), the daemon that seeds the package cache\n\
         # (systemctl reload pactor-seed after a change). It reads Tracker and\n\
         # TorrentServer above.\n\
         [seed]\n",
    );
    for k in SEED_KEYS {
        if !k.comment.is_empty() {
            c.push('\n');
            for line in k.comment.lines() {
                let _ = writeln!(c, "# {line}");
            }
        }
        let _ = writeln!(c, "#{} = {}", k.key, k.example);
    }
    c
}

// ---- shell completions -----------------------------------------------------

/// What the value of an option completes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    Dir,
    File,
    Words(&'static str),
    Installed,
    Groups,
    Free,
}

fn value_kind(f: &Flag) -> Value {
    match f.long {
        "dbpath" | "root" | "sysroot" | "cachedir" | "hookdir" | "gpgdir" => Value::Dir,
        "config" | "logfile" | "pactor-config" | "overwrite" => Value::File,
        "color" => Value::Words("always never auto"),
        "ignore" => Value::Installed,
        "ignoregroup" => Value::Groups,
        _ => Value::Free,
    }
}

/// Operations that can be given (letters), in the flag table's order.
fn op_letters() -> String {
    Op::ALL.iter().map(|o| o.short()).collect()
}

/// Letters that take a value: the rest of a cluster is that value.
fn value_letters() -> String {
    FLAGS
        .iter()
        .filter(|f| f.arg == Arg::Required)
        .filter_map(|f| f.short)
        .collect()
}

/// The options offered under `op` (`None`: before an operation).
fn offered(op: Option<Op>) -> Vec<&'static Flag> {
    FLAGS
        .iter()
        .filter(|f| match op {
            None => is_operation(f) || f.scope.allows(None),
            Some(op) => (!is_operation(f) && f.scope.allows(Some(op))) || f.long == "help",
        })
        .collect()
}

fn ops_string(f: &Flag) -> String {
    ops_of(f).iter().map(|o| o.short()).collect()
}

fn render_bash() -> String {
    let mut s = String::new();
    s.push_str(
        "# bash completion for pactor(8)                          -*- shell-script -*-\n\
         # Generated from src/cli/flags.rs by tests/docs.rs; do not edit.\n\
         # Regenerate with: PACTOR_BLESS=1 cargo test --test docs\n\n",
    );
    // Options per operation.
    s.push_str("# Long options offered under an operation ('' before one).\n_pactor_longs() {\n    case $1 in\n");
    for op in Op::ALL.iter().map(|o| Some(*o)).chain([None]) {
        let longs: Vec<String> = offered(op)
            .iter()
            .map(|f| format!("--{}", f.long))
            .collect();
        let label = op
            .map(|o| o.short().to_string())
            .unwrap_or_else(|| "*".into());
        let _ = writeln!(s, "        {label}) echo '{}' ;;", longs.join(" "));
    }
    s.push_str("    esac\n}\n\n");
    s.push_str("# Short letters offered under an operation ('' before one).\n_pactor_shorts() {\n    case $1 in\n");
    for op in Op::ALL.iter().map(|o| Some(*o)).chain([None]) {
        let letters: String = offered(op).iter().filter_map(|f| f.short).collect();
        let label = op
            .map(|o| o.short().to_string())
            .unwrap_or_else(|| "*".into());
        let _ = writeln!(s, "        {label}) echo '{letters}' ;;");
    }
    s.push_str("    esac\n}\n\n");
    let rep: String = {
        let set: BTreeSet<char> = FLAGS
            .iter()
            .filter(|f| repeatable(f))
            .filter_map(|f| f.short)
            .collect();
        set.into_iter().collect()
    };
    let _ = writeln!(
        s,
        "# Letters that count when repeated (-yy, -cc).\n_pactor_repeatable='{rep}'\n"
    );

    // The operation.
    let ops = op_letters();
    let vals = value_letters();
    s.push_str(
        "# The operation letter of the words up to and including the current one.\n\
         _pactor_operation() {\n    local i j w\n    for ((i = 1; i <= COMP_CWORD; i++)); do\n        w=${COMP_WORDS[i]}\n        case $w in\n            --) return ;;\n",
    );
    for op in Op::ALL {
        let _ = writeln!(
            s,
            "            --{}) echo {}; return ;;",
            op.long(),
            op.short()
        );
    }
    let _ = write!(
        s,
        "            --*) ;;\n            -?*)\n                for ((j = 1; j < ${{#w}}; j++)); do\n                    case ${{w:j:1}} in\n                        [{ops}]) echo \"${{w:j:1}}\"; return ;;\n                        [{vals}]) break ;;\n                    esac\n                done\n                ;;\n        esac\n    done\n}}\n\n"
    );
    s.push_str(
        "# Whether an option (letter, long name) appears before the current word.\n\
         _pactor_given() {\n    local i j w\n    for ((i = 1; i < COMP_CWORD; i++)); do\n        w=${COMP_WORDS[i]}\n        case $w in\n            --) return 1 ;;\n            \"--$2\") return 0 ;;\n            --*) ;;\n            -?*)\n                for ((j = 1; j < ${#w}; j++)); do\n                    [[ ${w:j:1} == \"$1\" ]] && return 0\n",
    );
    let _ = write!(
        s,
        "                    [[ ${{w:j:1}} == [{vals}] ]] && break\n                done\n                ;;\n        esac\n    done\n    return 1\n}}\n\n"
    );

    // Values.
    s.push_str("# Completes the value of option $1 from $2; fails when $1 takes no value.\n_pactor_value() {\n    case $1 in\n");
    let mut by_kind: Vec<(Value, Vec<String>)> = Vec::new();
    for f in FLAGS.iter().filter(|f| f.arg == Arg::Required) {
        let mut names = vec![format!("--{}", f.long)];
        if let Some(c) = f.short {
            names.push(format!("-{c}"));
        }
        let kind = value_kind(f);
        match by_kind.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, v)) => v.extend(names),
            None => by_kind.push((kind, names)),
        }
    }
    for (kind, names) in by_kind {
        let action = match kind {
            Value::Dir => {
                "compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$2\")"
                    .to_owned()
            }
            Value::File => {
                "compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$2\")"
                    .to_owned()
            }
            Value::Words(w) => format!("mapfile -t COMPREPLY < <(compgen -W '{w}' -- \"$2\")"),
            Value::Installed => "_pactor_complete_names \"$2\" installed".to_owned(),
            Value::Groups => "_pactor_complete_names \"$2\" groups".to_owned(),
            Value::Free => ":".to_owned(),
        };
        let _ = writeln!(s, "        {}) {action} ;;", names.join(" | "));
    }
    s.push_str("        *) return 1 ;;\n    esac\n}\n\n");
    s.push_str(BASH_RUNTIME);
    s
}

/// The hand-written part of the bash completion: names from the databases at
/// completion time, and the dispatch.
const BASH_RUNTIME: &str = r#"# Names from the databases, asked for at completion time: $2 is sync
# (packages of the sync repositories, repo/name once $1 has a slash),
# installed, groups (of the sync repositories), installed-groups or repos.
_pactor_complete_names() {
    local names
    case $2 in
        sync)
            if [[ $1 == */* ]]; then
                names=$(command pactor -Sl 2>/dev/null | while read -r repo name _; do printf '%s/%s\n' "$repo" "$name"; done)
            else
                names=$(command pactor -Slq 2>/dev/null)
            fi
            ;;
        installed) names=$(command pactor -Qq 2>/dev/null) ;;
        groups) names=$(command pactor -Sg 2>/dev/null) ;;
        installed-groups) names=$(command pactor -Qg 2>/dev/null | while read -r group _; do printf '%s\n' "$group"; done | sort -u) ;;
        repos) names=$(command pacman-conf --repo-list 2>/dev/null) ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$names" -- "$1")
}

# Package files for -U and -Qp: *.pkg.tar* and directories.
_pactor_complete_pkgfiles() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -X '!*.pkg.tar*' -- "$1"; compgen -d -- "$1")
}

_pactor_complete_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

_pactor_targets() {
    case $1 in
        S)
            if _pactor_given g groups; then _pactor_complete_names "$2" groups
            elif _pactor_given l list; then _pactor_complete_names "$2" repos
            elif ! _pactor_given s search; then _pactor_complete_names "$2" sync
            fi
            ;;
        Q)
            if _pactor_given p file; then _pactor_complete_pkgfiles "$2"
            elif _pactor_given o owns; then _pactor_complete_files "$2"
            elif _pactor_given g groups; then _pactor_complete_names "$2" installed-groups
            elif ! _pactor_given s search; then _pactor_complete_names "$2" installed
            fi
            ;;
        R | D | T) _pactor_complete_names "$2" installed ;;
        U) _pactor_complete_pkgfiles "$2" ;;
        F)
            if _pactor_given l list; then _pactor_complete_names "$2" sync
            else _pactor_complete_files "$2"
            fi
            ;;
    esac
}

_pactor() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} op c i letters
    COMPREPLY=()
    op=$(_pactor_operation)

    # The value of an option: '--key value', '--key=value' (bash splits the
    # word at '=', unless COMP_WORDBREAKS lacks it), '-b value', '-Syb value'.
    if [[ $cur == --*=* ]]; then
        local key=${cur%%=*}
        _pactor_value "$key" "${cur#*=}" && {
            for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="$key=${COMPREPLY[i]}"; done
            return 0
        }
    elif [[ $cur == = ]]; then
        _pactor_value "$prev" "" && return 0
    elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
        _pactor_value "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" && return 0
    elif [[ $prev == --?* ]]; then
        _pactor_value "$prev" "$cur" && return 0
    elif [[ $prev =~ ^-[A-Za-z]+$ ]]; then
        _pactor_value "-${prev: -1}" "$cur" && return 0
    fi

    if [[ $cur == --* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_pactor_longs "$op")" -- "$cur")
    elif [[ $cur == -* ]]; then
        if [[ -z $op ]]; then
            letters=$(_pactor_shorts "")
            for ((i = 0; i < ${#letters}; i++)); do COMPREPLY+=("$cur${letters:i:1}"); done
        elif [[ $cur == - ]]; then
            letters=$(_pactor_shorts "$op")
            for ((i = 0; i < ${#letters}; i++)); do COMPREPLY+=("-${letters:i:1}"); done
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$(_pactor_longs "$op")" -- "$cur")
        else
            # Extend the cluster: every letter of the operation not used yet
            # (or one that counts when repeated).
            COMPREPLY=("$cur")
            letters=$(_pactor_shorts "$op")
            for ((i = 0; i < ${#letters}; i++)); do
                c=${letters:i:1}
                if [[ ${cur:1} != *"$c"* || $_pactor_repeatable == *"$c"* ]]; then
                    COMPREPLY+=("$cur$c")
                fi
            done
        fi
    else
        _pactor_targets "$op" "$cur"
    fi
    return 0
}

complete -F _pactor pactor
"#;

/// A zsh `_arguments` spec word for an option, single-quoted.
fn zsh_specs(f: &Flag) -> Vec<String> {
    let desc = f
        .help
        .replace('\\', "\\\\")
        .replace('[', "\\[")
        .replace(']', "\\]")
        .replace('\'', "'\\''");
    let action = match f.arg {
        Arg::Required => {
            let act = match value_kind(f) {
                Value::Dir => "_files -/".to_owned(),
                Value::File => "_files".to_owned(),
                Value::Words(w) => format!("({w})"),
                Value::Installed => "_pactor_names installed".to_owned(),
                Value::Groups => "_pactor_names groups".to_owned(),
                Value::Free => " ".to_owned(),
            };
            format!(":{}:{act}", f.value_name.replace(':', "\\:"))
        }
        _ => String::new(),
    };
    let star = if repeatable(f) || multi_value(f) {
        "*"
    } else {
        ""
    };
    let mut names = Vec::new();
    if let Some(c) = f.short {
        names.push(match f.arg {
            Arg::Required => format!("-{c}+"),
            _ => format!("-{c}"),
        });
    }
    names.push(match f.arg {
        Arg::Required => format!("--{}=", f.long),
        _ => format!("--{}", f.long),
    });
    let exclusion = if star.is_empty() && f.short.is_some() {
        format!("(-{} --{})", f.short.unwrap_or(' '), f.long)
    } else {
        String::new()
    };
    names
        .iter()
        .map(|n| format!("'{exclusion}{star}{n}[{desc}]{action}'"))
        .collect()
}

fn render_zsh() -> String {
    let mut s = String::new();
    s.push_str(
        "#compdef pactor\n\
         # zsh completion for pactor(8)\n\
         # Generated from src/cli/flags.rs by tests/docs.rs; do not edit.\n\
         # Regenerate with: PACTOR_BLESS=1 cargo test --test docs\n\n",
    );
    s.push_str("# The _arguments specs of an operation's options, in $reply ('' before one).\n_pactor_specs() {\n    case $1 in\n");
    for op in Op::ALL.iter().map(|o| Some(*o)).chain([None]) {
        let label = op
            .map(|o| o.short().to_string())
            .unwrap_or_else(|| "*".into());
        let _ = writeln!(s, "        ({label}) reply=(");
        let mut flags = offered(op);
        if let Some(op) = op {
            // The operation's own letter, so that `-Syu` parses.
            flags.insert(0, FLAGS.iter().find(|f| f.long == op.long()).unwrap());
        }
        for f in flags {
            for spec in zsh_specs(f) {
                let _ = writeln!(s, "            {spec}");
            }
        }
        s.push_str("        ) ;;\n");
    }
    s.push_str("    esac\n}\n\n");
    let ops = op_letters();
    let vals = value_letters();
    s.push_str(
        "# The operation letter of the words up to and including the current one.\n\
         _pactor_operation() {\n    local w i\n    for w in ${words[2,CURRENT]}; do\n        case $w in\n            (--) return ;;\n",
    );
    for op in Op::ALL {
        let _ = writeln!(
            s,
            "            (--{}) print {}; return ;;",
            op.long(),
            op.short()
        );
    }
    let _ = write!(
        s,
        "            (--*) ;;\n            (-?*)\n                for (( i = 2; i <= $#w; i++ )); do\n                    case $w[i] in\n                        ([{ops}]) print $w[i]; return ;;\n                        ([{vals}]) break ;;\n                    esac\n                done\n                ;;\n        esac\n    done\n}}\n\n"
    );
    let _ = write!(
        s,
        "# Whether an option (letter, long name) appears before the current word.\n\
         _pactor_given() {{\n    local w i\n    for w in ${{words[2,CURRENT-1]}}; do\n        case $w in\n            (--) return 1 ;;\n            (--$2) return 0 ;;\n            (--*) ;;\n            (-?*)\n                for (( i = 2; i <= $#w; i++ )); do\n                    [[ $w[i] == $1 ]] && return 0\n                    [[ $w[i] == [{vals}] ]] && break\n                done\n                ;;\n        esac\n    done\n    return 1\n}}\n\n"
    );
    s.push_str(ZSH_RUNTIME);
    s
}

const ZSH_RUNTIME: &str = r#"# Names from the databases, asked for at completion time: sync (repo/name
# once the word has a slash), installed, groups, installed-groups, repos.
# _arguments puts its own options before the argument: the kind is the last.
_pactor_names() {
    local -a names lines
    local expl
    case ${argv[-1]} in
        (sync)
            if [[ $PREFIX == */* ]]; then
                lines=( ${(f)"$(_call_program packages pactor -Sl 2>/dev/null)"} )
                names=( ${${lines/ //}%% *} )
            else
                names=( ${(f)"$(_call_program packages pactor -Slq 2>/dev/null)"} )
            fi
            _wanted packages expl 'package' compadd -a names ;;
        (installed)
            names=( ${(f)"$(_call_program packages pactor -Qq 2>/dev/null)"} )
            _wanted packages expl 'installed package' compadd -a names ;;
        (groups)
            names=( ${(f)"$(_call_program groups pactor -Sg 2>/dev/null)"} )
            _wanted groups expl 'group' compadd -a names ;;
        (installed-groups)
            lines=( ${(f)"$(_call_program groups pactor -Qg 2>/dev/null)"} )
            names=( ${(u)lines%% *} )
            _wanted groups expl 'group' compadd -a names ;;
        (repos)
            names=( ${(f)"$(_call_program repositories pacman-conf --repo-list 2>/dev/null)"} )
            _wanted repositories expl 'repository' compadd -a names ;;
    esac
}

_pactor_targets() {
    case ${argv[-1]} in
        (S)
            if _pactor_given g groups; then _pactor_names groups
            elif _pactor_given l list; then _pactor_names repos
            elif ! _pactor_given s search; then _pactor_names sync
            fi ;;
        (Q)
            if _pactor_given p file; then _files -g '*.pkg.tar*(-.)'
            elif _pactor_given o owns; then _files
            elif _pactor_given g groups; then _pactor_names installed-groups
            elif ! _pactor_given s search; then _pactor_names installed
            fi ;;
        (R|D|T) _pactor_names installed ;;
        (U) _files -g '*.pkg.tar*(-.)' ;;
        (F)
            if _pactor_given l list; then _pactor_names sync
            else _files
            fi ;;
    esac
}

_pactor() {
    local op=$(_pactor_operation)
    local -a reply
    _pactor_specs "$op"
    if [[ -z $op ]]; then
        _arguments -s : $reply
    else
        _arguments -s : $reply "*:target:_pactor_targets $op"
    fi
}

_pactor "$@"
"#;

fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn render_fish() -> String {
    let mut s = String::new();
    s.push_str(
        "# fish completion for pactor(8)\n\
         # Generated from src/cli/flags.rs by tests/docs.rs; do not edit.\n\
         # Regenerate with: PACTOR_BLESS=1 cargo test --test docs\n\n",
    );
    let ops = op_letters();
    let vals = value_letters();
    s.push_str(
        "# The operation letter of the command line, if one was given.\n\
         function __pactor_op\n    set -l tokens (commandline -opc) (commandline -ct)\n    for w in $tokens[2..-1]\n        switch $w\n            case --\n                return 1\n",
    );
    for op in Op::ALL {
        let _ = writeln!(
            s,
            "            case --{}\n                echo {}\n                return 0",
            op.long(),
            op.short()
        );
    }
    let _ = write!(
        s,
        "            case '--*'\n            case '-?*'\n                for c in (string split '' -- (string sub -s 2 -- $w))\n                    if string match -q -r -- '^[{ops}]$' $c\n                        echo $c\n                        return 0\n                    else if string match -q -r -- '^[{vals}]$' $c\n                        break\n                    end\n                end\n        end\n    end\n    return 1\nend\n\n"
    );
    let _ = write!(
        s,
        "# Whether the operation is one of the letters in $argv[1].\n\
         function __pactor_op_in\n    set -l op (__pactor_op)\n    or return 1\n    string match -q -- \"*$op*\" $argv[1]\nend\n\n\
         # Whether an option (letter, long name) appears before the current token.\n\
         function __pactor_given\n    set -l tokens (commandline -opc)\n    for w in $tokens[2..-1]\n        switch $w\n            case --\n                return 1\n            case --$argv[2]\n                return 0\n            case '--*'\n            case '-?*'\n                for c in (string split '' -- (string sub -s 2 -- $w))\n                    test $c = $argv[1]\n                    and return 0\n                    string match -q -r -- '^[{vals}]$' $c\n                    and break\n                end\n        end\n    end\n    return 1\nend\n\n"
    );
    s.push_str(FISH_RUNTIME);
    s.push_str("\ncomplete -c pactor -f\n\n# Operations.\n");
    for f in FLAGS.iter().filter(|f| is_operation(f)) {
        let cond = if f.long == "help" {
            String::new()
        } else {
            "-n 'not __pactor_op' ".to_owned()
        };
        let _ = writeln!(
            s,
            "complete -c pactor {cond}-s {} -l {} -d {}",
            f.short.unwrap_or(' '),
            f.long,
            fish_quote(f.help)
        );
    }
    s.push_str("\n# Options, with the operations they apply to.\n");
    for f in FLAGS.iter().filter(|f| !is_operation(f)) {
        let cond = if f.scope.allows(None) {
            String::new()
        } else {
            format!("-n '__pactor_op_in {}' ", ops_string(f))
        };
        let short = f.short.map(|c| format!("-s {c} ")).unwrap_or_default();
        let value = match f.arg {
            Arg::None | Arg::Optional => String::new(),
            Arg::Required => match value_kind(f) {
                Value::Dir => "-x -a '(__fish_complete_directories)' ".to_owned(),
                Value::File => "-r -F ".to_owned(),
                Value::Words(w) => format!("-x -a '{w}' "),
                Value::Installed => "-x -a '(__pactor_names installed)' ".to_owned(),
                Value::Groups => "-x -a '(__pactor_names groups)' ".to_owned(),
                Value::Free => "-x ".to_owned(),
            },
        };
        let _ = writeln!(
            s,
            "complete -c pactor {cond}{short}-l {} {value}-d {}",
            f.long,
            fish_quote(f.help)
        );
    }
    s.push_str(FISH_TARGETS);
    s
}

const FISH_RUNTIME: &str = r#"# Names from the databases, asked for at completion time: sync (repo/name
# once the token has a slash), installed, groups, installed-groups, repos.
function __pactor_names
    switch $argv[1]
        case sync
            if string match -q -- '*/*' (commandline -ct)
                command pactor -Sl 2>/dev/null | string replace -r -- '^(\S+) (\S+).*' '$1/$2'
            else
                command pactor -Slq 2>/dev/null
            end
        case installed
            command pactor -Qq 2>/dev/null
        case groups
            command pactor -Sg 2>/dev/null
        case installed-groups
            command pactor -Qg 2>/dev/null | string replace -r -- ' .*' '' | sort -u
        case repos
            command pacman-conf --repo-list 2>/dev/null
    end
end
"#;

const FISH_TARGETS: &str = r#"
# Targets.
complete -c pactor -n '__pactor_op_in S; and not __pactor_given g groups; and not __pactor_given l list; and not __pactor_given s search' -a '(__pactor_names sync)'
complete -c pactor -n '__pactor_op_in S; and __pactor_given g groups' -a '(__pactor_names groups)'
complete -c pactor -n '__pactor_op_in S; and __pactor_given l list' -a '(__pactor_names repos)'
complete -c pactor -n '__pactor_op_in Q; and not __pactor_given p file; and not __pactor_given o owns; and not __pactor_given g groups; and not __pactor_given s search' -a '(__pactor_names installed)'
complete -c pactor -n '__pactor_op_in Q; and __pactor_given g groups' -a '(__pactor_names installed-groups)'
complete -c pactor -n '__pactor_op_in Q; and __pactor_given p file' -F
complete -c pactor -n '__pactor_op_in Q; and __pactor_given o owns' -F
complete -c pactor -n '__pactor_op_in RDT' -a '(__pactor_names installed)'
complete -c pactor -n '__pactor_op_in U' -F
complete -c pactor -n '__pactor_op_in F; and __pactor_given l list' -a '(__pactor_names sync)'
complete -c pactor -n '__pactor_op_in F; and not __pactor_given l list' -F
"#;

// ---- the generated files ---------------------------------------------------

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn generated() -> Vec<(PathBuf, String)> {
    vec![
        (root().join("man/pactor.8"), render_pactor_8()),
        (root().join("man/pactor.conf.5"), render_pactor_conf_5()),
        (root().join("etc/pactor.conf"), render_example_conf()),
        (root().join("completions/pactor.bash"), render_bash()),
        (root().join("completions/_pactor"), render_zsh()),
        (root().join("completions/pactor.fish"), render_fish()),
    ]
}

#[test]
fn generated_files_are_up_to_date() {
    let bless = std::env::var_os("PACTOR_BLESS").is_some();
    let mut stale = Vec::new();
    for (path, want) in generated() {
        let have = fs::read_to_string(&path).ok();
        if bless && have.as_deref() != Some(want.as_str()) {
            // Atomically: the completion tests read these files in parallel.
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            let tmp = path.with_extension("blessing");
            fs::write(&tmp, &want).unwrap();
            fs::rename(&tmp, &path).unwrap();
            continue;
        }
        if have.as_deref() != Some(want.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date (run PACTOR_BLESS=1 cargo test --test docs): {}",
        stale.join(", ")
    );
}

// ---- the man page against --help -------------------------------------------

fn pactor_output(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pactor"))
        .args(args)
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .expect("run pactor");
    assert!(out.status.success(), "pactor {args:?} failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// The long options in the option column of `--help` output.
fn help_longs(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines().skip(1) {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        for word in t.split_whitespace().take(3) {
            if let Some(name) = word.strip_prefix("--") {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect();
                out.insert(name);
            }
        }
    }
    out
}

/// `(section title, long options of its .TP entries)` of a man page.
fn man_sections(page: &str) -> Vec<(String, BTreeSet<String>)> {
    let plain = |l: &str| {
        l.replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fR", "")
            .replace("\\fI", "")
            .replace('"', "")
    };
    let mut sections: Vec<(String, BTreeSet<String>)> = Vec::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if let Some(title) = line.strip_prefix(".SH ") {
            sections.push((plain(title), BTreeSet::new()));
        } else if line == ".TP" {
            let header = plain(lines.next().unwrap_or(""));
            let Some((_, set)) = sections.last_mut() else {
                continue;
            };
            for word in header.split([' ', ',', '[', '<']) {
                if let Some(name) = word.strip_prefix("--") {
                    set.insert(name.to_owned());
                }
            }
        }
    }
    sections
}

/// The operations a section title of pactor(8) names; `None` for sections
/// that are not option lists.
fn title_ops(title: &str) -> Option<Vec<char>> {
    if title == "OPTIONS" {
        return Some(Op::ALL.iter().map(|o| o.short()).collect());
    }
    let (_, applies) = title.split_once("(APPLY TO ")?;
    Some(
        applies
            .split(|c: char| !c.is_ascii_alphabetic() && c != '-')
            .filter_map(|w| w.strip_prefix('-'))
            .filter_map(|w| w.chars().next())
            .collect(),
    )
}

#[test]
fn man_page_lists_exactly_the_options_of_help() {
    let page = fs::read_to_string(root().join("man/pactor.8")).unwrap();
    let sections = man_sections(&page);

    let ops_help = pactor_output(&["-h"]);
    let mut want: BTreeSet<String> = BTreeSet::new();
    for line in ops_help.lines() {
        if let Some((_, rest)) = line.split_once('{') {
            let inner = rest.split('}').next().unwrap_or("");
            want.extend(
                inner
                    .split_whitespace()
                    .filter_map(|w| w.strip_prefix("--"))
                    .map(str::to_owned),
            );
        }
    }
    let have = sections
        .iter()
        .find(|(t, _)| t == "OPERATIONS")
        .map(|(_, s)| s.clone())
        .expect("an OPERATIONS section");
    assert_eq!(have, want, "OPERATIONS in pactor.8 vs pactor -h");

    let mut documented: BTreeSet<String> = have;
    for op in Op::ALL {
        let help = pactor_output(&[&format!("-{}", op.short()), "-h"]);
        let want = help_longs(&help);
        assert!(
            !want.is_empty() || op == Op::Deptest,
            "no options parsed from pactor -{} -h",
            op.short()
        );
        let mut have = BTreeSet::new();
        for (title, longs) in &sections {
            if title_ops(title).is_some_and(|ops| ops.contains(&op.short())) {
                have.extend(longs.iter().cloned());
            }
        }
        let missing: Vec<_> = want.difference(&have).collect();
        let extra: Vec<_> = have.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "pactor -{0} -h and pactor.8 disagree: in --help only: {missing:?}; in the man page only: {extra:?}",
            op.short()
        );
        documented.extend(have);
    }
    // Every option of the man page is somewhere in --help.
    let all: BTreeSet<String> = sections
        .iter()
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    let orphans: Vec<_> = all.difference(&documented).collect();
    assert!(
        orphans.is_empty(),
        "in pactor.8 but in no --help: {orphans:?}"
    );
}

#[test]
fn every_flag_is_in_the_man_page() {
    let page = fs::read_to_string(root().join("man/pactor.8")).unwrap();
    let all: BTreeSet<String> = man_sections(&page)
        .into_iter()
        .flat_map(|(_, s)| s)
        .collect();
    for f in FLAGS {
        assert!(all.contains(f.long), "--{} is not in man/pactor.8", f.long);
    }
    assert!(
        page.contains("\\fB\\-x\\fR, \\fB\\-\\-torrent\\fR"),
        "-x is documented with its letter"
    );
}

#[test]
fn man_pages_render_without_warnings() {
    if Command::new("groff").arg("--version").output().is_err() {
        eprintln!("skipped: groff is not installed");
        return;
    }
    for page in ["man/pactor.8", "man/pactor.conf.5", "man/pactor-seed.8"] {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(root().join(page))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff warns about {page}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

// ---- pactor-seed -----------------------------------------------------------

/// pactor-seed's man page and completions come from its clap definition
/// (`pactor::seed::cli::command`), like pactor-mktorrent's.
#[test]
fn pactor_seed_man_page_and_completions_match_the_clap_definition() {
    use clap_complete::{generate, Shell};
    let mut wanted: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (shell, file) in [
        (Shell::Bash, "completions/pactor-seed.bash"),
        (Shell::Zsh, "completions/pactor-seed.zsh"),
        (Shell::Fish, "completions/pactor-seed.fish"),
    ] {
        let mut cmd = pactor::seed::cli::command();
        let mut buf = Vec::new();
        generate(shell, &mut cmd, "pactor-seed", &mut buf);
        wanted.push((root().join(file), buf));
    }
    // clap_mangen's SUBCOMMANDS section points at pages of their own; the
    // commands are documented in COMMANDS (src/seed/man_extra.roff) instead.
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(pactor::seed::cli::command()).section("8");
    man.render_title(&mut page).unwrap();
    man.render_name_section(&mut page).unwrap();
    man.render_synopsis_section(&mut page).unwrap();
    man.render_description_section(&mut page).unwrap();
    man.render_options_section(&mut page).unwrap();
    wanted.push((
        root().join("man/pactor-seed.8"),
        pactor::seed::cli::render_man(&page),
    ));
    let bless = std::env::var_os("PACTOR_BLESS").is_some();
    for (path, want) in wanted {
        if bless {
            fs::write(&path, &want).unwrap();
        }
        let have = fs::read(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is out of date: run PACTOR_BLESS=1 cargo test --test docs",
            path.display()
        );
    }
}

/// Every option and command of pactor-seed is in its man page, and the
/// page names every `[seed]` key's home, pactor.conf(5).
#[test]
fn pactor_seed_man_page_covers_options_commands_and_files() {
    let page = fs::read_to_string(root().join("man/pactor-seed.8")).unwrap();
    let cmd = pactor::seed::cli::command();
    let mut longs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    for sub in cmd.get_subcommands() {
        assert!(
            page.contains(&format!("pactor\\-seed\\-{}", sub.get_name()))
                || page.contains(&format!("\\fB{}\\fR", sub.get_name()))
                || page.contains(sub.get_name()),
            "command {} is not in man/pactor-seed.8",
            sub.get_name()
        );
        longs.extend(
            sub.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_owned)),
        );
    }
    for l in &longs {
        assert!(
            page.contains(&format!("\\-\\-{}", l.replace('-', "\\-"))),
            "--{l} is not in man/pactor-seed.8"
        );
    }
    for needle in [
        "pactor.conf",
        "control.sock",
        "status.sock",
        "trusted.json",
        "stats.json",
        "pactor\\-seed.service",
    ] {
        assert!(
            page.contains(needle),
            "{needle} is not in man/pactor-seed.8"
        );
    }
}

// ---- pactor.conf -----------------------------------------------------------

/// The keys `load_pactor_file` in src/config.rs matches on.
fn keys_parsed_by_config_rs() -> BTreeSet<String> {
    keys_matched_in("pub fn load_pactor_file")
}

/// The keys of the `[seed]` section (`parse_seed_key` in src/config.rs).
fn seed_keys_parsed_by_config_rs() -> BTreeSet<String> {
    keys_matched_in("fn parse_seed_key")
}

/// The `"Key" =>` match arms of one function of src/config.rs.
fn keys_matched_in(function: &str) -> BTreeSet<String> {
    let src = fs::read_to_string(root().join("src/config.rs")).unwrap();
    let start = src
        .find(function)
        .unwrap_or_else(|| panic!("{function} in src/config.rs"));
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    body.lines()
        .filter_map(|l| {
            let t = l.trim_start().strip_prefix('"')?;
            let (key, rest) = t.split_once('"')?;
            (rest.trim_start().starts_with("=>")
                && key.starts_with(|c: char| c.is_ascii_uppercase()))
            .then(|| key.to_owned())
        })
        .collect()
}

#[test]
fn pactor_conf_keys_match_config_rs() {
    let parsed = keys_parsed_by_config_rs();
    assert!(
        parsed.len() >= 8,
        "too few keys found in src/config.rs: {parsed:?}"
    );
    let documented: BTreeSet<String> = CONF_KEYS.iter().map(|k| k.key.to_owned()).collect();
    assert_eq!(
        parsed, documented,
        "keys parsed by src/config.rs vs documented in tests/docs.rs CONF_KEYS"
    );
    let page = fs::read_to_string(root().join("man/pactor.conf.5")).unwrap();
    let example = fs::read_to_string(root().join("etc/pactor.conf")).unwrap();
    for key in &parsed {
        assert!(
            page.contains(&format!(".TP\n\\fB{key}\\fR = ")),
            "{key} is not in man/pactor.conf.5"
        );
        assert!(
            example
                .lines()
                .any(|l| l.starts_with(&format!("#{key} = "))),
            "{key} is not in etc/pactor.conf"
        );
    }
}

#[test]
fn seed_keys_match_config_rs() {
    let parsed = seed_keys_parsed_by_config_rs();
    let documented: BTreeSet<String> = SEED_KEYS.iter().map(|k| k.key.to_owned()).collect();
    assert_eq!(
        parsed, documented,
        "[seed] keys parsed by src/config.rs vs documented in tests/docs.rs SEED_KEYS"
    );
    let page = fs::read_to_string(root().join("man/pactor.conf.5")).unwrap();
    let seed_part = &page[page.find(".SH \"SEED OPTIONS\"").expect("SEED OPTIONS")..];
    let example = fs::read_to_string(root().join("etc/pactor.conf")).unwrap();
    let example_seed = &example[example.find("\n[seed]\n").expect("[seed] in the example")..];
    for key in &parsed {
        assert!(
            seed_part.contains(&format!(".TP\n\\fB{key}\\fR = ")),
            "{key} is not in the SEED OPTIONS of man/pactor.conf.5"
        );
        assert!(
            example_seed
                .lines()
                .any(|l| l.starts_with(&format!("#{key} = "))),
            "{key} is not in the [seed] section of etc/pactor.conf"
        );
    }
}

#[test]
fn seed_defaults_match_the_code() {
    let d = pactor::config::SeedSettings::default();
    let doc = |key: &str| SEED_KEYS.iter().find(|k| k.key == key).unwrap().default;
    assert!(doc("UploadLimit").starts_with(&format!("{} ", d.upload_limit)));
    assert!(d.schedule.is_empty() && doc("Schedule") == "none");
    assert!(doc("MaxTorrents").starts_with(&format!("{} ", d.max_torrents)));
    assert!(doc("ShareRatio").starts_with(&format!("{} ", d.share_ratio)));
    assert_eq!(doc("ListenPort"), d.listen_port.to_string());
    assert_eq!(doc("DHT"), if d.dht { "yes" } else { "no" });
    assert_eq!(doc("LSD"), if d.lsd { "yes" } else { "no" });
    assert_eq!(doc("StateDir"), d.state_dir.display().to_string());
    assert_eq!(doc("RuntimeDir"), d.runtime_dir.display().to_string());
}

#[test]
fn bad_seed_keys_are_errors_with_the_line() {
    for (text, want) in [
        (
            "[seed]\nUploadLimit = fast\n",
            "line 2: invalid rate 'fast'",
        ),
        (
            "[seed]\nSchedule = Mon 08:00 1K\n",
            "line 2: invalid time span",
        ),
        (
            "[seed]\n\nMaxTorrents = -1\n",
            "line 3: invalid number '-1'",
        ),
        ("[seed]\nShareRatio = -2\n", "line 2: invalid ratio '-2'"),
        (
            "[seed]\nStateDir = relative\n",
            "line 2: StateDir must be an absolute path",
        ),
        (
            "[seed]\nUploadLimt = 1M\n",
            "line 2: directive 'UploadLimt' in section 'seed' not recognized",
        ),
    ] {
        let e = load_conf(text).unwrap_err();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let s = load_conf("[seed]\nUploadLimit = 1M\nSchedule = Sat,Sun 00:00-24:00 0\nSchedule = 22:00-06:00 4M\nMaxTorrents = 10\nShareRatio = 1.5\nLSD = no\n[options]\nUploadLimit = 2K\n").unwrap();
    assert_eq!(s.upload_limit, 2048);
    assert_eq!(s.seed.upload_limit, 1 << 20);
    assert_eq!(s.seed.schedule.len(), 2);
    assert_eq!(
        (s.seed.max_torrents, s.seed.share_ratio, s.seed.lsd),
        (10, 1.5, false)
    );
}

fn load_conf(text: &str) -> Result<pactor::config::PactorSettings, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pactor.conf");
    fs::write(&path, text).unwrap();
    let argv: Vec<String> = vec![
        "-S".into(),
        "--pactor-config".into(),
        path.display().to_string(),
    ];
    let args = pactor::cli::parse("pactor", &argv).map_err(|e| format!("{e:?}"))?;
    pactor::config::load_pactor(&args)
        .map(|mut s| {
            s.file = None;
            s
        })
        .map_err(|e| e.to_string())
}

#[test]
fn example_pactor_conf_is_valid_and_states_the_defaults() {
    let example = fs::read_to_string(root().join("etc/pactor.conf")).unwrap();
    let default = format!("{:?}", pactor::config::PactorSettings::default());
    // As shipped (everything commented out): the defaults.
    assert_eq!(format!("{:?}", load_conf(&example).unwrap()), default);
    // Each commented line, switched on, is accepted; where the line shows the
    // default, it changes nothing.
    let mut uncommented = String::new();
    let mut section = "";
    for line in example.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = if name == "seed" { "seed" } else { "options" };
            }
            uncommented.push_str(line);
            uncommented.push('\n');
            continue;
        };
        let keys = if section == "seed" {
            SEED_KEYS
        } else {
            CONF_KEYS
        };
        let Some(k) = keys
            .iter()
            .find(|k| rest.starts_with(&format!("{} = ", k.key)))
        else {
            continue;
        };
        let settings =
            load_conf(&format!("[{section}]\n{rest}\n")).unwrap_or_else(|e| panic!("{rest}: {e}"));
        let shows_default = k.default.starts_with(k.example)
            && !(k.key == "PacmanBin" && pactor::env::DEFAULT_PACMAN_BIN != k.example);
        if shows_default {
            assert_eq!(
                format!("{settings:?}"),
                default,
                "{rest} is not the default"
            );
        }
        uncommented.push_str(rest);
        uncommented.push('\n');
    }
    load_conf(&uncommented).unwrap();
}

#[test]
fn pactor_conf_defaults_match_the_code() {
    let d = pactor::config::PactorSettings::default();
    let doc = |key: &str| CONF_KEYS.iter().find(|k| k.key == key).unwrap().default;
    assert_eq!(
        doc("Torrent"),
        if d.torrent_by_default { "yes" } else { "no" }
    );
    assert!(doc("DownloadLimit").starts_with(&format!("{} ", d.download_limit)));
    assert!(doc("UploadLimit").starts_with(&format!("{} ", d.upload_limit)));
    assert!(doc("ListenPort").starts_with(&format!("{} ", d.listen_port)));
    assert!(doc("StateDir").starts_with(pactor::env::DEFAULT_STATE_DIR));
    assert!(d.torrent_servers.is_empty() && doc("TorrentServer") == "none");
    assert!(d.trackers.is_empty() && doc("Tracker") == "none");
    assert_eq!(doc("DHT"), if d.dht { "yes" } else { "no" });
    assert_eq!(doc("LSD"), if d.lsd { "yes" } else { "no" });
    assert_eq!(
        pactor::config::parse_size(doc("TorrentMinSize")),
        Ok(d.torrent_min_size)
    );
}

// ---- completions, run in the real shells -------------------------------------

/// A directory with a fake `pactor` and `pacman-conf` first in PATH: they
/// print the names in `names/` (rewritten between calls to show that the
/// completions ask at completion time, not from a frozen list).
struct FakeDbs {
    dir: tempfile::TempDir,
}

impl FakeDbs {
    fn new() -> FakeDbs {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::create_dir_all(dir.path().join("names")).unwrap();
        fs::create_dir_all(dir.path().join("home")).unwrap();
        let names = dir.path().join("names");
        let script = format!(
            "#!/bin/sh\nd='{}'\ncase \"$*\" in\n  -Slq) cat \"$d/sync\" ;;\n  -Sl) cat \"$d/sync-long\" ;;\n  -Qq) cat \"$d/installed\" ;;\n  -Sg) cat \"$d/groups\" ;;\n  -Qg) cat \"$d/installed-groups\" ;;\n  --repo-list) cat \"$d/repos\" ;;\nesac\n",
            names.display()
        );
        for name in ["pactor", "pacman-conf"] {
            let p = bin.join(name);
            fs::write(&p, &script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let f = FakeDbs { dir };
        f.set_sync(&[("extra", "firefox"), ("extra", "fish"), ("core", "linux")]);
        f.set("installed", "glibc\nlinux\nlinux-firmware\n");
        f.set("groups", "base-devel\ngnome\n");
        f.set(
            "installed-groups",
            "base-devel gcc\nbase-devel make\nxorg xorg-server\n",
        );
        f.set("repos", "core\nextra\n");
        f
    }

    fn set(&self, file: &str, text: &str) {
        fs::write(self.dir.path().join("names").join(file), text).unwrap();
    }

    fn set_sync(&self, pkgs: &[(&str, &str)]) {
        let q: String = pkgs.iter().map(|(_, n)| format!("{n}\n")).collect();
        let l: String = pkgs
            .iter()
            .map(|(r, n)| format!("{r} {n} 1.0-1\n"))
            .collect();
        self.set("sync", &q);
        self.set("sync-long", &l);
    }

    fn path_env(&self) -> String {
        format!(
            "{}:/usr/local/bin:/usr/bin:/bin",
            self.dir.path().join("bin").display()
        )
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
}

fn have_shell(name: &str) -> bool {
    let found = Command::new(name)
        .arg("-c")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {name} is not installed");
    }
    found
}

fn sorted(v: Vec<String>) -> Vec<String> {
    let mut v = v;
    v.sort();
    v.dedup();
    v
}

fn strs(v: &[&str]) -> Vec<String> {
    sorted(v.iter().map(|s| s.to_string()).collect())
}

/// Runs the bash completion on `line` (completing its last word, which is
/// empty when the line ends in a space) and returns COMPREPLY.
fn bash_complete(f: &FakeDbs, line: &str) -> Vec<String> {
    // bash splits words at COMP_WORDBREAKS, which includes '='.
    let mut words: Vec<String> = Vec::new();
    for w in line.split_whitespace() {
        let mut parts = w.splitn(2, '=');
        let first = parts.next().unwrap();
        words.push(first.to_owned());
        if let Some(rest) = parts.next() {
            words.push("=".into());
            if !rest.is_empty() {
                words.push(rest.to_owned());
            }
        }
    }
    if line.ends_with(' ') {
        words.push(String::new());
    }
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let script = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_pactor pactor {} {}\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        root().join("completions/pactor.bash").display(),
        quoted.join(" "),
        words.len() - 1,
        quoted[words.len() - 1],
        quoted[words.len().saturating_sub(2)],
    );
    let out = Command::new("bash")
        .arg("--norc")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", f.path_env())
        .env("HOME", f.home())
        .env("LC_ALL", "C")
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "bash printed errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sorted(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn bash_completes_operations_options_and_packages() {
    if !have_shell("bash") {
        return;
    }
    let f = FakeDbs::new();
    assert_eq!(
        bash_complete(&f, "pactor -"),
        strs(&["-D", "-F", "-Q", "-R", "-S", "-T", "-U", "-V", "-h", "-b", "-r", "-v"])
    );
    let longs = bash_complete(&f, "pactor --");
    assert!(
        longs.contains(&"--sync".into()) && longs.contains(&"--dbpath".into()),
        "{longs:?}"
    );
    assert!(
        !longs.contains(&"--torrent".into()),
        "no -S options before the operation: {longs:?}"
    );
    // -S's options, not -Q's.
    let s = bash_complete(&f, "pactor -S --");
    for want in [
        "--torrent",
        "--no-torrent",
        "--needed",
        "--refresh",
        "--config",
        "--pactor-config",
    ] {
        assert!(s.contains(&want.to_owned()), "{want} missing: {s:?}");
    }
    assert!(
        !s.contains(&"--changelog".into()) && !s.contains(&"--sync".into()),
        "{s:?}"
    );
    assert_eq!(bash_complete(&f, "pactor -Q --to"), Vec::<String>::new());
    assert_eq!(
        bash_complete(&f, "pactor --sync --tor"),
        strs(&["--torrent"])
    );
    // Clusters grow by the operation's letters; -y counts, -x does not repeat.
    let c = bash_complete(&f, "pactor -Sxy");
    assert!(
        c.contains(&"-Sxyu".into()) && c.contains(&"-Sxyy".into()),
        "{c:?}"
    );
    assert!(
        !c.contains(&"-Sxyx".into()) && !c.contains(&"-Sxyo".into()),
        "{c:?}"
    );
    // Package names from the sync databases, at completion time.
    assert_eq!(
        bash_complete(&f, "pactor -S fi"),
        strs(&["firefox", "fish"])
    );
    assert_eq!(
        bash_complete(&f, "pactor -Syu --needed fi"),
        strs(&["firefox", "fish"])
    );
    f.set_sync(&[("extra", "firefox"), ("extra", "fio")]);
    assert_eq!(bash_complete(&f, "pactor -S fi"), strs(&["firefox", "fio"]));
    assert_eq!(
        bash_complete(&f, "pactor -S extra/fi"),
        strs(&["extra/firefox", "extra/fio"])
    );
    assert_eq!(
        bash_complete(&f, "pactor -Sg "),
        strs(&["base-devel", "gnome"])
    );
    assert_eq!(bash_complete(&f, "pactor -Sl "), strs(&["core", "extra"]));
    // Installed packages for -R and -Q.
    assert_eq!(
        bash_complete(&f, "pactor -Rns linux"),
        strs(&["linux", "linux-firmware"])
    );
    assert_eq!(bash_complete(&f, "pactor -Qi gl"), strs(&["glibc"]));
    assert_eq!(
        bash_complete(&f, "pactor -Qg "),
        strs(&["base-devel", "xorg"])
    );
    // Option values.
    assert_eq!(
        bash_complete(&f, "pactor -S --color a"),
        strs(&["always", "auto"])
    );
    assert_eq!(bash_complete(&f, "pactor -S --color=n"), strs(&["never"]));
    assert_eq!(
        bash_complete(&f, "pactor -S --ignore linux-"),
        strs(&["linux-firmware"])
    );
    fs::create_dir_all(f.dir.path().join("dbdir")).unwrap();
    assert_eq!(bash_complete(&f, "pactor -Sb db"), strs(&["dbdir"]));
    // Package files for -U.
    fs::write(f.dir.path().join("hello-1-1-any.pkg.tar.zst"), "").unwrap();
    fs::write(f.dir.path().join("hello.txt"), "").unwrap();
    assert_eq!(
        bash_complete(&f, "pactor -U hel"),
        strs(&["hello-1-1-any.pkg.tar.zst"])
    );
}

/// Runs `complete -C` in fish and returns the candidates.
fn fish_complete(f: &FakeDbs, line: &str) -> Vec<String> {
    let script = format!(
        "source '{}'; complete -C '{}'",
        root().join("completions/pactor.fish").display(),
        line.replace('\'', "\\'")
    );
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-c")
        .arg(&script)
        .env_clear()
        .env("PATH", f.path_env())
        .env("HOME", f.home())
        .env("XDG_CONFIG_HOME", f.home().join(".config"))
        .env("XDG_DATA_HOME", f.home().join(".local/share"))
        .env("LC_ALL", "C")
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "fish printed errors: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    sorted(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_owned())
            .filter(|l| !l.is_empty())
            .collect(),
    )
}

#[test]
fn fish_completes_operations_options_and_packages() {
    if !have_shell("fish") {
        return;
    }
    let f = FakeDbs::new();
    let ops = fish_complete(&f, "pactor --");
    assert!(
        ops.contains(&"--sync".into()) && ops.contains(&"--dbpath".into()),
        "{ops:?}"
    );
    assert!(!ops.contains(&"--torrent".into()), "{ops:?}");
    let s = fish_complete(&f, "pactor -S --");
    for want in [
        "--torrent",
        "--no-torrent",
        "--needed",
        "--refresh",
        "--pactor-config",
    ] {
        assert!(s.contains(&want.to_owned()), "{want} missing: {s:?}");
    }
    assert!(
        !s.contains(&"--changelog".into()) && !s.contains(&"--sync".into()),
        "{s:?}"
    );
    assert!(fish_complete(&f, "pactor -Q --tor").is_empty());
    assert_eq!(
        fish_complete(&f, "pactor -S fi"),
        strs(&["firefox", "fish"])
    );
    f.set_sync(&[("extra", "firefox"), ("extra", "fio")]);
    assert_eq!(
        fish_complete(&f, "pactor -Syu fi"),
        strs(&["firefox", "fio"])
    );
    assert_eq!(
        fish_complete(&f, "pactor -S extra/fi"),
        strs(&["extra/firefox", "extra/fio"])
    );
    assert_eq!(
        fish_complete(&f, "pactor -Sg "),
        strs(&["base-devel", "gnome"])
    );
    assert_eq!(
        fish_complete(&f, "pactor -Rs linux"),
        strs(&["linux", "linux-firmware"])
    );
    assert_eq!(
        fish_complete(&f, "pactor -S --color a"),
        strs(&["always", "auto"])
    );
    let cluster = fish_complete(&f, "pactor -Sy");
    assert!(cluster.iter().any(|c| c == "-Syu"), "{cluster:?}");
    assert!(!cluster.iter().any(|c| c == "-Syo"), "{cluster:?}");
}

/// Completes `line` in an interactive zsh under zsh/zpty, with `compadd`
/// wrapped so that every match offered is written to a file.
fn zsh_complete(f: &FakeDbs, line: &str) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("matches");
    let harness = work.path().join("harness.zsh");
    fs::write(&harness, ZSH_HARNESS).unwrap();
    let status = Command::new("zsh")
        .arg("-f")
        .arg(&harness)
        .arg(&out)
        .arg(root().join("completions"))
        .arg(line)
        .env_clear()
        .env("PATH", f.path_env())
        .env("HOME", f.home())
        .env("LC_ALL", "C")
        .env("TERM", "dumb")
        .current_dir(f.dir.path())
        .output()
        .unwrap();
    let text = fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status.status.success() && text.contains("__DONE__"),
        "zsh harness failed for {line:?}: {status:?}\n{text}"
    );
    sorted(
        text.lines()
            .filter(|l| *l != "__DONE__" && !l.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// Starts `zsh -f -i` in a pseudo-terminal, loads compinit with the
/// completions directory first in fpath, wraps compadd, and completes the
/// line with a widget that marks the end in the output file.
const ZSH_HARNESS: &str = r#"
zmodload zsh/zpty || exit 2
out=$1 dir=$2 line=$3
zpty z zsh -f -i
zpty -w z "PS1='' RPS1=''; fpath=(${(q)dir} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd() {
  local -a opts=( "${@[1,(i)(-|--)]}" ) found
  if (( ${opts[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
  builtin compadd -O found "$@"
  (( $#found )) && print -rl -- $found >> '"${(q)out}"'
  builtin compadd "$@"
}'
zpty -w z '_pactor_capture() { zle complete-word; print -r -- __DONE__ >> '"${(q)out}"'; }; zle -N _pactor_capture; bindkey "^T" _pactor_capture'
zpty -w -n z "$line"$'\x14'
local junk i
for (( i = 0; i < 100; i++ )); do
  zpty -rt z junk 2>/dev/null
  [[ -f $out ]] && grep -q __DONE__ $out && break
  sleep 0.1
done
zpty -d z
"#;

#[test]
fn zsh_completes_operations_options_and_packages() {
    if !have_shell("zsh") {
        return;
    }
    let f = FakeDbs::new();
    let s = zsh_complete(&f, "pactor -S --");
    for want in [
        "--torrent",
        "--no-torrent",
        "--needed",
        "--refresh",
        "--pactor-config",
    ] {
        assert!(s.contains(&want.to_owned()), "{want} missing: {s:?}");
    }
    assert!(!s.contains(&"--changelog".into()), "{s:?}");
    let q = zsh_complete(&f, "pactor -Q --");
    assert!(
        q.contains(&"--changelog".into()) && !q.contains(&"--torrent".into()),
        "{q:?}"
    );
    let ops = zsh_complete(&f, "pactor --");
    assert!(
        ops.contains(&"--sync".into()) && !ops.contains(&"--torrent".into()),
        "{ops:?}"
    );
    assert_eq!(zsh_complete(&f, "pactor -S fi"), strs(&["firefox", "fish"]));
    f.set_sync(&[("extra", "firefox"), ("extra", "fio")]);
    assert_eq!(
        zsh_complete(&f, "pactor -Syu fi"),
        strs(&["firefox", "fio"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -Rs linux"),
        strs(&["linux", "linux-firmware"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -Sg "),
        strs(&["base-devel", "gnome"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -S --color="),
        strs(&["always", "auto", "never"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -S extra/fi"),
        strs(&["extra/firefox", "extra/fio"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -Su --ignore linux-"),
        strs(&["linux-firmware"])
    );
    assert_eq!(
        zsh_complete(&f, "pactor -Qg "),
        strs(&["base-devel", "xorg"])
    );
    let cluster = zsh_complete(&f, "pactor -Sy");
    assert!(
        cluster.contains(&"-Syu".into()) && !cluster.contains(&"-Syo".into()),
        "{cluster:?}"
    );
}
