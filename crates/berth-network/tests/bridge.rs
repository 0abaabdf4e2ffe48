//! Real-kernel tests of bridges, veths, addressing, isolation, connect/disconnect and
//! IPAM persistence through the manager. Each runs in its own network namespace (see
//! common/mod.rs).

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use berth_network::{ConnectRequest, CreateNetwork, NetworkManager, NetworkState};
use common::{run, sh, Cleanup, Container, Names};

fn net_req(name: &str, bridge: &str, subnet: &str) -> CreateNetwork {
    let mut options = BTreeMap::new();
    options.insert(
        "com.docker.network.bridge.name".to_string(),
        bridge.to_string(),
    );
    CreateNetwork {
        name: name.into(),
        subnet: Some(subnet.parse().unwrap()),
        options,
        ..Default::default()
    }
}

#[test]
fn same_network_reaches_other_network_is_isolated() {
    run("same_network_reaches_other_network_is_isolated", || async {
        let n = Names::new();
        let (ba, bb) = (n.bridge('a'), n.bridge('b'));
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![ba.clone(), bb.clone()],
        };
        let m = NetworkManager::new(n.config("10.231.0.0/16"), NetworkState::default())
            .await
            .unwrap();
        let na = m
            .create_network(net_req("neta", &ba, "10.231.1.0/24"))
            .await
            .unwrap();
        let nb = m
            .create_network(net_req("netb", &bb, "10.231.2.0/24"))
            .await
            .unwrap();
        assert_eq!(na.pool.gateway, Ipv4Addr::new(10, 231, 1, 1));
        assert!(sh(&["ip", "-4", "addr", "show", &ba]).contains("10.231.1.1/24"));

        let (c1, c2, c3) = (
            Container::new("c1"),
            Container::new("c2"),
            Container::new("c3"),
        );
        let t = Instant::now();
        let e1 = m
            .connect("neta", ConnectRequest::new(&c1.id, &c1.name, c1.netns()))
            .await
            .unwrap();
        println!("connect took {:?}", t.elapsed());
        let e2 = m
            .connect(
                &na.id[..10],
                ConnectRequest::new(&c2.id, &c2.name, c2.netns()),
            )
            .await
            .unwrap();
        let e3 = m
            .connect("netb", ConnectRequest::new(&c3.id, &c3.name, c3.netns()))
            .await
            .unwrap();
        // addresses in order, MAC from the address, default route via the gateway
        assert_eq!(e1.ip, Ipv4Addr::new(10, 231, 1, 2));
        assert_eq!(e2.ip, Ipv4Addr::new(10, 231, 1, 3));
        assert_eq!(e3.ip, Ipv4Addr::new(10, 231, 2, 2));
        assert_eq!(e1.mac, "02:42:0a:e7:01:02");
        let (_, link) = c1.exec(&["ip", "-o", "link", "show", "eth0"]);
        assert!(link.contains("02:42:0a:e7:01:02"), "{link}");
        let (_, route) = c1.exec(&["ip", "route"]);
        assert!(route.contains("default via 10.231.1.1 dev eth0"), "{route}");
        let (_, lo) = c1.exec(&["ip", "-o", "link", "show", "lo"]);
        assert!(lo.contains("UP"), "{lo}");

        c2.tcp_server(7000, "hi");
        let c2addr = SocketAddr::from((e2.ip, 7000));
        assert!(
            c1.can_connect(c2addr, Duration::from_secs(2)),
            "same network"
        );
        let (ok, out) = c1.exec(&["busybox", "ping", "-c", "1", "-W", "2", "10.231.1.3"]);
        assert!(ok, "ping on the same network: {out}");
        assert!(
            !c3.can_connect(c2addr, Duration::from_millis(500)),
            "other network must not reach"
        );

        // connect c3 to network A as well: now it reaches c2 through eth1
        let e3a = m
            .connect("neta", ConnectRequest::new(&c3.id, &c3.name, c3.netns()))
            .await
            .unwrap();
        assert_eq!(e3a.ifname, "eth1");
        assert!(!e3a.default_route);
        assert!(
            c3.can_connect(c2addr, Duration::from_secs(2)),
            "after connect"
        );
        // and a second connect to the same network is refused
        let err = m
            .connect("neta", ConnectRequest::new(&c3.id, &c3.name, c3.netns()))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("already exists in network neta"),
            "{err}"
        );

        m.disconnect("neta", &c3.id).await.unwrap();
        let (_, links) = c3.exec(&["ip", "-o", "link"]);
        assert!(!links.contains("eth1"), "{links}");
        assert!(
            !c3.can_connect(c2addr, Duration::from_millis(500)),
            "after disconnect"
        );
        assert!(
            !sh(&["ip", "-o", "link"]).contains(&e3a.host_ifname),
            "host veth removed"
        );
        // the released address is handed out again
        let c4 = Container::new("c4");
        let e4 = m
            .connect("neta", ConnectRequest::new(&c4.id, &c4.name, c4.netns()))
            .await
            .unwrap();
        assert_eq!(e4.ip, e3a.ip);

        // a network with endpoints cannot be removed
        let err = m.remove_network("netb").await.unwrap_err();
        assert!(err.to_string().contains("has active endpoints"), "{err}");
        m.disconnect_all(&c3.id).await.unwrap();
        // Deleted in the background, from a socket of its own, although c3's
        // namespace (which would take the veth with it) is still alive.
        let deadline = Instant::now() + Duration::from_secs(5);
        while sh(&["ip", "-o", "link"]).contains(&e3.host_ifname) {
            assert!(
                Instant::now() < deadline,
                "host veth of c3 on netb left behind"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        m.remove_network(&nb.id).await.unwrap();
        assert!(
            !common::try_sh(&["ip", "link", "show", &bb]).0,
            "bridge removed"
        );

        m.teardown().await.unwrap();
        assert!(!m.firewall().any_chain_exists());
        assert!(!common::try_sh(&["ip", "link", "show", &ba]).0);
    });
}

#[test]
fn ipam_survives_restart_and_releases_dead_endpoints() {
    run(
        "ipam_survives_restart_and_releases_dead_endpoints",
        || async {
            let n = Names::new();
            let ba = n.bridge('a');
            let _clean = Cleanup {
                chain_prefix: n.chain_prefix.clone(),
                bridges: vec![ba.clone()],
            };
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("network.json");
            let (c1, c2, c3) = (
                Container::new("c1"),
                Container::new("c2"),
                Container::new("c3"),
            );
            {
                let m = NetworkManager::new(n.config("10.232.0.0/16"), NetworkState::default())
                    .await
                    .unwrap();
                m.create_network(net_req("n", &ba, "10.232.7.0/24"))
                    .await
                    .unwrap();
                for c in [&c1, &c2, &c3] {
                    m.connect("n", ConnectRequest::new(&c.id, &c.name, c.netns()))
                        .await
                        .unwrap();
                }
                m.disconnect("n", &c1.id).await.unwrap(); // frees .2
                berth_network::state::save(&path, &m.state().await).unwrap();
            }
            drop(c3); // dies while the daemon is down: .4 must come back
            let saved = berth_network::state::load(&path).unwrap();
            assert_eq!(saved.endpoints.len(), 2);
            let m = NetworkManager::new(n.config("10.232.0.0/16"), saved)
                .await
                .unwrap();
            let st = m.state().await;
            assert_eq!(
                st.endpoints.len(),
                1,
                "the dead container's endpoint is gone"
            );
            let got: Vec<Ipv4Addr> = {
                let mut v = Vec::new();
                for name in ["d1", "d2", "d3"] {
                    let c = Container::new(name);
                    v.push(
                        m.connect("n", ConnectRequest::new(&c.id, &c.name, c.netns()))
                            .await
                            .unwrap()
                            .ip,
                    );
                }
                v
            };
            // .3 (c2, alive) is never handed out twice
            assert_eq!(
                got,
                vec![
                    Ipv4Addr::new(10, 232, 7, 2),
                    Ipv4Addr::new(10, 232, 7, 4),
                    Ipv4Addr::new(10, 232, 7, 5)
                ]
            );
            // static address: taken one refused, free one granted
            let c5 = Container::new("c5");
            let mut req = ConnectRequest::new(&c5.id, &c5.name, c5.netns());
            req.ip = Some(Ipv4Addr::new(10, 232, 7, 3));
            let err = m.connect("n", req.clone()).await.unwrap_err();
            assert_eq!(err.to_string(), "Address already in use");
            req.ip = Some(Ipv4Addr::new(10, 232, 7, 200));
            assert_eq!(
                m.connect("n", req).await.unwrap().ip,
                Ipv4Addr::new(10, 232, 7, 200)
            );
            m.teardown().await.unwrap();
        },
    );
}

#[test]
fn pool_exhaustion_is_dockers_error() {
    run("pool_exhaustion_is_dockers_error", || async {
        let n = Names::new();
        let ba = n.bridge('a');
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![ba.clone()],
        };
        let m = NetworkManager::new(n.config("10.233.0.0/16"), NetworkState::default())
            .await
            .unwrap();
        let net = m
            .create_network(net_req("tiny", &ba, "10.233.0.0/30"))
            .await
            .unwrap();
        let c1 = Container::new("c1");
        m.connect("tiny", ConnectRequest::new(&c1.id, &c1.name, c1.netns()))
            .await
            .unwrap();
        let c2 = Container::new("c2");
        let err = m
            .connect("tiny", ConnectRequest::new(&c2.id, &c2.name, c2.netns()))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no available IPv4 addresses on this network's address pools: tiny ({})",
                net.id
            )
        );
        let (_, links) = c2.exec(&["ip", "-o", "link"]);
        assert!(!links.contains("eth0"), "nothing created: {links}");
        m.teardown().await.unwrap();
    });
}

#[test]
fn subnet_pool_skips_routed_ranges_and_bip() {
    run("subnet_pool_skips_routed_ranges_and_bip", || async {
        let n = Names::new();
        let dummy = format!("btd{}", n.tag);
        let db = n.bridge('0');
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![dummy.clone(), db.clone()],
        };
        // something else (think docker0) already routes 10.234.0.0/24
        let peer = format!("bte{}", n.tag);
        sh(&[
            "ip", "link", "add", &dummy, "type", "veth", "peer", "name", &peer,
        ]);
        sh(&["ip", "addr", "add", "10.234.0.1/24", "dev", &dummy]);
        sh(&["ip", "link", "set", &peer, "up"]);
        sh(&["ip", "link", "set", &dummy, "up"]);
        let mut cfg = n.config("10.234.0.0/16");
        cfg.default_bridge = Some(berth_network::DefaultBridgeConfig {
            bridge: db.clone(),
            ..Default::default()
        });
        let m = NetworkManager::new(cfg.clone(), NetworkState::default())
            .await
            .unwrap();
        let def = m.network("bridge").await.unwrap();
        assert!(def.is_default);
        assert_eq!(def.pool.subnet.to_string(), "10.234.1.0/24");
        assert!(sh(&["ip", "-4", "addr", "show", &db]).contains("10.234.1.1/24"));
        let user = m
            .create_network(CreateNetwork {
                name: "u".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(user.pool.subnet.to_string(), "10.234.2.0/24");
        assert!(user.bridge.starts_with("t-") && user.bridge.len() == 14);
        let err = m
            .create_network(CreateNetwork {
                name: "u".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "network with name u already exists");
        m.teardown().await.unwrap();
        drop(m);

        // --bip sets the default bridge's gateway and subnet
        let mut cfg2 = cfg.clone();
        if let Some(d) = cfg2.default_bridge.as_mut() {
            d.bip = Some("10.235.5.1/24".parse().unwrap());
        }
        // a saved default network with other settings is rebuilt with the new --bip
        let mut stale = NetworkManager::new(cfg.clone(), NetworkState::default())
            .await
            .unwrap()
            .state()
            .await;
        assert_eq!(stale.networks.len(), 1);
        stale.networks[0].pool.allocated.clear();
        let m = NetworkManager::new(cfg2, stale).await.unwrap();
        assert_eq!(m.networks().await.len(), 1);
        let addrs = sh(&["ip", "-4", "addr", "show", &db]);
        assert!(!addrs.contains("10.234.1.1"), "{addrs}");
        let def = m.network("bridge").await.unwrap();
        assert_eq!(def.pool.subnet.to_string(), "10.235.5.0/24");
        assert_eq!(def.pool.gateway, Ipv4Addr::new(10, 235, 5, 1));
        // the default bridge has no embedded DNS and takes no aliases
        let c = Container::new("c");
        let mut req = ConnectRequest::new(&c.id, &c.name, c.netns());
        req.aliases = vec!["x".into()];
        let ep = m.connect("bridge", req).await.unwrap();
        assert!(ep.aliases.is_empty());
        assert_eq!(ep.ip, Ipv4Addr::new(10, 235, 5, 2));
        let (_, ss) = c.exec(&["ss", "-uln"]);
        assert!(!ss.contains("127.0.0.11"), "{ss}");
        m.teardown().await.unwrap();
    });
}

#[test]
fn none_mode_has_loopback_only() {
    run("none_mode_has_loopback_only", || async {
        let c = Container::new("c");
        NetworkManager::setup_loopback(&c.netns()).await.unwrap();
        let (_, links) = c.exec(&["ip", "-o", "link"]);
        assert_eq!(links.lines().count(), 1, "{links}");
        assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    });
}

#[test]
fn options_internal_icc_mtu_ip_range_and_parallel_connects() {
    run(
        "options_internal_icc_mtu_ip_range_and_parallel_connects",
        || async {
            let n = Names::new();
            let (bi, bo) = (n.bridge('i'), n.bridge('o'));
            let _clean = Cleanup {
                chain_prefix: n.chain_prefix.clone(),
                bridges: vec![bi.clone(), bo.clone()],
            };
            let m = NetworkManager::new(n.config("10.239.0.0/16"), NetworkState::default())
                .await
                .unwrap();
            let mut req = net_req("inner", &bi, "10.239.1.0/24");
            req.internal = true;
            req.labels.insert("team".into(), "a".into());
            let inner = m.create_network(req).await.unwrap();
            assert_eq!(inner.labels.get("team").map(String::as_str), Some("a"));

            let mut req = net_req("opts", &bo, "10.239.2.0/24");
            req.ip_range = Some("10.239.2.128/25".parse().unwrap());
            req.gateway = Some(Ipv4Addr::new(10, 239, 2, 254));
            for (k, v) in [
                ("com.docker.network.bridge.enable_icc", "false"),
                ("com.docker.network.bridge.enable_ip_masquerade", "false"),
                ("com.docker.network.driver.mtu", "1400"),
            ] {
                req.options.insert(k.into(), v.into());
            }
            let opts = m.create_network(req).await.unwrap();
            assert!(!opts.icc && !opts.masquerade && opts.mtu == 1400);
            assert!(sh(&["ip", "-o", "link", "show", &bo]).contains("mtu 1400"));
            let mut bad = net_req("bad", "btbad", "10.239.9.0/24");
            bad.options.insert(
                "com.docker.network.bridge.enable_icc".into(),
                "maybe".into(),
            );
            assert!(m.create_network(bad).await.is_err());
            let err = m
                .create_network(net_req("overlap", "btov", "10.239.2.0/25"))
                .await
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "Pool overlaps with other one on this address space"
            );

            let rules = common::our_rules(&n.chain_prefix);
            assert!(
                !rules.contains("10.239.1.0/24 ! -o"),
                "internal: no NAT: {rules}"
            );
            assert!(
                !rules.contains("10.239.2.0/24 ! -o"),
                "masquerade off: {rules}"
            );
            assert!(
                rules.contains(&format!("-i {bo} -o {bo} -j DROP")),
                "icc off: {rules}"
            );
            assert!(
                rules.contains(&format!("! -s 10.239.1.0/24 -o {bi} -j DROP")),
                "{rules}"
            );

            // internal: no default route, but the members reach each other
            let (a, b) = (Container::new("a"), Container::new("b"));
            let ea = m
                .connect("inner", ConnectRequest::new(&a.id, "a", a.netns()))
                .await
                .unwrap();
            let eb = m
                .connect("inner", ConnectRequest::new(&b.id, "b", b.netns()))
                .await
                .unwrap();
            assert!(!ea.default_route);
            let (_, route) = a.exec(&["ip", "route"]);
            assert!(!route.contains("default"), "{route}");
            b.tcp_server(7001, "x");
            assert!(a.can_connect(SocketAddr::from((eb.ip, 7001)), Duration::from_secs(2)));

            // ip-range + gateway + mtu; connects in parallel get distinct addresses in order
            let cs: Vec<Container> = (0..4).map(|i| Container::new(&format!("p{i}"))).collect();
            let futs = cs
                .iter()
                .map(|c| m.connect("opts", ConnectRequest::new(&c.id, &c.name, c.netns())));
            let mut ips: Vec<Ipv4Addr> = futures_util::future::join_all(futs)
                .await
                .into_iter()
                .map(|r| r.unwrap().ip)
                .collect();
            ips.sort();
            assert_eq!(
                ips,
                (128..132)
                    .map(|i| Ipv4Addr::new(10, 239, 2, i))
                    .collect::<Vec<_>>()
            );
            let (_, link) = cs[0].exec(&["ip", "-o", "link", "show", "eth0"]);
            assert!(link.contains("mtu 1400"), "{link}");
            let (_, route) = cs[0].exec(&["ip", "route"]);
            assert!(route.contains("default via 10.239.2.254"), "{route}");
            m.teardown().await.unwrap();
        },
    );
}

#[test]
fn connect_cost_stays_small() {
    run("connect_cost_stays_small", || async {
        let n = Names::new();
        let (bu, bd) = (n.bridge('u'), n.bridge('d'));
        let _clean = Cleanup {
            chain_prefix: n.chain_prefix.clone(),
            bridges: vec![bu.clone(), bd.clone()],
        };
        let mut cfg = n.config("10.240.0.0/16");
        cfg.default_bridge = Some(berth_network::DefaultBridgeConfig {
            bridge: bd.clone(),
            ..Default::default()
        });
        let m = NetworkManager::new(cfg, NetworkState::default())
            .await
            .unwrap();
        m.create_network(net_req("u", &bu, "10.240.100.0/24"))
            .await
            .unwrap();
        for net in ["bridge", "u"] {
            let cs: Vec<Container> = (0..10).map(|i| Container::new(&format!("c{i}"))).collect();
            let t = Instant::now();
            for c in &cs {
                m.connect(net, ConnectRequest::new(&c.id, &c.name, c.netns()))
                    .await
                    .unwrap();
            }
            let per = t.elapsed() / 10;
            println!("connect to {net}: {per:?} per container");
            // Five `ip` processes per container cost ~100 ms on this machine; netlink
            // must stay far below even on a loaded box.
            assert!(per < Duration::from_millis(250), "{net}: {per:?}");
            let t = Instant::now();
            for c in &cs {
                m.disconnect_all(&c.id).await.unwrap();
            }
            println!(
                "disconnect from {net}: {:?} per container",
                t.elapsed() / 10
            );
        }
        m.teardown().await.unwrap();
    });
}
