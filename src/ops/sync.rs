//! `-S`: refresh, resolve targets into a transaction, show it, ask, download
//! (libalpm's downloader, or pactor's engine with `-x`), commit. The flow and
//! every message follow pacman's `src/pacman/sync.c`; the query forms
//! (`-Ss -Si -Sl -Sg`) and `-Sc` run the system pacman after a native refresh.

use alpm::{Alpm, TransFlag};

use crate::cli::Args;
use crate::commit;
use crate::config::Config;
use crate::ops::passthrough;
use crate::resolve;
use crate::signals;
use crate::ui::callbacks::{self, Ui, UiState};
use crate::ui::display::{self, Target};
use crate::ui::output;
use crate::ui::prompt;

/// Whether this `-S` command line only queries (handled by the system pacman).
pub fn is_query(args: &Args) -> bool {
    ["search", "info", "list", "groups"]
        .iter()
        .any(|o| args.has(o))
}

/// Runs `-S` natively; returns the exit code.
pub fn run(args: &Args, cfg: &Config, targets: &[String], torrent: bool) -> i32 {
    let print = args.has("print") || args.has("print-format");
    let noprogressbar = args.has("noprogressbar") || args.has("debug") || !output::stdout_is_tty();
    let ask = args.value("ask").and_then(|v| v.parse::<u32>().ok());
    let ui: Ui = std::rc::Rc::new(std::cell::RefCell::new(UiState::new(
        noprogressbar,
        print,
        args.has("downloadonly"),
        args.has("refresh"),
        ask,
    )));

    // The sandboxed download process starts now and waits for its plan,
    // while the databases load and the transaction is prepared.
    if torrent && !print && !is_query(args) {
        crate::sandbox::prespawn(&crate::sandbox::SandboxOptions::for_config(
            cfg,
            args.has("disable-sandbox"),
        ));
        // With no question to wait for, the first connections open now,
        // while libalpm loads and the databases are read.
        if output::noconfirm() {
            crate::torrent::warm_up_early(cfg, args, targets);
        }
    }
    let mut handle = match resolve::open_handle(cfg, args) {
        Ok(h) => h,
        Err(e) => {
            crate::sandbox::discard_prespawned();
            output::error(&e.to_string());
            return 1;
        }
    };
    callbacks::install(&handle, &ui);
    signals::register(Some(handle.as_alpm_handle_t()));
    // XferCommand replaces libalpm's downloader for everything, as in
    // pacman. `-x` takes over only the package downloads (installed right
    // before commit): database refreshes stay with libalpm, which knows
    // when a database is up to date.
    if !cfg.pacman.xfer_command.is_empty() {
        commit::install_xfercommand(&handle, &cfg.pacman.xfer_command);
    }
    log_command_line(&handle);

    let code = sync(&mut handle, args, cfg, targets, &ui, torrent);
    crate::sandbox::discard_prespawned();
    crate::sandbox::reap_finished();
    signals::register(None);
    drop(handle);
    code
}

/// pacman logs the command line of every operation that needs root.
fn log_command_line(handle: &Alpm) {
    let line: Vec<String> = std::env::args().collect();
    let _ = handle.log_action("PACMAN", format!("Running '{}'\n", line.join(" ")));
}

fn check_syncdbs(handle: &Alpm, need_repos: bool, check_valid: bool) -> bool {
    let dbs = handle.syncdbs();
    if need_repos && dbs.is_empty() {
        output::error("no usable package repositories configured.");
        return false;
    }
    let mut ok = true;
    if check_valid {
        for db in dbs {
            if let Err(e) = db.is_valid() {
                output::error(&format!("database '{}' is not valid ({e})", db.name()));
                ok = false;
            }
        }
    }
    ok
}

fn sync(
    handle: &mut Alpm,
    args: &Args,
    cfg: &Config,
    targets: &[String],
    ui: &Ui,
    torrent: bool,
) -> i32 {
    if !check_syncdbs(handle, true, false) {
        return 1;
    }
    let refresh = args.count("refresh");
    if refresh > 0 {
        output::colon("Synchronizing package databases...\n");
        let _ = handle.log_action("PACMAN", "synchronizing package lists\n");
        if let Err(e) = handle.syncdbs_mut().update(refresh >= 2) {
            output::error(&format!("failed to synchronize all databases ({e})"));
            return 1;
        }
    }
    if !check_syncdbs(handle, true, true) {
        return 1;
    }
    if is_query(args) {
        // The databases are fresh; the system pacman shows the rest.
        let _ = ui;
        return passthrough::run_without_refresh(args, cfg);
    }
    if targets.is_empty() {
        if args.has("sysupgrade") {
            // proceed
        } else if refresh > 0 {
            return 0;
        } else {
            output::error("no targets specified (use -h for help)");
            return 1;
        }
    }
    sync_trans(handle, args, cfg, targets, ui, torrent)
}

fn trans_init(handle: &Alpm, flags: TransFlag) -> bool {
    check_syncdbs(handle, false, true);
    if let Err(e) = handle.trans_init(flags) {
        output::error(&format!("failed to init transaction ({e})"));
        if e == alpm::Error::HandleLock {
            let errno = std::io::Error::last_os_error();
            output::error(&format!(
                "could not lock database: {}",
                output::strerror(&errno)
            ));
            let lockfile = handle.lockfile();
            if std::path::Path::new(lockfile).exists() {
                output::print_err(&format!(
                    "  if you're sure a package manager is not already\n  running, you can remove {lockfile}\n"
                ));
            }
        }
        return false;
    }
    true
}

fn trans_release(handle: &mut Alpm) -> bool {
    if let Err(e) = handle.trans_release() {
        output::error(&format!("failed to release transaction ({e})"));
        return false;
    }
    true
}

/// Targets named on the command line (shown after dependencies).
#[derive(Default)]
struct Explicit(Vec<String>);

fn add_pkg(handle: &Alpm, pkg: &alpm::Package, explicit: &mut Explicit) -> bool {
    match handle.trans_add_pkg(pkg) {
        Ok(()) => {
            explicit.0.push(pkg.name().to_owned());
            true
        }
        Err(e) => {
            output::error(&format!("'{}': {}", pkg.name(), e.error));
            false
        }
    }
}

fn process_group(
    handle: &Alpm,
    dbs: alpm::AlpmList<&alpm::Db>,
    group: &str,
    error: bool,
    print: bool,
    explicit: &mut Explicit,
) -> bool {
    // Group members come back as `Pkg`; their sync db gives the `Package`
    // that a transaction takes.
    let pkgs: Vec<&alpm::Package> = handle
        .find_group_pkgs(dbs, group)
        .iter()
        .filter_map(|p| p.db()?.pkg(p.name()).ok())
        .collect();
    if pkgs.is_empty() {
        if dbs.iter().any(|db| db.group(group).is_ok()) {
            return true;
        }
        output::error(&format!("target not found: {group}"));
        return false;
    }
    if error {
        return true;
    }
    if !print {
        let c = output::colors();
        let n = pkgs.len();
        output::colon(&if n == 1 {
            format!(
                "There is {n} member in group {}{group}{}:\n",
                c.repo, c.title
            )
        } else {
            format!(
                "There are {n} members in group {}{group}{}:\n",
                c.repo, c.title
            )
        });
        output::print(&display::select_display(&pkgs));
        let Some(selection) = prompt::multiselect(n) else {
            return false;
        };
        for (pkg, chosen) in pkgs.iter().zip(selection) {
            if chosen && !add_pkg(handle, pkg, explicit) {
                return false;
            }
        }
    } else {
        for pkg in &pkgs {
            if !add_pkg(handle, pkg, explicit) {
                return false;
            }
        }
    }
    true
}

fn process_targname(
    handle: &Alpm,
    dbs: alpm::AlpmList<&alpm::Db>,
    name: &str,
    error: bool,
    print: bool,
    explicit: &mut Explicit,
) -> bool {
    let pkg = dbs.find_satisfier(name);
    if handle.last_error() == alpm::Error::PkgIgnored {
        output::warning(&format!("skipping target: {name}"));
        return true;
    }
    match pkg {
        Some(pkg) => add_pkg(handle, pkg, explicit),
        None => process_group(handle, dbs, name, error, print, explicit),
    }
}

fn process_target(
    handle: &Alpm,
    target: &str,
    error: bool,
    print: bool,
    explicit: &mut Explicit,
) -> bool {
    let ok = match target.split_once('/') {
        Some((dbname, name)) if !dbname.is_empty() => {
            let Some(db) = handle.syncdbs().iter().find(|db| db.name() == dbname) else {
                output::error(&format!("database not found: {dbname}"));
                return warn_if_file(target, false);
            };
            // A repository named with the target is valid for installs.
            let usage = db.usage().unwrap_or(alpm::Usage::ALL);
            let _ = db.set_usage(usage | alpm::Usage::INSTALL);
            let mut one = alpm::AlpmListMut::new();
            one.push(db);
            let ok = process_targname(handle, one.list(), name, error, print, explicit);
            let _ = db.set_usage(usage);
            ok
        }
        _ => process_targname(handle, handle.syncdbs(), target, error, print, explicit),
    };
    warn_if_file(target, ok)
}

fn warn_if_file(target: &str, ok: bool) -> bool {
    if !ok && nix::unistd::access(target, nix::unistd::AccessFlags::R_OK).is_ok() {
        output::warning(&format!(
            "'{target}' is a file, did you mean -U/--upgrade instead of -S/--sync?"
        ));
    }
    ok
}

fn sync_trans(
    handle: &mut Alpm,
    args: &Args,
    cfg: &Config,
    targets: &[String],
    ui: &Ui,
    torrent: bool,
) -> i32 {
    let print = args.has("print") || args.has("print-format");
    if !trans_init(handle, resolve::trans_flags(args)) {
        return 1;
    }
    let mut explicit = Explicit::default();
    let mut failed = false;
    for t in targets {
        if !process_target(handle, t, failed, print, &mut explicit) {
            failed = true;
        }
    }
    if failed {
        trans_release(handle);
        return 1;
    }
    let upgrade = args.count("sysupgrade");
    if upgrade > 0 {
        if !print {
            output::colon("Starting full system upgrade...\n");
            let _ = handle.log_action("PACMAN", "starting full system upgrade\n");
        }
        if let Err(e) = handle.sync_sysupgrade(upgrade >= 2) {
            output::error(&e.to_string());
            trans_release(handle);
            return 1;
        }
    }
    let code = prepare_execute(handle, args, cfg, &explicit, ui, torrent);
    if !trans_release(handle) {
        return 1;
    }
    code
}

fn prepare_execute(
    handle: &mut Alpm,
    args: &Args,
    cfg: &Config,
    explicit: &Explicit,
    ui: &Ui,
    torrent: bool,
) -> i32 {
    let print = args.has("print") || args.has("print-format");
    let downloadonly = args.has("downloadonly");
    let raw = handle.as_alpm_handle_t();
    // With no question to wait for, the download's first connections open
    // while the transaction is prepared.
    if torrent && !print && output::noconfirm() {
        crate::torrent::warm_up(handle, cfg, args);
    }
    if let Err(e) = handle.trans_prepare() {
        commit::report_prepare_error(raw, &e);
        return 1;
    }
    if handle.trans_add().is_empty() {
        if !print {
            output::print(" there is nothing to do\n");
        }
        return 0;
    }
    if print {
        let pkgs: Vec<&alpm::Package> = handle.trans_add().iter().collect();
        output::print(&display::print_packages(
            handle,
            &pkgs,
            args.value("print-format"),
        ));
        return 0;
    }

    let local = handle.localdb();
    let mut targets: Vec<Target> = handle
        .trans_add()
        .iter()
        .map(|p| Target {
            install: Some(p),
            remove: local.pkg(p.name()).ok(),
            explicit: explicit.0.iter().any(|n| n == p.name()),
        })
        .collect();
    targets.extend(handle.trans_remove().iter().map(|p| Target {
        install: None,
        remove: Some(p),
        explicit: false,
    }));
    let verbose = cfg.pacman.verbose_pkg_lists;
    output::print(&display::display_targets(
        &mut targets,
        verbose,
        downloadonly,
    ));
    output::print("\n");
    let confirmed = if downloadonly {
        prompt::yesno("Proceed with download?")
    } else {
        prompt::yesno("Proceed with installation?")
    };
    if !confirmed {
        return 1;
    }
    if torrent {
        crate::torrent::install_fetch_cb(handle, cfg, args, ui);
        crate::torrent::before_commit(handle, ui);
        // -Sw: pactor's check of each package may stand for libalpm's.
        if downloadonly && crate::torrent::download_only(handle, ui) {
            crate::torrent::after_commit();
            return 0;
        }
    }
    let committed = handle.trans_commit();
    if torrent {
        crate::torrent::after_commit();
    }
    if let Err(e) = committed {
        commit::report_commit_error(&e);
        return 1;
    }
    0
}
