//! What a Kerberos client asks of the directory (`directory = { ... }` in its
//! registration): that the authenticated principal's entry exists and is not locked,
//! that it belongs to given groups (host groups for `host/` principals, user groups for
//! users), and which of the entry's values become token claims.
//!
//! Pure decisions over an entry the adapter looked up; the lookup (and its outage, which
//! is `temporarily_unavailable`, never a refusal) is the service's.

use serde::{Deserialize, Serialize};

use super::error::OAuthError;

/// The directory entry of an authenticated principal (host, user or service), as the
/// directory adapter finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalEntry {
    /// Whether the entry is locked (`nsAccountLock: TRUE`).
    pub locked: bool,
    /// A host's fqdn.
    pub fqdn: Option<String>,
    /// Host groups of a host, user groups of a user (names).
    pub groups: Vec<String>,
}

/// A registration's `directory` table.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryRequirements {
    /// The principal must have an entry that is not locked (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_entry: Option<bool>,
    /// The entry must be a member of at least one of these groups (host groups for
    /// hosts, user groups for users). Implies `require_entry`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub require_groups: Vec<String>,
    /// Entry values added to tokens: `fqdn`, `hostgroups` (hosts), `groups` (users).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<String>,
}

/// The claim names a registration may ask for.
pub const CLAIMS: [&str; 3] = ["fqdn", "hostgroups", "groups"];

/// A validated `directory` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryPolicy {
    /// The entry must exist and not be locked.
    pub require_entry: bool,
    /// At least one of these groups.
    pub require_groups: Vec<String>,
    /// Add `fqdn`.
    pub claim_fqdn: bool,
    /// Add `hostgroups`.
    pub claim_hostgroups: bool,
    /// Add `groups`.
    pub claim_groups: bool,
}

impl DirectoryRequirements {
    /// Validates the table; the message names the sub-field.
    pub fn validate(&self) -> Result<DirectoryPolicy, (&'static str, String)> {
        for c in &self.claims {
            if !CLAIMS.contains(&c.as_str()) {
                return Err((
                    "directory.claims",
                    format!("{c:?} is not a directory claim; expected one of {CLAIMS:?}"),
                ));
            }
        }
        if self.require_groups.iter().any(String::is_empty) {
            return Err((
                "directory.require_groups",
                "a group name must not be empty".into(),
            ));
        }
        if self.require_entry == Some(false) && !self.require_groups.is_empty() {
            return Err((
                "directory.require_entry",
                "cannot be false when require_groups is set".into(),
            ));
        }
        Ok(DirectoryPolicy {
            require_entry: self.require_entry.unwrap_or(true),
            require_groups: self.require_groups.clone(),
            claim_fqdn: self.claims.iter().any(|c| c == "fqdn"),
            claim_hostgroups: self.claims.iter().any(|c| c == "hostgroups"),
            claim_groups: self.claims.iter().any(|c| c == "groups"),
        })
    }
}

/// Claims a directory entry adds to a token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DirectoryClaims {
    /// The host's fqdn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
    /// The host's host groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostgroups: Option<Vec<String>>,
    /// The user's groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
}

impl DirectoryPolicy {
    /// Decides on the entry of `principal` (`None`: no entry). Refusals are
    /// `invalid_client` with the reason logged, not shown.
    pub fn evaluate(
        &self,
        principal: &str,
        entry: Option<&PrincipalEntry>,
    ) -> Result<DirectoryClaims, OAuthError> {
        let Some(entry) = entry else {
            if self.require_entry {
                return Err(OAuthError::invalid_client(format!(
                    "{principal} has no directory entry"
                )));
            }
            return Ok(DirectoryClaims::default());
        };
        if self.require_entry && entry.locked {
            return Err(OAuthError::invalid_client(format!(
                "{principal} is locked in the directory"
            )));
        }
        if !self.require_groups.is_empty()
            && !entry
                .groups
                .iter()
                .any(|g| self.require_groups.iter().any(|r| r == g))
        {
            return Err(OAuthError::invalid_client(format!(
                "{principal} is in none of the required groups {:?}",
                self.require_groups
            )));
        }
        let is_host = principal.starts_with("host/");
        Ok(DirectoryClaims {
            fqdn: if self.claim_fqdn {
                entry.fqdn.clone()
            } else {
                None
            },
            hostgroups: (self.claim_hostgroups && is_host).then(|| entry.groups.clone()),
            groups: (self.claim_groups && !principal.contains('/')).then(|| entry.groups.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(require_groups: &[&str], claims: &[&str]) -> DirectoryPolicy {
        DirectoryRequirements {
            require_entry: None,
            require_groups: require_groups.iter().map(|s| (*s).to_owned()).collect(),
            claims: claims.iter().map(|s| (*s).to_owned()).collect(),
        }
        .validate()
        .unwrap()
    }

    fn host(locked: bool, groups: &[&str]) -> PrincipalEntry {
        PrincipalEntry {
            locked,
            fqdn: Some("node1.example.com".into()),
            groups: groups.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    const HOST: &str = "host/node1.example.com@EXAMPLE.COM";

    #[test]
    fn a_host_in_the_required_group_gets_its_claims() {
        let claims = policy(&["oauth-clients"], &["hostgroups", "fqdn"])
            .evaluate(HOST, Some(&host(false, &["oauth-clients", "web"])))
            .unwrap();
        assert_eq!(claims.fqdn.as_deref(), Some("node1.example.com"));
        assert_eq!(
            claims.hostgroups.unwrap(),
            vec!["oauth-clients".to_owned(), "web".to_owned()]
        );
        assert_eq!(claims.groups, None);
    }

    #[test]
    fn rejects_absent_locked_and_ungrouped_hosts() {
        let p = policy(&["oauth-clients"], &[]);
        for entry in [
            None,
            Some(host(true, &["oauth-clients"])),
            Some(host(false, &["web"])),
        ] {
            let e = p.evaluate(HOST, entry.as_ref()).unwrap_err();
            assert_eq!(e.code(), "invalid_client");
        }
    }

    #[test]
    fn an_optional_entry_may_be_absent() {
        let p = DirectoryRequirements {
            require_entry: Some(false),
            ..Default::default()
        }
        .validate()
        .unwrap();
        assert_eq!(p.evaluate(HOST, None).unwrap(), DirectoryClaims::default());
    }

    #[test]
    fn user_principals_get_groups_not_hostgroups() {
        let claims = policy(&[], &["groups", "hostgroups"])
            .evaluate(
                "alice@EXAMPLE.COM",
                Some(&PrincipalEntry {
                    locked: false,
                    fqdn: None,
                    groups: vec!["admins".into()],
                }),
            )
            .unwrap();
        assert_eq!(claims.groups.unwrap(), vec!["admins".to_owned()]);
        assert_eq!(claims.hostgroups, None);
    }

    #[test]
    fn unknown_claims_and_contradictions_are_refused() {
        let bad = DirectoryRequirements {
            claims: vec!["mail".into()],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "directory.claims");
        let bad = DirectoryRequirements {
            require_entry: Some(false),
            require_groups: vec!["x".into()],
            ..Default::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "directory.require_entry");
    }
}
