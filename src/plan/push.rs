//! Where and how to push: the registry reference, the CA files and certs.d directories,
//! `--insecure`, and the credential files, all read from the flags and environment here.

use std::path::PathBuf;

use super::{Environment, PlanError};
use crate::cache::Cache;
use crate::cli::{Destination, PushArgs, RegistryArgs};
use crate::registry::Target;
use crate::registry::auth::AuthFiles;
use crate::registry::client::Options;

/// A push to one registry reference.
#[derive(Debug, Clone)]
pub struct PushTo {
    pub target: Target,
    pub options: Options,
    pub auth: AuthFiles,
    pub cache: Cache,
}

/// `scratchpack push IMAGE REF`.
pub struct PushPlan {
    pub image: PathBuf,
    pub to: PushTo,
    pub json: bool,
}

impl PushPlan {
    pub fn resolve(args: PushArgs, env: &Environment) -> Result<PushPlan, PlanError> {
        Ok(PushPlan {
            image: env.cwd.join(&args.image),
            to: PushTo::resolve(&args.reference, &args.registry, env)?,
            json: args.json,
        })
    }
}

impl PushTo {
    pub fn resolve(
        reference: &str,
        args: &RegistryArgs,
        env: &Environment,
    ) -> Result<PushTo, PlanError> {
        let target = Target::parse(reference)?;
        let home = env.get("HOME").map(PathBuf::from);
        let docker_dir = env
            .get("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".docker")));
        let mut others: Vec<PathBuf> = Vec::new();
        others.extend(env.get("REGISTRY_AUTH_FILE").map(PathBuf::from));
        others.extend(
            env.get("XDG_RUNTIME_DIR")
                .map(|d| PathBuf::from(d).join("containers/auth.json")),
        );
        others.extend(
            home.as_ref()
                .map(|h| h.join(".config/containers/auth.json")),
        );
        let mut certs_dirs = vec![
            PathBuf::from("/etc/docker/certs.d"),
            PathBuf::from("/etc/containers/certs.d"),
        ];
        certs_dirs.extend(home.as_ref().map(|h| h.join(".config/containers/certs.d")));
        for file in &args.ca_cert {
            if !env.cwd.join(file).is_file() {
                return Err(super::flag_err(
                    "--ca-cert",
                    &file.display().to_string(),
                    "no such file",
                ));
            }
        }
        Ok(PushTo {
            target,
            options: Options {
                ca_certs: args.ca_cert.iter().map(|f| env.cwd.join(f)).collect(),
                certs_dirs,
                insecure: args.insecure,
            },
            auth: AuthFiles {
                docker: docker_dir.map(|d| d.join("config.json")),
                others,
                path: env.get("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            },
            cache: env.cache()?,
        })
    }
}

/// The output of `package`/`build`: `-o`, else (with `--push` only) a temporary file in
/// the cache, removed after the push; and where to push.
pub(super) fn output_and_push(
    destination: Destination,
    env: &Environment,
    cache_registry: bool,
) -> Result<(PathBuf, bool, Option<PushTo>), PlanError> {
    let Destination {
        output,
        push,
        registry,
    } = destination;
    let registry = &registry;
    let to = push
        .map(|r| PushTo::resolve(&r, registry, env))
        .transpose()?;
    if to.is_none() && !cache_registry && (!registry.ca_cert.is_empty() || registry.insecure) {
        return Err(super::flag_err(
            if registry.insecure {
                "--insecure"
            } else {
                "--ca-cert"
            },
            "",
            "it applies to --push (and to --cache-from, --cache-to) only",
        ));
    }
    match (output, &to) {
        (Some(o), _) => Ok((o, true, to)),
        (None, Some(t)) => {
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            let dir = t.cache.dir("push")?;
            let file = dir.join(format!("image-{}-{stamp}.tar", std::process::id()));
            Ok((file, false, to))
        }
        // clap requires one of them.
        (None, None) => Err(super::flag_err(
            "--output",
            "",
            "-o OUT or --push REF is needed",
        )),
    }
}

impl super::ImagePlan {
    /// The plan, pushing to `to`; `keep` is false when the output is a temporary file.
    pub(super) fn pushed_to(mut self, to: Option<PushTo>, keep: bool) -> super::ImagePlan {
        self.push = to;
        self.keep_output = keep;
        self
    }
}
