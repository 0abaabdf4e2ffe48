//! [`NetworkManager`]: the one object the engine talks to. It owns the records
//! ([`NetworkState`]), the host netlink socket, the firewall, the DNS resolver and the
//! running per-container pieces (port proxies, DNS servers), and keeps them consistent:
//! every operation either completes or leaves nothing behind.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::sync::Mutex;

use crate::dns::{DnsEndpoint, DnsServer, Resolver};
use crate::error::{NetworkError, Result};
use crate::files;
use crate::firewall::{Firewall, FirewallInput, FwNetwork, FwPort};
use crate::ipam::{self, format_mac, mac_for_ip, Ipv4Net, Pool, PoolSpec};
use crate::link::{check_ifname, Netlink};
use crate::netns::NetnsRef;
use crate::ports::{self, PortSpec, ProxyHandle};
use crate::state::{EndpointRecord, NetworkRecord, NetworkState};

pub const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
pub const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
pub const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
pub const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// The default `bridge` network (`--bip`, `--fixed-cidr`, `--mtu`, `--icc`, …).
#[derive(Debug, Clone)]
pub struct DefaultBridgeConfig {
    /// Network name as shown by `network ls`: `bridge`.
    pub network_name: String,
    /// Interface name: `berth0`.
    pub bridge: String,
    /// `--bip`: gateway address with prefix, e.g. `172.30.0.1/16`. None: from the pools.
    pub bip: Option<Ipv4Net>,
    /// `--fixed-cidr`: containers get addresses from here.
    pub fixed_cidr: Option<Ipv4Net>,
    pub mtu: u32,
    pub icc: bool,
    pub masquerade: bool,
    /// Creation time recorded when the network is first made (RFC 3339).
    pub created: String,
}

impl Default for DefaultBridgeConfig {
    fn default() -> Self {
        DefaultBridgeConfig {
            network_name: "bridge".into(),
            bridge: "berth0".into(),
            bip: None,
            fixed_cidr: None,
            mtu: 0,
            icc: true,
            masquerade: true,
            created: String::new(),
        }
    }
}

/// Daemon-level settings.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Prefix of our iptables chains (`BERTH`).
    pub chain_prefix: String,
    /// Prefix of user network bridge names (`br-` + 12 hex of the id, like Docker).
    pub bridge_prefix: String,
    pub default_bridge: Option<DefaultBridgeConfig>,
    /// `default-address-pools`.
    pub pools: Vec<PoolSpec>,
    /// Where the embedded DNS forwards to when a container has no `--dns`. Empty: the
    /// nameservers of the host's /etc/resolv.conf.
    pub dns_upstreams: Vec<SocketAddr>,
    /// Write 1 to net.ipv4.ip_forward (needed for NAT and published ports).
    pub enable_ip_forward: bool,
    /// `--iptables`: manage our host chains. Off: no NAT, isolation or DNAT rules
    /// (published ports still work through the proxy; the DNS redirect inside the
    /// container namespaces is kept, it touches nothing of the host).
    pub iptables: bool,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        ManagerConfig {
            chain_prefix: "BERTH".into(),
            bridge_prefix: "br-".into(),
            default_bridge: Some(DefaultBridgeConfig::default()),
            pools: ipam::default_pools(),
            dns_upstreams: Vec::new(),
            enable_ip_forward: true,
            iptables: true,
        }
    }
}

/// `docker network create`.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    pub name: String,
    pub subnet: Option<Ipv4Net>,
    pub ip_range: Option<Ipv4Net>,
    pub gateway: Option<Ipv4Addr>,
    pub internal: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Creation time to record (RFC 3339).
    pub created: String,
}

/// `docker network connect` / the attachments of `docker run`.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    pub container_id: String,
    /// Container name without the leading `/`.
    pub container_name: String,
    pub hostname: String,
    pub netns: NetnsRef,
    /// `--network-alias` / `--alias` (ignored on the default bridge, as in Docker).
    pub aliases: Vec<String>,
    /// `--ip`.
    pub ip: Option<Ipv4Addr>,
    /// Interface name in the container; None: the lowest free `ethN`.
    pub ifname: Option<String>,
    /// `-p`; only for the container's first network (Docker publishes there).
    pub ports: Vec<PortSpec>,
    /// `--dns` servers: the embedded DNS forwards to these for this container.
    pub dns_upstreams: Vec<SocketAddr>,
}

impl ConnectRequest {
    pub fn new(container_id: &str, container_name: &str, netns: NetnsRef) -> ConnectRequest {
        ConnectRequest {
            container_id: container_id.into(),
            container_name: container_name.into(),
            hostname: container_id.chars().take(12).collect(),
            netns,
            aliases: Vec::new(),
            ip: None,
            ifname: None,
            ports: Vec::new(),
            dns_upstreams: Vec::new(),
        }
    }
}

struct Inner {
    state: NetworkState,
    /// Endpoint id → proxies of its published ports.
    proxies: HashMap<String, Vec<ProxyHandle>>,
    /// Container id → its embedded DNS server.
    dns: HashMap<String, DnsServer>,
}

pub struct NetworkManager {
    cfg: ManagerConfig,
    netlink: Netlink,
    fw: Firewall,
    resolver: Arc<Resolver>,
    inner: Mutex<Inner>,
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    // The kernel's random source does not fail on Linux ≥ 3.17; a zero id would still
    // be unique enough to not matter for one call, but fall back to time + counter.
    if getrandom::fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, x) in b.iter_mut().enumerate() {
            *x = (t >> ((i % 16) * 8)) as u8 ^ (i as u8);
        }
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn parse_bool_opt(opts: &BTreeMap<String, String>, key: &str, default: bool) -> Result<bool> {
    match opts.get(key).map(|s| s.as_str()) {
        None => Ok(default),
        Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(NetworkError::InvalidArgument(format!(
            "invalid value {v:?} for option {key}: must be true or false"
        ))),
    }
}

impl NetworkManager {
    /// Starts the subsystem from a saved state (empty on first start): recreates missing
    /// bridges, re-applies the firewall (idempotent), creates the default bridge network
    /// when configured, and brings back the endpoints whose netns still exists (their
    /// port proxies and DNS servers); endpoints of vanished namespaces are released.
    /// Must be called inside a tokio runtime.
    pub async fn new(cfg: ManagerConfig, saved: NetworkState) -> Result<NetworkManager> {
        if cfg.enable_ip_forward {
            std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                .map_err(|e| NetworkError::io("enable net.ipv4.ip_forward", e))?;
        }
        let upstreams = if cfg.dns_upstreams.is_empty() {
            let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            files::parse_resolv_conf(&text)
                .nameservers
                .into_iter()
                .map(|ip| SocketAddr::new(ip, 53))
                .collect()
        } else {
            cfg.dns_upstreams.clone()
        };
        let mgr = NetworkManager {
            netlink: Netlink::host()?,
            fw: Firewall::new(&cfg.chain_prefix),
            resolver: Resolver::new(upstreams),
            inner: Mutex::new(Inner {
                state: NetworkState::default(),
                proxies: HashMap::new(),
                dns: HashMap::new(),
            }),
            cfg,
        };
        mgr.restore(saved).await?;
        Ok(mgr)
    }

    pub fn config(&self) -> &ManagerConfig {
        &self.cfg
    }

    pub fn resolver(&self) -> &Arc<Resolver> {
        &self.resolver
    }

    pub fn firewall(&self) -> &Firewall {
        &self.fw
    }

    async fn restore(&self, saved: NetworkState) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let had_networks = !saved.networks.is_empty();
        let mut networks = saved.networks;
        // A default bridge whose settings (--bip, name, mtu, …) changed since the last
        // run is rebuilt, unless containers still use it.
        if let Some(db) = &self.cfg.default_bridge {
            if let Some(pos) = networks.iter().position(|n| n.is_default) {
                let old = &networks[pos];
                let changed = old.bridge != db.bridge
                    || old.mtu != db.mtu
                    || old.icc != db.icc
                    || old.masquerade != db.masquerade
                    || db.bip.is_some_and(|b| {
                        b.addr() != old.pool.gateway || b.network() != old.pool.subnet
                    });
                let used = saved.endpoints.iter().any(|e| e.network_id == old.id);
                if changed && !used {
                    self.netlink.delete_link(&old.bridge).await?;
                    networks.remove(pos);
                }
            }
        }
        for net in &networks {
            self.netlink
                .ensure_bridge(&net.bridge, net.mtu, self.gateway_net(net))
                .await?;
        }
        inner.state.networks = networks;
        if let Some(db) = self.cfg.default_bridge.clone() {
            if !inner.state.networks.iter().any(|n| n.is_default) {
                let rec = self.new_default_network(&inner.state, &db)?;
                self.netlink
                    .ensure_bridge(&rec.bridge, rec.mtu, self.gateway_net(&rec))
                    .await?;
                inner.state.networks.push(rec);
            }
        }
        for ep in saved.endpoints {
            let alive = ep.netns.open().is_ok();
            if !alive {
                if let Some(n) = inner
                    .state
                    .networks
                    .iter_mut()
                    .find(|n| n.id == ep.network_id)
                {
                    n.pool.release(ep.ip);
                }
                continue;
            }
            let net = inner
                .state
                .networks
                .iter()
                .find(|n| n.id == ep.network_id)
                .cloned();
            let Some(net) = net else { continue };
            if !ep.ports.is_empty() {
                // Same host ports as before the restart; a port taken meanwhile stays
                // published by DNAT only.
                let specs: Vec<PortSpec> = ep
                    .ports
                    .iter()
                    .map(|m| PortSpec {
                        protocol: m.protocol,
                        container_port: m.container_port,
                        host_ip: Some(m.host_ip),
                        host_port_start: m.host_port,
                        host_port_end: m.host_port,
                    })
                    .collect();
                let mut handles = Vec::new();
                for s in specs {
                    if let Ok(mut b) =
                        ports::bind_all(&[s], IpAddr::V4(ep.ip), &ep.container_name, &ep.id)
                    {
                        if let Some((m, bound)) = b.pop() {
                            handles.push(ports::serve(m, bound)?);
                        }
                    }
                }
                inner.proxies.insert(ep.id.clone(), handles);
            }
            if !net.is_default {
                self.resolver.add(dns_endpoint(&net, &ep));
                if !inner.dns.contains_key(&ep.container_id) {
                    if let Ok(s) = DnsServer::start(
                        &ep.netns.path(),
                        &ep.container_id,
                        self.resolver.clone(),
                        &self.cfg.chain_prefix,
                    ) {
                        inner.dns.insert(ep.container_id.clone(), s);
                    }
                }
            }
            inner.state.endpoints.push(ep);
        }
        if inner.state.networks.is_empty() && !had_networks {
            // Nothing was and nothing is: no iptables run at all (a daemon without the
            // default bridge starts without touching the firewall).
            return Ok(());
        }
        self.sync_firewall(&inner.state).await
    }

    fn gateway_net(&self, net: &NetworkRecord) -> Ipv4Net {
        // Ipv4Net::new only fails for prefixes > 32, which a stored subnet never has.
        Ipv4Net::new(net.pool.gateway, net.pool.subnet.prefix()).unwrap_or(net.pool.subnet)
    }

    /// Subnets routed on the host plus those of our networks.
    fn taken_subnets(&self, st: &NetworkState) -> Result<Vec<Ipv4Net>> {
        let mut taken = ipam::routed_subnets()?;
        taken.extend(st.networks.iter().map(|n| n.pool.subnet));
        Ok(taken)
    }

    fn new_default_network(
        &self,
        st: &NetworkState,
        db: &DefaultBridgeConfig,
    ) -> Result<NetworkRecord> {
        let pool = match db.bip {
            Some(bip) => Pool::new(bip.network(), db.fixed_cidr, Some(bip.addr()))?,
            None => {
                // A bridge of this name that already carries a subnet (left by an
                // earlier daemon whose state is gone) keeps it, as Docker does;
                // choosing another would stack a new address on it at every start.
                let subnet = match ipam::routed_subnets_of(&db.bridge)?.first() {
                    Some(existing) => *existing,
                    None => ipam::choose_subnet(&self.cfg.pools, &self.taken_subnets(st)?)?,
                };
                Pool::new(subnet, db.fixed_cidr, None)?
            }
        };
        let mut options = BTreeMap::new();
        options.insert(OPT_BRIDGE_NAME.to_string(), db.bridge.clone());
        options.insert(OPT_ICC.to_string(), db.icc.to_string());
        options.insert(OPT_MASQUERADE.to_string(), db.masquerade.to_string());
        if db.mtu != 0 {
            options.insert(OPT_MTU.to_string(), db.mtu.to_string());
        }
        Ok(NetworkRecord {
            id: random_hex(32),
            name: db.network_name.clone(),
            bridge: db.bridge.clone(),
            pool,
            internal: false,
            icc: db.icc,
            masquerade: db.masquerade,
            mtu: db.mtu,
            labels: BTreeMap::new(),
            options,
            is_default: true,
            created: db.created.clone(),
        })
    }

    /// A copy of the records, for the engine to persist ([`crate::state::save`]).
    pub async fn state(&self) -> NetworkState {
        self.inner.lock().await.state.clone()
    }

    /// Finds a network by full id, name, or unique id prefix.
    pub async fn network(&self, id_or_name: &str) -> Result<NetworkRecord> {
        let inner = self.inner.lock().await;
        find_network(&inner.state, id_or_name).cloned()
    }

    pub async fn networks(&self) -> Vec<NetworkRecord> {
        self.inner.lock().await.state.networks.clone()
    }

    /// Endpoints of a container (for inspect's NetworkSettings).
    pub async fn endpoints_of(&self, container_id: &str) -> Vec<EndpointRecord> {
        let inner = self.inner.lock().await;
        inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect()
    }

    /// `docker network create` (bridge driver).
    pub async fn create_network(&self, req: CreateNetwork) -> Result<NetworkRecord> {
        let mut inner = self.inner.lock().await;
        let st = &inner.state;
        if req.name.is_empty() {
            return Err(NetworkError::InvalidArgument(
                "network name is required".into(),
            ));
        }
        if st.networks.iter().any(|n| n.name == req.name) {
            return Err(NetworkError::Conflict(format!(
                "network with name {} already exists",
                req.name
            )));
        }
        let subnet = match req.subnet {
            Some(s) => {
                let s = s.network();
                if st.networks.iter().any(|n| n.pool.subnet.overlaps(&s)) {
                    return Err(NetworkError::Conflict(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => ipam::choose_subnet(&self.cfg.pools, &self.taken_subnets(st)?)?,
        };
        let pool = Pool::new(subnet, req.ip_range, req.gateway)?;
        let id = random_hex(32);
        let bridge = match req.options.get(OPT_BRIDGE_NAME) {
            Some(b) => b.clone(),
            None => format!("{}{}", self.cfg.bridge_prefix, &id[..12]),
        };
        check_ifname(&bridge)?;
        if st.networks.iter().any(|n| n.bridge == bridge) {
            return Err(NetworkError::Conflict(format!(
                "bridge name {bridge} is already in use by another network"
            )));
        }
        let mtu = match req.options.get(OPT_MTU) {
            Some(m) => m.parse::<u32>().map_err(|_| {
                NetworkError::InvalidArgument(format!("invalid value {m:?} for option {OPT_MTU}"))
            })?,
            None => 0,
        };
        let icc = parse_bool_opt(&req.options, OPT_ICC, true)?;
        if !icc {
            // Traffic between ports of one bridge only meets iptables with br_netfilter;
            // best effort (the module may be absent), as Docker does.
            let _ = std::fs::write("/proc/sys/net/bridge/bridge-nf-call-iptables", "1");
        }
        let rec = NetworkRecord {
            id,
            name: req.name,
            bridge,
            pool,
            internal: req.internal,
            icc,
            masquerade: parse_bool_opt(&req.options, OPT_MASQUERADE, true)?,
            mtu,
            labels: req.labels,
            options: req.options,
            is_default: false,
            created: req.created,
        };
        self.netlink
            .ensure_bridge(&rec.bridge, rec.mtu, self.gateway_net(&rec))
            .await?;
        inner.state.networks.push(rec.clone());
        if let Err(e) = self.sync_firewall(&inner.state).await {
            inner.state.networks.retain(|n| n.id != rec.id);
            let _ = self.netlink.delete_link(&rec.bridge).await;
            return Err(e);
        }
        Ok(rec)
    }

    /// `docker network rm`: refused while containers are attached.
    pub async fn remove_network(&self, id_or_name: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let net = find_network(&inner.state, id_or_name)?.clone();
        if net.is_default {
            return Err(NetworkError::InvalidArgument(format!(
                "{} is a pre-defined network and cannot be removed",
                net.name
            )));
        }
        if inner.state.endpoints.iter().any(|e| e.network_id == net.id) {
            return Err(NetworkError::Conflict(format!(
                "error while removing network: network {} id {} has active endpoints",
                net.name, net.id
            )));
        }
        inner.state.networks.retain(|n| n.id != net.id);
        self.netlink.delete_link(&net.bridge).await?;
        self.sync_firewall(&inner.state).await
    }

    /// Names the network namespace of a container's endpoints anew: it was connected
    /// through a path that is valid only for a moment (a descriptor the engine held
    /// until the container's process joined the namespace).
    pub async fn set_netns(&self, container_id: &str, netns: NetnsRef) {
        let mut inner = self.inner.lock().await;
        for e in inner
            .state
            .endpoints
            .iter_mut()
            .filter(|e| e.container_id == container_id)
        {
            e.netns = netns.clone();
        }
    }

    /// Attaches a container (whose netns exists) to a network: address, veth, routes,
    /// DNS names, published ports. On error nothing is left behind.
    pub async fn connect(&self, network: &str, req: ConnectRequest) -> Result<EndpointRecord> {
        let mut inner = self.inner.lock().await;
        let net = find_network(&inner.state, network)?.clone();
        if inner
            .state
            .endpoints
            .iter()
            .any(|e| e.network_id == net.id && e.container_id == req.container_id)
        {
            return Err(NetworkError::Conflict(format!(
                "endpoint with name {} already exists in network {}",
                req.container_name, net.name
            )));
        }
        if req.ip.is_some() && net.is_default {
            return Err(NetworkError::InvalidArgument(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        let mine: Vec<&EndpointRecord> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == req.container_id)
            .collect();
        let ifname = match &req.ifname {
            Some(n) => n.clone(),
            None => (0..)
                .map(|i| format!("eth{i}"))
                .find(|n| !mine.iter().any(|e| &e.ifname == n))
                .unwrap_or_else(|| "eth0".into()),
        };
        check_ifname(&ifname)?;
        let default_route = !net.internal && !mine.iter().any(|e| e.default_route);
        let netns_file = req.netns.open()?;

        // 1. address
        let ip = {
            let n = find_network_mut(&mut inner.state, &net.id)?;
            match req.ip {
                Some(ip) => n.pool.allocate_static(ip)?,
                None => n
                    .pool
                    .allocate()
                    .ok_or_else(|| NetworkError::PoolExhausted {
                        name: net.name.clone(),
                        id: net.id.clone(),
                    })?,
            }
        };
        let ep_id = random_hex(32);
        let release = |inner: &mut Inner| {
            if let Ok(n) = find_network_mut(&mut inner.state, &net.id) {
                n.pool.release(ip);
            }
        };
        // 2. host ports: bound before anything else is created so "already allocated"
        //    costs nothing to undo.
        let bound = match ports::bind_all(&req.ports, IpAddr::V4(ip), &req.container_name, &ep_id) {
            Ok(b) => b,
            Err(e) => {
                release(&mut inner);
                return Err(e);
            }
        };
        // 3. links
        let mac = mac_for_ip(ip);
        let host_ifname = format!("veth{}", &random_hex(4)[..7]);
        let rec = EndpointRecord {
            id: ep_id.clone(),
            network_id: net.id.clone(),
            container_id: req.container_id.clone(),
            container_name: req.container_name.clone(),
            hostname: req.hostname.clone(),
            aliases: if net.is_default {
                Vec::new()
            } else {
                req.aliases.clone()
            },
            ip,
            mac: format_mac(&mac),
            ifname: ifname.clone(),
            host_ifname: host_ifname.clone(),
            netns: req.netns.clone(),
            default_route,
            ports: bound.iter().map(|(m, _)| *m).collect(),
        };
        let links = async {
            let bridge = self.netlink.index(&net.bridge).await?.ok_or_else(|| {
                NetworkError::Netlink(format!("bridge {} is missing", net.bridge))
            })?;
            self.netlink
                .add_veth(&host_ifname, bridge, net.mtu, &netns_file, &ifname, mac)
                .await?;
            let inside = Netlink::in_netns(&req.netns.path())?;
            let addr = Ipv4Net::new(ip, net.pool.subnet.prefix())?;
            inside
                .configure_endpoint(&ifname, addr, default_route.then_some(net.pool.gateway))
                .await
        };
        if let Err(e) = links.await {
            let _ = self.netlink.delete_link(&host_ifname).await;
            release(&mut inner);
            return Err(e);
        }
        // 4. DNS (user networks only)
        if !net.is_default {
            if !inner.dns.contains_key(&req.container_id) {
                // Runs iptables-restore inside the netns: keep it off the async workers.
                let (path, cid, res, prefix) = (
                    req.netns.path(),
                    req.container_id.clone(),
                    self.resolver.clone(),
                    self.cfg.chain_prefix.clone(),
                );
                let started = tokio::task::spawn_blocking(move || {
                    DnsServer::start(&path, &cid, res, &prefix)
                })
                .await
                .unwrap_or_else(|e| Err(NetworkError::Netlink(e.to_string())));
                match started {
                    Ok(s) => {
                        inner.dns.insert(req.container_id.clone(), s);
                    }
                    Err(e) => {
                        let _ = self.netlink.delete_link(&host_ifname).await;
                        release(&mut inner);
                        return Err(e);
                    }
                }
            }
            self.resolver.add(dns_endpoint(&net, &rec));
            if !req.dns_upstreams.is_empty() {
                self.resolver
                    .set_container_upstreams(&req.container_id, req.dns_upstreams.clone());
            }
        }
        inner.state.endpoints.push(rec.clone());
        // 5. ports: rules, then proxies
        if !rec.ports.is_empty() {
            let mut handles = Vec::new();
            let mut res = self.sync_firewall(&inner.state).await;
            if res.is_ok() {
                for (m, b) in bound {
                    match ports::serve(m, b) {
                        Ok(h) => handles.push(h),
                        Err(e) => {
                            res = Err(e);
                            break;
                        }
                    }
                }
            }
            if let Err(e) = res {
                drop(handles);
                self.undo_endpoint(&mut inner, &rec, true).await;
                return Err(e);
            }
            inner.proxies.insert(rec.id.clone(), handles);
        }
        Ok(rec)
    }

    /// Forgets `rec` and deletes its veth: waiting for the deletion (`wait_link`) when
    /// the container lives on and must see the interface gone when this returns, in
    /// the background when its process has exited (see
    /// [`Netlink::delete_link_detached`]). The address is free at once either way: the
    /// delete request is already on its way before the next connect can ask for it.
    async fn undo_endpoint(&self, inner: &mut Inner, rec: &EndpointRecord, wait_link: bool) {
        inner.state.endpoints.retain(|e| e.id != rec.id);
        self.resolver.remove(&rec.container_id, &rec.network_id);
        if !inner
            .state
            .endpoints
            .iter()
            .any(|e| e.container_id == rec.container_id)
        {
            inner.dns.remove(&rec.container_id);
        }
        if let Ok(n) = find_network_mut(&mut inner.state, &rec.network_id) {
            n.pool.release(rec.ip);
        }
        if wait_link {
            let _ = self.netlink.delete_link(&rec.host_ifname).await;
        } else {
            self.netlink.delete_link_detached(rec.host_ifname.clone());
        }
        if !rec.ports.is_empty() {
            let _ = self.sync_firewall(&inner.state).await;
        }
        // The published ports' sockets close only once their DNAT rules are gone: a
        // port freed while a rule still sends its traffic to the container could be
        // bound by another program, whose clients would then be refused.
        inner.proxies.remove(&rec.id);
    }

    /// `docker network disconnect`: removes the veth (its peer goes with it), the DNS
    /// names, the published ports, and releases the address.
    pub async fn disconnect(&self, network: &str, container_id: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let net = find_network(&inner.state, network)?.clone();
        let rec = inner
            .state
            .endpoints
            .iter()
            .find(|e| e.network_id == net.id && e.container_id == container_id)
            .cloned()
            .ok_or_else(|| {
                NetworkError::Conflict(format!(
                    "container {container_id} is not connected to network {}",
                    net.name
                ))
            })?;
        self.undo_endpoint(&mut inner, &rec, true).await;
        Ok(())
    }

    /// `docker rename`: the container's endpoints carry its new name, and on user
    /// networks the embedded DNS answers the new name and forgets the old one (as
    /// Docker re-registers a renamed container's service records). Returns whether
    /// an endpoint changed (the state needs saving).
    pub async fn rename_container(&self, container_id: &str, new_name: &str) -> bool {
        let mut inner = self.inner.lock().await;
        let Inner { state, .. } = &mut *inner;
        let mut changed = false;
        for ep in state
            .endpoints
            .iter_mut()
            .filter(|e| e.container_id == container_id)
        {
            ep.container_name = new_name.to_string();
            changed = true;
            if let Some(net) = state.networks.iter().find(|n| n.id == ep.network_id) {
                if !net.is_default {
                    // `add` replaces this container's entry on that network.
                    self.resolver.add(dns_endpoint(net, ep));
                }
            }
        }
        changed
    }

    /// Detaches a container from every network (container stop or removal): its
    /// process has exited, so the veths are deleted in the background.
    pub async fn disconnect_all(&self, container_id: &str) -> Result<()> {
        self.disconnect_all_with(container_id, false).await
    }

    async fn disconnect_all_with(&self, container_id: &str, wait_link: bool) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let recs: Vec<EndpointRecord> = inner
            .state
            .endpoints
            .iter()
            .filter(|e| e.container_id == container_id)
            .cloned()
            .collect();
        for rec in recs {
            self.undo_endpoint(&mut inner, &rec, wait_link).await;
        }
        Ok(())
    }

    /// `--network none`: only `lo`, up.
    pub async fn setup_loopback(netns: &NetnsRef) -> Result<()> {
        Netlink::in_netns(&netns.path())?.loopback_up().await
    }

    /// Deletes our chains and every bridge we created (daemon shutdown with cleanup,
    /// tests). Endpoints are detached first.
    pub async fn teardown(&self) -> Result<()> {
        let ids: Vec<String> = {
            let inner = self.inner.lock().await;
            inner
                .state
                .endpoints
                .iter()
                .map(|e| e.container_id.clone())
                .collect()
        };
        // Waited for here: nothing may be left once the daemon is gone.
        for id in ids {
            self.disconnect_all_with(&id, true).await?;
        }
        let mut inner = self.inner.lock().await;
        for n in std::mem::take(&mut inner.state.networks) {
            self.netlink.delete_link(&n.bridge).await?;
        }
        let fw = self.fw.clone();
        tokio::task::spawn_blocking(move || fw.remove_all())
            .await
            .map_err(|e| NetworkError::Firewall(e.to_string()))?
    }

    async fn sync_firewall(&self, st: &NetworkState) -> Result<()> {
        if !self.cfg.iptables {
            return Ok(());
        }
        let by_id: HashMap<&str, &NetworkRecord> =
            st.networks.iter().map(|n| (n.id.as_str(), n)).collect();
        let input = FirewallInput {
            networks: st
                .networks
                .iter()
                .map(|n| FwNetwork {
                    bridge: n.bridge.clone(),
                    subnet: n.pool.subnet,
                    internal: n.internal,
                    icc: n.icc,
                    masquerade: n.masquerade,
                })
                .collect(),
            ports: st
                .endpoints
                .iter()
                .flat_map(|e| {
                    let bridge = by_id.get(e.network_id.as_str()).map(|n| n.bridge.clone());
                    e.ports.iter().filter_map(move |m| {
                        bridge.clone().map(|b| FwPort {
                            bridge: b,
                            mapping: *m,
                        })
                    })
                })
                .collect(),
        };
        let fw = self.fw.clone();
        let empty = input.networks.is_empty();
        // iptables runs as a child process: keep it off the async workers.
        tokio::task::spawn_blocking(move || {
            if empty {
                fw.remove_all()
            } else {
                fw.apply(&input)
            }
        })
        .await
        .map_err(|e| NetworkError::Firewall(e.to_string()))?
    }
}

fn dns_endpoint(net: &NetworkRecord, ep: &EndpointRecord) -> DnsEndpoint {
    let mut names = vec![ep.container_name.clone()];
    names.extend(ep.aliases.iter().cloned());
    if !ep.hostname.is_empty() {
        names.push(ep.hostname.clone());
    }
    names.push(ep.container_id.chars().take(12).collect());
    DnsEndpoint {
        container_id: ep.container_id.clone(),
        network_id: net.id.clone(),
        names,
        ip: ep.ip,
        internal: net.internal,
    }
}

fn find_network<'a>(st: &'a NetworkState, key: &str) -> Result<&'a NetworkRecord> {
    if let Some(n) = st.networks.iter().find(|n| n.id == key || n.name == key) {
        return Ok(n);
    }
    let mut m = st
        .networks
        .iter()
        .filter(|n| !key.is_empty() && n.id.starts_with(key));
    match (m.next(), m.next()) {
        (Some(n), None) => Ok(n),
        _ => Err(NetworkError::NotFound(key.to_string())),
    }
}

fn find_network_mut<'a>(st: &'a mut NetworkState, id: &str) -> Result<&'a mut NetworkRecord> {
    st.networks
        .iter_mut()
        .find(|n| n.id == id)
        .ok_or_else(|| NetworkError::NotFound(id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}

    /// The engine shares one manager between tasks and spawns its futures.
    #[allow(dead_code)]
    fn manager_and_futures_are_send(m: &'static NetworkManager, req: ConnectRequest) {
        send_sync(m);
        send(m.connect("n", req));
        send(m.disconnect("n", "c"));
        send(m.create_network(CreateNetwork::default()));
        send(m.remove_network("n"));
        send(m.teardown());
        send(NetworkManager::new(
            ManagerConfig::default(),
            NetworkState::default(),
        ));
    }

    #[test]
    fn bool_options_and_network_lookup() {
        let mut o = BTreeMap::new();
        assert!(parse_bool_opt(&o, OPT_ICC, true).unwrap());
        o.insert(OPT_ICC.to_string(), "false".to_string());
        assert!(!parse_bool_opt(&o, OPT_ICC, true).unwrap());
        o.insert(OPT_ICC.to_string(), "nah".to_string());
        assert!(parse_bool_opt(&o, OPT_ICC, true).is_err());

        let rec = |id: &str, name: &str| NetworkRecord {
            id: id.into(),
            name: name.into(),
            bridge: "b".into(),
            pool: Pool::new("10.0.0.0/24".parse().unwrap(), None, None).unwrap(),
            internal: false,
            icc: true,
            masquerade: true,
            mtu: 0,
            labels: BTreeMap::new(),
            options: BTreeMap::new(),
            is_default: false,
            created: String::new(),
        };
        let st = NetworkState {
            networks: vec![rec("abc111", "one"), rec("abc222", "two")],
            endpoints: vec![],
        };
        assert_eq!(find_network(&st, "two").unwrap().id, "abc222");
        assert_eq!(find_network(&st, "abc1").unwrap().name, "one");
        assert!(matches!(
            find_network(&st, "abc"),
            Err(NetworkError::NotFound(_))
        ));
        assert_eq!(
            find_network(&st, "zzz").unwrap_err().to_string(),
            "network zzz not found"
        );
        assert_eq!(random_hex(32).len(), 64);
    }
}
