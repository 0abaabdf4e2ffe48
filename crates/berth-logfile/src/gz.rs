//! Gzip of rotated log files (`compress=true`) and reading them back.
//!
//! The compressed file is written under `<dest>.tmp`, synced and renamed, and only then
//! is the plain file removed: a reader sees the plain file, or the complete `.gz`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;

/// Gzip `plain` into `dest`, then remove `plain`.
pub(crate) fn compress_file(plain: &Path, dest: &Path) -> std::io::Result<()> {
    let mut tmp = dest.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let result = (|| {
        let mut src = BufReader::with_capacity(256 * 1024, File::open(plain)?);
        let out = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
        // Fast level: rotation must keep up with a chatty container.
        let mut enc = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
        std::io::copy(&mut src, &mut enc)?;
        let out = enc.finish()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, dest)?;
        std::fs::remove_file(plain)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Whether `path` names a compressed rotated file.
pub(crate) fn is_gz(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "gz")
}

/// A reader of the decompressed bytes of `file`.
pub(crate) fn decoder(file: impl Read) -> impl Read {
    flate2::read::MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compresses_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("x.log.1");
        let gz = dir.path().join("x.log.1.gz");
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&plain, &data).unwrap();
        compress_file(&plain, &gz).unwrap();
        assert!(!plain.exists());
        assert!(is_gz(&gz));
        let mut back = Vec::new();
        decoder(File::open(&gz).unwrap())
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // Really gzip: the magic bytes.
        assert_eq!(&std::fs::read(&gz).unwrap()[..2], &[0x1f, 0x8b]);
    }
}
