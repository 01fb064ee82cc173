//! The daemon: `ahdapa serve` (and `serve --dev`, `check-config`): config, preflight,
//! binding, the service, the server loop, SIGHUP reloads and SIGTERM drains. In the
//! library, so tests can run it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{self, Config, Transport};
use crate::service::Service;
use crate::{dev, logging, systemd, web};

pub fn load_config(path: &Path) -> Result<Config, String> {
    config::load(path).map_err(|e| e.to_string())
}

pub fn check_config(path: &Path) -> Result<(), String> {
    let cfg = load_config(path)?;
    preflight(path, &cfg)?;
    for w in warnings(&cfg) {
        eprintln!("{}: warning: {w}", path.display());
    }
    println!(
        "{}: OK (issuer {}, {} listener(s), {} client(s) in the file)",
        path.display(),
        cfg.issuer,
        cfg.server.listen.len(),
        cfg.clients.len()
    );
    Ok(())
}

/// What is valid but probably not meant (`check-config` prints these, `serve` logs
/// them): `regex:` redirect URIs whose host has an unescaped `.`.
fn warnings(cfg: &Config) -> Vec<String> {
    cfg.clients
        .iter()
        .flat_map(|c| {
            c.redirect_uris
                .warnings()
                .into_iter()
                .map(move |w| format!("client {} redirect_uris: {w}", c.client_id))
        })
        .collect()
}

/// The checks of the files the config names, all problems in one message.
fn preflight(path: &Path, cfg: &Config) -> Result<(), String> {
    let problems = crate::preflight::check(cfg);
    if problems.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Err(format!(
        "{}: {} error(s)\n{}",
        path.display(),
        problems.len(),
        lines.join("\n")
    ))
}

/// Checks, binds, and only then opens the store (which may create the database, the
/// master key and a signing key): a start that fails leaves no state behind.
pub async fn serve(path: &Path) -> Result<(), String> {
    let cfg = load_config(path)?;
    logging::init(cfg.log_level);
    preflight(path, &cfg)?;
    for w in warnings(&cfg) {
        log::warn!(problem = w.as_str(); "config");
    }
    // Socket activation (ahdapa.socket): systemd's sockets replace server.listen, and one
    // named `metrics` replaces metrics.listen.
    let inherited = inherited_sockets()?;
    let listeners = if inherited.main.is_empty() {
        let mut bound = Vec::new();
        for addr in &cfg.server.listen {
            bound.push(bind(*addr).await?);
        }
        bound
    } else {
        log::info!(
            "serving on {} socket(s) from systemd (socket activation); server.listen is not bound",
            inherited.main.len()
        );
        inherited.main
    };
    let metrics_listener = match (inherited.metrics, cfg.metrics_listen) {
        (Some(l), _) => Some(l),
        (None, Some(addr)) => Some(bind(addr).await?),
        (None, None) => None,
    }
    .map(|l| {
        (
            l.local_addr()
                .map_or_else(|_| "?".to_owned(), |a| a.to_string()),
            l,
        )
    });
    let service = Service::open(&cfg).await.map_err(|e| e.to_string())?;
    let live = web::server::Live::new(service);
    let metrics = metrics_listener.map(|(addr, l)| {
        log::info!("metrics on http://{addr}/metrics");
        tokio::spawn(web::server::serve_metrics(l, Arc::clone(&live)))
    });
    let scheme = scheme_of(&cfg.server.transport);
    let result = run(live, listeners, scheme, Some((path.to_owned(), cfg))).await;
    if let Some(m) = metrics {
        m.abort();
    }
    result
}

/// On SIGHUP: reads the config again and, when it is valid and the service starts from
/// it, swaps it in (new requests and new TLS connections use it). A bad config is
/// refused with every mistake logged, and the old one keeps serving.
async fn reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    path: PathBuf,
    mut current: Config,
    live: Arc<web::server::Live>,
    refresher: Arc<std::sync::Mutex<tokio::task::JoinHandle<()>>>,
) {
    let mut generation = 0u64;
    while hup.recv().await.is_some() {
        generation += 1;
        systemd::reload_started(generation);
        systemd::reloading();
        log::info!(config = path.display().to_string().as_str(); "SIGHUP: reloading");
        let outcome = match config::load(&path) {
            Err(errors) => Err(errors.to_string()),
            Ok(cfg) => match live.service().reload(&cfg, &current).await {
                Err(e) => Err(e.to_string()),
                Ok(service) => {
                    live.replace(Arc::clone(&service));
                    log::set_max_level(cfg.log_level);
                    if let Ok(mut r) = refresher.lock() {
                        r.abort();
                        *r = service.spawn_refresher();
                    }
                    current = cfg;
                    Ok(service)
                }
            },
        };
        match outcome {
            Ok(service) => {
                log::info!(kid = service.active_kid().as_str(), clients = service.client_count(); "configuration reloaded");
                systemd::ready(&format!(
                    "serving {} client(s), signing with {} (reloaded)",
                    service.client_count(),
                    service.active_kid()
                ));
                systemd::reloaded(generation, true);
            }
            Err(reason) => {
                log::error!(reason = reason.as_str(); "reload refused; the previous configuration keeps serving");
                systemd::ready(
                    "reload refused: the previous configuration keeps serving; see the log",
                );
                systemd::reloaded(generation, false);
            }
        }
    }
}

fn scheme_of(transport: &Transport) -> &'static str {
    if matches!(transport, Transport::Tls(..)) {
        "https"
    } else {
        "http"
    }
}

pub async fn serve_dev(listen: SocketAddr, state_dir: Option<PathBuf>) -> Result<(), String> {
    logging::init(log::LevelFilter::Info);
    let state_dir = state_dir.unwrap_or_else(dev::default_state_dir);
    std::fs::create_dir_all(&state_dir).map_err(|e| format!("{}: {e}", state_dir.display()))?;
    let listener = bind(listen).await?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let issuer = format!("http://{local}");
    let mut cfg = dev::config(&state_dir, &issuer).map_err(|errs| {
        let lines: Vec<String> = errs.iter().map(ToString::to_string).collect();
        format!("config/dev.toml is invalid: {}", lines.join("; "))
    })?;
    let person = dev::ensure_demo_person(&state_dir)?;
    cfg.dev = Some(person.clone());
    cfg.clients.push(dev::demo_app(&issuer)?);
    let service = Service::open(&cfg).await.map_err(|e| e.to_string())?;
    let secret = dev::ensure_demo_client(service.store().as_ref(), &state_dir).await?;
    service.refresh().await.map_err(|e| e.to_string())?;
    print!("{}", dev::banner(&issuer, &state_dir, &secret, &person));
    let live = web::server::Live::new(service);
    run(live, vec![listener], "http", None).await
}

/// The listening sockets systemd passed (`LISTEN_FDS`, for this process): those named
/// `metrics` (`FileDescriptorName=metrics`) for the metrics listener, the others for the
/// service.
struct Inherited {
    main: Vec<tokio::net::TcpListener>,
    metrics: Option<tokio::net::TcpListener>,
}

fn inherited_sockets() -> Result<Inherited, String> {
    let mut fds = listenfd::ListenFd::from_env();
    let names: Vec<String> = crate::clock::env_var("LISTEN_FDNAMES")
        .map(|n| n.split(':').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut inherited = Inherited {
        main: Vec::new(),
        metrics: None,
    };
    for i in 0..fds.len() {
        let name = names.get(i).map_or("", String::as_str);
        let fail = |e: std::io::Error| {
            format!(
                "socket {i} ({name}) from systemd: {e} (ahdapa.socket must use ListenStream= with an address)"
            )
        };
        let Some(listener) = fds.take_tcp_listener(i).map_err(fail)? else {
            continue;
        };
        listener.set_nonblocking(true).map_err(fail)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(fail)?;
        if name == "metrics" {
            if inherited.metrics.is_some() {
                return Err(
                    "systemd passed two sockets named metrics; the metrics listener takes one"
                        .into(),
                );
            }
            inherited.metrics = Some(listener);
        } else {
            inherited.main.push(listener);
        }
    }
    Ok(inherited)
}

/// A listener with a backlog of 4096 (the kernel caps it at `net.core.somaxconn`): std's
/// 128 drops handshakes in a burst of new connections, which then wait a whole second
/// for the SYN to be sent again.
async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    let fail = |e: std::io::Error| format!("cannot listen on {addr}: {e}");
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(fail)?;
    socket.set_reuseaddr(true).map_err(fail)?;
    socket.bind(addr).map_err(fail)?;
    socket.listen(4096).map_err(fail)
}

async fn run(
    live: Arc<web::server::Live>,
    listeners: Vec<tokio::net::TcpListener>,
    scheme: &str,
    reload: Option<(PathBuf, Config)>,
) -> Result<(), String> {
    let service = live.service();
    for l in &listeners {
        if let Ok(addr) = l.local_addr() {
            log::info!(kid = service.active_kid().as_str(), clients = service.client_count(); "listening on {scheme}://{addr}");
        }
    }
    let refresher = Arc::new(std::sync::Mutex::new(service.spawn_refresher()));
    // The SIGHUP handler is in place before READY=1: a reload asked for right after the
    // start must not meet the default action (which ends the process).
    let reloader = match reload {
        None => None,
        Some((path, cfg)) => {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::hangup()) {
                Ok(hup) => Some(tokio::spawn(reload_on_sighup(
                    hup,
                    path,
                    cfg,
                    Arc::clone(&live),
                    Arc::clone(&refresher),
                ))),
                Err(e) => {
                    log::warn!(reason = e.to_string().as_str(); "cannot listen for SIGHUP; reload needs a restart");
                    None
                }
            }
        }
    };
    let watchdog = systemd::spawn_watchdog();
    systemd::ready(&format!(
        "serving {} client(s), signing with {}",
        service.client_count(),
        service.active_kid()
    ));
    drop(service);
    let shutdown = async {
        shutdown_signal().await;
        systemd::stopping();
    };
    web::server::run(listeners, live, shutdown).await;
    if let Ok(r) = refresher.lock() {
        r.abort();
    }
    if let Some(r) = reloader {
        r.abort();
    }
    if let Some(w) = watchdog {
        w.abort();
    }
    log::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
