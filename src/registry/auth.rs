//! Credentials for a registry, from where users already keep them, first found wins:
//! docker's `config.json` (`$DOCKER_CONFIG`, else `~/.docker`): a `credHelpers` entry for
//! the registry, else `credsStore`, else `auths`; then `REGISTRY_AUTH_FILE`; then podman's
//! `auth.json` (`$XDG_RUNTIME_DIR/containers`, `~/.config/containers`). Helpers speak
//! docker's credential-helper protocol (`docker-credential-NAME get`, the server on stdin,
//! JSON on stdout). Also the parsing of a registry's `WWW-Authenticate` challenge.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;

use crate::process::Cmd;

/// Where Docker Hub's credentials are filed in docker's config.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A user name and password (or token), and the file or helper they came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub secret: String,
    pub from: String,
}

/// Never printed: a secret.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({} from {})", self.username, self.from)
    }
}

impl Credentials {
    pub fn basic_header(&self) -> String {
        let raw = format!("{}:{}", self.username, self.secret);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

/// The files to look in and the PATH helpers are found on, resolved from the
/// environment once (by the plan).
#[derive(Debug, Clone, Default)]
pub struct AuthFiles {
    /// docker's `config.json`.
    pub docker: Option<PathBuf>,
    /// `REGISTRY_AUTH_FILE`, then podman's.
    pub others: Vec<PathBuf>,
    /// Where `docker-credential-*` helpers are looked for.
    pub path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The credentials for `registry` (`host[:port]`, `docker.io` for Docker Hub), or
/// `None` (anonymous). A file that cannot be parsed or a helper that fails is an error:
/// guessing anonymous would hide it.
pub fn find(registry: &str, files: &AuthFiles) -> Result<Option<Credentials>, String> {
    if let Some(docker) = &files.docker {
        if let Some(c) = from_file(docker, registry, files, true)? {
            return Ok(Some(c));
        }
    }
    for file in &files.others {
        if let Some(c) = from_file(file, registry, files, false)? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

fn from_file(
    file: &Path,
    registry: &str,
    files: &AuthFiles,
    docker: bool,
) -> Result<Option<Credentials>, String> {
    let Ok(text) = std::fs::read(file) else {
        return Ok(None);
    };
    let config: ConfigFile = serde_json::from_slice(&text)
        .map_err(|e| format!("`{}` is not valid JSON: {e}", file.display()))?;
    let helper = config
        .cred_helpers
        .iter()
        .find(|(k, _)| same_registry(k, registry))
        .map(|(_, h)| h.clone())
        .or_else(|| docker.then(|| config.creds_store.clone()).flatten());
    if let Some(helper) = helper {
        if let Some(c) = from_helper(&helper, registry, &files.path)? {
            return Ok(Some(c));
        }
    }
    for (key, entry) in &config.auths {
        if !same_registry(key, registry) {
            continue;
        }
        let from = format!("`{}` (auths.{key})", file.display());
        if let Some(token) = &entry.identitytoken {
            return Ok(Some(Credentials {
                username: "<token>".into(),
                secret: token.clone(),
                from,
            }));
        }
        if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
            return Ok(Some(Credentials {
                username: u.clone(),
                secret: p.clone(),
                from,
            }));
        }
        if let Some(auth) = &entry.auth {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| format!("{from}: `auth` is not base64"))?;
            let raw = String::from_utf8_lossy(&raw).into_owned();
            let (u, p) = raw
                .split_once(':')
                .ok_or_else(|| format!("{from}: `auth` is not USER:PASSWORD in base64"))?;
            return Ok(Some(Credentials {
                username: u.into(),
                secret: p.into(),
                from,
            }));
        }
    }
    Ok(None)
}

/// Whether a key of `auths`/`credHelpers` (a host, a URL) names `registry`.
fn same_registry(key: &str, registry: &str) -> bool {
    let host = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    if registry == super::name::DOCKER_HUB {
        return matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
    }
    host == registry
}

#[derive(Deserialize)]
struct HelperAnswer {
    #[serde(rename = "Username")]
    username: String,
    #[serde(rename = "Secret")]
    secret: String,
}

/// Asks `docker-credential-NAME` for `registry`'s credentials; `None` when it has none.
fn from_helper(name: &str, registry: &str, path: &str) -> Result<Option<Credentials>, String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(format!("`{name}` is not a credential helper name"));
    }
    let program = format!("docker-credential-{name}");
    let found = which::which_in(&program, Some(path), "/")
        .map_err(|_| format!("credential helper `{program}` is not on PATH"))?;
    let server = if registry == super::name::DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    };
    let out = Cmd::new(&found)
        .arg("get")
        .stdin(server.into_bytes())
        .output()
        .map_err(|e| format!("`{program} get`: {e}"))?;
    if !out.status.success() {
        let text = format!("{}{}", out.stdout_text(), out.stderr_text());
        if text.to_lowercase().contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!(
            "`{program} get` failed ({}): {}",
            crate::process::describe_status(out.status),
            text.trim()
        ));
    }
    let answer: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`{program} get` did not answer JSON: {e}"))?;
    Ok(Some(Credentials {
        username: answer.username,
        secret: answer.secret,
        from: format!("credential helper `{program}`"),
    }))
}

/// A registry's `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parses `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => after.split_once(',').unwrap_or((after, "")),
        };
        match key {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = next;
    }
    Some(Challenge::Bearer {
        realm: realm?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
        assert_eq!(parse_challenge("Negotiate"), None);
    }

    #[test]
    fn docker_config_auths_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:with:colons");
        std::fs::write(
            &file,
            format!(
                r#"{{"auths":{{"https://127.0.0.1:5000/v1/":{{"auth":"{auth}"}},"https://index.docker.io/v1/":{{"username":"hub","password":"pw"}}}}}}"#
            ),
        )
        .unwrap();
        let files = AuthFiles {
            docker: Some(file.clone()),
            others: Vec::new(),
            path: String::new(),
        };
        let c = find("127.0.0.1:5000", &files).unwrap().unwrap();
        assert_eq!(
            (c.username.as_str(), c.secret.as_str()),
            ("alice", "s3cret:with:colons")
        );
        assert!(c.basic_header().starts_with("Basic "));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secrets are never printed"
        );
        assert_eq!(find("docker.io", &files).unwrap().unwrap().username, "hub");
        assert_eq!(find("127.0.0.1:5001", &files).unwrap(), None);
        std::fs::write(&file, "{not json").unwrap();
        assert!(
            find("127.0.0.1:5000", &files)
                .unwrap_err()
                .contains("not valid JSON")
        );
        // A helper that is not installed is said, not skipped.
        std::fs::write(&file, r#"{"credsStore":"nonexistent-xyz"}"#).unwrap();
        let err = find("127.0.0.1:5000", &files).unwrap_err();
        assert!(err.contains("docker-credential-nonexistent-xyz"), "{err}");
        std::fs::write(&file, r#"{"credHelpers":{"r.example":"../../bin/sh"}}"#).unwrap();
        assert!(
            find("r.example", &files)
                .unwrap_err()
                .contains("not a credential helper")
        );
    }
}
