//! [`Number`]: Terraform's arbitrary-precision number.
//!
//! cty keeps numbers as big binary floats with a 512-bit mantissa, and
//! sends them as msgpack ints, float64s, or decimal text. We keep the exact
//! decimal value instead: every number that arrives as text or as a float
//! is held exactly, so it goes back to Terraform unchanged.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bigdecimal::BigDecimal;
use bigdecimal::num_bigint::{BigInt, BigUint};

/// The largest decimal exponent a [`Number`] may have, either way.
///
/// Without a bound, `1e999999999` would print as a billion digits. cty can
/// hold bigger numbers, but no Terraform configuration comes near this.
pub const MAX_DECIMAL_EXPONENT: i64 = 100_000;

/// Why text or a float could not become a [`Number`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    /// The text is not a decimal number.
    #[error("{0:?} is not a decimal number")]
    Syntax(String),
    /// The decimal exponent is beyond [`MAX_DECIMAL_EXPONENT`].
    #[error("the number is too large or too small (exponent beyond ±{MAX_DECIMAL_EXPONENT})")]
    OutOfRange,
    /// NaN is not a number Terraform knows.
    #[error("NaN is not a valid number")]
    NaN,
}

/// An arbitrary-precision decimal number, or positive or negative infinity.
///
/// Equality and order are by numeric value (`1 == 1.0`). [`Display`]
/// writes plain decimal text without an exponent (`1e3` prints `1000`);
/// the infinities print as `+Inf` and `-Inf`, which [`FromStr`] accepts
/// back, as does cty.
///
/// [`Display`]: fmt::Display
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    NegativeInfinity,
    /// `0.DIGITS × 10^point`, negated when `negative`. `digits` is ASCII
    /// with no leading or trailing zeros, so every value has exactly one
    /// representation; zero is empty digits, point 0, not negative.
    Finite {
        negative: bool,
        digits: String,
        point: i64,
    },
    PositiveInfinity,
}

impl Number {
    /// Zero.
    pub fn zero() -> Self {
        Number(Repr::Finite {
            negative: false,
            digits: String::new(),
            point: 0,
        })
    }

    /// Positive infinity.
    pub fn infinity() -> Self {
        Number(Repr::PositiveInfinity)
    }

    /// Negative infinity.
    pub fn neg_infinity() -> Self {
        Number(Repr::NegativeInfinity)
    }

    /// Whether this is neither infinity.
    pub fn is_finite(&self) -> bool {
        matches!(self.0, Repr::Finite { .. })
    }

    /// Whether this is a whole number (infinities are not).
    pub fn is_integer(&self) -> bool {
        match &self.0 {
            Repr::Finite { digits, point, .. } => {
                digits.len() as i64 <= *point || digits.is_empty()
            }
            _ => false,
        }
    }

    /// Whether this is below zero (negative infinity included).
    pub fn is_negative(&self) -> bool {
        match &self.0 {
            Repr::NegativeInfinity => true,
            Repr::Finite { negative, .. } => *negative,
            Repr::PositiveInfinity => false,
        }
    }

    /// The value as an `i64`, if it is a whole number in range.
    pub fn as_i64(&self) -> Option<i64> {
        let magnitude = self.integer_magnitude()?;
        if self.is_negative() {
            0i128.checked_sub_unsigned(magnitude)?.try_into().ok()
        } else {
            magnitude.try_into().ok()
        }
    }

    /// The value as a `u64`, if it is a whole number in range.
    pub fn as_u64(&self) -> Option<u64> {
        let magnitude = self.integer_magnitude()?;
        if self.is_negative() && magnitude != 0 {
            return None;
        }
        magnitude.try_into().ok()
    }

    /// The nearest `f64` (infinities map to infinities; numbers beyond
    /// `f64`'s range become infinite, tiny ones zero).
    pub fn as_f64(&self) -> f64 {
        match &self.0 {
            Repr::NegativeInfinity => f64::NEG_INFINITY,
            Repr::PositiveInfinity => f64::INFINITY,
            Repr::Finite {
                negative,
                digits,
                point,
            } => {
                if digits.is_empty() {
                    return 0.0;
                }
                let sign = if *negative { "-" } else { "" };
                let exponent = point - digits.len() as i64;
                // Rust's float parser rounds correctly for any length of input.
                format!("{sign}{digits}e{exponent}")
                    .parse::<f64>()
                    .unwrap_or(f64::NAN)
            }
        }
    }

    /// The value as a [`BigDecimal`], for arithmetic; `None` for the
    /// infinities.
    pub fn to_bigdecimal(&self) -> Option<BigDecimal> {
        match &self.0 {
            Repr::Finite {
                negative,
                digits,
                point,
            } => {
                let magnitude = if digits.is_empty() {
                    BigInt::from(0u8)
                } else {
                    BigInt::parse_bytes(digits.as_bytes(), 10)?
                };
                let mantissa = if *negative { -magnitude } else { magnitude };
                Some(BigDecimal::new(mantissa, digits.len() as i64 - point))
            }
            _ => None,
        }
    }

    /// The exact value of a finite `f64` (`0.1` becomes
    /// `0.1000000000000000055511151231257827021181583404541015625`), as cty
    /// holds a float64 that arrived on the wire. Infinities map over.
    pub(crate) fn from_f64_exact(value: f64) -> Result<Self, NumberError> {
        if value.is_nan() {
            return Err(NumberError::NaN);
        }
        if value.is_infinite() {
            return Ok(if value > 0.0 {
                Self::infinity()
            } else {
                Self::neg_infinity()
            });
        }
        let bits = value.to_bits();
        let negative = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let fraction = bits & ((1u64 << 52) - 1);
        // value = mantissa × 2^exponent
        let (mantissa, exponent) = if biased == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1u64 << 52), biased - 1075)
        };
        let (text, scale) = if exponent >= 0 {
            (
                (BigUint::from(mantissa) << exponent as usize).to_string(),
                0,
            )
        } else {
            // m / 2^k == m × 5^k / 10^k
            let k = (-exponent) as u32;
            (
                (BigUint::from(mantissa) * BigUint::from(5u8).pow(k)).to_string(),
                i64::from(k),
            )
        };
        Ok(Self::from_parts(negative, &text, text.len() as i64 - scale))
    }

    /// Whether cty would send this number as a float64: it is not a whole
    /// number and a float64 holds it exactly.
    pub(crate) fn is_exact_non_integer_f64(&self) -> bool {
        match &self.0 {
            Repr::Finite { digits, point, .. } => {
                // Every finite f64 has at most 767 significant digits and a
                // decimal exponent between -323 and 309; skip the work otherwise.
                if self.is_integer() || digits.len() > 800 || !(-330..=320).contains(point) {
                    return false;
                }
                let nearest = self.as_f64();
                nearest.is_finite() && Self::from_f64_exact(nearest).is_ok_and(|n| n == *self)
            }
            _ => false,
        }
    }

    /// Builds a number from a sign, ASCII digits (any zeros) and the
    /// position of the decimal point relative to the first digit.
    fn from_parts(negative: bool, digits: &str, point: i64) -> Self {
        let trimmed_front = digits.trim_start_matches('0');
        let point = point - (digits.len() - trimmed_front.len()) as i64;
        let trimmed = trimmed_front.trim_end_matches('0');
        if trimmed.is_empty() {
            return Self::zero();
        }
        Number(Repr::Finite {
            negative,
            digits: trimmed.to_owned(),
            point,
        })
    }

    /// The absolute value if this is a whole number below 10^20.
    fn integer_magnitude(&self) -> Option<u128> {
        let Repr::Finite { digits, point, .. } = &self.0 else {
            return None;
        };
        if digits.is_empty() {
            return Some(0);
        }
        if !self.is_integer() || *point > 20 {
            return None;
        }
        let mut magnitude: u128 = digits.parse().ok()?;
        for _ in digits.len() as i64..*point {
            magnitude *= 10;
        }
        Some(magnitude)
    }

    /// A stable byte encoding, equal exactly when the numbers are equal.
    pub(crate) fn canonical_bytes(&self, out: &mut Vec<u8>) {
        match &self.0 {
            Repr::NegativeInfinity => out.push(0),
            Repr::PositiveInfinity => out.push(2),
            Repr::Finite {
                negative,
                digits,
                point,
            } => {
                out.push(1);
                out.push(u8::from(*negative));
                out.extend_from_slice(&point.to_be_bytes());
                out.extend_from_slice(&(digits.len() as u64).to_be_bytes());
                out.extend_from_slice(digits.as_bytes());
            }
        }
    }
}

impl Default for Number {
    fn default() -> Self {
        Self::zero()
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        use Repr::*;
        match (&self.0, &other.0) {
            (NegativeInfinity, NegativeInfinity) | (PositiveInfinity, PositiveInfinity) => {
                Ordering::Equal
            }
            (NegativeInfinity, _) | (_, PositiveInfinity) => Ordering::Less,
            (_, NegativeInfinity) | (PositiveInfinity, _) => Ordering::Greater,
            (
                Finite {
                    negative: an,
                    digits: ad,
                    point: ap,
                },
                Finite {
                    negative: bn,
                    digits: bd,
                    point: bp,
                },
            ) => {
                let sign = |negative: bool, digits: &str| match (negative, digits.is_empty()) {
                    (_, true) => 0,
                    (true, false) => -1,
                    (false, false) => 1,
                };
                let (a_sign, b_sign) = (sign(*an, ad), sign(*bn, bd));
                if a_sign != b_sign || a_sign == 0 {
                    return a_sign.cmp(&b_sign);
                }
                // Same sign, both non-zero: compare magnitudes. With no
                // leading zeros, a larger point means a larger magnitude; at
                // equal points the digit strings compare lexicographically.
                let magnitude = ap.cmp(bp).then_with(|| ad.cmp(bd));
                if a_sign < 0 {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::NegativeInfinity => f.write_str("-Inf"),
            Repr::PositiveInfinity => f.write_str("+Inf"),
            Repr::Finite {
                negative,
                digits,
                point,
            } => {
                if digits.is_empty() {
                    return f.write_str("0");
                }
                if *negative {
                    f.write_str("-")?;
                }
                let len = digits.len() as i64;
                if *point <= 0 {
                    f.write_str("0.")?;
                    for _ in 0..-point {
                        f.write_str("0")?;
                    }
                    f.write_str(digits)
                } else if *point >= len {
                    f.write_str(digits)?;
                    for _ in len..*point {
                        f.write_str("0")?;
                    }
                    Ok(())
                } else {
                    let (whole, fraction) = digits.split_at(*point as usize);
                    write!(f, "{whole}.{fraction}")
                }
            }
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl FromStr for Number {
    type Err = NumberError;

    /// Parses decimal text as cty does: an optional sign, digits with an
    /// optional fraction (`.5` and `5.` too), an optional `e`/`E` exponent;
    /// or `Inf`/`Infinity` in any case with an optional sign.
    fn from_str(text: &str) -> Result<Self, NumberError> {
        let syntax = || NumberError::Syntax(text.chars().take(64).collect());
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        if rest.eq_ignore_ascii_case("inf") || rest.eq_ignore_ascii_case("infinity") {
            return Ok(if negative {
                Self::neg_infinity()
            } else {
                Self::infinity()
            });
        }
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let (whole, fraction) = match mantissa.find('.') {
            Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
            None => (mantissa, ""),
        };
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
            return Err(syntax());
        }
        let exponent = match exponent {
            None => 0i64,
            Some(e) => {
                let (e_negative, e_digits) = match e.as_bytes().first() {
                    Some(b'-') => (true, &e[1..]),
                    Some(b'+') => (false, &e[1..]),
                    _ => (false, e),
                };
                if e_digits.is_empty() || !all_digits(e_digits) {
                    return Err(syntax());
                }
                // Saturate: anything this large is out of range anyway.
                let magnitude = e_digits.trim_start_matches('0');
                let value = if magnitude.len() > 15 {
                    i64::MAX / 4
                } else {
                    magnitude.parse::<i64>().unwrap_or(0)
                };
                if e_negative { -value } else { value }
            }
        };
        let mut digits = String::with_capacity(whole.len() + fraction.len());
        digits.push_str(whole);
        digits.push_str(fraction);
        let number = Self::from_parts(negative, &digits, whole.len() as i64 + exponent);
        match &number.0 {
            Repr::Finite { point, .. } if point.abs() > MAX_DECIMAL_EXPONENT => {
                Err(NumberError::OutOfRange)
            }
            _ => Ok(number),
        }
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Self {
        let text = value.unsigned_abs().to_string();
        Self::from_parts(value < 0, &text, text.len() as i64)
    }
}

impl From<u64> for Number {
    fn from(value: u64) -> Self {
        let text = value.to_string();
        Self::from_parts(false, &text, text.len() as i64)
    }
}

impl From<i32> for Number {
    fn from(value: i32) -> Self {
        Self::from(i64::from(value))
    }
}

impl From<u32> for Number {
    fn from(value: u32) -> Self {
        Self::from(u64::from(value))
    }
}

impl TryFrom<f64> for Number {
    type Error = NumberError;

    /// The shortest decimal that reads back as the same `f64` (`0.1`
    /// becomes exactly `0.1`), because a float in provider code almost
    /// always stands for the decimal a user wrote. NaN is rejected.
    fn try_from(value: f64) -> Result<Self, NumberError> {
        if value.is_nan() {
            return Err(NumberError::NaN);
        }
        if value.is_infinite() {
            return Self::from_f64_exact(value);
        }
        // `Display` for f64 writes the shortest round-trip digits, never
        // with an exponent.
        value.to_string().parse()
    }
}

impl TryFrom<&BigDecimal> for Number {
    type Error = NumberError;

    fn try_from(value: &BigDecimal) -> Result<Self, NumberError> {
        let (mantissa, scale) = value.as_bigint_and_scale();
        let text = mantissa.magnitude().to_string();
        let number = Self::from_parts(
            mantissa.sign() == bigdecimal::num_bigint::Sign::Minus,
            &text,
            (text.len() as i64).saturating_sub(scale),
        );
        match &number.0 {
            Repr::Finite { point, .. } if point.abs() > MAX_DECIMAL_EXPONENT => {
                Err(NumberError::OutOfRange)
            }
            _ => Ok(number),
        }
    }
}

/// The newtype name a [`Number`] serializes through. The value serializer
/// and deserializer recognise it and pass the exact decimal text; other
/// formats see a newtype around a string.
pub(crate) const NUMBER_NAME: &str = "$tf_protocol::private::Number";

impl serde::Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(NUMBER_NAME, &self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(NUMBER_NAME, NumberVisitor)
    }
}

struct NumberVisitor;

impl<'de> serde::de::Visitor<'de> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or decimal text")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Number, E> {
        v.parse().map_err(E::custom)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Number, E> {
        Ok(v.into())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Number, E> {
        Ok(v.into())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Number, E> {
        Number::try_from(v).map_err(E::custom)
    }

    fn visit_newtype_struct<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Number, D::Error> {
        deserializer.deserialize_any(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Number {
        text.parse().unwrap()
    }

    #[test]
    fn equal_by_value() {
        assert_eq!(n("1"), n("1.0"));
        assert_eq!(n("1e2"), n("100"));
        assert_eq!(n("-0"), n("0"));
        assert_eq!(n("0.10"), n(".1"));
        assert_ne!(n("1"), n("-1"));
    }

    #[test]
    fn displays_plain_decimals() {
        assert_eq!(n("1e3").to_string(), "1000");
        assert_eq!(n("1.50").to_string(), "1.5");
        assert_eq!(n("-0.001").to_string(), "-0.001");
        assert_eq!(n("0.1").to_string(), "0.1");
        assert_eq!(n("-inf").to_string(), "-Inf");
        assert_eq!(n("+Inf"), Number::infinity());
        let big = n("1e400").to_string();
        assert_eq!(big.len(), 401);
        assert!(big.starts_with("10000"));
    }

    #[test]
    fn orders_by_value() {
        let mut numbers: Vec<Number> = [
            "3", "-Inf", "-2.5", "0", "0.25", "-10", "1e400", "+Inf", "12",
        ]
        .iter()
        .map(|t| n(t))
        .collect();
        numbers.sort();
        let text: Vec<String> = numbers.iter().map(|x| x.to_string()).collect();
        assert_eq!(text[0], "-Inf");
        assert_eq!(&text[1..7], ["-10", "-2.5", "0", "0.25", "3", "12"]);
        assert_eq!(text[8], "+Inf");
        assert!(n("-1.5") < n("-1.25"));
        assert!(n("1.3") > n("1.25"));
    }

    #[test]
    fn converts_integers() {
        assert_eq!(n("9223372036854775807").as_i64(), Some(i64::MAX));
        assert_eq!(n("-9223372036854775808").as_i64(), Some(i64::MIN));
        assert_eq!(n("9223372036854775808").as_i64(), None);
        assert_eq!(n("18446744073709551615").as_u64(), Some(u64::MAX));
        assert_eq!(n("1.5").as_i64(), None);
        assert_eq!(n("-1").as_u64(), None);
        assert_eq!(n("1e3").as_u64(), Some(1000));
        assert_eq!(Number::from(-42i64).to_string(), "-42");
        assert_eq!(Number::from(u64::MAX).as_u64(), Some(u64::MAX));
    }

    #[test]
    fn converts_floats() {
        assert_eq!(Number::try_from(0.1).unwrap(), n("0.1"));
        assert_eq!(n("0.1").as_f64(), 0.1);
        assert!(Number::try_from(f64::NAN).is_err());
        let exact = Number::from_f64_exact(0.1).unwrap();
        assert_eq!(
            exact.to_string(),
            "0.1000000000000000055511151231257827021181583404541015625"
        );
        assert!(exact.is_exact_non_integer_f64());
        assert!(!n("0.1").is_exact_non_integer_f64());
        assert!(n("0.5").is_exact_non_integer_f64());
        assert!(!n("2").is_exact_non_integer_f64());
        let tiny = Number::from_f64_exact(f64::from_bits(1)).unwrap();
        assert_eq!(tiny.as_f64(), f64::from_bits(1));
        assert!(tiny.is_exact_non_integer_f64());
        assert_eq!(n("1e400").as_f64(), f64::INFINITY);
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "", "-", ".", "1e", "e5", "1.2.3", "0x10", "1_000", "NaN", " 1",
        ] {
            assert!(bad.parse::<Number>().is_err(), "{bad:?}");
        }
        assert_eq!("1e100001".parse::<Number>(), Err(NumberError::OutOfRange));
        assert_eq!(
            "1e99999999999999999999".parse::<Number>(),
            Err(NumberError::OutOfRange)
        );
        assert_eq!(n("0e99999999999999999999"), Number::zero());
    }

    #[test]
    fn bigdecimal_round_trip() {
        let value = n("-123.456e10");
        let decimal = value.to_bigdecimal().unwrap();
        assert_eq!(Number::try_from(&decimal).unwrap(), value);
    }
}
