//! The `/networks` API of the engine (list, inspect, create, remove, prune, connect,
//! disconnect) in Docker's shapes, over the manager of [`super::Networking`]. Docker's
//! pre-defined `host` and `none` networks are added here (the manager only knows
//! bridges); connect/disconnect of a stopped container edit its `EndpointsConfig`,
//! applied at its next start.

use super::*;

impl Engine {
    /// Finishes the background releases of containers that exited: `network rm` right
    /// after `stop` must not see their endpoints.
    async fn net_settle(&self, net: &Networking) {
        let ids: std::collections::BTreeSet<String> = match net.started() {
            Some(m) => m
                .state()
                .await
                .endpoints
                .into_iter()
                .map(|e| e.container_id)
                .collect(),
            None => return,
        };
        for id in ids {
            let busy = match self.lookup(&id) {
                // Running, or in the middle of a start (its endpoints are being made).
                Ok(c) if c.id == id => lock(&c.rec).state.running || c.op.try_lock().is_err(),
                _ => false,
            };
            if !busy {
                self.net_release(&id).await;
            }
        }
    }

    fn predefined(&self, net: &Networking) -> Vec<NetworkResource> {
        let mk = |name: &str, id: &str, driver: &str| NetworkResource {
            name: name.to_string(),
            id: id.to_string(),
            created: String::from(crate::defaults::ZERO_TIME),
            scope: "local".into(),
            driver: driver.into(),
            ipam: Ipam {
                driver: "default".into(),
                options: None,
                config: None,
            },
            ..Default::default()
        };
        vec![
            mk("host", &net.host_id, "host"),
            mk("none", &net.none_id, "null"),
        ]
    }

    fn resource(
        &self,
        n: &NetworkRecord,
        snap: &NetworkState,
        with_containers: bool,
    ) -> NetworkResource {
        let mut containers = BTreeMap::new();
        if with_containers {
            for e in snap.endpoints.iter().filter(|e| e.network_id == n.id) {
                containers.insert(
                    e.container_id.clone(),
                    NetworkContainer {
                        name: e.container_name.clone(),
                        endpoint_id: e.id.clone(),
                        mac_address: e.mac.clone(),
                        ipv4_address: format!("{}/{}", e.ip, n.pool.subnet.prefix()),
                        ipv6_address: String::new(),
                    },
                );
            }
        }
        let mut cfg = IpamConfig {
            subnet: n.pool.subnet.to_string(),
            gateway: n.gateway().to_string(),
            ..Default::default()
        };
        if let Some(r) = n.pool.ip_range {
            if r != n.pool.subnet {
                cfg.ip_range = r.to_string();
            }
        }
        NetworkResource {
            name: n.name.clone(),
            id: n.id.clone(),
            created: if n.created.is_empty() {
                crate::defaults::ZERO_TIME.to_string()
            } else {
                n.created.clone()
            },
            scope: "local".into(),
            driver: "bridge".into(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default".into(),
                options: Some(BTreeMap::new()),
                config: Some(vec![cfg]),
            },
            internal: n.internal,
            attachable: false,
            ingress: false,
            config_from: Default::default(),
            config_only: false,
            containers,
            options: n.options.clone(),
            labels: n.labels.clone(),
        }
    }

    /// Every network resource with its containers (host/none: containers in that mode).
    fn all_resources(&self, with_containers: bool) -> Result<Vec<NetworkResource>> {
        let net = self.net_required()?;
        let snap = net.snapshot();
        let mut out: Vec<NetworkResource> = snap
            .networks
            .iter()
            .map(|n| self.resource(n, &snap, with_containers))
            .collect();
        let mut pre = self.predefined(net);
        if with_containers {
            for c in self.all() {
                let r = c.snapshot();
                if !r.state.running {
                    continue;
                }
                for p in pre.iter_mut() {
                    if r.host_config.network_mode == p.name {
                        p.containers.insert(
                            r.id.clone(),
                            NetworkContainer {
                                name: r.bare_name().to_string(),
                                ..Default::default()
                            },
                        );
                    }
                }
            }
        }
        out.extend(pre);
        Ok(out)
    }

    /// `GET /networks/{id}`: by full id, name, or unique id prefix.
    pub async fn network_inspect(&self, name: &str) -> Result<NetworkResource> {
        self.net_ready().await?;
        let all = self.all_resources(true)?;
        find_resource(&all, name).cloned()
    }

    /// `GET /networks` (filters: driver, id, label, name, scope, type, dangling).
    pub async fn network_list(&self, f: &Filters) -> Result<Vec<NetworkResource>> {
        f.validate(&["driver", "id", "label", "name", "scope", "type", "dangling"])?;
        self.net_ready().await?;
        let all = self.all_resources(true)?;
        let mut out = Vec::new();
        for mut n in all {
            if !match_network(f, &n)? {
                continue;
            }
            // Docker's list leaves Containers empty.
            n.containers.clear();
            out.push(n);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `POST /networks/create`.
    pub async fn network_create(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let net = self.net_ready().await?;
        if req.name.is_empty() {
            return Err(EngineError::invalid("network name is required"));
        }
        if ["host", "none", DEFAULT_NETWORK].contains(&req.name.as_str()) {
            return Err(EngineError::conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let driver = if req.driver.is_empty() {
            "bridge"
        } else {
            req.driver.as_str()
        };
        if driver != "bridge" {
            return Err(EngineError::not_found(format!(
                "plugin \"{driver}\" not found"
            )));
        }
        if req.enable_ipv6 == Some(true) {
            return Err(EngineError::invalid(
                "IPv6 networks are not supported by Berth",
            ));
        }
        let mut cr = CreateNetwork {
            name: req.name.clone(),
            internal: req.internal,
            labels: req.labels.clone().unwrap_or_default(),
            options: req.options.clone().unwrap_or_default(),
            created: rfc3339_nano(SystemTime::now()),
            ..Default::default()
        };
        let cfgs = req
            .ipam
            .as_ref()
            .and_then(|i| i.config.clone())
            .unwrap_or_default();
        if cfgs.len() > 1 {
            return Err(EngineError::invalid(
                "only one IPv4 subnet per network is supported",
            ));
        }
        if let Some(c) = cfgs.first() {
            let parse = |what: &str, s: &str| -> Result<berth_network::ipam::Ipv4Net> {
                s.parse()
                    .map_err(|_| EngineError::invalid(format!("invalid {what}: {s}")))
            };
            if !c.subnet.is_empty() {
                cr.subnet = Some(parse("subnet", &c.subnet)?);
            }
            if !c.ip_range.is_empty() {
                cr.ip_range = Some(parse("ip-range", &c.ip_range)?);
            }
            if !c.gateway.is_empty() {
                cr.gateway = Some(c.gateway.parse().map_err(|_| {
                    EngineError::invalid(format!("invalid gateway: {}", c.gateway))
                })?);
            }
            if cr.subnet.is_none() && (cr.ip_range.is_some() || cr.gateway.is_some()) {
                return Err(EngineError::invalid("ip-range and gateway need a subnet"));
            }
        }
        let rec = net.mgr().await?.create_network(cr).await?;
        net.commit(true).await?;
        self.network_event("create", &rec, None);
        Ok(NetworkCreateResponse {
            id: rec.id,
            warning: String::new(),
        })
    }

    /// `DELETE /networks/{id}`.
    pub async fn network_remove(&self, name: &str) -> Result<()> {
        let net = self.net_ready().await?;
        self.net_settle(&net).await;
        let all = self.all_resources(false)?;
        let target = find_resource(&all, name)?;
        if ["host", "none"].contains(&target.name.as_str()) || target.name == DEFAULT_NETWORK {
            return Err(EngineError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    target.name
                ),
            ));
        }
        let rec = net.mgr().await?.network(&target.id).await?;
        net.mgr().await?.remove_network(&rec.id).await?;
        net.commit(true).await?;
        self.network_event("destroy", &rec, None);
        Ok(())
    }

    /// `POST /networks/prune`: user networks without endpoints.
    pub async fn network_prune(&self, f: &Filters) -> Result<NetworkPruneResponse> {
        f.validate(&["until", "label", "label!"])?;
        let net = self.net_ready().await?;
        self.net_settle(&net).await;
        let until = match f.get("until").first() {
            Some(u) => Some(crate::containers::parse_until(u)?),
            None => None,
        };
        let snap = net.snapshot();
        let mut deleted = Vec::new();
        for n in snap.networks.iter().filter(|n| !n.is_default) {
            if snap.endpoints.iter().any(|e| e.network_id == n.id) {
                continue;
            }
            if !crate::filters::match_labels(f.get("label"), &n.labels) {
                continue;
            }
            if !f.get("label!").is_empty()
                && crate::filters::match_labels(f.get("label!"), &n.labels)
            {
                continue;
            }
            if let Some(u) = &until {
                if !n.created.is_empty() && n.created.as_str() >= u.as_str() {
                    continue;
                }
            }
            if net.mgr().await?.remove_network(&n.id).await.is_ok() {
                self.network_event("destroy", n, None);
                deleted.push(n.name.clone());
            }
        }
        net.commit(true).await?;
        Ok(NetworkPruneResponse {
            networks_deleted: Some(deleted),
        })
    }

    /// `POST /networks/{id}/connect`: live on a running container, recorded for the
    /// next start otherwise.
    pub async fn network_connect(&self, network: &str, req: NetworkConnectRequest) -> Result<()> {
        let net = self.net_ready().await?;
        let all = self.all_resources(false)?;
        let target = find_resource(&all, network)?.clone();
        if target.name == "host" || target.name == "none" {
            return Err(EngineError::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        let ctr = self.lookup(&req.container)?;
        let _op = ctr.op.lock().await;
        let rec = ctr.snapshot();
        let mode = rec.host_config.network_mode.clone();
        if mode == "host" || mode == "none" || mode.starts_with("container:") {
            return Err(EngineError::invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        let ep = req.endpoint_config.clone().unwrap_or_default();
        let nrec = net.mgr().await?.network(&target.id).await?;
        if nrec.is_default && ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(EngineError::invalid(
                "network-scoped alias is supported only for containers in user defined networks",
            ));
        }
        if rec.state.running && rec.state.pid > 0 {
            let mut cr = ConnectRequest::new(
                &rec.id,
                rec.bare_name(),
                NetnsRef::Pid(rec.state.pid as u32),
            );
            cr.hostname = crate::specbuild::hostname_of(&rec);
            cr.aliases = ep.aliases.clone().unwrap_or_default();
            if let Some(ip) = ipv4_of(&ep) {
                cr.ip =
                    Some(ip.parse().map_err(|_| {
                        EngineError::invalid(format!("invalid IPv4 address: {ip}"))
                    })?);
            }
            if !nrec.is_default {
                let dns = user_dns(&rec)?;
                if !dns.servers.is_empty() {
                    let host = std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default();
                    cr.dns_upstreams =
                        nfiles::resolv_conf(&host, DnsMode::Embedded, &dns).upstreams;
                }
            }
            let made = net.mgr().await?.connect(&nrec.id, cr).await?;
            net.commit(false).await?;
            if let Err(e) = self.net_files_after_connect(&ctr, &rec, &made, !nrec.is_default) {
                eprintln!("berth-engine: updating the files of {}: {e}", rec.id);
            }
        } else if rec
            .networking_config
            .endpoints_config
            .contains_key(&nrec.name)
        {
            return Err(EngineError::conflict(format!(
                "endpoint with name {} already exists in network {}",
                rec.bare_name(),
                nrec.name
            )));
        }
        let snap = {
            let mut r = lock(&ctr.rec);
            let eps = &mut r.networking_config.endpoints_config;
            let mut e = ep;
            e.network_id = nrec.id.clone();
            eps.insert(nrec.name.clone(), e);
            r.clone()
        };
        crate::record::write_json(&ctr.paths.config(), &snap)?;
        self.network_event("connect", &nrec, Some(&rec.id));
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn network_disconnect(
        &self,
        network: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let net = self.net_ready().await?;
        let all = self.all_resources(false)?;
        let target = find_resource(&all, network)?.clone();
        if target.name == "host" || target.name == "none" {
            return Err(EngineError::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        let nrec = net.mgr().await?.network(&target.id).await?;
        let ctr = match self.lookup(container) {
            Ok(c) => c,
            Err(e) if force => {
                // A container that is gone: drop whatever endpoint is left by that id.
                let snap = net.snapshot();
                if let Some(ep) = snap.endpoints.iter().find(|ep| {
                    ep.network_id == nrec.id
                        && (ep.container_id == container || ep.container_name == container)
                }) {
                    net.mgr()
                        .await?
                        .disconnect(&nrec.id, &ep.container_id)
                        .await?;
                    net.commit(false).await?;
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let _op = ctr.op.lock().await;
        let rec = ctr.snapshot();
        // The manager, not the snapshot: a release after an exit may be under way.
        let live_ep = net
            .mgr()
            .await?
            .endpoints_of(&rec.id)
            .await
            .into_iter()
            .find(|e| e.network_id == nrec.id);
        let live = live_ep.is_some();
        let planned = self.net_plan(&rec).iter().any(|(n, _)| n == &nrec.name);
        if !live && !planned {
            return Err(EngineError::new(
                ErrorKind::InvalidArgument,
                format!(
                    "container {} is not connected to network {}",
                    rec.id, nrec.name
                ),
            ));
        }
        if live {
            match net.mgr().await?.disconnect(&nrec.id, &rec.id).await {
                Ok(()) => {}
                // Released meanwhile by the exit of a container that is not running.
                Err(_) if !rec.state.running => {}
                Err(e) => return Err(e.into()),
            }
            net.commit(false).await?;
            if let (Some(ep), true) = (&live_ep, rec.state.running) {
                if let Err(e) = self.net_files_after_disconnect(&ctr, &rec, ep.ip) {
                    eprintln!("berth-engine: updating the files of {}: {e}", rec.id);
                }
            }
        }
        let snap = {
            let mut r = lock(&ctr.rec);
            let eps = &mut r.networking_config.endpoints_config;
            eps.remove(&nrec.name);
            // Clients may have keyed the default network by the mode's name.
            if nrec.is_default {
                eps.remove("default");
            }
            r.clone()
        };
        crate::record::write_json(&ctr.paths.config(), &snap)?;
        self.network_event("disconnect", &nrec, Some(&rec.id));
        Ok(())
    }
}

fn find_resource<'a>(all: &'a [NetworkResource], key: &str) -> Result<&'a NetworkResource> {
    if let Some(n) = all.iter().find(|n| n.id == key) {
        return Ok(n);
    }
    if let Some(n) = all.iter().find(|n| n.name == key) {
        return Ok(n);
    }
    let mut m = all
        .iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (m.next(), m.next()) {
        (Some(n), None) => Ok(n),
        (Some(_), Some(_)) => Err(EngineError::invalid(format!("network {key} is ambiguous"))),
        _ => Err(EngineError::not_found(format!("network {key} not found"))),
    }
}

fn match_network(f: &Filters, n: &NetworkResource) -> Result<bool> {
    let any = |key: &str, pred: &dyn Fn(&str) -> bool| {
        let v = f.get(key);
        v.is_empty() || v.iter().any(|x| pred(x))
    };
    let builtin = matches!(n.name.as_str(), "bridge" | "host" | "none");
    for t in f.get("type") {
        if t != "custom" && t != "builtin" {
            return Err(EngineError::invalid(format!(
                "invalid filter: 'type'='{t}'"
            )));
        }
    }
    let dangling_ok = match f.get("dangling").first().map(String::as_str) {
        None => true,
        Some("true") | Some("1") => !builtin && n.containers.is_empty(),
        Some("false") | Some("0") => builtin || !n.containers.is_empty(),
        Some(v) => {
            return Err(EngineError::invalid(format!(
                "invalid filter 'dangling={v}'"
            )))
        }
    };
    Ok(dangling_ok
        && any("driver", &|d| d == n.driver)
        && any("id", &|i| n.id.starts_with(i))
        && any("name", &|s| n.name.contains(s))
        && any("scope", &|s| s == n.scope)
        && any("type", &|t| (t == "builtin") == builtin)
        && crate::filters::match_labels(f.get("label"), &n.labels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filters() {
        let n = NetworkResource {
            name: "front".into(),
            id: "abc123".into(),
            driver: "bridge".into(),
            scope: "local".into(),
            ..Default::default()
        };
        let mut f = Filters::default();
        assert!(match_network(&f, &n).unwrap());
        f.add("type", "custom");
        assert!(match_network(&f, &n).unwrap());
        f.add("name", "fro");
        f.add("id", "abc");
        assert!(match_network(&f, &n).unwrap());
        let mut g = Filters::default();
        g.add("type", "builtin");
        assert!(!match_network(&g, &n).unwrap());
        let mut h = Filters::default();
        h.add("dangling", "true");
        assert!(match_network(&h, &n).unwrap());
        let mut bad = Filters::default();
        bad.add("type", "x");
        assert!(match_network(&bad, &n).is_err());
        let all = vec![n.clone()];
        assert_eq!(find_resource(&all, "front").unwrap().id, "abc123");
        assert_eq!(find_resource(&all, "abc").unwrap().name, "front");
        assert_eq!(
            find_resource(&all, "zz").unwrap_err().message,
            "network zz not found"
        );
    }
}
