//! Docker's defaults for unprivileged containers, for the engine to put in the spec.
//! The lists themselves live in `berth_types::defaults`.

use berth_types::defaults;

fn owned(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Capabilities a container keeps by default (Docker's list, in Docker's order).
pub fn default_capabilities() -> Vec<String> {
    owned(defaults::DEFAULT_CAPS)
}

/// Paths hidden from unprivileged containers (Docker's list, in Docker's order).
pub fn default_masked_paths() -> Vec<String> {
    owned(defaults::MASKED_PATHS)
}

/// Paths mounted read-only in unprivileged containers (Docker's list).
pub fn default_readonly_paths() -> Vec<String> {
    owned(defaults::READONLY_PATHS)
}

/// The PATH used to find the command when the environment has none.
pub const DEFAULT_PATH: &str = defaults::DEFAULT_PATH;
