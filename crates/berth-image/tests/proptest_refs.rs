//! Property tests of the image reference parser (issue "Faults and abuse", fuzzing):
//! any input is answered without a panic, every reference the grammar allows parses, and
//! parsing its printed forms gives the same reference back.

use berth_image::Reference;
use proptest::prelude::*;

/// One path component: alnum runs joined by Docker's separators.
fn component() -> impl Strategy<Value = String> {
    (
        "[a-z0-9]{1,6}",
        prop::collection::vec(
            (prop_oneof!["\\.", "_", "__", "-{1,3}"], "[a-z0-9]{1,5}"),
            0..3,
        ),
    )
        .prop_map(|(first, rest)| {
            let mut s = first;
            for (sep, part) in rest {
                s.push_str(&sep);
                s.push_str(&part);
            }
            s
        })
}

fn domain() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("localhost".to_string())),
        Just(Some("localhost:5000".to_string())),
        (
            "[a-z][a-z0-9-]{0,8}[a-z0-9]",
            "[a-z]{2,4}",
            prop::option::of(1u16..65535)
        )
            .prop_map(|(h, tld, port)| Some(match port {
                Some(p) => format!("{h}.{tld}:{p}"),
                None => format!("{h}.{tld}"),
            })),
    ]
}

/// A reference that the grammar allows, from its parts.
fn valid_ref() -> impl Strategy<Value = (String, Option<String>, Option<String>)> {
    (
        domain(),
        prop::collection::vec(component(), 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_filter(
            "a bare 64-hex name is an id, not a reference",
            |(d, comps, t, g)| {
                !(d.is_none()
                    && comps.len() == 1
                    && comps[0].len() == 64
                    && t.is_none()
                    && g.is_none())
            },
        )
        .prop_map(|(d, comps, tag, digest)| {
            let mut s = String::new();
            // Without a domain, a first component that looks like one (a `.`, or
            // `localhost`) would be taken as the registry: name the default one then.
            let d = d.or_else(|| {
                (comps[0].contains('.') || comps[0] == "localhost").then(|| "docker.io".to_string())
            });
            if let Some(d) = &d {
                s.push_str(d);
                s.push('/');
            }
            s.push_str(&comps.join("/"));
            if let Some(t) = &tag {
                s.push(':');
                s.push_str(t);
            }
            let digest = digest.map(|h| format!("sha256:{h}"));
            if let Some(g) = &digest {
                s.push('@');
                s.push_str(g);
            }
            (s, tag, digest)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(2000), failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary text: an answer, never a panic; whatever parses prints back the same.
    #[test]
    fn any_text_is_answered(s in "\\PC{0,80}") {
        if let Ok(r) = Reference::parse(&s) {
            let again = Reference::parse(&r.to_string()).expect("full form re-parses");
            prop_assert_eq!(&again, &r);
        }
        let _ = Reference::parse_tagged(&s);
    }

    /// Text made of the grammar's own characters (much more likely to be almost valid).
    #[test]
    fn grammar_soup_is_answered(s in "[a-zA-Z0-9._:/@-]{0,60}") {
        if let Ok(r) = Reference::parse(&s) {
            prop_assert!(r.name().len() >= r.path().len());
            let full = Reference::parse(&r.to_string()).expect("full form re-parses");
            prop_assert_eq!(full, r);
        }
    }

    /// Every reference the grammar allows parses, keeps its tag and digest, and its full
    /// and familiar forms both parse back to it.
    #[test]
    fn valid_references_round_trip((s, tag, digest) in valid_ref()) {
        let r = Reference::parse(&s);
        prop_assume!(s.len() <= 255 || r.is_err());
        let r = r.map_err(|e| TestCaseError::fail(format!("{s}: {e}")))?;
        prop_assert_eq!(r.tag(), tag.as_deref());
        prop_assert_eq!(r.digest(), digest.as_deref());
        prop_assert_eq!(Reference::parse(&r.to_string()).unwrap(), r.clone());
        // Docker's familiar form of `docker.io/a.b/c` is `a.b/c`, which names registry
        // `a.b`: the short form only round-trips when its first part is no domain.
        let first = r.familiar_name().split('/').next().unwrap_or("").to_string();
        if r.domain() != "docker.io" || !(first.contains('.') || first == "localhost") {
            prop_assert_eq!(Reference::parse(&r.familiar()).unwrap(), r.clone());
        }
        let tagged = Reference::parse_tagged(&s).unwrap();
        prop_assert!(tagged.tag().is_some() || tagged.digest().is_some());
    }

    /// Uppercase in the repository is refused with Docker's words.
    #[test]
    fn uppercase_repository_is_refused(a in "[a-z]{1,5}", b in "[A-Z]{1,3}") {
        let e = Reference::parse(&format!("{a}{b}")).unwrap_err().to_string();
        prop_assert!(e.contains("must be lowercase"), "{}", e);
    }
}

/// `default` cases, or `PROPTEST_CASES` when set (longer fuzzing runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
