//! A toolchain's templates turned into the exact command line and environment of one
//! compile, for the sandbox (paths as the sandbox shows them) or for the host
//! (`--no-sandbox`, real paths). Pure: unit-tested against the built-in toolchain files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::CompileOptions;
use crate::platform::Platform;
use crate::source::{Language, Sources};
use crate::toolchain::template::Vars;
use crate::toolchain::{Compile, Toolchain};

/// Where the sandbox shows the output directory and the caches.
pub const OUT_MOUNT: &str = "/scratchpack/out";
pub const CACHE_MOUNT: &str = "/scratchpack/cache";

/// Paths as the compiler will see them.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The toolchain's folder, for toolchains that mount one.
    pub tool: Option<PathBuf>,
    /// The directory the binary is written to.
    pub out_dir: PathBuf,
    /// Cache name to directory.
    pub caches: BTreeMap<String, PathBuf>,
    /// Where another platform's `--apk` packages are (`{sysroot}`), if anywhere.
    pub sysroot: Option<PathBuf>,
}

impl Paths {
    /// The real paths, for a build on the host (`--no-sandbox`).
    pub fn on_host(
        tool: Option<&crate::toolchain::find::HostTool>,
        out_dir: &Path,
        caches: &BTreeMap<String, PathBuf>,
    ) -> Paths {
        Paths {
            tool: tool.map(|t| t.dir.clone()),
            out_dir: out_dir.to_path_buf(),
            caches: caches.clone(),
            sysroot: None,
        }
    }

    /// The paths inside the sandbox.
    pub fn sandboxed(toolchain: &Toolchain) -> Paths {
        Paths {
            tool: toolchain.host.as_ref().map(|h| PathBuf::from(&h.mount)),
            out_dir: PathBuf::from(OUT_MOUNT),
            caches: toolchain
                .caches
                .iter()
                .map(|c| (c.clone(), Path::new(CACHE_MOUNT).join(c)))
                .collect(),
            sysroot: None,
        }
    }

    /// The same, with another platform's packages at `sysroot`.
    pub fn with_sysroot(mut self, sysroot: Option<PathBuf>) -> Paths {
        self.sysroot = sysroot;
        self
    }
}

/// One compile, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// Everything a compile is made of, but where its paths are.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    pub toolchain: &'a Toolchain,
    pub compile: &'a Compile,
    pub sources: &'a Sources,
    pub options: &'a CompileOptions,
    /// The binary's file name.
    pub name: &'a str,
    /// What the binary is built for.
    pub platform: &'a Platform,
    /// Alpine packages are installed in the rootfs (adds the toolchain's package flags).
    pub with_packages: bool,
    /// Set last, over the toolchain's environment.
    pub extra_env: Vec<(String, String)>,
}

/// The placeholders every toolchain template may use: `{tool}`, `{cache.NAME}`,
/// `{sysroot}`, and for the target `platform`: `{arch}` (the machine of a target triple),
/// `{target}` (the static musl triple, `arm-linux-musleabihf`), `{goarch}` and `{goarm}`.
/// A platform scratchpack does not build for sets none of those (plans hold buildable
/// ones only).
pub fn tool_vars(platform: &Platform, paths: &Paths) -> Vars {
    let mut vars = Vars::default();
    if let Ok(names) = platform.names() {
        vars.set("arch", names.machine)
            .set("target", names.musl_triple())
            .set("goarch", names.goarch)
            .set("goarm", names.goarm.unwrap_or_default())
            .set_list(
                "target_flags",
                names
                    .cpu
                    .map(|c| format!("-mcpu={c}"))
                    .into_iter()
                    .collect(),
            );
    }
    if let Some(tool) = &paths.tool {
        vars.set("tool", tool.display().to_string());
    }
    vars.set(
        "sysroot",
        paths
            .sysroot
            .as_ref()
            .map(|s| s.display().to_string())
            .unwrap_or_default(),
    );
    for (cache, dir) in &paths.caches {
        vars.set(&format!("cache.{cache}"), dir.display().to_string());
    }
    vars
}

/// The directory of the output directory where `go build` writes several commands
/// (`./cmd/...`), each under its own name.
pub(crate) const COMMANDS_DIR: &str = "commands";

/// Whether the job builds several Go commands into [`COMMANDS_DIR`].
pub(crate) fn several_commands(sources: &Sources) -> bool {
    sources.language == Language::Go && sources.args.len() > 1
}

/// Expands the job's toolchain templates with `paths`.
pub fn compile_command(job: &Job, paths: &Paths) -> CompileCommand {
    let compile = job.compile;
    let mut vars = tool_vars(job.platform, paths);
    let output = if several_commands(job.sources) {
        // A directory: go writes each command into it (the trailing slash says so).
        format!("{}/", paths.out_dir.join(COMMANDS_DIR).display())
    } else {
        paths.out_dir.join(job.name).display().to_string()
    };
    vars.set("output", output)
        .set("source_root", job.sources.root.display().to_string());
    let expand = |list: &[String]| -> Vec<String> { list.iter().map(|f| vars.expand(f)).collect() };
    let mut flags = expand(&compile.flags);
    if job.with_packages {
        flags.extend(expand(&compile.package_flags));
    }
    flags.extend(job.options.cflags.iter().cloned());
    let strip = expand(if job.options.strip {
        &compile.strip
    } else {
        &compile.keep_symbols
    });
    vars.set_list("sources", source_args(job.sources))
        .set_list("flags", flags)
        .set_list("strip", strip)
        .set_list("defines", job.options.defines.clone())
        .set_list("includes", job.options.includes.clone())
        .set_list("libs", job.options.libs.clone())
        .set_list("ldflags", job.options.ldflags.clone());
    let mut env: BTreeMap<String, String> = job
        .toolchain
        .env
        .iter()
        .map(|(k, v)| (k.clone(), vars.expand(v)))
        .collect();
    env.extend(job.extra_env.iter().cloned());
    CompileCommand {
        argv: vars.expand_args(&compile.command),
        env: env.into_iter().collect(),
        cwd: job.sources.cwd.clone(),
    }
}

/// The sources as the compiler driver gets them: in a C++ compile, C files are marked
/// as C (a C++ driver would compile them as C++).
fn source_args(sources: &Sources) -> Vec<String> {
    if sources.language != Language::Cpp {
        return sources.args.clone();
    }
    let mut out = Vec::new();
    for arg in &sources.args {
        if arg.ends_with(".c") {
            out.extend([
                "-x".into(),
                "c".into(),
                arg.clone(),
                "-x".into(),
                "none".into(),
            ]);
        } else {
            out.push(arg.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_files_in_a_cpp_compile_stay_c() {
        let mut s = sources(Language::Cpp, &["main.cpp", "sum.c", "add.S"]);
        assert_eq!(
            source_args(&s),
            ["main.cpp", "-x", "c", "sum.c", "-x", "none", "add.S"]
        );
        s.language = Language::C;
        assert_eq!(source_args(&s), ["main.cpp", "sum.c", "add.S"]);
        let zig = crate::toolchain::by_name_or_file("zig").unwrap();
        let options = CompileOptions::default();
        let s = sources(Language::Cpp, &["main.cpp"]);
        let cmd = compile_command(
            &job(&zig, Language::Cpp, &s, &options, &platform("x86_64")),
            &Paths::sandboxed(&zig),
        );
        assert_eq!(&cmd.argv[..2], ["/opt/zig/zig", "c++"]);
    }

    fn sources(language: Language, args: &[&str]) -> Sources {
        Sources {
            language,
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: "/home/u/proj".into(),
            mounts: vec![crate::source::Shown {
                path: "/home/u/proj/src".into(),
                file: false,
            }],
            root: "/home/u/proj/src".into(),
            default_name: "hello".into(),
        }
    }

    fn platform(alpine: &str) -> Platform {
        Platform::from_alpine(alpine).unwrap()
    }

    fn job<'a>(
        t: &'a Toolchain,
        lang: Language,
        s: &'a Sources,
        o: &'a CompileOptions,
        platform: &'a Platform,
    ) -> Job<'a> {
        Job {
            toolchain: t,
            compile: t.compile_for(lang).unwrap(),
            sources: s,
            options: o,
            name: "hello",
            platform,
            with_packages: false,
            extra_env: vec![("SOURCE_DATE_EPOCH".into(), "0".into())],
        }
    }

    #[test]
    fn zig_command_line() {
        let zig = crate::toolchain::by_name_or_file("zig").unwrap();
        let options = CompileOptions {
            cflags: vec!["-Wall".into()],
            defines: vec!["-DX=1".into()],
            includes: vec!["-Iinclude".into()],
            libs: vec!["-lm".into()],
            strip: true,
            ..CompileOptions::default()
        };
        let src = sources(Language::C, &["src/a.c", "src/b.c"]);
        let amd64 = platform("x86_64");
        let mut j = job(&zig, Language::C, &src, &options, &amd64);
        let c = compile_command(&j, &Paths::sandboxed(&zig));
        assert_eq!(
            c.argv,
            [
                "/opt/zig/zig",
                "cc",
                "-target",
                "x86_64-linux-musl",
                "-Os",
                "-ffile-prefix-map=/home/u/proj/src=.",
                "-Wall",
                "-s",
                "-DX=1",
                "-Iinclude",
                "-o",
                "/scratchpack/out/hello",
                "src/a.c",
                "src/b.c",
                "-lm",
            ]
        );
        let env: BTreeMap<_, _> = c.env.into_iter().collect();
        assert_eq!(env["ZIG_GLOBAL_CACHE_DIR"], "/scratchpack/cache/zig");
        assert_eq!(env["PATH"], "/opt/zig:/usr/local/bin:/usr/bin:/bin");
        assert_eq!(env["SOURCE_DATE_EPOCH"], "0");
        assert_eq!(c.cwd, PathBuf::from("/home/u/proj"));
        // With packages in the rootfs, their headers and libraries come after zig's.
        j.with_packages = true;
        let c = compile_command(&j, &Paths::sandboxed(&zig));
        assert_eq!(
            &c.argv[6..10],
            ["-idirafter", "/usr/include", "-L/usr/lib", "-Wall"]
        );
        // Another platform's packages: from the root they were installed into.
        let arm64 = platform("aarch64");
        j.platform = &arm64;
        let paths = Paths::sandboxed(&zig).with_sysroot(Some("/scratchpack/target".into()));
        let c = compile_command(&j, &paths);
        assert_eq!(
            &c.argv[2..10],
            [
                "-target",
                "aarch64-linux-musl",
                "-Os",
                "-ffile-prefix-map=/home/u/proj/src=.",
                "-idirafter",
                "/scratchpack/target/usr/include",
                "-L/scratchpack/target/usr/lib",
                "-Wall"
            ]
        );
    }

    #[test]
    fn alpine_gcc_command_line() {
        let alpine = crate::toolchain::by_name_or_file("alpine").unwrap();
        let options = CompileOptions {
            libs: vec!["-lz".into()],
            strip: true,
            ..CompileOptions::default()
        };
        let src = sources(Language::C, &["main.c"]);
        let c = compile_command(
            &job(&alpine, Language::C, &src, &options, &platform("aarch64")),
            &Paths::sandboxed(&alpine),
        );
        assert_eq!(
            c.argv,
            [
                "/usr/bin/gcc",
                "-static",
                "-Os",
                "-ffile-prefix-map=/home/u/proj/src=.",
                "-s",
                "-o",
                "/scratchpack/out/hello",
                "main.c",
                "-lz",
            ]
        );
        let src = sources(Language::Go, &["."]);
        let c = compile_command(
            &job(&alpine, Language::Go, &src, &options, &platform("aarch64")),
            &Paths::sandboxed(&alpine),
        );
        assert_eq!(c.argv[0], "/usr/lib/go/bin/go");
        let env: BTreeMap<_, _> = c.env.into_iter().collect();
        assert_eq!(
            (env["GOROOT"].as_str(), env["GOARCH"].as_str()),
            ("/usr/lib/go", "arm64")
        );
    }

    #[test]
    fn go_command_line() {
        let go = crate::toolchain::by_name_or_file("go").unwrap();
        let paths = Paths {
            tool: Some("/usr/lib/go".into()),
            out_dir: "/tmp/out".into(),
            caches: BTreeMap::from([
                ("go-build".into(), "/c/go-build".into()),
                ("gopath".into(), "/c/gopath".into()),
            ]),
            sysroot: None,
        };
        let options = CompileOptions {
            strip: false,
            ldflags: vec!["-X".into(), "main.v=1".into()],
            ..CompileOptions::default()
        };
        let src = sources(Language::Go, &["."]);
        let arm64 = platform("aarch64");
        let mut j = job(&go, Language::Go, &src, &options, &arm64);
        j.name = "svc";
        let c = compile_command(&j, &paths);
        assert_eq!(
            c.argv,
            [
                "/usr/lib/go/bin/go",
                "build",
                "-trimpath",
                "-buildvcs=false",
                "-ldflags=-buildid= -X main.v=1",
                "-o",
                "/tmp/out/svc",
                "."
            ]
        );
        let env: BTreeMap<_, _> = c.env.into_iter().collect();
        assert_eq!(
            (
                env["GOARCH"].as_str(),
                env["CGO_ENABLED"].as_str(),
                env["GOPROXY"].as_str()
            ),
            ("arm64", "0", "off")
        );
        assert_eq!(env["GOCACHE"], "/c/go-build");
    }
}
