//! Helpers for unit tests: a temp directory removed on drop, even when a test fails.

use std::path::{Path, PathBuf};

pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh, empty directory named after the test and this process.
    pub fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("berth-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("create temp dir");
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
