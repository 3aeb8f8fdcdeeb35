//! Outputs and inputs at their edges: an output that is an input, temporaries of a run
//! killed with SIGKILL, out-of-range dates and ids, names that would drive the terminal,
//! a full disk.

use std::process::Command;
use std::time::Duration;

use crate::require;
use crate::support::{
    assert_has, build_cmd, dir_entries, fixture, path_str, run, scratchpack, script_toolchain,
    tempdir,
};

#[test]
fn an_output_that_is_an_input_is_refused() {
    let dir = tempdir();
    let src = dir.path().join("hello.c");
    std::fs::copy(fixture("hello.c"), &src).unwrap();
    let before = std::fs::read(&src).unwrap();
    let r = run(build_cmd()
        .current_dir(dir.path())
        .args(["hello.c", "-o", "hello.c"]))
    .expect_code(2);
    assert_has(&r.stderr, &["is the input", "hint:"]);
    assert_eq!(std::fs::read(&src).unwrap(), before);

    let binary = dir.path().join("app");
    std::fs::copy(fixture("hello-amd64"), &binary).unwrap();
    let link = dir.path().join("same-app");
    std::fs::hard_link(&binary, &link).unwrap();
    let r = scratchpack(&["package", path_str(&binary), "-o", path_str(&link)]).expect_code(2);
    assert_has(&r.stderr, &["is the input"]);
    assert_eq!(
        std::fs::read(&binary).unwrap(),
        std::fs::read(fixture("hello-amd64")).unwrap()
    );
}

#[test]
fn temporaries_of_a_killed_run_are_removed_by_the_next() {
    let dir = tempdir();
    let src = dir.path().join("hello.c");
    std::fs::copy(fixture("hello.c"), &src).unwrap();
    let toolchain = script_toolchain(dir.path(), "sleep 60");
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("app.tar");
    let mut child = build_cmd()
        .args([
            path_str(&src),
            "-o",
            path_str(&out),
            "--toolchain",
            path_str(&toolchain),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the build directory, then kill without warning.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while dir_entries(&out_dir).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let left = dir_entries(&out_dir);
    assert!(
        left.iter().any(|n| n.starts_with(".scratchpack-build-")),
        "{left:?}"
    );
    std::thread::sleep(Duration::from_millis(2500));
    // The next run writing there removes them; its own output appears.
    scratchpack(&[
        "package",
        path_str(&fixture("hello-amd64")),
        "-o",
        path_str(&out),
    ])
    .expect_code(0);
    assert_eq!(dir_entries(&out_dir), ["app.tar"]);
}

#[test]
fn dates_and_ids_out_of_range_are_refused() {
    let dir = tempdir();
    let out = dir.path().join("o.tar");
    let hello = fixture("hello-amd64");
    let r = run(crate::support::scratchpack_cmd()
        .env("SOURCE_DATE_EPOCH", "253402300800")
        .args(["package", path_str(&hello), "-o", path_str(&out)]))
    .expect_code(2);
    assert_has(&r.stderr, &["SOURCE_DATE_EPOCH", "9999"]);
    run(crate::support::scratchpack_cmd()
        .env("SOURCE_DATE_EPOCH", "253402300799")
        .args(["package", path_str(&hello), "-o", path_str(&out)]))
    .expect_code(0);
    for user in ["99999999999999999999", "2147483648", "1:4294967296"] {
        let r = scratchpack(&[
            "package",
            path_str(&hello),
            "-o",
            path_str(&out),
            "--user",
            user,
        ])
        .expect_code(2);
        assert_has(&r.stderr, &["--user", user]);
    }
}

#[test]
fn control_characters_in_names_are_escaped() {
    let dir = tempdir();
    let tree = dir.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    let evil = tree.join("evil\x1b]0;owned\x07\x1b[2J");
    std::fs::copy(fixture("hello-amd64"), &evil).unwrap();
    let r = scratchpack(&["inspect", path_str(&tree)]).expect_code(0);
    assert!(!r.stdout.contains('\x1b'), "{:?}", r.stdout);
    assert_has(&r.stdout, &["evil\\x1b]0;owned\\x07\\x1b[2J"]);
    // JSON keeps the exact name, escaped as JSON does.
    let r = scratchpack(&["inspect", "--json", path_str(&tree)]).expect_code(0);
    assert_eq!(r.json()[0]["path"], path_str(&evil));
}

#[test]
fn a_full_disk_gets_a_hint() {
    require!("unshare");
    let dir = tempdir();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    let script = "mount -t tmpfs -o size=4k none \"$1\" && head -c 4096 /dev/zero > \"$1/fill\"; \
                  shift; exec \"$@\"";
    let r = run(Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&full)
        .arg(env!("CARGO_BIN_EXE_scratchpack"))
        .args(["package", path_str(&fixture("hello-amd64")), "-o"])
        .arg(full.join("o.tar")))
    .expect_code(2);
    assert_has(&r.stderr, &["No space left on device", "hint:", "disk"]);
}
