//! Download progress in pacman's layout: one bar per file and a total line
//! when more than one package downloads, drawn with indicatif on a terminal;
//! without a terminal (or with `--noprogressbar`) only pacman's
//! ` name downloading...` lines.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output;

/// pacman's `clean_filename`: drop `.pkg…`, `.db`, `.files` for display.
pub fn clean_filename(name: &str) -> &str {
    for ext in [".pkg", ".db", ".files"] {
        if let Some(i) = name.find(ext) {
            return &name[..i];
        }
    }
    name
}

/// The bars of one download phase.
pub struct DownloadBars {
    enabled: bool,
    multi: Option<MultiProgress>,
    bars: HashMap<String, ProgressBar>,
    total: Option<ProgressBar>,
}

fn file_style() -> ProgressStyle {
    ProgressStyle::with_template(" {msg:<30!} {bytes:>10} {binary_bytes_per_sec:>12} {elapsed_precise:>8} [{wide_bar}] {percent:>3}%")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("#-")
}

impl DownloadBars {
    /// Bars drawn only when `enabled` (a terminal and no `--noprogressbar`).
    pub fn new(enabled: bool) -> Self {
        DownloadBars {
            enabled,
            multi: None,
            bars: HashMap::new(),
            total: None,
        }
    }

    /// Whether bars are drawn.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn multi(&mut self) -> &MultiProgress {
        self.multi.get_or_insert_with(|| {
            MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(8))
        })
    }

    /// Starts the total line for `num` packages of `total_size` bytes.
    pub fn start_total(&mut self, num: usize, total_size: i64) {
        if !self.enabled || num < 2 || total_size <= 0 {
            return;
        }
        let bar = self.multi().add(ProgressBar::new(total_size as u64));
        bar.set_style(file_style());
        bar.set_message(format!("Total (0/{num})"));
        bar.enable_steady_tick(Duration::from_millis(250));
        self.total = Some(bar);
    }

    /// A file starts downloading.
    pub fn init(&mut self, file: &str) {
        let name = clean_filename(file).to_owned();
        if !self.enabled {
            output::print(&format!(" {name} downloading...\n"));
            return;
        }
        let bar = ProgressBar::new(0);
        bar.set_style(file_style());
        bar.set_message(name);
        let bar = match &self.total {
            Some(t) => {
                let t = t.clone();
                self.multi().insert_before(&t, bar)
            }
            None => self.multi().add(bar),
        };
        self.bars.insert(file.to_owned(), bar);
    }

    /// Progress of one file.
    pub fn progress(&mut self, file: &str, downloaded: u64, total: u64) {
        if let Some(bar) = self.bars.get(file) {
            if total > 0 {
                bar.set_length(total);
            }
            let before = bar.position();
            bar.set_position(downloaded);
            if let Some(t) = &self.total {
                t.inc(downloaded.saturating_sub(before));
            }
        }
    }

    /// A transfer restarts (`resume`: from where it was).
    pub fn retry(&mut self, file: &str, resume: bool) {
        if let Some(bar) = self.bars.get(file) {
            if !resume {
                if let Some(t) = &self.total {
                    t.set_position(t.position().saturating_sub(bar.position()));
                }
                bar.set_position(0);
            }
        }
    }

    /// A file is done: `Some(true)` downloaded, `None` up to date,
    /// `Some(false)` failed.
    pub fn completed(&mut self, file: &str, total: u64, ok: Option<bool>) {
        let Some(bar) = self.bars.remove(file) else {
            return;
        };
        let name = clean_filename(file).to_owned();
        match ok {
            Some(true) => {
                bar.set_length(total.max(bar.position()));
                bar.set_position(total.max(bar.position()));
                bar.finish();
            }
            None => bar.finish_with_message(format!("{name} is up to date")),
            Some(false) => bar.abandon_with_message(format!("{name} failed to download")),
        }
        if let Some(t) = &self.total {
            let done = t.message();
            if let Some((n, m)) = done
                .strip_prefix("Total (")
                .and_then(|r| r.strip_suffix(')'))
                .and_then(|r| r.split_once('/'))
            {
                let n: usize = n.parse().unwrap_or(0);
                t.set_message(format!("Total ({}/{m})", n + 1));
            }
        }
    }

    /// The download phase ends.
    pub fn finish(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.abandon();
        }
        if let Some(t) = self.total.take() {
            t.finish();
        }
        self.multi = None;
    }
}

/// Progress of pactor's own engine (`-x`): a bar per file and a total line
/// on a terminal, pacman's ` name downloading...` lines otherwise, and one
/// summary line at the end. The engine calls it from its own threads.
pub struct EngineReporter {
    enabled: bool,
    multi: MultiProgress,
    bars: std::sync::Mutex<HashMap<usize, ProgressBar>>,
    total: std::sync::Mutex<Option<ProgressBar>>,
    peers: std::sync::atomic::AtomicU64,
    mirrors: std::sync::atomic::AtomicU64,
    /// When the engine started, for the `--debug` line of each file.
    started: std::time::Instant,
}

impl EngineReporter {
    /// Bars when `enabled`, plain lines otherwise.
    pub fn new(enabled: bool) -> Self {
        EngineReporter {
            enabled,
            multi: MultiProgress::with_draw_target(if enabled {
                ProgressDrawTarget::stdout_with_hz(8)
            } else {
                ProgressDrawTarget::hidden()
            }),
            bars: Default::default(),
            total: Default::default(),
            peers: Default::default(),
            mirrors: Default::default(),
            started: std::time::Instant::now(),
        }
    }

    /// The line after the downloads: packages, bytes, time, and where the
    /// bytes came from.
    pub fn summary(&self, s: &pactor_fetch::FetchSummary) {
        if let Ok(mut t) = self.total.lock() {
            if let Some(t) = t.take() {
                t.finish();
            }
        }
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let total = s.bytes_from_peers + s.bytes_from_mirrors;
        let mut line = format!(
            " {} package{}, {:.1} MiB in {:.1} s: {:.1} MiB from peers, {:.1} MiB from mirrors",
            s.packages,
            if s.packages == 1 { "" } else { "s" },
            mib(total),
            s.elapsed.as_secs_f64(),
            mib(s.bytes_from_peers),
            mib(s.bytes_from_mirrors)
        );
        if s.bytes_resumed > 0 {
            line.push_str(&format!(", {:.1} MiB resumed", mib(s.bytes_resumed)));
        }
        line.push('\n');
        output::print(&line);
    }
}

impl pactor_fetch::Reporter for EngineReporter {
    fn on_start(&self, items: usize, total_bytes: u64) {
        if self.enabled && items > 1 {
            let bar = self.multi.add(ProgressBar::new(total_bytes));
            bar.set_style(file_style());
            bar.set_message("Total");
            if let Ok(mut t) = self.total.lock() {
                *t = Some(bar);
            }
        }
    }

    fn on_item_start(
        &self,
        item: pactor_fetch::ItemId,
        filename: &str,
        size: Option<u64>,
        resumed: u64,
    ) {
        if filename.ends_with(".sig") {
            return;
        }
        let name = clean_filename(filename).to_owned();
        if !self.enabled {
            output::print(&format!(" {name} downloading...\n"));
            return;
        }
        let bar = ProgressBar::new(size.unwrap_or(0));
        bar.set_style(file_style());
        bar.set_message(name);
        bar.set_position(resumed);
        let bar = match self.total.lock().ok().and_then(|t| t.clone()) {
            Some(t) => {
                t.inc(resumed);
                self.multi.insert_before(&t, bar)
            }
            None => self.multi.add(bar),
        };
        if let Ok(mut bars) = self.bars.lock() {
            bars.insert(item.0, bar);
        }
    }

    fn on_progress(
        &self,
        item: pactor_fetch::ItemId,
        bytes: u64,
        source: pactor_fetch::SourceKind,
    ) {
        use std::sync::atomic::Ordering;
        match source {
            pactor_fetch::SourceKind::Peer => self.peers.fetch_add(bytes, Ordering::Relaxed),
            pactor_fetch::SourceKind::Mirror => self.mirrors.fetch_add(bytes, Ordering::Relaxed),
        };
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(&item.0).cloned()) {
            bar.inc(bytes);
        }
        if let Some(t) = self.total.lock().ok().and_then(|t| t.clone()) {
            t.inc(bytes);
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            t.set_message(format!(
                "Total ({:.1} MiB peers, {:.1} MiB mirrors)",
                mib(self.peers.load(Ordering::Relaxed)),
                mib(self.mirrors.load(Ordering::Relaxed))
            ));
        }
    }

    fn on_discard(&self, item: pactor_fetch::ItemId, bytes: u64) {
        if let Some(bar) = self.bars.lock().ok().and_then(|b| b.get(&item.0).cloned()) {
            bar.set_position(bar.position().saturating_sub(bytes));
        }
        if let Some(t) = self.total.lock().ok().and_then(|t| t.clone()) {
            t.set_position(t.position().saturating_sub(bytes));
        }
    }

    fn on_item_done(&self, item: pactor_fetch::ItemId, file: &pactor_fetch::FetchedFile) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(&item.0)) {
            bar.finish();
        }
        output::debug(&format!(
            "{} downloaded {:.2} s after the start: {} bytes from peers, {} from mirrors, {} resumed",
            file.filename,
            self.started.elapsed().as_secs_f64(),
            file.from_peers,
            file.from_mirrors,
            file.resumed
        ));
    }

    fn on_item_failed(&self, item: pactor_fetch::ItemId, failure: &pactor_fetch::FileFailure) {
        if let Some(bar) = self.bars.lock().ok().and_then(|mut b| b.remove(&item.0)) {
            bar.abandon_with_message(format!(
                "{} failed to download",
                clean_filename(&failure.filename)
            ));
        }
    }

    fn on_mirror_benched(&self, mirror: &str, reason: &pactor_fetch::BenchReason) {
        let line = format!("mirror {mirror} dropped: {reason}");
        if self.enabled {
            let _ = self
                .multi
                .println(format!("{}{line}", output::warning_prefix()));
        } else {
            output::warning(&line);
        }
    }

    fn on_warning(&self, message: &str) {
        output::warning(message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_names_like_pacman() {
        assert_eq!(
            clean_filename("foo-1.0-1-x86_64.pkg.tar.zst"),
            "foo-1.0-1-x86_64"
        );
        assert_eq!(clean_filename("core.db"), "core");
        assert_eq!(clean_filename("core.files"), "core");
        assert_eq!(clean_filename("plain"), "plain");
    }
}
