//! The ELF inspector: bytes in, verdict out. It decides whether a binary can run in an
//! empty (`FROM scratch`) image: no interpreter, no needed libraries, no hidden run-time
//! loading (see [`libc`]). It reads only headers, the dynamic segment, notes and — for
//! glibc static binaries — a bounded part of the symbol and string tables, so with a
//! memory-mapped file only those pages are touched.
//!
//! It never panics on hostile input: every offset is bounds-checked here or by goblin, and
//! goblin itself runs under `catch_unwind` as a last line of defence.

mod arch;
mod ca;
mod capture;
mod libc;
mod needs;
mod view;

pub use capture::{Captured, capture, inspect_captured};

use goblin::elf::{dynamic, header, program_header};

use crate::platform::Platform;
pub use ca::CaBundle;
pub use needs::Needs;
use view::View;

/// The four bytes every ELF file starts with.
pub const MAGIC: &[u8; 4] = b"\x7fELF";

/// Whether `bytes` begins like an ELF file.
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// What kind of file this is, as far as running it in a scratch image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// ET_EXEC with no interpreter and no needed libraries.
    Static,
    /// ET_DYN position-independent executable with no interpreter and no needed libraries.
    StaticPie,
    /// Has an interpreter (PT_INTERP) and/or needed libraries (DT_NEEDED).
    Dynamic,
    /// A shared object meant to be loaded by something else.
    SharedLibrary,
    /// A relocatable object (`.o`): not an executable, no run-time dependency.
    Object,
    /// A core dump.
    Core,
    /// A separate debug file (`objcopy --only-keep-debug`, `/usr/lib/debug/**.debug`):
    /// its segments hold no code and no kernel would run it.
    Debug,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Static => "static",
            Kind::StaticPie => "static-pie",
            Kind::Dynamic => "dynamic",
            Kind::SharedLibrary => "shared-library",
            Kind::Object => "object",
            Kind::Core => "core",
            Kind::Debug => "debug",
        }
    }

    /// Whether a file of this kind passes the static-linkage gate: it needs nothing at run
    /// time that an empty image lacks. Objects, core dumps and debug files are not
    /// programs and carry no dynamic dependency, so they pass.
    pub fn passes(self) -> bool {
        !matches!(self, Kind::Dynamic | Kind::SharedLibrary)
    }

    /// Whether this is an executable that can be an image's entry point.
    pub fn is_static_executable(self) -> bool {
        matches!(self, Kind::Static | Kind::StaticPie)
    }
}

/// Build identifiers found in the notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildIds {
    /// `NT_GNU_BUILD_ID`, hex.
    pub gnu: Option<String>,
    /// Go's build id from the `Go` note (`.note.go.buildid`), as written by the Go linker.
    pub go: Option<String>,
}

/// Everything the inspector learns about one ELF file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub kind: Kind,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub platform: Platform,
    /// The variant was read from the file: not 32-bit ARM, or ARM with its CPU
    /// architecture in `.ARM.attributes` (Go writes none: `v7` is then a guess).
    pub variant_known: bool,
    /// `ELF32` or `ELF64`.
    pub class: &'static str,
    /// `EXEC`, `DYN`, `REL` or `CORE`.
    pub elf_type: &'static str,
    /// No `.symtab` section.
    pub stripped: bool,
    pub build_id: BuildIds,
    /// Problems that a naive static check misses (glibc NSS, iconv, dlopen).
    pub warnings: Vec<String>,
    /// What a static executable reads from the filesystem at run time.
    pub needs: Needs,
}

impl ElfInfo {
    /// Why this file fails the gate, for humans: interpreter and libraries.
    pub fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if let Some(interp) = &self.interpreter {
            reasons.push(format!("interpreter {interp}"));
        }
        if !self.needed.is_empty() {
            reasons.push(format!("needs {}", self.needed.join(", ")));
        }
        if self.kind == Kind::SharedLibrary && reasons.is_empty() {
            reasons.push("a shared library, loaded by a dynamic executable".to_string());
        }
        reasons
    }
}

/// Why bytes could not be judged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ElfError {
    #[error("not an ELF file")]
    NotElf,
    #[error("malformed or truncated ELF: {0}")]
    Malformed(String),
}

/// Inspects one ELF image held in memory (or memory-mapped).
pub fn inspect(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    if !has_magic(bytes) {
        return Err(ElfError::NotElf);
    }
    // goblin is well fuzzed, but the inspector is a security gate fed hostile files:
    // a panic deep in a dependency must become a verdict, not a crash.
    std::panic::catch_unwind(|| inspect_unchecked(bytes))
        .unwrap_or_else(|_| Err(ElfError::Malformed("the ELF parser failed".to_string())))
}

fn inspect_unchecked(bytes: &[u8]) -> Result<ElfInfo, ElfError> {
    let view = View::parse(bytes)?;
    let hdr = &view.header;
    let interpreter = view.interpreter()?;
    let dynamic = view.dynamic()?;
    let (needed, rpath, runpath, flags_1, soname) = match &dynamic {
        Some(d) => (
            view.dynamic_strings(d, dynamic::DT_NEEDED),
            view.dynamic_strings(d, dynamic::DT_RPATH),
            view.dynamic_strings(d, dynamic::DT_RUNPATH),
            d.info.flags_1,
            d.info.soname != 0,
        ),
        None => Default::default(),
    };
    let is_pie = flags_1 & dynamic::DF_1_PIE != 0;
    let has_deps = interpreter.is_some() || !needed.is_empty();
    // A debug file keeps the program headers of its program, with no code behind them
    // and an empty PT_INTERP, which the kernel refuses (it needs at least two bytes).
    let debug = matches!(hdr.e_type, header::ET_EXEC | header::ET_DYN)
        && view.has_executable_segment()
        && !view.loads_code()
        && view.interpreter_size().is_none_or(|n| n < 2);
    let (interpreter, needed) = if debug {
        (None, Vec::new())
    } else {
        (interpreter, needed)
    };
    let kind = match hdr.e_type {
        _ if debug => Kind::Debug,
        header::ET_EXEC if has_deps => Kind::Dynamic,
        header::ET_EXEC => Kind::Static,
        header::ET_DYN if interpreter.is_some() || (is_pie && has_deps) => Kind::Dynamic,
        header::ET_DYN if is_pie => Kind::StaticPie,
        // Static-pie from linkers that do not set DF_1_PIE: an entry point and no soname.
        header::ET_DYN if !has_deps && !soname && hdr.e_entry != 0 => Kind::StaticPie,
        header::ET_DYN => Kind::SharedLibrary,
        header::ET_REL => Kind::Object,
        header::ET_CORE => Kind::Core,
        other => return Err(ElfError::Malformed(format!("unknown ELF type {other}"))),
    };
    let (warnings, needs) = if kind.is_static_executable() {
        (libc::runtime_loading_warnings(&view), needs::needs(&view))
    } else {
        Default::default()
    };
    let (platform, variant_known) = arch::platform_of(
        hdr.e_machine,
        view.is_64,
        view.little_endian,
        hdr.e_ident[header::EI_OSABI],
        view.section_bytes(".ARM.attributes"),
        &view.bytes[..view.bytes.len().min(64 << 20)],
    );
    Ok(ElfInfo {
        kind,
        interpreter,
        needed,
        rpath,
        runpath,
        platform,
        variant_known,
        class: if view.is_64 { "ELF64" } else { "ELF32" },
        elf_type: match hdr.e_type {
            header::ET_EXEC => "EXEC",
            header::ET_DYN => "DYN",
            header::ET_REL => "REL",
            _ => "CORE",
        },
        stripped: !view.has_symtab(),
        build_id: view.build_ids(),
        warnings,
        needs,
    })
}

/// Whether a program header table entry is a loadable segment.
fn is_load(ph: &program_header::ProgramHeader) -> bool {
    ph.p_type == program_header::PT_LOAD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf() {
        assert_eq!(inspect(b"#!/bin/sh\n"), Err(ElfError::NotElf));
        assert_eq!(inspect(b""), Err(ElfError::NotElf));
    }

    #[test]
    fn truncated_header_is_malformed() {
        for len in 4..64 {
            let mut bytes = vec![0u8; len];
            bytes[..4].copy_from_slice(MAGIC);
            if len > 4 {
                bytes[4] = 2; // ELFCLASS64
            }
            assert!(
                matches!(inspect(&bytes), Err(ElfError::Malformed(_))),
                "{len}"
            );
        }
    }

    #[test]
    fn pass_rules() {
        assert!(Kind::Static.passes() && Kind::StaticPie.passes());
        assert!(!Kind::Dynamic.passes() && !Kind::SharedLibrary.passes());
        assert!(Kind::Object.passes() && !Kind::Object.is_static_executable());
    }
}
