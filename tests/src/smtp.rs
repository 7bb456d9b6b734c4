//! Mail servers for tests: one that accepts connections and never answers
//! (a job stuck mid-send), and a minimal SMTP server that can be held
//! before its greeting and records what it receives.

use std::sync::{Arc, Mutex};

use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpListener,
    sync::{Semaphore, watch},
};

/// Accepts connections and never answers: a sender hangs until its own
/// timeout. Counts the connections it accepted.
#[derive(Debug)]
pub struct BlackHole {
    pub port: u16,
    accepted: watch::Receiver<usize>,
}

impl BlackHole {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (count, accepted) = watch::channel(0);
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
                count.send_modify(|n| *n += 1);
            }
        });
        Self { port, accepted }
    }

    /// Waits until at least one connection came in.
    pub async fn connected(&mut self) {
        self.accepted
            .wait_for(|n| *n > 0)
            .await
            .expect("black hole runs");
    }
}

/// An SMTP server that greets only after [`SmtpServer::release`], then
/// accepts every message and keeps its text.
#[derive(Debug, Clone)]
pub struct SmtpServer {
    pub port: u16,
    gate: Arc<Semaphore>,
    connected: watch::Receiver<usize>,
    received: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    pub async fn start_held() -> Self {
        Self::start(None).await
    }

    /// A released server that answers `command` (`RCPT`, `MAIL`) with
    /// `reply` (`550 5.1.1 ...`), as a real one refuses a recipient or a
    /// sender.
    pub async fn refusing(command: &'static str, reply: &'static str) -> Self {
        let server = Self::start(Some((command, reply))).await;
        server.release();
        server
    }

    async fn start(refuse: Option<(&'static str, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let gate = Arc::new(Semaphore::new(0));
        let (count, connected) = watch::channel(0);
        let received = Arc::new(Mutex::new(Vec::new()));
        let server = Self {
            port,
            gate: gate.clone(),
            connected,
            received: received.clone(),
        };
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                let (gate, received) = (gate.clone(), received.clone());
                tokio::spawn(async move {
                    if let Ok(permit) = gate.acquire().await {
                        permit.forget();
                        gate.add_permits(1);
                    }
                    let _ = converse(socket, &received, refuse).await;
                });
            }
        });
        server
    }

    /// Lets held and future connections proceed.
    pub fn release(&self) {
        self.gate.add_permits(1);
    }

    /// Waits until a client connected.
    pub async fn connected(&mut self) {
        self.connected
            .wait_for(|n| *n > 0)
            .await
            .expect("server runs");
    }

    /// The messages received so far (headers and body, lines ending in
    /// `\n`), as sent: [`crate::mail::parse`] decodes one.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("not poisoned").clone()
    }
}

async fn converse(
    socket: tokio::net::TcpStream,
    received: &Mutex<Vec<String>>,
    refuse: Option<(&str, &str)>,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 test ESMTP\r\n").await?;
    while let Some(line) = lines.next_line().await? {
        let command = line.to_ascii_uppercase();
        if let Some((refused, reply)) = refuse
            && command.starts_with(refused)
        {
            write.write_all(format!("{reply}\r\n").as_bytes()).await?;
        } else if command.starts_with("EHLO") || command.starts_with("HELO") {
            write.write_all(b"250 test\r\n").await?;
        } else if command.starts_with("DATA") {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut message = String::new();
            while let Some(line) = lines.next_line().await? {
                if line == "." {
                    break;
                }
                // Undo the client's dot-stuffing (RFC 5321 4.5.2): a line of
                // the message that starts with "." is sent with one more.
                message.push_str(line.strip_prefix('.').unwrap_or(&line));
                message.push('\n');
            }
            received.lock().expect("not poisoned").push(message);
            write.write_all(b"250 queued\r\n").await?;
        } else if command.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            write.write_all(b"250 ok\r\n").await?;
        }
    }
    Ok(())
}
