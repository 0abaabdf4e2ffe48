//! Types shared by every Berth crate: the container spec the runtime consumes, the
//! daemon ↔ shim protocol, Docker Engine API models, ids and time formats.
//!
//! Depends on serde only, so the shim and the CLI stay small.

pub mod defaults;
pub mod docker;
pub mod shim;
pub mod spec;
pub mod time;
