//! Deserialising TOML while collecting *every* mistake, each with its key path.
//!
//! serde stops at the first error. To report all of them at once, we deserialise, record
//! the error with its path (serde_path_to_error), remove the offending key from the
//! document, and try again until the rest deserialises. Unknown keys are found by
//! serde_ignored on the final pass, so they are refused with their full path (the effect
//! of `deny_unknown_fields`, without stopping at the first one).

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

use super::ConfigError;

/// How many errors one table may yield before we stop retrying (a safety bound).
const MAX_ERRORS: usize = 64;

/// Deserialises `table` as `T`, appending every problem to `errors` with its path
/// prefixed by `prefix` (e.g. `clients[2]`). `None` when some key could not be removed
/// to make progress.
pub fn deserialize_all<T: DeserializeOwned>(
    mut table: toml::Table,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    let mut removed: Vec<String> = Vec::new();
    for _ in 0..MAX_ERRORS {
        let mut unknown = Vec::new();
        let mut on_ignored = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
        let de =
            serde_ignored::Deserializer::new(toml::Value::Table(table.clone()), &mut on_ignored);
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) => {
                for key in unknown {
                    errors.push(ConfigError::new(join(prefix, &key), "unknown key"));
                }
                return Some(value);
            }
            Err(err) => {
                let segments: Vec<Segment> = err.path().iter().cloned().collect();
                let path = render(&segments);
                let message = err.inner().to_string();
                let missing = missing_field(&message).map(|f| join(&path, f));
                if !missing.as_ref().is_some_and(|m| removed.contains(m)) {
                    errors.push(ConfigError::new(join(prefix, &path), clean(&message)));
                }
                match remove(&mut table, &segments) {
                    Some(gone) => removed.push(gone),
                    None => return None,
                }
            }
        }
    }
    None
}

/// Joins a prefix and a relative path with a dot (or nothing when one is empty).
pub fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (_, true) => prefix.to_owned(),
        _ if path.starts_with('[') => format!("{prefix}{path}"),
        _ => format!("{prefix}.{path}"),
    }
}

fn render(segments: &[Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(&ignored_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

/// Removes the key an error points at so the next attempt gets further. An error inside
/// an array removes the whole array (removing one element would shift the indexes of
/// later errors); an error at the root cannot be removed. Returns the removed key's path.
fn remove(table: &mut toml::Table, segments: &[Segment]) -> Option<String> {
    // Cut the path at the first array index: the key holding the array goes.
    let cut = segments
        .iter()
        .position(|s| matches!(s, Segment::Seq { .. }))
        .unwrap_or(segments.len());
    let keys: Vec<&str> = segments
        .get(..cut)?
        .iter()
        .filter_map(|s| {
            if let Segment::Map { key } = s {
                Some(key.as_str())
            } else {
                None
            }
        })
        .collect();
    let (last, parents) = keys.split_last()?;
    let mut current = table;
    for k in parents {
        current = current.get_mut(*k)?.as_table_mut()?;
    }
    current.remove(*last)?;
    Some(keys.join("."))
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// toml's messages sometimes carry a trailing newline; keep one line per error.
fn clean(message: &str) -> String {
    message.trim().replace('\n', " ")
}
