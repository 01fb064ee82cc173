//! The device grant's verification page (RFC 8628 §3.3), as the person walks it:
//!
//! 1. `GET /device` (the `verification_uri`; `verification_uri_complete` prefills the
//!    code): the code entry form.
//! 2. `POST /device`: the code, checked (and throttled, see `service::device`), then a
//!    redirect to `GET /device/approve?user_code=…`.
//! 3. `GET /device/approve`: signed in already, the question; else the same sign-in
//!    page as `/authorize` — SPNEGO with the person's ticket, or the password form
//!    (`POST /device/password`).
//! 4. The question — "Allow <client> to sign you in on <host>?" with the scopes and the
//!    code to compare with the device's screen — answered at `POST /device/consent`:
//!    the approval (or denial) is recorded for the polling device, and the person is
//!    told to return to it.

use super::device::{Entered, PendingDevice};
use super::sessions::{Session, sid_of};
use super::signin::{Next, Pending};
use super::*;
use crate::oauth::form::Form;
use crate::oauth::grant::device_code::{Approval, display_user_code, normalize_user_code};

const UNAVAILABLE: &str = "Sign-in is unavailable right now; try again in a moment.";

impl Service {
    /// `GET /device`: the code entry page, prefilled from `?user_code=`.
    pub fn device_code_page(&self, params: &[u8]) -> Next {
        let typed = Form::parse(params)
            .ok()
            .and_then(|f| f.get("user_code").map(str::to_owned))
            .unwrap_or_default();
        Next::DeviceCode {
            // Prefilled only with something that can be a code (it is shown back).
            user_code: normalize_user_code(&typed)
                .map(|c| display_user_code(&c))
                .unwrap_or_default(),
            message: None,
        }
    }

    /// `POST /device`: the code typed; on to the approval when it is live.
    pub async fn device_code_entered(
        &self,
        typed: &str,
        address: std::net::IpAddr,
        now: u64,
    ) -> Next {
        match self.entered(typed, address, now).await {
            Ok(device) => Next::Redirect(format!(
                "/device/approve?user_code={}",
                display_user_code(&device.grant.user_code)
            )),
            Err(next) => next,
        }
    }

    /// `GET /device/approve`: the question for a signed-in person, else the sign-in page.
    pub async fn device_approve(
        &self,
        params: &[u8],
        cookie: Option<&str>,
        address: std::net::IpAddr,
        now: u64,
    ) -> Next {
        let device = match self.entered_device(params, address, now).await {
            Ok(d) => d,
            Err(next) => return next,
        };
        match self.live_session(cookie, now).await {
            Ok(Some((session, _))) => self.device_question(&device, &session),
            Ok(None) => self.page(&Pending::Device(device), None),
            Err(e) => {
                log::warn!(reason = e.log_reason(); "device approval: session lookup failed");
                Next::ErrorPage(UNAVAILABLE.into())
            }
        }
    }

    /// `POST /device/consent`: the person's answer.
    pub async fn device_decision(
        &self,
        params: &[u8],
        cookie: Option<&str>,
        allow: bool,
        address: std::net::IpAddr,
        now: u64,
    ) -> Next {
        let device = match self.entered_device(params, address, now).await {
            Ok(d) => d,
            Err(next) => return next,
        };
        let (session, sid) = match self.live_session(cookie, now).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return self.page(
                    &Pending::Device(device),
                    Some("Your session has ended; sign in again."),
                );
            }
            Err(_) => return Next::ErrorPage(UNAVAILABLE.into()),
        };
        let client_id = device.grant.client_id.as_str();
        let approval = if allow {
            match self.in_good_standing(&session.subject).await {
                Ok(true) => {}
                Ok(false) => {
                    return Next::ErrorPage(
                        "Your account is locked or disabled. Ask your administrator.".into(),
                    );
                }
                Err(_) => return Next::ErrorPage(UNAVAILABLE.into()),
            }
            let scopes: Vec<String> = device.grant.scope.split(' ').map(str::to_owned).collect();
            let claims = match self.person_claims(&session.subject, &scopes).await {
                Ok(c) => c,
                Err(_) => return Next::ErrorPage(UNAVAILABLE.into()),
            };
            Some(Approval {
                subject: session.subject.clone(),
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                sid,
                claims,
            })
        } else {
            None
        };
        match self.decide_device(&device, approval, now).await {
            Ok(()) => {
                log::info!(
                    target: "ahdapa::audit",
                    audit = if allow { "device.approved" } else { "device.denied" },
                    principal = session.subject.as_str(),
                    client_id = client_id,
                    host = device.grant.principal.as_deref().unwrap_or("");
                    "device code {} by {}", if allow { "approved" } else { "denied" }, session.subject
                );
                Next::DeviceDone { approved: allow }
            }
            Err(OAuthError::InvalidGrant { .. }) => Next::ErrorPage(
                "This code was already answered. Start again on your device if it did not sign you in."
                    .into(),
            ),
            Err(_) => Next::ErrorPage(UNAVAILABLE.into()),
        }
    }

    /// The device code a page's `user_code` parameter names, or the code page again.
    pub(super) async fn entered_device(
        &self,
        params: &[u8],
        address: std::net::IpAddr,
        now: u64,
    ) -> Result<PendingDevice, Next> {
        let typed = Form::parse(params)
            .ok()
            .and_then(|f| f.get("user_code").map(str::to_owned))
            .unwrap_or_default();
        self.entered(&typed, address, now).await
    }

    async fn entered(
        &self,
        typed: &str,
        address: std::net::IpAddr,
        now: u64,
    ) -> Result<PendingDevice, Next> {
        let again = |message: &str| Next::DeviceCode {
            user_code: String::new(),
            message: Some(message.to_owned()),
        };
        match self.enter_user_code(typed, address, now).await {
            Ok(Entered::Found(device)) => Ok(*device),
            Ok(Entered::Wrong) => Err(again(
                "That code is not valid, has expired or was already used. Check the code your device shows.",
            )),
            Ok(Entered::Throttled) => Err(again(
                "Too many wrong codes. Wait a few minutes, then try again.",
            )),
            Err(e) => {
                log::warn!(reason = e.log_reason(); "device code lookup failed");
                Err(again(UNAVAILABLE))
            }
        }
    }

    /// The question for a signed-in person.
    pub(super) fn device_question(&self, device: &PendingDevice, session: &Session) -> Next {
        let application = self
            .registry
            .load()
            .get(&device.grant.client_id)
            .and_then(|c| c.client_name.clone())
            .or_else(|| Some(device.grant.client_id.clone()));
        Next::DeviceConsent {
            application,
            host: device
                .grant
                .principal
                .as_deref()
                .and_then(crate::oauth::principal::host_of)
                .map(str::to_owned),
            subject: session.subject.clone(),
            scopes: device.grant.scope.split(' ').map(str::to_owned).collect(),
            user_code: display_user_code(&device.grant.user_code),
        }
    }

    /// The session a cookie names, with its `sid`.
    async fn live_session(
        &self,
        cookie: Option<&str>,
        now: u64,
    ) -> Result<Option<(Session, String)>, OAuthError> {
        match cookie {
            None => Ok(None),
            Some(c) => Ok(self.session(c, now).await?.map(|s| (s, sid_of(c)))),
        }
    }
}
