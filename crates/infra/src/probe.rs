//! The containers' health checks (`api healthcheck`, `worker healthcheck`):
//! one HTTP/1.1 GET to this process's own port, from the standard library,
//! so the image needs no curl and no shell.

use std::{
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// Where a process that listens on `host` answers itself: its address, or
/// loopback when it listens on all.
pub fn own_address(host: Option<IpAddr>, port: u16) -> SocketAddr {
    let ip = host
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    SocketAddr::new(ip, port)
}

/// `GET path` at `address`: the status line and the body, all within
/// `timeout` (a stalled process fails the check instead of hanging it).
pub fn get(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(String, String)> {
    let deadline = Instant::now() + timeout;
    // At least a millisecond: a zero timeout is refused, and none blocks.
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        Some(left.max(Duration::from_millis(1)))
    };
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_write_timeout(left())?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    stream.set_read_timeout(left())?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut rest = String::new();
    reader.read_to_string(&mut rest)?;
    let body = rest
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, body)| body.to_owned());
    Ok((status, body))
}
