//! The image's `User` (or `--user`) as runc reads it: `UID[:GID]` numbers need nothing;
//! names are looked up in the image's own `/etc/passwd` and `/etc/group` (read without
//! following a link out of the image); a user's group and home come from its passwd line.

use std::path::Path;

/// The ids and home of the user the program runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    /// Empty when the image's passwd does not know the uid.
    pub home: String,
}

impl Ids {
    pub fn root() -> Ids {
        Ids {
            uid: 0,
            gid: 0,
            home: "/root".into(),
        }
    }
}

/// Reads `rel` of the image unpacked at `root`, not through a symlink.
fn read(root: &Path, rel: &str) -> Option<String> {
    let at = root.join(rel);
    crate::beneath::no_symlink_below(root, &at).ok()?;
    let meta = std::fs::symlink_metadata(&at).ok()?;
    if !meta.is_file() || meta.len() > 1 << 20 {
        return None;
    }
    std::fs::read_to_string(at).ok()
}

pub fn resolve(root: &Path, spec: &str) -> Result<Ids, String> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read(root, "etc/passwd").unwrap_or_default();
    let entry = passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && (f[0] == user || f[2] == user)).then(|| {
            (
                f[2].parse::<u32>().ok(),
                f[3].parse::<u32>().ok(),
                f[5].to_string(),
            )
        })
    });
    let (uid, primary, home) = match (user.parse::<u32>(), &entry) {
        (Ok(n), Some((_, g, h))) => (n, *g, h.clone()),
        (Ok(n), None) => (n, None, String::new()),
        (Err(_), Some((Some(u), g, h))) => (*u, *g, h.clone()),
        (Err(_), _) => return Err("the image's /etc/passwd does not define it".into()),
    };
    let gid = match group {
        None => primary.unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => read(root, "etc/group")
                .unwrap_or_default()
                .lines()
                .find_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == g).then(|| f[2].parse::<u32>().ok())?
                })
                .ok_or_else(|| format!("the image's /etc/group does not define `{g}`"))?,
        },
    };
    Ok(Ids { uid, gid, home })
}

/// As podman does for a uid the image's `/etc/passwd` lacks: a line for it (home: the
/// working directory), so that programs asking who they are get an answer.
pub fn add_unknown(root: &Path, ids: &Ids, home: &str) {
    use std::io::Write;
    let at = root.join("etc/passwd");
    if crate::beneath::no_symlink_below(root, &at).is_err() {
        return;
    }
    let Ok(meta) = std::fs::symlink_metadata(&at) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(&at) {
        let _ = writeln!(
            f,
            "{uid}:*:{uid}:{gid}:{uid} user:{home}:/bin/sh",
            uid = ids.uid,
            gid = ids.gid
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("etc")).unwrap();
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1001:app:/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let ids = |s| resolve(root, s);
        assert_eq!(
            ids("app").unwrap(),
            Ids {
                uid: 1000,
                gid: 1001,
                home: "/home/app".into()
            }
        );
        assert_eq!(ids("app:staff").unwrap().gid, 50);
        assert_eq!(ids("1000").unwrap().home, "/home/app");
        assert_eq!(ids("0").unwrap().home, "/root");
        assert_eq!(
            ids("4242:7").unwrap(),
            Ids {
                uid: 4242,
                gid: 7,
                home: String::new()
            }
        );
        assert!(ids("nobody").unwrap_err().contains("/etc/passwd"));
        assert!(ids("app:wheel").unwrap_err().contains("wheel"));
    }
}
