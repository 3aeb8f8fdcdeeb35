//! The publisher: an image written by any tool (an OCI layout, in a tar or a directory)
//! pushed to a registry over the OCI distribution API, byte for byte, so the digest
//! printed is the digest the registry serves. [`name`] parses where to, [`auth`] finds
//! the credentials users already have, [`client`] speaks HTTP(S) with authentication and
//! retries, [`crate::layout::source`] reads the image,
//! [`meter`] shows the bytes sent, [`upload`] sends it, [`memory`] remembers which
//! repository holds which blob (cross-repository mounts).

pub mod auth;
pub mod client;
pub mod memory;
pub mod meter;
pub mod name;
pub mod upload;

use std::path::Path;

use crate::cache::Cache;
use crate::ui::Ui;

pub use name::Target;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Source(#[from] crate::layout::source::SourceError),
    #[error("credentials for {registry}: {why}")]
    Credentials { registry: String, why: String },
    #[error("{registry} cannot be reached{}: {reason}", step_of(step))]
    Unreachable {
        registry: String,
        step: String,
        reason: String,
    },
    #[error("TLS with {registry} failed: {reason}")]
    Tls { registry: String, reason: String },
    #[error("{registry} refused the credentials{} ({step})", creds_from.as_ref().map(|f| format!(" from {f}")).unwrap_or_else(|| ": none were found".into()))]
    Unauthorized {
        registry: String,
        step: String,
        creds_from: Option<String>,
    },
    #[error("{registry} denied access ({step}): {message}")]
    Denied {
        registry: String,
        step: String,
        message: String,
    },
    #[error("{registry} does not know the repository ({step}): {message}")]
    NotFound {
        registry: String,
        step: String,
        message: String,
    },
    #[error("{registry} refused the size ({step}): {message}")]
    Quota {
        registry: String,
        step: String,
        message: String,
    },
    #[error("{registry} answered {status} ({step}): {message}")]
    Rejected {
        registry: String,
        step: String,
        status: u16,
        message: String,
    },
    #[error("the image's blob {digest} is corrupt: {why}")]
    Corrupt { digest: String, why: String },
}

fn step_of(step: &str) -> String {
    if step.is_empty() {
        String::new()
    } else {
        format!(" ({step})")
    }
}

impl RegistryError {
    /// The same error, naming the step it happened in when it did not yet.
    pub fn at(self, at: &str) -> RegistryError {
        match self {
            RegistryError::Unreachable {
                registry,
                step,
                reason,
            } if step.is_empty() => RegistryError::Unreachable {
                registry,
                step: at.to_string(),
                reason,
            },
            other => other,
        }
    }

    /// Worth trying the whole upload again: the registry was away, failed, or lost the
    /// upload session (a restart forgets them: `BLOB_UPLOAD_UNKNOWN`).
    pub fn is_transient(&self) -> bool {
        match self {
            RegistryError::Unreachable { .. } => true,
            RegistryError::Rejected { status, .. } => (500..=599).contains(status),
            RegistryError::NotFound { message, .. } => message.contains("BLOB_UPLOAD"),
            _ => false,
        }
    }

    /// The image is at fault (exit 1).
    pub fn is_input_fault(&self) -> bool {
        matches!(self, RegistryError::Corrupt { .. })
    }
}

impl crate::error::Hint for RegistryError {
    fn hints(&self) -> Vec<String> {
        let hint = match self {
            RegistryError::Source(e) => return e.hints(),
            RegistryError::Credentials { .. } => {
                "fix the file or helper named, or log in again (docker login, podman login)".into()
            }
            RegistryError::Unreachable { registry, .. } => format!(
                "check that {registry} is the right address and is running; a registry \
                 without TLS is reached over plain HTTP only on this machine or with --insecure"
            ),
            RegistryError::Tls { registry, .. } => format!(
                "trust its CA with --ca-cert FILE or /etc/docker/certs.d/{registry}/ca.crt; \
                 --insecure skips verification"
            ),
            RegistryError::Unauthorized { registry, .. } => format!(
                "log in (docker login {registry}, podman login {registry}); credentials are \
                 read from docker's config.json (or $DOCKER_CONFIG), REGISTRY_AUTH_FILE, then \
                 podman's auth.json"
            ),
            RegistryError::Denied { .. } => {
                "check that this account may push to the repository".into()
            }
            RegistryError::NotFound { .. } => {
                "check the repository name; some registries need it created first".into()
            }
            RegistryError::Quota { .. } => {
                "the registry limits sizes or storage: free space there or raise the quota".into()
            }
            RegistryError::Rejected { status: 429, .. } => {
                "the registry limits how fast clients may send (429 Too Many Requests, still \
                 refused after 5 tries): try again later, or log in, as \
                 registries limit anonymous clients first"
                    .into()
            }
            RegistryError::Rejected { .. } => "the registry's message says why".into(),
            RegistryError::Corrupt { .. } => {
                "write the image again: its archive no longer matches its manifest".into()
            }
        };
        vec![hint]
    }
}

/// A finished push.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Pushed {
    /// `REGISTRY/REPO:TAG@sha256:...`.
    pub reference: String,
    pub digest: String,
    #[serde(flatten)]
    pub counts: upload::Counts,
    pub requests: u64,
}

/// Pushes the image at `image` to `target`.
pub fn push(
    image: &Path,
    target: &Target,
    options: &client::Options,
    auth_files: &auth::AuthFiles,
    cache: &Cache,
    ui: &Ui,
) -> Result<Pushed, RegistryError> {
    let source = crate::layout::source::Source::open(image)?;
    let plan = source.plan()?;
    if let Some(d) = &target.digest {
        if *d != plan.root().digest {
            return Err(RegistryError::Corrupt {
                digest: d.clone(),
                why: format!("the image is {}, not the digest named", plan.root().digest),
            });
        }
    }
    let creds =
        auth::find(&target.registry, auth_files).map_err(|why| RegistryError::Credentials {
            registry: target.registry.clone(),
            why,
        })?;
    let memory = memory::Memory::open(cache, &target.registry);
    let mount_from = memory.sources_for(
        plan.blobs.iter().map(|b| b.digest.as_str()),
        &target.repository,
    );
    let client = client::Client::connect(target, options, creds, mount_from)?;
    let counts = upload::push(&source, &plan, &client, &memory, ui)?;
    let digest = plan.root().digest.clone();
    Ok(Pushed {
        reference: format!("{target}@{digest}"),
        digest,
        counts,
        requests: client.requests.load(std::sync::atomic::Ordering::Relaxed),
    })
}
