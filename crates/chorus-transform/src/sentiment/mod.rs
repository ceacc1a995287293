//! Sentiment and language of short social texts (posts, comments, mentions).
//!
//! [`score`] is the compound sentiment in [-1, 1] from the English lexicon model in [`vader`],
//! or `None` when the text is in a language the lexicon does not cover: a number computed from
//! English word lists over a French or Japanese text would be wrong, and NULL says so.
//! [`detect_language`] names the language with `whatlang` (trigram statistics).
//!
//! The rule for deciding what the model covers:
//! - an empty or blank text has no sentiment (NULL);
//! - a text with no letters (only emoji, emoticons, digits or punctuation) is scored: emoji
//!   and emoticons mean the same in every language;
//! - a text not in the Latin script is not English;
//! - function words settle most texts cheaply (the `english` module): at least two English ones and
//!   no other language's means English, the reverse means not;
//! - otherwise the text is scored only when the detector says it is English — reliably or with
//!   a confidence of at least one half;
//! - for a short text the detector is unsure about, the words decide: it is scored when most
//!   of them (at least a third, if the detector's weak guess is English) are common English
//!   words or lexicon entries. Short texts in other languages therefore give NULL rather than a
//!   guess; a two-word French "c'est super" may still be scored, as "super" is English too.

mod english;
pub mod vader;

use whatlang::{Lang, Script};

use english::Words;

/// The score at or above which a text is `positive`.
pub const POSITIVE_AT: f64 = 0.05;
/// The score at or below which a text is `negative`.
pub const NEGATIVE_AT: f64 = -0.05;

/// The label of a compound score: `positive`, `negative` or `neutral`.
pub fn label(score: f64) -> &'static str {
    if score >= POSITIVE_AT {
        "positive"
    } else if score <= NEGATIVE_AT {
        "negative"
    } else {
        "neutral"
    }
}

/// The compound sentiment of a text in [-1, 1], or `None` when the text is not one the
/// English lexicon covers (see the module docs).
pub fn score(text: &str) -> Option<f64> {
    covered(text).then(|| vader::compound(text))
}

/// The ISO 639-1 code of a text's language, or `None` when the detector is not sure (it
/// does not call its guess reliable and its confidence is below one half). A Latin-script
/// text whose function words are clearly English is `en` without running the detector.
pub fn detect_language(text: &str) -> Option<&'static str> {
    if whatlang::detect_script(text) == Some(Script::Latin) && Words::of(text).clearly_english() {
        return Some("en");
    }
    let info = whatlang::detect(text)?;
    if info.is_reliable() || info.confidence() >= CONFIDENT {
        iso_639_1(info.lang())
    } else {
        None
    }
}

/// The confidence at or above which an unsure detection is still taken.
const CONFIDENT: f64 = 0.5;

/// Whether the English model applies to a text.
fn covered(text: &str) -> bool {
    if text.trim().is_empty() {
        return false;
    }
    if !text.chars().any(char::is_alphabetic) {
        return true;
    }
    if whatlang::detect_script(text) != Some(Script::Latin) {
        return false;
    }
    let words = Words::of(text);
    if words.clearly_english() {
        return true;
    }
    if words.clearly_foreign() {
        return false;
    }
    let Some(info) = whatlang::detect(text) else {
        return false;
    };
    let english = info.lang() == Lang::Eng;
    if info.is_reliable() || info.confidence() >= CONFIDENT {
        return english;
    }
    // Short texts: the detector's guess is weak evidence, so look at the words themselves.
    if english {
        words.known * 3 >= words.total
    } else {
        words.known * 2 > words.total
    }
}

/// The ISO 639-1 code of a `whatlang` language.
fn iso_639_1(lang: Lang) -> Option<&'static str> {
    Some(match lang.code() {
        "epo" => "eo",
        "eng" => "en",
        "rus" => "ru",
        "cmn" => "zh",
        "spa" => "es",
        "por" => "pt",
        "ita" => "it",
        "ben" => "bn",
        "fra" => "fr",
        "deu" => "de",
        "ukr" => "uk",
        "kat" => "ka",
        "ara" => "ar",
        "hin" => "hi",
        "jpn" => "ja",
        "heb" => "he",
        "yid" => "yi",
        "pol" => "pl",
        "amh" => "am",
        "jav" => "jv",
        "kor" => "ko",
        "nob" => "nb",
        "dan" => "da",
        "swe" => "sv",
        "fin" => "fi",
        "tur" => "tr",
        "nld" => "nl",
        "hun" => "hu",
        "ces" => "cs",
        "ell" => "el",
        "bul" => "bg",
        "bel" => "be",
        "mar" => "mr",
        "kan" => "kn",
        "ron" => "ro",
        "slv" => "sl",
        "hrv" => "hr",
        "srp" => "sr",
        "mkd" => "mk",
        "lit" => "lt",
        "lav" => "lv",
        "est" => "et",
        "tam" => "ta",
        "vie" => "vi",
        "urd" => "ur",
        "tha" => "th",
        "guj" => "gu",
        "uzb" => "uz",
        "pan" => "pa",
        "aze" => "az",
        "ind" => "id",
        "tel" => "te",
        "pes" => "fa",
        "mal" => "ml",
        "ori" => "or",
        "mya" => "my",
        "nep" => "ne",
        "sin" => "si",
        "khm" => "km",
        "tuk" => "tk",
        "aka" => "ak",
        "zul" => "zu",
        "sna" => "sn",
        "afr" => "af",
        "lat" => "la",
        "slk" => "sk",
        "cat" => "ca",
        "tgl" => "tl",
        "hye" => "hy",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_whatlang_language_has_a_two_letter_code() {
        for lang in Lang::all() {
            assert!(iso_639_1(*lang).is_some(), "{lang:?}");
        }
    }

    #[test]
    fn labels_follow_the_thresholds() {
        assert_eq!(label(0.05), "positive");
        assert_eq!(label(0.0499), "neutral");
        assert_eq!(label(-0.05), "negative");
    }
}
