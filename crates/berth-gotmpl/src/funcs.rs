//! Built-in functions: Go's (`and or not eq ne lt le gt ge len index slice print
//! printf println`) and the ones Docker's CLI adds (`json split join title lower
//! upper pad truncate`).

use serde_json::Value;

use crate::print::{format_float, format_number, go_type, print_val, truth, Val};

/// Every built-in name (the parser rejects other identifiers).
pub const NAMES: &[&str] = &[
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print",
    "printf", "println", "json", "split", "join", "title", "lower", "upper", "pad", "truncate",
    "urlquery", "html", "js",
];

fn want(name: &str, args: &[Val], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn as_str(v: &Val) -> Result<&str, String> {
    match v {
        Val::J(Value::String(s)) => Ok(s),
        other => Err(format!(
            "wrong type for value; expected string; got {}",
            go_type(other)
        )),
    }
}

fn as_int(v: &Val) -> Result<i64, String> {
    match v {
        Val::J(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .ok_or_else(|| format!("cannot index slice/array with type {}", go_type(v))),
        other => Err(format!(
            "cannot index slice/array with type {}",
            go_type(other)
        )),
    }
}

pub fn call(name: &str, args: &[Val]) -> Result<Val, String> {
    match name {
        "not" => {
            want(name, args, 1)?;
            Ok(Val::J(Value::Bool(!truth(&args[0]))))
        }
        "and" | "or" => {
            // Only reached when the function is used as an argument without operands.
            Err(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            ))
        }
        "eq" => {
            if args.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &args[1..] {
                if equal(&args[0], b)? {
                    return Ok(Val::J(Value::Bool(true)));
                }
            }
            Ok(Val::J(Value::Bool(false)))
        }
        "ne" => {
            want(name, args, 2)?;
            Ok(Val::J(Value::Bool(!equal(&args[0], &args[1])?)))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, args, 2)?;
            let ord = compare(&args[0], &args[1])?;
            let r = match name {
                "lt" => ord.is_lt(),
                "le" => ord.is_le(),
                "gt" => ord.is_gt(),
                _ => ord.is_ge(),
            };
            Ok(Val::J(Value::Bool(r)))
        }
        "len" => {
            want(name, args, 1)?;
            let n = match &args[0] {
                Val::J(Value::String(s)) => s.len(),
                Val::J(Value::Array(a)) => a.len(),
                Val::J(Value::Object(o)) => o.len(),
                Val::TypedNil(_) => 0,
                other => return Err(format!("len of type {}", go_type(other))),
            };
            Ok(Val::J(Value::from(n)))
        }
        "index" => {
            if args.is_empty() {
                return Err("wrong number of args for index: want at least 1 got 0".into());
            }
            let mut cur = args[0].clone();
            for k in &args[1..] {
                cur = index(&cur, k)?;
            }
            Ok(cur)
        }
        "slice" => {
            if args.is_empty() || args.len() > 4 {
                return Err("wrong number of args for slice".into());
            }
            let idx: Vec<i64> = args[1..].iter().map(as_int).collect::<Result<_, _>>()?;
            match &args[0] {
                Val::J(Value::String(s)) => {
                    let (i, j) = bounds(&idx, s.len())?;
                    s.get(i..j)
                        .map(Val::str)
                        .ok_or_else(|| "slice index out of range".to_string())
                }
                Val::J(Value::Array(a)) => {
                    let (i, j) = bounds(&idx, a.len())?;
                    Ok(Val::J(Value::Array(a[i..j].to_vec())))
                }
                other => Err(format!("can't slice item of type {}", go_type(other))),
            }
        }
        "print" => Ok(Val::str(sprint(args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(print_val).collect();
            Ok(Val::str(parts.join(" ") + "\n"))
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            }
            let f = as_str(&args[0])?;
            Ok(Val::str(sprintf(f, &args[1..])))
        }
        "json" => {
            want(name, args, 1)?;
            let s = serde_json::to_string(&args[0].json()).map_err(|e| e.to_string())?;
            Ok(Val::str(s))
        }
        "split" => {
            want(name, args, 2)?;
            let s = as_str(&args[0])?;
            let sep = as_str(&args[1])?;
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(|p| Value::String(p.to_string())).collect()
            };
            Ok(Val::J(Value::Array(parts)))
        }
        "join" => {
            want(name, args, 2)?;
            let sep = as_str(&args[1])?;
            match &args[0] {
                Val::J(Value::Array(a)) => Ok(Val::str(
                    a.iter()
                        .map(crate::print::print_value)
                        .collect::<Vec<_>>()
                        .join(sep),
                )),
                Val::J(Value::Null) | Val::Missing | Val::TypedNil(_) => Ok(Val::str("")),
                other => Err(format!(
                    "wrong type for value; expected []string; got {}",
                    go_type(other)
                )),
            }
        }
        "title" => {
            want(name, args, 1)?;
            Ok(Val::str(title(as_str(&args[0])?)))
        }
        "lower" => {
            want(name, args, 1)?;
            Ok(Val::str(as_str(&args[0])?.to_lowercase()))
        }
        "upper" => {
            want(name, args, 1)?;
            Ok(Val::str(as_str(&args[0])?.to_uppercase()))
        }
        "pad" => {
            want(name, args, 3)?;
            let s = as_str(&args[0])?;
            let before = as_int(&args[1])?.clamp(0, 10_000) as usize;
            let after = as_int(&args[2])?.clamp(0, 10_000) as usize;
            Ok(Val::str(format!(
                "{}{s}{}",
                " ".repeat(before),
                " ".repeat(after)
            )))
        }
        "truncate" => {
            want(name, args, 2)?;
            let s = as_str(&args[0])?;
            let n = as_int(&args[1])?.max(0) as usize;
            Ok(Val::str(s.chars().take(n).collect::<String>()))
        }
        "urlquery" => {
            let s = sprint(args);
            let mut out = String::new();
            for b in s.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        out.push(b as char)
                    }
                    b' ' => out.push('+'),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
            Ok(Val::str(out))
        }
        "html" => {
            let s = sprint(args);
            Ok(Val::str(
                s.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('>', "&gt;")
                    .replace('"', "&#34;")
                    .replace('\'', "&#39;"),
            ))
        }
        "js" => {
            let s = sprint(args);
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '"' => out.push_str("\\\""),
                    '<' => out.push_str("\\u003C"),
                    '>' => out.push_str("\\u003E"),
                    '&' => out.push_str("\\u0026"),
                    '=' => out.push_str("\\u003D"),
                    c => out.push(c),
                }
            }
            Ok(Val::str(out))
        }
        other => Err(format!("function \"{other}\" not defined")),
    }
}

fn bounds(idx: &[i64], len: usize) -> Result<(usize, usize), String> {
    let i = idx.first().copied().unwrap_or(0);
    let j = idx.get(1).copied().unwrap_or(len as i64);
    if i < 0 || j < i || j as usize > len {
        return Err(format!("index out of range: {j}"));
    }
    Ok((i as usize, j as usize))
}

fn index(cur: &Val, k: &Val) -> Result<Val, String> {
    match cur {
        Val::J(Value::Object(m)) => {
            let key = as_str(k)
                .map_err(|_| format!("value has type {}; should be string", go_type(k)))?;
            // Docker's maps (labels, options) hold strings: a missing key reads as
            // the zero value, "" (what Go gives for map[string]string).
            Ok(m.get(key)
                .cloned()
                .map(Val::J)
                .unwrap_or_else(|| Val::str("")))
        }
        Val::J(Value::Array(a)) => {
            let i = as_int(k)?;
            if i < 0 || i as usize >= a.len() {
                return Err(format!("index out of range: {i}"));
            }
            Ok(Val::J(a[i as usize].clone()))
        }
        Val::J(Value::String(s)) => {
            let i = as_int(k)?;
            if i < 0 || i as usize >= s.len() {
                return Err(format!("index out of range: {i}"));
            }
            Ok(Val::J(Value::from(s.as_bytes()[i as usize])))
        }
        Val::Missing | Val::J(Value::Null) => Err("index of untyped nil".into()),
        other => Err(format!("can't index item of type {}", go_type(other))),
    }
}

/// Go's `eq` on basic values (numbers compare numerically).
fn equal(a: &Val, b: &Val) -> Result<bool, String> {
    let nil = Val::J(Value::Null);
    let a = if matches!(a, Val::TypedNil(_)) {
        &nil
    } else {
        a
    };
    let b = if matches!(b, Val::TypedNil(_)) {
        &nil
    } else {
        b
    };
    match (a, b) {
        (Val::J(Value::Number(x)), Val::J(Value::Number(y))) => Ok(x.as_f64() == y.as_f64()),
        (Val::J(Value::String(x)), Val::J(Value::String(y))) => Ok(x == y),
        (Val::J(Value::Bool(x)), Val::J(Value::Bool(y))) => Ok(x == y),
        (Val::J(Value::Null) | Val::Missing, Val::J(Value::Null) | Val::Missing) => Ok(true),
        (Val::J(Value::Array(_)) | Val::J(Value::Object(_)), _)
        | (_, Val::J(Value::Array(_)) | Val::J(Value::Object(_))) => {
            Err("non-comparable types".into())
        }
        (Val::Missing, _)
        | (_, Val::Missing)
        | (Val::J(Value::Null), _)
        | (_, Val::J(Value::Null)) => Ok(false),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn compare(a: &Val, b: &Val) -> Result<std::cmp::Ordering, String> {
    match (a, b) {
        (Val::J(Value::Number(x)), Val::J(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .ok_or_else(|| "invalid type for comparison".to_string()),
        (Val::J(Value::String(x)), Val::J(Value::String(y))) => Ok(x.cmp(y)),
        (Val::J(Value::Number(_)), Val::J(Value::String(_)))
        | (Val::J(Value::String(_)), Val::J(Value::Number(_))) => {
            Err("incompatible types for comparison".into())
        }
        _ => Err("invalid type for comparison".into()),
    }
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(args: &[Val]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = matches!(a, Val::J(Value::String(_)));
        if i > 0 && !is_str && !matches!(args[i - 1], Val::J(Value::String(_))) {
            out.push(' ');
        }
        out.push_str(&print_val(a));
    }
    out
}

/// Go's `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

/// A subset of Go's `fmt.Sprintf`: verbs v s d q t f g e x X c with flags `-+ 0#`,
/// width and precision; wrong types and missing arguments are reported inline as Go does.
pub fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut minus = false;
        let mut plus = false;
        let mut zero = false;
        let mut space = false;
        let mut sharp = false;
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut width: Option<usize> = None;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = Some((width.unwrap_or(0) * 10 + d as usize).min(10_000));
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            prec = Some(0);
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                prec = Some((prec.unwrap_or(0) * 10 + d as usize).min(10_000));
                chars.next();
            }
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let bad = || format!("%!{verb}({}={})", go_type(arg), print_val(arg));
        let body: String = match (verb, arg) {
            ('v', _) => print_val(arg),
            ('s', Val::J(Value::String(s))) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.clone(),
            },
            ('s', Val::J(Value::Number(_) | Value::Bool(_))) => bad(),
            ('s', _) => print_val(arg),
            ('q', Val::J(Value::String(s))) => {
                if sharp && !s.contains('`') {
                    format!("`{s}`")
                } else {
                    go_quote(s)
                }
            }
            ('t', Val::J(Value::Bool(b))) => b.to_string(),
            ('d', Val::J(Value::Number(n))) if n.as_i64().is_some() || n.as_u64().is_some() => {
                let s = format_number(n);
                if plus && !s.starts_with('-') {
                    format!("+{s}")
                } else if space && !s.starts_with('-') {
                    format!(" {s}")
                } else {
                    s
                }
            }
            ('c', Val::J(Value::Number(n))) => n
                .as_u64()
                .and_then(|u| char::from_u32(u as u32))
                .map(String::from)
                .unwrap_or_else(bad),
            ('x' | 'X', Val::J(Value::Number(n))) if n.as_i64().is_some() => {
                let i = n.as_i64().unwrap_or(0);
                let s = if verb == 'x' {
                    format!("{:x}", i.unsigned_abs())
                } else {
                    format!("{:X}", i.unsigned_abs())
                };
                let s = if sharp { format!("0x{s}") } else { s };
                if i < 0 {
                    format!("-{s}")
                } else {
                    s
                }
            }
            ('x' | 'X', Val::J(Value::String(s))) => {
                let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    h.to_uppercase()
                } else {
                    h
                }
            }
            ('f' | 'F' | 'e' | 'g', Val::J(Value::Number(n))) => {
                let f = n.as_f64().unwrap_or(0.0);
                let s = match verb {
                    'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), f),
                    'e' => go_exp(f, prec.unwrap_or(6)),
                    _ => match prec {
                        Some(p) => format!("{:.*}", p, f),
                        None => format_float(f),
                    },
                };
                if plus && f >= 0.0 {
                    format!("+{s}")
                } else {
                    s
                }
            }
            _ => bad(),
        };
        let len = body.chars().count();
        match width {
            Some(w) if w > len => {
                let pad = w - len;
                if minus {
                    out.push_str(&body);
                    out.push_str(&" ".repeat(pad));
                } else if zero && matches!(verb, 'd' | 'f' | 'x' | 'X' | 'e' | 'g') {
                    let (sign, digits) = match body.strip_prefix('-') {
                        Some(d) => ("-", d),
                        None => ("", body.as_str()),
                    };
                    out.push_str(sign);
                    out.push_str(&"0".repeat(pad));
                    out.push_str(digits);
                } else {
                    out.push_str(&" ".repeat(pad));
                    out.push_str(&body);
                }
            }
            _ => out.push_str(&body),
        }
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", go_type(a), print_val(a)))
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{:.*e}", prec, f);
    match s.split_once('e') {
        Some((m, e)) => {
            let exp: i32 = e.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{m}e{sign}{:02}", exp.abs())
        }
        None => s,
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
