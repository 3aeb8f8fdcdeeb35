//! The builder stage: sources in, a static binary out. Picks the toolchain ([`select`]),
//! prepares the Alpine rootfs (with the toolchain's and `--apk` packages installed, see
//! [`crate::provision`]), and runs the compile in the sandbox, without network (or on
//! the host with `--no-sandbox`). The binary it returns still has to pass the inspector.

mod cgo;
pub mod command;
mod compile;
mod hints;
pub(crate) mod project;
mod record;
pub(crate) mod reuse;
pub(crate) mod select;
mod shared;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::atomic::{self, TempPath};
use crate::error::Hint;
use crate::plan::BuildPlan;
use crate::platform::Platform;
use crate::process::ProcessError;
use crate::provision::{self, Installed, ProvisionError};
use crate::rootfs::{self, RootfsError, RootfsSource};
use crate::sandbox::{self, Bind, SandboxError};
use crate::source::Language;
use crate::toolchain::find::HostTool;
use crate::toolchain::resolve::ResolveError;
use crate::toolchain::{Toolchain, ToolchainError};
use crate::ui::Ui;
use command::CompileCommand;

/// A compiled binary, in a temporary directory that lives as long as this value.
pub struct Built {
    pub binary: PathBuf,
    /// The binary's name in the image (a project build names it after its artifact).
    pub name: String,
    /// Further binaries (`--artifact`, repeated): path and name.
    pub more: Vec<(PathBuf, String)>,
    pub toolchain: String,
    /// The compiler, as shown to the user (`zig 0.17.1`, `Alpine packages`).
    pub compiler: String,
    /// What the compiler printed (warnings) on success.
    pub diagnostics: String,
    /// Alpine packages installed into the rootfs, dependencies included.
    pub installed: Vec<Installed>,
    /// What the build used, for the SBOM and provenance.
    pub record: crate::attest::BuildRecord,
    _dir: TempPath,
}

/// A project build step that failed.
#[derive(Debug, thiserror::Error)]
#[error("the build step `{step}` failed ({status}): {command}\n{tail}")]
pub struct StepFailure {
    pub step: String,
    pub command: String,
    pub status: String,
    /// The last lines of the build's output.
    pub tail: String,
    /// The whole log.
    pub log: PathBuf,
    /// Hints read from the output (see `BuildError::Compile`).
    pub hints: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Toolchain(#[from] ToolchainError),
    #[error("toolchain `{toolchain}`: {source}")]
    Find {
        toolchain: String,
        #[source]
        source: Box<ResolveError>,
    },
    #[error("no toolchain can build {language} here:\n{}", tried.join("\n"))]
    NoToolchain {
        language: Language,
        tried: Vec<String>,
    },
    #[error("building for {platform}: {source}")]
    OnPlatform {
        platform: Platform,
        #[source]
        source: Box<BuildError>,
    },
    #[error(
        "the {toolchain} toolchain builds only for this machine ({machine}), not for {platform}"
    )]
    NotCross {
        toolchain: String,
        machine: String,
        platform: String,
    },
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error("Alpine packages ({0}) are installed into the rootfs, which --no-sandbox does not use")]
    PackagesNeedSandbox(String),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("cannot run the compiler")]
    Run(#[source] ProcessError),
    #[error("compilation failed ({status})")]
    Compile {
        status: String,
        diagnostics: String,
        /// The `--memory` limit the build ran under.
        memory_limit: Option<u64>,
        /// Hints read from the diagnostics, made when the error was (they consult the
        /// repositories' indexes and the sources).
        hints: Vec<String>,
    },
    #[error("the compiler succeeded but wrote no `{}`", .0.display())]
    NoBinary(PathBuf),
    #[error("the build wrote `{name}` as {kind}, not a regular file: refused")]
    NotAFile { name: String, kind: &'static str },
    #[error("cannot create the build directory in `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error("cannot copy the project `{}` for its build", dir.display())]
    CopyProject {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("toolchain `{0}` cannot build projects (its file has no [project] table)")]
    NoProjectTools(String),
    #[error("{0}")]
    Step(Box<StepFailure>),
    #[error("`{}` imports \"C\" (cgo), which toolchain `{toolchain}` cannot build", file.display())]
    CgoUnsupported { toolchain: String, file: PathBuf },
    #[error("the build wrote no executable")]
    NoArtifact,
    #[error("the build wrote several executables:\n  {}", .0.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n  "))]
    SeveralArtifacts(Vec<PathBuf>),
    #[error("--artifact `{}`: {why}", path.display())]
    Artifact { path: PathBuf, why: String },
}

impl Hint for BuildError {
    fn hints(&self) -> Vec<String> {
        match self {
            BuildError::Toolchain(e) => e.hints(),
            BuildError::Find { source, .. } => source.hints(),
            BuildError::NoToolchain {
                language: Language::C | Language::Cpp,
                ..
            } => {
                vec!["put zig on PATH, or let scratchpack fetch it (python3 with pip and a reachable package index), \
                      or give the alpine toolchain a reachable repository"
                    .into()]
            }
            BuildError::NoToolchain { .. } => {
                vec![
                    "set GOROOT or put go on PATH, or let scratchpack fetch Go from a reachable \
                      --toolchain-mirror"
                        .into(),
                ]
            }
            BuildError::OnPlatform { source, .. } => source.hints(),
            BuildError::NotCross { .. } => vec![
                "its compiler is Alpine's, built for this machine; `--toolchain zig` (C, C++) and \
                 `--toolchain go` build for every platform"
                    .into(),
            ],
            BuildError::Rootfs(e) => e.hints(),
            BuildError::Provision(e) => e.hints(),
            BuildError::PackagesNeedSandbox(_) => vec!["drop --no-sandbox, or --apk".into()],
            BuildError::Sandbox(e) => e.hints(),
            BuildError::Compile {
                diagnostics,
                memory_limit,
                hints,
                ..
            } => {
                let mut hints = hints.clone();
                hints.extend(hints::for_memory(diagnostics, *memory_limit));
                hints
            }
            BuildError::Cache(e) => e.hints(),
            BuildError::Step(f) => {
                let mut hints = f.hints.clone();
                hints.extend(hints::for_memory(&f.tail, None));
                hints.push(format!("the whole build log: {}", f.log.display()));
                hints
            }
            BuildError::NoProjectTools(_) => {
                vec!["use --toolchain zig or alpine, or --build-system direct".into()]
            }
            BuildError::CgoUnsupported { .. } => vec![
                "use --toolchain go (cgo with zig's C compiler), or remove the cgo dependency; \
                 a build with CGO_ENABLED=0 would ship its pure-Go stub"
                    .into(),
            ],
            BuildError::NoArtifact => vec![
                "name the make target that builds the program with --make-target, or the \
                 file with --artifact PATH"
                    .into(),
            ],
            BuildError::SeveralArtifacts(found) => vec![format!(
                "choose with --artifact {} (repeatable: the first is the entrypoint)",
                found[0].display()
            )],
            BuildError::Artifact { .. } => vec![
                "give a path relative to the project directory, to an executable the build \
                 writes"
                    .into(),
            ],
            BuildError::CopyProject { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                vec![
                    "every file of the project is copied for the build: make that one readable \
                     by you (e.g. chmod a+r), or build as its owner"
                        .into(),
                ]
            }
            BuildError::CopyProject { .. } => {
                vec!["check that every file of the project can be read by you".into()]
            }
            BuildError::NotAFile { .. } => vec![
                "the build must write the binary itself; a link or directory in its place is \
                 never followed"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }
}

impl BuildError {
    /// A compile error is the input's fault (exit 1); the rest is the environment's.
    pub fn is_input_fault(&self) -> bool {
        match self {
            BuildError::Compile { .. }
            | BuildError::NotAFile { .. }
            | BuildError::Step(_)
            | BuildError::NoArtifact
            | BuildError::SeveralArtifacts(_)
            | BuildError::Artifact { .. } => true,
            BuildError::Sandbox(e) => e.is_input_fault(),
            BuildError::OnPlatform { source, .. } => source.is_input_fault(),
            _ => false,
        }
    }
}

/// The repositories apk installs from: `--apk-repository` (or the environment), else the
/// rootfs's own, on the mirror in use.
pub fn repositories(plan: &BuildPlan, toolchain: &Toolchain) -> Vec<String> {
    if !plan.apk_repositories.is_empty() {
        return plan.apk_repositories.clone();
    }
    own_repositories(toolchain, plan.mirror.as_deref())
}

/// The toolchain's own repositories, on `mirror` (`--alpine-mirror`) or its default.
pub(crate) fn own_repositories(toolchain: &Toolchain, mirror: Option<&str>) -> Vec<String> {
    let mirror = mirror
        .unwrap_or(&toolchain.rootfs.default_mirror)
        .trim_end_matches('/');
    toolchain
        .rootfs
        .repositories
        .iter()
        .map(|r| r.replace("{mirror}", mirror))
        .collect()
}

/// Where the toolchain's rootfs comes from.
fn rootfs_source(plan: &BuildPlan, toolchain: &Toolchain) -> RootfsSource {
    RootfsSource::new(&toolchain.rootfs, plan.mirror.as_deref())
}

/// What apk must install for `toolchain` building `language`.
fn provision_request(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    language: Language,
) -> Result<provision::Request, BuildError> {
    let mut packages: BTreeSet<String> = toolchain
        .compile_for(language)?
        .packages
        .iter()
        .cloned()
        .collect();
    if let (Some(project), Some(tools)) = (&plan.project, &toolchain.project) {
        packages.extend(tools.packages.iter().cloned());
        packages.extend(project.packages());
    }
    packages.extend(plan.apk.iter().cloned());
    Ok(provision::Request {
        packages,
        repositories: repositories(plan, toolchain),
        allow_untrusted: plan.apk_allow_untrusted,
        offline: plan.offline,
        arch: None,
    })
}

/// Where the build sees the `--apk` packages installed for another platform than the
/// machine's, when there are some. They are installed into the rootfs too (their
/// programs, pkgconf for one, run on this machine); headers and libraries come from here.
pub(crate) fn sysroot(plan: &BuildPlan) -> Option<PathBuf> {
    (plan.sandbox && plan.is_cross() && !plan.apk.is_empty())
        .then(|| PathBuf::from(provision::TARGET_MOUNT))
}

/// The `--apk` packages installed for the target platform (see [`sysroot`]).
fn target_root(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    ui: &Ui,
) -> Result<Option<provision::Prepared>, BuildError> {
    if sysroot(plan).is_none() {
        return Ok(None);
    }
    let names = plan.platform.names().map_err(|_| BuildError::NotCross {
        toolchain: toolchain.name.clone(),
        machine: plan.machine.to_string(),
        platform: plan.platform.to_string(),
    })?;
    let request = provision::Request {
        packages: plan.apk.iter().cloned().collect(),
        repositories: repositories(plan, toolchain),
        allow_untrusted: plan.apk_allow_untrusted,
        offline: plan.offline,
        arch: Some(names.alpine.to_string()),
    };
    let source = rootfs_source(plan, toolchain);
    let base = rootfs::ensure(&source, &plan.cache, plan.offline, ui)?;
    Ok(Some(provision::prepare(
        &base,
        source.digest()?,
        &request,
        &plan.cache,
        ui,
    )?))
}

/// The read-only bind of the target's packages at [`sysroot`].
fn target_bind(target: &provision::Prepared) -> Bind {
    Bind {
        src: target.dir.clone(),
        dst: PathBuf::from(provision::TARGET_MOUNT),
        writable: false,
        file: false,
    }
}

/// Compiles `plan`'s sources into a static binary.
pub fn build(plan: &BuildPlan, ui: &Ui) -> Result<Built, BuildError> {
    let language = plan.sources.language;
    // A pinned release not fetched yet is fetched only if the build cache misses.
    let defer = plan.build_cache && plan.sandbox && !plan.offline;
    let (toolchain, mut tool) = select::select(plan, language, ui, defer)?;
    // A language the toolchain cannot compile is said before anything is prepared.
    toolchain.compile_for(language)?;
    let request = provision_request(plan, &toolchain, language)?;
    let package_list = request
        .packages
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !plan.sandbox && !request.packages.is_empty() {
        return Err(BuildError::PackagesNeedSandbox(package_list));
    }
    let scratch = crate::output::scratch_dir(&plan.image.output);
    let dir = atomic::scratch_dir(&scratch, ".scratchpack-build-").map_err(|e| BuildError::Io {
        path: scratch.clone(),
        source: e.source,
    })?;
    let caches = cache_dirs(plan, &toolchain)?;
    let extra_env = extra_env(plan, &toolchain);
    let compiler = tool.as_ref().map_or_else(
        || format!("Alpine packages: {package_list}"),
        |t| t.version.clone(),
    );
    let target = if plan.sandbox {
        target_root(plan, &toolchain, ui)?
    } else {
        None
    };
    let target_installed = || {
        target
            .as_ref()
            .map(|t| t.record.installed.clone())
            .unwrap_or_default()
    };
    // cgo's C toolchain, found first (a package it cannot build is refused
    // before anything is installed) and named by the build cache's key.
    let cgo_setup = match cgo::importer(&plan.sources) {
        Some(file) if language == Language::Go && plan.project.is_none() => {
            Some(cgo::setup(plan, &toolchain, &file, ui)?)
        }
        _ => None,
    };
    // The build's root, prepared once: for the build cache's key and for the build.
    let prepared = if plan.sandbox {
        Some(prepared_rootfs(plan, &toolchain, &request, ui)?)
    } else {
        None
    };
    // The build cache, asked of builds in the sandbox (whose inputs are known).
    let (reuse, tools_tag) = match &prepared {
        Some((_, installed)) => {
            let mut identity = reuse::Identity::of(
                &toolchain,
                record::tool_identity(&toolchain, tool.as_ref(), &plan.cache).as_ref(),
            );
            if let Some(setup) = &cgo_setup {
                identity = identity.with_cgo(&setup.identity);
            }
            let tag = shared::tools_tag(&toolchain.name, &identity.tool);
            let rootfs = rootfs_source(plan, &toolchain).digest()?.to_string();
            let reuse = reuse::begin(
                plan,
                identity,
                &toolchain.pass_env,
                &rootfs,
                installed,
                &target_installed(),
                ui,
            );
            (reuse.inspect_err(|why| not_used(ui, why)).ok(), Some(tag))
        }
        None => (None, None),
    };
    let dir = match &reuse {
        Some(r) => match from_cache(r, plan, dir, ui) {
            Ok(built) => return Ok(built),
            Err(dir) => dir,
        },
        None => dir,
    };
    // About to compile: the toolchain is fetched now if it was left for later.
    if tool.as_ref().is_some_and(|t| !t.program.exists()) {
        tool = select::host_tool(plan, &toolchain, ui, false)?;
    }
    // A runner whose toolchain caches are cold takes them from the
    // cache registry (zig's libc, Go's build cache), and gives its own afterwards.
    let tools_dir = plan.cache.root().join("tools").join(&toolchain.name);
    if let (Some(from), Some(tag), Some(_)) = (&plan.cache_from, &tools_tag, &reuse) {
        if !holds_files(&tools_dir) {
            shared::fetch_tools(from, tag, &toolchain.name, &tools_dir, ui);
        }
    }
    let ready = compile::Ready {
        plan,
        toolchain: &toolchain,
        tool: tool.as_ref(),
        caches,
        extra_env,
        compiler,
        prepared,
        target: target.as_ref(),
    };
    let built = match &plan.project {
        Some(project) => compile::project(ready, project, dir, ui)?,
        None => compile::files(ready, cgo_setup, !request.packages.is_empty(), dir, ui)?,
    };
    if let Some(r) = &reuse {
        r.store(&built, &plan.cache, plan.build_cache_max, ui);
        if let Some(to) = &plan.cache_to {
            r.share(to, ui);
            if let Some(tag) = &tools_tag {
                shared::share_tools(to, tag, &toolchain.name, &tools_dir, ui);
            }
        }
    }
    Ok(built)
}

/// Variables set last in the compile's environment, over everything else: the date,
/// the toolchain's `pass_env` the host has, `--go-proxy`.
fn extra_env(plan: &BuildPlan, toolchain: &Toolchain) -> Vec<(String, String)> {
    let mut env = vec![(
        "SOURCE_DATE_EPOCH".to_string(),
        plan.image.epoch.to_string(),
    )];
    env.extend(
        toolchain
            .pass_env
            .iter()
            .filter_map(|k| plan.host_vars.get(k).map(|v| (k.clone(), v.clone()))),
    );
    if let Some(proxy) = &plan.go_proxy {
        env.push(("GOPROXY".into(), proxy.clone()));
    }
    env
}

fn not_used(ui: &Ui, why: &String) {
    if ui.is_verbose() {
        ui.note(&format!("build cache: not used: {why}"));
    }
}

/// The kept build, from the local cache or else fetched from `--cache-from`; on a miss
/// the scratch directory `dir` back.
fn from_cache(
    r: &reuse::Reuse,
    plan: &BuildPlan,
    dir: TempPath,
    ui: &Ui,
) -> Result<Built, TempPath> {
    let dir = match r.hit(dir, ui) {
        Ok(built) => return Ok(built),
        Err(dir) => dir,
    };
    match &plan.cache_from {
        Some(from) if r.fetch(from, ui) => r.hit(dir, ui),
        _ => Err(dir),
    }
}

/// Hints for a failed compile or build step: packages named only when the repositories
/// in use have them, headers the project's own build generates.
fn compile_hints(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    diagnostics: &str,
    source_dir: &Path,
) -> Vec<String> {
    let packages = hints::mentions_missing(diagnostics)
        .then(|| known_packages(plan, toolchain))
        .flatten();
    hints::for_compile_errors(
        diagnostics,
        &hints::Context {
            packages: packages.as_ref(),
            source_dir: Some(source_dir),
        },
    )
}

/// The package names of the repositories in use, when every one can be read (a remote one
/// only if it answered its last probe, and never with --offline).
fn known_packages(plan: &BuildPlan, toolchain: &Toolchain) -> Option<BTreeSet<String>> {
    let repos = repositories(plan, toolchain);
    let arch = Platform::host_alpine_arch();
    for repo in repos.iter().filter(|r| !r.starts_with("file://")) {
        if plan.offline {
            return None;
        }
        let index = format!("{}/{arch}/APKINDEX.tar.gz", repo.trim_end_matches('/'));
        provision::repository_answers(&plan.cache, &index).ok()?;
    }
    provision::index::package_names(&repos, arch)
}

/// `err` with its hints, for a failed project step.
pub(crate) fn with_hints(
    err: BuildError,
    plan: &BuildPlan,
    toolchain: &Toolchain,
    source_dir: &Path,
) -> BuildError {
    match err {
        BuildError::Step(mut f) => {
            f.hints = compile_hints(plan, toolchain, &f.tail, source_dir);
            BuildError::Step(f)
        }
        other => other,
    }
}

/// The toolchain's rootfs with `request`'s packages installed, and what was installed.
fn prepared_rootfs(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    request: &provision::Request,
    ui: &Ui,
) -> Result<(PathBuf, Vec<Installed>), BuildError> {
    let source = rootfs_source(plan, toolchain);
    let base = rootfs::ensure(&source, &plan.cache, plan.offline, ui)?;
    if request.packages.is_empty() {
        return Ok((base, Vec::new()));
    }
    let prepared = provision::prepare(&base, source.digest()?, request, &plan.cache, ui)?;
    Ok((prepared.dir, prepared.record.installed))
}

/// The binary the build wrote in `dir`. The build wrote that directory: what is there is
/// followed nowhere, and only a regular file is taken (a symlink could point at any host
/// file).
/// The binaries of several Go commands (`./cmd/...`): the first is the entrypoint,
/// under the image's name; the others under their own.
fn go_commands(
    plan: &BuildPlan,
    dir: &Path,
) -> Result<(PathBuf, Vec<(PathBuf, String)>), BuildError> {
    let commands = dir.join(command::COMMANDS_DIR);
    let mut binaries = Vec::new();
    for package in &plan.sources.args {
        let name = crate::source::gopkg::binary_name(&plan.sources.root, package);
        binaries.push((take_binary(&commands, &name)?, name));
    }
    let (first, _) = binaries.remove(0);
    Ok((first, binaries))
}

pub(crate) fn take_binary(dir: &Path, name: &str) -> Result<PathBuf, BuildError> {
    let binary = dir.join(name);
    let meta = std::fs::symlink_metadata(&binary)
        .map_err(|_| BuildError::NoBinary(PathBuf::from(name)))?;
    if meta.file_type().is_file() {
        return Ok(binary);
    }
    let kind = if meta.file_type().is_symlink() {
        "a symlink"
    } else if meta.is_dir() {
        "a directory"
    } else {
        "a special file"
    };
    Err(BuildError::NotAFile {
        name: name.to_string(),
        kind,
    })
}

fn announce(
    ui: &Ui,
    toolchain: &Toolchain,
    compiler: &str,
    caches: &BTreeMap<String, PathBuf>,
    place: &str,
) {
    ui.status(&format!(
        "compiling with {} ({compiler}) {place}",
        toolchain.name
    ));
    // zig builds musl and compiler-rt on its first compile for a target.
    if caches
        .get("zig")
        .is_some_and(|dir| std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none()))
    {
        ui.status("first zig build here: building its libc into the cache (about a minute, once)");
    }
}

/// Where the toolchain's caches are kept, by name.
fn cache_dirs(
    plan: &BuildPlan,
    toolchain: &Toolchain,
) -> Result<BTreeMap<String, PathBuf>, BuildError> {
    let mut caches = BTreeMap::new();
    for name in &toolchain.caches {
        caches.insert(
            name.clone(),
            plan.cache
                .dir(&format!("tools/{}/{name}", toolchain.name))?,
        );
    }
    Ok(caches)
}

/// What every sandboxed build of `toolchain` is shown: its folder, read-only at its
/// mount point, and its caches, writable at `/scratchpack/cache/NAME`.
pub(crate) fn toolchain_binds(
    toolchain: &Toolchain,
    tool: Option<&HostTool>,
    caches: &BTreeMap<String, PathBuf>,
) -> Vec<Bind> {
    let mut binds = Vec::new();
    if let (Some(tool), Some(host)) = (tool, &toolchain.host) {
        binds.push(Bind {
            src: tool.dir.clone(),
            dst: PathBuf::from(&host.mount),
            writable: false,
            file: false,
        });
    }
    for (name, dir) in caches {
        binds.push(Bind {
            src: dir.clone(),
            dst: Path::new(command::CACHE_MOUNT).join(name),
            writable: true,
            file: false,
        });
    }
    binds
}

fn sandbox_spec(
    plan: &BuildPlan,
    toolchain: &Toolchain,
    tool: Option<&HostTool>,
    caches: &BTreeMap<String, PathBuf>,
    out_dir: &Path,
    rootfs: PathBuf,
    cmd: CompileCommand,
) -> Result<sandbox::Spec, BuildError> {
    let mut binds = vec![Bind {
        src: out_dir.to_path_buf(),
        dst: PathBuf::from(command::OUT_MOUNT),
        writable: true,
        file: false,
    }];
    binds.extend(toolchain_binds(toolchain, tool, caches));
    for shown in &plan.sources.mounts {
        binds.push(Bind {
            src: shown.path.clone(),
            dst: shown.path.clone(),
            writable: false,
            file: shown.file,
        });
    }
    Ok(sandbox::Spec {
        rootfs,
        newroot: plan.cache.dir("sandbox-root")?,
        writable_root: false,
        binds,
        network: plan.go_proxy.is_some(),
        hostname: "scratchpack".into(),
        cwd: cmd.cwd,
        argv: cmd.argv,
        env: cmd.env,
        parent_pid: std::process::id(),
        limits: plan.limits.clone(),
        token: String::new(),
        ids: None,
        search_path: false,
        attached: false,
    })
}

/// Whether any regular file lies below `dir` (a toolchain's caches have been used).
fn holds_files(dir: &Path) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_file() => return true,
                Ok(t) if t.is_dir() => stack.push(e.path()),
                _ => {}
            }
        }
    }
    false
}
