//! Reading image archives and layouts written by any tool (scratchpack, docker, podman,
//! skopeo): [`doc`] the documents as a reader sees them, [`verify`] their digests,
//! [`images`] which images an archive holds, [`source`] random access to an OCI layout
//! or docker-archive, in a tar or a directory. `push` and `run` read through [`source`];
//! the gate reads any archive in one pass (it may be compressed or a pipe) and shares
//! the rest. Writing is [`crate::image`] and [`crate::output`].

pub mod doc;
pub mod images;
pub mod referrers;
pub mod source;
pub mod verify;

/// Normalises a member name of an archive (`./a//b` to `a/b`, `a/../b` to `b`); `None`
/// if it climbs above the archive's root. Names taken from an image's own documents are
/// never followed above it.
pub fn member_name(name: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_stay_inside() {
        assert_eq!(
            member_name("./blobs//sha256/ab").as_deref(),
            Some("blobs/sha256/ab")
        );
        assert_eq!(member_name("/etc//passwd").as_deref(), Some("etc/passwd"));
        assert_eq!(member_name("a/../b").as_deref(), Some("b"));
        assert_eq!(member_name("../../etc/passwd"), None);
        assert_eq!(member_name("a/../../b"), None);
        assert_eq!(member_name(".").as_deref(), Some(""));
    }
}
