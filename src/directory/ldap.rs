//! The LDAP adapter (ldap3 over rustls): a small pool of bound connections, failover
//! across the configured servers in order, every lookup bounded by `directory.timeout_ms`
//! (connect and bind included), every filter value escaped (RFC 4515 §3, with ldap3's
//! `ldap_escape`), and results checked again in code where LDAP matching is looser than
//! ours (case-exact principals and names).
//!
//! Connections are multiplexed (ldap3 pipelines requests on one socket), so the pool is
//! `pool_size` long-lived connections used round-robin, each re-established lazily after
//! an error or a timeout. After a failed connect the backend answers "unavailable" at
//! once for a second instead of making every request wait for the timeout again.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, ldap_escape};

use super::{
    Backend, DirectoryError, Group, GroupQuery, PrincipalEntry, User, UserQuery, normalize_dn,
    rdn_value_under,
};
use crate::config::{DirectoryBind, DirectoryConfig, DirectorySchema};

/// How long a failed connect makes later lookups fail fast.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// Simple Paged Results page size (RFC 2696): below every server's default size limit.
const PAGE_SIZE: i32 = 500;
/// Members resolved per OR-filter when a group's `member` values are looked up.
const MEMBER_CHUNK: usize = 100;

/// The LDAP directory.
pub struct LdapBackend {
    config: DirectoryConfig,
    tls: Arc<rustls::ClientConfig>,
    slots: Vec<tokio::sync::Mutex<Option<Ldap>>>,
    next: AtomicUsize,
    failed_at: std::sync::Mutex<Option<Instant>>,
    /// Normalised container DNs, for recognising memberOf/member values.
    users_dn: String,
    groups_dn: String,
    hostgroups_dn: String,
}

impl std::fmt::Debug for LdapBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapBackend")
            .field("uris", &self.config.uris)
            .finish_non_exhaustive()
    }
}

impl LdapBackend {
    /// Prepares the pool; no connection is made until the first lookup.
    pub fn new(config: DirectoryConfig) -> Result<Self, String> {
        let tls = crate::tls::client_config(config.ca_file.as_deref())
            .map_err(|e| format!("directory.ca_file: {e}"))?;
        let slots = (0..config.pool_size.max(1))
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        Ok(Self {
            users_dn: normalize_dn(&config.schema.users),
            groups_dn: normalize_dn(&config.schema.groups),
            hostgroups_dn: normalize_dn(&config.schema.hostgroups),
            config,
            tls: Arc::new(tls),
            slots,
            next: AtomicUsize::new(0),
            failed_at: std::sync::Mutex::new(None),
        })
    }

    fn schema(&self) -> &DirectorySchema {
        &self.config.schema
    }

    /// Runs one search within the timeout; `noSuchObject` (a missing container) is an
    /// empty answer, every other failure is `Unavailable`.
    async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let timeout = self.config.timeout;
        let attrs: Vec<String> = attrs
            .iter()
            .filter(|a| !a.is_empty())
            .map(|a| (*a).to_owned())
            .collect();
        let work = async {
            let (slot, ldap) = self.connection().await?;
            match search_paged(ldap, base, filter, attrs).await {
                Ok(entries) => Ok(entries),
                Err(e) => {
                    self.discard(slot).await;
                    Err(DirectoryError::Unavailable(format!("search failed: {e}")))
                }
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(DirectoryError::Unavailable(format!(
                "no answer within {} ms",
                timeout.as_millis()
            ))),
        }
    }

    /// A bound connection from the pool (connecting when the slot is empty or closed).
    async fn connection(&self) -> Result<(usize, Ldap), DirectoryError> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let Some(mutex) = self.slots.get(slot) else {
            return Err(DirectoryError::Unavailable("empty pool".into()));
        };
        let mut guard = mutex.lock().await;
        if let Some(ldap) = guard.as_mut()
            && !ldap.is_closed()
        {
            return Ok((slot, ldap.clone()));
        }
        *guard = None;
        if let Ok(failed) = self.failed_at.lock()
            && failed.is_some_and(|t| t.elapsed() < RECONNECT_BACKOFF)
        {
            return Err(DirectoryError::Unavailable(
                "the directory was unreachable a moment ago".into(),
            ));
        }
        match self.connect().await {
            Ok(ldap) => {
                if let Ok(mut failed) = self.failed_at.lock() {
                    *failed = None;
                }
                *guard = Some(ldap.clone());
                Ok((slot, ldap))
            }
            Err(e) => {
                if let Ok(mut failed) = self.failed_at.lock() {
                    *failed = Some(crate::clock::monotonic());
                }
                Err(e)
            }
        }
    }

    async fn discard(&self, slot: usize) {
        if let Some(mutex) = self.slots.get(slot) {
            *mutex.lock().await = None;
        }
    }

    /// Connects to the first server that answers and binds.
    async fn connect(&self) -> Result<Ldap, DirectoryError> {
        let mut last = String::from("no server configured");
        for uri in &self.config.uris {
            let settings = LdapConnSettings::new()
                .set_conn_timeout(self.config.timeout)
                .set_starttls(uri.starttls)
                .set_config(Arc::clone(&self.tls));
            let (conn, mut ldap) = match LdapConnAsync::with_settings(settings, &uri.url).await {
                Ok(c) => c,
                Err(e) => {
                    log::warn!(uri = uri.url.as_str(); "directory connect failed: {e}");
                    last = format!("{}: {e}", uri.url);
                    continue;
                }
            };
            let url = uri.url.clone();
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    log::info!(uri = url.as_str(); "directory connection closed: {e}");
                }
            });
            ldap.with_timeout(self.config.timeout);
            match self.bind(&mut ldap, &uri.host).await {
                Ok(()) => {
                    log::info!(uri = uri.url.as_str(); "directory connected");
                    return Ok(ldap);
                }
                Err(e) => {
                    log::warn!(uri = uri.url.as_str(); "directory bind failed: {e}");
                    last = format!("{}: bind failed: {e}", uri.url);
                    let _ = ldap.unbind().await;
                }
            }
        }
        Err(DirectoryError::Unavailable(last))
    }

    async fn bind(&self, ldap: &mut Ldap, host: &str) -> Result<(), String> {
        match &self.config.bind {
            DirectoryBind::Anonymous => Ok(()),
            DirectoryBind::Simple { dn, password } => ldap
                .simple_bind(dn, password)
                .await
                .and_then(|r| r.success())
                .map(|_| ())
                .map_err(|e| e.to_string()),
            DirectoryBind::Gssapi { keytab, principal } => {
                let keytab = keytab.display().to_string();
                let principal = principal.clone();
                let cred = tokio::task::spawn_blocking(move || {
                    let ccache = "MEMORY:ahdapa-directory";
                    gss_credstore::acquire_initiator_v09(
                        principal.as_deref(),
                        &[("client_keytab", &keytab), ("ccache", ccache)],
                    )
                })
                .await
                .map_err(|e| format!("credential task failed: {e}"))?
                .map_err(|e| format!("cannot acquire a credential from the keytab: {e}"))?;
                ldap.sasl_gssapi_cred_bind(cross_krb5::Cred::from(cred), host)
                    .await
                    .and_then(|r| r.success())
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn user_attrs(&self) -> Vec<&str> {
        let s = self.schema();
        vec![
            &s.user_name,
            &s.principal,
            &s.uid_number,
            &s.gid_number,
            &s.home_directory,
            &s.login_shell,
            &s.gecos,
            "cn",
            "mail",
            "givenName",
            "sn",
            "displayName",
            &s.locked,
            &s.member_of,
        ]
    }

    fn group_attrs(&self) -> Vec<&str> {
        let s = self.schema();
        vec![&s.group_name, &s.gid_number, "description", &s.member]
    }

    fn to_user(&self, e: SearchEntry) -> Option<User> {
        let s = self.schema();
        let a = Attrs::of(e.attrs);
        let username = a.first(&s.user_name)?.to_owned();
        let id = a.first(&s.principal).unwrap_or(&username).to_owned();
        Some(User {
            uid_number: a.first(&s.uid_number).and_then(|v| v.parse().ok()),
            gid_number: a.first(&s.gid_number).and_then(|v| v.parse().ok()),
            home_directory: a.first(&s.home_directory).map(str::to_owned),
            login_shell: a.first(&s.login_shell).map(str::to_owned),
            gecos: a
                .first(&s.gecos)
                .or_else(|| a.first("cn"))
                .map(str::to_owned),
            email: a.first("mail").map(str::to_owned),
            given_name: a.first("givenName").map(str::to_owned),
            family_name: a.first("sn").map(str::to_owned),
            display_name: a
                .first("displayName")
                .or_else(|| a.first("cn"))
                .map(str::to_owned),
            enabled: !a.is_true(&s.locked),
            member_of: a.all(&s.member_of).to_vec(),
            dn: e.dn,
            id,
            username,
        })
    }

    fn to_group(&self, e: SearchEntry) -> Option<Group> {
        let s = self.schema();
        let a = Attrs::of(e.attrs);
        Some(Group {
            name: a.first(&s.group_name)?.to_owned(),
            gid_number: a.first(&s.gid_number).and_then(|v| v.parse().ok()),
            description: a.first("description").map(str::to_owned),
            members: a.all(&s.member).to_vec(),
            dn: e.dn,
        })
    }

    async fn search_users(&self, filter: &str) -> Result<Vec<User>, DirectoryError> {
        let s = self.schema();
        let filter = format!("(&(objectClass={}){filter})", s.user_object_class);
        let mut users: Vec<User> = self
            .search(&s.users, &filter, &self.user_attrs())
            .await?
            .into_iter()
            .filter_map(|e| self.to_user(e))
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn search_groups(&self, filter: &str) -> Result<Vec<Group>, DirectoryError> {
        let s = self.schema();
        let filter = format!("(&(objectClass={}){filter})", s.group_object_class);
        let mut groups: Vec<Group> = self
            .search(&s.groups, &filter, &self.group_attrs())
            .await?
            .into_iter()
            .filter_map(|e| self.to_group(e))
            .collect();
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(groups)
    }

    /// Users whose `attr` is one of `values`, in OR-filters of [`MEMBER_CHUNK`].
    async fn users_by_values(
        &self,
        attr: &str,
        values: &[String],
    ) -> Result<Vec<User>, DirectoryError> {
        let mut out = Vec::with_capacity(values.len());
        for chunk in values.chunks(MEMBER_CHUNK) {
            let filter = or_filter(attr, chunk);
            out.extend(self.search_users(&filter).await?);
        }
        out.sort_by(|a, b| a.username.cmp(&b.username));
        out.dedup_by(|a, b| a.dn == b.dn);
        Ok(out)
    }
}

#[async_trait::async_trait]
impl Backend for LdapBackend {
    async fn users(&self, query: &UserQuery) -> Result<Vec<User>, DirectoryError> {
        let s = self.schema();
        match query {
            UserQuery::Name { name, exact: true } => {
                let mut users = self
                    .search_users(&format!("({}={})", s.user_name, ldap_escape(name.as_str())))
                    .await?;
                // LDAP's uid matching ignores case; a lookup by name does not.
                users.retain(|u| &u.username == name);
                Ok(users)
            }
            UserQuery::Name { name, exact: false } => {
                self.search_users(&format!(
                    "({}=*{}*)",
                    s.user_name,
                    ldap_escape(name.as_str())
                ))
                .await
            }
            UserQuery::Id(id) => {
                let escaped = ldap_escape(id.as_str());
                let mut users = self
                    .search_users(&format!(
                        "(|({}={escaped})({}={escaped}))",
                        s.principal, s.user_name
                    ))
                    .await?;
                users.retain(|u| &u.id == id);
                Ok(users)
            }
            UserQuery::UidNumber(n) => self.search_users(&format!("({}={n})", s.uid_number)).await,
            UserQuery::All => self.search_users(&format!("({}=*)", s.user_name)).await,
        }
    }

    async fn groups(&self, query: &GroupQuery) -> Result<Vec<Group>, DirectoryError> {
        let s = self.schema();
        match query {
            GroupQuery::Name { name, exact: true } => {
                let mut groups = self
                    .search_groups(&format!(
                        "({}={})",
                        s.group_name,
                        ldap_escape(name.as_str())
                    ))
                    .await?;
                groups.retain(|g| &g.name == name);
                Ok(groups)
            }
            GroupQuery::Name { name, exact: false } => {
                self.search_groups(&format!(
                    "({}=*{}*)",
                    s.group_name,
                    ldap_escape(name.as_str())
                ))
                .await
            }
            GroupQuery::GidNumber(n) => {
                self.search_groups(&format!("({}={n})", s.gid_number)).await
            }
            GroupQuery::All => self.search_groups(&format!("({}=*)", s.group_name)).await,
        }
    }

    async fn groups_of(&self, user: &User) -> Result<Vec<Group>, DirectoryError> {
        let s = self.schema();
        if s.member_of.is_empty() {
            return self
                .search_groups(&format!("({}={})", s.member, ldap_escape(user.dn.as_str())))
                .await;
        }
        // memberOf includes nested memberships on FreeIPA; keep those under the groups
        // container and fetch them by name.
        let names: Vec<String> = user
            .member_of
            .iter()
            .filter_map(|dn| rdn_value_under(dn, &s.group_name, &self.groups_dn))
            .collect();
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(MEMBER_CHUNK) {
            out.extend(self.search_groups(&or_filter(&s.group_name, chunk)).await?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.dn == b.dn);
        Ok(out)
    }

    async fn members_of(&self, group: &Group) -> Result<Vec<User>, DirectoryError> {
        let s = self.schema();
        if !s.member_of.is_empty() {
            return self
                .search_users(&format!(
                    "({}={})",
                    s.member_of,
                    ldap_escape(group.dn.as_str())
                ))
                .await;
        }
        let names: Vec<String> = group
            .members
            .iter()
            .filter_map(|dn| rdn_value_under(dn, &s.user_name, &self.users_dn))
            .collect();
        self.users_by_values(&s.user_name, &names).await
    }

    async fn principal(&self, principal: &str) -> Result<Option<PrincipalEntry>, DirectoryError> {
        let s = self.schema();
        let escaped = ldap_escape(principal);
        let (base, class, is_host) = match principal.split_once('/') {
            None => (&s.users, &s.user_object_class, false),
            Some(("host", _)) => (&s.hosts, &s.host_object_class, true),
            Some(_) => (&s.services, &String::new(), false),
        };
        let filter = if class.is_empty() {
            format!("({}={escaped})", s.principal)
        } else {
            format!("(&(objectClass={class})({}={escaped}))", s.principal)
        };
        let attrs = [
            s.principal.as_str(),
            s.fqdn.as_str(),
            s.locked.as_str(),
            s.member_of.as_str(),
        ];
        let entries = self.search(base, &filter, &attrs).await?;
        // krbPrincipalName may match case-insensitively on some servers: insist on exact.
        let Some((dn, a)) = entries
            .into_iter()
            .map(|e| (e.dn, Attrs::of(e.attrs)))
            .find(|(_, a)| a.all(&s.principal).iter().any(|p| p == principal))
        else {
            return Ok(None);
        };
        let group_container = if is_host {
            &self.hostgroups_dn
        } else {
            &self.groups_dn
        };
        let groups = if s.member_of.is_empty() {
            let container = if is_host { &s.hostgroups } else { &s.groups };
            let filter = format!(
                "(&(objectClass={})({}={}))",
                s.group_object_class,
                s.member,
                ldap_escape(dn.as_str())
            );
            self.search(container, &filter, &[s.group_name.as_str()])
                .await?
                .into_iter()
                .filter_map(|e| Attrs::of(e.attrs).first(&s.group_name).map(str::to_owned))
                .collect()
        } else {
            let mut g: Vec<String> = a
                .all(&s.member_of)
                .iter()
                .filter_map(|m| rdn_value_under(m, &s.group_name, group_container))
                .collect();
            g.sort();
            g
        };
        Ok(Some(PrincipalEntry {
            locked: a.is_true(&s.locked),
            fqdn: is_host
                .then(|| a.first(&s.fqdn).map(str::to_owned))
                .flatten(),
            groups,
        }))
    }

    async fn ping(&self) -> Result<(), DirectoryError> {
        self.search(&self.config.base_dn, "(objectClass=*)", &["1.1"])
            .await
            .map(|_| ())
    }

    async fn verify_password(&self, dn: &str, password: &str) -> Result<bool, DirectoryError> {
        let mut last = String::from("no server configured");
        for uri in &self.config.uris {
            if !(uri.starttls || uri.url.to_ascii_lowercase().starts_with("ldaps://")) {
                last = format!(
                    "{}: a password is only sent over TLS (ldaps:// or StartTLS)",
                    uri.url
                );
                continue;
            }
            let settings = LdapConnSettings::new()
                .set_conn_timeout(self.config.timeout)
                .set_starttls(uri.starttls)
                .set_config(Arc::clone(&self.tls));
            let (conn, mut ldap) = match LdapConnAsync::with_settings(settings, &uri.url).await {
                Ok(c) => c,
                Err(e) => {
                    last = format!("{}: {e}", uri.url);
                    continue;
                }
            };
            tokio::spawn(async move {
                let _ = conn.drive().await;
            });
            ldap.with_timeout(self.config.timeout);
            let outcome = ldap.simple_bind(dn, password).await;
            let _ = ldap.unbind().await;
            return match outcome {
                Ok(r) if r.rc == 0 => Ok(true),
                // 49 invalidCredentials; 53 unwillingToPerform (locked in 389-ds).
                Ok(r) if r.rc == 49 || r.rc == 53 => Ok(false),
                Ok(r) => Err(DirectoryError::Unavailable(format!(
                    "bind answered {} {}",
                    r.rc, r.text
                ))),
                Err(e) => Err(DirectoryError::Unavailable(e.to_string())),
            };
        }
        Err(DirectoryError::Unavailable(last))
    }
}

/// Attributes of one entry, names compared case-insensitively.
struct Attrs(HashMap<String, Vec<String>>);

impl Attrs {
    fn of(attrs: HashMap<String, Vec<String>>) -> Self {
        Self(
            attrs
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect(),
        )
    }

    fn all(&self, name: &str) -> &[String] {
        if name.is_empty() {
            return &[];
        }
        self.0
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    fn first(&self, name: &str) -> Option<&str> {
        self.all(name).first().map(String::as_str)
    }

    fn is_true(&self, name: &str) -> bool {
        self.first(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

fn or_filter(attr: &str, values: &[String]) -> String {
    let mut f = String::from("(|");
    for v in values {
        f.push_str(&format!("({attr}={})", ldap_escape(v.as_str())));
    }
    f.push(')');
    f
}

async fn search_paged(
    mut ldap: Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
) -> Result<Vec<SearchEntry>, LdapError> {
    let adapters: Vec<Box<dyn Adapter<'_, String, Vec<String>>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut stream = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await?;
    let mut out = Vec::new();
    while let Some(entry) = stream.next().await? {
        out.push(SearchEntry::construct(entry));
    }
    let result = stream.finish().await;
    match result.rc {
        0 => Ok(out),
        // noSuchObject: the container does not exist, so nothing matches.
        32 => Ok(Vec::new()),
        _ => Err(LdapError::LdapResult { result }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn or_filters_escape_every_value() {
        assert_eq!(
            or_filter("cn", &["a".into(), "b*)(uid=*".into()]),
            "(|(cn=a)(cn=b\\2a\\29\\28uid=\\2a))"
        );
    }
}
