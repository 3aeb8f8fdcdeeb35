//! A bounds-checked view of the parts of an ELF file the inspector reads: the header, the
//! program and section header tables, and slices of sections, segments and string
//! tables. Built on goblin's table parsers; nothing is parsed until asked for.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::note::NoteDataIterator;
use goblin::elf::{Dynamic, Elf, Header, ProgramHeader, SectionHeader, program_header};
use goblin::elf::{header, section_header};

use super::{BuildIds, ElfError, is_load};

const NT_GNU_BUILD_ID: u32 = 3;
const NT_GO_BUILD_ID: u32 = 4;

pub(super) struct View<'a> {
    pub bytes: &'a [u8],
    pub header: Header,
    pub is_64: bool,
    pub little_endian: bool,
    ctx: Ctx,
    phdrs: Vec<ProgramHeader>,
    shdrs: Vec<SectionHeader>,
    shstrtab: &'a [u8],
}

fn malformed(what: impl std::fmt::Display) -> ElfError {
    ElfError::Malformed(what.to_string())
}

impl<'a> View<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ElfError> {
        let class = *bytes
            .get(header::EI_CLASS)
            .ok_or_else(|| malformed("header cut short"))?;
        let data = *bytes
            .get(header::EI_DATA)
            .ok_or_else(|| malformed("header cut short"))?;
        let is_64 = match class {
            header::ELFCLASS32 => false,
            header::ELFCLASS64 => true,
            other => return Err(malformed(format!("unknown ELF class {other}"))),
        };
        let little_endian = match data {
            header::ELFDATA2LSB => true,
            header::ELFDATA2MSB => false,
            other => return Err(malformed(format!("unknown ELF byte order {other}"))),
        };
        let header = Elf::parse_header(bytes).map_err(|e| malformed(format!("header: {e}")))?;
        let container = if is_64 {
            Container::Big
        } else {
            Container::Little
        };
        let ctx = Ctx::new(container, Endian::from(little_endian));

        let phdrs = if header.e_phnum == 0 {
            Vec::new()
        } else {
            ProgramHeader::parse(bytes, header.e_phoff as usize, header.e_phnum.into(), ctx)
                .map_err(|e| malformed(format!("program headers: {e}")))?
        };
        for (i, ph) in phdrs.iter().enumerate().filter(|(_, ph)| is_load(ph)) {
            if file_range(bytes, ph.p_offset, ph.p_filesz).is_none() {
                return Err(malformed(format!(
                    "segment {i} extends past the end of the file (truncated?)"
                )));
            }
        }
        let shdrs =
            SectionHeader::parse(bytes, header.e_shoff as usize, header.e_shnum.into(), ctx)
                .map_err(|e| malformed(format!("section headers: {e}")))?;
        let shstrtab = shdrs
            .get(usize::from(header.e_shstrndx))
            .and_then(|sh| file_range(bytes, sh.sh_offset, sh.sh_size))
            .unwrap_or_default();
        Ok(View {
            bytes,
            header,
            is_64,
            little_endian,
            ctx,
            phdrs,
            shdrs,
            shstrtab,
        })
    }

    /// The PT_INTERP path, if any.
    pub fn interpreter(&self) -> Result<Option<String>, ElfError> {
        let Some(ph) = self
            .phdrs
            .iter()
            .find(|ph| ph.p_type == program_header::PT_INTERP)
        else {
            return Ok(None);
        };
        let raw = file_range(self.bytes, ph.p_offset, ph.p_filesz)
            .ok_or_else(|| malformed("interpreter path lies past the end of the file"))?;
        Ok(Some(cstr(raw, 0).unwrap_or_default()))
    }

    /// The size in the file of PT_INTERP, if there is one.
    pub fn interpreter_size(&self) -> Option<u64> {
        self.phdrs
            .iter()
            .find(|ph| ph.p_type == program_header::PT_INTERP)
            .map(|ph| ph.p_filesz)
    }

    /// Whether a loadable segment is executable.
    pub fn has_executable_segment(&self) -> bool {
        self.phdrs
            .iter()
            .any(|ph| is_load(ph) && ph.p_flags & program_header::PF_X != 0)
    }

    /// Whether an executable loadable segment has bytes in the file.
    pub fn loads_code(&self) -> bool {
        self.phdrs
            .iter()
            .any(|ph| is_load(ph) && ph.p_flags & program_header::PF_X != 0 && ph.p_filesz > 0)
    }

    pub fn dynamic(&self) -> Result<Option<Dynamic>, ElfError> {
        Dynamic::parse(self.bytes, &self.phdrs, self.ctx)
            .map_err(|e| malformed(format!("dynamic segment: {e}")))
    }

    /// The strings of every dynamic entry with `tag` (DT_NEEDED, DT_RPATH, DT_RUNPATH).
    pub fn dynamic_strings(&self, dynamic: &Dynamic, tag: u64) -> Vec<String> {
        let table = self
            .bytes
            .get(dynamic.info.strtab..)
            .map(|t| &t[..dynamic.info.strsz.min(t.len())])
            .unwrap_or_default();
        dynamic
            .dyns
            .iter()
            .filter(|d| d.d_tag == tag)
            .map(|d| {
                usize::try_from(d.d_val)
                    .ok()
                    .and_then(|off| cstr(table, off))
                    .unwrap_or_else(|| format!("<bad string offset {:#x}>", d.d_val))
            })
            .collect()
    }

    pub fn has_symtab(&self) -> bool {
        self.shdrs
            .iter()
            .any(|sh| sh.sh_type == section_header::SHT_SYMTAB)
    }

    /// The names of the `.symtab` symbols, if the file is not stripped. Read entry by
    /// entry: linkers share string tails (`getaddrinfo` is the end of
    /// `_cgo_..._C2func_getaddrinfo`), so the string table alone does not list them.
    pub fn symbol_names(&self) -> Option<impl Iterator<Item = &'a [u8]> + 'a> {
        let symtab = self
            .shdrs
            .iter()
            .find(|sh| sh.sh_type == section_header::SHT_SYMTAB)?;
        let strtab = self.shdrs.get(symtab.sh_link as usize)?;
        let names = file_range(self.bytes, strtab.sh_offset, strtab.sh_size)?;
        let entries = file_range(self.bytes, symtab.sh_offset, symtab.sh_size)?;
        let size = if self.is_64 { 24 } else { 16 };
        let little_endian = self.little_endian;
        let names = entries.chunks_exact(size).filter_map(move |entry| {
            // st_name is the first word of both classes' entries.
            let word: [u8; 4] = entry[..4].try_into().ok()?;
            let at = if little_endian {
                u32::from_le_bytes(word)
            } else {
                u32::from_be_bytes(word)
            } as usize;
            let rest = names.get(at..)?;
            let end = memchr::memchr(0, rest)?;
            (end > 0).then(|| &rest[..end])
        });
        Some(names)
    }

    /// The contents of the first section called `name` (none for SHT_NOBITS).
    pub fn section_bytes(&self, name: &str) -> Option<&'a [u8]> {
        let sh = self.section(name)?;
        if sh.sh_type == section_header::SHT_NOBITS {
            return None;
        }
        file_range(self.bytes, sh.sh_offset, sh.sh_size)
    }

    fn section(&self, name: &str) -> Option<&SectionHeader> {
        self.shdrs.iter().find(|sh| {
            let off = sh.sh_name;
            self.shstrtab
                .get(off..)
                .is_some_and(|s| s.starts_with(name.as_bytes()) && s.get(name.len()) == Some(&0))
        })
    }

    /// Notes of the PT_NOTE segments, then of the build-id note sections.
    fn notes(&self) -> impl Iterator<Item = goblin::elf::note::Note<'a>> + '_ {
        let segments = self
            .phdrs
            .iter()
            .filter(|ph| ph.p_type == program_header::PT_NOTE)
            .map(|ph| (ph.p_offset, ph.p_filesz, ph.p_align));
        // Go keeps both build ids in sections, the GNU one outside any PT_NOTE.
        let sections = [".note.go.buildid", ".note.gnu.build-id"]
            .into_iter()
            .filter_map(|name| self.section(name))
            .map(|sh| (sh.sh_offset, sh.sh_size, sh.sh_addralign));
        segments
            .chain(sections)
            .flat_map(move |(offset, size, align)| {
                let valid = file_range(self.bytes, offset, size).is_some();
                let (offset, size) = if valid {
                    (offset as usize, size as usize)
                } else {
                    (0, 0)
                };
                NoteDataIterator {
                    data: self.bytes,
                    offset,
                    size: offset + size,
                    ctx: (if align == 8 { 8 } else { 4 }, self.ctx),
                }
                .map_while(Result::ok)
            })
    }

    pub fn build_ids(&self) -> BuildIds {
        let mut ids = BuildIds::default();
        for note in self.notes() {
            // goblin leaves the padding NULs of a 4-byte name such as "Go\0\0" in place.
            match (note.name.trim_end_matches('\0'), note.n_type) {
                ("GNU", NT_GNU_BUILD_ID) if ids.gnu.is_none() => {
                    ids.gnu = Some(note.desc.iter().map(|b| format!("{b:02x}")).collect());
                }
                ("Go", NT_GO_BUILD_ID) if ids.go.is_none() && !note.desc.is_empty() => {
                    ids.go = Some(String::from_utf8_lossy(note.desc).into_owned());
                }
                _ => {}
            }
        }
        ids
    }

    /// Whether a note marks the file as built against glibc (`NT_GNU_ABI_TAG`, which
    /// glibc's start files carry and musl's do not).
    pub fn has_gnu_abi_tag(&self) -> bool {
        self.notes().any(|n| {
            n.name.trim_end_matches('\0') == "GNU" && n.n_type == goblin::elf::note::NT_GNU_ABI_TAG
        })
    }
}

/// `bytes[offset..offset+len]`, or `None` if any of it lies outside the file.
pub(super) fn file_range(bytes: &[u8], offset: u64, len: u64) -> Option<&[u8]> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    bytes.get(start..end)
}

/// The NUL-terminated string at `offset` of `table` (lossy UTF-8).
fn cstr(table: &[u8], offset: usize) -> Option<String> {
    let rest = table.get(offset..)?;
    let end = memchr::memchr(0, rest).unwrap_or(rest.len());
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}
