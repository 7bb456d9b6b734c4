//! A TCP proxy in front of a real server (Redis, Postgres) that a test can
//! make misbehave: hang (keep connections open and stop forwarding) or cut
//! every open connection, as a network fault or a server restart would.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
    sync::watch,
};

/// What the connections do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mode {
    forwarding: bool,
    /// Bytes that, seen in what a client sends, make the proxy hang before
    /// forwarding them ([`TcpProxy::hang_on`]).
    hang_on: Option<&'static [u8]>,
    /// Bumped by [`TcpProxy::cut`]: connections older than it close.
    cuts: u64,
}

/// A proxy on `127.0.0.1:port`, forwarding to one upstream address.
#[derive(Debug)]
pub struct TcpProxy {
    pub port: u16,
    mode: watch::Sender<Mode>,
    /// Chunks clients sent while the proxy hung (never forwarded).
    held: Arc<AtomicU64>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let upstream: SocketAddr = tokio::net::lookup_host(upstream)
            .await
            .expect("resolve the upstream")
            .next()
            .expect("an upstream address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let (mode, _) = watch::channel(Mode {
            forwarding: true,
            hang_on: None,
            cuts: 0,
        });
        let held = Arc::new(AtomicU64::new(0));
        let (modes, counter) = (mode.clone(), held.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                let born = modes.borrow().cuts;
                let (client_read, client_write) = client.into_split();
                let (server_read, server_write) = server.into_split();
                for (from, to, from_client) in [
                    (client_read, server_write, true),
                    (server_read, client_write, false),
                ] {
                    let (mode, held) = (modes.subscribe(), counter.clone());
                    let modes = modes.clone();
                    tokio::spawn(pump(from, to, (mode, modes), born, held, from_client));
                }
            }
        });
        Self { port, mode, held }
    }

    /// `scheme://127.0.0.1:port` plus `rest` (a path, a query).
    pub fn url(&self, scheme: &str, rest: &str) -> String {
        format!("{scheme}://127.0.0.1:{}{rest}", self.port)
    }

    /// Stops forwarding: connections stay open, and what either side sends
    /// is held, as a hung server's peer sees it.
    pub fn hang(&self) {
        self.mode.send_modify(|mode| mode.forwarding = false);
    }

    /// Forwards until a client sends a chunk holding `bytes` (`b"COMMIT"`),
    /// then hangs, that chunk held: the server never sees it.
    pub fn hang_on(&self, bytes: &'static [u8]) {
        self.mode.send_modify(|mode| mode.hang_on = Some(bytes));
    }

    /// Forwards again, as a server back from an outage does.
    pub fn resume(&self) {
        self.mode.send_modify(|mode| {
            mode.forwarding = true;
            mode.hang_on = None;
        });
    }

    /// Closes every open connection at once (new ones still work).
    pub fn cut(&self) {
        self.mode.send_modify(|mode| mode.cuts += 1);
    }

    /// How many chunks clients sent while the proxy hung: the commands a
    /// client tried on a server that never answered.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` while the mode allows, until either side closes
/// or a cut newer than `born` comes.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    (mut mode, modes): (watch::Receiver<Mode>, watch::Sender<Mode>),
    born: u64,
    held: Arc<AtomicU64>,
    from_client: bool,
) {
    let mut buf = vec![0_u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            _ = mode.wait_for(|mode| mode.cuts > born) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let trigger = mode.borrow().hang_on;
        if from_client
            && let Some(bytes) = trigger
            && buf[..n].windows(bytes.len()).any(|window| window == bytes)
        {
            modes.send_modify(|mode| mode.forwarding = false);
        }
        if !mode.borrow().forwarding {
            held.fetch_add(1, Ordering::SeqCst);
            // Held until the connection is cut or closed.
            let _ = mode.wait_for(|mode| mode.cuts > born).await;
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
