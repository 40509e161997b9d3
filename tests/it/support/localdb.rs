//! The local database as files: `<dbpath>/local/<name>-<version>/desc`, the
//! format libalpm writes (`%NAME%`, `%VERSION%`, `%REASON%` …, a blank line
//! between fields). Read directly, so that the check does not depend on the
//! code under test.

use std::fs;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LocalPkg {
    pub name: String,
    pub version: String,
    /// `%REASON%` absent or 0: explicitly installed; 1: as a dependency.
    pub explicit: bool,
    pub install_date: Option<u64>,
    pub groups: Vec<String>,
}

/// Installed packages, sorted by name.
pub fn read(dbpath: &Path) -> Vec<LocalPkg> {
    let Ok(rd) = fs::read_dir(dbpath.join("local")) else {
        return vec![];
    };
    let mut pkgs: Vec<LocalPkg> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| {
            parse_desc(
                &fs::read_to_string(e.path().join("desc"))
                    .unwrap_or_else(|err| panic!("{}/desc: {err}", e.path().display())),
            )
        })
        .collect();
    pkgs.sort();
    pkgs
}

fn parse_desc(text: &str) -> LocalPkg {
    let mut pkg = LocalPkg {
        name: String::new(),
        version: String::new(),
        explicit: true,
        install_date: None,
        groups: vec![],
    };
    let mut field = "";
    for line in text.lines() {
        if line.starts_with('%') && line.ends_with('%') {
            field = line;
            continue;
        }
        if line.is_empty() {
            field = "";
            continue;
        }
        match field {
            "%NAME%" => pkg.name = line.to_owned(),
            "%VERSION%" => pkg.version = line.to_owned(),
            "%REASON%" => pkg.explicit = line.trim() == "0",
            "%INSTALLDATE%" => pkg.install_date = line.trim().parse().ok(),
            "%GROUPS%" => pkg.groups.push(line.to_owned()),
            _ => {}
        }
    }
    pkg
}
