//! People's passwords, checked by the KDC (`krb5-password`: an AS-REQ armoured with
//! FAST from ahdapa's keytab, the ticket then verified against that keytab), off the
//! async executor and bounded in concurrency, behind a throttle that answers before the
//! KDC is asked. A deployment without `[kerberos]` but with a `[directory]` checks them
//! with a simple bind as the person's entry, over TLS only.
//!
//! The throttle counts failures per client address (an IPv6 /64 counts as one) and per
//! user name, in a sliding window: past the limit, attempts are refused without a KDC
//! round trip, so guessing from one place, or at one user, costs nothing at the KDC and
//! cannot trip FreeIPA's lockout for the real user. The counts are per node (a person
//! signs in through one node at a time; N nodes allow N times the attempts).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use krb5_password::{PasswordError, Verified, Verifier};

/// Failed attempts allowed per address within [`WINDOW`].
pub const PER_ADDRESS: u32 = 20;
/// Failed attempts allowed per user name within [`WINDOW`].
pub const PER_USER: u32 = 5;
/// The throttle's window.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Concurrent KDC exchanges.
const CONCURRENT_CHECKS: usize = 16;
/// Remembered addresses and names; past this, the oldest windows are dropped.
const CAPACITY: usize = 65_536;

/// Why a sign-in with a password did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInRefusal {
    /// Too many failures from this address or for this user: wait.
    Throttled,
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
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_address: HashMap<IpAddr, Window>,
    by_user: HashMap<String, Window>,
}

#[derive(Clone, Copy)]
struct Window {
    count: u32,
    since: std::time::Instant,
}

impl Passwords {
    /// For `[kerberos]`: the service principal and its keytab.
    pub fn new(service_principal: &str, keytab: &std::path::Path) -> Result<Self, String> {
        let keytab = format!("FILE:{}", keytab.display());
        let verifier = Verifier::new(service_principal, &keytab)
            .ok_or("kerberos.service_principal or kerberos.keytab contains a NUL byte")?;
        Ok(Self::with(Backend::Kdc(verifier)))
    }

    /// Without `[kerberos]` but with a `[directory]`: binds as the person over TLS.
    pub fn ldap(directory: std::sync::Arc<crate::directory::Directory>) -> Self {
        Self::with(Backend::Ldap(directory))
    }

    /// For `serve --dev`: the demo person's password, checked in memory.
    pub fn dev(person: crate::config::DevPerson) -> Self {
        Self::with(Backend::Dev(person))
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            checks: tokio::sync::Semaphore::new(CONCURRENT_CHECKS),
            failures: Mutex::new(Failures::default()),
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
        let address = bucket(address);
        // `alice`, `ALICE` and `alice@REALM` are one person to the throttle.
        let user_key = user.split('@').next().unwrap_or(user).to_ascii_lowercase();
        // The attempt counts from now on, under the lock: parallel guesses cannot all
        // pass the check before the first failure is counted. A success gives it back.
        if !self.reserve(address, &user_key) {
            return Err(SignInRefusal::Throttled);
        }
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
            Ok(_) => self.succeeded(address, &user_key),
            // An outage is nobody's failed guess.
            Err(PasswordError::Unavailable(_) | PasswordError::Other(_)) => {
                self.release(address, &user_key);
            }
            Err(_) => {}
        }
        result.map_err(SignInRefusal::Kdc)
    }

    /// Counts an attempt against both limits, unless one is reached already (then
    /// false and nothing is counted).
    fn reserve(&self, address: IpAddr, user: &str) -> bool {
        let Ok(mut f) = self.failures.lock() else {
            return false;
        };
        let now = crate::clock::monotonic();
        let over = |w: Option<&Window>, limit: u32| {
            w.is_some_and(|w| now.duration_since(w.since) < WINDOW && w.count >= limit)
        };
        if over(f.by_address.get(&address), PER_ADDRESS) || over(f.by_user.get(user), PER_USER) {
            return false;
        }
        Self::count(&mut f, address, user);
        true
    }

    /// Gives an attempt back (it was not a failure).
    fn release(&self, address: IpAddr, user: &str) {
        if let Ok(mut f) = self.failures.lock() {
            if let Some(w) = f.by_address.get_mut(&address) {
                w.count = w.count.saturating_sub(1);
            }
            if let Some(w) = f.by_user.get_mut(user) {
                w.count = w.count.saturating_sub(1);
            }
        }
    }

    fn count(f: &mut Failures, address: IpAddr, user: &str) {
        let now = crate::clock::monotonic();
        let bump = |w: &mut Window| {
            if now.duration_since(w.since) >= WINDOW {
                *w = Window {
                    count: 0,
                    since: now,
                };
            }
            w.count = w.count.saturating_add(1);
        };
        if f.by_address.len() >= CAPACITY || f.by_user.len() >= CAPACITY {
            f.by_address
                .retain(|_, w| now.duration_since(w.since) < WINDOW);
            f.by_user
                .retain(|_, w| now.duration_since(w.since) < WINDOW);
        }
        bump(f.by_address.entry(address).or_insert(Window {
            count: 0,
            since: now,
        }));
        bump(f.by_user.entry(user.to_owned()).or_insert(Window {
            count: 0,
            since: now,
        }));
    }

    /// A success: this attempt is given back to the address, and the user's count
    /// starts over.
    fn succeeded(&self, address: IpAddr, user: &str) {
        self.release(address, user);
        if let Ok(mut f) = self.failures.lock() {
            f.by_user.remove(user);
        }
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

/// IPv4 addresses count alone, IPv6 addresses by /64.
fn bucket(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passwords() -> Passwords {
        Passwords::dev(crate::config::DevPerson {
            user: "demo".into(),
            password: "right-password".into(),
            principal: "demo@DEV".into(),
        })
    }

    #[test]
    fn attempts_are_reserved_before_the_check_so_parallel_guesses_cannot_pass() {
        let p = passwords();
        let a: IpAddr = [10, 0, 0, 1].into();
        // Five reservations for one user (none answered yet): the sixth is refused.
        for _ in 0..PER_USER {
            assert!(p.reserve(a, "alice"));
        }
        assert!(!p.reserve(a, "alice"));
        // Another user from the same address is still let through.
        assert!(p.reserve(a, "bob"));
        // A given-back attempt frees a slot.
        p.release(a, "alice");
        assert!(p.reserve(a, "alice"));
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
        assert_eq!(
            p.check(a, "carol", "guess", None).await.unwrap_err(),
            SignInRefusal::Throttled
        );
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
