//! `Schedule` windows of pactor.conf's `[seed]` section: a set of weekdays,
//! a local time span and the upload rate that holds inside it, such as
//! `Mon-Fri 08:00-18:00 256K`. A span whose end is not after its start
//! crosses midnight and belongs to the day it starts on (`Fri 22:00-06:00`
//! holds from Friday 22:00 to Saturday 06:00). Outside every window the
//! section's `UploadLimit` applies.

use std::fmt;
use std::str::FromStr;

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// One window. `days` has bit 0 for Monday … bit 6 for Sunday.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Weekdays the window starts on.
    pub days: u8,
    /// Start, in minutes after local midnight.
    pub start: u16,
    /// End, in minutes after local midnight (`<= start`: the next day).
    pub end: u16,
    /// Upload limit inside the window, bytes per second (0: none).
    pub rate: u64,
}

/// A local time: weekday (0 = Monday) and minute of the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 = Monday … 6 = Sunday.
    pub weekday: u8,
    /// 0 ..= 1439.
    pub minute: u16,
}

impl LocalTime {
    /// The current local time, from the C library's time zone (TZ or
    /// /etc/localtime).
    pub fn now() -> LocalTime {
        // SAFETY: time(NULL) and localtime_r with valid pointers; tm is
        // plain data that localtime_r fills.
        unsafe {
            let t = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&t, &mut tm);
            LocalTime {
                // tm_wday: 0 = Sunday.
                weekday: ((tm.tm_wday + 6) % 7) as u8,
                minute: (tm.tm_hour * 60 + tm.tm_min) as u16,
            }
        }
    }
}

impl Window {
    /// Whether the window holds at `t`.
    pub fn contains(&self, t: LocalTime) -> bool {
        let on = |d: u8| self.days & (1 << d) != 0;
        if self.start < self.end {
            on(t.weekday) && (self.start..self.end).contains(&t.minute)
        } else {
            // Crosses midnight: the evening of a listed day, or the morning
            // after one.
            let yesterday = (t.weekday + 6) % 7;
            (on(t.weekday) && t.minute >= self.start) || (on(yesterday) && t.minute < self.end)
        }
    }
}

/// The upload limit at `t`: the first window holding it, else `default`.
pub fn rate_at(windows: &[Window], default: u64, t: LocalTime) -> u64 {
    windows
        .iter()
        .find(|w| w.contains(t))
        .map_or(default, |w| w.rate)
}

fn day(s: &str) -> Result<u8, String> {
    DAYS.iter()
        .position(|d| d.eq_ignore_ascii_case(s))
        .map(|i| i as u8)
        .ok_or_else(|| format!("invalid day '{s}' (Mon, Tue, Wed, Thu, Fri, Sat, Sun)"))
}

/// `Mon-Fri`, `Sat,Sun`, `Mon,Wed-Fri`, `*` (every day).
fn days(s: &str) -> Result<u8, String> {
    if s == "*" {
        return Ok(0x7f);
    }
    let mut set = 0u8;
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    set |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => set |= 1 << day(part)?,
        }
    }
    Ok(set)
}

fn clock(s: &str) -> Result<u16, String> {
    let bad = || format!("invalid time '{s}' (HH:MM)");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    // 24:00 ends a day.
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl FromStr for Window {
    type Err = String;

    /// `[DAYS] HH:MM-HH:MM RATE`; without days, every day.
    fn from_str(v: &str) -> Result<Window, String> {
        let words: Vec<&str> = v.split_whitespace().collect();
        let (days, span, rate) = match words.as_slice() {
            [span, rate] => (0x7f, *span, *rate),
            [d, span, rate] => (days(d)?, *span, *rate),
            _ => {
                return Err(format!(
                    "invalid schedule '{v}' (expected [DAYS] HH:MM-HH:MM RATE)"
                ))
            }
        };
        let (a, b) = span
            .split_once('-')
            .ok_or_else(|| format!("invalid time span '{span}' (HH:MM-HH:MM)"))?;
        let (start, end) = (clock(a)?, clock(b)?);
        if start == 24 * 60 {
            return Err(format!("invalid time span '{span}' (HH:MM-HH:MM)"));
        }
        Ok(Window {
            days,
            start,
            end: end % (24 * 60),
            rate: crate::config::parse_rate(rate)?,
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days: Vec<&str> = (0..7)
            .filter(|d| self.days & (1 << d) != 0)
            .map(|d| DAYS[d as usize])
            .collect();
        write!(
            f,
            "{} {:02}:{:02}-{:02}:{:02} {}",
            if days.len() == 7 {
                "*".to_owned()
            } else {
                days.join(",")
            },
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60,
            self.rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(weekday: u8, h: u16, m: u16) -> LocalTime {
        LocalTime {
            weekday,
            minute: h * 60 + m,
        }
    }

    #[test]
    fn parses_days_spans_and_rates() {
        let w: Window = "Mon-Fri 08:00-18:00 256K".parse().unwrap();
        assert_eq!(
            w,
            Window {
                days: 0b0011111,
                start: 480,
                end: 1080,
                rate: 256 * 1024
            }
        );
        let w: Window = "Sat,Sun 00:00-24:00 0".parse().unwrap();
        assert_eq!((w.days, w.start, w.end, w.rate), (0b1100000, 0, 0, 0));
        let w: Window = "22:30-06:00 1M".parse().unwrap();
        assert_eq!((w.days, w.start, w.end), (0x7f, 1350, 360));
        // A range may wrap the week.
        assert_eq!(
            "Sat-Mon 10:00-11:00 1K".parse::<Window>().unwrap().days,
            0b1100001
        );
        for bad in [
            "Mon-Fri 08:00-18:00",
            "Funday 08:00-09:00 1K",
            "08:00 1K",
            "25:00-26:00 1K",
            "08:61-09:00 1K",
            "08:00-09:00 fast",
            "24:00-01:00 1K",
        ] {
            assert!(bad.parse::<Window>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn windows_hold_on_their_days_and_across_midnight() {
        let office: Window = "Mon-Fri 08:00-18:00 256K".parse().unwrap();
        assert!(office.contains(at(0, 8, 0)));
        assert!(office.contains(at(4, 17, 59)));
        assert!(!office.contains(at(4, 18, 0)));
        assert!(!office.contains(at(5, 12, 0)));
        let night: Window = "Fri 22:00-06:00 1M".parse().unwrap();
        assert!(night.contains(at(4, 23, 0)));
        assert!(night.contains(at(5, 5, 59)));
        assert!(!night.contains(at(5, 6, 0)));
        assert!(!night.contains(at(3, 23, 0)));
        assert!(!night.contains(at(4, 5, 0)));
        let all_day: Window = "Sun 00:00-24:00 2K".parse().unwrap();
        assert!(all_day.contains(at(6, 0, 0)) && all_day.contains(at(6, 23, 59)));
        assert!(!all_day.contains(at(0, 0, 0)));
    }

    #[test]
    fn first_window_wins_and_default_applies_outside() {
        let ws: Vec<Window> = ["Mon-Fri 08:00-18:00 100", "* 00:00-24:00 200"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(rate_at(&ws, 5, at(1, 9, 0)), 100);
        assert_eq!(rate_at(&ws, 5, at(6, 9, 0)), 200);
        assert_eq!(rate_at(&ws[..1], 5, at(6, 9, 0)), 5);
    }
}
