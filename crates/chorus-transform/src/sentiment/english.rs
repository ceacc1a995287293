//! What a text's words say about whether it is English, counted in one pass without
//! allocating per word.
//!
//! Trigram language detection costs about 100 µs for a tweet-sized text, while the lexicon
//! model costs a few: function words settle most texts far more cheaply. A text with at
//! least two English function words, none of another language's, and where they make up a
//! sixth of its words is English; one with at least two function words of other Latin-script
//! languages, no English ones, and where they make up a quarter of its words is not. Everything
//! else (short texts, mixed texts, texts without function words) is left to the detector.
//!
//! The lists hold only words that are not also common in the other group: `on`, `in`, `a`,
//! `i`, `to`, `so`, `die`, `me`, `no`, `an`, `he`, `we`, `her`, `of`, `for` and `per` are in
//! neither, as they are words in English and in French, German, Polish, Spanish, Dutch,
//! Danish or Italian.

use super::vader;

/// The word counts of a text.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Words {
    /// Words with at least one letter.
    pub total: usize,
    /// English function words (see the module docs).
    pub english: usize,
    /// Function words of other Latin-script languages that are not English words.
    pub foreign: usize,
    /// Common English words or lexicon entries: the evidence for short texts.
    pub known: usize,
}

impl Words {
    /// Counts the words of a text.
    pub fn of(text: &str) -> Self {
        let mut counts = Self::default();
        let mut word = String::new();
        for raw in text.split_whitespace() {
            let raw = raw.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’');
            if !raw.chars().any(char::is_alphabetic) {
                continue;
            }
            word.clear();
            word.extend(
                raw.chars()
                    .map(|c| if c == '’' { '\'' } else { c })
                    .flat_map(char::to_lowercase),
            );
            counts.total += 1;
            let english = is_english(&word);
            counts.english += usize::from(english);
            counts.foreign += usize::from(is_foreign(&word));
            counts.known += usize::from(english || is_common(&word) || vader::in_lexicon(&word));
        }
        counts
    }

    /// Whether the function words alone show the text is English.
    pub fn clearly_english(&self) -> bool {
        self.english >= 2 && self.foreign == 0 && self.english * 6 >= self.total
    }

    /// Whether the function words alone show the text is in another language.
    pub fn clearly_foreign(&self) -> bool {
        self.foreign >= 2 && self.english == 0 && self.foreign * 4 >= self.total
    }
}

/// English function words that are not also common words of another Latin-script language.
fn is_english(word: &str) -> bool {
    matches!(
        word,
        "the"
            | "and"
            | "this"
            | "that"
            | "with"
            | "was"
            | "were"
            | "have"
            | "has"
            | "had"
            | "you"
            | "your"
            | "you're"
            | "it"
            | "it's"
            | "i'm"
            | "i've"
            | "i'll"
            | "not"
            | "are"
            | "they"
            | "their"
            | "them"
            | "these"
            | "those"
            | "what"
            | "when"
            | "which"
            | "who"
            | "why"
            | "how"
            | "would"
            | "could"
            | "should"
            | "been"
            | "being"
            | "but"
            | "my"
            | "our"
            | "just"
            | "can"
            | "can't"
            | "don't"
            | "didn't"
            | "doesn't"
            | "isn't"
            | "won't"
            | "will"
            | "at"
            | "all"
            | "be"
            | "from"
            | "there"
            | "here"
            | "about"
            | "very"
            | "really"
            | "if"
            | "get"
            | "got"
            | "because"
            | "than"
            | "then"
            | "into"
            | "out"
            | "up"
            | "every"
            | "his"
            | "him"
            | "she"
    )
}

/// Function words of French, Spanish, Portuguese, Italian, German, Dutch, the Scandinavian
/// languages, Polish, Czech, Romanian, Hungarian, Turkish, Indonesian, Tagalog, Vietnamese
/// and Finnish that are not English words.
fn is_foreign(word: &str) -> bool {
    matches!(
        word,
        // French
        "le" | "la" | "les" | "des" | "du" | "un" | "une" | "est" | "et" | "je" | "tu" | "il"
            | "nous" | "vous" | "ils" | "elle" | "ce" | "cette" | "ces" | "mes" | "pas" | "que"
            | "qui" | "dans" | "sur" | "avec" | "très" | "à" | "au" | "aux" | "c'est" | "j'ai"
            | "n'est" | "mais"
            // Spanish and Portuguese
            | "el" | "los" | "las" | "es" | "y" | "por" | "para" | "con" | "una" | "del" | "al"
            | "muy" | "pero" | "mi" | "lo" | "se" | "su" | "sus" | "está" | "o" | "os" | "um"
            | "uma" | "não" | "com" | "em" | "da" | "dos" | "das" | "é" | "muito" | "mas"
            | "meu" | "minha"
            // Italian
            | "di" | "che" | "è" | "non" | "della" | "sono" | "molto" | "questo" | "ma" | "gli"
            // German and Dutch
            | "der" | "und" | "ist" | "nicht" | "ich" | "ein" | "eine" | "mit" | "sehr" | "auf"
            | "den" | "dem" | "auch" | "sie" | "wir" | "zu" | "von" | "für" | "het" | "een"
            | "niet" | "zijn" | "ik" | "en" | "van" | "op" | "dat" | "maar" | "voor"
            // Swedish, Danish and Norwegian
            | "och" | "att" | "är" | "inte" | "jag" | "det" | "som" | "för" | "på" | "og"
            | "ikke" | "er" | "jeg" | "til" | "med" | "av" | "af"
            // Polish, Czech and Slovak
            | "nie" | "jest" | "się" | "na" | "w" | "z" | "że" | "ale" | "bardzo" | "jsem"
            | "sa"
            // Romanian, Hungarian and Turkish
            | "și" | "este" | "nu" | "în" | "pe" | "cu" | "foarte" | "az" | "és" | "nem"
            | "egy" | "hogy" | "bir" | "ve" | "bu" | "çok" | "için" | "ile"
            // Indonesian, Malay and Tagalog
            | "yang" | "dan" | "ini" | "itu" | "tidak" | "saya" | "ada" | "untuk" | "dengan"
            | "ang" | "ng" | "mga" | "ko" | "ako" | "hindi"
            // Vietnamese and Finnish
            | "của" | "và" | "là" | "không" | "có" | "rất" | "này" | "ja" | "ei" | "että"
            | "oli" | "tämä"
    )
}

/// Common English words beyond the function words: with the lexicon, the evidence the
/// detector's weak guesses about short texts are checked against.
fn is_common(word: &str) -> bool {
    matches!(
        word,
        "a" | "after"
            | "again"
            | "also"
            | "am"
            | "an"
            | "any"
            | "as"
            | "back"
            | "before"
            | "by"
            | "come"
            | "day"
            | "did"
            | "do"
            | "does"
            | "even"
            | "ever"
            | "first"
            | "for"
            | "go"
            | "going"
            | "he"
            | "her"
            | "i"
            | "in"
            | "is"
            | "its"
            | "know"
            | "last"
            | "like"
            | "make"
            | "many"
            | "me"
            | "more"
            | "most"
            | "much"
            | "never"
            | "new"
            | "news"
            | "next"
            | "no"
            | "now"
            | "of"
            | "on"
            | "one"
            | "only"
            | "or"
            | "other"
            | "over"
            | "people"
            | "product"
            | "right"
            | "said"
            | "see"
            | "so"
            | "some"
            | "still"
            | "such"
            | "sure"
            | "team"
            | "thing"
            | "time"
            | "to"
            | "today"
            | "too"
            | "us"
            | "way"
            | "wasn't"
            | "we"
            | "week"
            | "well"
            | "where"
            | "year"
            | "yes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_word_is_in_both_lists() {
        for word in [
            "the", "and", "it", "at", "all", "be", "was", "will", "can", "she",
        ] {
            assert!(is_english(word) && !is_foreign(word), "{word}");
        }
        for word in [
            "le", "el", "und", "het", "och", "yang", "dan", "je", "en", "o",
        ] {
            assert!(is_foreign(word) && !is_english(word), "{word}");
        }
    }

    #[test]
    fn function_words_settle_typical_texts() {
        let english = [
            "I love this product, the support team was great!",
            "The store opens at 9am on Monday.",
            "not bad at all 😍",
            "GREAT news!!! Can’t wait to try it :)",
            "Shipping took three weeks and nobody answered my emails. Never again.",
        ];
        for text in english {
            let words = Words::of(text);
            assert!(words.clearly_english(), "{text}: {words:?}");
            assert!(!words.clearly_foreign(), "{text}: {words:?}");
        }
        let foreign = [
            "Ce produit est vraiment magnifique, je le recommande à tous mes amis.",
            "Este producto es horrible, no funciona y el servicio al cliente es pésimo.",
            "Das ist das beste Produkt, das ich je gekauft habe, ich bin sehr zufrieden.",
            "Produk ini sangat bagus dan saya suka sekali",
        ];
        for text in foreign {
            let words = Words::of(text);
            assert!(words.clearly_foreign(), "{text}: {words:?}");
            assert!(!words.clearly_english(), "{text}: {words:?}");
        }
    }

    #[test]
    fn mixed_and_short_texts_are_left_to_the_detector() {
        for text in [
            "Totally broken.",
            "Das ist the best thing ever",
            "Świetny produkt, polecam wszystkim!",
            "VADER is smart, handsome, and funny.",
        ] {
            let words = Words::of(text);
            assert!(
                !words.clearly_english() && !words.clearly_foreign(),
                "{text}: {words:?}"
            );
        }
    }
}
