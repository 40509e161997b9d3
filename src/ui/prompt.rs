//! pacman's prompts (`src/pacman/util.c`: `question`, `select_question`,
//! `multiselect_question`): on stderr so they show when stdout is redirected,
//! on stdout under `--noconfirm` (which takes the default at once).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{BufRead, IsTerminal, Write};

use super::output::{self, colors};

fn stream() -> Box<dyn Write> {
    if output::noconfirm() {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::io::stderr())
    }
}

fn read_line() -> Option<String> {
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// A yes/no question; `preset` is the answer on Enter (`[Y/n]` or `[y/N]`).
pub fn question(preset: bool, text: &str) -> bool {
    let _ = std::io::stdout().flush();
    let c = colors();
    let mut s = stream();
    let _ = write!(s, "{}{}", c.colon, text);
    let _ = write!(s, " {} ", if preset { "[Y/n]" } else { "[y/N]" });
    let _ = write!(s, "{}", c.nocolor);
    let _ = s.flush();
    if output::noconfirm() {
        let _ = writeln!(s);
        return preset;
    }
    let Some(line) = read_line() else {
        return false;
    };
    let answer = line.trim();
    if answer.is_empty() {
        return preset;
    }
    // Piped input is not echoed: keep the transcript readable.
    if !std::io::stdin().is_terminal() {
        let _ = writeln!(s, "{answer}");
    }
    matches!(answer.to_lowercase().as_str(), "y" | "yes")
}

/// `[Y/n]`.
pub fn yesno(text: &str) -> bool {
    question(true, text)
}

/// `[y/N]`.
pub fn noyes(text: &str) -> bool {
    question(false, text)
}

fn parse_index(s: &str, min: usize, max: usize) -> Result<usize, ()> {
    match s.parse::<i64>() {
        Ok(n) if n >= min as i64 && n <= max as i64 => Ok(n as usize),
        Ok(n) => {
            output::error(&format!(
                "invalid value: {n} is not between {min} and {max}"
            ));
            Err(())
        }
        Err(_) => {
            output::error(&format!("invalid number: {s}"));
            Err(())
        }
    }
}

/// "Enter a number (default=1)": a 0-based choice among `count`.
pub fn select(count: usize) -> usize {
    loop {
        let mut s = stream();
        let _ = write!(s, "\nEnter a number (default=1): ");
        let _ = s.flush();
        if output::noconfirm() {
            let _ = writeln!(s);
            return 0;
        }
        let Some(line) = read_line() else { return 0 };
        let answer = line.trim();
        if answer.is_empty() {
            return 0;
        }
        match parse_index(answer, 1, count) {
            Ok(n) => return n - 1,
            Err(()) => continue,
        }
    }
}

/// "Enter a selection (default=all)": which of `count` entries to take, with
/// pacman's syntax (`1 3`, `2-4`, `^2`, commas). `None` on end of input.
pub fn multiselect(count: usize) -> Option<Vec<bool>> {
    loop {
        let mut s = stream();
        let _ = write!(s, "\nEnter a selection (default=all): ");
        let _ = s.flush();
        if output::noconfirm() {
            let _ = writeln!(s);
            return Some(vec![true; count]);
        }
        let line = read_line()?;
        let answer = line.trim();
        if answer.is_empty() {
            return Some(vec![true; count]);
        }
        if let Ok(sel) = parse_selection(answer, count) {
            return Some(sel);
        }
    }
}

/// pacman's `multiselect_parse`.
fn parse_selection(answer: &str, count: usize) -> Result<Vec<bool>, ()> {
    let mut sel = vec![true; count];
    let mut first = true;
    for token in answer.split([' ', ',']).filter(|t| !t.trim().is_empty()) {
        let mut token = token.trim();
        let include = !token.starts_with('^');
        if !include {
            token = &token[1..];
        } else if first {
            // A first including token deselects everything else.
            sel.iter_mut().for_each(|s| *s = false);
        }
        first = false;
        let (start, end) = match token.get(1..).and_then(|rest| rest.find('-')) {
            Some(p) => (&token[..p + 1], Some(&token[p + 2..])),
            None => (token, None),
        };
        let start = parse_index(start, 1, count)?;
        let end = match end {
            Some(e) => parse_index(e, start, count)?,
            None => start,
        };
        for s in &mut sel[start - 1..end] {
            *s = include;
        }
    }
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_syntax() {
        assert_eq!(parse_selection("2", 3), Ok(vec![false, true, false]));
        assert_eq!(parse_selection("1-2", 3), Ok(vec![true, true, false]));
        assert_eq!(parse_selection("^2", 3), Ok(vec![true, false, true]));
        assert_eq!(parse_selection("1,3", 3), Ok(vec![true, false, true]));
        assert!(parse_selection("4", 3).is_err());
    }
}
