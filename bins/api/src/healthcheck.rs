//! `api healthcheck`: the container's health check, asking this instance's
//! readiness over plain HTTP/1.1 from the standard library, so the image
//! needs no curl and no shell.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use anyhow::Context as _;
use infra::Settings;

/// Longer than readiness's own two-second check of each dependency, well
/// inside an orchestrator's usual probe timeout.
const TIMEOUT: Duration = Duration::from_secs(3);

/// `Ok` when `GET /v1/monitoring/ready` on `PORT` answers 200 within
/// [`TIMEOUT`]; otherwise why not.
pub fn check(settings: &Settings) -> anyhow::Result<()> {
    // The listener's own address, or loopback when it listens on all.
    let ip = settings
        .http
        .ip()
        .filter(|ip| !ip.is_unspecified())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let address = SocketAddr::new(ip, settings.http.port);
    let url = format!("http://{address}/v1/monitoring/ready");
    let status = status_line(address).with_context(|| format!("no answer from {url}"))?;
    if status.split(' ').nth(1) != Some("200") {
        anyhow::bail!("{url} answered {:?}", status.trim());
    }
    Ok(())
}

/// The first line of readiness's answer at `address`, all within [`TIMEOUT`].
fn status_line(address: SocketAddr) -> std::io::Result<String> {
    let deadline = Instant::now() + TIMEOUT;
    // At least a millisecond: a zero timeout is refused, and none blocks.
    let left = || {
        let left = deadline.saturating_duration_since(Instant::now());
        Some(left.max(Duration::from_millis(1)))
    };
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT)?;
    stream.set_write_timeout(left())?;
    stream.write_all(
        b"GET /v1/monitoring/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )?;
    stream.set_read_timeout(left())?;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status)?;
    Ok(status)
}
