//! `basic_auth_users`: bcrypt-hashed passwords checked against `Authorization: Basic` headers,
//! with results cached by a keyed hash so a scraper's repeated requests cost one bcrypt.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// A hash of cost 10 that no password matches; checked for unknown users so that a wrong user
/// and a wrong password take the same time.
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

/// Validates every user's bcrypt hash; the error names the user.
pub(super) fn check_users(
    users: &BTreeMap<String, String>,
) -> Result<HashMap<String, String>, String> {
    for (user, hash) in users {
        hash.parse::<bcrypt::HashParts>()
            .map_err(|e| format!("basic_auth_users: invalid bcrypt hash for user {user:?}: {e}"))?;
    }
    Ok(users.iter().map(|(u, h)| (u.clone(), h.clone())).collect())
}

/// The checker of `Authorization` headers, with its cache of recent outcomes.
#[derive(Default)]
pub struct BasicAuth {
    cache: Mutex<HashMap<u64, bool>>,
    bcrypt_lock: Mutex<()>,
    hasher: RandomState,
}

impl BasicAuth {
    /// Checks an `Authorization` header against `users`; blocking (bcrypt), so call it from
    /// a blocking thread. `true` when no users are configured.
    pub fn authorize(&self, users: &HashMap<String, String>, authorization: Option<&str>) -> bool {
        if users.is_empty() {
            return true;
        }
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let hash = users.get(&user).map(String::as_str);
        let key = self.hasher.hash_one((&user, hash, &password));
        if let Some(ok) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return *ok;
        }
        let ok = {
            let _serial = self.bcrypt_lock.lock().unwrap_or_else(|p| p.into_inner());
            let verified = bcrypt::verify(&password, hash.unwrap_or(DUMMY_HASH)).unwrap_or(false);
            verified && hash.is_some()
        };
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(key, ok);
        ok
    }
}

fn decode_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcrypt_hashes_are_checked_at_load() {
        let mut users = BTreeMap::new();
        users.insert("alice".to_string(), "not-a-hash".to_string());
        assert!(check_users(&users).unwrap_err().contains("alice"));
        users.insert("alice".to_string(), DUMMY_HASH.to_string());
        assert!(check_users(&users).is_ok());
    }

    #[test]
    fn basic_header_decoding() {
        assert_eq!(
            decode_basic("Basic YWxpY2U6czNjcmV0"),
            Some(("alice".into(), "s3cret".into()))
        );
        assert_eq!(decode_basic("Bearer x"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
    }
}
