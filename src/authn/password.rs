//! People's passwords, checked by the KDC (`krb5-password`: an AS-REQ armoured with
//! FAST from ahdapa's keytab, the ticket then verified against that keytab), off the
//! async executor and bounded in concurrency, behind a throttle that answers before the
//! KDC is asked. A deployment without `[kerberos]` but with a `[directory]` checks them
//! with a simple bind as the person's entry, over TLS only.
//!
//! The throttle (`rate_limits.signin_failures_per_address` and `..._per_user`, limiters
//! of `oauth::throttle`) counts failures per client address (an IPv6 /64 counts as one)
//! and per user name: past a limit, attempts are refused without a KDC round trip, so
//! guessing from one place, or at one user, costs nothing at the KDC and cannot trip
//! FreeIPA's lockout for the real user. The counts are per node (a person signs in
//! through one node at a time; N nodes allow N times the attempts).

use std::net::IpAddr;

use crate::oauth::throttle::{Key, Limiter, RateLimits, RetryAfter};

use krb5_password::{PasswordError, Verified, Verifier};

/// Concurrent KDC exchanges.
const CONCURRENT_CHECKS: usize = 16;

/// Why a sign-in with a password did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Too many failures from this address or for this user: wait this many seconds.
    Throttled {
        /// The `[rate_limits]` entry that refused.
        limit: &'static str,
        /// Seconds until one more attempt fits.
        retry_after: u64,
    },
    /// What the KDC said.
    Kdc(PasswordError),
}

/// Who checks the passwords.
enum Backend {
    /// The KDC.
    Kdc(Verifier),
    /// `serve --dev`: one demo person, in memory.
    Dev(crate::config::DevPerson),
    /// No Kerberos: a simple bind as the person's directory entry, over TLS.
    Ldap(std::sync::Arc<crate::directory::Directory>),
}

/// The password checker of this process.
pub struct Passwords {
    backend: Backend,
    checks: tokio::sync::Semaphore,
    per_address: Limiter,
    per_user: Limiter,
}

impl Passwords {
    /// For `[kerberos]`: the service principal and its keytab.
    pub fn new(
        service_principal: &str,
        keytab: &std::path::Path,
        limits: &RateLimits,
    ) -> Result<Self, String> {
        let keytab = format!("FILE:{}", keytab.display());
        let verifier = Verifier::new(service_principal, &keytab)
            .ok_or("kerberos.service_principal or kerberos.keytab contains a NUL byte")?;
        Ok(Self::with(Backend::Kdc(verifier), limits))
    }

    /// Without `[kerberos]` but with a `[directory]`: binds as the person over TLS.
    pub fn ldap(
        directory: std::sync::Arc<crate::directory::Directory>,
        limits: &RateLimits,
    ) -> Self {
        Self::with(Backend::Ldap(directory), limits)
    }

    /// For `serve --dev`: the demo person's password, checked in memory.
    pub fn dev(person: crate::config::DevPerson, limits: &RateLimits) -> Self {
        Self::with(Backend::Dev(person), limits)
    }

    /// The sign-in limits are `[rate_limits]`'s `signin_failures_per_*`.
    fn with(backend: Backend, limits: &RateLimits) -> Self {
        Self {
            backend,
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
            per_address: Limiter::new(limits.signin_failures_per_address),
            per_user: Limiter::new(limits.signin_failures_per_user),
        }
    }

    /// Checks `password` (with the OTP appended, as FreeIPA expects, when given) for
    /// `user` coming from `address`.
    pub async fn check(
        &self,
        address: IpAddr,
        user: &str,
        password: &str,
        otp: Option<&str>,
    ) -> Result<Verified, SignInRefusal> {
        let address = Key::address(address);
        // `alice`, `ALICE` and `alice@REALM` are one person to the throttle.
        let user_key = Key::Name(user.split('@').next().unwrap_or(user).to_ascii_lowercase());
        // The attempt counts from now on: parallel guesses cannot all pass the check
        // before the first failure is counted. A success gives it back.
        self.reserve(&address, &user_key)?;
        let mut secret = password.to_owned();
        if let Some(otp) = otp {
            secret.push_str(otp);
        }
        let result = match &self.backend {
            Backend::Dev(person) => {
                let same = |a: &str, b: &str| {
                    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes())
                        .is_ok()
                };
                if same(user, &person.user) && same(&secret, &person.password) {
                    Ok(Verified {
                        principal: person.principal.clone(),
                        fast: false,
                    })
                } else {
                    Err(PasswordError::WrongPassword)
                }
            }
            Backend::Ldap(directory) => {
                let _permit = self.checks.acquire().await.map_err(|_| {
                    SignInRefusal::Kdc(PasswordError::Other("shutting down".into()))
                })?;
                ldap_check(directory, user, &secret).await
            }
            Backend::Kdc(verifier) => {
                let verifier = verifier.clone();
                let user_owned = user.to_owned();
                let _permit = self.checks.acquire().await.map_err(|_| {
                    SignInRefusal::Kdc(PasswordError::Other("shutting down".into()))
                })?;
                tokio::task::spawn_blocking(move || verifier.verify(&user_owned, &secret))
                    .await
                    .unwrap_or_else(|e| {
                        Err(PasswordError::Other(format!("password check failed: {e}")))
                    })
            }
        };
        match &result {
            Ok(_) => self.succeeded(&address, &user_key),
            // An outage is nobody's failed guess.
            Err(PasswordError::Unavailable(_) | PasswordError::Other(_)) => {
                self.release(&address, &user_key);
            }
            Err(_) => {}
        }
        result.map_err(SignInRefusal::Kdc)
    }

    /// Counts an attempt against both limits, unless one is reached already (then
    /// nothing is counted).
    fn reserve(&self, address: &Key, user: &Key) -> Result<(), SignInRefusal> {
        let now = crate::clock::monotonic_ms();
        let refused =
            |limit, RetryAfter(retry_after)| SignInRefusal::Throttled { limit, retry_after };
        self.per_address
            .take(address, now)
            .map_err(|r| refused("signin_failures_per_address", r))?;
        if let Err(r) = self.per_user.take(user, now) {
            self.per_address.give_back(address, now);
            return Err(refused("signin_failures_per_user", r));
        }
        Ok(())
    }

    /// Gives an attempt back (it was not a failure).
    fn release(&self, address: &Key, user: &Key) {
        let now = crate::clock::monotonic_ms();
        self.per_address.give_back(address, now);
        self.per_user.give_back(user, now);
    }

    /// A success: this attempt is given back to the address, and the user's count
    /// starts over.
    fn succeeded(&self, address: &Key, user: &Key) {
        self.release(address, user);
        self.per_user.forget(user);
    }
}

/// The LDAP check: the entry by login name, not locked, and a bind as it.
async fn ldap_check(
    directory: &crate::directory::Directory,
    user: &str,
    password: &str,
) -> Result<Verified, PasswordError> {
    let unavailable =
        |e: crate::directory::DirectoryError| PasswordError::Unavailable(e.to_string());
    let users = directory
        .users(crate::directory::UserQuery::Name {
            name: user.to_owned(),
            exact: true,
        })
        .await
        .map_err(unavailable)?;
    let Some(entry) = users.first() else {
        return Err(PasswordError::WrongPassword);
    };
    if !entry.enabled {
        return Err(PasswordError::Locked);
    }
    if directory
        .verify_password(entry, password)
        .await
        .map_err(unavailable)?
    {
        Ok(Verified {
            principal: entry.id.clone(),
            fast: false,
        })
    } else {
        Err(PasswordError::WrongPassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> Passwords {
        Passwords::dev(
            crate::config::DevPerson {
                user: "demo".into(),
                password: "right-password".into(),
                principal: "demo@DEV".into(),
            },
            &RateLimits::default(),
        )
    }

    #[test]
    fn attempts_are_reserved_before_the_check_so_parallel_guesses_cannot_pass() {
        let p = passwords();
        let a = Key::address([10, 0, 0, 1].into());
        let alice = Key::Name("alice".into());
        // Five reservations for one user (none answered yet): the sixth is refused.
        for _ in 0..RateLimits::default().signin_failures_per_user.max {
            assert!(p.reserve(&a, &alice).is_ok());
        }
        assert!(matches!(
            p.reserve(&a, &alice),
            Err(SignInRefusal::Throttled { limit: "signin_failures_per_user", retry_after }) if retry_after > 0
        ));
        // Another user from the same address is still let through.
        assert!(p.reserve(&a, &Key::Name("bob".into())).is_ok());
        // A given-back attempt frees a slot.
        p.release(&a, &alice);
        assert!(p.reserve(&a, &alice).is_ok());
    }

    #[tokio::test]
    async fn one_user_under_several_spellings_is_one_user() {
        let p = passwords();
        let a: IpAddr = [10, 0, 0, 2].into();
        for name in ["carol", "CAROL", "carol@EXAMPLE.COM", "Carol", "carol@x"] {
            assert_eq!(
                p.check(a, name, "guess", None).await.unwrap_err(),
                SignInRefusal::Kdc(PasswordError::WrongPassword)
            );
        }
        assert!(matches!(
            p.check(a, "carol", "guess", None).await.unwrap_err(),
            SignInRefusal::Throttled { .. }
        ));
    }

    #[tokio::test]
    async fn a_success_gives_the_attempt_back() {
        let p = passwords();
        let a: IpAddr = [10, 0, 0, 3].into();
        for _ in 0..40 {
            assert!(p.check(a, "demo", "right-password", None).await.is_ok());
        }
    }
}
