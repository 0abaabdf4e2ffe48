//! Shared helpers of the integration tests: tar builders (including hostile entries the
//! `tar` crate refuses to write through its safe API) and store fixtures.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;

use berth_image::ImageStore;

pub const MTIME: u64 = 1_700_000_000;

/// A tar under construction.
pub struct Tar {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Tar {
    fn default() -> Self {
        Self::new()
    }
}

impl Tar {
    pub fn new() -> Tar {
        Tar {
            b: tar::Builder::new(Vec::new()),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(MTIME);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// Set the raw name bytes, bypassing the crate's path checks (for hostile entries).
    fn raw_name(h: &mut tar::Header, name: &str) {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }

    fn raw_link(h: &mut tar::Header, target: &str) {
        let gnu = h.as_gnu_mut().expect("gnu header");
        gnu.linkname = [0; 100];
        gnu.linkname[..target.len()].copy_from_slice(target.as_bytes());
    }

    pub fn dir(mut self, name: &str, mode: u32) -> Tar {
        let mut h = Self::header(tar::EntryType::Directory, mode, 0);
        Self::raw_name(&mut h, name);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, name: &str, mode: u32, data: &[u8]) -> Tar {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        Self::raw_name(&mut h, name);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn file_owned(
        mut self,
        name: &str,
        mode: u32,
        uid: u64,
        gid: u64,
        mtime: u64,
        data: &[u8],
    ) -> Tar {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        Self::raw_name(&mut h, name);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        Self::raw_name(&mut h, name);
        Self::raw_link(&mut h, target);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn hardlink(mut self, name: &str, target: &str) -> Tar {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        Self::raw_name(&mut h, name);
        Self::raw_link(&mut h, target);
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    pub fn node(
        mut self,
        name: &str,
        kind: tar::EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Tar {
        let mut h = Self::header(kind, mode, 0);
        Self::raw_name(&mut h, name);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.b.append(&h, &[][..]).unwrap();
        self
    }

    /// A file preceded by PAX records (xattrs as `SCHILY.xattr.<name>`).
    pub fn file_with_pax(
        mut self,
        name: &str,
        mode: u32,
        pax: &[(&str, &[u8])],
        data: &[u8],
    ) -> Tar {
        self.b
            .append_pax_extensions(pax.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self.file(name, mode, data)
    }

    pub fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

/// A busybox rootfs tar built from the host's static busybox.
pub fn busybox_tar() -> Vec<u8> {
    let bb = std::fs::read("/bin/busybox").expect("/bin/busybox");
    let mut t = Tar::new()
        .dir("bin/", 0o755)
        .file("bin/busybox", 0o755, &bb)
        .symlink("bin/sh", "busybox")
        .symlink("bin/ls", "busybox")
        .symlink("bin/echo", "busybox")
        .dir("etc/", 0o755)
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )
        .file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n");
    for d in ["proc/", "sys/", "dev/", "tmp/", "root/"] {
        t = t.dir(d, if d == "tmp/" { 0o1777 } else { 0o755 });
    }
    t.finish()
}

/// A tiny one-file rootfs tar; `tag` makes its content (and diff id) distinct.
pub fn tiny_tar(tag: &str) -> Vec<u8> {
    Tar::new()
        .dir("etc/", 0o755)
        .file("etc/hostname", 0o644, tag.as_bytes())
        .finish()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(data)))
}

/// A store in its own temp dir (removed on drop).
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: ImageStore,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(&dir.path().join("image")).unwrap();
        Fixture { dir, store }
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("image")
    }

    pub fn count(&self, sub: &str) -> usize {
        count_entries(&self.root().join(sub))
    }
}

pub fn count_entries(p: &Path) -> usize {
    std::fs::read_dir(p).map(|r| r.count()).unwrap_or(0)
}
