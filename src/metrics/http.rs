//! The opt-in HTTP listener (`--metrics-addr`): `GET /metrics` (Prometheus' text
//! format) and `GET /healthz` (200 when the process answers, 503 saying why not).
//!
//! One thread of its own, never gRPC's or the workers': it answers one connection at
//! a time, reads at most a few KiB of request with a short timeout, and closes every
//! connection after its answer. What it serves comes from closures the server passes
//! in, so this module knows nothing of the services.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// Renders the metrics page.
pub type Render = Box<dyn Fn() -> String + Send>;
/// Ok(text) when healthy, Err(why) when not.
pub type Health = Box<dyn Fn() -> Result<String, String> + Send>;

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_REQUEST: usize = 8192;

/// Binds `addr` and serves it on a thread of its own.
pub fn start(addr: SocketAddr, render: Render, health: Health) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr} (--metrics-addr): {e}"))?;
    let bound = listener.local_addr().map_err(|e| format!("{addr}: {e}"))?;
    std::thread::Builder::new()
        .name("rbd-csi-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(stream) => answer(stream, &render, &health),
                    Err(e) => log::debug!("metrics: accept: {e}"),
                }
            }
        })
        .map_err(|e| format!("cannot start the metrics thread: {e}"))?;
    Ok(bound)
}

/// The path of a `GET` request line, or None.
fn requested_path(request: &str) -> Option<&str> {
    let line = request.lines().next()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => Some(path.split('?').next().unwrap_or(path)),
        _ => None,
    }
}

fn answer(mut stream: TcpStream, render: &Render, health: &Health) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let request = String::from_utf8_lossy(&buf);
    let (status, content_type, body) = match requested_path(&request) {
        Some("/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render()),
        Some("/healthz") => match health() {
            Ok(text) => ("200 OK", "text/plain; charset=utf-8", text + "\n"),
            Err(why) => ("503 Service Unavailable", "text/plain; charset=utf-8", why + "\n"),
        },
        Some(_) => ("404 Not Found", "text/plain; charset=utf-8", "only /metrics and /healthz are here\n".into()),
        None => ("405 Method Not Allowed", "text/plain; charset=utf-8", "GET only\n".into()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_metrics_health_and_nothing_else() {
        let addr = start(
            "127.0.0.1:0".parse().unwrap(),
            Box::new(|| "rbd_csi_x 1\n".to_string()),
            Box::new(|| Err("wedged: 8 of 8 workers stuck".to_string())),
        )
        .unwrap();
        let get = |req: &str| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        };
        let m = get("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(m.starts_with("HTTP/1.1 200 OK\r\n") && m.ends_with("\r\n\r\nrbd_csi_x 1\n"), "{m}");
        let h = get("GET /healthz HTTP/1.1\r\n\r\n");
        assert!(h.starts_with("HTTP/1.1 503 ") && h.ends_with("wedged: 8 of 8 workers stuck\n"), "{h}");
        assert!(get("GET /etc/passwd HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404 "));
        assert!(get("POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "));
    }
}
