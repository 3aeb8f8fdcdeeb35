//! The start checks on an image about to be written: the packager's tree of files and
//! run config go through the same [`super::start`] checks as an image read from an
//! archive, so `package` and the builder refuse what `inspect` would fail.

use std::io::Read;
use std::sync::Arc;

use super::Outcome;
use super::layers::{Budget, Content, LayerScan, Op, file_content};
use super::start::{self, RunConfig, StartProblem};
use super::unpack;
use crate::elf::ElfInfo;
use crate::image::spec;
use crate::image::tree::{self, NodeKind, Tree};
use crate::platform::Platform;

/// Why the image made of `tree` and `run`, for `platform`, would not start. `known` is
/// the verdict already made on the file at that path (the binary), not judged again.
pub fn problems(
    tree: &Tree,
    run: &spec::RunConfig,
    platform: &Platform,
    known: (&str, &ElfInfo),
) -> Vec<StartProblem> {
    let known_path = known.0.trim_start_matches('/');
    let known = Arc::new(Outcome::Elf(known.1.clone()));
    let budget = Budget::default();
    let ops = tree
        .iter()
        .map(|(path, node)| {
            let base = path.rsplit('/').next().unwrap_or(path).as_bytes();
            let (dir, file, content) = match &node.kind {
                NodeKind::Dir => (true, false, Content::Plain),
                NodeKind::Symlink(target) => {
                    (false, false, Content::Symlink(target.as_bytes().into()))
                }
                NodeKind::File(_) if path == known_path => {
                    (false, true, Content::Elf(known.clone()))
                }
                NodeKind::File(data) => (false, true, content(data, base, node.mode, &budget)),
            };
            Op::Entry {
                path: path.as_bytes().into(),
                dir,
                file,
                mode: node.mode,
                content,
            }
        })
        .collect();
    let layer = Arc::new(LayerScan {
        ops,
        problems: Vec::new(),
        digest: String::new(),
        error: None,
    });
    let Ok((_, _, fs)) = unpack::replay(&[layer], &budget) else {
        return Vec::new();
    };
    let config = RunConfig {
        entrypoint: Some(run.entrypoint.clone()),
        cmd: Some(run.cmd.clone()),
        env: Some(run.env.clone()),
        working_dir: run.workdir.clone(),
        user: run.user.clone(),
    };
    start::check(&config, Some(platform), &fs)
}

/// A file's content as the gate keeps it; one that cannot be read now is plain (writing
/// the layer reports it).
fn content(data: &tree::Content, base: &[u8], mode: u32, budget: &Budget) -> Content {
    let kept = match data {
        tree::Content::Bytes(bytes) => {
            file_content(&mut &bytes[..], bytes.len() as u64, base, mode, budget)
        }
        tree::Content::Host { path, size } => std::fs::File::open(path)
            .and_then(|f| file_content(&mut f.take(*size), *size, base, mode, budget)),
    };
    kept.unwrap_or(Content::Plain)
}
