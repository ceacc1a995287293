//! Sharding: how `--shard i/n` splits one pipeline's accounts between n workers.
//!
//! Every account (a Page, an ad account, an X user or query, a Slack channel, a GA4 property, a
//! help desk) belongs to exactly one shard, chosen by a stable hash of its key, so n workers
//! given `0/n` … `n-1/n` together read every account once and never the same one twice, on
//! any machine and in any version of chorus that keeps this hash.

use std::fmt;
use std::str::FromStr;

/// One worker's share of the accounts: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// The whole pipeline: one worker owns every account.
    pub const ALL: Self = Self { index: 0, count: 1 };

    /// Shard `index` of `count`; `None` unless `index < count`.
    pub const fn new(index: u32, count: u32) -> Option<Self> {
        if index < count {
            Some(Self { index, count })
        } else {
            None
        }
    }

    /// This shard's position, from 0.
    pub const fn index(self) -> u32 {
        self.index
    }

    /// How many shards there are.
    pub const fn count(self) -> u32 {
        self.count
    }

    /// Whether the pipeline is split at all.
    pub const fn is_split(self) -> bool {
        self.count > 1
    }

    /// Whether the account with this key is read by this shard.
    pub fn owns(self, key: &str) -> bool {
        !self.is_split() || bucket(key, self.count) == self.index
    }

    /// Whether an account of a source is read by this shard; the key is `source/account`, so
    /// two sources reading the same account spread independently.
    pub fn owns_account(self, source: &str, account: &str) -> bool {
        self.owns(&format!("{source}/{account}"))
    }
}

impl Default for Shard {
    fn default() -> Self {
        Self::ALL
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s:?} is not of the form i/n with 0 <= i < n, e.g. 0/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || n > 10_000 {
            return Err(format!(
                "--shard {s:?}: the number of shards must be between 1 and 10000"
            ));
        }
        Self::new(i, n).ok_or_else(bad)
    }
}

/// The bucket of `key` among `count`: FNV-1a, 64 bit, which never changes between builds or
/// platforms (unlike `std`'s randomly seeded hasher).
fn bucket(key: &str, count: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    u32::try_from(h % u64::from(count)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_exactly_one_owner() {
        for n in 1..=7 {
            let shards: Vec<Shard> = (0..n).map(|i| Shard::new(i, n).unwrap()).collect();
            for k in 0..500 {
                let key = format!("source/{k}");
                assert_eq!(shards.iter().filter(|s| s.owns(&key)).count(), 1, "{key}");
            }
        }
    }

    #[test]
    fn the_split_is_stable_and_roughly_even() {
        // Pinned: a change here would move accounts between workers of running deployments.
        assert_eq!(bucket("brand/104857392018475", 4), 3);
        assert_eq!(bucket("x/acme", 4), 2);
        let counts = (0..4)
            .map(|i| {
                (0..4000)
                    .filter(|k| Shard::new(i, 4).unwrap().owns(&format!("p{k}")))
                    .count()
            })
            .collect::<Vec<_>>();
        assert!(counts.iter().all(|c| (850..1150).contains(c)), "{counts:?}");
    }

    #[test]
    fn parses_i_of_n() {
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        for bad in ["4/4", "1", "a/b", "-1/4", "0/0", "1/4/5", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard::new(2, 8).unwrap().to_string(), "2/8");
    }
}
