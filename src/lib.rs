//! pactor: pacman on libalpm, with parallel downloads from a BitTorrent swarm
//! and every mirror. [`run`] takes the command line through
//! args → config → operation and returns the exit code; errors are printed
//! here or by the operation, as one pacman-style line.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod cli;
pub mod commit;
pub mod config;
pub mod env;
pub mod mktorrent;
pub mod ops;
pub mod pacman_conf;
pub mod resolve;
pub mod sandbox;
pub mod seed;
pub mod signals;
pub mod torrent;
pub mod ui;

use std::io::{BufRead, IsTerminal};

use cli::{Args, CliError, Op};
use ui::output;

/// pactor's version line: pactor, the libalpm it runs on, the librqbit it
/// was built with.
pub fn version_text() -> String {
    format!(
        "pactor v{} - libalpm v{} - librqbit v{}\n",
        env!("CARGO_PKG_VERSION"),
        alpm::version(),
        env!("PACTOR_LIBRQBIT_VERSION")
    )
}

/// Runs pactor with the process's arguments; returns the exit code.
pub fn run() -> i32 {
    if let Some(user) = std::env::var_os(sandbox::CHILD_ENV) {
        return sandbox::child_main(&user.to_string_lossy());
    }
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let argv0 = argv.next().unwrap_or_else(|| "pactor".into());
    let rest: Vec<String> = argv.collect();
    let args = match cli::parse(&argv0, &rest) {
        Ok(a) => a,
        Err(CliError::Getopt(msg)) => {
            eprintln!("{argv0}: {msg}");
            return 1;
        }
        Err(CliError::Pacman(msg)) => {
            output::error(&msg);
            return 1;
        }
    };
    let prog = std::path::Path::new(&argv0)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pactor".into());
    if args.help {
        output::print(&cli::usage(args.op, &prog));
        return 0;
    }
    if args.version {
        output::print(&version_text());
        return 0;
    }
    let Some(op) = args.op else {
        output::error("no operation specified (use -h for help)");
        return 1;
    };
    let pactor = match config::load_pactor(&args) {
        Ok(p) => p,
        Err(e) => {
            output::error(&e.to_string());
            return 1;
        }
    };
    let native = op == Op::Sync
        && !args.has("clean")
        && (!ops::sync::is_query(&args) || args.has("refresh"));
    if !native {
        return ops::passthrough::run(&args, &pactor.pacman_bin);
    }
    run_sync(args, pactor)
}

fn needs_root(args: &Args) -> bool {
    args.has("refresh")
        || (!args.has("groups")
            && !args.has("info")
            && !args.has("list")
            && !args.has("search")
            && !args.has("print")
            && !args.has("print-format"))
}

fn run_sync(mut args: Args, pactor: config::PactorSettings) -> i32 {
    signals::install();
    if nix::unistd::getuid().as_raw() != 0 && needs_root(&args) {
        output::error("you cannot perform this operation unless you are root.");
        return 1;
    }
    let mut targets = args.targets.clone();
    if targets.iter().any(|t| t == "-") {
        match read_stdin_targets(&mut targets) {
            Ok(()) => {}
            Err(code) => return code,
        }
    }
    let mut mask = output::logmask();
    if args.has("debug") {
        mask |= 4;
        if args.value("debug") == Some("2") {
            mask |= 8;
        }
    }
    output::set_logmask(mask);
    // (libalpm's version only when it is printed: asking for it waits for
    // libalpm to load, which the steps up to the databases need not.)
    if output::debug_enabled() {
        output::debug(&format!(
            "pactor v{} - libalpm v{}",
            env!("CARGO_PKG_VERSION"),
            alpm::version()
        ));
    }
    // A download in a sandboxed process is likely: start the process now,
    // while pacman.conf, the databases and the transaction are prepared.
    let torrent = (args.has("torrent") || pactor.torrent_by_default) && !args.has("no-torrent");
    let print = args.has("print") || args.has("print-format");
    if torrent && !print && !ops::sync::is_query(&args) {
        sandbox::prespawn_early(args.has("disable-sandbox"));
    }
    let cfg = match config::load(&args, pactor) {
        Ok(c) => c,
        Err(e) => {
            sandbox::discard_prespawned();
            output::error(&e.to_string());
            return 1;
        }
    };
    output::set_color(cfg.color);
    let noconfirm = args.has("noconfirm")
        && args
            .given
            .iter()
            .rev()
            .find(|g| matches!(g.flag.long, "noconfirm" | "confirm"))
            .is_some_and(|g| g.flag.long == "noconfirm");
    output::set_noconfirm(noconfirm || args.has("ask"));
    if args.has("print") || args.has("print-format") {
        output::set_noconfirm(true);
        output::set_logmask(output::logmask() & !2);
    }
    if args.has("verbose") {
        print_verbose_header(&cfg, &targets);
    }
    args.targets = targets.clone();
    ops::sync::run(&args, &cfg, &targets, torrent)
}

fn read_stdin_targets(targets: &mut Vec<String>) -> Result<(), i32> {
    if std::io::stdin().is_terminal() {
        output::error("argument '-' specified without input on stdin");
        return Err(1);
    }
    targets.retain(|t| t != "-");
    let mut found = false;
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(l) if l.is_empty() => continue,
            Ok(l) => {
                targets.push(l);
                found = true;
            }
            Err(e) => {
                output::error(&format!(
                    "failed to read arguments from stdin: ({})",
                    output::strerror(&e)
                ));
                return Err(1);
            }
        }
    }
    if !found {
        output::error("argument '-' specified with empty stdin");
        return Err(1);
    }
    Ok(())
}

fn print_verbose_header(cfg: &config::Config, targets: &[String]) {
    let dirs = |v: &[String]| {
        v.iter()
            .map(|d| format!("{}  ", with_slash(d)))
            .collect::<String>()
    };
    output::print(&format!("Root      : {}\n", with_slash(&cfg.root)));
    output::print(&format!("Conf File : {}\n", cfg.config_file.display()));
    output::print(&format!("DB Path   : {}\n", with_slash(&cfg.dbpath)));
    output::print(&format!("Cache Dirs: {}\n", dirs(&cfg.cachedirs)));
    output::print(&format!("Hook Dirs : {}\n", dirs(&cfg.hookdirs)));
    output::print(&format!("Lock File : {}db.lck\n", with_slash(&cfg.dbpath)));
    output::print(&format!("Log File  : {}\n", cfg.logfile));
    output::print(&format!("GPG Dir   : {}\n", with_slash(&cfg.gpgdir)));
    output::print(&ui::display::list_display(Some("Targets   :"), targets, 0));
}

fn with_slash(p: &str) -> String {
    if p.ends_with('/') {
        p.to_owned()
    } else {
        format!("{p}/")
    }
}
