//! The pre-queue's order: a keyed pseudo-random permutation of arrival numbers.
//!
//! Everyone who joins a waiting room before it opens gets an arrival number `0..n`. At opening
//! `n` is fixed, and the place of arrival `i` is `permute(seed, n, i) + 1`: a balanced Feistel
//! network over the smallest even number of bits that covers `n`, walked again while the result
//! is `n` or more ("cycle walking"), so it is a bijection of `0..n`. Ordering a million waiters
//! is therefore nothing at opening (no sort, no write per waiter) and one small computation per
//! status read. The seed is drawn when the room is first used; before opening only its SHA-256
//! ([`commitment`]) is shown, after opening the seed itself, so anyone can recompute every place
//! and check that the order was not chosen after seeing who joined.
//!
//! Round `r`'s function is the first 8 bytes of `SHA-256(seed ‖ r ‖ half)`, big-endian, masked to
//! the half's width; six rounds.

use sha2::{Digest, Sha256};

const ROUNDS: u8 = 6;

/// The place (0-based) of arrival `i` among `n` pre-queue arrivals ordered with `seed`.
pub fn permute(seed: &[u8], n: u64, i: u64) -> u64 {
    assert!(i < n, "arrival {i} is outside 0..{n}");
    let half_bits = half_bits(n);
    let mut x = i;
    loop {
        x = feistel(seed, half_bits, x);
        if x < n {
            return x;
        }
    }
}

/// The arrival number at place `p` (0-based): the inverse of [`permute`].
pub fn unpermute(seed: &[u8], n: u64, p: u64) -> u64 {
    assert!(p < n, "place {p} is outside 0..{n}");
    let half_bits = half_bits(n);
    let mut x = p;
    loop {
        x = feistel_inverse(seed, half_bits, x);
        if x < n {
            return x;
        }
    }
}

/// What is shown before opening: hex SHA-256 of the seed.
pub fn commitment(seed: &[u8]) -> String {
    hex::encode(Sha256::digest(seed))
}

/// Bits of each half: the domain is `2^(2·half)` ≥ `n` (at least 1 bit a half).
fn half_bits(n: u64) -> u32 {
    let bits = 64 - n.saturating_sub(1).leading_zeros();
    bits.div_ceil(2).max(1)
}

fn round(seed: &[u8], r: u8, half: u64, mask: u64) -> u64 {
    let mut h = Sha256::new();
    h.update(seed);
    h.update([r]);
    h.update(half.to_be_bytes());
    let d = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first) & mask
}

fn feistel(seed: &[u8], half_bits: u32, x: u64) -> u64 {
    let mask = (1u64 << half_bits) - 1;
    let (mut left, mut right) = (x >> half_bits, x & mask);
    for r in 0..ROUNDS {
        let next = left ^ round(seed, r, right, mask);
        left = right;
        right = next;
    }
    (left << half_bits) | right
}

fn feistel_inverse(seed: &[u8], half_bits: u32, x: u64) -> u64 {
    let mask = (1u64 << half_bits) - 1;
    let (mut left, mut right) = (x >> half_bits, x & mask);
    for r in (0..ROUNDS).rev() {
        let prev = right ^ round(seed, r, left, mask);
        right = left;
        left = prev;
    }
    (left << half_bits) | right
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn it_is_a_permutation_of_every_small_size() {
        for n in 1..=300u64 {
            let seed = n.to_le_bytes();
            let mut seen = vec![false; n as usize];
            for i in 0..n {
                let p = permute(&seed, n, i);
                assert!(!seen[p as usize], "n={n}: place {p} twice");
                seen[p as usize] = true;
                assert_eq!(unpermute(&seed, n, p), i);
            }
        }
    }

    #[test]
    fn the_order_depends_on_the_seed_and_looks_shuffled() {
        let n = 10_000;
        let a: Vec<u64> = (0..n).map(|i| permute(b"seed one", n, i)).collect();
        let b: Vec<u64> = (0..n).map(|i| permute(b"seed two", n, i)).collect();
        assert_ne!(a, b);
        // Early arrivals are spread over the whole line, not kept near the front.
        let first_hundred_mean = a[..100].iter().sum::<u64>() as f64 / 100.0;
        assert!(
            (first_hundred_mean - n as f64 / 2.0).abs() < n as f64 * 0.15,
            "{first_hundred_mean}"
        );
        let fixed_points = a
            .iter()
            .enumerate()
            .filter(|(i, p)| *i as u64 == **p)
            .count();
        assert!(
            fixed_points < 10,
            "{fixed_points} arrivals kept their place"
        );
    }

    #[test]
    fn the_commitment_is_the_seeds_sha256() {
        assert_eq!(
            commitment(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn large_domains_invert(n in 1u64..u64::MAX / 4, i in any::<u64>(), seed in any::<[u8; 8]>()) {
            let i = i % n;
            let p = permute(&seed, n, i);
            prop_assert!(p < n);
            prop_assert_eq!(unpermute(&seed, n, p), i);
        }
    }
}
