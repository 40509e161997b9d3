//! The command line: one flag table ([`flags`]), pacman's grammar over it
//! ([`parse`]), and the help text derived from it.
pub mod flags;
pub mod parse;

pub use flags::Op;
pub use parse::{parse, Args, CliError};

use flags::{Arg, Flag, FLAGS};

/// pacman-style usage text: the operation list, or one operation's options.
pub fn usage(op: Option<Op>, prog: &str) -> String {
    let mut out = String::new();
    match op {
        None => {
            out.push_str(&format!("usage:  {prog} <operation> [...]\noperations:\n"));
            out.push_str(&format!("    {prog} {{-h --help}}\n"));
            out.push_str(&format!("    {prog} {{-V --version}}\n"));
            for (op, rest) in [
                (Op::Database, "<options> <package(s)>"),
                (Op::Files, "[options] [file(s)]"),
                (Op::Query, "[options] [package(s)]"),
                (Op::Remove, "[options] <package(s)>"),
                (Op::Sync, "[options] [package(s)]"),
                (Op::Deptest, "[options] [package(s)]"),
                (Op::Upgrade, "[options] <file(s)>"),
            ] {
                out.push_str(&format!(
                    "    {prog} {{-{} --{}}} {rest}\n",
                    op.short(),
                    op.long()
                ));
            }
            out.push_str(&format!(
                "\nuse '{prog} {{-h --help}}' with an operation for available options\n"
            ));
        }
        Some(op) => {
            let what = match op {
                Op::Remove => "<package(s)>",
                Op::Upgrade => "<file(s)>",
                Op::Files => "[file(s)]",
                Op::Database => "<package(s)>",
                _ => "[package(s)]",
            };
            out.push_str(&format!(
                "usage:  {prog} {{-{} --{}}} [options] {what}\noptions:\n",
                op.short(),
                op.long()
            ));
            let mut rows: Vec<&Flag> = FLAGS
                .iter()
                .filter(|f| f.short.is_none_or(|c| !"DFQRSTUVh".contains(c)))
                .filter(|f| f.scope.allows(Some(op)))
                .collect();
            rows.sort_by_key(|f| {
                (
                    f.short.map(|c| c.to_ascii_lowercase()).unwrap_or('~'),
                    f.long,
                )
            });
            for f in rows {
                out.push_str(&help_line(f));
            }
        }
    }
    out
}

/// One option line of `--help`, in pacman's layout.
pub fn help_line(f: &Flag) -> String {
    let short = f
        .short
        .map(|c| format!("-{c}, "))
        .unwrap_or_else(|| "    ".into());
    let long = match f.arg {
        Arg::None => format!("--{}", f.long),
        Arg::Required => format!("--{} <{}>", f.long, f.value_name),
        Arg::Optional => format!("--{}[={}]", f.long, f.value_name),
    };
    let left = format!("  {short}{long}");
    if left.len() < 23 {
        format!("{left:<23}{}\n", f.help)
    } else {
        format!("{left}\n{:<23}{}\n", "", f.help)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_help_lists_torrent_and_pacman_options() {
        let text = usage(Some(Op::Sync), "pactor");
        assert!(text.starts_with("usage:  pactor {-S --sync} [options] [package(s)]\n"));
        for needle in [
            "-x, --torrent",
            "--no-torrent",
            "-y, --refresh",
            "--needed",
            "-b, --dbpath <path>",
            "--debug[=level]",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(!text.contains("--changelog"));
    }
}
