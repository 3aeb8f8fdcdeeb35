//! Warnings for static binaries that pass the naive check (no interpreter, no needed
//! libraries) and still fail in a scratch image: glibc's static libc loads NSS modules
//! (`libnss_*.so`) for name lookups, gconv modules for `iconv_open`, and whatever
//! `dlopen` names, all at run time, through a dynamic loader the image does not have.
//! The linker warns about this at build time ("Using 'getaddrinfo' in statically linked
//! applications requires at runtime the shared libraries..."), but the warning is lost by
//! the time the binary reaches an image.
//!
//! Judged from the symbol names when the binary is not stripped, else from strings glibc
//! only links in with these features. Only glibc is judged: musl resolves names itself.
//!
//! Since glibc 2.34 the `files` and `dns` NSS modules are part of libc: a static binary
//! that uses them carries their code (its assertion strings name `nss_files/`), and its
//! lookups work in a scratch image with no nsswitch.conf (measured with glibc 2.36:
//! getpwnam, getaddrinfo and Go's cgo resolver all answer in podman). Such binaries are
//! not warned about NSS; older ones, which load `libnss_files.so` for the same lookups,
//! are. A Go program's lookups go through glibc only with the cgo resolver, which the
//! warning then names with Go's fix.

use std::collections::HashSet;

use memchr::memmem;

use super::view::View;

/// Functions that go through glibc's name service switch.
const NSS_FUNCTIONS: &[&str] = &[
    "getaddrinfo",
    "getnameinfo",
    "gethostbyname",
    "gethostbyname2",
    "gethostbyname_r",
    "gethostbyname2_r",
    "gethostbyaddr",
    "gethostbyaddr_r",
    "gethostent",
    "getservbyname",
    "getservbyname_r",
    "getservbyport",
    "getprotobyname",
    "getpwnam",
    "getpwnam_r",
    "getpwuid",
    "getpwuid_r",
    "getpwent",
    "getgrnam",
    "getgrnam_r",
    "getgrgid",
    "getgrgid_r",
    "getgrent",
    "getgrouplist",
    "initgroups",
    "getspnam",
];

/// Shared objects that glibc's own static code names; any other `lib*.so*` string in a
/// glibc static binary is most likely a `dlopen` target.
const GLIBC_OWN_OBJECTS: &[&str] = &[
    "libc.so",
    "ld-linux",
    "ld.so",
    "ld64.so",
    "libgcc_s.so",
    "libnss_",
    "libidn2.so",
];

/// At most this much of the file is scanned for strings when there is no `.rodata`.
const STRING_SCAN_LIMIT: usize = 64 << 20;

/// A directory of glibc's source that only the built-in `files` module's code names.
const BUILTIN_NSS: &[u8] = b"nss_files/";
/// The Go function that calls getaddrinfo for the cgo resolver.
const GO_CGO_RESOLVER: &str = "net._C2func_getaddrinfo";

pub(super) fn runtime_loading_warnings(view: &View) -> Vec<String> {
    let rodata = view
        .section_bytes(".rodata")
        .unwrap_or_else(|| &view.bytes[..view.bytes.len().min(STRING_SCAN_LIMIT)]);
    let rodata = &rodata[..rodata.len().min(STRING_SCAN_LIMIT)];
    if !is_glibc(view, rodata) {
        return Vec::new();
    }
    // Only the names looked for are kept: a symbol table may hold millions.
    let symbols: Option<HashSet<&[u8]>> = view.symbol_names().map(|names| {
        names
            .filter(|n| *n == b"iconv_open" || NSS_FUNCTIONS.iter().any(|f| f.as_bytes() == *n))
            .collect()
    });
    let mut warnings = Vec::new();
    if !contains(rodata, BUILTIN_NSS) {
        let nss = match &symbols {
            Some(names) => {
                let used: Vec<&str> = NSS_FUNCTIONS
                    .iter()
                    .copied()
                    .filter(|f| has_symbol(names, f))
                    .collect();
                (!used.is_empty()).then(|| used.join(", "))
            }
            None if contains(rodata, b"/etc/nsswitch.conf") || contains(rodata, b"libnss_") => {
                Some(if contains(rodata, b"/etc/gai.conf") {
                    "getaddrinfo".to_string()
                } else {
                    "NSS lookups (getaddrinfo, getpwnam, ...)".to_string()
                })
            }
            None => None,
        };
        if let Some(what) = nss {
            warnings.push(nss_warning(view, &what));
        }
    }
    if symbols.is_some_and(|names| has_symbol(&names, "iconv_open")) {
        warnings.push(
            "glibc static binary calls iconv_open: glibc loads gconv modules at run time, \
             which a scratch image does not have"
                .to_string(),
        );
    }
    let targets = dlopen_targets(rodata);
    if !targets.is_empty() {
        warnings.push(format!(
            "glibc static binary names shared objects ({}): dlopen needs a dynamic loader \
             and those files at run time",
            targets.join(", ")
        ));
    }
    warnings
}

/// The warning for NSS lookups (`what`) through a glibc without built-in modules; for a
/// Go program, through its cgo resolver.
fn nss_warning(view: &View, what: &str) -> String {
    let go_resolver = view
        .section_bytes(".gopclntab")
        .is_some_and(|names| contains(names, format!("{GO_CGO_RESOLVER}\0").as_bytes()));
    if go_resolver {
        format!(
            "Go's cgo DNS resolver ({GO_CGO_RESOLVER}) calls glibc's {what}, and this glibc \
             (before 2.34) loads NSS modules (libnss_*.so) at run time: lookups fail in a \
             scratch image; build with `-tags netgo` or CGO_ENABLED=0 (Go's own resolver), or \
             link cgo with musl (scratchpack's go toolchain)"
        )
    } else {
        format!(
            "glibc static binary uses {what}: this glibc (before 2.34) loads NSS modules \
             (libnss_*.so) at run time, so these lookups fail in a scratch image; build with \
             musl (zig cc, musl-gcc) or glibc 2.34 or later, or avoid these functions"
        )
    }
}

fn is_glibc(view: &View, rodata: &[u8]) -> bool {
    view.has_gnu_abi_tag() || contains(rodata, b"GLIBC_TUNABLES")
}

fn has_symbol(names: &HashSet<&[u8]>, symbol: &str) -> bool {
    names.contains(symbol.as_bytes())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memmem::find(haystack, needle).is_some()
}

/// Strings of the form `lib<name>.so[.N...]` that glibc itself does not use.
fn dlopen_targets(rodata: &[u8]) -> Vec<String> {
    let mut found: Vec<String> = memmem::find_iter(rodata, b".so")
        .filter_map(|at| string_around(rodata, at))
        .filter(|s| {
            let file = s.rsplit('/').next().unwrap_or(s);
            is_library_name(s) && !GLIBC_OWN_OBJECTS.iter().any(|own| file.starts_with(own))
        })
        .collect();
    found.sort();
    found.dedup();
    found.truncate(8);
    found
}

/// The NUL-delimited printable string containing position `at`.
fn string_around(bytes: &[u8], at: usize) -> Option<String> {
    let printable = |b: &u8| b.is_ascii_graphic();
    let start = bytes[..at]
        .iter()
        .rposition(|b| !printable(b))
        .map_or(0, |p| p + 1);
    let end = bytes[at..]
        .iter()
        .position(|b| !printable(b))
        .map_or(bytes.len(), |p| at + p);
    if bytes.get(end).is_some_and(|&b| b != 0) {
        return None;
    }
    std::str::from_utf8(&bytes[start..end])
        .ok()
        .map(str::to_string)
}

/// `libfoo.so`, `libfoo.so.6`, `libfoo.so.1.2.3`, optionally with a directory.
fn is_library_name(s: &str) -> bool {
    let file = s.rsplit('/').next().unwrap_or(s);
    let Some(stem_end) = file.find(".so") else {
        return false;
    };
    let (stem, rest) = file.split_at(stem_end);
    let version = &rest[3..];
    stem.len() > 3
        && stem.starts_with("lib")
        && stem[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        && (version.is_empty()
            || (version.starts_with('.')
                && version[1..]
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        assert!(is_library_name("libm.so.6"));
        assert!(is_library_name("libfoo.so"));
        assert!(is_library_name("/usr/lib/libssl.so.3"));
        assert!(!is_library_name("libnss_%s.so%s"));
        assert!(!is_library_name(".so.cache"));
        assert!(!is_library_name("ld.so.1"));
        assert!(!is_library_name("libx.so.6x"));
    }

    #[test]
    fn dlopen_targets_skip_glibc_own() {
        let rodata =
            b"\0libc.so.6\0libm.so.6\0/etc/ld.so.cache\0ld-linux-x86-64.so.2\0libgcc_s.so.1\0";
        assert_eq!(dlopen_targets(rodata), vec!["libm.so.6".to_string()]);
        // With a directory too (qemu-riscv32-static names /usr/lib/libc.so.1).
        let rodata = b"\0/usr/lib/libc.so.1\0/opt/x/libplugin.so\0";
        assert_eq!(
            dlopen_targets(rodata),
            vec!["/opt/x/libplugin.so".to_string()]
        );
    }

    #[test]
    fn symbol_match_is_exact() {
        let names = [&b"getaddrinfo_a"[..], b"xgetpwnam", b"getpwnam"].into();
        assert!(!has_symbol(&names, "getaddrinfo"));
        assert!(has_symbol(&names, "getpwnam"));
    }
}
