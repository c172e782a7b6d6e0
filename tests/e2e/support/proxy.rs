//! A TCP proxy in front of the shared PostgreSQL server, so a test can take
//! "the database" away from one roomcast server without touching the real
//! one (other tests and other people use it at the same time).
//!
//! `down()` closes the listening socket and every proxied connection: the
//! server's pooled connections see their peer hang up, and new connections are
//! refused, which is what a crashed or unreachable database looks like.
//! `up()` listens again on the same port, so the server's configured
//! `database_url` works again without a restart.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{sleep, Instant};

use super::backend::pg_upstream;

pub struct DbProxy {
    port: u16,
    upstream: String,
    running: Mutex<Option<Running>>,
}

struct Running {
    /// Accepting connections but never answering on them (`hang`).
    hung: bool,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl DbProxy {
    /// A proxy to the PostgreSQL server the suite creates its databases on.
    pub async fn to_postgres() -> DbProxy {
        DbProxy::start(pg_upstream()).await
    }

    /// Listens on `127.0.0.1:<free port>` and forwards every connection to
    /// `upstream` (`host:port`).
    pub async fn start(upstream: String) -> DbProxy {
        let listener = listen(0).expect("the DB proxy cannot listen on 127.0.0.1:0");
        let port = listener.local_addr().unwrap().port();
        let proxy = DbProxy {
            port,
            upstream,
            running: Mutex::new(None),
        };
        proxy.serve(listener, false);
        proxy
    }

    /// The port the server should use as its database's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Listening and forwarding (neither `down` nor `hung`).
    pub fn is_up(&self) -> bool {
        self.running
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|r| !r.hung)
    }

    /// Stops listening and cuts every open proxied connection. When this
    /// returns, the port refuses connections and no old connection is left.
    pub async fn down(&self) {
        let Some(running) = self.running.lock().unwrap().take() else {
            return;
        };
        running.accept.abort();
        // Awaiting the aborted task means its listener has been dropped; every
        // connection it accepted was registered before its last await point.
        let _ = running.accept.await;
        let connections = std::mem::take(&mut *running.connections.lock().unwrap());
        for connection in &connections {
            connection.abort();
        }
        for connection in connections {
            let _ = connection.await;
        }
    }

    /// Listens again on the same port (and forwards again).
    pub async fn up(&self) {
        if self.is_up() {
            return;
        }
        self.down().await;
        let listener = self.listen_again().await;
        self.serve(listener, false);
    }

    /// A database host that is there but does not answer: cuts every open
    /// connection like `down`, then accepts new ones and never says a word on
    /// them. Only a timeout gets a client out of such a connection attempt.
    pub async fn hang(&self) {
        self.down().await;
        let listener = self.listen_again().await;
        self.serve(listener, true);
    }

    async fn listen_again(&self) -> TcpListener {
        // The port was ours a moment ago; a TIME_WAIT leftover is no obstacle
        // (SO_REUSEADDR), but give a transient failure a few more tries.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match listen(self.port) {
                Ok(listener) => return listener,
                Err(e) if Instant::now() < deadline => {
                    eprintln!(
                        "[db proxy] re-listening on {} failed ({e}); retrying",
                        self.port
                    );
                    sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!(
                    "the DB proxy cannot listen on port {} again: {e}",
                    self.port
                ),
            }
        }
    }

    fn serve(&self, listener: TcpListener, hung: bool) {
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let upstream = self.upstream.clone();
        let registry = connections.clone();
        let accept = tokio::spawn(async move {
            loop {
                let inbound = match listener.accept().await {
                    Ok((inbound, _)) => inbound,
                    Err(_) => {
                        // e.g. out of file descriptors: do not spin.
                        sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let handle = if hung {
                    tokio::spawn(swallow(inbound))
                } else {
                    tokio::spawn(forward(inbound, upstream.clone()))
                };
                let mut open = registry.lock().unwrap();
                open.retain(|h| !h.is_finished());
                open.push(handle);
            }
        });
        *self.running.lock().unwrap() = Some(Running {
            hung,
            accept,
            connections,
        });
    }
}

impl Drop for DbProxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.lock().unwrap().take() {
            running.accept.abort();
            for connection in running.connections.lock().unwrap().iter() {
                connection.abort();
            }
        }
    }
}

fn listen(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    socket.listen(1024)
}

async fn forward(mut inbound: TcpStream, upstream: String) {
    // If the upstream is unreachable, dropping `inbound` tells the client so.
    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
        let _ = inbound.set_nodelay(true);
        let _ = outbound.set_nodelay(true);
        let _ = copy_bidirectional(&mut inbound, &mut outbound).await;
    }
}

/// Reads and discards whatever the client sends, and never answers.
async fn swallow(mut inbound: TcpStream) {
    let _ = tokio::io::copy(&mut inbound, &mut tokio::io::sink()).await;
    // The client closed its side; keep ours open until the proxy is reset.
    std::future::pending::<()>().await;
}
