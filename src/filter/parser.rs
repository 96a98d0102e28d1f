//! Recursive descent over the grammar of ADVANCED.md §6.1, with the parse-time checks Java's
//! `SelectorParser` and `ComparisonExpression.create*` make, in Java's order.
//!
//! ```text
//! selector := orExpr EOF
//! orExpr   := andExpr ( OR andExpr )*
//! andExpr  := eqExpr ( AND eqExpr )*
//! eqExpr   := cmpExpr ( '=' cmpExpr | '<>' cmpExpr | IS NULL | IS NOT NULL )*
//! cmpExpr  := unary ( ('>' | '>=' | '<' | '<=') unary
//!             | [NOT] (CONTAINS | STARTSWITH | ENDSWITH) 'str'
//!             | [NOT] BETWEEN unary AND unary
//!             | [NOT] IN '(' 'str' (',' 'str')* ')' )*
//! unary    := '+' unary | '-' unary | NOT unary | primary
//! primary  := literal | ID | '(' orExpr ')'
//! ```
//!
//! Invariant: recursion is bounded. Every `unary` call counts one level of nesting and every
//! node records its depth; either beyond [`MAX_DEPTH`] is [`ParseErrorKind::TooDeep`], so
//! parsing, evaluating, printing and dropping a tree never exhaust the stack.

use std::cmp::Ordering;

use super::ast::{CompareOp, Expr, Literal, MatchOp};
use super::error::{ParseError, ParseErrorKind, Position};
use super::eval::{java_compare, literal_value};
use super::lexer::{tokenize, Keyword, Token, TokenKind};
use super::MAX_DEPTH;

/// Parses a whole selector into its tree.
pub(crate) fn parse_selector(sql: &str) -> Result<Expr, ParseError> {
    let tokens = tokenize(sql)?;
    let end = end_position(sql);
    let mut parser = Parser { tokens, index: 0, nesting: 0, end };
    let node = parser.or_expr()?;
    let node = as_boolean(node)?;
    if let Some(token) = parser.peek(0) {
        let found = token.text.to_string();
        return Err(ParseError::new(ParseErrorKind::TrailingInput { found }, token.position));
    }
    Ok(node.expr)
}

/// A parsed sub-expression with its tree depth and where it starts.
struct Node {
    expr: Expr,
    depth: usize,
    at: Position,
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    index: usize,
    /// Current `unary` recursion depth.
    nesting: usize,
    /// Position just past the input, for "unexpected end" errors.
    end: Position,
}

fn end_position(sql: &str) -> Position {
    let mut line: u32 = 1;
    let mut column: u32 = 1;
    let mut previous_cr = false;
    for c in sql.chars() {
        match c {
            '\n' if previous_cr => {}
            '\n' | '\r' => {
                line = line.saturating_add(1);
                column = 1;
            }
            _ => column = column.saturating_add(1),
        }
        previous_cr = c == '\r';
    }
    Position { offset: sql.len(), line, column }
}

fn error(kind: ParseErrorKind, at: Position) -> ParseError {
    ParseError::new(kind, at)
}

/// Builds a node one level above its deepest child, refusing trees deeper than the limit.
fn node(expr: Expr, child_depth: usize, at: Position) -> Result<Node, ParseError> {
    let depth = child_depth + 1;
    if depth > MAX_DEPTH {
        return Err(error(ParseErrorKind::TooDeep { limit: MAX_DEPTH }, at));
    }
    Ok(Node { expr, depth, at })
}

/// Java's `asBooleanExpression`: boolean expressions pass, a bare property becomes a boolean
/// cast, anything else is an error.
fn as_boolean(n: Node) -> Result<Node, ParseError> {
    if n.expr.is_boolean() {
        return Ok(n);
    }
    match n.expr {
        Expr::Property(name) => Ok(Node { expr: Expr::BoolCast(name), depth: n.depth, at: n.at }),
        other => Err(error(ParseErrorKind::NotBoolean(other.to_string()), n.at)),
    }
}

/// Java's `checkLessThanOperand`: only numeric constants, properties and non-boolean
/// expressions may be ordered.
fn check_orderable(n: &Node) -> Result<(), ParseError> {
    let refused = match &n.expr {
        Expr::Literal(lit) => {
            !matches!(lit, Literal::Int(_) | Literal::Long(_) | Literal::Double(_))
        }
        other => other.is_boolean(),
    };
    if refused {
        return Err(error(ParseErrorKind::NotComparable(n.expr.to_string()), n.at));
    }
    Ok(())
}

/// Java's `checkEqualOperand` and `checkEqualOperandCompatability`.
fn check_equatable(left: &Node, right: &Node) -> Result<(), ParseError> {
    for side in [left, right] {
        if side.expr == Expr::Literal(Literal::Null) {
            return Err(error(ParseErrorKind::NullComparison, side.at));
        }
    }
    if let (Expr::Literal(Literal::Bool(_)), Expr::Literal(r)) = (&left.expr, &right.expr) {
        if !matches!(r, Literal::Bool(_)) {
            let kind = ParseErrorKind::IncompatibleComparison {
                left: left.expr.to_string(),
                right: right.expr.to_string(),
            };
            return Err(error(kind, left.at));
        }
    }
    Ok(())
}

/// Java's `createBetween` check: constant bounds must be non-null with low <= high.
fn check_between_bounds(low: &Node, high: &Node) -> Result<(), ParseError> {
    let (Expr::Literal(lo), Expr::Literal(hi)) = (&low.expr, &high.expr) else {
        return Ok(());
    };
    let (Some(lo_value), Some(hi_value)) = (literal_value(lo), literal_value(hi)) else {
        return Err(error(ParseErrorKind::BetweenNull, low.at));
    };
    let (low_text, high_text) = (lo.to_string(), hi.to_string());
    match java_compare(hi_value, lo_value) {
        Ok(Ordering::Less) => {
            let kind = ParseErrorKind::BetweenOrder { low: low_text, high: high_text };
            Err(error(kind, low.at))
        }
        Ok(_) => Ok(()),
        Err(_) => {
            let kind = ParseErrorKind::BetweenIncomparable { low: low_text, high: high_text };
            Err(error(kind, low.at))
        }
    }
}

impl<'a> Parser<'a> {
    fn peek(&self, ahead: usize) -> Option<&Token<'a>> {
        self.tokens.get(self.index + ahead)
    }

    fn peek_kind(&self, ahead: usize) -> Option<&TokenKind<'a>> {
        self.peek(ahead).map(|t| &t.kind)
    }

    fn position(&self) -> Position {
        self.peek(0).map_or(self.end, |t| t.position)
    }

    fn bump(&mut self) -> Option<Token<'a>> {
        let token = self.tokens.get(self.index).cloned();
        if token.is_some() {
            self.index += 1;
        }
        token
    }

    /// The next token, which must exist; `expected` names what the grammar wants here.
    fn next(&mut self, expected: &'static str) -> Result<Token<'a>, ParseError> {
        self.bump().ok_or_else(|| error(ParseErrorKind::UnexpectedEnd { expected }, self.end))
    }

    fn unexpected(token: &Token<'_>, expected: &'static str) -> ParseError {
        let found = token.text.to_string();
        error(ParseErrorKind::UnexpectedToken { found, expected }, token.position)
    }

    fn expect(
        &mut self,
        kind: TokenKind<'static>,
        expected: &'static str,
    ) -> Result<(), ParseError> {
        let token = self.next(expected)?;
        if token.kind != kind {
            return Err(Self::unexpected(&token, expected));
        }
        Ok(())
    }

    fn string_literal(&mut self) -> Result<String, ParseError> {
        const EXPECTED: &str = "a string literal";
        let token = self.next(EXPECTED)?;
        match token.kind {
            TokenKind::Str(s) => Ok(s.into_owned()),
            _ => Err(Self::unexpected(&token, EXPECTED)),
        }
    }

    // The functions on the recursive path (or, and, eq, cmp, unary, primary) keep their own
    // frames small and hand the rest of a chain to a separate function, which bounds the stack
    // a MAX_DEPTH-deep input needs.

    fn or_expr(&mut self) -> Result<Node, ParseError> {
        let first = self.and_expr()?;
        if self.peek_kind(0) != Some(&TokenKind::Keyword(Keyword::Or)) {
            return Ok(first);
        }
        self.logic_chain(Keyword::Or, first)
    }

    fn and_expr(&mut self) -> Result<Node, ParseError> {
        let first = self.eq_expr()?;
        if self.peek_kind(0) != Some(&TokenKind::Keyword(Keyword::And)) {
            return Ok(first);
        }
        self.logic_chain(Keyword::And, first)
    }

    /// The rest of `operand ( keyword operand )*` for AND (operands: eqExpr) and OR (operands:
    /// andExpr), kept flat: one node with all the operands of one chain, in order.
    fn logic_chain(&mut self, keyword: Keyword, first: Node) -> Result<Node, ParseError> {
        let at = first.at;
        let mut first = Some(first);
        let mut operands = Vec::new();
        let mut depth = 0;
        while self.peek_kind(0) == Some(&TokenKind::Keyword(keyword)) {
            self.bump();
            let right = self.logic_operand(keyword)?;
            // Java checks the left operand once the right one is parsed.
            if let Some(left) = first.take() {
                let left = as_boolean(left)?;
                depth = depth.max(left.depth);
                operands.push(left.expr);
            }
            let right = as_boolean(right)?;
            depth = depth.max(right.depth);
            operands.push(right.expr);
        }
        assert!(operands.len() >= 2, "a logic chain has two operands or more");
        let expr = match keyword {
            Keyword::And => Expr::And(operands),
            _ => Expr::Or(operands),
        };
        node(expr, depth, at)
    }

    fn logic_operand(&mut self, keyword: Keyword) -> Result<Node, ParseError> {
        match keyword {
            Keyword::Or => self.and_expr(),
            _ => self.eq_expr(),
        }
    }

    fn eq_expr(&mut self) -> Result<Node, ParseError> {
        let first = self.cmp_expr()?;
        match self.peek_kind(0) {
            Some(TokenKind::Eq | TokenKind::Ne | TokenKind::Keyword(Keyword::Is)) => {
                self.eq_chain(first)
            }
            _ => Ok(first),
        }
    }

    fn eq_chain(&mut self, mut left: Node) -> Result<Node, ParseError> {
        loop {
            let op = match self.peek_kind(0) {
                Some(TokenKind::Eq) => CompareOp::Eq,
                Some(TokenKind::Ne) => CompareOp::Ne,
                Some(TokenKind::Keyword(Keyword::Is)) => {
                    left = self.is_null(left)?;
                    continue;
                }
                _ => return Ok(left),
            };
            self.bump();
            let right = self.cmp_expr()?;
            check_equatable(&left, &right)?;
            left = compare(op, left, right)?;
        }
    }

    /// `IS NULL` or `IS NOT NULL` after `operand`; the cursor is on IS.
    fn is_null(&mut self, operand: Node) -> Result<Node, ParseError> {
        const EXPECTED: &str = "NULL or NOT NULL";
        self.bump();
        let negated = self.peek_kind(0) == Some(&TokenKind::Keyword(Keyword::Not));
        if negated {
            self.bump();
        }
        let token = self.next(EXPECTED)?;
        if token.kind != TokenKind::Keyword(Keyword::Null) {
            return Err(Self::unexpected(&token, EXPECTED));
        }
        let (depth, at) = (operand.depth, operand.at);
        node(Expr::IsNull { operand: Box::new(operand.expr), negated }, depth, at)
    }

    fn cmp_expr(&mut self) -> Result<Node, ParseError> {
        let mut left = self.unary()?;
        loop {
            match self.cmp_step(left)? {
                Step::Done(n) => return Ok(n),
                Step::More(n) => left = n,
            }
        }
    }

    /// One round of cmpExpr's loop: the operator after `left` and its right side, or `left`
    /// back when no comparison follows. `NOT` counts only before CONTAINS, STARTSWITH,
    /// ENDSWITH, BETWEEN or IN (Java's LOOKAHEAD(2)).
    fn cmp_step(&mut self, left: Node) -> Result<Step, ParseError> {
        let negated = self.peek_kind(0) == Some(&TokenKind::Keyword(Keyword::Not));
        let operator = self.peek_kind(usize::from(negated)).cloned();
        let order = |op| if negated { None } else { Some(op) };
        let keyword = match operator {
            Some(TokenKind::Gt) => order(CompareOp::Gt).map(Err),
            Some(TokenKind::Ge) => order(CompareOp::Ge).map(Err),
            Some(TokenKind::Lt) => order(CompareOp::Lt).map(Err),
            Some(TokenKind::Le) => order(CompareOp::Le).map(Err),
            Some(TokenKind::Keyword(
                k @ (Keyword::Contains
                | Keyword::StartsWith
                | Keyword::EndsWith
                | Keyword::Between
                | Keyword::In),
            )) => Some(Ok(k)),
            _ => None,
        };
        let Some(keyword) = keyword else {
            return Ok(Step::Done(left));
        };
        if negated {
            self.bump();
        }
        self.bump();
        let next = match keyword {
            Err(op) => {
                let right = self.unary()?;
                check_orderable(&left)?;
                check_orderable(&right)?;
                compare(op, left, right)?
            }
            Ok(Keyword::Between) => self.between(left, negated)?,
            Ok(Keyword::In) => self.in_list(left, negated)?,
            Ok(Keyword::StartsWith) => self.string_match(left, MatchOp::StartsWith, negated)?,
            Ok(Keyword::EndsWith) => self.string_match(left, MatchOp::EndsWith, negated)?,
            Ok(_) => self.string_match(left, MatchOp::Contains, negated)?,
        };
        Ok(Step::More(next))
    }

    fn string_match(
        &mut self,
        operand: Node,
        op: MatchOp,
        negated: bool,
    ) -> Result<Node, ParseError> {
        let pattern = self.string_literal()?;
        let (depth, at) = (operand.depth, operand.at);
        let expr = Expr::Match { op, operand: Box::new(operand.expr), pattern, negated };
        node(expr, depth, at)
    }

    /// `[NOT] BETWEEN low AND high`; the cursor is past BETWEEN. Java checks constant bounds
    /// for BETWEEN only (NOT BETWEEN is an OR of `<` and `>` without that check).
    fn between(&mut self, value: Node, negated: bool) -> Result<Node, ParseError> {
        let low = self.unary()?;
        self.expect(TokenKind::Keyword(Keyword::And), "AND")?;
        let high = self.unary()?;
        if !negated {
            check_between_bounds(&low, &high)?;
        }
        for operand in [&value, &low, &value, &high] {
            check_orderable(operand)?;
        }
        let depth = value.depth.max(low.depth).max(high.depth);
        let at = value.at;
        let expr = Expr::Between {
            value: Box::new(value.expr),
            low: Box::new(low.expr),
            high: Box::new(high.expr),
            negated,
        };
        node(expr, depth, at)
    }

    /// `[NOT] IN ('a', 'b', …)`; the cursor is past IN.
    fn in_list(&mut self, left: Node, negated: bool) -> Result<Node, ParseError> {
        self.expect(TokenKind::LParen, "'('")?;
        let mut list = vec![self.string_literal()?];
        loop {
            const EXPECTED: &str = "',' or ')'";
            let token = self.next(EXPECTED)?;
            match token.kind {
                TokenKind::Comma => list.push(self.string_literal()?),
                TokenKind::RParen => break,
                _ => return Err(Self::unexpected(&token, EXPECTED)),
            }
        }
        let Expr::Property(property) = left.expr else {
            return Err(error(ParseErrorKind::InNeedsProperty(left.expr.to_string()), left.at));
        };
        node(Expr::In { property, list, negated }, left.depth, left.at)
    }

    /// `unary` with its nesting counted, so that deep input is an error, not a stack overflow.
    fn unary(&mut self) -> Result<Node, ParseError> {
        if self.nesting >= MAX_DEPTH {
            return Err(error(ParseErrorKind::TooDeep { limit: MAX_DEPTH }, self.position()));
        }
        self.nesting += 1;
        let result = self.unary_inner();
        self.nesting -= 1;
        result
    }

    fn unary_inner(&mut self) -> Result<Node, ParseError> {
        let at = self.position();
        match self.peek_kind(0) {
            Some(TokenKind::Plus) => {
                self.bump();
                self.unary()
            }
            Some(TokenKind::Minus) => {
                self.bump();
                let operand = self.unary()?;
                node(Expr::Negate(Box::new(operand.expr)), operand.depth, at)
            }
            Some(TokenKind::Keyword(Keyword::Not)) => {
                self.bump();
                let operand = as_boolean(self.unary()?)?;
                node(Expr::Not(Box::new(operand.expr)), operand.depth, at)
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Node, ParseError> {
        if self.peek_kind(0) != Some(&TokenKind::LParen) {
            return self.atom();
        }
        let at = self.position();
        self.bump();
        let inner = self.or_expr()?;
        self.expect(TokenKind::RParen, "')'")?;
        Ok(Node { at, ..inner })
    }

    /// A literal or a property.
    fn atom(&mut self) -> Result<Node, ParseError> {
        const EXPECTED: &str = "a literal, a property or '('";
        let token = self.next(EXPECTED)?;
        let at = token.position;
        let literal = match token.kind {
            TokenKind::Str(s) => Literal::Str(s.into_owned()),
            TokenKind::Decimal => decimal(token.text, at)?,
            TokenKind::Float => float(token.text, at)?,
            TokenKind::Keyword(Keyword::True) => Literal::Bool(true),
            TokenKind::Keyword(Keyword::False) => Literal::Bool(false),
            TokenKind::Keyword(Keyword::Null) => Literal::Null,
            TokenKind::Identifier => {
                return node(Expr::Property(token.text.to_string()), 0, at);
            }
            _ => return Err(Self::unexpected(&token, EXPECTED)),
        };
        node(Expr::Literal(literal), 0, at)
    }
}

enum Step {
    /// No comparison follows; the operand as it was.
    Done(Node),
    /// A comparison was parsed; look for another.
    More(Node),
}

fn compare(op: CompareOp, left: Node, right: Node) -> Result<Node, ParseError> {
    let depth = left.depth.max(right.depth);
    let at = left.at;
    node(Expr::Compare { op, left: Box::new(left.expr), right: Box::new(right.expr) }, depth, at)
}

/// Java's `createFromDecimal`: a `long` (suffix `l`/`L` stripped), narrowed to `int` when it
/// fits.
fn decimal(text: &str, at: Position) -> Result<Literal, ParseError> {
    let digits = text.strip_suffix(['l', 'L']).unwrap_or(text);
    let value: i64 = digits
        .parse()
        .map_err(|_| error(ParseErrorKind::IntegerOutOfRange(text.to_string()), at))?;
    Ok(match i32::try_from(value) {
        Ok(small) => Literal::Int(small),
        Err(_) => Literal::Long(value),
    })
}

/// Java's `createFloat`: a `double` in `[Double.MIN_VALUE, Double.MAX_VALUE]`, so `0.0` is
/// refused.
fn float(text: &str, at: Position) -> Result<Literal, ParseError> {
    let out_of_range = || error(ParseErrorKind::FloatOutOfRange(text.to_string()), at);
    let value: f64 = text.parse().map_err(|_| out_of_range())?;
    if !(value > 0.0 && value <= f64::MAX) {
        return Err(out_of_range());
    }
    Ok(Literal::Double(value))
}
