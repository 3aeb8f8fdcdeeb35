//! ELF machine, class and byte order to an OCI platform. For 32-bit ARM the variant
//! (`v5`, `v6`, `v7`) comes from `Tag_CPU_arch` in `.ARM.attributes` when the section is
//! there, else `v7` (what every current toolchain targets by default).

use goblin::elf::header;

use crate::platform::Platform;

const ELFOSABI_FREEBSD: u8 = 9;
const EM_LOONGARCH: u16 = 258;

/// The platform a binary runs on, from its header fields.
pub fn platform(
    machine: u16,
    is_64: bool,
    little_endian: bool,
    osabi: u8,
    arm_attributes: Option<&[u8]>,
) -> Platform {
    let (architecture, variant) = match (machine, is_64, little_endian) {
        (header::EM_X86_64, true, _) => ("amd64", None),
        (header::EM_X86_64, false, _) => ("amd64p32", None),
        (header::EM_386, _, _) => ("386", None),
        (header::EM_AARCH64, _, true) => ("arm64", None),
        (header::EM_AARCH64, _, false) => ("arm64be", None),
        (header::EM_ARM, _, true) => ("arm", Some(arm_variant(arm_attributes))),
        (header::EM_ARM, _, false) => ("armbe", None),
        (header::EM_PPC64, _, true) => ("ppc64le", None),
        (header::EM_PPC64, _, false) => ("ppc64", None),
        (header::EM_PPC, _, _) => ("ppc", None),
        (header::EM_S390, true, _) => ("s390x", None),
        (header::EM_S390, false, _) => ("s390", None),
        (header::EM_RISCV, true, _) => ("riscv64", None),
        (header::EM_RISCV, false, _) => ("riscv", None),
        (header::EM_MIPS, true, true) => ("mips64le", None),
        (header::EM_MIPS, true, false) => ("mips64", None),
        (header::EM_MIPS, false, true) => ("mipsle", None),
        (header::EM_MIPS, false, false) => ("mips", None),
        (EM_LOONGARCH, true, _) => ("loong64", None),
        (header::EM_SPARCV9, _, _) => ("sparc64", None),
        _ => {
            return Platform {
                os: os(osabi).to_string(),
                architecture: format!("unknown-{machine}"),
                variant: None,
            };
        }
    };
    Platform {
        os: os(osabi).to_string(),
        architecture: architecture.to_string(),
        variant,
    }
}

fn os(osabi: u8) -> &'static str {
    match osabi {
        ELFOSABI_FREEBSD => "freebsd",
        _ => "linux",
    }
}

/// The platform, and whether its variant was read rather than guessed: for 32-bit ARM
/// from `.ARM.attributes`, else (Go writes none) from Go's build settings in `bytes`
/// (`build\tGOARM=6`); `v7` when neither says.
pub(super) fn platform_of(
    machine: u16,
    is_64: bool,
    little_endian: bool,
    osabi: u8,
    arm_attributes: Option<&[u8]>,
    bytes: &[u8],
) -> (Platform, bool) {
    let mut p = platform(machine, is_64, little_endian, osabi, arm_attributes);
    if machine != header::EM_ARM || arm_attributes.and_then(tag_cpu_arch).is_some() {
        return (p, true);
    }
    let setting = b"build\tGOARM=";
    let goarm = memchr::memmem::find(bytes, setting).and_then(|at| bytes.get(at + setting.len()));
    match goarm {
        Some(v @ b'5'..=b'7') if little_endian => {
            p.variant = Some(format!("v{}", *v as char));
            (p, true)
        }
        _ => (p, false),
    }
}

/// `Tag_CPU_arch` (ARM IHI 0045) to the OCI variant; `v7` when unknown.
fn arm_variant(attributes: Option<&[u8]>) -> String {
    let variant = match attributes.and_then(tag_cpu_arch) {
        Some(0..=5) => "v5",
        Some(6..=9 | 11 | 12) => "v6",
        _ => "v7",
    };
    variant.to_string()
}

/// Reads `Tag_CPU_arch` (tag 6) from the `aeabi` file attributes of an `.ARM.attributes`
/// section. Bounded: any inconsistency yields `None`.
fn tag_cpu_arch(section: &[u8]) -> Option<u64> {
    let rest = section.strip_prefix(b"A")?;
    let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let sub = rest.get(4..len.min(rest.len()))?;
    let nul = sub.iter().position(|&b| b == 0)?;
    if &sub[..nul] != b"aeabi" {
        return None;
    }
    let mut attrs = sub.get(nul + 1..)?;
    // Sub-subsection: tag 1 (whole file), u32 size, then attributes.
    if *attrs.first()? != 1 {
        return None;
    }
    let size = u32::from_le_bytes(attrs.get(1..5)?.try_into().ok()?) as usize;
    attrs = attrs.get(5..size.min(attrs.len()))?;
    while !attrs.is_empty() {
        let tag = uleb(&mut attrs)?;
        match tag {
            6 => return uleb(&mut attrs),
            4 | 5 | 67 => skip_ntbs(&mut attrs)?,
            32 => {
                uleb(&mut attrs)?;
                skip_ntbs(&mut attrs)?;
            }
            t if t > 32 && t % 2 == 1 => skip_ntbs(&mut attrs)?,
            _ => {
                uleb(&mut attrs)?;
            }
        }
    }
    None
}

fn uleb(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Some(value);
        }
    }
    None
}

fn skip_ntbs(bytes: &mut &[u8]) -> Option<()> {
    let nul = bytes.iter().position(|&b| b == 0)?;
    *bytes = &bytes[nul + 1..];
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(cpu_arch: u8) -> Vec<u8> {
        // "A", len, "aeabi\0", tag 1, size, Tag_CPU_name "7-A", Tag_CPU_arch
        let attrs = [&[5u8][..], b"7-A\0", &[6, cpu_arch]].concat();
        let file = [
            &[1u8][..],
            &((5 + attrs.len()) as u32).to_le_bytes(),
            &attrs,
        ]
        .concat();
        let sub = [b"aeabi\0".as_slice(), &file].concat();
        [
            b"A".as_slice(),
            &((4 + sub.len()) as u32).to_le_bytes(),
            &sub,
        ]
        .concat()
    }

    #[test]
    fn arm_variant_from_attributes() {
        assert_eq!(arm_variant(Some(&attributes(10))), "v7");
        assert_eq!(arm_variant(Some(&attributes(6))), "v6");
        assert_eq!(arm_variant(Some(&attributes(4))), "v5");
        assert_eq!(arm_variant(None), "v7");
        assert_eq!(arm_variant(Some(b"Agarbage")), "v7");
    }

    #[test]
    fn go_arm_binaries_say_their_variant_in_their_build_settings() {
        let go = b"...build\tGOARCH=arm\nbuild\tGOARM=6\n...";
        let (p, known) = platform_of(header::EM_ARM, false, true, 0, None, go);
        assert_eq!((p.to_string(), known), ("linux/arm/v6".to_string(), true));
        let (p, known) = platform_of(header::EM_ARM, false, true, 0, None, b"no settings");
        assert_eq!((p.to_string(), known), ("linux/arm/v7".to_string(), false));
        // The attributes win over a string that merely looks like a setting.
        let (p, known) = platform_of(header::EM_ARM, false, true, 0, Some(&attributes(10)), go);
        assert_eq!((p.to_string(), known), ("linux/arm/v7".to_string(), true));
        let (_, known) = platform_of(header::EM_AARCH64, true, true, 0, None, b"");
        assert!(known);
    }

    #[test]
    fn common_machines() {
        let p = platform(header::EM_X86_64, true, true, 0, None);
        assert_eq!(p.to_string(), "linux/amd64");
        let p = platform(header::EM_ARM, false, true, 0, None);
        assert_eq!(p.to_string(), "linux/arm/v7");
        let p = platform(header::EM_PPC64, true, true, 0, None);
        assert_eq!(p.arch_with_variant(), "ppc64le");
        assert_eq!(
            platform(header::EM_S390, true, false, 0, None).architecture,
            "s390x"
        );
        assert_eq!(
            platform(header::EM_RISCV, true, true, 0, None).architecture,
            "riscv64"
        );
        assert_eq!(
            platform(header::EM_386, false, true, 0, None).architecture,
            "386"
        );
        assert_eq!(
            platform(4242, true, true, 9, None).to_string(),
            "freebsd/unknown-4242"
        );
    }
}
