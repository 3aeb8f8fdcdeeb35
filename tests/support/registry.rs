//! Docker's distribution registry (Debian's docker-registry 2.8) on 127.0.0.1, one per
//! test, in its own directory: plain HTTP; TLS with a CA made for the test and htpasswd
//! basic auth; or token auth against [`TokenServer`], a token server the test runs
//! (JWTs signed with openssl, the certificate in the token's `x5c`, trusted by the
//! registry's `rootcertbundle`). The registry logs every request: [`Registry::count`]
//! counts them.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;

use super::{TempDir, check, tempdir, tool};

pub const USER: &str = "pusher";
pub const PASSWORD: &str = "s3cret-pw";

pub struct Registry {
    child: Option<Child>,
    dir: TempDir,
    pub host: String,
    config: PathBuf,
    program: PathBuf,
    /// Kept alive as long as the registry (token auth).
    _token: Option<TokenServer>,
    /// The CA, certificate and htpasswd of a TLS registry.
    certs: Option<TempDir>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A CA and a certificate for 127.0.0.1 it signed, in `dir`: `ca.crt`, `server.crt`,
/// `server.key`.
pub fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        check(Command::new("openssl").current_dir(dir).args(args));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=scratchpack test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

impl Registry {
    /// Plain HTTP, anonymous.
    pub fn plain() -> Option<Registry> {
        Registry::start("", None)
    }

    /// TLS with a test CA ([`Registry::ca`]) and htpasswd basic auth ([`USER`], [`PASSWORD`]).
    pub fn tls_basic() -> Option<Registry> {
        tool("htpasswd")?;
        tool("openssl")?;
        let dir = tempdir();
        make_certificates(dir.path());
        let hash = super::run(Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]));
        assert_eq!(hash.code, 0, "{}", hash.stderr);
        std::fs::write(dir.path().join("htpasswd"), hash.stdout).unwrap();
        let d = dir.path().display();
        let extra = format!(
            "  tls:\n    certificate: {d}/server.crt\n    key: {d}/server.key\n\
             auth:\n  htpasswd:\n    realm: scratchpack-test\n    path: {d}/htpasswd\n"
        );
        let mut r = Registry::start(&extra, None)?;
        r.certs = Some(dir);
        Some(r)
    }

    /// Plain HTTP with token auth: only [`USER`]/[`PASSWORD`] get a token.
    pub fn token() -> Option<Registry> {
        tool("openssl")?;
        let token = TokenServer::start();
        let extra = format!(
            "auth:\n  token:\n    realm: http://{}/token\n    service: scratchpack-test\n    \
             issuer: scratchpack-test-issuer\n    rootcertbundle: {}\n",
            token.addr,
            token.cert.display()
        );
        Registry::start(&extra, Some(token))
    }

    fn start(http_extra: &str, token: Option<TokenServer>) -> Option<Registry> {
        let program = tool("docker-registry")?;
        let dir = tempdir();
        let port = free_port();
        let config = dir.path().join("config.yml");
        // The auth section is top-level; TLS belongs under http.
        let (tls, auth) = match http_extra.find("auth:") {
            Some(i) => (&http_extra[..i], &http_extra[i..]),
            None => (http_extra, ""),
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n{tls}{auth}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let mut r = Registry {
            child: None,
            dir,
            host: format!("127.0.0.1:{port}"),
            config,
            program,
            _token: token,
            certs: None,
        };
        r.spawn();
        Some(r)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        let child = Command::new(&self.program)
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&self.host).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the registry (its storage stays).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// The test CA (TLS registries).
    pub fn ca(&self) -> PathBuf {
        self.certs
            .as_ref()
            .expect("a TLS registry")
            .path()
            .join("ca.crt")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Requests logged with `method` whose URI contains `uri`.
    pub fn count(&self, method: &str, uri: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("msg=\"response completed"))
            .filter(|l| l.contains(&format!("http.request.method={method} ")))
            .filter(|l| {
                l.split("http.request.uri=")
                    .nth(1)
                    .is_some_and(|u| u.split(' ').next().unwrap_or("").contains(uri))
            })
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A token server: `GET /token?service=...&scope=...` with basic auth [`USER`] and
/// [`PASSWORD`] answers a JWT granting the scopes asked for; anything else is 401.
pub struct TokenServer {
    pub addr: String,
    cert: PathBuf,
    stop: Arc<AtomicBool>,
    pub issued: Arc<AtomicUsize>,
    _dir: TempDir,
}

impl TokenServer {
    fn start() -> TokenServer {
        let dir = tempdir();
        check(Command::new("openssl").current_dir(dir.path()).args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "token.key",
            "-out",
            "token.crt",
            "-days",
            "2",
            "-subj",
            "/CN=scratchpack token issuer",
        ]));
        let der_bytes = Command::new("openssl")
            .current_dir(dir.path())
            .args(["x509", "-in", "token.crt", "-outform", "DER"])
            .output()
            .unwrap()
            .stdout;
        assert!(!der_bytes.is_empty(), "openssl wrote no DER certificate");
        let x5c = base64::engine::general_purpose::STANDARD.encode(der_bytes);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let issued = Arc::new(AtomicUsize::new(0));
        let key = dir.path().join("token.key");
        {
            let stop = stop.clone();
            let issued = issued.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            answer(stream, &key, &x5c, &issued);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            });
        }
        TokenServer {
            addr,
            cert: dir.path().join("token.crt"),
            stop,
            issued,
            _dir: dir,
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(mut stream: TcpStream, key: &Path, x5c: &str, issued: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    let _ = reader.read_line(&mut first);
    let mut authorized = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
        );
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") && value.trim() == expected {
                authorized = true;
            }
        }
    }
    let path = first.split(' ').nth(1).unwrap_or("");
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(decode)
        .collect();
    let (status, body) = if authorized && path.starts_with("/token") {
        issued.fetch_add(1, Ordering::Relaxed);
        let token = jwt(key, x5c, &scopes);
        (
            "200 OK",
            format!("{{\"token\":\"{token}\",\"expires_in\":300}}"),
        )
    } else {
        (
            "401 Unauthorized",
            "{\"error\":\"bad credentials\"}".to_string(),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An RS256 JWT for the registry, granting `scopes` (`repository:NAME:ACTIONS`).
fn jwt(key: &Path, x5c: &str, scopes: &[String]) -> String {
    let url = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let mut parts = s.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            Some(serde_json::json!({
                "type": kind, "name": name,
                "actions": actions.split(',').collect::<Vec<_>>(),
            }))
        })
        .collect();
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "scratchpack-test-issuer", "sub": USER, "aud": "scratchpack-test",
        "exp": now + 300, "nbf": now - 10, "iat": now - 10,
        "jti": format!("{now}-{}", scopes.len()), "access": access,
    });
    let signing = format!(
        "{}.{}",
        url(header.to_string().as_bytes()),
        url(claims.to_string().as_bytes())
    );
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(signing.as_bytes())
        .unwrap();
    let signature = child.wait_with_output().unwrap().stdout;
    format!("{signing}.{}", url(&signature))
}
