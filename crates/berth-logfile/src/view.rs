//! The log's files opened together, as one view that no rotation changed while it was
//! being taken.
//!
//! The writer rotates by renaming `path.k` to `path.(k+1)` from the oldest down, then
//! `path` to `path.1`, then creating a new `path`. A reader that opens those names one
//! by one while that happens could open one file twice (under two names) or miss one.
//! Every rename is atomic and only moves a file to a higher number, so a view is sound
//! when, after all the names were opened, each still names the file opened from it and
//! no file was opened twice. A rotation caught halfway leaves one number missing; the
//! files around that gap are still in order, so the scan goes past one missing number.
//! Both the reader ([`crate::read_records_to_follow`]) and the follower take their
//! files from here.

use crate::reader::{numbered, open_optional};
use crate::LogError;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// (dev, ino) of a file.
pub(crate) type FileId = (u64, u64);

/// One opened file of the log.
#[derive(Debug)]
pub(crate) struct Opened {
    /// The name it was opened from (`path.K.gz` for a compressed one).
    pub path: PathBuf,
    pub id: FileId,
    pub file: File,
}

impl Opened {
    pub fn is_gz(&self) -> bool {
        crate::gz::is_gz(&self.path)
    }
}

/// The files of a log at one moment.
#[derive(Debug)]
pub(crate) struct View {
    /// The file `path` names, if any.
    pub current: Option<Opened>,
    /// Rotated files, newest (`path.1`) first; with a `stop_at` file, only those newer
    /// than it.
    pub rotated: Vec<Opened>,
    /// Whether the `stop_at` file was among the rotated ones.
    pub found: bool,
}

/// How many times a view is taken again when a rotation moved a file meanwhile.
const ATTEMPTS: usize = 5;

/// Opens `path` and its rotated files. With `stop_at`, the scan of rotated files ends at
/// that file (not included in the view). `None` when no sound view could be taken in a
/// few attempts (a writer rotating without pause); `best_effort` then returns the last
/// one taken instead.
pub(crate) fn open_view(
    path: &Path,
    stop_at: Option<FileId>,
    best_effort: bool,
) -> Result<Option<View>, LogError> {
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let view = take(path, stop_at)?;
        if is_sound(path, &view) {
            return Ok(Some(view));
        }
        last = Some(view);
    }
    Ok(last.filter(|_| best_effort))
}

fn id_of(path: &Path) -> Option<FileId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

fn open(path: &Path) -> Result<Option<Opened>, LogError> {
    let Some(file) = open_optional(path)? else {
        return Ok(None);
    };
    let m = file.metadata().map_err(|source| LogError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(Opened {
        path: path.to_path_buf(),
        id: (m.dev(), m.ino()),
        file,
    }))
}

fn take(path: &Path, stop_at: Option<FileId>) -> Result<View, LogError> {
    // The current file first: a rotation after this moves it to `path.1`, which the
    // scan then opens again, and the soundness check sees.
    let current = open(path)?;
    let mut rotated = Vec::new();
    let mut found = false;
    let mut missing = 0;
    for k in 1.. {
        let plain = numbered(path, k);
        let opened = match open(&plain)? {
            Some(o) => Some(o),
            None => open(&gz_of(&plain))?,
        };
        let Some(o) = opened else {
            // One missing number is a rotation halfway through its renames.
            missing += 1;
            if missing == 2 {
                break;
            }
            continue;
        };
        missing = 0;
        if Some(o.id) == stop_at {
            found = true;
            break;
        }
        rotated.push(o);
    }
    Ok(View {
        current,
        rotated,
        found,
    })
}

/// Each name still names the file opened from it, and no file was opened twice.
fn is_sound(path: &Path, view: &View) -> bool {
    if id_of(path) != view.current.as_ref().map(|c| c.id) {
        return false;
    }
    let mut ids: Vec<FileId> = view.current.iter().map(|c| c.id).collect();
    for o in &view.rotated {
        // A compressed file replaces its plain one: the plain file's data is the same,
        // read through the descriptor already open.
        let same = id_of(&o.path) == Some(o.id) || (!o.is_gz() && gz_of(&o.path).exists());
        if !same || ids.contains(&o.id) {
            return false;
        }
        ids.push(o.id);
    }
    true
}

fn gz_of(plain: &Path) -> PathBuf {
    let mut gz = plain.as_os_str().to_owned();
    gz.push(".gz");
    PathBuf::from(gz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_after_the_names_were_opened_makes_the_view_unsound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let num = |k: u32| numbered(&path, k);
        std::fs::write(num(1), "older\n").unwrap();
        std::fs::write(&path, "current\n").unwrap();
        let view = take(&path, None).unwrap();
        assert!(is_sound(&path, &view));
        assert_eq!(view.rotated.len(), 1);
        // A rotation right after: the current file is now log.1, the older one log.2.
        std::fs::rename(num(1), num(2)).unwrap();
        std::fs::rename(&path, num(1)).unwrap();
        std::fs::write(&path, "new\n").unwrap();
        assert!(!is_sound(&path, &view));
        // Taken again, it holds the three files once each, and stops at a given one.
        let again = open_view(&path, None, false).unwrap().unwrap();
        assert_eq!(again.rotated.len(), 2);
        let old = again.rotated[1].id;
        let upto = open_view(&path, Some(old), false).unwrap().unwrap();
        assert!(upto.found);
        assert_eq!(upto.rotated.len(), 1);
        // A file compressed meanwhile keeps the view sound: its data is in the open file.
        std::fs::write(gz_of(&num(2)), "x").unwrap();
        std::fs::remove_file(num(2)).unwrap();
        assert!(is_sound(&path, &again));
        // The same file under two names (opened before and after a rename) is not.
        let mut twice = take(&path, None).unwrap();
        let dup = open(&path).unwrap().unwrap();
        twice.rotated.push(dup);
        assert!(!is_sound(&path, &twice));
    }
}
