//! Talking to one repository of one registry: the connection (HTTPS with the system's
//! roots, `--ca-cert` files and docker's/podman's `certs.d/HOST/*.crt`; plain HTTP only
//! for a loopback registry or with `--insecure`, when HTTPS is not answered), the
//! authentication the registry asks for (basic, or a bearer token for the repository's
//! pull and push scopes), and retries: a request answered 429 or 5xx, or whose
//! connection failed, is sent again after a growing pause (Retry-After honoured).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ureq::http;

use super::RegistryError;
use super::auth::{self, Challenge, Credentials};
use super::name::Target;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A request that neither sends nor receives for this long is given up (and retried).
const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Attempts per request, and the longest pause between two.
const ATTEMPTS: u32 = 5;
const MAX_PAUSE: Duration = Duration::from_secs(8);
/// Response bodies kept (error messages, tokens, small documents).
const MAX_REPLY: u64 = 4 << 20;

/// The CA bundles of common distributions: the system's roots.
const SYSTEM_BUNDLES: &[&str] = &[
    crate::cli::HOST_CA_BUNDLE,
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How to reach registries, from the command line.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--ca-cert` files (PEM), trusted besides the system's roots.
    pub ca_certs: Vec<PathBuf>,
    /// `certs.d` directories whose `HOST[:PORT]/*.crt` are trusted for that registry.
    pub certs_dirs: Vec<PathBuf>,
    /// `--insecure`: plain HTTP allowed, TLS certificates not verified.
    pub insecure: bool,
}

/// A response: status, headers and (a bounded part of) the body.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    /// A response read whole, its body up to [`MAX_REPLY`] (a registry that sends more
    /// is cut off there).
    fn read(mut response: http::Response<ureq::Body>) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        let _ = response
            .body_mut()
            .with_config()
            .limit(MAX_REPLY)
            .reader()
            .take(MAX_REPLY)
            .read_to_end(&mut body);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The registry's own words: `errors[].message` of its JSON, else the body's start,
    /// else the status's reason phrase.
    pub fn message(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Errors {
            errors: Vec<Item>,
        }
        #[derive(serde::Deserialize)]
        struct Item {
            #[serde(default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        if let Ok(e) = serde_json::from_slice::<Errors>(&self.body) {
            let parts: Vec<String> = e
                .errors
                .iter()
                .map(|i| format!("{} {}", i.code, i.message).trim().to_string())
                .collect();
            if !parts.is_empty() {
                return parts.join("; ");
            }
        }
        let text = String::from_utf8_lossy(&self.body);
        let text: String = text.trim().chars().take(300).collect();
        if !text.is_empty() {
            return text;
        }
        // A HEAD reply, or a terse server: the status's own words.
        http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or_default()
            .to_string()
    }
}

/// A request body: none, bytes, or a stream made anew for every attempt.
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    Stream {
        open: &'a (dyn Fn() -> Result<Box<dyn Read + Send>, RegistryError> + Sync),
        size: u64,
    },
}

/// One repository on one registry, authenticated.
pub struct Client {
    agent: ureq::Agent,
    /// `https://host[:port]` or `http://...`.
    pub base: String,
    pub target: Target,
    creds: Option<Credentials>,
    /// The `Authorization` header to send, once the registry asked for one.
    authorization: Mutex<Option<String>>,
    /// Repositories besides the target whose blobs may be mounted (pull scope asked).
    mount_from: Vec<String>,
    /// Plain HTTP is acceptable (a loopback registry, `--insecure`).
    plain_ok: bool,
    pub requests: AtomicU64,
}

impl Client {
    /// Connects to `target`'s registry: picks the scheme, learns how it authenticates.
    pub fn connect(
        target: &Target,
        options: &Options,
        creds: Option<Credentials>,
        mount_from: Vec<String>,
    ) -> Result<Client, RegistryError> {
        let agent = agent(target, options)?;
        let mut client = Client {
            agent,
            base: format!("https://{}", target.api_host()),
            target: target.clone(),
            creds,
            authorization: Mutex::new(None),
            mount_from,
            plain_ok: target.is_loopback() || options.insecure,
            requests: AtomicU64::new(0),
        };
        let plain_allowed = client.plain_ok;
        let ping = format!("{}/v2/", client.base);
        let reply = match client.once("GET", &ping, &[], &Body::Empty) {
            Ok(r) => r,
            Err(e) if plain_allowed => {
                client.base = format!("http://{}", target.api_host());
                let ping = format!("{}/v2/", client.base);
                match client.once("GET", &ping, &[], &Body::Empty) {
                    // It speaks TLS: the HTTPS failure is the one to tell.
                    Ok(r) if r.status == 400 && r.message().contains("HTTPS server") => {
                        return Err(e.at("checking the registry (GET /v2/)"));
                    }
                    Ok(r) => r,
                    Err(_) => return Err(e.at("checking the registry (GET /v2/)")),
                }
            }
            Err(e) => return Err(e.at("checking the registry (GET /v2/)")),
        };
        match reply.status {
            200 => {}
            401 => client.authenticate(&reply, "checking the registry (GET /v2/)")?,
            404 => {
                return Err(RegistryError::Rejected {
                    registry: target.registry.clone(),
                    step: "checking the registry (GET /v2/)".into(),
                    status: 404,
                    message: "no registry API at /v2/".into(),
                });
            }
            _ => return Err(client.rejected("checking the registry (GET /v2/)", &reply)),
        }
        Ok(client)
    }

    /// `https://host/v2/REPO/` + `rest`.
    pub fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.target.repository)
    }

    /// A URL the registry handed out (`Location`), made absolute.
    pub fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}/{}", self.base, location.trim_start_matches('/'))
        }
    }

    /// Sends a request, authenticating when asked and retrying what may pass next time.
    pub fn send(
        &self,
        step: &str,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<Reply, RegistryError> {
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.once(method, url, headers, body);
            let pause = match &result {
                Ok(r) if r.status == 401 && !authenticated => {
                    authenticated = true;
                    self.authenticate(r, step)?;
                    attempt -= 1;
                    continue;
                }
                Ok(r) if r.status == 429 || (500..=599).contains(&r.status) => retry_after(r),
                Ok(_) => return result,
                Err(RegistryError::Unreachable { .. }) => None,
                Err(_) => return result.map_err(|e| e.at(step)),
            };
            if attempt >= ATTEMPTS {
                return result.map_err(|e| e.at(step));
            }
            let backoff = Duration::from_millis(250 << (attempt - 1)).min(MAX_PAUSE);
            std::thread::sleep(pause.unwrap_or(backoff).min(MAX_PAUSE));
        }
    }

    /// Downloads the blob `digest` of at most `max` bytes into `to`, checked against its
    /// digest as it streams (the registry's storage may be another host it redirects
    /// to; the credentials stay with the registry).
    pub fn download(
        &self,
        digest: &str,
        max: u64,
        to: &mut dyn std::io::Write,
    ) -> Result<u64, RegistryError> {
        let step = format!("downloading blob {digest}");
        let url = self.url(&format!("blobs/{digest}"));
        // A HEAD first: it authenticates, and says the size.
        let head = self.send(&step, "HEAD", &url, &[], &Body::Empty)?;
        if head.status != 200 {
            return Err(self.rejected(&step, &head));
        }
        let corrupt = |why: String| RegistryError::Corrupt {
            digest: digest.to_string(),
            why,
        };
        let response = self.request("GET", &url, &[], &Body::Empty)?;
        if response.status() != 200 {
            return Err(self.rejected(&step, &Reply::read(response)));
        }
        let mut response = response;
        let reader = response
            .body_mut()
            .with_config()
            .limit(max.saturating_add(1))
            .reader();
        let mut writer = crate::digest::HashWriter::new(to);
        let n =
            std::io::copy(&mut reader.take(max.saturating_add(1)), &mut writer).map_err(|e| {
                RegistryError::Unreachable {
                    registry: self.target.registry.clone(),
                    step: step.clone(),
                    reason: e.to_string(),
                }
            })?;
        if n > max {
            return Err(corrupt(format!("larger than the {max} bytes announced")));
        }
        let got = writer.finish().1.to_string();
        if got != digest {
            return Err(corrupt(format!("the registry sent {got}")));
        }
        Ok(n)
    }

    /// One request, no retry.
    fn once(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<Reply, RegistryError> {
        Ok(Reply::read(self.request(method, url, headers, body)?))
    }

    /// One request, its response unread.
    fn request(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, String)],
        body: &Body,
    ) -> Result<http::Response<ureq::Body>, RegistryError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut builder = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            builder = builder.header(*k, v);
        }
        // A Location the registry hands out may name another host (a storage backend,
        // or a lie): the registry's credentials go to the registry only.
        if same_origin(url, &self.base) {
            if let Some(a) = self.current_authorization() {
                builder = builder.header("Authorization", a);
            }
        }
        let unreachable = |e: String| RegistryError::Unreachable {
            registry: self.target.registry.clone(),
            step: String::new(),
            reason: e,
        };
        let sent = match body {
            Body::Empty => {
                let builder = builder.header("Content-Length", "0");
                let request = builder.body(()).map_err(|e| unreachable(e.to_string()))?;
                self.agent.run(request)
            }
            Body::Bytes(bytes) => {
                let request = builder
                    .body(*bytes)
                    .map_err(|e| unreachable(e.to_string()))?;
                self.agent.run(request)
            }
            Body::Stream { open, size } => {
                let mut reader = open()?;
                let request = builder
                    .header("Content-Length", size.to_string())
                    .body(ureq::SendBody::from_reader(&mut reader))
                    .map_err(|e| unreachable(e.to_string()))?;
                self.agent.run(request)
            }
        };
        sent.map_err(|e| self.transport_error(e))
    }

    fn current_authorization(&self) -> Option<String> {
        self.authorization
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn transport_error(&self, e: ureq::Error) -> RegistryError {
        let registry = self.target.registry.clone();
        let reason = e.to_string();
        // rustls' verdicts reach here wrapped in an I/O error.
        let tls = matches!(
            e,
            ureq::Error::Rustls(_) | ureq::Error::Tls(_) | ureq::Error::Pem(_)
        ) || reason.contains("certificate");
        if tls {
            RegistryError::Tls { registry, reason }
        } else {
            RegistryError::Unreachable {
                registry,
                step: String::new(),
                reason,
            }
        }
    }

    /// Answers a 401: basic credentials, or a bearer token for this repository.
    fn authenticate(&self, reply: &Reply, step: &str) -> Result<(), RegistryError> {
        let unauthorized = || RegistryError::Unauthorized {
            registry: self.target.registry.clone(),
            step: step.to_string(),
            creds_from: self.creds.as_ref().map(|c| c.from.clone()),
        };
        let challenge = reply
            .header("www-authenticate")
            .and_then(auth::parse_challenge)
            .ok_or_else(unauthorized)?;
        let header = match challenge {
            Challenge::Basic => self
                .creds
                .as_ref()
                .map(Credentials::basic_header)
                .ok_or_else(unauthorized)?,
            Challenge::Bearer { realm, service } => {
                format!("Bearer {}", self.token(&realm, service.as_deref(), step)?)
            }
        };
        let mut current = self.authorization.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_deref() == Some(header.as_str()) {
            // The registry refused what it was just given.
            return Err(unauthorized());
        }
        *current = Some(header);
        Ok(())
    }

    /// A token from the registry's token server, for pushing to the repository (and
    /// pulling from those blobs may be mounted from).
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        step: &str,
    ) -> Result<String, RegistryError> {
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(format!("service={}", encode(s)));
        }
        query.push(format!(
            "scope={}",
            encode(&format!("repository:{}:pull,push", self.target.repository))
        ));
        for repo in &self.mount_from {
            query.push(format!(
                "scope={}",
                encode(&format!("repository:{repo}:pull"))
            ));
        }
        if self.creds.is_some() && realm.starts_with("http://") && !self.plain_ok {
            // Credentials never travel in clear text to a token server the registry names.
            return Err(RegistryError::Tls {
                registry: self.target.registry.clone(),
                reason: format!(
                    "its token server `{realm}` is plain HTTP: credentials are not sent there"
                ),
            });
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let url = format!("{realm}{sep}{}", query.join("&"));
        let mut request = http::Request::builder().method("GET").uri(&url);
        if let Some(c) = &self.creds {
            request = request.header("Authorization", c.basic_header());
        }
        let step = format!("{step}: getting a token from {realm}");
        let request = request.body(()).map_err(|e| RegistryError::Unreachable {
            registry: self.target.registry.clone(),
            step: step.clone(),
            reason: e.to_string(),
        })?;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let reply = Reply::read(
            self.agent
                .run(request)
                .map_err(|e| self.transport_error(e).at(&step))?,
        );
        let status = reply.status;
        match status {
            200 => {}
            401 | 403 => {
                return Err(RegistryError::Unauthorized {
                    registry: self.target.registry.clone(),
                    step,
                    creds_from: self.creds.as_ref().map(|c| c.from.clone()),
                });
            }
            _ => return Err(self.rejected(&step, &reply)),
        }
        #[derive(serde::Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<String>,
            #[serde(default)]
            access_token: Option<String>,
        }
        let t: Token =
            serde_json::from_slice(&reply.body).map_err(|e| RegistryError::Rejected {
                registry: self.target.registry.clone(),
                step: step.clone(),
                status,
                message: format!("the token server's answer is not JSON: {e}"),
            })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Rejected {
                registry: self.target.registry.clone(),
                step,
                status,
                message: "the token server answered no token".into(),
            })
    }

    /// The error for an unexpected answer, classified by status.
    pub fn rejected(&self, step: &str, reply: &Reply) -> RegistryError {
        let registry = self.target.registry.clone();
        let step = step.to_string();
        let message = reply.message();
        match reply.status {
            401 => RegistryError::Unauthorized {
                registry,
                step,
                creds_from: self.creds.as_ref().map(|c| c.from.clone()),
            },
            403 => RegistryError::Denied {
                registry,
                step,
                message,
            },
            404 => RegistryError::NotFound {
                registry,
                step,
                message,
            },
            413 => RegistryError::Quota {
                registry,
                step,
                message,
            },
            status => RegistryError::Rejected {
                registry,
                step,
                status,
                message,
            },
        }
    }
}

/// Whether `url` is on the scheme, host and port of `base` (`https://host[:port]`).
fn same_origin(url: &str, base: &str) -> bool {
    url.strip_prefix(base)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

/// The pause a 429 or 503 asks for (`Retry-After: SECONDS`).
fn retry_after(reply: &Reply) -> Option<Duration> {
    reply
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The HTTP agent for `target`: no redirect followed on its own for uploads, statuses
/// handled here, roots as [`Options`] say.
fn agent(target: &Target, options: &Options) -> Result<ureq::Agent, RegistryError> {
    let roots = roots(target, options)?;
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(roots)
        .disable_verification(options.insecure)
        .build();
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(STALL_TIMEOUT))
        .timeout_per_write(Some(STALL_TIMEOUT))
        .max_redirects(5)
        .user_agent(concat!("scratchpack/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .into())
}

/// The system's roots plus the registry's own CA files; Mozilla's roots when the system
/// has none.
fn roots(target: &Target, options: &Options) -> Result<ureq::tls::RootCerts, RegistryError> {
    let mut certs = Vec::new();
    let mut extra: Vec<PathBuf> = options.ca_certs.clone();
    for dir in &options.certs_dirs {
        let host_dir = dir.join(&target.registry);
        if let Ok(entries) = std::fs::read_dir(&host_dir) {
            let mut found: Vec<PathBuf> = entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "crt"))
                .collect();
            found.sort();
            extra.extend(found);
        }
    }
    for file in &extra {
        let n = load_pem(file, &mut certs).map_err(|reason| RegistryError::Tls {
            registry: target.registry.clone(),
            reason,
        })?;
        if n == 0 {
            return Err(RegistryError::Tls {
                registry: target.registry.clone(),
                reason: format!("`{}` holds no PEM certificate", file.display()),
            });
        }
    }
    let mut system = 0;
    for bundle in SYSTEM_BUNDLES {
        if let Ok(n) = load_pem(Path::new(bundle), &mut certs) {
            system += n;
            if n > 0 {
                break;
            }
        }
    }
    if system == 0 && extra.is_empty() {
        return Ok(ureq::tls::RootCerts::WebPki);
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

fn load_pem(file: &Path, into: &mut Vec<ureq::tls::Certificate<'static>>) -> Result<usize, String> {
    let bytes =
        std::fs::read(file).map_err(|e| format!("cannot read `{}`: {e}", file.display()))?;
    let mut n = 0;
    for item in ureq::tls::parse_pem(&bytes) {
        if let Ok(ureq::tls::PemItem::Certificate(c)) = item {
            into.push(c);
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_to_the_registry_only() {
        let base = "https://registry.example:5000";
        assert!(same_origin(
            "https://registry.example:5000/v2/a/blobs/uploads/1?x=y",
            base
        ));
        assert!(!same_origin("https://registry.example:50001/v2/", base));
        assert!(!same_origin(
            "https://registry.example:5000.evil.example/v2/",
            base
        ));
        assert!(!same_origin(
            "https://evil.example/registry.example:5000/v2/",
            base
        ));
        assert!(!same_origin("http://registry.example:5000/v2/", base));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(
            encode("repository:team/app:pull,push"),
            "repository%3Ateam%2Fapp%3Apull%2Cpush"
        );
    }

    #[test]
    fn registry_messages_are_read_from_their_json() {
        let reply = Reply {
            status: 404,
            headers: http::HeaderMap::new(),
            body: br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec(),
        };
        assert_eq!(
            reply.message(),
            "NAME_UNKNOWN repository name not known to registry"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.crt");
        std::fs::write(&file, "not a certificate").unwrap();
        let target = Target::parse("127.0.0.1:5000/app").unwrap();
        let options = Options {
            ca_certs: vec![file],
            ..Options::default()
        };
        let err = roots(&target, &options).unwrap_err().to_string();
        assert!(err.contains("no PEM certificate"), "{err}");
    }

    /// A registry that serves `body` for every blob: plain HTTP on loopback (a TLS
    /// handshake is hung up on, so the client falls back), keep-alive.
    fn serving(body: Vec<u8>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let body = body.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut out = stream;
                    if reader.fill_buf().map_or(true, |b| b.first() == Some(&0x16)) {
                        return;
                    }
                    loop {
                        let mut first = String::new();
                        if reader.read_line(&mut first).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut line = String::new();
                        while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "" {
                            line.clear();
                        }
                        let blob = first.contains("/blobs/");
                        let len = if blob { body.len() } else { 0 };
                        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                        let _ = out.write_all(head.as_bytes());
                        if blob && first.starts_with("GET") {
                            let _ = out.write_all(&body);
                        }
                    }
                });
            }
        });
        host
    }

    #[test]
    fn a_download_is_cut_at_its_size_and_checked_against_its_digest() {
        let body = b"the blob the registry sends".to_vec();
        let host = serving(body.clone());
        let target = Target::parse(&format!("{host}/team/cache")).unwrap();
        let client = Client::connect(&target, &Options::default(), None, Vec::new()).unwrap();
        let digest = crate::digest::Digest::of(&body).to_string();
        let mut out = Vec::new();
        let n = client
            .download(&digest, body.len() as u64, &mut out)
            .unwrap();
        assert_eq!((n, &out), (body.len() as u64, &body));

        // More bytes than the size the entry gave: refused, and no more than that read.
        let mut out = Vec::new();
        let err = client
            .download(&digest, 4, &mut out)
            .unwrap_err()
            .to_string();
        assert!(err.contains("larger than the 4 bytes announced"), "{err}");
        assert!(out.len() <= 5, "{} bytes taken", out.len());

        // Bytes that are not the blob asked for.
        let other = crate::digest::Digest::of(b"another blob").to_string();
        let err = client
            .download(&other, 1 << 20, &mut Vec::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("the registry sent {digest}")),
            "{err}"
        );
    }
}
