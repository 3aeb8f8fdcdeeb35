//! The push itself, over the OCI distribution API: nothing when the registry already has
//! the manifest under that tag; else each blob the registry lacks (HEAD) is mounted from
//! another repository of the registry that received it before, or uploaded in one
//! streamed request (POST, then PUT with the body), in chunks only when the registry
//! refuses that; four at a time. Then the manifests, children before the index, as the
//! exact bytes of the image, so the digest printed is the registry's.

use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::RegistryError;
use super::client::{Body, Client, Reply, encode};
use super::memory::Memory;
use super::meter::Meter;
use crate::digest::HashWriter;
use crate::layout::doc::{Descriptor, OCI_INDEX, OCI_MANIFEST};
use crate::layout::referrers::Referrer;
use crate::layout::source::{Plan, Source};
use crate::ui::Ui;

/// Blobs uploaded at the same time.
const PARALLEL: usize = 4;
/// Chunk size when the registry wants chunks (GHCR refuses PATCH bodies over 4 MiB).
const CHUNK: u64 = 4 << 20;
/// Whole uploads of one blob tried before giving up.
const UPLOAD_ATTEMPTS: u32 = 3;

/// What a push did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counts {
    /// Blobs sent.
    pub uploaded: usize,
    /// Blobs the repository had.
    pub skipped: usize,
    /// Blobs mounted from another repository.
    pub mounted: usize,
    /// Bytes of the blobs sent.
    pub bytes: u64,
}

/// Pushes `plan` read from `source`; returns what was done.
pub fn push(
    source: &Source,
    plan: &Plan,
    client: &Client,
    memory: &Memory,
    ui: &Ui,
) -> Result<Counts, RegistryError> {
    let root = plan.root();
    if already_there(client, &root.digest, &root.media_type)? {
        ui.status(&format!(
            "{} already holds {}: nothing to push",
            client.target, root.digest
        ));
        return Ok(Counts {
            skipped: plan.blobs.len(),
            ..Counts::default()
        });
    }
    let total: u64 = plan.blobs.iter().map(|b| b.size).sum();
    ui.status(&format!(
        "pushing {} blobs ({}) and {} manifests to {}",
        plan.blobs.len(),
        crate::ui::size(total),
        plan.manifests.len(),
        client.target
    ));
    let next = AtomicUsize::new(0);
    let uploaded = AtomicUsize::new(0);
    let skipped = AtomicUsize::new(0);
    let mounted = AtomicUsize::new(0);
    let bytes = AtomicU64::new(0);
    let meter = Meter::new(ui, total);
    let failure: Mutex<Option<RegistryError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(plan.blobs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(blob) = plan.blobs.get(i) else { break };
                    if failure.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                        break;
                    }
                    match push_blob(source, client, memory, blob, &meter) {
                        Ok(Done::Skipped) => {
                            skipped.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Done::Mounted) => {
                            mounted.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(Done::Uploaded) => {
                            uploaded.fetch_add(1, Ordering::Relaxed);
                            bytes.fetch_add(blob.size, Ordering::Relaxed);
                        }
                        Err(e) => {
                            failure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    meter.done();
    if let Some(e) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    for (i, m) in plan.manifests.iter().enumerate() {
        let reference = if i + 1 == plan.manifests.len() {
            client.target.manifest_ref().to_string()
        } else {
            m.digest.clone()
        };
        put_manifest(client, &reference, &m.media_type, &m.bytes, &m.digest)?;
    }
    put_referrers(client, &plan.referrers)?;
    memory.remember(
        &client.target.repository,
        plan.blobs.iter().map(|b| b.digest.as_str()),
    );
    Ok(Counts {
        uploaded: uploaded.into_inner(),
        skipped: skipped.into_inner(),
        mounted: mounted.into_inner(),
        bytes: bytes.into_inner(),
    })
}

/// Whether the registry already serves exactly this manifest under the reference.
fn already_there(client: &Client, digest: &str, media_type: &str) -> Result<bool, RegistryError> {
    let url = client.url(&format!("manifests/{}", client.target.manifest_ref()));
    let step = "checking the manifest (HEAD)";
    let reply = client.send(
        step,
        "HEAD",
        &url,
        &[("Accept", media_type.to_string())],
        &Body::Empty,
    )?;
    Ok(reply.status == 200 && reply.header("docker-content-digest") == Some(digest))
}

enum Done {
    Skipped,
    Mounted,
    Uploaded,
}

fn push_blob(
    source: &Source,
    client: &Client,
    memory: &Memory,
    blob: &Descriptor,
    meter: &Arc<Meter>,
) -> Result<Done, RegistryError> {
    let digest = &blob.digest;
    let step = format!("checking blob {digest} (HEAD)");
    let head = client.send(
        &step,
        "HEAD",
        &client.url(&format!("blobs/{digest}")),
        &[],
        &Body::Empty,
    )?;
    if head.status == 200 {
        return Ok(Done::Skipped);
    }
    if head.status != 404 {
        return Err(client.rejected(&step, &head));
    }
    let mut last = None;
    // What the current attempt counted, taken back when it is retried.
    let attempt = Arc::new(AtomicU64::new(0));
    for _ in 0..UPLOAD_ATTEMPTS {
        let location = match start_upload(client, memory, digest)? {
            Started::Mounted => return Ok(Done::Mounted),
            Started::At(location) => location,
        };
        match upload(source, client, blob, &location, meter, &attempt) {
            Ok(()) => return Ok(Done::Uploaded),
            Err(e) if e.is_transient() => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| RegistryError::Unreachable {
        registry: client.target.registry.clone(),
        step: format!("uploading blob {digest}"),
        reason: "gave up".into(),
    }))
}

enum Started {
    Mounted,
    At(String),
}

/// Opens an upload session, mounting the blob when a repository of this registry had it.
fn start_upload(client: &Client, memory: &Memory, digest: &str) -> Result<Started, RegistryError> {
    let step = format!("starting the upload of {digest} (POST)");
    for from in memory.repositories_with(digest, &client.target.repository) {
        let url = client.url(&format!(
            "blobs/uploads/?mount={}&from={}",
            encode(digest),
            encode(&from)
        ));
        let reply = client.send(&step, "POST", &url, &[], &Body::Empty)?;
        match reply.status {
            201 => return Ok(Started::Mounted),
            202 => return Ok(Started::At(location(client, &step, &reply)?)),
            // Refused (no access, gone): upload instead.
            _ => {}
        }
    }
    Ok(Started::At(open_session(client, &step)?))
}

/// A new upload session (POST): where to send the blob.
fn open_session(client: &Client, step: &str) -> Result<String, RegistryError> {
    let url = client.url("blobs/uploads/");
    let reply = client.send(step, "POST", &url, &[], &Body::Empty)?;
    if reply.status != 202 {
        return Err(client.rejected(step, &reply));
    }
    location(client, step, &reply)
}

fn location(client: &Client, step: &str, reply: &Reply) -> Result<String, RegistryError> {
    reply
        .header("location")
        .map(|l| client.resolve(l))
        .ok_or_else(|| RegistryError::Rejected {
            registry: client.target.registry.clone(),
            step: step.to_string(),
            status: reply.status,
            message: "no Location header".into(),
        })
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", encode(digest))
}

/// Sends the blob to an open session: one PUT with the whole body; in chunks when the
/// registry refuses that.
fn upload(
    source: &Source,
    client: &Client,
    blob: &Descriptor,
    location: &str,
    meter: &Arc<Meter>,
    attempt: &Arc<AtomicU64>,
) -> Result<(), RegistryError> {
    let digest = &blob.digest;
    let step = format!("uploading blob {digest}");
    let open = || -> Result<Box<dyn Read + Send>, RegistryError> {
        let (range, size) = source.blob(digest)?;
        if size != blob.size {
            return Err(RegistryError::Corrupt {
                digest: digest.clone(),
                why: format!("{size} bytes, the manifest says {}", blob.size),
            });
        }
        Ok(meter.count(Box::new(range), attempt))
    };
    let headers = [("Content-Type", "application/octet-stream".to_string())];
    let reply = client.send(
        &step,
        "PUT",
        &with_digest(location, digest),
        &headers,
        &Body::Stream {
            open: &open,
            size: blob.size,
        },
    )?;
    match reply.status {
        201 => Ok(()),
        400 if reply.message().contains("DIGEST_INVALID") => {
            Err(corrupt_or_rejected(source, client, blob, &step, &reply))
        }
        405 | 411 | 413 | 416 => {
            meter.restart(attempt);
            chunked(source, client, blob, meter, attempt)
        }
        _ => Err(client.rejected(&step, &reply)),
    }
}

/// The blob sent as PATCH chunks of 4 MiB in a new session, then PUT with the digest.
fn chunked(
    source: &Source,
    client: &Client,
    blob: &Descriptor,
    meter: &Meter,
    attempt: &AtomicU64,
) -> Result<(), RegistryError> {
    let digest = &blob.digest;
    let step = format!("uploading blob {digest} in chunks");
    let mut at = open_session(client, &step)?;
    let mut offset = 0u64;
    let (mut range, _) = source.blob(digest)?;
    while offset < blob.size {
        let len = CHUNK.min(blob.size - offset);
        let mut chunk = Vec::with_capacity(len as usize);
        (&mut range)
            .take(len)
            .read_to_end(&mut chunk)
            .map_err(|e| RegistryError::Corrupt {
                digest: digest.clone(),
                why: e.to_string(),
            })?;
        let headers = [
            ("Content-Type", "application/octet-stream".to_string()),
            ("Content-Range", format!("{}-{}", offset, offset + len - 1)),
        ];
        let reply = client.send(&step, "PATCH", &at, &headers, &Body::Bytes(&chunk))?;
        if reply.status != 202 {
            return Err(client.rejected(&step, &reply));
        }
        at = location(client, &step, &reply)?;
        offset += len;
        meter.sent(attempt, len);
    }
    let reply = client.send(&step, "PUT", &with_digest(&at, digest), &[], &Body::Empty)?;
    if reply.status != 201 {
        return Err(corrupt_or_rejected(source, client, blob, &step, &reply));
    }
    Ok(())
}

/// After a refused upload: the archive's fault when its blob does not hash to its name.
fn corrupt_or_rejected(
    source: &Source,
    client: &Client,
    blob: &Descriptor,
    step: &str,
    reply: &Reply,
) -> RegistryError {
    let actual = source.blob(&blob.digest).ok().and_then(|(mut r, _)| {
        let mut h = HashWriter::new(std::io::sink());
        std::io::copy(&mut r, &mut h).ok()?;
        Some(h.finish().1.to_string())
    });
    match actual {
        Some(a) if a != blob.digest => RegistryError::Corrupt {
            digest: blob.digest.clone(),
            why: format!("its bytes are {a}"),
        },
        _ => client.rejected(step, reply),
    }
}

/// The referrers (SBOM, provenance), by digest. A registry with the referrers API says
/// so (`OCI-Subject`); for one without, each subject's referrers are also listed in an
/// index under the fallback tag `sha256-HEX`, merged with what it listed before.
fn put_referrers(client: &Client, referrers: &[Referrer]) -> Result<(), RegistryError> {
    let mut supported = true;
    for r in referrers {
        let reply = put_manifest(client, &r.digest, OCI_MANIFEST, &r.bytes, &r.digest)?;
        supported &= reply.header("oci-subject").is_some();
    }
    if supported {
        return Ok(());
    }
    let mut subjects: Vec<&str> = referrers.iter().map(|r| r.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    for subject in subjects {
        let tag = subject.replacen(':', "-", 1);
        let step = format!("reading the referrers of {subject} (tag `{tag}`)");
        let url = client.url(&format!("manifests/{tag}"));
        let reply = client.send(
            &step,
            "GET",
            &url,
            &[("Accept", OCI_INDEX.to_string())],
            &Body::Empty,
        )?;
        let mut listed: Vec<serde_json::Value> = match reply.status {
            200 => serde_json::from_slice::<serde_json::Value>(&reply.body)
                .ok()
                .and_then(|v| v.get("manifests").and_then(|m| m.as_array()).cloned())
                .unwrap_or_default(),
            404 => Vec::new(),
            _ => return Err(client.rejected(&step, &reply)),
        };
        for r in referrers.iter().filter(|r| r.subject == subject) {
            if !listed.iter().any(|d| d["digest"] == r.digest.as_str()) {
                listed.push(r.descriptor());
            }
        }
        let index = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": listed,
        }))
        .unwrap_or_default();
        let digest = crate::digest::Digest::of(&index).to_string();
        put_manifest(client, &tag, OCI_INDEX, &index, &digest)?;
    }
    Ok(())
}

fn put_manifest(
    client: &Client,
    reference: &str,
    media_type: &str,
    bytes: &[u8],
    digest: &str,
) -> Result<Reply, RegistryError> {
    let step = format!("putting manifest {digest} as `{reference}`");
    let url = client.url(&format!("manifests/{reference}"));
    let mut reply;
    let mut attempt = 0;
    loop {
        reply = client.send(
            &step,
            "PUT",
            &url,
            &[("Content-Type", media_type.to_string())],
            &Body::Bytes(bytes),
        )?;
        // A blob another push is linking into the repository at this moment can read as
        // unknown (docker-registry's filesystem storage): it is there a moment later.
        attempt += 1;
        if reply.status != 400 || !reply.message().contains("BLOB_UNKNOWN") || attempt == 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
    }
    if reply.status != 201 && reply.status != 200 {
        return Err(client.rejected(&step, &reply));
    }
    match reply.header("docker-content-digest") {
        Some(d) if d != digest => Err(RegistryError::Rejected {
            registry: client.target.registry.clone(),
            step,
            status: reply.status,
            message: format!("the registry stored it as {d}, not {digest}"),
        }),
        _ => Ok(reply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_joins_the_upload_url() {
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1?_state=x", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?_state=x&digest=sha256%3Aab"
        );
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u1", "sha256:ab"),
            "http://r/v2/a/blobs/uploads/u1?digest=sha256%3Aab"
        );
    }
}
