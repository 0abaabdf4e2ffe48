//! Round trips through the json-file writer, reader and follower on real files.

use berth_logfile::{read, read_with_offset, Follower, ReadOptions, Stream, Writer, MAX_PARTIAL};
use std::io::Write;
use std::time::{Duration, SystemTime};

fn lines(entries: &[berth_logfile::Entry]) -> Vec<(Stream, String)> {
    entries
        .iter()
        .map(|e| (e.stream, String::from_utf8(e.line.clone()).unwrap()))
        .collect()
}

#[test]
fn round_trip_splits_lines_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = Writer::open(&path, 0, 1).unwrap();
    w.write(Stream::Stdout, b"hello\nwor").unwrap();
    w.write(Stream::Stderr, b"err1\n").unwrap();
    w.write(Stream::Stdout, b"ld\n\nlast").unwrap();
    // Nothing of the partial "last" is on disk yet.
    assert_eq!(read(&path, &ReadOptions::default()).unwrap().len(), 4);
    w.flush_partial().unwrap();
    let got = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        lines(&got),
        vec![
            (Stream::Stdout, "hello\n".into()),
            (Stream::Stderr, "err1\n".into()),
            (Stream::Stdout, "world\n".into()),
            (Stream::Stdout, "\n".into()),
            (Stream::Stdout, "last".into()),
        ]
    );
    // The raw text is Docker's shape.
    let raw = std::fs::read_to_string(&path).unwrap();
    let first = raw.lines().next().unwrap();
    assert!(
        first.starts_with("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\""),
        "{first}"
    );
    let t = &got[0].time_text;
    assert_eq!(t.len(), "2024-05-01T12:34:56.123456789Z".len());
    assert_eq!(berth_types::time::parse_rfc3339(t), Some(got[0].time));
    // Re-opening appends.
    drop(w);
    let mut w = Writer::open(&path, 0, 1).unwrap();
    w.write(Stream::Stdout, b"again\n").unwrap();
    assert_eq!(read(&path, &ReadOptions::default()).unwrap().len(), 6);
}

#[test]
fn long_partial_lines_are_cut_at_16k() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 0, 1).unwrap();
    let big = vec![b'x'; MAX_PARTIAL * 2 + 100];
    // Written in odd-sized pieces to exercise buffering across calls.
    for chunk in big.chunks(5000) {
        w.write(Stream::Stdout, chunk).unwrap();
    }
    w.write(Stream::Stdout, b"yz\n").unwrap();
    let got = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].line.len(), MAX_PARTIAL);
    assert_eq!(got[1].line.len(), MAX_PARTIAL);
    assert_eq!(got[2].line.len(), 100 + 3);
    assert!(got[2].line.ends_with(b"yz\n"));
    assert!(!got[0].line.contains(&b'\n'));
}

#[test]
fn tail_since_until() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 0, 1).unwrap();
    for i in 0..5 {
        w.write(Stream::Stdout, format!("a{i}\n").as_bytes())
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(20));
    let mid = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20));
    for i in 0..5 {
        w.write(Stream::Stderr, format!("b{i}\n").as_bytes())
            .unwrap();
    }
    let all = ReadOptions::default();
    assert_eq!(read(&path, &all).unwrap().len(), 10);
    let tail3 = read(
        &path,
        &ReadOptions {
            tail: Some(3),
            ..all.clone()
        },
    )
    .unwrap();
    assert_eq!(
        lines(&tail3),
        vec![
            (Stream::Stderr, "b2\n".into()),
            (Stream::Stderr, "b3\n".into()),
            (Stream::Stderr, "b4\n".into())
        ]
    );
    assert!(read(
        &path,
        &ReadOptions {
            tail: Some(0),
            ..all.clone()
        }
    )
    .unwrap()
    .is_empty());
    assert_eq!(
        read(
            &path,
            &ReadOptions {
                tail: Some(100),
                ..all.clone()
            }
        )
        .unwrap()
        .len(),
        10
    );
    let since = read(
        &path,
        &ReadOptions {
            since: Some(mid),
            ..all.clone()
        },
    )
    .unwrap();
    assert_eq!(since.len(), 5);
    assert!(since.iter().all(|e| e.stream == Stream::Stderr));
    let until = read(
        &path,
        &ReadOptions {
            until: Some(mid),
            ..all.clone()
        },
    )
    .unwrap();
    assert_eq!(lines(&until)[4], (Stream::Stdout, "a4\n".into()));
    assert_eq!(until.len(), 5);
    // Docker applies tail first, then since.
    let both = read(
        &path,
        &ReadOptions {
            tail: Some(7),
            since: Some(mid),
            until: None,
        },
    )
    .unwrap();
    assert_eq!(both.len(), 5);
    let before = read(
        &path,
        &ReadOptions {
            tail: Some(2),
            until: Some(mid),
            since: None,
        },
    )
    .unwrap();
    assert!(before.is_empty());
}

#[test]
fn tail_over_many_blocks_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 200_000, 3).unwrap();
    for i in 0..6000 {
        w.write(
            Stream::Stdout,
            format!("line number {i:05} with some padding text\n").as_bytes(),
        )
        .unwrap();
    }
    let all = read(&path, &ReadOptions::default()).unwrap();
    let tail = read(
        &path,
        &ReadOptions {
            tail: Some(4000),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(all.len() >= 4000, "{}", all.len());
    assert_eq!(tail.len(), 4000);
    assert_eq!(tail[..], all[all.len() - 4000..]);
    assert_eq!(
        tail.last().unwrap().line,
        b"line number 05999 with some padding text\n"
    );
}

#[test]
fn rotation_keeps_max_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 1000, 3).unwrap();
    for i in 0..200 {
        w.write(Stream::Stdout, format!("{i:04}\n").as_bytes())
            .unwrap();
    }
    assert!(path.exists());
    assert!(dir.path().join("log.1").exists());
    assert!(dir.path().join("log.2").exists());
    assert!(!dir.path().join("log.3").exists());
    for p in ["log", "log.1", "log.2"] {
        let len = std::fs::metadata(dir.path().join(p)).unwrap().len();
        assert!(len < 1000 + 100, "{p} is {len} bytes");
    }
    let got = read(&path, &ReadOptions::default()).unwrap();
    // Consecutive numbers ending at 199: oldest first across files.
    let nums: Vec<u32> = got
        .iter()
        .map(|e| {
            std::str::from_utf8(&e.line)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(*nums.last().unwrap(), 199);
    assert!(nums.windows(2).all(|p| p[1] == p[0] + 1), "{nums:?}");
    assert!(nums.len() < 200 && nums.len() > 20, "{}", nums.len());

    // max_file 1 truncates in place.
    let p1 = dir.path().join("single");
    let mut w = Writer::open(&p1, 500, 1).unwrap();
    for i in 0..100 {
        w.write(Stream::Stderr, format!("{i}\n").as_bytes())
            .unwrap();
    }
    assert!(!dir.path().join("single.1").exists());
    assert!(std::fs::metadata(&p1).unwrap().len() < 600);
    assert_eq!(
        read(&p1, &ReadOptions::default())
            .unwrap()
            .last()
            .unwrap()
            .line,
        b"99\n"
    );
}

#[test]
fn torn_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 0, 1).unwrap();
    w.write(Stream::Stdout, b"one\ntwo\n").unwrap();
    drop(w);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(b"not json at all\n{\"log\":\"three\\n\",\"stream\":\"stdout\",\"ti")
        .unwrap();
    let (got, off) = read_with_offset(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        lines(&got),
        vec![
            (Stream::Stdout, "one\n".into()),
            (Stream::Stdout, "two\n".into())
        ]
    );
    let tail = read(
        &path,
        &ReadOptions {
            tail: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(lines(&tail), vec![(Stream::Stdout, "two\n".into())]);
    // The offset stops before the torn record: a follower picks it up once completed.
    let mut fol = Follower::new(&path, off);
    assert!(fol.poll().unwrap().is_empty());
    f.write_all(b"me\":\"2024-05-01T12:34:56.123456789Z\"}\n")
        .unwrap();
    assert_eq!(
        lines(&fol.poll().unwrap()),
        vec![(Stream::Stdout, "three\n".into())]
    );
    // Missing log: empty, not an error.
    assert!(read(&dir.path().join("nope"), &ReadOptions::default())
        .unwrap()
        .is_empty());
}

#[test]
fn follower_sees_appends_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    // The follower may start before the file exists.
    let mut fol = Follower::new(&path, 0);
    assert!(fol.poll().unwrap().is_empty());
    let mut w = Writer::open(&path, 300, 4).unwrap();
    w.write(Stream::Stdout, b"first\nhalf").unwrap();
    assert_eq!(
        lines(&fol.poll().unwrap()),
        vec![(Stream::Stdout, "first\n".into())]
    );
    assert!(fol.poll().unwrap().is_empty());
    w.write(Stream::Stdout, b" done\n").unwrap();
    assert_eq!(
        lines(&fol.poll().unwrap()),
        vec![(Stream::Stdout, "half done\n".into())]
    );

    // Enough to rotate twice between polls: nothing may be lost or repeated.
    let mut expected = Vec::new();
    for i in 0..12 {
        let s = format!("rot {i:02}\n");
        w.write(
            if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            },
            s.as_bytes(),
        )
        .unwrap();
        expected.push(s);
    }
    assert!(dir.path().join("log.2").exists());
    let got: Vec<String> = fol
        .poll()
        .unwrap()
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect();
    assert_eq!(got, expected);
    w.write(Stream::Stdout, b"after\n").unwrap();
    assert_eq!(
        lines(&fol.poll().unwrap()),
        vec![(Stream::Stdout, "after\n".into())]
    );

    // at_end skips what is there.
    let mut late = Follower::at_end(&path);
    assert!(late.poll().unwrap().is_empty());
    w.write(Stream::Stderr, b"new\n").unwrap();
    assert_eq!(
        lines(&late.poll().unwrap()),
        vec![(Stream::Stderr, "new\n".into())]
    );
}

#[test]
fn a_follower_started_after_a_rotation_goes_on_from_the_file_that_was_read() {
    use berth_logfile::read_records_to_follow;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let mut w = Writer::open(&path, 300, 8).unwrap();
    w.write(Stream::Stdout, b"read 0\nread 1\n").unwrap();
    let mut seen = Vec::new();
    let point = read_records_to_follow(&path, &ReadOptions::default(), &mut |r| {
        seen.extend(r.to_entry());
        true
    })
    .unwrap();
    assert_eq!(seen.len(), 2);
    // Between the read and the follower's first poll: more lines, and the file read
    // rotates away (twice) with some of them.
    let mut expected = Vec::new();
    for i in 0..12 {
        let line = format!("after {i:02} padding padding padding\n");
        w.write(Stream::Stdout, line.as_bytes()).unwrap();
        expected.push((Stream::Stdout, line));
    }
    assert!(dir.path().join("log.2").exists(), "rotated twice");
    let mut fol = Follower::after(&path, point);
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(lines(&fol.poll().unwrap()));
    }
    assert_eq!(got, expected);
    // A follower that reopens the path by offset alone starts in the wrong file.
    let mut naive = Follower::new(&path, point.offset);
    assert_ne!(lines(&naive.poll().unwrap()), expected);
}

/// Appends `prefix 0..n` to the log at `path` through a writer that never rotates.
fn append_lines(path: &std::path::Path, prefix: &str, n: usize) -> Vec<String> {
    let mut w = Writer::open(path, 0, 1).unwrap();
    (0..n)
        .map(|i| {
            let line = format!("{prefix} {i}\n");
            w.write(Stream::Stdout, line.as_bytes()).unwrap();
            line
        })
        .collect()
}

fn texts(entries: &[berth_logfile::Entry]) -> Vec<String> {
    lines(entries).into_iter().map(|(_, l)| l).collect()
}

#[test]
fn a_poll_between_the_writers_rename_and_create_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    append_lines(&path, "a", 3);
    // Started after the first record, as a follow after a read starts.
    let bytes = std::fs::read(&path).unwrap();
    let offset = bytes.iter().position(|&b| b == b'\n').unwrap() as u64 + 1;
    let mut fol = Follower::new(&path, offset);
    assert_eq!(fol.poll().unwrap().len(), 2);
    // The writer renamed the log and has not created the new one yet.
    std::fs::rename(&path, dir.path().join("log.1")).unwrap();
    assert!(fol.poll().unwrap().is_empty());
    // The new file's first records are not skipped by the start offset.
    let expected = append_lines(&path, "b", 4);
    assert_eq!(texts(&fol.poll().unwrap()), expected);
}

#[test]
fn a_rotation_caught_halfway_through_its_renames_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let num = |k: u32| dir.path().join(format!("log.{k}"));
    append_lines(&path, "a", 2);
    let mut fol = Follower::new(&path, 0);
    assert_eq!(fol.poll().unwrap().len(), 2);
    let mut expected = append_lines(&path, "a more", 2);
    // Two whole rotations: a -> log.2, b -> log.1, c is the log.
    std::fs::rename(&path, num(1)).unwrap();
    expected.extend(append_lines(&path, "b", 3));
    std::fs::rename(num(1), num(2)).unwrap();
    std::fs::rename(&path, num(1)).unwrap();
    expected.extend(append_lines(&path, "c", 3));
    // A third one halfway: log.2 -> log.3 and log.1 -> log.2 done, the log not yet
    // renamed, so log.1 is missing.
    std::fs::rename(num(2), num(3)).unwrap();
    std::fs::rename(num(1), num(2)).unwrap();
    assert_eq!(texts(&fol.poll().unwrap()), expected);
    // The third rotation completes: nothing is read twice.
    std::fs::rename(&path, num(1)).unwrap();
    let more = append_lines(&path, "d", 2);
    assert_eq!(texts(&fol.poll().unwrap()), more);
}

#[test]
fn a_read_during_a_rotation_halfway_reads_each_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let num = |k: u32| dir.path().join(format!("log.{k}"));
    let mut expected = append_lines(&path, "a", 2);
    std::fs::rename(&path, num(1)).unwrap();
    expected.extend(append_lines(&path, "b", 2));
    std::fs::rename(num(1), num(2)).unwrap();
    std::fs::rename(&path, num(1)).unwrap();
    expected.extend(append_lines(&path, "c", 2));
    // Halfway through the next rotation: log.1 is missing for a moment.
    std::fs::rename(num(2), num(3)).unwrap();
    std::fs::rename(num(1), num(2)).unwrap();
    let got = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(texts(&got), expected);
    let tail = read(
        &path,
        &ReadOptions {
            tail: Some(3),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(texts(&tail), expected[3..]);
}
