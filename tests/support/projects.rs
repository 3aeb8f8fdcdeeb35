//! Real projects for the builder's tests: Debian source packages (upstream's release
//! tarballs, through `apt-get source`), and the local APK repository of build tools
//! `scripts/tools-repo.sh` writes (Alpine's own repositories are unreachable here). Both
//! are made once per run and shared: `.ci/run` builds the repository and names it in
//! `SCRATCHPACK_TOOLS_REPO`; elsewhere it is built into the shared test cache on first use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::{in_ci, run, shared_cache, shared_mirror, tool};

/// The build-tools repository (`file://` root for `--apk-repository`), or `None` (the
/// test is skipped) when it cannot be made here.
pub fn tools_repo() -> Option<PathBuf> {
    static REPO: OnceLock<Option<PathBuf>> = OnceLock::new();
    REPO.get_or_init(|| {
        let arch = super::apk::arch();
        // riscv64: the other platforms' zlib (older repositories lack it).
        let ready = |dir: &Path| {
            [arch, "riscv64"]
                .iter()
                .all(|a| dir.join(a).join("APKINDEX.tar.gz").is_file())
        };
        if let Some(dir) = std::env::var_os("SCRATCHPACK_TOOLS_REPO").map(PathBuf::from) {
            assert!(
                ready(&dir),
                "SCRATCHPACK_TOOLS_REPO={} holds no index",
                dir.display()
            );
            return Some(dir);
        }
        let dir = shared_cache().join("tools-repo");
        if ready(&dir) {
            return Some(dir);
        }
        for needed in [
            "apt-get",
            "musl-gcc",
            "autoreconf",
            "autopoint",
            "make",
            "python3",
        ] {
            tool(needed)?;
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tools-repo.sh");
        let out = run(Command::new(script)
            .arg(&dir)
            .env("ALPINE_MIRROR", shared_mirror()));
        if out.code != 0 {
            let why = format!("scripts/tools-repo.sh failed:\n{}", out.stderr);
            if in_ci() {
                panic!("{why}");
            }
            eprintln!("SKIPPED: {why}");
            return None;
        }
        Some(dir)
    })
    .clone()
}

/// The `--apk-repository` flags for the tools repository.
pub fn tools_flags(repo: &Path) -> Vec<String> {
    vec![
        "--apk-repository".into(),
        format!("file://{}", repo.display()),
        "--apk-allow-untrusted".into(),
    ]
}

/// Debian's source package `package`, upstream's tarball unpacked once into the shared
/// cache; returns the project's directory. `None` (skipped) without deb-src access.
pub fn debian_source(package: &str) -> Option<PathBuf> {
    static DONE: OnceLock<Mutex<BTreeMap<String, Option<PathBuf>>>> = OnceLock::new();
    let done = DONE.get_or_init(Default::default);
    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dir) = done.get(package) {
        return dir.clone();
    }
    let dir = fetch_source(package);
    done.insert(package.to_string(), dir.clone());
    dir
}

fn fetch_source(package: &str) -> Option<PathBuf> {
    tool("apt-get")?;
    let root = shared_cache().join("debian").join(package);
    let src = root.join("src");
    if let Some(dir) = only_dir(&src) {
        return Some(dir);
    }
    let dl = root.join("dl");
    std::fs::create_dir_all(&dl).expect("mkdir");
    let out = run(Command::new("apt-get")
        .args(["source", "--download-only", "-qq", package])
        .current_dir(&dl));
    let tarball = std::fs::read_dir(&dl)
        .expect("read dl")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            name.contains(".orig.tar.") && !name.ends_with(".asc")
        });
    let Some(tarball) = tarball else {
        let why = format!(
            "apt-get source {package} failed (are deb-src entries enabled? .ci/run adds them):\n{}",
            out.stderr
        );
        if in_ci() {
            panic!("{why}");
        }
        eprintln!("SKIPPED: {why}");
        return None;
    };
    let tmp = root.join("src.tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("mkdir");
    super::check(
        Command::new("tar")
            .arg("-xf")
            .arg(&tarball)
            .arg("-C")
            .arg(&tmp),
    );
    std::fs::rename(&tmp, &src).expect("rename the unpacked source");
    only_dir(&src)
}

/// The single directory inside `dir`.
fn only_dir(dir: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    match dirs.len() {
        1 => dirs.pop(),
        _ => None,
    }
}

/// A digest of a tree's names, sizes, modes and times: equal before and after a build
/// proves the build did not touch it.
pub fn tree_state(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let mut lines = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            lines.push(format!(
                "{} {} {:o} {}.{}",
                p.display(),
                m.len(),
                m.mode(),
                m.mtime(),
                m.mtime_nsec()
            ));
            if m.is_dir() {
                stack.push(p);
            }
        }
    }
    lines.sort();
    lines.join("\n")
}
