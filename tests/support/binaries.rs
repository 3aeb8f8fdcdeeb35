//! Binaries compiled at test time with the real compilers of this machine (gcc, musl-gcc,
//! go), once per test process, into one shared temporary directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::{TempDir, check, fixture, path_str, tempdir, tool};

pub const HELLO_C: &str =
    "#include <stdio.h>\nint main(void){puts(\"hello from scratch\");return 0;}\n";

const GAI_C: &str = "#include <stdio.h>\n#include <netdb.h>\n\
int main(int c,char**v){struct addrinfo*r;int e=getaddrinfo(c>1?v[1]:\"localhost\",0,0,&r);\
printf(\"%d\\n\",e);return 0;}\n";

const DLOPEN_C: &str = "#include <stdio.h>\n#include <dlfcn.h>\n\
int main(void){void*h=dlopen(\"libplugin.so.1\",RTLD_NOW);puts(h?\"loaded\":dlerror());return 0;}\n";

const LIB_C: &str = "int answer(void){return 42;}\n";

const HELLO_GO: &str =
    "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello from go\") }\n";

/// Which binary to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bin {
    /// `musl-gcc -static`
    MuslStatic,
    /// `musl-gcc` (dynamic, interpreter /lib/ld-musl-x86_64.so.1)
    MuslDynamic,
    /// `gcc -static`
    GlibcStatic,
    /// `gcc -static-pie`
    GlibcStaticPie,
    /// `gcc` (dynamic)
    GlibcDynamic,
    /// `gcc` with `-Wl,-rpath,/opt/rp --disable-new-dtags`
    GlibcRpath,
    /// `gcc` with `-Wl,-rpath,/opt/rp --enable-new-dtags`
    GlibcRunpath,
    /// `gcc -shared -fPIC`
    SharedLib,
    /// `gcc -static` calling getaddrinfo
    GlibcGetaddrinfo,
    /// the same, stripped
    GlibcGetaddrinfoStripped,
    /// `gcc -static` calling dlopen("libplugin.so.1")
    GlibcDlopen,
    /// `CGO_ENABLED=0 go build`
    Go,
    /// fixtures/probe.c with `musl-gcc -static`
    Probe,
    /// fixtures/deny-mount.c with `gcc`: runs a command with mount(2) refused
    DenyMount,
}

struct Cache {
    dir: TempDir,
    built: HashMap<Bin, PathBuf>,
}

fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(|| {
        Mutex::new(Cache {
            dir: tempdir(),
            built: HashMap::new(),
        })
    })
}

/// The path of `bin`, building it on first use; `None` (test skipped) when its compiler
/// is missing outside CI.
pub fn get(bin: Bin) -> Option<PathBuf> {
    let mut cache = cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = cache.built.get(&bin) {
        return Some(p.clone());
    }
    let dir = cache.dir.path().to_path_buf();
    let path = build(bin, &dir)?;
    cache.built.insert(bin, path.clone());
    Some(path)
}

fn write_src(dir: &Path, name: &str, code: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, code).expect("write source");
    p
}

fn cc(compiler: &str, dir: &Path, src: &Path, out: &str, flags: &[&str]) -> Option<PathBuf> {
    let compiler = tool(compiler)?;
    let out = dir.join(out);
    check(
        Command::new(compiler)
            .args(flags)
            .arg("-o")
            .arg(&out)
            .arg(src),
    );
    Some(out)
}

fn build(bin: Bin, dir: &Path) -> Option<PathBuf> {
    let hello = write_src(dir, "hello.c", HELLO_C);
    let gai = write_src(dir, "gai.c", GAI_C);
    match bin {
        Bin::MuslStatic => cc(
            "musl-gcc",
            dir,
            &hello,
            "musl-static",
            &["-static", "-Os", "-s"],
        ),
        Bin::MuslDynamic => cc("musl-gcc", dir, &hello, "musl-dynamic", &["-Os"]),
        Bin::GlibcStatic => cc("gcc", dir, &hello, "glibc-static", &["-static", "-Os"]),
        Bin::GlibcStaticPie => cc(
            "gcc",
            dir,
            &hello,
            "glibc-static-pie",
            &["-static-pie", "-Os"],
        ),
        Bin::GlibcDynamic => cc("gcc", dir, &hello, "glibc-dynamic", &["-Os"]),
        Bin::GlibcRpath => cc(
            "gcc",
            dir,
            &hello,
            "glibc-rpath",
            &["-Os", "-Wl,-rpath,/opt/rp", "-Wl,--disable-new-dtags"],
        ),
        Bin::GlibcRunpath => cc(
            "gcc",
            dir,
            &hello,
            "glibc-runpath",
            &["-Os", "-Wl,-rpath,/opt/rp", "-Wl,--enable-new-dtags"],
        ),
        Bin::SharedLib => {
            let lib = write_src(dir, "lib.c", LIB_C);
            cc("gcc", dir, &lib, "libanswer.so", &["-shared", "-fPIC"])
        }
        Bin::GlibcGetaddrinfo => cc("gcc", dir, &gai, "glibc-gai", &["-static", "-Os"]),
        Bin::GlibcGetaddrinfoStripped => cc(
            "gcc",
            dir,
            &gai,
            "glibc-gai-stripped",
            &["-static", "-Os", "-s"],
        ),
        Bin::GlibcDlopen => {
            let src = write_src(dir, "dlopen.c", DLOPEN_C);
            cc("gcc", dir, &src, "glibc-dlopen", &["-static", "-Os"])
        }
        Bin::Probe => cc(
            "musl-gcc",
            dir,
            &fixture("probe.c"),
            "probe",
            &["-static", "-Os", "-s"],
        ),
        Bin::DenyMount => cc("gcc", dir, &fixture("deny-mount.c"), "deny-mount", &["-O"]),
        Bin::Go => {
            let go = tool("go")?;
            let src = dir.join("gohello");
            std::fs::create_dir_all(&src).expect("go dir");
            write_src(&src, "go.mod", "module example.com/hello\n\ngo 1.21\n");
            write_src(&src, "main.go", HELLO_GO);
            let out = dir.join("go-hello");
            check(
                Command::new(go)
                    .current_dir(&src)
                    .env("CGO_ENABLED", "0")
                    .env("GOTOOLCHAIN", "local")
                    .env("GOPROXY", "off")
                    .env("GOFLAGS", "-mod=mod")
                    .args(["build", "-trimpath", "-o", path_str(&out), "."]),
            );
            Some(out)
        }
    }
}
