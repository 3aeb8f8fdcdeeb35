//! A toolchain's templates turned into the exact command line and environment of one
//! compile, for the sandbox (paths as the sandbox shows them) or for the host
//! (`--no-sandbox`, real paths). Pure: unit-tested against the built-in toolchain files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::plan::CompileOptions;
use crate::source::Sources;
use crate::toolchain::template::Vars;
use crate::toolchain::{Compile, Toolchain};

/// Where the sandbox shows the output directory and the caches.
pub const OUT_MOUNT: &str = "/scratchpack/out";
pub const CACHE_MOUNT: &str = "/scratchpack/cache";

/// Paths as the compiler will see them.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The toolchain's folder.
    pub tool: PathBuf,
    /// The directory the binary is written to.
    pub out_dir: PathBuf,
    /// Cache name to directory.
    pub caches: BTreeMap<String, PathBuf>,
}

impl Paths {
    /// The paths inside the sandbox.
    pub fn sandboxed(toolchain: &Toolchain) -> Paths {
        Paths {
            tool: PathBuf::from(&toolchain.host.mount),
            out_dir: PathBuf::from(OUT_MOUNT),
            caches: toolchain
                .caches
                .iter()
                .map(|c| (c.clone(), Path::new(CACHE_MOUNT).join(c)))
                .collect(),
        }
    }
}

/// One compile, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileCommand {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

/// Target architecture names: `(arch, goarch)`.
pub fn arch_names(alpine_arch: &str) -> (&'static str, &'static str) {
    match alpine_arch {
        "aarch64" => ("aarch64", "arm64"),
        "armv7" | "armhf" => ("arm", "arm"),
        "x86" => ("x86", "386"),
        "ppc64le" => ("powerpc64le", "ppc64le"),
        "s390x" => ("s390x", "s390x"),
        "riscv64" => ("riscv64", "riscv64"),
        _ => ("x86_64", "amd64"),
    }
}

/// Expands `compile` of `toolchain` for `sources`.
#[allow(clippy::too_many_arguments)]
pub fn compile_command(
    toolchain: &Toolchain,
    compile: &Compile,
    sources: &Sources,
    options: &CompileOptions,
    paths: &Paths,
    name: &str,
    alpine_arch: &str,
    extra_env: &[(String, String)],
) -> CompileCommand {
    let (arch, goarch) = arch_names(alpine_arch);
    let mut vars = Vars::default();
    vars.set("tool", paths.tool.display().to_string())
        .set("output", paths.out_dir.join(name).display().to_string())
        .set("arch", arch)
        .set("goarch", goarch)
        .set("source_root", sources.root.display().to_string());
    for (cache, dir) in &paths.caches {
        vars.set(&format!("cache.{cache}"), dir.display().to_string());
    }
    let mut flags: Vec<String> = compile.flags.iter().map(|f| vars.expand(f)).collect();
    flags.extend(options.cflags.iter().cloned());
    let strip = if options.strip {
        &compile.strip
    } else {
        &compile.keep_symbols
    };
    let strip = strip.iter().map(|f| vars.expand(f)).collect();
    vars.set_list("sources", sources.args.clone())
        .set_list("flags", flags)
        .set_list("strip", strip)
        .set_list("defines", options.defines.clone())
        .set_list("includes", options.includes.clone())
        .set_list("libs", options.libs.clone())
        .set_list("ldflags", options.ldflags.clone());
    let mut env: BTreeMap<String, String> = toolchain
        .env
        .iter()
        .map(|(k, v)| (k.clone(), vars.expand(v)))
        .collect();
    env.extend(extra_env.iter().cloned());
    CompileCommand {
        argv: vars.expand_args(&compile.command),
        env: env.into_iter().collect(),
        cwd: sources.cwd.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Language;

    fn sources(language: Language, args: &[&str]) -> Sources {
        Sources {
            language,
            args: args.iter().map(|s| s.to_string()).collect(),
            cwd: "/home/u/proj".into(),
            mounts: vec!["/home/u/proj/src".into()],
            root: "/home/u/proj/src".into(),
            default_name: "hello".into(),
        }
    }

    #[test]
    fn zig_command_line() {
        let zig = crate::toolchain::by_name_or_file("zig").unwrap();
        let compile = zig.compile_for(Language::C).unwrap();
        let options = CompileOptions {
            cflags: vec!["-Wall".into()],
            defines: vec!["-DX=1".into()],
            includes: vec!["-Iinclude".into()],
            libs: vec!["-lm".into()],
            strip: true,
            ..CompileOptions::default()
        };
        let env = [("SOURCE_DATE_EPOCH".to_string(), "0".to_string())];
        let c = compile_command(
            &zig,
            compile,
            &sources(Language::C, &["src/a.c", "src/b.c"]),
            &options,
            &Paths::sandboxed(&zig),
            "hello",
            "x86_64",
            &env,
        );
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
    }

    #[test]
    fn go_command_line() {
        let go = crate::toolchain::by_name_or_file("go").unwrap();
        let compile = go.compile_for(Language::Go).unwrap();
        let paths = Paths {
            tool: "/usr/lib/go".into(),
            out_dir: "/tmp/out".into(),
            caches: BTreeMap::from([
                ("go-build".into(), "/c/go-build".into()),
                ("gopath".into(), "/c/gopath".into()),
            ]),
        };
        let options = CompileOptions {
            strip: false,
            ldflags: vec!["-X".into(), "main.v=1".into()],
            ..CompileOptions::default()
        };
        let c = compile_command(
            &go,
            compile,
            &sources(Language::Go, &["."]),
            &options,
            &paths,
            "svc",
            "aarch64",
            &[],
        );
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
