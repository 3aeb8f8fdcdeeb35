//! Go packages inside a module: the one a module's root builds (`.`, else its only
//! command under `cmd/`), the module a package directory belongs to, and the main
//! packages a `DIR/...` pattern names, as `go build` reads them.

use std::path::{Path, PathBuf};

use super::{SourceError, read_head};

/// Directories walked at most below a `DIR/...` pattern: a bound on hostile trees.
const MAX_DIRS: usize = 10_000;

/// Bytes read of a Go file or go.mod: the package clause and module line are at the top.
const HEAD: u64 = 64 * 1024;

/// Whether `dir` holds `.go` files (not tests) at its top.
pub(super) fn has_go_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".go")
                && !name.ends_with("_test.go")
                && e.file_type().is_ok_and(|t| t.is_file())
        })
    })
}

/// The package a module root builds: `.` when it holds Go files, else its only command
/// under `cmd/`.
pub(super) fn main_package(root: &Path) -> Result<String, SourceError> {
    if has_go_files(root) {
        return Ok(".".into());
    }
    let mut commands: Vec<String> = std::fs::read_dir(root.join("cmd"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| has_go_files(&e.path()))
                .map(|e| format!("./cmd/{}", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    commands.sort();
    match commands.len() {
        // Nothing to choose from: go's own message says what is missing.
        0 => Ok(".".into()),
        1 => Ok(commands.remove(0)),
        _ => Err(SourceError::GoNoMain {
            dir: root.to_path_buf(),
            commands,
        }),
    }
}

/// A directory of Go files inside a module (`./cmd/age`): the module's root and the
/// package's path relative to it.
pub(super) fn package_in_module(dir: &Path) -> Option<(PathBuf, String)> {
    if !has_go_files(dir) {
        return None;
    }
    let root = dir
        .ancestors()
        .skip(1)
        .take(32)
        .find(|a| a.join("go.mod").is_file())?;
    let rel = dir.strip_prefix(root).ok()?;
    Some((root.to_path_buf(), format!("./{}", rel.display())))
}

/// The main packages below `dir` (`./cmd/...` as typed: `pattern`), as `go build` would
/// match them (testdata, vendor, hidden and `_` directories skipped), relative to the
/// module's root, the one named like the module first (`age` for `filippo.io/age`), the
/// others by path.
pub(super) fn commands_below(
    dir: &Path,
    pattern: &Path,
) -> Result<(PathBuf, Vec<String>), SourceError> {
    let none = || SourceError::NoCommands {
        pattern: pattern.to_path_buf(),
    };
    if !dir.is_dir() {
        return Err(SourceError::Missing(pattern.to_path_buf()));
    }
    let root = dir
        .ancestors()
        .take(32)
        .find(|a| a.join("go.mod").is_file())
        .ok_or_else(none)?
        .to_path_buf();
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        seen += 1;
        if seen > MAX_DIRS {
            break;
        }
        if is_main_package(&d) {
            found.push(d.clone());
        }
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let skipped = name.starts_with('.')
                || name.starts_with('_')
                || name == "testdata"
                || name == "vendor";
            // A nested module is not part of this one.
            if !skipped
                && e.file_type().is_ok_and(|t| t.is_dir())
                && !e.path().join("go.mod").is_file()
            {
                stack.push(e.path());
            }
        }
    }
    let module_name = binary_name(&root, ".");
    let mut packages: Vec<String> = found
        .iter()
        .filter_map(|d| d.strip_prefix(&root).ok())
        .map(|rel| match rel.as_os_str().is_empty() {
            true => ".".to_string(),
            false => format!("./{}", rel.display()),
        })
        .collect();
    packages.sort_by_key(|p| (binary_name(&root, p) != module_name, p.clone()));
    if packages.is_empty() {
        return Err(none());
    }
    Ok((root, packages))
}

/// The binary `go build` names after a package path: its last element, or the one
/// before a major-version suffix (`example.com/tool/v2` -> `tool`).
fn command_name(package: &str) -> String {
    let mut parts = package.trim_end_matches('/').rsplit('/');
    let last = parts.next().unwrap_or_default();
    let versioned =
        last.len() > 1 && last.starts_with('v') && last[1..].bytes().all(|b| b.is_ascii_digit());
    match (versioned, parts.next()) {
        (true, Some(before)) => before.to_string(),
        _ => last.to_string(),
    }
}

/// The name `go build -o DIR/` gives the binary of `package` (`.` or `./cmd/age`) of
/// the module at `root`: the package's, or for the root package the module path's.
pub(crate) fn binary_name(root: &Path, package: &str) -> String {
    match package {
        "." => module_path(root)
            .map(|m| command_name(&m))
            .unwrap_or_else(|| super::file_name(root)),
        p => command_name(p),
    }
}

/// The module path `go.mod` declares.
fn module_path(root: &Path) -> Option<String> {
    let text = read_head(&root.join("go.mod"), HEAD)?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("module "))
        .map(|m| m.trim().trim_matches('"').to_string())
}

/// Whether `dir` holds a non-test Go file of `package main`.
fn is_main_package(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.ends_with(".go")
            && !name.ends_with("_test.go")
            && e.file_type().is_ok_and(|t| t.is_file())
            && read_head(&e.path(), HEAD).is_some_and(|text| {
                text.lines()
                    .map(str::trim)
                    .find(|l| l.starts_with("package "))
                    .is_some_and(|l| l.split_whitespace().nth(1) == Some("main"))
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn a_pattern_names_the_main_packages_below_it_the_modules_own_first() {
        let t = tempfile::tempdir().unwrap();
        let m = t.path().join("age");
        write(&m.join("go.mod"), "module filippo.io/age\n");
        write(&m.join("age.go"), "package age\n");
        for (dir, pkg) in [
            ("cmd/age-keygen", "main"),
            ("cmd/age", "main"),
            ("cmd/internal/lib", "lib"),
            ("cmd/testdata/fake", "main"),
            ("cmd/_old", "main"),
            ("cmd/.hidden", "main"),
        ] {
            write(
                &m.join(dir).join("main.go"),
                &format!("// x\npackage {pkg}\n"),
            );
        }
        write(&m.join("cmd/nested/go.mod"), "module other\n");
        write(&m.join("cmd/nested/main.go"), "package main\n");
        write(&m.join("cmd/onlytest/x_test.go"), "package main\n");
        let (root, packages) = commands_below(&m.join("cmd"), Path::new("cmd/...")).unwrap();
        assert_eq!(root, m);
        assert_eq!(packages, ["./cmd/age", "./cmd/age-keygen"]);
        // `./...` from the root: the library root is no command.
        let (_, packages) = commands_below(&m, Path::new("./...")).unwrap();
        assert_eq!(packages, ["./cmd/age", "./cmd/age-keygen"]);
        // None below, or outside any module.
        assert!(matches!(
            commands_below(&m.join("cmd/internal"), Path::new("x/...")),
            Err(SourceError::NoCommands { .. })
        ));
        assert!(matches!(
            commands_below(t.path(), Path::new("y/...")),
            Err(SourceError::NoCommands { .. })
        ));
        assert!(matches!(
            commands_below(&m.join("nope"), Path::new("nope/...")),
            Err(SourceError::Missing(_))
        ));
    }

    #[test]
    fn binaries_are_named_as_go_names_them() {
        let t = tempfile::tempdir().unwrap();
        write(&t.path().join("go.mod"), "module example.com/tool/v2\n");
        assert_eq!(binary_name(t.path(), "."), "tool");
        assert_eq!(binary_name(t.path(), "./cmd/age"), "age");
        assert_eq!(binary_name(t.path(), "./cmd/x/v3"), "x");
        assert_eq!(binary_name(t.path(), "./v"), "v");
    }
}
