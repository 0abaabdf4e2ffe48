//! placeholder: the cgroups helper builds this crate (see docs/architecture.md)
