//! The command line, as clap types only. Nothing here is interpreted: `plan` turns these
//! values (and the environment) into validated plans.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The host's CA bundle on Debian, Ubuntu and Alpine.
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Debug, Parser)]
#[command(
    name = "scratchpack",
    version,
    about = "Turn static binaries into the smallest possible FROM-scratch container images, \
             and prove that what ships is statically linked.",
    after_help = "Exit status: 0 success, 1 the input is at fault (a dynamic binary, a \
                  compile error), 2 usage, environment or internal error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Print nothing on stderr but warnings and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Also say what is said once per cache (why a toolchain was skipped)
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile C or Go sources statically in a sandboxed Alpine rootfs and package the
    /// binary into a FROM-scratch image (also: `scratchpack SOURCE... -o OUT`)
    #[command(
        long_about = "Compile C or Go sources statically and package the binary into a \
                      FROM-scratch image.\n\nThe compiler runs inside an Alpine Linux root \
                      filesystem, isolated in new user, mount, pid, ipc, uts and network \
                      namespaces, without root. The binary is inspected and refused if it is \
                      not static; then it is packaged exactly as `scratchpack package` does, \
                      and every image option of `package` applies. `scratchpack SOURCE... -o \
                      OUT` is the same command."
    )]
    Build(BuildArgs),

    /// Check that binaries, directories or images hold only statically linked executables
    #[command(
        long_about = "Check that binaries, directories or images hold only statically linked \
                      executables.\n\nPATH may be an ELF file, a directory (walked \
                      recursively), an image archive written by docker save, podman save, \
                      skopeo or scratchpack, or an OCI layout directory. Exit status: 0 if \
                      every ELF file is static or static-pie, 1 if any is not, 2 if a PATH \
                      cannot be read or is neither ELF nor an image."
    )]
    Inspect(InspectArgs),

    /// Package a static binary into a FROM-scratch image
    #[command(
        long_about = "Package a static binary into a FROM-scratch image.\n\nThe binary is \
                      inspected first and refused if it is not static. The image holds the \
                      binary at /usr/local/bin/NAME (its entry point), /etc/passwd and \
                      /etc/group (root, nonroot 65532, nobody), /tmp, /root and \
                      /home/nonroot, and runs as nonroot. The output is byte-for-byte \
                      reproducible: timestamps come from SOURCE_DATE_EPOCH (default 0)."
    )]
    Package(PackageArgs),

    /// Push an image archive or OCI layout directory to a registry, byte for byte
    #[command(
        long_about = "Push an image to a registry, byte for byte: the digest printed is the \
                      digest the registry serves.\n\nIMAGE is an archive written by \
                      scratchpack, `podman save --format oci-archive` or `skopeo copy \
                      oci-archive:`, or an OCI layout directory; a single image or a \
                      multi-platform index; or a docker-archive (docker save), pushed under a \
                      manifest made for it. Blobs the registry has are skipped. Credentials \
                      come from docker's config.json ($DOCKER_CONFIG, credHelpers, credsStore, \
                      auths), then REGISTRY_AUTH_FILE, then podman's auth.json. Prints \
                      REF@sha256:... on stdout."
    )]
    Push(PushArgs),

    /// Run an image's program without a daemon (CI smoke tests); exits with its status
    #[command(
        long_about = "Run an image's program without a daemon, for CI smoke tests: `scratchpack \
                      run app.tar --version`.\n\nIMAGE is an archive written by any tool \
                      (scratchpack, docker save, podman save, skopeo) or an OCI layout \
                      directory. Its root filesystem is unpacked into a private directory, \
                      its config applied (Entrypoint, Cmd, Env, User, WorkingDir) and the \
                      program run in scratchpack's sandbox: rootless, no network unless \
                      --network host, a fresh /tmp. ARGs replace the image's Cmd. The \
                      program reads this stdin and writes to this stdout and stderr; the \
                      exit status is the program's."
    )]
    Run(RunArgs),

    /// Print the SPDX SBOM of an image (what went into it), as JSON
    #[command(
        long_about = "Print the SPDX 2.3 SBOM scratchpack stored beside an image: the binary, \
                      the toolchain, the Alpine rootfs and its packages, the Go modules and \
                      the source files. It is an OCI referrer of the image's manifest, kept \
                      in the archive and pushed with it. With several platforms, the one of \
                      this machine unless --platform says."
    )]
    Sbom(DescribeArgs),

    /// Print the SLSA provenance of an image (how it was built), as in-toto JSON
    #[command(
        long_about = "Print the in-toto statement with the SLSA provenance v1 scratchpack \
                      stored beside an image: the command, the platform, the toolchain and \
                      rootfs by digest, the packages, modules and sources. With several \
                      platforms, the one of this machine unless --platform says."
    )]
    Provenance(DescribeArgs),

    /// List the toolchains and whether each is ready on this machine
    Toolchains(ToolchainsArgs),

    /// Show or remove the cached root filesystems and toolchain caches
    #[command(subcommand)]
    Cache(CacheCommand),
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List what is cached, with sizes
    Ls {
        /// Print a JSON array on stdout
        #[arg(long)]
        json: bool,
    },
    /// Remove cached entries (all of them unless kinds are named); do not run it while
    /// builds are running
    Prune {
        /// What to remove
        #[arg(value_enum, value_name = "KIND")]
        kinds: Vec<CacheKind>,
    },
}

/// Kinds of cache entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheKind {
    /// Extracted base root filesystems
    Rootfs,
    /// Root filesystems with Alpine packages installed
    Prepared,
    /// Toolchain caches (zig's, Go's)
    Tools,
    /// Toolchains scratchpack fetched (zig's wheel, Go's archive) and the remembered
    /// toolchain search
    Toolchains,
    /// Kept copies of projects (their build systems' incremental state)
    Projects,
    /// Kept builds: the build cache (binaries reused when nothing changed)
    Builds,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// ELF files, directories, image archives or OCI layout directories
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Print a JSON array on stdout (format documented in README.md)
    #[arg(long)]
    pub json: bool,

    /// Fail on warnings too (glibc NSS, iconv or dlopen use in a static binary)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The statically linked executable to package; several (one per platform, each
    /// platform read from its ELF header) make a multi-platform image
    #[arg(required = true, value_name = "BINARY")]
    pub binaries: Vec<PathBuf>,

    /// The platform of each BINARY, in order (comma-separated or repeated): each binary
    /// must be for its platform, which also names an ARM variant its file cannot say
    /// [default: read from each ELF header]
    #[arg(long, value_name = "PLATFORM", value_delimiter = ',')]
    pub platform: Vec<String>,

    #[command(flatten)]
    pub destination: Destination,

    #[command(flatten)]
    pub image: ImageArgs,

    /// Print a JSON summary (digest, size, tag, platform) on stdout
    #[arg(long)]
    pub json: bool,

    /// Refuse a binary that has warnings (glibc NSS, iconv or dlopen use)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// The image: an archive or an OCI layout directory
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// The platform whose image is described, of a multi-platform image
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The image: an archive or an OCI layout directory
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// Arguments replacing the image's Cmd (after the Entrypoint)
    #[arg(
        value_name = "ARG",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    pub args: Vec<String>,

    /// Environment variable, over the image's (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Show a host file or directory at DST, read-write unless `:ro` (repeatable)
    #[arg(long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,

    /// User to run as: UID[:GID] or a name of the image's /etc/passwd [default: the image's]
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,

    /// Working directory [default: the image's]
    #[arg(short, long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// Program to run instead of the image's Entrypoint (ARGs follow it)
    #[arg(long, value_name = "PATH")]
    pub entrypoint: Option<String>,

    /// `none` (only a loopback) or `host` (this machine's network)
    #[arg(long, value_enum, default_value_t = NetworkArg::None)]
    pub network: NetworkArg,

    /// The platform's image of a multi-platform archive [default: this machine's]
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
}

/// Network of a `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    None,
    Host,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The image: an archive or an OCI layout directory
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,

    /// Where to push: [HOST[:PORT]/]NAME[:TAG] or NAME@sha256:..., as docker parses it
    /// (no host: Docker Hub)
    #[arg(value_name = "REF")]
    pub reference: String,

    #[command(flatten)]
    pub registry: RegistryArgs,

    /// Print a JSON summary (reference, digest, blobs uploaded, skipped, mounted) on stdout
    #[arg(long)]
    pub json: bool,
}

/// Where an image goes: a file, a registry or both; shared by `build` and `package`.
#[derive(Debug, Args)]
pub struct Destination {
    /// Where to write the image (optional with --push)
    #[arg(short, long, value_name = "OUT", required_unless_present = "push")]
    pub output: Option<PathBuf>,

    /// Also push the image to a registry: [HOST[:PORT]/]NAME[:TAG]; prints REF@sha256:...
    #[arg(long, value_name = "REF")]
    pub push: Option<String>,

    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// How registries are reached; shared by `push` and `--push`.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// Trust this CA certificate (PEM file) for the registry, besides the system's roots
    /// and certs.d (repeatable)
    #[arg(long = "ca-cert", value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,

    /// Allow plain HTTP, and HTTPS without verifying the certificate (loopback registries
    /// get plain HTTP without it)
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// C files, Go files, a project directory (configure, CMake, meson, make), a directory
    /// of C sources, or a Go module directory
    #[arg(required = true, value_name = "SOURCE")]
    pub sources: Vec<PathBuf>,

    #[command(flatten)]
    pub destination: Destination,

    /// Source language [default: from the file extensions (.c .S .s; .cc .cpp .cxx .C;
    /// .go), or go.mod]
    #[arg(long, value_enum, value_name = "LANG")]
    pub lang: Option<LangArg>,

    /// Toolchain: auto, a name from `scratchpack toolchains`, or a FILE.toml
    #[arg(long, value_name = "NAME|FILE", default_value = "auto")]
    pub toolchain: String,

    /// Platforms to build for, comma-separated or repeated (`linux/amd64,linux/arm64`,
    /// `linux/arm/v7`), or `all`; several make one multi-platform image [default: this
    /// machine's]
    #[arg(long, value_name = "PLATFORM", value_delimiter = ',')]
    pub platform: Vec<String>,

    /// Extra compiler flags, e.g. --cflags="-O2 -Wall" (C)
    #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
    pub cflags: Vec<String>,

    /// Extra linker flags (C), or -ldflags additions (Go)
    #[arg(long, value_name = "FLAGS", allow_hyphen_values = true)]
    pub ldflags: Vec<String>,

    /// Header search directory (C, repeatable)
    #[arg(short = 'I', value_name = "DIR")]
    pub include: Vec<PathBuf>,

    /// Preprocessor definition (C, repeatable)
    #[arg(short = 'D', value_name = "NAME[=VALUE]")]
    pub define: Vec<String>,

    /// Library to link statically (C, repeatable)
    #[arg(short = 'l', value_name = "LIB")]
    pub lib: Vec<String>,

    /// Keep symbols (the default strips the binary)
    #[arg(long)]
    pub no_strip: bool,

    /// Run the toolchain directly on the host: no rootfs, no namespaces, no isolation
    #[arg(long)]
    pub no_sandbox: bool,

    /// Neither reuse nor keep builds in the build cache [env: SCRATCHPACK_BUILD_CACHE=off]
    #[arg(long)]
    pub no_build_cache: bool,

    /// Registry repository to fetch builds from when the local build cache misses
    /// (REGISTRY/REPO) [env: SCRATCHPACK_CACHE_REPO]
    #[arg(long, value_name = "REF")]
    pub cache_from: Option<String>,

    /// Registry repository to push new builds to, for other runners (REGISTRY/REPO)
    /// [env: SCRATCHPACK_CACHE_REPO]
    #[arg(long, value_name = "REF")]
    pub cache_to: Option<String>,

    /// Alpine mirror (https://, http:// or file://) [env: SCRATCHPACK_ALPINE_MIRROR]
    #[arg(long, value_name = "URL")]
    pub alpine_mirror: Option<String>,

    /// Mirror of toolchain release archives (https://, http:// or file://), e.g. for Go
    /// [env: SCRATCHPACK_TOOLCHAIN_MIRROR]
    #[arg(long, value_name = "URL")]
    pub toolchain_mirror: Option<String>,

    /// Let Go download modules through this proxy (gives the compile network access)
    #[arg(long, value_name = "URL")]
    pub go_proxy: Option<String>,

    /// Alpine package to install into the rootfs first, e.g. zlib-static (repeatable)
    #[arg(long = "apk", value_name = "PKG")]
    pub apk: Vec<String>,

    /// Package repository for apk, replacing the rootfs's own (repeatable)
    /// [env: SCRATCHPACK_APK_REPOSITORIES]
    #[arg(long = "apk-repository", value_name = "URL")]
    pub apk_repository: Vec<String>,

    /// Accept unsigned packages (local test repositories)
    #[arg(long)]
    pub apk_allow_untrusted: bool,

    /// Never touch the network: use only what is cached (and file:// mirrors)
    #[arg(long)]
    pub offline: bool,

    /// Memory the build may use, all its processes together, e.g. 4G
    /// [default: half of this machine's memory]
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Time the build may take, e.g. 90s, 10m, 1h; 0 for no limit
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub timeout: String,

    /// Leave out files of a source directory matching GLOB (`*`, `?`, `**`), e.g.
    /// --exclude 'tests/**' (repeatable; direct compiles)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// How a directory is built: auto (its configure, CMakeLists.txt, meson.build or
    /// Makefile, else its C files compiled directly), a system from
    /// toolchains/build-systems.toml (autotools, autoreconf, cmake, meson, make), or
    /// direct
    #[arg(long, value_name = "SYSTEM", default_value = "auto")]
    pub build_system: String,

    /// Shell command that builds the project, replacing the detected steps, like a
    /// Dockerfile's RUN (repeatable, run in order)
    #[arg(long = "run", value_name = "CMD")]
    pub run: Vec<String>,

    /// Argument added to ./configure (repeatable)
    #[arg(long = "configure-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub configure_arg: Vec<String>,

    /// Target for make, or for cmake --build (repeatable)
    #[arg(long = "make-target", value_name = "TARGET")]
    pub make_target: Vec<String>,

    /// CMake or meson option, NAME=VALUE, given as -DNAME=VALUE (repeatable)
    #[arg(long = "cmake-define", value_name = "NAME=VALUE")]
    pub cmake_define: Vec<String>,

    /// The binary the project build writes, relative to the project directory
    /// (repeatable: all go into the image, the first is the entrypoint)
    /// [default: the one executable the build wrote, or the one named like the project]
    #[arg(long = "artifact", value_name = "PATH")]
    pub artifact: Vec<PathBuf>,

    #[command(flatten)]
    pub image: ImageArgs,

    /// Print a JSON summary on stdout
    #[arg(long)]
    pub json: bool,

    /// Refuse a binary that has warnings (glibc NSS, iconv or dlopen use)
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    C,
    /// C++
    Cpp,
    Go,
}

#[derive(Debug, Args)]
pub struct ToolchainsArgs {
    /// Print a JSON array on stdout
    #[arg(long)]
    pub json: bool,

    /// Alpine mirror to report [env: SCRATCHPACK_ALPINE_MIRROR]
    #[arg(long, value_name = "URL")]
    pub alpine_mirror: Option<String>,

    /// Toolchain archive mirror to report [env: SCRATCHPACK_TOOLCHAIN_MIRROR]
    #[arg(long, value_name = "URL")]
    pub toolchain_mirror: Option<String>,

    /// Report what a build with --offline could use
    #[arg(long)]
    pub offline: bool,
}

/// Subcommand names, for telling `scratchpack hello.c` from `scratchpack inspect`.
pub const SUBCOMMANDS: &[&str] = &[
    "build",
    "inspect",
    "package",
    "push",
    "run",
    "toolchains",
    "cache",
    "help",
];

/// `scratchpack SOURCE...` means `scratchpack build SOURCE...`: inserts `build` when the
/// first argument that is not a global option is not a subcommand.
pub fn with_default_command(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let first = args
        .iter()
        .enumerate()
        .skip(1)
        .find(|(_, a)| !matches!(a.to_str(), Some("-q" | "--quiet" | "-v" | "--verbose")));
    match first {
        Some((i, a)) => {
            let text = a.to_string_lossy();
            // A source looks like a path; anything else is left to clap (a typo of a
            // subcommand gets clap's message, not "source not found").
            let looks_like_source =
                text.contains('.') || text.contains('/') || std::path::Path::new(a).exists();
            // Options first (`scratchpack -o x.tar hello.c`): the build's, unless they are
            // the program's own or a subcommand follows.
            let build_option = text.starts_with('-')
                && !matches!(text.as_ref(), "-h" | "--help" | "-V" | "--version")
                && !args[i..]
                    .iter()
                    .any(|a| a.to_str().is_some_and(|a| SUBCOMMANDS.contains(&a)));
            if !build_option
                && (text.starts_with('-')
                    || SUBCOMMANDS.contains(&text.as_ref())
                    || !looks_like_source)
            {
                return args;
            }
            let mut out = args;
            out.insert(i, "build".into());
            out
        }
        None => args,
    }
}

/// Output format of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// One tar for docker load, podman load and skopeo (OCI layout + docker manifest.json)
    Archive,
    /// One tar holding only the OCI image layout (oci-archive:)
    Oci,
    /// An OCI image layout directory (oci:)
    OciDir,
}

/// How the image is built and configured; shared by every command that writes one.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = FormatArg::Archive)]
    pub format: FormatArg,

    /// Image name, used by docker load and podman load; repeatable, as `docker build -t
    /// a -t b` (the first is the image's name in reports) [default: the binary's name]
    #[arg(short, long, value_name = "NAME[:TAG]")]
    pub tag: Vec<String>,

    /// File name of the binary in the image, at /usr/local/bin/NAME [default: BINARY's name]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Program to run [default: /usr/local/bin/NAME]
    #[arg(long, value_name = "PATH")]
    pub entrypoint: Option<String>,

    /// Default argument passed to the entry point (repeatable, in order)
    #[arg(long = "cmd", value_name = "ARG", allow_hyphen_values = true)]
    pub cmd: Vec<String>,

    /// Environment variable (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,

    /// Working directory of the process
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<String>,

    /// User to run as: a numeric UID[:GID], or root, nonroot or nobody [default: nonroot]
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Image label (repeatable)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,

    /// Manifest annotation (repeatable)
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,

    /// Port the program listens on (repeatable)
    #[arg(long = "expose", value_name = "PORT[/PROTO]")]
    pub expose: Vec<String>,

    /// Add a host file or directory at DST in the image (repeatable)
    #[arg(long = "add", value_name = "SRC:DST")]
    pub add: Vec<String>,

    /// Add a CA bundle at /etc/ssl/certs/ca-certificates.crt and set SSL_CERT_FILE
    /// [default PATH: the host's bundle]
    #[arg(
        long,
        value_name = "PATH",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = HOST_CA_BUNDLE
    )]
    pub ca_certificates: Option<PathBuf>,

    /// Only the binary: no passwd, group, /tmp or home directories
    #[arg(long)]
    pub bare: bool,

    /// Leave out the SBOM and provenance (kept as OCI referrers of the image)
    #[arg(long)]
    pub no_sbom: bool,

    /// Record when the build started and ended in the provenance (the archive's bytes
    /// then differ on every run; the image's digest does not)
    #[arg(long, conflicts_with = "no_sbom")]
    pub provenance_times: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        with_default_command(list.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn sources_default_to_build() {
        assert_eq!(
            args(&["sp", "hello.c", "-o", "x"]),
            ["sp", "build", "hello.c", "-o", "x"]
        );
        assert_eq!(
            args(&["sp", "-q", "hello.c"]),
            ["sp", "-q", "build", "hello.c"]
        );
        assert_eq!(args(&["sp", "inspect", "x"]), ["sp", "inspect", "x"]);
        assert_eq!(args(&["sp", "--help"]), ["sp", "--help"]);
        assert_eq!(args(&["sp"]), ["sp"]);
        assert_eq!(args(&["sp", "inpsect"]), ["sp", "inpsect"]);
        assert_eq!(
            args(&["sp", "src/", "-o", "x"]),
            ["sp", "build", "src/", "-o", "x"]
        );
    }

    #[test]
    fn options_before_the_sources_are_the_builds() {
        assert_eq!(
            args(&["sp", "-o", "x.tar", "hello.c"]),
            ["sp", "build", "-o", "x.tar", "hello.c"]
        );
        assert_eq!(
            args(&["sp", "-q", "--toolchain", "zig", "dir"]),
            ["sp", "-q", "build", "--toolchain", "zig", "dir"]
        );
        assert_eq!(args(&["sp", "-V"]), ["sp", "-V"]);
        assert_eq!(
            args(&["sp", "--json", "inspect", "x"]),
            ["sp", "--json", "inspect", "x"]
        );
        let parsed = Cli::try_parse_from(args(&["sp", "-o", "x.tar", "--lang", "c", "a.c"]));
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
