//! A lexicon- and rule-based sentiment model after VADER (Hutto & Gilbert, 2014).
//!
//! Words get their valence from the VADER lexicon (`data/vader_lexicon.tsv`, MIT licence, see
//! `data/VADER-LICENSE.txt`); emoji are first replaced by their descriptions from the VADER
//! emoji lexicon. The rules then adjust each valence: intensifiers and dampeners up to three
//! words before, negations up to three words before, a word in capitals among words that are
//! not, "least", a few idioms, and the contrastive "but" (what comes before it counts half,
//! what comes after one and a half times). Exclamation and question marks add emphasis. The
//! sum is squashed into [-1, 1] as the compound score.
//!
//! This module is the English model only; [`super`] decides whether a text is one it covers.

use std::collections::HashMap;
use std::sync::LazyLock;

/// The valence a booster adds (or a dampener removes).
const BOOST: f64 = 0.293;
/// The valence a word in capitals among lowercase words adds.
const CAPS_BOOST: f64 = 0.733;
/// The factor a negation multiplies the valence by.
const NEGATION: f64 = -0.74;
/// The constant of the normalisation `x / sqrt(x² + ALPHA)`.
const ALPHA: f64 = 15.0;

static LEXICON: LazyLock<HashMap<String, f64>> = LazyLock::new(|| {
    parse_lexicon(include_str!("../../data/vader_lexicon.tsv"))
        .filter_map(|(w, v)| Some((w.to_owned(), v.parse().ok()?)))
        .collect()
});

static EMOJI: LazyLock<HashMap<char, &'static str>> = LazyLock::new(|| {
    parse_lexicon(include_str!("../../data/vader_emoji_lexicon.tsv"))
        .filter_map(|(e, description)| {
            // Only single-character emoji: a text is scanned one character at a time.
            let mut chars = e.chars();
            let c = chars.next()?;
            chars.next().is_none().then_some((c, description))
        })
        .collect()
});

/// Whether a lowercase word is in the lexicon.
pub fn in_lexicon(word: &str) -> bool {
    LEXICON.contains_key(word)
}

/// Lines of `key<TAB>value`; a later key wins over an earlier one.
fn parse_lexicon(text: &'static str) -> impl Iterator<Item = (&'static str, &'static str)> {
    text.lines().filter_map(|line| line.split_once('\t'))
}

fn is_negation(word: &str) -> bool {
    const NEGATIONS: &[&str] = &[
        "aint",
        "arent",
        "cannot",
        "cant",
        "couldnt",
        "darent",
        "didnt",
        "doesnt",
        "ain't",
        "aren't",
        "can't",
        "couldn't",
        "daren't",
        "didn't",
        "doesn't",
        "dont",
        "hadnt",
        "hasnt",
        "havent",
        "isnt",
        "mightnt",
        "mustnt",
        "neither",
        "don't",
        "hadn't",
        "hasn't",
        "haven't",
        "isn't",
        "mightn't",
        "mustn't",
        "neednt",
        "needn't",
        "never",
        "none",
        "nope",
        "nor",
        "not",
        "nothing",
        "nowhere",
        "oughtnt",
        "shant",
        "shouldnt",
        "uhuh",
        "wasnt",
        "werent",
        "oughtn't",
        "shan't",
        "shouldn't",
        "uh-uh",
        "wasn't",
        "weren't",
        "without",
        "wont",
        "wouldnt",
        "won't",
        "wouldn't",
        "rarely",
        "seldom",
        "despite",
    ];
    NEGATIONS.contains(&word) || word.contains("n't")
}

/// The valence change of an intensifier (positive) or dampener (negative), for a lowercase
/// word or two-word phrase.
fn booster(word: &str) -> Option<f64> {
    const UP: &[&str] = &[
        "absolutely",
        "amazingly",
        "awfully",
        "completely",
        "considerable",
        "considerably",
        "decidedly",
        "deeply",
        "effing",
        "enormous",
        "enormously",
        "entirely",
        "especially",
        "exceptional",
        "exceptionally",
        "extreme",
        "extremely",
        "fabulously",
        "flipping",
        "flippin",
        "frackin",
        "fracking",
        "fricking",
        "frickin",
        "frigging",
        "friggin",
        "fully",
        "fuckin",
        "fucking",
        "fuggin",
        "fugging",
        "greatly",
        "hella",
        "highly",
        "hugely",
        "incredible",
        "incredibly",
        "intensely",
        "major",
        "majorly",
        "more",
        "most",
        "particularly",
        "purely",
        "quite",
        "really",
        "remarkably",
        "so",
        "substantially",
        "thoroughly",
        "total",
        "totally",
        "tremendous",
        "tremendously",
        "uber",
        "unbelievably",
        "unusually",
        "utter",
        "utterly",
        "very",
    ];
    const DOWN: &[&str] = &[
        "almost",
        "barely",
        "hardly",
        "just enough",
        "kind of",
        "kinda",
        "kindof",
        "kind-of",
        "less",
        "little",
        "marginal",
        "marginally",
        "occasional",
        "occasionally",
        "partly",
        "scarce",
        "scarcely",
        "slight",
        "slightly",
        "somewhat",
        "sort of",
        "sorta",
        "sortof",
        "sort-of",
    ];
    if UP.contains(&word) {
        Some(BOOST)
    } else if DOWN.contains(&word) {
        Some(-BOOST)
    } else {
        None
    }
}

/// Phrases whose meaning is not the sum of their words, with their valence.
fn idiom(phrase: &str) -> Option<f64> {
    Some(match phrase {
        "the shit" | "the bomb" | "to die for" => 3.0,
        "bad ass" | "badass" => 1.5,
        "bus stop" => 0.0,
        "yeah right" => -2.0,
        "kiss of death" => -1.5,
        "beating heart" => 3.1,
        "broken heart" => -2.9,
        _ => return None,
    })
}

/// Whether a word has capitals and no lowercase letters.
fn is_shouting(word: &str) -> bool {
    word.chars().any(char::is_uppercase) && !word.chars().any(char::is_lowercase)
}

/// Splits on whitespace and strips surrounding punctuation from words, but keeps tokens that
/// would shrink to two characters or fewer as they are, so that `:)` and `:D` survive.
fn tokens(text: &str) -> Vec<&str> {
    text.split_whitespace()
        .map(|t| {
            let stripped = t.trim_matches(|c: char| c.is_ascii_punctuation());
            if stripped.chars().count() <= 2 {
                t
            } else {
                stripped
            }
        })
        .collect()
}

/// Replaces every emoji the lexicon knows by its description, separated by spaces.
fn describe_emoji(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut after_space = true;
    for c in text.chars() {
        if let Some(description) = EMOJI.get(&c) {
            if !after_space {
                out.push(' ');
            }
            out.push_str(description);
            after_space = false;
        } else {
            out.push(c);
            after_space = c == ' ';
        }
    }
    out
}

/// Squashes a sum of valences into [-1, 1].
fn normalize(score: f64) -> f64 {
    (score / (score * score + ALPHA).sqrt()).clamp(-1.0, 1.0)
}

/// Emphasis from exclamation marks (up to four) and repeated question marks.
fn punctuation_emphasis(text: &str) -> f64 {
    let exclamations = text.matches('!').count().min(4) as f64 * 0.292;
    let questions = match text.matches('?').count() {
        0 | 1 => 0.0,
        n @ 2..=3 => n as f64 * 0.18,
        _ => 0.96,
    };
    exclamations + questions
}

/// The compound sentiment of an English text in [-1, 1], rounded to four decimals; 0 when no
/// word carries sentiment.
pub fn compound(text: &str) -> f64 {
    let text = describe_emoji(text);
    let words = tokens(text.trim());
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let shouting = words.iter().filter(|w| is_shouting(w)).count();
    let caps_differ = shouting > 0 && shouting < words.len();

    let mut valences = Vec::with_capacity(words.len());
    for i in 0..words.len() {
        let w = lower[i].as_str();
        let is_modifier =
            booster(w).is_some() || (w == "kind" && lower.get(i + 1).is_some_and(|n| n == "of"));
        valences.push(if is_modifier {
            0.0
        } else {
            valence(&words, &lower, i, caps_differ)
        });
    }

    // The contrastive "but": what comes before it counts half, what comes after more.
    if let Some(but) = lower.iter().position(|w| w == "but") {
        for (i, v) in valences.iter_mut().enumerate() {
            if i < but {
                *v *= 0.5;
            } else if i > but {
                *v *= 1.5;
            }
        }
    }

    let mut sum: f64 = valences.iter().sum();
    if sum == 0.0 {
        return 0.0;
    }
    let emphasis = punctuation_emphasis(&text);
    sum += emphasis.copysign(sum);
    (normalize(sum) * 10_000.0).round() / 10_000.0
}

/// The valence of word `i` after the rules that look at the words around it.
fn valence(words: &[&str], lower: &[String], i: usize, caps_differ: bool) -> f64 {
    let w = lower[i].as_str();
    let Some(&base) = LEXICON.get(w) else {
        return 0.0;
    };
    let in_lexicon = |j: usize| LEXICON.contains_key(&lower[j]);
    let mut v = base;

    // "no" before another sentiment word negates it rather than counting itself.
    if w == "no" && i + 1 < words.len() && in_lexicon(i + 1) {
        v = 0.0;
    }
    if (i > 0 && lower[i - 1] == "no")
        || (i > 1 && lower[i - 2] == "no")
        || (i > 2 && lower[i - 3] == "no" && matches!(lower[i - 1].as_str(), "or" | "nor"))
    {
        v = base * NEGATION;
    }

    if caps_differ && is_shouting(words[i]) {
        v += if v > 0.0 { CAPS_BOOST } else { -CAPS_BOOST };
    }

    for distance in 1..=3 {
        if i < distance || in_lexicon(i - distance) {
            continue;
        }
        let before = i - distance;
        let mut boost = booster(&lower[before]).unwrap_or(0.0);
        if boost != 0.0 {
            if v < 0.0 {
                boost = -boost;
            }
            if caps_differ && is_shouting(words[before]) {
                boost += if v > 0.0 { CAPS_BOOST } else { -CAPS_BOOST };
            }
            boost *= match distance {
                2 => 0.95,
                3 => 0.9,
                _ => 1.0,
            };
        }
        v += boost;
        v = negation(v, lower, distance, i);
        if distance == 3 {
            v = idioms(v, lower, i);
        }
    }

    // "least" negates, except in "at least" and "very least".
    if i > 0 && lower[i - 1] == "least" && !in_lexicon(i - 1) {
        let exempt = i > 1 && matches!(lower[i - 2].as_str(), "at" | "very");
        if !exempt {
            v *= NEGATION;
        }
    }
    v
}

/// Applies a negation `distance` words before word `i`.
fn negation(v: f64, lower: &[String], distance: usize, i: usize) -> f64 {
    let at = |d: usize| lower[i - d].as_str();
    match distance {
        1 if is_negation(at(1)) => v * NEGATION,
        2 if at(2) == "never" && matches!(at(1), "so" | "this") => v * 1.25,
        2 if at(2) == "without" && at(1) == "doubt" => v,
        2 if is_negation(at(2)) => v * NEGATION,
        3 if (at(3) == "never" && matches!(at(2), "so" | "this"))
            || matches!(at(1), "so" | "this") =>
        {
            v * 1.25
        }
        3 if at(3) == "without" && (at(2) == "doubt" || at(1) == "doubt") => v,
        3 if is_negation(at(3)) => v * NEGATION,
        _ => v,
    }
}

/// Idioms around word `i` replace its valence; two-word dampeners before it adjust it.
fn idioms(mut v: f64, lower: &[String], i: usize) -> f64 {
    let w = |j: usize| lower[j].as_str();
    let before = [
        format!("{} {}", w(i - 1), w(i)),
        format!("{} {} {}", w(i - 2), w(i - 1), w(i)),
        format!("{} {}", w(i - 2), w(i - 1)),
        format!("{} {} {}", w(i - 3), w(i - 2), w(i - 1)),
        format!("{} {}", w(i - 3), w(i - 2)),
    ];
    if let Some(found) = before.iter().find_map(|p| idiom(p)) {
        v = found;
    }
    if let Some(found) = lower
        .get(i + 1)
        .and_then(|n| idiom(&format!("{} {n}", w(i))))
    {
        v = found;
    }
    if let (Some(n1), Some(n2)) = (lower.get(i + 1), lower.get(i + 2))
        && let Some(found) = idiom(&format!("{} {n1} {n2}", w(i)))
    {
        v = found;
    }
    for phrase in [
        format!("{} {} {}", w(i - 3), w(i - 2), w(i - 1)),
        format!("{} {}", w(i - 3), w(i - 2)),
        format!("{} {}", w(i - 2), w(i - 1)),
    ] {
        if let Some(b) = booster(&phrase) {
            v += b;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexicon_and_emoji_load() {
        assert!(LEXICON.len() > 7000);
        assert_eq!(LEXICON.get("good"), Some(&1.9));
        assert!(EMOJI.get(&'😁').is_some());
    }

    #[test]
    fn emoticons_survive_tokenizing() {
        assert_eq!(
            tokens("Make sure you :) or :D today!"),
            ["Make", "sure", "you", ":)", "or", ":D", "today"]
        );
    }

    #[test]
    fn no_sentiment_words_score_zero() {
        assert_eq!(compound("The meeting is on Tuesday."), 0.0);
        assert_eq!(compound(""), 0.0);
    }
}
