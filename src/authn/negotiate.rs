//! The Negotiate adapter (the core's `ports::NegotiateAcceptor`): RFC 4559 tokens at
//! `/token`, the admin API and enrolment.
//!
//! An accept first looks inside the token ([`ap_req`]: Kerberos only, no NTLM, no
//! garbage, no second round) and takes the digest the core records single-use, then
//! runs GSSAPI ([`gssapi::Acceptor`]) off the async executor, bounded in concurrency. It
//! never decides about replays (the core does, with the digest) or clients.

use crate::authn::ap_req;
use crate::authn::gssapi::Acceptor;
use crate::config::KerberosConfig;
use crate::oauth::OAuthError;
use crate::oauth::ports::{AcceptedTicket, NegotiateAcceptor};

/// Concurrent GSSAPI accepts allowed per CPU core (measured: 1 per core reaches about
/// half the throughput of 8 per core on the benchmark machine).
const ACCEPTS_PER_CORE: usize = 8;

/// The Kerberos acceptor of this process.
pub struct Kerberos {
    acceptor: Acceptor,
    /// Bounds concurrent GSSAPI accepts on the blocking pool. An accept waits on file
    /// I/O (MIT re-reads the keytab and locks the replay cache file each time), so some
    /// more threads than cores raise throughput; the bound keeps a flood of Negotiate
    /// requests from growing the blocking pool without limit.
    accepting: tokio::sync::Semaphore,
    /// AP-REQ replay records live for twice the clock skew (an authenticator is valid
    /// for `skew` on either side of now).
    replay_window_secs: u64,
}

impl Kerberos {
    /// The acceptor for `[kerberos]`: creates the replay cache's directory and opens the
    /// keytab's credentials. `Err` names the setting to fix.
    pub fn new(config: &KerberosConfig) -> Result<Self, String> {
        crate::fs::create_private_parent(&config.replay_cache).map_err(|e| {
            format!(
                "kerberos.replay_cache {}: {e}",
                config.replay_cache.display()
            )
        })?;
        let acceptor = Acceptor::new(
            &config.service_principal,
            &config.keytab,
            &config.replay_cache,
        )
        .map_err(|e| format!("kerberos.keytab / kerberos.service_principal: {e}"))?;
        Ok(Self {
            acceptor,
            accepting: tokio::sync::Semaphore::new(
                ACCEPTS_PER_CORE * std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            replay_window_secs: config.clock_skew_secs.saturating_mul(2),
        })
    }
}

#[async_trait::async_trait]
impl NegotiateAcceptor for Kerberos {
    async fn accept(&self, token: &[u8]) -> Result<AcceptedTicket, OAuthError> {
        let replay_key =
            ap_req::replay_digest(token).map_err(|e| OAuthError::invalid_client(e.reason()))?;
        let acceptor = self.acceptor.clone();
        let token = token.to_vec();
        let _permit = self
            .accepting
            .acquire()
            .await
            .map_err(|_| OAuthError::server_error("acceptor closed"))?;
        let accepted = tokio::task::spawn_blocking(move || acceptor.accept(&token))
            .await
            .map_err(|e| OAuthError::server_error(format!("GSSAPI task failed: {e}")))?
            .map_err(|reason| {
                OAuthError::invalid_client(format!("GSSAPI refused the token: {reason}"))
            })?;
        Ok(AcceptedTicket {
            principal: accepted.principal,
            mutual_token: accepted.mutual_token,
            replay_key,
            replay_window_secs: self.replay_window_secs,
        })
    }
}
