//! pacman's command-line grammar over the flag table: glibc `getopt_long`
//! with argument permutation (options anywhere, also after targets and before
//! the operation), `--`, short clusters (`-Syyuu`), attached values
//! (`-b/path`), `--key value` and `--key=value`, unambiguous abbreviations of
//! long options, optional values only in the `=` form (`--debug=2`).
//!
//! Like pacman (`src/pacman/pacman.c`, `parseargs`) it runs in two passes:
//! the first finds the operation, the second reads each option under that
//! operation, so that `-c` can be `--clean` under `-S` and `--changelog` under
//! `-Q`. Errors use getopt's and pacman's words, since helpers match them.

use super::flags::{self, Arg, Flag, Op};

/// One option as it appeared on the command line.
#[derive(Clone, Debug)]
pub struct Given {
    /// The option, resolved under the operation.
    pub flag: &'static Flag,
    /// Its value, for options that take one.
    pub value: Option<String>,
    /// Whether it was written as a short letter (for error wording).
    pub as_short: Option<char>,
}

/// A parsed command line.
#[derive(Clone, Debug, Default)]
pub struct Args {
    /// `argv[0]`, for getopt-style messages.
    pub argv0: String,
    /// The operation, if one was given.
    pub op: Option<Op>,
    /// `-h`/`--help`.
    pub help: bool,
    /// `-V`/`--version`.
    pub version: bool,
    /// Every option but the operation, `-h` and `-V`, in order.
    pub given: Vec<Given>,
    /// Targets, in order.
    pub targets: Vec<String>,
}

/// A command line pacman would refuse, with pacman's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// A getopt message, printed as `argv0: message`.
    Getopt(String),
    /// A pacman message, printed as `error: message`.
    Pacman(String),
}

impl Args {
    /// How many times the option with this long name was given.
    pub fn count(&self, long: &str) -> usize {
        self.given.iter().filter(|g| g.flag.long == long).count()
    }

    /// Whether the option was given at all.
    pub fn has(&self, long: &str) -> bool {
        self.count(long) > 0
    }

    /// The last value of a valued option.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.given
            .iter()
            .rev()
            .find(|g| g.flag.long == long)
            .and_then(|g| g.value.as_deref())
    }

    /// Every value of a repeatable option, in order.
    pub fn values(&self, long: &str) -> Vec<&str> {
        self.given
            .iter()
            .filter(|g| g.flag.long == long)
            .filter_map(|g| g.value.as_deref())
            .collect()
    }

    /// Values of a list option, split at commas like pacman's
    /// `parsearg_util_addlist` (`--ignore a,b --ignore c`).
    pub fn list(&self, long: &str) -> Vec<String> {
        self.values(long)
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The command line in canonical long form for the system pacman, without
    /// pactor's own options: operation, options, `--`, targets.
    pub fn to_pacman_argv(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(op) = self.op {
            out.push(format!("--{}", op.long()));
        }
        if self.help {
            out.push("--help".into());
        }
        if self.version {
            out.push("--version".into());
        }
        for g in self.given.iter().filter(|g| !g.flag.pactor_only) {
            match (&g.value, g.flag.arg) {
                (Some(v), Arg::Optional) => out.push(format!("--{}={v}", g.flag.long)),
                (Some(v), _) => {
                    out.push(format!("--{}", g.flag.long));
                    out.push(v.clone());
                }
                (None, _) => out.push(format!("--{}", g.flag.long)),
            }
        }
        if !self.targets.is_empty() {
            out.push("--".into());
            out.extend(self.targets.iter().cloned());
        }
        out
    }
}

/// What getopt returned for one option, before the operation is known.
#[derive(Clone, Debug)]
enum Raw {
    Long(&'static Flag, Option<String>),
    Short(char, Option<String>),
}

/// Parses a command line (without `argv[0]`) the way pacman does.
pub fn parse(argv0: &str, args: &[String]) -> Result<Args, CliError> {
    let (raws, targets) = getopt(args)?;

    // First pass: the operation. A second operation (even the same one
    // twice) is an error, as in pacman's parsearg_op.
    let mut op: Option<Op> = None;
    let mut op_conflict = false;
    let mut help = false;
    let mut version = false;
    for raw in &raws {
        let letter = match raw {
            Raw::Long(f, _) => f.short.filter(|_| is_op_flag(f)),
            Raw::Short(c, _) => Some(*c),
        };
        match letter {
            Some('V') => version = true,
            Some('h') => help = true,
            Some(c) => {
                if let Some(o) = Op::ALL.into_iter().find(|o| o.short() == c) {
                    if op.is_some() || op_conflict {
                        op_conflict = true;
                    }
                    op = Some(o);
                }
            }
            None => {}
        }
    }
    if op_conflict {
        return Err(CliError::Pacman(
            "only one operation may be used at a time".into(),
        ));
    }

    let mut parsed = Args {
        argv0: argv0.to_owned(),
        op,
        help,
        version,
        given: Vec::new(),
        targets,
    };
    if help || version {
        return Ok(parsed);
    }

    // Second pass: every option under the operation.
    for raw in raws {
        let (flag, value, as_short) = match raw {
            Raw::Long(f, v) => (f, v, None),
            Raw::Short(c, v) => match flags::by_short(c, op) {
                Some(f) => (f, v, Some(c)),
                None => return Err(CliError::Getopt(format!("invalid option -- '{c}'"))),
            },
        };
        if is_op_flag(flag) {
            continue;
        }
        if !flag.scope.allows(op) {
            return Err(CliError::Pacman(match as_short {
                Some(c) => format!("invalid option '-{c}'"),
                None => format!("invalid option '--{}'", flag.long),
            }));
        }
        check_value(flag, value.as_deref())?;
        parsed.given.push(Given {
            flag,
            value,
            as_short,
        });
    }
    check_combinations(&parsed)?;
    Ok(parsed)
}

fn is_op_flag(f: &Flag) -> bool {
    matches!(
        f.short,
        Some('D' | 'F' | 'Q' | 'R' | 'S' | 'T' | 'U' | 'V' | 'h')
    )
}

/// glibc getopt_long with permutation: options and targets in order.
fn getopt(args: &[String]) -> Result<(Vec<Raw>, Vec<String>), CliError> {
    let mut raws = Vec::new();
    let mut targets = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            targets.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let flag = match_long(name)?;
            let value = match flag.arg {
                Arg::None => {
                    if inline.is_some() {
                        return Err(CliError::Getopt(format!(
                            "option '--{}' doesn't allow an argument",
                            flag.long
                        )));
                    }
                    None
                }
                Arg::Optional => inline,
                Arg::Required => match inline {
                    Some(v) => Some(v),
                    None => match args.get(i) {
                        Some(v) => {
                            i += 1;
                            Some(v.clone())
                        }
                        None => {
                            return Err(CliError::Getopt(format!(
                                "option '--{}' requires an argument",
                                flag.long
                            )))
                        }
                    },
                },
            };
            raws.push(Raw::Long(flag, value));
        } else if arg.len() > 1 && arg.starts_with('-') {
            let letters: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < letters.len() {
                let c = letters[j];
                j += 1;
                match flags::short_takes_value(c) {
                    None => return Err(CliError::Getopt(format!("invalid option -- '{c}'"))),
                    Some(false) => raws.push(Raw::Short(c, None)),
                    Some(true) => {
                        let rest: String = letters[j..].iter().collect();
                        let value = if !rest.is_empty() {
                            rest
                        } else if let Some(v) = args.get(i) {
                            i += 1;
                            v.clone()
                        } else {
                            return Err(CliError::Getopt(format!(
                                "option requires an argument -- '{c}'"
                            )));
                        };
                        raws.push(Raw::Short(c, Some(value)));
                        break;
                    }
                }
            }
        } else {
            targets.push(arg.clone());
        }
    }
    Ok((raws, targets))
}

/// An exact long name, or the only one it abbreviates.
fn match_long(name: &str) -> Result<&'static Flag, CliError> {
    if let Some(f) = flags::by_long(name) {
        return Ok(f);
    }
    let candidates: Vec<&Flag> = flags::FLAGS
        .iter()
        .filter(|f| f.long.starts_with(name))
        .collect();
    match candidates.as_slice() {
        [] => Err(CliError::Getopt(format!("unrecognized option '--{name}'"))),
        [one] => Ok(one),
        many => {
            let list: Vec<String> = many.iter().map(|f| format!("'--{}'", f.long)).collect();
            Err(CliError::Getopt(format!(
                "option '--{name}' is ambiguous; possibilities: {}",
                list.join(" ")
            )))
        }
    }
}

/// Value checks pacman makes while reading options (`parsearg_global`).
fn check_value(flag: &Flag, value: Option<&str>) -> Result<(), CliError> {
    match (flag.long, value) {
        ("debug", Some(v)) => match v.parse::<i64>() {
            Ok(1 | 2) => Ok(()),
            _ => Err(CliError::Pacman(format!(
                "'{v}' is not a valid debug level"
            ))),
        },
        ("ask", Some(v)) => match v.parse::<u64>() {
            Ok(n) if n <= u64::from(u32::MAX) => Ok(()),
            _ => Err(CliError::Pacman(format!("'{v}' is not a valid ask level"))),
        },
        ("color", Some(v)) if !matches!(v, "never" | "auto" | "always") => Err(CliError::Pacman(
            format!("invalid argument '{v}' for --color"),
        )),
        ("download-limit" | "upload-limit", Some(v)) if crate::config::parse_rate(v).is_err() => {
            Err(CliError::Pacman(format!(
                "invalid argument '{v}' for --{}",
                flag.long
            )))
        }
        _ => Ok(()),
    }
}

/// pacman's `checkargs_*`: options that may not be combined.
fn check_combinations(a: &Args) -> Result<(), CliError> {
    let together = |x: &str, y: &str, xs: &str, ys: &str| -> Result<(), CliError> {
        if a.has(x) && a.has(y) {
            Err(CliError::Pacman(format!(
                "invalid option: '{xs}' and '{ys}' may not be used together"
            )))
        } else {
            Ok(())
        }
    };
    let print = a.has("print") || a.has("print-format");
    let trans = |a: &Args| -> Result<(), CliError> {
        if print {
            for (o, name) in [("dbonly", "--dbonly"), ("noscriptlet", "--noscriptlet")] {
                if a.has(o) {
                    return Err(CliError::Pacman(format!(
                        "invalid option: '--print' and '{name}' may not be used together"
                    )));
                }
            }
        }
        Ok(())
    };
    match a.op {
        Some(Op::Database) => {
            together("asdeps", "asexplicit", "--asdeps", "--asexplicit")?;
            together("asdeps", "check", "--asdeps", "--check")?;
            together("asexplicit", "check", "--asexplicit", "--check")?;
        }
        Some(Op::Upgrade) => {
            trans(a)?;
            together("asdeps", "asexplicit", "--asdeps", "--asexplicit")?;
        }
        Some(Op::Remove) => {
            trans(a)?;
            if a.has("nosave") && print {
                return Err(CliError::Pacman(
                    "invalid option: '--nosave' and '--print' may not be used together".into(),
                ));
            }
            together("nosave", "dbonly", "--nosave", "--dbonly")?;
        }
        Some(Op::Sync) => {
            trans(a)?;
            together("asdeps", "asexplicit", "--asdeps", "--asexplicit")?;
            let pairs: &[(&str, &[&str])] = &[
                (
                    "clean",
                    &[
                        "groups",
                        "info",
                        "list",
                        "refresh",
                        "search",
                        "sysupgrade",
                        "downloadonly",
                    ],
                ),
                (
                    "info",
                    &["groups", "list", "search", "sysupgrade", "downloadonly"],
                ),
                ("search", &["groups", "list", "sysupgrade", "downloadonly"]),
                ("list", &["groups", "sysupgrade", "downloadonly"]),
                ("groups", &["sysupgrade", "downloadonly"]),
            ];
            // pacman checks only the first mode present (an else-if chain).
            if let Some((mode, others)) = pairs.iter().find(|(m, _)| a.has(m)) {
                for o in *others {
                    together(mode, o, &format!("--{mode}"), &format!("--{o}"))?;
                }
            }
            together("torrent", "no-torrent", "--torrent", "--no-torrent")?;
        }
        Some(Op::Query) => check_query(a)?,
        _ => {}
    }
    Ok(())
}

fn check_query(a: &Args) -> Result<(), CliError> {
    let bad = |x: &str, y: &str| {
        CliError::Pacman(format!(
            "invalid option: '{x}' and '{y}' may not be used together"
        ))
    };
    let display = ["changelog", "check", "info", "list"];
    let filter = [
        "deps",
        "explicit",
        "upgrades",
        "unrequired",
        "native",
        "foreign",
    ];
    let check = |mode: &str, with_groups: bool, opts: &[&[&str]]| -> Result<(), CliError> {
        if with_groups && a.has("groups") {
            return Err(bad(&format!("--{mode}"), "--groups"));
        }
        for set in opts {
            for o in *set {
                if a.has(o) {
                    let shown = if *o == "upgrades" { "upgrade" } else { o };
                    return Err(bad(&format!("--{mode}"), &format!("--{shown}")));
                }
            }
        }
        Ok(())
    };
    if a.has("file") {
        check("file", true, &[&["search", "owns"]])?;
    } else if a.has("search") {
        check("search", true, &[&["owns"], &display, &filter])?;
    } else if a.has("owns") {
        check("owns", true, &[&display, &filter])?;
    } else if a.has("groups") {
        check("groups", false, &[&display])?;
    }
    if a.has("deps") && a.has("explicit") {
        return Err(bad("--deps", "--explicit"));
    }
    if a.has("native") && a.has("foreign") {
        return Err(bad("--native", "--foreign"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Args, CliError> {
        let v: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        parse("pactor", &v)
    }

    #[test]
    fn clusters_count_repeats() {
        let a = p("-Syyuu foo").unwrap();
        assert_eq!(a.op, Some(Op::Sync));
        assert_eq!(a.count("refresh"), 2);
        assert_eq!(a.count("sysupgrade"), 2);
        assert_eq!(a.targets, ["foo"]);
    }

    #[test]
    fn long_operation_and_abbreviation() {
        let a = p("--sync --asd --need foo").unwrap();
        assert_eq!(a.op, Some(Op::Sync));
        assert!(a.has("asdeps"));
        assert!(a.has("needed"));
    }

    #[test]
    fn options_anywhere_even_before_the_operation() {
        let a = p("--noconfirm --root /r foo -S bar --needed").unwrap();
        assert_eq!(a.op, Some(Op::Sync));
        assert_eq!(a.value("root"), Some("/r"));
        assert_eq!(a.targets, ["foo", "bar"]);
        assert!(a.has("needed") && a.has("noconfirm"));
    }

    #[test]
    fn attached_and_separate_values() {
        let a = p("-Sb/tmp/db -r /root --config=/c --cachedir /x").unwrap();
        assert_eq!(a.value("dbpath"), Some("/tmp/db"));
        assert_eq!(a.value("root"), Some("/root"));
        assert_eq!(a.value("config"), Some("/c"));
        assert_eq!(a.value("cachedir"), Some("/x"));
    }

    #[test]
    fn debug_takes_a_value_only_with_equals() {
        let a = p("-S --debug foo").unwrap();
        assert_eq!(a.value("debug"), None);
        assert_eq!(a.targets, ["foo"]);
        let a = p("-S --debug=2 foo").unwrap();
        assert_eq!(a.value("debug"), Some("2"));
        assert_eq!(
            p("-S --debug=3").unwrap_err(),
            CliError::Pacman("'3' is not a valid debug level".into())
        );
    }

    #[test]
    fn double_dash_ends_options() {
        let a = p("-S -- -notanoption").unwrap();
        assert_eq!(a.targets, ["-notanoption"]);
        let a = p("-S - foo").unwrap();
        assert_eq!(a.targets, ["-", "foo"]);
    }

    #[test]
    fn pacman_errors() {
        assert_eq!(
            p("--bogus").unwrap_err(),
            CliError::Getopt("unrecognized option '--bogus'".into())
        );
        assert_eq!(
            p("-Sz").unwrap_err(),
            CliError::Getopt("invalid option -- 'z'".into())
        );
        assert_eq!(
            p("-Q -S").unwrap_err(),
            CliError::Pacman("only one operation may be used at a time".into())
        );
        assert_eq!(
            p("-S -S").unwrap_err(),
            CliError::Pacman("only one operation may be used at a time".into())
        );
        assert_eq!(
            p("-Q --asdeps").unwrap_err(),
            CliError::Pacman("invalid option '--asdeps'".into())
        );
        assert_eq!(
            p("-Qx").unwrap_err(),
            CliError::Pacman("invalid option '-x'".into())
        );
        assert_eq!(
            p("-Qb").unwrap_err(),
            CliError::Getopt("option requires an argument -- 'b'".into())
        );
        assert_eq!(
            p("-S --sync=3").unwrap_err(),
            CliError::Getopt("option '--sync' doesn't allow an argument".into())
        );
        let err = p("-S --ver").unwrap_err();
        assert_eq!(
            err,
            CliError::Getopt(
                "option '--ver' is ambiguous; possibilities: '--version' '--verbose'".into()
            )
        );
        assert_eq!(
            p("-Scs").unwrap_err(),
            CliError::Pacman(
                "invalid option: '--clean' and '--search' may not be used together".into()
            )
        );
    }

    #[test]
    fn torrent_under_sync_and_upgrade_regex_under_files() {
        assert!(p("-Sx foo").unwrap().has("torrent"));
        assert!(p("-U --torrent foo.pkg.tar.zst").unwrap().has("torrent"));
        assert!(p("-Fx foo").unwrap().has("regex"));
        assert_eq!(
            p("-Sx --no-torrent foo").unwrap_err(),
            CliError::Pacman(
                "invalid option: '--torrent' and '--no-torrent' may not be used together".into()
            )
        );
    }

    #[test]
    fn pacman_argv_drops_pactor_options() {
        let a = p("-Uxd --pactor-config /p --debug=2 -b /db a.pkg").unwrap();
        assert_eq!(
            a.to_pacman_argv(),
            [
                "--upgrade",
                "--nodeps",
                "--debug=2",
                "--dbpath",
                "/db",
                "--",
                "a.pkg"
            ]
        );
    }

    #[test]
    fn rate_limits_are_checked() {
        assert_eq!(
            p("-Sx --download-limit 2M foo")
                .unwrap()
                .value("download-limit"),
            Some("2M")
        );
        assert_eq!(
            p("-S --upload-limit=fast").unwrap_err(),
            CliError::Pacman("invalid argument 'fast' for --upload-limit".into())
        );
        assert_eq!(
            p("-Q --download-limit 1").unwrap_err(),
            CliError::Pacman("invalid option '--download-limit'".into())
        );
    }

    #[test]
    fn list_options_split_at_commas() {
        let a = p("-S --ignore a,b --ignore c x").unwrap();
        assert_eq!(a.list("ignore"), ["a", "b", "c"]);
    }

    #[test]
    fn no_operation_is_not_a_parse_error() {
        let a = p("-v").unwrap();
        assert_eq!(a.op, None);
        assert_eq!(
            p("-y").unwrap_err(),
            CliError::Pacman("invalid option '-y'".into())
        );
    }
}
