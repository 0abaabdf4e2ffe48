//! The `local` format, gzip of rotated files and the record sink, on real files.

use berth_logfile::{
    read, rotated_paths, Follower, Format, ReadOptions, RecordSink, Stream, Writer, WriterOptions,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn numbered(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

fn texts(path: &Path, opts: &ReadOptions) -> Vec<String> {
    read(path, opts)
        .unwrap()
        .iter()
        .map(|e| String::from_utf8(e.line.clone()).unwrap())
        .collect()
}

#[test]
fn compressed_rotation_keeps_every_line_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c-json.log");
    let mut w = Writer::with_options(
        &path,
        WriterOptions {
            format: Format::Json,
            max_size: 4096,
            max_file: 4,
            compress: true,
        },
    )
    .unwrap();
    for i in 0..400 {
        w.write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
            .unwrap();
    }
    w.finish_compression();
    // Docker's names: path.1.gz … path.(max-file - 1).gz, gzip magic inside.
    for n in 1..=3 {
        let gz = numbered(&path, &format!(".{n}.gz"));
        assert!(gz.exists(), "{} missing", gz.display());
        assert_eq!(&std::fs::read(&gz).unwrap()[..2], &[0x1f, 0x8b]);
        assert!(!numbered(&path, &format!(".{n}")).exists());
    }
    assert!(!numbered(&path, ".4.gz").exists());
    assert_eq!(rotated_paths(&path).len(), 4);
    let got = texts(&path, &ReadOptions::default());
    // Only the newest ~4 files' worth is kept, contiguous and ending with the last line.
    assert!(got.len() > 150 && got.len() < 400, "{}", got.len());
    let first: usize = got[0][5..9].parse().unwrap();
    for (k, line) in got.iter().enumerate() {
        assert_eq!(line, &format!("line {:04}\n", first + k));
    }
    assert_eq!(got.last().unwrap(), "line 0399\n");
    // --tail reaches into the compressed files.
    let tail = texts(
        &path,
        &ReadOptions {
            tail: Some(got.len() - 3),
            ..Default::default()
        },
    );
    assert_eq!(tail[..], got[3..]);
}

#[test]
fn local_format_is_compact_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("j.log");
    let local = dir.path().join("l.log");
    let mut wj = Writer::open(&json, 0, 1).unwrap();
    let mut wl = Writer::with_options(
        &local,
        WriterOptions {
            format: Format::Local,
            ..Default::default()
        },
    )
    .unwrap();
    for i in 0..1000 {
        let line = format!("a line of text <{i}> \"quoted\"\n");
        wj.write(Stream::Stdout, line.as_bytes()).unwrap();
        wl.write(Stream::Stdout, line.as_bytes()).unwrap();
    }
    wl.write(Stream::Stderr, b"bin \xff\xfe\nunfinished")
        .unwrap();
    wl.flush_partial().unwrap();
    let (js, ls) = (
        std::fs::metadata(&json).unwrap().len(),
        std::fs::metadata(&local).unwrap().len(),
    );
    assert!(ls * 2 < js, "local {ls} bytes vs json-file {js}");
    let got = read(&local, &ReadOptions::default()).unwrap();
    assert_eq!(got.len(), 1002);
    assert_eq!(got[7].line, b"a line of text <7> \"quoted\"\n");
    assert_eq!(got[1000].stream, Stream::Stderr);
    assert_eq!(got[1000].line, b"bin \xff\xfe\n", "raw bytes kept");
    assert_eq!(got[1001].line, b"unfinished");
    let tail = read(
        &local,
        &ReadOptions {
            tail: Some(2),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(tail[..], got[1000..]);
    // Times are kept to the nanosecond and ordered.
    assert!(got.windows(2).all(|w| w[0].time <= w[1].time));
    // Following works on the same lines.
    let mut f = Follower::new(&local, 0);
    assert_eq!(f.poll().unwrap().len(), 1002);
}

type Seen = Arc<Mutex<Vec<(Stream, Vec<u8>)>>>;

#[derive(Clone, Default)]
struct Collect(Seen);

impl RecordSink for Collect {
    fn record(&mut self, stream: Stream, bytes: &[u8], _time: std::time::SystemTime) {
        self.0.lock().unwrap().push((stream, bytes.to_vec()));
    }
}

#[test]
fn sink_sees_every_record_even_without_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.log");
    let mut w = Writer::with_options(
        &path,
        WriterOptions {
            format: Format::Discard,
            ..Default::default()
        },
    )
    .unwrap();
    let c = Collect::default();
    w.set_sink(Box::new(c.clone()));
    w.write(Stream::Stdout, b"one\ntw").unwrap();
    w.write(Stream::Stderr, b"err\n").unwrap();
    w.write(Stream::Stdout, b"o\n").unwrap();
    w.flush_partial().unwrap();
    assert!(!path.exists());
    let got = c.0.lock().unwrap().clone();
    assert_eq!(
        got,
        vec![
            (Stream::Stdout, b"one\n".to_vec()),
            (Stream::Stderr, b"err\n".to_vec()),
            (Stream::Stdout, b"two\n".to_vec()),
        ]
    );
}

#[test]
fn every_tail_is_the_end_of_the_whole_log() {
    // Plain and compressed rotated files, both formats' neighbours (garbage lines,
    // a record with escapes, a long line, stderr), and a torn last line: for every N,
    // `--tail N` is exactly the last N records of the whole read.
    for compress in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c-json.log");
        let mut w = Writer::with_options(
            &path,
            WriterOptions {
                format: Format::Json,
                max_size: 2048,
                max_file: 5,
                compress,
            },
        )
        .unwrap();
        for i in 0..120 {
            let stream = if i % 7 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let text = match i % 5 {
                0 => format!("quote \" tab \t {i}\n"),
                1 => format!("{}{i}\n", "y".repeat(300)),
                _ => format!("line {i}\n"),
            };
            w.write(stream, text.as_bytes()).unwrap();
        }
        w.finish_compression();
        drop(w);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        std::io::Write::write_all(&mut f, b"garbage\n\n{\"log\":\"torn").unwrap();
        let whole = read(&path, &ReadOptions::default()).unwrap();
        assert!(whole.len() > 20, "{}", whole.len());
        for n in 0..whole.len() + 3 {
            let tail = read(
                &path,
                &ReadOptions {
                    tail: Some(n),
                    ..Default::default()
                },
            )
            .unwrap();
            let from = whole.len().saturating_sub(n);
            assert_eq!(tail, whole[from..], "compress {compress} tail {n}");
        }
    }
}
