//! Real-kernel tests of published ports: the userland proxy on 127.0.0.1, DNAT to the
//! host's own (bridge) address, random ports, UDP, Docker's "port is already allocated"
//! leaving nothing behind, rules removed at teardown and restored after a restart.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use berth_network::ports::parse_publish;
use berth_network::{ConnectRequest, CreateNetwork, NetworkManager, NetworkState};
use common::{our_rules, run, sh, Cleanup, Container, Names};

fn net(name: &str, bridge: &str, subnet: &str) -> CreateNetwork {
    let mut options = BTreeMap::new();
    options.insert("com.docker.network.bridge.name".into(), bridge.into());
    CreateNetwork {
        name: name.into(),
        subnet: Some(subnet.parse().unwrap()),
        options,
        ..Default::default()
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fetch(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

fn udp_roundtrip(addr: SocketAddr, msg: &str) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(msg.as_bytes(), addr).unwrap();
    let mut buf = [0u8; 1500];
    let (n, _) = s.recv_from(&mut buf).expect("udp reply");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn published_ports_tcp_udp_random_and_in_use() {
    run("published_ports_tcp_udp_random_and_in_use", || async {
        let n = Names::new();
        let ba = n.bridge('a');
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![ba.clone()],
        };
        let m = NetworkManager::new(n.config("10.237.0.0/16"), NetworkState::default())
            .await
            .unwrap();
        m.create_network(net("pub", &ba, "10.237.1.0/24"))
            .await
            .unwrap();
        let c = Container::new("srv");
        let hp = free_port();
        let mut specs = parse_publish(&format!("{hp}:80")).unwrap();
        specs.extend(parse_publish("127.0.0.1::80").unwrap());
        specs.extend(parse_publish(&format!("127.0.0.1:{hp}:53/udp")).unwrap());
        let mut req = ConnectRequest::new(&c.id, "srv", c.netns());
        req.ports = specs;
        // the servers start after the endpoint exists (the netns has no eth0 before)
        let ep = m.connect("pub", req).await.unwrap();
        c.tcp_server(80, "hello from the container");
        c.udp_echo(53, "echo:");
        assert_eq!(ep.ports.len(), 3);
        let fixed = ep.ports[0];
        assert_eq!((fixed.host_port, fixed.container_port), (hp, 80));
        assert_eq!(fixed.host_ip, std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let random = ep.ports[1];
        let (lo, hi) = {
            let r = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
            let v: Vec<u16> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
            (v[0], v[1])
        };
        assert!(
            random.host_port >= lo && random.host_port <= hi,
            "{random:?}"
        );

        // 127.0.0.1 through the proxy, fixed and random ports
        assert_eq!(
            fetch(SocketAddr::from(([127, 0, 0, 1], hp))),
            "hello from the container"
        );
        assert_eq!(
            fetch(SocketAddr::from(([127, 0, 0, 1], random.host_port))),
            "hello from the container"
        );
        // the host's own address (the bridge gateway) through DNAT in OUTPUT
        assert_eq!(
            fetch(SocketAddr::from(([10, 237, 1, 1], hp))),
            "hello from the container"
        );
        let rules = our_rules(&n.chain_prefix);
        assert!(
            rules.contains(&format!(
                "--dport {hp} -j DNAT --to-destination {}:80",
                ep.ip
            )),
            "{rules}"
        );
        // a port published on 127.0.0.1 only is not reachable on the host's other address
        assert!(TcpStream::connect_timeout(
            &SocketAddr::from(([10, 237, 1, 1], random.host_port)),
            Duration::from_millis(300)
        )
        .is_err());
        // hairpin: another container reaches the published port on the host address
        let peer = Container::new("peer");
        m.connect("pub", ConnectRequest::new(&peer.id, "peer", peer.netns()))
            .await
            .unwrap();
        let got = berth_network::netns::run_in_netns(&peer.ns_path(), move || {
            Ok(fetch(SocketAddr::from(([10, 237, 1, 1], hp))))
        })
        .unwrap();
        assert_eq!(got, "hello from the container");
        // UDP
        assert_eq!(
            udp_roundtrip(SocketAddr::from(([127, 0, 0, 1], hp)), "ping"),
            "echo:ping"
        );

        // a port in use: Docker's error, and nothing left behind
        let taken = TcpListener::bind("0.0.0.0:0").unwrap();
        let tp = taken.local_addr().unwrap().port();
        let c2 = Container::new("late");
        let mut req = ConnectRequest::new(&c2.id, "late", c2.netns());
        let free = free_port();
        req.ports = parse_publish(&format!("{free}:81")).unwrap();
        req.ports
            .extend(parse_publish(&format!("{tp}:80")).unwrap());
        let before = our_rules(&n.chain_prefix);
        let err = m.connect("pub", req).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("driver failed programming external connectivity on endpoint late (")
                && msg.ends_with(&format!(
                    "): Bind for 0.0.0.0:{tp} failed: port is already allocated"
                )),
            "{msg}"
        );
        assert_eq!(our_rules(&n.chain_prefix), before, "no rules added");
        assert!(m.endpoints_of(&c2.id).await.is_empty());
        let (_, links) = c2.exec(&["ip", "-o", "link"]);
        assert!(!links.contains("eth0"), "{links}");
        assert_eq!(
            sh(&["ip", "-o", "link", "show", "master", &ba])
                .lines()
                .count(),
            2,
            "only the veths of srv and peer"
        );
        // the first port of the failed request was closed again
        TcpListener::bind(("0.0.0.0", free)).expect("port released");
        drop(taken);

        // disconnect removes the proxy and the rules
        m.disconnect("pub", &c.id).await.unwrap();
        assert!(!our_rules(&n.chain_prefix).contains("DNAT"));
        assert!(TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], hp)),
            Duration::from_millis(300)
        )
        .is_err());
        m.teardown().await.unwrap();
        assert_eq!(
            our_rules(&n.chain_prefix),
            "",
            "teardown removes every rule"
        );
    });
}

#[test]
fn rules_restored_after_restart_idempotently() {
    run("rules_restored_after_restart_idempotently", || async {
        let n = Names::new();
        let ba = n.bridge('a');
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![ba.clone()],
        };
        let c = Container::new("srv");
        let hp = free_port();
        let saved = {
            let m = NetworkManager::new(n.config("10.238.0.0/16"), NetworkState::default())
                .await
                .unwrap();
            m.create_network(net("pub", &ba, "10.238.1.0/24"))
                .await
                .unwrap();
            let mut req = ConnectRequest::new(&c.id, "srv", c.netns());
            req.ports = parse_publish(&format!("127.0.0.1:{hp}:80")).unwrap();
            m.connect("pub", req).await.unwrap();
            c.tcp_server(80, "ok");
            assert_eq!(fetch(SocketAddr::from(([127, 0, 0, 1], hp))), "ok");
            m.state().await
        }; // the "daemon" stops: proxies go, rules and links stay
        tokio::time::sleep(Duration::from_millis(100)).await;
        let rules = our_rules(&n.chain_prefix);
        assert!(
            rules.contains("DNAT") && rules.contains("MASQUERADE"),
            "{rules}"
        );
        // simulate a host that lost the rules (e.g. a firewall reload)
        berth_network::firewall::Firewall::new(&n.chain_prefix)
            .remove_all()
            .unwrap();
        assert_eq!(our_rules(&n.chain_prefix), "");

        let m = NetworkManager::new(n.config("10.238.0.0/16"), saved.clone())
            .await
            .unwrap();
        assert_eq!(our_rules(&n.chain_prefix), rules, "restored exactly");
        assert_eq!(
            fetch(SocketAddr::from(([127, 0, 0, 1], hp))),
            "ok",
            "proxy back"
        );
        // the embedded DNS is back too (its redirect re-installed, not duplicated)
        let srv_ip = saved.endpoints[0].ip;
        let ans = berth_network::netns::run_in_netns(&c.ns_path(), || {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            s.send_to(
                &berth_network::dns::build_query(1, "srv", 1),
                "127.0.0.11:53",
            )
            .unwrap();
            let mut b = [0u8; 512];
            let (n, _) = s.recv_from(&mut b).unwrap();
            Ok(berth_network::dns::parse_response(&b[..n]).unwrap())
        })
        .unwrap();
        assert_eq!(ans, (0, vec![srv_ip]));
        let (_, nat) = c.exec(&["iptables", "-w", "-t", "nat", "-S", "OUTPUT"]);
        assert_eq!(nat.matches("DNS-OUTPUT").count(), 1, "{nat}");
        // applying the same state again changes nothing (no duplicate jumps)
        drop(m);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let m = NetworkManager::new(n.config("10.238.0.0/16"), saved)
            .await
            .unwrap();
        assert_eq!(our_rules(&n.chain_prefix), rules, "idempotent");
        let fwd = sh(&["iptables", "-w", "-S", "FORWARD"]);
        assert_eq!(
            fwd.matches(&format!("-j {}-FORWARD", n.chain_prefix))
                .count(),
            1
        );
        m.teardown().await.unwrap();
        assert_eq!(our_rules(&n.chain_prefix), "");
        assert!(!common::try_sh(&["ip", "link", "show", &ba]).0);
    });
}
