//! libalpm's callbacks with pacman's wording (`src/pacman/callback.c`):
//! events, questions, install progress, download progress and log lines.
//!
//! All callbacks share one [`UiState`]. libalpm calls them from inside
//! `trans_prepare`/`trans_commit`, while the `Alpm` handle is borrowed, so
//! the few look-ups they need (is an optional dependency installed?) go
//! through the raw handle pointer kept in the state.

use std::cell::RefCell;
use std::ffi::CString;
use std::rc::Rc;

use alpm::{
    Alpm, AnyDownloadEvent, AnyEvent, AnyQuestion, DownloadEvent, DownloadResult, Event, HookWhen,
    LogLevel, PackageOperation, Progress, Question,
};

use super::bars::DownloadBars;
use super::output::{self, colors};
use super::{display, prompt};

/// What the callbacks need to know about the command line, and their state.
pub struct UiState {
    /// `--noprogressbar`, or stdout is not a terminal.
    pub noprogressbar: bool,
    /// `-p`: no output from events, questions answered silently.
    pub print: bool,
    /// `-w`.
    pub downloadonly: bool,
    /// `-y` given (suppresses the "database file does not exist" warning).
    pub refresh: bool,
    /// `--ask=N`.
    pub ask: Option<u32>,
    /// Raw handle for look-ups from inside callbacks.
    pub handle: *mut alpm_sys::alpm_handle_t,
    /// A download or progress bar is being drawn: log lines wait.
    on_progress: bool,
    /// Log lines held back while bars are drawn.
    held: Vec<String>,
    /// Download bars.
    pub bars: DownloadBars,
    /// ":: Retrieving packages..." was said already (by pactor, ahead of
    /// the commit); libalpm's own retrieve start does not say it again.
    retrieve_announced: bool,
    /// pactor's engine downloads the packages (`-x`) and draws its own
    /// bars and total: libalpm's total line is not drawn beside them.
    pub engine_downloads: bool,
    prev_percent: i32,
    prev_current: usize,
}

impl UiState {
    /// A state for a run with these settings.
    pub fn new(
        noprogressbar: bool,
        print: bool,
        downloadonly: bool,
        refresh: bool,
        ask: Option<u32>,
    ) -> Self {
        UiState {
            noprogressbar,
            print,
            downloadonly,
            refresh,
            ask,
            handle: std::ptr::null_mut(),
            on_progress: false,
            held: Vec::new(),
            bars: DownloadBars::new(!noprogressbar),
            retrieve_announced: false,
            engine_downloads: false,
            prev_percent: -1,
            prev_current: 0,
        }
    }

    fn retrieve_done(&mut self) {
        self.bars.finish();
        self.flush_held();
        self.on_progress = false;
    }

    /// A warning now, or after the bars when they are being drawn (pacman
    /// holds such lines while `on_progress`).
    fn warn_or_hold(&mut self, msg: String) {
        let line = format!("{}{msg}\n", output::warning_prefix());
        if self.on_progress {
            self.held.push(line);
        } else {
            eprint_raw(&line);
        }
    }

    fn flush_held(&mut self) {
        for line in self.held.drain(..) {
            eprint_raw(&line);
        }
    }
}

#[allow(clippy::print_stderr)]
fn eprint_raw(s: &str) {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(s.as_bytes());
}

/// Shared handle to the callback state.
pub type Ui = Rc<RefCell<UiState>>;

/// Registers every callback on `handle`.
pub fn install(handle: &Alpm, ui: &Ui) {
    ui.borrow_mut().handle = handle.as_alpm_handle_t();
    handle.set_log_cb(ui.clone(), on_log);
    handle.set_event_cb(ui.clone(), on_event);
    handle.set_question_cb(ui.clone(), on_question);
    handle.set_progress_cb(ui.clone(), |p, name, percent, howmany, current, ui| {
        on_progress(p, name, percent, howmany, current, ui)
    });
    handle.set_dl_cb(ui.clone(), on_download);
}

fn level_prefix(level: LogLevel) -> String {
    if level.contains(LogLevel::ERROR) {
        output::error_prefix()
    } else if level.contains(LogLevel::WARNING) {
        output::warning_prefix()
    } else if level.contains(LogLevel::DEBUG) {
        "debug: ".into()
    } else if level.contains(LogLevel::FUNCTION) {
        "function: ".into()
    } else {
        String::new()
    }
}

fn on_log(level: LogLevel, msg: &str, ui: &mut Ui) {
    if msg.is_empty() || output::logmask() & level.bits() == 0 {
        return;
    }
    let line = format!("{}{}", level_prefix(level), msg);
    let mut s = ui.borrow_mut();
    if s.on_progress {
        s.held.push(line);
    } else {
        eprint_raw(&line);
    }
}

fn is_installed_or_pending(handle: *mut alpm_sys::alpm_handle_t, dep: &str) -> (bool, bool) {
    let Ok(dep) = CString::new(dep) else {
        return (false, false);
    };
    // SAFETY: the handle outlives the transaction whose callbacks call this;
    // the lists are libalpm's own and only read.
    unsafe {
        let local = alpm_sys::alpm_get_localdb(handle);
        let installed =
            !alpm_sys::alpm_find_satisfier(alpm_sys::alpm_db_get_pkgcache(local), dep.as_ptr())
                .is_null();
        let pending =
            !alpm_sys::alpm_find_satisfier(alpm_sys::alpm_trans_get_add(handle), dep.as_ptr())
                .is_null();
        (installed, pending)
    }
}

fn optdepends_text(
    handle: *mut alpm_sys::alpm_handle_t,
    pkg: &alpm::Package,
    old: Option<&alpm::Package>,
) -> String {
    let old_deps: Vec<String> = old
        .map(|o| o.optdepends().iter().map(|d| d.to_string()).collect())
        .unwrap_or_default();
    let items: Vec<String> = pkg
        .optdepends()
        .iter()
        .map(|d| d.to_string())
        .filter(|d| !old_deps.contains(d))
        .map(|d| {
            let (installed, pending) = is_installed_or_pending(handle, &d);
            let status = if installed {
                " [installed]"
            } else if pending {
                " [pending]"
            } else {
                ""
            };
            format!("{d}{status}")
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    let head = match old {
        Some(_) => format!("New optional dependencies for {}\n", pkg.name()),
        None => format!("Optional dependencies for {}\n", pkg.name()),
    };
    head + &display::list_display_linebreak("   ", &items, output::columns())
}

fn on_event(event: AnyEvent, ui: &mut Ui) {
    let mut s = ui.borrow_mut();
    if s.print {
        return;
    }
    match event.event() {
        Event::HookStart(h) => match h.when() {
            HookWhen::PreTransaction => output::colon("Running pre-transaction hooks...\n"),
            HookWhen::PostTransaction => output::colon("Running post-transaction hooks...\n"),
        },
        Event::HookRunStart(h) => {
            let digits = h.total().to_string().len();
            let text = h.desc().unwrap_or(h.name());
            output::print(&format!(
                "({:>w$}/{:>w$}) {}\n",
                h.position(),
                h.total(),
                text,
                w = digits
            ));
        }
        Event::CheckDepsStart => output::print("checking dependencies...\n"),
        Event::FileConflictsStart if s.noprogressbar => {
            output::print("checking for file conflicts...\n")
        }
        Event::ResolveDepsStart => output::print("resolving dependencies...\n"),
        Event::InterConflictsStart => output::print("looking for conflicting packages...\n"),
        Event::TransactionStart => output::colon("Processing package changes...\n"),
        Event::PackageOperationStart(op) if s.noprogressbar => {
            let line = match op.operation() {
                PackageOperation::Install(p) => format!("installing {}...\n", p.name()),
                PackageOperation::Upgrade(_, p) => format!("upgrading {}...\n", p.name()),
                PackageOperation::Reinstall(_, p) => format!("reinstalling {}...\n", p.name()),
                PackageOperation::Downgrade(_, p) => format!("downgrading {}...\n", p.name()),
                PackageOperation::Remove(p) => format!("removing {}...\n", p.name()),
            };
            output::print(&line);
        }
        Event::PackageOperationDone(op) => {
            let text = match op.operation() {
                PackageOperation::Install(p) => optdepends_text(s.handle, p, None),
                PackageOperation::Upgrade(old, new) | PackageOperation::Downgrade(old, new) => {
                    optdepends_text(s.handle, new, Some(old))
                }
                _ => String::new(),
            };
            output::print(&text);
        }
        Event::IntegrityStart if s.noprogressbar => output::print(INTEGRITY_LINE),
        Event::KeyringStart if s.noprogressbar => output::print(KEYRING_LINE),
        Event::KeyDownloadStart => output::print("downloading required keys...\n"),
        Event::LoadStart if s.noprogressbar => output::print("loading package files...\n"),
        Event::ScriptletInfo(line) => output::print(line.line()),
        Event::RetrieveStart => s.on_progress = true,
        Event::PkgRetrieveStart(r) => {
            if !std::mem::take(&mut s.retrieve_announced) {
                output::colon(RETRIEVE_LINE);
            }
            s.on_progress = true;
            if !s.engine_downloads {
                s.bars.start_total(r.num(), r.total_size());
            }
        }
        Event::DiskSpaceStart if s.noprogressbar => {
            output::print("checking available disk space...\n")
        }
        Event::OptDepRemoval(e) => {
            output::colon(&format!(
                "{} optionally requires {}\n",
                e.pkg().name(),
                e.optdep()
            ));
        }
        Event::DatabaseMissing(e) if !s.refresh => {
            output::warning(&format!(
                "database file for '{}' does not exist (use '-Sy' to download)",
                e.dbname()
            ));
        }
        Event::PacnewCreated(e) => {
            let f = e.file();
            s.warn_or_hold(format!("{f} installed as {f}.pacnew"));
        }
        Event::PacsaveCreated(e) => {
            let f = e.file();
            s.warn_or_hold(format!("{f} saved as {f}.pacsave"));
        }
        Event::RetrieveDone
        | Event::RetrieveFailed
        | Event::PkgRetrieveDone(_)
        | Event::PkgRetrieveFailed(_) => s.retrieve_done(),
        _ => {}
    }
}

const RETRIEVE_LINE: &str = "Retrieving packages...\n";
const KEYRING_LINE: &str = "checking keyring...\n";
const INTEGRITY_LINE: &str = "checking package integrity...\n";

/// pacman's ":: Retrieving packages...", for a download pactor starts
/// ahead of libalpm's commit (`-Sw -x`; the engine draws the bars).
pub fn retrieve_start(ui: &Ui) {
    let mut s = ui.borrow_mut();
    if s.print {
        return;
    }
    output::colon(RETRIEVE_LINE);
    s.retrieve_announced = true;
    s.on_progress = true;
}

/// The end of [`retrieve_start`]'s download.
pub fn retrieve_done(ui: &Ui) {
    ui.borrow_mut().retrieve_done();
}

/// What libalpm shows for its keyring and integrity checks of `n` packages,
/// when pactor's own check stood for them (`-Sw -x`): the two lines, or
/// the two bars at 100%.
pub fn checks_passed(ui: &Ui, n: usize) {
    if ui.borrow().print {
        return;
    }
    if ui.borrow().noprogressbar {
        output::print(KEYRING_LINE);
        output::print(INTEGRITY_LINE);
        return;
    }
    let mut ui = ui.clone();
    for check in [Progress::KeyringStart, Progress::IntegrityStart] {
        on_progress(check, "", 0, n, 0, &mut ui);
        on_progress(check, "", 100, n, n, &mut ui);
    }
}

fn on_question(mut q: AnyQuestion, ui: &mut Ui) {
    let s = ui.borrow();
    let c = colors();
    let qtype = q.question_type() as u32;
    if s.print {
        let yes = matches!(
            q.question(),
            Question::InstallIgnorepkg(_) | Question::Replace(_)
        );
        q.set_answer(yes);
        return;
    }
    // The answer as libalpm will read it (the union's `answer` int), so that
    // `--ask` can invert it like pacman does.
    let answer: i32 = match q.question() {
        Question::InstallIgnorepkg(mut x) => {
            let yes = s.downloadonly
                || prompt::yesno(&format!(
                    "{} is in IgnorePkg/IgnoreGroup. Install anyway?",
                    x.pkg().name()
                ));
            x.set_install(yes);
            yes as i32
        }
        Question::Replace(x) => {
            let yes = prompt::yesno(&format!(
                "Replace {} with {}/{}?",
                x.oldpkg().name(),
                x.newdb().name(),
                x.newpkg().name()
            ));
            x.set_replace(yes);
            yes as i32
        }
        Question::Conflict(mut x) => {
            let conflict = x.conflict();
            let (p1, p2, reason) = (conflict.package1(), conflict.package2(), conflict.reason());
            let text = if p1.name() == reason.name() || p2.name() == reason.name() {
                format!(
                    "{}-{}{}{} and {}-{}{}{} are in conflict. Remove {}?",
                    p1.name(),
                    c.faint,
                    p1.version(),
                    c.nocolor,
                    p2.name(),
                    c.faint,
                    p2.version(),
                    c.nocolor,
                    p2.name()
                )
            } else {
                format!(
                    "{}-{}{}{} and {}-{}{}{} are in conflict ({}). Remove {}?",
                    p1.name(),
                    c.faint,
                    p1.version(),
                    c.nocolor,
                    p2.name(),
                    c.faint,
                    p2.version(),
                    c.nocolor,
                    reason.name(),
                    p2.name()
                )
            };
            let yes = prompt::noyes(&text);
            x.set_remove(yes);
            yes as i32
        }
        Question::RemovePkgs(mut x) => {
            let names: Vec<String> = x.packages().iter().map(|p| p.name().to_owned()).collect();
            let n = names.len();
            output::colon(if n == 1 {
                "The following package cannot be upgraded due to unresolvable dependencies:\n"
            } else {
                "The following packages cannot be upgraded due to unresolvable dependencies:\n"
            });
            output::print(&display::list_display(
                Some("     "),
                &names,
                output::columns(),
            ));
            output::print("\n");
            let yes = prompt::noyes(if n == 1 {
                "Do you want to skip the above package for this upgrade?"
            } else {
                "Do you want to skip the above packages for this upgrade?"
            });
            x.set_skip(yes);
            yes as i32
        }
        Question::SelectProvider(mut x) => {
            let providers: Vec<&alpm::Package> = x.providers().iter().collect();
            let n = providers.len();
            let dep = x.depend().to_string();
            output::colon(&if n == 1 {
                format!("There is {n} provider available for {dep}\n")
            } else {
                format!("There are {n} providers available for {dep}:\n")
            });
            output::print(&display::select_display(&providers));
            let index = prompt::select(n) as i32;
            x.set_index(index);
            index
        }
        Question::Corrupted(mut x) => {
            let yes = prompt::yesno(&format!(
                "File {} is corrupted ({}).\nDo you want to delete it?",
                x.filepath(),
                x.reason()
            ));
            x.set_remove(yes);
            yes as i32
        }
        Question::ImportKey(mut x) => {
            // alpm.rs reads `uid` without a null check, and libalpm leaves it
            // null for database signatures: read the raw struct instead.
            // SAFETY: ImportKeyQuestion's only non-zero-sized field is the
            // pointer to libalpm's question struct.
            let raw: *mut alpm_sys::alpm_question_import_key_t =
                unsafe { std::mem::transmute_copy(&x) };
            let uid = unsafe { (*raw).uid };
            let text = if uid.is_null() {
                format!("Import PGP key {}?", x.fingerprint())
            } else {
                // SAFETY: non-null C string owned by libalpm for this call.
                let uid = unsafe { std::ffi::CStr::from_ptr(uid) }.to_string_lossy();
                format!("Import PGP key {}, \"{}\"?", x.fingerprint(), uid)
            };
            let yes = prompt::yesno(&text);
            x.set_import(yes);
            yes as i32
        }
    };
    if let Some(ask) = s.ask {
        if ask & qtype != 0 {
            q.set_answer(answer == 0);
        }
    }
}

fn on_progress(p: Progress, name: &str, percent: i32, howmany: usize, current: usize, ui: &mut Ui) {
    let mut s = ui.borrow_mut();
    let cols = output::columns();
    if s.noprogressbar || cols == 0 {
        return;
    }
    if percent == 100 && s.prev_percent == 100 && s.prev_current == current {
        return;
    }
    if percent != 0 && percent != 100 && current == s.prev_current && percent == s.prev_percent {
        return;
    }
    s.prev_percent = percent;
    s.prev_current = current;
    let opr = match p {
        Progress::AddStart => "installing",
        Progress::UpgradeStart => "upgrading",
        Progress::DowngradeStart => "downgrading",
        Progress::ReinstallStart => "reinstalling",
        Progress::RemoveStart => "removing",
        Progress::ConflictsStart => "checking for file conflicts",
        Progress::DiskspaceStart => "checking available disk space",
        Progress::IntegrityStart => "checking package integrity",
        Progress::KeyringStart => "checking keys in keyring",
        Progress::LoadStart => "loading package files",
    };
    let infolen = (cols * 6 / 10).max(50);
    let digits = howmany.to_string().len();
    let textlen = infolen.saturating_sub(3 + 2 * digits + 1);
    let mut text = if name.is_empty() {
        opr.to_owned()
    } else {
        format!("{opr} {name}")
    };
    if text.chars().count() > textlen {
        text = text
            .chars()
            .take(textlen.saturating_sub(3))
            .collect::<String>()
            + "...";
    }
    let barlen = cols.saturating_sub(infolen);
    let bar = fill_progress(percent, barlen);
    output::print(&format!(
        "\r({:>d$}/{:>d$}) {:<t$}{}",
        current,
        howmany,
        text,
        bar,
        d = digits,
        t = textlen
    ));
    if percent == 100 {
        output::print("\n");
        s.flush_held();
        s.on_progress = false;
    } else {
        s.on_progress = true;
    }
}

/// pacman's `fill_progress`: ` [####----] 100%` in `proglen` columns.
fn fill_progress(percent: i32, proglen: usize) -> String {
    let hashlen = proglen.saturating_sub(8);
    if hashlen == 0 {
        return format!(" {percent:>3}%");
    }
    let hash = hashlen * percent.clamp(0, 100) as usize / 100;
    format!(
        " [{}{}] {:>3}%",
        "#".repeat(hash),
        "-".repeat(hashlen - hash),
        percent
    )
}

fn on_download(file: &str, event: AnyDownloadEvent, ui: &mut Ui) {
    if file.ends_with(".sig") {
        return;
    }
    let mut s = ui.borrow_mut();
    match event.event() {
        DownloadEvent::Init(_) => s.bars.init(file),
        DownloadEvent::Progress(p) => s.bars.progress(file, p.downloaded as u64, p.total as u64),
        DownloadEvent::Retry(r) => s.bars.retry(file, r.resume),
        DownloadEvent::Completed(c) => {
            let ok = match c.result {
                DownloadResult::Success => Some(true),
                DownloadResult::UpToDate => None,
                DownloadResult::Failed => Some(false),
            };
            s.bars.completed(file, c.total as u64, ok);
        }
    }
}
