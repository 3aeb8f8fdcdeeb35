//! Getting a file from a mirror: `file://` paths are read in place, `http://` and
//! `https://` are downloaded (ureq with rustls and the webpki roots; proxies from the
//! usual environment variables). Either way the bytes are hashed as they are copied,
//! and a terminal shows progress.

use std::fs::File;
use std::io::{self, Read, Write};
use std::time::Duration;

use crate::digest::{Digest, HashWriter};
use crate::ui::Ui;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a quick reachability probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot reach `{url}`: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("`{url}` cannot be read")]
    File {
        url: String,
        #[source]
        source: io::Error,
    },
    #[error("`{url}`: only https://, http:// and file:// mirrors are supported")]
    Scheme { url: String },
    #[error("cannot store the download")]
    Store(#[source] io::Error),
}

/// Copies the file at `url` into `dest`; returns the digest of what was copied.
pub fn fetch(url: &str, dest: &mut File, label: &str, ui: &Ui) -> Result<Digest, FetchError> {
    if let Some(path) = url.strip_prefix("file://") {
        let mut file = File::open(path).map_err(|source| FetchError::File {
            url: url.to_string(),
            source,
        })?;
        let total = file.metadata().ok().map(|m| m.len());
        return copy(&mut file, dest, total, label, ui).map_err(|e| match e {
            CopyError::Read(source) => FetchError::File {
                url: url.to_string(),
                source,
            },
            CopyError::Write(e) => FetchError::Store(e),
        });
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(FetchError::Scheme {
            url: url.to_string(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .build()
        .into();
    let unreachable = |reason: String| FetchError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| unreachable(e.to_string()))?;
    let total = response.body().content_length();
    let mut body = response.body_mut().as_reader();
    copy(&mut body, dest, total, label, ui).map_err(|e| match e {
        CopyError::Read(e) => unreachable(format!("download interrupted: {e}")),
        CopyError::Write(e) => FetchError::Store(e),
    })
}

/// Whether `url` answers (200) within a few seconds; `file://` URLs must exist.
pub fn reachable(url: &str) -> Result<(), String> {
    if let Some(path) = url.strip_prefix("file://") {
        return std::fs::metadata(path)
            .map(drop)
            .map_err(|e| format!("{path}: {e}"));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(PROBE_TIMEOUT))
        .timeout_global(Some(PROBE_TIMEOUT))
        .build()
        .into();
    agent.head(url).call().map(drop).map_err(|e| e.to_string())
}

enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

fn copy(
    from: &mut dyn Read,
    to: &mut File,
    total: Option<u64>,
    label: &str,
    ui: &Ui,
) -> Result<Digest, CopyError> {
    let mut out = HashWriter::new(to);
    let mut buf = vec![0u8; 256 << 10];
    let mut done = 0u64;
    let mut shown = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
        if done - shown >= 4 << 20 {
            shown = done;
            ui.progress(&progress_line(label, done, total));
        }
    }
    ui.progress_done();
    let (file, digest) = out.finish();
    file.flush().map_err(CopyError::Write)?;
    Ok(digest)
}

fn progress_line(label: &str, done: u64, total: Option<u64>) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    match total {
        Some(t) if t > 0 => format!("{label}: {:.1} of {:.1} MiB", mib(done), mib(t)),
        _ => format!("{label}: {:.1} MiB", mib(done)),
    }
}
