//! What the sources' git repository says about them, for the image's date and its
//! `source` and `revision` annotations: the last commit (hash and time) and the `origin`
//! remote, credentials removed. Asked of `git` itself, with every program a repository's
//! config could name for `log` turned off (fsmonitor, pager, signature checks); nothing
//! when git is missing or the directory is no repository.

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
        // A hostile repository's own config must run nothing on the host: no fsmonitor,
        // no pager, no signature check (`log.showSignature` would run `gpg.program`).
        .args([
            "-c",
            "core.fsmonitor=false",
            "-c",
            "core.pager=cat",
            "-c",
            "log.showSignature=false",
            "-c",
            "gpg.program=false",
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
        // The repository's config names programs: none of them runs. (HEAD carries a
        // signature, so `log.showSignature` would have git call `gpg.program`.)
        let head = String::from_utf8(git(&["cat-file", "-p", "HEAD"]).stdout).unwrap();
        let tree = head.lines().next().unwrap().strip_prefix("tree ").unwrap();
        std::fs::write(
            d.join("signed.txt"),
            format!(
                "tree {tree}\nauthor t <t@t> 1700000000 +0000\ncommitter t <t@t> 1700000000 +0000\n\
                 gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEz\n -----END PGP SIGNATURE-----\n\nsigned\n"
            ),
        )
        .unwrap();
        let signed = git(&["hash-object", "-t", "commit", "-w", "signed.txt"]).stdout;
        git(&[
            "update-ref",
            "HEAD",
            String::from_utf8(signed).unwrap().trim(),
        ]);
        let marker = d.join("ran");
        let evil = d.join("evil.sh");
        std::fs::write(&evil, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        for (k, v) in [
            ("log.showSignature", "true"),
            ("gpg.program", evil.to_str().unwrap()),
            ("core.fsmonitor", evil.to_str().unwrap()),
            ("core.pager", evil.to_str().unwrap()),
        ] {
            git(&["config", k, v]);
        }
        let info = describe(d).unwrap();
        assert!(!marker.exists(), "the repository's config ran a program");
        assert_eq!(info.time, 1_700_000_000);
        assert_eq!(info.revision.len(), 40);
        assert_eq!(
            info.url.as_deref(),
            Some("https://example.com/team/app.git")
        );
    }
}
