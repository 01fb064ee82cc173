//! ahdapa as an HTTP/1.1 client (jwks_uri fetches, the CLI's admin calls): one request on
//! a connection the caller opened (plain or TLS), the answer's body read up to a limit.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};

/// Sends `req` over `io` and returns the status and the body (at most `limit` bytes).
pub async fn exchange<T, B>(
    io: T,
    req: http::Request<B>,
    limit: usize,
) -> Result<(http::StatusCode, Bytes), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    exchange_with_headers(io, req, limit)
        .await
        .map(|(status, _, body)| (status, body))
}

/// [`exchange`], with the answer's headers.
pub async fn exchange_with_headers<T, B>(
    io: T,
    req: http::Request<B>,
    limit: usize,
) -> Result<(http::StatusCode, http::HeaderMap, Bytes), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let result = async {
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, limit)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| format!("the answer is larger than {limit} bytes or unreadable"))?;
        Ok((parts.status, parts.headers, body))
    }
    .await;
    driver.abort();
    result
}
