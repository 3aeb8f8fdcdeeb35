//! Hints for the usual ways a C build fails for want of a library: a missing header or a
//! missing static library, with the Alpine package that most likely provides it (Alpine
//! names them NAME-dev and NAME-static) when the repositories in use have it, or a header
//! the project's own build generates.

use std::collections::BTreeSet;
use std::path::Path;

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

/// What the hints may consult: the package names of the repositories in use (none:
/// unknown), and the project's directory (headers its own build generates).
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    pub packages: Option<&'a BTreeSet<String>>,
    pub source_dir: Option<&'a Path>,
}

/// Whether diagnostics show a missing header or library (worth reading indexes for).
pub fn mentions_missing(diagnostics: &str) -> bool {
    diagnostics.contains("fatal error") || LIBRARY_MARKERS.iter().any(|m| diagnostics.contains(m))
}

const LIBRARY_MARKERS: &[&str] = &[
    "cannot find -l",
    "unable to find library -l",
    "unable to find static system library \"",
    "library not found: ",
];

/// The file of the project's build that generates `header`, if one does.
fn generator_of(header: &str, dir: &Path) -> Option<String> {
    for suffix in [".in", ".cmake", ".cmake.in"] {
        let candidate = format!("{header}{suffix}");
        if dir.join(&candidate).is_file() {
            return Some(candidate);
        }
    }
    let name = Path::new(header)
        .file_name()?
        .to_string_lossy()
        .into_owned();
    for build_file in [
        "CMakeLists.txt",
        "meson.build",
        "Makefile",
        "Makefile.am",
        "Makefile.in",
    ] {
        // The project's own file: read as far as a build file goes (4 MiB).
        let Some(text) = crate::source::read_head(&dir.join(build_file), 4 << 20) else {
            continue;
        };
        let generates = text.lines().any(|l| {
            let l = l.trim();
            l.starts_with(&format!("{name}:"))
                || (l.contains("configure_file") && l.contains(&name))
                || (build_file == "meson.build"
                    && l.contains("configure_file")
                    && l.contains(&name))
        });
        if generates {
            return Some(build_file.to_string());
        }
    }
    None
}

/// `--apk NAME`, or what to do when the repositories in use have no NAME.
fn package_advice(package: &str, file: &str, ctx: &Context) -> String {
    match ctx.packages {
        Some(names) if !names.contains(package) => format!(
            "the repositories in use have no package `{package}`: find the one holding              `{file}` at https://pkgs.alpinelinux.org/contents?file={file}"
        ),
        _ => format!("it is likely in the Alpine package `{package}` (--apk {package})"),
    }
}

/// Hints derived from a failed compile's diagnostics.
pub fn for_compile_errors(diagnostics: &str, ctx: &Context) -> Vec<String> {
    let mut hints = Vec::new();
    for line in diagnostics.lines() {
        let header = line
            .split("fatal error: '")
            .nth(1)
            .or_else(|| line.split("fatal error: ").nth(1));
        if let Some(header) = header
            .and_then(|h| h.split(['\'', ':']).next())
            .filter(|h| h.ends_with(".h") || h.ends_with(".hpp"))
        {
            // The project's top may be above the files compiled.
            let generated = ctx.source_dir.and_then(|d| {
                d.ancestors()
                    .take(3)
                    .find_map(|dir| generator_of(header, dir))
            });
            if let Some(generator) = generated {
                hints.push(format!(
                    "`{header}` is generated by the project's own build (`{generator}`): build \
                     the project directory with its build system (scratchpack DIR), not its \
                     files one by one"
                ));
            } else {
                let base = Path::new(header)
                    .file_name()
                    .map_or(header.to_string(), |n| n.to_string_lossy().into_owned());
                hints.push(format!(
                    "`{header}` was not found: {}; or add its directory with -I DIR",
                    package_advice(&format!("{}-dev", package_of_header(header)), &base, ctx)
                ));
            }
        }
        for marker in LIBRARY_MARKERS {
            if let Some(lib) = line.split(marker).nth(1) {
                let lib = lib
                    .split(|c: char| c.is_whitespace() || c == '\'' || c == ':' || c == '"')
                    .next()
                    .unwrap_or_default();
                let package = format!("{}-static", package_of_library(lib));
                hints.push(format!(
                    "the static library `lib{lib}.a` was not found: {}; or add its directory \
                     with --ldflags=-L/DIR",
                    package_advice(&package, &format!("lib{lib}.a"), ctx)
                ));
            }
        }
    }
    if GO_MODULE_MISSING.iter().any(|m| diagnostics.contains(m)) {
        hints.push(
            "a Go module is missing: the build has no network; vendor it (`go mod vendor`, \
             then vendor/ is used) or let Go download it with --go-proxy URL"
                .into(),
        );
    }
    hints.dedup();
    hints
}

/// What go prints when a module is neither vendored nor in its cache.
const GO_MODULE_MISSING: &[&str] = &[
    "no required module provides package",
    "module lookup disabled by GOPROXY=off",
    "cannot find module providing package",
    "missing go.sum entry",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn for_compile_errors(diagnostics: &str) -> Vec<String> {
        super::for_compile_errors(diagnostics, &Context::default())
    }

    #[test]
    fn packages_are_named_only_when_they_exist() {
        let names: BTreeSet<String> = ["zlib-dev".to_string()].into();
        let ctx = Context {
            packages: Some(&names),
            source_dir: None,
        };
        let found = super::for_compile_errors("fatal error: zlib.h: No such file", &ctx);
        assert!(found[0].contains("--apk zlib-dev"), "{found:?}");
        let missing = super::for_compile_errors("fatal error: 'curl/curl.h' file not found", &ctx);
        assert!(
            !missing[0].contains("--apk") && missing[0].contains("contents?file=curl.h"),
            "{missing:?}"
        );
        let lib = super::for_compile_errors("ld.lld: unable to find library -lz", &ctx);
        assert!(lib[0].contains("no package `zlib-static`"), "{lib:?}");
        let zig = for_compile_errors(
            "error: unable to find static system library \"z\" using strategy no_fallback.",
        );
        assert!(
            zig[0].contains("`libz.a`") && zig[0].contains("--apk zlib-static"),
            "{zig:?}"
        );
    }

    #[test]
    fn generated_headers_point_at_the_build_system() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.h.in"), "").unwrap();
        std::fs::write(
            dir.path().join("Makefile"),
            "version.h: gen.sh\n\tsh gen.sh\n",
        )
        .unwrap();
        let ctx = Context {
            packages: None,
            source_dir: Some(dir.path()),
        };
        for header in ["config.h", "version.h"] {
            let hints = super::for_compile_errors(
                &format!("main.c:1:10: fatal error: '{header}' file not found"),
                &ctx,
            );
            assert!(
                hints[0].contains("generated by the project's own build"),
                "{hints:?}"
            );
        }
    }

    #[test]
    fn missing_go_modules_point_at_vendor_and_the_proxy() {
        let go = for_compile_errors(
            "main.go:4:2: github.com/x/y@v1.0.0: module lookup disabled by GOPROXY=off",
        );
        assert!(
            go[0].contains("go mod vendor") && go[0].contains("--go-proxy"),
            "{go:?}"
        );
    }

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
