//! The GSSAPI acceptor for `kerberos_client_auth` (RFC 4559 Negotiate, one round trip).
//!
//! The acceptor credential is acquired once at start from the configured keytab and
//! replay cache through a credential store ([`gss_credstore`]): no process-global
//! environment, so several acceptors (tests, a library user) coexist. Acceptance is
//! blocking file I/O (keytab, replay cache): callers run [`Acceptor::accept`] on the
//! blocking pool. The acceptor name is pinned to the configured service principal, so a
//! ticket for another principal in the same keytab is refused.

use std::path::Path;

use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::Cred;

/// A Kerberos acceptor bound to one service principal.
#[derive(Clone)]
pub struct Acceptor {
    cred: Cred,
    principal: String,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("principal", &self.principal)
            .finish()
    }
}

/// A client the acceptor authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The initiator's principal, e.g. `host/node1.example.com@EXAMPLE.COM`.
    pub principal: String,
    /// The AP-REP for mutual authentication, to return in `WWW-Authenticate`.
    pub mutual_token: Option<Vec<u8>>,
}

impl Acceptor {
    /// Acquires the credential for `principal` from `keytab`, with MIT's replay cache at
    /// `rcache` (a file). Fails with a message an admin can act on.
    pub fn new(principal: &str, keytab: &Path, rcache: &Path) -> Result<Self, String> {
        if let Err(e) = std::fs::File::open(keytab) {
            return Err(format!("cannot read keytab {}: {e}", keytab.display()));
        }
        let keytab_s = format!("FILE:{}", keytab.display());
        let rcache_s = format!("file2:{}", rcache.display());
        let cred = gss_credstore::acquire_acceptor(
            Some(principal),
            &[("keytab", &keytab_s), ("rcache", &rcache_s)],
        )
        .map_err(|e| {
            format!(
                "cannot use {principal} from keytab {}: {e}",
                keytab.display()
            )
        })?;
        Ok(Self {
            cred,
            principal: principal.to_owned(),
        })
    }

    /// Checks that `keytab` holds keys for `principal`, the way [`Acceptor::new`] will
    /// use them, without a replay cache (nothing is written).
    pub fn check(principal: &str, keytab: &Path) -> Result<(), String> {
        let keytab_s = format!("FILE:{}", keytab.display());
        gss_credstore::acquire_acceptor(Some(principal), &[("keytab", &keytab_s)])
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "cannot use {principal} from keytab {}: {e}",
                    keytab.display()
                )
            })
    }

    /// The pinned service principal.
    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Accepts one Negotiate token. A context that would need another leg is refused.
    /// The error is a log reason (GSSAPI's own major/minor messages).
    pub fn accept(&self, token: &[u8]) -> Result<Accepted, String> {
        let mut ctx = ServerCtx::new(Some(self.cred.clone()));
        let mutual_token = ctx
            .step(token, None)
            .map_err(|e| e.to_string())?
            .map(|b| b.to_vec());
        if !ctx.is_complete() {
            return Err(
                "the security context needs another round trip, which ahdapa does not do".into(),
            );
        }
        let principal = ctx
            .source_name()
            .map_err(|e| format!("no initiator name: {e}"))?
            .to_string();
        Ok(Accepted {
            principal,
            mutual_token,
        })
    }
}
