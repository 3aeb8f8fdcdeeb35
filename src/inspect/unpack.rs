//! The filesystem a runtime unpacks from an image's layers, as far as the gate needs it:
//! where every ELF file lands, and which ones the upper layers delete. Layers are replayed
//! bottom first, each entry in its order, as containerd and docker apply them: a path
//! whose directories go through a symbolic link lands where the link points (resolved
//! inside the image, `..` stopping at its root, as `securejoin` does), an entry replaces
//! what was at its path (a non-directory also what was below it), `.wh.NAME` deletes NAME
//! and `.wh..wh..opq` empties its directory.
//!
//! Where runtimes and the OCI spec disagree, the reading that keeps more files wins, so
//! the gate never passes a file some runtime would keep: a whiteout deletes only what
//! lower layers made (the spec), not an earlier entry of its own layer (containerd).
//!
//! ELF files are kept in a sorted map, so a deletion is a range removal however deep its
//! paths; links in a trie of path components, so resolving a path costs its depth only
//! while it runs along a link.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::Outcome;
use super::layers::{Budget, Content, LayerScan, Op};

/// The ELF files visible in an image's filesystem, by path.
pub(super) type Visible = BTreeMap<Vec<u8>, Arc<Outcome>>;
/// Entries no runtime should be given, with why.
pub(super) type Problems = Vec<(Vec<u8>, String)>;

/// Problems kept per layer (and per replay): one is enough to fail the image; a few show
/// the pattern; thousands would only cost memory, once per image sharing the layer.
const MAX_PROBLEMS: usize = 100;

/// Adds a problem with `name` (the entry, as written), keeping at most [`MAX_PROBLEMS`]:
/// the last one kept says that more were left out.
pub(super) fn add_problem(problems: &mut Problems, name: &[u8], reason: impl FnOnce() -> String) {
    match problems.len() {
        n if n < MAX_PROBLEMS => problems.push((name.to_vec(), reason())),
        MAX_PROBLEMS => problems.push((
            name.to_vec(),
            "and more entries like those above, not listed".to_string(),
        )),
        _ => {}
    }
}

/// At most 200 characters of `name`, for messages (the finding's path names it whole).
pub(super) fn short(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.into_owned(),
    }
}

/// Layer entries replayed over all images of one archive.
const MAX_REPLAYED: u64 = 64 << 20;
/// Links followed while resolving one path (securejoin's limit).
const MAX_LINKS_FOLLOWED: usize = 255;

/// Symbolic links by path, as a trie of components.
#[derive(Default)]
struct Links {
    target: Option<Box<[u8]>>,
    children: HashMap<Box<[u8]>, Links>,
}

impl Links {
    fn node(&self, path: &[&[u8]]) -> Option<&Links> {
        let mut node = self;
        for c in path {
            node = node.children.get(*c)?;
        }
        Some(node)
    }

    fn node_mut(&mut self, path: &[&[u8]]) -> &mut Links {
        let mut node = self;
        for c in path {
            node = node.children.entry((*c).into()).or_default();
        }
        node
    }

    /// Forgets the link at `path` and, unless `keep_below`, every link below it.
    fn remove(&mut self, path: &[&[u8]], keep_below: bool) {
        let Some((last, parents)) = path.split_last() else {
            if !keep_below {
                *self = Links::default();
            }
            return;
        };
        let mut node = self;
        for c in parents {
            match node.children.get_mut(*c) {
                Some(next) => node = next,
                None => return,
            }
        }
        if keep_below {
            if let Some(n) = node.children.get_mut(*last) {
                n.target = None;
            }
        } else {
            node.children.remove(*last);
        }
    }
}

fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// A directory or file of the unpacked filesystem (links are in [`Links`]).
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub dir: bool,
    /// A regular file.
    pub file: bool,
    pub mode: u32,
    /// The ELF verdict of an ELF file.
    pub elf: Option<Arc<Outcome>>,
    /// The text of a file the start checks read (`etc/passwd`, `etc/group`).
    pub text: Option<Arc<[u8]>>,
}

/// The filesystem being unpacked.
#[derive(Default)]
struct Tree {
    /// Directories and files by path, with the layer that made them.
    nodes: BTreeMap<Vec<u8>, (Node, usize)>,
    links: Links,
}

/// An image's final filesystem, for the start checks: what is at a path, links followed
/// inside the image as runtimes follow them.
pub(super) struct Filesystem {
    tree: Tree,
}

impl Filesystem {
    /// The node at `path` (absolute or not: inside the image either way), every link on
    /// the way followed; `None` when nothing is there or the links loop.
    pub fn lookup(&self, path: &[u8]) -> Option<&Node> {
        let parts = self.tree.resolve(path, true)?;
        if parts.is_empty() {
            return Some(&ROOT);
        }
        self.tree.nodes.get(&parts.join(&b"/"[..])).map(|(n, _)| n)
    }

    /// Whether `path` is a directory (links followed) holding a regular file or a link.
    pub fn holds_files(&self, path: &[u8]) -> bool {
        let Some(parts) = self.tree.resolve(path, true) else {
            return false;
        };
        let mut prefix = parts.join(&b"/"[..]);
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let linked = self
            .tree
            .links
            .node(&refs)
            .is_some_and(|n| n.children.values().any(|c| c.target.is_some()));
        linked
            || self
                .tree
                .nodes
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .any(|(_, (n, _))| n.file)
    }
}

/// The root directory, which every image has.
static ROOT: Node = Node {
    dir: true,
    file: false,
    mode: 0o755,
    elf: None,
    text: None,
};

impl Tree {
    /// `path` with its links resolved inside the image: the directories always, the
    /// last component only if `follow_last`. `None` on a loop.
    fn resolve(&self, path: &[u8], follow_last: bool) -> Option<Vec<Vec<u8>>> {
        let mut done: Vec<Vec<u8>> = Vec::new();
        let mut todo: Vec<Vec<u8>> = components(path)
            .into_iter()
            .rev()
            .map(<[u8]>::to_vec)
            .collect();
        // The trie node of `done`; `None` once no link lies below it.
        let mut node: Option<&Links> = Some(&self.links);
        let mut followed = 0;
        while let Some(c) = todo.pop() {
            if c == b".." {
                done.pop();
                let refs: Vec<&[u8]> = done.iter().map(Vec::as_slice).collect();
                node = self.links.node(&refs);
                continue;
            }
            let child = node.and_then(|n| n.children.get(c.as_slice()));
            let last = todo.is_empty();
            let target = child
                .filter(|_| !last || follow_last)
                .and_then(|n| n.target.as_ref());
            match target {
                Some(target) => {
                    followed += 1;
                    if followed > MAX_LINKS_FOLLOWED {
                        return None;
                    }
                    if target.starts_with(b"/") {
                        done.clear();
                        node = Some(&self.links);
                    }
                    todo.extend(components(target).into_iter().rev().map(<[u8]>::to_vec));
                }
                None => {
                    done.push(c);
                    node = child;
                }
            }
        }
        Some(done)
    }

    /// Removes the nodes at `path` (if `exact`) and below it made by layers under
    /// `layer` (or by any layer when `layer` is `None`).
    fn remove_nodes(&mut self, path: &[u8], exact: bool, layer: Option<usize>) {
        let lower = |l: usize| layer.is_none_or(|layer| l < layer);
        if exact && self.nodes.get(path).is_some_and(|(_, l)| lower(*l)) {
            self.nodes.remove(path);
        }
        let doomed: Vec<Vec<u8>> = if path.is_empty() {
            self.nodes
                .iter()
                .filter(|(_, (_, l))| lower(*l))
                .map(|(k, _)| k.clone())
                .collect()
        } else {
            let mut start = path.to_vec();
            start.push(b'/');
            let mut end = path.to_vec();
            end.push(b'/' + 1);
            self.nodes
                .range(start..end)
                .filter(|(_, (_, l))| lower(*l))
                .map(|(k, _)| k.clone())
                .collect()
        };
        for k in doomed {
            self.nodes.remove(&k);
        }
    }

    fn apply(&mut self, op: &Op, layer: usize, problems: &mut Problems) {
        let (raw, follow_last) = match op {
            Op::Whiteout(p) | Op::Entry { path: p, .. } => (p, false),
            Op::Opaque(p) => (p, true),
        };
        let Some(parts) = self.resolve(raw, follow_last) else {
            add_problem(problems, raw, || {
                format!(
                    "more than {MAX_LINKS_FOLLOWED} symbolic links on the way to `{}`: runtimes \
                     refuse the layer",
                    short(raw)
                )
            });
            return;
        };
        let path = parts.join(&b"/"[..]);
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        match op {
            Op::Whiteout(_) => {
                self.remove_nodes(&path, true, Some(layer));
                self.links.remove(&refs, false);
            }
            Op::Opaque(_) => {
                self.remove_nodes(&path, false, Some(layer));
                if self.links.node(&refs).is_some() {
                    self.links.node_mut(&refs).children.clear();
                }
            }
            Op::Entry {
                dir,
                file,
                mode,
                content,
                ..
            } => {
                // A hard link is its target: the same kind, mode and contents.
                let linked = match content {
                    Content::HardLink(target) => self
                        .resolve(target, true)
                        .map(|t| t.join(&b"/"[..]))
                        .and_then(|t| self.nodes.get(&t).map(|(n, _)| n.clone())),
                    _ => None,
                };
                // A directory entry replaces the node at its path only: directories
                // merge, what lower layers put below it stays. Anything else replaces
                // the whole subtree.
                self.nodes.remove(&path);
                if !dir {
                    self.remove_nodes(&path, false, None);
                }
                self.links.remove(&refs, *dir);
                let node = match content {
                    Content::Symlink(target) => {
                        self.links.node_mut(&refs).target = Some(target.clone());
                        None
                    }
                    Content::HardLink(_) => linked,
                    Content::Elf(outcome) => Some(Node {
                        dir: *dir,
                        file: *file,
                        mode: *mode,
                        elf: Some(outcome.clone()),
                        text: None,
                    }),
                    Content::Text(text) => Some(Node {
                        dir: *dir,
                        file: *file,
                        mode: *mode,
                        elf: None,
                        text: Some(text.clone()),
                    }),
                    Content::Plain => Some(Node {
                        dir: *dir,
                        file: *file,
                        mode: *mode,
                        elf: None,
                        text: None,
                    }),
                };
                if let Some(node) = node {
                    self.nodes.insert(path, (node, layer));
                }
            }
        }
    }
}

/// The ELF files visible in the filesystem `layers` (bottom first) make, with the
/// problems of every layer, and that filesystem.
pub(super) fn replay(
    layers: &[Arc<LayerScan>],
    budget: &Budget,
) -> Result<(Visible, Problems, Filesystem), String> {
    let mut tree = Tree::default();
    let mut problems = Problems::new();
    for (index, layer) in layers.iter().enumerate() {
        budget
            .replayed
            .set(budget.replayed.get() + layer.ops.len() as u64);
        if budget.replayed.get() > MAX_REPLAYED {
            return Err(format!(
                "more than {MAX_REPLAYED} layer entries across its images: too large to judge"
            ));
        }
        problems.extend(layer.problems.iter().cloned());
        for op in &layer.ops {
            tree.apply(op, index, &mut problems);
        }
    }
    let visible = tree
        .nodes
        .iter()
        .filter_map(|(k, (n, _))| n.elf.as_ref().map(|o| (k.clone(), o.clone())))
        .collect();
    Ok((visible, problems, Filesystem { tree }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, elf: bool) -> Op {
        Op::Entry {
            path: path.as_bytes().into(),
            dir: false,
            file: true,
            mode: 0o755,
            content: if elf {
                Content::Elf(Arc::new(Outcome::Corrupt("x".into())))
            } else {
                Content::Plain
            },
        }
    }

    fn link(path: &str, target: &str) -> Op {
        Op::Entry {
            path: path.as_bytes().into(),
            dir: false,
            file: false,
            mode: 0o777,
            content: Content::Symlink(target.as_bytes().into()),
        }
    }

    fn layer(ops: Vec<Op>) -> Arc<LayerScan> {
        Arc::new(LayerScan {
            ops,
            problems: vec![],
            digest: String::new(),
            error: None,
        })
    }

    fn names(layers: &[Arc<LayerScan>]) -> Vec<String> {
        let (v, _, _) = replay(layers, &Budget::default()).unwrap();
        v.keys()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn upper_layers_replace_delete_and_hide() {
        let base = layer(vec![
            file("bin/a", true),
            file("bin/b", true),
            file("opt/x/y", true),
            file("var/lib/z", true),
            file("usr/c", true),
        ]);
        let top = layer(vec![
            file("bin/a", false),
            Op::Whiteout(b"opt/x"[..].into()),
            Op::Opaque(b"var"[..].into()),
            file("var/new", true),
            file("usr", false),
            Op::Entry {
                path: b"bin/b2"[..].into(),
                dir: false,
                file: false,
                mode: 0o755,
                content: Content::HardLink(b"bin/b"[..].into()),
            },
        ]);
        assert_eq!(names(&[base, top]), ["bin/b", "bin/b2", "var/new"]);
    }

    #[test]
    fn a_directory_entry_in_an_upper_layer_keeps_what_is_below_it() {
        // Every `COPY` of podman build writes `etc/` again: a lower layer's files stay.
        let dir = |path: &str| Op::Entry {
            path: path.as_bytes().into(),
            dir: true,
            file: false,
            mode: 0o755,
            content: Content::Plain,
        };
        let lower = layer(vec![dir("usr"), dir("usr/bin"), file("usr/bin/dyn", true)]);
        let upper = layer(vec![
            dir("usr"),
            dir("usr/bin"),
            file("usr/bin/other", true),
        ]);
        assert_eq!(names(&[lower, upper]), ["usr/bin/dyn", "usr/bin/other"]);
    }

    #[test]
    fn names_are_compared_as_bytes() {
        let a = layer(vec![file("bin/\u{fffd}", true)]);
        let b = layer(vec![Op::Whiteout(b"bin/\xff"[..].into())]);
        assert_eq!(
            names(&[a, b]),
            ["bin/\u{fffd}"],
            "different bytes, not whited out"
        );
    }

    #[test]
    fn files_land_where_links_point_and_deleting_a_link_keeps_them() {
        // `a` -> usr/bin: a/dyn is /usr/bin/dyn; deleting the link `a` leaves it.
        let lower = layer(vec![link("a", "/usr/bin"), file("a/dyn", true)]);
        let upper = layer(vec![Op::Whiteout(b"a"[..].into())]);
        assert_eq!(names(&[lower.clone(), upper]), ["usr/bin/dyn"]);
        // A whiteout through a link deletes where it points.
        let upper = layer(vec![Op::Whiteout(b"a/dyn"[..].into())]);
        assert!(names(&[lower, upper]).is_empty());
        // Relative targets, `..` stopping at the root, and a loop.
        let l = layer(vec![
            link("x/y", "../../../z"),
            file("x/y/f", true),
            link("loop", "loop/a"),
            file("loop/g", true),
        ]);
        let (v, problems, _) = replay(&[l], &Budget::default()).unwrap();
        assert!(v.contains_key(&b"z/f"[..]));
        assert!(!problems.is_empty(), "a link loop is reported");
    }

    #[test]
    fn problems_are_capped_and_names_shortened_in_messages() {
        let mut problems = Problems::new();
        for i in 0..1000 {
            add_problem(&mut problems, format!("e{i}").as_bytes(), || "why".into());
        }
        assert_eq!(problems.len(), MAX_PROBLEMS + 1);
        assert!(problems[MAX_PROBLEMS].1.contains("not listed"));
        assert_eq!(short("x".repeat(500).as_bytes()).len(), 203);
        assert_eq!(short(b"short"), "short");
    }

    #[test]
    fn a_whiteout_keeps_what_its_own_layer_made() {
        let l = layer(vec![file("bin/x", true), Op::Whiteout(b"bin/x"[..].into())]);
        assert_eq!(names(&[l]), ["bin/x"]);
    }

    #[test]
    fn deep_paths_under_a_whiteout_cost_little() {
        let deep = "d/".repeat(20_000);
        let mut ops: Vec<Op> = (0..200)
            .map(|i| file(&format!("{deep}f{i}"), true))
            .collect();
        ops.push(file("keep", true));
        let start = std::time::Instant::now();
        let gone = layer(vec![Op::Whiteout(b"d"[..].into())]);
        assert_eq!(names(&[layer(ops), gone]), ["keep"]);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}
