//! The directory (FreeIPA or an RFC 2307bis LDAP tree): users, groups, hosts and host
//! groups, for template clients' requirements and for the identity API.
//!
//! Two layers: a [`Backend`] that answers lookups (the LDAP adapter in [`ldap`], a fake
//! in tests) and [`Directory`], which puts a time-bounded cache in front of it —
//! positive and negative entries with their own TTLs. While the backend is down,
//! unexpired cache entries keep answering; everything else is
//! [`DirectoryError::Unavailable`], which callers turn into 503
//! `temporarily_unavailable`, never into a refusal of the client.
//!
//! Objects are plain data: this module never renders HTTP or JSON for a protocol.

mod cache;
pub mod ldap;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cache::Cache;

/// A POSIX user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The entry's DN.
    pub dn: String,
    /// The stable, path-safe id: the Kerberos principal, or the login name when the entry
    /// has none.
    pub id: String,
    /// The login name.
    pub username: String,
    /// `uidNumber`.
    pub uid_number: Option<u32>,
    /// `gidNumber` (primary group).
    pub gid_number: Option<u32>,
    /// `homeDirectory`.
    pub home_directory: Option<String>,
    /// `loginShell`.
    pub login_shell: Option<String>,
    /// `gecos`, else `cn`.
    pub gecos: Option<String>,
    /// `mail` (inetOrgPerson), for the OIDC `email` claim.
    pub email: Option<String>,
    /// `givenName`, for `given_name`.
    pub given_name: Option<String>,
    /// `sn`, for `family_name`.
    pub family_name: Option<String>,
    /// `displayName`, else `cn`, for `name`.
    pub display_name: Option<String>,
    /// Not locked.
    pub enabled: bool,
    /// `memberOf` values (empty when the schema has no memberOf).
    pub member_of: Vec<String>,
}

/// A group (user group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The entry's DN.
    pub dn: String,
    /// The name (`cn`), also the group's id.
    pub name: String,
    /// `gidNumber`; FreeIPA's non-POSIX groups have none.
    pub gid_number: Option<u32>,
    /// `description`.
    pub description: Option<String>,
    /// Direct `member` DNs.
    pub members: Vec<String>,
}

pub use crate::oauth::directory_policy::PrincipalEntry;

/// How users are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserQuery {
    /// By login name; `exact` = equality, else substring.
    Name {
        /// The name as asked.
        name: String,
        /// Equality (true) or substring (false).
        exact: bool,
    },
    /// By [`User::id`].
    Id(String),
    /// By `uidNumber`.
    UidNumber(u32),
    /// Every user.
    All,
}

/// How groups are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupQuery {
    /// By name (= id); `exact` = equality, else substring.
    Name {
        /// The name as asked.
        name: String,
        /// Equality (true) or substring (false).
        exact: bool,
    },
    /// By `gidNumber`.
    GidNumber(u32),
    /// Every group.
    All,
}

/// Why the directory could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No server answered in time, the bind failed, or a search failed: 503.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
}

/// A source of directory answers.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// Users matching `query`.
    async fn users(&self, query: &UserQuery) -> Result<Vec<User>, DirectoryError>;
    /// Groups matching `query`.
    async fn groups(&self, query: &GroupQuery) -> Result<Vec<Group>, DirectoryError>;
    /// The groups `user` is a member of.
    async fn groups_of(&self, user: &User) -> Result<Vec<Group>, DirectoryError>;
    /// The users that are members of `group`.
    async fn members_of(&self, group: &Group) -> Result<Vec<User>, DirectoryError>;
    /// The entry whose principal attribute is exactly `principal`.
    async fn principal(&self, principal: &str) -> Result<Option<PrincipalEntry>, DirectoryError>;
    /// A cheap round trip, for `/readyz`.
    async fn ping(&self) -> Result<(), DirectoryError>;
    /// A simple bind as `dn` with `password`, on a connection of its own over TLS:
    /// `Ok(false)` for wrong credentials. For deployments without Kerberos.
    async fn verify_password(&self, _dn: &str, _password: &str) -> Result<bool, DirectoryError> {
        Err(DirectoryError::Unavailable(
            "this directory cannot check passwords".into(),
        ))
    }
}

/// Cache counters for `/metrics`.
#[derive(Debug, Default)]
pub struct DirectoryStats {
    /// Lookups answered from the cache.
    pub hits: AtomicU64,
    /// Lookups that went to the backend.
    pub misses: AtomicU64,
    /// Backend lookups that failed.
    pub errors: AtomicU64,
    /// Total backend time, microseconds.
    pub backend_micros: AtomicU64,
}

/// The cached directory.
pub struct Directory {
    backend: Arc<dyn Backend>,
    cache: Cache,
    stats: DirectoryStats,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory").finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Users(UserQuery),
    Groups(GroupQuery),
    GroupsOf(String),
    MembersOf(String),
    Principal(String),
}

#[derive(Debug, Clone)]
enum Value {
    Users(Arc<Vec<User>>),
    Groups(Arc<Vec<Group>>),
    Principal(Option<Arc<PrincipalEntry>>),
}

impl Value {
    fn is_empty(&self) -> bool {
        match self {
            Self::Users(u) => u.is_empty(),
            Self::Groups(g) => g.is_empty(),
            Self::Principal(p) => p.is_none(),
        }
    }
}

impl Directory {
    /// A cache of `ttl` (found) and `negative_ttl` (not found) in front of `backend`.
    pub fn new(backend: Arc<dyn Backend>, ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            backend,
            cache: Cache::new(ttl, negative_ttl, 100_000),
            stats: DirectoryStats::default(),
        }
    }

    /// Users matching `query`.
    pub async fn users(&self, query: UserQuery) -> Result<Arc<Vec<User>>, DirectoryError> {
        let backend = Arc::clone(&self.backend);
        let q = query.clone();
        match self
            .cached(Key::Users(query), async move {
                backend.users(&q).await.map(|u| Value::Users(Arc::new(u)))
            })
            .await?
        {
            Value::Users(u) => Ok(u),
            _ => Ok(Arc::default()),
        }
    }

    /// Groups matching `query`.
    pub async fn groups(&self, query: GroupQuery) -> Result<Arc<Vec<Group>>, DirectoryError> {
        let backend = Arc::clone(&self.backend);
        let q = query.clone();
        match self
            .cached(Key::Groups(query), async move {
                backend.groups(&q).await.map(|g| Value::Groups(Arc::new(g)))
            })
            .await?
        {
            Value::Groups(g) => Ok(g),
            _ => Ok(Arc::default()),
        }
    }

    /// The groups of `user`.
    pub async fn groups_of(&self, user: &User) -> Result<Arc<Vec<Group>>, DirectoryError> {
        let backend = Arc::clone(&self.backend);
        let u = user.clone();
        match self
            .cached(Key::GroupsOf(user.dn.clone()), async move {
                backend
                    .groups_of(&u)
                    .await
                    .map(|g| Value::Groups(Arc::new(g)))
            })
            .await?
        {
            Value::Groups(g) => Ok(g),
            _ => Ok(Arc::default()),
        }
    }

    /// The members of `group`.
    pub async fn members_of(&self, group: &Group) -> Result<Arc<Vec<User>>, DirectoryError> {
        let backend = Arc::clone(&self.backend);
        let g = group.clone();
        match self
            .cached(Key::MembersOf(group.dn.clone()), async move {
                backend
                    .members_of(&g)
                    .await
                    .map(|u| Value::Users(Arc::new(u)))
            })
            .await?
        {
            Value::Users(u) => Ok(u),
            _ => Ok(Arc::default()),
        }
    }

    /// The entry of an authenticated principal, `None` when there is none.
    pub async fn principal(
        &self,
        principal: &str,
    ) -> Result<Option<Arc<PrincipalEntry>>, DirectoryError> {
        let backend = Arc::clone(&self.backend);
        let p = principal.to_owned();
        match self
            .cached(Key::Principal(principal.to_owned()), async move {
                backend
                    .principal(&p)
                    .await
                    .map(|e| Value::Principal(e.map(Arc::new)))
            })
            .await?
        {
            Value::Principal(e) => Ok(e),
            _ => Ok(None),
        }
    }

    /// One uncached round trip to the backend.
    pub async fn ping(&self) -> Result<(), DirectoryError> {
        self.backend.ping().await
    }

    /// Checks a person's password with a bind as their entry (never cached). An empty
    /// password is refused here: LDAP treats it as an anonymous bind that "succeeds".
    pub async fn verify_password(
        &self,
        user: &User,
        password: &str,
    ) -> Result<bool, DirectoryError> {
        if password.is_empty() {
            return Ok(false);
        }
        self.backend.verify_password(&user.dn, password).await
    }

    /// Cache and backend counters.
    pub fn stats(&self) -> &DirectoryStats {
        &self.stats
    }

    async fn cached(
        &self,
        key: Key,
        fetch: impl Future<Output = Result<Value, DirectoryError>>,
    ) -> Result<Value, DirectoryError> {
        if let Some(v) = self.cache.get(&key) {
            self.stats.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v);
        }
        self.stats.misses.fetch_add(1, Ordering::Relaxed);
        let started = crate::clock::monotonic();
        let result = fetch.await;
        self.stats.backend_micros.fetch_add(
            u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        match result {
            Ok(v) => {
                let negative = v.is_empty();
                self.cache.insert(key, v.clone(), negative);
                Ok(v)
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }
}

/// Lower-cases a DN and removes spaces around separators, for comparing DNs.
pub(crate) fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            let (a, v) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", a.trim(), v.trim())
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_ascii_lowercase()
}

/// The value of `dn`'s first RDN when its attribute is `attr` and `dn` sits directly
/// under `parent` (both compared normalised); escapes (`\,`, `\2c`) are undone.
pub(crate) fn rdn_value_under(dn: &str, attr: &str, parent_normalized: &str) -> Option<String> {
    let (first, rest) = split_first_rdn(dn)?;
    if normalize_dn(rest) != parent_normalized {
        return None;
    }
    let (a, v) = first.split_once('=')?;
    if !a.trim().eq_ignore_ascii_case(attr) {
        return None;
    }
    unescape_dn_value(v.trim())
}

fn split_first_rdn(dn: &str) -> Option<(&str, &str)> {
    let bytes = dn.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b',') => return Some((dn.get(..i)?, dn.get(i + 1..)?)),
            _ => i += 1,
        }
    }
    None
}

fn unescape_dn_value(v: &str) -> Option<String> {
    let mut out = Vec::with_capacity(v.len());
    let b = v.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            let next = *b.get(i + 1)?;
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(next);
                    i += 2;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The directory port of the token flow: an outage is `temporarily_unavailable`, never a
/// refusal of the client.
#[async_trait::async_trait]
impl crate::oauth::ports::DirectoryLookup for Directory {
    async fn principal(
        &self,
        principal: &str,
    ) -> Result<Option<Arc<PrincipalEntry>>, crate::oauth::OAuthError> {
        Directory::principal(self, principal).await.map_err(|e| {
            crate::oauth::OAuthError::TemporarilyUnavailable {
                reason: e.to_string().into(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn rdn_values_are_unescaped_and_checked_against_their_parent() {
        let parent = normalize_dn("cn=groups,cn=accounts,dc=test,dc=realm");
        assert_eq!(
            rdn_value_under(
                "cn=admins,cn=groups,cn=accounts,dc=test,dc=realm",
                "cn",
                &parent
            )
            .as_deref(),
            Some("admins")
        );
        assert_eq!(
            rdn_value_under(
                "CN=a\\2Cb\\5c(c)*, CN=Groups,cn=accounts,dc=test,dc=realm",
                "cn",
                &parent
            )
            .as_deref(),
            Some("a,b\\(c)*")
        );
        assert_eq!(
            rdn_value_under("cn=x,cn=roles,cn=accounts,dc=test,dc=realm", "cn", &parent),
            None
        );
        assert_eq!(
            rdn_value_under(
                "uid=x,cn=groups,cn=accounts,dc=test,dc=realm",
                "cn",
                &parent
            ),
            None
        );
    }

    #[derive(Default)]
    struct Fake {
        down: Mutex<bool>,
        calls: AtomicU64,
    }

    #[async_trait::async_trait]
    impl Backend for Fake {
        async fn users(&self, query: &UserQuery) -> Result<Vec<User>, DirectoryError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            if *self.down.lock().unwrap() {
                return Err(DirectoryError::Unavailable("down".into()));
            }
            Ok(match query {
                UserQuery::Name { name, .. } if name == "alice" => vec![User {
                    dn: "uid=alice".into(),
                    id: "alice@R".into(),
                    username: "alice".into(),
                    uid_number: Some(1),
                    gid_number: Some(1),
                    home_directory: None,
                    login_shell: None,
                    gecos: None,
                    email: None,
                    given_name: None,
                    family_name: None,
                    display_name: None,
                    enabled: true,
                    member_of: vec![],
                }],
                _ => vec![],
            })
        }
        async fn groups(&self, _: &GroupQuery) -> Result<Vec<Group>, DirectoryError> {
            Ok(vec![])
        }
        async fn groups_of(&self, _: &User) -> Result<Vec<Group>, DirectoryError> {
            Ok(vec![])
        }
        async fn members_of(&self, _: &Group) -> Result<Vec<User>, DirectoryError> {
            Ok(vec![])
        }
        async fn principal(&self, _: &str) -> Result<Option<PrincipalEntry>, DirectoryError> {
            Ok(None)
        }
        async fn ping(&self) -> Result<(), DirectoryError> {
            Ok(())
        }
    }

    fn alice() -> UserQuery {
        UserQuery::Name {
            name: "alice".into(),
            exact: true,
        }
    }

    #[tokio::test]
    async fn cached_entries_answer_while_the_backend_is_down() {
        let fake = Arc::new(Fake::default());
        let dir = Directory::new(
            fake.clone(),
            Duration::from_secs(60),
            Duration::from_secs(60),
        );
        assert_eq!(dir.users(alice()).await.unwrap().len(), 1);
        *fake.down.lock().unwrap() = true;
        assert_eq!(dir.users(alice()).await.unwrap().len(), 1);
        assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
        // Not cached: the outage shows.
        assert!(matches!(
            dir.users(UserQuery::UidNumber(5)).await,
            Err(DirectoryError::Unavailable(_))
        ));
        assert_eq!(dir.stats().hits.load(Ordering::Relaxed), 1);
        assert_eq!(dir.stats().errors.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn negative_answers_expire_on_their_own_ttl() {
        let fake = Arc::new(Fake::default());
        let dir = Directory::new(fake.clone(), Duration::from_secs(60), Duration::ZERO);
        assert!(dir.users(UserQuery::UidNumber(5)).await.unwrap().is_empty());
        assert!(dir.users(UserQuery::UidNumber(5)).await.unwrap().is_empty());
        assert_eq!(fake.calls.load(Ordering::Relaxed), 2, "TTL 0: never cached");
        dir.users(alice()).await.unwrap();
        dir.users(alice()).await.unwrap();
        assert_eq!(fake.calls.load(Ordering::Relaxed), 3);
    }
}
