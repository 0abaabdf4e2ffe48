//! Links, addresses and routes over rtnetlink (no `ip` processes: a `run` pays for one
//! netlink round trip per step instead of a fork+exec each; see docs/adr/0006).
//!
//! A [`Netlink`] is one rtnetlink socket bound to one network namespace. The host one is
//! made on the caller's thread; a container one is made on a short-lived thread that
//! joined the container's namespace ([`crate::netns::run_in_netns`]) and is then driven
//! from the tokio runtime like any other.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use tokio::task::JoinHandle;

use crate::error::{NetworkError, Result};
use crate::ipam::Ipv4Net;
use crate::netns::run_in_netns;

const EEXIST: i32 = libc::EEXIST;
const ENODEV: i32 = libc::ENODEV;

fn errno(e: &rtnetlink::Error) -> i32 {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.raw_code().abs(),
        _ => 0,
    }
}

/// An rtnetlink socket in one network namespace; its driver task ends on drop.
pub struct Netlink {
    handle: Handle,
    task: JoinHandle<()>,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Netlink {
    /// A socket in the caller's namespace. Must be called inside a tokio runtime.
    pub fn host() -> Result<Netlink> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|e| NetworkError::io("netlink socket", e))?;
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
        })
    }

    /// A socket inside the namespace at `ns`. Must be called inside a tokio runtime.
    pub fn in_netns(ns: &Path) -> Result<Netlink> {
        let rt = tokio::runtime::Handle::current();
        let (conn, handle, _) = run_in_netns(ns, move || {
            // The socket is registered with the runtime's reactor at creation.
            let _guard = rt.enter();
            rtnetlink::new_connection().map_err(|e| NetworkError::io("netlink socket", e))
        })?;
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
        })
    }

    /// Interface index of `name`, `None` when there is no such link.
    pub async fn index(&self, name: &str) -> Result<Option<u32>> {
        let mut links = self.handle.link().get().match_name(name).execute();
        match links.try_next().await {
            Ok(Some(m)) => Ok(Some(m.header.index)),
            Ok(None) => Ok(None),
            Err(e) if errno(&e) == ENODEV => Ok(None),
            Err(e) => Err(NetworkError::Netlink(format!("get link {name}: {e}"))),
        }
    }

    async fn require_index(&self, name: &str) -> Result<u32> {
        self.index(name)
            .await?
            .ok_or_else(|| NetworkError::Netlink(format!("link {name} not found")))
    }

    /// Creates the bridge when missing, gives it `gateway/prefix`, sets it up. Idempotent.
    pub async fn ensure_bridge(&self, name: &str, mtu: u32, gateway: Ipv4Net) -> Result<u32> {
        if self.index(name).await?.is_none() {
            let mut b = LinkBridge::new(name);
            if mtu != 0 {
                b = b.mtu(mtu);
            }
            if let Err(e) = self.handle.link().add(b.build()).execute().await {
                if errno(&e) != EEXIST {
                    return Err(NetworkError::Netlink(format!("create bridge {name}: {e}")));
                }
            }
        }
        let idx = self.require_index(name).await?;
        self.add_address(idx, gateway).await?;
        self.set_up(idx).await?;
        Ok(idx)
    }

    /// Adds `addr` to the link; an address already present is fine.
    pub async fn add_address(&self, index: u32, addr: Ipv4Net) -> Result<()> {
        match self
            .handle
            .address()
            .add(index, addr.addr().into(), addr.prefix())
            .execute()
            .await
        {
            Err(e) if errno(&e) != EEXIST => {
                Err(NetworkError::Netlink(format!("add address {addr}: {e}")))
            }
            _ => Ok(()),
        }
    }

    pub async fn set_up(&self, index: u32) -> Result<()> {
        let m = LinkUnspec::new_with_index(index).up().build();
        self.handle
            .link()
            .set(m)
            .execute()
            .await
            .map_err(|e| NetworkError::Netlink(format!("set link {index} up: {e}")))
    }

    /// Deletes a link by name; a missing link is fine (a veth dies with its netns).
    pub async fn delete_link(&self, name: &str) -> Result<()> {
        delete_named(&self.handle, name).await
    }

    /// Deletes `name` without waiting: for the veth of a container that has exited.
    /// Unregistering a device takes RTNL and waits for RCU grace periods (a
    /// `rcu_barrier`, 10-25 ms on a busy machine), all inside the `sendto` of the
    /// request. So the request goes out on a socket of its own, from a thread of its
    /// own: on this one it would hold up every later request, such as the next
    /// start's veth pair, until the kernel is done. The new thread is in the caller's
    /// namespace, so this is for the host socket ([`Netlink::host`]) only. Errors are
    /// only logged: a device that is already gone (it dies with its namespace) is the
    /// common case.
    pub fn delete_link_detached(&self, name: String) {
        let spawned = std::thread::Builder::new()
            .name("veth-delete".into())
            .spawn(move || {
                if let Err(e) = delete_by_name_blocking(&name) {
                    eprintln!("berth-network: delete link {name}: {e}");
                }
            });
        if let Err(e) = spawned {
            eprintln!("berth-network: delete link: {e}");
        }
    }

    /// One request: a veth pair whose host end `host_name` is enslaved to `bridge` and
    /// up, and whose peer is created directly inside the namespace `netns` as
    /// `peer_name` with `mac` (no rename or move afterwards).
    pub async fn add_veth(
        &self,
        host_name: &str,
        bridge: u32,
        mtu: u32,
        netns: &std::fs::File,
        peer_name: &str,
        mac: [u8; 6],
    ) -> Result<()> {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer_name.to_string())
            .address(mac.to_vec())
            .setns_by_fd(netns.as_raw_fd());
        let mut host = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host_name.to_string())
            .controller(bridge)
            .up();
        if mtu != 0 {
            peer = peer.mtu(mtu);
            host = host.mtu(mtu);
        }
        let msg = host
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())))
            .build();
        self.handle.link().add(msg).execute().await.map_err(|e| {
            NetworkError::Netlink(format!("create veth pair {host_name}/{peer_name}: {e}"))
        })
    }

    /// Container side of an endpoint: `lo` up, `ifname` up with `addr`, and a default
    /// route through `gateway` when given (the first network of a container).
    pub async fn configure_endpoint(
        &self,
        ifname: &str,
        addr: Ipv4Net,
        gateway: Option<Ipv4Addr>,
    ) -> Result<()> {
        if let Some(lo) = self.index("lo").await? {
            self.set_up(lo).await?;
        }
        let idx = self.require_index(ifname).await?;
        self.add_address(idx, addr).await?;
        self.set_up(idx).await?;
        if let Some(gw) = gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(idx)
                .build();
            match self.handle.route().add(route).execute().await {
                Err(e) if errno(&e) != EEXIST => {
                    return Err(NetworkError::Netlink(format!(
                        "add default route via {gw}: {e}"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// `lo` up only (`--network none`).
    pub async fn loopback_up(&self) -> Result<()> {
        let lo = self.require_index("lo").await?;
        self.set_up(lo).await
    }
}

/// Keeps a link-layer name within IFNAMSIZ-1 (15) bytes.
pub fn check_ifname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 15 || name.contains(['/', ' ', ':']) {
        return Err(NetworkError::InvalidArgument(format!(
            "invalid interface name {name:?}: at most 15 characters, no '/', ':' or spaces"
        )));
    }
    Ok(())
}

/// `RTM_DELLINK` by name on a fresh blocking socket of the calling thread's namespace;
/// a missing device is not an error.
fn delete_by_name_blocking(name: &str) -> std::io::Result<()> {
    use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};
    use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

    let mut link = LinkMessage::default();
    link.attributes
        .push(LinkAttribute::IfName(name.to_string()));
    let mut msg = NetlinkMessage::from(RouteNetlinkMessage::DelLink(link));
    msg.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    msg.header.sequence_number = 1;
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);

    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(&buf, 0)?;
    let mut reply = Vec::with_capacity(4096);
    sock.recv(&mut reply, 0)?;
    let ack = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply)
        .map_err(|e| std::io::Error::other(format!("bad netlink reply: {e}")))?;
    match ack.payload {
        NetlinkPayload::Error(e) => match e.code {
            None => Ok(()),
            Some(c) if c.get().abs() == ENODEV => Ok(()),
            Some(c) => Err(std::io::Error::from_raw_os_error(c.get().abs())),
        },
        _ => Ok(()),
    }
}

/// RTM_DELLINK by name through `handle`; a missing device is not an error.
async fn delete_named(handle: &Handle, name: &str) -> Result<()> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    let idx = match links.try_next().await {
        Ok(Some(m)) => m.header.index,
        Ok(None) => return Ok(()),
        Err(e) if errno(&e) == ENODEV => return Ok(()),
        Err(e) => return Err(NetworkError::Netlink(format!("get link {name}: {e}"))),
    };
    match handle.link().del(idx).execute().await {
        Err(e) if errno(&e) != ENODEV => {
            Err(NetworkError::Netlink(format!("delete link {name}: {e}")))
        }
        _ => Ok(()),
    }
}
