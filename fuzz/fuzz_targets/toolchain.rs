//! The toolchain and rootfs file loaders on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = scratchpack::toolchain::parse("fuzz.toml", text, None);
        let _ = scratchpack::toolchain::parse_rootfs("fuzz.toml", text);
    }
});
