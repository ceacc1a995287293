//! `sentiment_score`, `sentiment_label` and `detect_language` over text columns.

use std::sync::Arc;

use arrow::array::{AsArray, Float64Array, StringArray};
use arrow::datatypes::DataType;

use super::{Kpi, Param};
use crate::sentiment;

/// `sentiment_score(text)`: compound sentiment in [-1, 1]; NULL for NULL or for languages the
/// lexicon does not cover.
pub fn sentiment_score() -> Kpi {
    Kpi::new(
        "sentiment_score",
        &[Param::Text],
        DataType::Float64,
        |args| {
            let out: Float64Array = args[0]
                .as_string::<i32>()
                .iter()
                .map(|t| sentiment::score(t?))
                .collect();
            Arc::new(out)
        },
    )
}

/// `sentiment_label(text)`: `positive`, `negative` or `neutral`; NULL where the score is.
pub fn sentiment_label() -> Kpi {
    Kpi::new("sentiment_label", &[Param::Text], DataType::Utf8, |args| {
        let out: StringArray = args[0]
            .as_string::<i32>()
            .iter()
            .map(|t| sentiment::score(t?).map(sentiment::label))
            .collect();
        Arc::new(out)
    })
}

/// `detect_language(text)`: ISO 639-1 code of the text's language, or NULL when unsure.
pub fn detect_language() -> Kpi {
    Kpi::new("detect_language", &[Param::Text], DataType::Utf8, |args| {
        let out: StringArray = args[0]
            .as_string::<i32>()
            .iter()
            .map(|t| sentiment::detect_language(t?))
            .collect();
        Arc::new(out)
    })
}
