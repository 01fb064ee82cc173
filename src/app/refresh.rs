//! Keeping a running service current: the refresher task reloads clients and keys when
//! another process or node changed the store (polled every [`REFRESH_PERIOD`], pushed
//! by PostgreSQL NOTIFY), moves the key set as keys activate and retire, and rotates
//! the signing key on schedule (`keys.rotate_after_days`) under the store's rotation
//! lock, so nodes sharing a store never both rotate.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::StartError;
use super::keyring::{JWKS_MAX_AGE_SECS, key_set_at, load_keys, rotate_keys, times_of};
use super::registry::build_registry;
use crate::clock;
use crate::service::{REFRESH_PERIOD, ROTATION_RETENTION_SECS, Service};
use crate::token::keys::KeySet;
use crate::token::rotation::{self, KeyTimes};

impl Service {
    /// Reloads clients and keys if the store changed since the last load.
    pub async fn refresh(&self) -> Result<bool, StartError> {
        let now = clock::now_unix();
        self.maybe_rotate(now).await?;
        let generation = self.store.generation().await?;
        let mut changed = false;
        if generation != self.generation.load(Ordering::Acquire) {
            let registry = build_registry(
                self.config_clients.clone(),
                self.store.as_ref(),
                &self.master_key,
            )
            .await?;
            let loaded = load_keys(
                self.store.as_ref(),
                &self.master_key,
                &registry.signing_algorithms(self.algorithm),
                &self.rng,
                now,
            )
            .await?;
            log::info!(clients = registry.len(), keys = loaded.len(); "reloaded clients and keys from the store");
            if let Some((_, policy)) = &self.tls {
                policy.set_pinned(registry.pinned_thumbprints());
            }
            if let Some(proxy) = &self.proxy_client_cert {
                proxy.policy.set_pinned(registry.pinned_thumbprints());
            }
            self.loaded_keys.store(Arc::new(loaded));
            self.registry.store(Arc::new(registry));
            self.generation.store(generation, Ordering::Release);
            changed = true;
        }
        // Keys activate and retire with time, not only with store changes.
        let set = key_set_at(&self.loaded_keys.load(), self.algorithm, now)?;
        let current = self.keys.load();
        let kids = |s: &KeySet| {
            s.published()
                .iter()
                .map(|k| k.kid().to_owned())
                .collect::<Vec<_>>()
        };
        if set.active().kid() != current.active().kid() || kids(&set) != kids(&current) {
            log::info!(kid = set.active().kid(), published = kids(&set).join(",").as_str(); "signing keys changed");
            self.keys.store(Arc::new(set));
            self.forget_verified_tokens();
            changed = true;
        }
        Ok(changed)
    }

    /// Rotates on schedule (`keys.rotate_after_days`): when the signing key is older than
    /// the period and no successor is pending.
    async fn maybe_rotate(&self, now: u64) -> Result<(), StartError> {
        if self.rotate_after_secs == 0 {
            return Ok(());
        }
        let loaded = self.loaded_keys.load();
        let times: Vec<KeyTimes> = loaded.iter().map(|k| k.times).collect();
        let Some(active) =
            rotation::active_at(&times, self.algorithm, now).and_then(|i| times.get(i))
        else {
            return Ok(());
        };
        let due = |times: &[KeyTimes], active: &KeyTimes| {
            active.activates_at.saturating_add(self.rotate_after_secs) <= now
                && !times
                    .iter()
                    .any(|t| t.algorithm == self.algorithm && t.pending_at(now))
        };
        if due(&times, active) {
            // Nodes sharing the store must not both rotate: take the store's rotation
            // lock and decide again on what the store holds now.
            let Some(_guard) = self.store.rotation_guard().await? else {
                return Ok(());
            };
            let fresh: Vec<KeyTimes> = self
                .store
                .signing_keys()
                .await?
                .iter()
                .map(times_of)
                .collect();
            let still_due = rotation::active_at(&fresh, self.algorithm, now)
                .and_then(|i| fresh.get(i))
                .is_some_and(|a| due(&fresh, a));
            if !still_due {
                return Ok(());
            }
            rotate_keys(
                self.store.as_ref(),
                &self.master_key,
                self.algorithm,
                now,
                false,
                self.rotation_lead_secs(),
                ROTATION_RETENTION_SECS,
            )
            .await?;
        }
        Ok(())
    }

    /// How long a new key is published before it signs: one default token lifetime plus
    /// the `/jwks` cache time.
    pub fn rotation_lead_secs(&self) -> u64 {
        self.settings.default_lifetime_secs + JWKS_MAX_AGE_SECS
    }

    /// Polls the store every [`REFRESH_PERIOD`], and reloads at once when the store
    /// signals a change ([`Store::changes`]), until the returned handle is aborted.
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(REFRESH_PERIOD);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let changes = this.store.changes();
            loop {
                let signalled = async {
                    match &changes {
                        Some(changes) => changes.notified().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = tick.tick() => {
                        if let Err(e) = this.store.maintain(clock::now_unix()).await {
                            log::warn!(reason = e.to_string().as_str(); "store housekeeping failed");
                        }
                    }
                    () = signalled => {}
                }
                if let Err(e) = this.refresh().await {
                    log::warn!(reason = e.to_string().as_str(); "could not reload clients and keys; serving the previous ones");
                }
            }
        })
    }
}
