//! Where ahdapa may connect when a URI comes from a client registration (today:
//! private_key_jwt `jwks_uri`), so that a registrant cannot make ahdapa reach into the
//! networks behind it (SSRF).
//!
//! - Scheme: `https://` only (`http://` with `assertions.insecure_http_jwks_uri`, for
//!   tests); a host is required; user info and fragments are refused.
//! - Addresses: only public unicast addresses, unless the address is in
//!   `assertions.jwks_uri_allowed_networks` or the client is `jwks_uri_trusted` (set by
//!   an admin, never by dynamic registration). Refused: loopback, unspecified,
//!   link-local, private (RFC 1918, IPv6 ULA), shared (100.64/10), multicast, broadcast,
//!   documentation and benchmarking ranges, IPv4-mapped forms of all of these, and the
//!   addresses `server.listen` names.
//! - A name is resolved once per fetch and the connection goes to an address that
//!   passed the check (no second lookup that DNS rebinding could change).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipnet::IpNet;

/// A URI a client registered, checked for its form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `true` for `https://`.
    pub https: bool,
    /// The host as written (a name, or an address without brackets).
    pub host: String,
    /// The port (443 or 80 when absent).
    pub port: u16,
    /// Path and query, `/` when empty.
    pub path: String,
}

impl Target {
    /// The `Host` header for this target (RFC 9110 §7.2).
    pub fn host_header(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Why a URI may not be fetched: the registration is wrong, not the network down.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The URI is not of an accepted form.
    #[error("{0}")]
    Form(String),
    /// The URI's host is (or resolves only to) an address ahdapa does not connect to.
    #[error("{0}")]
    Address(String),
}

/// The rules, from `[assertions]` and `server.listen`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    /// `http://` is accepted too (tests only).
    pub insecure_http: bool,
    /// Networks a registered URI may reach although they are not public.
    pub allowed_networks: Vec<IpNet>,
    /// ahdapa's own listening addresses (`server.listen`): never a target, also not for
    /// trusted clients. An unspecified address (`0.0.0.0:443`) stands for loopback on
    /// its port.
    pub own_addresses: Vec<SocketAddr>,
}

impl OutboundPolicy {
    /// Checks the form of `uri`.
    pub fn target(&self, uri: &str) -> Result<Target, Refused> {
        let bad = |m: &str| Refused::Form(format!("{uri:?} {m}"));
        if uri.contains('#') {
            return Err(bad("has a fragment"));
        }
        let parsed: http::Uri = uri.parse().map_err(|_| bad("is not a URL"))?;
        let https = match parsed.scheme_str() {
            Some("https") => true,
            Some("http") if self.insecure_http => false,
            Some("http") => return Err(bad("must be https://")),
            _ => return Err(bad("is not an https:// URL")),
        };
        let authority = parsed.authority().ok_or_else(|| bad("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("must not carry user info"));
        }
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("has no host"));
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        Ok(Target {
            https,
            port: authority.port_u16().unwrap_or(if https { 443 } else { 80 }),
            path: parsed
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned(),
            host,
        })
    }

    /// Checks one address a target names or resolves to; `trusted` (an admin's client)
    /// allows any address but ahdapa's own.
    pub fn check_address(&self, addr: SocketAddr, trusted: bool) -> Result<(), Refused> {
        let ip = canonical(addr.ip());
        let own = self.own_addresses.iter().any(|a| {
            let listen = canonical(a.ip());
            a.port() == addr.port()
                && (listen == ip || (listen.is_unspecified() && ip.is_loopback()))
        });
        if own {
            return Err(Refused::Address(format!(
                "{ip} port {} is ahdapa's own address",
                addr.port()
            )));
        }
        if trusted || self.allowed_networks.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        match non_public(ip) {
            None => Ok(()),
            Some(kind) => Err(Refused::Address(format!(
                "{ip} is a {kind} address (allow it with assertions.jwks_uri_allowed_networks)"
            ))),
        }
    }

    /// The addresses of `target` ahdapa may connect to, in resolver order: an address
    /// literal is checked as it is, a name is resolved once. `Err(Refused)` when none
    /// passes; `Ok(Err(reason))` when the name does not resolve (perhaps for now).
    pub async fn resolve(
        &self,
        target: &Target,
        trusted: bool,
    ) -> Result<Result<Vec<SocketAddr>, String>, Refused> {
        if let Ok(ip) = target.host.parse::<IpAddr>() {
            let addr = SocketAddr::new(ip, target.port);
            self.check_address(addr, trusted)?;
            return Ok(Ok(vec![addr]));
        }
        let found: Vec<SocketAddr> =
            match tokio::net::lookup_host((target.host.as_str(), target.port)).await {
                Ok(found) => found.collect(),
                Err(e) => return Ok(Err(format!("cannot resolve {}: {e}", target.host))),
            };
        let mut first_refusal = None;
        let mut allowed = Vec::new();
        for addr in found {
            match self.check_address(addr, trusted) {
                Ok(()) => allowed.push(addr),
                Err(e) => {
                    first_refusal.get_or_insert(e);
                }
            }
        }
        match (allowed.is_empty(), first_refusal) {
            (false, _) => Ok(Ok(allowed)),
            (true, Some(Refused::Address(m))) => {
                Err(Refused::Address(format!("{} resolves to {m}", target.host)))
            }
            (true, Some(other)) => Err(other),
            (true, None) => Ok(Err(format!("{} has no address", target.host))),
        }
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// What kind of non-public address `ip` is, or `None` for a public unicast one.
fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        () if ip.is_loopback() => "loopback",
        () if ip.is_unspecified() || a == 0 => "unspecified",
        () if ip.is_private() => "private",
        () if ip.is_link_local() => "link-local",
        () if a == 100 && (b & 0xc0) == 64 => "shared (carrier-grade NAT)",
        () if ip.is_broadcast() => "broadcast",
        () if ip.is_multicast() || a >= 240 => "multicast or reserved",
        () if ip.is_documentation() => "documentation",
        () if a == 198 && (b & 0xfe) == 18 => "benchmarking",
        () if a == 192 && b == 0 && c == 0 => "IETF protocol assignment",
        () => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(match () {
        () if ip.is_loopback() => "loopback",
        () if ip.is_unspecified() => "unspecified",
        () if (s[0] & 0xfe00) == 0xfc00 => "private (unique local)",
        () if (s[0] & 0xffc0) == 0xfe80 => "link-local",
        () if (s[0] & 0xffc0) == 0xfec0 => "site-local",
        () if ip.is_multicast() => "multicast",
        () if s[0] == 0x2001 && s[1] == 0x0db8 => "documentation",
        // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) embed IPv4 addresses: judge those.
        () if s[0] == 0x0064 && s[1] == 0xff9b => {
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return non_public_v4(v4);
        }
        () if s[0] == 0x2002 => {
            let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
            return non_public_v4(v4);
        }
        () if s[0..6] == [0, 0, 0, 0, 0, 0] => "IPv4-compatible (deprecated)",
        () => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> OutboundPolicy {
        OutboundPolicy::default()
    }

    #[test]
    fn refuses_http_user_info_fragments_and_non_urls() {
        let p = policy();
        for bad in [
            "http://keys.example/jwks",
            "https://u:p@keys.example/jwks",
            "https://keys.example/jwks#x",
            "ftp://keys.example/jwks",
            "not a url",
            "/jwks",
        ] {
            assert!(matches!(p.target(bad), Err(Refused::Form(_))), "{bad}");
        }
        let t = p.target("https://keys.example:8443/a/jwks?x=1").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("keys.example", 8443, "/a/jwks?x=1")
        );
        let t = p.target("https://[2001:4860::1]/jwks").unwrap();
        assert_eq!(t.host, "2001:4860::1");
        let insecure = OutboundPolicy {
            insecure_http: true,
            ..policy()
        };
        assert!(!insecure.target("http://keys.example/jwks").unwrap().https);
    }

    #[test]
    fn refuses_every_non_public_address() {
        let p = policy();
        for ip in [
            "127.0.0.1",
            "127.5.6.7",
            "0.0.0.0",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::7f00:1",
        ] {
            let ip = SocketAddr::new(ip.parse().unwrap(), 443);
            assert!(p.check_address(ip, false).is_err(), "{ip} must be refused");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "64:ff9b::808:808",
        ] {
            let ip = SocketAddr::new(ip.parse().unwrap(), 443);
            assert_eq!(p.check_address(ip, false), Ok(()), "{ip} is public");
        }
    }

    #[test]
    fn allowed_networks_and_trusted_clients_may_reach_private_addresses_but_never_ahdapa() {
        let p = OutboundPolicy {
            allowed_networks: vec!["10.20.0.0/16".parse().unwrap()],
            own_addresses: vec![
                "10.20.0.5:443".parse().unwrap(),
                "0.0.0.0:8443".parse().unwrap(),
            ],
            ..policy()
        };
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(p.check_address(at("10.20.3.4:443"), false), Ok(()));
        assert!(p.check_address(at("10.21.3.4:443"), false).is_err());
        assert_eq!(p.check_address(at("127.0.0.1:443"), true), Ok(()));
        assert_eq!(p.check_address(at("10.20.0.5:444"), true), Ok(()));
        assert!(p.check_address(at("10.20.0.5:443"), true).is_err());
        assert!(p.check_address(at("[::ffff:10.20.0.5]:443"), true).is_err());
        assert!(p.check_address(at("127.0.0.1:8443"), true).is_err());
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_before_any_connection() {
        let p = policy();
        let t = p.target("https://localhost:1/jwks").unwrap();
        assert!(matches!(
            p.resolve(&t, false).await,
            Err(Refused::Address(_))
        ));
        let t = p.target("https://127.0.0.1:1/jwks").unwrap();
        assert!(matches!(
            p.resolve(&t, false).await,
            Err(Refused::Address(_))
        ));
        let ok = p.resolve(&t, true).await.unwrap().unwrap();
        assert_eq!(ok, vec!["127.0.0.1:1".parse().unwrap()]);
    }
}
