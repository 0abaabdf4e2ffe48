//! Throughput of the writer and reader on 100 MB of 100-byte lines (ignored by default:
//! `cargo test --release -p berth-logfile --test throughput -- --ignored --nocapture`).

use berth_logfile::{read_each, read_records, ReadOptions, Stream, Writer};
use std::time::Instant;

#[test]
#[ignore]
fn write_and_read_100mb() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t-json.log");
    let mut line = vec![b'x'; 99];
    line.push(b'\n');
    // The shim hands over what one read of the pipe gave: up to 1 MiB.
    let chunk: Vec<u8> = line.iter().cycle().take(1 << 20).copied().collect();
    let total = 100 << 20;
    let mut w = Writer::open(&path, 0, 1).unwrap();
    let t = Instant::now();
    let mut n = 0;
    while n < total {
        w.write(Stream::Stdout, &chunk).unwrap();
        n += chunk.len();
    }
    w.flush_partial().unwrap();
    let wt = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut bytes = 0usize;
    read_records(&path, &ReadOptions::default(), &mut |r| {
        bytes += r.text.len() + r.newline as usize;
        true
    })
    .unwrap();
    let rt = t.elapsed().as_secs_f64();
    assert_eq!(bytes, total);
    let t = Instant::now();
    let mut bytes = 0usize;
    read_each(&path, &ReadOptions::default(), &mut |e| {
        bytes += e.line.len();
        true
    })
    .unwrap();
    let et = t.elapsed().as_secs_f64();
    assert_eq!(bytes, total);
    println!(
        "write {:.0} MB/s, read {:.0} MB/s (as entries {:.0} MB/s)",
        100.0 / wt,
        100.0 / rt,
        100.0 / et
    );
}
