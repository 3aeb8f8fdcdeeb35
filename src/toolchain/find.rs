//! Finding a toolchain's host tool: the folder that gets mounted into the sandbox, the
//! real executable (never a wrapper script or shim, which would not run in the rootfs)
//! and its version. zig: `zig` on PATH (a link to a zig is followed to its folder). Go: `$GOROOT`,
//! else `go env GOROOT` of the `go` on PATH (which may be a wrapper: asking it is how to
//! get past one).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::Finder;
use crate::process::Cmd;

/// Where a toolchain lives on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostTool {
    /// The folder mounted into the sandbox.
    pub dir: PathBuf,
    /// The real executable.
    pub program: PathBuf,
    pub version: String,
    /// A release scratchpack fetched into its cache, rather than a tool of the host.
    pub fetched: bool,
}

impl HostTool {
    /// `zig 0.17.1 at /usr/local/bin/zig`, or `zig 0.17.1, fetched into the cache`.
    pub fn describe(&self) -> String {
        if self.fetched {
            format!("{}, fetched into the cache", self.version)
        } else {
            format!("{} at {}", self.version, self.program.display())
        }
    }
}

/// What the finders may look at, read once by the plan.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    pub path: Option<OsString>,
    pub goroot: Option<PathBuf>,
    pub cwd: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("no usable {what} found ({})", tried.join("; "))]
pub struct FindError {
    pub what: &'static str,
    pub tried: Vec<String>,
}

impl crate::error::Hint for FindError {
    fn hints(&self) -> Vec<String> {
        vec![match self.what {
            "zig" => "put zig on PATH".into(),
            _ => "set GOROOT or put go on PATH".into(),
        }]
    }
}

pub fn find(finder: Finder, env: &HostEnv) -> Result<HostTool, FindError> {
    match finder {
        Finder::Zig => find_zig(env),
        Finder::Go => find_go(env),
    }
}

pub(super) fn on_path(name: &str, env: &HostEnv) -> Option<PathBuf> {
    which::which_in(name, env.path.clone(), &env.cwd).ok()
}

/// The first line of `program ARGS`' stdout.
fn ask(program: &Path, args: &[&str]) -> Result<String, String> {
    Cmd::new(program)
        .args(args)
        .run()
        .map(|o| {
            o.stdout_text()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .map_err(|e| e.to_string())
}

fn find_zig(env: &HostEnv) -> Result<HostTool, FindError> {
    let mut tried = Vec::new();
    match on_path("zig", env) {
        Some(zig) => match zig_at(&zig) {
            Ok(tool) => return Ok(tool),
            Err(why) => tried.push(why),
        },
        None => tried.push("`zig` is not on PATH".to_string()),
    }
    Err(FindError { what: "zig", tried })
}

fn zig_at(candidate: &Path) -> Result<HostTool, String> {
    let program = candidate
        .canonicalize()
        .map_err(|e| format!("`{}`: {e}", candidate.display()))?;
    let dir = program.parent().map(Path::to_path_buf).unwrap_or_default();
    if !dir.join("lib").is_dir() {
        return Err(format!("`{}` has no lib/ beside it", program.display()));
    }
    let version = ask(&program, &["version"])
        .map_err(|e| format!("`{}` does not run: {e}", program.display()))?;
    Ok(HostTool {
        dir,
        program,
        version: format!("zig {version}"),
        fetched: false,
    })
}

fn find_go(env: &HostEnv) -> Result<HostTool, FindError> {
    let mut tried = Vec::new();
    let mut roots = Vec::new();
    match &env.goroot {
        Some(root) => roots.push(root.clone()),
        None => tried.push("GOROOT is not set".to_string()),
    }
    match on_path("go", env) {
        Some(go) => match ask(&go, &["env", "GOROOT"]) {
            Ok(root) if !root.is_empty() => roots.push(PathBuf::from(root)),
            Ok(_) => tried.push(format!("`{} env GOROOT` printed nothing", go.display())),
            Err(e) => tried.push(e),
        },
        None => tried.push("`go` is not on PATH".to_string()),
    }
    for root in roots {
        match go_at(&root) {
            Ok(tool) => return Ok(tool),
            Err(why) => tried.push(why),
        }
    }
    Err(FindError {
        what: "Go toolchain",
        tried,
    })
}

fn go_at(root: &Path) -> Result<HostTool, String> {
    let dir = root
        .canonicalize()
        .map_err(|e| format!("GOROOT `{}`: {e}", root.display()))?;
    let program = dir.join("bin/go");
    std::fs::metadata(&program).map_err(|e| format!("`{}`: {e}", program.display()))?;
    let version = match std::fs::read_to_string(dir.join("VERSION")) {
        Ok(v) => v.lines().next().unwrap_or_default().to_string(),
        Err(_) => ask(&program, &["env", "GOVERSION"])
            .map_err(|e| format!("`{}` does not run: {e}", program.display()))?,
    };
    Ok(HostTool {
        dir,
        program,
        version,
        fetched: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hint;

    #[test]
    fn nothing_found_says_what_was_tried() {
        let env = HostEnv {
            path: Some(OsString::from("/nonexistent")),
            goroot: None,
            cwd: PathBuf::from("/"),
        };
        let err = find(Finder::Go, &env).unwrap_err();
        assert!(
            err.to_string().contains("GOROOT is not set")
                && err.to_string().contains("`go` is not on PATH")
        );
        let err = find(Finder::Zig, &env).unwrap_err();
        assert!(err.to_string().contains("`zig` is not on PATH"), "{err}");
        assert!(!err.hints().join(" ").contains("pip install"));
    }

    #[test]
    fn a_goroot_without_go_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let env = HostEnv {
            path: Some(OsString::from("/nonexistent")),
            goroot: Some(dir.path().into()),
            cwd: "/".into(),
        };
        let err = find(Finder::Go, &env).unwrap_err().to_string();
        assert!(err.contains("bin/go"), "{err}");
    }
}
