//! A small HTTP/1.0 server for read-only endpoints (the Prometheus metrics), hardened against
//! clients that misbehave: each connection is served by its own short-lived thread, so an
//! idle or slow client delays nobody else; a request head is read with a deadline and a size
//! cap; and the number of connections served at once is capped (beyond it, new connections
//! get `503` at once and are closed, without a thread).
//!
//! Answers are produced by a handler called with the request path; it returns `None` for
//! "404 Not Found".

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Time a client has to send its whole request head.
    pub read_timeout: Duration,
    /// Time a client has to take the reply.
    pub write_timeout: Duration,
    /// Largest request head (request line and header lines), in bytes.
    pub max_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            read_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
            max_request: 8 * 1024,
        }
    }
}

/// Why a request head was not read.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// `GET <path>`.
    Get(String),
    /// Another method, or a malformed request line.
    Bad,
    /// Over the size cap.
    TooLarge,
    /// The client went away or was too slow.
    Gone,
}

/// Serves `listener` forever on the calling thread (spawn it on a thread of its own).
pub fn serve<H>(listener: TcpListener, limits: Limits, handler: H)
where
    H: Fn(&str) -> Option<String> + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(s) = conn else { continue };
        if active.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
            active.fetch_sub(1, Ordering::AcqRel);
            let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
            let _ = respond(&s, "503 Service Unavailable", "too many connections\n");
            continue;
        }
        let (h, a) = (handler.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("xdpgraph-http".into())
            .spawn(move || {
                serve_one(s, limits, &*h);
                a.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Reads one request from `s` and answers it.
fn serve_one(s: TcpStream, limits: Limits, handler: &dyn Fn(&str) -> Option<String>) {
    let _ = s.set_write_timeout(Some(limits.write_timeout));
    let (status, body) = match read_head(&s, limits) {
        Head::Get(path) => match handler(&path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", "not found\n".to_string()),
        },
        Head::Bad => ("400 Bad Request", "only GET is served\n".to_string()),
        Head::TooLarge => (
            "431 Request Header Fields Too Large",
            "request too large\n".to_string(),
        ),
        Head::Gone => return,
    };
    if respond(&s, status, &body).is_ok() {
        linger(&s);
    }
}

/// Closes our side and reads what the client still sends (a bounded amount, briefly), so that
/// closing with unread bytes does not reset the connection before the reply is read.
fn linger(mut s: &TcpStream) {
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = [0u8; 4096];
    let mut left = 64 * 1024;
    while left > 0 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => left -= n.min(left),
        }
    }
}

/// Reads the request line and headers, within the deadline and the size cap.
fn read_head(s: &TcpStream, limits: Limits) -> Head {
    let deadline = Instant::now() + limits.read_timeout;
    let mut r = BufReader::new(s).take(limits.max_request as u64 + 1);
    let mut first = String::new();
    let mut total = 0usize;
    let mut line = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Head::Gone;
        }
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => {
                return if total > limits.max_request {
                    Head::TooLarge
                } else {
                    Head::Gone
                }
            }
            Ok(n) => total += n,
            Err(_) => return Head::Gone,
        }
        if total > limits.max_request {
            return Head::TooLarge;
        }
        if !line.ends_with('\n') {
            continue; // cut by the cap or a timeout: the next read decides
        }
        if first.is_empty() {
            first = line.trim_end().to_string();
            if first.is_empty() {
                return Head::Bad;
            }
        } else if line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut words = first.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some(path)) => Head::Get(path.to_string()),
        _ => Head::Bad,
    }
}

fn respond(mut s: &TcpStream, status: &str, body: &str) -> io::Result<()> {
    write!(
        s,
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn start(limits: Limits) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        std::thread::spawn(move || {
            serve(l, limits, |p| {
                (p == "/metrics").then(|| "x 1\n".to_string())
            })
        });
        a
    }

    fn get(a: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(a).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn answers_get_and_404() {
        let a = start(Limits::default());
        let r = get(a, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200 OK"), "{r}");
        assert!(r.ends_with("x 1\n"), "{r}");
        assert!(get(a, "GET /other HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 404"));
        assert!(get(a, "POST /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 400"));
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn idle_connections_do_not_block_others() {
        let a = start(Limits::default());
        let idle: Vec<TcpStream> = (0..64).map(|_| TcpStream::connect(a).unwrap()).collect();
        let t = Instant::now();
        let r = get(a, "GET /metrics HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.0 200"), "{r}");
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "took {:?}",
            t.elapsed()
        );
        drop(idle);
    }

    #[test]
    #[cfg_attr(miri, ignore)] // the OS: sockets, ioctls, /proc
    fn oversized_and_overflowing_requests_are_refused() {
        let a = start(Limits {
            max_connections: 2,
            read_timeout: Duration::from_millis(300),
            ..Limits::default()
        });
        let big = format!("GET /metrics HTTP/1.0\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        let mut s = TcpStream::connect(a).unwrap();
        let _ = s.write_all(big.as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.0 431"), "{out}");
        // two idle connections fill the server; a third is refused at once, and served again
        // once the idle ones time out
        let idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(a).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(50));
        assert!(get(a, "GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 503"));
        std::thread::sleep(Duration::from_millis(500));
        assert!(get(a, "GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.0 200"));
        drop(idle);
    }
}
