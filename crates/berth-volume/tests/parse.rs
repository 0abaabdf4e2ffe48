//! Parser tables against Docker's behaviour and error texts.

use berth_types::docker::{MountPoint, MountSpec};
use berth_volume::parse::*;
use serde_json::json;

#[test]
fn bind_specs_docker_accepts() {
    let valid = [
        "/home",
        "/home:/home",
        "/home:/something/else",
        "/with space",
        "/home:/with space",
        "relative:/absolute-path",
        "hostPath:/containerPath:ro",
        "/hostPath:/containerPath:rw",
        "/rw:/ro",
        "/hostPath:/containerPath:shared",
        "/hostPath:/containerPath:rshared",
        "/hostPath:/containerPath:slave",
        "/hostPath:/containerPath:rslave",
        "/hostPath:/containerPath:private",
        "/hostPath:/containerPath:rprivate",
        "/hostPath:/containerPath:ro,shared",
        "/hostPath:/containerPath:ro,z,shared",
        "/hostPath:/containerPath:Z,slave,ro",
        "/hostPath:/containerPath:rslave,ro,Z",
        "name:/data:nocopy",
        "name:/data:ro,nocopy",
    ];
    for v in valid {
        assert!(
            parse_bind_spec(v, "").is_ok(),
            "{v} should parse: {:?}",
            parse_bind_spec(v, "")
        );
    }
}

#[test]
fn bind_spec_errors_have_docker_texts() {
    let cases: &[(&str, &str)] = &[
        ("", "invalid volume specification: ''"),
        (":", "invalid volume specification: ':'"),
        ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ("/tmp:::", "invalid volume specification: '/tmp:::'"),
        ("/path:rw", "invalid volume specification: '/path:rw'"),
        ("path:ro", "invalid volume specification: 'path:ro'"),
        ("/path:shared", "invalid volume specification: '/path:shared'"),
        ("/path:/path:sw", "invalid mode: sw"),
        ("/path:/path:ro,rshared,rslave", "invalid mode: ro,rshared,rslave"),
        ("/path:/path:ro,rw", "invalid mode: ro,rw"),
        (
            "a:b",
            "invalid volume specification: 'a:b': invalid mount config for type \"volume\": invalid mount path: 'b' mount path must be absolute",
        ),
        (
            "/tmp:tmp",
            "invalid volume specification: '/tmp:tmp': invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path must be absolute",
        ),
        (
            "/:/",
            "invalid volume specification: '/:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'",
        ),
        (
            "name:/absolute-path:shared",
            "invalid volume specification: 'name:/absolute-path:shared': invalid mount config for type \"volume\": field BindOptions must not be specified",
        ),
        (
            "/a:/b:nocopy",
            "invalid volume specification: '/a:/b:nocopy': invalid mount config for type \"bind\": field VolumeOptions must not be specified",
        ),
        (
            "./x",
            "invalid volume specification: './x': invalid mount config for type \"volume\": invalid mount path: './x' mount path must be absolute",
        ),
    ];
    for (spec, want) in cases {
        let e = parse_bind_spec(spec, "").expect_err(spec);
        assert_eq!(e.to_string(), *want, "spec {spec}");
        assert_eq!(e.status(), 400);
    }
}

#[test]
fn bind_spec_fields() {
    let r = parse_bind_spec("/tmp/../tmp:/tmp2/:ro", "").unwrap();
    assert_eq!(r.kind, MountKind::Bind);
    assert_eq!((r.source.as_str(), r.target.as_str()), ("/tmp", "/tmp2"));
    assert!(r.read_only && r.create_source);
    assert_eq!(r.mode, "ro");

    let r = parse_bind_spec("name:/named3:ro,nocopy", "local").unwrap();
    assert_eq!(r.kind, MountKind::Volume);
    assert_eq!(r.source, "name");
    assert_eq!(r.driver, "local");
    assert!(r.read_only && r.nocopy);

    let r = parse_bind_spec("/data", "").unwrap();
    assert_eq!(r.kind, MountKind::Volume);
    assert!(r.source.is_empty(), "anonymous");

    let r = parse_bind_spec("/h:/c:rshared", "").unwrap();
    assert_eq!(r.propagation.as_deref(), Some("rshared"));
    assert!(!r.read_only);
}

#[test]
fn mount_csv_builds_api_spec() {
    let s = parse_mount_csv("type=bind,src=/a,dst=/b,readonly,bind-propagation=rshared").unwrap();
    assert_eq!(s.kind, "bind");
    assert_eq!((s.source.as_str(), s.target.as_str()), ("/a", "/b"));
    assert!(s.read_only);
    assert_eq!(s.bind_options, Some(json!({"Propagation": "rshared"})));

    let s =
        parse_mount_csv("source=v1,target=/d,volume-nocopy,volume-opt=type=tmpfs,volume-label=x=y")
            .unwrap();
    assert_eq!(s.kind, "volume", "volume is the default type");
    let vo = s.volume_options.unwrap();
    assert_eq!(vo["NoCopy"], json!(true));
    assert_eq!(vo["Labels"], json!({"x": "y"}));
    assert_eq!(vo["DriverConfig"]["Options"], json!({"type": "tmpfs"}));

    let s = parse_mount_csv("type=tmpfs,destination=/t,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
    assert_eq!(
        s.tmpfs_options,
        Some(json!({"SizeBytes": 64 << 20, "Mode": 0o1770}))
    );

    let s = parse_mount_csv("type=bind,\"source=/a,b\",target=/c,ro=false").unwrap();
    assert_eq!(s.source, "/a,b");
    assert!(!s.read_only);
}

#[test]
fn mount_csv_errors_have_cli_texts() {
    let cases: &[(&str, &str)] = &[
        ("type=bind,src=/a", "target is required"),
        (
            "type=bind,bogus",
            "invalid field 'bogus' must be a key=value pair",
        ),
        (
            "type=bind,foo=bar,target=/x",
            "unexpected key 'foo' in 'foo=bar'",
        ),
        (
            "type=bind,target=/x,readonly=maybe",
            "invalid value for readonly: maybe",
        ),
        (
            "target=/x,volume-nocopy=perhaps",
            "invalid value for volume-nocopy: perhaps",
        ),
        (
            "type=tmpfs,target=/x,tmpfs-size=lots",
            "invalid value for tmpfs-size: lots",
        ),
        (
            "type=tmpfs,target=/x,tmpfs-mode=999",
            "invalid value for tmpfs-mode: 999",
        ),
        (
            "type=bind,target=/x,volume-nocopy",
            "cannot mix 'volume-*' options with mount type 'bind'",
        ),
        (
            "type=volume,target=/x,bind-propagation=shared",
            "cannot mix 'bind-*' options with mount type 'volume'",
        ),
        (
            "type=bind,target=/x,tmpfs-size=1m",
            "cannot mix 'tmpfs-*' options with mount type 'bind'",
        ),
    ];
    for (csv, want) in cases {
        assert_eq!(
            parse_mount_csv(csv).expect_err(csv).to_string(),
            *want,
            "csv {csv}"
        );
    }
}

fn spec(v: serde_json::Value) -> MountSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn mount_spec_daemon_validation() {
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            json!({"Type":"bind","Source":"/nonexistent-berth-x","Target":"/x"}),
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth-x",
        ),
        (json!({"Type":"bind","Target":"/x"}), "invalid mount config for type \"bind\": field Source must not be empty"),
        (json!({"Type":"bind","Source":"/tmp"}), "invalid mount config for type \"bind\": field Target must not be empty"),
        (
            json!({"Type":"bind","Source":"/tmp","Target":"/x","BindOptions":{"Propagation":"bogus"}}),
            "invalid mount config for type \"bind\": invalid propagation mode: bogus",
        ),
        (
            json!({"Type":"bind","Source":"tmp","Target":"/x"}),
            "invalid mount config for type \"bind\": invalid mount path: 'tmp' mount path must be absolute",
        ),
        (
            json!({"Type":"volume","Target":"/x","ReadOnly":true}),
            "invalid mount config for type \"volume\": must not set ReadOnly mode when using anonymous volumes",
        ),
        (
            json!({"Type":"tmpfs","Source":"x","Target":"/x"}),
            "invalid mount config for type \"tmpfs\": field Source must not be specified",
        ),
        (json!({"Type":"nfs","Target":"/x"}), "invalid mount config for type \"nfs\": mount type unknown"),
        (
            json!({"Type":"volume","Target":"/"}),
            "invalid mount config for type \"volume\": invalid specification: destination can't be '/'",
        ),
    ];
    for (v, want) in cases {
        let e = parse_mount_spec(&spec(v.clone())).expect_err(&v.to_string());
        assert_eq!(e.to_string(), want);
    }
    let r = parse_mount_spec(&spec(
        json!({"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":448}}),
    ))
    .unwrap();
    assert_eq!(r.tmpfs_options, vec!["mode=700", "size=1m"]);
    let r = parse_mount_spec(&spec(json!({"Type":"volume","Source":"v","Target":"/d",
        "VolumeOptions":{"NoCopy":true,"Labels":{"a":"b"},"DriverConfig":{"Name":"local","Options":{"type":"tmpfs","device":"tmpfs"}}}})))
    .unwrap();
    assert!(r.nocopy);
    assert_eq!(r.volume_labels["a"], "b");
    assert_eq!(r.volume_options["device"], "tmpfs");
    assert!(!r.create_source);
}

#[test]
fn csv_then_daemon_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let csv = format!(
        "type=bind,source={},target=/in,bind-nonrecursive",
        dir.path().display()
    );
    let s = parse_mount_csv(&csv).unwrap();
    // The CLI sends it as JSON; the daemon reads it back.
    let s: MountSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    let r = parse_mount_spec(&s).unwrap();
    assert!(r.non_recursive);
    assert_eq!(r.origin, MountOrigin::Mount);
}

#[test]
fn tmpfs_parsing_and_merge() {
    assert_eq!(
        split_tmpfs_flag("/run:size=64m,mode=1777"),
        ("/run".into(), "size=64m,mode=1777".into())
    );
    assert_eq!(split_tmpfs_flag("/run"), ("/run".into(), String::new()));
    let r = parse_tmpfs("/run", "rw,size=64m,mode=1777,exec").unwrap();
    assert_eq!(
        merge_tmpfs_options(&r.tmpfs_options),
        vec!["nosuid", "nodev", "rw", "size=64m", "mode=1777", "exec"]
    );
    assert_eq!(
        parse_tmpfs("/run", "bogus").unwrap_err().to_string(),
        "Invalid tmpfs option [\"bogus\"]"
    );
    assert_eq!(
        parse_tmpfs("run", "").unwrap_err().to_string(),
        "invalid mount path: 'run' mount path must be absolute"
    );
    assert_eq!(
        merge_tmpfs_options(&["size=1m".into(), "size=2m".into()]),
        vec!["noexec", "nosuid", "nodev", "size=2m"]
    );
}

#[test]
fn volumes_from_specs() {
    assert_eq!(
        parse_volumes_from("web").unwrap(),
        ("web".to_string(), true)
    );
    assert_eq!(
        parse_volumes_from("web:ro").unwrap(),
        ("web".to_string(), false)
    );
    assert_eq!(
        parse_volumes_from("web:rw").unwrap(),
        ("web".to_string(), true)
    );
    assert_eq!(
        parse_volumes_from("web:rshared").unwrap_err().to_string(),
        "invalid mode: rshared"
    );
    assert_eq!(
        parse_volumes_from("web:nocopy").unwrap_err().to_string(),
        "invalid mode: nocopy"
    );
    assert_eq!(
        parse_volumes_from("web:bogus").unwrap_err().to_string(),
        "invalid mode: bogus"
    );
    assert_eq!(
        parse_volumes_from("").unwrap_err().to_string(),
        "volumes-from specification cannot be an empty string"
    );
    let theirs = vec![
        MountPoint {
            kind: "volume".into(),
            name: "v1".into(),
            source: "/x/_data".into(),
            destination: "/data".into(),
            driver: "local".into(),
            mode: "z".into(),
            rw: true,
            propagation: String::new(),
        },
        MountPoint {
            kind: "bind".into(),
            source: "/h".into(),
            destination: "/h".into(),
            rw: false,
            ..Default::default()
        },
        MountPoint {
            kind: "tmpfs".into(),
            destination: "/t".into(),
            rw: true,
            ..Default::default()
        },
    ];
    let reqs = volumes_from_requests(true, &theirs);
    assert_eq!(reqs.len(), 2, "tmpfs is not inherited");
    assert_eq!(reqs[0].source, "v1");
    assert!(!reqs[0].read_only);
    assert!(reqs[1].read_only, "a read-only mount stays read-only");
    let ro = volumes_from_requests(false, &theirs);
    assert!(ro.iter().all(|r| r.read_only));
}

#[test]
fn sizes_parse_like_docker() {
    assert_eq!(parse_ram_bytes("64m"), Some(64 << 20));
    assert_eq!(parse_ram_bytes("1g"), Some(1 << 30));
    assert_eq!(parse_ram_bytes("100KiB"), Some(100 << 10));
    assert_eq!(parse_ram_bytes("1.5k"), Some(1536));
    assert_eq!(parse_ram_bytes("12"), Some(12));
    assert_eq!(parse_ram_bytes("12x"), None);
    assert_eq!(parse_ram_bytes("m"), None);
}

#[test]
fn bind_recursive_modes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let daemon = |csv: &str| {
        let s = parse_mount_csv(csv).unwrap();
        let s: MountSpec = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        parse_mount_spec(&s).unwrap()
    };
    let r = daemon(&format!("type=bind,src={d},dst=/x,readonly"));
    assert!(r.read_only && !r.ro_non_recursive && !r.ro_force_recursive);
    let r = daemon(&format!(
        "type=bind,src={d},dst=/x,readonly,bind-recursive=writable"
    ));
    assert!(r.read_only && r.ro_non_recursive && !r.non_recursive);
    let r = daemon(&format!(
        "type=bind,src={d},dst=/x,readonly,bind-recursive=readonly,bind-propagation=rprivate"
    ));
    assert!(r.ro_force_recursive && !r.ro_non_recursive);
    let r = daemon(&format!("type=bind,src={d},dst=/x,bind-recursive=disabled"));
    assert!(r.non_recursive && !r.read_only);
    let r = daemon(&format!("type=bind,src={d},dst=/x,bind-recursive=enabled"));
    assert!(!r.non_recursive);

    let err = |csv: String| parse_mount_csv(&csv).unwrap_err().to_string();
    assert_eq!(
        err(format!("type=bind,src={d},dst=/x,bind-recursive=yes")),
        "invalid value for bind-recursive: yes (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
    );
    assert_eq!(
        err(format!("type=bind,src={d},dst=/x,bind-recursive=writable")),
        "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
    );
    assert_eq!(
        err(format!("type=bind,src={d},dst=/x,bind-recursive=readonly")),
        "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"
    );
    assert_eq!(
        err(format!("type=bind,src={d},dst=/x,ro,bind-recursive=readonly")),
        "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"
    );
    assert_eq!(
        err("type=volume,src=v,dst=/x,bind-recursive=disabled".into()),
        "cannot mix 'bind-*' options with mount type 'volume'"
    );

    // The daemon checks the API fields on their own.
    let spec = |opts: serde_json::Value, ro: bool| MountSpec {
        kind: "bind".into(),
        source: d.to_string(),
        target: "/x".into(),
        read_only: ro,
        bind_options: Some(opts),
        ..Default::default()
    };
    let e = parse_mount_spec(&spec(json!({"ReadOnlyNonRecursive": true}), false)).unwrap_err();
    assert!(
        e.to_string()
            .contains("ReadOnlyNonRecursive requires ReadOnly"),
        "{e}"
    );
    let e = parse_mount_spec(&spec(
        json!({"ReadOnlyNonRecursive": true, "ReadOnlyForceRecursive": true}),
        true,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("conflicts"), "{e}");

    // `-v` spellings of the same (binds only).
    let r = parse_bind_spec(&format!("{d}:/x:ro-non-recursive"), "").unwrap();
    assert!(r.read_only && r.ro_non_recursive);
    let r = parse_bind_spec(&format!("{d}:/x:rro"), "").unwrap();
    assert!(r.read_only && r.ro_force_recursive);
    let r = parse_bind_spec(&format!("{d}:/x:ro"), "").unwrap();
    assert!(r.read_only && !r.ro_force_recursive && !r.ro_non_recursive);
    assert_eq!(
        parse_bind_spec("vol:/x:ro-force-recursive", "").unwrap_err().to_string(),
        "mount mode \"ro-force-recursive\" requires a bind mount: invalid volume specification: 'vol:/x:ro-force-recursive'"
    );
}
