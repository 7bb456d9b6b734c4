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

/// The cache in the Redis at `url` under `prefix`, built from the
/// settings as the app builds it, with `timeout` for every command.
pub fn redis_cache(url: &str, prefix: &str, timeout: std::time::Duration) -> infra::cache::Cache {
    let redis = infra::config::RedisSettings {
        url: Some(infra::config::SecretUrl::new(url)),
        key_prefix: prefix.to_owned(),
        timeout_ms: u64::try_from(timeout.as_millis()).expect("a short timeout"),
        ..Default::default()
    };
    infra::cache::Cache::from_settings(&infra::config::CacheSettings::default(), &redis)
        .expect("a cache")
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

/// A `redis-server` of a test's own that speaks only TLS, with a
/// certificate for `localhost` and `127.0.0.1` from a CA made for it (with
/// the `openssl` command). Its files live in `dir`, removed with it.
#[derive(Debug)]
pub struct TlsRedis {
    pub port: u16,
    /// The CA's certificate (PEM), for `REDIS_CA_CERT`.
    pub ca_cert: std::path::PathBuf,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl TlsRedis {
    /// Makes the certificates and starts the server; waits until it takes
    /// TLS connections.
    pub fn start() -> Self {
        let dir = crate::scratch_dir("tls-redis");
        let run = |program: &str, args: &str| {
            std::process::Command::new(program)
                .args(args.split_whitespace())
                .current_dir(&dir)
                .output()
                .unwrap_or_else(|err| panic!("{program} runs: {err}"))
        };
        std::fs::write(
            dir.join("san.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .expect("write the SAN extension");
        for args in [
            "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=TestRedisCA -keyout ca.key -out ca.crt",
            "req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr",
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
             -extfile san.cnf -out server.crt",
        ] {
            let output = run("openssl", args);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "openssl {args}: {stderr}");
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut child = std::process::Command::new("redis-server")
            .args(
                format!(
                    "--port 0 --tls-port {port} --tls-cert-file server.crt \
                     --tls-key-file server.key --tls-ca-cert-file ca.crt \
                     --tls-auth-clients no --appendonly no"
                )
                .split_whitespace(),
            )
            .args(["--save", ""])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("redis-server with TLS exited ({status})");
            }
            let ping = run(
                "redis-cli",
                &format!("--tls --cacert ca.crt -p {port} PING"),
            );
            if String::from_utf8_lossy(&ping.stdout).trim() == "PONG" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "TLS redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            port,
            ca_cert: dir.join("ca.crt"),
            dir,
            child,
        }
    }

    /// `rediss://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("rediss://localhost:{}", self.port)
    }
}

impl Drop for TlsRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
