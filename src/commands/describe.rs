//! `scratchpack sbom` and `scratchpack provenance`: the document stored beside an image
//! (an OCI referrer of its manifest), printed as it was written.

use std::path::PathBuf;

use crate::attest::SPDX_TYPE;
use crate::error::{Error, ExitStatus, Hint};
use crate::layout::images::{self, PickError};
use crate::layout::referrers;
use crate::layout::source::{Source, SourceError};
use crate::plan::DescribePlan;
use crate::ui::Ui;

#[derive(Debug, thiserror::Error)]
pub enum DescribeError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("the image `{}` is invalid: {why}", image.display())]
    Invalid { image: PathBuf, why: String },
    #[error("`{}` has no image for {want} (it has: {have})", image.display())]
    NoPlatform {
        image: PathBuf,
        want: String,
        have: String,
    },
    #[error("`{}` holds no {what} for its image {digest}", image.display())]
    Missing {
        image: PathBuf,
        what: &'static str,
        digest: String,
    },
}

impl DescribeError {
    /// The image is at fault (exit 1), not the command.
    pub fn is_input_fault(&self) -> bool {
        matches!(
            self,
            DescribeError::Missing { .. }
                | DescribeError::Invalid { .. }
                | DescribeError::Source(SourceError::Invalid { .. })
        )
    }
}

impl Hint for DescribeError {
    fn hints(&self) -> Vec<String> {
        match self {
            DescribeError::Source(e) => e.hints(),
            DescribeError::NoPlatform { .. } => vec!["choose one it has with --platform".into()],
            DescribeError::Missing { .. } => vec![
                "scratchpack build and package store one beside every image unless --no-sbom \
                 is given; an image written by another tool, or a docker-archive, holds none"
                    .into(),
            ],
            DescribeError::Invalid { .. } => Vec::new(),
        }
    }
}

pub fn run(plan: &DescribePlan, ui: &Ui) -> Result<ExitStatus, Error> {
    let bytes = document(plan)?;
    ui.data(String::from_utf8_lossy(&bytes).trim_end());
    Ok(ExitStatus::Success)
}

fn document(plan: &DescribePlan) -> Result<Vec<u8>, DescribeError> {
    let image = &plan.image;
    let invalid = |why: String| DescribeError::Invalid {
        image: image.clone(),
        why,
    };
    let mut source = Source::open_any(image)?;
    let all = images::list(&mut source).map_err(invalid)?;
    let chosen = images::pick(&all, plan.platform.as_ref()).map_err(|e| match e {
        PickError::Empty => invalid("it holds no image".into()),
        PickError::NoPlatform { want, have } => DescribeError::NoPlatform {
            image: image.clone(),
            want,
            have,
        },
    })?;
    let what = if plan.artifact_type == SPDX_TYPE {
        "SBOM"
    } else {
        "provenance"
    };
    let missing = |digest: String| DescribeError::Missing {
        image: image.clone(),
        what,
        digest,
    };
    let Some(digest) = chosen.manifest.clone() else {
        return Err(missing("(a docker-archive names no manifest)".into()));
    };
    let bytes =
        referrers::body(&source, &digest, plan.artifact_type)?.ok_or_else(|| missing(digest))?;
    // Printed as stored, so its digest can be checked, but only if it is JSON: valid JSON
    // holds no raw control character that could drive a terminal.
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|e| invalid(format!("its {what} is not JSON: {e}")))?;
    Ok(bytes)
}
