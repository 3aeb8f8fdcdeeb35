//! Project builds: a directory built by its own build system (configure, CMake, meson,
//! make; [`systems`]) or by `--run` commands, in a writable copy ([`copy`]) inside the
//! sandbox, with the toolchain seen as a static cross compiler (wrapper scripts on PATH
//! and `CC`, `CXX`, ... in the environment). Each step's output goes to one log file;
//! the binary is picked from what the build wrote ([`artifacts`]).

pub(crate) mod artifacts;
pub(crate) mod copy;
pub(crate) mod run;
pub(crate) mod systems;

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::collections::BTreeMap;

use super::{BuildError, StepFailure};
use crate::process::describe_status;
use crate::process::shell_quote;
use crate::sandbox;
use crate::toolchain::template::Vars;
use crate::toolchain::{ProjectTools, Toolchain};
use crate::ui::Ui;
use systems::{StepOptions, System};

/// Where the sandbox shows the project's copy, the wrapper scripts and the log.
pub const SRC_MOUNT: &str = "/scratchpack/src";
pub const BIN_MOUNT: &str = "/scratchpack/bin";
pub const LOG_MOUNT: &str = "/scratchpack/log";
/// Tools' caches kept with the project's copy (zig's local cache).
pub const LOCAL_MOUNT: &str = "/scratchpack/local";
const LOG_NAME: &str = "build.log";
/// In the kept directory: which setup steps succeeded in its copy.
pub const SETUP_STAMP: &str = "setup.done";
/// Lines of a failed step's output shown in the error.
const TAIL_LINES: usize = 30;

/// A project to build, as the command line asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPlan {
    pub dir: PathBuf,
    /// The build system that runs, unless `--run` replaces its steps.
    pub system: Option<System>,
    /// `--run` commands, replacing the system's steps.
    pub run: Vec<String>,
    pub configure_args: Vec<String>,
    pub targets: Vec<String>,
    /// `--cmake-define NAME=VALUE`.
    pub defines: Vec<String>,
    /// `--artifact` paths, relative to the project.
    pub artifacts: Vec<PathBuf>,
}

impl ProjectPlan {
    /// Packages the build system needs.
    pub fn packages(&self) -> Vec<String> {
        self.system
            .as_ref()
            .map(|s| s.packages.clone())
            .unwrap_or_default()
    }

    /// The steps to run.
    pub fn steps(&self, host: &str, jobs: usize, cross: Option<systems::Cross>) -> Vec<Planned> {
        if !self.run.is_empty() {
            return self
                .run
                .iter()
                .map(|r| Planned {
                    name: "run".into(),
                    command: r.clone(),
                    setup: false,
                })
                .collect();
        }
        let options = StepOptions {
            host: host.to_string(),
            jobs,
            configure_args: self.configure_args.clone(),
            targets: self.targets.clone(),
            defines: self.defines.clone(),
            cross,
        };
        self.system
            .iter()
            .flat_map(|s| &s.steps)
            .map(|step| Planned {
                name: step.name.clone(),
                command: systems::expand(step, &options),
                setup: step.setup,
            })
            .collect()
    }

    /// What the build is called in messages.
    pub fn describe(&self) -> String {
        match (&self.system, self.run.is_empty()) {
            (_, false) => "--run commands".into(),
            (Some(s), true) => format!("{} project", s.name),
            (None, true) => "project".into(),
        }
    }
}

/// A step as it will run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    /// The shell command.
    pub command: String,
    /// Run once per kept copy (see [`run_steps`]).
    pub setup: bool,
}

/// The seam between the builder and where a step runs: the sandbox, or a test double.
pub trait Runner {
    /// Runs one shell command in the project's copy; its output goes to the build log.
    fn run(&self, command: &str) -> Result<std::process::ExitStatus, BuildError>;
}

/// Runs steps in the sandbox described by `spec` (argv aside).
pub struct SandboxRunner {
    pub spec: sandbox::Spec,
}

impl Runner for SandboxRunner {
    fn run(&self, command: &str) -> Result<std::process::ExitStatus, BuildError> {
        let spec = sandbox::Spec {
            argv: vec!["/bin/sh".into(), "-c".into(), step_script(command)],
            ..self.spec.clone()
        };
        Ok(sandbox::run(&spec)?.status)
    }
}

/// The shell script of one step: output appended to the log, the command echoed first.
fn step_script(command: &str) -> String {
    format!(
        "exec >>{LOG_MOUNT}/{LOG_NAME} 2>&1\nprintf '\\n$ %s\\n' {}\nset -e\n{command}\n",
        shell_quote(command)
    )
}

/// The host side of a project build: its scratch directories.
pub struct Workspace {
    /// The writable copy of the project.
    pub src: PathBuf,
    /// Wrapper scripts.
    pub bin: PathBuf,
    /// The log directory.
    pub log: PathBuf,
    /// Tools' own caches, kept with the copy.
    pub local: PathBuf,
    pub manifest: copy::Manifest,
}

impl Workspace {
    /// Copies the project into `scratch` and writes the wrapper scripts.
    /// `kept` is the project's directory in the cache: its copy (`kept/src`) is brought up
    /// to date rather than made anew, so the build system finds its earlier work.
    pub fn create(
        scratch: &Path,
        kept: &Path,
        project: &ProjectPlan,
        tools: &ProjectTools,
        vars: &Vars,
        rootfs: &Path,
    ) -> Result<Workspace, BuildError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| BuildError::Io { path, source }
        };
        let src = kept.join("src");
        let manifest_file = kept.join("manifest.json");
        let copy_err = |source| BuildError::CopyProject {
            dir: project.dir.clone(),
            source,
        };
        let old: Option<copy::Manifest> = std::fs::read(&manifest_file)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        // The manifest goes first: a copy interrupted half-way is never trusted.
        let _ = std::fs::remove_file(&manifest_file);
        let manifest = match old {
            Some(old) if src.is_dir() => {
                copy::sync_tree(&project.dir, &src, &old)
                    .map_err(copy_err)?
                    .0
            }
            _ => {
                if std::fs::symlink_metadata(&src).is_ok() {
                    crate::atomic::remove_tree(&src).map_err(io(&src))?;
                }
                let _ = std::fs::remove_file(kept.join(SETUP_STAMP));
                copy::copy_tree(&project.dir, &src).map_err(copy_err)?
            }
        };
        // For `scratchpack cache ls`.
        let _ = std::fs::write(
            kept.join("project"),
            project.dir.as_os_str().as_encoded_bytes(),
        );
        if let Ok(json) = serde_json::to_vec(&manifest) {
            std::fs::write(&manifest_file, json).map_err(io(&manifest_file))?;
        }
        let bin = scratch.join("bin");
        std::fs::create_dir(&bin).map_err(io(&bin))?;
        for (names, command, compiler) in wrappers(tools) {
            let argv = vars.expand_args(command);
            let script = wrapper_script(&argv, compiler);
            for name in names {
                write_script(&bin.join(name), &script).map_err(io(&bin))?;
            }
        }
        // pkg-config reports static libraries' own dependencies (Libs.private) too.
        if rootfs.join("usr/bin/pkgconf").is_file() {
            let script = "#!/bin/sh\nexec /usr/bin/pkgconf --static \"$@\"\n";
            write_script(&bin.join("pkg-config"), script).map_err(io(&bin))?;
        }
        let log = scratch.join("log");
        std::fs::create_dir(&log).map_err(io(&log))?;
        // Beside the copy, on its filesystem: tools' caches (zig's compile cache) that
        // live as long as the copy, and that no other build shares.
        let local = kept.join("local");
        if !std::fs::symlink_metadata(&local).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_file(&local);
            std::fs::create_dir(&local).map_err(io(&local))?;
        }
        Ok(Workspace {
            src,
            bin,
            log,
            local,
            manifest,
        })
    }

    /// The sandbox's binds for this workspace.
    pub fn binds(&self) -> Vec<sandbox::Bind> {
        let bind = |src: &Path, dst: &str, writable: bool| sandbox::Bind {
            src: src.to_path_buf(),
            dst: PathBuf::from(dst),
            writable,
            file: false,
        };
        vec![
            bind(&self.src, SRC_MOUNT, true),
            bind(&self.bin, BIN_MOUNT, false),
            bind(&self.log, LOG_MOUNT, true),
            bind(&self.local, LOCAL_MOUNT, true),
        ]
    }

    pub fn log_file(&self) -> PathBuf {
        self.log.join(LOG_NAME)
    }
}

fn write_script(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// A wrapper's names, the command it runs and whether it is a C or C++ compiler.
type Wrapper<'a> = (&'static [&'static str], &'a [String], bool);

/// Wrapper names and the command each runs.
fn wrappers(tools: &ProjectTools) -> Vec<Wrapper<'_>> {
    let mut list: Vec<Wrapper> = vec![
        (&["cc", "gcc"], &tools.cc, true),
        (&["c++", "g++"], &tools.cxx, true),
        (&["ar"], &tools.ar, false),
        (&["ranlib"], &tools.ranlib, false),
    ];
    if !tools.ld.is_empty() {
        list.push((&["ld"], &tools.ld, false));
    }
    list
}

/// The shell script of a wrapper running `argv` with the build's arguments. A compiler's
/// touches its object (`-o`) after a compile that wrote a dependency file (`-MD`,
/// `-MMD`, `-MF`): zig writes the `.d` after the `.o`, and makefiles that list the `.d`
/// as a prerequisite of the `.o` (zstd's) then rebuilt every object on every build;
/// gcc's `.o` is already the newer, so touching it changes nothing there.
fn wrapper_script(argv: &[String], compiler: bool) -> String {
    let command = argv
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    if !compiler {
        return format!("#!/bin/sh\nexec {command} \"$@\"\n");
    }
    format!(
        "#!/bin/sh\nout= deps= prev=\nfor a in \"$@\"; do\n  case $a in -MD|-MMD|-MF) deps=1 ;; esac\n  \
         [ \"$prev\" = -o ] && out=$a\n  prev=$a\ndone\n[ -n \"$deps\" ] && [ -n \"$out\" ] || exec \
         {command} \"$@\"\n{command} \"$@\" || exit\nexec touch -c -- \"$out\"\n"
    )
}

/// The build's environment: the toolchain's, then the compilers, flags and pkg-config
/// search path; `vars` are the toolchain's placeholders as the sandbox sees them.
pub fn environment(
    tools: &ProjectTools,
    toolchain: &Toolchain,
    vars: &Vars,
    options: &crate::plan::CompileOptions,
) -> BTreeMap<String, String> {
    let expand = |list: &[String]| list.iter().map(|a| vars.expand(a)).collect::<Vec<_>>();
    let mut cflags = expand(&tools.cflags);
    cflags.extend(options.cflags.iter().cloned());
    let mut ldflags = expand(&tools.ldflags);
    if options.strip {
        ldflags.extend(expand(&tools.strip));
    }
    ldflags.extend(options.ldflags.iter().cloned());
    let mut env: BTreeMap<String, String> = toolchain
        .env
        .iter()
        .map(|(k, v)| (k.clone(), vars.expand(v)))
        .collect();
    let path = env
        .get("PATH")
        .cloned()
        .unwrap_or_else(|| "/usr/bin:/bin".into());
    env.insert("PATH".into(), format!("{BIN_MOUNT}:{path}"));
    for (var, name) in [
        ("CC", "cc"),
        ("CXX", "c++"),
        ("AR", "ar"),
        ("RANLIB", "ranlib"),
    ] {
        env.insert(var.into(), format!("{BIN_MOUNT}/{name}"));
    }
    if !tools.ld.is_empty() {
        env.insert("LD".into(), format!("{BIN_MOUNT}/ld"));
    }
    for (k, v) in &tools.env {
        env.insert(k.clone(), vars.expand(v));
    }
    env.insert("CFLAGS".into(), cflags.join(" "));
    env.insert("CXXFLAGS".into(), cflags.join(" "));
    env.insert("LDFLAGS".into(), ldflags.join(" "));
    // Another platform's packages: pkg-config reads theirs, and prefixes their paths.
    let pc = vars.expand("{sysroot}/usr/lib/pkgconfig:{sysroot}/usr/share/pkgconfig");
    env.insert("PKG_CONFIG_PATH".into(), pc.clone());
    env.insert("PKG_CONFIG_LIBDIR".into(), pc);
    let sysroot = vars.expand("{sysroot}");
    if !sysroot.is_empty() {
        env.insert("PKG_CONFIG_SYSROOT_DIR".into(), sysroot);
    }
    env
}

/// Runs the steps; on failure, the error names the step and keeps the log at `keep`.
/// Setup steps are skipped when `setup_stamp` records that these very setup steps
/// succeeded in this copy; it is rewritten when they do, removed when one fails.
pub fn run_steps(
    runner: &dyn Runner,
    steps: &[Planned],
    setup_stamp: &Path,
    workspace_log: &Path,
    keep: &Path,
    ui: &Ui,
) -> Result<(), BuildError> {
    let total = steps.len();
    let setup_key: String = steps
        .iter()
        .filter(|s| s.setup)
        .map(|s| format!("{}\n", s.command))
        .collect();
    let set_up = std::fs::read_to_string(setup_stamp).is_ok_and(|k| k == setup_key);
    if !set_up {
        let _ = std::fs::remove_file(setup_stamp);
    }
    for (i, step) in steps.iter().enumerate() {
        let (name, command) = (&step.name, &step.command);
        if step.setup && set_up {
            ui.status(&format!(
                "[{}/{total}] {name}: done before, in the kept copy",
                i + 1
            ));
            append_log(
                workspace_log,
                &format!("\n$ {command}\n(done before, in the kept copy)\n"),
            );
            continue;
        }
        let started = Instant::now();
        ui.status(&format!("[{}/{total}] {name}: {command}", i + 1));
        let status = runner.run(command)?;
        let secs = started.elapsed().as_secs_f64();
        keep_log(workspace_log, keep);
        if !status.success() {
            return Err(BuildError::Step(Box::new(StepFailure {
                step: name.clone(),
                command: command.clone(),
                status: describe_status(status),
                tail: tail(keep, TAIL_LINES),
                log: keep.to_path_buf(),
                hints: Vec::new(),
            })));
        }
        ui.status(&format!("[{}/{total}] {name} done in {secs:.1} s", i + 1));
        let setup_done = !steps[i + 1..].iter().any(|s| s.setup);
        if step.setup && setup_done {
            std::fs::write(setup_stamp, &setup_key).map_err(|source| BuildError::Io {
                path: setup_stamp.to_path_buf(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Adds a line to the build log (best effort).
fn append_log(log: &Path, text: &str) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

/// Copies the log where it outlives the build (best effort: a log is not worth failing
/// a build for).
fn keep_log(log: &Path, keep: &Path) {
    if let Some(parent) = keep.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::copy(log, keep);
}

/// The last `lines` lines of a file, read from its end (bounded).
pub fn tail(path: &Path, lines: usize) -> String {
    use std::io::{Read, Seek, SeekFrom};
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(MAX)));
    let mut bytes = Vec::new();
    let _ = file.take(MAX).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::os::unix::process::ExitStatusExt;

    /// Records the commands; fails the one named `fail`.
    struct Recorder {
        ran: RefCell<Vec<String>>,
        fail: &'static str,
        log: PathBuf,
    }

    impl Runner for Recorder {
        fn run(&self, command: &str) -> Result<std::process::ExitStatus, BuildError> {
            self.ran.borrow_mut().push(command.to_string());
            let mut log = std::fs::read_to_string(&self.log).unwrap_or_default();
            log.push_str(&format!("$ {command}\nline of {command}\n"));
            std::fs::write(&self.log, log).unwrap();
            let code = if command.starts_with(self.fail) { 2 } else { 0 };
            Ok(std::process::ExitStatus::from_raw(code << 8))
        }
    }

    fn project(system: &str) -> ProjectPlan {
        let all = systems::builtin().unwrap();
        ProjectPlan {
            dir: "/p".into(),
            system: systems::by_name(&all, system).cloned(),
            run: Vec::new(),
            configure_args: vec!["--without-x".into()],
            targets: vec!["hello".into()],
            defines: Vec::new(),
            artifacts: Vec::new(),
        }
    }

    #[test]
    fn the_environment_points_at_another_platforms_packages() {
        use crate::builder::command::{Paths, tool_vars};
        let zig = crate::toolchain::by_name_or_file("zig").unwrap();
        let tools = zig.project.as_ref().unwrap();
        let options = crate::plan::CompileOptions::default();
        let arm64 = crate::platform::Platform::parse("linux/arm64").unwrap();
        let own = tool_vars(&arm64, &Paths::sandboxed(&zig));
        let env = environment(tools, &zig, &own, &options);
        assert_eq!(
            env["PKG_CONFIG_LIBDIR"],
            "/usr/lib/pkgconfig:/usr/share/pkgconfig"
        );
        assert!(!env.contains_key("PKG_CONFIG_SYSROOT_DIR"));
        let paths = Paths::sandboxed(&zig).with_sysroot(Some("/scratchpack/target".into()));
        let env = environment(tools, &zig, &tool_vars(&arm64, &paths), &options);
        assert_eq!(
            env["PKG_CONFIG_LIBDIR"],
            "/scratchpack/target/usr/lib/pkgconfig:/scratchpack/target/usr/share/pkgconfig"
        );
        assert_eq!(env["PKG_CONFIG_SYSROOT_DIR"], "/scratchpack/target");
    }

    #[test]
    fn steps_come_from_the_system_or_from_run() {
        let p = project("autotools");
        let steps = p.steps("x86_64-linux-musl", 4, None);
        assert_eq!(steps.len(), 2);
        assert!(
            steps[0].command.contains("--host=x86_64-linux-musl")
                && steps[0].command.ends_with("--without-x")
        );
        assert!(steps[0].setup && !steps[1].setup);
        assert_eq!(steps[1].command, "make -j4 hello");
        assert_eq!(p.packages(), ["make", "pkgconf"]);
        let run = ProjectPlan {
            run: vec!["make CC=cc app".into(), "strip app".into()],
            ..p
        };
        let steps = run.steps("h", 1, None);
        let commands: Vec<(&str, &str, bool)> = steps
            .iter()
            .map(|s| (s.name.as_str(), s.command.as_str(), s.setup))
            .collect();
        assert_eq!(
            commands,
            [
                ("run", "make CC=cc app", false),
                ("run", "strip app", false)
            ]
        );
        assert_eq!(run.describe(), "--run commands");
    }

    #[test]
    fn a_failed_step_stops_the_build_and_names_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("build.log");
        let keep = dir.path().join("kept/app.log");
        let runner = Recorder {
            ran: RefCell::new(Vec::new()),
            fail: "make",
            log: log.clone(),
        };
        let steps = project("autoreconf").steps("h", 1, None);
        let stamp = dir.path().join("setup.done");
        let err = run_steps(&runner, &steps, &stamp, &log, &keep, &Ui::plain()).unwrap_err();
        assert_eq!(runner.ran.borrow().len(), 3, "autoreconf, configure, make");
        match err {
            BuildError::Step(f) => {
                assert_eq!(f.step, "make");
                assert!(f.tail.ends_with("line of make -j1 hello"), "{}", f.tail);
                assert_eq!(f.log, keep);
                assert!(
                    std::fs::read_to_string(&keep)
                        .unwrap()
                        .contains("$ autoreconf -fi")
                );
            }
            other => panic!("{other}"),
        }
        let ok = Recorder {
            ran: RefCell::new(Vec::new()),
            fail: "nothing",
            log: log.clone(),
        };
        // The setup steps succeeded before make failed: they are not run again.
        run_steps(&ok, &steps, &stamp, &log, &keep, &Ui::plain()).unwrap();
        assert_eq!(*ok.ran.borrow(), ["make -j1 hello"]);
        // Other setup steps (another --configure-arg): all run again.
        let mut changed = project("autoreconf");
        changed.configure_args.push("--with-y".into());
        let steps = changed.steps("h", 1, None);
        ok.ran.borrow_mut().clear();
        run_steps(&ok, &steps, &stamp, &log, &keep, &Ui::plain()).unwrap();
        assert_eq!(ok.ran.borrow().len(), 3);
    }

    #[test]
    fn a_compiler_wrapper_leaves_the_object_newer_than_its_dependency_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        // Writes the object, then the dependency file, as zig does.
        let fake = "for a; do case $p in -o) o=$a;; -MF) d=$a;; esac; p=$a; done; \
                    echo obj >$o; sleep 0.05; [ -z \"$d\" ] || echo dep >$d";
        let argv: Vec<String> = ["/bin/sh", "-c", fake, "fake-cc"].map(String::from).into();
        let wrapper = dir.path().join("cc");
        write_script(&wrapper, &wrapper_script(&argv, true)).unwrap();
        let mtime = |name: &str| {
            let m = std::fs::metadata(dir.path().join(name)).unwrap();
            (m.mtime(), m.mtime_nsec())
        };
        let status = std::process::Command::new(&wrapper)
            .current_dir(dir.path())
            .args([
                "-c", "a.c", "-MT", "a.o", "-MMD", "-MP", "-MF", "a.d", "-o", "a.o",
            ])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(
            mtime("a.o") >= mtime("a.d"),
            "the object is older than its .d"
        );
        // Without a dependency file, or when the compile fails, nothing is touched.
        let fails = wrapper_script(&["/bin/sh".into(), "-c".into(), "exit 3".into()], true);
        write_script(&wrapper, &fails).unwrap();
        let status = std::process::Command::new(&wrapper)
            .current_dir(dir.path())
            .args(["-MD", "-o", "b.o"])
            .status()
            .unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(!dir.path().join("b.o").exists());
        // Others run their command as it is.
        let plain = wrapper_script(&["/usr/bin/ar".into()], false);
        assert_eq!(plain, "#!/bin/sh\nexec /usr/bin/ar \"$@\"\n");
    }

    #[test]
    fn the_step_script_logs_and_stops_on_errors() {
        let script = step_script("make 'a b'");
        assert!(script.starts_with("exec >>/scratchpack/log/build.log 2>&1\n"));
        assert!(script.contains("set -e\nmake 'a b'\n"));
        assert!(script.contains(r"'make '\''a b'\'''"), "{script}");
    }

    #[test]
    fn tails_are_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&f, text).unwrap();
        assert_eq!(tail(&f, 2), "line 98\nline 99");
        assert_eq!(tail(&dir.path().join("none"), 2), "");
    }
}
