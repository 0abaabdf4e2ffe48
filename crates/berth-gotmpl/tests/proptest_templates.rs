//! Property tests of the Go-template engine (issue "Faults and abuse", fuzzing): any
//! template text and any JSON data give a result or an error, never a panic or a hang,
//! and text without actions renders as itself.

use berth_gotmpl::{render, Template};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Pieces that templates are made of, glued at random: mostly-valid, often-broken input.
fn template_soup() -> impl Strategy<Value = String> {
    let words = [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        ".",
        ".Name",
        ".A.B",
        "$",
        "$x := ",
        "range ",
        "if ",
        "with ",
        "else",
        "end",
        "json ",
        "printf \"%s %d %v %q\" ",
        "index . 0 ",
        "len ",
        "join ",
        "split ",
        "slice ",
        "eq ",
        "and ",
        "not ",
        "upper ",
        "table ",
        "(",
        ")",
        "|",
        " ",
        "\"str\"",
        "`raw`",
        "'c'",
        "-1",
        "1e309",
        "0x7fffffffffffffff",
        "/*",
        "*/",
        "\\t",
    ];
    let piece = prop_oneof![
        prop::sample::select(words.to_vec()).prop_map(String::from),
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(3000), failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text over arbitrary data: an answer, never a panic.
    #[test]
    fn any_text_is_answered(src in "\\PC{0,64}", data in json_value()) {
        let _ = render(&src, &data);
    }

    /// Template-shaped soup over arbitrary data: an answer, never a panic.
    #[test]
    fn template_soup_is_answered(src in template_soup(), data in json_value()) {
        if let Ok(t) = Template::parse(&src) {
            let _ = t.execute(&data);
        }
    }

    /// Text without `{{` prints verbatim.
    #[test]
    fn plain_text_is_verbatim(src in "[^{]{0,64}", data in json_value()) {
        prop_assert_eq!(render(&src, &data).unwrap(), src);
    }

    /// A string field prints as itself.
    #[test]
    fn string_fields_print_as_is(s in "\\PC{0,32}") {
        let data = json!({"Name": s});
        prop_assert_eq!(render("{{.Name}}", &data).unwrap(), s);
    }
}

/// Deep nesting is refused or handled, never a stack overflow (fixed sizes: a property
/// test here would scale with `PROPTEST_CASES` for nothing).
#[test]
fn deep_nesting_is_answered() {
    for n in [150usize, 199, 200, 201, 500, 2000, 10_000] {
        let parens = format!("{{{{{}1{}}}}}", "(".repeat(n), ")".repeat(n));
        let _ = render(&parens, &json!({}));
        let blocks = format!("{}x{}", "{{if 1}}".repeat(n), "{{end}}".repeat(n));
        let _ = render(&blocks, &json!({}));
        let ranges = format!("{}x{}", "{{range .}}".repeat(n), "{{end}}".repeat(n));
        let _ = render(&ranges, &json!([[1]]));
        let withs = format!("{}x{}", "{{with .}}".repeat(n), "{{end}}".repeat(n));
        let _ = render(&withs, &json!({}));
    }
}

/// `default` cases, or `PROPTEST_CASES` when set (longer fuzzing runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
