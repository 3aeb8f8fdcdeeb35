//! The compile itself, once the build cache has missed: single files (or Go packages) by
//! one command, in the sandbox or with `--no-sandbox` on the host, or a project by its
//! own build system; either way a [`Built`] with its record for the SBOM.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::command::{self, Job, Paths, compile_command};
use super::{
    BuildError, Built, announce, cgo, compile_hints, go_commands, project, record, sandbox_spec,
    sysroot, take_binary, target_bind,
};
use crate::atomic::TempPath;
use crate::plan::BuildPlan;
use crate::process::{Cmd, describe_status};
use crate::provision::{self, Installed};
use crate::sandbox;
use crate::toolchain::Toolchain;
use crate::toolchain::find::HostTool;
use crate::ui::Ui;

/// What a compile needs once the build cache has missed.
pub(super) struct Ready<'a> {
    pub(super) plan: &'a BuildPlan,
    pub(super) toolchain: &'a Toolchain,
    pub(super) tool: Option<&'a HostTool>,
    /// The toolchain's caches: name to host directory.
    pub(super) caches: BTreeMap<String, PathBuf>,
    /// Set last, over everything else (SOURCE_DATE_EPOCH, pass_env, GOPROXY).
    pub(super) extra_env: Vec<(String, String)>,
    /// The compiler, as shown to the user.
    pub(super) compiler: String,
    /// The build's root and the packages installed there (none with `--no-sandbox`).
    pub(super) prepared: Option<(PathBuf, Vec<Installed>)>,
    /// Another platform's `--apk` packages.
    pub(super) target: Option<&'a provision::Prepared>,
}

impl Ready<'_> {
    /// The packages installed for the build, the target's included.
    fn installed(&self) -> Vec<Installed> {
        let mut installed = self
            .prepared
            .as_ref()
            .map(|(_, i)| i.clone())
            .unwrap_or_default();
        installed.extend(
            self.target
                .map(|t| t.record.installed.clone())
                .unwrap_or_default(),
        );
        installed
    }

    fn announce(&self, ui: &Ui, place: &str) {
        announce(ui, self.toolchain, &self.compiler, &self.caches, place);
    }

    fn record(&self) -> crate::attest::BuildRecord {
        record::record(
            self.plan,
            self.toolchain,
            self.tool,
            self.prepared.as_ref().map(|(root, _)| root.as_path()),
            self.target.map(|t| t.dir.as_path()),
        )
    }
}

/// A project built by its own build system, in the sandbox.
pub(super) fn project(
    ready: Ready,
    project: &project::ProjectPlan,
    dir: TempPath,
    ui: &Ui,
) -> Result<Built, BuildError> {
    ready.announce(ui, &format!("in Alpine {}", ready.toolchain.rootfs.version));
    let context = project::run::Context {
        plan: ready.plan,
        project,
        toolchain: ready.toolchain,
        tool: ready.tool,
        caches: &ready.caches,
        extra_env: ready.extra_env.clone(),
        rootfs: ready.prepared.clone().unwrap_or_default().0,
        target: ready.target.map(target_bind),
    };
    let artifact = project::run::build(&context, dir.path(), ui)?;
    Ok(Built {
        record: ready.record(),
        binary: artifact.path,
        name: artifact.name,
        more: artifact.more,
        toolchain: ready.toolchain.name.clone(),
        installed: ready.installed(),
        compiler: ready.compiler,
        diagnostics: String::new(),
        _dir: dir,
    })
}

/// Single files (or a Go package) compiled by one command, in the sandbox or, with
/// `--no-sandbox`, on the host; `with_packages` when `--apk` packages were installed.
pub(super) fn files(
    mut ready: Ready,
    cgo_setup: Option<cgo::Setup>,
    with_packages: bool,
    dir: TempPath,
    ui: &Ui,
) -> Result<Built, BuildError> {
    let plan = ready.plan;
    let toolchain = ready.toolchain;
    let mut options = plan.options.clone();
    let mut extra_binds = Vec::new();
    if let Some(setup) = cgo_setup {
        ready.extra_env.extend(setup.env);
        options.ldflags.extend(setup.ldflags);
        extra_binds.extend(setup.binds);
        ready.caches.extend(setup.caches);
    }
    let job = Job {
        toolchain,
        compile: toolchain.compile_for(plan.sources.language)?,
        sources: &plan.sources,
        options: &options,
        name: &plan.image.name,
        platform: &plan.platform,
        with_packages,
        extra_env: ready.extra_env.clone(),
    };
    let several = command::several_commands(&plan.sources);
    if several {
        let commands = dir.path().join(command::COMMANDS_DIR);
        std::fs::create_dir(&commands).map_err(|source| BuildError::Io {
            path: commands,
            source,
        })?;
    }
    let output = if let Some((rootfs, _)) = &ready.prepared {
        let paths = Paths::sandboxed(toolchain).with_sysroot(sysroot(plan));
        let cmd = compile_command(&job, &paths);
        ready.announce(ui, &format!("in Alpine {}", toolchain.rootfs.version));
        let mut spec = sandbox_spec(
            plan,
            toolchain,
            ready.tool,
            &ready.caches,
            dir.path(),
            rootfs.clone(),
            cmd,
        )?;
        spec.binds.extend(extra_binds);
        spec.binds.extend(ready.target.map(target_bind));
        sandbox::run(&spec)?
    } else {
        let cmd = compile_command(&job, &Paths::on_host(ready.tool, dir.path(), &ready.caches));
        ui.note(&format!(
            "--no-sandbox: compiling with {} on the host, without sandbox: the compiler \
             sees this machine's files and network, and the Alpine rootfs is not used",
            ready.compiler
        ));
        ready.announce(ui, "on the host");
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
            hints: compile_hints(plan, toolchain, &diagnostics, &plan.sources.root),
            diagnostics,
            memory_limit: plan.sandbox.then_some(plan.limits.memory).flatten(),
        });
    }
    let (binary, more) = if several {
        go_commands(plan, dir.path())?
    } else {
        (take_binary(dir.path(), &plan.image.name)?, Vec::new())
    };
    Ok(Built {
        record: ready.record(),
        binary,
        name: plan.image.name.clone(),
        more,
        toolchain: toolchain.name.clone(),
        installed: ready.installed(),
        compiler: ready.compiler,
        diagnostics,
        _dir: dir,
    })
}
