//! The OCI platform (`linux/amd64`, `linux/arm/v7`): the one vocabulary for an
//! architecture. The inspector derives it from an ELF header, the image writer puts it in
//! the config and index, and the builder and rootfs ask it for the names their tools use
//! (Alpine's `aarch64`, zig's and GNU's `aarch64-linux-musl`, Go's `arm64` and `GOARM`).
//! Only the platforms Alpine ships a rootfs for can be built for ([`Platform::buildable`]);
//! any other is still a platform an inspected image may have.

use std::fmt;

/// An OCI platform triple. `architecture` and `variant` use the names of the OCI image
/// spec (`amd64`, `arm64`, `arm` + `v7`, `386`, `ppc64le`, `s390x`, `riscv64`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// What each tool calls a platform scratchpack builds for.
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    oci: &'static str,
    variant: Option<&'static str>,
    /// Alpine's directory and package architecture (`aarch64`, `armv7`).
    pub alpine: &'static str,
    /// The machine part of GNU and zig target triples (`aarch64`, `arm`).
    pub machine: &'static str,
    /// The ABI part (`musl`, `musleabihf`).
    pub abi: &'static str,
    /// Go's `GOARCH`.
    pub goarch: &'static str,
    /// Go's `GOARM`, for 32-bit ARM.
    pub goarm: Option<&'static str>,
    /// The CPU a C compiler must be told (`-mcpu=`) when the triple does not say it:
    /// `arm-linux-musleabihf` is ARMv7 unless told ARMv6.
    pub cpu: Option<&'static str>,
    /// Rust's `std::env::consts::ARCH` of a machine of this platform.
    rust: &'static str,
}

impl Names {
    /// The static musl target triple of zig and GNU tools (`arm-linux-musleabihf`).
    pub fn musl_triple(&self) -> String {
        format!("{}-linux-{}", self.machine, self.abi)
    }
}

const NAMES: [Names; 8] = [
    Names {
        oci: "amd64",
        variant: None,
        alpine: "x86_64",
        machine: "x86_64",
        abi: "musl",
        goarch: "amd64",
        goarm: None,
        cpu: None,
        rust: "x86_64",
    },
    Names {
        oci: "arm64",
        variant: None,
        alpine: "aarch64",
        machine: "aarch64",
        abi: "musl",
        goarch: "arm64",
        goarm: None,
        cpu: None,
        rust: "aarch64",
    },
    Names {
        oci: "arm",
        variant: Some("v7"),
        alpine: "armv7",
        machine: "arm",
        abi: "musleabihf",
        goarch: "arm",
        goarm: Some("7"),
        cpu: None,
        rust: "arm",
    },
    Names {
        oci: "arm",
        variant: Some("v6"),
        alpine: "armhf",
        machine: "arm",
        abi: "musleabihf",
        goarch: "arm",
        goarm: Some("6"),
        cpu: Some("arm1176jzf_s"),
        rust: "arm",
    },
    Names {
        oci: "386",
        variant: None,
        alpine: "x86",
        machine: "x86",
        abi: "musl",
        goarch: "386",
        goarm: None,
        cpu: None,
        rust: "x86",
    },
    Names {
        oci: "ppc64le",
        variant: None,
        alpine: "ppc64le",
        machine: "powerpc64le",
        abi: "musl",
        goarch: "ppc64le",
        goarm: None,
        cpu: None,
        rust: "powerpc64",
    },
    Names {
        oci: "s390x",
        variant: None,
        alpine: "s390x",
        machine: "s390x",
        abi: "musl",
        goarch: "s390x",
        goarm: None,
        cpu: None,
        rust: "s390x",
    },
    Names {
        oci: "riscv64",
        variant: None,
        alpine: "riscv64",
        machine: "riscv64",
        abi: "musl",
        goarch: "riscv64",
        goarm: None,
        cpu: None,
        rust: "riscv64",
    },
];

/// A platform scratchpack cannot build for, or a name that is not a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{name}` is not a platform scratchpack builds for (one of: {})",
    Platform::buildable_list()
)]
pub struct UnknownPlatform {
    pub name: String,
}

impl Platform {
    fn from_names(n: &Names) -> Platform {
        Platform {
            os: "linux".into(),
            architecture: n.oci.into(),
            variant: n.variant.map(Into::into),
        }
    }

    /// The platforms scratchpack builds for, in a fixed order.
    pub fn buildable() -> Vec<Platform> {
        NAMES.iter().map(Platform::from_names).collect()
    }

    /// The buildable platforms, comma-separated, for messages.
    pub fn buildable_list() -> String {
        Platform::buildable()
            .iter()
            .map(Platform::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The machine scratchpack runs on (`None` on a machine of no buildable platform).
    pub fn host() -> Option<Platform> {
        NAMES
            .iter()
            .find(|n| {
                n.rust == std::env::consts::ARCH && (n.rust != "arm" || n.variant == Some("v7"))
            })
            .map(Platform::from_names)
    }

    /// `linux/arm64`, `linux/arm/v7`, `arm64`, `arm/v6`; also Alpine's names
    /// (`aarch64`, `armv7`) and `arm` alone for `arm/v7`. Only buildable platforms.
    pub fn parse(name: &str) -> Result<Platform, UnknownPlatform> {
        let unknown = || UnknownPlatform { name: name.into() };
        let rest = name.strip_prefix("linux/").unwrap_or(name);
        let (arch, variant) = match rest.split_once('/') {
            Some((a, v)) => (a, Some(v)),
            None => (rest, None),
        };
        NAMES
            .iter()
            .find(|n| match variant {
                Some(v) => n.oci == arch && n.variant == Some(v),
                None => {
                    (n.oci == arch && (n.variant.is_none() || n.variant == Some("v7")))
                        || n.alpine == arch
                }
            })
            .map(Platform::from_names)
            .ok_or_else(unknown)
    }

    /// The platform whose Alpine architecture is `alpine` (`x86_64`, `armv7`, ...).
    pub fn from_alpine(alpine: &str) -> Result<Platform, UnknownPlatform> {
        NAMES
            .iter()
            .find(|n| n.alpine == alpine)
            .map(Platform::from_names)
            .ok_or_else(|| UnknownPlatform {
                name: alpine.into(),
            })
    }

    /// Alpine's name for this machine's architecture; Rust's name of it when scratchpack
    /// does not build on it (no pin names it then, so whatever looks it up fails naming it).
    pub fn host_alpine_arch() -> &'static str {
        Platform::host()
            .and_then(|p| p.names().ok())
            .map_or(std::env::consts::ARCH, |n| n.alpine)
    }

    /// What each tool calls this platform; an error for one scratchpack does not build
    /// for.
    pub fn names(&self) -> Result<&'static Names, UnknownPlatform> {
        NAMES
            .iter()
            .find(|n| {
                self.os == "linux"
                    && n.oci == self.architecture
                    && (n.variant == self.variant.as_deref()
                        || (n.variant == Some("v7") && self.variant.is_none()))
            })
            .ok_or_else(|| UnknownPlatform {
                name: self.to_string(),
            })
    }

    /// `arch` or `arch/variant`, the form `inspect` reports.
    pub fn arch_with_variant(&self) -> String {
        match &self.variant {
            Some(v) => format!("{}/{}", self.architecture, v),
            None => self.architecture.clone(),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.arch_with_variant())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_for_every_buildable_platform() {
        for p in Platform::buildable() {
            let alpine = p.names().unwrap().alpine;
            assert_eq!(Platform::parse(&p.to_string()), Ok(p.clone()));
            assert_eq!(Platform::from_alpine(alpine), Ok(p.clone()));
            assert_eq!(Platform::parse(alpine), Ok(p.clone()));
        }
        assert_eq!(Platform::buildable().len(), 8);
    }

    #[test]
    fn each_tool_gets_its_own_name() {
        let arm = Platform::parse("linux/arm/v7").unwrap();
        let names = arm.names().unwrap();
        assert_eq!(names.alpine, "armv7");
        assert_eq!(names.musl_triple(), "arm-linux-musleabihf");
        assert_eq!((names.goarch, names.goarm), ("arm", Some("7")));
        let v6 = Platform::parse("arm/v6").unwrap().names().unwrap();
        assert_eq!((v6.alpine, v6.goarm), ("armhf", Some("6")));
        let ppc = Platform::parse("ppc64le").unwrap().names().unwrap();
        assert_eq!(ppc.musl_triple(), "powerpc64le-linux-musl");
        assert_eq!(Platform::parse("arm").unwrap(), arm);
        assert_eq!(
            Platform::parse("386").unwrap().names().unwrap().alpine,
            "x86"
        );
    }

    #[test]
    fn unknown_platforms_are_refused_not_taken_for_amd64() {
        for name in [
            "linux/mips64",
            "windows/amd64",
            "arm/v5",
            "",
            "amd64/v2",
            "x86-64",
        ] {
            let e = Platform::parse(name).unwrap_err();
            assert!(e.to_string().contains("linux/riscv64"), "{e}");
        }
        let mips = Platform {
            os: "linux".into(),
            architecture: "mips64".into(),
            variant: None,
        };
        assert!(mips.names().is_err());
        assert!(Platform::host().is_some_and(|h| h.names().is_ok()));
        assert_eq!(
            Platform::host_alpine_arch(),
            Platform::host().unwrap().names().unwrap().alpine
        );
    }
}
