//! Hints for the usual ways a C build fails for want of a library: a missing header or a
//! missing static library, with the Alpine package that most likely provides it (Alpine
//! names them NAME-dev and NAME-static).

/// `-lz` lives in zlib; most libraries are named after themselves.
fn package_of_library(lib: &str) -> String {
    match lib {
        "z" => "zlib".into(),
        "ssl" | "crypto" => "openssl-libs".into(),
        other => other.to_string(),
    }
}

/// `openssl/ssl.h` is in openssl-dev, `zlib.h` in zlib-dev.
fn package_of_header(header: &str) -> String {
    let first = header.split('/').next().unwrap_or(header);
    first.trim_end_matches(".h").to_string()
}

/// What compilers and runtimes print when an allocation is refused.
const OUT_OF_MEMORY: &[&str] = &[
    "out of memory",
    "OutOfMemory",
    "Cannot allocate memory",
    "memory exhausted",
    "std::bad_alloc",
    "cannot allocate memory",
];

/// A hint naming the memory limit, when the build ran out of memory under it.
pub fn for_memory(diagnostics: &str, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    OUT_OF_MEMORY
        .iter()
        .any(|m| diagnostics.contains(m))
        .then(|| {
            format!(
                "the build ran out of memory under the sandbox's memory limit of {}: raise it \
                 with --memory if the sources really need more",
                crate::sandbox::limits::human_bytes(limit)
            )
        })
}

/// Hints derived from a failed compile's diagnostics.
pub fn for_compile_errors(diagnostics: &str) -> Vec<String> {
    let mut hints = Vec::new();
    for line in diagnostics.lines() {
        let header = line
            .split("fatal error: '")
            .nth(1)
            .or_else(|| line.split("fatal error: ").nth(1));
        if let Some(header) = header
            .and_then(|h| h.split(['\'', ':']).next())
            .filter(|h| h.ends_with(".h"))
        {
            hints.push(format!(
                "`{header}` was not found: its headers are likely in the Alpine package `{}-dev` \
                 (--apk {}-dev), or add its directory with -I DIR",
                package_of_header(header),
                package_of_header(header)
            ));
        }
        for marker in [
            "cannot find -l",
            "unable to find library -l",
            "library not found: ",
        ] {
            if let Some(lib) = line.split(marker).nth(1) {
                let lib = lib
                    .split(|c: char| c.is_whitespace() || c == '\'' || c == ':')
                    .next()
                    .unwrap_or_default();
                let package = package_of_library(lib);
                hints.push(format!(
                    "the static library `lib{lib}.a` was not found: it is likely in the Alpine \
                     package `{package}-static` (--apk {package}-static), or add its directory \
                     with --ldflags=-L/DIR"
                ));
            }
        }
    }
    hints.dedup();
    hints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_libraries() {
        let gcc = for_compile_errors("x.c:1:10: fatal error: zlib.h: No such file or directory");
        assert!(
            gcc[0].contains("`zlib.h`") && gcc[0].contains("--apk zlib-dev"),
            "{gcc:?}"
        );
        let clang = for_compile_errors("x.c:1:10: fatal error: 'openssl/ssl.h' file not found");
        assert!(clang[0].contains("--apk openssl-dev"), "{clang:?}");
        let ld = for_compile_errors("/usr/bin/ld: cannot find -lz: No such file or directory");
        assert!(
            ld[0].contains("libz.a") && ld[0].contains("--apk zlib-static"),
            "{ld:?}"
        );
        let ld = for_compile_errors("ld: cannot find -lsqlite3");
        assert!(ld[0].contains("--apk sqlite3-static"), "{ld:?}");
        assert!(for_compile_errors("x.c:3: error: expected ';'").is_empty());
    }
}
