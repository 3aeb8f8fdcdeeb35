//! Build systems as data (`toolchains/build-systems.toml`): which one a project
//! directory uses, and its steps with the user's options expanded into shell commands.
//! Pure: unit-tested against the built-in file.

use std::path::Path;

use serde::Deserialize;

use crate::process::shell_quote;
use crate::toolchain::ToolchainError;

const FILE: &str = "toolchains/build-systems.toml";
pub(crate) const TEXT: &str = include_str!("../../../toolchains/build-systems.toml");
const PLACEHOLDERS: &[&str] = &[
    "host",
    "jobs",
    "configure_args",
    "targets",
    "cmake_targets",
    "defines",
    "cmake_cross",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SystemsFile {
    system: Vec<System>,
}

/// One build system: how it is recognised, what it needs, what it runs.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub name: String,
    /// Files at the top of a project that mean this system builds it.
    pub detect: Vec<String>,
    /// Alpine packages installed into the rootfs first.
    #[serde(default)]
    pub packages: Vec<String>,
    pub steps: Vec<Step>,
}

/// A shell command run in the project's copy.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub run: String,
    /// A setup step (configure, cmake): run once per kept copy of the project, while the
    /// steps stay the same; the other steps run on every build.
    #[serde(default)]
    pub setup: bool,
}

/// What the placeholders of a step stand for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepOptions {
    pub host: String,
    pub jobs: usize,
    pub configure_args: Vec<String>,
    pub targets: Vec<String>,
    /// `NAME=VALUE`, given as `-DNAME=VALUE`.
    pub defines: Vec<String>,
    /// Another platform than this machine's: CMake is then told it cross-compiles.
    pub cross: Option<Cross>,
}

/// A build for another platform than the machine's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cross {
    /// The target's machine in a triple (`aarch64`): CMake does not run what it builds.
    pub machine: String,
    /// Where the target's `--apk` packages are, as the build sees them: CMake looks for
    /// libraries and headers there first.
    pub sysroot: Option<String>,
}

/// The built-in build systems, in detection order.
pub fn builtin() -> Result<Vec<System>, ToolchainError> {
    parse(FILE, TEXT)
}

fn parse(file: &str, text: &str) -> Result<Vec<System>, ToolchainError> {
    let raw: SystemsFile = toml::from_str(text).map_err(|e| ToolchainError::Parse {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    for s in &raw.system {
        let invalid = |key: &str, reason: String| ToolchainError::Invalid {
            file: file.to_string(),
            key: format!("system.{}.{key}", s.name),
            reason,
        };
        if s.detect.is_empty() || s.detect.iter().any(|d| d.is_empty() || d.contains('/')) {
            return Err(invalid("detect", "names files at the project's top".into()));
        }
        if s.steps.is_empty() {
            return Err(invalid("steps", "is empty".into()));
        }
        for step in &s.steps {
            crate::toolchain::template::check(&step.run, |p| PLACEHOLDERS.contains(&p))
                .map_err(|r| invalid("steps", r))?;
        }
    }
    Ok(raw.system)
}

/// The system building `dir`: the first whose detect file is there.
pub fn detect<'a>(systems: &'a [System], dir: &Path) -> Option<&'a System> {
    systems.iter().find(|s| {
        s.detect
            .iter()
            .any(|f| std::fs::symlink_metadata(dir.join(f)).is_ok_and(|m| m.is_file()))
    })
}

/// The system called `name`.
pub fn by_name<'a>(systems: &'a [System], name: &str) -> Option<&'a System> {
    systems.iter().find(|s| s.name == name)
}

/// `step` as a shell command, every value quoted.
pub fn expand(step: &Step, options: &StepOptions) -> String {
    let list = |items: &[String]| -> String {
        items
            .iter()
            .map(|i| shell_quote(i))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let defines: Vec<String> = options.defines.iter().map(|d| format!("-D{d}")).collect();
    let mut vars = crate::toolchain::template::Vars::default();
    vars.set("host", shell_quote(&options.host))
        .set("jobs", options.jobs.to_string())
        .set("configure_args", list(&options.configure_args))
        .set("targets", list(&options.targets))
        .set(
            "cmake_targets",
            if options.targets.is_empty() {
                String::new()
            } else {
                format!("--target {}", list(&options.targets))
            },
        )
        .set("defines", list(&defines))
        .set(
            "cmake_cross",
            options.cross.as_ref().map_or(String::new(), |c| {
                let mut args = format!(
                    "-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR={}",
                    shell_quote(&c.machine)
                );
                if let Some(root) = &c.sysroot {
                    args.push_str(&format!(" -DCMAKE_FIND_ROOT_PATH={}", shell_quote(root)));
                }
                args
            }),
        );
    vars.expand(&step.run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_systems_load_in_detection_order() {
        let all = builtin().unwrap();
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["autotools", "autoreconf", "cmake", "meson", "make"]);
        assert_eq!(by_name(&all, "make").unwrap().packages, ["make", "pkgconf"]);
        assert!(
            by_name(&all, "cmake")
                .unwrap()
                .packages
                .contains(&"samurai".to_string())
        );
    }

    #[test]
    fn detection_prefers_configure_then_cmake_then_make() {
        let all = builtin().unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(&all, dir.path()).is_none());
        std::fs::write(dir.path().join("Makefile"), "").unwrap();
        assert_eq!(detect(&all, dir.path()).unwrap().name, "make");
        std::fs::write(dir.path().join("CMakeLists.txt"), "").unwrap();
        assert_eq!(detect(&all, dir.path()).unwrap().name, "cmake");
        std::fs::write(dir.path().join("configure.ac"), "").unwrap();
        assert_eq!(detect(&all, dir.path()).unwrap().name, "autoreconf");
        std::fs::write(dir.path().join("configure"), "").unwrap();
        assert_eq!(detect(&all, dir.path()).unwrap().name, "autotools");
        // A directory named like a detect file is not one.
        let other = tempfile::tempdir().unwrap();
        std::fs::create_dir(other.path().join("Makefile")).unwrap();
        assert!(detect(&all, other.path()).is_none());
    }

    #[test]
    fn options_are_quoted_for_the_shell() {
        let all = builtin().unwrap();
        let options = StepOptions {
            host: "x86_64-linux-musl".into(),
            jobs: 2,
            configure_args: vec!["--with-x=a b".into(), "--enable-static".into()],
            targets: vec!["hello".into(), "$(rm -rf /)".into()],
            defines: vec!["FOO=it's".into()],
            cross: None,
        };
        let auto = by_name(&all, "autotools").unwrap();
        let configure = expand(&auto.steps[0], &options);
        assert!(
            configure.starts_with("./configure --host=x86_64-linux-musl ")
                && configure.ends_with("'--with-x=a b' --enable-static"),
            "{configure}"
        );
        let make = expand(&auto.steps[1], &options);
        assert_eq!(make, "make -j2 hello '$(rm -rf /)'");
        let cmake = expand(&by_name(&all, "cmake").unwrap().steps[0], &options);
        assert!(cmake.ends_with(r"'-DFOO=it'\''s'"), "{cmake}");
        let build = expand(&by_name(&all, "cmake").unwrap().steps[1], &options);
        assert!(build.ends_with("--target hello '$(rm -rf /)'"), "{build}");
        assert!(!cmake.contains("CMAKE_SYSTEM"), "not cross: {cmake}");
        let none = StepOptions::default();
        let build = expand(&by_name(&all, "cmake").unwrap().steps[1], &none);
        assert!(!build.contains("--target"), "{build}");
        let mut cross = StepOptions {
            cross: Some(Cross {
                machine: "aarch64".into(),
                sysroot: None,
            }),
            ..StepOptions::default()
        };
        let cmake = expand(&by_name(&all, "cmake").unwrap().steps[0], &cross);
        assert!(
            cmake.contains("-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64")
                && !cmake.contains("CMAKE_FIND_ROOT_PATH"),
            "{cmake}"
        );
        cross.cross.as_mut().unwrap().sysroot = Some("/scratchpack/target".into());
        let cmake = expand(&by_name(&all, "cmake").unwrap().steps[0], &cross);
        assert!(
            cmake.contains(
                "-DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_FIND_ROOT_PATH=/scratchpack/target"
            ),
            "{cmake}"
        );
    }

    #[test]
    fn bad_files_name_the_key() {
        let bad = TEXT.replace("{jobs}", "{cores}");
        let err = parse("b.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("b.toml") && err.contains("cores"), "{err}");
        let bad = TEXT.replace("detect = [\"Makefile\"", "detect = [\"a/Makefile\"");
        let bad = bad.replace(
            "\"GNUmakefile\", \"makefile\", \"Makefile\"",
            "\"../Makefile\"",
        );
        let err = parse("b.toml", &bad).unwrap_err().to_string();
        assert!(err.contains("system.make.detect"), "{err}");
    }
}
