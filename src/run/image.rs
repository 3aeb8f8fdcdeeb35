//! Which image of an archive `run` starts: of the images it holds (the same list the gate
//! judges, [`crate::layout::images::list`]: OCI `index.json`, nested indexes, docker's
//! `manifest.json`), the one for the platform asked for, else this machine's; the only
//! one when there is one and none was asked for. Its config (Entrypoint, Cmd, Env, User,
//! WorkingDir), platform and layers, bottom first, as names of the archive.

use super::RunError;
use crate::layout::images::{self, Image, PickError, list};
use crate::layout::source::Source;
use crate::platform::Platform;

/// The image to run.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub platform: Platform,
    pub config: Config,
    /// Archive names of the layers, bottom first.
    pub layers: Vec<String>,
}

/// What a runtime reads of the config: the inspector's start checks read the same.
pub(crate) use crate::layout::doc::RunConfig as Config;

/// The image of `source` for `want` (else this machine's platform).
pub fn choose(source: &mut Source, want: Option<&Platform>) -> Result<Chosen, RunError> {
    let images = list(source).map_err(|why| RunError::Image { why })?;
    let image = pick(&images, want)?;
    let platform = image.platform.clone().ok_or_else(|| RunError::Image {
        why: "its config names no os and architecture".into(),
    })?;
    Ok(Chosen {
        platform,
        config: image.run.clone(),
        layers: image.layers.iter().map(|(name, _)| name.clone()).collect(),
    })
}

fn pick<'a>(images: &'a [Image], want: Option<&Platform>) -> Result<&'a Image, RunError> {
    images::pick(images, want).map_err(|e| match e {
        PickError::Empty => RunError::Image {
            why: "it holds no image".into(),
        },
        PickError::NoPlatform { want, have } => RunError::NoPlatform { want, have },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(arch: &str, variant: Option<&str>) -> Image {
        Image {
            platform: Some(Platform {
                os: "linux".into(),
                architecture: arch.into(),
                variant: variant.map(str::to_string),
            }),
            run: Default::default(),
            reference: None,
            manifest: None,
            config: String::new(),
            layers: vec![],
        }
    }

    #[test]
    fn the_platform_asked_for_is_picked_or_refused() {
        let arm64 = Platform::parse("linux/arm64").unwrap();
        let armv6 = Platform::parse("linux/arm/v6").unwrap();
        let images = [image("amd64", None), image("arm64", Some("v8"))];
        assert_eq!(
            pick(&images, Some(&arm64)).unwrap().platform,
            images[1].platform
        );
        match pick(&images, Some(&armv6)) {
            Err(RunError::NoPlatform { want, have }) => {
                assert_eq!(want, "linux/arm/v6");
                assert!(have.contains("linux/amd64") && have.contains("linux/arm64"));
            }
            other => panic!("{other:?}"),
        }
        // One image and nothing asked: that one, whatever its platform.
        let only = [image("s390x", None)];
        assert!(pick(&only, None).is_ok());
        assert!(pick(&only, Some(&arm64)).is_err());
        assert!(pick(&[], None).is_err());
    }
}
