//! A bounded map of directory answers with two TTLs: one for answers that found
//! something, one for "not found". Expired entries are never served; when the map is
//! full, expired entries are dropped first, then everything (the directory is the source
//! of truth, the cache only saves round trips).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Key, Value};

pub(super) struct Cache {
    ttl: Duration,
    negative_ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<Key, (Instant, Value)>>,
}

impl Cache {
    pub(super) fn new(ttl: Duration, negative_ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            negative_ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn get(&self, key: &Key) -> Option<Value> {
        let entries = self.entries.lock().ok()?;
        let (expires, value) = entries.get(key)?;
        (crate::clock::monotonic() < *expires).then(|| value.clone())
    }

    pub(super) fn insert(&self, key: Key, value: Value, negative: bool) {
        let ttl = if negative {
            self.negative_ttl
        } else {
            self.ttl
        };
        if ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = crate::clock::monotonic();
        if entries.len() >= self.capacity {
            entries.retain(|_, (expires, _)| *expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now + ttl, value));
    }
}
