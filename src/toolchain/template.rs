//! `{placeholders}` in toolchain commands and environments. An argument that is exactly
//! a list placeholder (`"{sources}"`) becomes one argument per item (none when empty);
//! inside a longer string a list is joined with spaces (`"-ldflags={strip} {ldflags}"`).
//!
//! | placeholder | value |
//! |---|---|
//! | `{tool}` | the toolchain's folder (its mount point, or its host path without sandbox) |
//! | `{cache.NAME}` | a cache directory named in `caches` |
//! | `{output}` | the binary to write |
//! | `{sources}` | C files, Go files, or `.` for a Go module |
//! | `{flags}` | the toolchain's flags, then `--cflags` |
//! | `{strip}` | the toolchain's strip flags, none with `--no-strip` |
//! | `{defines}`, `{includes}`, `{libs}` | `-D...`, `-I...`, `-l...` from the command line |
//! | `{ldflags}` | `--ldflags` |
//! | `{arch}` | the target's machine in a target triple: `x86_64`, `aarch64`, `arm` |
//! | `{target}` | the target's static musl triple: `x86_64-linux-musl`, `arm-linux-musleabihf` |
//! | `{goarch}` | the target in Go's words, `amd64`, `arm64`, `arm` |
//! | `{goarm}` | Go's `GOARM` for 32-bit ARM (`7`, `6`), else empty |
//! | `{target_flags}` | what a C compiler needs besides the triple: `-mcpu=arm1176jzf_s` for ARMv6, else nothing |
//! | `{source_root}` | the common directory of the sources |
//! | `{sysroot}` | where another platform's `--apk` packages are (`/scratchpack/target`); empty when the packages are the rootfs's own |

use std::collections::BTreeMap;

const SCALARS: &[&str] = &[
    "tool",
    "output",
    "arch",
    "target",
    "goarch",
    "goarm",
    "source_root",
    "sysroot",
];
const LISTS: &[&str] = &[
    "sources",
    "flags",
    "strip",
    "defines",
    "includes",
    "libs",
    "ldflags",
    "target_flags",
];

/// Whether `name` is a placeholder a toolchain with `caches` may use.
pub fn is_known(name: &str, caches: &[String]) -> bool {
    SCALARS.contains(&name)
        || LISTS.contains(&name)
        || name
            .strip_prefix("cache.")
            .is_some_and(|c| caches.iter().any(|k| k == c))
}

/// The placeholders of `text`, or why its braces do not parse.
fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("unclosed `{{` in `{text}`"))?;
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("stray `}}` in `{text}`"));
    }
    Ok(names)
}

/// Checks that every placeholder of `text` is known.
pub fn check(text: &str, known: impl Fn(&str) -> bool) -> Result<(), String> {
    for name in placeholders(text)? {
        if !known(name) {
            return Err(format!("unknown placeholder {{{name}}}"));
        }
    }
    Ok(())
}

/// The values placeholders expand to.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    scalars: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<String>>,
}

impl Vars {
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.scalars.insert(name.to_string(), value.into());
        self
    }

    pub fn set_list(&mut self, name: &str, values: Vec<String>) -> &mut Self {
        self.lists.insert(name.to_string(), values);
        self
    }

    /// `text` with every placeholder replaced (unknown ones stay as written: files are
    /// checked when loaded).
    pub fn expand(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else { break };
            let name = &after[..close];
            match (self.scalars.get(name), self.lists.get(name)) {
                (Some(v), _) => out.push_str(v),
                (None, Some(list)) => out.push_str(&list.join(" ")),
                (None, None) => out.push_str(&rest[open..open + close + 2]),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }

    fn has_list(&self, text: &str) -> bool {
        placeholders(text).is_ok_and(|names| names.iter().any(|n| self.lists.contains_key(*n)))
    }

    /// A command line: list placeholders standing alone become separate arguments.
    pub fn expand_args(&self, args: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for arg in args {
            let whole = arg.strip_prefix('{').and_then(|a| a.strip_suffix('}'));
            match whole.and_then(|name| self.lists.get(name)) {
                Some(list) => out.extend(list.iter().cloned()),
                // A list inside a longer argument: spaces left by empty lists go.
                None if self.has_list(arg) => out.push(
                    self.expand(arg)
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                None => out.push(self.expand(arg)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion() {
        let mut v = Vars::default();
        v.set("tool", "/opt/zig").set("output", "/out/app");
        v.set_list("sources", vec!["a.c".into(), "b c.c".into()]);
        v.set_list("strip", vec!["-s".into(), "-w".into()]);
        v.set_list("ldflags", vec![]);
        let args: Vec<String> = [
            "{tool}/zig",
            "{sources}",
            "-o",
            "{output}",
            "-ldflags={strip} -buildid= {ldflags}",
            "{ldflags}",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            v.expand_args(&args),
            [
                "/opt/zig/zig",
                "a.c",
                "b c.c",
                "-o",
                "/out/app",
                "-ldflags=-s -w -buildid="
            ]
        );
    }

    #[test]
    fn checking() {
        let caches = vec!["zig".to_string()];
        let known = |n: &str| is_known(n, &caches);
        assert!(check("{cache.zig}/x {tool}", known).is_ok());
        assert!(
            check("{cache.go}", known)
                .unwrap_err()
                .contains("{cache.go}")
        );
        assert!(check("{tool", known).unwrap_err().contains("unclosed"));
        assert!(check("tool}", known).unwrap_err().contains("stray"));
    }
}
