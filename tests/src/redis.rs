//! Redis for tests: the shared server of `TEST_REDIS_URL` under a key
//! prefix of the test's own, or a server of the test's own to stop and
//! restart.

use std::net::TcpListener;

/// The Redis server for tests that need one (`TEST_REDIS_URL`), if any.
pub fn test_redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// A key prefix no other test uses, so tests share one Redis safely.
pub fn unique_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// A Redis server of a test's own, so it can be stopped, paused and
/// restarted without disturbing other tests. Needs `redis-server` on PATH.
#[derive(Debug)]
pub struct OwnRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts `redis-server` on `port` (0: any free port) and waits until it
    /// accepts connections; `None` if it cannot be started.
    pub fn start(port: u16) -> Option<Self> {
        let port = if port == 0 {
            TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port()
        } else {
            port
        };
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let mut redis = Self {
            port,
            child: Some(child),
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // Ours must still be running: if another process took the port,
            // redis-server exits and the port answers someone else.
            if let Some(child) = redis.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("redis-server exited ({status}); port {port} taken?");
            }
            if redis_answers(port) {
                return Some(redis);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Makes the server ignore every client for `millis` while keeping its
    /// data: an outage without data loss.
    pub fn pause(&self, millis: u64) {
        let status = std::process::Command::new("redis-cli")
            .args([
                "-p",
                &self.port.to_string(),
                "CLIENT",
                "PAUSE",
                &millis.to_string(),
                "ALL",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("redis-cli runs");
        assert!(status.success());
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether a Redis answers PING on `port`.
fn redis_answers(port: u16) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
    let mut reply = [0_u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
