//! The build half of a plan: sources, toolchain, compile flags, packages, sandbox and
//! network options.

use std::collections::BTreeMap;

use super::{Environment, ImagePlan, PlanError, flag_err, resolve_image};
use crate::builder::project::ProjectPlan;
use crate::cache::Cache;
use crate::cli::{BuildArgs, LangArg, ToolchainsArgs};
use crate::platform::Platform;
use crate::sandbox::limits::{self, Limits};
use crate::source::{self, Language, Sources};
use crate::toolchain::fetch::FetchContext;
use crate::toolchain::find::HostEnv;

/// What the compiler is told beyond the toolchain's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    pub cflags: Vec<String>,
    pub ldflags: Vec<String>,
    pub includes: Vec<String>,
    pub defines: Vec<String>,
    pub libs: Vec<String>,
    pub strip: bool,
}

#[derive(Debug, Clone)]
pub struct BuildPlan {
    pub sources: Sources,
    /// A project built by its own build system (or `--run`); none: compiled directly.
    pub project: Option<ProjectPlan>,
    /// `auto`, a toolchain name, or a toolchain file.
    pub toolchain: String,
    pub options: CompileOptions,
    pub sandbox: bool,
    /// Overrides the rootfs's default mirror.
    pub mirror: Option<String>,
    /// Overrides the default mirror of fetched toolchain archives.
    pub toolchain_mirror: Option<String>,
    /// `PIP_INDEX_URL`, for fetching a wheel when there is no pip.
    pub pip_index: Option<String>,
    pub go_proxy: Option<String>,
    /// Packages to install besides the toolchain's.
    pub apk: Vec<String>,
    /// Repositories replacing the rootfs's own (empty: the rootfs's).
    pub apk_repositories: Vec<String>,
    pub apk_allow_untrusted: bool,
    pub offline: bool,
    /// Memory and time the sandboxed build may use.
    pub limits: Limits,
    pub cache: Cache,
    pub host: HostEnv,
    /// The host environment, for toolchains' `pass_env`.
    pub host_vars: BTreeMap<String, String>,
    pub image: ImagePlan,
    /// What this build is for: one of `platforms` (the first until a build of several
    /// sets each in turn).
    pub platform: Platform,
    /// Every platform asked for, without repeats, in the order given.
    pub platforms: Vec<Platform>,
    /// The machine the build runs on.
    pub machine: Platform,
    pub json: bool,
    pub strict: bool,
    /// The flags as records and the build cache name them (see `canonical_command`).
    pub command: Vec<String>,
    /// The sources as given, relative to their root.
    pub inputs: Vec<String>,
    /// Reuse and keep builds in the build cache (`--no-build-cache`,
    /// `SCRATCHPACK_BUILD_CACHE=off` turn it off).
    pub build_cache: bool,
    /// Bytes the build cache keeps at most (`SCRATCHPACK_BUILD_CACHE_MAX`, default 2 GiB).
    pub build_cache_max: u64,
    /// The registry repository builds are fetched from (`--cache-from`,
    /// `SCRATCHPACK_CACHE_REPO`) and pushed to (`--cache-to`, the same variable).
    pub cache_from: Option<super::PushTo>,
    pub cache_to: Option<super::PushTo>,
}

impl BuildPlan {
    pub fn resolve(args: BuildArgs, env: &Environment) -> Result<BuildPlan, PlanError> {
        let machine = Platform::host().ok_or(PlanError::HostPlatform)?;
        let platforms = platforms(&args.platform, &machine)?;
        let lang = args.lang.map(|l| match l {
            LangArg::C => Language::C,
            LangArg::Cpp => Language::Cpp,
            LangArg::Go => Language::Go,
        });
        let broad = source::Broad::of_machine(env.path("HOME").as_deref());
        let project = super::project::resolve(&args, &env.cwd)?;
        let sources = match &project {
            Some(p) => source::project(&p.dir, super::project::default_name(p), &broad)?,
            None => source::resolve_excluding(
                &args.sources,
                lang,
                &args.include,
                &args.exclude,
                &env.cwd,
                &broad,
            )?,
        };
        if sources.language == Language::Go {
            for (flag, used) in [
                ("--cflags", !args.cflags.is_empty()),
                ("-I", !args.include.is_empty()),
                ("-D", !args.define.is_empty()),
                ("-l", !args.lib.is_empty()),
            ] {
                if used {
                    return Err(PlanError::NotForGo { flag });
                }
            }
        }
        for d in &args.define {
            let name = d.split('=').next().unwrap_or_default();
            let ok = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(flag_err(
                    "-D",
                    d,
                    "expected NAME or NAME=VALUE with a C identifier",
                ));
            }
        }
        for l in &args.lib {
            if l.is_empty() || l.contains('/') || l.contains(char::is_whitespace) {
                return Err(flag_err(
                    "-l",
                    l,
                    "expected a library name such as `m` or `z`",
                ));
            }
        }
        for pkg in &args.apk {
            let ok = !pkg.is_empty()
                && pkg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+-._".contains(&b))
                && !pkg.starts_with('-');
            if !ok {
                return Err(flag_err(
                    "--apk",
                    pkg,
                    "expected an Alpine package name such as zlib-static",
                ));
            }
        }
        let apk = args.apk.clone();
        let apk_repositories: Vec<String> = if args.apk_repository.is_empty() {
            env.get("SCRATCHPACK_APK_REPOSITORIES")
                .map(|v| {
                    v.split([' ', ',', '\n'])
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        } else {
            args.apk_repository.clone()
        };
        for repo in &apk_repositories {
            if !["https://", "http://", "file://"]
                .iter()
                .any(|s| repo.starts_with(s))
            {
                return Err(flag_err(
                    "--apk-repository",
                    repo,
                    "expected an https://, http:// or file:// URL",
                ));
            }
        }
        if args.offline && args.go_proxy.is_some() {
            return Err(flag_err(
                "--go-proxy",
                args.go_proxy.as_deref().unwrap_or_default(),
                "--offline forbids downloads",
            ));
        }
        let mirror = super::mirror(args.alpine_mirror, "SCRATCHPACK_ALPINE_MIRROR", env)?;
        let toolchain_mirror =
            super::mirror(args.toolchain_mirror, "SCRATCHPACK_TOOLCHAIN_MIRROR", env)?;
        let split = |list: &[String]| -> Vec<String> {
            list.iter()
                .flat_map(|f| f.split_whitespace().map(str::to_string))
                .collect()
        };
        let options = CompileOptions {
            cflags: split(&args.cflags),
            ldflags: split(&args.ldflags),
            includes: args
                .include
                .iter()
                .map(|i| format!("-I{}", i.display()))
                .collect(),
            defines: args.define.iter().map(|d| format!("-D{d}")).collect(),
            libs: args.lib.iter().map(|l| format!("-l{l}")).collect(),
            strip: !args.no_strip,
        };
        let memory = match &args.memory {
            Some(text) => {
                Some(limits::parse_size(text).map_err(|e| flag_err("--memory", text, e))?)
            }
            None => limits::default_memory(),
        };
        let timeout = limits::parse_duration(&args.timeout)
            .map_err(|e| flag_err("--timeout", &args.timeout, e))?;
        let limits = Limits {
            memory,
            timeout_ms: timeout.map(|d| d.as_millis().min(u128::from(u64::MAX)) as u64),
        };
        // The date: SOURCE_DATE_EPOCH, else the sources' last commit (the same commit
        // gives the same bytes), else 1970.
        let git = crate::source::git::describe(&sources.root);
        let epoch = env
            .get("SOURCE_DATE_EPOCH")
            .or_else(|| git.as_ref().map(|g| g.time.to_string()));
        let registry = args.destination.registry.clone();
        let (output, keep, push) = super::push::output_and_push(
            args.destination,
            env,
            args.cache_from.is_some()
                || args.cache_to.is_some()
                || env.get("SCRATCHPACK_CACHE_REPO").is_some(),
        )?;
        let mut image =
            resolve_image(args.image, output, &sources.default_name, epoch)?.pushed_to(push, keep);
        let command = super::canonical_command(&env.args, &env.cwd, &sources.root);
        let given = super::canonical_inputs(&sources.args, &sources.cwd, &sources.root);
        if let Some(attest) = &mut image.attest {
            attest.kind = "build";
            attest.command = command.clone();
            attest.inputs = given.clone();
        }
        let build_cache_max = match env.get("SCRATCHPACK_BUILD_CACHE_MAX") {
            None => 2 << 30,
            Some(v) => v
                .trim()
                .parse::<u64>()
                .or_else(|_| limits::parse_size(&v))
                .map_err(|_| {
                    flag_err(
                        "SCRATCHPACK_BUILD_CACHE_MAX",
                        &v,
                        "a size is needed: bytes, or with K, M, G (at least 16M with a unit)",
                    )
                })?,
        };
        let shared = env.get("SCRATCHPACK_CACHE_REPO");
        let cache_ref = |given: &Option<String>| -> Result<Option<super::PushTo>, PlanError> {
            given
                .clone()
                .or_else(|| shared.clone())
                .map(|r| super::PushTo::resolve(&r, &registry, env))
                .transpose()
        };
        let cache_from = cache_ref(&args.cache_from)?;
        let cache_to = cache_ref(&args.cache_to)?;
        let build_cache = !args.no_build_cache
            && !matches!(
                env.get("SCRATCHPACK_BUILD_CACHE").as_deref(),
                Some("off" | "0" | "false" | "no")
            );
        if let Some(g) = &git {
            let mut add = |key: &str, value: &str| {
                image
                    .annotations
                    .entry(format!("org.opencontainers.image.{key}"))
                    .or_insert_with(|| value.to_string());
            };
            add("revision", &g.revision);
            if let Some(url) = &g.url {
                add("source", url);
            }
        }
        let inputs: Vec<std::path::PathBuf> = args
            .sources
            .iter()
            .cloned()
            .chain(image.host_inputs())
            .map(|p| env.cwd.join(p))
            .collect();
        super::refuse_overwriting(&env.cwd.join(&image.output), &inputs)?;
        Ok(BuildPlan {
            sources,
            project,
            toolchain: args.toolchain,
            options,
            sandbox: !args.no_sandbox,
            mirror,
            toolchain_mirror,
            pip_index: env.get("PIP_INDEX_URL"),
            go_proxy: args.go_proxy,
            apk,
            apk_repositories,
            apk_allow_untrusted: args.apk_allow_untrusted,
            offline: args.offline,
            limits,
            cache: env.cache()?,
            host: env.host(),
            host_vars: env.vars.clone(),
            image,
            platform: platforms[0].clone(),
            platforms,
            machine,
            json: args.json,
            strict: args.strict,
            command,
            inputs: given,
            build_cache,
            build_cache_max,
            cache_from,
            cache_to,
        })
    }
}

/// `--platform` values: parsed, `all` expanded, repeats dropped; the machine's own when
/// none is given.
fn platforms(given: &[String], machine: &Platform) -> Result<Vec<Platform>, PlanError> {
    let mut platforms: Vec<Platform> = Vec::new();
    for name in given.iter().map(|n| n.trim()) {
        let more = if name == "all" {
            Platform::buildable()
        } else {
            vec![Platform::parse(name).map_err(|e| flag_err("--platform", name, e.to_string()))?]
        };
        for p in more {
            if !platforms.contains(&p) {
                platforms.push(p);
            }
        }
    }
    if platforms.is_empty() {
        platforms.push(machine.clone());
    }
    Ok(platforms)
}

impl BuildPlan {
    /// Whether this build is for another platform than the machine's.
    pub fn is_cross(&self) -> bool {
        self.platform != self.machine
    }

    /// What fetching a toolchain may use.
    pub fn fetch_context(&self) -> FetchContext {
        FetchContext {
            cache: self.cache.clone(),
            offline: self.offline,
            mirror: self.toolchain_mirror.clone(),
            host: self.host.clone(),
            pip_index: self.pip_index.clone(),
            defer: false,
        }
    }
}

pub struct ToolchainsPlan {
    pub json: bool,
    pub mirror: Option<String>,
    pub cache: Cache,
    /// Where toolchains would be fetched from, and whether they may be.
    pub fetch: FetchContext,
}

impl ToolchainsPlan {
    pub fn resolve(args: ToolchainsArgs, env: &Environment) -> Result<ToolchainsPlan, PlanError> {
        let cache = env.cache()?;
        Ok(ToolchainsPlan {
            json: args.json,
            mirror: super::mirror(args.alpine_mirror, "SCRATCHPACK_ALPINE_MIRROR", env)?,
            fetch: FetchContext {
                cache: cache.clone(),
                offline: args.offline,
                mirror: super::mirror(args.toolchain_mirror, "SCRATCHPACK_TOOLCHAIN_MIRROR", env)?,
                host: env.host(),
                pip_index: env.get("PIP_INDEX_URL"),
                defer: false,
            },
            cache,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_default_expand_and_drop_repeats() {
        let machine = Platform::parse("linux/amd64").unwrap();
        let names = |given: &[&str]| -> Vec<String> {
            let given: Vec<String> = given.iter().map(|s| s.to_string()).collect();
            platforms(&given, &machine)
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(names(&[]), ["linux/amd64"]);
        assert_eq!(
            names(&["arm64", " linux/arm64", "linux/arm/v7"]),
            ["linux/arm64", "linux/arm/v7"]
        );
        let all = names(&["linux/s390x", "all"]);
        assert_eq!(all.len(), 8);
        assert_eq!(all[0], "linux/s390x", "the order given comes first");
        let e = platforms(&["linux/mips".into()], &machine).unwrap_err();
        assert!(e.to_string().contains("--platform"), "{e}");
    }
}
