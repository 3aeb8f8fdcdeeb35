//! Toolchains as data: `toolchains/*.toml` (embedded in the binary) or a file given with
//! `--toolchain FILE.toml`, loaded strictly (unknown keys, missing fields, unknown
//! placeholders and malformed checksums are errors naming the file and the key), and
//! the host tool each one mounts, found by [`find`]. Expanding a toolchain's templates
//! into a command line is [`template`]'s job.

pub mod fetch;
pub mod find;
pub mod index;
mod memo;
pub(crate) mod resolve;
pub(crate) mod template;
pub mod unzip;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::source::Language;

/// The toolchain files built into scratchpack, in `auto` order.
const BUILTIN: &[(&str, &str)] = &[
    (
        "toolchains/alpine.toml",
        include_str!("../../toolchains/alpine.toml"),
    ),
    (
        "toolchains/zig.toml",
        include_str!("../../toolchains/zig.toml"),
    ),
    (
        "toolchains/go.toml",
        include_str!("../../toolchains/go.toml"),
    ),
];

/// The root filesystems toolchains can name.
const ROOTFS: &[(&str, &str)] = &[(
    "toolchains/rootfs/alpine-3.20.toml",
    include_str!("../../toolchains/rootfs/alpine-3.20.toml"),
)];

/// A toolchain file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolchainFile {
    name: String,
    description: String,
    /// A built-in rootfs name (`alpine-3.20`), or a rootfs file relative to this file.
    rootfs: String,
    #[serde(default)]
    caches: Vec<String>,
    #[serde(default)]
    host: Option<Host>,
    #[serde(default)]
    fetch: Option<FetchSpec>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    pass_env: Vec<String>,
    compile: BTreeMap<Language, Compile>,
    #[serde(default)]
    project: Option<ProjectTools>,
    #[serde(default)]
    cgo: Option<Cgo>,
    #[serde(default)]
    cross: bool,
}

/// A loaded, validated toolchain.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub name: String,
    pub description: String,
    pub rootfs: RootfsSpec,
    /// Writable cache directories, mounted at `/scratchpack/cache/NAME`.
    pub caches: Vec<String>,
    /// The host tool mounted into the sandbox; none for toolchains installed in the rootfs.
    pub host: Option<Host>,
    /// A pinned release scratchpack fetches when the host has no tool (or always, when
    /// `use_host = false`).
    pub fetch: Option<FetchSpec>,
    /// The environment of the compiler: nothing else of the host's gets through.
    pub env: BTreeMap<String, String>,
    /// Host variables passed through unchanged when set.
    pub pass_env: Vec<String>,
    pub compile: BTreeMap<Language, Compile>,
    /// The compiler as a project's own build system sees it; none: the toolchain
    /// cannot build projects.
    pub project: Option<ProjectTools>,
    /// How Go code that imports "C" is built; none: it is refused.
    pub cgo: Option<Cgo>,
    /// It builds for any platform (`{target}`, `{goarch}` say which); otherwise only for
    /// the machine's own (its compiler is the rootfs's, built for this machine).
    pub cross: bool,
    /// Where the file came from, for messages.
    pub source: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub finder: Finder,
    /// Absolute path of the toolchain's folder in the sandbox.
    pub mount: String,
}

/// A pinned release of a toolchain's tool, fetched into the cache by [`fetch`].
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FetchSpec {
    pub version: String,
    /// `pip`: a Python package's wheel, through `python3 -m pip download` (so pip's own
    /// index configuration applies); `archive`: a `.tar.gz` from a mirror.
    pub kind: FetchKind,
    /// `pip`: the package name (`ziglang`).
    #[serde(default)]
    pub package: Option<String>,
    /// `archive`: the mirror used unless `--toolchain-mirror` names another.
    #[serde(default)]
    pub default_mirror: Option<String>,
    /// `archive`: the file, relative to the mirror; `{version}`, `{arch}`, `{goarch}`.
    #[serde(default)]
    pub path: Option<String>,
    /// The folder of the unpacked release that is mounted (`ziglang`, `go`).
    pub root: String,
    /// The executable, relative to `root` (`zig`, `bin/go`).
    pub program: String,
    /// Whether a tool found on the host is used first (default); `false` pins the
    /// version: only this release is used.
    #[serde(default = "yes")]
    pub use_host: bool,
    /// Host architecture (`x86_64`, `aarch64`) to the sha256 of the wheel or archive.
    pub sha256: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FetchKind {
    Pip,
    Archive,
}

/// How the host tool is found (code in [`find`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Finder {
    /// `zig` on PATH.
    Zig,
    /// `$GOROOT`, else `go env GOROOT` of the `go` on PATH.
    Go,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compile {
    /// The command line; `{placeholders}` are listed in `template`.
    pub command: Vec<String>,
    /// Default flags (`{flags}`), before the user's `--cflags`.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Flags that strip the binary (`{strip}`).
    #[serde(default)]
    pub strip: Vec<String>,
    /// What `{strip}` becomes with `--no-strip` (zig strips at -Os unless asked not to).
    #[serde(default)]
    pub keep_symbols: Vec<String>,
    /// Alpine packages installed into the rootfs before compiling (with `apk`).
    #[serde(default)]
    pub packages: Vec<String>,
    /// Flags added to `{flags}` when packages are installed, to find their headers and
    /// static libraries (zig does not search the rootfs's /usr by itself).
    #[serde(default)]
    pub package_flags: Vec<String>,
}

/// The tools of a project build (configure, make, CMake, meson). Each command becomes a
/// script on the build's PATH (`cc`, `gcc`, `c++`, `g++`, `ar`, `ranlib`, `ld`) and the
/// matching variable (`CC`, `CXX`, `AR`, `RANLIB`, `LD`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectTools {
    /// Alpine packages installed besides the build system's.
    #[serde(default)]
    pub packages: Vec<String>,
    pub cc: Vec<String>,
    pub cxx: Vec<String>,
    pub ar: Vec<String>,
    pub ranlib: Vec<String>,
    #[serde(default)]
    pub ld: Vec<String>,
    /// The GNU triple given to `configure --host`.
    pub host: String,
    /// `CFLAGS` and `CXXFLAGS` before `--cflags`.
    #[serde(default)]
    pub cflags: Vec<String>,
    /// `LDFLAGS` before `--ldflags`.
    #[serde(default)]
    pub ldflags: Vec<String>,
    /// Added to `LDFLAGS` unless `--no-strip`.
    #[serde(default)]
    pub strip: Vec<String>,
    /// Set over the toolchain's environment in project builds.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// cgo: the C compiler of another toolchain (its `[project]` cc, c++ and ar) mounted
/// beside this one, `CGO_ENABLED=1`, and the Go linker flags that make the result static.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cgo {
    /// The toolchain whose C compiler cgo uses (a built-in name).
    pub toolchain: String,
    /// Added to `-ldflags`.
    #[serde(default)]
    pub ldflags: Vec<String>,
}

/// A root filesystem pinned by version, architecture and checksum.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RootfsSpec {
    pub name: String,
    pub version: String,
    pub default_mirror: String,
    /// Relative to the mirror; `{arch}` is the Alpine architecture.
    pub path: String,
    /// Package repositories; `{mirror}` is the mirror in use.
    #[serde(default)]
    pub repositories: Vec<String>,
    /// Alpine architecture to the sha256 of its tarball.
    pub sha256: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: key `{key}`: {reason}")]
    Invalid {
        file: String,
        key: String,
        reason: String,
    },
    #[error("cannot read toolchain file `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown toolchain `{name}` (known: {known})")]
    Unknown { name: String, known: String },
    #[error("toolchain `{toolchain}` cannot build {language}")]
    Language {
        toolchain: String,
        language: Language,
    },
}

impl crate::error::Hint for ToolchainError {
    fn hints(&self) -> Vec<String> {
        vec![match self {
            ToolchainError::Unknown { .. } => {
                "`scratchpack toolchains` lists them; or pass a file: --toolchain ./my.toml".into()
            }
            ToolchainError::Language { .. } => {
                "pick another with --toolchain, or leave it to `auto`".into()
            }
            _ => "see toolchains/README.md for the format".into(),
        }]
    }
}

fn invalid(file: &str, key: &str, reason: impl Into<String>) -> ToolchainError {
    ToolchainError::Invalid {
        file: file.to_string(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

/// Every built-in toolchain, in `auto` order.
pub fn builtin() -> Result<Vec<Toolchain>, ToolchainError> {
    BUILTIN
        .iter()
        .map(|(file, text)| parse(file, text, None))
        .collect()
}

/// A toolchain by built-in name, or from a `.toml` file.
pub fn by_name_or_file(choice: &str) -> Result<Toolchain, ToolchainError> {
    if choice.ends_with(".toml") || choice.contains('/') {
        let path = Path::new(choice);
        let text = std::fs::read_to_string(path).map_err(|source| ToolchainError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        return parse(choice, &text, path.parent());
    }
    let all = builtin()?;
    let known = all
        .iter()
        .map(|t| t.name.clone())
        .collect::<Vec<_>>()
        .join(", ");
    all.into_iter()
        .find(|t| t.name == choice)
        .ok_or_else(|| ToolchainError::Unknown {
            name: choice.to_string(),
            known: format!("{known}, auto"),
        })
}

/// Parses and validates a toolchain file. `dir` resolves a rootfs given as a file.
pub fn parse(file: &str, text: &str, dir: Option<&Path>) -> Result<Toolchain, ToolchainError> {
    let raw: ToolchainFile = toml::from_str(text).map_err(|e| ToolchainError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    validate(file, &raw)?;
    Ok(Toolchain {
        rootfs: resolve_rootfs(file, &raw.rootfs, dir)?,
        name: raw.name,
        description: raw.description,
        caches: raw.caches,
        host: raw.host,
        fetch: raw.fetch,
        env: raw.env,
        pass_env: raw.pass_env,
        compile: raw.compile,
        project: raw.project,
        cgo: raw.cgo,
        cross: raw.cross,
        source: file.to_string(),
    })
}

fn resolve_rootfs(
    file: &str,
    rootfs: &str,
    dir: Option<&Path>,
) -> Result<RootfsSpec, ToolchainError> {
    if rootfs.ends_with(".toml") {
        let path = dir.unwrap_or(Path::new(".")).join(rootfs);
        let text = std::fs::read_to_string(&path).map_err(|source| ToolchainError::Read {
            path: path.clone(),
            source,
        })?;
        return parse_rootfs(&path.display().to_string(), &text);
    }
    for (rfile, text) in ROOTFS {
        let spec = parse_rootfs(rfile, text)?;
        if spec.name == rootfs {
            return Ok(spec);
        }
    }
    Err(invalid(
        file,
        "rootfs",
        format!("no root filesystem called `{rootfs}`"),
    ))
}

/// Parses and validates a rootfs file.
pub fn parse_rootfs(file: &str, text: &str) -> Result<RootfsSpec, ToolchainError> {
    let spec: RootfsSpec = toml::from_str(text).map_err(|e| ToolchainError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    if spec.sha256.is_empty() {
        return Err(invalid(file, "sha256", "no architecture is pinned"));
    }
    check_pins(file, "sha256", &spec.sha256)?;
    if !spec.path.contains("{arch}") {
        return Err(invalid(file, "path", "must contain {arch}"));
    }
    Ok(spec)
}

/// Every pin is a sha256 in lowercase hex.
fn check_pins(
    file: &str,
    key: &str,
    pins: &BTreeMap<String, String>,
) -> Result<(), ToolchainError> {
    for (arch, digest) in pins {
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(invalid(
                file,
                &format!("{key}.{arch}"),
                "not a sha256 (64 lowercase hex digits)",
            ));
        }
    }
    Ok(())
}

/// A path below the unpacked release: relative, no `..`, not empty.
fn plain_relative(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('/')
        && value
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

fn validate_fetch(file: &str, t: &ToolchainFile) -> Result<(), ToolchainError> {
    let Some(f) = &t.fetch else { return Ok(()) };
    if t.host.is_none() {
        return Err(invalid(
            file,
            "fetch",
            "needs a [host] table (where the fetched tool is mounted)",
        ));
    }
    if f.sha256.is_empty() {
        return Err(invalid(file, "fetch.sha256", "no architecture is pinned"));
    }
    check_pins(file, "fetch.sha256", &f.sha256)?;
    let simple = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
    };
    if !simple(&f.version) {
        return Err(invalid(file, "fetch.version", "not a plain version"));
    }
    for (key, value) in [("fetch.root", &f.root), ("fetch.program", &f.program)] {
        if !plain_relative(value) {
            return Err(invalid(file, key, "must be a relative path without `..`"));
        }
    }
    match f.kind {
        FetchKind::Pip => {
            if !f.package.as_deref().is_some_and(simple) {
                return Err(invalid(
                    file,
                    "fetch.package",
                    "a pip fetch names its package",
                ));
            }
        }
        FetchKind::Archive => {
            let path = f.path.as_deref().unwrap_or_default();
            if !plain_relative(path) || !path.ends_with(".tar.gz") {
                return Err(invalid(
                    file,
                    "fetch.path",
                    "an archive fetch names a relative `.tar.gz` path",
                ));
            }
            if f.default_mirror.is_none() {
                return Err(invalid(
                    file,
                    "fetch.default_mirror",
                    "an archive fetch names its mirror",
                ));
            }
        }
    }
    Ok(())
}

fn validate(file: &str, t: &ToolchainFile) -> Result<(), ToolchainError> {
    validate_fetch(file, t)?;
    if let Some(host) = &t.host {
        if !host.mount.starts_with('/') || host.mount == "/" {
            return Err(invalid(
                file,
                "host.mount",
                "must be an absolute path below /",
            ));
        }
    }
    for cache in &t.caches {
        if cache.is_empty()
            || !cache
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid(
                file,
                "caches",
                format!("`{cache}` is not a simple name"),
            ));
        }
    }
    if t.compile.is_empty() {
        return Err(invalid(file, "compile", "no language is configured"));
    }
    let known =
        |name: &str| template::is_known(name, &t.caches) && (name != "tool" || t.host.is_some());
    for (key, value) in &t.env {
        if key.is_empty() || key.contains('=') {
            return Err(invalid(file, &format!("env.{key}"), "not a variable name"));
        }
        template::check(value, known).map_err(|r| invalid(file, &format!("env.{key}"), r))?;
    }
    for (lang, c) in &t.compile {
        let key = |k: &str| format!("compile.{}.{k}", lang.as_str());
        if c.command.is_empty() {
            return Err(invalid(file, &key("command"), "is empty"));
        }
        for (k, list) in [
            ("command", &c.command),
            ("flags", &c.flags),
            ("strip", &c.strip),
            ("keep_symbols", &c.keep_symbols),
            ("package_flags", &c.package_flags),
        ] {
            for arg in list.iter() {
                template::check(arg, known).map_err(|r| invalid(file, &key(k), r))?;
            }
        }
        if !c.command.iter().any(|a| a.contains("{output}")) {
            return Err(invalid(file, &key("command"), "must contain {output}"));
        }
    }
    if let Some(p) = &t.project {
        let project_known = |name: &str| {
            matches!(
                name,
                "tool" | "arch" | "target" | "target_flags" | "goarch" | "goarm" | "sysroot"
            ) && (name != "tool" || t.host.is_some())
        };
        for (k, list) in [
            ("cc", &p.cc),
            ("cxx", &p.cxx),
            ("ar", &p.ar),
            ("ranlib", &p.ranlib),
            ("ld", &p.ld),
            ("cflags", &p.cflags),
            ("ldflags", &p.ldflags),
            ("strip", &p.strip),
        ] {
            let key = format!("project.{k}");
            if list.is_empty() && !matches!(k, "ld" | "cflags" | "ldflags" | "strip") {
                return Err(invalid(file, &key, "is empty"));
            }
            for arg in list {
                template::check(arg, project_known).map_err(|r| invalid(file, &key, r))?;
            }
        }
        template::check(&p.host, project_known).map_err(|r| invalid(file, "project.host", r))?;
        for (key, value) in &p.env {
            if key.is_empty() || key.contains('=') {
                return Err(invalid(
                    file,
                    &format!("project.env.{key}"),
                    "not a variable name",
                ));
            }
            template::check(value, project_known)
                .map_err(|r| invalid(file, &format!("project.env.{key}"), r))?;
        }
    }
    Ok(())
}

impl Toolchain {
    pub fn languages(&self) -> Vec<Language> {
        self.compile.keys().copied().collect()
    }

    pub fn compile_for(&self, language: Language) -> Result<&Compile, ToolchainError> {
        self.compile
            .get(&language)
            .ok_or_else(|| ToolchainError::Language {
                toolchain: self.name.clone(),
                language,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_load() {
        let all = builtin().unwrap();
        let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["alpine", "zig", "go"]);
        assert_eq!(all[0].rootfs.version, "3.20.3");
        assert_eq!(
            all[0].compile_for(Language::C).unwrap().packages,
            ["build-base"]
        );
        assert_eq!(all[0].compile_for(Language::Go).unwrap().packages, ["go"]);
        assert!(all[0].host.is_none() && all[1].host.is_some());
        assert!(
            all[0].rootfs.sha256.contains_key("x86_64")
                && all[0].rootfs.sha256.contains_key("aarch64")
        );
        assert_eq!(all[2].languages(), [Language::Go]);
    }

    fn zig_with(edit: impl Fn(String) -> String) -> Result<Toolchain, ToolchainError> {
        parse("test.toml", &edit(BUILTIN[1].1.to_string()), None)
    }

    #[test]
    fn errors_name_file_and_key() {
        let err = zig_with(|s| s.replace("[host]", "colour = \"red\"\n[host]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.toml") && err.contains("colour"), "{err}");
        let err = zig_with(|s| s.replace("finder = \"zig\"\n", ""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("finder"), "{err}");
        let err = zig_with(|s| s.replace("\"-o\", \"{output}\"", "\"-o\", \"{outptu}\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("compile.c.command") && err.contains("outptu"),
            "{err}"
        );
        let err = zig_with(|s| s.replace("{cache.zig}", "{cache.nope}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("env.ZIG_GLOBAL_CACHE_DIR"), "{err}");
        let err = zig_with(|s| s.replace("rootfs = \"alpine-3.20\"", "rootfs = \"debian\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("key `rootfs`"), "{err}");
        let err = zig_with(|s| s.replace("finder = \"zig\"", "finder = \"cargo\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cargo"), "{err}");
    }

    #[test]
    fn rootfs_checksums_are_checked() {
        let good = ROOTFS[0].1;
        assert!(parse_rootfs("r.toml", good).is_ok());
        let bad = good.replace("d4e6fd67", "D4E6FD67");
        let err = parse_rootfs("r.toml", &bad).unwrap_err().to_string();
        assert!(
            err.contains("r.toml") && err.contains("sha256.x86_64"),
            "{err}"
        );
        let short = good.replace(
            "d4e6fd67dcf75e40c451560ac7265166c2b72a0f38ddc9aae756a7de3d1efa0c",
            "d4e6",
        );
        assert!(parse_rootfs("r.toml", &short).is_err());
    }

    #[test]
    fn unknown_names() {
        let err = by_name_or_file("clang").unwrap_err().to_string();
        assert!(err.contains("alpine, zig, go, auto"), "{err}");
        // {tool} means nothing without a host tool.
        let alpine = BUILTIN[0].1.replace("\"/usr/bin/gcc\"", "\"{tool}/gcc\"");
        let err = parse("a.toml", &alpine, None).unwrap_err().to_string();
        assert!(err.contains("{tool}"), "{err}");
    }
}
