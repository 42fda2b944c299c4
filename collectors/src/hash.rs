//! Word-at-a-time hashing for the small maps nodex looks up many times per scrape. A leaf
//! module: the file reader (`util`) and the descriptor cache (`fdcache`) both use it.

/// The multiplier of rustc's FxHash.
const SEED: u64 = 0x517c_c1b7_2722_0a95;

/// FxHash's step, eight bytes at a time: for the small maps looked up many times per scrape
/// with keys nodex itself chose or the kernel wrote (field names, paths). SipHash's flood
/// resistance buys nothing there and showed up in profiles, and so did FNV-1a's byte at a
/// time on paths of some 40 bytes (about 115 descriptor-cache lookups a scrape).
#[derive(Clone, Copy, Default)]
pub struct WordHash(u64);

impl WordHash {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl std::hash::Hasher for WordHash {
    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits, which pick the bucket, depending on the low bits
        // only: the rotation brings the well-mixed high bits down.
        self.0.rotate_left(26)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in words.by_ref() {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut word = 0u64;
            for (i, &b) in rest.iter().enumerate() {
                word |= u64::from(b) << (8 * i);
            }
            self.add(word);
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

/// A `HashMap` hashed with [`WordHash`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<WordHash>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::{BuildHasher, Hasher};

    #[test]
    fn maps_find_their_keys() {
        let mut map: FastMap<String, u8> = FastMap::default();
        map.insert("pgfault".into(), 1);
        assert_eq!(map.get("pgfault"), Some(&1));
        assert_eq!(map.get("pgfaul"), None);
    }

    /// Paths that differ in one byte anywhere (an interface's number in the middle of a sysfs
    /// path) hash apart, and spread over the low bits that pick a bucket.
    #[test]
    fn one_byte_apart_hashes_apart() {
        let hash = |s: &[u8]| std::hash::BuildHasherDefault::<WordHash>::default().hash_one(s);
        let base = b"/sys/class/net/eth0/statistics/rx_bytes".to_vec();
        let mut buckets = std::collections::HashSet::new();
        let mut hashes = std::collections::HashSet::new();
        for at in 0..base.len() {
            for b in [b'0', b'1', b'7', b'x'] {
                let mut key = base.clone();
                key[at] = b;
                hashes.insert(hash(&key));
                buckets.insert(hash(&key) & 63);
            }
        }
        let distinct: std::collections::HashSet<Vec<u8>> = (0..base.len())
            .flat_map(|at| {
                [b'0', b'1', b'7', b'x'].map(|b| {
                    let mut key = base.clone();
                    key[at] = b;
                    key
                })
            })
            .collect();
        assert_eq!(hashes.len(), distinct.len());
        assert!(buckets.len() > 48, "{} of 64 buckets", buckets.len());
        let mut h = WordHash::default();
        h.write(b"");
        assert_eq!(h.finish(), 0);
    }
}
