//! What the sources' git repository says about them, for the image's date and its
//! `source` and `revision` annotations: the last commit (hash and time) and the `origin`
//! remote, credentials removed. Asked of `git` itself (no hooks, no fsmonitor, no pager
//! run for `log` and `config --get`); nothing when git is missing or the directory is no
//! repository.

use std::path::Path;

use crate::process::Cmd;

/// The last commit of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitInfo {
    pub revision: String,
    /// Commit time, seconds since 1970.
    pub time: u64,
    /// `remote.origin.url`, without credentials.
    pub url: Option<String>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let program = which::which("git").ok()?;
    let out = Cmd::new(program)
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.pager=cat",
            "--no-pager",
        ])
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| out.stdout_text().trim().to_string())
}

/// The repository `dir` is in, if any.
pub fn describe(dir: &Path) -> Option<GitInfo> {
    let log = git(dir, &["log", "-1", "--format=%H %ct"])?;
    let (revision, time) = log.split_once(' ')?;
    if revision.len() < 40 || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(GitInfo {
        revision: revision.to_string(),
        time: time.trim().parse().ok()?,
        url: git(dir, &["config", "--get", "remote.origin.url"])
            .filter(|u| !u.is_empty())
            .map(|u| without_credentials(&u)),
    })
}

/// `https://user:token@host/x` to `https://host/x`.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() {
                format!("{scheme}://{host}")
            } else {
                format!("{scheme}://{host}/{path}")
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_dropped() {
        assert_eq!(
            without_credentials("https://me:ghp_secret@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            without_credentials("git@github.com:o/r.git"),
            "git@github.com:o/r.git"
        );
    }

    #[test]
    fn a_repository_is_described() {
        if which::which("git").is_err() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .arg("-C")
                .arg(d)
                .args(args)
                .env("GIT_AUTHOR_DATE", "1700000000 +0000")
                .env("GIT_COMMITTER_DATE", "1700000000 +0000")
                .output()
                .unwrap()
        };
        assert_eq!(describe(d), None, "not a repository yet");
        git(&["init", "-q"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ]);
        git(&[
            "remote",
            "add",
            "origin",
            "https://u:p@example.com/team/app.git",
        ]);
        let info = describe(d).unwrap();
        assert_eq!(info.time, 1_700_000_000);
        assert_eq!(info.revision.len(), 40);
        assert_eq!(
            info.url.as_deref(),
            Some("https://example.com/team/app.git")
        );
    }
}
