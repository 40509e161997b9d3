//! Transaction display in pacman's layout (`src/pacman/util.c`): the target
//! list (`Packages (N) …` or the VerbosePkgLists table), size totals,
//! `--print-format`, optional dependencies, numbered choice lists.

use alpm::{Alpm, Package};

use super::output::{self, colors, columns, humanize_size};

/// Visible width of a string, ignoring colour escapes.
fn width(s: &str) -> usize {
    let mut w = 0;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            w += 1;
        }
    }
    w
}

/// pacman's `list_display`: a title, then items separated by two spaces,
/// wrapped under the title when a terminal width is known.
pub fn list_display(title: Option<&str>, items: &[String], maxcols: usize) -> String {
    let c = colors();
    let mut out = String::new();
    let mut len = 0;
    if let Some(t) = title {
        len = width(t) + 1;
        out.push_str(&format!("{}{}{} ", c.title, t, c.nocolor));
    }
    if items.is_empty() {
        out.push_str("None\n");
        return out;
    }
    let mut cols = len;
    out.push_str(&items[0]);
    cols += width(&items[0]);
    for s in &items[1..] {
        let sw = width(s);
        if maxcols > len && cols + sw + 2 >= maxcols {
            cols = len;
            out.push('\n');
            out.push_str(&" ".repeat(len));
        } else if cols != len {
            out.push_str("  ");
            cols += 2;
        }
        out.push_str(s);
        cols += sw;
    }
    out.push('\n');
    out
}

/// pacman's `indentprint` for one string: wrap at spaces under `indent`.
fn indentprint(s: &str, indent: usize, cols: usize) -> String {
    if cols == 0 || indent > cols {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut cidx = indent;
    let words = s.split(' ');
    let mut first = true;
    for word in words {
        if !first {
            let wl = width(word);
            if wl + 1 > cols.saturating_sub(cidx) {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                cidx = indent;
            } else {
                out.push(' ');
                cidx += 1;
            }
        }
        first = false;
        out.push_str(word);
        cidx += width(word);
    }
    out
}

/// pacman's `list_display_linebreak`: one item per line under a title.
pub fn list_display_linebreak(title: &str, items: &[String], maxcols: usize) -> String {
    let c = colors();
    let len = width(title) + 1;
    let mut out = format!("{}{}{} ", c.title, title, c.nocolor);
    if items.is_empty() {
        out.push_str("None\n");
        return out;
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(len));
        }
        out.push_str(&indentprint(item, len, maxcols));
        out.push('\n');
    }
    out
}

/// A table cell: text and whether it is right-aligned or a title.
struct Cell {
    text: String,
    right: bool,
    title: bool,
}

fn cell(text: impl Into<String>, right: bool, title: bool) -> Cell {
    Cell {
        text: text.into(),
        right,
        title,
    }
}

/// pacman's `table_display`; `None` when it does not fit the terminal.
fn table_display(header: Option<&[Cell]>, rows: &[Vec<Cell>], cols: usize) -> Option<String> {
    if rows.is_empty() {
        return Some(String::new());
    }
    let ncols = header.map(|h| h.len()).unwrap_or(rows[0].len());
    let mut widths = vec![0usize; ncols];
    let mut has_data = vec![false; ncols];
    if let Some(h) = header {
        for (i, c) in h.iter().enumerate() {
            widths[i] = width(&c.text);
        }
    }
    for row in rows {
        for (i, c) in row.iter().enumerate().take(ncols) {
            let w = width(&c.text);
            widths[i] = widths[i].max(w);
            if w > 0 {
                has_data[i] = true;
            }
        }
    }
    let useful = has_data.iter().filter(|d| **d).count();
    let total: usize = (0..ncols)
        .filter(|i| has_data[*i])
        .map(|i| widths[i])
        .sum::<usize>()
        + 2 * useful.saturating_sub(1);
    if cols > 0 && total > cols {
        output::warning("insufficient columns available for table display");
        return None;
    }
    if total == 0 {
        return None;
    }
    let co = colors();
    let line = |row: &[Cell]| -> String {
        let mut s = String::new();
        let mut pad = false;
        for (i, c) in row.iter().enumerate().take(ncols) {
            if !has_data[i] {
                continue;
            }
            if pad {
                s.push_str("  ");
            }
            let fill = widths[i].saturating_sub(width(&c.text));
            let body = if c.right {
                format!("{}{}", " ".repeat(fill), c.text)
            } else {
                format!("{}{}", c.text, " ".repeat(fill))
            };
            if c.title {
                s.push_str(&format!("{}{}{}", co.title, body, co.nocolor));
            } else {
                s.push_str(&body);
            }
            pad = true;
        }
        s.push('\n');
        s
    };
    let mut out = String::new();
    if let Some(h) = header {
        out.push_str(&line(h));
        out.push('\n');
    }
    for row in rows {
        out.push_str(&line(row));
    }
    Some(out)
}

fn size_str(bytes: i64) -> String {
    let (v, unit) = humanize_size(bytes, Some('M'), 2);
    format!("{v:.2} {unit}")
}

/// One line of the target list: what is installed and what it replaces.
pub struct Target<'a> {
    /// The package to install, if any.
    pub install: Option<&'a Package>,
    /// The local package it replaces or that is removed.
    pub remove: Option<&'a Package>,
    /// Named on the command line (sorted after dependencies).
    pub explicit: bool,
}

/// pacman's `display_targets`: the packages, then the size totals.
pub fn display_targets(targets: &mut [Target], verbose: bool, downloadonly: bool) -> String {
    if targets.is_empty() {
        return String::new();
    }
    let name_of = |t: &Target| {
        t.install
            .or(t.remove)
            .map(|p| p.name().to_owned())
            .unwrap_or_default()
    };
    targets.sort_by(|a, b| {
        a.explicit
            .cmp(&b.explicit)
            .then_with(|| name_of(a).cmp(&name_of(b)))
    });
    let (mut isize, mut rsize, mut dlsize) = (0i64, 0i64, 0i64);
    for t in targets.iter() {
        if let Some(p) = t.install {
            dlsize += p.download_size();
            isize += p.isize();
        }
        if let Some(p) = t.remove {
            rsize += p.isize();
        }
    }
    let c = colors();
    let names: Vec<String> = targets
        .iter()
        .map(|t| match (t.install, t.remove) {
            (Some(p), _) => format!("{}{}-{}{}", p.name(), c.faint, p.version(), c.nocolor),
            (None, Some(p)) if isize == 0 => {
                format!("{}{}-{}{}", p.name(), c.faint, p.version(), c.nocolor)
            }
            (None, Some(p)) => format!(
                "{}{}-{} {}[removal]{}",
                p.name(),
                c.faint,
                p.version(),
                c.nocolor,
                c.nocolor
            ),
            (None, None) => String::new(),
        })
        .collect();
    let title = format!("Packages ({})", targets.len());
    let cols = columns();
    let mut out = String::from("\n");
    let mut shown = false;
    if verbose {
        let header = [
            cell(title.clone(), false, true),
            cell("Old Version", false, true),
            cell("New Version", false, true),
            cell("Net Change", false, true),
            cell("Download Size", false, true),
        ];
        let rows: Vec<Vec<Cell>> = targets
            .iter()
            .map(|t| {
                let name = match t.install {
                    Some(p) => match p.db() {
                        Some(db) => format!("{}/{}", db.name(), p.name()),
                        None => p.name().to_owned(),
                    },
                    None => t.remove.map(|p| p.name().to_owned()).unwrap_or_default(),
                };
                let net = t.install.map(|p| p.isize()).unwrap_or(0)
                    - t.remove.map(|p| p.isize()).unwrap_or(0);
                let dl = t.install.map(|p| p.download_size()).unwrap_or(0);
                vec![
                    cell(name, false, false),
                    cell(
                        t.remove
                            .map(|p| p.version().to_string())
                            .unwrap_or_default(),
                        false,
                        false,
                    ),
                    cell(
                        t.install
                            .map(|p| p.version().to_string())
                            .unwrap_or_default(),
                        false,
                        false,
                    ),
                    cell(size_str(net), true, false),
                    cell(
                        if dl != 0 { size_str(dl) } else { String::new() },
                        true,
                        false,
                    ),
                ]
            })
            .collect();
        if let Some(t) = table_display(Some(&header), &rows, cols) {
            out.push_str(&t);
            shown = true;
        }
    }
    if !shown {
        out.push_str(&list_display(Some(&title), &names, cols));
    }
    out.push('\n');
    let mut rows = Vec::new();
    let mut add = |label: &str, size: i64| {
        rows.push(vec![
            cell(label, false, true),
            cell(size_str(size), true, false),
        ])
    };
    if dlsize > 0 || downloadonly {
        add("Total Download Size:", dlsize);
    }
    if !downloadonly {
        if isize > 0 {
            add("Total Installed Size:", isize);
        }
        if rsize > 0 && isize == 0 {
            add("Total Removed Size:", rsize);
        }
        if isize > 0 && rsize > 0 {
            add("Net Upgrade Size:", isize - rsize);
        }
    }
    if let Some(t) = table_display(None, &rows, cols) {
        out.push_str(&t);
    }
    out
}

/// pacman's `pkg_get_location` for a sync package (`%l`).
fn location(handle: &Alpm, pkg: &Package) -> String {
    let filename = pkg.filename().unwrap_or_default();
    if pkg.download_size() == 0 {
        for dir in handle.cachedirs() {
            let path = format!("{dir}{filename}");
            if std::fs::metadata(&path)
                .map(|m| m.is_file())
                .unwrap_or(false)
            {
                return format!("file://{path}");
            }
        }
    }
    match pkg.db().and_then(|db| db.servers().first()) {
        Some(server) => format!("{server}/{filename}"),
        None => filename.to_owned(),
    }
}

/// A list as `--print-format` shows it: items separated by one space.
fn joined<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// pacman's `print_packages` for `-Sp`: `--print-format` (default `%l`).
pub fn print_packages(handle: &Alpm, pkgs: &[&Package], format: Option<&str>) -> String {
    let format = format.unwrap_or("%l");
    let mut out = String::new();
    for pkg in pkgs {
        let mut s = format.to_owned();
        let mut rep = |key: &str, val: &dyn Fn() -> String| {
            if s.contains(key) {
                s = s.replace(key, &val());
            }
        };
        rep("%a", &|| pkg.arch().unwrap_or("").to_owned());
        rep("%b", &|| {
            let t = pkg.build_date();
            format_c_time(t)
        });
        rep("%d", &|| pkg.desc().unwrap_or("(null)").to_owned());
        rep("%e", &|| pkg.base().unwrap_or("(null)").to_owned());
        rep("%f", &|| pkg.filename().unwrap_or("(null)").to_owned());
        rep("%g", &|| pkg.base64_sig().unwrap_or("(null)").to_owned());
        rep("%h", &|| pkg.sha256sum().unwrap_or("(null)").to_owned());
        rep("%n", &|| pkg.name().to_owned());
        rep("%p", &|| pkg.packager().unwrap_or("(null)").to_owned());
        rep("%v", &|| pkg.version().to_string());
        rep("%m", &|| pkg.md5sum().unwrap_or("(null)").to_owned());
        rep("%l", &|| location(handle, pkg));
        rep("%r", &|| {
            pkg.db()
                .map(|d| d.name().to_owned())
                .unwrap_or_else(|| "local".into())
        });
        rep("%s", &|| pkg.download_size().to_string());
        rep("%u", &|| pkg.url().unwrap_or("(null)").to_owned());
        rep("%C", &|| joined(pkg.checkdepends()));
        rep("%D", &|| joined(pkg.depends()));
        rep("%G", &|| joined(pkg.groups()));
        rep("%H", &|| joined(pkg.conflicts()));
        rep("%M", &|| joined(pkg.makedepends()));
        rep("%O", &|| joined(pkg.optdepends()));
        rep("%P", &|| joined(pkg.provides()));
        rep("%R", &|| joined(pkg.replaces()));
        rep("%L", &|| joined(pkg.licenses()));
        out.push_str(&s);
        out.push('\n');
    }
    out
}

/// `strftime("%c")` in the C locale.
fn format_c_time(t: i64) -> String {
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt = t as libc::time_t;
    // SAFETY: localtime_r and strftime write into buffers we own.
    unsafe {
        libc::localtime_r(&tt, &mut tm);
        let mut buf = [0u8; 64];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), c"%c".as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// "Repository x" blocks with numbered names, for group and provider choices
/// (pacman's `select_display`).
pub fn select_display(pkgs: &[&Package]) -> String {
    let c = colors();
    let cols = columns();
    let block = |repo: &str, list: &[String]| {
        format!("{}Repository {}{repo}{}\n", c.colon, c.repo, c.nocolor)
            + &list_display(Some("  "), list, cols)
    };
    let mut out = String::new();
    let mut current: Option<String> = None;
    let mut list: Vec<String> = Vec::new();
    for (n, p) in pkgs.iter().enumerate() {
        let db = p.db().map(|d| d.name().to_owned()).unwrap_or_default();
        if let Some(repo) = current.as_deref().filter(|c| *c != db) {
            out.push_str(&block(repo, &list));
            list.clear();
        }
        current = Some(db);
        list.push(format!("{}) {}", n + 1, p.name()));
    }
    out.push_str(&block(current.as_deref().unwrap_or(""), &list));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_display_without_terminal_does_not_wrap() {
        let items: Vec<String> = (0..30).map(|i| format!("package{i}-1.0-1")).collect();
        let s = list_display(Some("Packages (30)"), &items, 0);
        assert_eq!(s.lines().count(), 1);
        assert!(s.starts_with("Packages (30) package0-1.0-1  package1-1.0-1"));
    }

    #[test]
    fn list_display_wraps_under_title() {
        let items: Vec<String> = (0..10).map(|i| format!("pkg{i}-1-1")).collect();
        let s = list_display(Some("Packages (10)"), &items, 40);
        for line in s.lines().skip(1) {
            assert!(line.starts_with(&" ".repeat(14)));
        }
        assert!(s.lines().all(|l| l.len() < 40));
    }
}
