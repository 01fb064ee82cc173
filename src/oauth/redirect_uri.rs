//! Registered redirect URIs and how an authorization request's `redirect_uri` is matched
//! against them (RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §7.3).
//!
//! Three kinds of registration entry:
//! - **exact** (the default): the request's URI must be the same string, byte for byte;
//! - **loopback** (RFC 8252 §7.3, native apps): an `http` URI on `127.0.0.1` or `[::1]`
//!   matches the same URI with any port (the app picks a free one at run time);
//!   `localhost` is not treated so (§8.3: it may not resolve to loopback);
//! - **pattern**: `regex:<expression>`, matched against the whole URI (anchored at both
//!   ends), as authentik offers. [`RedirectUris::warnings`] names patterns whose host
//!   part has an unescaped `.` (which matches any character: `app.example.com` also
//!   matches `appXexample.com`), authentik's documented pitfall.
//!
//! Registration refuses what can never be safe (§4.1.3 of RFC 9700, RFC 8252 §8): a
//! fragment, `javascript:`/`data:`/`file:` and similar schemes, `http` anywhere but
//! loopback, user info. Private-use schemes of native apps must look like a reversed
//! domain name (`com.example.app:/cb`, RFC 8252 §7.1).

use regex::Regex;

/// One registered entry.
#[derive(Debug, Clone)]
pub enum RedirectUri {
    /// Byte-for-byte comparison.
    Exact(String),
    /// `http://127.0.0.1[:port]/path` or `http://[::1]...`: any port matches.
    Loopback {
        /// As registered.
        registered: String,
        /// `127.0.0.1` or `[::1]`.
        host: String,
        /// Path and query, e.g. `/callback`.
        path_and_query: String,
    },
    /// `regex:` entry, anchored.
    Pattern {
        /// As registered (with the `regex:` prefix).
        registered: String,
        /// The compiled, anchored expression.
        regex: Regex,
    },
}

impl PartialEq for RedirectUri {
    fn eq(&self, other: &Self) -> bool {
        self.registered() == other.registered()
    }
}

impl Eq for RedirectUri {}

/// Why a registered redirect URI is refused (a registration field message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI.
    #[error("{0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// Has a `#fragment` (RFC 6749 §3.1.2).
    #[error("{0:?} has a fragment; redirect URIs must not (RFC 6749 §3.1.2)")]
    Fragment(String),
    /// A scheme that runs code or reads files in the browser.
    #[error("the {0} scheme is not allowed for redirect URIs")]
    DangerousScheme(String),
    /// `http` to a host other than loopback.
    #[error("{0:?}: http is only allowed to 127.0.0.1 or [::1] (RFC 8252 §7.3); use https")]
    PlainHttp(String),
    /// User info in the URI.
    #[error("{0:?} has user info; redirect URIs must not")]
    UserInfo(String),
    /// A private-use scheme that is not a reversed domain name.
    #[error(
        "{0:?}: a private-use scheme must be a reversed domain name such as com.example.app (RFC 8252 §7.1)"
    )]
    PrivateScheme(String),
    /// A `regex:` entry that does not compile.
    #[error("{0:?} is not a valid regular expression: {1}")]
    BadPattern(String, String),
    /// Patterns are only for administrators (not dynamic registration).
    #[error("regex: redirect URIs may only be registered by an administrator")]
    PatternNotAllowed,
}

impl RedirectUri {
    /// Validates one registered entry. `allow_patterns`: false for dynamic registration.
    pub fn parse(s: &str, allow_patterns: bool) -> Result<Self, RedirectUriError> {
        if let Some(expression) = s.strip_prefix("regex:") {
            if !allow_patterns {
                return Err(RedirectUriError::PatternNotAllowed);
            }
            let regex = Regex::new(&format!("^(?:{expression})$"))
                .map_err(|e| RedirectUriError::BadPattern(s.to_owned(), e.to_string()))?;
            return Ok(Self::Pattern {
                registered: s.to_owned(),
                regex,
            });
        }
        let url = url::Url::parse(s).map_err(|_| RedirectUriError::NotAbsolute(s.to_owned()))?;
        if url.fragment().is_some() || s.contains('#') {
            return Err(RedirectUriError::Fragment(s.to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo(s.to_owned()));
        }
        match url.scheme() {
            "https" => Ok(Self::Exact(s.to_owned())),
            "http" => {
                let host = match url.host() {
                    Some(url::Host::Ipv4(ip)) if ip.is_loopback() => ip.to_string(),
                    Some(url::Host::Ipv6(ip)) if ip.is_loopback() => format!("[{ip}]"),
                    _ => return Err(RedirectUriError::PlainHttp(s.to_owned())),
                };
                let Some((_, rest)) = split_loopback(s, &host) else {
                    return Err(RedirectUriError::PlainHttp(s.to_owned()));
                };
                Ok(Self::Loopback {
                    registered: s.to_owned(),
                    path_and_query: rest.to_owned(),
                    host,
                })
            }
            scheme @ ("javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp"
            | "ws" | "wss") => Err(RedirectUriError::DangerousScheme(scheme.to_owned())),
            scheme if scheme.contains('.') => Ok(Self::Exact(s.to_owned())),
            _ => Err(RedirectUriError::PrivateScheme(s.to_owned())),
        }
    }

    /// The entry as registered.
    pub fn registered(&self) -> &str {
        match self {
            Self::Exact(s) => s,
            Self::Loopback { registered, .. } | Self::Pattern { registered, .. } => registered,
        }
    }

    /// True when the request's `redirect_uri` is allowed by this entry.
    pub fn matches(&self, requested: &str) -> bool {
        match self {
            Self::Exact(s) => s == requested,
            Self::Pattern { regex, .. } => {
                // A pattern never allows what no registration could: a fragment, user
                // info, or a dangerous scheme; and it is matched against a URI that parses
                // to itself, so `https://evil.com\.example.com/` or
                // `https://evil.com?.example.com/` (host: evil.com) cannot pass for a host
                // the pattern meant.
                Self::parse(requested, false).is_ok()
                    && !requested.contains('\\')
                    && url::Url::parse(requested).is_ok_and(|u| {
                        let host = u.host_str().unwrap_or_default();
                        u.as_str() == requested
                            || requested.starts_with(&format!("{}://{host}/", u.scheme()))
                    })
                    && regex.is_match(requested)
            }
            Self::Loopback {
                host,
                path_and_query,
                ..
            } => split_loopback(requested, host).is_some_and(|(_, rest)| rest == path_and_query),
        }
    }
}

/// Splits `http://HOST[:PORT]REST` for a loopback `host` (`127.0.0.1` or `[::1]`, as
/// written): the port, if any, and the rest, compared as strings so that no
/// normalisation (`/x/../cb`) can sneak past the registration.
fn split_loopback<'a>(uri: &'a str, host: &str) -> Option<(Option<u16>, &'a str)> {
    let rest = uri.strip_prefix("http://")?.strip_prefix(host)?;
    match rest.strip_prefix(':') {
        None if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
            Some((None, rest))
        }
        None => None,
        Some(after) => {
            let end = after
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len());
            let port = after.get(..end)?.parse::<u16>().ok()?;
            let rest = after.get(end..)?;
            (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
                .then_some((Some(port), rest))
        }
    }
}

/// A client's registered redirect URIs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedirectUris(Vec<RedirectUri>);

impl RedirectUris {
    /// Validates every entry; `Err` lists each bad one.
    pub fn parse(entries: &[String], allow_patterns: bool) -> Result<Self, Vec<RedirectUriError>> {
        let mut ok = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            match RedirectUri::parse(e, allow_patterns) {
                Ok(u) => ok.push(u),
                Err(err) => bad.push(err),
            }
        }
        if bad.is_empty() {
            Ok(Self(ok))
        } else {
            Err(bad)
        }
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entry allowing `requested`, if any.
    pub fn find(&self, requested: &str) -> Option<&RedirectUri> {
        self.0.iter().find(|u| u.matches(requested))
    }

    /// With exactly one registered exact URI, the request may leave `redirect_uri` out
    /// (RFC 6749 §3.1.2.3); that URI.
    pub fn sole_exact(&self) -> Option<&str> {
        match self.0.as_slice() {
            [RedirectUri::Exact(s)] => Some(s),
            _ => None,
        }
    }

    /// Warnings for `check-config`: patterns whose host part has an unescaped `.`.
    pub fn warnings(&self) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|u| match u {
                RedirectUri::Pattern { registered, .. } if unescaped_dot_in_host(registered) => {
                    Some(format!(
                        "\"{registered}\": an unescaped '.' in the host matches any character \
                         (write \\. to match a dot)"
                    ))
                }
                _ => None,
            })
            .collect()
    }
}

/// The host part of a `regex:` pattern: after `://`, up to the next `/`, `:` or `$`.
fn unescaped_dot_in_host(pattern: &str) -> bool {
    let expr = pattern.strip_prefix("regex:").unwrap_or(pattern);
    let Some(start) = expr.find("://") else {
        return false;
    };
    let host = &expr[start + 3..];
    let mut escaped = false;
    for c in host.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '/' | ':' | '$' if !escaped => return false,
            '.' if !escaped => return true,
            _ => escaped = false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uris(entries: &[&str]) -> RedirectUris {
        let v: Vec<String> = entries.iter().map(|s| (*s).to_owned()).collect();
        RedirectUris::parse(&v, true).unwrap()
    }

    #[test]
    fn exact_match_is_byte_for_byte() {
        let r = uris(&["https://app.example.com/cb"]);
        assert!(r.find("https://app.example.com/cb").is_some());
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com/cb#f",
            "https://app.example.com.evil.com/cb",
        ] {
            assert!(r.find(other).is_none(), "{other}");
        }
    }

    #[test]
    fn loopback_matches_any_port_but_nothing_else() {
        let r = uris(&["http://127.0.0.1/callback", "http://[::1]:8000/cb"]);
        assert!(r.find("http://127.0.0.1:51234/callback").is_some());
        assert!(r.find("http://127.0.0.1/callback").is_some());
        assert!(r.find("http://[::1]:9/cb").is_some());
        for other in [
            "http://127.0.0.1:51234/callback/x",
            "http://127.0.0.2:51234/callback",
            "http://localhost:51234/callback",
            "https://127.0.0.1:51234/callback",
            "http://127.0.0.1:51234/callback#x",
            "http://u@127.0.0.1:51234/callback",
            "http://127.0.0.1:51234/x/../callback",
        ] {
            assert!(r.find(other).is_none(), "{other}");
        }
    }

    #[test]
    fn patterns_are_anchored() {
        let r = uris(&[r"regex:https://app-[0-9]+\.example\.com/cb"]);
        assert!(r.find("https://app-12.example.com/cb").is_some());
        assert!(r.find("https://app-12.example.com/cb/extra").is_none());
        assert!(r.find("xhttps://app-12.example.com/cb").is_none());
        assert!(r.find("https://app-12.example.com.evil/cb").is_none());
    }

    #[test]
    fn a_pattern_never_allows_a_fragment_or_a_dangerous_scheme() {
        let r = uris(&["regex:.*"]);
        assert!(r.find("https://a.example/cb").is_some());
        assert!(r.find("javascript:alert(1)").is_none());
        assert!(r.find("https://a.example/cb#x").is_none());
        assert!(r.find("http://evil.example/cb").is_none());
    }

    #[test]
    fn a_pattern_matches_only_uris_that_parse_to_themselves() {
        let r = uris(&[r"regex:https://[^/]+\.example\.com/cb"]);
        assert!(r.find("https://a.example.com/cb").is_some());
        for evil in [
            r"https://evil.com\.example.com/cb",
            "https://evil.com?.example.com/cb",
            "https://evil.com#.example.com/cb",
        ] {
            assert!(r.find(evil).is_none(), "{evil}");
        }
    }

    #[test]
    fn warns_about_an_unescaped_dot_in_the_host_only() {
        let r = uris(&[
            r"regex:https://app.example\.com/cb",
            r"regex:https://app\.example\.com/c.b",
        ]);
        let w = r.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(r"app.example\.com"));
    }

    #[test]
    fn refuses_unsafe_registrations() {
        for bad in [
            "https://a.example/cb#frag",
            "javascript:alert(1)",
            "data:text/html,x",
            "http://app.example.com/cb",
            "http://localhost:8000/cb",
            "https://user:pw@a.example/cb",
            "myapp:/cb",
            "/relative",
            "regex:(",
        ] {
            assert!(RedirectUri::parse(bad, true).is_err(), "{bad}");
        }
        assert!(RedirectUri::parse("com.example.app:/cb", true).is_ok());
        assert_eq!(
            RedirectUri::parse("regex:.*", false).unwrap_err(),
            RedirectUriError::PatternNotAllowed
        );
    }

    #[test]
    fn a_sole_exact_uri_may_be_left_out() {
        assert_eq!(
            uris(&["https://a.example/cb"]).sole_exact(),
            Some("https://a.example/cb")
        );
        assert_eq!(uris(&["http://127.0.0.1/cb"]).sole_exact(), None);
        assert_eq!(
            uris(&["https://a.example/cb", "https://b.example/cb"]).sole_exact(),
            None
        );
    }
}
