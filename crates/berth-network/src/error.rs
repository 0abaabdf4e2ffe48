//! Typed errors of the network subsystem. Messages follow Docker's wording where users
//! (and scripts) grep for them; [`NetworkError::kind`] lets the engine map them to an
//! HTTP status in one place.

use std::io;

/// Coarse class of an error, for the engine's kind → status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    InvalidArgument,
    /// The request was valid but the host could not do it (netlink, iptables, …).
    System,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("network {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InvalidArgument(String),
    /// Docker: the pool of a network has no free address left.
    #[error("no available IPv4 addresses on this network's address pools: {name} ({id})")]
    PoolExhausted { name: String, id: String },
    /// Docker's reply to `--ip` naming an address that is taken.
    #[error("Address already in use")]
    AddressInUse,
    /// Docker's reply when no default pool is free.
    #[error("could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")]
    NoFreePool,
    /// Docker's reply when a published host port cannot be bound.
    #[error("driver failed programming external connectivity on endpoint {endpoint} ({id}): Bind for {addr} failed: port is already allocated")]
    PortAllocated {
        endpoint: String,
        id: String,
        addr: String,
    },
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("iptables failed: {0}")]
    Firewall(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl NetworkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::NotFound(_) => ErrorKind::NotFound,
            NetworkError::Conflict(_)
            | NetworkError::AddressInUse
            | NetworkError::PortAllocated { .. } => ErrorKind::Conflict,
            NetworkError::InvalidArgument(_) => ErrorKind::InvalidArgument,
            NetworkError::PoolExhausted { .. }
            | NetworkError::NoFreePool
            | NetworkError::Netlink(_)
            | NetworkError::Firewall(_)
            | NetworkError::Io { .. } => ErrorKind::System,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        NetworkError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<rtnetlink::Error> for NetworkError {
    fn from(e: rtnetlink::Error) -> Self {
        NetworkError::Netlink(e.to_string())
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
