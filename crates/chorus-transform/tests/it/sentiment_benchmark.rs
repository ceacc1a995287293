//! The published VADER examples (Hutto's vaderSentiment README, "Output for the above example
//! code") with their compound scores: the model must reproduce each within [`TOLERANCE`].

use chorus_transform::sentiment::{self, vader};

/// The largest allowed difference from the published compound score.
const TOLERANCE: f64 = 0.005;

const PUBLISHED: &[(&str, f64)] = &[
    ("VADER is smart, handsome, and funny.", 0.8316),
    ("VADER is smart, handsome, and funny!", 0.8439),
    ("VADER is very smart, handsome, and funny.", 0.8545),
    ("VADER is VERY SMART, handsome, and FUNNY.", 0.9227),
    ("VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342),
    (
        "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
        0.9469,
    ),
    ("VADER is not smart, handsome, nor funny.", -0.7424),
    ("The book was good.", 0.4404),
    ("At least it isn't a horrible book.", 0.431),
    ("The book was only kind of good.", 0.3832),
    (
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
        -0.7042,
    ),
    ("Today SUX!", -0.5461),
    ("Today only kinda sux! But I'll get by, lol", 0.5249),
    ("Make sure you :) or :D today!", 0.8633),
    ("Catch utf-8 emoji such as 💘 and 💋 and 😁", 0.7003),
    ("Not bad at all", 0.431),
];

#[test]
fn the_model_reproduces_the_published_examples() {
    let mut failures = Vec::new();
    for (text, expected) in PUBLISHED {
        let got = vader::compound(text);
        if (got - expected).abs() > TOLERANCE {
            failures.push(format!("{text:?}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_published_examples_are_scored_as_english() {
    let mut failures = Vec::new();
    for (text, _) in PUBLISHED {
        if sentiment::score(text).is_none() {
            failures.push(format!(
                "{text:?} (language {:?})",
                sentiment::detect_language(text)
            ));
        }
    }
    assert!(failures.is_empty(), "not scored:\n{}", failures.join("\n"));
}
