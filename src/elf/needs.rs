//! What a static program reads from the filesystem at run time, judged from the strings
//! it carries, so that the gate can warn when an image lacks it: CA certificates (see
//! [`super::ca`]), time zones by name (Go's `time.LoadLocation`; C libraries' tzset,
//! which reads `/usr/share/zoneinfo`) and Go's embedded copy of them (`time/tzdata`),
//! and the temporary directory (Go's `os.TempDir`; a `/tmp/` path in C).
//!
//! Strings are looked for in `.rodata` and, for Go, in the function names of
//! `.gopclntab` (which stripping keeps), at most 64 MiB of each. Go function names are
//! matched whole, with their terminating NUL: every Go program that reads the local
//! time zone has `time.LoadLocationFromTZData`, which `time.LoadLocation` is a prefix of.

use memchr::memmem;

use super::ca::{self, CaBundle};
use super::view::View;

const SCAN_LIMIT: usize = 64 << 20;

/// Evidence of what a program reads at run time; `None` where none was found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    /// Verifies TLS certificates against CA certificates on disk.
    pub ca_bundle: Option<CaBundle>,
    /// Loads time zones by name.
    pub zoneinfo: Option<String>,
    /// Go's embedded time zone database is linked in (`import _ "time/tzdata"`).
    pub embedded_tzdata: bool,
    /// Uses the temporary directory.
    pub tmp: Option<String>,
}

/// `(needle, evidence shown)`: the first found is the evidence.
const ZONES: [(&[u8], &str); 2] = [
    (b"time.LoadLocation\0", "Go's time.LoadLocation"),
    (
        b"/usr/share/zoneinfo",
        "the path /usr/share/zoneinfo (the C library's tzset)",
    ),
];
const TMP: [(&[u8], &str); 2] = [
    (b"os.TempDir\0", "Go's os.TempDir"),
    (b"/tmp/", "a /tmp/ path"),
];

pub(super) fn needs(view: &View) -> Needs {
    let part = |name: &str| {
        view.section_bytes(name)
            .map(|b| &b[..b.len().min(SCAN_LIMIT)])
            .unwrap_or_default()
    };
    let rodata = match view.section_bytes(".rodata") {
        Some(r) => &r[..r.len().min(SCAN_LIMIT)],
        None => &view.bytes[..view.bytes.len().min(SCAN_LIMIT)],
    };
    let functions = part(".gopclntab");
    let find = |needles: &[(&[u8], &str)]| {
        needles
            .iter()
            .find(|(n, _)| {
                memmem::find(rodata, n).is_some() || memmem::find(functions, n).is_some()
            })
            .map(|(_, shown)| shown.to_string())
    };
    let tzdata = b"time/tzdata.";
    Needs {
        ca_bundle: ca::ca_bundle(rodata, functions),
        zoneinfo: find(&ZONES),
        embedded_tzdata: memmem::find(functions, tzdata).is_some(),
        tmp: find(&TMP),
    }
}
