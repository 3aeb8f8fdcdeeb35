//! Which image of an archive `run` starts, and what it is made of: in an OCI layout, the
//! image `index.json` names (in an index, the one for the platform asked for, else this
//! machine's); in a docker-archive (`docker save`, `podman save`), the first image of
//! `manifest.json`. Its config (Entrypoint, Cmd, Env, User, WorkingDir, platform) and
//! its layers, bottom first, as names of the archive.

use serde::Deserialize;

use super::RunError;
use crate::platform::Platform;
use crate::registry::source::Source;

/// Indexes followed in depth.
const MAX_DEPTH: usize = 4;

/// The image to run.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub platform: Platform,
    pub config: Config,
    /// Archive names of the layers, bottom first.
    pub layers: Vec<String>,
}

/// What a runtime reads of the config: the inspector's start checks read the same.
pub(crate) use crate::inspect::start::RunConfig as Config;

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<Config>,
}

#[derive(Deserialize)]
struct Descriptor {
    digest: String,
    #[serde(default)]
    platform: Option<DescriptorPlatform>,
}

#[derive(Deserialize)]
struct DescriptorPlatform {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The image of `source` for `want` (else this machine's platform).
pub fn choose(source: &Source, want: Option<&Platform>) -> Result<Chosen, RunError> {
    let invalid = |why: String| RunError::Image { why };
    if source.has("index.json") {
        let index: Document = parse(&source.read("index.json", None)?, "index.json")?;
        return oci(source, index, want, 0);
    }
    let entries: Vec<DockerEntry> = parse(&source.read("manifest.json", None)?, "manifest.json")?;
    let first = entries
        .into_iter()
        .next()
        .ok_or_else(|| invalid("manifest.json names no image".into()))?;
    let config = source.read(&first.config, None)?;
    finish(&config, first.layers, want)
}

fn oci(
    source: &Source,
    doc: Document,
    want: Option<&Platform>,
    depth: usize,
) -> Result<Chosen, RunError> {
    if depth > MAX_DEPTH {
        return Err(RunError::Image {
            why: "indexes nested too deep".into(),
        });
    }
    if let Some(manifests) = doc.manifests {
        let target = want.cloned().or_else(Platform::host);
        let matching = |d: &&Descriptor| match (&d.platform, &target) {
            (Some(p), Some(t)) => {
                p.os == t.os
                    && p.architecture == t.architecture
                    && (t.variant.is_none() || p.variant == t.variant)
            }
            (None, _) => true,
            (Some(_), None) => false,
        };
        let pick = if manifests.len() == 1 {
            manifests.first()
        } else {
            manifests.iter().find(matching)
        };
        let Some(d) = pick else {
            let have: Vec<String> = manifests
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = &p.variant {
                        s.push('/');
                        s.push_str(v);
                    }
                    s
                })
                .collect();
            return Err(RunError::NoPlatform {
                want: target.map(|t| t.to_string()).unwrap_or_default(),
                have: have.join(", "),
            });
        };
        let bytes = source.read(&blob(&d.digest)?, Some(&d.digest))?;
        let next: Document = parse(&bytes, &d.digest)?;
        return oci(source, next, want, depth + 1);
    }
    let config = doc.config.ok_or_else(|| RunError::Image {
        why: "a manifest without config".into(),
    })?;
    let bytes = source.read(&blob(&config.digest)?, Some(&config.digest))?;
    let layers = doc
        .layers
        .iter()
        .map(|l| blob(&l.digest))
        .collect::<Result<Vec<_>, _>>()?;
    finish(&bytes, layers, want)
}

fn finish(config: &[u8], layers: Vec<String>, want: Option<&Platform>) -> Result<Chosen, RunError> {
    let file: ConfigFile = parse(config, "the config")?;
    let platform = Platform {
        os: if file.os.is_empty() {
            "linux".into()
        } else {
            file.os
        },
        architecture: file.architecture,
        variant: file.variant,
    };
    if let Some(w) = want {
        if w.architecture != platform.architecture {
            return Err(RunError::NoPlatform {
                want: w.to_string(),
                have: platform.to_string(),
            });
        }
    }
    Ok(Chosen {
        platform,
        config: file.config.unwrap_or_default(),
        layers,
    })
}

fn blob(digest: &str) -> Result<String, RunError> {
    let (alg, hex) = digest.split_once(':').ok_or_else(|| RunError::Image {
        why: format!("bad digest `{digest}`"),
    })?;
    let ok = matches!(alg, "sha256" | "sha512")
        && !hex.is_empty()
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !ok {
        return Err(RunError::Image {
            why: format!("bad digest `{digest}`"),
        });
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, RunError> {
    serde_json::from_slice(bytes).map_err(|e| RunError::Image {
        why: format!("{what}: {e}"),
    })
}
