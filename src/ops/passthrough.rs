//! Operations that never download (`-Q -R -D -T -V -F` without refresh, `-U`
//! of local files, `-Sc`, the `-S` query forms) run the system pacman, found
//! by absolute path, with the command line rebuilt in canonical long form
//! minus pactor's own options. Its exit code, standard streams and signals
//! are pacman's own: pactor replaces itself with it (exec).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::cli::Args;
use crate::config::Config;
use crate::ui::output;

/// Replaces pactor with `pacman_bin` and these arguments; returns only on
/// failure (exit code 1 after pacman-style error).
pub fn exec(pacman_bin: &Path, argv: &[String]) -> i32 {
    let err = Command::new(pacman_bin).args(argv).exec();
    output::error(&format!(
        "failed to run {}: {}",
        pacman_bin.display(),
        output::strerror(&err)
    ));
    1
}

/// Runs pacman for the whole command line.
pub fn run(args: &Args, pacman_bin: &Path) -> i32 {
    exec(pacman_bin, &args.to_pacman_argv())
}

/// Runs pacman for an `-S` query after pactor refreshed the databases
/// itself: the same command line without `-y`.
pub fn run_without_refresh(args: &Args, cfg: &Config) -> i32 {
    let mut a = args.clone();
    a.given.retain(|g| g.flag.long != "refresh");
    // pacman's soft interrupt handling is its own from here on.
    let status = Command::new(&cfg.pactor.pacman_bin)
        .args(a.to_pacman_argv())
        .status();
    match status {
        Ok(s) => s.code().unwrap_or_else(|| {
            128 + std::os::unix::process::ExitStatusExt::signal(&s).unwrap_or(0)
        }),
        Err(e) => {
            output::error(&format!(
                "failed to run {}: {}",
                cfg.pactor.pacman_bin.display(),
                output::strerror(&e)
            ));
            1
        }
    }
}
