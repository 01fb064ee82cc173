//! `application/x-www-form-urlencoded` request bodies, parsed once into a [`Form`].
//!
//! RFC 6749 §3.1/§3.2: "Request and response parameters MUST NOT be included more than
//! once" and "parameters sent without a value MUST be treated as if they were omitted".
//! The parser is deliberately lenient about encoding, because SSSD 2.11/2.12 sends bodies
//! whose values are not percent-encoded and which contain empty pairs (`a=1&&b=2`).
//! It never allocates more than the body it was given, and never panics.

use std::collections::BTreeMap;

use super::error::OAuthError;

/// Parameters a form may carry (non-empty ones; the largest real request, an
/// authorization request with every OIDC parameter, has about 20). More is
/// `invalid_request` before anything is looked at.
pub const MAX_PARAMS: usize = 256;

/// The parameters of a form body: each name at most once, empty values dropped.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form {
    params: BTreeMap<String, String>,
    /// Parameters that may repeat ([`Form::parse_with_repeatable`]), every value.
    repeated: BTreeMap<String, Vec<String>>,
}

impl Form {
    /// Parses a body. A repeated (non-empty) parameter is `invalid_request`.
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        Self::parse_with_repeatable(body, &[])
    }

    /// Parses a body in which the parameters named in `repeatable` may appear more than
    /// once (RFC 8707 `resource`); read them with [`Form::get_all`].
    pub fn parse_with_repeatable(body: &[u8], repeatable: &[&str]) -> Result<Self, OAuthError> {
        let mut params = BTreeMap::new();
        let mut repeated: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut count = 0usize;
        for (name, value) in form_urlencoded::parse(body) {
            if name.is_empty() || value.is_empty() {
                // RFC 6749 §3.1: a parameter without a value is as if omitted.
                continue;
            }
            count += 1;
            if count > MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "too many parameters (at most {MAX_PARAMS})"
                )));
            }
            if repeatable.contains(&name.as_ref()) {
                repeated
                    .entry(name.into_owned())
                    .or_default()
                    .push(value.into_owned());
                continue;
            }
            if params.contains_key(name.as_ref()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(&name)
                )));
            }
            params.insert(name.into_owned(), value.into_owned());
        }
        Ok(Self { params, repeated })
    }

    /// Every value of a repeatable parameter (empty when absent).
    pub fn get_all(&self, name: &str) -> &[String] {
        self.repeated.get(name).map_or(&[], Vec::as_slice)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Removes and returns `name`.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.params.remove(name)
    }
}

/// A parameter name as it may appear in an error description: short, printable ASCII.
fn printable(name: &str) -> String {
    name.chars()
        .take(40)
        .filter(|c| c.is_ascii_graphic())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn too_many_parameters_are_refused() {
        let at_limit: String = (0..super::MAX_PARAMS).map(|i| format!("p{i}=1&")).collect();
        assert!(super::Form::parse(at_limit.as_bytes()).is_ok());
        let over = format!("{at_limit}one=more");
        let e = super::Form::parse(over.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("too many parameters"), "{e}");
    }

    use super::*;

    #[test]
    fn parses_encoded_values() {
        let form = Form::parse(b"grant_type=client_credentials&scope=a%20b+c").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b c"));
    }

    #[test]
    fn accepts_sssd_empty_pair_and_unencoded_values() {
        let form = Form::parse(b"client_id=host:n1&&client_secret=a-b_c&scope=x y").unwrap();
        assert_eq!(form.get("client_id"), Some("host:n1"));
        assert_eq!(form.get("client_secret"), Some("a-b_c"));
        assert_eq!(form.get("scope"), Some("x y"));
    }

    #[test]
    fn rejects_repeated_parameter() {
        let err = Form::parse(b"scope=a&scope=b").unwrap_err();
        assert_eq!(err.code(), "invalid_request");
    }

    #[test]
    fn empty_value_counts_as_omitted() {
        let form = Form::parse(b"scope=&scope=b&client_secret=").unwrap();
        assert_eq!(form.get("scope"), Some("b"));
        assert_eq!(form.get("client_secret"), None);
    }

    #[test]
    fn garbage_never_panics() {
        for body in [&b"%"[..], b"=&=&", b"%zz=%%", b"\xff\xfe=\x00", b"a==b=c"] {
            let _ = Form::parse(body);
        }
    }
}
