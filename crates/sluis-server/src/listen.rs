//! How connections are taken: HTTPS (or plain HTTP on loopback) in front of the router, with
//! bounds that no client can talk its way past: connections per client address and in all, a
//! TLS handshake that must finish in time, request headers that must arrive whole in time (also
//! between the requests of a kept-alive connection), and, in the router
//! ([`crate::http::router`]), request bodies that must arrive whole in time. A slow or idle
//! client is cut; the others are served.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at most from one client address.
    pub per_client: usize,
    /// Connections at most in all.
    pub total: usize,
    /// The longest a TLS handshake, or a request's headers, may take; also how long a
    /// kept-alive connection may wait for its next request.
    pub header_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            per_client: 16,
            total: 512,
            header_timeout: Duration::from_secs(10),
        }
    }
}

/// Open connections by client address.
#[derive(Debug, Default)]
struct Open {
    by_client: HashMap<IpAddr, usize>,
    total: usize,
}

/// A connection's place in [`Open`], given back when it ends.
struct Slot {
    open: Arc<Mutex<Open>>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut o = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        o.total = o.total.saturating_sub(1);
        if let Some(n) = o.by_client.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                o.by_client.remove(&self.client);
            }
        }
    }
}

fn admit(open: &Arc<Mutex<Open>>, client: IpAddr, limits: &Limits) -> Option<Slot> {
    let mut o = open
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mine = o.by_client.get(&client).copied().unwrap_or(0);
    if mine >= limits.per_client || o.total >= limits.total {
        return None;
    }
    o.by_client.insert(client, mine + 1);
    o.total += 1;
    Some(Slot {
        open: open.clone(),
        client,
    })
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    app: axum::Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let open = Arc::new(Mutex::new(Open::default()));
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => return,
            a = listener.accept() => a,
        };
        let Ok((tcp, peer)) = accepted else { continue };
        let Some(slot) = admit(&open, peer.ip(), &limits) else {
            tracing::warn!(%peer, "connection refused: too many from this address, or in all");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let service = hyper_util::service::TowerToHyperService::new(app);
            let mut builder =
                hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_timeout);
            let builder = builder.http1_only();
            match acceptor {
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp));
                    let Ok(Ok(tls)) = handshake.await else { return };
                    let io = hyper_util::rt::TokioIo::new(tls);
                    let _ = builder.serve_connection(io, service).await;
                }
                None => {
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = builder.serve_connection(io, service).await;
                }
            }
        });
    }
}
