//! Builds written by an attacker: sources and `--toolchain` files that try to read the
//! host, write the user's files or the cached rootfs, exhaust the machine, or trick the
//! host side into following what the sandbox made. Each must fail, say why, and leave the
//! host as it was.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require;
use crate::support::{
    assert_has, build, build_cmd, path_str, run, script_toolchain, shared_rootfs, tempdir,
};

/// A C file whose program embeds `path` at compile time.
fn embedding(dir: &Path, name: &str, path: &str) -> PathBuf {
    let src = dir.join(name);
    std::fs::write(
        &src,
        format!(
            "__asm__(\".section .rodata\\n.incbin \\\"{path}\\\"\\n.text\");\n\
             int main(void) {{ return 0; }}\n"
        ),
    )
    .unwrap();
    src
}

/// Builds `hello.c` in `dir` with a toolchain file running `script`.
fn build_running(dir: &Path, script: &str, extra: &[&str]) -> crate::support::Run {
    let src = hello(dir);
    let toolchain = script_toolchain(dir, script);
    let out = dir.join("o.tar");
    let mut args = vec![
        path_str(&src),
        "-o",
        path_str(&out),
        "--toolchain",
        path_str(&toolchain),
    ];
    args.extend_from_slice(extra);
    build(&args)
}

fn hello(dir: &Path) -> PathBuf {
    let src = dir.join("hello.c");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    src
}

#[test]
fn descriptors_of_the_caller_cannot_be_read_through() {
    require!("zig");
    let dir = tempdir();
    std::fs::create_dir_all(dir.path().join("open")).unwrap();
    std::fs::write(dir.path().join("secret"), "host secret").unwrap();
    let src_dir = dir.path().join("src");
    std::fs::create_dir_all(&src_dir).unwrap();
    let src = embedding(&src_dir, "leak.c", "/proc/self/fd/7/../secret");
    let out = dir.path().join("leak.tar");
    // `exec 7<dir` in the caller's shell, then scratchpack.
    let cmd = build_cmd();
    let program = cmd.get_program().to_owned();
    let mut sh = Command::new("/bin/sh");
    sh.args(["-c", "exec 7<\"$1\"; shift; exec \"$@\"", "sh"])
        .arg(dir.path().join("open"))
        .arg(program)
        .args([path_str(&src), "-o", path_str(&out)]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    let r = run(&mut sh).expect_code(1);
    assert_has(&r.stderr, &["compilation failed"]);
    assert!(!out.exists());
}

#[test]
fn a_lone_file_in_the_home_directory_does_not_show_the_home() {
    require!("zig");
    let dir = tempdir();
    let home = dir.path().join("home/alice");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "PRIVATE KEY").unwrap();
    let key = home.join(".ssh/id_rsa");
    let src = embedding(&home, "hello.c", path_str(&key));
    let out = dir.path().join("o.tar");
    let run_in_home =
        |args: &[&str]| run(build_cmd().env("HOME", &home).current_dir(&home).args(args));
    let r = run_in_home(&["hello.c", "-o", path_str(&out)]).expect_code(1);
    assert_has(&r.stderr, &["compilation failed"]);
    assert!(!out.exists());

    // The home as a whole is refused, with the way out.
    let r = run_in_home(&[".", "-o", path_str(&out)]).expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "cannot be shown to the build whole",
            "home directory",
            "hint:",
        ],
    );
    // A lone file still builds, with the header it includes next to it.
    std::fs::write(home.join("greet.h"), "#define CODE 0\n").unwrap();
    std::fs::write(
        &src,
        "#include \"greet.h\"\nint main(void) { return CODE; }\n",
    )
    .unwrap();
    run_in_home(&["hello.c", "-o", path_str(&out)]).expect_code(0);
}

#[test]
fn a_toolchain_file_cannot_remount_or_write_what_it_was_shown() {
    let dir = tempdir();
    let src = hello(dir.path());
    let script = "mount -o remount,bind,rw \"$(dirname \"$2\")\" && echo pwned > \"$2\"; \
                  mount -o remount,bind,rw /usr && touch /usr/poisoned; \
                  unshare -rm sh -c 'mount -o remount,rw /usr && touch /usr/poisoned'; \
                  cp /bin/busybox \"$1\"";
    let toolchain = script_toolchain(dir.path(), script);
    let out = dir.path().join("o.tar");
    build(&[
        path_str(&src),
        "-o",
        path_str(&out),
        "--toolchain",
        path_str(&toolchain),
    ]);
    assert_eq!(
        std::fs::read_to_string(&src).unwrap(),
        "int main(void) { return 0; }\n",
        "the source was written"
    );
    assert!(
        !shared_rootfs().join("usr/poisoned").exists(),
        "the cached rootfs was poisoned"
    );
}

#[test]
fn the_host_never_follows_a_link_the_build_made() {
    let dir = tempdir();
    let r = build_running(dir.path(), "ln -s /etc/passwd \"$1\"", &[]).expect_code(1);
    assert_has(&r.stderr, &["as a symlink", "refused"]);
    assert!(!dir.path().join("o.tar").exists());
}

#[test]
fn the_helper_is_not_readable_from_the_build() {
    let dir = tempdir();
    // Everything the build learns of pid 1 goes to stderr, shown with the failure.
    let script = "tr '\\0' ' ' < /proc/1/cmdline >&2; echo >&2; \
                  readlink /proc/1/exe >&2; cat /proc/1/environ >&2; ls /proc/1/root/ >&2; \
                  echo probed >&2; exit 1";
    let r = build_running(dir.path(), script, &[]).expect_code(1);
    assert_has(&r.stderr, &["scratchpack __sandbox", "probed"]);
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_scratchpack")).unwrap();
    let dir_of_exe = exe.parent().unwrap();
    assert!(
        !r.stderr.contains(path_str(dir_of_exe)),
        "the build learnt where scratchpack is: {}",
        r.stderr
    );
}

#[test]
fn memory_and_time_are_bounded_and_the_limit_is_named() {
    require!("zig");
    let dir = tempdir();
    let src = embedding(dir.path(), "zero.c", "/dev/zero");
    let out = dir.path().join("o.tar");
    let r = build(&[path_str(&src), "-o", path_str(&out), "--memory", "512M"]).expect_code(1);
    assert_has(&r.stderr, &["512 MiB", "--memory"]);
    assert!(!out.exists());

    let start = std::time::Instant::now();
    let r = build_running(
        dir.path(),
        "sleep 60; cp /bin/busybox \"$1\"",
        &["--timeout", "2s"],
    )
    .expect_code(1);
    let src = dir.path().join("hello.c");
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
    assert_has(&r.stderr, &["time limit", "2 s", "--timeout"]);
    assert!(!out.exists());

    for (flag, value) in [("--memory", "lots"), ("--timeout", "soon")] {
        let r = build(&[path_str(&src), "-o", path_str(&out), flag, value]).expect_code(2);
        assert_has(&r.stderr, &[flag, value]);
    }
}

#[test]
fn a_file_named_like_a_flag_is_compiled_as_a_file() {
    require!("zig");
    let dir = tempdir();
    std::fs::write(dir.path().join("-dash.c"), "int main(void) { return 0; }\n").unwrap();
    let out = dir.path().join("dash.tar");
    run(build_cmd().current_dir(dir.path()).args([
        "build",
        "-o",
        path_str(&out),
        "--name",
        "dash",
        "--",
        "-dash.c",
    ]))
    .expect_code(0);
}

#[test]
fn mounts_denied_in_an_allowed_user_namespace_are_told_apart() {
    require!("gcc");
    let Some(deny) = crate::support::binaries::get(crate::support::binaries::Bin::DenyMount) else {
        return;
    };
    let dir = tempdir();
    let src = hello(dir.path());
    let out = dir.path().join("o.tar");
    let cmd = build_cmd();
    let program = cmd.get_program().to_owned();
    let mut denied = Command::new(deny);
    denied
        .arg(program)
        .args([path_str(&src), "-o", path_str(&out)]);
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            denied.env(k, v);
        }
    }
    let r = run(&mut denied).expect_code(2);
    assert_has(
        &r.stderr,
        &[
            "user namespace was created but may not mount",
            "seccomp",
            "--no-sandbox",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn a_mirror_cannot_send_without_end() {
    let dir = tempdir();
    let (_, toolchain) = crate::build::custom_rootfs(dir.path(), b"not used");
    let src = hello(dir.path());
    let out = dir.path().join("o.tar");
    for length in [Some(1u64 << 40), None] {
        let addr = crate::support::http::serve_endless(length);
        let cache = tempdir();
        let r = run(crate::support::scratchpack_cmd()
            .env("SCRATCHPACK_CACHE_DIR", cache.path())
            .args([
                path_str(&src),
                "-o",
                path_str(&out),
                "--toolchain",
                path_str(&toolchain),
                "--alpine-mirror",
                &format!("http://{addr}"),
            ]))
        .expect_code(2);
        assert_has(&r.stderr, &["is larger than", "refused"]);
        assert!(!out.exists());
    }
}

#[test]
fn a_build_cannot_forge_the_sandbox_report() {
    let dir = tempdir();
    // The helper's failure line, as a build could print it, with the helper's exit code.
    // (Braces written as \\173 and \\175: the toolchain file's templates own them.)
    let script = "printf 'scratchpack-sandbox-error: \\173\"step\":\"unshare\",\"errno\":1,\
                  \"detail\":\"forged\",\"token\":\"\"\\175\\n' >&2; exit 125";
    let r = build_running(dir.path(), script, &[]).expect_code(1);
    assert_has(&r.stderr, &["compilation failed (exit code 125)"]);
    assert!(
        !r.stderr.contains("user namespaces are not permitted"),
        "{}",
        r.stderr
    );
}
