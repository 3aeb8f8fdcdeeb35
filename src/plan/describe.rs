//! The plan of `scratchpack sbom` and `scratchpack provenance`: which image, which
//! platform, which record.

use std::path::PathBuf;

use super::{PlanError, flag_err};
use crate::cli::DescribeArgs;
use crate::platform::Platform;

#[derive(Debug, Clone)]
pub struct DescribePlan {
    pub image: PathBuf,
    pub platform: Option<Platform>,
    /// The referrer's artifact type: SPDX or in-toto.
    pub artifact_type: &'static str,
}

impl DescribePlan {
    pub fn resolve(args: DescribeArgs, artifact_type: &'static str) -> Result<Self, PlanError> {
        let platform = args
            .platform
            .as_deref()
            .map(|p| Platform::parse(p).map_err(|e| flag_err("--platform", p, e.to_string())))
            .transpose()?;
        Ok(DescribePlan {
            image: args.image,
            platform,
            artifact_type,
        })
    }
}
