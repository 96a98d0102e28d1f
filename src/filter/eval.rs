//! Evaluation with Java's semantics (ADVANCED.md §6.2): three-valued logic where `None` is
//! "unknown", string operands converted to the other side's type, and an [`EvalError`] where
//! Java throws (the broker counts it as "no match").
//!
//! The desugaring follows Java's constructors: `a <> b` is NOT (`a = b`), `IS NOT NULL` is
//! NOT `IS NULL`, `v BETWEEN l AND h` is `v >= l AND v <= h`, and `v NOT BETWEEN l AND h` is
//! `v < l OR v > h`. AND and OR short-circuit left to right, so an error on the right of a
//! decided AND/OR is never raised, as in Java.

use std::cmp::Ordering;

use super::ast::{CompareOp, Expr, Literal, MatchOp};
use super::error::EvalError;
use super::Properties;

/// A value during evaluation: what Java's expressions return (`String`, `Boolean`,
/// `Integer`, `Long`, `Double`), borrowed from the tree or the message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Str(&'a str),
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
}

/// `Ok(None)` is unknown (Java's `null`).
type Evaluated<'a> = Result<Option<Value<'a>>, EvalError>;
type Truth = Result<Option<bool>, EvalError>;

/// The value of a literal; `None` for NULL.
pub(crate) fn literal_value(literal: &Literal) -> Option<Value<'_>> {
    Some(match literal {
        Literal::Str(s) => Value::Str(s),
        Literal::Int(v) => Value::Int(*v),
        Literal::Long(v) => Value::Long(*v),
        Literal::Double(v) => Value::Double(*v),
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Null => return None,
    })
}

/// Evaluates a boolean expression: `Some(true)`, `Some(false)`, or `None` for unknown.
pub(crate) fn truth<P: Properties + ?Sized>(expr: &Expr, props: &P) -> Truth {
    match evaluate(expr, props)? {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        // The parser only puts boolean expressions where a truth value is read.
        Some(_) => Err(EvalError::NotBoolean),
    }
}

// `evaluate` and `truth` are the recursive path: each arm is one call, so that their
// frames stay small and a MAX_DEPTH-deep tree evaluates in a small stack.
fn evaluate<'a, P: Properties + ?Sized>(expr: &'a Expr, props: &'a P) -> Evaluated<'a> {
    match expr {
        Expr::Literal(literal) => Ok(literal_value(literal)),
        Expr::Property(name) => Ok(props.get(name).map(Value::Str)),
        // A property value is always a String, which a boolean cast turns into FALSE.
        Expr::BoolCast(name) => Ok(props.get(name).map(|_| Value::Bool(false))),
        Expr::Negate(operand) => Ok(evaluate(operand, props)?.and_then(negate)),
        Expr::Not(operand) => as_value(truth(operand, props).map(|t| t.map(|b| !b))),
        Expr::And(operands) => as_value(all(operands, props)),
        Expr::Or(operands) => as_value(any(operands, props)),
        Expr::Compare { op, left, right } => as_value(compare(*op, left, right, props)),
        Expr::IsNull { operand, negated } => as_value(is_null(operand, *negated, props)),
        Expr::Between { value, low, high, negated } => {
            as_value(between(value, low, high, *negated, props))
        }
        Expr::In { property, list, negated } => Ok(props
            .get(property)
            .map(|v| Value::Bool(list.iter().any(|item| item == v) != *negated))),
        Expr::Match { op, operand, pattern, negated } => {
            as_value(string_match(*op, operand, pattern, *negated, props).map(Some))
        }
    }
}

fn as_value<'a>(truth: Truth) -> Evaluated<'a> {
    truth.map(|t| t.map(Value::Bool))
}

/// Java's `createIsNull` (an `=` against NULL), and NOT of it for IS NOT NULL.
fn is_null<P: Properties + ?Sized>(operand: &Expr, negated: bool, props: &P) -> Truth {
    Ok(Some(evaluate(operand, props)?.is_none() != negated))
}

/// `v >= l AND v <= h`, or `v < l OR v > h` for NOT BETWEEN (Java's `createBetween` and
/// `createNotBetween`).
fn between<P: Properties + ?Sized>(
    value: &Expr,
    low: &Expr,
    high: &Expr,
    negated: bool,
    props: &P,
) -> Truth {
    if negated {
        let first = compare(CompareOp::Lt, value, low, props)?;
        or2(first, || compare(CompareOp::Gt, value, high, props))
    } else {
        let first = compare(CompareOp::Ge, value, low, props)?;
        and2(first, || compare(CompareOp::Le, value, high, props))
    }
}

/// Java's `negate`: numbers change sign (integers wrap as Java's do), anything else is
/// unknown.
fn negate(value: Value<'_>) -> Option<Value<'_>> {
    match value {
        Value::Int(v) => Some(Value::Int(v.wrapping_neg())),
        Value::Long(v) => Some(Value::Long(v.wrapping_neg())),
        Value::Double(v) => Some(Value::Double(-v)),
        Value::Str(_) | Value::Bool(_) => None,
    }
}

/// Three-valued AND over operands in order: FALSE at the first FALSE, else unknown if any was
/// unknown, else TRUE. The same as Java's left-deep chain of binary ANDs.
fn all<P: Properties + ?Sized>(operands: &[Expr], props: &P) -> Truth {
    let mut unknown = false;
    for operand in operands {
        match truth(operand, props)? {
            Some(false) => return Ok(Some(false)),
            None => unknown = true,
            Some(true) => {}
        }
    }
    Ok(if unknown { None } else { Some(true) })
}

/// Three-valued OR over operands in order: TRUE at the first TRUE, else unknown if any was
/// unknown, else FALSE.
fn any<P: Properties + ?Sized>(operands: &[Expr], props: &P) -> Truth {
    let mut unknown = false;
    for operand in operands {
        match truth(operand, props)? {
            Some(true) => return Ok(Some(true)),
            None => unknown = true,
            Some(false) => {}
        }
    }
    Ok(if unknown { None } else { Some(false) })
}

fn and2(first: Option<bool>, second: impl FnOnce() -> Truth) -> Truth {
    if first == Some(false) {
        return Ok(Some(false));
    }
    Ok(match (first, second()?) {
        (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    })
}

fn or2(first: Option<bool>, second: impl FnOnce() -> Truth) -> Truth {
    if first == Some(true) {
        return Ok(Some(true));
    }
    Ok(match (first, second()?) {
        (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    })
}

fn compare<P: Properties + ?Sized>(op: CompareOp, left: &Expr, right: &Expr, props: &P) -> Truth {
    match op {
        CompareOp::Eq => equal(left, right, props),
        CompareOp::Ne => Ok(equal(left, right, props)?.map(|b| !b)),
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            order(op, left, right, props)
        }
    }
}

/// Java's `doCreateEqual`. Note the asymmetry: unknown when only the left side is missing,
/// FALSE when only the right side is, TRUE when both are.
fn equal<P: Properties + ?Sized>(left: &Expr, right: &Expr, props: &P) -> Truth {
    let lv = evaluate(left, props)?;
    let rv = evaluate(right, props)?;
    Ok(match (lv, rv) {
        (None, None) => Some(true),
        (None, Some(_)) => None,
        (Some(_), None) => Some(false),
        (Some(l), Some(r)) => Some(java_compare(l, r)? == Ordering::Equal),
    })
}

/// `>`, `>=`, `<`, `<=`: unknown when either side is missing (the right side is not evaluated
/// when the left is); two strings are compared as doubles or fail.
fn order<P: Properties + ?Sized>(op: CompareOp, left: &Expr, right: &Expr, props: &P) -> Truth {
    let Some(lv) = evaluate(left, props)? else {
        return Ok(None);
    };
    let Some(rv) = evaluate(right, props)? else {
        return Ok(None);
    };
    let ordering = match (lv, rv) {
        (Value::Str(l), Value::Str(r)) => match (java_double(l), java_double(r)) {
            (Some(l), Some(r)) => java_double_cmp(l, r),
            _ => {
                let (left, right) = (l.to_string(), r.to_string());
                return Err(EvalError::StringOrdering { left, right });
            }
        },
        (l, r) => java_compare(l, r)?,
    };
    Ok(Some(match op {
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        _ => ordering != Ordering::Greater,
    }))
}

/// Java's CONTAINS/STARTSWITH/ENDSWITH and their NOT forms: FALSE (for the NOT forms too) for
/// an empty pattern, a missing operand or a non-string operand.
fn string_match<P: Properties + ?Sized>(
    op: MatchOp,
    operand: &Expr,
    pattern: &str,
    negated: bool,
    props: &P,
) -> Result<bool, EvalError> {
    if pattern.is_empty() {
        return Ok(false);
    }
    let Some(Value::Str(value)) = evaluate(operand, props)? else {
        return Ok(false);
    };
    let found = match op {
        MatchOp::Contains => value.contains(pattern),
        MatchOp::StartsWith => value.starts_with(pattern),
        MatchOp::EndsWith => value.ends_with(pattern),
    };
    Ok(found != negated)
}

/// Java's `ComparisonExpression.__compare` with string conversion on: values of one type
/// compare naturally; numbers widen (int < long < double); a string converts to the other
/// side's type (`Integer.valueOf`, `Long.valueOf`, `Double.valueOf`, `Boolean.valueOf`) and a
/// failed conversion is an error; other mixes answer "less" (-1), as Java's does.
pub(crate) fn java_compare(lv: Value<'_>, rv: Value<'_>) -> Result<Ordering, EvalError> {
    use Value::{Bool, Double, Int, Long, Str};
    Ok(match (lv, rv) {
        // Java's String.compareTo orders UTF-16 code units.
        (Str(l), Str(r)) => l.encode_utf16().cmp(r.encode_utf16()),
        (Bool(l), Bool(r)) => l.cmp(&r),
        (Int(l), Int(r)) => l.cmp(&r),
        (Long(l), Long(r)) => l.cmp(&r),
        (Double(l), Double(r)) => java_double_cmp(l, r),
        // Java casts the Boolean to String here and throws ClassCastException.
        (Bool(_), Str(_)) => return Err(EvalError::BooleanAgainstString),
        (Int(l), Long(r)) => i64::from(l).cmp(&r),
        (Int(l), Double(r)) => java_double_cmp(f64::from(l), r),
        (Int(l), Str(r)) => l.cmp(&java_int(r)?),
        (Long(l), Int(r)) => l.cmp(&i64::from(r)),
        (Long(l), Double(r)) => java_double_cmp(l as f64, r),
        (Long(l), Str(r)) => l.cmp(&java_long(r)?),
        (Double(l), Int(r)) => java_double_cmp(l, f64::from(r)),
        (Double(l), Long(r)) => java_double_cmp(l, r as f64),
        (Double(l), Str(r)) => java_double_cmp(l, java_double_or_error(r)?),
        (Str(l), Bool(r)) => l.eq_ignore_ascii_case("true").cmp(&r),
        (Str(l), Int(r)) => java_int(l)?.cmp(&r),
        (Str(l), Long(r)) => java_long(l)?.cmp(&r),
        (Str(l), Double(r)) => java_double_cmp(java_double_or_error(l)?, r),
        (Bool(_), Int(_) | Long(_) | Double(_)) | (Int(_) | Long(_) | Double(_), Bool(_)) => {
            Ordering::Less
        }
    })
}

fn not_a_number(value: &str, target: &'static str) -> EvalError {
    EvalError::NotANumber { value: value.to_string(), target }
}

/// `Integer.valueOf`: an optional sign and ASCII digits, in range; no blanks.
fn java_int(s: &str) -> Result<i32, EvalError> {
    s.parse().map_err(|_| not_a_number(s, "int"))
}

/// `Long.valueOf`, likewise.
fn java_long(s: &str) -> Result<i64, EvalError> {
    s.parse().map_err(|_| not_a_number(s, "long"))
}

fn java_double_or_error(s: &str) -> Result<f64, EvalError> {
    java_double(s).ok_or_else(|| not_a_number(s, "double"))
}

/// `Double.valueOf` for decimal text: surrounding blanks (chars <= ' ') trimmed, an optional
/// sign, `NaN`, `Infinity`, or digits with an optional `.` and exponent, and an optional
/// `f`/`F`/`d`/`D` suffix. (Java's hexadecimal form `0x1p3` is not accepted.)
pub(crate) fn java_double(s: &str) -> Option<f64> {
    let trimmed = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, trimmed.get(1..)?),
        Some(b'+') => (false, trimmed.get(1..)?),
        _ => (false, trimmed),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let number = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
            let starts_well = matches!(number.as_bytes().first(), Some(b'0'..=b'9' | b'.'));
            let chars_ok = number
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
            if !(starts_well && chars_ok) {
                return None;
            }
            number.parse().ok()?
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// Java's `Double.compareTo`: numeric order, with -0.0 below 0.0 and NaN above everything
/// (and equal to itself).
fn java_double_cmp(l: f64, r: f64) -> Ordering {
    if l < r {
        return Ordering::Less;
    }
    if l > r {
        return Ordering::Greater;
    }
    let bits = |v: f64| if v.is_nan() { 0x7ff8_0000_0000_0000_i64 } else { v.to_bits() as i64 };
    bits(l).cmp(&bits(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_accepts_what_double_value_of_accepts() {
        assert_eq!(java_double(" 5.5 "), Some(5.5));
        assert_eq!(java_double("-5d"), Some(-5.0));
        assert_eq!(java_double("1e3f"), Some(1000.0));
        assert_eq!(java_double(".5"), Some(0.5));
        assert_eq!(java_double("5."), Some(5.0));
        assert_eq!(java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(java_double("NaN").is_some_and(f64::is_nan));
        for refused in ["", "-", "abc", "inf", "infinity", "nan", "1e", "+-1", "1.2.3", "5 5", "."]
        {
            assert_eq!(java_double(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn double_order_is_javas() {
        assert_eq!(java_double_cmp(-0.0, 0.0), Ordering::Less);
        assert_eq!(java_double_cmp(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(java_double_cmp(f64::NAN, -f64::NAN), Ordering::Equal);
        assert_eq!(java_double_cmp(1.0, 2.0), Ordering::Less);
    }

    #[test]
    fn compare_widens_and_converts() {
        use Value::*;
        assert_eq!(java_compare(Str("10"), Int(10)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Int(10), Str("10")), Ok(Ordering::Equal));
        assert_eq!(java_compare(Int(1), Long(1 << 40)), Ok(Ordering::Less));
        assert_eq!(java_compare(Long(3), Double(2.5)), Ok(Ordering::Greater));
        assert_eq!(java_compare(Str("TRUE"), Bool(true)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Str("yes"), Bool(false)), Ok(Ordering::Equal));
        assert_eq!(java_compare(Bool(true), Int(1)), Ok(Ordering::Less));
        assert_eq!(java_compare(Bool(true), Str("true")), Err(EvalError::BooleanAgainstString));
        assert!(java_compare(Str("5.5"), Int(5)).is_err());
        assert!(java_compare(Str("10000000000"), Int(5)).is_err());
        assert_eq!(java_compare(Str("10000000000"), Long(1 << 40)), Ok(Ordering::Less));
    }
}
