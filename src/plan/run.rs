//! `scratchpack run`: the image, the arguments, and the `-e`, `--volume`, `--user`,
//! `--workdir`, `--network` and `--platform` flags checked and made absolute.

use std::path::PathBuf;

use super::{Environment, PlanError, flag_err};
use crate::cli::{NetworkArg, RunArgs};
use crate::platform::Platform;
use crate::run::{Request, Volume};

pub struct RunPlan {
    pub request: Request,
}

impl RunPlan {
    pub fn resolve(args: RunArgs, env: &Environment) -> Result<RunPlan, PlanError> {
        let mut vars = Vec::new();
        for kv in &args.env {
            let (k, v) = match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                // `-e NAME` passes this process's value, as docker does.
                None => (kv.clone(), env.get(kv).unwrap_or_default()),
            };
            if k.is_empty() || k.contains('\0') || v.contains('\0') {
                return Err(flag_err("--env", kv, "expected KEY=VALUE"));
            }
            vars.push((k, v));
        }
        let mut volumes = Vec::new();
        for v in &args.volumes {
            let mut parts = v.splitn(3, ':');
            let (src, dst, mode) = (parts.next(), parts.next(), parts.next());
            let (Some(src), Some(dst)) = (src, dst) else {
                return Err(flag_err("--volume", v, "expected SRC:DST[:ro]"));
            };
            let writable = match mode {
                None | Some("rw") => true,
                Some("ro") => false,
                Some(_) => return Err(flag_err("--volume", v, "the mode is `ro` or `rw`")),
            };
            let src = env.cwd.join(src);
            if !src.exists() {
                return Err(flag_err("--volume", v, "its source does not exist"));
            }
            if !dst.starts_with('/') || dst == "/" {
                return Err(flag_err(
                    "--volume",
                    v,
                    "the destination must be an absolute path below /",
                ));
            }
            volumes.push(Volume {
                src,
                dst: PathBuf::from(dst),
                writable,
            });
        }
        if let Some(w) = &args.workdir {
            if !w.starts_with('/') {
                return Err(flag_err("--workdir", w, "it must be an absolute path"));
            }
        }
        let platform = args
            .platform
            .as_deref()
            .map(|p| Platform::parse(p).map_err(|e| flag_err("--platform", p, e.to_string())))
            .transpose()?;
        Ok(RunPlan {
            request: Request {
                image: env.cwd.join(&args.image),
                args: args.args,
                entrypoint: args.entrypoint,
                env: vars,
                volumes,
                user: args.user,
                workdir: args.workdir,
                network: args.network == NetworkArg::Host,
                platform,
                cache: env.cache()?,
            },
        })
    }
}
