//! Template → output pairs checked against what Go's text/template prints, plus a
//! no-panic test over random and truncated templates.

use super::*;
use serde_json::json;

fn data() -> Value {
    json!({
        "Id": "abc123",
        "Name": "/web",
        "State": {"Status": "running", "Pid": 4242, "Running": true, "ExitCode": 0},
        "Config": {"Env": ["A=1", "B=2"], "Labels": {"com.x": "y", "a": "b"}, "Cmd": null, "Tty": false},
        "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
        "Num": 1.5,
        "Big": 123456789012u64,
        "Float2": 2.0,
        "Empty": "",
        "List": ["a", "b", "c"],
        "Nums": [3, 1, 2]
    })
}

fn r(t: &str) -> String {
    match render(t, &data()) {
        Ok(s) => s,
        Err(e) => format!("ERR:{e}"),
    }
}

#[test]
fn table_of_go_outputs() {
    let cases: &[(&str, &str)] = &[
        ("{{.Id}}", "abc123"),
        ("x{{.State.Status}}y", "xrunningy"),
        ("{{.State.Pid}}", "4242"),
        ("{{.State.Running}}", "true"),
        ("{{.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.Config.Cmd}}", "<nil>"),
        ("{{.Config.Env}}", "[A=1 B=2]"),
        ("{{.Config.Labels}}", "map[a:b com.x:y]"),
        ("{{.Num}} {{.Big}} {{.Float2}}", "1.5 123456789012 2"),
        ("{{json .Config.Labels}}", r#"{"com.x":"y","a":"b"}"#),
        ("{{json .Config.Cmd}}", "null"),
        ("{{json .List}}", r#"["a","b","c"]"#),
        (
            "{{upper .Id}} {{lower \"ABC\"}} {{title \"hello wide-world\"}}",
            "ABC123 abc Hello Wide-World",
        ),
        ("{{join .List \",\"}}", "a,b,c"),
        ("{{join .Config.Env \" \"}}", "A=1 B=2"),
        ("{{index .Config.Labels \"com.x\"}}", "y"),
        ("[{{index .Config.Labels \"nope\"}}]", "[]"),
        ("{{index .List 1}}", "b"),
        ("{{(index (index .Ports \"80/tcp\") 0).HostPort}}", "8080"),
        (
            "{{range $p, $conf := .Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}",
            "80/tcp -> 8080",
        ),
        ("{{split \"a:b:c\" \":\"}}", "[a b c]"),
        ("{{len .List}} {{len .Id}} {{len .Config.Labels}}", "3 6 2"),
        ("{{println .Id}}", "abc123\n"),
        ("{{printf \"%s-%d\" .Id .State.Pid}}", "abc123-4242"),
        ("{{printf \"%q\" .Id}}", "\"abc123\""),
        ("{{printf \"%-8s|\" .Id}}", "abc123  |"),
        ("{{printf \"%5d|%05d\" 42 42}}", "   42|00042"),
        ("{{printf \"%.2f\" .Num}}", "1.50"),
        ("{{printf \"%v\" .List}}", "[a b c]"),
        ("{{printf \"%d\" .Id}}", "%!d(string=abc123)"),
        ("{{printf \"%s %s\" .Id}}", "abc123 %!s(MISSING)"),
        ("{{.Id | printf \"%s!\"}}", "abc123!"),
        ("{{.Id | upper | printf \"<%s>\"}}", "<ABC123>"),
        ("{{range .List}}{{.}},{{end}}", "a,b,c,"),
        (
            "{{range $i, $v := .List}}{{$i}}={{$v}} {{end}}",
            "0=a 1=b 2=c ",
        ),
        ("{{range $v := .Nums}}{{$v}}{{end}}", "312"),
        ("{{range .Config.Labels}}{{.}};{{end}}", "b;y;"),
        ("{{range .Missing}}x{{else}}none{{end}}", "none"),
        (
            "{{range .List}}{{if eq . \"b\"}}{{break}}{{end}}{{.}}{{end}}",
            "a",
        ),
        (
            "{{range .List}}{{if eq . \"b\"}}{{continue}}{{end}}{{.}}{{end}}",
            "ac",
        ),
        ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
        (
            "{{if .Empty}}a{{else if .State.Running}}b{{else}}c{{end}}",
            "b",
        ),
        ("{{if not .Empty}}empty{{end}}", "empty"),
        ("{{if and .Id .Empty}}y{{else}}n{{end}}", "n"),
        ("{{or .Empty \"dflt\"}}", "dflt"),
        ("{{and .Id .Name}}", "/web"),
        (
            "{{if eq .State.Status \"exited\" \"running\"}}match{{end}}",
            "match",
        ),
        ("{{if ne .State.Pid 0}}pid{{end}}", "pid"),
        (
            "{{if gt .State.Pid 100}}big{{end}}{{if lt 1 2}}lt{{end}}",
            "biglt",
        ),
        ("{{with .State}}{{.Status}}{{end}}", "running"),
        ("{{with .Missing}}x{{else}}no{{end}}", "no"),
        ("{{$x := .Id}}{{$x}}", "abc123"),
        ("{{$x := 1}}{{if true}}{{$x = 2}}{{end}}{{$x}}", "2"),
        ("{{$.Missing}}", "<no value>"),
        ("{{len $}}", "11"),
        ("{{$.Id}}", "abc123"),
        ("{{range .List}}{{$.Id}}{{end}}", "abc123abc123abc123"),
        ("a  {{- .Id -}}  b", "aabc123b"),
        ("a\n{{- /* comment */ -}}\nb", "ab"),
        ("{{/* c */}}x", "x"),
        ("{{-3}}", "-3"),
        ("{{1.5}} {{true}} {{\"s\"}} {{'a'}}", "1.5 true s 97"),
        ("{{pad .Id 1 2}}|", " abc123  |"),
        ("{{truncate .Id 3}}", "abc"),
        ("{{slice .Id 1 3}}", "bc"),
        ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
        ("{{len (split \"a,b\" \",\")}}", "2"),
        ("{{range 3}}{{.}}{{end}}", "012"),
    ];
    let mut failures = Vec::new();
    for (t, want) in cases {
        let got = r(t);
        if &got != want {
            failures.push(format!("{t:?}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_like_go() {
    assert_eq!(
        r("{{foo .Id}}"),
        "ERR:template: :1: function \"foo\" not defined"
    );
    assert_eq!(
        r("x\n{{bar}}"),
        "ERR:template: :2: function \"bar\" not defined"
    );
    assert_eq!(r("{{.Id"), "ERR:template: :1: unclosed action");
    assert_eq!(r("{{if .Id}}x"), "ERR:template: :1: unexpected EOF");
    assert_eq!(r("{{end}}"), "ERR:template: :1: unexpected {{end}}");
    assert_eq!(
        r("{{$nope}}"),
        "ERR:template: :1: undefined variable \"$nope\""
    );
    assert_eq!(
        r("{{.Id.Foo}}"),
        "ERR:template: :1:2: executing \"\" at <.Id.Foo>: can't evaluate field Foo in type string"
    );
    assert_eq!(
        r("{{index .List 9}}"),
        "ERR:template: :1:2: executing \"\" at <index .List 9>: error calling index: index out of range: 9"
    );
    assert!(r("{{break}}").starts_with("ERR:template: :1:"));
}

struct Row;
impl Hooks for Row {
    fn has_method(&self, name: &str) -> bool {
        name == "Label"
    }
    fn method(&self, recv: &Value, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        if name != "Label" {
            return None;
        }
        let key = args.first()?.as_str()?.to_string();
        Some(Ok(recv["L"][&key].clone()))
    }
    fn has_function(&self, name: &str) -> bool {
        name == "shout"
    }
    fn function(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        (name == "shout").then(|| {
            Ok(Value::String(format!(
                "{}!",
                args[0].as_str().unwrap_or("")
            )))
        })
    }
}

struct Typed;
impl Hooks for Typed {
    fn nil_repr(&self, name: &str) -> Option<&'static str> {
        match name {
            "Cmd" => Some("[]"),
            "Labels" => Some("map[]"),
            _ => None,
        }
    }
}

#[test]
fn typed_nils_print_like_go_slices_and_maps() {
    let d = json!({"Cmd": null, "Labels": null, "Health": null});
    let t = Template::parse("{{.Cmd}} {{.Labels}} {{.Health}} {{json .Cmd}} {{len .Cmd}}{{range .Cmd}}x{{end}}{{if .Cmd}}y{{end}}").unwrap();
    assert_eq!(t.execute_with(&d, &Typed).unwrap(), "[] map[] <nil> null 0");
    assert!(t
        .execute(&d)
        .unwrap_err()
        .to_string()
        .contains("len of type"));
}

#[test]
fn hooks_provide_methods_and_functions() {
    let d = json!({"L": {"com.x": "val"}, "ID": "i"});
    let t = Template::parse_with("{{.ID}} {{.Label \"com.x\"}} {{shout .ID}}", &Row).unwrap();
    assert_eq!(t.execute_with(&d, &Row).unwrap(), "i val i!");
    // Without the hook, the function is unknown at parse time.
    assert!(Template::parse("{{shout .ID}}").is_err());
    // A field with arguments that is no method is an error, not a silent lookup.
    let t = Template::parse("{{.ID \"x\"}}").unwrap();
    assert!(t.execute(&d).is_err());
}

/// Small deterministic generator (xorshift) so the test needs no extra crates.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn never_panics_on_random_or_truncated_input() {
    let pieces = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        ".",
        ".Id",
        ".State",
        ".List",
        "$",
        "$x",
        ":=",
        "=",
        "|",
        "(",
        ")",
        "\"",
        "\"s\"",
        "`r`",
        "'a'",
        "'",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "continue",
        "json",
        "index",
        "printf",
        "\"%d%s%q%-5v%\"",
        "len",
        "and",
        "or",
        "not",
        "eq",
        "1",
        "-1",
        "0x1F",
        "1e3",
        "9999999999999999999999",
        "/*",
        "*/",
        ",",
        "\n",
        "é",
        "nil",
        "true",
        "slice",
        "split",
        "join",
        "\\",
        "{",
        "}",
        "define",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let d = data();
    for _ in 0..20_000 {
        let n = (rng.next() % 12) as usize;
        let mut t = String::new();
        for _ in 0..n {
            t.push_str(pieces[(rng.next() % pieces.len() as u64) as usize]);
        }
        let _ = render(&t, &d);
    }
    // Every prefix of valid templates.
    let valid = [
        "{{range $i, $v := .List}}{{if eq $i 1}}{{$v | printf \"%s\"}}{{else}}-{{end}}{{end}}",
        "{{with .State}}{{json .}}{{end}}{{- /* x */ -}} {{(index .List 0)}}",
    ];
    for v in valid {
        for (i, _) in v.char_indices() {
            let _ = render(&v[..i], &d);
        }
        assert!(render(v, &d).is_ok(), "{v}");
    }
    // Deep nesting is rejected rather than overflowing the stack.
    let deep = "{{".to_string() + &"(".repeat(100_000) + "1" + &")".repeat(100_000) + "}}";
    assert!(render(&deep, &d).is_err());
    let deep_if = "{{if 1}}".repeat(10_000);
    assert!(render(&deep_if, &d).is_err());
}
