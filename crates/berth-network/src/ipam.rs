//! IPv4 address management: CIDR parsing, per-network address pools (allocation in
//! order, release, static requests) and the choice of a subnet for a new network from
//! a list of default pools, skipping ranges already routed on the host.
//!
//! Everything here is plain data with serde so the engine can persist it; a restored
//! [`Pool`] never hands out an address that was allocated before the restart.

use std::collections::BTreeSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{NetworkError, Result};

/// An IPv4 network in CIDR form, e.g. `172.18.0.0/16`. Serialized as that string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// `addr` may have host bits set (as in `172.17.0.1/16` for `--bip`); see [`Self::network`].
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self> {
        if prefix > 32 {
            return Err(NetworkError::InvalidArgument(format!(
                "invalid CIDR address: {addr}/{prefix}"
            )));
        }
        Ok(Ipv4Net { addr, prefix })
    }
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    pub fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix)
        }
    }
    /// The same network with host bits cleared.
    pub fn network(&self) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }
    pub fn first(&self) -> u32 {
        u32::from(self.addr) & self.mask()
    }
    pub fn last(&self) -> u32 {
        self.first() | !self.mask()
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.last())
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.first()
    }
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }
    /// Whether `other` lies fully inside `self`.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        self.first() <= other.first() && other.last() <= self.last()
    }
    /// The `n`-th address of the network (0 = the network address).
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        self.first()
            .checked_add(n)
            .filter(|a| *a <= self.last())
            .map(Ipv4Addr::from)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetworkError;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || NetworkError::InvalidArgument(format!("invalid CIDR address: {s}"));
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Ipv4Net::new(addr, prefix).map_err(|_| bad())
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Docker's MAC for an IPv4 endpoint: `02:42` followed by the four address bytes.
pub fn mac_for_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The address pool of one network: which addresses are handed out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pool {
    pub subnet: Ipv4Net,
    /// `--ip-range`: dynamic allocations come from here (static ones from the subnet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    pub gateway: Ipv4Addr,
    /// Addresses in use by endpoints (the gateway is not listed, it is always reserved).
    #[serde(default)]
    pub allocated: BTreeSet<Ipv4Addr>,
}

impl Pool {
    /// Validates Docker's constraints: range and gateway inside the subnet.
    pub fn new(
        subnet: Ipv4Net,
        ip_range: Option<Ipv4Net>,
        gateway: Option<Ipv4Addr>,
    ) -> Result<Pool> {
        let subnet = subnet.network();
        if subnet.prefix() > 30 {
            return Err(NetworkError::InvalidArgument(format!(
                "subnet {subnet} is too small for a bridge network"
            )));
        }
        let ip_range = ip_range.map(|r| r.network());
        if let Some(r) = ip_range {
            if !subnet.covers(&r) {
                return Err(NetworkError::InvalidArgument(format!(
                    "invalid pool request: ip-range {r} is not contained in subnet {subnet}"
                )));
            }
        }
        let gateway = match gateway {
            Some(g) => {
                if !subnet.contains(g) {
                    return Err(NetworkError::InvalidArgument(format!(
                        "invalid pool request: gateway {g} is not contained in subnet {subnet}"
                    )));
                }
                g
            }
            // Docker: first usable address of the subnet (of the range when one is given).
            None => {
                let base = ip_range.unwrap_or(subnet);
                let first = base.nth(1).unwrap_or(subnet.addr());
                if first == subnet.addr() {
                    // a /31 or /32 range at the start of the subnet
                    subnet.nth(1).unwrap_or(first)
                } else {
                    first
                }
            }
        };
        Ok(Pool {
            subnet,
            ip_range,
            gateway,
            allocated: BTreeSet::new(),
        })
    }

    fn usable(&self, ip: Ipv4Addr) -> bool {
        self.subnet.contains(ip)
            && ip != self.subnet.addr()
            && ip != self.subnet.broadcast()
            && ip != self.gateway
    }

    /// Lowest free address of the range (or subnet); `None` when exhausted.
    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        let r = self.ip_range.unwrap_or(self.subnet);
        let ip = (r.first()..=r.last())
            .map(Ipv4Addr::from)
            .find(|ip| self.usable(*ip) && !self.allocated.contains(ip))?;
        self.allocated.insert(ip);
        Some(ip)
    }

    /// A static address (`--ip`): anywhere in the subnet, not taken.
    pub fn allocate_static(&mut self, ip: Ipv4Addr) -> Result<Ipv4Addr> {
        if !self.subnet.contains(ip) {
            return Err(NetworkError::InvalidArgument(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
        if !self.usable(ip) || self.allocated.contains(&ip) {
            return Err(NetworkError::AddressInUse);
        }
        self.allocated.insert(ip);
        Ok(ip)
    }

    /// Gives an address back; releasing an address that is not allocated is a no-op.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        self.allocated.remove(&ip)
    }
}

/// A default address pool: `base` split into subnets of `size` bits (Docker's
/// `default-address-pools` entries).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PoolSpec {
    pub base: Ipv4Net,
    pub size: u8,
}

/// Docker's defaults: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
pub fn default_pools() -> Vec<PoolSpec> {
    vec![
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 17, 0, 0),
                prefix: 16,
            },
            size: 16,
        },
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 18, 0, 0),
                prefix: 15,
            },
            size: 16,
        },
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 20, 0, 0),
                prefix: 14,
            },
            size: 16,
        },
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 24, 0, 0),
                prefix: 14,
            },
            size: 16,
        },
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(172, 28, 0, 0),
                prefix: 14,
            },
            size: 16,
        },
        PoolSpec {
            base: Ipv4Net {
                addr: Ipv4Addr::new(192, 168, 0, 0),
                prefix: 16,
            },
            size: 20,
        },
    ]
}

/// The first subnet of `pools` that overlaps none of `taken` (routes on the host and the
/// subnets of existing networks).
pub fn choose_subnet(pools: &[PoolSpec], taken: &[Ipv4Net]) -> Result<Ipv4Net> {
    for p in pools {
        if p.size < p.base.prefix() || p.size > 30 {
            continue;
        }
        let base = p.base.network();
        let step: u64 = 1u64 << (32 - p.size);
        let mut at = base.first() as u64;
        while at + step - 1 <= base.last() as u64 {
            let cand = Ipv4Net {
                addr: Ipv4Addr::from(at as u32),
                prefix: p.size,
            };
            if !taken.iter().any(|t| t.overlaps(&cand)) {
                return Ok(cand);
            }
            at += step;
        }
    }
    Err(NetworkError::NoFreePool)
}

/// IPv4 destinations routed in the current network namespace (main table, from
/// `/proc/net/route`), default routes left out: they overlap everything.
pub fn routed_subnets() -> Result<Vec<Ipv4Net>> {
    let text = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| NetworkError::io("read /proc/net/route", e))?;
    Ok(parse_proc_route(&text))
}

/// Subnets routed through interface `iface` (e.g. the default bridge left by an earlier
/// daemon whose state was lost): Docker adopts an existing bridge's subnet instead of
/// adding a second one.
pub fn routed_subnets_of(iface: &str) -> Result<Vec<Ipv4Net>> {
    let text = std::fs::read_to_string("/proc/net/route")
        .map_err(|e| NetworkError::io("read /proc/net/route", e))?;
    Ok(parse_proc_route_of(&text, Some(iface)))
}

fn parse_proc_route(text: &str) -> Vec<Ipv4Net> {
    parse_proc_route_of(text, None)
}

fn parse_proc_route_of(text: &str, iface: Option<&str>) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 8 || iface.is_some_and(|i| i != f[0]) {
            continue;
        }
        // Destination and Mask are little-endian hex u32s.
        let (Ok(dst), Ok(mask)) = (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
        else {
            continue;
        };
        let prefix = mask.count_ones() as u8;
        if prefix == 0 {
            continue;
        }
        let addr = Ipv4Addr::from(dst.swap_bytes());
        if let Ok(n) = Ipv4Net::new(addr, prefix) {
            out.push(n.network());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn allocation_in_order_release_and_exhaustion() {
        let mut p = Pool::new(net("10.9.0.0/29"), None, None).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 9, 0, 1));
        let got: Vec<_> = std::iter::from_fn(|| p.allocate()).collect();
        // .0 network, .1 gateway, .7 broadcast are never handed out
        assert_eq!(
            got,
            (2..=6)
                .map(|i| Ipv4Addr::new(10, 9, 0, i))
                .collect::<Vec<_>>()
        );
        assert!(p.allocate().is_none());
        assert!(p.release(Ipv4Addr::new(10, 9, 0, 4)));
        assert!(!p.release(Ipv4Addr::new(10, 9, 0, 4)));
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 9, 0, 4)));
    }

    #[test]
    fn ip_range_static_and_gateway() {
        let mut p = Pool::new(
            net("10.9.0.0/24"),
            Some(net("10.9.0.128/25")),
            Some(Ipv4Addr::new(10, 9, 0, 254)),
        )
        .unwrap();
        assert_eq!(p.allocate(), Some(Ipv4Addr::new(10, 9, 0, 128)));
        assert_eq!(
            p.allocate_static(Ipv4Addr::new(10, 9, 0, 5)).unwrap(),
            Ipv4Addr::new(10, 9, 0, 5)
        );
        assert!(matches!(
            p.allocate_static(Ipv4Addr::new(10, 9, 0, 5)),
            Err(NetworkError::AddressInUse)
        ));
        assert!(matches!(
            p.allocate_static(Ipv4Addr::new(10, 9, 0, 254)),
            Err(NetworkError::AddressInUse)
        ));
        assert!(p.allocate_static(Ipv4Addr::new(10, 8, 0, 5)).is_err());
        assert!(Pool::new(net("10.9.0.0/24"), Some(net("10.10.0.0/25")), None).is_err());
        assert!(Pool::new(net("10.9.0.0/24"), None, Some(Ipv4Addr::new(10, 1, 1, 1))).is_err());
        // default gateway with a range: first address of the range
        let p = Pool::new(net("10.9.0.0/24"), Some(net("10.9.0.64/26")), None).unwrap();
        assert_eq!(p.gateway, Ipv4Addr::new(10, 9, 0, 65));
    }

    #[test]
    fn pool_persists_allocations() {
        let mut p = Pool::new(net("10.9.1.0/24"), None, None).unwrap();
        let a = p.allocate().unwrap();
        let b = p.allocate().unwrap();
        p.release(a);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"10.9.1.0/24\""), "{json}");
        let mut q: Pool = serde_json::from_str(&json).unwrap();
        assert_eq!(q, p);
        // a (released) comes back first, b is never handed out twice
        assert_eq!(q.allocate(), Some(a));
        let c = q.allocate().unwrap();
        assert_ne!(c, b);
        assert_eq!(u32::from(c), u32::from(b) + 1);
    }

    #[test]
    fn choose_subnet_skips_taken() {
        let pools = vec![PoolSpec {
            base: net("10.200.0.0/16"),
            size: 24,
        }];
        assert_eq!(choose_subnet(&pools, &[]).unwrap(), net("10.200.0.0/24"));
        let taken = vec![net("10.200.0.0/23"), net("10.200.2.128/25")];
        assert_eq!(choose_subnet(&pools, &taken).unwrap(), net("10.200.3.0/24"));
        assert!(matches!(
            choose_subnet(&pools, &[net("10.0.0.0/8")]),
            Err(NetworkError::NoFreePool)
        ));
        let d = default_pools();
        assert_eq!(
            choose_subnet(&d, &[net("172.17.0.0/16")]).unwrap(),
            net("172.18.0.0/16")
        );
    }

    #[test]
    fn proc_route_parsing() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n";
        assert_eq!(
            parse_proc_route(text),
            vec![net("192.0.2.0/24"), net("172.17.0.0/16")]
        );
        assert_eq!(
            parse_proc_route_of(text, Some("docker0")),
            vec![net("172.17.0.0/16")]
        );
        assert!(parse_proc_route_of(text, Some("berth0")).is_empty());
    }

    #[test]
    fn mac_from_ip() {
        assert_eq!(
            format_mac(&mac_for_ip(Ipv4Addr::new(172, 17, 0, 2))),
            "02:42:ac:11:00:02"
        );
    }
}
