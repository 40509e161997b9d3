//! pactor's integration tests: one binary (`cargo test --test it`), so the
//! sandbox helpers in `support/` are compiled once.
//!
//! Every scenario drives the real `pactor` binary on a sandboxed root (temp
//! dir, `--root/--dbpath/--cachedir/--config`, a repository made by the real
//! `repo-add`, mirrors on 127.0.0.1) with only `LC_ALL=C` in its environment,
//! runs the same scenario with the reference pacman, and asserts that pactor
//! matches it: exit code, key output lines and the resulting local database.
//! Sync scenarios run twice, plain and with `-x` (`mod plain` / `mod torrent`).
//!
//! `PACTOR_IT_BIN` replaces the binary under test (e.g. the reference pacman
//! itself, to check the harness); `PACTOR_IT_TIMEOUT` bounds each child
//! process (seconds, default 60).

mod support;

mod errors;
mod interrupt;
mod seed_handoff;
mod startup;
mod sync;
mod tls;
