//! Property tests of the `-v`, `--mount`, `--tmpfs` and `--volumes-from` parsers (issue
//! "Faults and abuse", fuzzing): no input panics, and what is accepted mounts at an
//! absolute, clean target that never climbs out with `..`.

use berth_volume::{
    parse_bind_spec, parse_mount_csv, parse_mount_spec, parse_tmpfs, parse_volumes_from,
    split_tmpfs_flag, MountKind,
};
use proptest::prelude::*;

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.-]{1,8}",
        Just("/".to_string()),
        Just(":".to_string()),
        Just("..".to_string()),
        Just(".".to_string()),
        Just("//".to_string()),
        Just("ro".to_string()),
        Just("rw".to_string()),
        Just("z".to_string()),
        Just("Z".to_string()),
        Just("nocopy".to_string()),
        Just("rshared".to_string()),
        Just(",".to_string()),
        Just("=".to_string()),
        Just("\"".to_string()),
        Just("type=bind".to_string()),
        Just("type=volume".to_string()),
        Just("type=tmpfs".to_string()),
        Just("src=".to_string()),
        Just("dst=".to_string()),
        Just("tmpfs-size=".to_string()),
        Just("readonly".to_string()),
        Just("bind-propagation=".to_string()),
        Just("volume-opt=".to_string()),
        "[\\PC]{1,3}",
    ]
}

/// What the container sees must stay below its root.
fn assert_clean_target(input: &str, target: &str) -> Result<(), TestCaseError> {
    prop_assert!(target.starts_with('/'), "{input:?} → target {target:?}");
    prop_assert!(
        !target.split('/').any(|c| c == ".."),
        "{input:?} → target {target:?} climbs out"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn bind_specs_never_panic(pieces in prop::collection::vec(piece(), 0..8), raw in "[\\PC]{0,40}") {
        for s in [pieces.concat(), raw] {
            if let Ok(m) = parse_bind_spec(&s, "") {
                assert_clean_target(&s, &m.target)?;
                if m.kind == MountKind::Bind {
                    prop_assert!(m.source.starts_with('/'), "{s:?} → {m:?}");
                }
            }
        }
    }

    #[test]
    fn mount_csv_never_panics(pieces in prop::collection::vec(piece(), 0..10), raw in "[\\PC]{0,40}") {
        for s in [pieces.concat(), raw] {
            if let Ok(spec) = parse_mount_csv(&s) {
                if let Ok(m) = parse_mount_spec(&spec) {
                    assert_clean_target(&s, &m.target)?;
                }
            }
        }
    }

    #[test]
    fn tmpfs_and_volumes_from_never_panic(a in "[\\PC]{0,30}", b in "[a-z0-9=,.:-]{0,30}") {
        let (target, opts) = split_tmpfs_flag(&a);
        if let Ok(m) = parse_tmpfs(&target, &opts) {
            assert_clean_target(&a, &m.target)?;
        }
        if let Ok(m) = parse_tmpfs(&format!("/{a}"), &b) {
            assert_clean_target(&a, &m.target)?;
        }
        let _ = parse_volumes_from(&a);
        let _ = parse_volumes_from(&format!("{b}:{a}"));
    }

    /// `src:/dst:ro` binds are read-only at exactly `/dst`.
    #[test]
    fn valid_binds_keep_their_meaning(
        src in prop::collection::vec("[a-z0-9_]{1,6}", 1..4),
        dst in prop::collection::vec("[a-z0-9_]{1,6}", 1..4),
        ro in any::<bool>(),
    ) {
        let (src, dst) = (format!("/{}", src.join("/")), format!("/{}", dst.join("/")));
        let spec = if ro { format!("{src}:{dst}:ro") } else { format!("{src}:{dst}") };
        let m = parse_bind_spec(&spec, "").unwrap();
        prop_assert_eq!(m.kind, MountKind::Bind);
        prop_assert_eq!(&m.source, &src);
        prop_assert_eq!(&m.target, &dst);
        prop_assert_eq!(m.read_only, ro);
    }
}

#[test]
fn escaping_targets_are_refused_or_cleaned() {
    for s in [
        "/a:../x",
        "/a:/../..",
        "v:/x/../../..",
        "/a:relative",
        "/a:",
        ":/x",
    ] {
        if let Ok(m) = parse_bind_spec(s, "") {
            assert!(m.target.starts_with('/'), "{s} → {m:?}");
            assert!(!m.target.contains(".."), "{s} → {m:?}");
        }
    }
}
