//! A/B tests of two proportions (click-through, conversion): `two_proportion_z` and
//! `p_value`.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array};
use arrow::datatypes::{DataType, Float64Type};

use super::{Kpi, Param};

/// The z statistic of a two-proportion test with a pooled proportion: variant A had
/// `x1` successes in `n1` trials, variant B `x2` in `n2`. `None` when a count is missing or
/// negative, successes exceed trials, a variant has no trials, or the pooled proportion is 0
/// or 1 (no variance to test).
pub fn z(x1: f64, n1: f64, x2: f64, n2: f64) -> Option<f64> {
    if [x1, n1, x2, n2].iter().any(|v| !v.is_finite() || *v < 0.0)
        || n1 == 0.0
        || n2 == 0.0
        || x1 > n1
        || x2 > n2
    {
        return None;
    }
    let pooled = (x1 + x2) / (n1 + n2);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    (se > 0.0).then(|| (x1 / n1 - x2 / n2) / se)
}

/// The error function, to 1.2e-7 (Numerical Recipes' `erfc` by Chebyshev fit).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * x.abs());
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

/// The two-sided p-value of a standard normal statistic.
pub fn two_sided_p(z: f64) -> f64 {
    (1.0 - erf(z.abs() / std::f64::consts::SQRT_2)).clamp(0.0, 1.0)
}

/// `two_proportion_z(successes_a, trials_a, successes_b, trials_b)`: the z statistic that
/// variant A's rate differs from variant B's; NULL when it cannot be computed.
pub fn two_proportion_z() -> Kpi {
    Kpi::new(
        "two_proportion_z",
        &[Param::Number, Param::Number, Param::Number, Param::Number],
        DataType::Float64,
        |args| {
            let col = |i: usize| args[i].as_primitive::<Float64Type>();
            let (x1, n1, x2, n2) = (col(0), col(1), col(2), col(3));
            let out: Float64Array = (0..x1.len())
                .map(|i| {
                    let v = |a: &arrow::array::PrimitiveArray<Float64Type>| {
                        (!arrow::array::Array::is_null(a, i)).then(|| a.value(i))
                    };
                    z(v(x1)?, v(n1)?, v(x2)?, v(n2)?)
                })
                .collect();
            Arc::new(out) as ArrayRef
        },
    )
}

/// `p_value(z)`: the two-sided p-value of a z statistic (normal distribution).
pub fn p_value() -> Kpi {
    Kpi::new("p_value", &[Param::Number], DataType::Float64, |args| {
        let out: Float64Array = args[0]
            .as_primitive::<Float64Type>()
            .iter()
            .map(|z| z.map(two_sided_p))
            .collect();
        Arc::new(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_textbook_example() {
        // 200/1000 vs 150/1000: pooled 0.175, se 0.016993, z 2.9424, p 0.00326.
        let z = z(200.0, 1000.0, 150.0, 1000.0).unwrap();
        assert!((z - 2.94245).abs() < 1e-4, "{z}");
        assert!(
            (two_sided_p(z) - 0.003255).abs() < 1e-5,
            "{}",
            two_sided_p(z)
        );
        assert!((two_sided_p(1.959_964) - 0.05).abs() < 1e-6);
        assert!((two_sided_p(0.0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn refuses_what_cannot_be_tested() {
        assert_eq!(z(1.0, 0.0, 1.0, 10.0), None);
        assert_eq!(z(11.0, 10.0, 1.0, 10.0), None);
        assert_eq!(z(0.0, 10.0, 0.0, 10.0), None);
        assert_eq!(z(-1.0, 10.0, 1.0, 10.0), None);
    }
}
