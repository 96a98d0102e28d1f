//! SQL92 message selectors: RocketMQ's `MessageSelector.bySql` language (ADVANCED.md §6),
//! parsed into a [`Selector`] and evaluated over one message's properties. Pure: no I/O, no
//! threads, no logging; compiled in every feature set (the client checks expressions too).
//!
//! ```
//! use std::collections::HashMap;
//! use rocketmq::filter::Selector;
//!
//! let selector = Selector::parse("a > 5 AND b = 'x'").unwrap();
//! let props = HashMap::from([("a".to_string(), "7".to_string()), ("b".to_string(), "x".into())]);
//! assert!(selector.matches(&props));
//! ```
//!
//! Semantics are Java's `SelectorParser` with `convertStringExpressions` on:
//! - Three-valued logic: a missing property makes most comparisons unknown, `NOT` unknown is
//!   unknown, and a message matches only when the result is TRUE.
//! - A property value (always a string) is converted to the literal's type (`a = 10` reads
//!   `a` with `Integer.valueOf`); a failed conversion is an [`EvalError`], which
//!   [`Selector::matches`] counts as no match, as the broker's `ExpressionMessageFilter` does.
//! - Parse-time checks as Java makes them (boolean operands for AND/OR/NOT, no string or
//!   boolean operands for `>`, IN only on a property, constant BETWEEN bounds in order, …).
//!
//! Deliberate differences from Java, both on the side of refusing less or reporting more:
//! - Java's parser stops after the first complete expression and ignores what follows
//!   (`a = 1 b = 2` compiles as `a = 1`; so does `a = 0L AND b = 1`, since `0L` lexes as `0`
//!   then `L`). Here trailing tokens are a [`ParseErrorKind::TrailingInput`] error.
//! - A `--` comment may end the input; Java's lexer needs a line end after it.
//! - Nesting deeper than [`MAX_DEPTH`] is an error, so no input can exhaust the stack.
//! - Numbers in property values are ASCII (Java's `Integer.valueOf` also takes other Unicode
//!   digits) and `Double.valueOf`'s hexadecimal form is not read.
//!
//! Invariant: nothing here panics on any input; the property tests in `tests.rs` check it.

mod ast;
mod error;
mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

pub use ast::{CompareOp, Expr, Literal, MatchOp};
pub use error::{EvalError, ParseError, ParseErrorKind, Position};

/// The deepest nesting a selector may have: parentheses and unary operators, and the depth
/// of the tree (chains such as `a = 1 = TRUE = …` deepen it). Far beyond any real filter, and
/// small enough that the deepest accepted selector parses, evaluates and prints in half of a
/// default 2 MiB thread stack even unoptimized (a unit test checks it).
pub const MAX_DEPTH: usize = 64;

/// The value of `expressionType` for SQL92 subscriptions.
pub const EXPRESSION_TYPE_SQL92: &str = "SQL92";

/// A message's properties as a selector reads them: every value a string, names
/// case-sensitive.
pub trait Properties {
    fn get(&self, name: &str) -> Option<&str>;
}

impl<S: BuildHasher> Properties for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Properties for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Pairs in stored order; with a repeated name the last one counts, as in the map Java
/// decodes them into.
impl Properties for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

impl Properties for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&str> {
        Properties::get(self.as_slice(), name)
    }
}

/// A compiled selector. Compile once per subscription and evaluate per message.
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    root: Expr,
}

impl Selector {
    /// Compiles `sql`, or says where and why it does not compile.
    pub fn parse(sql: &str) -> Result<Selector, ParseError> {
        let root = parser::parse_selector(sql)?;
        assert!(root.is_boolean(), "the parser returns a boolean selector");
        Ok(Selector { root })
    }

    /// The expression tree.
    pub fn expr(&self) -> &Expr {
        &self.root
    }

    /// `Some(true)`, `Some(false)`, `None` (unknown), or the error Java would throw.
    pub fn evaluate<P: Properties + ?Sized>(&self, props: &P) -> Result<Option<bool>, EvalError> {
        eval::truth(&self.root, props)
    }

    /// Whether a message with `props` passes: only a TRUE result does; unknown and errors
    /// do not.
    pub fn matches<P: Properties + ?Sized>(&self, props: &P) -> bool {
        matches!(self.evaluate(props), Ok(Some(true)))
    }
}

/// Prints the selector with its compound operands parenthesized; parsing the text gives an
/// equal selector.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root)
    }
}

impl std::str::FromStr for Selector {
    type Err = ParseError;

    fn from_str(sql: &str) -> Result<Selector, ParseError> {
        Selector::parse(sql)
    }
}
