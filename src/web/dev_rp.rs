//! `serve --dev` only: a demo web application inside ahdapa, so a newcomer can sign in
//! with a browser and see the result. `/dev/rp` starts an authorization request (code +
//! PKCE, `state` and `nonce` kept in a cookie); `/dev/rp/callback` checks `state` and
//! RFC 9207 `iss`, redeems the code through the real token flow, verifies the ID token
//! (our signature, `iss`, `aud`, `nonce`) and shows its claims. Not routed outside dev
//! mode.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;

use super::Response;
use super::extract;
use super::pages;
use crate::dev::DEMO_APP_ID;
use crate::service::Service;

const COOKIE: &str = "ahdapa-dev-rp";

/// The demo app's page.
#[derive(askama::Template)]
#[template(path = "dev_rp.html")]
struct DemoApp<'a> {
    brand: pages::Branding<'a>,
    subject: &'a str,
    claims: Vec<(String, String)>,
}

/// `GET /dev/rp`: off to `/authorize`.
pub fn start(service: &Service) -> Response {
    let (Some(state), Some(verifier), Some(nonce)) = (random(), random(), random()) else {
        return super::error::json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            Some("random source failed"),
        );
    };
    let challenge = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    let redirect_uri = format!("{}/dev/rp/callback", service.issuer());
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_APP_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid profile")
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let mut resp = http::Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SEE_OTHER;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}/authorize?{query}", service.issuer())) {
        h.insert(LOCATION, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{COOKIE}={state}.{verifier}.{nonce}; Path=/dev/rp; Max-Age=600; HttpOnly; SameSite=Lax"
    )) {
        h.insert(SET_COOKIE, v);
    }
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /dev/rp/callback`: redeem, verify, show.
pub async fn callback<B>(service: &Service, req: Request<B>) -> Response {
    let (parts, _) = req.into_parts();
    match redeem(service, &parts).await {
        Ok((subject, claims)) => pages::html(
            StatusCode::OK,
            &DemoApp {
                brand: service.branding(),
                subject: &subject,
                claims,
            },
        ),
        Err(message) => super::signin::error_page(service, StatusCode::BAD_REQUEST, &message),
    }
}

/// The code exchange and the ID token checks a relying party makes.
async fn redeem(
    service: &Service,
    parts: &http::request::Parts,
) -> Result<(String, Vec<(String, String)>), String> {
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if let Some(error) = query.get("error") {
        return Err(format!(
            "The sign-in ended with {error}: {}",
            query.get("error_description").map_or("", String::as_str)
        ));
    }
    let cookie = extract::cookie(parts, COOKIE)
        .ok_or("The demo app's cookie is missing; start at /dev/rp.")?;
    let mut it = cookie.split('.');
    let (Some(state), Some(verifier), Some(nonce)) = (it.next(), it.next(), it.next()) else {
        return Err("The demo app's cookie is malformed; start at /dev/rp.".into());
    };
    if query.get("state").map(String::as_str) != Some(state) {
        return Err("state does not match: start at /dev/rp.".into());
    }
    if query.get("iss").map(String::as_str) != Some(service.issuer()) {
        return Err("iss (RFC 9207) is not this issuer.".into());
    }
    let code = query.get("code").ok_or("No code came back.")?;
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("code", code)
        .append_pair(
            "redirect_uri",
            &format!("{}/dev/rp/callback", service.issuer()),
        )
        .append_pair("code_verifier", verifier)
        .append_pair("client_id", DEMO_APP_ID)
        .finish();
    let issued = service
        .token(None, body.as_bytes(), None, None)
        .await
        .map_err(|e| format!("The token request was refused: {e}"))?;
    let id_token = issued
        .response
        .id_token
        .ok_or("No ID token in the token response.")?;
    let claims = crate::token::access_token::verify_ours(
        &id_token,
        &service.key_set(),
        service.issuer(),
        "JWT",
        None,
    )
    .map_err(|e| format!("The ID token does not verify: {e}"))?;
    if claims.get("aud").and_then(|a| a.as_str()) != Some(DEMO_APP_ID) {
        return Err("The ID token is for another audience.".into());
    }
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce) {
        return Err("The ID token's nonce does not match.".into());
    }
    let subject = claims
        .get("sub")
        .and_then(|s| s.as_str())
        .unwrap_or_default()
        .to_owned();
    let rows = claims
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), shown)
        })
        .collect();
    Ok((subject, rows))
}

/// 256 random bits, base64url (43 characters: also a valid PKCE verifier).
fn random() -> Option<String> {
    use aws_lc_rs::rand::SecureRandom;
    let mut b = [0u8; 32];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut b).ok()?;
    Some(URL_SAFE_NO_PAD.encode(b))
}
