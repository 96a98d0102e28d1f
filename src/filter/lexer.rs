//! The selector's tokens (ADVANCED.md §6.1): keywords (case-insensitive), identifiers, the
//! three literal kinds, operators, with whitespace and comments skipped.
//!
//! Matching follows JavaCC's rule, longest match first: `NOTE` is an identifier, not `NOT`;
//! `5.5E3` is one floating-point literal; `5E` is the decimal `5` then the identifier `E`;
//! `0L` is the decimal `0` then the identifier `L` (only `[1-9][0-9]*` takes the suffix).
//! The lexer never panics: every byte index it reads is checked.

use std::borrow::Cow;

use super::error::{ParseError, ParseErrorKind, Position};

/// One token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind<'a>,
    /// The token's text as written (for error messages and identifiers).
    pub text: &'a str,
    pub position: Position,
}

/// What a token is. Literal values are decoded later by the parser, which owns the range
/// checks (they are parse-time errors in Java too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind<'a> {
    Keyword(Keyword),
    Identifier,
    /// `0` or `[1-9][0-9]*` with an optional `l`/`L`.
    Decimal,
    /// `5.5`, `5.`, `.5`, `5E10`, `5.5E-3`.
    Float,
    /// The decoded contents of a `'…'` literal (`''` is one quote). Borrowed when it has no
    /// escaped quote.
    Str(Cow<'a, str>),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    RParen,
    Comma,
    Plus,
    Minus,
}

/// The reserved words; all case-insensitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

impl Keyword {
    fn from_word(word: &str) -> Option<Keyword> {
        const WORDS: [(&str, Keyword); 12] = [
            ("NOT", Keyword::Not),
            ("AND", Keyword::And),
            ("OR", Keyword::Or),
            ("BETWEEN", Keyword::Between),
            ("IN", Keyword::In),
            ("TRUE", Keyword::True),
            ("FALSE", Keyword::False),
            ("NULL", Keyword::Null),
            ("IS", Keyword::Is),
            ("CONTAINS", Keyword::Contains),
            ("STARTSWITH", Keyword::StartsWith),
            ("ENDSWITH", Keyword::EndsWith),
        ];
        WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, k)| *k)
    }
}

/// Splits `sql` into tokens.
pub(crate) fn tokenize(sql: &str) -> Result<Vec<Token<'_>>, ParseError> {
    let mut tokens = Vec::new();
    let mut cursor = Cursor { sql, offset: 0, line: 1, column: 1 };
    while let Some(token) = cursor.next_token()? {
        tokens.push(token);
    }
    Ok(tokens)
}

struct Cursor<'a> {
    sql: &'a str,
    /// Byte offset of the next unread character; always on a char boundary.
    offset: usize,
    line: u32,
    column: u32,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.sql.get(self.offset..).unwrap_or("")
    }

    fn position(&self) -> Position {
        Position { offset: self.offset, line: self.line, column: self.column }
    }

    /// Moves over `len` bytes of the rest, which must end on a char boundary, counting lines
    /// and columns (in chars, as Java counts them; CR, LF and CR LF each end a line).
    fn advance(&mut self, len: usize) {
        let taken = self.rest().get(..len).unwrap_or("");
        assert_eq!(taken.len(), len, "advance past the input or off a char boundary");
        let mut previous_cr = false;
        for c in taken.chars() {
            match c {
                '\n' if previous_cr => {}
                '\n' | '\r' => {
                    self.line = self.line.saturating_add(1);
                    self.column = 1;
                }
                _ => self.column = self.column.saturating_add(1),
            }
            previous_cr = c == '\r';
        }
        self.offset += len;
    }

    /// Skips whitespace and comments. An unterminated block comment is an error; a line
    /// comment runs to the end of the line or of the input.
    fn skip_blanks(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            let bytes = rest.as_bytes();
            match bytes.first() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c) => self.advance(1),
                Some(b'-') if bytes.get(1) == Some(&b'-') => {
                    let len = rest.find(['\n', '\r']).unwrap_or(rest.len());
                    self.advance(len);
                }
                Some(b'/') if bytes.get(1) == Some(&b'*') => {
                    let Some(end) = rest.get(2..).and_then(|body| body.find("*/")) else {
                        return Err(ParseError::new(
                            ParseErrorKind::UnterminatedComment,
                            self.position(),
                        ));
                    };
                    self.advance(end + 4);
                }
                _ => return Ok(()),
            }
        }
    }

    fn next_token(&mut self) -> Result<Option<Token<'a>>, ParseError> {
        self.skip_blanks()?;
        let rest = self.rest();
        let Some(first) = rest.chars().next() else {
            return Ok(None);
        };
        let position = self.position();
        let (kind, len) = match first {
            '\'' => self.string_literal()?,
            '0'..='9' | '.' => match number_len(rest.as_bytes()) {
                Some(found) => found,
                None => {
                    return Err(ParseError::new(ParseErrorKind::UnexpectedChar(first), position))
                }
            },
            'a'..='z' | 'A'..='Z' | '_' | '$' => {
                let len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                    .unwrap_or(rest.len());
                let word = rest.get(..len).unwrap_or("");
                let kind =
                    Keyword::from_word(word).map_or(TokenKind::Identifier, TokenKind::Keyword);
                (kind, len)
            }
            _ => match operator(rest.as_bytes()) {
                Some(found) => found,
                None => {
                    return Err(ParseError::new(ParseErrorKind::UnexpectedChar(first), position))
                }
            },
        };
        let text = rest.get(..len).unwrap_or("");
        self.advance(len);
        Ok(Some(Token { kind, text, position }))
    }

    /// A `'…'` literal starting at the cursor: its kind and its length in bytes.
    fn string_literal(&self) -> Result<(TokenKind<'a>, usize), ParseError> {
        let rest = self.rest();
        let body = rest.get(1..).unwrap_or("");
        let mut decoded: Option<String> = None;
        let mut index = 0;
        loop {
            let Some(quote) = body.get(index..).and_then(|b| b.find('\'')) else {
                return Err(ParseError::new(ParseErrorKind::UnterminatedString, self.position()));
            };
            let quote = index + quote;
            if body.as_bytes().get(quote + 1) == Some(&b'\'') {
                let piece = body.get(index..=quote).unwrap_or("");
                decoded.get_or_insert_with(String::new).push_str(piece);
                index = quote + 2;
                continue;
            }
            let len = quote + 2;
            let contents = match decoded {
                None => Cow::Borrowed(body.get(..quote).unwrap_or("")),
                Some(mut owned) => {
                    owned.push_str(body.get(index..quote).unwrap_or(""));
                    Cow::Owned(owned)
                }
            };
            let kind = TokenKind::Str(contents);
            return Ok((kind, len));
        }
    }
}

/// The longest numeric literal at the start of `bytes` (which starts with a digit or `.`):
/// its kind and length, or `None` for a lone `.`.
fn number_len<'a>(bytes: &[u8]) -> Option<(TokenKind<'a>, usize)> {
    let decimal = decimal_len(bytes);
    let float = float_len(bytes);
    match (decimal, float) {
        (_, Some(f)) if f > decimal.unwrap_or(0) => Some((TokenKind::Float, f)),
        (Some(d), _) => Some((TokenKind::Decimal, d)),
        (None, _) => None,
    }
}

fn digits_len(bytes: &[u8], from: usize) -> usize {
    bytes.get(from..).map_or(0, |b| b.iter().take_while(|c| c.is_ascii_digit()).count())
}

/// `0` | `[1-9][0-9]*[lL]?`.
fn decimal_len(bytes: &[u8]) -> Option<usize> {
    match bytes.first()? {
        b'0' => Some(1),
        b'1'..=b'9' => {
            let len = 1 + digits_len(bytes, 1);
            match bytes.get(len) {
                Some(b'l' | b'L') => Some(len + 1),
                _ => Some(len),
            }
        }
        _ => None,
    }
}

/// `[0-9]+ . [0-9]* EXP?` | `. [0-9]+ EXP?` | `[0-9]+ EXP`, the longest that matches.
fn float_len(bytes: &[u8]) -> Option<usize> {
    let int_len = digits_len(bytes, 0);
    if int_len > 0 {
        if bytes.get(int_len) == Some(&b'.') {
            let end = int_len + 1 + digits_len(bytes, int_len + 1);
            return Some(end + exponent_len(bytes, end));
        }
        let exp = exponent_len(bytes, int_len);
        return (exp > 0).then_some(int_len + exp);
    }
    if bytes.first() == Some(&b'.') {
        let frac = digits_len(bytes, 1);
        if frac > 0 {
            return Some(1 + frac + exponent_len(bytes, 1 + frac));
        }
    }
    None
}

/// `[eE][+-]?[0-9]+` at `from`, or 0 when there is no complete exponent.
fn exponent_len(bytes: &[u8], from: usize) -> usize {
    if !matches!(bytes.get(from), Some(b'e' | b'E')) {
        return 0;
    }
    let sign = usize::from(matches!(bytes.get(from + 1), Some(b'+' | b'-')));
    let digits = digits_len(bytes, from + 1 + sign);
    if digits == 0 {
        0
    } else {
        1 + sign + digits
    }
}

fn operator<'a>(bytes: &[u8]) -> Option<(TokenKind<'a>, usize)> {
    let two = (bytes.first().copied(), bytes.get(1).copied());
    Some(match two {
        (Some(b'<'), Some(b'>')) => (TokenKind::Ne, 2),
        (Some(b'<'), Some(b'=')) => (TokenKind::Le, 2),
        (Some(b'>'), Some(b'=')) => (TokenKind::Ge, 2),
        (Some(b'<'), _) => (TokenKind::Lt, 1),
        (Some(b'>'), _) => (TokenKind::Gt, 1),
        (Some(b'='), _) => (TokenKind::Eq, 1),
        (Some(b'('), _) => (TokenKind::LParen, 1),
        (Some(b')'), _) => (TokenKind::RParen, 1),
        (Some(b','), _) => (TokenKind::Comma, 1),
        (Some(b'+'), _) => (TokenKind::Plus, 1),
        (Some(b'-'), _) => (TokenKind::Minus, 1),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(sql: &str) -> Vec<String> {
        let tokens = tokenize(sql).expect("lexes");
        tokens.iter().map(|t| format!("{:?}:{}", t.kind, t.text)).collect()
    }

    #[test]
    fn longest_match_numbers_and_words() {
        assert_eq!(kinds("5.5E3"), ["Float:5.5E3"]);
        assert_eq!(kinds("5E"), ["Decimal:5", "Identifier:E"]);
        assert_eq!(kinds("0L 7l"), ["Decimal:0", "Identifier:L", "Decimal:7l"]);
        assert_eq!(kinds("05.5 .5 5."), ["Float:05.5", "Float:.5", "Float:5."]);
        assert_eq!(kinds("012"), ["Decimal:0", "Decimal:12"]);
        assert_eq!(kinds("1e+ 2e-3"), ["Decimal:1", "Identifier:e", "Plus:+", "Float:2e-3"]);
        assert_eq!(kinds("NOTE not In"), ["Identifier:NOTE", "Keyword(Not):not", "Keyword(In):In"]);
        assert_eq!(kinds("<><=>=<>="), ["Ne:<>", "Le:<=", "Ge:>=", "Ne:<>", "Eq:="]);
    }

    #[test]
    fn strings_comments_and_positions() {
        let tokens = tokenize("'it''s' /* c */ -- x\n'plain'").expect("lexes");
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens[0].kind, TokenKind::Str("it's".into()));
        assert_eq!(tokens[1].kind, TokenKind::Str("plain".into()));
        assert_eq!((tokens[1].position.line, tokens[1].position.column), (2, 1));
        assert!(kinds("a -- to the end").len() == 1, "a line comment may end the input");
    }

    #[test]
    fn lexical_errors_name_the_place() {
        let err = tokenize("a = 'x").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnterminatedString);
        assert_eq!(err.position.column, 5);
        let err = tokenize("a /* x").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnterminatedComment);
        let err = tokenize("a\n != 1").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnexpectedChar('!'));
        assert_eq!((err.position.line, err.position.column), (2, 2));
        let err = tokenize(". 5").unwrap_err();
        assert_eq!(err.kind, ParseErrorKind::UnexpectedChar('.'));
    }
}
