//! Building hostile image archives at test time: tar headers written byte by byte (names
//! that climb, names that are not UTF-8, PAX sparse files, long names that lie about
//! their size), images assembled from such layers, and running scratchpack with its
//! peak memory measured.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use super::oci::sha256_hex;
use super::{Run, run};

/// A tar stream written header by header.
#[derive(Default)]
pub struct RawTar {
    pub bytes: Vec<u8>,
}

fn pad(bytes: &mut Vec<u8>) {
    let rem = bytes.len() % 512;
    if rem != 0 {
        bytes.resize(bytes.len() + 512 - rem, 0);
    }
}

impl RawTar {
    /// A USTAR header with `name` (any bytes; past 100, split into the prefix field at a
    /// `/`) and a valid checksum.
    pub fn header(&mut self, name: &[u8], flag: u8, size: u64, link: &[u8]) -> &mut Self {
        let mut h = [0u8; 512];
        if name.len() <= 100 {
            h[..name.len()].copy_from_slice(name);
        } else {
            let split = name
                .iter()
                .rposition(|&b| b == b'/')
                .filter(|&i| i <= 155 && name.len() - i - 1 <= 100)
                .expect("a name USTAR can hold");
            h[345..345 + split].copy_from_slice(&name[..split]);
            h[..name.len() - split - 1].copy_from_slice(&name[split + 1..]);
        }
        h[100..107].copy_from_slice(b"0000755");
        h[108..115].copy_from_slice(b"0000000");
        h[116..123].copy_from_slice(b"0000000");
        let size_field = format!("{size:011o}");
        if size_field.len() == 11 {
            h[124..135].copy_from_slice(size_field.as_bytes());
        } else {
            // Base-256 for sizes octal cannot hold.
            h[124] = 0x80;
            h[128..136].copy_from_slice(&size.to_be_bytes());
        }
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = flag;
        h[157..157 + link.len()].copy_from_slice(link);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.bytes.extend_from_slice(&h);
        self
    }

    /// A regular file (a name USTAR cannot hold goes in a PAX `path` record).
    pub fn file(&mut self, name: &[u8], data: &[u8]) -> &mut Self {
        let fits = name.len() <= 100
            || name
                .iter()
                .rposition(|&b| b == b'/')
                .is_some_and(|i| i <= 155 && name.len() - i - 1 <= 100);
        if fits {
            self.header(name, b'0', data.len() as u64, b"");
        } else {
            self.pax(&[("path", &String::from_utf8_lossy(name))]);
            self.header(b"long-name", b'0', data.len() as u64, b"");
        }
        self.bytes.extend_from_slice(data);
        pad(&mut self.bytes);
        self
    }

    /// A PAX extended header for the next entry.
    pub fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = format!(" {k}={v}\n");
            let mut n = rest.len() + 1;
            while format!("{n}{rest}").len() != n {
                n += 1;
            }
            body.extend_from_slice(format!("{n}{rest}").as_bytes());
        }
        self.header(b"PaxHeader", b'x', body.len() as u64, b"");
        self.bytes.extend_from_slice(&body);
        pad(&mut self.bytes);
        self
    }

    pub fn raw(&mut self, data: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(data);
        self
    }

    /// The stream with its two end blocks.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.bytes);
        out.extend_from_slice(&[0u8; 1024]);
        out
    }
}

/// Members of an OCI image archive holding one image per entry of `images`
/// (`(architecture, layers)`; layers stored as given, digested with sha256).
pub fn oci_members(images: &[(&str, Vec<Vec<u8>>)]) -> (Vec<(String, Vec<u8>)>, serde_json::Value) {
    let mut members = vec![(
        "oci-layout".to_string(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    )];
    let mut descriptors = Vec::new();
    for (arch, layers) in images {
        let (manifest, blobs) = image_blobs(arch, layers);
        members.extend(blobs);
        descriptors.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha256_hex(&manifest)),
            "size": manifest.len(),
            "platform": {"os": "linux", "architecture": arch}
        }));
    }
    let index = json!({"schemaVersion": 2, "manifests": descriptors});
    members.push((
        "index.json".to_string(),
        serde_json::to_vec(&index).expect("index"),
    ));
    (members, index)
}

/// The manifest of one image and all its blobs as archive members.
pub fn image_blobs(arch: &str, layers: &[Vec<u8>]) -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut blobs = Vec::new();
    let mut descs = Vec::new();
    // Right for the uncompressed layers tests give runtimes to unpack.
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha256_hex(l)))
        .collect();
    for layer in layers {
        let hex = sha256_hex(layer);
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": format!("sha256:{hex}"), "size": layer.len()}));
        blobs.push((format!("blobs/sha256/{hex}"), layer.clone()));
    }
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}, "config": {}
    }))
    .expect("config");
    let config_hex = sha256_hex(&config);
    blobs.push((format!("blobs/sha256/{config_hex}"), config.clone()));
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config.len()},
        "layers": descs
    }))
    .expect("manifest");
    blobs.push((
        format!("blobs/sha256/{}", sha256_hex(&manifest)),
        manifest.clone(),
    ));
    (manifest, blobs)
}

/// Writes a tar archive of `members` to `path`.
pub fn write_archive(path: &Path, members: &[(String, Vec<u8>)]) {
    let mut t = RawTar::default();
    for (name, data) in members {
        t.file(name.as_bytes(), data);
    }
    std::fs::write(path, t.finish()).expect("write archive");
}

/// Runs `cmd`, measuring its peak resident memory (KiB) and wall time; a run longer than
/// `limit` is killed and fails the test.
pub fn run_measured(cmd: &mut Command, limit: Duration) -> (Run, u64, Duration) {
    // Python's getrusage(RUSAGE_CHILDREN) sees this one child only.
    let script = "import resource, subprocess, sys\n\
                  try:\n    r = subprocess.run(sys.argv[2:], timeout=float(sys.argv[1]))\n    code = r.returncode\n\
                  except subprocess.TimeoutExpired:\n    code = 124\n\
                  sys.stderr.write('\\nMAXRSS %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
                  sys.exit(code)\n";
    let mut wrapper = Command::new("python3");
    wrapper
        .args(["-c", script, &limit.as_secs().to_string()])
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => wrapper.env(k, v),
            None => wrapper.env_remove(k),
        };
    }
    let start = Instant::now();
    let mut r = run(&mut wrapper);
    let elapsed = start.elapsed();
    assert_ne!(r.code, 124, "killed after {limit:?}:\n{}", r.stderr);
    let (stderr, rss) = r
        .stderr
        .rsplit_once("\nMAXRSS ")
        .map(|(s, n)| (s.to_string(), n.trim().parse().unwrap_or(u64::MAX)))
        .unwrap_or((r.stderr.clone(), u64::MAX));
    r.stderr = stderr;
    (r, rss, elapsed)
}
