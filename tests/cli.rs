//! The command line itself: help, usage errors, colour, and interrupts leaving nothing
//! behind.

use std::time::{Duration, Instant};

use crate::support::{dir_entries, fixture, path_str, run, scratchpack, scratchpack_cmd, tempdir};

#[test]
fn help_and_version() {
    let r = scratchpack(&["--help"]).expect_code(0);
    assert!(
        r.stdout.contains("inspect")
            && r.stdout.contains("package")
            && r.stdout.contains("Exit status")
    );
    let r = scratchpack(&["package", "--help"]).expect_code(0);
    for flag in [
        "--tag",
        "--cmd",
        "--env",
        "--add",
        "--ca-certificates",
        "--bare",
        "--format",
        "--user",
        "--expose",
    ] {
        assert!(
            r.stdout.contains(flag),
            "{flag} missing from package --help"
        );
    }
    let r = scratchpack(&["--version"]).expect_code(0);
    assert!(r.stdout.starts_with("scratchpack "));
}

#[test]
fn usage_errors_exit_2() {
    let r = scratchpack(&["frobnicate"]).expect_code(2);
    assert!(r.stderr.contains("frobnicate"));
    scratchpack(&["inspect"]).expect_code(2);
    scratchpack(&["package", "x"]).expect_code(2);
}

#[test]
fn no_colour_when_piped_or_asked() {
    let r = run(scratchpack_cmd()
        .env("NO_COLOR", "1")
        .args(["inspect", path_str(&fixture("hello-amd64"))]))
    .expect_code(0);
    assert!(!r.stdout.contains('\x1b') && !r.stderr.contains('\x1b'));
    let r = scratchpack(&["inspect", path_str(&fixture("hello-amd64"))]).expect_code(0);
    assert!(!r.stdout.contains('\x1b'), "colour on a pipe");
}

/// SIGINT while `package` compresses a large binary: the process exits 130 and removes
/// its temporary files; the old output is untouched.
#[test]
fn interrupt_leaves_no_partial_output() {
    let dir = tempdir();
    // A valid static binary followed by 128 MiB of incompressible bytes: seconds of work.
    let big = dir.path().join("big");
    let mut bytes = std::fs::read(fixture("hello-amd64")).unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    bytes.extend((0..(128u64 << 20) / 8).flat_map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()
    }));
    std::fs::write(&big, bytes).unwrap();
    let outdir = dir.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let out = outdir.join("big.tar");
    std::fs::write(&out, "old image").unwrap();
    let mut child = scratchpack_cmd()
        .args(["package", path_str(&big), "-o", path_str(&out)])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Wait until the layer is being written next to the output, then interrupt.
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir_entries(&outdir).len() < 2 {
        assert!(Instant::now() < deadline, "no temporary file appeared");
        assert!(
            child.try_wait().unwrap().is_none(),
            "package ended before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "not interrupted in time");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old image");
    assert_eq!(
        dir_entries(&outdir),
        ["big.tar"],
        "temporary files left behind"
    );
}
