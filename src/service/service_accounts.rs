//! Service accounts on the store (the adapter of `ports::ServiceAccounts`, and what the
//! admin API and `ahdapa service-account` do). A record per account (`service-account`,
//! keyed by SHA-256 of client_id and name) holds the app password's hash, never the
//! password; an index per client (`service-account-index`) lists the names. Both are
//! durable and visible to every node sharing the store.

use super::*;
use crate::admin::{Actor, AdminError, audit};
use crate::oauth::ports::ServiceAccounts;
use crate::oauth::secret::{ClientSecret, SecretHash};
use crate::oauth::service_account::{ServiceAccount, check_name};

const ACCOUNT: &str = "service-account";
const INDEX: &str = "service-account-index";
/// A record outlives its password by this much (so `list` still shows it expired).
const KEEP_AFTER_EXPIRY_SECS: u64 = 30 * 86_400;
/// The index lives as long as any account could.
const INDEX_LIFETIME_SECS: u64 = 20 * 365 * 86_400;
/// The longest app password lifetime.
pub const MAX_LIFETIME_DAYS: u64 = 3650;

fn account_key(client_id: &str, name: &str) -> Vec<u8> {
    store_key(format!("{client_id}\0{name}").as_bytes())
}

fn unavailable(e: impl std::fmt::Display) -> AdminError {
    AdminError::Unavailable(e.to_string())
}

impl Service {
    async fn read_account(
        &self,
        client_id: &str,
        name: &str,
        now: u64,
    ) -> Result<Option<ServiceAccount>, crate::store::StoreError> {
        Ok(self
            .store
            .state(ACCOUNT, &account_key(client_id, name), now)
            .await?
            .and_then(|r| serde_json::from_slice(&r.value).ok()))
    }

    async fn write_account(&self, a: &ServiceAccount) -> Result<(), AdminError> {
        let until = a
            .expires_at
            .max(a.previous.as_ref().map_or(0, |p| p.1))
            .saturating_add(KEEP_AFTER_EXPIRY_SECS);
        let value = serde_json::to_vec(a).map_err(unavailable)?;
        self.store
            .put_state(
                ACCOUNT,
                &account_key(&a.client_id, &a.name),
                &value,
                until,
                Durability::Durable,
            )
            .await
            .map_err(unavailable)
    }

    async fn names(&self, client_id: &str, now: u64) -> Result<Vec<String>, AdminError> {
        Ok(self
            .store
            .state(INDEX, &store_key(client_id.as_bytes()), now)
            .await
            .map_err(unavailable)?
            .and_then(|r| serde_json::from_slice(&r.value).ok())
            .unwrap_or_default())
    }

    async fn write_names(
        &self,
        client_id: &str,
        names: &[String],
        now: u64,
    ) -> Result<(), AdminError> {
        let value = serde_json::to_vec(names).map_err(unavailable)?;
        self.store
            .put_state(
                INDEX,
                &store_key(client_id.as_bytes()),
                &value,
                now.saturating_add(INDEX_LIFETIME_SECS),
                Durability::Durable,
            )
            .await
            .map_err(unavailable)
    }

    /// The client, which must take service accounts.
    fn service_account_client(&self, client_id: &str) -> Result<(), AdminError> {
        let registry = self.registry.load();
        let client = registry
            .get(client_id)
            .ok_or_else(|| AdminError::NotFound(client_id.into()))?;
        if !client.service_accounts {
            return Err(AdminError::Invalid(vec![(
                "service_accounts".into(),
                format!(
                    "client {client_id} does not take service accounts: set service_accounts = true"
                ),
            )]));
        }
        Ok(())
    }

    fn lifetime(secs: u64) -> Result<u64, AdminError> {
        if secs == 0 || secs > MAX_LIFETIME_DAYS * 86_400 {
            return Err(AdminError::Invalid(vec![(
                "expires_in_days".into(),
                format!("must be between 1 second and {MAX_LIFETIME_DAYS} days"),
            )]));
        }
        Ok(secs)
    }

    /// Creates a service account with a new app password (returned once).
    pub async fn create_service_account(
        &self,
        actor: &Actor,
        client_id: &str,
        name: &str,
        lifetime_secs: u64,
    ) -> Result<(ServiceAccount, ClientSecret), AdminError> {
        self.service_account_client(client_id)?;
        check_name(name).map_err(|e| AdminError::Invalid(vec![("name".into(), e.to_string())]))?;
        let lifetime = Self::lifetime(lifetime_secs)?;
        let now = clock::now_unix();
        if self
            .read_account(client_id, name, now)
            .await
            .map_err(unavailable)?
            .is_some()
        {
            return Err(AdminError::Conflict(format!("{client_id}/{name}")));
        }
        let password = ClientSecret::generate(&self.rng)
            .map_err(|_| AdminError::Unavailable("random source failed".into()))?;
        let account = ServiceAccount {
            name: name.to_owned(),
            client_id: client_id.to_owned(),
            password_hash: SecretHash::of(&password).to_stored(),
            expires_at: now.saturating_add(lifetime),
            previous: None,
            created_at: now,
            rotated_at: now,
        };
        self.write_account(&account).await?;
        let mut names = self.names(client_id, now).await?;
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
            self.write_names(client_id, &names, now).await?;
        }
        audit(actor, "service-account create", client_id, name);
        Ok((account, password))
    }

    /// A new app password; the old one keeps working `keep_old_secs` (0: stops now).
    pub async fn rotate_service_account(
        &self,
        actor: &Actor,
        client_id: &str,
        name: &str,
        lifetime_secs: u64,
        keep_old_secs: u64,
    ) -> Result<(ServiceAccount, ClientSecret), AdminError> {
        let lifetime = Self::lifetime(lifetime_secs)?;
        let now = clock::now_unix();
        let mut account = self
            .read_account(client_id, name, now)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| AdminError::NotFound(format!("{client_id}/{name}")))?;
        let password = ClientSecret::generate(&self.rng)
            .map_err(|_| AdminError::Unavailable("random source failed".into()))?;
        account.previous = (keep_old_secs > 0).then(|| {
            (
                account.password_hash.clone(),
                now.saturating_add(keep_old_secs),
            )
        });
        account.password_hash = SecretHash::of(&password).to_stored();
        account.expires_at = now.saturating_add(lifetime);
        account.rotated_at = now;
        self.write_account(&account).await?;
        audit(actor, "service-account rotate", client_id, name);
        Ok((account, password))
    }

    /// Removes a service account: its password stops working on every node.
    pub async fn delete_service_account(
        &self,
        actor: &Actor,
        client_id: &str,
        name: &str,
    ) -> Result<(), AdminError> {
        let now = clock::now_unix();
        let existed = self
            .store
            .delete_state(ACCOUNT, &account_key(client_id, name))
            .await
            .map_err(unavailable)?;
        let mut names = self.names(client_id, now).await?;
        let before = names.len();
        names.retain(|n| n != name);
        if names.len() != before {
            self.write_names(client_id, &names, now).await?;
        }
        if !existed {
            return Err(AdminError::NotFound(format!("{client_id}/{name}")));
        }
        audit(actor, "service-account delete", client_id, name);
        Ok(())
    }

    /// The service accounts of a client.
    pub async fn list_service_accounts(
        &self,
        client_id: &str,
    ) -> Result<Vec<ServiceAccount>, AdminError> {
        let now = clock::now_unix();
        let mut out = Vec::new();
        for name in self.names(client_id, now).await? {
            if let Some(a) = self
                .read_account(client_id, &name, now)
                .await
                .map_err(unavailable)?
            {
                out.push(a);
            }
        }
        Ok(out)
    }
}

#[async_trait::async_trait]
impl ServiceAccounts for Service {
    async fn service_account(
        &self,
        client_id: &str,
        name: &str,
        now: u64,
    ) -> Result<Option<ServiceAccount>, OAuthError> {
        self.read_account(client_id, name, now)
            .await
            .map_err(|e| store_unavailable("reading the service account", e))
    }
}

/// What the admin API and the CLI show of a service account (no hashes).
pub fn view(a: &ServiceAccount) -> serde_json::Value {
    serde_json::json!({
        "name": a.name,
        "client_id": a.client_id,
        "expires_at": a.expires_at,
        "created_at": a.created_at,
        "rotated_at": a.rotated_at,
        "previous_valid_until": a.previous.as_ref().map(|p| p.1),
    })
}
