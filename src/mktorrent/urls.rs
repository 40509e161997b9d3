//! Checking trackers, DHT nodes and webseed templates, and expanding a
//! webseed for one package's directory.
//!
//! BEP 19: for a single-file torrent a `url-list` entry that ends in `/` is a
//! directory, and the client appends the torrent's name. So every entry we
//! write is the package's *directory* on that mirror, with a trailing slash.

use std::path::{Component, Path};

use url::Url;

use super::MkError;

/// A `--webseed` value, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webseed {
    template: String,
    has_vars: bool,
}

impl Webseed {
    /// Checks a template: it must be an http, https or ftp URL with a host
    /// and no query or fragment once `$repo`/`$arch` are filled in.
    pub fn parse(template: &str) -> Result<Webseed, MkError> {
        let bad = |reason: &str| MkError::Url {
            what: "webseed",
            url: template.to_owned(),
            reason: reason.to_owned(),
        };
        let has_vars = template.contains("$repo") || template.contains("$arch");
        let sample = expand(template, "core", "x86_64");
        let url = Url::parse(&sample).map_err(|e| bad(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https" | "ftp") {
            return Err(bad("scheme must be http, https or ftp"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a webseed cannot have a query or fragment"));
        }
        if sample.contains('$') {
            return Err(bad("only $repo and $arch may be used"));
        }
        Ok(Webseed {
            template: template.to_owned(),
            has_vars,
        })
    }

    /// The url-list entry for a package in `dir`, which is `rel_dir` under
    /// the tree root `tree`. `None` when the template uses `$repo`/`$arch`
    /// but the directory is not `…/$repo/os/$arch`.
    pub fn url_for(&self, tree: &Path, rel_dir: &Path) -> Option<String> {
        if self.has_vars {
            let full = tree.join(rel_dir);
            let names: Vec<&str> = full
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => s.to_str(),
                    _ => None,
                })
                .collect();
            let [.., repo, os, arch] = names.as_slice() else {
                return None;
            };
            if *os != "os" {
                return None;
            }
            let mut u = expand(&self.template, repo, arch);
            if !u.ends_with('/') {
                u.push('/');
            }
            Some(u)
        } else {
            // The template is the tree's root on that mirror.
            let mut url = Url::parse(&self.template).ok()?;
            {
                let mut segs = url.path_segments_mut().ok()?;
                segs.pop_if_empty();
                for c in rel_dir.components() {
                    if let Component::Normal(s) = c {
                        segs.push(s.to_str()?);
                    }
                }
                segs.push("");
            }
            Some(url.into())
        }
    }

    /// The template as given.
    pub fn template(&self) -> &str {
        &self.template
    }
}

fn expand(template: &str, repo: &str, arch: &str) -> String {
    template.replace("$repo", repo).replace("$arch", arch)
}

/// Checks a tracker URL (http, https, udp or wss announce URL with a host).
pub fn check_tracker(s: &str) -> Result<String, MkError> {
    let bad = |reason: &str| MkError::Url {
        what: "tracker",
        url: s.to_owned(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(s).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https" | "udp" | "wss") {
        return Err(bad("scheme must be http, https, udp or wss"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    Ok(s.to_owned())
}

/// Parses `HOST:PORT` (IPv6 as `[addr]:port`) for the `nodes` list.
pub fn parse_dht_node(s: &str) -> Result<(String, u16), MkError> {
    let bad = |reason: &str| MkError::Url {
        what: "DHT node",
        url: s.to_owned(),
        reason: reason.to_owned(),
    };
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad("no host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| bad("port must be 1-65535"))?;
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_repo_and_arch_from_the_directory() {
        let w = Webseed::parse("https://m.test/arch/$repo/os/$arch").unwrap();
        let tree = Path::new("/srv/mirror");
        assert_eq!(
            w.url_for(tree, Path::new("core/os/x86_64")).as_deref(),
            Some("https://m.test/arch/core/os/x86_64/")
        );
        // Run on one arch directory: the tree path itself supplies them.
        assert_eq!(
            w.url_for(Path::new("/srv/mirror/extra/os/aarch64"), Path::new(""))
                .as_deref(),
            Some("https://m.test/arch/extra/os/aarch64/")
        );
        assert_eq!(w.url_for(tree, Path::new("pool/packages")), None);
        let slash = Webseed::parse("http://m.test/$repo/os/$arch/").unwrap();
        assert_eq!(
            slash.url_for(tree, Path::new("core/os/x86_64")).as_deref(),
            Some("http://m.test/core/os/x86_64/")
        );
    }

    #[test]
    fn a_plain_url_is_the_tree_root() {
        let w = Webseed::parse("http://127.0.0.1:8080/archlinux").unwrap();
        let tree = Path::new("/srv/mirror");
        assert_eq!(
            w.url_for(tree, Path::new("core/os/x86_64")).as_deref(),
            Some("http://127.0.0.1:8080/archlinux/core/os/x86_64/")
        );
        assert_eq!(
            w.url_for(tree, Path::new("")).as_deref(),
            Some("http://127.0.0.1:8080/archlinux/")
        );
        assert_eq!(
            w.url_for(tree, Path::new("a b")).as_deref(),
            Some("http://127.0.0.1:8080/archlinux/a%20b/")
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "not a url",
            "file:///srv",
            "http://",
            "http://m/$repo?x=1",
            "http://m/#frag",
            "http://m/$foo",
        ] {
            assert!(Webseed::parse(bad).is_err(), "{bad}");
        }
        assert!(check_tracker("udp://127.0.0.1:6969/announce").is_ok());
        assert!(check_tracker("ftp://t/announce").is_err());
        assert!(check_tracker("nope").is_err());
    }

    #[test]
    fn parses_dht_nodes() {
        assert_eq!(
            parse_dht_node("router.test:6881").unwrap(),
            ("router.test".into(), 6881)
        );
        assert_eq!(parse_dht_node("[::1]:6881").unwrap(), ("::1".into(), 6881));
        for bad in ["nohost", ":1", "h:0", "h:70000", "h:x"] {
            assert!(parse_dht_node(bad).is_err(), "{bad}");
        }
    }
}
