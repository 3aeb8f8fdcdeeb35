//! The build information Go writes into every binary it links (`go version -m` reads
//! it): the Go version, the main module, and each dependency's path, version and go.sum
//! hash. Found by its magic (`\xff Go buildinf:`, 16-byte aligned, in `.go.buildinfo`);
//! only the inline format of Go 1.18 and later is read. Bounded: strings are taken from
//! the bytes given, never followed through pointers.

/// A module a binary was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoModule {
    pub path: String,
    pub version: String,
    /// `h1:` hash from go.sum; empty when the build had none (vendor mode).
    pub sum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GoBuild {
    /// `go1.22.2`.
    pub go: String,
    pub main: Option<GoModule>,
    pub deps: Vec<GoModule>,
}

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Flag of the header: the strings follow it inline (Go 1.18+).
const INLINE: u8 = 0x2;

/// The build information of a Go binary; `None` for anything else.
pub fn read(binary: &[u8]) -> Option<GoBuild> {
    let mut at = 0;
    let header = loop {
        let found = memchr::memmem::find(&binary[at..], MAGIC)? + at;
        if found % 16 == 0 && binary.len() >= found + 32 {
            break found;
        }
        at = found + 1;
    };
    if binary[header + 15] & INLINE == 0 {
        return None;
    }
    let mut rest = &binary[header + 32..];
    let go = string(&mut rest)?;
    let info = string(&mut rest)?;
    let mut build = parse(strip_sentinels(&info));
    build.go = go;
    Some(build)
}

/// A varint length, then that many bytes.
fn string(bytes: &mut &[u8]) -> Option<String> {
    let mut len: u64 = 0;
    let mut shift = 0;
    let mut used = 0;
    loop {
        let b = *bytes.get(used)?;
        used += 1;
        len |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 35 {
            return None;
        }
    }
    let end = used.checked_add(usize::try_from(len).ok()?)?;
    let s = String::from_utf8_lossy(bytes.get(used..end)?).into_owned();
    *bytes = &bytes[end..];
    Some(s)
}

/// Go wraps the module text in 16 bytes of sentinel on each side.
fn strip_sentinels(info: &str) -> &str {
    let b = info.as_bytes();
    if b.len() >= 33 && b[b.len() - 17] == b'\n' {
        info.get(16..info.len() - 16).unwrap_or(info)
    } else {
        info
    }
}

pub fn parse(info: &str) -> GoBuild {
    let mut build = GoBuild::default();
    let module = |fields: &[&str]| GoModule {
        path: fields.first().unwrap_or(&"").to_string(),
        version: fields.get(1).unwrap_or(&"").to_string(),
        sum: fields.get(2).unwrap_or(&"").to_string(),
    };
    for line in info.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields.as_slice() {
            ["mod", rest @ ..] => build.main = Some(module(rest)),
            ["dep", rest @ ..] => build.deps.push(module(rest)),
            // A replacement applies to the dependency just above it.
            ["=>", rest @ ..] => {
                if let Some(last) = build.deps.last_mut() {
                    *last = module(rest);
                }
            }
            _ => {}
        }
    }
    build
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary_with(go: &str, info: &str) -> Vec<u8> {
        let mut b = vec![0u8; 48];
        let mut header = MAGIC.to_vec();
        header.extend([8, INLINE]);
        header.resize(32, 0);
        b.extend(header);
        for s in [go, info] {
            let mut n = s.len();
            while n >= 0x80 {
                b.push((n as u8 & 0x7f) | 0x80);
                n >>= 7;
            }
            b.push(n as u8);
            b.extend(s.as_bytes());
        }
        b
    }

    #[test]
    fn modules_versions_and_sums_are_read() {
        let info = "path\texample.com/app\nmod\texample.com/app\t(devel)\t\n\
                    dep\tgolang.org/x/text\tv0.14.0\th1:ScX5w1eTa3QqT8oi6+ziP7dTV1S2+ALU0bI+0zXKWiQ=\n\
                    dep\told.example/x\tv1.0.0\th1:a=\n=>\t../x\t(devel)\t\n\
                    build\t-compiler=gc\n";
        let b = binary_with("go1.22.2", info);
        let build = read(&b).unwrap();
        assert_eq!(build.go, "go1.22.2");
        assert_eq!(build.main.unwrap().path, "example.com/app");
        assert_eq!(build.deps.len(), 2);
        assert_eq!(build.deps[0].version, "v0.14.0");
        assert!(build.deps[0].sum.starts_with("h1:"));
        assert_eq!(build.deps[1].path, "../x");
        // Not a Go binary, a truncated one, a misaligned magic.
        assert_eq!(read(b"\x7fELF nothing here"), None);
        assert_eq!(read(&b[..60]), None);
        let mut shifted = vec![0u8];
        shifted.extend(&b);
        assert_eq!(read(&shifted), None);
        // A length past the end is refused, not read.
        let mut long = binary_with("go1.22.2", "");
        let n = long.len();
        long[n - 1] = 0x7f;
        assert_eq!(read(&long), None);
    }
}
