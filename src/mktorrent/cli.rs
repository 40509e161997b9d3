//! pactor-mktorrent's command line: one clap definition from which the
//! parser, `--help`, the man page and the shell completions all derive, and
//! the merge of flags over the config file into [`Options`].

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};

use super::config::{self, FileConfig};
use super::{MkError, Options};

/// Config file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG: &str = "/etc/pactor/mktorrent.conf";

/// The clap definition of `pactor-mktorrent`.
pub fn command() -> Command {
    Command::new("pactor-mktorrent")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Make one deterministic .torrent per package of a mirror tree")
        .long_about(
            "Walks a mirror tree ($repo/os/$arch/..., any depth, following symlinks) and \
             makes one single-file .torrent for each package (*.pkg.tar.{zst,xz,gz,bz2}), \
             beside the package or under --out with the same layout. The info dictionary \
             depends only on the file's name and bytes, so every mirror publishes the same \
             infohash for the same package. Unchanged packages are skipped, torrents of \
             removed packages are deleted, and every write is atomic.",
        )
        .arg(
            Arg::new("tree")
                .value_name("TREE")
                .help("Root of the mirror tree")
                .required(true)
                .value_parser(value_parser!(PathBuf))
                .value_hint(clap::ValueHint::DirPath),
        )
        .arg(
            Arg::new("out")
                .short('o')
                .long("out")
                .value_name("DIR")
                .help("Write torrents under DIR with the tree's layout instead of beside each package")
                .value_parser(value_parser!(PathBuf))
                .value_hint(clap::ValueHint::DirPath),
        )
        .arg(
            Arg::new("webseed")
                .short('w')
                .long("webseed")
                .value_name("URL")
                .help("Mirror for the url-list (BEP 19); $repo and $arch expand as in pacman's Server (repeatable)")
                .long_help(
                    "Mirror to put into each torrent's url-list (BEP 19 webseed); repeatable. \
                     $repo and $arch expand like a pacman Server line from a package's \
                     .../$repo/os/$arch/ directory (packages elsewhere get no entry from such a URL); \
                     a URL without them is the root of the tree and the package's directory is appended. \
                     Entries end in '/', so clients append the file name.",
                )
                .action(ArgAction::Append)
                .value_hint(clap::ValueHint::Url),
        )
        .arg(
            Arg::new("tracker")
                .short('t')
                .long("tracker")
                .value_name("URL")
                .help("Tracker for announce / announce-list, each its own tier (repeatable)")
                .action(ArgAction::Append)
                .value_hint(clap::ValueHint::Url),
        )
        .arg(
            Arg::new("dht-node")
                .long("dht-node")
                .value_name("HOST:PORT")
                .help("DHT bootstrap node for the torrent's nodes list (repeatable)")
                .action(ArgAction::Append),
        )
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("FILE")
                .help(format!("Read options from FILE [default: {DEFAULT_CONFIG} if it exists]"))
                .value_parser(value_parser!(PathBuf))
                .value_hint(clap::ValueHint::FilePath),
        )
        .arg(
            Arg::new("prune")
                .long("prune")
                .help("Delete torrents whose package is gone (default)")
                .action(ArgAction::SetTrue)
                .overrides_with("no-prune"),
        )
        .arg(
            Arg::new("no-prune")
                .long("no-prune")
                .help("Keep torrents whose package is gone")
                .action(ArgAction::SetTrue)
                .overrides_with("prune"),
        )
        .arg(
            Arg::new("dry-run")
                .short('n')
                .long("dry-run")
                .help("Show what would be created, updated and removed; hash and write nothing")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("rehash")
                .long("rehash")
                .help("Hash every package again, ignoring the state file")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("jobs")
                .short('j')
                .long("jobs")
                .value_name("N")
                .help("Hashing threads [default: all cores]")
                .value_parser(value_parser!(u16).range(1..)),
        )
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .help("Name every torrent created, updated or removed")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("quiet")
                .short('q')
                .long("quiet")
                .help("Print only warnings and errors")
                .action(ArgAction::SetTrue),
        )
        .arg(
            Arg::new("noprogressbar")
                .long("noprogressbar")
                .help("Do not show a progress bar (none is shown when stdout is not a terminal)")
                .action(ArgAction::SetTrue),
        )
}

/// Parses the command line (with the program name first) and merges it over
/// the config file. `Err(Ok(code))` means clap already printed help, a
/// version or a usage error and the process should exit with `code`.
pub fn parse<I, T>(args: I) -> Result<Options, Result<i32, MkError>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            // Nothing to do if the terminal is gone.
            let _ = e.print();
            return Err(Ok(code));
        }
    };
    options_from(&m).map_err(Err)
}

fn strings(m: &ArgMatches, id: &str) -> Vec<String> {
    m.get_many::<String>(id)
        .map(|v| v.cloned().collect())
        .unwrap_or_default()
}

fn options_from(m: &ArgMatches) -> Result<Options, MkError> {
    let file = match m.get_one::<PathBuf>("config") {
        Some(path) => config::read(path)?,
        None => {
            let default = PathBuf::from(DEFAULT_CONFIG);
            if default.exists() {
                config::read(&default)?
            } else {
                FileConfig::default()
            }
        }
    };
    // A list given on the command line replaces the config file's list, so
    // that one run can override what cron normally uses.
    let pick =
        |cli: Vec<String>, conf: &Vec<String>| if cli.is_empty() { conf.clone() } else { cli };
    let prune = if m.get_flag("no-prune") {
        false
    } else if m.get_flag("prune") {
        true
    } else {
        file.prune.unwrap_or(true)
    };
    Ok(Options {
        tree: m.get_one::<PathBuf>("tree").cloned().unwrap_or_default(),
        out: m.get_one::<PathBuf>("out").cloned().or(file.out),
        webseeds: pick(strings(m, "webseed"), &file.webseeds),
        trackers: pick(strings(m, "tracker"), &file.trackers),
        dht_nodes: pick(strings(m, "dht-node"), &file.dht_nodes),
        prune,
        dry_run: m.get_flag("dry-run"),
        rehash: m.get_flag("rehash"),
        jobs: m
            .get_one::<u16>("jobs")
            .map(|&j| usize::from(j))
            .or(file.jobs)
            .unwrap_or(0),
        verbose: m.get_flag("verbose"),
        quiet: m.get_flag("quiet"),
        progress: !m.get_flag("noprogressbar"),
    })
}

/// Extra man page sections after clap's NAME, SYNOPSIS, DESCRIPTION and
/// OPTIONS, in roff.
pub const MAN_EXTRA: &str = r#".SH "PIECE LENGTH"
The piece length is the smallest power of two that keeps the file within 1024 pieces, clamped to 64 KiB..16 MiB (a 1 MiB package has 16 pieces of 64 KiB, 100 MiB has 800 of 128 KiB, 1 GiB has 1024 of 1 MiB). The info dictionary holds only \fBlength\fR, \fBname\fR, \fBpiece length\fR and \fBpieces\fR, and the file carries no creation date or creator, so anyone running pactor\-mktorrent on the same package gets the same infohash.
.SH "WEBSEEDS"
For \fB\-\-webseed\fR 'https://mirror/$repo/os/$arch' a package in \fITREE\fR/core/os/x86_64/ gets the url\-list entry https://mirror/core/os/x86_64/ ; the trailing slash makes BEP 19 clients append the file name. A URL without variables is taken as the root of \fITREE\fR: https://mirror/archlinux gives https://mirror/archlinux/core/os/x86_64/ for the same package.
.SH "INCREMENTAL RUNS"
The size, modification time and infohash of every package are kept in \fB.pactor\-mktorrent.state\fR in the output root. A package whose size and time match is not hashed again, and a torrent whose bytes would not change is not written, so a run over an unchanged tree writes nothing. Torrents whose package is gone are deleted unless \fB\-\-no\-prune\fR is given; a torrent is only deleted when nothing at all is left at the package's path. Torrents and the state file are written to a temporary file and renamed. \fB.pactor\-mktorrent.lock\fR keeps two runs from writing the same output at once.
.PP
When the tree is synced with \fBrsync \-\-delete\fR, files that are not upstream are deleted with it: use \fB\-\-out\fR, or exclude *.torrent and .pactor\-mktorrent.* from the sync.
.SH "CONFIGURATION"
The config file uses pacman.conf syntax; section headers are ignored. Directives: \fBWebseed\fR = URL, \fBTracker\fR = URL, \fBDHTNode\fR = HOST:PORT (each repeatable), \fBOut\fR = DIR, \fBJobs\fR = N, \fBNoPrune\fR. A list given on the command line replaces the one from the file.
.PP
.nf
[options]
Webseed = https://mirror.example.org/archlinux/$repo/os/$arch
Webseed = https://other.example.net/arch
Tracker = udp://tracker.example.org:6969/announce
Out = /srv/torrents
.fi
.SH "EXIT STATUS"
0 on success (warnings about dangling symlinks or symlink loops included); 1 when a package could not be hashed or written, or on a bad option, URL, tree or output directory.
.SH "FILES"
.TP
\fI/etc/pactor/mktorrent.conf\fR
Default config file.
.TP
\fIOUT\fR/.pactor\-mktorrent.state, \fIOUT\fR/.pactor\-mktorrent.lock
State and lock files in the output root (\fITREE\fR without \fB\-\-out\fR).
.SH "SEE ALSO"
\fBpactor\fR(8), \fBpacman.conf\fR(5), \fBmktorrent\fR(1)
"#;

/// The whole man page: clap_mangen's rendering plus [`MAN_EXTRA`]. Lives in
/// the library so the drift test and the generator agree byte for byte.
pub fn render_man(clap_page: &[u8]) -> Vec<u8> {
    let mut page = clap_page.to_vec();
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    page
}
