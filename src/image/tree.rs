//! The filesystem of a layer as plain data: absolute paths to directories, files and
//! symlinks with explicit modes and owners. Parents are created implicitly (0755, root);
//! iteration is sorted, so the layer written from it is the same on every machine.
//! Host files and directories come in normalised: owners 0:0, modes 0755 or 0644, no
//! times, no special files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fs_err as fs;

pub const DIR_MODE: u32 = 0o755;
pub const EXEC_MODE: u32 = 0o755;
pub const FILE_MODE: u32 = 0o644;

/// Where a file's bytes come from.
#[derive(Debug, Clone)]
pub enum Content {
    Bytes(Arc<Vec<u8>>),
    /// A host file, read when the layer is written; its size is fixed now.
    Host {
        path: PathBuf,
        size: u64,
    },
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Dir,
    File(Content),
    Symlink(String),
}

#[derive(Debug, Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Node {
    pub fn dir(mode: u32) -> Node {
        Node {
            kind: NodeKind::Dir,
            mode,
            uid: 0,
            gid: 0,
        }
    }

    pub fn file(bytes: impl Into<Vec<u8>>, mode: u32) -> Node {
        Node {
            kind: NodeKind::File(Content::Bytes(Arc::new(bytes.into()))),
            mode,
            uid: 0,
            gid: 0,
        }
    }

    pub fn owned_by(mut self, uid: u64, gid: u64) -> Node {
        self.uid = uid;
        self.gid = gid;
        self
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("`{path}` is not a valid path in the image: {reason}")]
    BadPath { path: String, reason: &'static str },
    #[error("`{path}` is added to the image twice")]
    Conflict { path: String },
    #[error("cannot add `{}` to the image", path.display())]
    Host {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot add `{}` to the image: {reason}", path.display())]
    Unsupported { path: PathBuf, reason: &'static str },
}

/// The files of a layer, keyed by path without the leading `/`.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    nodes: BTreeMap<String, Node>,
}

/// `/a/b` to `a/b`, refusing relative paths, `.`, `..` and the root itself.
pub fn image_path(path: &str) -> Result<String, TreeError> {
    let bad = |reason| TreeError::BadPath {
        path: path.to_string(),
        reason,
    };
    let rel = path
        .strip_prefix('/')
        .ok_or_else(|| bad("it must be absolute"))?;
    let parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(bad("it is the root directory"));
    }
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(bad("`.` and `..` are not allowed"));
    }
    Ok(parts.join("/"))
}

impl Tree {
    pub fn contains(&self, path: &str) -> bool {
        image_path(path).is_ok_and(|p| self.nodes.contains_key(&p))
    }

    /// Adds `node` at the absolute `path`. A directory may be declared again (the later
    /// mode and owner win); anything else already there is a conflict.
    pub fn insert(&mut self, path: &str, node: Node) -> Result<(), TreeError> {
        let key = image_path(path)?;
        for (i, _) in key.match_indices('/') {
            let parent = &key[..i];
            match self.nodes.get(parent) {
                None => {
                    self.nodes.insert(parent.to_string(), Node::dir(DIR_MODE));
                }
                Some(Node {
                    kind: NodeKind::Dir,
                    ..
                }) => {}
                Some(_) => {
                    return Err(TreeError::Conflict {
                        path: format!("/{parent}"),
                    });
                }
            }
        }
        match (self.nodes.get(&key), &node.kind) {
            (None, _)
            | (
                Some(Node {
                    kind: NodeKind::Dir,
                    ..
                }),
                NodeKind::Dir,
            ) => {
                self.nodes.insert(key, node);
                Ok(())
            }
            _ => Err(TreeError::Conflict {
                path: format!("/{key}"),
            }),
        }
    }

    /// Adds `node` unless something is already at `path` (defaults that the user's own
    /// files may replace).
    pub fn insert_default(&mut self, path: &str, node: Node) -> Result<(), TreeError> {
        if self.contains(path) {
            return Ok(());
        }
        self.insert(path, node)
    }

    /// Adds a host file, symlink or directory (recursively) at `dest`.
    pub fn insert_host(&mut self, src: &Path, dest: &str) -> Result<(), TreeError> {
        let host = |source| TreeError::Host {
            path: src.to_path_buf(),
            source,
        };
        let meta = fs::symlink_metadata(src).map_err(&host)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(src).map_err(&host)?;
            let target = target.to_str().ok_or(TreeError::Unsupported {
                path: src.to_path_buf(),
                reason: "the symlink target is not UTF-8",
            })?;
            let link = Node {
                kind: NodeKind::Symlink(target.to_string()),
                mode: 0o777,
                uid: 0,
                gid: 0,
            };
            self.insert(dest, link)
        } else if kind.is_dir() {
            self.insert(dest, Node::dir(DIR_MODE))?;
            let mut children: Vec<PathBuf> = fs::read_dir(src)
                .map_err(&host)?
                .map(|e| e.map(|e| e.path()))
                .collect::<Result<_, _>>()
                .map_err(&host)?;
            children.sort();
            for child in children {
                let name =
                    child
                        .file_name()
                        .and_then(|n| n.to_str())
                        .ok_or(TreeError::Unsupported {
                            path: child.clone(),
                            reason: "the file name is not UTF-8",
                        })?;
                self.insert_host(&child, &format!("{}/{name}", dest.trim_end_matches('/')))?;
            }
            Ok(())
        } else if kind.is_file() {
            use std::os::unix::fs::PermissionsExt;
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                EXEC_MODE
            } else {
                FILE_MODE
            };
            let content = Content::Host {
                path: src.to_path_buf(),
                size: meta.len(),
            };
            self.insert(
                dest,
                Node {
                    kind: NodeKind::File(content),
                    mode,
                    uid: 0,
                    gid: 0,
                },
            )
        } else {
            Err(TreeError::Unsupported {
                path: src.to_path_buf(),
                reason: "only regular files, directories and symlinks can be added",
            })
        }
    }

    /// Entries in the order they go into the layer.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.nodes.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked() {
        assert_eq!(image_path("/a//b/").unwrap(), "a/b");
        assert!(image_path("a/b").is_err());
        assert!(image_path("/").is_err());
        assert!(image_path("/a/../b").is_err());
        assert!(image_path("/./a").is_err());
    }

    #[test]
    fn parents_are_implicit_and_conflicts_refused() {
        let mut t = Tree::default();
        t.insert("/usr/local/bin/app", Node::file(&b"x"[..], EXEC_MODE))
            .unwrap();
        let keys: Vec<&str> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["usr", "usr/local", "usr/local/bin", "usr/local/bin/app"]
        );
        assert!(matches!(
            t.insert("/usr/local/bin/app", Node::file(&b"y"[..], FILE_MODE)),
            Err(TreeError::Conflict { .. })
        ));
        assert!(
            t.insert("/usr/local/bin/app/x", Node::dir(DIR_MODE))
                .is_err()
        );
        t.insert("/usr", Node::dir(0o700)).unwrap();
        t.insert_default("/usr/local/bin/app", Node::file(&b"z"[..], FILE_MODE))
            .unwrap();
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn host_directories_are_normalised_and_sorted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/run.sh"), b"#!/bin/sh").unwrap();
        std::fs::set_permissions(
            dir.path().join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
        std::fs::write(dir.path().join("b.txt"), b"b").unwrap();
        std::fs::set_permissions(
            dir.path().join("b.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink("b.txt", dir.path().join("a-link")).unwrap();
        let mut t = Tree::default();
        t.insert_host(dir.path(), "/data").unwrap();
        let got: Vec<(String, u32)> = t.iter().map(|(k, n)| (k.to_string(), n.mode)).collect();
        assert_eq!(
            got,
            [
                ("data".to_string(), 0o755),
                ("data/a-link".to_string(), 0o777),
                ("data/b.txt".to_string(), 0o644),
                ("data/sub".to_string(), 0o755),
                ("data/sub/run.sh".to_string(), 0o755),
            ]
        );
    }

    #[test]
    fn special_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let mut t = Tree::default();
        assert!(matches!(
            t.insert_host(&fifo, "/fifo"),
            Err(TreeError::Unsupported { .. })
        ));
    }
}
