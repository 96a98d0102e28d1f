//! Errors of the selector: [`ParseError`] (the expression does not compile: a lexical,
//! syntax or Java parse-time check failed) and [`EvalError`] (one message could not be
//! evaluated; Java throws, and the broker treats it as "no match").

use std::fmt;

/// Where a token starts: byte offset into the expression, and 1-based line and column counted
/// in characters (as Java's parser reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub offset: usize,
    pub line: u32,
    pub column: u32,
}

/// An expression that does not compile, with the place it failed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ParseErrorKind,
    pub position: Position,
}

/// Why an expression does not compile. Texts in the variants are the offending token or the
/// offending sub-expression as [`Display`](fmt::Display) prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// A character that starts no token (`!`, `#`, a lone `.`, …).
    UnexpectedChar(char),
    UnterminatedString,
    UnterminatedComment,
    /// A token the grammar does not allow here.
    UnexpectedToken {
        found: String,
        expected: &'static str,
    },
    /// The input ended where the grammar needs more.
    UnexpectedEnd {
        expected: &'static str,
    },
    /// A complete expression is followed by more tokens. (Java's parser stops after the first
    /// complete expression and silently ignores the rest; we refuse, see `filter` docs.)
    TrailingInput {
        found: String,
    },
    /// A decimal literal beyond Java's `long`.
    IntegerOutOfRange(String),
    /// A floating-point literal above `Double.MAX_VALUE` or below `Double.MIN_VALUE`
    /// (so `0.0` is refused, as in Java; write `0`).
    FloatOutOfRange(String),
    /// An operand of AND, OR, NOT or the whole selector that is not boolean.
    NotBoolean(String),
    /// An operand of `>`, `>=`, `<`, `<=` or BETWEEN that is a string, boolean or NULL
    /// constant, or a boolean expression.
    NotComparable(String),
    /// `=` or `<>` with a NULL literal (use `IS [NOT] NULL`).
    NullComparison,
    /// A boolean constant compared with a non-boolean constant.
    IncompatibleComparison {
        left: String,
        right: String,
    },
    /// IN's left side is not a property.
    InNeedsProperty(String),
    /// BETWEEN with a NULL constant bound.
    BetweenNull,
    /// BETWEEN with constant bounds where low > high.
    BetweenOrder {
        low: String,
        high: String,
    },
    /// BETWEEN with constant bounds that cannot be compared (`1 AND 'x'`).
    BetweenIncomparable {
        low: String,
        high: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`](super::MAX_DEPTH) (parentheses, unary operators or
    /// chained comparisons).
    TooDeep {
        limit: usize,
    },
}

impl ParseError {
    pub(crate) fn new(kind: ParseErrorKind, position: Position) -> ParseError {
        ParseError { kind, position }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Invalid MessageSelector: {} at line {}, column {}",
            self.kind, self.position.line, self.position.column
        )
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseErrorKind::UnexpectedChar(c) => write!(f, "unexpected character {c:?}"),
            ParseErrorKind::UnterminatedString => f.write_str("unterminated string literal"),
            ParseErrorKind::UnterminatedComment => f.write_str("unterminated /* comment"),
            ParseErrorKind::UnexpectedToken { found, expected } => {
                write!(f, "encountered \"{found}\", was expecting {expected}")
            }
            ParseErrorKind::UnexpectedEnd { expected } => {
                write!(f, "unexpected end of expression, was expecting {expected}")
            }
            ParseErrorKind::TrailingInput { found } => {
                write!(f, "encountered \"{found}\" after a complete expression")
            }
            ParseErrorKind::IntegerOutOfRange(t) => write!(f, "{t} is out of the long range"),
            ParseErrorKind::FloatOutOfRange(t) => {
                write!(f, "{t} is out of the double range (4.9E-324 to 1.7976931348623157E308)")
            }
            ParseErrorKind::NotBoolean(e) => {
                write!(f, "expression will not result in a boolean value: {e}")
            }
            ParseErrorKind::NotComparable(e) => write!(f, "value '{e}' cannot be compared"),
            ParseErrorKind::NullComparison => {
                f.write_str("'NULL' cannot be compared (use IS NULL or IS NOT NULL)")
            }
            ParseErrorKind::IncompatibleComparison { left, right } => {
                write!(f, "'{left}' cannot be compared with '{right}'")
            }
            ParseErrorKind::InNeedsProperty(e) => {
                write!(f, "expected a property for IN expression, got: {e}")
            }
            ParseErrorKind::BetweenNull => {
                f.write_str("illegal values of between, values can not be null")
            }
            ParseErrorKind::BetweenOrder { low, high } => write!(
                f,
                "illegal values of between, left value({low}) must less than or equal to right \
                 value({high})"
            ),
            ParseErrorKind::BetweenIncomparable { low, high } => {
                write!(f, "illegal values of between, {low} and {high} cannot be compared")
            }
            ParseErrorKind::TooDeep { limit } => {
                write!(f, "expression nested deeper than {limit} levels")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// Why one message could not be evaluated (Java throws; the message does not match).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalError {
    /// A string operand that does not convert to the other operand's type
    /// (`Integer.valueOf("5.5")`, `Long.valueOf("abc")` …).
    NotANumber { value: String, target: &'static str },
    /// Two strings ordered with `>`, `>=`, `<`, `<=` when either is not a number.
    StringOrdering { left: String, right: String },
    /// A boolean on the left of `=` with a string on the right: Java's comparison casts the
    /// boolean to a string and fails (`ClassCastException`).
    BooleanAgainstString,
    /// A non-boolean where a truth value is read; the parser's checks rule it out.
    NotBoolean,
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalError::NotANumber { value, target } => {
                write!(f, "'{value}' does not convert to {target}")
            }
            EvalError::StringOrdering { left, right } => write!(
                f,
                "it's illegal to compare string by '>=', '>', '<', '<='. lv={left}, rv={right}"
            ),
            EvalError::BooleanAgainstString => {
                f.write_str("a boolean cannot be compared with a string on its right")
            }
            EvalError::NotBoolean => f.write_str("a boolean operand evaluated to a non-boolean"),
        }
    }
}

impl std::error::Error for EvalError {}
