//! Image names as `--tag` takes them: `NAME[:TAG]`, with the grammar docker and podman
//! accept (lowercase path components, an optional `host[:port]/` prefix, a tag of up to
//! 128 word characters, dots and dashes). The tag defaults to `latest`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The repository, e.g. `hello` or `registry.example:5000/team/hello`.
    pub name: String,
    pub tag: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("`{input}` is not a valid image name: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: &'static str,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let err = |reason| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if input.contains('@') {
            return Err(err("digests cannot be used as a tag"));
        }
        let last_slash = input.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match input[last_slash..].rfind(':') {
            Some(i) => (&input[..last_slash + i], &input[last_slash + i + 1..]),
            None => (input, "latest"),
        };
        if name.is_empty() || name.len() > 255 {
            return Err(err("the name must have 1 to 255 characters"));
        }
        let mut components: Vec<&str> = name.split('/').collect();
        if components.len() > 1 && is_host(components[0]) {
            components.remove(0);
        }
        if !components.iter().all(|c| is_path_component(c)) {
            return Err(err(
                "use lowercase letters, digits and separators (`.`, `_`, `__`, `-`) between them",
            ));
        }
        let tag_ok = !tag.is_empty()
            && tag.len() <= 128
            && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !tag_ok {
            return Err(err(
                "the tag must be 1 to 128 letters, digits, `_`, `.` or `-`",
            ));
        }
        Ok(Reference {
            name: name.to_string(),
            tag: tag.to_string(),
        })
    }

    /// A name derived from a binary's file name, for images not given `--tag`:
    /// lowercased, other characters turned into `-`.
    pub fn from_binary_name(file_name: &str) -> Option<Reference> {
        let name: String = file_name
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Reference::parse(name.trim_matches('-')).ok()
    }

    /// The name containerd and docker use: `docker.io/library/hello:latest`.
    pub fn fully_qualified(&self) -> String {
        let first = self.name.split('/').next().unwrap_or_default();
        let has_host = self.name.contains('/') && is_host(first);
        match (has_host, self.name.contains('/')) {
            (true, _) => self.to_string(),
            (false, true) => format!("docker.io/{self}"),
            (false, false) => format!("docker.io/library/{self}"),
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

/// A registry host: contains a `.` or a `:` port, or is `localhost`.
fn is_host(component: &str) -> bool {
    (component.contains('.') || component.contains(':') || component == "localhost")
        && component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if bytes.is_empty() || !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_tags() {
        let r = Reference::parse("hello").unwrap();
        assert_eq!(r.to_string(), "hello:latest");
        assert_eq!(r.fully_qualified(), "docker.io/library/hello:latest");
        let r = Reference::parse("localhost:5000/team/app:v1.2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/team/app", "v1.2")
        );
        assert_eq!(r.fully_qualified(), "localhost:5000/team/app:v1.2");
        assert_eq!(
            Reference::parse("team/app").unwrap().fully_qualified(),
            "docker.io/team/app:latest"
        );
        assert!(Reference::parse("a__b.c-d:x").is_ok());
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "Hello",
            "",
            "a::b",
            "a:",
            "-a",
            "a/",
            "a@sha256:00",
            "a:-x",
            "a/B/c",
            "a___b",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_from_binaries() {
        assert_eq!(
            Reference::from_binary_name("Hello_World")
                .unwrap()
                .to_string(),
            "hello-world:latest"
        );
        assert_eq!(
            Reference::from_binary_name("app.bin").unwrap().to_string(),
            "app-bin:latest"
        );
        assert!(Reference::from_binary_name("___").is_none());
    }
}
