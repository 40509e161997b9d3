//! Mirror health: one entry per origin (scheme, host, port), shared by every
//! repo served from it, since a dead host is dead for `core` and `extra`
//! alike. The scheduler reads rates from here to size requests and to judge
//! who is slow; see `STATE.md` for when a mirror is benched.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use url::Url;

use crate::reporter::BenchReason;

/// Index into [`Mirrors::list`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MirrorId(pub usize);

/// Counters a worker bumps without taking the scheduler lock.
#[derive(Debug, Default)]
pub(crate) struct MirrorCounters {
    /// Bytes received from this mirror in this run.
    pub bytes: AtomicU64,
}

/// What the scheduler knows about one mirror.
#[derive(Debug)]
pub(crate) struct Mirror {
    /// Its origin, as shown to the user (`https://host:port`).
    pub name: String,
    pub counters: Arc<MirrorCounters>,
    /// `Some` once benched: it then only gets work no active mirror can do.
    pub benched: Option<BenchReason>,
    /// It answered a range request with the whole file.
    pub no_ranges: bool,
    /// Errors since its last success.
    pub errors: u32,
    /// Requests in flight.
    pub active: usize,
    /// Smoothed rate in bytes/s while busy; `None` before its first sample.
    pub rate: Option<f64>,
    /// Highest smoothed rate seen, bytes/s (0 before the first sample).
    pub peak_rate: f64,
    /// Counter value at the last sample.
    sampled_bytes: u64,
    /// Since when it has been slower than the slow ratio allows.
    pub slow_since: Option<Instant>,
    /// Last time any byte arrived from it.
    pub last_byte: Option<Instant>,
    /// Smoothed time from sending a request to its response's head, in
    /// seconds (connecting included when the request needed a connection);
    /// `None` before its first answer.
    pub latency: Option<f64>,
    /// The shortest of those times: the mirror's latency with nothing
    /// queued ahead of the answer.
    pub min_latency: Option<f64>,
}

impl Mirror {
    fn new(name: String) -> Self {
        Mirror {
            name,
            counters: Arc::default(),
            benched: None,
            no_ranges: false,
            errors: 0,
            active: 0,
            rate: None,
            peak_rate: 0.0,
            sampled_bytes: 0,
            slow_since: None,
            last_byte: None,
            latency: None,
            min_latency: None,
        }
    }

    /// Records how long one request waited for its response's head.
    pub fn note_latency(&mut self, waited: Duration) {
        let sample = waited.as_secs_f64();
        self.min_latency = Some(self.min_latency.map_or(sample, |m| m.min(sample)));
        self.latency = Some(match self.latency {
            None => sample,
            Some(l) => l + 0.25 * (sample - l),
        });
    }

    /// Connections that keep this mirror's link busy with requests of
    /// `request_bytes` each: while one request waits out the latency, the
    /// others stream, so 1 + latency × rate / request size, with the rate
    /// counted twice (a rate measured over too few connections understates
    /// the link, and would keep them too few); at least two, so that one
    /// starved flow never idles the mirror. More only share the same link
    /// and leave more bytes committed to it when the work runs out
    /// (small300 in BENCHMARKS.md). `None` before the mirror has answered
    /// and has a rate.
    pub fn connections_needed(&self, request_bytes: f64) -> Option<usize> {
        let latency = self.min_latency?;
        if self.peak_rate <= 0.0 || request_bytes <= 0.0 {
            return None;
        }
        Some(((1.0 + 2.0 * latency * self.peak_rate / request_bytes).ceil() as usize).max(2))
    }

    /// Bytes received from this mirror in this run.
    pub fn delivered(&self) -> u64 {
        self.counters.bytes.load(Ordering::Relaxed)
    }

    /// Rate each of its open connections gets, bytes/s.
    pub fn rate_per_connection(&self) -> Option<f64> {
        self.rate.map(|r| r / self.active.max(1) as f64)
    }

    /// Rate one more connection to this mirror can expect, bytes/s.
    pub fn rate_for_another(&self) -> Option<f64> {
        self.rate.map(|r| r / (self.active + 1) as f64)
    }

    /// Takes a rate sample over the last `dt`. Only busy periods count: an
    /// idle mirror is not a slow one.
    pub fn sample(&mut self, dt: Duration, now: Instant) {
        let bytes = self.counters.bytes.load(Ordering::Relaxed);
        let delta = bytes - self.sampled_bytes;
        self.sampled_bytes = bytes;
        if delta > 0 {
            self.last_byte = Some(now);
        }
        // Idle all tick long says nothing; a request that started and ended
        // between two ticks still counts.
        if (self.active == 0 && delta == 0) || dt.is_zero() {
            return;
        }
        let now_rate = delta as f64 / dt.as_secs_f64();
        // ~1 s time constant at the default 100 ms tick: fast enough to see a
        // stall-after-N-bytes mirror drop, slow enough to ride over TCP jitter.
        let alpha = (dt.as_secs_f64() / 1.0).min(1.0);
        self.rate = Some(match self.rate {
            None if delta == 0 => return,
            None => now_rate,
            Some(r) => r + alpha * (now_rate - r),
        });
        self.peak_rate = self.peak_rate.max(self.rate.unwrap_or(0.0));
    }
}

/// All mirrors of a run.
#[derive(Debug, Default)]
pub(crate) struct Mirrors {
    pub list: Vec<Mirror>,
    by_origin: HashMap<String, MirrorId>,
}

/// The origin of a URL as a display name and a key.
pub(crate) fn origin_of(url: &Url) -> String {
    match url.port() {
        Some(port) => format!(
            "{}://{}:{port}",
            url.scheme(),
            url.host_str().unwrap_or_default()
        ),
        None => format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default()),
    }
}

impl Mirrors {
    /// The id of the mirror serving `url`, adding it on first sight.
    pub fn intern(&mut self, url: &Url) -> MirrorId {
        let origin = origin_of(url);
        if let Some(id) = self.by_origin.get(&origin) {
            return *id;
        }
        let id = MirrorId(self.list.len());
        self.list.push(Mirror::new(origin.clone()));
        self.by_origin.insert(origin, id);
        id
    }

    pub fn get(&self, id: MirrorId) -> &Mirror {
        &self.list[id.0]
    }

    pub fn get_mut(&mut self, id: MirrorId) -> &mut Mirror {
        &mut self.list[id.0]
    }

    /// Best smoothed rate among mirrors not benched.
    pub fn best_rate(&self) -> Option<f64> {
        self.list
            .iter()
            .filter(|m| m.benched.is_none())
            .filter_map(|m| m.rate)
            .reduce(f64::max)
    }

    /// Samples every mirror and returns those that have been slower than
    /// `ratio` of the best for `window`, with the rates to report. The best
    /// mirror is never slow relative to itself, so at least one survives.
    /// While the mirrors together reach `saturated` bytes/s (a global limit),
    /// nobody is judged.
    pub fn sample_all(
        &mut self,
        dt: Duration,
        now: Instant,
        ratio: f64,
        window: Duration,
        saturated: Option<f64>,
    ) -> Vec<(MirrorId, BenchReason)> {
        for m in &mut self.list {
            m.sample(dt, now);
        }
        let total: f64 = self
            .list
            .iter()
            .filter(|m| m.active > 0)
            .filter_map(|m| m.rate)
            .sum();
        let best = match self.best_rate() {
            Some(best) if saturated.is_none_or(|limit| total < limit) => best,
            _ => {
                for m in &mut self.list {
                    m.slow_since = None;
                }
                return Vec::new();
            }
        };
        let mut slow = Vec::new();
        for (i, m) in self.list.iter_mut().enumerate() {
            let busy_and_slow =
                m.benched.is_none() && m.active > 0 && m.rate.is_some_and(|r| r < ratio * best);
            if !busy_and_slow {
                m.slow_since = None;
                continue;
            }
            let since = *m.slow_since.get_or_insert(now);
            if now.duration_since(since) >= window {
                slow.push((
                    MirrorId(i),
                    BenchReason::Slow {
                        rate: m.rate.unwrap_or(0.0) as u64,
                        best: best as u64,
                    },
                ));
            }
        }
        slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_shared_between_repos() {
        let mut mirrors = Mirrors::default();
        let a = mirrors.intern(&Url::parse("https://m.example/core/os/x86_64").unwrap());
        let b = mirrors.intern(&Url::parse("https://m.example/extra/os/x86_64").unwrap());
        let c = mirrors.intern(&Url::parse("https://m.example:8443/core").unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(mirrors.get(c).name, "https://m.example:8443");
    }

    #[test]
    fn slow_mirror_is_found_after_window() {
        let mut mirrors = Mirrors::default();
        let fast = mirrors.intern(&Url::parse("http://fast/").unwrap());
        let slow = mirrors.intern(&Url::parse("http://slow/").unwrap());
        let t0 = Instant::now();
        let dt = Duration::from_millis(100);
        let mut found = Vec::new();
        for step in 1..=30u32 {
            for (id, per_tick) in [(fast, 1_000_000u64), (slow, 10_000)] {
                let m = mirrors.get_mut(id);
                m.active = 1;
                m.counters.bytes.fetch_add(per_tick, Ordering::Relaxed);
            }
            found = mirrors.sample_all(dt, t0 + dt * step, 1.0 / 8.0, Duration::from_secs(1), None);
            if !found.is_empty() {
                break;
            }
        }
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, slow);
    }
}
