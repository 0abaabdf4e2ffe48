//! Container networking in the engine: when and how `berth-network` is called.
//!
//! The [`berth_network::NetworkManager`] does the work (bridges, veths, NAT, ports,
//! embedded DNS); this module owns its lifetime and its state file
//! (`<data-root>/network/state.json`, saved after every change), and hooks it into the
//! container lifecycle:
//! - create: the network mode and `NetworkingConfig` are checked (`network X not
//!   found`, `--ip`/aliases only on user networks) and the primary network is recorded
//!   in `EndpointsConfig`, which from then on lists every network the container joins
//!   at start (`network connect/disconnect` of a stopped container edit it).
//! - start ([`Engine::net_attach`], called once the shim reports the parked init pid and
//!   before `Request::Start`): connect to each network (published ports on the first),
//!   then write `resolv.conf` (embedded DNS at 127.0.0.11 on user networks) and `hosts`
//!   (own addresses, `--add-host`, `--link`). A failure (a port already allocated)
//!   kills the parked process: the container never runs ([`Engine::net_abort_start`]).
//! - exit ([`Engine::net_release_later`], in the background) and removal
//!   ([`Engine::net_release`], before the removal returns): `disconnect_all`.
//! - daemon restart: the manager re-creates bridges and rules from the saved state;
//!   [`Engine::net_after_restore`] releases endpoints of containers that are not running.
//! - inspect/ps: `NetworkSettings` and `Ports` from a synchronous snapshot of the state.
//! - the `/networks` API (list, inspect, create, remove, connect, disconnect, prune),
//!   with Docker's pre-defined `host` and `none` networks added here.

use crate::error::{EngineError, ErrorKind, Result};
use crate::filters::Filters;
use crate::record::ContainerRecord;
use crate::{lock, shimctl, Ctr, Engine, EngineConfig};
use berth_network::files::{self as nfiles, DnsMode, DnsSettings, ExtraHost};
use berth_network::ports::{self, PortMapping, PortSpec};
use berth_network::{
    ConnectRequest, CreateNetwork, EndpointRecord, NetnsRef, NetworkError, NetworkManager,
    NetworkRecord, NetworkState,
};
use berth_types::docker::{
    ContainerSummary, CreateRequest, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkContainer, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse,
    NetworkResource, NetworkSettings, Port, PortBinding, PortMap,
};
use berth_types::shim::Request;
use berth_types::time::rfc3339_nano;
use sha2::Digest;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

mod api;

/// Name of the default bridge network (`network ls`, `--network bridge`).
pub const DEFAULT_NETWORK: &str = "bridge";

impl From<NetworkError> for EngineError {
    fn from(e: NetworkError) -> EngineError {
        use berth_network::ErrorKind as K;
        let kind = match (&e, e.kind()) {
            // Docker answers a busy host port with a 500 from the start.
            (NetworkError::PortAllocated { .. }, _) => ErrorKind::Internal,
            (_, K::NotFound) => ErrorKind::NotFound,
            (_, K::Conflict) => ErrorKind::Conflict,
            (_, K::InvalidArgument) => ErrorKind::InvalidArgument,
            (_, K::System) => ErrorKind::Internal,
        };
        EngineError::new(kind, e.to_string())
    }
}

/// The network subsystem of one engine.
pub(crate) struct Networking {
    /// Made at first use (a daemon that never networks a container creates no bridge
    /// and no rule), or at open when the saved state has something to restore.
    cell: tokio::sync::OnceCell<NetworkManager>,
    cfg: berth_network::ManagerConfig,
    /// The state to restore, taken by the first [`Networking::mgr`].
    saved: Mutex<Option<NetworkState>>,
    state_path: PathBuf,
    /// Serializes "snapshot the state, write it" so the file never goes back in time.
    save_lock: tokio::sync::Mutex<()>,
    /// The state as last saved: inspect and ps read it without awaiting the manager.
    snap: Mutex<NetworkState>,
    /// Stable ids of the pre-defined `host` and `none` networks.
    host_id: String,
    none_id: String,
    has_default: bool,
}

fn stable_id(data_root: &std::path::Path, what: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(format!("berth-network:{what}:{}", data_root.display()).as_bytes());
    hex::encode(h.finalize())
}

/// Opens the subsystem when the daemon configured it (`EngineConfig::network`):
/// re-creates bridges and rules from the saved state. `None`: containers get a
/// loopback-only namespace, as before networking existed.
pub(crate) async fn open(cfg: &EngineConfig) -> Result<Option<Arc<Networking>>> {
    let Some(mut ncfg) = cfg.network.clone() else {
        return Ok(None);
    };
    let dir = cfg.data_root.join("network");
    std::fs::create_dir_all(&dir)
        .map_err(|e| EngineError::io(format!("creating {}", dir.display()), e))?;
    let state_path = dir.join("state.json");
    let mut saved = match berth_network::state::load(&state_path) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth-engine: ignoring unreadable network state: {e}");
            NetworkState::default()
        }
    };
    // An endpoint names its namespace by the init pid; a pid reused since then by an
    // unrelated process must not count as the container (its DNS server and rules would
    // land in that process's namespace). The pid must still be in the container's
    // cgroup, else the endpoint is marked gone and the manager frees it.
    for ep in saved.endpoints.iter_mut() {
        if let NetnsRef::Pid(pid) = ep.netns {
            let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if !cg.contains(&ep.container_id) {
                ep.netns = NetnsRef::Path(PathBuf::from("/nonexistent/berth-netns-gone"));
            }
        }
    }
    if let Some(db) = ncfg.default_bridge.as_mut() {
        if db.created.is_empty() {
            db.created = rfc3339_nano(SystemTime::now());
        }
    }
    let has_default = ncfg.default_bridge.is_some();
    let restore = !saved.networks.is_empty() || !saved.endpoints.is_empty();
    let net = Networking {
        state_path,
        save_lock: tokio::sync::Mutex::new(()),
        snap: Mutex::new(NetworkState::default()),
        host_id: stable_id(&cfg.data_root, "host"),
        none_id: stable_id(&cfg.data_root, "none"),
        has_default,
        cell: tokio::sync::OnceCell::new(),
        cfg: ncfg,
        saved: Mutex::new(Some(saved)),
    };
    if restore {
        // Bridges, rules, proxies and DNS servers of running containers come back now.
        net.mgr().await?;
    }
    Ok(Some(Arc::new(net)))
}

impl Networking {
    /// The manager, started (and the state restored) at the first call.
    async fn mgr(&self) -> Result<&NetworkManager> {
        self.cell
            .get_or_try_init(|| async {
                let saved = lock(&self.saved).take().unwrap_or_default();
                let m = NetworkManager::new(self.cfg.clone(), saved).await?;
                // Saved and visible before any other caller gets the manager: a
                // concurrent first use must find the default network in the snapshot.
                let st = m.state().await;
                berth_network::state::save(&self.state_path, &st)?;
                *lock(&self.snap) = st;
                Ok::<_, EngineError>(m)
            })
            .await
    }

    /// The manager if it was started.
    fn started(&self) -> Option<&NetworkManager> {
        self.cell.get()
    }

    /// Saves the manager's state and refreshes the snapshot.
    async fn commit(&self, durable: bool) -> Result<()> {
        let Some(mgr) = self.started() else {
            return Ok(());
        };
        let _g = self.save_lock.lock().await;
        let st = mgr.state().await;
        // A few KB, and without the fsync for endpoint changes: written inline, the
        // blocking pool's scheduling would cost more than the write on a busy host.
        let res = if durable {
            let (path, st2) = (self.state_path.clone(), st.clone());
            tokio::task::spawn_blocking(move || berth_network::state::save_with(&path, &st2, true))
                .await?
        } else {
            berth_network::state::save_with(&self.state_path, &st, false)
        };
        *lock(&self.snap) = st;
        res.map_err(EngineError::from)
    }

    fn snapshot(&self) -> NetworkState {
        lock(&self.snap).clone()
    }
}

/// The network a mode names: `Some(name)` for bridge networks, `None` for host, none,
/// container:<id>.
fn primary_network(mode: &str) -> Option<&str> {
    match mode {
        "" | "default" | "bridge" => Some(DEFAULT_NETWORK),
        "host" | "none" => None,
        m if m.starts_with("container:") => None,
        m => Some(m),
    }
}

fn ipv4_of(ep: &EndpointSettings) -> Option<String> {
    ep.ipam_config
        .as_ref()
        .and_then(|v| v.get("IPv4Address"))
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `--dns`, `--dns-search`, `--dns-option` of a container.
fn user_dns(rec: &ContainerRecord) -> Result<DnsSettings> {
    let hc = &rec.host_config;
    Ok(DnsSettings {
        servers: hc
            .dns
            .iter()
            .flatten()
            .map(|s| {
                s.parse::<IpAddr>()
                    .map_err(|_| EngineError::invalid(format!("{s} is not an ip address")))
            })
            .collect::<Result<_>>()?,
        search: hc.dns_search.clone().unwrap_or_default(),
        options: hc.dns_options.clone().unwrap_or_default(),
    })
}

/// The `-p`/`-P` requests of a container as port specs (`-P`: every exposed port not
/// published explicitly gets a random host port).
pub(crate) fn port_specs(rec: &ContainerRecord) -> Result<Vec<PortSpec>> {
    let hc = &rec.host_config;
    let mut out = Vec::new();
    let bindings = hc.port_bindings.clone().unwrap_or_default();
    for (key, list) in &bindings {
        for b in list.iter().flatten() {
            out.push(ports::from_binding(key, &b.host_ip, &b.host_port)?);
        }
    }
    if hc.publish_all_ports {
        for key in rec.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
            let published = bindings
                .get(key)
                .is_some_and(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
            if !published {
                out.push(ports::from_binding(key, "", "")?);
            }
        }
    }
    Ok(out)
}

fn port_key(m: &PortMapping) -> String {
    format!("{}/{}", m.container_port, m.protocol)
}

fn network_event_attrs(name: &str, container: Option<&str>) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert("name".to_string(), name.to_string());
    a.insert("type".to_string(), "bridge".to_string());
    if let Some(c) = container {
        a.insert("container".to_string(), c.to_string());
    }
    a
}

impl Engine {
    fn net(&self) -> Option<&Arc<Networking>> {
        self.net.as_ref()
    }

    fn net_required(&self) -> Result<&Arc<Networking>> {
        self.net()
            .ok_or_else(|| EngineError::internal("networking is disabled in this daemon"))
    }

    /// The subsystem, started: for the `/networks` API.
    async fn net_ready(&self) -> Result<Arc<Networking>> {
        let net = self.net_required()?.clone();
        net.mgr().await?;
        Ok(net)
    }

    fn network_event(&self, action: &str, net: &NetworkRecord, container: Option<&str>) {
        self.publish(
            "network",
            action,
            &net.id,
            "",
            network_event_attrs(&net.name, container),
        );
    }

    /// Create-time checks and defaults: the networks exist, `--ip` and aliases only on
    /// user networks, and the primary network is listed in `EndpointsConfig`.
    pub(crate) async fn net_check_create(&self, body: &mut CreateRequest) -> Result<()> {
        let mode = body.host_config.network_mode.clone();
        if let Some(other) = mode.strip_prefix("container:") {
            if other.is_empty() {
                return Err(EngineError::invalid(
                    "invalid network mode: container: needs a container name or id",
                ));
            }
            if !body.config.hostname.is_empty() {
                return Err(EngineError::invalid(
                    "conflicting options: hostname and the network mode",
                ));
            }
            return Ok(());
        }
        let Some(net) = self.net().cloned() else {
            return Ok(());
        };
        let eps = &mut body.networking_config.endpoints_config;
        if mode == "host" || mode == "none" {
            if eps.keys().any(|k| k != &mode) {
                return Err(EngineError::invalid(format!(
                    "container cannot be connected to multiple networks with one of the networks in private ({mode}) mode"
                )));
            }
            return Ok(());
        }
        let Some(primary) = primary_network(&mode) else {
            return Ok(());
        };
        if primary == DEFAULT_NETWORK && !net.has_default {
            return Ok(());
        }
        net.mgr().await?;
        let snap = net.snapshot();
        let find = |name: &str| -> Result<NetworkRecord> {
            // Clients key the default network by the mode's name.
            let name = if name == "default" {
                DEFAULT_NETWORK
            } else {
                name
            };
            snap.networks
                .iter()
                .find(|n| n.name == name || n.id == name)
                .or_else(|| {
                    let mut m = snap
                        .networks
                        .iter()
                        .filter(|n| !name.is_empty() && n.id.starts_with(name));
                    match (m.next(), m.next()) {
                        (Some(n), None) => Some(n),
                        _ => None,
                    }
                })
                .cloned()
                .ok_or_else(|| EngineError::not_found(format!("network {name} not found")))
        };
        // Key the entries by network name (clients may use the id).
        let mut fixed = BTreeMap::new();
        let primary_rec = find(primary)?;
        let mut entries: Vec<(String, EndpointSettings)> =
            std::mem::take(eps).into_iter().collect();
        if !entries
            .iter()
            .any(|(k, _)| find(k).is_ok_and(|n| n.id == primary_rec.id))
        {
            entries.insert(0, (primary_rec.name.clone(), EndpointSettings::default()));
        }
        for (k, mut ep) in entries {
            let n = find(&k)?;
            if n.is_default {
                if ep.aliases.as_ref().is_some_and(|a| !a.is_empty()) {
                    return Err(EngineError::invalid(
                        "network-scoped alias is supported only for containers in user defined networks",
                    ));
                }
                if ipv4_of(&ep).is_some() {
                    return Err(EngineError::invalid(
                        "user specified IP address is supported on user defined networks only",
                    ));
                }
            }
            if let Some(ip) = ipv4_of(&ep) {
                let addr: Ipv4Addr = ip
                    .parse()
                    .map_err(|_| EngineError::invalid(format!("invalid IPv4 address: {ip}")))?;
                if !n.pool.subnet.contains(addr) {
                    return Err(EngineError::invalid(format!(
                        "invalid endpoint settings:\nno configured subnet contains IP address {ip}"
                    )));
                }
            }
            ep.network_id = n.id.clone();
            fixed.insert(n.name.clone(), ep);
        }
        *eps = fixed;
        Ok(())
    }

    /// The networks a container joins at start: primary first, then the others.
    fn net_plan(&self, rec: &ContainerRecord) -> Vec<(String, EndpointSettings)> {
        let Some(primary) = primary_network(&rec.host_config.network_mode) else {
            return Vec::new();
        };
        // Create lists the primary network here ([`Engine::net_check_create`]); an empty
        // list means the container was disconnected from every network: like Docker,
        // it keeps its mode but starts with loopback only until it is connected again.
        let eps = &rec.networking_config.endpoints_config;
        let mut out: Vec<(String, EndpointSettings)> = Vec::new();
        // Clients key the default network by the mode's name (`default`).
        let key = |k: &str| {
            if k == "default" {
                DEFAULT_NETWORK.to_string()
            } else {
                k.to_string()
            }
        };
        if let Some((_, ep)) = eps.iter().find(|(k, _)| key(k) == primary) {
            out.push((primary.to_string(), ep.clone()));
        }
        for (k, ep) in eps {
            if key(k) != primary {
                out.push((key(k), ep.clone()));
            }
        }
        out
    }

    /// Start hook: connects the container (init `pid`, parked before execve) to its
    /// networks and writes its resolv.conf and hosts. On error every endpoint made here
    /// is undone.
    pub(crate) async fn net_attach(&self, ctr: &Arc<Ctr>, pid: i32) -> Result<()> {
        let pid =
            u32::try_from(pid).map_err(|_| EngineError::internal(format!("bad init pid {pid}")))?;
        self.net_attach_to(ctr, NetnsRef::Pid(pid), true).await
    }

    /// Whether a start connects networks at all (not `host`, not `container:<id>`, and
    /// networking is enabled).
    pub(crate) fn net_attaches(&self, rec: &ContainerRecord) -> bool {
        let mode = &rec.host_config.network_mode;
        self.net().is_some() && mode != "host" && !mode.starts_with("container:")
    }

    /// [`Engine::net_attach`] through any name of the namespace. Without `save` the
    /// state is not saved: [`Engine::net_attached_pid`] names the namespace by the
    /// process and saves it once the process exists.
    pub(crate) async fn net_attach_to(
        &self,
        ctr: &Arc<Ctr>,
        netns: NetnsRef,
        save: bool,
    ) -> Result<()> {
        let Some(net) = self.net().cloned() else {
            return Ok(());
        };
        let rec = ctr.snapshot();
        let mode = rec.host_config.network_mode.clone();
        if let Some(other) = mode.strip_prefix("container:") {
            // Same namespace, same files as the other container (Docker shares them).
            if let Ok(o) = self.lookup(other) {
                for (from, to) in [
                    (o.paths.hosts(), ctr.paths.hosts()),
                    (o.paths.resolv_conf(), ctr.paths.resolv_conf()),
                ] {
                    if let Ok(text) = std::fs::read(&from) {
                        let _ = std::fs::write(&to, text);
                    }
                }
            }
            return Ok(());
        }
        if mode == "host" {
            return Ok(());
        }
        let plan: Vec<(String, EndpointSettings)> = self
            .net_plan(&rec)
            .into_iter()
            .filter(|(n, _)| n != DEFAULT_NETWORK || net.has_default)
            .collect();
        let user_dns = user_dns(&rec)?;
        let host_resolv = std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default();
        let first_is_user = plan.first().is_some_and(|(n, _)| n != DEFAULT_NETWORK);
        let resolv = nfiles::resolv_conf(
            &host_resolv,
            if first_is_user {
                DnsMode::Embedded
            } else {
                DnsMode::Copy
            },
            &user_dns,
        );
        let specs = port_specs(&rec)?;
        let hostname = crate::specbuild::hostname_of(&rec);
        // The release of the previous run happens in the background; finish it first.
        if !plan.is_empty() && !net.mgr().await?.endpoints_of(&rec.id).await.is_empty() {
            self.net_release(&rec.id).await;
        }
        let mut made: Vec<EndpointRecord> = Vec::new();
        let mut result = Ok(());
        for (i, (name, ep)) in plan.iter().enumerate() {
            let mut req = ConnectRequest::new(&rec.id, rec.bare_name(), netns.clone());
            req.hostname = hostname.clone();
            req.aliases = ep.aliases.clone().unwrap_or_default();
            if let Some(ip) = ipv4_of(ep) {
                req.ip = ip.parse().ok();
            }
            if i == 0 {
                req.ports = specs.clone();
            }
            if !user_dns.servers.is_empty() {
                req.dns_upstreams = resolv.upstreams.clone();
            }
            match net.mgr().await?.connect(name, req).await {
                Ok(e) => made.push(e),
                Err(e) => {
                    result = Err(EngineError::from(e));
                    break;
                }
            }
        }
        if result.is_ok() {
            result = self.net_write_files(ctr, &rec, &made, Some(&resolv.content));
        }
        if let Err(e) = result {
            if !made.is_empty() {
                if let Some(m) = net.started() {
                    let _ = m.disconnect_all(&rec.id).await;
                }
                let _ = net.commit(false).await;
            }
            return Err(e);
        }
        if !made.is_empty() {
            if save {
                net.commit(false).await?;
            }
            let snap = net.snapshot();
            for ep in &made {
                if let Some(n) = snap.networks.iter().find(|n| n.id == ep.network_id) {
                    self.network_event("connect", n, Some(&rec.id));
                }
            }
        }
        Ok(())
    }

    /// After [`Engine::net_attach_to`] through a passing name: the endpoints' namespace
    /// is the one of init `pid` from now on (a restore checks it), and the state is
    /// saved.
    pub(crate) async fn net_attached_pid(&self, ctr: &Arc<Ctr>, pid: i32) -> Result<()> {
        let Some(net) = self.net().cloned() else {
            return Ok(());
        };
        let Some(mgr) = net.started() else {
            return Ok(());
        };
        let pid =
            u32::try_from(pid).map_err(|_| EngineError::internal(format!("bad init pid {pid}")))?;
        if mgr.endpoints_of(&ctr.id).await.is_empty() {
            return Ok(());
        }
        mgr.set_netns(&ctr.id, NetnsRef::Pid(pid)).await;
        net.commit(false).await
    }

    /// Rewrites `hosts` (and `resolv.conf` when given) in place: the files are already
    /// bind-mounted into the container, a rename would leave it the old ones.
    fn net_write_files(
        &self,
        ctr: &Arc<Ctr>,
        rec: &ContainerRecord,
        eps: &[EndpointRecord],
        resolv: Option<&str>,
    ) -> Result<()> {
        let Some(net) = self.net() else {
            return Ok(());
        };
        let snap = net.snapshot();
        let gateway = snap
            .networks
            .iter()
            .find(|n| n.is_default)
            .map(|n| IpAddr::V4(n.gateway()));
        let mut extra: Vec<ExtraHost> = Vec::new();
        for h in rec.host_config.extra_hosts.iter().flatten() {
            extra.push(nfiles::parse_add_host(h, gateway)?);
        }
        // `--link name:alias`: the linked container's address on a shared network
        // (the default bridge first, like Docker's legacy links).
        for l in rec.host_config.links.iter().flatten() {
            let (target, alias) = match l.split_once(':') {
                Some((t, a)) => (t, a.rsplit('/').next().unwrap_or(a)),
                None => (l.as_str(), l.rsplit('/').next().unwrap_or(l)),
            };
            let target = target.trim_start_matches('/');
            let Ok(other) = self.lookup(target) else {
                continue;
            };
            let mine: Vec<&str> = eps.iter().map(|e| e.network_id.as_str()).collect();
            let theirs = snap
                .endpoints
                .iter()
                .filter(|e| e.container_id == other.id)
                .find(|e| mine.contains(&e.network_id.as_str()));
            if let Some(e) = theirs {
                let oname = e.container_name.clone();
                let mut names = vec![alias.to_string()];
                names.push(other.id.chars().take(12).collect());
                if oname != alias {
                    names.push(oname);
                }
                extra.push(ExtraHost {
                    name: names.join(" "),
                    ip: IpAddr::V4(e.ip),
                });
            }
        }
        let hostname = crate::specbuild::hostname_of(rec);
        let own: Vec<(IpAddr, Vec<String>)> = eps
            .iter()
            .take(1)
            .map(|e| (IpAddr::V4(e.ip), Vec::new()))
            .collect();
        // A bridge-mode container disconnected from every network gets no line for
        // its hostname, as in Docker.
        let hosts = if own.is_empty() && rec.host_config.network_mode == "none" {
            // `none`: the hostname maps to loopback so `ping $(hostname)` works.
            let mut h = nfiles::hosts_file(&hostname, &rec.config.domainname, &[], &extra);
            let fqdn = if rec.config.domainname.is_empty() {
                hostname.clone()
            } else {
                format!("{hostname}.{} {hostname}", rec.config.domainname)
            };
            h.push_str(&format!("127.0.0.1\t{fqdn}\n"));
            h
        } else {
            nfiles::hosts_file(&hostname, &rec.config.domainname, &own, &extra)
        };
        let mut files = vec![(ctr.paths.hosts(), hosts)];
        if let Some(r) = resolv {
            files.push((ctr.paths.resolv_conf(), r.to_string()));
        }
        for (path, content) in files {
            std::fs::write(&path, content)
                .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
        }
        Ok(())
    }

    /// `network connect` of a running container, after the endpoint was made: its
    /// hosts file gains a line for the new address, and joining a user network
    /// switches its resolv.conf to the embedded DNS (as Docker rewrites both in place).
    pub(crate) fn net_files_after_connect(
        &self,
        ctr: &Arc<Ctr>,
        rec: &ContainerRecord,
        ep: &EndpointRecord,
        user_network: bool,
    ) -> Result<()> {
        let hostname = crate::specbuild::hostname_of(rec);
        edit_in_place(&ctr.paths.hosts(), |text| {
            nfiles::hosts_add_own(text, IpAddr::V4(ep.ip), &hostname, &rec.config.domainname)
        })?;
        if user_network {
            let path = ctr.paths.resolv_conf();
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            let embedded = nfiles::parse_resolv_conf(&current)
                .nameservers
                .contains(&IpAddr::V4(berth_network::dns::DNS_ADDR));
            if !embedded {
                let host = std::fs::read_to_string(&self.cfg.resolv_conf).unwrap_or_default();
                let r = nfiles::resolv_conf(&host, DnsMode::Embedded, &user_dns(rec)?);
                std::fs::write(&path, r.content)
                    .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
            }
        }
        Ok(())
    }

    /// `network disconnect` of a running container: the line of the address it had
    /// on that network leaves its hosts file. (Docker 20.10 drops every line of the
    /// container's hostname here, its other networks' too; only this one goes here.)
    pub(crate) fn net_files_after_disconnect(
        &self,
        ctr: &Arc<Ctr>,
        rec: &ContainerRecord,
        ip: Ipv4Addr,
    ) -> Result<()> {
        let hostname = crate::specbuild::hostname_of(rec);
        edit_in_place(&ctr.paths.hosts(), |text| {
            nfiles::hosts_remove_own(text, IpAddr::V4(ip), &hostname)
        })
    }

    /// A start that failed in [`Engine::net_attach`]: the parked process is killed (it
    /// never ran), endpoints undone, and the failure recorded as Docker does (the
    /// container stays `created`, the error in its state).
    pub(crate) async fn net_abort_start(&self, ctr: &Arc<Ctr>, err: EngineError) -> EngineError {
        let _ = shimctl::request(
            &ctr.socket,
            &Request::Kill {
                signal: libc::SIGKILL,
                all: true,
            },
        )
        .await;
        let _ = crate::monitor::wait_for_exit(ctr).await;
        self.net_release(&ctr.id).await;
        let snap = {
            let mut r = lock(&ctr.rec);
            ctr.shim_up.store(false, Ordering::SeqCst);
            r.state.error = err.message.clone();
            r.state.exit_code = 128;
            r.state.running = false;
            r.state.pid = 0;
            if r.has_been_started {
                r.state.status = "exited".into();
                r.state.finished_at = rfc3339_nano(SystemTime::now());
            } else {
                r.state.status = "created".into();
            }
            r.clone()
        };
        let _ = crate::record::write_json(&ctr.paths.config(), &snap);
        // Restart-policy and restore starts end here too, not only user starts.
        self.deactivate_mounts(&snap);
        ctr.watch.send_modify(|w| {
            w.exit_code = snap.state.exit_code;
            w.error = err.message.clone();
        });
        err
    }

    /// Exit and removal hook: frees the container's addresses, ports and DNS names.
    pub(crate) async fn net_release(&self, container_id: &str) {
        let Some(net) = self.net().cloned() else {
            return;
        };
        let Some(mgr) = net.started() else {
            return;
        };
        let eps = mgr.endpoints_of(container_id).await;
        if eps.is_empty() {
            return;
        }
        let snap = net.snapshot();
        if let Err(e) = mgr.disconnect_all(container_id).await {
            eprintln!("berth-engine: disconnecting {container_id}: {e}");
        }
        if let Err(e) = net.commit(false).await {
            eprintln!("berth-engine: saving network state: {e}");
        }
        for ep in eps {
            if let Some(n) = snap.networks.iter().find(|n| n.id == ep.network_id) {
                self.network_event("disconnect", n, Some(container_id));
            }
        }
    }

    /// Rename hook: the live endpoints take the new name (embedded DNS, `network
    /// inspect`); a stopped container's endpoints are made from its record at start.
    pub(crate) async fn net_renamed(&self, container_id: &str, new_name: &str) {
        let Some(net) = self.net().cloned() else {
            return;
        };
        let Some(mgr) = net.started() else {
            return;
        };
        let bare = new_name.trim_start_matches('/');
        if mgr.rename_container(container_id, bare).await {
            if let Err(e) = net.commit(false).await {
                eprintln!("berth-engine: saving network state: {e}");
            }
        }
    }

    /// [`Engine::net_release`] in the background: the exit is recorded without waiting
    /// for the kernel to delete the veth (its namespace is going away anyway); a start
    /// that comes first finishes the release itself.
    pub(crate) fn net_release_later(&self, container_id: &str) {
        if self.net().is_none() {
            return;
        }
        let Some(engine) = self.arc() else { return };
        let id = container_id.to_string();
        tokio::spawn(async move { engine.net_release(&id).await });
    }

    /// After the containers were restored: endpoints of containers that are not running
    /// (exited while the daemon was down, or removed) are released.
    pub(crate) async fn net_after_restore(&self) {
        let Some(net) = self.net().cloned() else {
            return;
        };
        let ids: std::collections::BTreeSet<String> = net
            .snapshot()
            .endpoints
            .iter()
            .map(|e| e.container_id.clone())
            .collect();
        for id in ids {
            let running = self
                .lookup(&id)
                .ok()
                .filter(|c| c.id == id)
                .is_some_and(|c| lock(&c.rec).state.running);
            if !running {
                self.net_release(&id).await;
            }
        }
    }

    /// Inspect's `NetworkSettings` from the record and the live endpoints.
    pub(crate) fn net_inspect(&self, r: &ContainerRecord, ns: &mut NetworkSettings) {
        let Some(net) = self.net().filter(|n| n.started().is_some()) else {
            return;
        };
        let snap = net.snapshot();
        let eps: Vec<&EndpointRecord> = snap
            .endpoints
            .iter()
            .filter(|e| e.container_id == r.id)
            .collect();
        let mode = r.host_config.network_mode.as_str();
        if primary_network(mode).is_some() {
            let mut networks = BTreeMap::new();
            for (name, cfg) in self.net_plan(r) {
                let Some(n) = snap.networks.iter().find(|n| n.name == name) else {
                    continue;
                };
                let mut es = EndpointSettings {
                    network_id: n.id.clone(),
                    aliases: cfg.aliases.clone(),
                    ipam_config: cfg.ipam_config.clone(),
                    links: cfg.links.clone(),
                    driver_opts: cfg.driver_opts.clone(),
                    ..Default::default()
                };
                if let Some(e) = eps.iter().find(|e| e.network_id == n.id) {
                    fill_endpoint(&mut es, n, e);
                }
                networks.insert(name, es);
            }
            // Live endpoints not in the plan (connected while running).
            for e in &eps {
                if let Some(n) = snap.networks.iter().find(|n| n.id == e.network_id) {
                    if !networks.contains_key(&n.name) {
                        let mut es = EndpointSettings::default();
                        fill_endpoint(&mut es, n, e);
                        networks.insert(n.name.clone(), es);
                    }
                }
            }
            ns.networks = networks;
        } else if mode == "host" || mode == "none" {
            if let Some(es) = ns.networks.get_mut(mode) {
                es.network_id = if mode == "host" {
                    net.host_id.clone()
                } else {
                    net.none_id.clone()
                };
            }
        }
        if r.state.running && r.state.pid > 0 {
            ns.sandbox_key = format!("/proc/{}/ns/net", r.state.pid);
            ns.sandbox_id = r.id.clone();
        }
        // Docker's top-level (deprecated) fields describe the default bridge endpoint.
        if let Some(e) = eps.iter().find(|e| {
            snap.networks
                .iter()
                .any(|n| n.id == e.network_id && n.is_default)
        }) {
            if let Some(n) = snap.networks.iter().find(|n| n.id == e.network_id) {
                ns.ip_address = e.ip.to_string();
                ns.ip_prefix_len = n.pool.subnet.prefix() as i64;
                ns.gateway = n.gateway().to_string();
                ns.mac_address = e.mac.clone();
                ns.endpoint_id = e.id.clone();
            }
        }
        let mappings: Vec<PortMapping> = eps.iter().flat_map(|e| e.ports.clone()).collect();
        if !mappings.is_empty() {
            let mut ports: PortMap = BTreeMap::new();
            for p in r.config.exposed_ports.iter().flatten().map(|(k, _)| k) {
                ports.insert(p.clone(), None);
            }
            for m in &mappings {
                ports
                    .entry(port_key(m))
                    .or_insert(None)
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: m.host_ip.to_string(),
                        host_port: m.host_port.to_string(),
                    });
            }
            ns.ports = ports;
        }
    }

    /// ps: published ports and the networks with their addresses.
    pub(crate) fn net_summary(&self, r: &ContainerRecord, sum: &mut ContainerSummary) {
        if self.net().is_none_or(|n| n.started().is_none()) {
            return;
        }
        let mut ns = NetworkSettings::default();
        for (k, v) in &sum.network_settings.networks {
            ns.networks.insert(k.clone(), v.clone());
        }
        self.net_inspect(r, &mut ns);
        sum.network_settings.networks = ns.networks;
        let mut mapped = Vec::new();
        for (key, binds) in &ns.ports {
            let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let Ok(private) = num.parse::<u16>() else {
                continue;
            };
            for b in binds.iter().flatten() {
                mapped.push(Port {
                    ip: b.host_ip.clone(),
                    private_port: private,
                    public_port: b.host_port.parse().ok(),
                    kind: proto.to_string(),
                });
            }
        }
        if !mapped.is_empty() {
            sum.ports.retain(|p| {
                !mapped
                    .iter()
                    .any(|m| m.private_port == p.private_port && m.kind == p.kind)
            });
            sum.ports.extend(mapped);
        }
    }
}

/// Rewrites a file bind-mounted into a container through the same inode (a rename
/// would leave the container the old file); a missing file is left alone.
fn edit_in_place(path: &std::path::Path, f: impl FnOnce(&str) -> String) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let new = f(&text);
    if new != text {
        std::fs::write(path, new)
            .map_err(|e| EngineError::io(format!("writing {}", path.display()), e))?;
    }
    Ok(())
}

fn fill_endpoint(es: &mut EndpointSettings, n: &NetworkRecord, e: &EndpointRecord) {
    es.network_id = n.id.clone();
    es.endpoint_id = e.id.clone();
    es.gateway = n.gateway().to_string();
    es.ip_address = e.ip.to_string();
    es.ip_prefix_len = n.pool.subnet.prefix() as i64;
    es.mac_address = e.mac.clone();
    if !n.is_default {
        let mut names = vec![e.container_name.clone()];
        names.extend(e.aliases.iter().cloned());
        let short: String = e.container_id.chars().take(12).collect();
        if !names.contains(&short) {
            names.push(short);
        }
        es.dns_names = Some(names);
        if es.aliases.is_none() && !e.aliases.is_empty() {
            es.aliases = Some(e.aliases.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_name_their_network() {
        assert_eq!(primary_network("default"), Some("bridge"));
        assert_eq!(primary_network(""), Some("bridge"));
        assert_eq!(primary_network("mynet"), Some("mynet"));
        assert_eq!(primary_network("host"), None);
        assert_eq!(primary_network("none"), None);
        assert_eq!(primary_network("container:abc"), None);
    }

    #[test]
    fn publish_all_adds_random_ports_for_unpublished_exposed_ones() {
        let mut rec = ContainerRecord::default();
        let mut exposed = BTreeMap::new();
        exposed.insert("80/tcp".to_string(), Default::default());
        exposed.insert("53/udp".to_string(), Default::default());
        rec.config.exposed_ports = Some(exposed);
        let mut pb: PortMap = BTreeMap::new();
        pb.insert(
            "80/tcp".into(),
            Some(vec![PortBinding {
                host_ip: "127.0.0.1".into(),
                host_port: "8080".into(),
            }]),
        );
        rec.host_config.port_bindings = Some(pb);
        let s = port_specs(&rec).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].host_port_start, 8080);
        rec.host_config.publish_all_ports = true;
        let s = port_specs(&rec).unwrap();
        assert_eq!(s.len(), 2);
        let udp = s.iter().find(|p| p.container_port == 53).unwrap();
        assert_eq!(udp.protocol, berth_network::ports::Protocol::Udp);
        assert_eq!(udp.host_port_start, 0);
    }
}
