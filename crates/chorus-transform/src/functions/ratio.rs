//! Ratios that do not fail on a zero base: `safe_div`, `rate`, `engagement_rate`.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type};

use super::{Kpi, Param};

/// `a / b`, or `None` when either is missing or `b` is zero.
pub fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b != 0.0 => Some(a / b),
        _ => None,
    }
}

fn ratio_of(args: &[ArrayRef], factor: f64) -> ArrayRef {
    let a = args[0].as_primitive::<Float64Type>();
    let b = args[1].as_primitive::<Float64Type>();
    let out: Float64Array = a
        .iter()
        .zip(b.iter())
        // Multiply first: rate(34, 1000) is 3.4, not 3.4000000000000004.
        .map(|(a, b)| div(a.map(|a| a * factor), b))
        .collect();
    Arc::new(out)
}

/// `safe_div(a, b)`: a / b as Float64; NULL when b is 0 or NULL.
pub fn safe_div() -> Kpi {
    Kpi::new(
        "safe_div",
        &[Param::Number, Param::Number],
        DataType::Float64,
        |args| ratio_of(args, 1.0),
    )
}

/// `rate(a, b)`: safe_div(a, b) × 100, a percentage.
pub fn rate() -> Kpi {
    Kpi::new(
        "rate",
        &[Param::Number, Param::Number],
        DataType::Float64,
        |args| ratio_of(args, 100.0),
    )
}

/// `engagement_rate(engagements, base)`: rate(engagements, base), base being reach or followers.
pub fn engagement_rate() -> Kpi {
    Kpi::new(
        "engagement_rate",
        &[Param::Number, Param::Number],
        DataType::Float64,
        |args| ratio_of(args, 100.0),
    )
}
