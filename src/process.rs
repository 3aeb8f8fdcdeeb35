//! The one way scratchpack runs another program: a resolved program path, an explicit
//! environment, captured stdout and stderr (drained concurrently), optional bytes on
//! stdin. A failure carries the command line, the exit status or signal and the trimmed
//! stderr, so every error message can say exactly what ran and what it said.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// How much of a failing program's stderr an error message repeats.
const STDERR_TAIL: usize = 4000;
/// Bytes of each output stream kept from its start and from its end: a program (a
/// hostile build) printing without end costs scratchpack no more than this.
const KEEP_HEAD: usize = 4 << 20;
const KEEP_TAIL: usize = 4 << 20;

/// A program to run.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: PathBuf,
    arg0: Option<OsString>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    clear_env: bool,
    cwd: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    passthrough: bool,
    attached: bool,
}

/// What a finished program produced.
#[derive(Debug)]
pub struct Output {
    pub status: std::process::ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_string()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(":\n{stderr}") })]
    Failed {
        command: String,
        status: String,
        stderr: String,
    },
}

impl Cmd {
    pub fn new(program: impl Into<PathBuf>) -> Cmd {
        Cmd {
            program: program.into(),
            arg0: None,
            args: Vec::new(),
            env: Vec::new(),
            clear_env: false,
            cwd: None,
            stdin: None,
            passthrough: false,
            attached: false,
        }
    }

    /// With `yes`, the program's stdout and stderr go to scratchpack's stderr instead of
    /// being captured: a download tool's own progress on a terminal.
    pub fn passthrough(mut self, yes: bool) -> Cmd {
        self.passthrough = yes;
        self
    }

    /// With `yes`, the program shares scratchpack's stdin, stdout and stderr (nothing is
    /// captured): a program `run` starts.
    pub fn attached(mut self, yes: bool) -> Cmd {
        self.attached = yes;
        self
    }

    /// What the program sees as `argv[0]` (its path by default).
    pub fn arg0(mut self, arg0: impl AsRef<OsStr>) -> Cmd {
        self.arg0 = Some(arg0.as_ref().to_os_string());
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Cmd {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Starts from an empty environment: only what `env` adds is passed.
    pub fn env_clear(mut self) -> Cmd {
        self.clear_env = true;
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    pub fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.stdin = Some(bytes);
        self
    }

    /// Runs to completion, whatever the exit status.
    pub fn output(&self) -> Result<Output, ProcessError> {
        let spawn_err = |source| ProcessError::Spawn {
            command: self.to_string(),
            source,
        };
        let mut command = Command::new(&self.program);
        if let Some(arg0) = &self.arg0 {
            std::os::unix::process::CommandExt::arg0(&mut command, arg0);
        }
        command.args(&self.args);
        if self.attached {
            command
                .stdin(Stdio::inherit())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit());
        } else if self.passthrough {
            use std::os::fd::AsFd;
            let stderr = io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .map_err(spawn_err)?;
            command.stdout(Stdio::from(stderr)).stderr(Stdio::inherit());
        } else {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        if self.clear_env {
            command.env_clear();
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        if !self.attached {
            command.stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        }
        let mut child = command.spawn().map_err(spawn_err)?;
        let writer = match (child.stdin.take(), self.stdin.clone()) {
            (Some(mut pipe), Some(bytes)) => Some(std::thread::spawn(move || {
                // A program that exits without reading its input is not an error here.
                let _ = pipe.write_all(&bytes);
            })),
            _ => None,
        };
        let stderr = child
            .stderr
            .take()
            .map(|pipe| std::thread::spawn(|| drain(pipe)));
        let stdout = child
            .stdout
            .take()
            .map(drain)
            .transpose()
            .map_err(spawn_err)?;
        let stderr = match stderr {
            Some(t) => Some(
                t.join()
                    .unwrap_or_else(|_| Err(io::Error::other("stderr reader panicked")))
                    .map_err(spawn_err)?,
            ),
            None => None,
        };
        let status = child.wait().map_err(spawn_err)?;
        if let Some(writer) = writer {
            let _ = writer.join();
        }
        Ok(Output {
            status,
            stdout: stdout.unwrap_or_default(),
            stderr: stderr.unwrap_or_default(),
        })
    }

    /// Runs to completion; a non-zero exit or a signal is an error.
    pub fn run(&self) -> Result<Output, ProcessError> {
        let output = self.output()?;
        if output.status.success() {
            return Ok(output);
        }
        Err(self.failed(&output))
    }

    /// The error for `output` of this command.
    pub fn failed(&self, output: &Output) -> ProcessError {
        ProcessError::Failed {
            command: self.to_string(),
            status: describe_status(output.status),
            stderr: tail(&output.stderr_text()),
        }
    }
}

/// Reads `pipe` to its end, keeping its first and last bytes only (see [`KEEP_HEAD`]).
fn drain(mut pipe: impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut tail: VecDeque<u8> = VecDeque::new();
    let mut dropped: u64 = 0;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        if head.len() < KEEP_HEAD {
            let take = chunk.len().min(KEEP_HEAD - head.len());
            head.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        tail.extend(chunk);
        if tail.len() > KEEP_TAIL {
            let excess = tail.len() - KEEP_TAIL;
            tail.drain(..excess);
            dropped += excess as u64;
        }
    }
    if dropped > 0 {
        head.extend_from_slice(
            format!("\n[... {dropped} bytes of output not kept ...]\n").as_bytes(),
        );
    }
    head.extend(tail);
    Ok(head)
}

/// `exit code 2`, `killed by signal 9`.
pub fn describe_status(status: std::process::ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => "unknown status".to_string(),
    }
}

fn tail(text: &str) -> String {
    let text = text.trim();
    if text.len() <= STDERR_TAIL {
        return text.to_string();
    }
    let mut start = text.len() - STDERR_TAIL;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &text[start..])
}

/// The command line, shell-quoted where needed.
impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", quote(self.program.as_os_str()))?;
        for arg in &self.args {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

fn quote(s: &OsStr) -> String {
    shell_quote(&s.to_string_lossy())
}

/// `text` as one POSIX shell word: as it is when plain, else single-quoted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_and_reports() {
        let out = Cmd::new("/bin/sh")
            .args(["-c", "echo out; echo err >&2"])
            .run()
            .unwrap();
        assert_eq!(out.stdout_text(), "out");
        assert_eq!(out.stderr_text(), "err\n");
        let err = Cmd::new("/bin/sh")
            .args(["-c", "echo boom >&2; exit 3"])
            .run()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("/bin/sh -c 'echo boom >&2; exit 3'") && text.contains("exit code 3"),
            "{text}"
        );
        assert!(text.contains("boom"));
        assert!(matches!(
            Cmd::new("/nonexistent/prog").run(),
            Err(ProcessError::Spawn { .. })
        ));
    }

    #[test]
    fn endless_output_costs_a_bounded_amount() {
        let out = Cmd::new("/bin/sh")
            .args(["-c", "head -c 20000000 /dev/zero; echo end"])
            .run()
            .unwrap();
        assert!(out.stdout.len() < KEEP_HEAD + KEEP_TAIL + 100);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("bytes of output not kept"));
        assert!(text.ends_with("end\n"), "the tail is kept");
    }

    #[test]
    fn explicit_environment_and_stdin() {
        let out = Cmd::new("/bin/sh")
            .args(["-c", "echo \"$A:$HOME\"; cat"])
            .env_clear()
            .env("A", "1")
            .stdin(b"input".to_vec())
            .run()
            .unwrap();
        assert_eq!(out.stdout_text(), "1:\ninput");
    }
}
