//! The KPI functions every `sql` transform has: ratios, UTM parameters, social networks, GA4
//! channel groups, sentiment and language, and the two-proportion test of A/B comparisons.
//!
//! Each function is a [`Kpi`]: a name, typed parameters and a plain Rust function over Arrow
//! arrays. [`all`] lists them and [`register_all`] adds them to a DataFusion session. The
//! logic of each lives in its own module ([`ratio`], [`url`], [`social`], [`channel`],
//! [`text`]), callable without DataFusion; this module only adapts it to SQL.

pub mod channel;
pub mod ratio;
pub mod social;
pub mod stats;
pub mod text;
pub mod url;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{Result as DfResult, ScalarValue, plan_err};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The type a parameter is coerced to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Param {
    /// Any string type, passed as `Utf8`.
    Text,
    /// Any numeric type, passed as `Float64`.
    Number,
}

/// One KPI function: its SQL name, parameters, return type and implementation.
#[derive(Debug)]
pub struct Kpi {
    name: &'static str,
    params: &'static [Param],
    returns: DataType,
    eval: fn(&[ArrayRef]) -> ArrayRef,
    signature: Signature,
}

impl Kpi {
    /// A function taking `params` and returning `returns`, computed by `eval` over arrays of
    /// the coerced parameter types (`Utf8`, `Float64`), all of one length.
    pub fn new(
        name: &'static str,
        params: &'static [Param],
        returns: DataType,
        eval: fn(&[ArrayRef]) -> ArrayRef,
    ) -> Self {
        Self {
            name,
            params,
            returns,
            eval,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

// Functions are identified by name; comparing function pointers is not meaningful.
impl PartialEq for Kpi {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Kpi {}

impl Hash for Kpi {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    )
}

impl ScalarUDFImpl for Kpi {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns.clone())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        if arg_types.len() != self.params.len() {
            return plan_err!(
                "{} takes {} argument(s), got {}",
                self.name,
                self.params.len(),
                arg_types.len()
            );
        }
        let mut out = Vec::with_capacity(arg_types.len());
        for (i, (param, t)) in self.params.iter().zip(arg_types).enumerate() {
            match param {
                Param::Text if is_text(t) => out.push(DataType::Utf8),
                Param::Number if t.is_numeric() || t.is_null() => out.push(DataType::Float64),
                Param::Text => {
                    return plan_err!("argument {} of {} must be text, got {t}", i + 1, self.name);
                }
                Param::Number => {
                    return plan_err!(
                        "argument {} of {} must be a number, got {t}",
                        i + 1,
                        self.name
                    );
                }
            }
        }
        Ok(out)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.eval)(&arrays);
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

/// Every KPI function.
pub fn all() -> Vec<Kpi> {
    vec![
        ratio::safe_div(),
        ratio::rate(),
        ratio::engagement_rate(),
        url::utm_param(),
        social::social_network(),
        channel::channel_group(),
        text::sentiment_score(),
        text::sentiment_label(),
        text::detect_language(),
        stats::two_proportion_z(),
        stats::p_value(),
    ]
}

/// Registers every KPI function with a DataFusion session (or anything else that holds
/// functions).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> DfResult<()> {
    for kpi in all() {
        registry.register_udf(Arc::new(ScalarUDF::new_from_impl(kpi)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<&str> = all().iter().map(|k| k.name).collect();
        assert_eq!(names.len(), all().len());
    }
}
