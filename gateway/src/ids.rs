//! Identifier generation from a seeded ChaCha20 stream.
//!
//! The model owns no global randomness: the driver passes a 32-byte seed.
//! Tests pass a fixed seed and get reproducible ids; the server seeds from the
//! OS, which makes notification channels (the only credential of a WebSocket,
//! 01-session §11.2) and tokens unguessable. Every id carries at least 128
//! random bits.

use std::fmt;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct IdGen {
    rng: ChaCha20Rng,
}

impl fmt::Debug for IdGen {
    /// Never prints the generator state: it would reveal every future id.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdGen { .. }")
    }
}

impl IdGen {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Self {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// 128 random bits as 32 lower-case hex digits.
    pub(crate) fn hex128(&mut self) -> String {
        hex(&self.bytes::<16>())
    }

    /// A token value: a kind prefix (for people reading logs) and 160 random
    /// bits.
    pub(crate) fn token(&mut self, prefix: &str) -> String {
        format!("{prefix}{}", hex(&self.bytes::<20>()))
    }

    /// A version-4 UUID string, used for `eventId`s (which must be globally
    /// unique: the client's duplicate cache outlives sessions, 01-session
    /// §5.5).
    pub(crate) fn uuid(&mut self) -> String {
        let mut b = self.bytes::<16>();
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex(&b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_ids_different_seed_different_ids() {
        let mut a = IdGen::new([1; 32]);
        let mut b = IdGen::new([1; 32]);
        let mut c = IdGen::new([2; 32]);
        let (x, y, z) = (a.hex128(), b.hex128(), c.hex128());
        assert_eq!(x, y);
        assert_ne!(x, z);
        assert_eq!(x.len(), 32);
    }

    #[test]
    fn uuid_shape() {
        let mut g = IdGen::new([3; 32]);
        let u = g.uuid();
        assert_eq!(u.len(), 36);
        let parts: Vec<&str> = u.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn debug_hides_state() {
        assert_eq!(format!("{:?}", IdGen::new([0; 32])), "IdGen { .. }");
    }
}
