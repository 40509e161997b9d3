//! Running pactor or the reference pacman on a [`Root`]: the sandbox's path
//! options first (as pactest passes them), then the test's arguments, with
//! only `LC_ALL=C` in the environment, stdin given (or empty), and a timeout.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::bins;
use super::sandbox::Root;

/// One test body, two modes: plain runs the arguments as given; torrent adds
/// `-x` to every sync/upgrade call of pactor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Plain,
    Torrent,
}

fn timeout() -> Duration {
    let secs = std::env::var("PACTOR_IT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Whether pacman's arguments hold a sync or upgrade operation (`-S…`,
/// `--sync`, `-U…`, `--upgrade`); `b` and `r` take a value in a cluster.
pub fn is_sync_or_upgrade(args: &[String]) -> bool {
    for a in args {
        if a == "--" {
            break;
        }
        if a == "--sync" || a == "--upgrade" {
            return true;
        }
        if let Some(c) = a.strip_prefix('-').filter(|c| !c.starts_with('-')) {
            let c = c.split(['b', 'r']).next().unwrap_or("");
            if c.contains('S') || c.contains('U') {
                return true;
            }
        }
    }
    false
}

/// Add `-x` before the first `--` (or at the end).
pub fn with_torrent_flag(mut args: Vec<String>) -> Vec<String> {
    let at = args.iter().position(|a| a == "--").unwrap_or(args.len());
    args.insert(at, "-x".to_owned());
    args
}

pub struct Run {
    bin: PathBuf,
    root: Root,
    mode: Mode,
    args: Vec<String>,
    stdin: String,
    path_args: bool,
    /// Environment beside `LC_ALL=C`.
    env: Vec<(String, String)>,
}

impl Run {
    pub fn new(bin: PathBuf, root: Root, mode: Mode) -> Run {
        Run {
            bin,
            root,
            mode,
            args: vec![],
            stdin: String::new(),
            path_args: true,
            env: vec![],
        }
    }
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, args: I) -> Self {
        self.args
            .extend(args.into_iter().map(|s| s.as_ref().to_owned()));
        self
    }
    /// What to type at the prompts.
    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = s.to_owned();
        self
    }
    /// Adds `key=value` to the (otherwise empty) environment.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
    /// Leave out the sandbox's path options.
    pub fn without_path_args(mut self) -> Self {
        self.path_args = false;
        self
    }

    pub fn run(self) -> Outcome {
        let mut args = if self.path_args {
            self.root.path_args()
        } else {
            vec![]
        };
        args.extend(self.args.iter().cloned());
        if self.mode == Mode::Torrent && is_sync_or_upgrade(&args) {
            args = with_torrent_flag(args);
        }
        let (prog, full): (PathBuf, Vec<String>) = match bins::fakeroot() {
            Some(f) => (
                f.to_path_buf(),
                std::iter::once(self.bin.display().to_string())
                    .chain(args.iter().cloned())
                    .collect(),
            ),
            None => (self.bin.clone(), args.clone()),
        };
        let limit = timeout();
        let started = Instant::now();
        let out = assert_cmd::Command::new(&prog)
            .args(&full)
            .env_clear()
            .env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.root.base)
            .write_stdin(self.stdin.clone())
            .timeout(limit)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", prog.display()));
        let timed_out = started.elapsed() >= limit;
        Outcome {
            cmdline: format!("{} {}", self.bin.display(), args.join(" ")),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            timed_out,
            elapsed: started.elapsed(),
            bin: self.bin.display().to_string(),
            root: self.root.base.display().to_string(),
        }
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub cmdline: String,
    /// Exit code; -1 when killed by a signal (or the timeout).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
    bin: String,
    root: String,
}

impl Outcome {
    /// Output with the root's paths as `[ROOT]`, the sandbox as `[SB]` and the
    /// program's path as `[BIN]`, so that two roots compare equal.
    pub fn normalize(&self, text: &str) -> String {
        let sb = std::path::Path::new(&self.root)
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let mut t = text.replace(&self.root, "[ROOT]");
        if !sb.is_empty() {
            t = t.replace(&sb, "[SB]");
        }
        t.replace(&self.bin, "[BIN]")
    }
    pub fn stdout_n(&self) -> String {
        self.normalize(&self.stdout)
    }
    pub fn stderr_n(&self) -> String {
        self.normalize(&self.stderr)
    }
    /// stdout and stderr together (normalized), for "the output says …".
    pub fn all_n(&self) -> String {
        format!("{}{}", self.stdout_n(), self.stderr_n())
    }

    /// Every line in `lines` appears as a whole line of stdout or stderr.
    #[track_caller]
    pub fn assert_lines(&self, lines: &[&str]) {
        let all = self.all_n();
        for l in lines {
            assert!(
                all.lines().any(|x| x == *l),
                "expected the line {l:?} in the output of\n{self}"
            );
        }
    }

    /// The first line of stderr that starts with `prefix`.
    pub fn stderr_line(&self, prefix: &str) -> Option<String> {
        self.stderr
            .lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_owned)
    }

    /// Some line contains `needle`.
    #[track_caller]
    pub fn assert_contains(&self, needle: &str) {
        assert!(
            self.all_n().contains(needle),
            "expected {needle:?} in the output of\n{self}"
        );
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) {
        assert!(
            !self.timed_out,
            "timed out after {:?}:\n{self}",
            self.elapsed
        );
        assert_eq!(self.code, code, "exit code of\n{self}");
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.cmdline)?;
        writeln!(
            f,
            "exit {}{} after {:.1?}",
            self.code,
            if self.timed_out { " (TIMED OUT)" } else { "" },
            self.elapsed
        )?;
        writeln!(f, "--- stdout")?;
        write!(f, "{}", self.stdout)?;
        writeln!(f, "--- stderr")?;
        write!(f, "{}", self.stderr)?;
        writeln!(f, "---")
    }
}
