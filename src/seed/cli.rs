//! pactor-seed's command line: one clap definition from which the parser,
//! `--help`, the man page and the shell completions all derive.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{value_parser, Arg, ArgAction, Command};

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run the daemon in the foreground.
    Run {
        /// As root: the user to become after preparing the directories.
        user: Option<String>,
    },
    /// Ask the running daemon for its state.
    Status {
        /// Print the JSON object instead of the table.
        json: bool,
    },
    /// Ask the running daemon to seed these cached packages now.
    Seed {
        /// Package files in a CacheDir.
        files: Vec<PathBuf>,
        /// The caller verified them against the sync db.
        trusted: bool,
    },
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// pactor.conf, when `--config` is given.
    pub config: Option<PathBuf>,
    /// pacman.conf.
    pub pacman_config: PathBuf,
    /// What to do.
    pub action: Action,
}

/// The clap definition of `pactor-seed`.
pub fn command() -> Command {
    Command::new("pactor-seed")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Seed the packages of pacman's cache to the BitTorrent swarm")
        .long_about(
            "Seeds every package in pacman's CacheDirs for which pactor holds a torrent, \
             within the upload limits of the [seed] section of pactor.conf. Packages that \
             pactor verified against the sync database are trusted while their size and \
             modification time are unchanged, so a restart does not read the cache again. \
             Packages removed from the cache stop being seeded within seconds, new ones \
             start. Without a command, runs the daemon in the foreground (as the systemd \
             service pactor-seed.service does).",
        )
        .subcommand_required(false)
        .disable_help_subcommand(true)
        .arg(
            Arg::new("config")
                .short('c')
                .long("config")
                .value_name("FILE")
                .global(true)
                .help("Read pactor.conf from FILE [default: pactor.conf beside pacman.conf]")
                .value_parser(value_parser!(PathBuf))
                .value_hint(clap::ValueHint::FilePath),
        )
        .arg(
            Arg::new("pacman-config")
                .long("pacman-config")
                .value_name("FILE")
                .global(true)
                .help(format!(
                    "Read pacman's CacheDirs from FILE [default: {}]",
                    crate::env::DEFAULT_PACMAN_CONF
                ))
                .value_parser(value_parser!(PathBuf))
                .value_hint(clap::ValueHint::FilePath),
        )
        .subcommand(
            Command::new("run")
                .about("Run the daemon in the foreground (the default)")
                .arg(
                    Arg::new("user")
                        .short('u')
                        .long("user")
                        .value_name("NAME")
                        .help("When started as root: create the state and runtime directories for NAME, then run as NAME")
                        .value_hint(clap::ValueHint::Username),
                ),
        )
        .subcommand(
            Command::new("status")
                .about("Show what the running daemon seeds, its peers, rates and totals")
                .arg(
                    Arg::new("json")
                        .long("json")
                        .help("Print the daemon's status object as JSON")
                        .action(ArgAction::SetTrue),
                ),
        )
        .subcommand(
            Command::new("seed")
                .about("Ask the running daemon to seed cached packages now (root or the daemon's group)")
                .arg(
                    Arg::new("trusted")
                        .long("trusted")
                        .help("The files were verified against the sync database: skip the full check")
                        .action(ArgAction::SetTrue),
                )
                .arg(
                    Arg::new("files")
                        .value_name("FILE")
                        .required(true)
                        .num_args(1..)
                        .help("Package files in a CacheDir")
                        .value_parser(value_parser!(PathBuf))
                        .value_hint(clap::ValueHint::FilePath),
                ),
        )
}

/// Parses the command line (program name first). `Err(code)`: clap already
/// printed help, the version or a usage error.
pub fn parse<I, T>(args: I) -> Result<Options, i32>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let m = match command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return Err(code);
        }
    };
    let action = match m.subcommand() {
        Some(("status", s)) => Action::Status {
            json: s.get_flag("json"),
        },
        Some(("seed", s)) => Action::Seed {
            files: s
                .get_many::<PathBuf>("files")
                .map(|v| v.cloned().collect())
                .unwrap_or_default(),
            trusted: s.get_flag("trusted"),
        },
        Some(("run", s)) => Action::Run {
            user: s.get_one::<String>("user").cloned(),
        },
        _ => Action::Run { user: None },
    };
    Ok(Options {
        config: m.get_one::<PathBuf>("config").cloned(),
        pacman_config: m
            .get_one::<PathBuf>("pacman-config")
            .cloned()
            .unwrap_or_else(|| PathBuf::from(crate::env::DEFAULT_PACMAN_CONF)),
        action,
    })
}

/// Extra man page sections after clap's NAME, SYNOPSIS, DESCRIPTION,
/// OPTIONS and SUBCOMMANDS, in roff.
pub const MAN_EXTRA: &str = include_str!("man_extra.roff");

/// The whole man page: clap_mangen's rendering plus [`MAN_EXTRA`].
pub fn render_man(clap_page: &[u8]) -> Vec<u8> {
    let mut page = clap_page.to_vec();
    page.extend_from_slice(MAN_EXTRA.as_bytes());
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_global_options() {
        let o = parse(["pactor-seed"]).unwrap();
        assert_eq!(o.action, Action::Run { user: None });
        assert_eq!(o.pacman_config, PathBuf::from("/etc/pacman.conf"));
        let o = parse(["pactor-seed", "status", "--json", "--config", "/x"]).unwrap();
        assert_eq!(o.action, Action::Status { json: true });
        assert_eq!(o.config, Some(PathBuf::from("/x")));
        let o = parse([
            "pactor-seed",
            "--pacman-config",
            "/p",
            "run",
            "-u",
            "daemon",
        ])
        .unwrap();
        assert_eq!(
            o.action,
            Action::Run {
                user: Some("daemon".into())
            }
        );
        assert_eq!(o.pacman_config, PathBuf::from("/p"));
        let o = parse(["pactor-seed", "seed", "--trusted", "/a", "/b"]).unwrap();
        assert_eq!(
            o.action,
            Action::Seed {
                files: vec!["/a".into(), "/b".into()],
                trusted: true
            }
        );
        assert_eq!(parse(["pactor-seed", "frobnicate"]), Err(1));
    }
}
