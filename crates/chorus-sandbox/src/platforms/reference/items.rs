//! The reference platform's rows: the item model, exactly as the endpoints serialize it, and
//! its seeded generation. How the rows are paged and authorized lives in the sibling modules.

use serde::{Deserialize, Serialize};

use super::{FIRST_ID, ID_STEP, ITEMS_PER_SCALE, UPDATED_FROM, UPDATED_UNTIL};
use crate::data::{Rng, graph_time};

/// A score, sent as a JSON string on every third item and as a number otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Score {
    /// Sent as a number.
    Number(i64),
    /// Sent as a string of digits.
    Text(String),
}

impl Score {
    /// The numeric value, whichever way it is sent.
    pub fn value(&self) -> i64 {
        match self {
            Score::Number(n) => *n,
            Score::Text(s) => s.parse().unwrap_or(0),
        }
    }
}

/// A Graph-style summary: `{"summary": {"total_count": n}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counted {
    /// The summary object.
    pub summary: Summary,
}

/// The `summary` object of a [`Counted`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The count.
    pub total_count: u64,
}

/// The nested `stats` object of an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Likes, Graph-style.
    pub likes: Counted,
}

/// One item, serialized exactly as the endpoints send it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// A decimal id above 2^53.
    pub id: String,
    /// A title, sometimes with non-ASCII characters and quotes.
    pub title: String,
    /// Creation time, Graph-style (`2024-01-05T10:00:00+0000`).
    pub created_time: String,
    /// Last update, unix seconds; the incremental cursor.
    pub updated_at: i64,
    /// A score that is a string on every third item.
    pub score: Score,
    /// Nested counters.
    pub stats: Stats,
    /// Tags; omitted from the JSON when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

impl Item {
    /// The id as a number.
    pub fn id_number(&self) -> u64 {
        self.id.parse().unwrap_or(0)
    }
}

/// All items of the reference platform, sorted by `updated_at` (then id) ascending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// The items.
    pub items: Vec<Item>,
}

const ADJECTIVES: [&str; 8] = [
    "Quarterly",
    "Café",
    "Naïve",
    "Spring",
    "\"Quoted\"",
    "Weekend",
    "Zürich",
    "Launch 🚀",
];
const NOUNS: [&str; 6] = ["campaign", "post", "update", "promo", "video", "story"];
const TAGS: [&str; 4] = ["a", "b", "c", "d"];

impl Dataset {
    /// The `scale * 100` items for `seed` (scale 0 is treated as 1).
    pub fn generate(seed: u64, scale: u32) -> Self {
        let count = scale.max(1) as usize * ITEMS_PER_SCALE;
        let mut rng = Rng::new(seed, "reference");
        let span = (UPDATED_UNTIL - UPDATED_FROM) as u64;
        let mut times: Vec<i64> = (0..count)
            .map(|_| UPDATED_FROM + rng.below(span) as i64)
            .collect();
        times.sort_unstable();
        let items = times
            .into_iter()
            .enumerate()
            .map(|(i, updated_at)| {
                let title = format!("{} {} #{i}", rng.pick(&ADJECTIVES), rng.pick(&NOUNS));
                let created = updated_at - rng.below(14 * 86_400) as i64;
                let score = rng.below(1_000) as i64;
                let likes = rng.below(5_000);
                let tags = TAGS
                    .iter()
                    .filter(|_| rng.chance(0.35))
                    .map(|t| (*t).to_owned())
                    .collect();
                Item {
                    id: (FIRST_ID + i as u64 * ID_STEP).to_string(),
                    title,
                    created_time: graph_time(created),
                    updated_at,
                    score: if i % 3 == 2 {
                        Score::Text(score.to_string())
                    } else {
                        Score::Number(score)
                    },
                    stats: Stats {
                        likes: Counted {
                            summary: Summary { total_count: likes },
                        },
                    },
                    tags,
                }
            })
            .collect();
        Self { items }
    }

    /// The items with `since <= updated_at < until` (each bound optional), in order.
    pub fn between(&self, since: Option<i64>, until: Option<i64>) -> &[Item] {
        let lo = since.map_or(0, |s| self.items.partition_point(|i| i.updated_at < s));
        let hi = until.map_or(self.items.len(), |u| {
            self.items.partition_point(|i| i.updated_at < u)
        });
        &self.items[lo..hi.max(lo)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_matches_the_contract() {
        let data = Dataset::generate(7, 2);
        assert_eq!(data.items.len(), 200);
        assert_eq!(data, Dataset::generate(7, 2));
        assert_ne!(data, Dataset::generate(8, 2));
        assert!(
            data.items
                .windows(2)
                .all(|w| w[0].updated_at <= w[1].updated_at)
        );
        assert!(
            data.items
                .windows(2)
                .all(|w| w[0].id_number() < w[1].id_number())
        );
        assert!(
            data.items
                .iter()
                .all(|i| (UPDATED_FROM..UPDATED_UNTIL).contains(&i.updated_at))
        );
        assert!(data.items.iter().all(|i| i.id_number() > 1 << 53));
        assert!(data.items.iter().all(|i| i.created_time.ends_with("+0000")));
        let strings = data
            .items
            .iter()
            .filter(|i| matches!(i.score, Score::Text(_)))
            .count();
        assert_eq!(strings, 200 / 3);
        let first = serde_json::to_value(&data.items[0]).unwrap();
        assert_eq!(first["id"], "9007199254740993");
        assert!(data.items.iter().any(|i| i.tags.is_empty()));
        let untagged = data.items.iter().find(|i| i.tags.is_empty()).unwrap();
        assert!(
            serde_json::to_value(untagged)
                .unwrap()
                .get("tags")
                .is_none()
        );
    }

    #[test]
    fn between_is_since_inclusive_until_exclusive() {
        let data = Dataset::generate(1, 1);
        let t = data.items[10].updated_at;
        let after = data.between(Some(t), None);
        assert!(after.iter().all(|i| i.updated_at >= t));
        assert_eq!(
            after.len(),
            data.items.iter().filter(|i| i.updated_at >= t).count()
        );
        let before = data.between(None, Some(t));
        assert!(before.iter().all(|i| i.updated_at < t));
        assert_eq!(before.len() + after.len(), data.items.len());
        assert!(data.between(Some(t), Some(t)).is_empty());
        assert!(data.between(Some(t + 10), Some(t)).is_empty());
    }
}
