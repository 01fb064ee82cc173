//! The accept loop: TLS (or plain HTTP when configured), HTTP/1.1 and HTTP/2 by ALPN or
//! preface, and the limits that keep one client from exhausting the server:
//! a connection cap (excess connections are closed on accept), a time limit on the TLS
//! handshake, the request head and the whole request, a header size limit, and the body
//! limit enforced by the handlers. Shutdown stops accepting, lets in-flight requests
//! finish within the grace period, then returns.
//!
//! Model: mini-redis `server::run(listener, shutdown)` — the caller binds and decides
//! when to stop, so tests run the real server on `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};

use rustls_pki_types::{CertificateDer, UnixTime};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::{error, router};
use crate::clock;
use crate::config::{Limits, Transport};
use crate::oauth::client_auth::tls_client_auth::PresentedCertificate;
use crate::service::Service;
use crate::tls::ClientCertPolicy;

/// What a reload (SIGHUP) swaps while connections keep being served: the service (config,
/// clients, keys, directory, Kerberos acceptor) and the TLS acceptor (certificates). New
/// requests use the new service; connections accepted afterwards use the new certificates.
pub struct Live {
    service: ArcSwap<Service>,
    acceptor: ArcSwapOption<(TlsAcceptor, Arc<ClientCertPolicy>)>,
}

impl Live {
    /// The initial state.
    pub fn new(service: Arc<Service>, transport: &Transport) -> Arc<Self> {
        Arc::new(Self {
            service: ArcSwap::new(service),
            acceptor: ArcSwapOption::new(acceptor_of(transport)),
        })
    }

    /// The service requests go to now.
    pub fn service(&self) -> Arc<Service> {
        self.service.load_full()
    }

    /// Swaps in a reloaded service and TLS configuration.
    pub fn replace(&self, service: Arc<Service>, transport: &Transport) {
        self.acceptor.store(acceptor_of(transport));
        self.service.store(service);
    }
}

fn acceptor_of(transport: &Transport) -> Option<Arc<(TlsAcceptor, Arc<ClientCertPolicy>)>> {
    match transport {
        Transport::Tls(cfg, policy) => Some(Arc::new((
            TlsAcceptor::from(Arc::clone(cfg)),
            Arc::clone(policy),
        ))),
        Transport::InsecureHttp => None,
    }
}

/// Serves `listeners` until `shutdown` completes, then drains.
pub async fn run(listeners: Vec<TcpListener>, live: Arc<Live>, shutdown: impl Future<Output = ()>) {
    let limits = live.service().limits();
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for listener in listeners {
        let ctx = Accept {
            live: Arc::clone(&live),
            permits: Arc::clone(&permits),
            limits,
        };
        tasks.push(tokio::spawn(accept_loop(listener, ctx, stop_rx.clone())));
    }
    shutdown.await;
    log::info!("shutting down: no new connections, draining in-flight requests");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
}

#[derive(Clone)]
struct Accept {
    live: Arc<Live>,
    permits: Arc<Semaphore>,
    limits: Limits,
}

async fn accept_loop(listener: TcpListener, ctx: Accept, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let builder = builder(&ctx.limits);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        log::warn!(reason = e.to_string().as_str(); "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(permit) = Arc::clone(&ctx.permits).try_acquire_owned() else {
                    log::warn!(peer = peer.to_string().as_str(); "connection limit reached; closing new connection");
                    continue;
                };
                let _ = stream.set_nodelay(true);
                serve_connection(stream, peer, &ctx, &builder, &graceful, permit);
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(ctx.limits.shutdown_grace) => {
            log::warn!("shutdown grace period over; closing remaining connections");
        }
    }
}

fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_concurrent_streams(64);
    b
}

/// Facts about the connection a request arrived on, put into each request's
/// extensions for the handlers.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer (a proxy, when there is one in front).
    pub peer: SocketAddr,
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    ctx: &Accept,
    builder: &auto::Builder<TokioExecutor>,
    graceful: &GracefulShutdown,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let timeout = ctx.limits.request_timeout;
    let builder = builder.clone();
    let live = Arc::clone(&ctx.live);
    match ctx.live.acceptor.load_full() {
        None => {
            let svc = request_service(live, timeout, ConnInfo { peer }, None);
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    log::debug!(peer = peer.to_string().as_str(), reason = e.to_string().as_str(); "connection ended with an error");
                }
                drop(permit);
            });
        }
        Some(tls) => {
            let (acceptor, policy) = (tls.0.clone(), Arc::clone(&tls.1));
            // The handshake happens inside the task; graceful shutdown covers connections
            // that completed it (a pending handshake is bounded by the request timeout).
            let watcher = graceful.watcher();
            tokio::spawn(async move {
                let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => {
                        log::info!(peer = peer.to_string().as_str(), reason = e.to_string().as_str(); "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        log::debug!(peer = peer.to_string().as_str(); "TLS handshake timed out");
                        return;
                    }
                };
                let certificate = client_certificate(&policy, tls.get_ref().1.peer_certificates());
                let svc = request_service(live, timeout, ConnInfo { peer }, certificate);
                let conn = builder
                    .serve_connection(TokioIo::new(tls), svc)
                    .into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    log::debug!(peer = peer.to_string().as_str(), reason = e.to_string().as_str(); "connection ended with an error");
                }
                drop(permit);
            });
        }
    }
}

/// The client certificate the handshake accepted, with how it was trusted.
fn client_certificate(
    policy: &ClientCertPolicy,
    chain: Option<&[CertificateDer<'static>]>,
) -> Option<Arc<PresentedCertificate>> {
    let (leaf, intermediates) = chain?.split_first()?;
    let now = UnixTime::since_unix_epoch(Duration::from_secs(clock::now_unix()));
    let trust = policy.classify(leaf, intermediates, now)?;
    Some(Arc::new(PresentedCertificate::new(leaf.to_vec(), trust)))
}

/// The per-connection hyper service: every request gets the connection facts and the
/// client certificate in its extensions, and a time limit.
fn request_service(
    live: Arc<Live>,
    timeout: Duration,
    info: ConnInfo,
    certificate: Option<Arc<PresentedCertificate>>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = super::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<super::Response, std::convert::Infallible>> + Send,
> + Clone {
    service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let service = live.service();
        req.extensions_mut().insert(info.clone());
        if let Some(c) = &certificate {
            req.extensions_mut().insert(Arc::clone(c));
        }
        async move {
            let resp = match tokio::time::timeout(timeout, router::route(&service, req)).await {
                Ok(resp) => resp,
                Err(_) => error::request_timeout(),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    })
}

/// Serves `GET /metrics` (plain HTTP, HTTP/1.1) on its own listener until the task is
/// aborted. Meant for a loopback address or a monitoring network, never the public one.
pub async fn serve_metrics(listener: TcpListener, live: Arc<Live>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let live = Arc::clone(&live);
        tokio::spawn(async move {
            let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let resp = router::route_metrics(&live.service(), &req);
                async move { Ok::<_, std::convert::Infallible>(resp) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}
