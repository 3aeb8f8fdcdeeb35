//! Every image of an archive judged: the images [`crate::layout::images::list`] finds
//! (those any client could load), each one's layers replayed and its ELF files and start
//! checked, findings labelled by platform when there are several.

use std::collections::HashMap;
use std::sync::Arc;

use super::blobs::Blobs;
use super::layers::Budget;
use super::start;
use super::unpack;
use super::{Finding, ImageOrigin, Outcome};
use crate::layout::images::{Image, list};
use crate::platform::Platform;

/// Findings reported for one archive (files over all its images): the report is held in
/// memory, and images sharing a layer each repeat its files.
const MAX_FINDINGS: usize = 1 << 17;

/// Inspects every image of `blobs`; file paths are shown as `ARCHIVE[:label]:/path`.
pub(super) fn inspect_blobs(
    blobs: &mut dyn Blobs,
    archive: &str,
    budget: &Budget,
) -> Result<Vec<Finding>, String> {
    let images = list(blobs)?;
    let labels = labels(&images);
    let mut findings = Vec::new();
    for (image, label) in images.iter().zip(labels) {
        let prefix = match &label {
            Some(label) => format!("{archive}[{label}]"),
            None => archive.to_string(),
        };
        let scans = image
            .layers
            .iter()
            .map(|(name, digest)| blobs.layer(name, digest.as_deref(), budget))
            .collect::<Result<Vec<_>, String>>()?;
        let (visible, problems, fs) = unpack::replay(&scans, budget)?;
        let start = start::check(&image.run, image.platform.as_ref(), &fs);
        drop(fs);
        if findings.len() + visible.len() + problems.len() > MAX_FINDINGS {
            return Err(format!(
                "more than {MAX_FINDINGS} files to report over its images: too many to judge"
            ));
        }
        let origin = |file: String| ImageOrigin {
            archive: archive.to_string(),
            file,
            platform: image.platform.as_ref().map(Platform::to_string),
            reference: image.reference.clone(),
        };
        for (name, reason) in problems {
            let shown = String::from_utf8_lossy(&name).into_owned();
            findings.push(Finding {
                path: format!("{prefix}:{shown}"),
                image: Some(origin(shown)),
                outcome: Outcome::Invalid(reason),
            });
        }
        for problem in start {
            // An absolute path in the image, or the program's name as the config gives it.
            let file = problem.file.clone();
            findings.push(Finding {
                path: format!("{prefix}:{file}"),
                image: Some(origin(file)),
                outcome: Outcome::Start(problem),
            });
        }
        for (path, outcome) in visible {
            let file = format!("/{}", String::from_utf8_lossy(&path));
            findings.push(Finding {
                path: format!("{prefix}:{file}"),
                image: Some(origin(file)),
                outcome: Arc::unwrap_or_clone(outcome),
            });
        }
    }
    Ok(findings)
}

/// A label per image when there are several: the platform, else the reference, else
/// the position.
fn labels(images: &[Image]) -> Vec<Option<String>> {
    if images.len() < 2 {
        return vec![None; images.len()];
    }
    let mut platforms: HashMap<String, usize> = HashMap::new();
    for image in images {
        if let Some(p) = &image.platform {
            *platforms.entry(p.to_string()).or_default() += 1;
        }
    }
    images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let platform = image.platform.as_ref().map(Platform::to_string);
            Some(match (platform, &image.reference) {
                (Some(p), _) if platforms[&p] == 1 => p,
                (Some(p), Some(r)) => format!("{p} {r}"),
                (None, Some(r)) => r.clone(),
                (Some(p), None) => format!("{p} #{}", i + 1),
                (None, None) => format!("#{}", i + 1),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_only_when_several() {
        let image = |arch: &str, r: Option<&str>| Image {
            platform: Some(Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: None,
            }),
            run: Default::default(),
            reference: r.map(str::to_string),
            manifest: None,
            config: String::new(),
            layers: vec![],
        };
        assert_eq!(labels(&[image("amd64", None)]), vec![None]);
        let l = labels(&[image("amd64", None), image("arm64", None)]);
        assert_eq!(
            l,
            vec![Some("linux/amd64".into()), Some("linux/arm64".into())]
        );
        let l = labels(&[image("amd64", Some("a:1")), image("amd64", Some("b:1"))]);
        assert_eq!(
            l,
            vec![
                Some("linux/amd64 a:1".into()),
                Some("linux/amd64 b:1".into())
            ]
        );
    }
}
