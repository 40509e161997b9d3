//! HTTP plumbing: the shared client, one (range) request with its reply
//! checked against what was asked, and the global download rate limit.
//!
//! Timeouts after connect are not set on the client: a per-request read
//! timeout cannot tell "this mirror stalled while others flow" from "the
//! network is down", so the scheduler's monitor judges stalls instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use reqwest::{Client, Response, StatusCode};
use url::Url;

use crate::error::SourceError;
use crate::plan::{FetchOptions, Limits};

/// What [`build_client`] takes from the options.
type ClientKey = (Duration, String, usize);

/// A client built ahead of its run ([`prebuild_client`]), with what it was
/// built for.
type Prebuilt = (ClientKey, Client);

static PREBUILT: std::sync::Mutex<Option<Prebuilt>> = std::sync::Mutex::new(None);

/// Builds the client for a run with `options` and `limits` now, ahead of the
/// run: a process that waits for its plan (pactor's download process) does
/// it meanwhile. The run takes it if its options match. (The system's CA
/// certificates are read later, at the first HTTPS handshake: `tls`.)
pub fn prebuild_client(options: &FetchOptions, limits: &Limits) {
    if let Ok(client) = build_client(options, limits) {
        *crate::lock(&PREBUILT) = Some((client_key(options, limits), client));
    }
}

/// The client built ahead for these options, if any.
pub(crate) fn prebuilt_client(options: &FetchOptions, limits: &Limits) -> Option<Client> {
    let mut slot = crate::lock(&PREBUILT);
    if slot.as_ref()?.0 != client_key(options, limits) {
        return None;
    }
    slot.take().map(|(_, client)| client)
}

/// The client built ahead for these options, if any, left in place for the
/// run: a handle on the same connection pool, for the torrent lookups and
/// the webseed bridges of a transaction whose engine run takes it later.
pub(crate) fn prebuilt_client_shared(options: &FetchOptions, limits: &Limits) -> Option<Client> {
    let slot = crate::lock(&PREBUILT);
    let (key, client) = slot.as_ref()?;
    (*key == client_key(options, limits)).then(|| client.clone())
}

fn client_key(options: &FetchOptions, limits: &Limits) -> ClientKey {
    (
        options.connect_timeout,
        options.user_agent.clone(),
        limits.max_connections_per_mirror,
    )
}

/// Builds the client every request of a run shares (one connection pool).
pub(crate) fn build_client(options: &FetchOptions, limits: &Limits) -> reqwest::Result<Client> {
    crate::tls::client_builder()
        .connect_timeout(options.connect_timeout)
        .user_agent(options.user_agent.clone())
        .pool_max_idle_per_host(limits.max_connections_per_mirror)
        .pool_idle_timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::limited(10))
        .connector_layer(crate::warm::KeepLayer)
        .build()
}

/// A reply whose headers passed the checks; the body is still to be read.
pub(crate) struct Opened {
    pub response: Response,
    /// File offset of the body's first byte: the range start, or 0 when the
    /// server ignored the range and sends the whole file.
    pub offset: u64,
}

/// Requests `url`, bytes `range` (`start..end`) when given, and checks the
/// reply: status, `Content-Range` and total size against `expected_size`.
pub(crate) async fn open(
    client: &Client,
    url: &Url,
    range: Option<(u64, u64)>,
    expected_size: Option<u64>,
) -> Result<Opened, SourceError> {
    let mut request = client.get(url.clone());
    if let Some((start, end)) = range {
        request = request.header(RANGE, format!("bytes={start}-{}", end - 1));
    }
    let response = request.send().await.map_err(describe)?;
    let status = response.status();
    match status {
        StatusCode::PARTIAL_CONTENT => {
            let Some((start, end)) = range else {
                return Err(SourceError::BadRange(
                    "206 reply to a request without a range".into(),
                ));
            };
            let header = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let (first, last, total) = parse_content_range(header)
                .ok_or_else(|| SourceError::BadRange(format!("Content-Range '{header}'")))?;
            if let (Some(total), Some(expected)) = (total, expected_size) {
                if total != expected {
                    return Err(SourceError::WrongSize {
                        found: total,
                        expected,
                    });
                }
            }
            if first != start || last + 1 != end {
                return Err(SourceError::BadRange(format!(
                    "asked bytes {start}-{}, got {header}",
                    end - 1
                )));
            }
            Ok(Opened {
                response,
                offset: start,
            })
        }
        StatusCode::OK => {
            // No range support: the body is the whole file.
            let length = response
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let (Some(found), Some(expected)) = (length, expected_size) {
                if found != expected {
                    return Err(SourceError::WrongSize { found, expected });
                }
            }
            Ok(Opened {
                response,
                offset: 0,
            })
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            // `bytes */<size>`: the mirror's file is shorter than the db's.
            let total = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|v| v.parse::<u64>().ok());
            match (total, expected_size) {
                (Some(found), Some(expected)) if found != expected => {
                    Err(SourceError::WrongSize { found, expected })
                }
                _ => Err(SourceError::Status(status.as_u16())),
            }
        }
        _ => Err(SourceError::Status(status.as_u16())),
    }
}

/// Reads the next piece of a body.
pub(crate) async fn next_chunk(response: &mut Response) -> Result<Option<Bytes>, SourceError> {
    response.chunk().await.map_err(describe)
}

/// `bytes a-b/total` (total may be `*`).
fn parse_content_range(header: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = header.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    let first = first.trim().parse().ok()?;
    let last: u64 = last.trim().parse().ok()?;
    if last < first {
        return None;
    }
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    Some((first, last, total))
}

/// Turns a reqwest error into words a user can act on: the innermost cause
/// in the system's words ("Connection refused", without Rust's " (os error
/// 111)") rather than the URL-laden wrapper.
pub(crate) fn describe(err: reqwest::Error) -> SourceError {
    let mut cause: &dyn std::error::Error = &err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = crate::error::without_os_codes(&cause.to_string());
    if err.is_connect() {
        SourceError::Connect(text)
    } else if err.is_timeout() {
        SourceError::Connect(format!("timed out: {text}"))
    } else if err.is_body() || err.is_decode() {
        SourceError::Transport(format!("reading body: {text}"))
    } else {
        SourceError::Transport(text)
    }
}

/// A request's last-progress time (ms) while it waits in the download
/// limiter ([`RateLimiter::consume_marked`]): later than any clock reading,
/// so never counted as silence.
pub(crate) const IN_LIMITER: u64 = u64::MAX;

/// A token bucket shared by every connection of a run (in a `-x`
/// transaction also by the swarm's webseed bridges). Bytes are paid for
/// after they arrive: a connection that overdraws sleeps until the bucket is
/// back above zero, and TCP's flow control passes the pause on to the mirror.
/// (Hand-written: rate limiter crates count cells, not byte streams with
/// chunks of any size.)
#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A limiter for `rate` bytes/s; allows bursts of ~50 ms worth.
    pub fn new(rate: u64) -> Self {
        let rate = rate.max(1) as f64;
        RateLimiter {
            rate,
            burst: (rate * 0.05).max(16.0 * 1024.0),
            state: Mutex::new((0.0, Instant::now())),
        }
    }

    /// The limit, bytes/s.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// [`RateLimiter::consume`] for a request whose last sign of life (in
    /// ms, on the caller's clock) is kept in `last`: it reads [`IN_LIMITER`]
    /// while the request waits here, since time in our own limiter is not
    /// the mirror stalling, and `now()` once it may read on.
    pub async fn consume_marked(&self, bytes: u64, last: &AtomicU64, now: impl Fn() -> u64) {
        last.store(IN_LIMITER, Ordering::Release);
        self.consume(bytes).await;
        last.store(now(), Ordering::Release);
    }

    /// Pays for `bytes`, sleeping if the bucket is overdrawn.
    pub async fn consume(&self, bytes: u64) {
        let wait = self.charge(bytes);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Pays for `bytes` without waiting and returns how long the bucket is
    /// now overdrawn: for bytes this limiter could not hold back (the
    /// swarm's peers, which librqbit paces), so that the others sharing it
    /// wait for them instead.
    pub fn charge(&self, bytes: u64) -> Duration {
        let mut state = crate::lock(&self.state);
        let now = Instant::now();
        let (tokens, last) = *state;
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.burst);
        let left = refilled - bytes as f64;
        *state = (left, now);
        if left < 0.0 {
            Duration::from_secs_f64(-left / self.rate)
        } else {
            Duration::ZERO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The torrent lookups of a transaction borrow the client built ahead;
    /// the engine run after them still finds it, and only for the options it
    /// was built for.
    #[test]
    fn a_shared_prebuilt_client_stays_for_the_engine() {
        let (options, limits) = (FetchOptions::default(), Limits::default());
        let other = Limits {
            max_connections_per_mirror: limits.max_connections_per_mirror + 1,
            ..Limits::default()
        };
        assert!(prebuilt_client_shared(&options, &limits).is_none());
        prebuild_client(&options, &limits);
        assert!(prebuilt_client_shared(&options, &other).is_none());
        assert!(prebuilt_client_shared(&options, &limits).is_some());
        assert!(prebuilt_client_shared(&options, &limits).is_some());
        assert!(prebuilt_client(&options, &limits).is_some());
        assert!(prebuilt_client_shared(&options, &limits).is_none());
        assert!(prebuilt_client(&options, &limits).is_none());
    }

    #[test]
    fn content_range_parses() {
        assert_eq!(
            parse_content_range("bytes 0-99/1000"),
            Some((0, 99, Some(1000)))
        );
        assert_eq!(parse_content_range("bytes 5-5/*"), Some((5, 5, None)));
        assert_eq!(parse_content_range("bytes 9-5/10"), None);
        assert_eq!(parse_content_range("items 0-1/2"), None);
    }

    #[tokio::test]
    async fn limiter_holds_rate() {
        let limiter = RateLimiter::new(1_000_000);
        let start = Instant::now();
        for _ in 0..50 {
            limiter.consume(10_000).await;
        }
        // 500 kB at 1 MB/s: about half a second, less the initial burst.
        let took = start.elapsed().as_secs_f64();
        assert!(took > 0.40 && took < 1.0, "took {took}");
    }
}
