//! Property tests of the network inputs users and containers control (issue "Faults and
//! abuse", fuzzing): `-p` publish specs, `--add-host`, the host's resolv.conf, and the
//! embedded DNS server's query parsing and lookup (a container can send it any bytes).
//! No input panics; accepted inputs keep their meaning.

use berth_network::dns::{build_query, parse_query, parse_response, Answer, DnsEndpoint, Resolver};
use berth_network::files::{parse_add_host, parse_resolv_conf};
use berth_network::ports::{parse_publish, Protocol};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr};

/// Pieces of a `-p` value: numbers (in and out of range), ranges, IPs, separators.
fn publish_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u32..70000).prop_map(|n| n.to_string()),
        (1u16..60000, 0u16..50).prop_map(|(a, d)| format!("{a}-{}", a.saturating_add(d))),
        Just(":".to_string()),
        Just("/tcp".to_string()),
        Just("/udp".to_string()),
        Just("/sctp".to_string()),
        Just("127.0.0.1".to_string()),
        Just("[::1]".to_string()),
        Just("::".to_string()),
        Just("-".to_string()),
        "[\\PC]{1,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn publish_specs_never_panic(pieces in prop::collection::vec(publish_piece(), 0..6), raw in "[\\PC]{0,40}") {
        for s in [pieces.concat(), raw] {
            if let Ok(specs) = parse_publish(&s) {
                for p in &specs {
                    prop_assert!(p.container_port > 0, "{s:?} → {p:?}");
                    prop_assert!(p.host_port_start <= p.host_port_end, "{s:?} → {p:?}");
                }
            }
        }
    }

    /// `host:container/proto` publishes exactly that.
    #[test]
    fn valid_publish_keeps_its_ports(host in 1u16.., container in 1u16.., udp in any::<bool>(), ip in any::<bool>()) {
        let proto = if udp { "udp" } else { "tcp" };
        let prefix = if ip { "127.0.0.1:" } else { "" };
        let specs = parse_publish(&format!("{prefix}{host}:{container}/{proto}")).unwrap();
        prop_assert_eq!(specs.len(), 1);
        let p = &specs[0];
        prop_assert_eq!(p.container_port, container);
        prop_assert_eq!((p.host_port_start, p.host_port_end), (host, host));
        prop_assert_eq!(p.protocol, if udp { Protocol::Udp } else { Protocol::Tcp });
        prop_assert_eq!(p.host_ip, ip.then_some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }

    #[test]
    fn add_host_never_panics(s in "[a-z0-9.:=\\[\\]-]{0,30}", raw in "[\\PC]{0,30}") {
        let gw = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        let _ = parse_add_host(&s, gw);
        let _ = parse_add_host(&raw, None);
        let _ = parse_add_host(&format!("{raw}:host-gateway"), None);
    }

    #[test]
    fn resolv_conf_never_panics(lines in prop::collection::vec("[a-z0-9 .:#;\\t]{0,40}", 0..10)) {
        let text = lines.join("\n");
        let _ = parse_resolv_conf(&text);
    }

    /// Whatever a container sends to the DNS server: parsing and lookup answer.
    #[test]
    fn dns_packets_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_response(&bytes);
        if let Some(q) = parse_query(&bytes) {
            let r = resolver();
            let _ = r.lookup("c1", &q.name, q.qtype);
        }
    }

    /// A query we build parses back to its name and type; mutated copies never panic.
    #[test]
    fn dns_queries_round_trip(
        labels in prop::collection::vec("[a-z0-9-]{1,20}", 1..5),
        qtype in prop_oneof![Just(1u16), Just(12), Just(28), any::<u16>()],
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
    ) {
        let name = labels.join(".");
        let q = build_query(7, &name, qtype);
        let parsed = parse_query(&q).expect("own query parses");
        prop_assert_eq!(parsed.name.trim_end_matches('.').to_ascii_lowercase(), name.clone());
        prop_assert_eq!(parsed.qtype, qtype);
        let mut bad = q.clone();
        for (at, b) in flips {
            let i = at % bad.len();
            bad[i] = b;
        }
        if let Some(p) = parse_query(&bad) {
            let _ = resolver().lookup("c1", &p.name, p.qtype);
        }
        let mut cut = q;
        cut.truncate(cut.len() / 2);
        let _ = parse_query(&cut);
        let _ = parse_response(&cut);
    }

    /// Names of any shape (reverse names included) are looked up without a panic.
    #[test]
    fn lookups_never_panic(name in "[a-z0-9.\\-]{0,40}(\\.in-addr\\.arpa\\.?)?", qtype in any::<u16>()) {
        let r = resolver();
        let a = r.lookup("c1", &name, qtype);
        if name == "web" && qtype == 1 {
            prop_assert_eq!(a, Answer::Local(vec![Ipv4Addr::new(10, 9, 0, 2)]));
        }
    }
}

fn resolver() -> std::sync::Arc<Resolver> {
    let r = Resolver::new(Vec::new());
    for (id, name, ip) in [("c1", "web", 2u8), ("c2", "db", 3)] {
        r.add(DnsEndpoint {
            container_id: id.into(),
            network_id: "n1".into(),
            names: vec![name.into()],
            ip: Ipv4Addr::new(10, 9, 0, ip),
            internal: true,
        });
    }
    r
}

#[test]
fn known_names_resolve() {
    let r = resolver();
    assert_eq!(
        r.lookup("c1", "db", 1),
        Answer::Local(vec![Ipv4Addr::new(10, 9, 0, 3)])
    );
    assert!(parse_publish("99999:80").is_err());
    assert!(parse_publish("80:0").is_err());
    assert!(parse_publish("").is_err());
}
