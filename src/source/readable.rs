//! Whether a source can be read by the build. The build reads the sources as the user
//! who runs scratchpack, inside the sandbox, where even root has no right to override a
//! file's mode: a file is readable when its mode lets this user read it (as owner,
//! group member or other) and it opens. An unreadable source is named before anything
//! runs, instead of failing inside the compiler or the sandbox.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Why `path` cannot be read by the build, if it cannot: its mode and owner, or the
/// error opening it.
pub fn why_unreadable(path: &Path) -> Option<String> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => return Some(e.to_string()),
    };
    let uid = nix::unistd::geteuid().as_raw();
    let in_group = meta.gid() == nix::unistd::getegid().as_raw()
        || nix::unistd::getgroups()
            .unwrap_or_default()
            .iter()
            .any(|g| g.as_raw() == meta.gid());
    let (bit, dir_bit) = if meta.uid() == uid {
        (0o400, 0o100)
    } else if in_group {
        (0o040, 0o010)
    } else {
        (0o004, 0o001)
    };
    let wanted = if meta.is_dir() { bit | dir_bit } else { bit };
    if meta.mode() & wanted != wanted {
        return Some(format!(
            "mode {:04o}, owner {}:{}, and the build runs as uid {uid}",
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        ));
    }
    let opened = if meta.is_dir() {
        std::fs::read_dir(path).map(|_| ())
    } else {
        std::fs::File::open(path).map(|_| ())
    };
    opened.err().map(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_file_without_read_permission_is_unreadable_even_for_root() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.c");
        std::fs::write(&f, "int main(void){return 0;}").unwrap();
        assert_eq!(why_unreadable(&f), None);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o000)).unwrap();
        let why = why_unreadable(&f).unwrap();
        assert!(why.starts_with("mode 0000, owner "), "{why}");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(why_unreadable(dir.path()).unwrap().starts_with("mode 0600"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
