//! The image half of a plan: what goes into the image and how it runs, from the image
//! flags shared by `package` and `build`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{BIN_DIR, CA_BUNDLE_PATH, DEFAULT_PATH, Environment, NONROOT, PlanError, flag_err};
use crate::cli::{FormatArg, ImageArgs, PackageArgs};
use crate::image::spec::RunConfig;
use crate::image::tree::image_path;
use crate::output::Format;
use crate::reference::Reference;

/// 9999-12-31T23:59:59Z: the last second RFC 3339 dates (the config's `created`) and
/// tar clients can hold.
const MAX_EPOCH: u64 = 253_402_300_799;
/// The largest user or group id runtimes accept (runc: 2^31 - 1).
const MAX_ID: u32 = i32::MAX as u32;

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
    /// Further `--tag`s: the same image under more names.
    pub more_tags: Vec<Reference>,
    /// SOURCE_DATE_EPOCH, or 0.
    pub epoch: u64,
    /// What follows the binary's name because no flag said otherwise.
    pub derived: Derived,
    /// `--push REF`: the registry the image goes to once written.
    pub push: Option<super::PushTo>,
    /// False when `output` is a temporary file (`--push` without `-o`).
    pub keep_output: bool,
    /// The history entry (`scratchpack VERSION`, and the toolchain for builds).
    pub created_by: String,
    /// What the SBOM and provenance record; `None` with `--no-sbom`.
    pub attest: Option<AttestPlan>,
}

/// The command-wide part of the SBOM and provenance.
#[derive(Debug, Clone)]
pub struct AttestPlan {
    /// `build` or `package`.
    pub kind: &'static str,
    /// The command line, canonical (see [`super::canonical_command`]).
    pub command: Vec<String>,
    /// A build's sources as given, relative to their root (empty for `package`).
    pub inputs: Vec<String>,
    /// When the command started, with `--provenance-times`.
    pub started: Option<std::time::SystemTime>,
}

/// Settings derived from the binary's name, which a project build learns late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Derived {
    pub name: bool,
    pub entrypoint: bool,
    pub reference: bool,
}

impl ImagePlan {
    pub fn binary_path(&self) -> String {
        format!("{BIN_DIR}/{}", self.name)
    }

    /// Names the binary `name` (what a project build wrote), unless `--name` named it;
    /// the entrypoint and the image name follow unless flags set them.
    pub fn rename_binary(&mut self, name: &str) {
        if !self.derived.name || name == self.name {
            return;
        }
        self.name = name.to_string();
        if self.derived.entrypoint {
            self.run.entrypoint = vec![self.binary_path()];
        }
        if self.derived.reference {
            if let Some(reference) = Reference::from_binary_name(name) {
                self.reference = reference;
            }
        }
    }

    /// The host files the image is made of, besides the binary (`--add`, the CA bundle).
    pub fn host_inputs(&self) -> Vec<PathBuf> {
        self.adds
            .iter()
            .map(|(src, _)| src.clone())
            .chain(self.ca_certificates.iter().cloned())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct PackagePlan {
    /// One static executable per platform.
    pub binaries: Vec<PathBuf>,
    /// Each binary's platform, in order (`--platform`); empty: read from the files.
    pub platforms: Vec<crate::platform::Platform>,
    pub image: ImagePlan,
    pub json: bool,
    pub strict: bool,
}

impl PackagePlan {
    pub fn resolve(args: PackageArgs, env: &Environment) -> Result<PackagePlan, PlanError> {
        let first = &args.binaries[0];
        let default_name = if args.binaries.len() > 1 {
            without_platform_suffix(&file_name(first))
        } else {
            file_name(first)
        };
        let (output, keep, push) = super::push::output_and_push(args.destination, env, false)?;
        let image = resolve_image(
            args.image,
            output,
            &default_name,
            env.get("SOURCE_DATE_EPOCH"),
        )?
        .pushed_to(push, keep);
        let mut image = image;
        if let Some(attest) = &mut image.attest {
            attest.command = super::canonical_command(&env.args, &env.cwd, &env.cwd);
        }
        let mut inputs = image.host_inputs();
        inputs.extend(args.binaries.iter().cloned());
        super::refuse_overwriting(&image.output, &inputs)?;
        Ok(PackagePlan {
            platforms: given_platforms(&args.platform, args.binaries.len())?,
            binaries: args.binaries,
            image,
            json: args.json,
            strict: args.strict,
        })
    }
}

/// `--platform` of `package`: one per binary, or none.
fn given_platforms(
    given: &[String],
    binaries: usize,
) -> Result<Vec<crate::platform::Platform>, PlanError> {
    let platforms = given
        .iter()
        .map(|n| {
            crate::platform::Platform::parse(n.trim())
                .map_err(|e| flag_err("--platform", n, e.to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !platforms.is_empty() && platforms.len() != binaries {
        return Err(flag_err(
            "--platform",
            &given.join(","),
            format!(
                "{} platforms for {binaries} binaries: give one per binary, in the same order",
                platforms.len()
            ),
        ));
    }
    Ok(platforms)
}

/// `app` for `app-arm64`, `app_linux_amd64` or `app-arm-v7`: the name binaries built per
/// platform share (unchanged when no platform ends it).
fn without_platform_suffix(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let suffixes = crate::platform::Platform::buildable()
        .into_iter()
        .flat_map(|p| {
            let alpine = p.names().map(|n| n.alpine).unwrap_or_default();
            [
                p.arch_with_variant().replace('/', "-"),
                p.arch_with_variant().replace('/', ""),
                alpine.to_string(),
                format!("linux-{}", p.arch_with_variant().replace('/', "-")),
                format!("linux_{}", p.arch_with_variant().replace('/', "_")),
            ]
        });
    let mut best = name.len();
    for suffix in suffixes {
        for sep in ['-', '_', '.'] {
            let tail = format!("{sep}{}", suffix.replace('-', &sep.to_string()));
            if lower.ends_with(&tail) && name.len() > tail.len() {
                best = best.min(name.len() - tail.len());
            }
        }
    }
    name[..best].to_string()
}

pub(super) fn file_name(path: &Path) -> String {
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
    let derived = Derived {
        name: args.name.is_none(),
        entrypoint: args.entrypoint.is_none(),
        reference: args.tag.is_empty(),
    };
    let name = args.name.unwrap_or_else(|| default_name.to_string());
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(flag_err(
            "--name",
            &name,
            "a file name without `/` is needed",
        ));
    }
    let reference = match args.tag.first() {
        Some(tag) => Reference::parse(tag)?,
        None => Reference::from_binary_name(&name).ok_or_else(|| PlanError::NoTag(name.clone()))?,
    };
    let mut more_tags: Vec<Reference> = Vec::new();
    for tag in args.tag.iter().skip(1) {
        let r = Reference::parse(tag)?;
        if r != reference && !more_tags.contains(&r) {
            more_tags.push(r);
        }
    }
    let epoch = match source_date_epoch.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(v) => v
            .parse()
            .ok()
            .filter(|&e| e <= MAX_EPOCH)
            .ok_or_else(|| PlanError::Epoch(v.to_string()))?,
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
    let annotations: BTreeMap<String, String> = args
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
    // The standard annotations (image-spec's annotations.md), under the user's own.
    // `version` is the tag asked for (`--tag app:1.2`), not a default `latest`.
    let mut all_annotations: BTreeMap<String, String> = BTreeMap::from([
        (
            "org.opencontainers.image.created".to_string(),
            crate::image::spec::rfc3339(epoch),
        ),
        (
            "org.opencontainers.image.base.name".to_string(),
            String::new(),
        ),
    ]);
    if !args.tag.is_empty() && reference.tag != "latest" {
        all_annotations.insert(
            "org.opencontainers.image.version".to_string(),
            reference.tag.clone(),
        );
    }
    all_annotations.extend(annotations);
    let annotations = all_annotations;
    Ok(ImagePlan {
        push: None,
        keep_output: true,
        created_by: format!("scratchpack {}", env!("CARGO_PKG_VERSION")),
        attest: (!args.no_sbom).then(|| AttestPlan {
            kind: "package",
            command: Vec::new(),
            inputs: Vec::new(),
            started: args.provenance_times.then(std::time::SystemTime::now),
        }),
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
        more_tags,
        epoch,
        derived,
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
            n if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => n
                .parse::<u32>()
                .ok()
                .filter(|&id| id <= MAX_ID)
                .map(|id| id.to_string()),
            _ => None,
        }
    };
    let bad = || {
        flag_err(
            "--user",
            spec,
            "use a numeric UID[:GID] up to 2147483647, or root, nonroot or nobody",
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
    fn binaries_built_per_platform_share_their_name() {
        for (file, name) in [
            ("app-amd64", "app"),
            ("app_linux_arm64", "app"),
            ("app-linux-arm-v7", "app"),
            ("app-armv7", "app"),
            ("my-tool.aarch64", "my-tool"),
            ("app-x86_64", "app"),
            ("app", "app"),
            ("arm64", "arm64"),
            ("app-mips", "app-mips"),
        ] {
            assert_eq!(without_platform_suffix(file), name, "{file}");
        }
    }

    #[test]
    fn users() {
        assert_eq!(user(None).unwrap(), "65532:65532");
        assert_eq!(user(Some("root")).unwrap(), "0:0");
        assert_eq!(user(Some("1000")).unwrap(), "1000");
        assert_eq!(user(Some("nobody:root")).unwrap(), "65534:0");
        assert!(user(Some("www-data")).is_err());
        assert!(user(Some("99999999999999999999")).is_err());
        assert!(user(Some("2147483648")).is_err());
        assert_eq!(user(Some("2147483647:007")).unwrap(), "2147483647:7");
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
