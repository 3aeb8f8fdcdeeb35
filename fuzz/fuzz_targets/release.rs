//! What a fetched toolchain release passes through: the wheel (zip) unpacker, into a
//! scratch directory, and the package index page reader with the link resolver.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scratchpack::toolchain::{index, unzip};

const SHA: &str = "ea6cc5d87b033cf0aedfbc8f9549a908cae6c50ac31f1698188fa48a74524b54";

fuzz_target!(|data: &[u8]| {
    if let Ok(dir) = tempfile::tempdir() {
        let _ = unzip::unpack(std::io::Cursor::new(data), "ziglang", dir.path());
    }
    let page = String::from_utf8_lossy(data);
    if let Some(url) = index::wheel_url(&page, SHA) {
        let _ = index::join_url("https://index.example/simple/ziglang/", &url);
    }
});
