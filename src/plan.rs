//! Parse, then resolve: the only reader of flags and environment (SOURCE_DATE_EPOCH). The
//! CLI values become validated plans of plain data; later stages never see a flag.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::cache::{Cache, CacheError};
use crate::cli::{
    BuildArgs, FormatArg, ImageArgs, InspectArgs, LangArg, PackageArgs, ToolchainsArgs,
};
use crate::image::spec::RunConfig;
use crate::image::tree::{TreeError, image_path};
use crate::output::Format;
use crate::reference::{Reference, ReferenceError};
use crate::source::{self, Language, SourceError, Sources};
use crate::toolchain::find::HostEnv;

/// Where the binary goes in the image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The PATH every image gets unless `--env PATH=...` says otherwise.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The nonroot user (distroless and chainguard use the same id).
pub const NONROOT: &str = "65532:65532";
/// Where `--ca-certificates` puts the bundle.
pub const CA_BUNDLE_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The process environment and working directory, read once.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub cwd: PathBuf,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .map(|(k, v)| {
                    (
                        k.to_string_lossy().into_owned(),
                        v.to_string_lossy().into_owned(),
                    )
                })
                .collect(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        }
    }

    pub fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).filter(|v| !v.is_empty()).cloned()
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.get(key).map(PathBuf::from)
    }

    pub fn cache(&self) -> Result<Cache, CacheError> {
        Cache::locate(
            self.path("SCRATCHPACK_CACHE_DIR"),
            self.path("XDG_CACHE_HOME"),
            self.path("HOME"),
        )
    }

    pub fn host(&self) -> HostEnv {
        HostEnv {
            path: self.get("PATH").map(Into::into),
            goroot: self.path("GOROOT"),
            cwd: self.cwd.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("invalid {flag} `{value}`: {reason}")]
    Flag {
        flag: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error(transparent)]
    Tag(#[from] ReferenceError),
    #[error("invalid --add destination")]
    AddPath(#[source] TreeError),
    #[error("SOURCE_DATE_EPOCH=`{0}` is not a number of seconds since 1970")]
    Epoch(String),
    #[error("no image name can be derived from the binary name `{0}`")]
    NoTag(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("`{0}` is not a mirror URL (https://, http:// or file://)")]
    Mirror(String),
    #[error("{flag} applies to C sources only")]
    NotForGo { flag: &'static str },
}

impl PlanError {
    pub fn hint(&self) -> Option<String> {
        match self {
            PlanError::Flag { flag, .. } => Some(format!(
                "see `scratchpack package --help` for the form of {flag}"
            )),
            PlanError::Tag(_) | PlanError::NoTag(_) => {
                Some("pass --tag NAME[:TAG] with a lowercase name, e.g. --tag hello:1.0".into())
            }
            PlanError::AddPath(_) => {
                Some("write --add SRC:DST with an absolute DST, e.g. --add ./conf:/etc/app".into())
            }
            PlanError::Epoch(_) => Some(
                "set SOURCE_DATE_EPOCH to an integer, e.g. `$(git log -1 --format=%ct)`".into(),
            ),
            PlanError::Source(e) => Some(e.hint()),
            PlanError::Cache(e) => Some(e.hint()),
            PlanError::Mirror(_) => Some(
                "e.g. --alpine-mirror file:///srv/alpine, laid out like Alpine's mirror".into(),
            ),
            PlanError::NotForGo { .. } => {
                Some("Go takes its flags from the module; --ldflags adds to -ldflags".into())
            }
        }
    }
}

fn flag_err(flag: &'static str, value: &str, reason: &'static str) -> PlanError {
    PlanError::Flag {
        flag,
        value: value.to_string(),
        reason,
    }
}

pub struct InspectPlan {
    pub paths: Vec<PathBuf>,
    pub json: bool,
    pub strict: bool,
}

impl From<InspectArgs> for InspectPlan {
    fn from(args: InspectArgs) -> Self {
        InspectPlan {
            paths: args.paths,
            json: args.json,
            strict: args.strict,
        }
    }
}

/// The image half of a package or build: what goes in and how it runs.
#[derive(Debug, Clone)]
pub struct ImagePlan {
    pub output: PathBuf,
    pub format: Format,
    /// File name of the binary under [`BIN_DIR`].
    pub name: String,
    pub bare: bool,
    pub ca_certificates: Option<PathBuf>,
    /// Host source and absolute image destination.
    pub adds: Vec<(PathBuf, String)>,
    pub run: RunConfig,
    pub annotations: BTreeMap<String, String>,
    pub reference: Reference,
    /// SOURCE_DATE_EPOCH, or 0.
    pub epoch: u64,
}

impl ImagePlan {
    pub fn binary_path(&self) -> String {
        format!("{BIN_DIR}/{}", self.name)
    }
}

#[derive(Debug, Clone)]
pub struct PackagePlan {
    pub binary: PathBuf,
    pub image: ImagePlan,
    pub json: bool,
    pub strict: bool,
}

impl PackagePlan {
    pub fn resolve(args: PackageArgs, env: &Environment) -> Result<PackagePlan, PlanError> {
        let default_name = file_name(&args.binary);
        let image = resolve_image(
            args.image,
            args.output,
            &default_name,
            env.get("SOURCE_DATE_EPOCH"),
        )?;
        Ok(PackagePlan {
            binary: args.binary,
            image,
            json: args.json,
            strict: args.strict,
        })
    }
}

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
    /// `auto`, a toolchain name, or a toolchain file.
    pub toolchain: String,
    pub options: CompileOptions,
    pub sandbox: bool,
    /// Overrides the rootfs's default mirror.
    pub mirror: Option<String>,
    pub go_proxy: Option<String>,
    /// Packages to install besides the toolchain's.
    pub apk: Vec<String>,
    /// Repositories replacing the rootfs's own (empty: the rootfs's).
    pub apk_repositories: Vec<String>,
    pub apk_allow_untrusted: bool,
    pub offline: bool,
    pub cache: Cache,
    pub host: HostEnv,
    /// The host environment, for toolchains' `pass_env`.
    pub host_vars: BTreeMap<String, String>,
    pub image: ImagePlan,
    pub json: bool,
    pub strict: bool,
}

impl BuildPlan {
    pub fn resolve(args: BuildArgs, env: &Environment) -> Result<BuildPlan, PlanError> {
        let lang = args.lang.map(|l| match l {
            LangArg::C => Language::C,
            LangArg::Go => Language::Go,
        });
        let sources = source::resolve(&args.sources, lang, &args.include, &env.cwd)?;
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
        let mirror = match args
            .alpine_mirror
            .or_else(|| env.get("SCRATCHPACK_ALPINE_MIRROR"))
        {
            Some(m)
                if ["https://", "http://", "file://"]
                    .iter()
                    .any(|s| m.starts_with(s)) =>
            {
                Some(m)
            }
            Some(m) => return Err(PlanError::Mirror(m)),
            None => None,
        };
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
        let epoch = env.get("SOURCE_DATE_EPOCH");
        let image = resolve_image(args.image, args.output, &sources.default_name, epoch)?;
        Ok(BuildPlan {
            sources,
            toolchain: args.toolchain,
            options,
            sandbox: !args.no_sandbox,
            mirror,
            go_proxy: args.go_proxy,
            apk,
            apk_repositories,
            apk_allow_untrusted: args.apk_allow_untrusted,
            offline: args.offline,
            cache: env.cache()?,
            host: env.host(),
            host_vars: env.vars.clone(),
            image,
            json: args.json,
            strict: args.strict,
        })
    }
}

pub struct ToolchainsPlan {
    pub json: bool,
    pub mirror: Option<String>,
    pub cache: Cache,
    pub host: HostEnv,
}

impl ToolchainsPlan {
    pub fn resolve(args: ToolchainsArgs, env: &Environment) -> Result<ToolchainsPlan, PlanError> {
        Ok(ToolchainsPlan {
            json: args.json,
            mirror: args
                .alpine_mirror
                .or_else(|| env.get("SCRATCHPACK_ALPINE_MIRROR")),
            cache: env.cache()?,
            host: env.host(),
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Resolves the image flags; `default_name` is the binary's name unless `--name` is given.
pub fn resolve_image(
    args: ImageArgs,
    output: PathBuf,
    default_name: &str,
    source_date_epoch: Option<String>,
) -> Result<ImagePlan, PlanError> {
    let name = args.name.unwrap_or_else(|| default_name.to_string());
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(flag_err(
            "--name",
            &name,
            "a file name without `/` is needed",
        ));
    }
    let reference = match &args.tag {
        Some(tag) => Reference::parse(tag)?,
        None => Reference::from_binary_name(&name).ok_or_else(|| PlanError::NoTag(name.clone()))?,
    };
    let epoch = match source_date_epoch.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(v) => v.parse().map_err(|_| PlanError::Epoch(v.to_string()))?,
    };

    let mut env = BTreeMap::from([("PATH".to_string(), DEFAULT_PATH.to_string())]);
    if args.ca_certificates.is_some() {
        env.insert("SSL_CERT_FILE".into(), CA_BUNDLE_PATH.into());
    }
    for kv in &args.env {
        let (k, v) = key_value("--env", kv)?;
        env.insert(k, v);
    }
    let labels = args
        .labels
        .iter()
        .map(|kv| key_value("--label", kv))
        .collect::<Result<_, _>>()?;
    let annotations = args
        .annotations
        .iter()
        .map(|kv| key_value("--annotation", kv))
        .collect::<Result<_, _>>()?;
    let mut exposed_ports = args
        .expose
        .iter()
        .map(|p| port(p))
        .collect::<Result<Vec<_>, _>>()?;
    exposed_ports.sort();
    exposed_ports.dedup();
    if let Some(dir) = &args.workdir {
        if !dir.starts_with('/') {
            return Err(flag_err("--workdir", dir, "it must be an absolute path"));
        }
    }
    let adds = args.add.iter().map(|a| add(a)).collect::<Result<_, _>>()?;
    let entrypoint = match args.entrypoint {
        Some(e) if e.is_empty() => return Err(flag_err("--entrypoint", &e, "it is empty")),
        Some(e) => e,
        None => format!("{BIN_DIR}/{name}"),
    };
    let run = RunConfig {
        entrypoint: vec![entrypoint],
        cmd: args.cmd,
        env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        workdir: args.workdir,
        user: Some(user(args.user.as_deref())?),
        labels,
        exposed_ports,
    };
    Ok(ImagePlan {
        output,
        format: match args.format {
            FormatArg::Archive => Format::Archive,
            FormatArg::Oci => Format::Oci,
            FormatArg::OciDir => Format::OciDir,
        },
        name,
        bare: args.bare,
        ca_certificates: args.ca_certificates,
        adds,
        run,
        annotations,
        reference,
        epoch,
    })
}

fn key_value(flag: &'static str, kv: &str) -> Result<(String, String), PlanError> {
    match kv.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(flag_err(flag, kv, "expected KEY=VALUE")),
    }
}

/// `8080` or `8080/tcp`, `53/udp`, `9/sctp` to the config's `PORT/PROTO` form.
fn port(spec: &str) -> Result<String, PlanError> {
    let (num, proto) = spec.split_once('/').unwrap_or((spec, "tcp"));
    let valid_port = num.parse::<u16>().is_ok_and(|p| p > 0);
    if !valid_port {
        return Err(flag_err(
            "--expose",
            spec,
            "the port must be a number from 1 to 65535",
        ));
    }
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(flag_err(
            "--expose",
            spec,
            "the protocol must be tcp, udp or sctp",
        ));
    }
    Ok(format!(
        "{}/{proto}",
        num.parse::<u16>().unwrap_or_default()
    ))
}

/// `SRC:DST`; a DST ending in `/` receives SRC under its own name.
fn add(spec: &str) -> Result<(PathBuf, String), PlanError> {
    let (src, dst) = spec
        .split_once(':')
        .filter(|(s, d)| !s.is_empty() && !d.is_empty())
        .ok_or_else(|| flag_err("--add", spec, "expected SRC:DST"))?;
    let src = PathBuf::from(src);
    let dst = if dst.ends_with('/') {
        format!("{dst}{}", file_name(&src))
    } else {
        dst.to_string()
    };
    image_path(&dst).map_err(PlanError::AddPath)?;
    Ok((src, dst))
}

/// Maps the names the image's passwd knows to ids; numeric ids pass unchanged.
fn user(spec: Option<&str>) -> Result<String, PlanError> {
    let Some(spec) = spec else {
        return Ok(NONROOT.to_string());
    };
    let id = |part: &str| -> Option<String> {
        match part {
            "root" => Some("0".into()),
            "nonroot" => Some("65532".into()),
            "nobody" => Some("65534".into()),
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => Some(n.into()),
            _ => None,
        }
    };
    let bad = || {
        flag_err(
            "--user",
            spec,
            "use a numeric UID[:GID], or root, nonroot or nobody",
        )
    };
    match spec.split_once(':') {
        Some((u, g)) => Ok(format!(
            "{}:{}",
            id(u).ok_or_else(bad)?,
            id(g).ok_or_else(bad)?
        )),
        None => {
            let uid = id(spec).ok_or_else(bad)?;
            // A lone name also picks its own group; without passwd a lone uid would get gid 0.
            Ok(if spec.bytes().all(|b| b.is_ascii_digit()) {
                uid
            } else {
                format!("{uid}:{uid}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users() {
        assert_eq!(user(None).unwrap(), "65532:65532");
        assert_eq!(user(Some("root")).unwrap(), "0:0");
        assert_eq!(user(Some("1000")).unwrap(), "1000");
        assert_eq!(user(Some("nobody:root")).unwrap(), "65534:0");
        assert!(user(Some("www-data")).is_err());
    }

    #[test]
    fn ports() {
        assert_eq!(port("8080").unwrap(), "8080/tcp");
        assert_eq!(port("53/udp").unwrap(), "53/udp");
        assert!(port("0").is_err() && port("70000").is_err() && port("80/http").is_err());
    }

    #[test]
    fn adds() {
        assert_eq!(
            add("conf/app.toml:/etc/app/").unwrap().1,
            "/etc/app/app.toml"
        );
        assert_eq!(
            add("./data:/srv/data").unwrap(),
            (PathBuf::from("./data"), "/srv/data".to_string())
        );
        assert!(add("a:relative").is_err());
        assert!(add("nocolon").is_err());
        assert!(add("a:/x/../y").is_err());
    }

    #[test]
    fn key_values() {
        assert_eq!(
            key_value("--env", "A=b=c").unwrap(),
            ("A".into(), "b=c".into())
        );
        assert!(key_value("--env", "=x").is_err());
        assert!(key_value("--env", "novalue").is_err());
    }
}
