//! Whether an image will start: what a runtime does between reading the config and
//! running the program, done against the image's final filesystem. A static binary is
//! not enough; these are the failures `FROM scratch` images meet at `docker run`:
//!
//! - the command (Entrypoint, else Cmd; an image with neither is a base image, given
//!   its command at `run`, and not judged) is not in the image, as runc looks it up (a path with a slash from the
//!   working directory, a bare name through `PATH` of the config's Env, or the default
//!   `PATH`): "executable file not found in $PATH", "no such file or directory";
//! - it is there but cannot be executed: a directory, not a regular file, no execute bit
//!   ("permission denied"), a binary for another machine than the config says, not ELF
//!   and no `#!` ("exec format error"), a `#!` interpreter that is missing;
//! - `User` names a user or group the image's `/etc/passwd` or `/etc/group` does not
//!   define ("unable to find user app"); numeric ids need neither file;
//! - `WorkingDir` exists and is not a directory (runtimes create a missing one).
//!
//! And what may fail once it runs (warnings: they fail the gate only with `--strict`),
//! from what the program's strings say it reads (see [`crate::elf::Needs`]):
//!
//! - it verifies TLS certificates and the image has no CA bundle where such programs
//!   look, and no `SSL_CERT_FILE` naming one ("x509: certificate signed by unknown
//!   authority");
//! - it loads time zones by name (Go: always; C: when Env sets `TZ` to a zone name) and
//!   the image has no `/usr/share/zoneinfo` and no embedded copy ("unknown time zone");
//! - it uses the temporary directory and the image has no `/tmp`;
//! - the user is not root and its home directory, as `/etc/passwd` says it, is missing.
//!
//! Each problem names the check, the file, what the runtime would say, and the fix.

use super::Outcome;
use super::unpack::{Filesystem, Node};
use crate::platform::Platform;

/// The fix for a program that is not where the entrypoint says.
const MISPLACED_FIX: &str = "point the entrypoint at the program's path in the image (`--entrypoint`), or put the \
     program there";

/// runc's `PATH` when the config sets none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `#!` interpreters followed at most (the kernel allows a few levels).
const MAX_INTERPRETERS: usize = 4;

pub(crate) use crate::layout::doc::RunConfig;

/// Why an image will not start, or may fail once it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartProblem {
    /// `entrypoint`, `architecture`, `user` or `workdir` (fatal); `ca-certificates`,
    /// `zoneinfo`, `tmp` or `home` (warnings).
    pub check: &'static str,
    /// Whether it will not start (else it may fail at run time).
    pub fatal: bool,
    /// The path in the image it is about (the program, `/etc/passwd`, the working
    /// directory), or `config`.
    pub file: String,
    pub reason: String,
    pub fix: String,
}

fn problem(check: &'static str, file: &str, reason: String, fix: &str) -> StartProblem {
    StartProblem {
        check,
        fatal: true,
        file: file.to_string(),
        reason,
        fix: fix.to_string(),
    }
}

/// Every reason the image `config` describes will not start on `fs`.
pub(super) fn check(
    config: &RunConfig,
    platform: Option<&Platform>,
    fs: &Filesystem,
) -> Vec<StartProblem> {
    let mut problems = Vec::new();
    let workdir = config
        .working_dir
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    if let Some(node) = fs.lookup(workdir.as_bytes()) {
        if !node.dir {
            problems.push(problem(
                "workdir",
                workdir,
                format!(
                    "WorkingDir `{workdir}` is a file, not a directory: runtimes fail to enter it"
                ),
                "set WorkingDir to a directory (or leave it unset)",
            ));
        }
    }
    let argv: Vec<&String> = config
        .entrypoint
        .iter()
        .flatten()
        .chain(config.cmd.iter().flatten())
        .collect();
    // An image without a command is a base image, started only with one given at `run`:
    // its files are judged, its command cannot be.
    if let Some(program) = argv.first() {
        match find_program(config, workdir, program, fs) {
            Ok((path, node)) => match executable(&path, node, platform, fs, 0) {
                Some(p) => problems.push(p),
                None => {
                    if let Some(Outcome::Elf(info)) = node.elf.as_deref() {
                        problems.extend(warnings(config, &path, &info.needs, fs));
                    }
                }
            },
            Err(looked) => problems.push(problem(
                "entrypoint",
                program,
                format!("`{program}` is not in the image ({looked}): runtimes fail with \"no such file or directory\" or \"executable file not found in $PATH\""),
                MISPLACED_FIX,
            )),
        }
    }
    problems.extend(check_user(config, fs));
    problems
}

const ZONEINFO: &str = "/usr/share/zoneinfo";

/// What the program at `path` may fail on once it runs.
fn warnings(
    config: &RunConfig,
    path: &str,
    needs: &crate::elf::Needs,
    fs: &Filesystem,
) -> Vec<StartProblem> {
    let env = |key: &str| {
        config
            .env
            .iter()
            .flatten()
            .rev()
            .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
    };
    let file_at = |p: &str| fs.lookup(p.as_bytes()).is_some_and(|n| n.file);
    let dir_at = |p: &str| fs.lookup(p.as_bytes()).is_some_and(|n| n.dir);
    let warning = |check, reason: String, fix: &str| StartProblem {
        fatal: false,
        ..problem(check, path, reason, fix)
    };
    let mut found = Vec::new();
    if let Some(bundle) = &needs.ca_bundle {
        let has = bundle
            .paths
            .iter()
            .any(|p| file_at(p) || fs.holds_files(p.as_bytes()))
            || (bundle.env && env("SSL_CERT_FILE").is_some_and(file_at))
            || (bundle.env && env("SSL_CERT_DIR").is_some_and(|d| fs.holds_files(d.as_bytes())));
        if !has {
            let first = &bundle.paths[0];
            let shown = match bundle.paths.len() {
                1 => format!("at {first}"),
                2 => format!("at {first} or the other place it looks"),
                n => format!("at {first} or the {} other places it looks", n - 1),
            };
            let env = if bundle.env {
                " nor SSL_CERT_FILE naming one"
            } else {
                ""
            };
            let error = if bundle.evidence.starts_with("Go") {
                "\"x509: certificate signed by unknown authority\""
            } else {
                "certificate verification (\"certificate verify failed\")"
            };
            found.push(warning(
                "ca-certificates",
                format!(
                    "`{path}` verifies TLS certificates ({}) and the image has no CA \
                     certificates {shown}{env}: its TLS connections fail with {error}",
                    bundle.evidence
                ),
                &ca_fix(bundle),
            ));
        }
    }
    if let Some(evidence) = &needs.zoneinfo {
        let go = evidence.starts_with("Go");
        let named_tz = env("TZ").is_some_and(|tz| tz.starts_with(':') || tz.contains('/'));
        let has_zones =
            needs.embedded_tzdata || dir_at(ZONEINFO) || env("ZONEINFO").is_some_and(file_at);
        if (go || named_tz) && !has_zones {
            found.push(warning(
                "zoneinfo",
                format!(
                    "`{path}` loads time zones by name ({evidence}) and the image has no \
                     {ZONEINFO}{}: loading one fails with \"unknown time zone\"",
                    if go {
                        " and the program no embedded copy"
                    } else {
                        ""
                    }
                ),
                if go {
                    "`import _ \"time/tzdata\"` in the program (or build with -tags \
                     timetzdata), or `--add /usr/share/zoneinfo:/usr/share/zoneinfo`"
                } else {
                    "`--add /usr/share/zoneinfo:/usr/share/zoneinfo`"
                },
            ));
        }
    }
    if let Some(evidence) = &needs.tmp {
        let tmp = env("TMPDIR").unwrap_or("/tmp");
        if !dir_at(tmp) {
            found.push(warning(
                "tmp",
                format!(
                    "`{path}` uses the temporary directory ({evidence}) and the image has no \
                     `{tmp}`: creating temporary files fails"
                ),
                "add /tmp (mode 1777; scratchpack images have it unless --bare)",
            ));
        }
    }
    found.extend(home(config, path, fs));
    found
}

/// How to give `bundle`'s program the CA certificates it reads.
fn ca_fix(bundle: &crate::elf::CaBundle) -> String {
    let first = &bundle.paths[0];
    let bundle_dir = crate::plan::CA_BUNDLE_PATH.rsplit_once('/').map(|(d, _)| d);
    let placed = |p: &String| p == crate::plan::CA_BUNDLE_PATH || Some(p.as_str()) == bundle_dir;
    if bundle.env || bundle.paths.iter().any(placed) {
        // scratchpack writes the bundle there and sets SSL_CERT_FILE to it.
        "`--ca-certificates` (the host's bundle, at /etc/ssl/certs/ca-certificates.crt)".into()
    } else {
        format!("put the CA bundle at {first} (`--add BUNDLE:{first}`)")
    }
}

/// A user other than root whose home directory (from `/etc/passwd`) is missing.
fn home(config: &RunConfig, path: &str, fs: &Filesystem) -> Option<StartProblem> {
    let user = config.user.as_deref()?.split(':').next()?;
    let passwd = fs.lookup(b"/etc/passwd")?.text.clone()?;
    let entry = passwd.split(|&b| b == b'\n').find_map(|line| {
        let fields: Vec<&[u8]> = line.split(|&b| b == b':').collect();
        (fields.len() >= 6 && (fields[0] == user.as_bytes() || fields[2] == user.as_bytes()))
            .then(|| (fields[2].to_vec(), fields[5].to_vec()))
    })?;
    let (uid, home) = entry;
    let home = String::from_utf8_lossy(&home).into_owned();
    if uid == b"0"
        || home.is_empty()
        || home == "/"
        || fs.lookup(home.as_bytes()).is_some_and(|n| n.dir)
    {
        return None;
    }
    Some(StartProblem {
        fatal: false,
        ..problem(
            "home",
            path,
            format!(
                "User `{user}` has the home directory `{home}` (/etc/passwd), which the image \
                 does not have: what the program writes to $HOME fails"
            ),
            "add the directory, owned by the user, or set HOME to one that exists (`--env \
             HOME=/tmp`)",
        )
    })
}

/// Why the file at `path` cannot be executed, if it cannot.
fn executable(
    path: &str,
    node: &Node,
    platform: Option<&Platform>,
    fs: &Filesystem,
    depth: usize,
) -> Option<StartProblem> {
    let fix = MISPLACED_FIX;
    if node.dir {
        return Some(problem(
            "entrypoint",
            path,
            format!("`{path}` is a directory: runtimes fail with \"permission denied\""),
            fix,
        ));
    }
    if !node.file {
        return Some(problem(
            "entrypoint",
            path,
            format!("`{path}` is not a regular file (a device or pipe): it cannot be executed"),
            fix,
        ));
    }
    if node.mode & 0o111 == 0 {
        return Some(problem(
            "entrypoint",
            path,
            format!(
                "`{path}` has no execute permission (mode {:04o}): runtimes fail with \
                 \"permission denied\"",
                node.mode
            ),
            "make it executable (mode 0755) in the layer that adds it",
        ));
    }
    match node.elf.as_deref() {
        Some(Outcome::Elf(info)) => {
            let want = platform?;
            let got = &info.platform;
            let variant_differs =
                matches!((&want.variant, &got.variant), (Some(w), Some(g)) if w != g);
            (want.architecture != got.architecture || variant_differs).then(|| {
                problem(
                    "architecture",
                    path,
                    format!(
                        "`{path}` is built for {}, in an image for {}: runtimes fail with \"exec \
                         format error\" on {} machines",
                        got.arch_with_variant(),
                        want.arch_with_variant(),
                        want.arch_with_variant()
                    ),
                    "build the binary for the image's platform, or label the image with the \
                     binary's (`--platform`)",
                )
            })
        }
        // A damaged ELF file fails the gate as such.
        Some(_) => None,
        None => script(path, node, platform, fs, depth),
    }
}

/// A file that is not ELF: a `#!` script whose interpreter must be there, else "exec
/// format error".
fn script(
    path: &str,
    node: &Node,
    platform: Option<&Platform>,
    fs: &Filesystem,
    depth: usize,
) -> Option<StartProblem> {
    let head = node.text.as_deref().unwrap_or_default();
    let Some(line) = head.strip_prefix(b"#!") else {
        return Some(problem(
            "entrypoint",
            path,
            format!(
                "`{path}` is neither an ELF binary nor a `#!` script: runtimes fail with \"exec format error\""
            ),
            "point the entrypoint at a static binary",
        ));
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let interpreter = line.split_whitespace().next().unwrap_or_default();
    if depth >= MAX_INTERPRETERS {
        return Some(problem(
            "entrypoint",
            path,
            format!(
                "`{path}`: more than {MAX_INTERPRETERS} `#!` interpreters in a row: the kernel refuses it"
            ),
            "point the entrypoint at a static binary",
        ));
    }
    let missing = || {
        Some(problem(
            "entrypoint",
            path,
            format!(
                "`{path}` is a script for `{interpreter}`, which is not in the image: runtimes \
                 fail with \"no such file or directory\""
            ),
            "add the interpreter to the image, or point the entrypoint at a static binary",
        ))
    };
    if !interpreter.starts_with('/') {
        return missing();
    }
    match fs.lookup(interpreter.as_bytes()) {
        Some(node) => executable(interpreter, node, platform, fs, depth + 1),
        None => missing(),
    }
}

/// The program's path and node, found as runc's `exec.LookPath` finds it; else where it
/// was looked for.
fn find_program<'a>(
    config: &RunConfig,
    workdir: &str,
    program: &str,
    fs: &'a Filesystem,
) -> Result<(String, &'a Node), String> {
    let join = |dir: &str, name: &str| {
        let dir = if dir.starts_with('/') {
            dir.to_string()
        } else {
            format!("{}/{dir}", workdir.trim_end_matches('/'))
        };
        format!("{}/{name}", dir.trim_end_matches('/'))
    };
    if program.contains('/') {
        let path = if program.starts_with('/') {
            program.to_string()
        } else {
            join(workdir, program)
        };
        return match fs.lookup(path.as_bytes()) {
            Some(node) => Ok((path, node)),
            None => Err(format!("nothing at `{path}`")),
        };
    }
    let path_var = config
        .env
        .iter()
        .flatten()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let dirs: Vec<&str> = path_var.split(':').filter(|d| !d.is_empty()).collect();
    // LookPath takes the first executable regular file; else the first file found is
    // judged (and fails), else nothing was found.
    let mut first = None;
    for dir in &dirs {
        let path = join(dir, program);
        if let Some(node) = fs.lookup(path.as_bytes()) {
            if node.file && node.mode & 0o111 != 0 {
                return Ok((path, node));
            }
            first.get_or_insert((path, node));
        }
    }
    first.ok_or_else(|| format!("looked in PATH {path_var}"))
}

/// `User`: a name must be defined in the image's `/etc/passwd`, a group name in
/// `/etc/group`; numeric ids need neither.
fn check_user(config: &RunConfig, fs: &Filesystem) -> Vec<StartProblem> {
    let Some(user) = config.user.as_deref().filter(|u| !u.is_empty()) else {
        return Vec::new();
    };
    let (name, group) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut problems = Vec::new();
    for (what, value, file) in [
        ("user", Some(name), "/etc/passwd"),
        ("group", group, "/etc/group"),
    ] {
        let Some(value) = value.filter(|v| !numeric(v)) else {
            continue;
        };
        let defined = match fs.lookup(file.as_bytes()) {
            // Its first MiB is read; a name past it counts as missing (fails closed).
            Some(node) if node.file => node
                .text
                .as_deref()
                .is_some_and(|text| names(text).any(|n| n == value.as_bytes())),
            _ => false,
        };
        if !defined {
            let has_file = fs.lookup(file.as_bytes()).is_some();
            problems.push(problem(
                "user",
                file,
                format!(
                    "User `{user}`: the {what} `{value}` is not defined {} the image: runtimes \
                     fail with \"unable to find {what} {value}\"",
                    if has_file {
                        format!("in {file} of")
                    } else {
                        format!("(no {file}) in")
                    }
                ),
                "use a numeric id (`--user 65532`), or add the user to the image's /etc/passwd \
                 and /etc/group",
            ));
        }
    }
    problems
}

/// The names a passwd or group file defines (the first field of each line).
fn names(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.starts_with(b"#"))
        .filter_map(|l| l.split(|&b| b == b':').next())
        .filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inspect::layers::{Budget, Content, LayerScan, Op};
    use crate::inspect::unpack::replay;

    fn entry(path: &str, dir: bool, mode: u32, content: Content) -> Op {
        Op::Entry {
            path: path.as_bytes().into(),
            dir,
            file: !dir && !matches!(content, Content::Symlink(_)),
            mode,
            content,
        }
    }

    /// This test binary's verdict (its machine is the host's), read once.
    fn this() -> Arc<Outcome> {
        static THIS: std::sync::OnceLock<Arc<Outcome>> = std::sync::OnceLock::new();
        THIS.get_or_init(|| {
            let bytes = std::fs::read("/proc/self/exe").unwrap();
            Arc::new(Outcome::Elf(crate::elf::inspect(&bytes).unwrap()))
        })
        .clone()
    }

    /// This test binary, as the image's program.
    fn this_elf() -> Content {
        Content::Elf(this())
    }

    fn host() -> Platform {
        match &*this() {
            Outcome::Elf(info) => info.platform.clone(),
            _ => unreachable!(),
        }
    }

    fn image(ops: Vec<Op>) -> Filesystem {
        let layer = Arc::new(LayerScan {
            ops,
            problems: vec![],
            digest: String::new(),
            error: None,
        });
        replay(&[layer], &Budget::default()).unwrap().2
    }

    fn text(s: &str) -> Content {
        Content::Text(s.as_bytes().into())
    }

    fn base() -> Vec<Op> {
        vec![
            entry("usr/local/bin/app", false, 0o755, this_elf()),
            entry("bin/noexec", false, 0o644, this_elf()),
            entry("bin/dir", true, 0o755, Content::Plain),
            entry(
                "bin/link",
                false,
                0o777,
                Content::Symlink(b"../usr/local/bin/app"[..].into()),
            ),
            entry("bin/script", false, 0o755, text("#!/bin/sh -e\necho hi\n")),
            entry("bin/py", false, 0o755, text("#!/usr/bin/env python3\n")),
            entry("bin/data", false, 0o755, text("just text\n")),
            entry(
                "etc/passwd",
                false,
                0o644,
                text("root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:\n"),
            ),
            entry("etc/group", false, 0o644, text("root:x:0:\nstaff:x:50:\n")),
            entry("data", false, 0o644, Content::Plain),
            entry("home/app", true, 0o700, Content::Plain),
            entry("bin/sh", false, 0o755, this_elf()),
        ]
    }

    fn run(entrypoint: &[&str], f: impl FnOnce(&mut RunConfig)) -> Vec<StartProblem> {
        let mut config = RunConfig {
            entrypoint: Some(entrypoint.iter().map(|s| s.to_string()).collect()),
            ..RunConfig::default()
        };
        f(&mut config);
        check(&config, Some(&host()), &image(base()))
    }

    fn checks(problems: &[StartProblem]) -> Vec<(&str, &str)> {
        problems
            .iter()
            .map(|p| (p.check, p.file.as_str()))
            .collect()
    }

    #[test]
    fn the_program_is_found_as_runc_finds_it() {
        assert_eq!(run(&["/usr/local/bin/app"], |_| {}), []);
        assert_eq!(run(&["app"], |_| {}), [], "through the default PATH");
        assert_eq!(run(&["/bin/link"], |_| {}), [], "through a link");
        assert_eq!(
            run(&["./local/bin/app"], |c| c.working_dir =
                Some("/usr".into())),
            []
        );
        // Env's PATH replaces the default one.
        let p = run(&["app"], |c| c.env = Some(vec!["PATH=/bin".into()]));
        assert_eq!(checks(&p), [("entrypoint", "app")]);
        assert!(
            p[0].reason.contains("looked in PATH /bin"),
            "{}",
            p[0].reason
        );
        // Cmd when there is no entrypoint; nothing at all is a base image.
        let p = run(&[], |c| c.cmd = Some(vec!["/nope".into(), "x".into()]));
        assert_eq!(checks(&p), [("entrypoint", "/nope")]);
        assert_eq!(run(&[], |_| {}), []);
    }

    #[test]
    fn what_cannot_be_executed_is_named() {
        for (program, says) in [
            ("/missing", "not in the image"),
            ("/bin/noexec", "no execute permission (mode 0644)"),
            ("/bin/dir", "is a directory"),
            ("/bin/data", "neither an ELF binary nor a `#!` script"),
            (
                "/bin/py",
                "script for `/usr/bin/env`, which is not in the image",
            ),
        ] {
            let p = run(&[program], |_| {});
            assert_eq!(p.len(), 1, "{program}: {p:?}");
            assert!(p[0].reason.contains(says), "{program}: {}", p[0].reason);
            assert!(!p[0].fix.is_empty());
        }
        assert_eq!(
            run(&["/bin/script"], |_| {}),
            [],
            "its interpreter is there"
        );
    }

    #[test]
    fn a_binary_for_another_machine_will_not_start() {
        let mut other = host();
        other.architecture = if other.architecture == "s390x" {
            "amd64"
        } else {
            "s390x"
        }
        .into();
        let config = RunConfig {
            entrypoint: Some(vec!["/usr/local/bin/app".into()]),
            ..RunConfig::default()
        };
        let p = check(&config, Some(&other), &image(base()));
        assert_eq!(checks(&p), [("architecture", "/usr/local/bin/app")]);
        assert!(p[0].reason.contains("exec format error"));
        // The interpreter of a script is judged the same way.
        let config = RunConfig {
            entrypoint: Some(vec!["/bin/script".into()]),
            ..RunConfig::default()
        };
        let p = check(&config, Some(&other), &image(base()));
        assert_eq!(checks(&p), [("architecture", "/bin/sh")]);
    }

    #[test]
    fn users_and_groups_must_be_defined_unless_numeric() {
        let user = |u: &str| run(&["app"], |c| c.user = Some(u.into()));
        assert_eq!(user("app"), []);
        assert_eq!(user("app:staff"), []);
        assert_eq!(user("65532:65532"), []);
        assert_eq!(user("1000:staff"), []);
        assert_eq!(checks(&user("nobody")), [("user", "/etc/passwd")]);
        assert_eq!(checks(&user("app:wheel")), [("user", "/etc/group")]);
        // No passwd at all: a name cannot be found, a number needs nothing.
        let mut ops = base();
        ops.retain(|o| !matches!(o, Op::Entry { path, .. } if &**path == b"etc/passwd"));
        let config = RunConfig {
            entrypoint: Some(vec!["app".into()]),
            user: Some("app".into()),
            ..RunConfig::default()
        };
        let p = check(&config, Some(&host()), &image(ops));
        assert_eq!(checks(&p), [("user", "/etc/passwd")]);
        assert!(p[0].reason.contains("(no /etc/passwd)"), "{}", p[0].reason);
    }

    #[test]
    fn a_working_directory_that_is_a_file_will_not_start() {
        let p = run(&["app"], |c| c.working_dir = Some("/data".into()));
        assert_eq!(checks(&p), [("workdir", "/data")]);
        // A missing one is made by the runtime.
        assert_eq!(
            run(&["/usr/local/bin/app"], |c| c.working_dir =
                Some("/srv".into())),
            []
        );
    }

    /// An image of `program` (with `needs`) at /app, its own files, and a config.
    fn warned(
        needs: crate::elf::Needs,
        files: Vec<Op>,
        env: &[&str],
        user: Option<&str>,
    ) -> Vec<(&'static str, bool)> {
        let Outcome::Elf(mut info) = (*this()).clone() else {
            unreachable!()
        };
        info.needs = needs;
        let mut ops = vec![entry(
            "app",
            false,
            0o755,
            Content::Elf(Arc::new(Outcome::Elf(info))),
        )];
        ops.extend(files);
        let config = RunConfig {
            entrypoint: Some(vec!["/app".into()]),
            env: Some(env.iter().map(|s| s.to_string()).collect()),
            user: user.map(str::to_string),
            ..RunConfig::default()
        };
        check(&config, Some(&host()), &image(ops))
            .into_iter()
            .map(|p| (p.check, p.fatal))
            .collect()
    }

    #[test]
    fn what_the_program_reads_at_run_time_is_warned_about_when_missing() {
        use crate::elf::Needs;
        let reads = |paths: &[&str], env: bool| Needs {
            ca_bundle: Some(crate::elf::CaBundle {
                evidence: "a TLS library".into(),
                paths: paths.iter().map(|p| p.to_string()).collect(),
                env,
            }),
            ..Needs::default()
        };
        let tls = reads(
            &["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"],
            true,
        );
        assert_eq!(
            warned(tls.clone(), vec![], &[], None),
            [("ca-certificates", false)]
        );
        let bundle = entry(
            "etc/ssl/certs/ca-certificates.crt",
            false,
            0o644,
            Content::Plain,
        );
        assert_eq!(warned(tls.clone(), vec![bundle], &[], None), []);
        let own = entry("certs.pem", false, 0o644, Content::Plain);
        assert_eq!(
            warned(tls, vec![own.clone()], &["SSL_CERT_FILE=/certs.pem"], None),
            []
        );
        // A library that does not read SSL_CERT_FILE needs its own path; a directory
        // counts when it holds a certificate, through a link too (OpenSSL's hashes).
        let openssl = reads(&["/usr/lib/ssl/cert.pem", "/usr/lib/ssl/certs"], false);
        assert_eq!(
            warned(
                openssl.clone(),
                vec![own],
                &["SSL_CERT_FILE=/certs.pem"],
                None
            ),
            [("ca-certificates", false)]
        );
        let dir = entry("usr/lib/ssl/certs", true, 0o755, Content::Plain);
        assert_eq!(
            warned(openssl.clone(), vec![dir.clone()], &[], None),
            [("ca-certificates", false)]
        );
        let hashed = entry(
            "usr/lib/ssl/certs/1a2b3c4d.0",
            false,
            0o777,
            Content::Symlink(b"../cert.pem".as_slice().into()),
        );
        assert_eq!(warned(openssl, vec![dir, hashed], &[], None), []);

        let go_zones = Needs {
            zoneinfo: Some("Go's time.LoadLocation".into()),
            ..Needs::default()
        };
        assert_eq!(
            warned(go_zones.clone(), vec![], &[], None),
            [("zoneinfo", false)]
        );
        let embedded = Needs {
            embedded_tzdata: true,
            ..go_zones.clone()
        };
        assert_eq!(warned(embedded, vec![], &[], None), []);
        let zones = entry("usr/share/zoneinfo", true, 0o755, Content::Plain);
        assert_eq!(warned(go_zones, vec![zones], &[], None), []);
        // C reads zoneinfo only for a TZ naming a zone.
        let c_zones = Needs {
            zoneinfo: Some("the path /usr/share/zoneinfo (the C library's tzset)".into()),
            ..Needs::default()
        };
        assert_eq!(warned(c_zones.clone(), vec![], &[], None), []);
        assert_eq!(warned(c_zones.clone(), vec![], &["TZ=UTC0"], None), []);
        assert_eq!(
            warned(c_zones, vec![], &["TZ=Europe/Paris"], None),
            [("zoneinfo", false)]
        );

        let tmp = Needs {
            tmp: Some("Go's os.TempDir".into()),
            ..Needs::default()
        };
        assert_eq!(warned(tmp.clone(), vec![], &[], None), [("tmp", false)]);
        let dir = entry("tmp", true, 0o1777, Content::Plain);
        assert_eq!(warned(tmp, vec![dir], &[], None), []);

        // A non-root user's home from /etc/passwd, by name or by uid.
        let passwd = || {
            entry(
                "etc/passwd",
                false,
                0o644,
                text("root:x:0:0::/root:\nsvc:x:1000:1000::/home/svc:\n"),
            )
        };
        assert_eq!(
            warned(Needs::default(), vec![passwd()], &[], Some("1000:1000")),
            [("home", false)]
        );
        assert_eq!(warned(Needs::default(), vec![passwd()], &[], Some("0")), []);
        let home = entry("home/svc", true, 0o700, Content::Plain);
        assert_eq!(
            warned(Needs::default(), vec![passwd(), home], &[], Some("svc")),
            []
        );
        // A uid without an entry: runtimes set HOME=/.
        assert_eq!(
            warned(Needs::default(), vec![passwd()], &[], Some("65532")),
            []
        );
    }
}
