//! What the user asked to build: which language, which files, what the sandbox must show
//! (read-only, at their own paths, so diagnostics name the user's own files; see
//! [`shown`] for how little), and the binary's default name. C: one or more `.c` files,
//! or a directory (every `.c` file below it). Go: `.go` files of one directory, or a
//! module directory (`go.mod`; `vendor/` honoured by go itself).

pub(crate) mod git;
pub(crate) mod gopkg;
mod readable;
mod shown;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use shown::Broad;

/// A source language scratchpack can build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    C,
    /// C++ (with any C and assembly files beside it).
    Cpp,
    Go,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cpp => "cpp",
            Language::Go => "go",
        }
    }

    /// The language a file is compiled as; assembly goes with C (and C++).
    fn of_extension(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "c" | "S" | "s" => Some(Language::C),
            "cc" | "cpp" | "cxx" | "c++" | "C" => Some(Language::Cpp),
            "go" => Some(Language::Go),
            _ => None,
        }
    }

    /// A header: shown to the compiler, never compiled.
    fn is_header(path: &Path) -> bool {
        path.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "h" | "hh" | "hpp" | "hxx" | "h++" | "inc"))
    }

    /// Whether files of `self` and `other` build together, and as which language: C and
    /// assembly join C++.
    fn join(self, other: Language) -> Option<Language> {
        match (self, other) {
            (a, b) if a == b => Some(a),
            (Language::C, Language::Cpp) | (Language::Cpp, Language::C) => Some(Language::Cpp),
            _ => None,
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::C => "C",
            Language::Cpp => "C++",
            Language::Go => "Go",
        })
    }
}

/// A host file or directory shown in the sandbox at its own path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Shown {
    pub path: PathBuf,
    pub file: bool,
}

/// Resolved inputs of a build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    pub language: Language,
    /// What the compiler is given, as the user wrote it (relative to `cwd`) where
    /// possible: C files, Go files, or `.` for a Go module.
    pub args: Vec<String>,
    /// The directory the compiler runs in: the user's working directory, or for a Go
    /// module its directory.
    pub cwd: PathBuf,
    /// What to show read-only in the sandbox (none nested in another).
    pub mounts: Vec<Shown>,
    /// The common ancestor of the mounts, mapped to `.` in the binary.
    pub root: PathBuf,
    /// The binary's name unless `--name` says otherwise.
    pub default_name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source `{}` not found", .0.display())]
    Missing(PathBuf),
    #[error("include directory `{}` not found", .0.display())]
    IncludeMissing(PathBuf),
    #[error("cannot read source `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("source `{}` cannot be read: {why}", path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error("cannot tell the language of `{}`", .0.display())]
    UnknownLanguage(PathBuf),
    #[error("`{}` holds no {lang} sources", dir.display())]
    Empty { dir: PathBuf, lang: String },
    #[error("sources mix languages ({0} and {1})")]
    Mixed(Language, Language),
    #[error("Go files must be in one directory; `{}` and `{}` are not", .0.display(), .1.display())]
    GoDirs(PathBuf, PathBuf),
    #[error("a Go module directory must be the only source (got {0} sources)")]
    GoModuleAlone(usize),
    #[error("`{}` matches no main package of a Go module", pattern.display())]
    NoCommands { pattern: PathBuf },
    #[error("the Go module `{}` has no Go files at its top{}", dir.display(), if commands.is_empty() { String::new() } else { format!("; its commands: {}", commands.join(", ")) })]
    GoNoMain { dir: PathBuf, commands: Vec<String> },
    #[error("`{}` holds several programs: main is defined in {}", dir.display(), files.iter().map(|f| format!("`{}`", f.display())).collect::<Vec<_>>().join(", "))]
    SeveralMains { dir: PathBuf, files: Vec<PathBuf> },
    #[error("`{}` cannot be shown to the build whole: {why}", path.display())]
    TooBroad { path: PathBuf, why: &'static str },
}

impl crate::error::Hint for SourceError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            SourceError::Missing(_) | SourceError::IncludeMissing(_) => "check the path".into(),
            SourceError::Read { .. } => {
                "check the path, and that you can read what it holds".into()
            }
            SourceError::Unreadable { .. } => "make it readable by you (e.g. chmod a+r), or build \
                as its owner; a file that must stay private can be left out of a directory's \
                compile with --exclude"
                .into(),
            SourceError::UnknownLanguage(_) => "name C files `.c`, C++ files `.cc` or `.cpp`, Go \
                files `.go`, or pass --lang c|cpp|go"
                .into(),
            SourceError::Empty { .. } => {
                "pass the source files, or a directory holding them".into()
            }
            SourceError::Mixed(..) => "build one language at a time".into(),
            SourceError::GoDirs(..) | SourceError::GoModuleAlone(_) => {
                "pass a Go module directory (with go.mod), or .go files of one package".into()
            }
            SourceError::NoCommands { .. } => "name a directory inside a Go module (with go.mod) \
                that holds `package main` below it, e.g. ./cmd/..."
                .into(),
            SourceError::GoNoMain { dir, commands } => match commands.first() {
                Some(c) => format!(
                    "build one command: scratchpack {}/{}, or all of them in one image: \
                     scratchpack {}/cmd/...",
                    dir.display(),
                    c.trim_start_matches("./"),
                    dir.display()
                ),
                None => "pass the directory of the main package".into(),
            },
            SourceError::SeveralMains { files, .. } => format!(
                "build one program: name its files, or leave the others out with --exclude \
                 (e.g. --exclude '{}')",
                files
                    .get(1)
                    .and_then(|f| f.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ),
            SourceError::TooBroad { .. } => "name the source files instead (a lone file is \
                shown with the headers it includes), or move the project into a directory of \
                its own"
                .into(),
        }]
    }
}

/// Resolves `inputs` (as typed, relative to `cwd`) into sources; `forced` is `--lang`.
/// `include_dirs` are `-I` directories, also shown to the compiler.
#[cfg(test)]
pub fn resolve(
    inputs: &[PathBuf],
    forced: Option<Language>,
    include_dirs: &[PathBuf],
    cwd: &Path,
    broad: &Broad,
) -> Result<Sources, SourceError> {
    resolve_excluding(inputs, forced, include_dirs, &[], cwd, broad)
}

/// [`resolve`], leaving out the files of named directories that match an `exclude`
/// glob (`*` within a name, `**` across directories; matched against the path below the
/// directory, and against the file name).
pub fn resolve_excluding(
    inputs: &[PathBuf],
    forced: Option<Language>,
    include_dirs: &[PathBuf],
    exclude: &[String],
    cwd: &Path,
    broad: &Broad,
) -> Result<Sources, SourceError> {
    let whole = |dir: &Path| match broad.why(dir) {
        Some(why) => Err(SourceError::TooBroad {
            path: dir.to_path_buf(),
            why,
        }),
        None => Ok(()),
    };
    let absolute = |p: &Path| normalize(&cwd.join(p));
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new(); // (as typed, absolute)
    let mut module: Option<(PathBuf, Vec<String>)> = None; // (module root, packages)
    let mut dirs: Vec<PathBuf> = Vec::new();
    for input in inputs {
        let abs = absolute(input);
        // `./cmd/...`: every main package below a directory of a module, as go says it.
        if forced != Some(Language::C) && input.file_name().is_some_and(|n| n == "...") {
            if inputs.len() > 1 {
                return Err(SourceError::GoModuleAlone(inputs.len()));
            }
            let (root, packages) = gopkg::commands_below(abs.parent().unwrap_or(&abs), input)?;
            whole(&root)?;
            module = Some((root, packages));
            continue;
        }
        let meta = std::fs::metadata(&abs).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SourceError::Missing(input.clone()),
            std::io::ErrorKind::PermissionDenied => SourceError::Unreadable {
                path: input.clone(),
                why: format!("{e}: a directory above it cannot be entered by you"),
            },
            _ => SourceError::Read {
                path: input.clone(),
                source: e,
            },
        })?;
        if let Some(why) = readable::why_unreadable(&abs) {
            return Err(SourceError::Unreadable {
                path: input.clone(),
                why,
            });
        }
        if meta.is_dir() {
            whole(&abs)?;
            let package = if forced == Some(Language::C) {
                None
            } else if abs.join("go.mod").is_file() {
                Some((abs.clone(), vec![gopkg::main_package(&abs)?]))
            } else {
                gopkg::package_in_module(&abs).map(|(root, p)| (root, vec![p]))
            };
            if let Some((root, package)) = package {
                if inputs.len() > 1 {
                    return Err(SourceError::GoModuleAlone(inputs.len()));
                }
                whole(&root)?;
                module = Some((root, package));
            } else {
                dirs.push(abs.clone());
                let lang = forced.unwrap_or(Language::C);
                let mut found = Vec::new();
                collect(&abs, lang, &mut found).map_err(|source| SourceError::Read {
                    path: input.clone(),
                    source,
                })?;
                found.retain(|f| {
                    let rel = f
                        .strip_prefix(&abs)
                        .unwrap_or(f)
                        .to_string_lossy()
                        .into_owned();
                    let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
                    !exclude.iter().any(|g| {
                        glob_match(g, &rel) || name.as_deref().is_some_and(|n| glob_match(g, n))
                    })
                });
                let mains: Vec<PathBuf> = found
                    .iter()
                    .filter(|f| lang != Language::Go && defines_main(f))
                    .map(|f| input.join(f.strip_prefix(&abs).unwrap_or(f)))
                    .collect();
                if mains.len() > 1 {
                    return Err(SourceError::SeveralMains {
                        dir: input.clone(),
                        files: mains,
                    });
                }
                if found.is_empty() {
                    return Err(SourceError::Empty {
                        dir: input.clone(),
                        lang: lang.to_string(),
                    });
                }
                for f in found {
                    let typed = input.join(f.strip_prefix(&abs).unwrap_or(&f));
                    if let Some(why) = readable::why_unreadable(&f) {
                        return Err(SourceError::Unreadable { path: typed, why });
                    }
                    files.push((typed, f));
                }
            }
        } else {
            files.push((input.clone(), abs));
        }
    }

    if let Some((dir, packages)) = module {
        let default_name = match packages[0].as_str() {
            "." => file_name(&dir),
            p => gopkg::binary_name(&dir, p),
        };
        return Ok(Sources {
            language: Language::Go,
            args: packages,
            cwd: dir.clone(),
            mounts: vec![Shown {
                path: dir.clone(),
                file: false,
            }],
            root: dir,
            default_name,
        });
    }

    let mut language = forced;
    for (typed, _) in &files {
        if forced.is_some() {
            break;
        }
        let Some(lang) = Language::of_extension(typed) else {
            // Headers named on the command line are shown, not compiled.
            if Language::is_header(typed) {
                continue;
            }
            return Err(SourceError::UnknownLanguage(typed.clone()));
        };
        match language {
            None => language = Some(lang),
            Some(l) => match l.join(lang) {
                Some(joined) => language = Some(joined),
                None => return Err(SourceError::Mixed(l, lang)),
            },
        }
    }
    let language = language.ok_or_else(|| SourceError::UnknownLanguage(inputs[0].clone()))?;
    let compiled: Vec<&(PathBuf, PathBuf)> = files
        .iter()
        .filter(|(t, _)| forced.is_some() || Language::of_extension(t).is_some())
        .collect();
    if language == Language::Go {
        let dir = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
        let first = dir(&compiled[0].1);
        if let Some((_, other)) = compiled.iter().find(|(_, abs)| dir(abs) != first) {
            return Err(SourceError::GoDirs(compiled[0].0.clone(), other.clone()));
        }
    }

    for dir in include_dirs {
        if !absolute(dir).is_dir() {
            return Err(SourceError::IncludeMissing(dir.clone()));
        }
        whole(&absolute(dir))?;
    }
    // Directories named, the projects of the files named, or the lone files themselves
    // with the headers they include.
    let mut wanted: BTreeSet<Shown> = dirs
        .iter()
        .cloned()
        .chain(include_dirs.iter().map(|d| absolute(d)))
        .map(|path| Shown { path, file: false })
        .collect();
    let mut lone = Vec::new();
    // Files found in a named directory are shown by it; only files named one by one are
    // shown through their project (never wider than what the user named).
    for (_, abs) in files
        .iter()
        .filter(|(_, abs)| !dirs.iter().any(|d| abs.starts_with(d)))
    {
        match shown::project_of(abs, broad) {
            Some(path) => {
                wanted.insert(Shown { path, file: false });
            }
            None => lone.push(abs.clone()),
        }
    }
    let headers = if language != Language::Go {
        shown::headers_of(&lone)
    } else {
        Vec::new()
    };
    wanted.extend(
        lone.into_iter()
            .chain(headers)
            .map(|path| Shown { path, file: true }),
    );
    let mounts = outermost(wanted);
    let parents: Vec<PathBuf> = mounts
        .iter()
        .filter_map(|m| {
            if m.file {
                m.path.parent().map(Path::to_path_buf)
            } else {
                Some(m.path.clone())
            }
        })
        .collect();
    let root = common_ancestor(&parents);
    let default_name = match inputs {
        [single] if absolute(single).is_dir() => file_name(&absolute(single)),
        _ => compiled[0]
            .0
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    Ok(Sources {
        language,
        args: compiled.iter().map(|(t, _)| as_argument(t)).collect(),
        cwd: cwd.to_path_buf(),
        mounts,
        root,
        default_name,
    })
}

/// A project directory built by its own build system: copied whole for the build, so it
/// must not be a home or a system directory.
pub fn project(dir: &Path, default_name: String, broad: &Broad) -> Result<Sources, SourceError> {
    if let Some(why) = broad.why(dir) {
        return Err(SourceError::TooBroad {
            path: dir.to_path_buf(),
            why,
        });
    }
    Ok(Sources {
        language: Language::C,
        args: Vec::new(),
        cwd: dir.to_path_buf(),
        mounts: Vec::new(),
        root: dir.to_path_buf(),
        default_name,
    })
}

/// The first `max` bytes of a file, as text (lossy): the one way sources and build
/// files are read for a look at their top.
pub(crate) fn read_head(path: &Path, max: u64) -> Option<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(max)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether a C or C++ file defines `main` (a line starting `int main(`, `main(`, ...).
fn defines_main(path: &Path) -> bool {
    let Some(text) = read_head(path, 4 << 20) else {
        return false;
    };
    text.lines().any(|line| {
        let l = line.trim_start();
        let l = l
            .strip_prefix("int ")
            .or_else(|| l.strip_prefix("void "))
            .or_else(|| l.strip_prefix("signed int "))
            .unwrap_or(l)
            .trim_start();
        l.strip_prefix("main")
            .is_some_and(|rest| rest.trim_start().starts_with('('))
    })
}

/// Shell-like glob: `*` any run of characters but `/`, `**` any run, `?` one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => {
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [b'?', rest @ ..] => t.first().is_some_and(|&c| c != b'/') && go(rest, &t[1..]),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(pattern.as_bytes(), text.as_bytes())
}

/// Every file of `lang` below `dir`, sorted, skipping hidden directories.
fn collect(dir: &Path, lang: Language, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if entry.file_type()?.is_dir() {
            if !hidden {
                collect(&path, lang, out)?;
            }
        } else if Language::of_extension(&path).is_some_and(|l| l.join(lang).is_some()) {
            out.push(path);
        }
    }
    Ok(())
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into())
}

/// `..` and `.` resolved lexically (the sandbox shows paths as the user named them).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// A path as the compiler is given it: never one it could take for a flag.
fn as_argument(typed: &Path) -> String {
    let text = typed.to_string_lossy();
    if text.starts_with('-') {
        format!("./{text}")
    } else {
        text.into_owned()
    }
}

/// Keeps only what no directory of the set already shows.
fn outermost(shown: BTreeSet<Shown>) -> Vec<Shown> {
    let mut kept: Vec<Shown> = Vec::new();
    for s in shown {
        if !kept.iter().any(|k| !k.file && s.path.starts_with(&k.path))
            && !kept.iter().any(|k| k.path == s.path)
        {
            kept.push(s);
        }
    }
    kept
}

fn common_ancestor(dirs: &[PathBuf]) -> PathBuf {
    let mut iter = dirs.iter();
    let Some(first) = iter.next() else {
        return PathBuf::from("/");
    };
    let mut common = first.clone();
    for d in iter {
        while !d.starts_with(&common) {
            common.pop();
        }
    }
    common
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hint;

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("proj/src/.hidden")).unwrap();
        std::fs::write(p.join("proj/src/main.c"), "").unwrap();
        std::fs::write(p.join("proj/src/util.c"), "").unwrap();
        std::fs::write(p.join("proj/src/util.h"), "").unwrap();
        std::fs::write(p.join("proj/src/.hidden/x.c"), "").unwrap();
        std::fs::create_dir_all(p.join("gomod/internal")).unwrap();
        std::fs::write(p.join("gomod/go.mod"), "module x\n").unwrap();
        std::fs::write(p.join("hello.go"), "").unwrap();
        std::fs::write(p.join("notes.txt"), "").unwrap();
        dir
    }

    #[test]
    fn c_directory_and_files() {
        let t = tree();
        let s = resolve(
            &[PathBuf::from("proj")],
            None,
            &[],
            t.path(),
            &Broad::default(),
        )
        .unwrap();
        assert_eq!(s.language, Language::C);
        assert_eq!(s.args, ["proj/src/main.c", "proj/src/util.c"]);
        assert_eq!(
            s.mounts,
            [Shown {
                path: t.path().join("proj"),
                file: false
            }]
        );
        assert_eq!(s.default_name, "proj");
        assert_eq!(s.cwd, t.path());

        let s = resolve(
            &[
                PathBuf::from("proj/src/main.c"),
                PathBuf::from("proj/src/util.h"),
            ],
            None,
            &[PathBuf::from("proj/src/../src")],
            t.path(),
            &Broad::default(),
        )
        .unwrap();
        assert_eq!(s.args, ["proj/src/main.c"]);
        assert_eq!(
            s.mounts,
            [Shown {
                path: t.path().join("proj/src"),
                file: false
            }]
        );
        assert_eq!(s.default_name, "main");
        assert_eq!(s.root, t.path().join("proj/src"));
    }

    #[test]
    fn go_module_and_files() {
        let t = tree();
        let s = resolve(
            &[PathBuf::from("gomod")],
            None,
            &[],
            t.path(),
            &Broad::default(),
        )
        .unwrap();
        assert_eq!(
            (s.language, s.args.clone(), s.cwd.clone()),
            (Language::Go, vec![".".to_string()], t.path().join("gomod"))
        );
        assert_eq!(s.default_name, "gomod");
        let s = resolve(
            &[PathBuf::from("hello.go")],
            None,
            &[],
            t.path(),
            &Broad::default(),
        )
        .unwrap();
        assert_eq!(
            (s.language, s.default_name.as_str()),
            (Language::Go, "hello")
        );
    }

    #[test]
    fn globs() {
        for (p, t, want) in [
            ("*.c", "main.c", true),
            ("*.c", "src/main.c", false),
            ("**/*.c", "src/a/main.c", true),
            ("**/*.c", "main.c", true),
            ("tests/**", "tests/a/b.c", true),
            ("test_?.c", "test_1.c", true),
            ("test_?.c", "test_12.c", false),
            ("examples/*", "examples/x/y.c", false),
        ] {
            assert_eq!(glob_match(p, t), want, "{p} {t}");
        }
    }

    #[test]
    fn several_mains_are_refused_unless_excluded() {
        let t = tree();
        let d = t.path().join("progs");
        std::fs::create_dir_all(d.join("tools")).unwrap();
        std::fs::write(
            d.join("app.c"),
            "#include <stdio.h>\nint main(void) { return 0; }\n",
        )
        .unwrap();
        std::fs::write(d.join("util.c"), "int mainly(void) { return 1; }\n").unwrap();
        std::fs::write(
            d.join("tools/gen.c"),
            "int\nmain (int argc, char **argv)\n{}\n",
        )
        .unwrap();
        let r = |exclude: &[&str]| {
            let exclude: Vec<String> = exclude.iter().map(|s| s.to_string()).collect();
            resolve_excluding(
                &[PathBuf::from("progs")],
                None,
                &[],
                &exclude,
                t.path(),
                &Broad::default(),
            )
        };
        let err = r(&[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("`progs/app.c`, `progs/tools/gen.c`"),
            "{err}"
        );
        assert!(
            err.hints().join(" ").contains("--exclude"),
            "{}",
            err.hints().join(" ")
        );
        let s = r(&["tools/**"]).unwrap();
        assert_eq!(s.args, ["progs/app.c", "progs/util.c"]);
    }

    #[test]
    fn cpp_with_c_and_assembly_is_cpp() {
        let t = tree();
        let d = t.path().join("mixed");
        std::fs::create_dir(&d).unwrap();
        for f in ["main.cpp", "sum.c", "add.S", "util.hpp", "notes.txt"] {
            std::fs::write(d.join(f), "").unwrap();
        }
        let r = |inputs: &[&str]| {
            resolve(
                &inputs.iter().map(PathBuf::from).collect::<Vec<_>>(),
                None,
                &[],
                t.path(),
                &Broad::default(),
            )
        };
        let s = r(&["mixed"]).unwrap();
        assert_eq!(s.language, Language::Cpp);
        assert_eq!(s.args, ["mixed/add.S", "mixed/main.cpp", "mixed/sum.c"]);
        let s = r(&["mixed/sum.c", "mixed/add.S"]).unwrap();
        assert_eq!(s.language, Language::C);
        let s = r(&["mixed/main.cpp", "mixed/util.hpp"]).unwrap();
        assert_eq!((s.language, s.args.len()), (Language::Cpp, 1));
        assert!(matches!(
            r(&["mixed/main.cpp", "hello.go"]),
            Err(SourceError::Mixed(..))
        ));
    }

    #[test]
    fn go_commands_inside_a_module() {
        let t = tree();
        let m = t.path().join("tool");
        std::fs::create_dir_all(m.join("cmd/age")).unwrap();
        std::fs::write(m.join("go.mod"), "module example.com/tool\n").unwrap();
        std::fs::write(m.join("cmd/age/main.go"), "package main\n").unwrap();
        let r = |input: &str| {
            resolve(
                &[PathBuf::from(input)],
                None,
                &[],
                t.path(),
                &Broad::default(),
            )
        };
        // The command's directory: built from the module's root.
        let s = r("tool/cmd/age").unwrap();
        assert_eq!(
            (s.args.clone(), s.cwd.clone()),
            (vec!["./cmd/age".to_string()], m.clone())
        );
        assert_eq!(s.default_name, "age");
        assert_eq!(s.mounts[0].path, m);
        // The module's root without Go files: its only command.
        let s = r("tool").unwrap();
        assert_eq!(
            (s.args[0].as_str(), s.default_name.as_str()),
            ("./cmd/age", "age")
        );
        // Two commands: the error lists them.
        std::fs::create_dir_all(m.join("cmd/age-keygen")).unwrap();
        std::fs::write(m.join("cmd/age-keygen/main.go"), "package main\n").unwrap();
        let err = r("tool").unwrap_err();
        assert!(
            err.to_string().contains("./cmd/age, ./cmd/age-keygen"),
            "{err}"
        );
        assert!(
            err.hints().join(" ").contains("tool/cmd/age"),
            "{}",
            err.hints().join(" ")
        );
    }

    #[test]
    fn errors() {
        let t = tree();
        let r = |inputs: &[&str]| {
            resolve(
                &inputs.iter().map(PathBuf::from).collect::<Vec<_>>(),
                None,
                &[],
                t.path(),
                &Broad::default(),
            )
        };
        assert!(matches!(r(&["missing.c"]), Err(SourceError::Missing(_))));
        assert!(matches!(
            r(&["notes.txt"]),
            Err(SourceError::UnknownLanguage(_))
        ));
        assert!(matches!(
            r(&["hello.go", "proj/src/main.c"]),
            Err(SourceError::Mixed(..))
        ));
        assert!(matches!(
            r(&["gomod", "hello.go"]),
            Err(SourceError::GoModuleAlone(2))
        ));
        std::fs::create_dir(t.path().join("empty")).unwrap();
        assert!(matches!(r(&["empty"]), Err(SourceError::Empty { .. })));
        assert!(
            resolve(
                &[PathBuf::from("notes.txt")],
                Some(Language::C),
                &[],
                t.path(),
                &Broad::default()
            )
            .is_ok()
        );
    }
}

#[cfg(test)]
mod narrowing {
    use super::*;

    #[test]
    fn lone_files_show_themselves_and_broad_directories_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let home = t.path().join("home/u");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::write(home.join(".ssh/id_rsa"), "secret").unwrap();
        std::fs::write(home.join("hello.c"), "#include \"hello.h\"\n").unwrap();
        std::fs::write(home.join("hello.h"), "").unwrap();
        std::fs::write(home.join("-dash.c"), "").unwrap();
        let broad = Broad::with_homes(&[home.to_str().unwrap()]);
        let s = resolve(&[PathBuf::from("hello.c")], None, &[], &home, &broad).unwrap();
        let file = |p: &str| Shown {
            path: home.join(p),
            file: true,
        };
        assert_eq!(s.mounts, [file("hello.c"), file("hello.h")]);
        let err = resolve(&[PathBuf::from(".")], None, &[], &home, &broad).unwrap_err();
        assert!(matches!(err, SourceError::TooBroad { .. }), "{err}");
        let err = resolve(
            &[PathBuf::from("hello.c")],
            None,
            std::slice::from_ref(&home),
            &home,
            &broad,
        )
        .unwrap_err();
        assert!(matches!(err, SourceError::TooBroad { .. }), "{err}");
        let s = resolve(&[PathBuf::from("-dash.c")], None, &[], &home, &broad).unwrap();
        assert_eq!(s.args, ["./-dash.c"]);
    }

    #[test]
    fn a_named_directory_is_not_widened_to_its_project() {
        let t = tempfile::tempdir().unwrap();
        let repo = t.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("tool")).unwrap();
        std::fs::write(repo.join("tool/main.c"), "").unwrap();
        let dir = |p: PathBuf| Shown {
            path: p,
            file: false,
        };
        let broad = Broad::with_homes(&[]);
        let s = resolve(&[PathBuf::from("repo/tool")], None, &[], t.path(), &broad).unwrap();
        assert_eq!(s.mounts, [dir(repo.join("tool"))]);
        // A file named alone is shown with its project.
        let s = resolve(
            &[PathBuf::from("repo/tool/main.c")],
            None,
            &[],
            t.path(),
            &broad,
        )
        .unwrap();
        assert_eq!(s.mounts, [dir(repo)]);
    }
}
