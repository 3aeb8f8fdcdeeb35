//! Paths below a root that must not lead out of it: a tree written by a build or by apk
//! (a prepared rootfs, the sandbox's new root) may hold symlinks pointing anywhere on the
//! host, and the host side must never follow them. One walk, used by the sandbox's mount
//! plan and by provisioning.

use std::io;
use std::path::Path;

/// Fails (ELOOP) if an existing component of `path` below `root` is a symlink; paths not
/// below `root` are not checked, and the walk stops at the first missing component.
pub fn no_symlink_below(root: &Path, path: &Path) -> io::Result<()> {
    let Ok(rel) = path.strip_prefix(root) else {
        return Ok(());
    };
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            Ok(_) => {}
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_below_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/sub")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        assert!(no_symlink_below(root, &root.join("real/sub/new")).is_ok());
        let err = no_symlink_below(root, &root.join("etc/resolv.conf")).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP));
        // Above the root, links are the host's own business.
        assert!(no_symlink_below(&root.join("real"), &root.join("etc/x")).is_ok());
    }
}
