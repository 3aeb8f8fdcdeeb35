//! Helpers shared by the integration tests: running the real `scratchpack` binary,
//! temporary directories, binaries compiled at test time with real compilers, and the
//! real image clients (podman, docker, skopeo, umoci).
//!
//! A test that needs a tool calls [`tool`]: on a developer machine without it the test
//! is skipped with a message on stderr; in CI (`SCRATCHPACK_CI=1`, set by `.ci/run`) a
//! missing tool fails the test, so nothing is skipped silently where it matters.

#![allow(dead_code)]

pub mod apk;
pub mod binaries;
pub mod clients;
pub mod hostile;
pub mod http;
pub mod oci;
pub mod projects;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use tempfile::TempDir;

/// The result of one command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "unexpected exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs a command and captures everything.
pub fn run(cmd: &mut Command) -> Run {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    Run::from(output)
}

/// Runs a command that must succeed; returns its stdout.
pub fn check(cmd: &mut Command) -> String {
    let shown = format!("{cmd:?}");
    let r = run(cmd);
    assert_eq!(
        r.code, 0,
        "{shown} failed:\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

/// The `scratchpack` binary under test.
/// The build cache is off: tests of the build itself must build (`build_cache.rs` turns
/// it on).
pub fn scratchpack_cmd() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_scratchpack"));
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("NO_COLOR")
        .env("SCRATCHPACK_BUILD_CACHE", "off");
    cmd
}

pub fn scratchpack(args: &[&str]) -> Run {
    run(scratchpack_cmd().args(args))
}

pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("sp-test-")
        .tempdir()
        .expect("temporary directory")
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// Whether the suite runs in CI, where every tool must be present.
pub fn in_ci() -> bool {
    std::env::var_os("SCRATCHPACK_CI").is_some_and(|v| v == "1")
}

/// Finds a tool on PATH; in CI its absence fails the test, elsewhere it is reported.
/// zig is the one on PATH, else the pinned release scratchpack fetches (see [`zig`]).
pub fn tool(name: &str) -> Option<PathBuf> {
    if name == "zig" {
        return zig();
    }
    match which::which(name) {
        Ok(path) => Some(path),
        Err(_) if in_ci() => {
            panic!("`{name}` is required in CI (installed by .ci/run) but not found")
        }
        Err(_) => {
            eprintln!("SKIPPED: `{name}` is not installed (run .ci/run to install it)");
            None
        }
    }
}

/// zig for the tests: the one on PATH, else the release `toolchains/zig.toml` pins,
/// fetched by scratchpack's own code into the shared cache, where every build of the
/// suite then finds it. Fetched once per run (under scratchpack's lock).
pub fn zig() -> Option<PathBuf> {
    static ZIG: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    ZIG.get_or_init(|| {
        if let Ok(path) = which::which("zig") {
            return Some(path);
        }
        use scratchpack::toolchain::fetch::{FetchContext, Release};
        let toolchain = scratchpack::toolchain::by_name_or_file("zig").expect("zig.toml");
        let ctx = FetchContext {
            cache: scratchpack::cache::Cache::locate(Some(shared_cache()), None, None)
                .expect("cache"),
            offline: false,
            mirror: None,
            host: scratchpack::toolchain::find::HostEnv {
                path: std::env::var_os("PATH"),
                goroot: None,
                cwd: "/".into(),
            },
            pip_index: None,
            defer: false,
        };
        let fetched = Release::for_host(&toolchain)
            .expect("zig.toml has a [fetch] table")
            .and_then(|release| release.ensure(&ctx, &scratchpack::ui::Ui::plain()));
        match fetched {
            Ok(tool) => Some(tool.program),
            Err(e) if in_ci() => panic!("zig cannot be fetched in CI: {e:?}"),
            Err(e) => {
                eprintln!("SKIPPED: zig is not on PATH and cannot be fetched: {e}");
                None
            }
        }
    })
    .clone()
}

/// Skips the current test (returns) unless every tool is present.
#[macro_export]
macro_rules! require {
    ($($tool:expr),+) => {
        $( if $crate::support::tool($tool).is_none() { return; } )+
    };
}

/// Runs `scratchpack ARGS` as the unprivileged user `nobody`, from a copy of the binary
/// in `shared` (a directory `nobody` can enter); `None` unless running as root.
pub fn scratchpack_as_nobody(shared: &Path, args: &[&str]) -> Option<Run> {
    scratchpack_as_nobody_with(shared, &[], args)
}

/// The same, behind a command prefix such as `env VAR=value`.
pub fn scratchpack_as_nobody_with(shared: &Path, prefix: &[&str], args: &[&str]) -> Option<Run> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: needs root to run as another user");
        return None;
    }
    let runuser = tool("runuser")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(shared, std::fs::Permissions::from_mode(0o777))
        .expect("chmod shared dir");
    let exe = shared.join("scratchpack");
    if !exe.exists() {
        std::fs::copy(env!("CARGO_BIN_EXE_scratchpack"), &exe).expect("copy scratchpack");
    }
    let mut cmd = Command::new(runuser);
    cmd.args(["-u", "nobody", "--"])
        .args(prefix)
        .arg(&exe)
        .args(args);
    Some(run(&mut cmd))
}

/// Panics, showing `text`, unless it contains every one of `needles`.
pub fn assert_has(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "`{needle}` not found in:\n{text}");
    }
}

/// The Alpine mirror in `../shared`, as a `file://` URL.
pub fn shared_mirror() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/alpine");
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e} (is ../shared beside the project?)", dir.display()));
    format!("file://{}", dir.display())
}

/// The cache the build tests share: kept between runs under target/, so that zig's
/// one-minute libc build is paid once per checkout.
pub fn shared_cache() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("scratchpack-cache");
    std::fs::create_dir_all(&dir).expect("test cache");
    dir
}

/// A cache directory of its own in `dir`, sharing `shared` (subdirectories such as
/// `tools`: zig's and Go's warm caches; `toolchains`: fetched zig) with the suite's.
pub fn cache_sharing(dir: &Path, shared: &[&str]) -> PathBuf {
    let cache = dir.join("cache");
    std::fs::create_dir_all(&cache).expect("cache dir");
    for name in shared {
        let target = shared_cache().join(name);
        std::fs::create_dir_all(&target).expect("shared cache dir");
        std::os::unix::fs::symlink(target, cache.join(name)).expect("link shared cache");
    }
    cache
}

/// The parts of the shared cache every build may share: compilers' warm caches and the
/// fetched toolchains.
pub const COMPILERS: &[&str] = &["tools", "toolchains"];

/// `scratchpack` set up for builds: the shared cache and the local mirror.
pub fn build_cmd() -> Command {
    let mut cmd = scratchpack_cmd();
    cmd.env("SCRATCHPACK_CACHE_DIR", shared_cache())
        .env("SCRATCHPACK_ALPINE_MIRROR", shared_mirror());
    cmd
}

/// `scratchpack ARGS` as a build (see [`build_cmd`]).
pub fn build(args: &[&str]) -> Run {
    run(build_cmd().args(args))
}

/// The Alpine rootfs extracted in the shared cache (from the local mirror).
pub fn shared_rootfs() -> PathBuf {
    let cache = scratchpack::cache::Cache::locate(Some(shared_cache()), None, None).expect("cache");
    let toolchain = scratchpack::toolchain::by_name_or_file("zig").expect("built-in toolchain");
    let source = scratchpack::rootfs::RootfsSource::new(&toolchain.rootfs, Some(&shared_mirror()));
    scratchpack::rootfs::ensure(&source, &cache, false, &scratchpack::ui::Ui::plain())
        .expect("rootfs")
}

/// Runs `spec` through the real sandbox helper (`scratchpack __sandbox`).
pub fn run_in_sandbox(spec: &scratchpack::sandbox::Spec) -> Run {
    use std::os::unix::process::CommandExt;
    let input = serde_json::to_vec(spec).expect("spec JSON");
    // As scratchpack starts it: argv[0] says nothing of where the binary is.
    run_with_stdin(
        scratchpack_cmd().arg0("scratchpack").arg("__sandbox"),
        &input,
    )
}

/// A `--toolchain` file (on the real Alpine rootfs, no host tool) whose C compile runs
/// `script` under `sh -c`, with `$1` the output and `$2` the sources: how tests play a
/// hostile or misbehaving build.
pub fn script_toolchain(dir: &Path, script: &str) -> PathBuf {
    let file = dir.join("script-toolchain.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"script\"\ndescription = \"runs a shell script\"\n\
             rootfs = \"alpine-3.20\"\ncaches = []\n\n[env]\nPATH = \"/usr/bin:/bin:/usr/sbin:/sbin\"\n\n\
             [compile.c]\ncommand = [\"/bin/sh\", \"-c\", {script:?}, \"sh\", \"{{output}}\", \"{{sources}}\"]\n\
             flags = []\nstrip = []\nkeep_symbols = []\n"
        ),
    )
    .expect("write the toolchain file");
    file
}

/// Runs `cmd` with `input` on its stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Run {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    Run::from(child.wait_with_output().expect("wait"))
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("read file to hash");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Names of the entries of a directory (temp-file litter checks).
pub fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A Go module (`example.com/usesdep`) whose one dependency, `example.com/dep v1.0.0`,
/// is vendored: it builds without network; the program prints "hello from vendor".
pub fn go_vendored_module(dir: &Path) -> PathBuf {
    let m = dir.join("usesdep");
    std::fs::create_dir_all(m.join("vendor/example.com/dep")).unwrap();
    for (name, text) in [
        (
            "go.mod",
            "module example.com/usesdep\n\ngo 1.21\n\nrequire example.com/dep v1.0.0\n",
        ),
        (
            "main.go",
            "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n)\n\nfunc main() { fmt.Println(dep.Hello()) }\n",
        ),
        (
            "vendor/example.com/dep/dep.go",
            "package dep\n\nfunc Hello() string { return \"hello from vendor\" }\n",
        ),
        (
            "vendor/modules.txt",
            "# example.com/dep v1.0.0\n## explicit; go 1.21\nexample.com/dep\n",
        ),
    ] {
        std::fs::write(m.join(name), text).unwrap();
    }
    m
}
