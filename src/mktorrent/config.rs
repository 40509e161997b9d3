//! pactor-mktorrent's config file, in pacman.conf syntax (`Key = value`,
//! bare flags, `#` comments, section headers ignored), so that a mirror
//! operator's cron job needs no long command line.

use std::path::{Path, PathBuf};

use super::MkError;

/// What a config file says; `None`/empty means "not set".
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// `Webseed = URL` lines.
    pub webseeds: Vec<String>,
    /// `Tracker = URL` lines.
    pub trackers: Vec<String>,
    /// `DHTNode = HOST:PORT` lines.
    pub dht_nodes: Vec<String>,
    /// `Out = DIR`.
    pub out: Option<PathBuf>,
    /// `Jobs = N`.
    pub jobs: Option<usize>,
    /// `NoPrune` gives `Some(false)`.
    pub prune: Option<bool>,
}

/// Reads and parses a config file.
pub fn read(path: &Path) -> Result<FileConfig, MkError> {
    let text = std::fs::read_to_string(path).map_err(|e| MkError::Config {
        path: path.to_owned(),
        line: 0,
        reason: super::io_reason(&e),
    })?;
    parse(path, &text)
}

/// Parses config text; `path` names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<FileConfig, MkError> {
    let mut c = FileConfig::default();
    for (n, raw) in text.lines().enumerate() {
        let err = |reason: String| MkError::Config {
            path: path.to_owned(),
            line: n + 1,
            reason,
        };
        let line = raw.split_once('#').map_or(raw, |(l, _)| l).trim();
        if line.is_empty() || (line.starts_with('[') && line.ends_with(']')) {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let need = |v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| err(format!("directive '{key}' needs a value")))
        };
        match key {
            "Webseed" => c.webseeds.push(need(value)?),
            "Tracker" => c.trackers.push(need(value)?),
            "DHTNode" => c.dht_nodes.push(need(value)?),
            "Out" => c.out = Some(PathBuf::from(need(value)?)),
            "Jobs" => {
                let v = need(value)?;
                c.jobs = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|&j| j > 0)
                        .ok_or_else(|| err(format!("invalid value for 'Jobs': '{v}'")))?,
                );
            }
            "NoPrune" if value.is_none() => c.prune = Some(false),
            _ => return Err(err(format!("directive '{key}' not recognized"))),
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pacman_conf_syntax() {
        let text = "# mirror\n[options]\nWebseed = http://a/$repo/os/$arch\nWebseed=http://b\n\
                    Tracker = udp://t:1 # comment\nDHTNode = n:6881\nOut = /srv/t\nJobs = 3\nNoPrune\n";
        let c = parse(Path::new("x.conf"), text).unwrap();
        assert_eq!(c.webseeds, ["http://a/$repo/os/$arch", "http://b"]);
        assert_eq!(c.trackers, ["udp://t:1"]);
        assert_eq!(c.dht_nodes, ["n:6881"]);
        assert_eq!(c.out, Some(PathBuf::from("/srv/t")));
        assert_eq!(c.jobs, Some(3));
        assert_eq!(c.prune, Some(false));
    }

    #[test]
    fn names_file_and_line_of_bad_directives() {
        for (text, want) in [
            (
                "Bogus = 1",
                "x.conf, line 1: directive 'Bogus' not recognized",
            ),
            (
                "\nWebseed",
                "x.conf, line 2: directive 'Webseed' needs a value",
            ),
            ("Jobs = 0", "x.conf, line 1: invalid value for 'Jobs': '0'"),
        ] {
            let e = parse(Path::new("x.conf"), text).unwrap_err();
            assert_eq!(e.to_string(), format!("config file {want}"));
        }
    }
}
