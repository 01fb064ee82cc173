//! HTTP: the only module that knows hyper, status codes and headers.
//!
//! - [`server`]: the accept loop, TLS, connection and request limits, graceful shutdown.
//!   It takes its listeners and a shutdown future from the caller (tests bind
//!   `127.0.0.1:0`).
//! - [`router`]: the route table; every request goes through [`router::route`], which
//!   tests call directly with `http::Request`s, no sockets.
//! - [`handlers`]: thin: extract, call the core, render.
//! - [`extract`]: everything read from a request (connection facts, body, Authorization,
//!   client certificate, request id).
//! - [`error`]: the one place an [`crate::oauth::OAuthError`] becomes a response, and
//!   every JSON answer is built.

pub mod admin;
pub mod dev_rp;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod pages;
pub mod resource;
pub mod router;
pub mod server;
pub mod signin;

use bytes::Bytes;
use http_body_util::Full;

/// A request's id (16 hex digits), in its extensions and its `X-Request-Id` answer
/// header, and on every log event about it (`AHDAPA_REQUEST_ID`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Every response body is a complete buffer: our answers are small JSON documents.
pub type Response = http::Response<Full<Bytes>>;
