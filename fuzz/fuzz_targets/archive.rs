//! The image archive reader on arbitrary bytes: outer tar (or gzip, zstd), index.json and
//! manifest.json, digests, layers (tar, sparse files, whiteouts) and the ELF files in them.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scratchpack::inspect::inspect_archive(data, "fuzz.tar");
});
