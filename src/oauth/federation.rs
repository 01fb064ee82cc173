//! Trusted external issuers: JWTs that CI systems (GitHub Actions, GitLab CI), Kubernetes
//! and SPIFFE already hand their workloads, accepted instead of a stored secret.
//!
//! Two halves, both without I/O:
//! - [`TrustedIssuer`]: what `[[trusted_issuers]]` says of one issuer (exact `iss`, the
//!   algorithms it may use, the audiences a token must name, the longest lifetime, the
//!   `jti` policy) and [`verify`], which checks one token against it with keys the caller
//!   hands in (inline and certificate keys are in the issuer; fetched ones come through
//!   [`super::ports::IssuerKeySource`]).
//! - [`FederationRule`]: what a `federated_jwt` client (or an RFC 7523 grant) demands of
//!   a verified token: its issuer, a `sub` pattern and claim patterns.
//!
//! The `alg` in the header selects nothing by itself: it must be on the issuer's list and
//! fit the key that verifies (a public key is never an HMAC secret; `none` never parses).

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::digest;
use jsonwebtoken::Algorithm;
use regex::Regex;
use serde::{Deserialize, Serialize};

use super::client_auth::jwt_assertion::{AssertionKey, KeyLookupError, verify_with_keys};

/// draft-ietf-oauth-spiffe-client-auth: a JWT-SVID as `client_assertion`.
pub const JWT_SPIFFE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";

/// Largest external token accepted.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// How far `iat` and `nbf` may be ahead, and `exp` behind, the server's clock.
pub const LEEWAY_SECS: u64 = 60;

/// What to do with a token's `jti`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JtiPolicy {
    /// Every token needs a `jti`, and each is accepted once (on any node).
    RequireUnique,
    /// A `jti`, when present, is accepted once; tokens without one are accepted.
    #[default]
    Optional,
    /// The `jti` is not looked at: Kubernetes and SPIFFE hand the same token out for its
    /// whole life.
    Ignore,
}

/// One trusted issuer, validated from the config.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// `iss`, compared exactly.
    pub issuer: String,
    /// Inline JWKS or verification certificates; `None` when the keys are fetched.
    pub static_keys: Option<Vec<AssertionKey>>,
    /// The algorithms its tokens may use (never `none`, never HMAC).
    pub algorithms: Vec<Algorithm>,
    /// A token must name one of these in `aud`.
    pub audiences: Vec<String>,
    /// The longest `exp − iat` accepted.
    pub max_lifetime_secs: u64,
    /// The `jti` policy.
    pub jti: JtiPolicy,
}

/// Every trusted issuer, by `iss`.
#[derive(Debug, Clone, Default)]
pub struct TrustedIssuers {
    by_issuer: HashMap<String, Arc<TrustedIssuer>>,
}

impl TrustedIssuers {
    /// The issuers of the config.
    pub fn new(issuers: Vec<TrustedIssuer>) -> Self {
        Self {
            by_issuer: issuers
                .into_iter()
                .map(|i| (i.issuer.clone(), Arc::new(i)))
                .collect(),
        }
    }

    /// The issuer with this `iss`.
    pub fn get(&self, issuer: &str) -> Option<&Arc<TrustedIssuer>> {
        self.by_issuer.get(issuer)
    }

    /// Whether any issuer is trusted.
    pub fn is_empty(&self) -> bool {
        self.by_issuer.is_empty()
    }
}

/// Why an external token was refused: the client's own mistake or its platform's, said
/// in `error_description` (nothing here is secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a JWS we read (including `alg: none`).
    #[error("not a usable JWS: {0}")]
    Malformed(String),
    /// `iss` is not the trusted issuer.
    #[error("iss {found:?} is not the trusted issuer {expected}")]
    Issuer {
        /// The token's `iss`.
        found: String,
        /// The issuer it was checked against.
        expected: String,
    },
    /// The header's `alg` is not on the issuer's list.
    #[error("alg {0} is not allowed for this issuer (allowed: {1})")]
    Algorithm(String, String),
    /// No key of the issuer has this `kid` (and fits the `alg`).
    #[error("no key of the issuer for kid {} and alg {}", .0.as_deref().map_or("(none)".to_owned(), |k| format!("{k:?}")), .1)]
    UnknownKey(Option<String>, String),
    /// A key was found and the signature is wrong.
    #[error("the signature does not verify")]
    Signature,
    /// `aud` names none of the expected audiences.
    #[error("aud must name one of {0:?}")]
    Audience(Vec<String>),
    /// No `exp`.
    #[error("exp is required")]
    NoExp,
    /// Expired.
    #[error("expired {0} s ago")]
    Expired(u64),
    /// `exp − iat` over the issuer's maximum.
    #[error("lives {0} s, longer than this issuer's max_lifetime_secs {1}")]
    TooLong(u64, u64),
    /// `iat` or `nbf` too far ahead.
    #[error("{0} is in the future")]
    Future(&'static str),
    /// No `sub`.
    #[error("sub is required")]
    NoSub,
    /// `jti` required and missing.
    #[error("jti is required by this issuer's jti policy")]
    NoJti,
}

impl Refusal {
    /// True when a refetch of the issuer's keys might help (a rotated key).
    pub fn unknown_key(&self) -> bool {
        matches!(self, Self::UnknownKey(..))
    }
}

/// A verified external token.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalToken {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// Every claim, for the rules and for copying.
    pub claims: serde_json::Map<String, serde_json::Value>,
    /// `exp`.
    pub expires_at: u64,
    /// The single-use record to write, by the issuer's policy: SHA-256 of issuer and
    /// `jti`, and until when.
    pub replay: Option<([u8; 32], u64)>,
}

impl ExternalToken {
    /// The token's `jti`, for the log.
    pub fn jti(&self) -> Option<&str> {
        self.claims.get("jti").and_then(|j| j.as_str())
    }
}

/// The `iss` a token claims, read without verifying, to choose the issuer to check it
/// against. `None` when the token is not a readable JWT.
pub fn claimed_issuer(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

/// Checks `token` against `issuer` with `keys` (the issuer's static keys or the fetched
/// ones), at `now`.
pub fn verify(
    token: &str,
    issuer: &TrustedIssuer,
    keys: &[AssertionKey],
    now: u64,
) -> Result<ExternalToken, Refusal> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::Malformed(format!(
            "longer than {MAX_TOKEN_BYTES} bytes"
        )));
    }
    let jws = crate::token::jws::split(token).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if !issuer.algorithms.contains(&jws.alg) {
        let allowed: Vec<String> = issuer.algorithms.iter().map(|a| format!("{a:?}")).collect();
        return Err(Refusal::Algorithm(
            jws.alg_name().to_owned(),
            allowed.join(", "),
        ));
    }
    let claims: serde_json::Map<String, serde_json::Value> =
        verify_with_keys(&jws, keys).map_err(|e| match e {
            KeyLookupError::NoKey { kid } => Refusal::UnknownKey(kid, jws.alg_name().to_owned()),
            KeyLookupError::Signature => Refusal::Signature,
            KeyLookupError::Payload(m) => Refusal::Malformed(m),
        })?;
    let iss = claims.get("iss").and_then(|v| v.as_str()).unwrap_or("");
    if iss != issuer.issuer {
        return Err(Refusal::Issuer {
            found: iss.to_owned(),
            expected: issuer.issuer.clone(),
        });
    }
    let aud_ok = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => issuer.audiences.contains(a),
        Some(serde_json::Value::Array(list)) => list
            .iter()
            .filter_map(|a| a.as_str())
            .any(|a| issuer.audiences.iter().any(|x| x == a)),
        _ => false,
    };
    if !aud_ok {
        return Err(Refusal::Audience(issuer.audiences.clone()));
    }
    let time = |name: &str| claims.get(name).and_then(serde_json::Value::as_u64);
    let exp = time("exp").ok_or(Refusal::NoExp)?;
    if exp.saturating_add(LEEWAY_SECS) < now {
        return Err(Refusal::Expired(now.saturating_sub(exp)));
    }
    let ahead = now.saturating_add(LEEWAY_SECS);
    if time("iat").is_some_and(|iat| iat > ahead) {
        return Err(Refusal::Future("iat"));
    }
    if time("nbf").is_some_and(|nbf| nbf > ahead) {
        return Err(Refusal::Future("nbf"));
    }
    let lifetime = exp.saturating_sub(time("iat").unwrap_or(now));
    if lifetime > issuer.max_lifetime_secs {
        return Err(Refusal::TooLong(lifetime, issuer.max_lifetime_secs));
    }
    let subject = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty())
        .ok_or(Refusal::NoSub)?
        .to_owned();
    let jti = claims
        .get("jti")
        .and_then(|j| j.as_str())
        .filter(|j| !j.is_empty());
    let replay = match (issuer.jti, jti) {
        (JtiPolicy::Ignore, _) | (JtiPolicy::Optional, None) => None,
        (JtiPolicy::RequireUnique, None) => return Err(Refusal::NoJti),
        (_, Some(jti)) => {
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(issuer.issuer.as_bytes());
            ctx.update(b"\0");
            ctx.update(jti.as_bytes());
            let mut key = [0u8; 32];
            key.copy_from_slice(ctx.finish().as_ref());
            Some((key, exp.saturating_add(LEEWAY_SECS)))
        }
    };
    Ok(ExternalToken {
        issuer: issuer.issuer.clone(),
        subject,
        claims,
        expires_at: exp,
        replay,
    })
}

/// A value pattern: exact, a glob with `*`, or an anchored `regex:`.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Exactly this string.
    Exact(String),
    /// `*` matches any run of characters (`:` and `/` included).
    Glob(String, Regex),
    /// `regex:<expression>`, anchored at both ends.
    Regex(String, Regex),
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}
impl Eq for Matcher {}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// Empty.
    #[error("must not be empty")]
    Empty,
    /// A glob of `*` alone would accept anything.
    #[error("a pattern of only * accepts every value; name what you trust")]
    Everything,
    /// The regex does not compile.
    #[error("regex: {0}")]
    Regex(String),
}

impl Matcher {
    /// Parses a pattern as written in the config.
    pub fn parse(text: &str) -> Result<Self, MatcherError> {
        if text.is_empty() {
            return Err(MatcherError::Empty);
        }
        if let Some(expression) = text.strip_prefix("regex:") {
            let re = Regex::new(&format!("^(?:{expression})$"))
                .map_err(|e| MatcherError::Regex(e.to_string()))?;
            return Ok(Self::Regex(text.to_owned(), re));
        }
        if !text.contains('*') {
            return Ok(Self::Exact(text.to_owned()));
        }
        if text.chars().all(|c| c == '*') {
            return Err(MatcherError::Everything);
        }
        let expression: Vec<String> = text.split('*').map(regex::escape).collect();
        let re = Regex::new(&format!("^{}$", expression.join(".*")))
            .map_err(|e| MatcherError::Regex(e.to_string()))?;
        Ok(Self::Glob(text.to_owned(), re))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(s) | Self::Glob(s, _) | Self::Regex(s, _) => s,
        }
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Glob(_, re) | Self::Regex(_, re) => re.is_match(value),
        }
    }

    /// Whether a claim value matches: a string, or a number or boolean by its JSON text;
    /// an array when any of its elements does.
    pub fn matches_claim(&self, value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => self.matches(s),
            serde_json::Value::Number(n) => self.matches(&n.to_string()),
            serde_json::Value::Bool(b) => self.matches(if *b { "true" } else { "false" }),
            serde_json::Value::Array(items) => items.iter().any(|v| self.matches_claim(v)),
            _ => false,
        }
    }
}

/// A claim by name: the name itself, or a dotted path into nested objects
/// (`kubernetes.io.namespace` finds `{"kubernetes.io": {"namespace": …}}`).
pub fn claim<'a>(
    claims: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Option<&'a serde_json::Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    name.match_indices('.').find_map(|(i, _)| {
        let (head, rest) = (name.get(..i)?, name.get(i + 1..)?);
        match claims.get(head)? {
            serde_json::Value::Object(inner) => claim(inner, rest),
            _ => None,
        }
    })
}

/// What a federated client demands of an external token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationRule {
    /// The trusted issuer's `iss`.
    pub issuer: String,
    /// The `sub` pattern.
    pub subject: Matcher,
    /// Further claims, each matched.
    pub claims: Vec<(String, Matcher)>,
    /// The `sub` of the tokens ahdapa issues: `None` is the client_id; else a template
    /// with `{issuer}`, `{sub}` and `{client_id}`.
    pub subject_template: Option<String>,
    /// Claims copied from the external token into ahdapa's.
    pub copy_claims: Vec<String>,
}

/// The claims ahdapa's access tokens carry of their own; never copied over.
pub const REGISTERED_CLAIMS: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "act",
    "may_act",
    "krb5_principal",
    "host",
    "auth_time",
    "acr",
];

impl FederationRule {
    /// Checks a verified token against the rule; the refusal says which part failed.
    pub fn check(&self, token: &ExternalToken) -> Result<(), String> {
        if token.issuer != self.issuer {
            return Err(format!(
                "this client trusts tokens of {}, not {}",
                self.issuer, token.issuer
            ));
        }
        if !self.subject.matches(&token.subject) {
            return Err(format!(
                "sub {:?} does not match {:?}",
                token.subject,
                self.subject.as_str()
            ));
        }
        for (name, matcher) in &self.claims {
            match claim(&token.claims, name) {
                Some(v) if matcher.matches_claim(v) => {}
                Some(_) => {
                    return Err(format!(
                        "claim {name} does not match {:?}",
                        matcher.as_str()
                    ));
                }
                None => return Err(format!("claim {name} is missing")),
            }
        }
        Ok(())
    }

    /// The `sub` of ahdapa's token for `token`, presented by `client_id`.
    pub fn subject_for(&self, token: &ExternalToken, client_id: &str) -> String {
        match &self.subject_template {
            None => client_id.to_owned(),
            Some(t) => t
                .replace("{issuer}", &token.issuer)
                .replace("{sub}", &token.subject)
                .replace("{client_id}", client_id),
        }
    }

    /// The claims to copy, as found.
    pub fn copied(
        &self,
        token: &ExternalToken,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let out: serde_json::Map<String, serde_json::Value> = self
            .copy_claims
            .iter()
            .filter_map(|n| claim(&token.claims, n).map(|v| (n.clone(), v.clone())))
            .collect();
        (!out.is_empty()).then_some(out)
    }
}

/// A federation rule as written in a registration (`federation = { … }`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationRegistration {
    /// The trusted issuer's `iss`.
    pub issuer: String,
    /// The `sub` pattern: exact, glob (`*`) or `regex:`.
    pub sub: String,
    /// Claim name (dotted for nested claims) to pattern.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub claims: std::collections::BTreeMap<String, String>,
    /// The issued tokens' `sub`: `"{issuer}:{sub}"`, `"{sub}"`; absent is the client_id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_template: Option<String>,
}

impl FederationRegistration {
    /// Validates into a rule; the error names the field.
    pub fn validate(&self, copy_claims: &[String]) -> Result<FederationRule, (String, String)> {
        if self.issuer.is_empty() {
            return Err(("federation.issuer".into(), "must not be empty".into()));
        }
        let subject =
            Matcher::parse(&self.sub).map_err(|e| ("federation.sub".into(), e.to_string()))?;
        let mut claims = Vec::new();
        for (name, pattern) in &self.claims {
            let m = Matcher::parse(pattern)
                .map_err(|e| (format!("federation.claims.{name}"), e.to_string()))?;
            claims.push((name.clone(), m));
        }
        if let Some(t) = &self.subject_template {
            let rest = t
                .replace("{issuer}", "")
                .replace("{sub}", "")
                .replace("{client_id}", "");
            if t.is_empty() || rest.contains('{') || rest.contains('}') {
                return Err((
                    "federation.subject_template".into(),
                    "use {issuer}, {sub} and {client_id} only, e.g. \"{issuer}:{sub}\"".into(),
                ));
            }
        }
        for c in copy_claims {
            if REGISTERED_CLAIMS.contains(&c.as_str()) || c.is_empty() {
                return Err((
                    "federated_claims".into(),
                    format!("{c:?} is a claim of ahdapa's own tokens and cannot be copied"),
                ));
            }
        }
        Ok(FederationRule {
            issuer: self.issuer.clone(),
            subject,
            claims,
            subject_template: self.subject_template.clone(),
            copy_claims: copy_claims.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::client_auth::jwt_assertion::keys_from_jwks;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use jsonwebtoken::{EncodingKey, Header, encode};
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;
    const ISS: &str = "https://token.actions.githubusercontent.com";

    fn es256() -> (EncodingKey, Vec<AssertionKey>) {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let p = pair.public_key().as_ref();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&p[1..33]), "y": URL_SAFE_NO_PAD.encode(&p[33..65])});
        (
            EncodingKey::from_ec_der(doc.as_ref()),
            keys_from_jwks(&json!({"keys": [jwk]})).unwrap(),
        )
    }

    fn issuer(jti: JtiPolicy) -> TrustedIssuer {
        TrustedIssuer {
            issuer: ISS.into(),
            static_keys: None,
            algorithms: vec![Algorithm::ES256, Algorithm::RS256],
            audiences: vec!["https://idp.test".into()],
            max_lifetime_secs: 3600,
            jti,
        }
    }

    fn github() -> serde_json::Value {
        json!({"iss": ISS, "aud": "https://idp.test", "sub": "repo:acme/site:environment:prod",
            "repository": "acme/site", "repository_id": 42, "iat": NOW, "exp": NOW + 300, "jti": "j1"})
    }

    fn sign(key: &EncodingKey, claims: &serde_json::Value) -> String {
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("k1".into());
        encode(&h, claims, key).unwrap()
    }

    #[test]
    fn verifies_and_returns_the_replay_record_by_policy() {
        let (key, keys) = es256();
        let t = verify(
            &sign(&key, &github()),
            &issuer(JtiPolicy::Optional),
            &keys,
            NOW,
        )
        .unwrap();
        assert_eq!(t.subject, "repo:acme/site:environment:prod");
        assert!(t.replay.is_some());
        let t = verify(
            &sign(&key, &github()),
            &issuer(JtiPolicy::Ignore),
            &keys,
            NOW,
        )
        .unwrap();
        assert!(t.replay.is_none());
        let mut c = github();
        c.as_object_mut().unwrap().remove("jti");
        assert!(verify(&sign(&key, &c), &issuer(JtiPolicy::Optional), &keys, NOW).is_ok());
        assert_eq!(
            verify(
                &sign(&key, &c),
                &issuer(JtiPolicy::RequireUnique),
                &keys,
                NOW
            )
            .unwrap_err(),
            Refusal::NoJti
        );
        assert_eq!(claimed_issuer(&sign(&key, &c)).as_deref(), Some(ISS));
    }

    #[test]
    fn refuses_with_a_reason_each() {
        let (key, keys) = es256();
        let i = issuer(JtiPolicy::Optional);
        let refused = |c: serde_json::Value| verify(&sign(&key, &c), &i, &keys, NOW).unwrap_err();
        let mut c = github();
        c["aud"] = json!("https://elsewhere");
        assert!(refused(c).to_string().contains("https://idp.test"));
        let mut c = github();
        c["iss"] = json!("https://gitlab.com");
        assert!(matches!(refused(c), Refusal::Issuer { .. }));
        let mut c = github();
        c["exp"] = json!(NOW - 120);
        c["iat"] = json!(NOW - 200);
        assert!(matches!(refused(c), Refusal::Expired(120)));
        let mut c = github();
        c["exp"] = json!(NOW + 7200);
        assert!(matches!(refused(c), Refusal::TooLong(7200, 3600)));
        let mut c = github();
        c["nbf"] = json!(NOW + 120);
        assert_eq!(refused(c), Refusal::Future("nbf"));
        let (other, _) = es256();
        assert_eq!(
            verify(&sign(&other, &github()), &i, &keys, NOW).unwrap_err(),
            Refusal::Signature
        );
        // alg none, and HMAC keyed with anything, never get as far as a key.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(github().to_string())
        );
        assert!(matches!(
            verify(&none, &i, &keys, NOW).unwrap_err(),
            Refusal::Malformed(_)
        ));
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &github(),
            &EncodingKey::from_secret(b"public key bytes"),
        )
        .unwrap();
        assert!(matches!(
            verify(&hs, &i, &keys, NOW).unwrap_err(),
            Refusal::Algorithm(..)
        ));
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some("rotated".into());
        let unknown = encode(&h, &github(), &key).unwrap();
        assert!(verify(&unknown, &i, &keys, NOW).unwrap_err().unknown_key());
    }

    #[test]
    fn rules_match_sub_globs_regexes_and_nested_claims() {
        let (key, keys) = es256();
        let mut c = github();
        c["kubernetes.io"] = json!({"namespace": "ci", "serviceaccount": {"name": "runner"}});
        let t = verify(&sign(&key, &c), &issuer(JtiPolicy::Ignore), &keys, NOW).unwrap();
        let rule = |sub: &str, claims: &[(&str, &str)]| {
            FederationRegistration {
                issuer: ISS.into(),
                sub: sub.into(),
                claims: claims
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                subject_template: Some("{issuer}:{sub}".into()),
            }
            .validate(&["repository".into()])
            .unwrap()
        };
        assert!(
            rule("repo:acme/site:environment:prod", &[])
                .check(&t)
                .is_ok()
        );
        assert!(
            rule("repo:acme/*:environment:prod", &[("repository_id", "42")])
                .check(&t)
                .is_ok()
        );
        assert!(
            rule("regex:repo:acme/(site|docs):.*", &[])
                .check(&t)
                .is_ok()
        );
        assert!(
            rule("repo:acme/site:*", &[("kubernetes.io.namespace", "ci")])
                .check(&t)
                .is_ok()
        );
        assert!(
            rule(
                "repo:acme/site:*",
                &[("kubernetes.io.serviceaccount.name", "runner")]
            )
            .check(&t)
            .is_ok()
        );
        let e = rule("repo:acme/other:*", &[]).check(&t).unwrap_err();
        assert!(e.contains("does not match"), "{e}");
        let e = rule("repo:acme/site:*", &[("repository_id", "43")])
            .check(&t)
            .unwrap_err();
        assert!(e.contains("repository_id"), "{e}");
        let e = rule("repo:acme/site:*", &[("ref", "x")])
            .check(&t)
            .unwrap_err();
        assert!(e.contains("missing"), "{e}");
        // The regex is anchored: a prefix is not enough.
        assert!(rule("regex:repo:acme", &[]).check(&t).is_err());
        let r = rule("repo:acme/site:*", &[]);
        assert_eq!(
            r.subject_for(&t, "deploy"),
            format!("{ISS}:repo:acme/site:environment:prod")
        );
        assert_eq!(r.copied(&t).unwrap()["repository"], "acme/site");
    }

    #[test]
    fn registrations_name_the_bad_field() {
        let bad = |sub: &str, template: Option<&str>, copy: &[&str]| {
            FederationRegistration {
                issuer: ISS.into(),
                sub: sub.into(),
                claims: Default::default(),
                subject_template: template.map(str::to_owned),
            }
            .validate(&copy.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
            .unwrap_err()
            .0
        };
        assert_eq!(bad("*", None, &[]), "federation.sub");
        assert_eq!(bad("regex:(", None, &[]), "federation.sub");
        assert_eq!(bad("x", Some("{nope}"), &[]), "federation.subject_template");
        assert_eq!(bad("x", None, &["sub"]), "federated_claims");
    }
}
