//! The grammar of Kubernetes resource quantities (`2`, `500m`, `4Gi`,
//! `1e3`), and their value, so that `1024Mi` as configured and `1Gi` as the
//! API server writes it back are seen to be the same.

use tf_framework::validate;

/// The pattern of a quantity: a decimal number and an optional binary
/// (`Ki`…`Ei`), decimal (`n`, `u`, `m`, `k`, `M`…`E`) or exponent suffix.
const PATTERN: &str =
    r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$";

/// The validator of a quantity attribute.
pub fn quantity() -> validate::Matches {
    validate::matches(
        PATTERN,
        "must be a Kubernetes quantity such as \"2\", \"500m\", \"4Gi\" or \"10G\"",
    )
}

/// A quantity's value (bytes for memory and storage, cores for CPU);
/// `None` when it is not a quantity.
pub fn value(text: &str) -> Option<f64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "Ki" => 2f64.powi(10),
        "Mi" => 2f64.powi(20),
        "Gi" => 2f64.powi(30),
        "Ti" => 2f64.powi(40),
        "Pi" => 2f64.powi(50),
        "Ei" => 2f64.powi(60),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent if exponent.starts_with(['e', 'E']) => 10f64.powi(exponent[1..].parse().ok()?),
        _ => return None,
    };
    Some(number * factor)
}

/// Whether two quantities have the same value.
pub fn same(a: &str, b: &str) -> bool {
    match (value(a), value(b)) {
        (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_as_the_api_server_writes_them_back() {
        assert!(same("1024Mi", "1Gi"));
        assert!(same("2", "2000m"));
        assert!(same("1e3", "1k"));
        assert!(same("0.5", "500m"));
        assert!(!same("1G", "1Gi"));
        assert!(!same("10Gi", "20Gi"));
        assert_eq!(value("4Gi"), Some(4.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(value("4 apples"), None);
    }

    #[test]
    fn the_grammar() {
        use tf_framework::validate::Validator as _;
        let accepts = |text: &str| {
            let mut diagnostics = tf_protocol::Diagnostics::default();
            quantity().validate(
                &tf_protocol::Value::String(text.to_owned()),
                &tf_protocol::AttributePath::attr("cpu"),
                &mut diagnostics,
            );
            !diagnostics.has_error()
        };
        for good in ["2", "500m", "4Gi", "1.5", ".5", "1e3", "10G", "+1"] {
            assert!(accepts(good), "{good}");
        }
        for bad in ["", "4GB", "Gi", "1.2.3", "2 cores", "-"] {
            assert!(!accepts(bad), "{bad}");
        }
    }
}
