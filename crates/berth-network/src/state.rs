//! The persistent records of the network subsystem (serde): networks with their
//! address pools, and endpoints (a container on a network) with their published ports.
//! The engine saves a [`NetworkState`] after every change ([`save`] writes it
//! atomically) and hands it back to [`crate::NetworkManager::new`] after a restart.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};
use crate::ipam::Pool;
use crate::netns::NetnsRef;
use crate::ports::PortMapping;

/// One bridge network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// 64 hex characters.
    pub id: String,
    pub name: String,
    /// Linux bridge interface name.
    pub bridge: String,
    pub pool: Pool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default = "yes")]
    pub icc: bool,
    #[serde(default = "yes")]
    pub masquerade: bool,
    /// 0: kernel default (1500).
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// The default `bridge` network: no embedded DNS, no aliases (Docker's rules).
    #[serde(default)]
    pub is_default: bool,
    /// Creation time as the engine shows it (RFC 3339); empty in older state files.
    #[serde(default)]
    pub created: String,
}

fn yes() -> bool {
    true
}

impl NetworkRecord {
    pub fn subnet(&self) -> crate::ipam::Ipv4Net {
        self.pool.subnet
    }
    pub fn gateway(&self) -> Ipv4Addr {
        self.pool.gateway
    }
}

/// A container attached to a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointRecord {
    /// 64 hex characters (Docker's EndpointID).
    pub id: String,
    pub network_id: String,
    pub container_id: String,
    /// Without the leading `/`.
    pub container_name: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub ip: Ipv4Addr,
    /// `02:42:…`
    pub mac: String,
    /// Interface name inside the container (`eth0`, `eth1`, …).
    pub ifname: String,
    /// Host end of the veth pair.
    pub host_ifname: String,
    pub netns: NetnsRef,
    /// This endpoint carries the container's default route.
    #[serde(default)]
    pub default_route: bool,
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// Everything the subsystem must remember across daemon restarts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkState {
    #[serde(default)]
    pub networks: Vec<NetworkRecord>,
    #[serde(default)]
    pub endpoints: Vec<EndpointRecord>,
}

/// Writes `state` to `path` atomically (temp file, fsync, rename).
pub fn save(path: &Path, state: &NetworkState) -> Result<()> {
    save_with(path, state, true)
}

/// [`save`], with the fsync only when `durable`: endpoint changes (every container
/// start and exit) mean nothing after a machine crash, network changes do.
pub fn save_with(path: &Path, state: &NetworkState, durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| NetworkError::io(format!("create {}", dir.display()), e))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let data = serde_json::to_vec_pretty(state)
        .map_err(|e| NetworkError::io("encode network state", std::io::Error::other(e)))?;
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| NetworkError::io(format!("write {}", path.display()), e))
}

/// Reads a saved state; a missing file is an empty state, a torn one is an error the
/// caller may log and replace with an empty state.
pub fn load(path: &Path) -> Result<NetworkState> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            NetworkError::io(
                format!("parse {}", path.display()),
                std::io::Error::other(e),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NetworkState::default()),
        Err(e) => Err(NetworkError::io(format!("read {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_roundtrip_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/network.json");
        assert_eq!(load(&path).unwrap(), NetworkState::default());
        let mut pool = Pool::new("10.5.0.0/24".parse().unwrap(), None, None).unwrap();
        let ip = pool.allocate().unwrap();
        let st = NetworkState {
            networks: vec![NetworkRecord {
                id: "a".repeat(64),
                name: "n".into(),
                bridge: "br-x".into(),
                pool,
                internal: false,
                icc: true,
                masquerade: true,
                mtu: 0,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                is_default: false,
                created: String::new(),
            }],
            endpoints: vec![EndpointRecord {
                id: "b".repeat(64),
                network_id: "a".repeat(64),
                container_id: "c".repeat(64),
                container_name: "web".into(),
                hostname: "h".into(),
                aliases: vec!["x".into()],
                ip,
                mac: "02:42:0a:05:00:02".into(),
                ifname: "eth0".into(),
                host_ifname: "veth1234567".into(),
                netns: NetnsRef::Pid(42),
                default_route: true,
                ports: vec![],
            }],
        };
        save(&path, &st).unwrap();
        assert_eq!(load(&path).unwrap(), st);
        // unknown fields are tolerated, missing ones defaulted
        std::fs::write(&path, r#"{"networks":[],"future":1}"#).unwrap();
        assert_eq!(load(&path).unwrap(), NetworkState::default());
        std::fs::write(&path, "{torn").unwrap();
        assert!(load(&path).is_err());
    }
}
