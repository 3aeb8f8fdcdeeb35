//! The warnings of `inspect` (kind `may-fail`: the image starts, then the program fails
//! on something the image lacks): a CA bundle where the program's TLS library looks, time
//! zones, the temporary directory, the user's home. For each, images made by scratchpack
//! and by other tools (`podman build` of a `FROM scratch` Containerfile, `skopeo copy`)
//! are run in podman to show the real failure, `inspect` names it, and the fixed image
//! works and passes clean.

use std::path::{Path, PathBuf};

use crate::require;
use crate::start::{podman_image, start_findings};
use crate::support::clients::{Client, Podman};
use crate::support::{assert_has, path_str, run, scratchpack, tempdir};

/// `inspect --json IMAGE`: the exit code and the checks of the `may-fail` findings (each
/// also asserted to carry its fix and the `pass` that warnings have without `--strict`).
fn may_fail(image: &Path) -> (i32, Vec<String>) {
    let r = scratchpack(&["inspect", "--json", path_str(image)]);
    let checks = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "may-fail")
        .map(|f| {
            assert_eq!(f["pass"], true, "{f}");
            assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()), "{f}");
            f["check"].as_str().unwrap().to_string()
        })
        .collect();
    (r.code, checks)
}

/// An HTTPS server on 127.0.0.1 (python3's http.server) whose certificate a test CA
/// signed; stopped when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
    /// The test CA's certificate (PEM).
    ca: PathBuf,
}

impl TlsServer {
    /// Makes the test CA (`DIR/ca.pem`) and a certificate for 127.0.0.1, and serves `dir`.
    fn with_test_ca(dir: &Path) -> TlsServer {
        let ssl = |args: &[&str]| {
            let r = run(std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir));
            assert_eq!(r.code, 0, "openssl {args:?}: {}", r.stderr);
        };
        let new_key = ["-newkey", "rsa:2048", "-nodes", "-keyout"];
        ssl(&[
            &["req", "-x509"][..],
            &new_key,
            &["ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=scratchpack test CA"],
        ]
        .concat());
        ssl(&[
            &["req"][..],
            &new_key,
            &["srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1"],
        ]
        .concat());
        std::fs::write(
            dir.join("ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        ssl(&[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ]);
        use std::io::BufRead;
        let script = "import http.server, ssl, sys\n\
            s = http.server.HTTPServer(('127.0.0.1', 0), http.server.SimpleHTTPRequestHandler)\n\
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
            c.load_cert_chain(sys.argv[1], sys.argv[2])\n\
            s.socket = c.wrap_socket(s.socket, server_side=True)\n\
            print(s.server_address[1], flush=True)\n\
            s.serve_forever()\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", script, "srv.pem", "srv.key"])
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        TlsServer {
            port: line.trim().parse().unwrap(),
            child,
            ca: dir.join("ca.pem"),
        }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Go program that fetches over HTTPS and loads a time zone, in an image without a CA
/// bundle or zoneinfo: `inspect` warns about both (exit 0; 1 with --strict), and podman
/// shows the real failures ("x509: certificate signed by unknown authority" against a TLS
/// server on loopback, "unknown time zone"); with `--ca-certificates` and zoneinfo
/// added, the same program works and the image passes clean.
#[test]
fn a_program_that_needs_ca_certificates_and_zoneinfo_is_warned_about() {
    require!("go", "openssl", "python3");
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let server = TlsServer::with_test_ca(d);
    let url = format!("https://127.0.0.1:{}/", server.port);

    let source = crate::support::fixture("go/needs/main.go");
    let image = |tag: &str, extra: &[&str]| {
        let out = d.join(format!("{tag}.tar"));
        let mut args = vec![
            path_str(&source),
            "-o",
            path_str(&out),
            "--toolchain",
            "go",
            "--name",
            "needs",
            "--tag",
        ];
        let reference = format!("needs:{tag}");
        args.push(&reference);
        args.extend_from_slice(extra);
        let r = crate::support::build(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        podman.load(&out);
        (out, r.stderr)
    };
    let run_in_podman = |tag: &str, args: &[&str]| {
        let reference = format!("needs:{tag}");
        let mut all = vec!["run", "--rm", "--network", "host", reference.as_str()];
        all.extend_from_slice(args);
        podman.run(&all)
    };

    let (bare, stderr) = image("bare", &[]);
    assert_has(
        &stderr,
        &["warning:", "verifies TLS certificates", "unknown time zone"],
    );
    assert_eq!(
        may_fail(&bare),
        (0, vec!["ca-certificates".into(), "zoneinfo".into()])
    );
    scratchpack(&["inspect", "--strict", path_str(&bare)]).expect_code(1);
    let r = run_in_podman("bare", &["get", &url]);
    assert_has(
        &r.stdout,
        &["x509: certificate signed by unknown authority"],
    );
    let r = run_in_podman("bare", &["tz", "Europe/Paris"]);
    assert_has(&r.stdout, &["unknown time zone Europe/Paris"]);

    if !Path::new("/usr/share/zoneinfo/Europe/Paris").is_file() {
        eprintln!("SKIPPED: the fixed image needs the host's zoneinfo");
        return;
    }
    let ca = format!("--ca-certificates={}", server.ca.display());
    let (fixed, stderr) = image(
        "fixed",
        &[&ca, "--add", "/usr/share/zoneinfo:/usr/share/zoneinfo"],
    );
    assert!(!stderr.contains("warning:"), "{stderr}");
    assert_eq!(start_findings(&fixed), (0, vec![]));
    let r = scratchpack(&["inspect", "--strict", path_str(&fixed)]).expect_code(0);
    assert!(!r.stdout.contains("may-fail"), "{}", r.stdout);
    let r = run_in_podman("fixed", &["get", &url]);
    assert_eq!(r.stdout.trim(), "200 OK", "{}", r.stderr);
    let r = run_in_podman("fixed", &["tz", "Europe/Paris"]);
    assert_eq!(r.stdout.trim(), "13:00 CET", "{}", r.stderr);
}

/// A Go program that makes a temporary file, in an image without /tmp (`--bare`):
/// warned about, and failing for real in podman; with /tmp (the default image) it works.
#[test]
fn a_program_using_the_temp_directory_without_tmp_is_warned_about() {
    require!("go");
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let source = crate::support::fixture("go/needs/main.go");
    for (tag, extra, warned) in [("bare", &["--bare"][..], true), ("full", &[][..], false)] {
        let out = dir.path().join(format!("{tag}.tar"));
        let reference = format!("tmp:{tag}");
        let mut args = vec![path_str(&source), "-o", path_str(&out), "--toolchain", "go"];
        args.extend(["--name", "needs", "--tag", &reference]);
        args.extend_from_slice(extra);
        let r = crate::support::build(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let all = scratchpack(&["inspect", "--json", path_str(&out)]).json();
        let tmp = all.as_array().unwrap().iter().find(|f| f["check"] == "tmp");
        assert_eq!(tmp.is_some(), warned, "{tag}: {all}");
        if let Some(tmp) = tmp {
            assert_has(
                tmp["error"].as_str().unwrap(),
                &["Go's os.TempDir", "`/tmp`"],
            );
        }
        podman.load(&out);
        let r = podman.run(&["run", "--rm", "--network", "none", &reference, "tmp", "x"]);
        if warned {
            assert_has(&r.stdout, &["/tmp/x", "no such file or directory"]);
        } else {
            assert_eq!(r.stdout.trim(), "temporary file made", "{}", r.stderr);
        }
    }
}

/// The Go program in images `podman build` makes `FROM scratch` (and skopeo copies to an
/// OCI archive), run as a user the image's passwd defines: without a CA bundle, zoneinfo,
/// /tmp or the user's home, each use fails in podman and `inspect` warns about all four;
/// with them, it works and the image passes clean.
#[test]
fn podman_built_images_lacking_what_the_program_reads_are_warned_about() {
    require!("go", "openssl", "python3", "skopeo");
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let server = TlsServer::with_test_ca(dir.path());
    let url = format!("https://127.0.0.1:{}/", server.port);
    let ctx = dir.path().join("context");
    std::fs::create_dir(&ctx).unwrap();
    // The program as a Dockerfile's Go builder stage makes it.
    let r = run(std::process::Command::new("go")
        .args(["build", "-trimpath", "-o"])
        .arg(ctx.join("needs"))
        .arg(crate::support::fixture("go/needs/main.go"))
        .env("CGO_ENABLED", "0"));
    assert_eq!(r.code, 0, "go build: {}", r.stderr);
    std::fs::write(
        ctx.join("passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\napp:x:1000:1000::/home/app:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(ctx.join("group"), "root:x:0:\napp:x:1000:\n").unwrap();
    let common = "FROM scratch\nCOPY needs /needs\nCOPY passwd /etc/passwd\n\
                  COPY group /etc/group\nUSER app\nENTRYPOINT [\"/needs\"]\n";
    let copied = |image: &Path| {
        let out = image.with_extension("oci.tar");
        let r = run(std::process::Command::new("skopeo").args([
            "copy",
            &format!("docker-archive:{}", path_str(image)),
            &format!("oci-archive:{}", path_str(&out)),
        ]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        out
    };
    let run_in_podman = |tag: &str, args: &[&str]| {
        let reference = format!("localhost/{tag}");
        let mut all = vec!["run", "--rm", "--network", "host", reference.as_str()];
        all.extend_from_slice(args);
        podman.run(&all).stdout
    };

    let lacking = podman_image(&podman, &ctx, "lacking", common, &[]);
    let all = ["ca-certificates", "zoneinfo", "tmp", "home"].map(String::from);
    assert_eq!(may_fail(&lacking), (0, all.to_vec()));
    assert_eq!(may_fail(&copied(&lacking)), (0, all.to_vec()));
    scratchpack(&["inspect", "--strict", path_str(&lacking)]).expect_code(1);
    let failures = [
        (
            &["get", &url][..],
            "x509: certificate signed by unknown authority",
        ),
        (&["tz", "Europe/Paris"], "unknown time zone Europe/Paris"),
        (&["tmp", "x"], "/tmp/x"),
        (
            &["home", "x"],
            "open /home/app/x: no such file or directory",
        ),
    ];
    for (args, error) in failures {
        assert_has(&run_in_podman("lacking", args), &[error]);
    }

    if !Path::new("/usr/share/zoneinfo/Europe/Paris").is_file() {
        eprintln!("SKIPPED: the fixed image needs the host's zoneinfo");
        return;
    }
    std::fs::copy(&server.ca, ctx.join("ca.pem")).unwrap();
    std::fs::create_dir_all(ctx.join("zoneinfo/Europe")).unwrap();
    std::fs::copy(
        "/usr/share/zoneinfo/Europe/Paris",
        ctx.join("zoneinfo/Europe/Paris"),
    )
    .unwrap();
    for empty in ["tmp", "home"] {
        std::fs::create_dir(ctx.join(empty)).unwrap();
        std::fs::write(ctx.join(empty).join(".keep"), "").unwrap();
    }
    let fixed = podman_image(
        &podman,
        &ctx,
        "fixed",
        &format!(
            "{common}COPY ca.pem /etc/ssl/certs/ca-certificates.crt\n\
             COPY zoneinfo /usr/share/zoneinfo\nCOPY --chown=1000:1000 tmp /tmp\n\
             COPY --chown=1000:1000 home /home/app\n"
        ),
        &[],
    );
    assert_eq!(may_fail(&fixed), (0, vec![]));
    assert_eq!(may_fail(&copied(&fixed)), (0, vec![]));
    scratchpack(&["inspect", "--strict", path_str(&fixed)]).expect_code(0);
    let works = [
        (&["get", &url][..], "200 OK"),
        (&["tz", "Europe/Paris"], "13:00 CET"),
        (&["tmp", "x"], "temporary file made"),
        (&["home", "x"], "written in /home/app"),
    ];
    for (args, output) in works {
        assert_eq!(run_in_podman("fixed", args).trim(), output, "{args:?}");
    }
}

/// C programs on OpenSSL, mbedTLS, wolfSSL and BearSSL (Debian's static libraries), each reading
/// CA certificates where its library looks (OpenSSL: OPENSSLDIR, /usr/lib/ssl on Debian;
/// wolfSSL: its system directories; mbedTLS, BearSSL: the file the program names), packaged
/// without and with `--ca-certificates`: the first is warned about, naming the library
/// and the path, and fails in podman against the loopback server; the second verifies.
#[test]
fn c_tls_libraries_are_judged_by_where_they_look_for_certificates() {
    require!("gcc", "openssl", "python3");
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let server = TlsServer::with_test_ca(d);
    let port = server.port.to_string();
    let ca = format!("--ca-certificates={}", server.ca.display());
    let libraries = [
        (
            "openssl",
            &["-lssl", "-lcrypto"][..],
            "OpenSSL; it names /usr/lib/ssl/cert.pem",
            "TLS failed: certificate verify failed",
        ),
        (
            "mbedtls",
            &["-lmbedtls", "-lmbedx509", "-lmbedcrypto"],
            "mbedTLS; it names /etc/ssl/certs/ca-certificates.crt",
            "cannot read /etc/ssl/certs/ca-certificates.crt",
        ),
        (
            "wolfssl",
            &["-lwolfssl", "-lm"],
            "wolfSSL; it names /etc/ssl/certs",
            "no system CA certificates",
        ),
        (
            // BearSSL's code carries no name of its own: the path is the evidence.
            "bearssl",
            &["-lbearssl"],
            "it names the CA bundle path /etc/ssl/certs/ca-certificates.crt",
            "cannot read /etc/ssl/certs/ca-certificates.crt",
        ),
    ];
    for (name, libs, evidence, failure) in libraries {
        let bin = d.join(name);
        let r = run(std::process::Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(crate::support::fixture(&format!("c/tls/{name}.c")))
            .args(libs));
        if r.code != 0 && !crate::support::in_ci() {
            eprintln!("SKIPPED: {name}: its static library is not installed (.ci/run installs it)");
            continue;
        }
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        for (tag, extra) in [("bare", None), ("fixed", Some(ca.as_str()))] {
            let out = d.join(format!("{name}-{tag}.tar"));
            let reference = format!("tls-{name}:{tag}");
            let mut args = vec!["package", path_str(&bin), "-o", path_str(&out)];
            args.extend(["--tag", &reference]);
            args.extend(extra);
            let r = scratchpack(&args);
            assert_eq!(r.code, 0, "{name}: {}", r.stderr);
            let all = scratchpack(&["inspect", "--json", path_str(&out)]).json();
            let warned = all
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["check"] == "ca-certificates")
                .cloned();
            podman.load(&out);
            let ran = podman
                .run(&[
                    "run",
                    "--rm",
                    "--network",
                    "host",
                    &reference,
                    "127.0.0.1",
                    &port,
                ])
                .stdout;
            match extra {
                None => {
                    let warned = warned.unwrap_or_else(|| panic!("{name}: {all}"));
                    assert_has(warned["error"].as_str().unwrap(), &[evidence]);
                    assert_has(&ran, &[failure]);
                }
                Some(_) => {
                    assert_eq!(warned, None, "{name}");
                    assert_eq!(ran.trim(), "verified", "{name}");
                }
            }
        }
    }
}

/// A Rust program loading the system's CA certificates as rustls programs do
/// (rustls-native-certs; fixtures/rust/native-certs, built static with cargo): warned
/// about without a bundle (it finds none in podman), not with `--ca-certificates`.
#[test]
fn a_rustls_program_is_judged_by_where_it_looks_for_certificates() {
    require!("cargo", "openssl");
    let Some(podman) = Podman::new() else {
        return;
    };
    let dir = tempdir();
    let d = dir.path();
    let target = "x86_64-unknown-linux-gnu";
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("SKIPPED: the fixture is built for x86_64");
        return;
    }
    let r = run(std::process::Command::new("cargo")
        .args([
            "build",
            "--release",
            "--quiet",
            "--target",
            target,
            "--manifest-path",
        ])
        .arg(crate::support::fixture("rust/native-certs/Cargo.toml"))
        .env("CARGO_TARGET_DIR", d.join("target"))
        .env("RUSTFLAGS", "-C target-feature=+crt-static"));
    assert_eq!(r.code, 0, "cargo build: {}", r.stderr);
    let program = d.join("target").join(target).join("release/native-certs");
    let ca = d.join("ca.pem");
    let r = run(std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(d.join("ca.key"))
        .arg("-out")
        .arg(&ca)
        .args(["-days", "2", "-subj", "/CN=scratchpack test CA"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let with_ca = format!("--ca-certificates={}", ca.display());
    for (tag, extra, found) in [
        ("bare", None, "0 certificates"),
        ("fixed", Some(with_ca.as_str()), "1 certificates"),
    ] {
        let out = d.join(format!("{tag}.tar"));
        let reference = format!("native-certs:{tag}");
        let mut args = vec![
            "package",
            path_str(&program),
            "-o",
            path_str(&out),
            "--tag",
            &reference,
        ];
        args.extend(extra);
        let r = scratchpack(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let warned = may_fail(&out);
        match extra {
            None => {
                assert_eq!(warned, (0, vec!["ca-certificates".to_string()]));
                assert_has(&r.stderr, &["rustls", "/etc/ssl/certs/ca-certificates.crt"]);
            }
            Some(_) => assert_eq!(warned, (0, vec![])),
        }
        podman.load(&out);
        assert_eq!(
            podman.run_image(&reference, &[]).trim(),
            format!("{found}, 0 errors")
        );
    }
}
