//! Kerberos principal names and the patterns of template clients.
//!
//! A pattern is a glob over the whole principal name, e.g.
//! `host/*.example.com@EXAMPLE.COM`. `*` matches any run of characters except `/` and
//! `@`, so it never crosses a component or the realm: `host/*@EXAMPLE.COM` matches
//! `host/node1.example.com@EXAMPLE.COM` but not `host/a/b@EXAMPLE.COM` nor another realm.
//! The realm must be literal. Matching is case-sensitive, as Kerberos names are.
//! Cost: linear in the principal's length (at most [`MAX_PRINCIPAL_LEN`]), independent
//! of how many clients are registered — each request names its client_id, so exactly
//! one pattern is tried.

/// Longest principal name or pattern accepted.
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// Why a principal name or pattern is refused (a registration or config field message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrincipalError {
    /// Empty, or longer than [`MAX_PRINCIPAL_LEN`].
    #[error("must be 1 to {MAX_PRINCIPAL_LEN} characters")]
    Length,
    /// A space, a control character or non-ASCII.
    #[error("must be printable ASCII without spaces")]
    Characters,
    /// A pattern without `@REALM`.
    #[error("needs a realm: ...@EXAMPLE.COM")]
    NoRealm,
    /// A pattern whose realm has a `*` or is empty.
    #[error("the realm after @ must be literal (no *)")]
    RealmNotLiteral,
    /// A pattern without `*` (it would name one principal).
    #[error("has no *: use kerberos_principal for a single principal")]
    NoWildcard,
    /// An exact principal with a `*`.
    #[error("contains *: use kerberos_principal_pattern for a template")]
    Wildcard,
    /// An exact principal that is not `name@REALM`.
    #[error("must be name@REALM, e.g. host/node1.example.com@EXAMPLE.COM")]
    NotNameAtRealm,
}

/// A validated template pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalPattern {
    text: String,
}

impl PrincipalPattern {
    /// Validates a pattern.
    pub fn parse(text: &str) -> Result<Self, PrincipalError> {
        check_chars(text)?;
        let (_, realm) = text.rsplit_once('@').ok_or(PrincipalError::NoRealm)?;
        if realm.is_empty() || realm.contains('*') {
            return Err(PrincipalError::RealmNotLiteral);
        }
        if !text.contains('*') {
            return Err(PrincipalError::NoWildcard);
        }
        Ok(Self {
            text: text.to_owned(),
        })
    }

    /// The pattern as registered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `principal` matches.
    pub fn matches(&self, principal: &str) -> bool {
        glob(self.text.as_bytes(), principal.as_bytes())
    }
}

/// Validates an exact principal name.
pub fn check_principal(text: &str) -> Result<(), PrincipalError> {
    check_chars(text)?;
    if text.contains('*') {
        return Err(PrincipalError::Wildcard);
    }
    match text.rsplit_once('@') {
        Some((name, realm)) if !name.is_empty() && !realm.is_empty() => Ok(()),
        _ => Err(PrincipalError::NotNameAtRealm),
    }
}

/// The host of a `host/FQDN@REALM` principal.
pub fn host_of(principal: &str) -> Option<&str> {
    let (name, _) = principal.rsplit_once('@')?;
    let host = name.strip_prefix("host/")?;
    (!host.is_empty() && !host.contains('/')).then_some(host)
}

fn check_chars(text: &str) -> Result<(), PrincipalError> {
    if text.is_empty() || text.len() > MAX_PRINCIPAL_LEN {
        return Err(PrincipalError::Length);
    }
    if text.chars().any(|c| !c.is_ascii_graphic()) {
        return Err(PrincipalError::Characters);
    }
    Ok(())
}

/// Glob match where `*` matches any run of bytes other than `/` and `@`; iterative with
/// single-star backtracking (a later `*` supersedes an earlier one).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match (pattern.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p, t));
                p += 1;
            }
            (Some(pc), Some(tc)) if pc == tc => {
                p += 1;
                t += 1;
            }
            _ => match star {
                // Let the last star absorb one more byte, unless that byte is a separator.
                Some((sp, st)) if text.get(st).is_some_and(|c| *c != b'/' && *c != b'@') => {
                    star = Some((sp, st + 1));
                    p = sp + 1;
                    t = st + 1;
                }
                _ => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == b'*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> PrincipalPattern {
        PrincipalPattern::parse(s).unwrap()
    }

    #[test]
    fn matches_hosts_in_the_domain() {
        let p = pat("host/*.test.realm@TEST.REALM");
        assert!(p.matches("host/node1.test.realm@TEST.REALM"));
        assert!(p.matches("host/a.b.test.realm@TEST.REALM"));
        assert!(!p.matches("host/node1.other.realm@TEST.REALM"));
        assert!(!p.matches("host/node1.test.realm@OTHER.REALM"));
        assert!(!p.matches("HTTP/node1.test.realm@TEST.REALM"));
        assert!(!p.matches("host/.test.realm@TEST.REALM.EVIL"));
    }

    #[test]
    fn star_never_crosses_components_or_realm() {
        let p = pat("host/*@TEST.REALM");
        assert!(p.matches("host/n1@TEST.REALM"));
        assert!(!p.matches("host/a/b@TEST.REALM"));
        assert!(!p.matches("host/x@y@TEST.REALM"));
        let users = pat("*@TEST.REALM");
        assert!(users.matches("alice@TEST.REALM"));
        assert!(!users.matches("host/n1@TEST.REALM"));
    }

    #[test]
    fn several_stars_backtrack() {
        let p = pat("host/*.*.realm@R");
        assert!(p.matches("host/a.b.realm@R"));
        assert!(p.matches("host/a.b.c.realm@R"));
        assert!(!p.matches("host/a.realm@R"));
    }

    #[test]
    fn is_case_sensitive() {
        assert!(!pat("host/*.test.realm@TEST.REALM").matches("host/N1.TEST.REALM@TEST.REALM"));
    }

    #[test]
    fn validates_patterns_and_principals() {
        assert!(PrincipalPattern::parse("host/*.x").is_err(), "no realm");
        assert!(
            PrincipalPattern::parse("host/*@*").is_err(),
            "wildcard realm"
        );
        assert!(PrincipalPattern::parse("host/n1@R").is_err(), "no star");
        assert!(PrincipalPattern::parse("host/* x@R").is_err(), "space");
        assert!(check_principal("host/n1@R").is_ok());
        assert!(check_principal("host/n1").is_err());
        assert!(check_principal("host/*@R").is_err());
    }

    #[test]
    fn host_claim_comes_from_host_principals_only() {
        assert_eq!(
            host_of("host/n1.test.realm@TEST.REALM"),
            Some("n1.test.realm")
        );
        assert_eq!(host_of("HTTP/n1@R"), None);
        assert_eq!(host_of("alice@R"), None);
    }
}
