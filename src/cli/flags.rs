//! The one table of pactor's command-line options: pacman 7.1's options
//! (`src/pacman/pacman.c`, `parseargs`) plus pactor's own. The parser, the
//! validity check per operation, `--help`, the man page and the shell
//! completions are all derived from it.

/// An operation: the first letter of a pacman command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `-D`, `--database`
    Database,
    /// `-F`, `--files`
    Files,
    /// `-Q`, `--query`
    Query,
    /// `-R`, `--remove`
    Remove,
    /// `-S`, `--sync`
    Sync,
    /// `-T`, `--deptest`
    Deptest,
    /// `-U`, `--upgrade`
    Upgrade,
}

impl Op {
    /// All operations, in pacman's usage order.
    pub const ALL: [Op; 7] = [
        Op::Database,
        Op::Files,
        Op::Query,
        Op::Remove,
        Op::Sync,
        Op::Deptest,
        Op::Upgrade,
    ];

    /// The operation's long name (`--sync` without dashes).
    pub fn long(self) -> &'static str {
        match self {
            Op::Database => "database",
            Op::Files => "files",
            Op::Query => "query",
            Op::Remove => "remove",
            Op::Sync => "sync",
            Op::Deptest => "deptest",
            Op::Upgrade => "upgrade",
        }
    }

    /// The operation's letter.
    pub fn short(self) -> char {
        match self {
            Op::Database => 'D',
            Op::Files => 'F',
            Op::Query => 'Q',
            Op::Remove => 'R',
            Op::Sync => 'S',
            Op::Deptest => 'T',
            Op::Upgrade => 'U',
        }
    }

    fn bit(self) -> u8 {
        match self {
            Op::Database => 1,
            Op::Files => 2,
            Op::Query => 4,
            Op::Remove => 8,
            Op::Sync => 16,
            Op::Deptest => 32,
            Op::Upgrade => 64,
        }
    }
}

/// Whether an option takes a value, like getopt's `has_arg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A plain switch.
    None,
    /// A value: `--key value`, `--key=value`, `-kvalue`, `-k value`.
    Required,
    /// A value only in the `--key=value` form (`--debug=2`).
    Optional,
}

/// Which operations accept an option, as a bit set of [`Op`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scope(u8);

impl Scope {
    /// Valid with every operation and without one (pacman's globals).
    pub const GLOBAL: Scope = Scope(0xff);
    /// An operation letter itself, or `-h`/`-V`.
    pub const OPERATION: Scope = Scope(0x80 | 0x7f);

    const fn of(bits: u8) -> Scope {
        Scope(bits)
    }

    /// Whether the option is accepted under `op`.
    pub fn allows(self, op: Option<Op>) -> bool {
        match op {
            Some(op) => self.0 & op.bit() != 0,
            None => self == Scope::GLOBAL,
        }
    }
}

const D: u8 = 1;
const F: u8 = 2;
const Q: u8 = 4;
const R: u8 = 8;
const S: u8 = 16;
const U: u8 = 64;
/// `-S -R -U` (pacman's `parsearg_trans`) and `-F`, which shares them.
const TRANS: u8 = S | R | U | F;
/// `-S -U` (pacman's `parsearg_upgrade`).
const UPGRADE: u8 = S | U;

/// One option. The same letter can mean different options under different
/// operations (`-c` is `--clean` for `-S`, `--changelog` for `-Q`), so a short
/// letter is resolved with the operation at hand.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    /// Long name without dashes.
    pub long: &'static str,
    /// Short letter, if any.
    pub short: Option<char>,
    /// Value handling.
    pub arg: Arg,
    /// Where it is valid.
    pub scope: Scope,
    /// Value name for help and man page.
    pub value_name: &'static str,
    /// One line of help, pacman's words where pacman has the option.
    pub help: &'static str,
    /// A pactor addition (stripped when passing a command line to pacman).
    pub pactor_only: bool,
}

const fn flag(long: &'static str, short: Option<char>, scope: u8, help: &'static str) -> Flag {
    Flag {
        long,
        short,
        arg: Arg::None,
        scope: Scope::of(scope),
        value_name: "",
        help,
        pactor_only: false,
    }
}

const fn value(
    long: &'static str,
    short: Option<char>,
    scope: u8,
    value_name: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        short,
        arg: Arg::Required,
        scope: Scope::of(scope),
        value_name,
        help,
        pactor_only: false,
    }
}

const fn pactor(mut f: Flag) -> Flag {
    f.pactor_only = true;
    f
}

const ALL: u8 = 0xff;

/// Every option, in the order of pacman's getopt table (which decides the
/// order of "possibilities" in an ambiguity error), pactor's own at the end.
pub const FLAGS: &[Flag] = &[
    flag("database", Some('D'), 0x80 | 0x7f, "operate on the package database"),
    flag("files", Some('F'), 0x80 | 0x7f, "query the files database"),
    flag("query", Some('Q'), 0x80 | 0x7f, "query the package database"),
    flag("remove", Some('R'), 0x80 | 0x7f, "remove packages from the system"),
    flag("sync", Some('S'), 0x80 | 0x7f, "synchronize packages"),
    flag("deptest", Some('T'), 0x80 | 0x7f, "check dependencies"),
    flag("upgrade", Some('U'), 0x80 | 0x7f, "upgrade or add packages to the system"),
    flag("version", Some('V'), 0x80 | 0x7f, "show version information"),
    flag("help", Some('h'), 0x80 | 0x7f, "show help for an operation"),
    value("dbpath", Some('b'), ALL, "path", "set an alternate database location"),
    flag("cascade", Some('c'), R, "remove packages and all packages that depend on them"),
    flag("changelog", Some('c'), Q, "view the changelog of a package"),
    flag("clean", Some('c'), S, "remove old packages from cache directory (-cc for all)"),
    flag("nodeps", Some('d'), TRANS, "skip dependency version checks (-dd to skip all checks)"),
    flag("deps", Some('d'), Q, "list packages installed as dependencies [filter]"),
    flag("explicit", Some('e'), Q, "list packages explicitly installed [filter]"),
    flag("groups", Some('g'), Q | S, "view all members of a package group"),
    flag("info", Some('i'), Q | S, "view package information (-ii for extended information)"),
    flag("check", Some('k'), D | Q, "check that package files exist (-kk for file properties)"),
    flag("list", Some('l'), Q | S | F, "list the contents of the queried package or repository"),
    flag("foreign", Some('m'), Q, "list installed packages not found in sync db(s) [filter]"),
    flag("native", Some('n'), Q, "list installed packages only found in sync db(s) [filter]"),
    flag("nosave", Some('n'), R, "remove configuration files"),
    flag("owns", Some('o'), Q, "query the package that owns <file>"),
    flag("file", Some('p'), Q, "query a package file instead of the database"),
    flag("print", Some('p'), TRANS, "print the targets instead of performing the operation"),
    flag("quiet", Some('q'), D | Q | S | F, "show less information for query and search"),
    value("root", Some('r'), ALL, "path", "set an alternate installation root"),
    value("sysroot", None, ALL, "path", "operate on a mounted guest system (root-only)"),
    flag("recursive", Some('s'), R, "remove unnecessary dependencies (-ss includes explicitly installed dependencies)"),
    flag("search", Some('s'), Q | S, "search installed or remote packages for matching strings"),
    flag("regex", Some('x'), F, "enable searching using regular expressions"),
    flag("machinereadable", None, F, "produce machine-readable output"),
    flag("unrequired", Some('t'), Q, "list packages not (optionally) required by any package (-tt to ignore optdepends) [filter]"),
    flag("upgrades", Some('u'), Q, "list outdated packages [filter]"),
    flag("sysupgrade", Some('u'), S, "upgrade installed packages (-uu enables downgrades)"),
    flag("unneeded", Some('u'), R, "remove unneeded packages"),
    flag("verbose", Some('v'), ALL, "be verbose"),
    flag("downloadonly", Some('w'), UPGRADE, "download packages but do not install/upgrade anything"),
    flag("refresh", Some('y'), S | F, "download fresh package databases from the server (-yy to force a refresh even if up to date)"),
    flag("noconfirm", None, ALL, "do not ask for any confirmation"),
    flag("confirm", None, ALL, "always ask for confirmation"),
    value("config", None, ALL, "path", "set an alternate configuration file"),
    value("ignore", None, UPGRADE, "pkg", "ignore a package upgrade (can be used more than once)"),
    value("assume-installed", None, TRANS, "package=version", "add a virtual package to satisfy dependencies"),
    Flag {
        long: "debug",
        short: None,
        arg: Arg::Optional,
        scope: Scope::GLOBAL,
        value_name: "level",
        help: "display debug messages",
        pactor_only: false,
    },
    value("overwrite", None, UPGRADE, "glob", "overwrite conflicting files (can be used more than once)"),
    flag("noprogressbar", None, TRANS, "do not show a progress bar when downloading files"),
    flag("noscriptlet", None, TRANS, "do not execute the install scriptlet if one exists"),
    value("ask", None, ALL, "number", "answer questions automatically (bit mask of question types)"),
    value("cachedir", None, ALL, "dir", "set an alternate package cache location"),
    value("hookdir", None, ALL, "dir", "set an alternate hook location"),
    flag("asdeps", None, UPGRADE | D, "install packages as non-explicitly installed"),
    value("logfile", None, ALL, "path", "set an alternate log file"),
    value("ignoregroup", None, UPGRADE, "grp", "ignore a group upgrade (can be used more than once)"),
    flag("needed", None, UPGRADE, "do not reinstall up to date packages"),
    flag("asexplicit", None, UPGRADE | D, "install packages as explicitly installed"),
    value("arch", None, ALL, "arch", "set an alternate architecture"),
    value("print-format", None, TRANS, "string", "specify how the targets should be printed"),
    value("gpgdir", None, ALL, "path", "set an alternate home directory for GnuPG"),
    flag("dbonly", None, TRANS, "only modify database entries, not package files"),
    value("color", None, ALL, "when", "colorize the output"),
    flag("disable-download-timeout", None, ALL, "use relaxed timeouts for download"),
    flag("disable-sandbox", None, ALL, "disable the sandbox used for the downloader process"),
    pactor(flag(
        "torrent",
        Some('x'),
        UPGRADE,
        "download every package in parallel from the BitTorrent swarm and all mirrors",
    )),
    pactor(flag("no-torrent", None, UPGRADE, "download like pacman even if pactor.conf enables torrent mode")),
    pactor(value(
        "download-limit",
        None,
        UPGRADE,
        "rate",
        "with -x: limit the total download rate (e.g. 2M, 500K; 0 for none)",
    )),
    pactor(value(
        "upload-limit",
        None,
        UPGRADE,
        "rate",
        "with -x: limit the upload rate to peers (e.g. 1M; 0 for none)",
    )),
    pactor(value(
        "pactor-config",
        None,
        ALL,
        "path",
        "read pactor's own settings from this file instead of pactor.conf beside pacman.conf",
    )),
];

/// The flag whose long name is `long`.
pub fn by_long(long: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.long == long)
}

/// The flag that a short letter means under `op`: the first entry with this
/// letter whose scope admits `op`, else the first entry with the letter at all
/// (which is then refused as invalid for the operation, with its letter).
pub fn by_short(c: char, op: Option<Op>) -> Option<&'static Flag> {
    let mut candidates = FLAGS.iter().filter(|f| f.short == Some(c));
    let first = candidates.clone().next()?;
    Some(candidates.find(|f| f.scope.allows(op)).unwrap_or(first))
}

/// getopt's short option string: which letters exist and which take a value.
pub fn short_takes_value(c: char) -> Option<bool> {
    FLAGS
        .iter()
        .find(|f| f.short == Some(c))
        .map(|f| f.arg == Arg::Required)
}

/// The operations an option can be used with, for help output.
pub fn ops_of(flag: &Flag) -> Vec<Op> {
    Op::ALL
        .into_iter()
        .filter(|op| flag.scope.allows(Some(*op)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_unique() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[i + 1..].iter().all(|g| g.long != f.long),
                "--{} defined twice",
                f.long
            );
        }
    }

    #[test]
    fn short_letters_depend_on_operation() {
        assert_eq!(by_short('c', Some(Op::Sync)).unwrap().long, "clean");
        assert_eq!(by_short('c', Some(Op::Query)).unwrap().long, "changelog");
        assert_eq!(by_short('c', Some(Op::Remove)).unwrap().long, "cascade");
        assert_eq!(by_short('x', Some(Op::Files)).unwrap().long, "regex");
        assert_eq!(by_short('x', Some(Op::Sync)).unwrap().long, "torrent");
        assert_eq!(by_short('x', Some(Op::Upgrade)).unwrap().long, "torrent");
        assert_eq!(by_short('u', Some(Op::Sync)).unwrap().long, "sysupgrade");
        assert_eq!(by_short('u', Some(Op::Query)).unwrap().long, "upgrades");
    }

    #[test]
    fn only_b_and_r_take_values_among_letters() {
        let with_values: Vec<char> = FLAGS
            .iter()
            .filter(|f| f.arg == Arg::Required)
            .filter_map(|f| f.short)
            .collect();
        assert_eq!(with_values, vec!['b', 'r']);
    }

    #[test]
    fn torrent_is_not_valid_for_query() {
        assert!(!by_long("torrent").unwrap().scope.allows(Some(Op::Query)));
        assert!(by_long("torrent").unwrap().scope.allows(Some(Op::Sync)));
    }
}
