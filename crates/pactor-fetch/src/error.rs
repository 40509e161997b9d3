//! Errors of the engine. A failed download names the file and every source
//! tried with what each did, because that is what a user needs to pick a
//! mirror to blame (pacman prints `failed retrieving file '…' from host : …`
//! for each one).

use std::fmt;
use std::path::PathBuf;

use crate::engine::FetchOutcome;

/// Why a run of the engine did not deliver every file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Some files could not be downloaded from any source; the rest are in
    /// `partial`.
    #[error("{}", DisplayFailures(.failures))]
    Failed {
        /// One entry per file that failed.
        failures: Vec<FileFailure>,
        /// The files that did arrive, and the run's summary.
        partial: Box<FetchOutcome>,
    },
    /// The plan cannot be carried out as given.
    #[error("invalid fetch plan: {0}")]
    InvalidPlan(String),
    /// The download directory (or a file in it) could not be used.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the engine was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The async runtime of the blocking wrapper could not start.
    #[error("could not start the download runtime: {0}")]
    Runtime(std::io::Error),
}

/// One file that could not be downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFailure {
    /// The file name from the plan.
    pub filename: String,
    /// Every source tried, in the order first tried.
    pub attempts: Vec<SourceAttempt>,
    /// A reason not tied to one source (e.g. a checksum that never matched).
    pub note: Option<String>,
}

impl FileFailure {
    /// A failure of `filename` with no source to name, only `why`.
    pub fn noted(filename: &str, why: &str) -> FileFailure {
        FileFailure {
            filename: filename.to_owned(),
            attempts: Vec::new(),
            note: Some(why.to_owned()),
        }
    }

    /// Every item of `plan` that `settled` says was neither delivered nor
    /// failed, failed with `why`, with its index: an engine that ended
    /// without a word on an item must not leave it to surface later as a
    /// missing file.
    pub fn for_unsettled<'a>(
        plan: &'a crate::plan::FetchPlan,
        settled: impl Fn(usize) -> bool + 'a,
        why: &'a str,
    ) -> impl Iterator<Item = (usize, FileFailure)> + 'a {
        plan.items
            .iter()
            .enumerate()
            .filter(move |(i, _)| !settled(*i))
            .map(move |(i, item)| (i, FileFailure::noted(&item.filename, why)))
    }
}

/// What one source did for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAttempt {
    /// The URL asked.
    pub url: String,
    /// Its last answer, in words (`404 Not Found`, `connection refused`, …).
    pub outcome: String,
}

impl fmt::Display for FileFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed retrieving file '{}'", self.filename)?;
        if let Some(note) = &self.note {
            write!(f, " ({note})")?;
        }
        if self.attempts.is_empty() {
            return write!(f, ": no source to try");
        }
        write!(f, " from ")?;
        for (i, attempt) in self.attempts.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{} ({})", attempt.url, attempt.outcome)?;
        }
        Ok(())
    }
}

struct DisplayFailures<'a>(&'a [FileFailure]);

impl fmt::Display for DisplayFailures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}

/// Why one request to one mirror did not deliver its bytes. Kept apart from
/// [`FetchError`]: these are normal events the scheduler reacts to, and only
/// end up in a [`SourceAttempt`] when a file fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// TCP or TLS connect failed (refused, unreachable, timed out).
    #[error("connection failed: {0}")]
    Connect(String),
    /// The mirror answered with an HTTP error status.
    #[error("HTTP {0}")]
    Status(u16),
    /// A range request answered with something else than the range asked.
    #[error("bad range reply: {0}")]
    BadRange(String),
    /// The mirror's file has another size than the sync db's.
    #[error("file has size {found}, expected {expected}")]
    WrongSize {
        /// What the mirror announced.
        found: u64,
        /// What the plan says.
        expected: u64,
    },
    /// The body ended before the bytes asked for.
    #[error("connection closed early")]
    ShortBody,
    /// An unsized file grew past the allowed maximum.
    #[error("file larger than {0} bytes")]
    TooLarge(u64),
    /// Nothing arrived for too long.
    #[error("stalled (no data for {0:.1?})")]
    Stalled(std::time::Duration),
    /// The mirror was much slower than the others.
    #[error("too slow")]
    Slow,
    /// Another mirror delivered the same range first.
    #[error("no answer before another mirror delivered")]
    Overtaken,
    /// Any other transport error.
    #[error("{0}")]
    Transport(String),
    /// Writing the received bytes failed (local disk).
    #[error("write failed: {0}")]
    Write(String),
}

/// An I/O error in pacman's words: the system's message without Rust's
/// " (os error N)" after it ("No space left on device"), also where a
/// wrapper (fs_err) put its own words before it.
pub fn os_text(e: &std::io::Error) -> String {
    without_os_codes(&e.to_string())
}

/// `text` without Rust's " (os error N)" after each system message.
pub fn without_os_codes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" (os error ") {
        let after = &rest[at + " (os error ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && after[digits..].starts_with(')') {
            out.push_str(&rest[..at]);
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// An error text that anyhow's `{:?}` spread over lines ("msg", a blank
/// line, "Caused by:", then "    0: cause" ...) on one line as `{:#}`
/// gives it ("msg: cause: ..."), without Rust's " (os error N)" and
/// without the backtrace anyhow adds under `RUST_BACKTRACE`. librqbit hands
/// its torrents' errors over as such text.
pub fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| *l != "Stack backtrace:")
        .filter(|l| !l.is_empty() && *l != "Caused by:")
        .map(|l| match l.split_once(": ") {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest,
            _ => l,
        })
        .collect();
    without_os_codes(&parts.join(": "))
}

/// An error and its causes on one line, like `{:#}`, without Rust's
/// " (os error N)" (librqbit's errors carry the system's in their text).
pub fn chain_text(e: &anyhow::Error) -> String {
    without_os_codes(&format!("{e:#}"))
}

impl SourceError {
    /// Whether this error says the file is not (or not in this version) on
    /// the mirror, as opposed to the mirror being broken.
    pub fn is_missing_file(&self) -> bool {
        matches!(
            self,
            SourceError::Status(404 | 410) | SourceError::WrongSize { .. }
        )
    }

    /// Whether this error says the mirror as a whole is unusable right now.
    pub fn is_mirror_down(&self) -> bool {
        matches!(self, SourceError::Connect(_) | SourceError::Stalled(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_names_every_source() {
        let failure = FileFailure {
            filename: "a.pkg.tar.zst".into(),
            attempts: vec![
                SourceAttempt {
                    url: "http://one/a.pkg.tar.zst".into(),
                    outcome: "HTTP 404".into(),
                },
                SourceAttempt {
                    url: "http://two/a.pkg.tar.zst".into(),
                    outcome: "connection failed: refused".into(),
                },
            ],
            note: None,
        };
        assert_eq!(
            failure.to_string(),
            "failed retrieving file 'a.pkg.tar.zst' from http://one/a.pkg.tar.zst (HTTP 404), \
             http://two/a.pkg.tar.zst (connection failed: refused)"
        );
    }

    #[test]
    fn items_left_unsettled_fail_with_the_reason() {
        use crate::plan::{FetchItem, FetchPlan, ItemKind};
        let item = |name: &str| FetchItem {
            filename: name.to_owned(),
            size: Some(1),
            sha256: None,
            mirrors: Vec::new(),
            torrent: None,
            kind: ItemKind::Package,
        };
        let plan = FetchPlan {
            items: vec![item("a"), item("b"), item("c")],
            download_dir: PathBuf::from("/nonexistent"),
            limits: Default::default(),
            options: Default::default(),
        };
        let failed: Vec<_> = FileFailure::for_unsettled(&plan, |i| i == 1, "gone").collect();
        assert_eq!(
            failed,
            vec![
                (0, FileFailure::noted("a", "gone")),
                (2, FileFailure::noted("c", "gone"))
            ]
        );
        assert_eq!(
            failed[0].1.to_string(),
            "failed retrieving file 'a' (gone): no source to try"
        );
        assert_eq!(
            FileFailure::for_unsettled(&plan, |_| true, "gone").count(),
            0
        );
    }

    #[test]
    fn a_spread_out_error_reads_on_one_line() {
        let e = anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC))
            .context("error calling pwritev")
            .context("error writing to file 0");
        let spread = format!("{e:?}");
        assert!(spread.contains("Caused by:"), "{spread}");
        assert_eq!(
            one_line(&spread),
            "error writing to file 0: error calling pwritev: No space left on device"
        );
        assert_eq!(one_line("torrent 2: stopped"), "torrent 2: stopped");
    }

    #[test]
    fn os_errors_read_like_pacman_s() {
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(full.to_string().ends_with("(os error 28)"), "{full}");
        assert_eq!(os_text(&full), "No space left on device");
        let other = std::io::Error::other("short read");
        assert_eq!(os_text(&other), "short read");
        let wrapped = fs_err::read("/nonexistent/pactor").unwrap_err();
        assert!(wrapped.to_string().ends_with("(os error 2)"), "{wrapped}");
        assert!(
            os_text(&wrapped).ends_with("`/nonexistent/pactor`: No such file or directory"),
            "{}",
            os_text(&wrapped)
        );
    }

    #[test]
    fn chains_lose_their_os_codes_and_nothing_else() {
        let io = std::io::Error::from_raw_os_error(libc::EADDRINUSE);
        let e = anyhow::Error::new(io).context("error binding to 0.0.0.0:6881");
        assert!(format!("{e:#}").ends_with("(os error 98)"), "{e:#}");
        let words = os_text(&std::io::Error::from_raw_os_error(libc::EADDRINUSE));
        assert!(!words.contains("os error"), "{words}");
        assert_eq!(
            chain_text(&e),
            format!("error binding to 0.0.0.0:6881: {words}")
        );
        let missing = std::fs::read("/nonexistent/pactor").unwrap_err();
        let e = anyhow::Error::new(missing).context("could not listen on /run/x");
        assert!(format!("{e:#}").ends_with("(os error 2)"), "{e:#}");
        assert_eq!(
            chain_text(&e),
            "could not listen on /run/x: No such file or directory"
        );
        assert_eq!(
            without_os_codes("a (os error 2): b (os error x) (os error 13)"),
            "a: b (os error x)"
        );
    }
}
