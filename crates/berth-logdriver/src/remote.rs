//! Queue and sender thread of a remote driver (syslog, fluentd).
//!
//! The shim's log writer hands every record to the [`Remote::sink`], which only appends
//! it to an in-memory queue: the container's output path never waits on the network.
//! One thread takes batches from the queue head, connects (retrying with doubling
//! delays up to 5 s), sends, and removes a batch only once it is written (and, for
//! fluentd with `fluentd-request-ack`, acknowledged). A destination that is down or
//! slow only makes the queue grow; past its limit the oldest records are dropped and
//! counted (the local copy still has them). At the end [`Remote::close`] gives the
//! thread a grace period to deliver what is left.

use crate::{fluentd, syslog};
use berth_logfile::{RecordSink, Stream};
use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// Bytes of queued records kept at most, whatever the record limit says: the shim
/// must stay small even when a collector is gone for long.
const MAX_QUEUE_BYTES: usize = 16 << 20;
/// Records per send at most.
const BATCH: usize = 512;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What the shim knows about the container and its options.
#[derive(Debug, Clone, Default)]
pub struct RemoteConfig {
    /// `syslog` or `fluentd`.
    pub driver: String,
    pub opts: BTreeMap<String, String>,
    /// The expanded `tag`.
    pub tag: String,
    pub container_id: String,
    /// Without the leading `/`.
    pub container_name: String,
}

struct Rec {
    seq: u64,
    stream: Stream,
    partial: bool,
    time: SystemTime,
    /// Without the trailing `\n`.
    line: Vec<u8>,
}

#[derive(Default)]
struct Queue {
    items: VecDeque<Rec>,
    bytes: usize,
    next_seq: u64,
    dropped: u64,
    /// Set by `close`: deliver what is left until then, then stop.
    deadline: Option<Instant>,
}

struct Shared {
    q: Mutex<Queue>,
    cv: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // A panic elsewhere cannot leave the queue half-updated: recover it.
        self.q.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Kind {
    Syslog(syslog::Settings),
    Fluentd(fluentd::Settings),
}

/// A remote driver: queue in front, sender thread behind.
pub struct Remote {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
    limit: usize,
}

impl Remote {
    /// Check the options and start the sender thread. Call only after the container
    /// process has been created (no threads while the runtime forks).
    pub fn start(cfg: RemoteConfig) -> Result<Remote, String> {
        let kind = match cfg.driver.as_str() {
            "syslog" => Kind::Syslog(syslog::Settings::parse(&cfg.opts)?),
            "fluentd" => Kind::Fluentd(fluentd::Settings::parse(&cfg.opts)?),
            d => return Err(format!("logger: no log driver named '{d}' is registered")),
        };
        let limit = match &kind {
            Kind::Fluentd(f) => f.buffer_limit,
            Kind::Syslog(_) => usize::MAX,
        };
        let shared = Arc::new(Shared {
            q: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        });
        let s2 = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("log-{}", cfg.driver))
            .spawn(move || Sender::new(cfg, kind, s2).run())
            .map_err(|e| format!("starting the log sender: {e}"))?;
        Ok(Remote {
            shared,
            thread: Some(thread),
            limit,
        })
    }

    /// A handle that queues records (for `berth_logfile::Writer::set_sink`).
    pub fn sink(&self) -> Box<dyn RecordSink> {
        Box::new(RemoteSink {
            shared: self.shared.clone(),
            limit: self.limit,
        })
    }

    /// Give the sender until `grace` from now to deliver what is queued, then stop it.
    /// Returns how many records were dropped (queue overflow, or left at the end).
    pub fn close(mut self, grace: Duration) -> u64 {
        {
            let mut q = self.shared.lock();
            q.deadline = Some(Instant::now() + grace);
        }
        self.shared.cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let q = self.shared.lock();
        q.dropped + q.items.len() as u64
    }
}

/// The queue's input side, installed as the log writer's sink ([`Remote::sink`]).
pub struct RemoteSink {
    shared: Arc<Shared>,
    limit: usize,
}

impl RecordSink for RemoteSink {
    fn record(&mut self, stream: Stream, bytes: &[u8], time: SystemTime) {
        let (line, partial) = match bytes.split_last() {
            Some((b'\n', body)) => (body, false),
            _ => (bytes, true),
        };
        let mut q = self.shared.lock();
        let seq = q.next_seq;
        q.next_seq += 1;
        q.bytes += line.len();
        q.items.push_back(Rec {
            seq,
            stream,
            partial,
            time,
            line: line.to_vec(),
        });
        while q.items.len() > self.limit || q.bytes > MAX_QUEUE_BYTES {
            match q.items.pop_front() {
                Some(r) => {
                    q.bytes -= r.line.len();
                    q.dropped += 1;
                }
                None => break,
            }
        }
        drop(q);
        self.shared.cv.notify_one();
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.lock().deadline = Some(Instant::now());
            self.shared.cv.notify_all();
        }
    }
}

enum Conn {
    Tcp(TcpStream),
    Unix(UnixStream),
    Udp(UdpSocket),
    Unixgram(UnixDatagram),
}

impl Conn {
    fn datagram(&self) -> bool {
        matches!(self, Conn::Udp(_) | Conn::Unixgram(_))
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.write_all(buf),
            Conn::Unix(s) => s.write_all(buf),
            Conn::Udp(s) => s.send(buf).map(|_| ()),
            Conn::Unixgram(s) => s.send(buf).map(|_| ()),
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            Conn::Unix(s) => s.read(buf),
            _ => Ok(0),
        }
    }
}

struct Sender {
    cfg: RemoteConfig,
    kind: Kind,
    shared: Arc<Shared>,
    hostname: String,
    pid: u32,
    chunks: u64,
}

impl Sender {
    fn new(cfg: RemoteConfig, kind: Kind, shared: Arc<Shared>) -> Sender {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        Sender {
            cfg,
            kind,
            shared,
            hostname,
            pid: std::process::id(),
            chunks: 0,
        }
    }

    fn timeout(&self) -> Duration {
        match &self.kind {
            Kind::Fluentd(f) => f.write_timeout,
            Kind::Syslog(_) => Duration::from_secs(5),
        }
    }

    fn connect(&self) -> std::io::Result<Conn> {
        let t = self.timeout();
        let tcp = |addr: &str| -> std::io::Result<Conn> {
            let mut last = std::io::Error::other(format!("no address for {addr}"));
            for a in addr.to_socket_addrs()? {
                match TcpStream::connect_timeout(&a, t) {
                    Ok(s) => {
                        s.set_write_timeout(Some(t))?;
                        s.set_read_timeout(Some(t))?;
                        let _ = s.set_nodelay(true);
                        return Ok(Conn::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        };
        let unix = |path: &str| -> std::io::Result<Conn> {
            let s = UnixStream::connect(path)?;
            s.set_write_timeout(Some(t))?;
            s.set_read_timeout(Some(t))?;
            Ok(Conn::Unix(s))
        };
        let unixgram = |path: &str| -> std::io::Result<Conn> {
            let s = UnixDatagram::unbound()?;
            s.connect(path)?;
            s.set_write_timeout(Some(t))?;
            Ok(Conn::Unixgram(s))
        };
        match &self.kind {
            Kind::Syslog(s) => match &s.address {
                syslog::Address::Tcp(a) => tcp(a),
                syslog::Address::Udp(a) => {
                    let addr = a
                        .to_socket_addrs()?
                        .next()
                        .ok_or_else(|| std::io::Error::other(format!("no address for {a}")))?;
                    let bind = if addr.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let u = UdpSocket::bind(bind)?;
                    u.connect(addr)?;
                    Ok(Conn::Udp(u))
                }
                // A datagram socket (syslog daemons' usual kind) when stream fails.
                syslog::Address::Unix(p) => unix(p).or_else(|e| {
                    if e.raw_os_error() == Some(libc::EPROTOTYPE) {
                        unixgram(p)
                    } else {
                        Err(e)
                    }
                }),
                syslog::Address::Unixgram(p) => unixgram(p),
            },
            Kind::Fluentd(f) => match &f.address {
                fluentd::Address::Tcp(a) => tcp(a),
                fluentd::Address::Unix(p) => unix(p),
            },
        }
    }

    /// Wait for records; `None` when closing and nothing is left (or time is up).
    fn next_batch(&self) -> Option<(u64, Vec<Rec>)> {
        let mut q = self.shared.lock();
        loop {
            if let Some(d) = q.deadline {
                if q.items.is_empty() || Instant::now() >= d {
                    return None;
                }
            }
            if !q.items.is_empty() {
                let batch: Vec<Rec> = q
                    .items
                    .iter()
                    .take(BATCH)
                    .map(|r| Rec {
                        seq: r.seq,
                        stream: r.stream,
                        partial: r.partial,
                        time: r.time,
                        line: r.line.clone(),
                    })
                    .collect();
                let last = batch.last().map(|r| r.seq).unwrap_or(0);
                return Some((last, batch));
            }
            q = self
                .shared
                .cv
                .wait_timeout(q, Duration::from_secs(1))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Remove records up to `last` (some may have been dropped meanwhile).
    fn delivered(&self, last: u64) {
        let mut q = self.shared.lock();
        while q.items.front().is_some_and(|r| r.seq <= last) {
            if let Some(r) = q.items.pop_front() {
                q.bytes -= r.line.len();
            }
        }
    }

    /// Sleep `d`, cut short by `close`; false when the deadline has passed.
    fn pause(&self, d: Duration) -> bool {
        let q = self.shared.lock();
        let wait = match q.deadline {
            Some(dl) => {
                let now = Instant::now();
                if now >= dl {
                    return false;
                }
                d.min(dl - now)
            }
            None => d,
        };
        let _ = self.shared.cv.wait_timeout(q, wait);
        true
    }

    fn run(mut self) {
        let first_wait = match &self.kind {
            Kind::Fluentd(f) => f.retry_wait,
            Kind::Syslog(_) => Duration::from_millis(100),
        }
        .min(MAX_BACKOFF);
        let mut backoff = first_wait;
        let mut conn: Option<Conn> = None;
        let mut buf = Vec::new();
        while let Some((last, batch)) = self.next_batch() {
            if conn.is_none() {
                match self.connect() {
                    Ok(c) => {
                        conn = Some(c);
                        backoff = first_wait;
                    }
                    Err(_) => {
                        if !self.pause(backoff) {
                            return;
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            let sent = self.send(c, &batch, &mut buf);
            match sent {
                Ok(()) => self.delivered(last),
                Err(settled) => {
                    // A datagram that failed even after a reconnect is gone for good
                    // (Docker's syslog writer does the same); the ones after it stay
                    // queued. Streams reconnect and send the whole batch again.
                    if let Some(r) = settled.checked_sub(1).and_then(|i| batch.get(i)) {
                        self.delivered(r.seq);
                    }
                    conn = None;
                    if !self.pause(backoff) {
                        return;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Send `batch`. On failure, how many of its records are settled: for datagrams
    /// those sent plus the one that failed twice, for streams none (all go again).
    fn send(&mut self, c: &mut Conn, batch: &[Rec], buf: &mut Vec<u8>) -> Result<(), usize> {
        buf.clear();
        match &self.kind {
            Kind::Syslog(s) => {
                for (i, r) in batch.iter().enumerate() {
                    let start = buf.len();
                    syslog::format_message(
                        buf,
                        s,
                        r.stream == Stream::Stderr,
                        r.time,
                        &self.hostname,
                        &self.cfg.tag,
                        self.pid,
                        &r.line,
                    );
                    if c.datagram() {
                        // A datagram socket reports an earlier datagram's ICMP error
                        // (the receiver was restarting, say) on the next send, which
                        // then is not sent: reconnect and try that message once more.
                        if c.write_all(&buf[start..]).is_err() {
                            let retried = self.connect().and_then(|fresh| {
                                *c = fresh;
                                c.write_all(&buf[start..])
                            });
                            if retried.is_err() {
                                return Err(i + 1);
                            }
                        }
                        buf.truncate(start);
                    }
                }
                if !c.datagram() {
                    c.write_all(buf).map_err(|_| 0usize)?;
                }
                Ok(())
            }
            Kind::Fluentd(f) => {
                let events: Vec<fluentd::Event<'_>> = batch
                    .iter()
                    .map(|r| fluentd::Event {
                        stderr: r.stream == Stream::Stderr,
                        partial: r.partial,
                        time: r.time,
                        line: &r.line,
                    })
                    .collect();
                self.chunks += 1;
                let chunk = f.request_ack.then(|| {
                    let nanos = SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_nanos();
                    format!("{:08x}{:08x}{:016x}", self.pid, self.chunks, nanos as u64)
                });
                fluentd::encode_forward(
                    buf,
                    f,
                    &self.cfg.tag,
                    &self.cfg.container_id,
                    &self.cfg.container_name,
                    &events,
                    chunk.as_deref(),
                );
                c.write_all(buf).map_err(|_| 0usize)?;
                if let Some(chunk) = chunk {
                    let mut reply = Vec::new();
                    let mut tmp = [0u8; 256];
                    while !fluentd::is_ack(&reply, &chunk) {
                        let n = c.read(&mut tmp).map_err(|_| 0usize)?;
                        // No ack: the whole chunk goes again.
                        if n == 0 || reply.len() > 4096 {
                            return Err(0);
                        }
                        reply.extend_from_slice(&tmp[..n]);
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp_remote(port: u16) -> Remote {
        let mut opts = BTreeMap::new();
        opts.insert(
            "syslog-address".to_string(),
            format!("udp://127.0.0.1:{port}"),
        );
        Remote::start(RemoteConfig {
            driver: "syslog".into(),
            opts,
            tag: "t".into(),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_datagram_refused_once_is_sent_again_and_the_rest_are_kept() {
        // A port with no receiver yet: the first datagram draws an ICMP error that
        // the socket reports on the next send.
        let port = {
            let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let remote = udp_remote(port);
        let mut sink = remote.sink();
        let now = SystemTime::now();
        sink.record(Stream::Stdout, b"lost\n", now);
        std::thread::sleep(Duration::from_millis(200));
        let rx = UdpSocket::bind(("127.0.0.1", port)).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Queued together, so one batch meets the pending error.
        for l in ["b 1\n", "b 2\n", "b 3\n"] {
            sink.record(Stream::Stdout, l.as_bytes(), now);
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while got.len() < 3 {
            let n = rx.recv(&mut buf).expect("a datagram went missing");
            let m = String::from_utf8_lossy(&buf[..n]).to_string();
            got.push(m.rsplit(": ").next().unwrap().trim_end().to_string());
        }
        assert_eq!(got, ["b 1", "b 2", "b 3"]);
        assert_eq!(remote.close(Duration::from_secs(1)), 0);
    }
}
