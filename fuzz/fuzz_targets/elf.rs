//! The ELF inspector on arbitrary bytes: whole, and through the streamed capture.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scratchpack::elf::inspect(data);
    let mut reader = data;
    if let Ok(captured) = scratchpack::elf::capture(&mut reader, data.len() as u64) {
        let _ = scratchpack::elf::inspect_captured(&captured);
    }
});
