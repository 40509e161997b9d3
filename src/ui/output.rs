//! pacman's output conventions (`src/pacman/util.c`): `:: ` lines and normal
//! text on stdout, `error: `/`warning: ` on stderr, colour only when wanted,
//! `debug: ` lines when `--debug` is on.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

static COLOR: AtomicBool = AtomicBool::new(false);
static NOCONFIRM: AtomicBool = AtomicBool::new(false);
/// Log levels shown: bits of alpm's LogLevel (error 1, warning 2, debug 4,
/// function 8). pacman starts with error | warning.
static LOGMASK: AtomicU32 = AtomicU32::new(1 | 2);

/// Turns colour on or off for everything printed from now on.
pub fn set_color(on: bool) {
    COLOR.store(on, Ordering::Relaxed);
}

/// Whether `--noconfirm` is in effect (prompts go to stdout, default taken).
pub fn set_noconfirm(on: bool) {
    NOCONFIRM.store(on, Ordering::Relaxed);
}

/// See [`set_noconfirm`].
pub fn noconfirm() -> bool {
    NOCONFIRM.load(Ordering::Relaxed)
}

/// Sets which log levels are shown.
pub fn set_logmask(mask: u32) {
    LOGMASK.store(mask, Ordering::Relaxed);
}

/// Which log levels are shown.
pub fn logmask() -> u32 {
    LOGMASK.load(Ordering::Relaxed)
}

/// pacman's colour strings (`colstr_t`), empty when colour is off.
pub struct Colors {
    /// Bold.
    pub colon: &'static str,
    /// Bold title.
    pub title: &'static str,
    /// Repository name.
    pub repo: &'static str,
    /// Error prefix.
    pub err: &'static str,
    /// Warning prefix.
    pub warn: &'static str,
    /// Faint (versions).
    pub faint: &'static str,
    /// Reset.
    pub nocolor: &'static str,
}

/// The colour strings in effect.
pub fn colors() -> Colors {
    if COLOR.load(Ordering::Relaxed) {
        Colors {
            colon: "\x1b[1;34m::\x1b[0;1m ",
            title: "\x1b[0;1m",
            repo: "\x1b[1;35m",
            err: "\x1b[1;31m",
            warn: "\x1b[1;33m",
            faint: "\x1b[0;37m",
            nocolor: "\x1b[0m",
        }
    } else {
        Colors {
            colon: ":: ",
            title: "",
            repo: "",
            err: "",
            warn: "",
            faint: "",
            nocolor: "",
        }
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_tty() -> bool {
    std::io::stdout().is_terminal()
}

/// pacman's `getcols`: `COLUMNS`, else the terminal width, 0 when stdout is
/// not a terminal (no wrapping), 80 when the width is unknown.
pub fn columns() -> usize {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        return c;
    }
    if !stdout_is_tty() {
        return 0;
    }
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ fills a winsize struct we own.
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        ws.ws_col as usize
    } else {
        80
    }
}

/// `:: text` on stdout (pacman's `colon_printf`); `text` ends with `\n`.
pub fn colon(text: &str) {
    let c = colors();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{}{}{}", c.colon, text, c.nocolor);
    let _ = out.flush();
}

/// Plain text on stdout.
pub fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// The `error: ` prefix with colour.
pub fn error_prefix() -> String {
    let c = colors();
    format!("{}error: {}", c.err, c.nocolor)
}

/// The `warning: ` prefix with colour.
pub fn warning_prefix() -> String {
    let c = colors();
    format!("{}warning: {}", c.warn, c.nocolor)
}

/// `error: msg` on stderr (one line; `msg` without the newline).
pub fn error(msg: &str) {
    let _ = std::io::stdout().flush();
    eprintln!("{}{msg}", error_prefix());
}

/// `warning: msg` on stderr, unless warnings are masked (`-Sp`).
pub fn warning(msg: &str) {
    if logmask() & 2 == 0 {
        return;
    }
    let _ = std::io::stdout().flush();
    eprintln!("{}{msg}", warning_prefix());
}

/// Whether `--debug` is on.
pub fn debug_enabled() -> bool {
    logmask() & 4 != 0
}

/// `debug: msg` on stderr when `--debug` is on.
pub fn debug(msg: &str) {
    if debug_enabled() {
        eprintln!("debug: {msg}");
    }
}

/// The C library's text for an I/O error (`strerror`), as pacman prints it.
pub fn strerror(e: &std::io::Error) -> String {
    // fs_err's errors hide the OS error behind their own words and the path
    // ("failed to open file `x`: No such file or directory (os error 2)"),
    // with no source to ask; its code is only in the text.
    let code = e.raw_os_error().or_else(|| {
        let text = e.to_string();
        let tail = text.strip_suffix(')')?;
        tail[tail.rfind("(os error ")? + "(os error ".len()..]
            .parse()
            .ok()
    });
    match code {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_owned(),
        None => e.to_string(),
    }
}

/// pacman's `humanize_size`: a value and its unit label. `target` is a unit
/// letter (`'M'`) or `None` for the first unit under 2048.
pub fn humanize_size(bytes: i64, target: Option<char>, precision: i32) -> (f64, &'static str) {
    const LABELS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut val = bytes as f64;
    let mut index = 0;
    while index < LABELS.len() - 1 {
        match target {
            Some(t) if LABELS[index].starts_with(t) => break,
            None if (-2048.0..=2048.0).contains(&val) => break,
            _ => {}
        }
        val /= 1024.0;
        index += 1;
    }
    if precision >= 0 && val < 0.0 && val > (-0.5 / 10f64.powi(precision)) {
        val = 0.0;
    }
    (val, LABELS[index])
}

/// Text on stderr as is (pacman's plain `fprintf(stderr, …)` lines).
pub fn print_err(text: &str) {
    let _ = std::io::stdout().flush();
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humanize_like_pacman() {
        assert_eq!(humanize_size(1024 * 1024, Some('M'), 2), (1.0, "MiB"));
        assert_eq!(humanize_size(1000, None, 2), (1000.0, "B"));
        assert_eq!(humanize_size(4096, None, 2), (4.0, "KiB"));
        assert_eq!(humanize_size(-1, Some('M'), 2).0, 0.0);
    }

    #[test]
    fn strerror_has_the_os_words_only() {
        let plain = std::fs::read("/nonexistent/pactor").unwrap_err();
        assert_eq!(strerror(&plain), "No such file or directory");
        let wrapped = fs_err::read("/nonexistent/pactor").unwrap_err();
        assert!(wrapped.to_string().contains("(os error 2)"), "{wrapped}");
        assert_eq!(strerror(&wrapped), "No such file or directory");
        let custom = std::io::Error::other("torrent file too large");
        assert_eq!(strerror(&custom), "torrent file too large");
    }
}
