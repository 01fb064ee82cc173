//! `[directory]`: where the LDAP/FreeIPA directory is, how ahdapa binds to it, and the
//! names of its containers and attributes (a profile plus `[directory.schema]`
//! overrides). Validated into [`DirectoryConfig`]; the LDAP adapter (`crate::directory`)
//! never sees a raw string it has to re-check.

use std::path::PathBuf;
use std::time::Duration;

use super::raw::{RawDirectory, RawDirectorySchema};

/// A validated `[directory]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryConfig {
    /// The servers, tried in order on (re)connect.
    pub uris: Vec<LdapUri>,
    /// The suffix every container hangs under, e.g. `dc=example,dc=com`.
    pub base_dn: String,
    /// Containers and attribute names.
    pub schema: DirectorySchema,
    /// How ahdapa authenticates to the directory.
    pub bind: DirectoryBind,
    /// Extra CA certificates (PEM) for the directory's TLS certificate; the system roots
    /// are trusted too.
    pub ca_file: Option<PathBuf>,
    /// Bound on one lookup, connection and bind included: past it the request gets 503.
    pub timeout: Duration,
    /// LDAP connections kept open (each multiplexes many requests).
    pub pool_size: usize,
    /// How long a found entry is served from memory.
    pub cache_ttl: Duration,
    /// How long "no such entry" is served from memory.
    pub negative_cache_ttl: Duration,
}

/// One directory server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapUri {
    /// `ldaps://host:port` or `ldap://host:port`, as ldap3 takes it.
    pub url: String,
    /// The host name (for the GSSAPI service principal `ldap/<host>` and TLS).
    pub host: String,
    /// `ldap://` upgraded with StartTLS (false for ldaps:// and for
    /// `insecure_plaintext`).
    pub starttls: bool,
}

/// How ahdapa binds.
#[derive(Clone, PartialEq, Eq)]
pub enum DirectoryBind {
    /// SASL/GSSAPI with ahdapa's own keytab (FreeIPA services bind this way).
    Gssapi {
        /// The keytab holding the client principal's keys.
        keytab: PathBuf,
        /// The principal to bind as; `None` is the keytab's first principal.
        principal: Option<String>,
    },
    /// A simple bind with a password read from a file at start-up.
    Simple {
        /// The bind DN.
        dn: String,
        /// The password (the file's content, trimmed).
        password: String,
    },
    /// No bind (read access for anonymous must be granted by the directory).
    Anonymous,
}

impl std::fmt::Debug for DirectoryBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Gssapi { keytab, principal } => f
                .debug_struct("Gssapi")
                .field("keytab", keytab)
                .field("principal", principal)
                .finish(),
            Self::Simple { dn, .. } => f
                .debug_struct("Simple")
                .field("dn", dn)
                .field("password", &"<redacted>")
                .finish(),
            Self::Anonymous => f.write_str("Anonymous"),
        }
    }
}

/// Where entries live (full DNs) and what their attributes are called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySchema {
    /// Users container.
    pub users: String,
    /// User groups container.
    pub groups: String,
    /// Hosts container.
    pub hosts: String,
    /// Host groups container.
    pub hostgroups: String,
    /// Service principals container.
    pub services: String,
    /// objectClass every user has.
    pub user_object_class: String,
    /// objectClass every group (user or host group) has.
    pub group_object_class: String,
    /// objectClass every host has.
    pub host_object_class: String,
    /// The login name (`uid`).
    pub user_name: String,
    /// The Kerberos principal (`krbPrincipalName`), matched case-exactly.
    pub principal: String,
    /// `uidNumber`.
    pub uid_number: String,
    /// `gidNumber`.
    pub gid_number: String,
    /// `homeDirectory`.
    pub home_directory: String,
    /// `loginShell`.
    pub login_shell: String,
    /// `gecos` (falls back to `cn`).
    pub gecos: String,
    /// A group's name (`cn`).
    pub group_name: String,
    /// A group's member DNs (`member`).
    pub member: String,
    /// The reverse of `member`, maintained by the server (`memberOf`); empty when the
    /// directory has none, and membership is then searched through `member`.
    pub member_of: String,
    /// A host's name (`fqdn`).
    pub fqdn: String,
    /// The lock flag (`nsAccountLock`, TRUE when locked); empty when there is none.
    pub locked: String,
}

const PROFILES: &str = "\"freeipa\" or \"rfc2307bis\"";

/// Validates `[directory]`; `Some(None)` is "valid and absent".
pub(super) fn directory(
    raw: Option<&RawDirectory>,
    kerberos_keytab: Option<&std::path::Path>,
    err: &mut impl FnMut(&str, String),
) -> Option<Option<DirectoryConfig>> {
    let Some(raw) = raw else {
        return Some(None);
    };
    let mut ok = true;
    let insecure_plaintext = raw.insecure_plaintext.unwrap_or(false);
    let mut uris = Vec::new();
    match raw.uris.as_deref() {
        None | Some([]) => {
            err(
                "directory.uris",
                "required: one or more servers, e.g. [\"ldaps://ipa1.example.com\"]".into(),
            );
            ok = false;
        }
        Some(list) => {
            for (i, u) in list.iter().enumerate() {
                match parse_uri(u, insecure_plaintext) {
                    Ok(uri) => uris.push(uri),
                    Err(m) => {
                        err(&format!("directory.uris[{i}]"), m);
                        ok = false;
                    }
                }
            }
        }
    }
    let base_dn = match raw.base_dn.as_deref().map(str::trim) {
        Some(b) if looks_like_dn(b) => b.to_owned(),
        Some(b) => {
            err(
                "directory.base_dn",
                format!("{b:?} is not a DN such as \"dc=example,dc=com\""),
            );
            ok = false;
            String::new()
        }
        None => {
            err(
                "directory.base_dn",
                "required: the suffix, e.g. \"dc=example,dc=com\"".into(),
            );
            ok = false;
            String::new()
        }
    };
    let profile = raw.profile.as_deref().unwrap_or("freeipa");
    let schema = match profile {
        "freeipa" => Some(freeipa(&base_dn)),
        "rfc2307bis" => Some(rfc2307bis(&base_dn)),
        other => {
            err(
                "directory.profile",
                format!("{other:?} is not a profile; expected {PROFILES}"),
            );
            None
        }
    }
    .map(|s| overrides(s, &raw.schema, &base_dn, err, &mut ok));

    let bind = match raw.bind.as_deref().unwrap_or("gssapi") {
        "gssapi" => {
            if raw.bind_dn.is_some() || raw.bind_password_file.is_some() {
                err(
                    "directory.bind_dn",
                    "only for bind = \"simple\" (the default bind is \"gssapi\")".into(),
                );
                ok = false;
            }
            let keytab = match (raw.keytab.as_deref(), kerberos_keytab) {
                (Some(k), _) => Some(PathBuf::from(k)),
                (None, Some(k)) => Some(k.to_path_buf()),
                (None, None) => None,
            };
            match keytab {
                Some(k) if k.is_absolute() => Some(DirectoryBind::Gssapi {
                    keytab: k,
                    principal: raw.principal.clone(),
                }),
                Some(k) => {
                    err(
                        "directory.keytab",
                        format!("{} must be an absolute path", k.display()),
                    );
                    None
                }
                None => {
                    err(
                        "directory.keytab",
                        "required for bind = \"gssapi\" when [kerberos] is off".into(),
                    );
                    None
                }
            }
        }
        "simple" => match (raw.bind_dn.as_deref(), raw.bind_password_file.as_deref()) {
            (Some(dn), Some(file)) if looks_like_dn(dn) => match std::fs::read_to_string(file) {
                Ok(pw) if !pw.trim().is_empty() => Some(DirectoryBind::Simple {
                    dn: dn.to_owned(),
                    password: pw.trim().to_owned(),
                }),
                Ok(_) => {
                    err("directory.bind_password_file", format!("{file} is empty"));
                    None
                }
                Err(e) => {
                    err(
                        "directory.bind_password_file",
                        format!("cannot read {file}: {e}"),
                    );
                    None
                }
            },
            (Some(dn), Some(_)) => {
                err("directory.bind_dn", format!("{dn:?} is not a DN"));
                None
            }
            (None, _) => {
                err("directory.bind_dn", "required for bind = \"simple\"".into());
                None
            }
            (_, None) => {
                err(
                    "directory.bind_password_file",
                    "required for bind = \"simple\": a file holding the password".into(),
                );
                None
            }
        },
        "anonymous" => Some(DirectoryBind::Anonymous),
        other => {
            err(
                "directory.bind",
                format!("{other:?}: expected \"gssapi\", \"simple\" or \"anonymous\""),
            );
            None
        }
    };
    let ca_file = match raw.ca_file.as_deref() {
        None => None,
        Some(f) => match std::fs::read(f) {
            Ok(_) if PathBuf::from(f).is_absolute() => Some(PathBuf::from(f)),
            Ok(_) => {
                err("directory.ca_file", format!("{f} must be an absolute path"));
                ok = false;
                None
            }
            Err(e) => {
                err("directory.ca_file", format!("cannot read {f}: {e}"));
                ok = false;
                None
            }
        },
    };
    let mut ranged = |value: Option<u64>, default: u64, min: u64, max: u64, key: &str| {
        let v = value.unwrap_or(default);
        if v < min || v > max {
            err(key, format!("must be between {min} and {max}"));
            ok = false;
        }
        v
    };
    let timeout_ms = ranged(raw.timeout_ms, 3000, 100, 60_000, "directory.timeout_ms");
    let pool_size = ranged(raw.pool_size, 4, 1, 64, "directory.pool_size");
    let cache_ttl = ranged(
        raw.cache_ttl_secs,
        300,
        0,
        86_400,
        "directory.cache_ttl_secs",
    );
    let negative_ttl = ranged(
        raw.negative_cache_ttl_secs,
        30,
        0,
        86_400,
        "directory.negative_cache_ttl_secs",
    );
    if !ok {
        return None;
    }
    Some(Some(DirectoryConfig {
        uris,
        base_dn,
        schema: schema?,
        bind: bind?,
        ca_file,
        timeout: Duration::from_millis(timeout_ms),
        pool_size: usize::try_from(pool_size).ok()?,
        cache_ttl: Duration::from_secs(cache_ttl),
        negative_cache_ttl: Duration::from_secs(negative_ttl),
    }))
}

fn parse_uri(u: &str, insecure_plaintext: bool) -> Result<LdapUri, String> {
    let (scheme, rest) = u
        .split_once("://")
        .ok_or_else(|| format!("{u:?} is not an ldaps:// or ldap:// URI"))?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "{u:?}: expected scheme://host[:port] with nothing after the host"
        ));
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default().to_owned(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .to_owned(),
    };
    let starttls = match scheme.to_ascii_lowercase().as_str() {
        "ldaps" => false,
        "ldap" => !insecure_plaintext,
        _ => return Err(format!("{u:?}: the scheme must be ldaps or ldap")),
    };
    Ok(LdapUri {
        url: format!("{}://{authority}", scheme.to_ascii_lowercase()),
        host,
        starttls,
    })
}

fn looks_like_dn(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|rdn| {
            rdn.split_once('=')
                .is_some_and(|(a, v)| !a.trim().is_empty() && !v.is_empty())
        })
}

fn freeipa(base: &str) -> DirectorySchema {
    DirectorySchema {
        users: format!("cn=users,cn=accounts,{base}"),
        groups: format!("cn=groups,cn=accounts,{base}"),
        hosts: format!("cn=computers,cn=accounts,{base}"),
        hostgroups: format!("cn=hostgroups,cn=accounts,{base}"),
        services: format!("cn=services,cn=accounts,{base}"),
        user_object_class: "posixAccount".into(),
        group_object_class: "groupOfNames".into(),
        host_object_class: "ipaHost".into(),
        user_name: "uid".into(),
        principal: "krbPrincipalName".into(),
        uid_number: "uidNumber".into(),
        gid_number: "gidNumber".into(),
        home_directory: "homeDirectory".into(),
        login_shell: "loginShell".into(),
        gecos: "gecos".into(),
        group_name: "cn".into(),
        member: "member".into(),
        member_of: "memberOf".into(),
        fqdn: "fqdn".into(),
        locked: "nsAccountLock".into(),
    }
}

fn rfc2307bis(base: &str) -> DirectorySchema {
    DirectorySchema {
        users: format!("ou=people,{base}"),
        groups: format!("ou=groups,{base}"),
        hosts: format!("ou=hosts,{base}"),
        hostgroups: format!("ou=hostgroups,{base}"),
        services: format!("ou=services,{base}"),
        user_object_class: "posixAccount".into(),
        group_object_class: "groupOfNames".into(),
        host_object_class: "device".into(),
        user_name: "uid".into(),
        principal: "krbPrincipalName".into(),
        uid_number: "uidNumber".into(),
        gid_number: "gidNumber".into(),
        home_directory: "homeDirectory".into(),
        login_shell: "loginShell".into(),
        gecos: "gecos".into(),
        group_name: "cn".into(),
        member: "member".into(),
        member_of: String::new(),
        fqdn: "cn".into(),
        locked: String::new(),
    }
}

/// Applies `[directory.schema]`: containers are relative to `base_dn`, attribute names
/// must be LDAP attribute descriptions (letters, digits, `-`).
fn overrides(
    mut s: DirectorySchema,
    raw: &RawDirectorySchema,
    base: &str,
    err: &mut impl FnMut(&str, String),
    ok: &mut bool,
) -> DirectorySchema {
    let containers: [(&Option<String>, &mut String, &str); 5] = [
        (&raw.users, &mut s.users, "users"),
        (&raw.groups, &mut s.groups, "groups"),
        (&raw.hosts, &mut s.hosts, "hosts"),
        (&raw.hostgroups, &mut s.hostgroups, "hostgroups"),
        (&raw.services, &mut s.services, "services"),
    ];
    for (value, slot, key) in containers {
        if let Some(v) = value {
            if looks_like_dn(v) {
                *slot = format!("{v},{base}");
            } else {
                err(
                    &format!("directory.schema.{key}"),
                    format!("{v:?} is not a DN relative to base_dn, e.g. \"ou=people\""),
                );
                *ok = false;
            }
        }
    }
    let attributes: [(&Option<String>, &mut String, &str, bool); 15] = [
        (
            &raw.user_object_class,
            &mut s.user_object_class,
            "user_object_class",
            false,
        ),
        (
            &raw.group_object_class,
            &mut s.group_object_class,
            "group_object_class",
            false,
        ),
        (
            &raw.host_object_class,
            &mut s.host_object_class,
            "host_object_class",
            false,
        ),
        (&raw.user_name, &mut s.user_name, "user_name", false),
        (&raw.principal, &mut s.principal, "principal", false),
        (&raw.uid_number, &mut s.uid_number, "uid_number", false),
        (&raw.gid_number, &mut s.gid_number, "gid_number", false),
        (
            &raw.home_directory,
            &mut s.home_directory,
            "home_directory",
            false,
        ),
        (&raw.login_shell, &mut s.login_shell, "login_shell", false),
        (&raw.gecos, &mut s.gecos, "gecos", false),
        (&raw.group_name, &mut s.group_name, "group_name", false),
        (&raw.member, &mut s.member, "member", false),
        (&raw.member_of, &mut s.member_of, "member_of", true),
        (&raw.fqdn, &mut s.fqdn, "fqdn", false),
        (&raw.locked, &mut s.locked, "locked", true),
    ];
    for (value, slot, key, may_be_empty) in attributes {
        if let Some(v) = value {
            let good = v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && v.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if good || (may_be_empty && v.is_empty()) {
                v.clone_into(slot);
            } else {
                err(
                    &format!("directory.schema.{key}"),
                    format!("{v:?} is not an attribute name"),
                );
                *ok = false;
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldap_uris_get_starttls_unless_plaintext_is_asked_for() {
        let u = parse_uri("ldap://ipa.example.com:389/", false).unwrap();
        assert_eq!(u.url, "ldap://ipa.example.com:389");
        assert_eq!(u.host, "ipa.example.com");
        assert!(u.starttls);
        assert!(!parse_uri("ldap://h", true).unwrap().starttls);
        assert!(!parse_uri("LDAPS://h:636", false).unwrap().starttls);
        assert_eq!(parse_uri("ldaps://[::1]:636", false).unwrap().host, "::1");
        assert!(parse_uri("http://h", false).is_err());
        assert!(parse_uri("ldap://h/dc=x", false).is_err());
        assert!(parse_uri("h:389", false).is_err());
    }

    #[test]
    fn dn_shapes() {
        assert!(looks_like_dn("dc=example,dc=com"));
        assert!(!looks_like_dn("example.com"));
        assert!(!looks_like_dn(""));
        assert!(!looks_like_dn("dc=,dc=com"));
    }
}
