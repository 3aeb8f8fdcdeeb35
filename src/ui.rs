//! Everything the user sees. Data a script would pipe goes to stdout; messages, warnings,
//! errors and progress go to stderr. Status lines appear only when stderr is a terminal
//! (CI logs stay quiet); colour only on a terminal and never with `NO_COLOR` set.
//! Text that may come from an input (file names, a compiler's output) is shown with its
//! control characters escaped ([`clean`]): a hostile name cannot drive the terminal.

use std::borrow::Cow;
use std::io::{self, IsTerminal, Write};

/// `text` with control characters (but newlines and tabs) and the bidirectional overrides
/// that can disguise text written as escapes: `\x1b`, `\u{202e}`.
pub fn clean(text: &str) -> Cow<'_, str> {
    let risky = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !text.chars().any(risky) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !risky(c) {
            out.push(c);
        } else if (c as u32) < 0x80 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

/// How to colour a piece of text.
#[derive(Debug, Clone, Copy)]
pub enum Style {
    Good,
    Bad,
    Warn,
    Dim,
    Bold,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Good => "32",
            Style::Bad => "1;31",
            Style::Warn => "33",
            Style::Dim => "2",
            Style::Bold => "1",
        }
    }
}

/// The terminal facts, read once at start-up.
#[derive(Debug, Clone)]
pub struct Ui {
    color_stdout: bool,
    color_stderr: bool,
    stderr_tty: bool,
    quiet: bool,
    verbose: bool,
}

impl Ui {
    /// Looks at the terminal and `NO_COLOR` (<https://no-color.org>).
    pub fn detect(quiet: bool) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let stderr_tty = io::stderr().is_terminal();
        Ui {
            color_stdout: !no_color && io::stdout().is_terminal(),
            color_stderr: !no_color && stderr_tty,
            stderr_tty,
            quiet,
            verbose: false,
        }
    }

    /// The same, also saying what is usually said once (`-v`).
    pub fn verbose(self, verbose: bool) -> Ui {
        Ui { verbose, ..self }
    }

    pub fn is_verbose(&self) -> bool {
        self.verbose
    }

    /// The same UI without notes and status lines (warnings and errors still show): for
    /// the builds of further platforms, which would repeat the first one's.
    pub fn quieter(&self) -> Ui {
        Ui {
            quiet: true,
            ..*self
        }
    }

    /// A UI that prints no status and no colour (tests).
    pub fn plain() -> Ui {
        Ui {
            color_stdout: false,
            color_stderr: false,
            stderr_tty: false,
            quiet: true,
            verbose: false,
        }
    }

    fn paint(enabled: bool, text: &str, style: Style) -> String {
        if enabled {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_string()
        }
    }

    /// `text` styled for stdout.
    pub fn paint_out(&self, text: &str, style: Style) -> String {
        Self::paint(self.color_stdout, text, style)
    }

    fn paint_err(&self, text: &str, style: Style) -> String {
        Self::paint(self.color_stderr, text, style)
    }

    /// Data written to stdout by `write` (a long JSON report). A closed pipe is not an
    /// error.
    pub fn data_with(&self, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
        let mut out = io::BufWriter::new(io::stdout().lock());
        let _ = write(&mut out).and_then(|()| out.flush());
    }

    /// A line of data on stdout. A closed pipe (`| head`) is not an error.
    pub fn data(&self, line: &str) {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{line}");
    }

    /// Whether status and progress lines are shown (a terminal, not `--quiet`).
    pub fn shows_progress(&self) -> bool {
        self.stderr_tty && !self.quiet
    }

    /// A progress or status line: only on a terminal, and not with `--quiet`.
    pub fn status(&self, message: &str) {
        if self.stderr_tty && !self.quiet {
            eprintln!("{}", self.paint_err(&clean(message), Style::Dim));
        }
    }

    /// A progress line that the next one overwrites: only on a terminal.
    pub fn progress(&self, message: &str) {
        if self.stderr_tty && !self.quiet {
            eprint!("\r\x1b[2K{}", self.paint_err(&clean(message), Style::Dim));
        }
    }

    /// Ends a run of progress lines.
    pub fn progress_done(&self) {
        if self.stderr_tty && !self.quiet {
            eprint!("\r\x1b[2K");
        }
    }

    /// A summary line worth keeping in CI logs; silenced only by `--quiet`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", clean(message));
        }
    }

    /// A compiler's own output, passed through as it printed it.
    pub fn diagnostics(&self, text: &str) {
        let text = text.trim_end();
        if !text.is_empty() {
            eprintln!("{}", clean(text));
        }
    }

    /// What to do about what was just reported.
    pub fn hint(&self, message: &str) {
        eprintln!(
            "{} {}",
            self.paint_err("hint:", Style::Bold),
            clean(message)
        );
    }

    pub fn warn(&self, message: &str) {
        eprintln!(
            "{} {}",
            self.paint_err("warning:", Style::Warn),
            clean(message)
        );
    }

    /// An error with its chain of causes and hints.
    pub fn error(&self, error: &dyn std::error::Error, hints: &[String]) {
        let mut text = format!(
            "{} {}",
            self.paint_err("error:", Style::Bad),
            clean(&error.to_string())
        );
        // A message that already says its cause is not followed by it again.
        let mut last = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let said = cause.to_string();
            if !last.contains(&said) {
                text.push_str(&format!("\n  caused by: {}", clean(&said)));
            }
            last = said;
            source = cause.source();
        }
        for hint in hints {
            text.push_str(&format!(
                "\n{} {}",
                self.paint_err("hint:", Style::Bold),
                clean(hint)
            ));
        }
        eprintln!("{text}");
    }
}

/// A size as people read it: `4.3 KiB`, `64.0 MiB`, `1.2 GiB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(clean("evil\x1b[2Jname"), "evil\\x1b[2Jname");
        assert_eq!(clean("a\u{202e}b\u{9b}"), "a\\u{202e}b\\u{9b}");
    }
}
