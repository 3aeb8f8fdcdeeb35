//! Where a static program looks for the CA certificates it verifies TLS peers against,
//! judged from its strings: Go's crypto/x509 reads a fixed list; C and Rust TLS
//! libraries (OpenSSL, mbedTLS, wolfSSL, BearSSL, rustls with native roots) read the
//! paths compiled into them or into the program (OpenSSL's `OPENSSLDIR/cert.pem`,
//! wolfSSL's system directories, the file a program hands mbedTLS), which its strings
//! name. Those paths are found two ways: the well-known bundle locations anywhere in the
//! data (Go and Rust pack their strings without terminators), and any NUL-terminated
//! absolute path that reads like a CA bundle (a program's own choice).

use memchr::memmem;

/// A program that verifies TLS certificates against CA certificates on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaBundle {
    /// What shows it: the function or library, and the path named.
    pub evidence: String,
    /// Where it looks, most likely first: files, or directories that count when they
    /// hold a file.
    pub paths: Vec<String>,
    /// It honours `SSL_CERT_FILE` / `SSL_CERT_DIR` (its strings name them).
    pub env: bool,
}

/// Go's crypto/x509 on Linux: its bundle files, then its directories.
pub const GO_PATHS: [&str; 8] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/certs",
    "/etc/pki/tls/certs",
];

/// Besides Go's, the bundle locations of TLS libraries' defaults (OpenSSL's `OPENSSLDIR`
/// of Debian and source builds; wolfSSL's and openssl-probe's lists). Both lists are
/// looked for anywhere in the data.
const MORE_PATHS: [&str; 6] = [
    "/usr/lib/ssl/cert.pem",
    "/usr/local/ssl/cert.pem",
    "/etc/pki/ca-trust/source/anchors",
    "/usr/lib/ssl/certs",
    "/usr/local/ssl/certs",
    "/usr/local/share/certs",
];

/// TLS libraries by a string their code carries, for the evidence shown.
const LIBRARIES: [(&[u8], &str); 5] = [
    (b"mbedtls_", "mbedTLS"),
    (b"wolfSSL_", "wolfSSL"),
    (b"BearSSL", "BearSSL"),
    (b"rustls", "rustls"),
    (b"OpenSSL", "OpenSSL"),
];

/// At most this many paths are kept from one program.
const MAX_PATHS: usize = 16;
/// Longer NUL-terminated strings are not taken for paths.
const MAX_PATH_LEN: usize = 256;

/// What `data` (a program's read-only data) and `functions` (Go's function names) say
/// about the CA certificates it reads.
pub(super) fn ca_bundle(data: &[u8], functions: &[u8]) -> Option<CaBundle> {
    let env = memmem::find(data, b"SSL_CERT_FILE").is_some();
    if memmem::find(functions, b"crypto/x509.loadSystemRoots\0").is_some() {
        return Some(CaBundle {
            evidence: "Go's crypto/x509 (loadSystemRoots)".into(),
            paths: GO_PATHS.iter().map(|p| p.to_string()).collect(),
            env: true,
        });
    }
    let mut paths: Vec<String> = Vec::new();
    for known in GO_PATHS.iter().chain(&MORE_PATHS) {
        // A directory that only ever appears as the start of a bundle path found is
        // not named on its own (`/etc/ssl/certs` in `/etc/ssl/certs/ca-certificates.crt`).
        let named = memmem::find_iter(data, known.as_bytes()).any(|at| {
            !paths
                .iter()
                .any(|found| found.len() > known.len() && data[at..].starts_with(found.as_bytes()))
        });
        if named {
            paths.push(known.to_string());
        }
    }
    for path in bundle_like_strings(data) {
        if paths.len() >= MAX_PATHS {
            break;
        }
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    // Files before directories: the first path is the one a fix should use.
    paths.sort_by_key(|p| !is_file_name(p));
    let library = LIBRARIES
        .iter()
        .find(|(marker, _)| memmem::find(data, marker).is_some())
        .map(|(_, name)| *name);
    let evidence = match (library, paths.first()) {
        (_, None) if !env => return None,
        (Some(lib), Some(path)) => format!("{lib}; it names {path}"),
        (None, Some(path)) => format!("it names the CA bundle path {path}"),
        (_, None) => {
            // Honours SSL_CERT_FILE and names no path: OpenSSL-like defaults.
            paths = GO_PATHS.iter().map(|p| p.to_string()).collect();
            "the string SSL_CERT_FILE (OpenSSL-like TLS)".into()
        }
    };
    Some(CaBundle {
        evidence,
        paths,
        env,
    })
}

/// NUL-terminated absolute paths in `data` that read like a CA bundle or directory.
fn bundle_like_strings(data: &[u8]) -> impl Iterator<Item = String> + '_ {
    memchr::memchr_iter(b'/', data)
        .filter(move |&i| i == 0 || data[i - 1] == 0)
        .filter_map(move |i| {
            let rest = &data[i..data.len().min(i + MAX_PATH_LEN + 1)];
            let end = memchr::memchr(0, rest)?;
            let path = std::str::from_utf8(&rest[..end]).ok()?;
            looks_like_ca_path(path).then(|| path.to_string())
        })
}

fn looks_like_ca_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.len() > 1
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
        && !path.contains("//")
        && !lower.contains("private")
        && !lower.ends_with(".key")
        && (lower.ends_with(".crt")
            || lower.ends_with("/ca.pem")
            || ["cert", "ca-bundle", "trust", "/anchors"]
                .iter()
                .any(|w| lower.contains(w)))
}

fn is_file_name(path: &str) -> bool {
    [".pem", ".crt", ".cer"].iter().any(|e| path.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_reads_its_own_list() {
        let found = ca_bundle(b"", b"main.main\0crypto/x509.loadSystemRoots\0").unwrap();
        assert_eq!(found.paths[0], "/etc/ssl/certs/ca-certificates.crt");
        assert!(found.env);
    }

    #[test]
    fn a_library_default_and_a_programs_own_path_are_both_named() {
        let data = b"\0mbedtls_ssl_handshake\0/opt/app/trust.pem\0/etc/pki/tls/certs\0\
                     cannot read /opt/app/x.pem\0/etc/ssl/private/k.pem\0/usr/share/doc\0";
        let found = ca_bundle(data, b"").unwrap();
        assert_eq!(found.paths, ["/opt/app/trust.pem", "/etc/pki/tls/certs"]);
        assert_eq!(found.evidence, "mbedTLS; it names /opt/app/trust.pem");
        assert!(!found.env);
    }

    #[test]
    fn packed_strings_are_found_by_the_known_locations() {
        let data = b"xx/etc/ssl/certs/etc/pki/tls/certsSSL_CERT_FILErustls-0.23";
        let found = ca_bundle(data, b"").unwrap();
        assert_eq!(found.paths, ["/etc/ssl/certs", "/etc/pki/tls/certs"]);
        assert!(found.env);
        assert!(found.evidence.starts_with("rustls"), "{}", found.evidence);
    }

    #[test]
    fn a_directory_is_named_only_on_its_own() {
        let file_only = ca_bundle(b"\0/etc/ssl/certs/ca-certificates.crt\0", b"").unwrap();
        assert_eq!(file_only.paths, ["/etc/ssl/certs/ca-certificates.crt"]);
        let both = b"\0/etc/ssl/certs/ca-certificates.crt\0/etc/ssl/certs\0";
        let both = ca_bundle(both, b"").unwrap();
        assert_eq!(
            both.paths,
            ["/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs"]
        );
    }

    #[test]
    fn nothing_named_is_nothing_needed() {
        assert_eq!(ca_bundle(b"\0/usr/share/zoneinfo\0/tmp/\0", b""), None);
        let env_only = ca_bundle(b"SSL_CERT_FILE\0", b"").unwrap();
        assert_eq!(env_only.paths.len(), GO_PATHS.len());
    }
}
