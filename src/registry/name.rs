//! Where an image is pushed, as docker parses it: `[HOST[:PORT]/]PATH[:TAG][@DIGEST]`.
//! The first component is a registry when it has a dot or a port or is `localhost`;
//! otherwise the registry is Docker Hub, whose single-component names live under
//! `library/`. The tag defaults to `latest` unless a digest is given.

use std::fmt;

/// Docker Hub as written in references, and where its API answers.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host[:port]` as written (Docker Hub: `docker.io`).
    pub registry: String,
    /// The repository inside the registry, `library/` added on Docker Hub.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:...` when the reference names one.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a registry reference: {reason}")]
pub struct NameError {
    pub input: String,
    pub reason: &'static str,
}

impl Target {
    pub fn parse(input: &str) -> Result<Target, NameError> {
        let err = |reason| NameError {
            input: input.to_string(),
            reason,
        };
        if input.is_empty() || input.len() > 1024 || input.contains("://") {
            return Err(err("expected HOST[:PORT]/NAME[:TAG], without a scheme"));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (input, None),
        };
        if let Some(d) = digest {
            let ok = d.strip_prefix("sha256:").is_some_and(|hex| {
                hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            });
            if !ok {
                return Err(err("a digest is sha256: and 64 lowercase hex digits"));
            }
        }
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(t) = tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && t.bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return Err(err("a tag is 1 to 128 letters, digits, `_`, `.` or `-`"));
            }
        }
        let mut components: Vec<&str> = name.split('/').collect();
        let registry = if components.len() > 1 && is_host(components[0]) {
            components.remove(0).to_string()
        } else {
            DOCKER_HUB.to_string()
        };
        if components.is_empty() || !components.iter().all(|c| is_path_component(c)) {
            return Err(err(
                "each name component is lowercase letters and digits, separated by `.`, `_`, `__` or `-`",
            ));
        }
        let mut repository = components.join("/");
        if registry == DOCKER_HUB && components.len() == 1 {
            repository = format!("library/{repository}");
        }
        if repository.len() > 255 {
            return Err(err("the name has more than 255 characters"));
        }
        let tag = match (tag, digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Target {
            registry: if registry == "index.docker.io" {
                DOCKER_HUB.to_string()
            } else {
                registry
            },
            repository,
            tag,
            digest: digest.map(str::to_string),
        })
    }

    /// The host (and port) the registry API answers on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The host without its port.
    pub fn hostname(&self) -> &str {
        let host = self.api_host();
        if let Some(v6) = host.strip_prefix('[') {
            return v6.split(']').next().unwrap_or(v6);
        }
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    }

    /// Whether the registry is this machine (plain HTTP is allowed there, as docker does).
    pub fn is_loopback(&self) -> bool {
        let host = self.hostname();
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// What the manifest is put under: the tag, else the digest.
    pub fn manifest_ref(&self) -> &str {
        self.tag
            .as_deref()
            .or(self.digest.as_deref())
            .unwrap_or("latest")
    }

    /// The name without tag or digest, as users write it (`127.0.0.1:5000/app`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

/// `REGISTRY/REPO[:TAG]`, as printed before `@sha256:...`.
impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

fn is_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

fn is_path_component(c: &str) -> bool {
    if c.is_empty() || c.len() > 255 {
        return false;
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // Separators: `.`, `_`, `__`, or dashes; never two separators of other kinds in a row.
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Target {
        Target::parse(s).unwrap()
    }

    #[test]
    fn docker_hub_defaults() {
        let hello = t("hello");
        assert_eq!(
            (hello.registry.as_str(), hello.repository.as_str()),
            ("docker.io", "library/hello")
        );
        assert_eq!(hello.tag.as_deref(), Some("latest"));
        assert_eq!(hello.api_host(), "registry-1.docker.io");
        assert_eq!(t("team/app:v1").repository, "team/app");
        assert_eq!(t("docker.io/hello").repository, "library/hello");
        assert_eq!(t("index.docker.io/team/app").registry, "docker.io");
    }

    #[test]
    fn registries_ports_tags_and_digests() {
        let r = t("127.0.0.1:5000/team/app:1.0");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert!(r.is_loopback());
        assert_eq!(r.hostname(), "127.0.0.1");
        assert_eq!(r.to_string(), "127.0.0.1:5000/team/app:1.0");
        let l = t("localhost/app");
        assert!(l.is_loopback() && l.registry == "localhost");
        assert!(!t("ghcr.io/o/app").is_loopback());
        let d = format!("reg.example/app@sha256:{}", "a".repeat(64));
        let d = t(&d);
        assert_eq!(d.tag, None);
        assert_eq!(d.manifest_ref(), format!("sha256:{}", "a".repeat(64)));
        assert!(t("[::1]:5000/app").is_loopback());
    }

    #[test]
    fn bad_references_are_refused() {
        for bad in [
            "",
            "https://reg.example/app",
            "Reg/App",
            "app:",
            "app:-x",
            "app@sha256:abc",
            "a//b",
            "app:tag with space",
            "a..b",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
