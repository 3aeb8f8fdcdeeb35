//! Project builds on real code: Debian's source packages of GNU hello and pv
//! (autotools), tree and zstd (Makefiles; zstd with assembly and zlib from `--apk`),
//! cmark (CMake, C) and ninja (CMake, C++), built by their own build systems inside the
//! sandbox with the build tools of `scripts/tools-repo.sh`; each image runs in podman and
//! does the program's job. Then what goes wrong: a failing step, several executables,
//! `--run`, and a hostile project.

use std::path::{Path, PathBuf};

use crate::support::clients::{Client, Podman};
use crate::support::oci::ImageTar;
use crate::support::projects::{debian_source, tools_flags, tools_repo, tree_state};
use crate::support::{
    Run, assert_has, build, fixture, path_str, run_with_stdin, shared_cache, tempdir,
};

/// `scratchpack SOURCE -o OUT EXTRA...` with the tools repository; `None` (skipped)
/// when the repository cannot be made here.
fn build_with_tools(source: &Path, out: &Path, extra: &[&str]) -> Option<Run> {
    let repo = tools_repo()?;
    let mut args: Vec<String> = vec![path_str(source).into(), "-o".into(), path_str(out).into()];
    args.extend(tools_flags(&repo));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Some(build(&args))
}

/// Builds the project `dir` into `out` with zig and the tools repository; returns the
/// run's stderr.
fn build_project(dir: &Path, out: &Path, extra: &[&str]) -> Option<String> {
    let mut args = vec!["--toolchain", "zig"];
    args.extend_from_slice(extra);
    let out = build_with_tools(dir, out, &args)?;
    assert_eq!(
        out.code,
        0,
        "build of {} failed:\n{}",
        dir.display(),
        out.stderr
    );
    Some(out.stderr)
}

/// The build log scratchpack keeps for the image `name`.
fn log_of(name: &str) -> String {
    std::fs::read_to_string(shared_cache().join("logs").join(format!("{name}.log")))
        .unwrap_or_default()
}

/// Checks that the image passes the gate, warnings included (no false positives of the
/// start checks on real programs), and loads it into a podman of its own.
fn podman_with(image: &Path) -> Option<Podman> {
    let r = crate::support::scratchpack(&["inspect", "--strict", path_str(image)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let podman = Podman::new()?;
    podman.load(image);
    Some(podman)
}

#[test]
fn autotools_hello_builds_without_touching_the_sources() {
    let Some(src) = debian_source("hello") else {
        return;
    };
    let before = tree_state(&src);
    let dir = tempdir();
    let image = dir.path().join("hello.tar");
    let extra = ["--configure-arg", "--disable-nls"];
    let Some(stderr) = build_project(&src, &image, &extra) else {
        return;
    };
    assert_eq!(
        tree_state(&src),
        before,
        "the build changed the source tree"
    );
    assert!(!stderr.contains("error"), "{stderr}");
    let log = log_of("hello");
    assert_has(
        &log,
        &[
            "$ ./configure --host=",
            "-linux-musl",
            " --disable-nls",
            "$ make -j",
        ],
    );
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = podman.run_image("hello:latest", &["-g", "greetings from scratch"]);
    assert_eq!(out, "greetings from scratch\n");
}

/// GNU hello (autotools) for arm64 and riscv64 in one command: configure runs with the
/// target's triple as `--host`, each platform's program runs under qemu-user, and the
/// kept copies of the two platforms do not mix.
#[test]
fn autotools_hello_builds_for_other_platforms() {
    crate::require!("qemu-aarch64-static", "qemu-riscv64-static");
    let Some(src) = debian_source("hello") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("hello-cross.tar");
    let extra = [
        "--configure-arg",
        "--disable-nls",
        "--platform",
        "linux/arm64,linux/riscv64",
    ];
    if build_project(&src, &image, &extra).is_none() {
        return;
    }
    let ran = crate::platforms::run_each(&image, "hello", dir.path(), &["-g", "cross"]);
    let platforms: Vec<&str> = ran.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(platforms, ["linux/arm64", "linux/riscv64"]);
    for (platform, out) in &ran {
        assert_eq!(out, "cross\n", "{platform}");
    }
}

#[test]
fn autotools_pv_copies_its_input() {
    let Some(src) = debian_source("pv") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("pv.tar");
    if build_project(&src, &image, &[]).is_none() {
        return;
    }
    // A project build is reproducible, and the second one works in the kept copy: the
    // setup step (configure) is not run again, make finds nothing to do.
    let again = dir.path().join("pv-again.tar");
    build_project(&src, &again, &[]);
    assert_eq!(
        crate::support::sha256_file(&image),
        crate::support::sha256_file(&again)
    );
    let log = log_of("pv");
    assert!(log.contains("$ make -j"), "{log}");
    assert!(log.contains("(done before, in the kept copy)"), "{log}");
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let data: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    let out = run_with_stdin(
        podman
            .cmd()
            .args(["run", "-i", "--rm", "--network", "none", "pv:latest", "-q"]),
        data.as_bytes(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, data);
}

#[test]
fn makefile_tree_lists_the_image() {
    let Some(src) = debian_source("tree") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("tree.tar");
    if build_project(&src, &image, &[]).is_none() {
        return;
    }
    assert_has(&log_of("tree"), &["$ make -j"]);
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = podman.run_image("tree:latest", &["-a", "/etc"]);
    assert_has(&out, &["/etc", "passwd", "group"]);
}

#[test]
fn makefile_zstd_with_assembly_and_zlib_from_apk() {
    let Some(src) = debian_source("libzstd") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("zstd.tar");
    let extra = ["--apk", "zlib-dev", "--apk", "zlib-static"];
    let Some(stderr) = build_project(&src, &image, &extra) else {
        return;
    };
    // Two executables are called zstd; the one at the top is taken and the other named.
    assert_has(&stderr, &["took `programs/zstd`"]);
    let log = log_of("zstd");
    assert_has(&log, &["building zstd with .gz compression support"]);
    if cfg!(target_arch = "x86_64") {
        assert_has(&log, &["huf_decompress_amd64"]);
    }
    // Built again unchanged: make finds every object up to date (zstd's rules make each
    // `.d` a prerequisite of its `.o`, and zig writes the `.d` last: the compiler
    // wrapper touches the object after), and the image is the same.
    let again = dir.path().join("again.tar");
    build_project(&src, &again, &extra).unwrap();
    let log = log_of("zstd");
    assert!(
        !log.contains("CC obj/"),
        "an unchanged zstd was recompiled:\n{log}"
    );
    assert_eq!(
        std::fs::read(&image).unwrap(),
        std::fs::read(&again).unwrap()
    );
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let data = b"compressed in a scratch image\n".repeat(100);
    // gzip output (binary: written to a file through sh), which the host's gzip reads.
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, &data).unwrap();
    let gz = dir.path().join("out.gz");
    let mut cmd = podman.cmd();
    cmd.args([
        "run",
        "-i",
        "--rm",
        "--network",
        "none",
        "zstd:latest",
        "--format=gzip",
        "-c",
    ])
    .stdin(std::fs::File::open(&plain).unwrap())
    .stdout(std::fs::File::create(&gz).unwrap());
    let status = cmd.status().unwrap();
    assert!(status.success());
    let back = crate::support::check(std::process::Command::new("gzip").arg("-dc").arg(&gz));
    assert_eq!(back.as_bytes(), &data[..]);
}

#[test]
fn cmake_cmark_converts_markdown() {
    let Some(src) = debian_source("cmark") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("cmark.tar");
    let extra = [
        "--make-target",
        "cmark",
        "--cmake-define",
        "CMARK_TESTS=OFF",
    ];
    if build_project(&src, &image, &extra).is_none() {
        return;
    }
    assert_has(
        &log_of("cmark"),
        &[
            "$ cmake -S . -B _scratchpack",
            "-DCMARK_TESTS=OFF",
            "--target cmark",
        ],
    );
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = run_with_stdin(
        podman
            .cmd()
            .args(["run", "-i", "--rm", "--network", "none", "cmark:latest"]),
        b"# Hello *scratch*\n",
    );
    assert_eq!(
        out.stdout, "<h1>Hello <em>scratch</em></h1>\n",
        "{}",
        out.stderr
    );
}

#[test]
fn cmake_cxx_ninja_reads_a_build_file() {
    let Some(src) = debian_source("ninja-build") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("ninja.tar");
    let build_file = dir.path().join("build.ninja");
    std::fs::write(
        &build_file,
        "rule cc\n  command = cc -c $in -o $out\nbuild hello.o: cc hello.c\nbuild all: phony hello.o\n",
    )
    .unwrap();
    let add = format!("{}:/work/build.ninja", build_file.display());
    let Some(stderr) = build_project(&src, &image, &["--add", &add, "--make-target", "ninja"])
    else {
        return;
    };
    assert!(!stderr.contains("error"), "{stderr}");
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = podman.run_image("ninja:latest", &["-C", "/work", "-t", "targets", "all"]);
    assert_has(&out, &["hello.o: cc", "all: phony"]);
}

/// A small project of the repository's fixtures, copied into `dir`.
fn fixture_project(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    let from = fixture("projects").join(name);
    crate::support::check(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&from)
            .arg(&to),
    );
    to
}

#[test]
fn a_failing_step_names_itself_and_keeps_the_log() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "broken");
    let out_tar = dir.path().join("broken.tar");
    let Some(out) = build_with_tools(&project, &out_tar, &["--toolchain", "zig"]) else {
        return;
    };
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &[
            "the build step `make` failed",
            "undeclared",
            "the whole build log: ",
        ],
    );
    let log = out
        .stderr
        .lines()
        .find_map(|l| l.split("the whole build log: ").nth(1))
        .unwrap();
    assert!(
        std::fs::read_to_string(log.trim())
            .unwrap()
            .contains("$ make -j")
    );
    assert!(!out_tar.exists());
}

#[test]
fn several_programs_are_listed_then_chosen() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "two");
    let out_tar = dir.path().join("two.tar");
    let mut args = vec!["--toolchain", "zig"];
    let Some(out) = build_with_tools(&project, &out_tar, &args) else {
        return;
    };
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["several executables", "bin/ping", "bin/pong", "--artifact"],
    );

    args.extend(["--artifact", "bin/pong", "--artifact", "bin/ping"]);
    build_project(&project, &out_tar, &args[2..]);
    let Some(podman) = podman_with(&out_tar) else {
        return;
    };
    assert_eq!(podman.run_image("pong:latest", &[]), "pong\n");
    let ping = podman.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/usr/local/bin/ping",
        "pong:latest",
    ]);
    assert_eq!(ping.stdout, "ping\n", "{}", ping.stderr);
}

#[test]
fn run_commands_replace_the_build_system() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "plain");
    let out_tar = dir.path().join("plain.tar");
    let run =
        "mkdir -p out && $CC $CFLAGS -DGREETING='\"from --run\"' -o out/greet main.c $LDFLAGS";
    let Some(out) = build_with_tools(&project, &out_tar, &["--run", run]) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.stderr);
    // No --toolchain: the tools repository has no build-base, so auto takes zig.
    assert_has(&out.stderr, &["toolchain: zig", "chosen by auto"]);
    let Some(podman) = podman_with(&out_tar) else {
        return;
    };
    assert_eq!(podman.run_image("greet:latest", &[]), "from --run\n");
}

#[test]
fn a_hostile_project_cannot_reach_the_host() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "hostile");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "host secret").unwrap();
    // A server on the host's loopback: a build sharing the host's network would reach it.
    let www = dir.path().join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("probe"), "REACHED THE HOST").unwrap();
    let server = crate::support::http::serve(&www);
    let out_tar = dir.path().join("hostile.tar");
    // The Makefile is told where the secret and the server are, by their host names.
    let make = format!(
        "make SECRET={} PORT={}",
        secret.display(),
        server.addr.port()
    );
    let Some(out) = build_with_tools(&project, &out_tar, &["--toolchain", "zig", "--run", &make])
    else {
        return;
    };
    // It reads and overwrites the secret by its host path, writes beside its copy, links
    // its "binary" to a host file and reaches the network: all in vain.
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(&out.stderr, &["the build wrote no executable"]);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "host secret");
    assert_eq!(
        server.requests(),
        0,
        "the build reached the host's loopback"
    );
    let log = log_of("hostile");
    assert_has(&log, &["no secret", "no network", "no host write"]);
    assert!(
        !log.contains("host secret") && !log.contains("REACHED"),
        "{log}"
    );
    assert!(!dir.path().join("pwned").exists());
    assert!(!out_tar.exists());
}

#[test]
fn go_command_under_cmd_builds_from_its_module() {
    let Some(src) = debian_source("golang-github-pelletier-go-toml") else {
        return;
    };
    let dir = tempdir();
    let image = dir.path().join("tomljson.tar");
    let cmd = src.join("cmd/tomljson");
    let out = build(&[path_str(&cmd), "-o", path_str(&image), "--toolchain", "go"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = run_with_stdin(
        podman
            .cmd()
            .args(["run", "-i", "--rm", "--network", "none", "tomljson:latest"]),
        b"[server]\nport = 8080\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["server"]["port"], 8080);

    // Every command of the module in one image, as `go build ./cmd/...` builds them:
    // the first by name is the entrypoint (none is named like the module, go-toml), the
    // others beside it; each does its job.
    let all = dir.path().join("all.tar");
    let pattern = src.join("cmd/...");
    let out = build(&[
        path_str(&pattern),
        "-o",
        path_str(&all),
        "--toolchain",
        "go",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut commands: Vec<String> = std::fs::read_dir(src.join("cmd"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("main.go").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    commands.sort();
    assert!(commands.len() >= 3, "{commands:?}");
    let tar = ImageTar::open(&all);
    let files: Vec<String> = tar.layer().iter().map(|e| e.path.clone()).collect();
    for c in &commands {
        assert!(
            files.contains(&format!("usr/local/bin/{c}")),
            "{c}: {files:?}"
        );
    }
    let entrypoint = tar.config()["config"]["Entrypoint"].clone();
    assert_eq!(
        entrypoint,
        serde_json::json!([format!("/usr/local/bin/{}", commands[0])])
    );
    podman.load(&all);
    let tag = format!("{}:latest", commands[0]);
    let out = run_with_stdin(
        podman.cmd().args([
            "run",
            "-i",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "/usr/local/bin/tomljson",
            &tag,
        ]),
        b"[server]\nport = 8081\n",
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["server"]["port"], 8081);
    if commands[0] == "jsontoml" {
        let out = run_with_stdin(
            podman
                .cmd()
                .args(["run", "-i", "--rm", "--network", "none", &tag]),
            b"{\"server\": {\"port\": 8082}}",
        );
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_has(&out.stdout, &["[server]", "port = 8082"]);
    }
}

#[test]
fn cgo_program_links_zlib_statically() {
    let dir = tempdir();
    let image = dir.path().join("cgozlib.tar");
    let src = fixture("go/cgozlib");
    let extra = [
        "--toolchain",
        "go",
        "--apk",
        "zlib-dev",
        "--apk",
        "zlib-static",
    ];
    let Some(out) = build_with_tools(&src, &image, &extra) else {
        return;
    };
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["cgo: ", "imports \"C\"", "linked statically"],
    );
    let Some(podman) = podman_with(&image) else {
        return;
    };
    let out = run_with_stdin(
        podman
            .cmd()
            .args(["run", "-i", "--rm", "--network", "none", "cgozlib:latest"]),
        b"hello hello hello hello\n",
    );
    assert_eq!(
        out.stdout, "zlib 1.2.13: 24 bytes -> 17 bytes, crc32 0b598800\n",
        "{}",
        out.stderr
    );
}

#[test]
fn cgo_is_refused_where_it_would_ship_a_stub() {
    // The alpine toolchain has no [cgo] table: a build with CGO_ENABLED=0 would compile
    // whatever pure-Go fallback the package has. It is refused before anything runs.
    let dir = tempdir();
    let image = dir.path().join("cgo.tar");
    let src = fixture("go/cgozlib");
    let out = build(&[
        path_str(&src),
        "-o",
        path_str(&image),
        "--toolchain",
        "alpine",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["main.go` imports \"C\" (cgo)", "--toolchain go"],
    );
    assert!(!image.exists());
}

#[test]
fn cpp_with_c_and_assembly_compiles_directly() {
    // No build system: the directory's C++, C and assembly files are compiled together.
    let dir = tempdir();
    let image = dir.path().join("mixed.tar");
    let src = fixture("mixed");
    let out = build(&[path_str(&src), "-o", path_str(&image), "--toolchain", "zig"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let Some(podman) = podman_with(&image) else {
        return;
    };
    // 'a' + 'b' + 'c' + 'd' = 394, summed by C; 1 + 2 + 3 by assembly.
    assert_eq!(
        podman.run_image("mixed:latest", &["ab", "cd"]),
        "c++ 2 words, asm 6, c 394\n"
    );
}

#[test]
fn a_directory_of_several_programs_is_refused_with_their_files() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "two");
    std::fs::remove_file(project.join("Makefile")).unwrap();
    let image = dir.path().join("two.tar");
    let out = build(&[path_str(&project), "-o", path_str(&image)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["holds several programs", "ping.c`", "pong.c`", "--exclude"],
    );
    let out = build(&[
        path_str(&project),
        "-o",
        path_str(&image),
        "--exclude",
        "ping.c",
        "--toolchain",
        "zig",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn hints_name_packages_the_repository_has_and_generated_headers() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "needs-zlib");
    let image = dir.path().join("crc.tar");
    let mut args = vec!["--toolchain", "zig"];
    let Some(out) = build_with_tools(&project, &image, &args) else {
        return;
    };
    assert_eq!(out.code, 1, "{}", out.stderr);
    // zig resolves libraries before compiling: the library is what it misses first.
    assert_has(
        &out.stderr,
        &["`libz.a` was not found", "(--apk zlib-static)"],
    );
    // A header no package of the repository is named for: no made-up --apk.
    std::fs::write(
        project.join("main.c"),
        "#include <curl/curl.h>\nint main(void) { return 0; }\n",
    )
    .unwrap();
    std::fs::write(
        project.join("Makefile"),
        "crc: main.c\n\t$(CC) -o crc main.c\n",
    )
    .unwrap();
    let out = build_with_tools(&project, &image, &args).unwrap();
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["no package `curl-dev`", "contents?file=curl.h"],
    );
    assert!(!out.stderr.contains("--apk curl-dev"), "{}", out.stderr);
    // With the package: it builds.
    args.extend(["--apk", "zlib-dev", "--apk", "zlib-static"]);
    for f in ["main.c", "Makefile"] {
        std::fs::copy(fixture("projects/needs-zlib").join(f), project.join(f)).unwrap();
    }
    build_project(&project, &image, &args[2..]);

    // A project's file compiled alone misses the header its build generates.
    let Some(hello) = debian_source("hello") else {
        return;
    };
    let out = build(&[
        path_str(&hello.join("src/hello.c")),
        "-o",
        path_str(&dir.path().join("h.tar")),
        "--toolchain",
        "zig",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_has(
        &out.stderr,
        &["`config.h` is generated by the project's own build"],
    );
}

#[test]
fn the_kept_copy_rebuilds_only_what_changed() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "two");
    let out_tar = dir.path().join("pong.tar");
    let args = ["--artifact", "bin/pong", "--tag", "kept"];
    if build_project(&project, &out_tar, &args).is_none() {
        return;
    }
    // An edited source is copied again and rebuilt; the other program is not.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(
        project.join("pong.c"),
        "#include <stdio.h>\nint main(void) { puts(\"pong again\"); return 0; }\n",
    )
    .unwrap();
    build_project(&project, &out_tar, &args);
    let log = log_of("pong");
    assert!(log.contains("pong.c") && !log.contains("ping.c"), "{log}");
    let Some(podman) = podman_with(&out_tar) else {
        return;
    };
    assert_eq!(podman.run_image("kept:latest", &[]), "pong again\n");
}

#[test]
fn pkg_config_finds_apk_libraries_statically() {
    let dir = tempdir();
    let project = fixture_project(dir.path(), "plain");
    let out_tar = dir.path().join("greet.tar");
    let run = "command -v pkg-config; pkg-config --libs zlib; mkdir -p out && \
               $CC $CFLAGS -o out/greet main.c $LDFLAGS $(pkg-config --libs zlib)";
    // No build system, so no build-system packages: pkgconf is asked for like a library.
    let extra = [
        "--apk",
        "pkgconf",
        "--apk",
        "zlib-dev",
        "--apk",
        "zlib-static",
        "--run",
        run,
        "--tag",
        "pc",
    ];
    if build_project(&project, &out_tar, &extra).is_none() {
        return;
    }
    // The wrapper first on PATH, and the library found in the rootfs's pkgconfig dir.
    assert_has(&log_of("plain"), &["/scratchpack/bin/pkg-config\n", "-lz"]);
}

#[test]
fn project_steps_show_progress_on_a_terminal() {
    let Some(script) = crate::support::tool("script") else {
        return;
    };
    let Some(repo) = tools_repo() else { return };
    let dir = tempdir();
    let project = fixture_project(dir.path(), "two");
    let out_tar = dir.path().join("p.tar");
    let mut cmd = vec![
        env!("CARGO_BIN_EXE_scratchpack").to_string(),
        path_str(&project).into(),
        "-o".into(),
        path_str(&out_tar).into(),
        "--toolchain".into(),
        "zig".into(),
        "--artifact".into(),
        "bin/ping".into(),
    ];
    cmd.extend(tools_flags(&repo));
    // `script` runs the command on a pseudo-terminal.
    let out = crate::support::run(
        std::process::Command::new(script)
            .args(["-qec", &cmd.join(" "), "/dev/null"])
            .env("SCRATCHPACK_CACHE_DIR", shared_cache())
            .env("SCRATCHPACK_ALPINE_MIRROR", crate::support::shared_mirror())
            .env("NO_COLOR", "1"),
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_has(
        &out.stdout,
        &[
            "building the make project",
            "[1/1] make: make -j",
            "[1/1] make done in ",
        ],
    );
}
