//! Real-kernel tests of the embedded DNS server: queries are sent from inside a
//! container netns to 127.0.0.11:53; forwarding goes to a tiny upstream the test runs
//! on the (private) host loopback.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use berth_network::dns::{build_query, parse_response};
use berth_network::{ConnectRequest, CreateNetwork, NetworkManager, NetworkState};
use common::{run, Cleanup, Container, Names};

/// A loopback upstream: `known.upstream.test` → 10.99.0.7, anything else NXDOMAIN.
fn upstream() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let q = &buf[..n];
            let q_end = {
                let mut i = 12;
                while q[i] != 0 {
                    i += 1 + q[i] as usize;
                }
                i + 5
            };
            let known = berth_network::dns::parse_query(q)
                .map(|x| x.name == "known.upstream.test")
                .unwrap_or(false);
            let mut r = q[..2].to_vec();
            r.extend_from_slice(&[
                0x81,
                if known { 0x80 } else { 0x83 },
                0,
                1,
                0,
                u8::from(known),
                0,
                0,
                0,
                0,
            ]);
            r.extend_from_slice(&q[12..q_end]);
            if known {
                r.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 99, 0, 7]);
            }
            let _ = s.send_to(&r, peer);
        }
    });
    addr
}

/// Asks the embedded server of `c` over UDP.
fn ask(c: &Container, name: &str) -> (u8, Vec<Ipv4Addr>) {
    let name = name.to_string();
    berth_network::netns::run_in_netns(&c.ns_path(), move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(&build_query(0x4242, &name, 1), "127.0.0.11:53")
            .unwrap();
        let mut buf = [0u8; 1500];
        let (n, _) = s.recv_from(&mut buf).expect("dns answer");
        assert_eq!(&buf[..2], &[0x42, 0x42]);
        Ok(parse_response(&buf[..n]).expect("parse"))
    })
    .unwrap()
}

/// Same over TCP.
fn ask_tcp(c: &Container, name: &str) -> (u8, Vec<Ipv4Addr>) {
    let name = name.to_string();
    berth_network::netns::run_in_netns(&c.ns_path(), move || {
        let mut s = TcpStream::connect("127.0.0.11:53").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let q = build_query(7, &name, 1);
        s.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
        s.write_all(&q).unwrap();
        let mut len = [0u8; 2];
        s.read_exact(&mut len).unwrap();
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).unwrap();
        Ok(parse_response(&buf).expect("parse"))
    })
    .unwrap()
}

fn net(name: &str, bridge: &str, subnet: &str, internal: bool) -> CreateNetwork {
    let mut options = BTreeMap::new();
    options.insert("com.docker.network.bridge.name".into(), bridge.into());
    CreateNetwork {
        name: name.into(),
        subnet: Some(subnet.parse().unwrap()),
        internal,
        options,
        ..Default::default()
    }
}

#[test]
fn dns_names_aliases_hostnames_forwarding() {
    run("dns_names_aliases_hostnames_forwarding", || async {
        let n = Names::new();
        let (ba, bb, bi) = (n.bridge('a'), n.bridge('b'), n.bridge('i'));
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![ba.clone(), bb.clone(), bi.clone()],
        };
        let up = upstream();
        let mut cfg = n.config("10.236.0.0/16");
        cfg.dns_upstreams = vec![up];
        let m = NetworkManager::new(cfg, NetworkState::default())
            .await
            .unwrap();
        m.create_network(net("front", &ba, "10.236.1.0/24", false))
            .await
            .unwrap();
        m.create_network(net("back", &bb, "10.236.2.0/24", false))
            .await
            .unwrap();
        m.create_network(net("priv", &bi, "10.236.3.0/24", true))
            .await
            .unwrap();

        let (web, api, other) = (
            Container::new("web"),
            Container::new("api"),
            Container::new("other"),
        );
        let mut r = ConnectRequest::new(&web.id, "web", web.netns());
        r.hostname = "webhost".into();
        r.aliases = vec!["svc".into()];
        let e_web = m.connect("front", r).await.unwrap();
        let mut r = ConnectRequest::new(&api.id, "api", api.netns());
        r.aliases = vec!["svc".into()];
        let e_api = m.connect("front", r).await.unwrap();
        let e_other = m
            .connect(
                "back",
                ConnectRequest::new(&other.id, "other", other.netns()),
            )
            .await
            .unwrap();

        assert_eq!(ask(&web, "api"), (0, vec![e_api.ip]));
        // the container may run its own DNS server on port 53: the embedded one only
        // takes 127.0.0.11:53 through a redirect
        web.udp_echo(53, "own:");
        assert_eq!(ask(&web, "api"), (0, vec![e_api.ip]));
        let reply = berth_network::netns::run_in_netns(&api.ns_path(), move || {
            let s = UdpSocket::bind("0.0.0.0:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.send_to(b"x", (e_web.ip, 53)).unwrap();
            let mut b = [0u8; 64];
            let (n, _) = s.recv_from(&mut b).unwrap();
            Ok(String::from_utf8_lossy(&b[..n]).into_owned())
        })
        .unwrap();
        assert_eq!(reply, "own:x");
        assert_eq!(
            ask(&api, "WEB."),
            (0, vec![e_web.ip]),
            "case and trailing dot"
        );
        assert_eq!(ask(&api, "webhost"), (0, vec![e_web.ip]), "hostname");
        assert_eq!(ask(&api, &web.id[..12]), (0, vec![e_web.ip]), "short id");
        assert_eq!(ask_tcp(&web, "api"), (0, vec![e_api.ip]), "tcp");
        // an alias shared by two containers: both addresses, rotating
        let (rc, a1) = ask(&web, "svc");
        let (_, a2) = ask(&web, "svc");
        assert_eq!(rc, 0);
        assert_eq!(a1.len(), 2);
        let mut sorted = a1.clone();
        sorted.sort();
        let mut want = vec![e_web.ip, e_api.ip];
        want.sort();
        assert_eq!(sorted, want);
        assert_ne!(a1[0], a2[0], "round robin");
        // forwarding to the upstream, NXDOMAIN from it, names of other networks unseen
        assert_eq!(
            ask(&web, "known.upstream.test"),
            (0, vec![Ipv4Addr::new(10, 99, 0, 7)])
        );
        assert_eq!(ask(&web, "nope.upstream.test").0, 3);
        assert_eq!(
            ask(&web, "other").0,
            3,
            "other network's name is forwarded, unknown"
        );
        assert_eq!(ask(&other, "api").0, 3);
        // connecting `other` to front makes the names visible to it
        m.connect(
            "front",
            ConnectRequest::new(&other.id, "other", other.netns()),
        )
        .await
        .unwrap();
        assert_eq!(ask(&other, "api"), (0, vec![e_api.ip]));
        assert_eq!(ask(&web, "other").1.len(), 1);
        let _ = e_other;
        // disconnect: the name goes away
        m.disconnect("front", &api.id).await.unwrap();
        assert_eq!(ask(&web, "svc"), (0, vec![e_web.ip]));
        assert_eq!(ask(&web, "api").0, 3);

        // an internal network resolves its own names and never forwards
        let lone = Container::new("lone");
        let e_lone = m
            .connect("priv", ConnectRequest::new(&lone.id, "lone", lone.netns()))
            .await
            .unwrap();
        assert_eq!(ask(&lone, "lone"), (0, vec![e_lone.ip]));
        assert_eq!(ask(&lone, "known.upstream.test").0, 3);

        // per-container upstreams (--dns) win over the daemon's: an unreachable one
        // (nothing listens on this loopback port) gives SERVFAIL
        let dead = {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let d = Container::new("d");
        let mut r = ConnectRequest::new(&d.id, "d", d.netns());
        r.dns_upstreams = vec![dead];
        m.connect("front", r).await.unwrap();
        let (rc, _) = ask(&d, "known.upstream.test");
        assert!(rc == 2, "rcode {rc}");
        m.teardown().await.unwrap();
    });
}
