//! Content digests as the gate checks them: `sha256:` and `sha512:` (the two the OCI
//! image spec registers), computed while a blob streams past; any other algorithm, or a
//! digest that is not the right length of lowercase hex, is refused rather than skipped.

use std::io::{self, Read};

use sha2::{Digest as _, Sha256, Sha512};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// The algorithm a blob's store name says it is digested with (`blobs/sha512/...`);
    /// sha256 for names that say nothing (docker-archive's `ID/layer.tar`).
    pub fn of_name(name: &str) -> Algorithm {
        if name.starts_with("blobs/sha512/") {
            Algorithm::Sha512
        } else {
            Algorithm::Sha256
        }
    }
}

/// Checks the form of `digest`; returns its algorithm and hex.
pub(crate) fn parse(digest: &str) -> Result<(Algorithm, &str), String> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| format!("bad digest `{digest}`"))?;
    let (alg, len) = match alg {
        "sha256" => (Algorithm::Sha256, 64),
        "sha512" => (Algorithm::Sha512, 128),
        other => {
            return Err(format!(
                "digest `{digest}` uses `{other}`, which cannot be verified (only sha256 and \
                 sha512 are registered by the OCI image spec)"
            ));
        }
    };
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!("bad digest `{digest}`"));
    }
    Ok((alg, hex))
}

/// `sha256:<hex>` to `blobs/sha256/<hex>`.
pub(crate) fn blob_name(digest: &str) -> Result<String, String> {
    let (alg, hex) = parse(digest)?;
    Ok(format!("blobs/{}/{hex}", alg.name()))
}

/// `blobs/sha256/<hex>` to `sha256:<hex>`: what a content-addressed store name claims
/// (checked like any other digest when used); `None` for other names.
pub(crate) fn digest_of_name(name: &str) -> Option<String> {
    let (alg, hex) = name.strip_prefix("blobs/")?.split_once('/')?;
    Some(format!("{alg}:{hex}"))
}

/// Checks that `actual` (as computed) is `expected`.
pub(crate) fn check(name: &str, expected: &str, actual: &str) -> Result<(), String> {
    parse(expected)?;
    if expected != actual {
        return Err(format!(
            "{name}: content does not match its digest {expected} (got {actual}): the archive \
             is damaged or was altered"
        ));
    }
    Ok(())
}

enum State {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Hashes every byte read through it.
pub(crate) struct Hashing<R> {
    inner: R,
    state: State,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R, alg: Algorithm) -> Self {
        let state = match alg {
            Algorithm::Sha256 => State::Sha256(Sha256::new()),
            Algorithm::Sha512 => State::Sha512(Sha512::new()),
        };
        Hashing { inner, state }
    }

    /// Reads whatever is left; returns `alg:hex` of everything read.
    pub fn finish(mut self) -> io::Result<String> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(match self.state {
            State::Sha256(h) => format!("sha256:{}", hex(&h.finalize())),
            State::Sha512(h) => format!("sha512:{}", hex(&h.finalize())),
        })
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match &mut self.state {
            State::Sha256(h) => h.update(&buf[..n]),
            State::Sha512(h) => h.update(&buf[..n]),
        }
        Ok(n)
    }
}

/// `alg:hex` of `bytes`.
pub(crate) fn of_bytes(alg: Algorithm, bytes: &[u8]) -> String {
    match alg {
        Algorithm::Sha256 => format!("sha256:{}", hex(&Sha256::digest(bytes))),
        Algorithm::Sha512 => format!("sha512:{}", hex(&Sha512::digest(bytes))),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_parsed_strictly() {
        let sha256 = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            blob_name(&sha256).unwrap(),
            format!("blobs/sha256/{}", "a".repeat(64))
        );
        let sha512 = format!("sha512:{}", "0".repeat(128));
        assert!(blob_name(&sha512).is_ok());
        for bad in [
            "sha256:../../etc".to_string(),
            "sha256:ABC".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("md5:{}", "a".repeat(32)),
            "nocolon".to_string(),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
        let abc = of_bytes(Algorithm::Sha512, b"abc");
        assert!(abc.starts_with("sha512:ddaf35a1"), "{abc}");
        let mut r = Hashing::new(&b"abc"[..], Algorithm::Sha512);
        let mut sink = Vec::new();
        r.read_to_end(&mut sink).unwrap();
        assert_eq!(r.finish().unwrap(), abc);
        assert!(check("x", &abc, &of_bytes(Algorithm::Sha512, b"abd")).is_err());
        assert_eq!(
            digest_of_name("blobs/sha256/ab").as_deref(),
            Some("sha256:ab")
        );
        assert_eq!(digest_of_name("abc/layer.tar"), None);
    }
}
