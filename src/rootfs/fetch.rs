//! Getting a file from a mirror: `file://` paths are read in place, `http://` and
//! `https://` are downloaded (ureq with rustls and the webpki roots; proxies from the
//! usual environment variables). Either way the bytes are hashed as they are copied, a
//! terminal shows progress, and a mirror can neither send more than the caller's cap nor
//! stall a download forever.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use crate::digest::{Digest, HashWriter};
use crate::ui::Ui;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the response and then the whole body may take.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
const BODY_TIMEOUT: Duration = Duration::from_secs(30 * 60);
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
    #[error("`{url}` is larger than {max} bytes, more than it can be: refused")]
    TooLarge { url: String, max: u64 },
}

/// Copies the file at `url` into `dest`, at most `max` bytes; returns the digest of what
/// was copied.
pub fn fetch(
    url: &str,
    dest: &mut File,
    label: &str,
    max: u64,
    ui: &Ui,
) -> Result<Digest, FetchError> {
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        max,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let file_err = |source| FetchError::File {
            url: url.to_string(),
            source,
        };
        // Not blocking on a FIFO put where the file should be.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(file_err)?;
        let meta = file.metadata().map_err(file_err)?;
        if !meta.is_file() {
            return Err(file_err(io::Error::other("not a regular file")));
        }
        return copy(&mut file, dest, Some(meta.len()), max, label, ui).map_err(|e| match e {
            CopyError::Read(source) => file_err(source),
            CopyError::Write(e) => FetchError::Store(e),
            CopyError::TooLarge => too_large(),
        });
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(FetchError::Scheme {
            url: url.to_string(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(RESPONSE_TIMEOUT))
        .timeout_recv_body(Some(BODY_TIMEOUT))
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
    if total.is_some_and(|t| t > max) {
        return Err(too_large());
    }
    let mut body = response
        .body_mut()
        .with_config()
        .limit(max.saturating_add(1))
        .reader();
    copy(&mut body, dest, total, max, label, ui).map_err(|e| match e {
        CopyError::Read(e) => unreachable(format!("download interrupted: {e}")),
        CopyError::Write(e) => FetchError::Store(e),
        CopyError::TooLarge => too_large(),
    })
}

/// The text at `url` (an index page), at most `max` bytes; `accept` is sent as the
/// `Accept` header (content negotiation of package indexes).
pub fn fetch_text(url: &str, accept: &str, max: u64) -> Result<String, FetchError> {
    let unreachable = |reason: String| FetchError::Unreachable {
        url: url.to_string(),
        reason,
    };
    if let Some(path) = url.strip_prefix("file://") {
        let file = std::fs::File::open(path).map_err(|source| FetchError::File {
            url: url.to_string(),
            source,
        })?;
        let mut text = String::new();
        file.take(max)
            .read_to_string(&mut text)
            .map_err(|e| unreachable(e.to_string()))?;
        return Ok(text);
    }
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(FetchError::Scheme {
            url: url.to_string(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_global(Some(RESPONSE_TIMEOUT))
        .build()
        .into();
    let mut response = agent
        .get(url)
        .header("Accept", accept)
        .call()
        .map_err(|e| unreachable(e.to_string()))?;
    response
        .body_mut()
        .with_config()
        .limit(max)
        .read_to_string()
        .map_err(|e| unreachable(e.to_string()))
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
    TooLarge,
}

fn copy(
    from: &mut dyn Read,
    to: &mut File,
    total: Option<u64>,
    max: u64,
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
        done += n as u64;
        if done > max {
            return Err(CopyError::TooLarge);
        }
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
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
