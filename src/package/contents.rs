//! What goes into a FROM-scratch image besides the binary: the convergent minimal file
//! set of distroless and chainguard static (passwd and group with root, nonroot and
//! nobody; /tmp; the home directories), the user's `--add` files and an optional CA
//! bundle. The user's files win over the defaults; two user files on one path conflict.

use fs_err as fs;

use crate::image::tree::{EXEC_MODE, FILE_MODE, Node, Tree, TreeError};
use crate::plan::{CA_BUNDLE_PATH, ImagePlan};

const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

const GROUP: &str = "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n";

/// The image's file tree for `binary` (the exact bytes that were inspected).
pub fn tree(plan: &ImagePlan, binary: Vec<u8>) -> Result<Tree, TreeError> {
    let mut tree = Tree::default();
    tree.insert(&plan.binary_path(), Node::file(binary, EXEC_MODE))?;
    for (src, dst) in &plan.adds {
        tree.insert_host(src, dst)?;
    }
    if let Some(ca) = &plan.ca_certificates {
        // Read now, whatever it is (a file, a pipe): the image gets these exact bytes.
        let bundle = fs::read(ca).map_err(|e| TreeError::Host {
            path: ca.clone(),
            source: e,
        })?;
        tree.insert(CA_BUNDLE_PATH, Node::file(bundle, FILE_MODE))?;
    }
    if !plan.bare {
        tree.insert_default("/etc/passwd", Node::file(PASSWD.as_bytes(), FILE_MODE))?;
        tree.insert_default("/etc/group", Node::file(GROUP.as_bytes(), FILE_MODE))?;
        tree.insert_default("/tmp", Node::dir(0o1777))?;
        tree.insert_default("/root", Node::dir(0o700))?;
        tree.insert_default("/home/nonroot", Node::dir(0o700).owned_by(65532, 65532))?;
    }
    Ok(tree)
}
