//! The selector corpus (every row of ADVANCED.md §6.2's table, the coercion rules and the
//! §6.1 parse-time checks) and property tests: no input panics, and printing a selector then
//! parsing it again gives the same tree.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// What a corpus row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Evaluates to TRUE: the message matches.
    True,
    /// Evaluates to FALSE: no match.
    False,
    /// Evaluates to unknown (Java's null): no match.
    Unknown,
    /// Evaluation fails as Java's throws: no match.
    EvalFails,
    /// Does not compile.
    ParseFails,
}

use Want::{EvalFails, False, ParseFails, True, Unknown};

/// Properties every row sees besides its own: `t` makes `t = 1` TRUE, `f` makes `f = 1`
/// FALSE, and `m` is never set, so `m = 1` is unknown.
fn base_props() -> HashMap<String, String> {
    HashMap::from([("t".to_string(), "1".to_string()), ("f".to_string(), "0".to_string())])
}

fn outcome(sql: &str, extra: &[(&str, &str)]) -> Want {
    let selector = match Selector::parse(sql) {
        Ok(selector) => selector,
        Err(_) => return ParseFails,
    };
    let mut props = base_props();
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    let got = match selector.evaluate(&props) {
        Ok(Some(true)) => True,
        Ok(Some(false)) => False,
        Ok(None) => Unknown,
        Err(_) => EvalFails,
    };
    assert_eq!(selector.matches(&props), got == True, "matches() is TRUE only: {sql}");
    got
}

type Row = (&'static str, &'static [(&'static str, &'static str)], Want);

/// §6.2, "missing property in =, <>, >, <, >=, <=, BETWEEN: unknown; NOT of unknown is
/// unknown", and Java's asymmetric `=`.
const MISSING: &[Row] = &[
    ("m = 1", &[], Unknown),
    ("m <> 1", &[], Unknown),
    ("m > 1", &[], Unknown),
    ("m >= 1", &[], Unknown),
    ("m < 1", &[], Unknown),
    ("m <= 1", &[], Unknown),
    ("m BETWEEN 1 AND 2", &[], Unknown),
    ("m NOT BETWEEN 1 AND 2", &[], Unknown),
    ("m = 'x'", &[], Unknown),
    ("NOT (m = 1)", &[], Unknown),
    ("NOT (m > 1)", &[], Unknown),
    ("NOT (m BETWEEN 1 AND 2)", &[], Unknown),
    ("1 < m", &[], Unknown),
    // Java's doCreateEqual: only-right-missing is FALSE, both missing is TRUE.
    ("1 = m", &[], False),
    ("1 <> m", &[], True),
    ("m = m2", &[], True),
    ("t = m", &[], False),
];

/// §6.2, IS NULL / IS NOT NULL.
const IS_NULL: &[Row] = &[
    ("m IS NULL", &[], True),
    ("m IS NOT NULL", &[], False),
    ("t IS NULL", &[], False),
    ("t IS NOT NULL", &[], True),
    ("e IS NOT NULL", &[("e", "")], True),
    ("m is null", &[], True),
    ("(m > 1) IS NULL", &[], True),
    ("(t = 1) IS NOT NULL", &[], True),
    ("(b > 1) IS NULL", &[("b", "abc")], EvalFails),
];

/// §6.2, AND and OR over TRUE (`t = 1`), FALSE (`f = 1`) and unknown (`m = 1`).
const LOGIC: &[Row] = &[
    ("t = 1 AND t = 1", &[], True),
    ("t = 1 AND f = 1", &[], False),
    ("f = 1 AND t = 1", &[], False),
    ("f = 1 AND m = 1", &[], False),
    ("m = 1 AND f = 1", &[], False),
    ("t = 1 AND m = 1", &[], Unknown),
    ("m = 1 AND t = 1", &[], Unknown),
    ("m = 1 AND m = 1", &[], Unknown),
    ("f = 1 AND f = 1", &[], False),
    ("t = 1 OR f = 1", &[], True),
    ("f = 1 OR t = 1", &[], True),
    ("t = 1 OR m = 1", &[], True),
    ("m = 1 OR t = 1", &[], True),
    ("f = 1 OR m = 1", &[], Unknown),
    ("m = 1 OR f = 1", &[], Unknown),
    ("m = 1 OR m = 1", &[], Unknown),
    ("f = 1 OR f = 1", &[], False),
    ("NOT (t = 1)", &[], False),
    ("NOT (f = 1)", &[], True),
    ("t = 1 and f = 1 or t = 1", &[], True),
    ("t = 1 AnD (f = 1 Or t = 1)", &[], True),
    ("f = 1 AND t = 1 OR f = 1", &[], False),
    ("TRUE", &[], True),
    ("FALSE", &[], False),
    ("NULL", &[], Unknown),
    ("NOT NULL", &[], Unknown),
    // Short-circuit: an error on the right of a decided AND/OR is never raised.
    ("t = 1 OR b > 1", &[("b", "abc")], True),
    ("f = 1 AND b > 1", &[("b", "abc")], False),
    ("f = 1 OR b > 1", &[("b", "abc")], EvalFails),
    ("b > 1 OR t = 1", &[("b", "abc")], EvalFails),
];

/// §6.2, [NOT] CONTAINS / STARTSWITH / ENDSWITH.
const STRING_MATCH: &[Row] = &[
    ("s CONTAINS 'ell'", &[("s", "hello")], True),
    ("s CONTAINS 'ELL'", &[("s", "hello")], False),
    ("s NOT CONTAINS 'ell'", &[("s", "hello")], False),
    ("s NOT CONTAINS 'xyz'", &[("s", "hello")], True),
    ("s STARTSWITH 'he'", &[("s", "hello")], True),
    ("s STARTSWITH 'lo'", &[("s", "hello")], False),
    ("s NOT STARTSWITH 'lo'", &[("s", "hello")], True),
    ("s ENDSWITH 'lo'", &[("s", "hello")], True),
    ("s NOT ENDSWITH 'lo'", &[("s", "hello")], False),
    ("s endswith 'it''s'", &[("s", "so it's")], True),
    // Missing, non-string or empty pattern: FALSE, for the NOT forms too.
    ("m CONTAINS 'a'", &[], False),
    ("m NOT CONTAINS 'a'", &[], False),
    ("m STARTSWITH 'a'", &[], False),
    ("m NOT STARTSWITH 'a'", &[], False),
    ("m ENDSWITH 'a'", &[], False),
    ("m NOT ENDSWITH 'a'", &[], False),
    ("s CONTAINS ''", &[("s", "hello")], False),
    ("s NOT CONTAINS ''", &[("s", "hello")], False),
    ("s NOT ENDSWITH ''", &[("s", "hello")], False),
    ("5 CONTAINS '5'", &[], False),
    ("5 NOT CONTAINS '5'", &[], False),
    ("(t = 1) NOT STARTSWITH 'T'", &[], False),
    ("'abc' CONTAINS 'b'", &[], True),
    ("s CONTAINS 5", &[("s", "5")], ParseFails),
];

/// §6.2, [NOT] IN.
const IN: &[Row] = &[
    ("b IN ('x', 'y')", &[("b", "y")], True),
    ("b IN ('x', 'y')", &[("b", "z")], False),
    ("b NOT IN ('x', 'y')", &[("b", "z")], True),
    ("b NOT IN ('x', 'y')", &[("b", "x")], False),
    ("m IN ('x')", &[], Unknown),
    ("m NOT IN ('x')", &[], Unknown),
    ("b IN ('X')", &[("b", "x")], False),
    ("b in ('a','b','c','d','e','f','x')", &[("b", "x")], True),
    ("b IN ('it''s')", &[("b", "it's")], True),
    ("t IN ('1')", &[], True),
];

/// §6.2, bare `p` (boolean cast) and unary minus.
const CAST_AND_NEGATE: &[Row] = &[
    ("flag", &[("flag", "true")], False),
    ("m", &[], Unknown),
    ("NOT flag", &[("flag", "true")], True),
    ("NOT m", &[], Unknown),
    ("flag = TRUE", &[("flag", "true")], True),
    ("flag AND t = 1", &[("flag", "true")], False),
    ("-a > 5", &[("a", "-10")], Unknown),
    ("-a = -10", &[("a", "10")], Unknown),
    ("a = -10", &[("a", "-10")], True),
    ("a > -5", &[("a", "-1")], True),
    ("a > - -5", &[("a", "6")], True),
    ("a > +5", &[("a", "6")], True),
    ("-m > 5", &[], Unknown),
    ("a = -2147483648", &[("a", "-2147483648")], True),
    // NOT binds tighter than `=`: `(NOT a) = 1` compares a boolean with 1, never equal.
    ("NOT a = 1", &[("a", "1")], False),
];

/// §6.2, type coercion: the string side converts to the literal's type.
const COERCION: &[Row] = &[
    ("a = 10", &[("a", "10")], True),
    ("a = 10", &[("a", "+10")], True),
    ("a = 10", &[("a", " 10")], EvalFails),
    ("a = 10", &[("a", "11")], False),
    ("a <> 10", &[("a", "11")], True),
    ("a = TRUE", &[("a", "true")], True),
    ("a = TRUE", &[("a", "TRUE")], True),
    ("a = TRUE", &[("a", "yes")], False),
    ("a = FALSE", &[("a", "yes")], True),
    ("TRUE = a", &[("a", "true")], EvalFails),
    ("'true' = TRUE", &[], True),
    ("a > 5", &[("a", "5.5")], EvalFails),
    ("a > 5", &[("a", "abc")], EvalFails),
    ("a > 5", &[("a", "10000000000")], EvalFails),
    ("a = 5", &[("a", "5.0")], EvalFails),
    ("a > 5.0", &[("a", "5.5")], True),
    ("a > 5.0", &[("a", "10000000000")], True),
    ("a > 5.0", &[("a", " 6 ")], True),
    ("a > 5.0", &[("a", "6d")], True),
    ("a > 5.0", &[("a", "NaN")], True),
    ("a > 5.0", &[("a", "abc")], EvalFails),
    ("a > 2147483648", &[("a", "10000000000")], True),
    ("a > 2147483648", &[("a", "5.5")], EvalFails),
    ("a = 5L", &[("a", "5")], True),
    ("a > 5E0", &[("a", "6")], True),
    ("a < .5", &[("a", "0.25")], True),
    ("a >= 5.", &[("a", "5")], True),
    ("a <= 1.5e1", &[("a", "15")], True),
    ("a < 1", &[("a", "0")], True),
    ("a = 0", &[("a", "0")], True),
    // Numeric widening between literal types (int < long < double).
    ("2147483648 > 5", &[], True),
    ("5 < 5.5", &[], True),
    ("5 = 5.0", &[], True),
    ("2147483648 = 2147483648.0", &[], True),
    // String against string: `=` is equals; ordering goes through Double.valueOf.
    ("a = b", &[("a", "x"), ("b", "x")], True),
    ("a = b", &[("a", "x"), ("b", "y")], False),
    ("a = 'x'", &[("a", "x")], True),
    ("a = 'X'", &[("a", "x")], False),
    ("a > b", &[("a", "10"), ("b", "9")], True),
    ("a > b", &[("a", "x"), ("b", "9")], EvalFails),
    ("a <> 'x'", &[("a", "y")], True),
    ("'x' = 5", &[], EvalFails),
    ("(t = 1) = 5", &[], False),
    ("(t = 1) = TRUE", &[], True),
    ("(t = 1) = 'true'", &[], EvalFails),
    ("a BETWEEN 3 AND 5", &[("a", "4")], True),
    ("a BETWEEN 3 AND 5", &[("a", "5")], True),
    ("a BETWEEN 3 AND 5", &[("a", "6")], False),
    ("a NOT BETWEEN 3 AND 5", &[("a", "6")], True),
    ("a NOT BETWEEN 3 AND 5", &[("a", "4")], False),
    ("a BETWEEN 3 AND 5", &[("a", "4.5")], EvalFails),
    ("a BETWEEN 3.0 AND 5", &[("a", "4.5")], EvalFails),
    ("a BETWEEN 3.0 AND 5.0", &[("a", "4.5")], True),
    ("a BETWEEN lo AND hi", &[("a", "4"), ("lo", "1"), ("hi", "9")], True),
    ("a BETWEEN 3 AND 5 AND b = 'x'", &[("a", "4"), ("b", "x")], True),
    ("a NOT BETWEEN 5 AND 3", &[("a", "4")], True),
    ("TAGS = 'TagA'", &[("TAGS", "TagA")], True),
    ("tags = 'TagA'", &[("TAGS", "TagA")], Unknown),
];

/// §6.1 lexical rules and parse-time checks.
const PARSING: &[Row] = &[
    ("a = 'it''s'", &[("a", "it's")], True),
    ("a = ''''", &[("a", "'")], True),
    ("a = 'line\nbreak'", &[("a", "line\nbreak")], True),
    ("a = 1 -- the rest of the line\n AND t = 1", &[("a", "1")], True),
    ("a = 1 -- at the end", &[("a", "1")], True),
    ("a /* inline */ = 1", &[("a", "1")], True),
    ("a\t=\r\n1\x0c", &[("a", "1")], True),
    ("$a_1 = 1", &[("$a_1", "1")], True),
    ("_ = 1", &[("_", "1")], True),
    ("A = 1", &[("a", "1")], Unknown),
    ("NOTE = 1", &[("NOTE", "1")], True),
    ("a = 9223372036854775807", &[("a", "9223372036854775807")], True),
    ("a = 9223372036854775808", &[], ParseFails),
    ("a > 100000000000000000000000", &[], ParseFails),
    ("a > 1e400", &[], ParseFails),
    ("a > 0.0", &[], ParseFails),
    ("a > 0.", &[], ParseFails),
    ("a > .0", &[], ParseFails),
    ("a > 1e-400", &[], ParseFails),
    ("a > 4.9e-324", &[], Unknown),
    ("a > 0x10", &[], ParseFails),
    ("a > 010", &[], ParseFails),
    ("a = 0L", &[], ParseFails),
    ("a.b = 1", &[], ParseFails),
    ("a-b = 1", &[], ParseFails),
    ("\"a\" = 1", &[], ParseFails),
    ("a == 1", &[], ParseFails),
    ("a != 1", &[], ParseFails),
    ("a = 'x", &[], ParseFails),
    ("a = 1 /* open", &[], ParseFails),
    ("", &[], ParseFails),
    ("   ", &[], ParseFails),
    ("(a = 1", &[], ParseFails),
    ("a = 1)", &[], ParseFails),
    ("a = 1 b = 2", &[], ParseFails),
    ("a LIKE 'x%'", &[], ParseFails),
    ("a + 1 > 2", &[], ParseFails),
    ("a - 1 > 2", &[], ParseFails),
    // The selector must be boolean; a bare property is cast.
    ("5", &[], ParseFails),
    ("'x'", &[], ParseFails),
    ("-a", &[], ParseFails),
    ("a AND 5", &[], ParseFails),
    ("5 OR a", &[], ParseFails),
    ("NOT 5", &[], ParseFails),
    ("a and between 2 and 10", &[], ParseFails),
    // IN: a property on the left, string literals only.
    ("5 IN ('5')", &[], ParseFails),
    ("'a' IN ('a')", &[], ParseFails),
    ("(a) IN ('a')", &[("a", "a")], True),
    ("a IN (1, 2)", &[], ParseFails),
    ("a IN ()", &[], ParseFails),
    ("a IN 'x'", &[], ParseFails),
    ("a IN ('x',)", &[], ParseFails),
    // `=` / `<>`: no NULL literal; no boolean constant against a non-boolean constant.
    ("a = NULL", &[], ParseFails),
    ("NULL = a", &[], ParseFails),
    ("a <> NULL", &[], ParseFails),
    ("TRUE = 1", &[], ParseFails),
    ("TRUE = 'true'", &[], ParseFails),
    ("TRUE = FALSE", &[], False),
    ("1 = TRUE", &[], False),
    // `>`, `>=`, `<`, `<=`: no string, boolean or NULL constant, no boolean expression.
    ("a > 'x'", &[], ParseFails),
    ("'x' < a", &[], ParseFails),
    ("a >= TRUE", &[], ParseFails),
    ("a <= NULL", &[], ParseFails),
    ("(a = 1) > 1", &[], ParseFails),
    ("a > 1 > 2", &[], ParseFails),
    ("NOT a > 1", &[], ParseFails),
    ("a BETWEEN 'a' AND 'z'", &[], ParseFails),
    ("a BETWEEN TRUE AND 1", &[], ParseFails),
    // BETWEEN with constants: non-null, low <= high.
    ("a BETWEEN 10 AND 0", &[], ParseFails),
    ("a BETWEEN NULL AND 1", &[], ParseFails),
    ("a BETWEEN 1 AND NULL", &[], ParseFails),
    ("a BETWEEN 5 AND 5", &[("a", "5")], True),
    ("a BETWEEN 1 AND 2.5", &[("a", "2")], True),
    ("a BETWEEN 2.5 AND 2", &[], ParseFails),
    // A negated literal is not a constant to Java, so this bound check does not apply.
    ("a BETWEEN -1 AND -5", &[("a", "-3")], False),
    ("a BETWEEN 1", &[], ParseFails),
    ("a BETWEEN 1 OR 2", &[], ParseFails),
    ("a IS 5", &[], ParseFails),
    ("a IS NOT 5", &[], ParseFails),
    ("a NOT LIKE 'x'", &[], ParseFails),
    ("a CONTAINS", &[], ParseFails),
];

const ALL: &[&[Row]] =
    &[MISSING, IS_NULL, LOGIC, STRING_MATCH, IN, CAST_AND_NEGATE, COERCION, PARSING];

#[test]
fn corpus() {
    let mut failures = Vec::new();
    for (sql, props, want) in ALL.iter().flat_map(|rows| rows.iter()) {
        let got = outcome(sql, props);
        if got != *want {
            failures.push(format!("{sql:?} with {props:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{} corpus rows differ:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn keywords_are_case_insensitive_and_names_case_sensitive() {
    let a = Selector::parse("a between 1 and 2 or b is not null and c not in ('x')").unwrap();
    let b = Selector::parse("a BETWEEN 1 AND 2 OR b IS NOT NULL AND c NOT IN ('x')").unwrap();
    assert_eq!(a, b);
    let upper = Selector::parse("A = 1").unwrap();
    assert_ne!(upper, Selector::parse("a = 1").unwrap());
}

#[test]
fn literals_keep_javas_types() {
    let lit = |sql: &str| match Selector::parse(sql).unwrap().expr() {
        Expr::Compare { right, .. } => (**right).clone(),
        other => panic!("not a comparison: {other:?}"),
    };
    assert_eq!(lit("a = 2147483647"), Expr::Literal(Literal::Int(i32::MAX)));
    assert_eq!(lit("a = 2147483648"), Expr::Literal(Literal::Long(1 << 31)));
    assert_eq!(lit("a = 7L"), Expr::Literal(Literal::Int(7)));
    assert_eq!(lit("a = 5E10"), Expr::Literal(Literal::Double(5e10)));
    assert_eq!(lit("a = -5"), Expr::Negate(Box::new(Expr::Literal(Literal::Int(5)))));
}

#[test]
fn parse_errors_name_position_and_token() {
    let err = Selector::parse("a = 1 AND\n  b == 2").unwrap_err();
    assert_eq!((err.position.line, err.position.column), (2, 6));
    assert_eq!(
        err.kind,
        ParseErrorKind::UnexpectedToken {
            found: "=".into(),
            expected: "a literal, a property or '('"
        }
    );
    let text = err.to_string();
    assert!(text.contains("line 2, column 6") && text.contains("\"=\""), "{text}");

    let err = Selector::parse("a = 1 b").unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::TrailingInput { found: "b".into() });
    assert_eq!(err.position.column, 7);

    let err = Selector::parse("a > 'x'").unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::NotComparable("'x'".into()));
    assert_eq!(err.position.column, 5);

    let err = Selector::parse("a BETWEEN 10 AND 0").unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::BetweenOrder { low: "10".into(), high: "0".into() });

    let err = Selector::parse("a = ").unwrap_err();
    assert!(matches!(err.kind, ParseErrorKind::UnexpectedEnd { .. }), "{err}");
    assert_eq!(err.position.offset, 4);

    let err = Selector::parse("a = 'é").unwrap_err();
    assert_eq!(err.kind, ParseErrorKind::UnterminatedString);
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep =
        |n: usize, open: &str, close: &str| format!("{}a = 1{}", open.repeat(n), close.repeat(n));
    assert!(Selector::parse(&deep(MAX_DEPTH - 10, "(", ")")).is_ok());
    for sql in [
        deep(100_000, "(", ")"),
        deep(100_000, "NOT ", ""),
        format!("a = {}1", "- ".repeat(100_000)),
        format!("a = {}1", "+ ".repeat(100_000)),
        format!("a IS NULL{}", " IS NULL".repeat(100_000)),
        format!("a = 1{}", " = TRUE".repeat(100_000)),
        format!("a CONTAINS 'x'{}", " CONTAINS 'x'".repeat(100_000)),
        "(".repeat(100_000),
    ] {
        let err = Selector::parse(&sql).unwrap_err();
        assert!(
            matches!(
                err.kind,
                ParseErrorKind::TooDeep { .. } | ParseErrorKind::UnexpectedEnd { .. }
            ),
            "{err}"
        );
    }
    // Long flat chains are fine: AND and OR keep their operands in one node.
    let wide = vec!["a = 1"; 10_000].join(" OR ");
    let selector = Selector::parse(&wide).unwrap();
    assert!(selector.matches(&HashMap::from([("a".to_string(), "1".to_string())])));
}

#[test]
fn properties_from_pairs_take_the_last_duplicate() {
    let selector = Selector::parse("a = 2").unwrap();
    let pairs = vec![("a".to_string(), "1".to_string()), ("a".to_string(), "2".to_string())];
    assert!(selector.matches(&pairs));
    assert!(selector.matches(pairs.as_slice()));
}

#[test]
fn display_reparses_to_the_same_tree() {
    for sql in ALL.iter().flat_map(|rows| rows.iter()).map(|(sql, _, _)| sql) {
        if let Ok(selector) = Selector::parse(sql) {
            let printed = selector.to_string();
            let again = Selector::parse(&printed)
                .unwrap_or_else(|e| panic!("{sql:?} printed as {printed:?}: {e}"));
            assert_eq!(again, selector, "{sql:?} printed as {printed:?}");
        }
    }
}

// ---- property tests ----

/// Pieces that lex into every token kind, plus some that do not lex.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "NOT",
            "and",
            "Or",
            "BETWEEN",
            "IN",
            "TRUE",
            "false",
            "NULL",
            "IS",
            "CONTAINS",
            "STARTSWITH",
            "endswith",
            "=",
            "<>",
            ">",
            ">=",
            "<",
            "<=",
            "(",
            ")",
            ",",
            "+",
            "-",
            "a",
            "b",
            "TAGS",
            "0",
            "5",
            "2147483648",
            "9223372036854775808",
            "5L",
            "5.5",
            ".5",
            "5.",
            "1E3",
            "0.0",
            "'x'",
            "'it''s'",
            "''",
            "--",
            "/*",
            "*/",
            "'",
            "!",
            ".",
            "\n",
            "é",
            "1e400",
        ])
        .prop_map(str::to_string),
        "[a-z_$][a-z0-9_$]{0,4}",
        "'[^']{0,4}'",
        "[0-9]{1,25}",
    ]
}

fn token_sequence() -> impl Strategy<Value = String> {
    prop::collection::vec(token_text(), 0..24).prop_map(|tokens| tokens.join(" "))
}

fn props_strategy() -> impl Strategy<Value = HashMap<String, String>> {
    let value = prop_oneof![
        Just("1".to_string()),
        Just("x".to_string()),
        Just("5.5".to_string()),
        Just("true".to_string()),
        Just("NaN".to_string()),
        "-?[0-9]{1,12}",
        ".{0,6}",
    ];
    prop::collection::hash_map(prop::sample::select(vec!["a", "b", "TAGS"]), value, 0..3)
        .prop_map(|m| m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Random well-formed-ish selectors from the grammar, so that most of them compile.
fn selector_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        prop::sample::select(vec!["a", "b", "TAGS"]).prop_map(str::to_string),
        (0i64..3_000_000_000).prop_map(|v| v.to_string()),
        (1u32..100_000, 0u32..6).prop_map(|(m, e)| format!("{m}.{e}E{e}")),
        "[a-z']{0,3}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
        prop::sample::select(vec!["TRUE", "FALSE", "NULL"]).prop_map(str::to_string),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        let op =
            prop::sample::select(vec!["=", "<>", ">", ">=", "<", "<=", "AND", "OR", "BETWEEN"]);
        prop_oneof![
            (inner.clone(), op, inner.clone(), inner.clone()).prop_map(|(l, op, r, h)| {
                if op == "BETWEEN" {
                    format!("{l} BETWEEN {r} AND {h}")
                } else {
                    format!("{l} {op} {r}")
                }
            }),
            inner.clone().prop_map(|e| format!("({e})")),
            inner.clone().prop_map(|e| format!("NOT {e}")),
            inner.clone().prop_map(|e| format!("-{e}")),
            inner.clone().prop_map(|e| format!("{e} IS NOT NULL")),
            inner.clone().prop_map(|e| format!("{e} NOT CONTAINS 'x'")),
            (inner, prop::collection::vec("[a-z]{0,2}", 1..4)).prop_map(|(e, items)| {
                let items: Vec<String> = items.iter().map(|i| format!("'{i}'")).collect();
                format!("{e} IN ({})", items.join(", "))
            }),
        ]
    })
}

/// Parses, evaluates and prints without panicking; what compiles prints back to itself.
fn exercise(sql: &str, props: &HashMap<String, String>) -> Result<(), TestCaseError> {
    let Ok(selector) = Selector::parse(sql) else {
        return Ok(());
    };
    let _ = selector.evaluate(props);
    let printed = selector.to_string();
    let again = Selector::parse(&printed);
    prop_assert_eq!(again.as_ref().ok(), Some(&selector), "{:?} printed as {:?}", sql, printed);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_strings_never_panic(sql in ".{0,64}", props in props_strategy()) {
        exercise(&sql, &props)?;
    }

    #[test]
    fn random_token_sequences_never_panic(sql in token_sequence(), props in props_strategy()) {
        exercise(&sql, &props)?;
    }

    #[test]
    fn generated_selectors_round_trip(sql in selector_text(), props in props_strategy()) {
        exercise(&sql, &props)?;
    }
}

#[test]
fn the_deepest_accepted_selectors_fit_in_a_small_stack() {
    // Parsing, evaluating, printing and dropping at the depth limit, on a thread with half of
    // the default stack, unoptimized (optimized frames are several times smaller).
    let n = MAX_DEPTH - 3;
    let inputs = [
        format!("{}a = 1{}", "(".repeat(n), ")".repeat(n)),
        format!("{}a = 1", "NOT ".repeat(n)),
        format!("a = {}1", "- ".repeat(n)),
        format!("a IS NULL{}", " IS NULL".repeat(n)),
        format!("{}a = 1{}", "(NOT ".repeat(n / 2), ")".repeat(n / 2)),
    ];
    let worker = std::thread::Builder::new().stack_size(1024 * 1024).spawn(move || {
        let props = HashMap::from([("a".to_string(), "1".to_string())]);
        for sql in inputs {
            let selector = Selector::parse(&sql).unwrap_or_else(|e| panic!("{sql:.40}…: {e}"));
            let _ = selector.evaluate(&props);
            let again = Selector::parse(&selector.to_string()).expect("printed form parses");
            assert_eq!(again, selector);
        }
    });
    worker.expect("spawn").join().expect("no stack overflow");
}
