//! Torrents for cached packages pactor holds none for (installed with plain
//! pacman, or before pactor-seed ran): looked up the way `pactor -Sx` does,
//! each `TorrentServer` template of pactor.conf and then
//! `<Server>/<file>.torrent` on the repository's mirrors.
//!
//! The sync db stays the authority (DESIGN.md, "Torrents"): a package is
//! looked up only if a sync db lists its file name, the torrent must
//! describe exactly that file (name and the db's size), and the cached file
//! must have the db's size and sha256. Such a file was thereby verified
//! against the sync db: it is recorded in the trust ledger and seeded. The
//! torrent is kept in `<StateDir>/torrents`. The sync dbs are read as
//! pacman left them in DBPath (root wrote them after checking their
//! signatures), without checking signatures again.
//!
//! Each package is looked up at most once per run; lookups run one at a
//! time in the background and never hold up seeding.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use pactor_fetch::Url;
use tokio::sync::mpsc;

use super::DaemonHandle;

/// What a lookup needs from pacman.conf and pactor.conf.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LookupConfig {
    /// `TorrentServer` templates (`$repo`, `$arch`).
    pub templates: Vec<String>,
    /// The first architecture, for `$arch`.
    pub arch: String,
    /// RootDir and DBPath, for the sync dbs.
    pub root: String,
    /// DBPath.
    pub dbpath: String,
    /// Repositories in order with their `Server`s.
    pub repos: Vec<(String, Vec<String>)>,
    /// Where found torrents are kept (`<StateDir>/torrents`).
    pub store: PathBuf,
}

/// A package as a sync db lists it.
#[derive(Debug, Clone)]
struct DbEntry {
    repo: String,
    size: u64,
    sha256: Option<String>,
}

/// Every package file name of the sync dbs.
fn db_index(cfg: &LookupConfig) -> HashMap<String, DbEntry> {
    let mut out = HashMap::new();
    let handle = match alpm::Alpm::new(cfg.root.as_str(), cfg.dbpath.as_str()) {
        Ok(h) => h,
        Err(e) => {
            crate::ui::output::warning(&format!("reading the sync dbs in {}: {e}", cfg.dbpath));
            return out;
        }
    };
    for (name, _) in &cfg.repos {
        let db = match handle.register_syncdb(name.as_str(), alpm::SigLevel::NONE) {
            Ok(db) => db,
            Err(e) => {
                crate::ui::output::warning(&format!("reading the sync db {name}: {e}"));
                continue;
            }
        };
        for pkg in db.pkgs() {
            let Some(filename) = pkg.filename() else {
                continue;
            };
            out.entry(filename.to_owned()).or_insert_with(|| DbEntry {
                repo: name.clone(),
                size: pkg.size().max(0) as u64,
                sha256: pkg.sha256sum().map(str::to_owned),
            });
        }
    }
    out
}

/// The URLs to try for a package's torrent, in order.
fn urls(cfg: &LookupConfig, repo: &str, filename: &str) -> Vec<Url> {
    let servers = cfg
        .repos
        .iter()
        .find(|(n, _)| n == repo)
        .map(|(_, s)| s.clone())
        .unwrap_or_default();
    cfg.templates
        .iter()
        .map(|t| t.replace("$repo", repo).replace("$arch", &cfg.arch))
        .chain(servers)
        .filter_map(|base| {
            Url::parse(&format!(
                "{}/{filename}.torrent",
                base.trim_end_matches('/')
            ))
            .ok()
        })
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .collect()
}

async fn fetch(client: &reqwest::Client, url: &Url) -> Option<Vec<u8>> {
    let max = pactor_fetch::torrent::MAX_TORRENT_BYTES;
    let mut r = client.get(url.clone()).send().await.ok()?;
    if !r.status().is_success() || r.content_length().is_some_and(|n| n > max as u64) {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = r.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > max {
            return None;
        }
    }
    Some(body)
}

/// Starts the lookup task; send it the cached packages without a torrent
/// (file name and path) after each scan.
pub(crate) fn start(
    cfg: LookupConfig,
    daemon: DaemonHandle,
) -> mpsc::UnboundedSender<Vec<(String, PathBuf)>> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<(String, PathBuf)>>();
    tokio::spawn(async move {
        let Ok(client) = pactor_fetch::tls::client_builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .user_agent(concat!("pactor-seed/", env!("CARGO_PKG_VERSION")))
            .build()
        else {
            return;
        };
        let mut tried = HashSet::new();
        while let Some(batch) = rx.recv().await {
            let todo: Vec<(String, PathBuf)> = batch
                .into_iter()
                .filter(|(name, _)| !tried.contains(name))
                .collect();
            if todo.is_empty() {
                continue;
            }
            let c = cfg.clone();
            let index = tokio::task::spawn_blocking(move || db_index(&c))
                .await
                .unwrap_or_default();
            let listed = todo.iter().filter(|(n, _)| index.contains_key(n)).count();
            eprintln!(
                "looking up torrents for {listed} cached package(s) ({} without a torrent, {} in the sync dbs)",
                todo.len(),
                index.len()
            );
            for (name, path) in todo {
                tried.insert(name.clone());
                let Some(entry) = index.get(&name) else {
                    continue;
                };
                if let Some(torrent) = find(&client, &cfg, &name, entry).await {
                    if verified(&path, entry).await && store(&cfg, &name, &torrent) {
                        eprintln!("found a torrent for {name}");
                        daemon.seed_files(vec![(path, true)]).await;
                    }
                }
            }
        }
    });
    tx
}

/// The first torrent that describes exactly this package.
async fn find(
    client: &reqwest::Client,
    cfg: &LookupConfig,
    name: &str,
    entry: &DbEntry,
) -> Option<Vec<u8>> {
    for url in urls(cfg, &entry.repo, name) {
        let Some(bytes) = fetch(client, &url).await else {
            continue;
        };
        match pactor_fetch::torrent::parse_for_package(&bytes, name, entry.size) {
            Ok(_) => return Some(bytes),
            Err(e) => crate::ui::output::warning(&format!("{url}: {e}")),
        }
    }
    None
}

/// Whether the cached file has the db's size and sha256.
async fn verified(path: &std::path::Path, entry: &DbEntry) -> bool {
    let Some(want) = entry.sha256.clone() else {
        return false;
    };
    if std::fs::metadata(path).map(|m| m.len()).ok() != Some(entry.size) {
        return false;
    }
    let p = path.to_path_buf();
    let got = tokio::task::spawn_blocking(move || pactor_fetch::verify::sha256_file(&p))
        .await
        .ok()
        .and_then(Result::ok);
    let ok = got.is_some_and(|g| pactor_fetch::verify::hex(&g).eq_ignore_ascii_case(&want));
    if !ok {
        crate::ui::output::warning(&format!(
            "{}: does not match the sync database; not seeded",
            path.display()
        ));
    }
    ok
}

fn store(cfg: &LookupConfig, name: &str, torrent: &[u8]) -> bool {
    let write = || -> std::io::Result<()> {
        fs_err::create_dir_all(&cfg.store)?;
        crate::mktorrent::write_atomic(&cfg.store.join(format!("{name}.torrent")), torrent)
    };
    match write() {
        Ok(()) => true,
        Err(e) => {
            crate::ui::output::warning(&format!("keeping the torrent of {name}: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torrent_servers_first_then_mirrors() {
        let cfg = LookupConfig {
            templates: vec!["http://t/$repo/os/$arch/".into()],
            arch: "x86_64".into(),
            repos: vec![(
                "core".into(),
                vec!["http://m/core/os/x86_64".into(), "file:///srv".into()],
            )],
            ..Default::default()
        };
        let u: Vec<String> = urls(&cfg, "core", "a.pkg.tar.zst")
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            u,
            [
                "http://t/core/os/x86_64/a.pkg.tar.zst.torrent",
                "http://m/core/os/x86_64/a.pkg.tar.zst.torrent"
            ]
        );
    }
}
