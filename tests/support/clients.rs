//! The real image clients, each isolated in a temporary directory: podman with its own
//! storage (vfs, runc, the settings ENVIRONMENT.md lists for this machine), and a dockerd
//! started for the test in its own data root and stopped (SIGTERM) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Run, TempDir, run, tempdir, tool};

const CONTAINERS_CONF: &str = "[containers]\n\
default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n\
[engine]\n\
runtime = \"runc\"\n\
cgroup_manager = \"cgroupfs\"\n\
events_logger = \"file\"\n";

/// What the tests do with podman and docker alike.
pub trait Client {
    fn run(&self, args: &[&str]) -> Run;

    /// Loads an image archive; returns what the client printed.
    fn load(&self, archive: &Path) -> String {
        let path = archive.to_str().expect("UTF-8 path");
        self.run(&["load", "-i", path]).expect_code(0).stdout
    }

    /// Runs `image` (without network) with `args`; returns its stdout.
    fn run_image(&self, image: &str, args: &[&str]) -> String {
        let mut cmd = vec!["run", "--rm", "--network", "none", image];
        cmd.extend_from_slice(args);
        self.run(&cmd).expect_code(0).stdout
    }
}

/// podman with private storage.
pub struct Podman {
    dir: TempDir,
    program: PathBuf,
}

impl Podman {
    pub fn new() -> Option<Podman> {
        let program = tool("podman")?;
        tool("runc")?;
        let dir = tempdir();
        std::fs::write(dir.path().join("containers.conf"), CONTAINERS_CONF)
            .expect("containers.conf");
        Some(Podman { dir, program })
    }

    /// Pulls `platform`'s image out of the archive `archive` (`oci-archive:`); returns
    /// its id.
    pub fn pull_platform(&self, archive: &Path, platform: &str) -> String {
        let source = format!("oci-archive:{}", archive.display());
        let pulled = self.run(&["pull", "-q", "--platform", platform, &source]);
        pulled.expect_code(0).stdout.trim().to_string()
    }

    pub fn cmd(&self) -> Command {
        let d = self.dir.path();
        let mut cmd = Command::new(&self.program);
        cmd.env("CONTAINERS_CONF", d.join("containers.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("run"))
            // Its own engine state too: instances sharing /run/libpod race ("creating
            // runtime status file: open /run/libpod/alive").
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .args(["--storage-driver", "vfs"]);
        cmd
    }
}

impl Client for Podman {
    fn run(&self, args: &[&str]) -> Run {
        run(self.cmd().args(args))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // vfs layers are plain directories, but podman may hold mounts of its own.
        let _ = self
            .cmd()
            .args(["system", "reset", "--force"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A dockerd of the test's own.
pub struct Dockerd {
    child: Child,
    dir: TempDir,
    docker: PathBuf,
}

impl Dockerd {
    pub fn start() -> Option<Dockerd> {
        let dockerd = tool("dockerd")?;
        let docker = tool("docker")?;
        let dir = tempdir();
        let d = dir.path();
        let log = std::fs::File::create(d.join("dockerd.log")).expect("dockerd log");
        let child = Command::new(dockerd)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--storage-driver=vfs",
            ])
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let daemon = Dockerd { child, dir, docker };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if daemon.run(&["version"]).code == 0 {
                return Some(daemon);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let log =
            std::fs::read_to_string(daemon.dir.path().join("dockerd.log")).unwrap_or_default();
        panic!("dockerd did not start within 60 s:\n{log}");
    }
}

impl Client for Dockerd {
    fn run(&self, args: &[&str]) -> Run {
        let sock = format!("unix://{}", self.dir.path().join("docker.sock").display());
        run(Command::new(&self.docker).arg("-H").arg(sock).args(args))
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `skopeo inspect TRANSPORT:PATH` (and `--config`, `--raw`) as JSON.
pub fn skopeo_inspect(transport_ref: &str, extra: &[&str]) -> Option<serde_json::Value> {
    let skopeo = tool("skopeo")?;
    let out = super::check(
        Command::new(skopeo)
            .arg("inspect")
            .args(extra)
            .arg(transport_ref),
    );
    Some(serde_json::from_str(&out).expect("skopeo JSON"))
}

/// Extracts an image tar into a directory (an OCI layout for umoci and skopeo `oci:`).
pub fn untar(archive: &Path, into: &Path) {
    std::fs::create_dir_all(into).expect("mkdir");
    let file = std::fs::File::open(archive).expect("open archive");
    tar::Archive::new(file).unpack(into).expect("unpack");
}
