//! ahdapa: a Kerberos-integrated OAuth 2.0 / OpenID Connect identity provider for Linux
//! fleets.
//!
//! ```text
//!   main ──► cli (clap, dispatch) ──► daemon (serve, reload, drain) / admin::local / admin::commands
//!
//!              ┌──────────── adapters (I/O) ─────────────────────────────┐
//!   socket ──► web::server ──► web::router ──► web::handlers, web::admin
//!                                   │
//!                      service (caches, clock, rng; ReplayCache + RevocationList on the store)
//!                                   │ token_endpoint::Context { settings, registry, keys, ports }
//!              ┌──────────── core (no I/O) ───────────▼──────────────────┐
//!              │ oauth: request ─► client_auth ─► grant/* ─► issue       │──► token: keys, JWS, JWKS, DPoP
//!              │        token_endpoint (the one flow), person (code,     │
//!              │        device, refresh: what people's grants share),    │
//!              │        device_authorization, introspection,             │
//!              │        revocation, ports (traits)                       │
//!              └─────────────────────────────────────────────────────────┘
//!                                   ▲ ports
//!     store (SQLite, PostgreSQL) · authn (Negotiate, jwks_uri fetch, outbound policy) · directory (LDAP)
//! ```
//!
//! | module | responsibility |
//! |---|---|
//! | [`cli`] | the command line: clap types, man page and completions, dispatch |
//! | [`daemon`] | `serve`: config, preflight, bind, service, server loop, SIGHUP reload, SIGTERM drain |
//! | [`config`] | TOML into a validated [`config::Config`]; every mistake named by key path |
//! | [`preflight`] | read-only checks of the files a config names, before `serve` writes any state |
//! | [`oauth`] | the protocol core: request parsing, client authentication, grants, issuance, the ports it needs, errors |
//! | [`token`] | JOSE: signing keys, RFC 9068 access tokens, JWKS, JWS verification, DPoP proofs, sealing keys at rest |
//! | [`store`] | persistence behind the [`store::Store`] trait: SQLite and PostgreSQL |
//! | [`app`] | assembly by concern: building and reloading the service, the refresher, the client registry, the signing-key ring, the master key file |
//! | [`service`] | the running service: the registry and keys of the moment, the port adapters, the calls `web` makes (each hands time, randomness and adapters to the core) |
//! | [`web`] | HTTP only: server loop and connection limits, routes, handlers, error rendering |
//! | [`tls`] | rustls server and client configuration |
//! | [`http_client`] | ahdapa as an HTTP/1.1 client (jwks_uri fetches, the CLI's admin calls) |
//! | [`systemd`] | `Type=notify`: READY, WATCHDOG, STOPPING |
//! | [`metrics`] | Prometheus counters and their text exposition |
//! | [`directory`] | the LDAP/FreeIPA directory: users, groups, hosts, host groups; pooled, time-bounded, cached |
//! | [`identity_api`] | `/api/identity`: users and groups in the shape SSSD's `idp` provider reads |
//! | [`admin`] | client and key management for the admin API, the `--local` commands, enrolment, the CLI's client side |
//! | [`authn`] | adapters that prove who is calling or what a client registered: the Negotiate port (GSSAPI, AP-REQ inspection), jwks_uri fetching and its address policy |
//! | [`logging`] | the journal or stderr, every request-derived value escaped |
//! | [`dev`] | `ahdapa serve --dev`: an embedded, plain-HTTP playground |
//!
//! The dependency rule: `web` → `service` → `oauth` → `token`; adapters (`store`, `authn`,
//! `directory`) implement the core's ports ([`oauth::ports`]). The core (`oauth`, `token`)
//! never imports tokio, hyper, std::fs or std::net, and never reads the clock or the
//! environment; [`clock`] is the only reader of the clocks and the environment. Inside
//! `web/` the dependencies run one way: server → router → handlers/admin → extract,
//! resource, error; `web/error.rs` is the only place that turns errors into statuses and
//! builds `WWW-Authenticate` and `DPoP-Nonce`. A new grant is one file under
//! `oauth/grant/`, one `Grant` arm, its port if it keeps state and its pages if it has
//! any. `cargo deny` (deny.toml) checks licences, duplicate versions and sources.

pub mod admin;
pub mod app;
pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dev;
pub mod directory;
pub mod fs;
pub mod http_client;
pub mod identity_api;
pub mod logging;
pub mod metrics;
pub mod oauth;
pub mod preflight;
pub mod service;
pub mod store;
pub mod systemd;
pub mod tls;
pub mod token;
pub mod web;
