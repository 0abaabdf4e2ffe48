//! Container networking for Berth: IPAM, bridges and veths (rtnetlink), NAT/isolation
//! and published ports (iptables + a userland proxy), the embedded DNS server, and the
//! `resolv.conf`/`hosts` files. A mechanism crate: it knows nothing of containers beyond
//! an id, a name and a network namespace; the engine decides when to call it.
//! Decisions and their reasons: docs/adr/0006-network-bridge-nat-dns.md.
//!
//! # Modules
//! - [`ipam`]: CIDR type, address pools (lowest free address first, release, static
//!   `--ip`), subnet choice from default pools skipping routed ranges.
//! - [`link`]: rtnetlink: bridge, veth pair created with its peer directly in the
//!   container netns, addresses, default route, `lo` up.
//! - [`netns`]: [`NetnsRef`] (path or pid) and `run_in_netns` (setns on a dedicated
//!   thread, never on a tokio worker).
//! - [`firewall`]: our iptables chains rendered from the state and applied atomically
//!   with one `iptables-restore`; DNS redirect rules inside container namespaces.
//! - [`ports`]: `-p` parsing, host socket binding (Docker's "port is already
//!   allocated"), TCP/UDP proxy.
//! - [`dns`]: resolver table and the per-container server on 127.0.0.11.
//! - [`files`]: resolv.conf and hosts text per mode.
//! - [`state`]: serde records the engine persists; [`manager`]: the facade.
//!
//! # API the engine calls
//! ```text
//! // daemon start (inside the tokio runtime); `saved` from <data-root>/network/state.json
//! let saved = berth_network::state::load(&path).unwrap_or_default();
//! let net = NetworkManager::new(ManagerConfig { default_bridge: Some(DefaultBridgeConfig {
//!     bip, fixed_cidr, mtu, ..Default::default() }), ..Default::default() }, saved).await?;
//! // after every mutating call below:
//! berth_network::state::save(&path, &net.state().await)?;
//!
//! net.create_network(CreateNetwork { name, subnet, ip_range, gateway, internal,
//!                                    labels, options }).await? -> NetworkRecord
//! net.remove_network(id_or_name).await?            // Conflict while endpoints exist
//! net.network(id_or_name).await? / net.networks().await / net.endpoints_of(cid).await
//! net.connect(network, ConnectRequest { container_id, container_name, hostname,
//!             netns: NetnsRef::Pid(init_pid), aliases, ip, ifname: None,
//!             ports: Vec<PortSpec>, dns_upstreams }).await? -> EndpointRecord
//! net.disconnect(network, cid).await? / net.disconnect_all(cid).await?
//! NetworkManager::setup_loopback(&netns).await?    // --network none
//! net.teardown().await?                            // remove everything (tests, cleanup)
//! ```
//! Errors are [`NetworkError`] with [`ErrorKind`] (NotFound → 404, Conflict → 409,
//! InvalidArgument → 400, System → 500) and Docker's messages.
//!
//! # What the engine must wire
//! 1. Container start, after the shim replied with the pid and **before**
//!    `Request::Start` (the process is blocked before execve, its netns exists):
//!    - `bridge`/user networks: `connect` once per network, the first with the `-p`
//!      specs ([`ports::parse_publish`] turns `-p` strings into [`ports::PortSpec`]s;
//!      Docker's `PortBindings` map to the same struct). Put the returned
//!      [`EndpointRecord`]s into `NetworkSettings` (IPAddress, IPPrefixLen from the
//!      network's subnet, Gateway, MacAddress, EndpointID, Ports from `ports`).
//!    - `none`: `setup_loopback`. `host`: nothing. `container:<id>`: nothing here (the
//!      spec joins the other container's netns).
//! 2. Before start, write `resolv.conf` with [`files::resolv_conf`] (mode
//!    `Embedded` for user networks, `Copy` for the default bridge and none, `Host` for
//!    host) and pass the returned `upstreams` as `ConnectRequest::dns_upstreams` when the
//!    user gave `--dns`; write `hosts` with [`files::hosts_file`] (or
//!    `hosts_file_host_mode`), `--add-host` parsed by [`files::parse_add_host`]
//!    (`host-gateway` = the default bridge's gateway).
//! 3. Container exit (`exit.json` seen / wait returned) and `rm`: `disconnect_all(cid)`
//!    (the veth died with the netns; this frees the address, ports, DNS names).
//! 4. `docker network connect/disconnect` on a running container: `connect` with
//!    `NetnsRef::Pid(pid)`, `disconnect`; on a stopped one only record the wish.
//! 5. Daemon restart: `NetworkManager::new(cfg, saved)` re-creates missing bridges,
//!    re-applies the rules (idempotent), re-binds published ports and restarts the DNS
//!    servers of endpoints whose netns still exists, and frees the others. Then call
//!    `disconnect_all` for containers the engine found dead.
//! 6. `network ls` also shows the pre-defined `host` and `none` networks: the engine
//!    lists those itself; `bridge` is the record with `is_default`.

pub mod dns;
pub mod error;
pub mod files;
pub mod firewall;
pub mod ipam;
pub mod link;
pub mod manager;
pub mod netns;
pub mod ports;
pub mod state;

pub use error::{ErrorKind, NetworkError};
pub use manager::{
    ConnectRequest, CreateNetwork, DefaultBridgeConfig, ManagerConfig, NetworkManager,
};
pub use netns::NetnsRef;
pub use state::{EndpointRecord, NetworkRecord, NetworkState};
