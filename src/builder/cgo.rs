//! cgo: whether Go sources need it (a file of the module, `vendor/` included, imports
//! "C": with `CGO_ENABLED=0` its build constraints may swap the real code for a stub, as
//! go-sqlite3's do), and the C compiler they then get: the `[cgo]` toolchain's, mounted
//! beside Go. A toolchain without `[cgo]` refuses such sources rather than ship a stub.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::BuildError;
use super::command::{Paths, tool_vars};
use crate::plan::BuildPlan;
use crate::sandbox::Bind;
use crate::source::Sources;
use crate::toolchain::{self, Toolchain};
use crate::ui::Ui;

/// Files looked at most, and bytes read of each (imports come first).
const MAX_FILES: usize = 50_000;
const HEAD_BYTES: u64 = 64 * 1024;

/// The first Go file of `sources` that imports "C": of the module (its root is the
/// working directory of a module build, `vendor/` included), or of the files named.
pub fn importer(sources: &Sources) -> Option<PathBuf> {
    let module = sources.args.iter().all(|a| a == "." || a.starts_with("./"));
    if !module {
        return sources
            .args
            .iter()
            .map(|a| sources.cwd.join(a))
            .find(|f| imports_c(f));
    }
    let mut seen = 0;
    let mut dirs: Vec<PathBuf> = vec![sources.cwd.clone()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            seen += 1;
            if seen > MAX_FILES {
                return None;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir()
                && !name.starts_with('.')
                && !name.starts_with('_')
                && name != "testdata"
            {
                dirs.push(e.path());
            } else if kind.is_file()
                && name.ends_with(".go")
                && !name.ends_with("_test.go")
                && imports_c(&e.path())
            {
                return Some(e.path());
            }
        }
    }
    None
}

fn imports_c(path: &Path) -> bool {
    let mut head = Vec::new();
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    if file.take(HEAD_BYTES).read_to_end(&mut head).is_err() {
        return false;
    }
    String::from_utf8_lossy(&head).lines().any(|l| {
        let l = l.trim();
        l == "import \"C\"" || l == "\"C\""
    })
}

/// What a cgo build adds to the Go build.
pub struct Setup {
    pub env: Vec<(String, String)>,
    pub ldflags: Vec<String>,
    /// The C toolchain's folder, mounted read-only (none without sandbox).
    pub binds: Vec<Bind>,
    /// The C toolchain's caches: name to host directory.
    pub caches: BTreeMap<String, PathBuf>,
    /// The C toolchain and its tool, as the build cache's key names them.
    pub identity: super::reuse::Identity,
}

/// The C compiler for `go` building `file`'s package, as the sandbox (or the host, with
/// `--no-sandbox`) sees it.
pub fn setup(plan: &BuildPlan, go: &Toolchain, file: &Path, ui: &Ui) -> Result<Setup, BuildError> {
    let cgo = go.cgo.as_ref().ok_or_else(|| BuildError::CgoUnsupported {
        toolchain: go.name.clone(),
        file: file.to_path_buf(),
    })?;
    let c = toolchain::by_name_or_file(&cgo.toolchain)?;
    let tools = c
        .project
        .as_ref()
        .ok_or_else(|| BuildError::NoProjectTools(c.name.clone()))?;
    let tool = super::select::host_tool(plan, &c, ui, false)?;
    let caches = super::cache_dirs(plan, &c)?;
    let paths = if plan.sandbox {
        Paths::sandboxed(&c).with_sysroot(super::sysroot(plan))
    } else {
        Paths::on_host(tool.as_ref(), Path::new(""), &caches)
    };
    let vars = tool_vars(&plan.platform, &paths);
    let command = |list: &[String]| vars.expand_args(list).join(" ");
    let mut env: Vec<(String, String)> = c
        .env
        .iter()
        .filter(|(k, _)| !go.env.contains_key(*k))
        .map(|(k, v)| (k.clone(), vars.expand(v)))
        .collect();
    env.extend([
        ("CGO_ENABLED".to_string(), "1".to_string()),
        ("CC".to_string(), command(&tools.cc)),
        ("CXX".to_string(), command(&tools.cxx)),
        ("AR".to_string(), command(&tools.ar)),
    ]);
    // The folder only: the caches join the build's own, which the sandbox shows.
    let binds = if plan.sandbox {
        super::toolchain_binds(&c, tool.as_ref(), &BTreeMap::new())
    } else {
        Vec::new()
    };
    let compiler = tool
        .as_ref()
        .map_or_else(|| c.name.clone(), |t| t.version.clone());
    ui.note(&format!(
        "cgo: `{}` imports \"C\"; C compiled by {compiler} ({}), linked statically",
        file.display(),
        c.name
    ));
    let identity = super::reuse::Identity::of(
        &c,
        super::record::tool_identity(&c, tool.as_ref(), &plan.cache).as_ref(),
    );
    Ok(Setup {
        env,
        ldflags: cgo.ldflags.clone(),
        binds,
        caches,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources(dir: &Path) -> Sources {
        Sources {
            language: crate::source::Language::Go,
            args: vec![".".into()],
            cwd: dir.to_path_buf(),
            mounts: Vec::new(),
            root: dir.to_path_buf(),
            default_name: "app".into(),
        }
    }

    #[test]
    fn imports_of_c_are_found_in_vendor_too() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("main.go"), "package main\nimport \"fmt\"\n").unwrap();
        std::fs::write(d.join("c_test.go"), "package main\nimport \"C\"\n").unwrap();
        std::fs::create_dir_all(d.join("testdata")).unwrap();
        std::fs::write(d.join("testdata/x.go"), "package x\nimport \"C\"\n").unwrap();
        assert_eq!(importer(&sources(d)), None);
        let lib = d.join("vendor/github.com/mattn/go-sqlite3");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(
            lib.join("sqlite3.go"),
            "package sqlite3\n\n/*\n#include <stdlib.h>\n*/\nimport (\n\t\"C\"\n\t\"unsafe\"\n)\n",
        )
        .unwrap();
        assert_eq!(importer(&sources(d)), Some(lib.join("sqlite3.go")));
    }

    #[test]
    fn named_files_are_judged_alone() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("hello.go"), "package main\n").unwrap();
        // A Go tree beside them (a release, another project) is not the build's.
        std::fs::create_dir(d.join("go")).unwrap();
        std::fs::write(d.join("go/cgo.go"), "package cgo\nimport \"C\"\n").unwrap();
        let mut s = sources(d);
        s.args = vec!["hello.go".into()];
        assert_eq!(importer(&s), None);
        s.args = vec!["hello.go".into(), "go/cgo.go".into()];
        assert_eq!(importer(&s), Some(d.join("go/cgo.go")));
    }

    #[test]
    fn the_go_toolchain_borrows_zigs_compiler() {
        let go = toolchain::by_name_or_file("go").unwrap();
        let cgo = go.cgo.as_ref().unwrap();
        assert_eq!(cgo.toolchain, "zig");
        assert!(cgo.ldflags.contains(&"-extldflags=-static".to_string()));
        let alpine = toolchain::by_name_or_file("alpine").unwrap();
        assert!(alpine.cgo.is_none());
    }
}
