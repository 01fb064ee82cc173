//! ahdapa: a Kerberos-integrated OAuth 2.0 / OpenID Connect identity provider for Linux
//! fleets.
//!
//! ```text
//!              ┌──────────── adapters (I/O) ─────────────┐
//!   socket ──► web::server ──► web::router ──► web::handlers
//!                                                   │
//!                                      service (caches, clock, rng)
//!                                                   │
//!              ┌──────────── core (no I/O) ──────────▼───┐
//!              │ oauth: form, client_auth, scope, grant  │──► token: keys, JWS, JWKS
//!              └─────────────────────────────────────────┘
//!                                                   ▲
//!                          store (SQLite) ── implements the port oauth/token need
//! ```
//!
//! | module | responsibility |
//! |---|---|
//! | [`config`] | TOML into a validated [`config::Config`]; every mistake named by key path |
//! | [`oauth`] | the protocol core: request parsing, client authentication, grants, errors |
//! | [`token`] | JOSE: signing keys, RFC 9068 access tokens, JWKS, sealing keys at rest |
//! | [`store`] | persistence behind the [`store::Store`] trait (SQLite now) |
//! | [`service`] | assembly: loads clients and keys, caches them, hands time and randomness to the core |
//! | [`web`] | HTTP only: server loop, routes, handlers, error rendering |
//! | [`tls`] | rustls server configuration |
//! | [`systemd`] | `Type=notify`: READY, WATCHDOG, STOPPING |
//! | [`metrics`] | Prometheus counters and their text exposition |
//! | [`directory`] | the LDAP/FreeIPA directory: users, groups, hosts, host groups; pooled, time-bounded, cached |
//! | [`identity_api`] | `/api/identity`: users and groups in the shape SSSD's `idp` provider reads |
//! | [`admin`] | client and key management for the admin API, enrolment and the CLI's client side |
//! | [`authn`] | adapters that prove who is calling: the GSSAPI acceptor, AP-REQ inspection |
//! | [`dev`] | `ahdapa serve --dev`: an embedded, plain-HTTP playground |
//! | [`preflight`] | read-only checks of the files a config names, before `serve` writes any state |
//!
//! The dependency rule: `web` → `service` → `oauth` → `token`. The core (`oauth`,
//! `token`) never imports tokio, hyper, std::fs or std::net, and never reads the clock
//! or the environment; [`clock`] is the only reader of the wall clock.

pub mod admin;
pub mod authn;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod dev;
pub mod directory;
pub mod fs;
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
