//! FNV-1a hashing for the small maps nodex looks up many times per scrape. A leaf module: the
//! file reader (`util`) and the descriptor cache (`fdcache`) both use it.

/// FNV-1a: for the small maps looked up many times per scrape with keys nodex itself chose or
/// the kernel wrote (field names, paths). SipHash's flood resistance buys nothing there and
/// showed up in profiles.
#[derive(Clone, Copy, Default)]
pub struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A `HashMap` hashed with [`Fnv`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_values() {
        use std::hash::Hasher;
        let mut h = Fnv::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
        let mut map: FastMap<String, u8> = FastMap::default();
        map.insert("pgfault".into(), 1);
        assert_eq!(map.get("pgfault"), Some(&1));
    }
}
