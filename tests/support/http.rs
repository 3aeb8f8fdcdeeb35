//! A minimal HTTP/1.1 file server on 127.0.0.1 for mirror tests: GET only, one request
//! per connection, counting the files it served; a directory's URL serves its
//! `index.html`.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Server {
    pub addr: SocketAddr,
    served: Arc<AtomicUsize>,
}

impl Server {
    /// Files served with status 200 so far.
    pub fn requests(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

/// Serves the files under `root` until the test process ends.
pub fn serve(root: &Path) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let root = root.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                // A directory's URL (`/simple/pkg/`) serves its index.html, as index servers do.
                let mut relative = path.trim_start_matches('/').to_string();
                if relative.is_empty() || relative.ends_with('/') {
                    relative.push_str("index.html");
                }
                let file: Option<PathBuf> = (!path.contains("..")).then(|| root.join(relative));
                let mut stream = stream;
                match file.and_then(|f| std::fs::read(f).ok()) {
                    Some(body) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let head = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        );
                        let _ = stream
                            .write_all(head.as_bytes())
                            .and_then(|()| stream.write_all(&body));
                    }
                    None => {
                        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    Server { addr, served }
}

/// A hostile mirror: answers every GET with 200 and zeros without end, declaring
/// `length` (or nothing, with the connection closing at the end).
pub fn serve_endless(length: Option<u64>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                let head = match length {
                    Some(n) => format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n"),
                    None => "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_string(),
                };
                let zeros = vec![0u8; 1 << 20];
                if stream.write_all(head.as_bytes()).is_ok() {
                    while stream.write_all(&zeros).is_ok() {}
                }
            });
        }
    });
    addr
}
