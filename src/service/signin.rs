//! People signing in: what `/authorize` does next for a request and a browser (redirect
//! with a code or an error, show the sign-in page, or show an error page), and the two
//! ways in — a Kerberos ticket through SPNEGO, or a password checked by the KDC.
//!
//! The decisions follow OpenID Connect Core §3.1.2: a live session is used unless
//! `prompt=login` or `max_age` asks for a fresh authentication; `prompt=none` never shows
//! a page (`login_required`); errors go to the redirect URI only once the client and the
//! redirect URI are known good (see `oauth::authorize`). Every response to the client
//! carries RFC 9207 `iss`.

use super::sessions::{Session, sid_of};
use super::*;
use crate::authn::password::SignInRefusal;
use crate::oauth::authorize::{self, AuthorizationRequest, AuthorizeError};
use crate::oauth::form::Form;
use crate::oauth::grant::authorization_code::CodeGrant;

/// What the browser gets next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A 303 to the client: a code, or an error.
    Redirect(String),
    /// The sign-in page, for this request.
    SignIn {
        /// The client's name for people.
        application: Option<String>,
        /// Why the last attempt failed, for the person.
        message: Option<String>,
        /// The user name to prefill.
        username: String,
    },
    /// The consent page: the person is signed in, and this client asks them first.
    Consent {
        /// The client's name for people.
        application: Option<String>,
        /// Who is signed in.
        subject: String,
        /// The scopes the client would receive.
        scopes: Vec<String>,
    },
    /// An error page; the browser is not sent anywhere.
    ErrorPage(String),
    /// A page (the sign-in form with its message) answered `429 Too Many Requests` with
    /// `Retry-After`: a rate limit refused the attempt before the KDC saw it.
    Throttled {
        /// What to show.
        page: Box<Next>,
        /// Seconds until another attempt may pass.
        retry_after: u64,
    },
    /// The device grant's code entry page.
    DeviceCode {
        /// The code to prefill.
        user_code: String,
        /// Why the last entry failed.
        message: Option<String>,
    },
    /// The device grant's question: allow this host to sign the person in?
    DeviceConsent {
        /// The client's name for people.
        application: Option<String>,
        /// The host that asked, when it authenticated with its keytab.
        host: Option<String>,
        /// Who is signed in.
        subject: String,
        /// The scopes the host would receive.
        scopes: Vec<String>,
        /// The user code, to compare with the device's screen.
        user_code: String,
    },
    /// The device grant's last page: return to the device.
    DeviceDone {
        /// Whether the person allowed it.
        approved: bool,
    },
}

/// Which sign-in a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// `/authorize`: a web application.
    Authorize,
    /// `/device`: a host's device grant.
    Device,
}

/// The request a sign-in continues.
pub(super) enum Pending {
    Authorize(AuthorizationRequest),
    Device(super::device::PendingDevice),
}

/// A completed sign-in: what comes next (the redirect, or the consent page), and the new
/// session's cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// The redirect to the client, or the consent page.
    pub next: Next,
    /// The session cookie value.
    pub cookie: String,
}

/// The store kind of remembered consents.
const CONSENT: &str = "consent";

/// How long a consent is remembered (a year; `prompt=consent` asks again any time).
const CONSENT_LIFETIME_SECS: u64 = 365 * 86_400;

/// The store key of a person's consent to a client.
fn consent_key(subject: &str, client_id: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(subject.len() + client_id.len() + 1);
    input.extend_from_slice(subject.as_bytes());
    input.push(0);
    input.extend_from_slice(client_id.as_bytes());
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &input)
        .as_ref()
        .to_vec()
}

impl Service {
    /// `GET`/`POST /authorize` for `params` (the query or form) with the browser's session
    /// cookie, if any.
    pub async fn authorize(&self, params: &[u8], cookie: Option<&str>, now: u64) -> Next {
        let request = match self.authorization_request(params) {
            Ok(r) => r,
            Err(next) => return next,
        };
        let session = match cookie {
            Some(c) => match self.session(c, now).await {
                Ok(s) => s.map(|s| (s, sid_of(c))),
                Err(e) => return self.refuse(&request, "temporarily_unavailable", e.log_reason()),
            },
            None => None,
        };
        // OIDC Core §3.1.2.1 id_token_hint: the person it names must be the one signed in.
        let hinted = match &request.id_token_hint {
            None => None,
            Some(hint) => match crate::token::access_token::verify_ours(
                hint,
                &self.keys.load(),
                self.issuer(),
                "JWT",
                self.registry
                    .load()
                    .get(&request.client_id)
                    .and_then(|c| c.client_key()),
            ) {
                Ok(claims) => claims
                    .get("sub")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned),
                Err(_) => {
                    return self.refuse(
                        &request,
                        "invalid_request",
                        "id_token_hint is not an ID token this server issued",
                    );
                }
            },
        };
        let usable = session.filter(|(s, _)| {
            !request.prompt.login
                && request
                    .max_age
                    .is_none_or(|max| now.saturating_sub(s.auth_time) <= max)
                && hinted.as_deref().is_none_or(|sub| sub == s.subject)
        });
        match usable {
            Some((session, sid)) => self.complete(&request, &session, &sid, now).await,
            None if request.prompt.none => self.refuse(
                &request,
                "login_required",
                "prompt=none, and the person is not signed in (or must sign in again)",
            ),
            None => self.sign_in_page(&request, None),
        }
    }

    /// A Negotiate token sent to `/authorize`: the person's Kerberos ticket.
    pub async fn sign_in_with_kerberos(
        &self,
        flow: Flow,
        params: &[u8],
        token: &[u8],
        address: std::net::IpAddr,
        now: u64,
    ) -> Result<SignedIn, Next> {
        let request = self.pending(flow, params, address, now).await?;
        let principal = match self.accept_negotiate(token).await {
            // People only: a host or service principal (`host/...`, `HTTP/...`) holds a
            // keytab, not a person's session.
            Ok((p, _)) if p.split('@').next().is_some_and(|name| name.contains('/')) => {
                log::warn!(principal = p.as_str(); "Kerberos sign-in refused: not a person's principal");
                return Err(self.page(
                    &request,
                    Some("This Kerberos ticket is not a person's; sign in with your password."),
                ));
            }
            Ok((p, _)) => p,
            Err(OAuthError::TemporarilyUnavailable { .. }) => {
                return Err(self.page(
                    &request,
                    Some("Sign-in is unavailable right now; try again in a moment."),
                ));
            }
            Err(e) => {
                log::warn!(reason = e.log_reason(); "Kerberos sign-in refused");
                return Err(self.page(
                    &request,
                    Some("Your Kerberos ticket was not accepted; sign in with your password."),
                ));
            }
        };
        self.signed_in(&request, &principal, vec!["kerberos".into()], now)
            .await
    }

    /// The password form: `user`, `password` and an optional OTP, from `address`.
    #[allow(clippy::too_many_arguments)]
    pub async fn sign_in_with_password(
        &self,
        flow: Flow,
        params: &[u8],
        user: &str,
        password: &str,
        otp: Option<&str>,
        address: std::net::IpAddr,
        now: u64,
    ) -> Result<SignedIn, Next> {
        let request = self.pending(flow, params, address, now).await?;
        let Some(passwords) = &self.passwords else {
            return Err(Next::ErrorPage(
                "Password sign-in is not configured on this server ([kerberos]).".into(),
            ));
        };
        let page = |message: &str| {
            let mut next = self.page(&request, Some(message));
            if let Next::SignIn { username, .. } = &mut next {
                user.clone_into(username);
            }
            next
        };
        use krb5_password::PasswordError as P;
        let verified = match passwords.check(address, user, password, otp).await {
            Ok(v) => v,
            Err(refusal) => {
                let wait;
                let message = match &refusal {
                    SignInRefusal::Throttled { limit, retry_after } => {
                        self.metrics.rate_limited(limit);
                        wait = format!(
                            "Too many failed attempts. Wait {}, then try again.",
                            crate::oauth::throttle::in_words(*retry_after)
                        );
                        wait.as_str()
                    }
                    SignInRefusal::Kdc(P::WrongPassword | P::BadName(_)) => {
                        "The user name or password is not correct."
                    }
                    SignInRefusal::Kdc(P::PasswordExpired) => {
                        "Your password has expired. Change it (for example with kpasswd), then sign in."
                    }
                    SignInRefusal::Kdc(P::Locked) => {
                        "Your account is locked or disabled. Ask your administrator."
                    }
                    SignInRefusal::Kdc(P::PrincipalExpired) => {
                        "Your account has expired. Ask your administrator."
                    }
                    SignInRefusal::Kdc(P::Unavailable(_) | P::NotVerified(_) | P::Other(_)) => {
                        "Sign-in is unavailable right now; try again in a moment."
                    }
                };
                let reason = match &refusal {
                    SignInRefusal::Throttled { limit, .. } => format!("throttled by {limit}"),
                    SignInRefusal::Kdc(e) => e.to_string(),
                };
                log::warn!(user = user, reason = reason.as_str(), client_id = request.client_id(); "password sign-in refused");
                return Err(match refusal {
                    SignInRefusal::Throttled { retry_after, .. } => Next::Throttled {
                        page: Box::new(page(message)),
                        retry_after,
                    },
                    SignInRefusal::Kdc(_) => page(message),
                });
            }
        };
        // Only `pwd`: the one-time code is appended to the password for the KDC, which
        // does not say whether it checked one, so `otp` is never claimed on a guess.
        let amr = vec!["pwd".to_owned()];
        log::info!(user = user, principal = verified.principal.as_str(), fast = verified.fast; "password checked");
        self.signed_in(&request, &verified.principal, amr, now)
            .await
    }

    /// After either way in: the directory must know the person and not have them
    /// locked; then a session, a code, and the redirect.
    async fn signed_in(
        &self,
        request: &Pending,
        principal: &str,
        amr: Vec<String>,
        now: u64,
    ) -> Result<SignedIn, Next> {
        match self.in_good_standing(principal).await {
            Ok(true) => {}
            Ok(false) => {
                log::warn!(principal = principal; "sign-in refused: not in the directory, or locked");
                return Err(self.page(
                    request,
                    Some("Your account is locked or disabled. Ask your administrator."),
                ));
            }
            Err(e) => {
                log::warn!(reason = e.to_string().as_str(); "sign-in: directory lookup failed");
                return Err(self.page(
                    request,
                    Some("Sign-in is unavailable right now; try again in a moment."),
                ));
            }
        }
        let session = Session {
            subject: principal.to_owned(),
            auth_time: now,
            amr,
            expires_at: now.saturating_add(self.session_lifetime_secs()),
            last_seen: now,
        };
        let cookie = self
            .start_session(&session)
            .await
            .map_err(|e| self.fail(request, "temporarily_unavailable", e.log_reason()))?;
        log::info!(principal = principal, client_id = request.client_id(), amr = session.amr.join(" ").as_str(); "person signed in");
        let next = self.proceed(request, &session, &sid_of(&cookie), now).await;
        Ok(SignedIn { next, cookie })
    }

    /// `POST /authorize/consent`: the person's answer on the consent page, with their
    /// session cookie.
    pub async fn consent(
        &self,
        params: &[u8],
        cookie: Option<&str>,
        allow: bool,
        now: u64,
    ) -> Next {
        let request = match self.authorization_request(params) {
            Ok(r) => r,
            Err(next) => return next,
        };
        let ended = "Your session has ended; sign in again.";
        let (session, sid) = match cookie {
            Some(c) => match self.session(c, now).await {
                Ok(Some(s)) => (s, sid_of(c)),
                Ok(None) => return self.sign_in_page(&request, Some(ended)),
                Err(e) => return self.refuse(&request, "temporarily_unavailable", e.log_reason()),
            },
            None => return self.sign_in_page(&request, Some(ended)),
        };
        if !allow {
            log::info!(principal = session.subject.as_str(), client_id = request.client_id.as_str(); "consent denied");
            return self.refuse(&request, "access_denied", "the person did not allow access");
        }
        let value = request.scope.to_scope_string();
        if let Err(e) = self
            .store
            .put_state(
                CONSENT,
                &consent_key(&session.subject, &request.client_id),
                value.as_bytes(),
                now.saturating_add(CONSENT_LIFETIME_SECS),
                Durability::Durable,
            )
            .await
        {
            return self.refuse(&request, "temporarily_unavailable", &e.to_string());
        }
        log::info!(principal = session.subject.as_str(), client_id = request.client_id.as_str(), scope = value.as_str(); "consent given");
        self.issue_for(&request, &session, &sid, now).await
    }

    /// True when the person must be asked before `request` is answered: the request
    /// says `prompt=consent`, or the client requires consent and none covering these
    /// scopes is remembered.
    async fn needs_consent(
        &self,
        request: &AuthorizationRequest,
        subject: &str,
        now: u64,
    ) -> Result<bool, OAuthError> {
        if request.prompt.consent {
            return Ok(true);
        }
        let required = self
            .registry
            .load()
            .get(&request.client_id)
            .is_some_and(|c| c.require_consent);
        if !required {
            return Ok(false);
        }
        let given = self
            .store
            .state(CONSENT, &consent_key(subject, &request.client_id), now)
            .await
            .map_err(|e| store_unavailable("reading the consent", e))?;
        let covered = given.is_some_and(|g| {
            let given = String::from_utf8_lossy(&g.value).into_owned();
            request
                .scope
                .tokens()
                .iter()
                .all(|s| given.split(' ').any(|g| g == s))
        });
        Ok(!covered)
    }
    /// For a signed-in person: the consent page when it is needed, else the code.
    async fn complete(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
        sid: &str,
        now: u64,
    ) -> Next {
        match self.needs_consent(request, &session.subject, now).await {
            Ok(false) => self.issue_for(request, session, sid, now).await,
            Ok(true) if request.prompt.none => self.refuse(
                request,
                "consent_required",
                "prompt=none, and this application needs the person's consent",
            ),
            Ok(true) => Next::Consent {
                application: self
                    .registry
                    .load()
                    .get(&request.client_id)
                    .and_then(|c| c.client_name.clone()),
                subject: session.subject.clone(),
                scopes: request.scope.tokens().to_vec(),
            },
            Err(e) => self.refuse(request, "temporarily_unavailable", e.log_reason()),
        }
    }

    /// Issues the code for a signed-in person and builds the redirect.
    async fn issue_for(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
        sid: &str,
        now: u64,
    ) -> Next {
        // Claims for this request's scopes, read now (the directory caches them); a
        // person locked since they signed in gets no more codes.
        match self.in_good_standing(&session.subject).await {
            Ok(true) => {}
            Ok(false) => {
                return self.refuse(
                    request,
                    "access_denied",
                    "the account is locked or no longer in the directory",
                );
            }
            Err(e) => return self.refuse(request, "temporarily_unavailable", &e.to_string()),
        }
        let claims = match self
            .person_claims(&session.subject, request.scope.tokens())
            .await
        {
            Ok(c) => c,
            Err(e) => return self.refuse(request, "temporarily_unavailable", e.log_reason()),
        };
        let grant = CodeGrant {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            redirect_uri_sent: request.redirect_uri_sent,
            scope: request.scope.to_scope_string(),
            nonce: request.nonce.clone(),
            code_challenge: request.code_challenge.clone(),
            subject: session.subject.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            sid: sid.to_owned(),
            resource: request.resource.clone(),
            claims,
        };
        match self.issue_code(&grant, now).await {
            Ok(code) => Next::Redirect(response_uri(
                &request.redirect_uri,
                &[("code", Some(&code)), ("state", request.state.as_deref())],
                self.issuer(),
            )),
            Err(e) => self.refuse(request, "temporarily_unavailable", e.log_reason()),
        }
    }

    /// The request a sign-in page continues: the authorization request, or the device
    /// code (looked up again, and throttled, on every step).
    async fn pending(
        &self,
        flow: Flow,
        params: &[u8],
        address: std::net::IpAddr,
        now: u64,
    ) -> Result<Pending, Next> {
        match flow {
            Flow::Authorize => self.authorization_request(params).map(Pending::Authorize),
            Flow::Device => self
                .entered_device(params, address, now)
                .await
                .map(Pending::Device),
        }
    }

    /// What follows a sign-in: the code (or consent page) for an application, the
    /// question for a device.
    async fn proceed(&self, request: &Pending, session: &Session, sid: &str, now: u64) -> Next {
        match request {
            Pending::Authorize(r) => self.complete(r, session, sid, now).await,
            Pending::Device(d) => self.device_question(d, session),
        }
    }

    /// A failure: to the client for an application, an error page for a device.
    fn fail(&self, request: &Pending, error: &str, description: &str) -> Next {
        match request {
            Pending::Authorize(r) => self.refuse(r, error, description),
            Pending::Device(_) => {
                log::warn!(error = error, reason = description; "device approval failed");
                Next::ErrorPage("Sign-in is unavailable right now; try again in a moment.".into())
            }
        }
    }

    /// Parses and validates the authorization request, or what to show instead.
    fn authorization_request(&self, params: &[u8]) -> Result<AuthorizationRequest, Next> {
        let form = Form::parse_with_repeatable(params, &["resource"]).map_err(|e| {
            Next::ErrorPage(format!(
                "The sign-in request is malformed: {}",
                e.description().unwrap_or("")
            ))
        })?;
        let registry = self.registry.load();
        authorize::parse(&form, &registry).map_err(|e| match e {
            AuthorizeError::NoRedirect(m) => Next::ErrorPage(m),
            AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
                description,
            } => Next::Redirect(response_uri(
                &redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(&description)),
                    ("state", state.as_deref()),
                ],
                self.issuer(),
            )),
        })
    }

    /// An error sent back to the client.
    fn refuse(&self, request: &AuthorizationRequest, error: &str, description: &str) -> Next {
        Next::Redirect(response_uri(
            &request.redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", request.state.as_deref()),
            ],
            self.issuer(),
        ))
    }

    fn sign_in_page(&self, request: &AuthorizationRequest, message: Option<&str>) -> Next {
        self.page(&Pending::Authorize(request.clone()), message)
    }

    /// The sign-in page for `request`.
    pub(super) fn page(&self, request: &Pending, message: Option<&str>) -> Next {
        let registry = self.registry.load();
        Next::SignIn {
            application: registry
                .get(request.client_id())
                .and_then(|c| c.client_name.clone()),
            message: message.map(str::to_owned),
            username: match request {
                Pending::Authorize(r) => r.login_hint.clone().unwrap_or_default(),
                Pending::Device(_) => String::new(),
            },
        }
    }

    /// True when the directory (if there is one) knows `principal` and has it unlocked.
    pub(super) async fn in_good_standing(
        &self,
        principal: &str,
    ) -> Result<bool, crate::directory::DirectoryError> {
        match &self.directory {
            None => Ok(true),
            Some(d) => Ok(d.principal(principal).await?.is_some_and(|e| !e.locked)),
        }
    }

    /// The claims a person's granted scopes release (OIDC Core §5.4): `profile` gives
    /// `preferred_username`, `name`, `given_name`, `family_name`; `email` gives `email`;
    /// `groups` gives the names of their groups. From the directory when there is one
    /// (a person it does not know gets only `preferred_username`); without one,
    /// `preferred_username` is the principal's name.
    pub async fn person_claims(
        &self,
        principal: &str,
        scopes: &[String],
    ) -> Result<serde_json::Map<String, serde_json::Value>, OAuthError> {
        let has = |s: &str| scopes.iter().any(|g| g == s);
        let mut claims = serde_json::Map::new();
        let short = principal.split('@').next().unwrap_or(principal);
        if has("profile") {
            claims.insert("preferred_username".into(), short.into());
        }
        let Some(directory) = &self.directory else {
            return Ok(claims);
        };
        if !(has("profile") || has("email") || has("groups")) {
            return Ok(claims);
        }
        let unavailable =
            |e: crate::directory::DirectoryError| OAuthError::TemporarilyUnavailable {
                reason: format!("directory: {e}").into(),
            };
        let users = directory
            .users(crate::directory::UserQuery::Id(principal.to_owned()))
            .await
            .map_err(unavailable)?;
        let Some(user) = users.first() else {
            return Ok(claims);
        };
        let mut put = |name: &str, value: &Option<String>| {
            if let Some(v) = value {
                claims.insert(name.into(), v.clone().into());
            }
        };
        if has("profile") {
            put("preferred_username", &Some(user.username.clone()));
            put("name", &user.display_name);
            put("given_name", &user.given_name);
            put("family_name", &user.family_name);
        }
        if has("email") {
            put("email", &user.email);
        }
        if has("groups") {
            let groups = directory.groups_of(user).await.map_err(unavailable)?;
            let names: Vec<serde_json::Value> =
                groups.iter().map(|g| g.name.clone().into()).collect();
            claims.insert("groups".into(), names.into());
        }
        Ok(claims)
    }

    /// `/userinfo` (OIDC Core §5.3) for a verified access token: `sub` and the claims
    /// of its scopes, read now. The token must have the `openid` scope.
    pub async fn userinfo(
        &self,
        token: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, OAuthError> {
        let sub = token
            .get("sub")
            .and_then(|s| s.as_str())
            .ok_or_else(|| OAuthError::server_error("a verified token without sub"))?;
        let scopes: Vec<String> = token
            .get("scope")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .split(' ')
            .map(str::to_owned)
            .collect();
        let mut claims = self.person_claims(sub, &scopes).await?;
        claims.insert("sub".into(), sub.into());
        Ok(serde_json::Value::Object(claims))
    }
}

impl Pending {
    fn client_id(&self) -> &str {
        match self {
            Self::Authorize(r) => &r.client_id,
            Self::Device(d) => &d.grant.client_id,
        }
    }
}

/// `redirect_uri` with the response parameters and `iss` (RFC 9207) added to its query.
fn response_uri(redirect_uri: &str, params: &[(&str, Option<&str>)], issuer: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        if let Some(v) = value {
            query.append_pair(name, v);
        }
    }
    query.append_pair("iss", issuer);
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{sep}{}", query.finish())
}
