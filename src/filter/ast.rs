//! The compiled selector: an expression tree that keeps the surface constructs (`<>`,
//! BETWEEN, IS NOT NULL …) and is evaluated with Java's desugared semantics (`<>` is NOT `=`,
//! BETWEEN is `>=` AND `<=`, …; see `eval`).
//!
//! [`Display`](fmt::Display) puts every operand that is not an atom or a unary operator in
//! parentheses, so printing a tree and parsing the text again gives the same tree
//! (property-tested), within the same depth limit.

use std::fmt;

/// A literal as Java holds it after parsing: decimal literals are `Int` when they fit in 32
/// bits, else `Long`; every floating-point literal is a `Double`.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i32),
    Long(i64),
    Double(f64),
    Bool(bool),
    Null,
}

/// `>`, `>=`, `<`, `<=`, `=`, `<>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

/// CONTAINS, STARTSWITH, ENDSWITH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// One node of a selector.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A message property, looked up case-sensitively by its name as written.
    Property(String),
    /// A property used where a boolean is needed (`WHERE flag`): unknown when missing, else
    /// FALSE (property values are strings).
    BoolCast(String),
    /// Unary minus; a non-number operand gives unknown.
    Negate(Box<Expr>),
    Not(Box<Expr>),
    /// Two or more operands, in order.
    And(Vec<Expr>),
    /// Two or more operands, in order.
    Or(Vec<Expr>),
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    IsNull {
        operand: Box<Expr>,
        negated: bool,
    },
    Between {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `property [NOT] IN ('a', 'b')`.
    In {
        property: String,
        list: Vec<String>,
        negated: bool,
    },
    Match {
        op: MatchOp,
        operand: Box<Expr>,
        pattern: String,
        negated: bool,
    },
}

impl Expr {
    /// Java's `BooleanExpression`: what may stand where a boolean is needed. The NULL literal
    /// counts (Java's `BooleanConstantExpression.NULL`).
    pub(crate) fn is_boolean(&self) -> bool {
        match self {
            Expr::Literal(lit) => matches!(lit, Literal::Bool(_) | Literal::Null),
            Expr::Property(_) | Expr::Negate(_) => false,
            Expr::BoolCast(_)
            | Expr::Not(_)
            | Expr::And(_)
            | Expr::Or(_)
            | Expr::Compare { .. }
            | Expr::IsNull { .. }
            | Expr::Between { .. }
            | Expr::In { .. }
            | Expr::Match { .. } => true,
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => {
                f.write_str("'")?;
                f.write_str(&s.replace('\'', "''"))?;
                f.write_str("'")
            }
            Literal::Int(v) => write!(f, "{v}"),
            Literal::Long(v) => write!(f, "{v}"),
            // Debug prints the shortest text that reads back to the same value, always with a
            // `.` or an exponent, so it lexes as a floating-point literal again.
            Literal::Double(v) => write!(f, "{v:?}"),
            Literal::Bool(true) => f.write_str("TRUE"),
            Literal::Bool(false) => f.write_str("FALSE"),
            Literal::Null => f.write_str("NULL"),
        }
    }
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "=",
            CompareOp::Ne => "<>",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

impl MatchOp {
    pub fn keyword(self) -> &'static str {
        match self {
            MatchOp::Contains => "CONTAINS",
            MatchOp::StartsWith => "STARTSWITH",
            MatchOp::EndsWith => "ENDSWITH",
        }
    }
}

fn not_word(negated: bool) -> &'static str {
    if negated {
        "NOT "
    } else {
        ""
    }
}

/// An operand as it must be printed to parse back in an operator's place: atoms and unary
/// operators (which bind tightest) bare, everything else in parentheses. Parentheses only
/// where needed keep the printed nesting within the tree's depth, so every tree the parser
/// accepts prints to a text it accepts again.
struct Operand<'a>(&'a Expr);

impl fmt::Display for Operand<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Expr::Literal(_)
            | Expr::Property(_)
            | Expr::BoolCast(_)
            | Expr::Negate(_)
            | Expr::Not(_) => write!(f, "{}", self.0),
            other => write!(f, "({other})"),
        }
    }
}

fn join(f: &mut fmt::Formatter<'_>, operands: &[Expr], separator: &str) -> fmt::Result {
    for (i, operand) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{}", Operand(operand))?;
    }
    Ok(())
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(lit) => write!(f, "{lit}"),
            Expr::Property(name) | Expr::BoolCast(name) => f.write_str(name),
            // The space keeps `- -5` from reading as a `--` comment.
            Expr::Negate(operand) => write!(f, "- {}", Operand(operand)),
            Expr::Not(operand) => write!(f, "NOT {}", Operand(operand)),
            Expr::And(operands) => join(f, operands, " AND "),
            Expr::Or(operands) => join(f, operands, " OR "),
            Expr::Compare { op, left, right } => {
                write!(f, "{} {} {}", Operand(left), op.symbol(), Operand(right))
            }
            Expr::IsNull { operand, negated } => {
                write!(f, "{} IS {}NULL", Operand(operand), not_word(*negated))
            }
            Expr::Between { value, low, high, negated } => write!(
                f,
                "{} {}BETWEEN {} AND {}",
                Operand(value),
                not_word(*negated),
                Operand(low),
                Operand(high)
            ),
            Expr::In { property, list, negated } => {
                write!(f, "{property} {}IN (", not_word(*negated))?;
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}", Literal::Str(item.clone()))?;
                }
                f.write_str(")")
            }
            Expr::Match { op, operand, pattern, negated } => write!(
                f,
                "{} {}{} {}",
                Operand(operand),
                not_word(*negated),
                op.keyword(),
                Literal::Str(pattern.clone())
            ),
        }
    }
}
