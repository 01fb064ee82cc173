//! The client registry as the running service holds it: the config file's clients plus
//! the store's, with `client_secret_jwt` secrets unsealed by the master key. A stored
//! client that does not open or validate is logged and left out, never served; a
//! config-file client shadows a stored one of the same id. The certificate pins of
//! `tls_client_auth` clients follow the registry (see `Service::refresh`).

use super::master_key::unseal_client_secret;
use crate::oauth::client::{Client, ClientRegistry, ClientSource};
use crate::store::{Store, StoreError};
use crate::token::seal::MasterKey;

/// Config clients plus valid store clients; invalid stored ones are logged and skipped.
pub async fn build_registry(
    config_clients: Vec<Client>,
    store: &dyn Store,
    master: &MasterKey,
) -> Result<ClientRegistry, StoreError> {
    let mut stored = Vec::new();
    for reg in store.clients().await? {
        if reg.disabled {
            continue;
        }
        let hmac = match reg
            .client_secret_sealed
            .as_deref()
            .map(|s| unseal_client_secret(master, &reg.client_id, s))
        {
            None => None,
            Some(Ok(secret)) => Some(secret),
            Some(Err(e)) => {
                log::error!(client_id = reg.client_id.as_str(), reason = e.as_str(); "stored client secret does not open; client ignored");
                continue;
            }
        };
        match Client::from_registration(&reg, ClientSource::Store, hmac) {
            Ok(c) => stored.push(c),
            Err(problems) => {
                let why: Vec<String> = problems
                    .iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect();
                log::error!(client_id = reg.client_id.as_str(), reason = why.join("; ").as_str(); "stored client is invalid; ignored");
            }
        }
    }
    let (registry, shadowed) = ClientRegistry::new(config_clients, stored);
    for id in shadowed {
        log::warn!(client_id = id.as_str(); "client is declared in the config file and in the store; the config file wins");
    }
    Ok(registry)
}
