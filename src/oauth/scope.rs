//! Scopes (RFC 6749 §3.3): parsing the `scope` parameter and granting the intersection
//! of what was asked with what the client is registered for.

use super::error::OAuthError;

/// A validated, de-duplicated list of scope tokens, in registration order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-delimited scope string; every token must be RFC 6749 §3.3
    /// `scope-token` (printable ASCII except space, `"` and `\`).
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !is_scope_token(token) {
                return Err(OAuthError::invalid_scope(
                    "scope contains characters RFC 6749 §3.3 forbids",
                ));
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Ok(Self(out))
    }

    /// Builds a scope list from registration data that was validated at load time.
    pub fn from_registered(tokens: Vec<String>) -> Self {
        Self(tokens)
    }

    /// The tokens.
    pub fn tokens(&self) -> &[String] {
        &self.0
    }

    /// True when no scope token is present.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The space-delimited form used in responses and token claims.
    pub fn to_scope_string(&self) -> String {
        self.0.join(" ")
    }

    /// For the device and refresh grants, as SSSD sends them: the requested scopes
    /// `allowed` has, in `allowed`'s order; all of `allowed` when none of them (or
    /// nothing) was asked for — oidc_child asks for the literal `user` when nothing is
    /// configured, and repeats its first `scope` on every refresh. Never wider than
    /// `allowed`, never `invalid_scope`.
    pub fn narrow(allowed: &Scopes, requested: Option<&Scopes>) -> Scopes {
        match Self::grant(allowed, requested) {
            Ok(s) => s,
            Err(_) => allowed.clone(),
        }
    }

    /// DESIGN.md: the intersection of the requested scopes with the registered ones;
    /// omitted means all registered scopes; an empty intersection is `invalid_scope`.
    pub fn grant(registered: &Scopes, requested: Option<&Scopes>) -> Result<Scopes, OAuthError> {
        let granted: Vec<String> = match requested {
            None => registered.0.clone(),
            Some(req) => registered
                .0
                .iter()
                .filter(|t| req.0.contains(t))
                .cloned()
                .collect(),
        };
        if granted.is_empty() {
            return Err(OAuthError::invalid_scope(
                "none of the requested scopes is registered for this client",
            ));
        }
        Ok(Scopes(granted))
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered() -> Scopes {
        Scopes::from_registered(vec!["directory.read".into(), "metrics".into()])
    }

    #[test]
    fn omitted_scope_grants_all_registered() {
        let granted = Scopes::grant(&registered(), None).unwrap();
        assert_eq!(granted.to_scope_string(), "directory.read metrics");
    }

    #[test]
    fn grants_intersection_in_registration_order() {
        let req = Scopes::parse("metrics  other directory.read").unwrap();
        let granted = Scopes::grant(&registered(), Some(&req)).unwrap();
        assert_eq!(granted.to_scope_string(), "directory.read metrics");
    }

    #[test]
    fn rejects_scope_outside_registration() {
        let req = Scopes::parse("admin").unwrap();
        assert_eq!(
            Scopes::grant(&registered(), Some(&req)).unwrap_err().code(),
            "invalid_scope"
        );
    }

    #[test]
    fn rejects_forbidden_scope_characters() {
        assert_eq!(Scopes::parse("a\"b").unwrap_err().code(), "invalid_scope");
        assert_eq!(Scopes::parse("a\\b").unwrap_err().code(), "invalid_scope");
        assert_eq!(Scopes::parse("é").unwrap_err().code(), "invalid_scope");
    }

    #[test]
    fn narrowing_drops_unknown_scopes_and_never_widens() {
        let user = Scopes::parse("user").unwrap();
        assert_eq!(
            Scopes::narrow(&registered(), Some(&user)).to_scope_string(),
            "directory.read metrics"
        );
        let some = Scopes::parse("metrics phone").unwrap();
        assert_eq!(
            Scopes::narrow(&registered(), Some(&some)).to_scope_string(),
            "metrics"
        );
        assert_eq!(
            Scopes::narrow(&registered(), None).to_scope_string(),
            "directory.read metrics"
        );
    }

    #[test]
    fn deduplicates_requested_tokens() {
        assert_eq!(Scopes::parse("a a b").unwrap().tokens(), ["a", "b"]);
    }
}
