//! The load generators' minimal HTTP/1.1 client side: one request out, one
//! `Content-Length` response in, on a kept-alive stream.

use std::io::{BufRead, BufReader, Read, Write};

/// Writes one request and reads one response; returns the status code (0 if unreadable).
pub fn roundtrip<S: Read + Write>(
    reader: &mut BufReader<S>,
    request: &[u8],
) -> std::io::Result<u16> {
    reader.get_mut().write_all(request)?;
    reader.get_mut().flush()?;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(status)
}
