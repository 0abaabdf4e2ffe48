//! The daemon's networking settings: dockerd's flags (`--bridge`, `--bip`,
//! `--fixed-cidr`, `--mtu`, `--iptables`, `--ip-forward`, `--icc`, `--ip-masq`,
//! `--default-address-pool`) and daemon.json keys of the same names
//! (`default-address-pools` as a list of `{"base","size"}`), plus two of our own:
//! `--iptables-chain-prefix` (so daemons sharing a host never share chains) and
//! `--embedded-dns-upstream ip:port` (where the embedded DNS forwards names it does not
//! know; default: the host's resolv.conf nameservers). Flags win over the file.
//!
//! The result is the engine's [`ManagerConfig`]; `--bridge none` keeps networking on
//! but without the default bridge (containers then default to loopback only).

use anyhow::{bail, Context, Result};
use berth_engine::network::ipam::{self, Ipv4Net, PoolSpec};
use berth_engine::network::{DefaultBridgeConfig, ManagerConfig};
use clap::Args;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;

/// Networking flags of `berthd`.
#[derive(Debug, Default, Clone, Args)]
pub struct NetFlags {
    /// Name of the default bridge interface ("none" disables the default bridge).
    #[arg(short = 'b', long = "bridge")]
    pub bridge: Option<String>,
    /// Address and prefix of the default bridge (e.g. 172.30.0.1/16).
    #[arg(long = "bip")]
    pub bip: Option<String>,
    /// Subnet of the default bridge that containers get addresses from.
    #[arg(long = "fixed-cidr")]
    pub fixed_cidr: Option<String>,
    /// MTU of the default bridge and its containers' interfaces.
    #[arg(long = "mtu")]
    pub mtu: Option<u32>,
    /// Manage iptables rules (NAT, isolation, published ports).
    #[arg(long = "iptables", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub iptables: Option<bool>,
    /// Enable net.ipv4.ip_forward.
    #[arg(long = "ip-forward", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ip_forward: Option<bool>,
    /// Allow traffic between containers of the default bridge.
    #[arg(long = "icc", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub icc: Option<bool>,
    /// Masquerade outbound traffic of the default bridge.
    #[arg(long = "ip-masq", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ip_masq: Option<bool>,
    /// Default address pool for new networks: base=CIDR,size=N (repeatable).
    #[arg(long = "default-address-pool")]
    pub default_address_pool: Vec<String>,
    /// Prefix of our iptables chains (default BERTH).
    #[arg(long = "iptables-chain-prefix")]
    pub chain_prefix: Option<String>,
    /// Upstream server (ip[:port]) of the embedded DNS (repeatable).
    #[arg(long = "embedded-dns-upstream")]
    pub dns_upstreams: Vec<String>,
}

fn cidr(what: &str, s: &str) -> Result<Ipv4Net> {
    s.parse::<Ipv4Net>()
        .map_err(|e| anyhow::anyhow!("invalid {what} {s:?}: {e}"))
}

/// `base=10.10.0.0/16,size=24`.
fn parse_pool_flag(s: &str) -> Result<PoolSpec> {
    let (mut base, mut size) = (None, None);
    for part in s.split(',') {
        match part.split_once('=') {
            Some(("base", v)) => base = Some(cidr("default-address-pool base", v)?),
            Some(("size", v)) => {
                size = Some(
                    v.parse::<u8>()
                        .with_context(|| format!("invalid default-address-pool size {v:?}"))?,
                )
            }
            _ => bail!("invalid default-address-pool {s:?}: want base=CIDR,size=N"),
        }
    }
    match (base, size) {
        (Some(base), Some(size)) => pool(base, size),
        _ => bail!("invalid default-address-pool {s:?}: want base=CIDR,size=N"),
    }
}

fn pool(base: Ipv4Net, size: u8) -> Result<PoolSpec> {
    if size < base.prefix() || size > 30 {
        bail!("invalid default-address-pool: size {size} does not fit base {base}");
    }
    Ok(PoolSpec { base, size })
}

fn upstream(s: &str) -> Result<SocketAddr> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let ip: std::net::IpAddr = s
        .parse()
        .with_context(|| format!("invalid embedded-dns-upstream {s:?}"))?;
    Ok(SocketAddr::new(ip, 53))
}

/// Merges the flags over the keys of `config_file` into the engine's settings.
pub fn resolve(flags: &NetFlags, config_file: &Path) -> Result<ManagerConfig> {
    let file: Value = match std::fs::read_to_string(config_file) {
        Ok(t) if !t.trim().is_empty() => serde_json::from_str(&t).with_context(|| {
            format!(
                "unable to configure the daemon with file {}",
                config_file.display()
            )
        })?,
        _ => Value::Null,
    };
    let s = |k: &str| file.get(k).and_then(Value::as_str).map(str::to_string);
    let b = |k: &str| file.get(k).and_then(Value::as_bool);

    let mut cfg = ManagerConfig::default();
    if let Some(p) = flags
        .chain_prefix
        .clone()
        .or_else(|| s("iptables-chain-prefix"))
    {
        if p.is_empty()
            || p.len() > 14
            || !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("invalid iptables-chain-prefix {p:?}: 1-14 letters, digits, '-' or '_'");
        }
        cfg.chain_prefix = p;
    }
    cfg.iptables = flags.iptables.or(b("iptables")).unwrap_or(true);
    cfg.enable_ip_forward = flags.ip_forward.or(b("ip-forward")).unwrap_or(true);

    let mut pools = Vec::new();
    for p in &flags.default_address_pool {
        pools.push(parse_pool_flag(p)?);
    }
    if pools.is_empty() {
        for p in file
            .get("default-address-pools")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let base = p.get("base").and_then(Value::as_str).unwrap_or_default();
            let size = p.get("size").and_then(Value::as_u64).unwrap_or(0);
            pools.push(pool(cidr("default-address-pools base", base)?, size as u8)?);
        }
    }
    if !pools.is_empty() {
        cfg.pools = pools;
    } else {
        cfg.pools = ipam::default_pools();
    }

    let mut ups = Vec::new();
    for u in &flags.dns_upstreams {
        ups.push(upstream(u)?);
    }
    if ups.is_empty() {
        for u in file
            .get("embedded-dns-upstreams")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            ups.push(upstream(u)?);
        }
    }
    cfg.dns_upstreams = ups;

    let bridge = flags.bridge.clone().or_else(|| s("bridge"));
    if bridge.as_deref() == Some("none") {
        cfg.default_bridge = None;
        return Ok(cfg);
    }
    let mut db = DefaultBridgeConfig::default();
    if let Some(name) = bridge.filter(|b| !b.is_empty()) {
        if name.len() > 15 {
            bail!("invalid bridge name {name:?}: at most 15 characters");
        }
        db.bridge = name;
    }
    if let Some(bip) = flags.bip.clone().or_else(|| s("bip")) {
        let net = cidr("bip", &bip)?;
        if net.addr() == net.network().addr() {
            bail!("invalid bip {bip:?}: give the bridge's address, not the network's");
        }
        db.bip = Some(net);
    }
    if let Some(fc) = flags.fixed_cidr.clone().or_else(|| s("fixed-cidr")) {
        db.fixed_cidr = Some(cidr("fixed-cidr", &fc)?);
    }
    db.mtu = flags
        .mtu
        .or_else(|| file.get("mtu").and_then(Value::as_u64).map(|m| m as u32))
        .unwrap_or(0);
    db.icc = flags.icc.or(b("icc")).unwrap_or(true);
    db.masquerade = flags.ip_masq.or(b("ip-masq")).unwrap_or(true);
    cfg.default_bridge = Some(db);
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_over_file() {
        let dir = std::env::temp_dir().join(format!("berthd-netcfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("daemon.json");
        std::fs::write(
            &file,
            r#"{"bridge":"bx0","bip":"10.99.0.1/24","mtu":1400,"iptables":false,
                "default-address-pools":[{"base":"10.100.0.0/16","size":24}],
                "iptables-chain-prefix":"FILEP"}"#,
        )
        .unwrap();
        let c = resolve(&NetFlags::default(), &file).unwrap();
        let db = c.default_bridge.clone().unwrap();
        assert_eq!(db.bridge, "bx0");
        assert_eq!(db.bip.unwrap().to_string(), "10.99.0.1/24");
        assert_eq!(db.mtu, 1400);
        assert!(!c.iptables);
        assert_eq!(c.chain_prefix, "FILEP");
        assert_eq!(c.pools.len(), 1);
        assert_eq!(c.pools[0].size, 24);

        let flags = NetFlags {
            bridge: Some("by0".into()),
            chain_prefix: Some("FLAGP".into()),
            default_address_pool: vec!["base=10.200.0.0/16,size=26".into()],
            dns_upstreams: vec!["127.0.0.1:5353".into(), "10.0.0.1".into()],
            ..Default::default()
        };
        let c = resolve(&flags, &file).unwrap();
        assert_eq!(c.default_bridge.unwrap().bridge, "by0");
        assert_eq!(c.chain_prefix, "FLAGP");
        assert_eq!(c.pools[0].size, 26);
        assert_eq!(c.dns_upstreams[1].to_string(), "10.0.0.1:53");

        let none = NetFlags {
            bridge: Some("none".into()),
            ..Default::default()
        };
        assert!(resolve(&none, &file).unwrap().default_bridge.is_none());
        let bad = NetFlags {
            bip: Some("10.1.0.0/16".into()),
            ..Default::default()
        };
        assert!(resolve(&bad, Path::new("/nonexistent")).is_err());
        assert!(parse_pool_flag("base=10.0.0.0/8").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
