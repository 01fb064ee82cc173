//! The accept loop: TLS (or plain HTTP when configured), HTTP/1.1 and HTTP/2 by ALPN or
//! preface, and the limits that keep one client from exhausting the server:
//! - a connection cap for the server and one per client address (IPv4 address, IPv6 /64;
//!   `tls.trusted_proxies` are exempt from the per-address cap): excess connections are
//!   closed on accept;
//! - a deadline from accept until the TLS handshake is done and the first request has
//!   arrived (`server.handshake_timeout_secs`): a connection that sends nothing, half an
//!   HTTP/2 preface or nothing after the handshake is closed then;
//! - an idle deadline for kept-alive HTTP/1.1 and HTTP/2 connections with no request in
//!   progress (`server.idle_timeout_secs`), whatever the client sends between requests
//!   (HTTP/2 PINGs and SETTINGS do not keep a connection open);
//! - a time limit on the request head and the whole request, a header size limit, and
//!   the body limit enforced by the handlers.
//!
//! Shutdown stops accepting, asks every connection to finish (HTTP/2 GOAWAY, HTTP/1
//! close after the current request), lets in-flight requests finish within the grace
//! period, then returns.
//!
//! Model: mini-redis `server::run(listener, shutdown)` — the caller binds and decides
//! when to stop, so tests run the real server on `127.0.0.1:0`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};

use rustls_pki_types::{CertificateDer, UnixTime};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use super::extract::ConnInfo;
use super::{error, router};
use crate::clock;
use crate::config::Limits;
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
    pub fn new(service: Arc<Service>) -> Arc<Self> {
        Arc::new(Self {
            acceptor: ArcSwapOption::new(acceptor_of(&service)),
            service: ArcSwap::new(service),
        })
    }

    /// The service requests go to now.
    pub fn service(&self) -> Arc<Service> {
        self.service.load_full()
    }

    /// Swaps in a reloaded service and its TLS configuration.
    pub fn replace(&self, service: Arc<Service>) {
        self.acceptor.store(acceptor_of(&service));
        self.service.store(service);
    }
}

fn acceptor_of(service: &Service) -> Option<Arc<(TlsAcceptor, Arc<ClientCertPolicy>)>> {
    service
        .tls()
        .map(|(config, policy)| Arc::new((TlsAcceptor::from(config), policy)))
}

/// Serves `listeners` until `shutdown` completes, then drains. The connection limits and
/// deadlines are those of the service at start (a reload does not change them).
pub async fn run(listeners: Vec<TcpListener>, live: Arc<Live>, shutdown: impl Future<Output = ()>) {
    let service = live.service();
    let limits = service.limits();
    let exempt = service.trusted_proxies().to_vec();
    drop(service);
    let gate = Arc::new(Gate::new(&limits, exempt));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    for listener in listeners {
        let ctx = Accept {
            live: Arc::clone(&live),
            gate: Arc::clone(&gate),
            limits,
            stop: stop_rx.clone(),
        };
        tasks.push(tokio::spawn(accept_loop(listener, ctx)));
    }
    shutdown.await;
    log::info!("shutting down: no new connections, draining in-flight requests");
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = t.await;
    }
    // Every connection holds one of the gate's permits until its task ends; each task
    // bounds its own drain by the grace period.
    let drain = limits.shutdown_grace + Duration::from_millis(500);
    if tokio::time::timeout(drain, gate.drained()).await.is_err() {
        log::warn!("shutdown grace period over; closing remaining connections");
    }
}

#[derive(Clone)]
struct Accept {
    live: Arc<Live>,
    gate: Arc<Gate>,
    limits: Limits,
    stop: watch::Receiver<bool>,
}

async fn accept_loop(listener: TcpListener, ctx: Accept) {
    let builder = builder(&ctx.limits);
    let mut stop = ctx.stop.clone();
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        log::warn!(reason = e.to_string().as_str(); "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let accepted_at = Instant::now();
                let Some(slot) = ctx.gate.admit(peer.ip()) else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                serve_connection(stream, peer, accepted_at, &ctx, &builder, slot);
            }
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

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    accepted_at: Instant,
    ctx: &Accept,
    builder: &auto::Builder<TokioExecutor>,
    slot: Slot,
) {
    let limits = ctx.limits;
    let builder = builder.clone();
    let live = Arc::clone(&ctx.live);
    let stop = ctx.stop.clone();
    let activity = Arc::new(Activity::new(accepted_at));
    let tls = ctx.live.acceptor.load_full();
    tokio::spawn(async move {
        let _slot = slot;
        let info = ConnInfo { peer };
        match tls {
            None => {
                let svc = request_service(
                    live,
                    limits.request_timeout,
                    info,
                    None,
                    Arc::clone(&activity),
                );
                drive(
                    TokioIo::new(stream),
                    svc,
                    &builder,
                    &activity,
                    &limits,
                    stop,
                )
                .await;
            }
            Some(tls) => {
                let deadline = accepted_at + limits.handshake_timeout;
                let (acceptor, policy) = (&tls.0, &tls.1);
                let tls = match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
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
                let certificate = client_certificate(policy, tls.get_ref().1.peer_certificates());
                let svc = request_service(
                    live,
                    limits.request_timeout,
                    info,
                    certificate,
                    Arc::clone(&activity),
                );
                drive(TokioIo::new(tls), svc, &builder, &activity, &limits, stop).await;
            }
        }
    });
}

/// Serves one connection until it ends, stays without a request past its deadline, or
/// the server stops; then closes it gracefully (HTTP/2 GOAWAY), bounded in time.
async fn drive<I, S, B>(
    io: I,
    svc: S,
    builder: &auto::Builder<TokioExecutor>,
    activity: &Activity,
    limits: &Limits,
    mut stop: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::Service<http::Request<hyper::body::Incoming>, Response = http::Response<B>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = pin!(builder.serve_connection(io, svc));
    let grace = tokio::select! {
        ended = conn.as_mut() => {
            if let Err(e) = ended {
                log::debug!(reason = e.to_string().as_str(); "connection ended with an error");
            }
            return;
        }
        () = activity.idle(limits.handshake_timeout, limits.idle_timeout) => {
            log::debug!("closing a connection without a request in time");
            limits.request_timeout
        }
        () = stopped(&mut stop) => limits.shutdown_grace,
    };
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(grace, conn).await;
}

/// Resolves once the server is stopping.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow_and_update() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// When a connection last started or finished a request, and how many are in progress:
/// what its idle deadline is measured from.
struct Activity {
    accepted_at: Instant,
    in_flight: AtomicUsize,
    /// Bumped at every request start and end; 0 while no request has arrived.
    changes: AtomicU64,
    /// Milliseconds from `accepted_at` to the last change.
    last_change_ms: AtomicU64,
}

impl Activity {
    fn new(accepted_at: Instant) -> Self {
        Self {
            accepted_at,
            in_flight: AtomicUsize::new(0),
            changes: AtomicU64::new(0),
            last_change_ms: AtomicU64::new(0),
        }
    }

    /// A request has arrived; the returned guard marks its end when dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(Arc::clone(self))
    }

    fn touch(&self) {
        let ms = u64::try_from(self.accepted_at.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_change_ms.store(ms, Ordering::Release);
        self.changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Resolves when no request has arrived within `first` of the accept, or none has
    /// been in progress for `idle`.
    async fn idle(&self, first: Duration, idle: Duration) {
        loop {
            let seen = self.changes.load(Ordering::Acquire);
            let deadline = if seen == 0 {
                self.accepted_at + first
            } else {
                let last = self.last_change_ms.load(Ordering::Acquire);
                self.accepted_at + Duration::from_millis(last) + idle
            };
            tokio::time::sleep_until(deadline).await;
            if self.changes.load(Ordering::Acquire) != seen {
                continue;
            }
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            // A request is in progress (bounded by the request timeout): look again later.
            tokio::time::sleep(idle).await;
        }
    }
}

struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.touch();
    }
}

/// Admission of new connections: one permit of the server-wide cap each, and at most
/// `per_address` at once from one client address (an IPv6 /64 counts as one address).
struct Gate {
    total: Arc<Semaphore>,
    max_total: usize,
    per_address: usize,
    exempt: Vec<IpAddr>,
    by_address: Mutex<HashMap<IpAddr, usize>>,
    refusals: Mutex<RefusalLog>,
}

/// A connection's place in the [`Gate`], given back when dropped.
struct Slot {
    gate: Arc<Gate>,
    address: Option<IpAddr>,
    _permit: OwnedSemaphorePermit,
}

impl Gate {
    fn new(limits: &Limits, exempt: Vec<IpAddr>) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_connections)),
            max_total: limits.max_connections,
            per_address: limits.max_connections_per_address,
            exempt: exempt.into_iter().map(address_key).collect(),
            by_address: Mutex::new(HashMap::new()),
            refusals: Mutex::new(RefusalLog::default()),
        }
    }

    /// A slot for a connection from `peer`, or `None` (logged at most every 10 s) when a
    /// cap is reached.
    fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<Slot> {
        let key = address_key(peer);
        let address = if self.exempt.contains(&key) {
            None
        } else {
            let Ok(mut counts) = self.by_address.lock() else {
                return None;
            };
            let n = counts.entry(key).or_insert(0);
            if *n >= self.per_address {
                drop(counts);
                self.refused("the connection limit per client address", peer);
                return None;
            }
            *n += 1;
            Some(key)
        };
        let permit = match Arc::clone(&self.total).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                self.release(address);
                self.refused("the connection limit", peer);
                return None;
            }
        };
        Some(Slot {
            gate: Arc::clone(self),
            address,
            _permit: permit,
        })
    }

    fn release(&self, address: Option<IpAddr>) {
        let Some(key) = address else { return };
        if let Ok(mut counts) = self.by_address.lock()
            && let Some(n) = counts.get_mut(&key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&key);
            }
        }
    }

    fn refused(&self, limit: &'static str, peer: IpAddr) {
        let Ok(mut log) = self.refusals.lock() else {
            return;
        };
        log.closed += 1;
        let now = Instant::now();
        if log
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(10))
        {
            return;
        }
        log::warn!(
            peer = peer.to_string().as_str(), closed = log.closed;
            "{limit} is reached; closing new connections"
        );
        log.last = Some(now);
        log.closed = 0;
    }

    /// Resolves when every slot has been given back.
    async fn drained(&self) {
        let all = u32::try_from(self.max_total).unwrap_or(u32::MAX);
        let _ = self.total.acquire_many(all).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gate.release(self.address);
    }
}

/// Refused connections since the last warning, so a flood writes one line per 10 s.
#[derive(Default)]
struct RefusalLog {
    last: Option<Instant>,
    closed: u64,
}

/// What the per-address cap counts by: the IPv4 address (also when mapped into IPv6),
/// or the IPv6 /64 (one host can hold a whole /64).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
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
/// client certificate in its extensions, and a time limit; it counts as activity of the
/// connection while it runs.
fn request_service(
    live: Arc<Live>,
    timeout: Duration,
    info: ConnInfo,
    certificate: Option<Arc<PresentedCertificate>>,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = super::Response,
    Error = std::convert::Infallible,
    Future = impl Future<Output = Result<super::Response, std::convert::Infallible>> + Send,
> + Clone
+ Send
+ 'static {
    service_fn(move |mut req: http::Request<hyper::body::Incoming>| {
        let in_flight = activity.begin();
        let service = live.service();
        req.extensions_mut().insert(info.clone());
        if let Some(c) = &certificate {
            req.extensions_mut().insert(Arc::clone(c));
        }
        let framing = framing_problem(&req);
        async move {
            let _in_flight = in_flight;
            if let Some(refusal) = framing {
                return Ok(refusal);
            }
            let resp = match tokio::time::timeout(timeout, router::route(&service, req)).await {
                Ok(resp) => resp,
                Err(_) => error::request_timeout(),
            };
            Ok::<_, std::convert::Infallible>(resp)
        }
    })
}

/// Message framing hyper lets through but RFC 9112 refuses: an HTTP/1.1 request needs
/// exactly one `Host` (§3.2; HTTP/1.0 and HTTP/2 at most one), and a transfer coding
/// other than `chunked` is not understood (§6.1: 501).
fn framing_problem<B>(req: &http::Request<B>) -> Option<super::Response> {
    let hosts = req.headers().get_all(http::header::HOST).iter().count();
    let needs_host = req.version() == http::Version::HTTP_11;
    if hosts > 1 || (needs_host && hosts == 0) {
        return Some(error::json_error(
            http::StatusCode::BAD_REQUEST,
            "invalid_request",
            Some("an HTTP/1.1 request carries exactly one Host header (RFC 9112 §3.2)"),
        ));
    }
    let unknown_coding = req
        .headers()
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .any(|coding| !coding.trim().eq_ignore_ascii_case("chunked"));
    if unknown_coding {
        return Some(error::json_error(
            http::StatusCode::NOT_IMPLEMENTED,
            "invalid_request",
            Some("only the chunked transfer coding is understood (RFC 9112 §6.1)"),
        ));
    }
    None
}

/// Serves `GET /metrics` (plain HTTP, HTTP/1.1) on its own listener until the task is
/// aborted. Meant for a loopback address or a monitoring network, never the public one.
/// A connection lasts at most a minute.
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
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc);
            let _ = tokio::time::timeout(Duration::from_secs(60), conn).await;
        });
    }
}
