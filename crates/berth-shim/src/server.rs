//! The shim's event loop, from the start reply to its exit.
//!
//! One `poll(2)` over: the SIGCHLD self-pipe, the control socket, its clients, the
//! process's output (pipes or pty master) and, while input is queued, its stdin. Output
//! goes to the json-file log and to every attached client that asked for that stream;
//! client input goes to the process's stdin through a bounded queue (clients are not
//! read while it is full). When the process exits: drain its output, write the exit
//! record, remove the socket and the cgroup, answer `wait`, flush attach streams (for a
//! bounded time) and return.

use crate::client::{Client, Mode, MAX_LINE};
use crate::launch::Launched;
use crate::stdio::ShimIo;
use crate::{cgroup, sys};
use berth_logfile::{Stream, Writer};
use berth_runtime::pty;
use berth_types::shim::{
    ExitStatus, Reply, Request, ShimConfig, Task, STREAM_STDERR, STREAM_STDOUT,
};
use berth_types::time::rfc3339_nano;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// Input queued for the process at most; beyond it clients are not read (backpressure).
const MAX_STDIN_QUEUE: usize = 256 * 1024;
/// How long attach clients get to take their last output after the exit.
const FLUSH_GRACE: Duration = Duration::from_secs(2);
/// Reads of leftover output after the exit at most (other processes may keep writing).
const MAX_DRAIN_READS: usize = 4096;
/// Output read at once while nobody is attached: a whole pipe (see `stdio`), so a
/// container that writes fast costs few reads and few large log writes.
const OUTPUT_READ: usize = crate::stdio::PIPE_SIZE;
/// Output read at once while clients are attached: each read is queued to every
/// client, and a client more than `MAX_BACKLOG` behind is dropped. Also the most
/// read from a client at once.
const ATTACHED_READ: usize = 32 * 1024;

/// Which descriptor a pollfd entry stands for.
#[derive(Clone, Copy)]
enum Slot {
    Sigchld,
    Listener,
    Stdout,
    Stderr,
    Stdin,
    Client(usize),
}

pub struct Server {
    cfg: ShimConfig,
    listener: Option<UnixListener>,
    socket_path: PathBuf,
    clients: Vec<Client>,
    io: ShimIo,
    stdin_queue: Vec<u8>,
    /// Close stdin once the queue is written (CloseStdin, or stdin_once and EOF).
    stdin_close_pending: bool,
    log: Option<Writer>,
    log_error_reported: bool,
    pid: i32,
    launched: Option<Launched>,
    started_at: Option<SystemTime>,
    /// Exit code to report when `start` failed (126/127) instead of the child's own.
    start_error_code: Option<i32>,
    exit: Option<ExitStatus>,
    /// Set once the exit work is done: only flushing clients remains until then.
    deadline: Option<Instant>,
    /// `exit.json` is written and the socket and cgroup are gone: only then may a
    /// `wait` hear of the exit (the engine removes the container on that reply).
    exit_recorded: bool,
    sigchld: OwnedFd,
    buf: Vec<u8>,
}

impl Server {
    pub fn new(
        cfg: ShimConfig,
        listener: UnixListener,
        io: ShimIo,
        log: Option<Writer>,
        launched: Launched,
        sigchld: OwnedFd,
    ) -> io::Result<Server> {
        listener.set_nonblocking(true)?;
        Ok(Server {
            socket_path: PathBuf::from(&cfg.socket),
            cfg,
            listener: Some(listener),
            clients: Vec::new(),
            io,
            stdin_queue: Vec::new(),
            stdin_close_pending: false,
            log,
            log_error_reported: false,
            pid: launched.pid(),
            launched: Some(launched),
            started_at: None,
            start_error_code: None,
            exit: None,
            deadline: None,
            exit_recorded: false,
            sigchld,
            // Pages are only touched as far as reads fill them.
            buf: vec![0u8; OUTPUT_READ],
        })
    }

    /// Serve until the process has exited and the clients are done.
    pub fn run(mut self) {
        self.reap();
        loop {
            if self.exit.is_some() && self.deadline.is_none() {
                self.finish();
            }
            if let Some(deadline) = self.deadline {
                if self.clients.is_empty() || Instant::now() >= deadline {
                    return;
                }
            }
            let (mut fds, slots) = self.poll_set();
            let timeout = match self.deadline {
                Some(d) => {
                    d.saturating_duration_since(Instant::now())
                        .as_millis()
                        .min(1000) as i32
                        + 1
                }
                None => -1,
            };
            if let Err(e) = sys::poll(&mut fds, timeout) {
                crate::diag(&format!("poll: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            for (fd, slot) in fds.iter().zip(slots) {
                if fd.revents != 0 {
                    self.dispatch(slot, fd.revents);
                }
            }
            self.after_events();
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Slot>) {
        let mut fds = Vec::with_capacity(6 + self.clients.len());
        let mut slots = Vec::with_capacity(fds.capacity());
        let mut add = |fd: RawFd, events: libc::c_short, slot: Slot| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            slots.push(slot);
        };
        add(self.sigchld.as_raw_fd(), libc::POLLIN, Slot::Sigchld);
        if let Some(l) = &self.listener {
            add(l.as_raw_fd(), libc::POLLIN, Slot::Listener);
        }
        if let Some(fd) = &self.io.stdout {
            add(fd.as_raw_fd(), libc::POLLIN, Slot::Stdout);
        }
        if let Some(fd) = &self.io.stderr {
            add(fd.as_raw_fd(), libc::POLLIN, Slot::Stderr);
        }
        if let Some(fd) = &self.io.stdin {
            if !self.stdin_queue.is_empty() {
                add(fd.as_raw_fd(), libc::POLLOUT, Slot::Stdin);
            }
        }
        let stdin_full = self.stdin_queue.len() >= MAX_STDIN_QUEUE;
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev = 0;
            let feeds_stdin = matches!(c.mode, Mode::Attached { stdin: true, .. });
            let blocked = c.read_eof || c.closing || (feeds_stdin && stdin_full);
            if !blocked {
                ev |= libc::POLLIN;
            }
            if c.pending() > 0 {
                ev |= libc::POLLOUT;
            }
            // POLLHUP/POLLERR are reported even with no events asked.
            add(c.stream.as_raw_fd(), ev, Slot::Client(i));
        }
        (fds, slots)
    }

    fn dispatch(&mut self, slot: Slot, revents: libc::c_short) {
        match slot {
            Slot::Sigchld => self.reap(),
            Slot::Listener => self.accept(),
            Slot::Stdout => {
                self.read_output(Stream::Stdout);
            }
            Slot::Stderr => {
                self.read_output(Stream::Stderr);
            }
            Slot::Stdin => self.write_stdin(),
            Slot::Client(i) => {
                if revents & libc::POLLOUT != 0 {
                    self.clients[i].flush();
                }
                let hup = revents & (libc::POLLHUP | libc::POLLERR) != 0;
                if revents & libc::POLLIN != 0 {
                    let _ = self.read_client(i);
                } else if hup {
                    // The peer is gone: take what it sent before going (bounded by the
                    // socket buffer, so the stdin queue limit may be exceeded once).
                    while !self.clients[i].dead && self.read_client(i) {}
                    self.clients[i].dead = true;
                }
            }
        }
    }

    /// Drop finished clients and apply what their going implies.
    fn after_events(&mut self) {
        let mut i = 0;
        while i < self.clients.len() {
            let c = &self.clients[i];
            let done = c.dead
                || (c.closing && c.pending() == 0 && (self.deadline.is_some() || c.read_eof));
            if done {
                let c = self.clients.swap_remove(i);
                if let Mode::Attached { stdin: true, .. } = c.mode {
                    if !c.read_eof && self.cfg.open_stdin {
                        self.stdin_ended();
                    }
                }
            } else {
                i += 1;
            }
        }
        if self.stdin_close_pending && self.stdin_queue.is_empty() {
            self.close_stdin();
        }
    }

    // ---- the process ----

    fn reap(&mut self) {
        sys::drain_fd(&self.sigchld);
        while let Some((pid, status)) = sys::reap_one() {
            if pid == self.pid && self.exit.is_none() {
                let (code, signal) = sys::decode_status(status);
                let exit_code = self.start_error_code.unwrap_or(code);
                self.exit = Some(ExitStatus {
                    exit_code,
                    signal: if self.start_error_code.is_some() {
                        None
                    } else {
                        signal
                    },
                    oom_killed: false,
                    started_at: self
                        .started_at
                        .map(rfc3339_nano)
                        .unwrap_or_else(|| berth_types::time::ZERO_TIME.to_string()),
                    finished_at: rfc3339_nano(SystemTime::now()),
                });
                // Exited before `start`: already reaped, so the parked handle must not
                // try to kill and reap it again (the pid may be reused by now).
                if let Some(l) = self.launched.take() {
                    l.forget();
                }
            }
        }
    }

    /// Read one chunk of output from `stream`. Returns false when nothing more is
    /// available now (would block, EOF, or error).
    fn read_output(&mut self, stream: Stream) -> bool {
        let slot = match stream {
            Stream::Stdout => &mut self.io.stdout,
            Stream::Stderr => &mut self.io.stderr,
        };
        let Some(fd) = slot else { return false };
        let want = if self
            .clients
            .iter()
            .any(|c| matches!(c.mode, Mode::Attached { .. }))
        {
            ATTACHED_READ
        } else {
            OUTPUT_READ
        };
        match sys::read_fd(fd.as_raw_fd(), &mut self.buf[..want]) {
            Ok(0) => {
                *slot = None;
                false
            }
            Ok(n) => {
                let data = std::mem::take(&mut self.buf);
                self.output(stream, &data[..n]);
                self.buf = data;
                true
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                false
            }
            Err(e) => {
                // EIO on a pty master: every slave holder is gone.
                if e.raw_os_error() != Some(libc::EIO) {
                    crate::diag(&format!("reading {}: {e}", stream.as_str()));
                }
                *slot = None;
                false
            }
        }
    }

    fn output(&mut self, stream: Stream, data: &[u8]) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(stream, data) {
                if !self.log_error_reported {
                    crate::diag(&e.to_string());
                    self.log_error_reported = true;
                }
            }
        }
        let tty = self.cfg.tty;
        for c in &mut self.clients {
            let Mode::Attached { stdout, stderr, .. } = c.mode else {
                continue;
            };
            let wanted = match stream {
                Stream::Stdout => stdout,
                Stream::Stderr => stderr,
            };
            if !wanted || c.dead || c.closing {
                continue;
            }
            let ok = if tty {
                c.send(data)
            } else {
                let id = if stream == Stream::Stdout {
                    STREAM_STDOUT
                } else {
                    STREAM_STDERR
                };
                c.send_frame(id, data)
            };
            if !ok {
                crate::diag("dropping an attach client that fell behind");
            }
        }
    }

    fn write_stdin(&mut self) {
        let Some(fd) = &self.io.stdin else {
            self.stdin_queue.clear();
            return;
        };
        match sys::write_fd(fd.as_raw_fd(), &self.stdin_queue) {
            Ok(n) => {
                self.stdin_queue.drain(..n);
            }
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => {
                // EPIPE: the process closed its stdin; input has nowhere to go.
                self.stdin_queue.clear();
                self.io.stdin = None;
            }
        }
    }

    /// An attached stdin client ended its input (EOF or gone).
    /// Docker's rule (no tty and `stdin_once`): the process's stdin closes once queued
    /// input is written. Returns whether it applies; otherwise the attach session of the
    /// client whose input ended is over (see `read_client`).
    fn stdin_ended(&mut self) -> bool {
        if self.cfg.stdin_once && !self.cfg.tty {
            self.stdin_close_pending = true;
            return true;
        }
        false
    }

    /// Stop feeding the process: close our end of its stdin pipe. With a pty this only
    /// stops accepting input (the process still holds the terminal), as Docker does.
    fn close_stdin(&mut self) {
        self.stdin_close_pending = false;
        self.io.stdin = None;
    }

    // ---- clients ----

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        loop {
            match l.accept() {
                Ok((stream, _)) => match Client::new(stream) {
                    Ok(c) => self.clients.push(c),
                    Err(e) => crate::diag(&format!("accept: {e}")),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    crate::diag(&format!("accept: {e}"));
                    return;
                }
            }
        }
    }

    /// Read once from client `i`; true when bytes came in.
    fn read_client(&mut self, i: usize) -> bool {
        let mut buf = std::mem::take(&mut self.buf);
        // Client input in the pieces it always came in (the stdin queue's bound).
        let r = self.clients[i].read_some(&mut buf[..ATTACHED_READ]);
        let got = matches!(r, Ok(n) if n > 0);
        match r {
            Ok(0) => {
                let c = &mut self.clients[i];
                c.read_eof = true;
                match c.mode {
                    Mode::Attached { stdin, .. } => {
                        // Input that ends without closing the process's stdin ends the
                        // whole attach session (Docker closes its output streams too).
                        if stdin && self.cfg.open_stdin && !self.stdin_ended() {
                            let c = &mut self.clients[i];
                            c.closing = true;
                            c.flush();
                        }
                    }
                    Mode::Requests => {
                        c.closing = true;
                        // A last request without its newline still counts.
                        if !c.inbuf.is_empty() {
                            c.inbuf.push(b'\n');
                            self.handle_lines(i);
                        }
                    }
                    Mode::Waiting => {}
                }
            }
            Ok(n) => {
                if let Mode::Attached { stdin, .. } = self.clients[i].mode {
                    self.client_input(stdin, &buf[..n]);
                } else {
                    self.clients[i].inbuf.extend_from_slice(&buf[..n]);
                    self.handle_lines(i);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.clients[i].dead = true,
        }
        self.buf = buf;
        got
    }

    /// Bytes from an attached client: the process's input when it may have it.
    fn client_input(&mut self, stdin: bool, data: &[u8]) {
        if stdin && self.cfg.open_stdin && self.io.stdin.is_some() && !self.stdin_close_pending {
            self.stdin_queue.extend_from_slice(data);
            self.write_stdin();
        }
    }

    fn handle_lines(&mut self, i: usize) {
        while self.clients[i].mode != Mode::Waiting {
            if let Mode::Attached { stdin, .. } = self.clients[i].mode {
                // Bytes sent right behind the attach request are already input.
                let rest = std::mem::take(&mut self.clients[i].inbuf);
                if !rest.is_empty() {
                    self.client_input(stdin, &rest);
                }
                return;
            }
            let Some(line) = self.clients[i].next_line() else {
                if self.clients[i].inbuf.len() > MAX_LINE {
                    self.clients[i].dead = true;
                }
                return;
            };
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let reply = match serde_json::from_slice::<Request>(&line) {
                Ok(req) => self.request(i, req),
                Err(e) => Some(Reply::err(format!("invalid request: {e}"))),
            };
            if let Some(reply) = reply {
                send_reply(&mut self.clients[i], &reply);
            }
        }
    }

    /// Handle one request; `None` when the reply comes later (wait).
    fn request(&mut self, i: usize, req: Request) -> Option<Reply> {
        let not_running = not_running(&self.cfg.id);
        Some(match req {
            Request::State => self.state_reply(),
            Request::Start => match self.launched.take() {
                Some(l) => {
                    self.started_at = Some(SystemTime::now());
                    match l.start() {
                        Ok(pid) => Reply {
                            pid: Some(pid),
                            ..Reply::ok()
                        },
                        Err(e) => {
                            self.start_error_code = Some(e.exit_code.unwrap_or(128));
                            Reply {
                                exit_code: e.exit_code,
                                ..Reply::err(e.message)
                            }
                        }
                    }
                }
                None if self.exit.is_some() => not_running,
                None => Reply::err(format!("container {} is already running", self.cfg.id)),
            },
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                if self.exit.is_some() {
                    Reply::err("You cannot attach to a stopped container, start it first")
                } else {
                    send_reply(&mut self.clients[i], &Reply::ok());
                    self.clients[i].mode = Mode::Attached {
                        stdin,
                        stdout,
                        stderr,
                    };
                    return None;
                }
            }
            Request::Resize { height, width } => match &self.io.master {
                Some(m) => match pty::resize(m, height, width) {
                    Ok(()) => Reply::ok(),
                    Err(e) => Reply::err(format!("resize: {e}")),
                },
                None => Reply::ok(),
            },
            Request::Kill { signal, all } => {
                if self.exit.is_some() {
                    not_running
                } else {
                    match cgroup::kill(&self.cfg.task, self.pid, signal, all) {
                        Ok(()) => Reply::ok(),
                        Err(e) => Reply::err(format!("cannot kill container {}: {e}", self.cfg.id)),
                    }
                }
            }
            // Reaped but not yet recorded (the exit and this request seen in the same
            // round): wait for `finish`, which answers every waiting client.
            Request::Wait => match &self.exit {
                Some(_) if self.exit_recorded => self.state_reply(),
                _ => {
                    self.clients[i].mode = Mode::Waiting;
                    return None;
                }
            },
            Request::CloseStdin => {
                self.stdin_close_pending = true;
                Reply::ok()
            }
        })
    }

    fn state_reply(&self) -> Reply {
        Reply {
            pid: Some(self.pid),
            running: self.started_at.is_some()
                && self.exit.is_none()
                && self.start_error_code.is_none(),
            exit: self.exit.clone(),
            ..Reply::ok()
        }
    }

    // ---- the end ----

    /// The process has exited: record everything, then let clients finish.
    fn finish(&mut self) {
        // Output written before the exit is already in the pipes; other processes may
        // hold them open too, so take what is readable and stop.
        for stream in [Stream::Stdout, Stream::Stderr] {
            let mut reads = 0;
            while reads < MAX_DRAIN_READS && self.read_output(stream) {
                reads += 1;
            }
        }
        self.io.stdout = None;
        self.io.stderr = None;
        self.io.stdin = None;
        self.stdin_queue.clear();
        if let Some(log) = &mut self.log {
            if let Err(e) = log.flush_partial() {
                crate::diag(&e.to_string());
            }
        }
        let mut exit = self.exit.clone().unwrap_or_default();
        exit.oom_killed = cgroup::oom_killed(&self.cfg.task);
        self.exit = Some(exit.clone());
        // The file must outlive a machine crash only when no engine is waiting for the
        // exit: a waiting engine records the exit durably itself, and the fsync (ms on
        // a busy disk) would hold up its answer and every `run --rm`.
        let engine_waits = self.clients.iter().any(|c| c.mode == Mode::Waiting);
        self.write_exit_file(&exit, engine_waits);
        // Socket and cgroup go before anyone hears of the exit, as a restart may reuse
        // both; unless nothing will start this container again (`exit_reply_first`).
        let reply_first = self.cfg.exit_reply_first && engine_waits;
        if !reply_first {
            self.close_down();
        }
        self.exit_recorded = true;
        let reply = self.state_reply();
        for i in 0..self.clients.len() {
            if self.clients[i].mode == Mode::Requests && !self.clients[i].read_eof {
                // Answer what was already sent; the client may go on asking until it
                // closes or the grace period ends.
                let _ = self.read_client(i);
                continue;
            }
            let c = &mut self.clients[i];
            if c.mode == Mode::Waiting {
                send_reply(c, &reply);
            }
            c.closing = true;
            if c.pending() == 0 {
                c.flush();
            }
        }
        if reply_first {
            self.close_down();
        }
        self.deadline = Some(Instant::now() + FLUSH_GRACE);
    }

    /// Writes `exit.json` (durably only when no engine waits for the exit).
    fn write_exit_file(&self, exit: &ExitStatus, engine_waits: bool) {
        let write = if engine_waits {
            sys::write_replace_nosync
        } else {
            sys::write_atomic
        };
        match serde_json::to_vec(exit) {
            Ok(json) => {
                if let Err(e) = write(std::path::Path::new(&self.cfg.exit_file), &json) {
                    crate::diag(&format!("writing {}: {e}", self.cfg.exit_file));
                }
            }
            Err(e) => crate::diag(&format!("encoding the exit status: {e}")),
        }
    }

    /// Stops accepting and removes the control socket and the container's cgroup.
    /// Connections already made are still served during the grace period.
    fn close_down(&mut self) {
        self.accept();
        self.listener = None;
        let _ = std::fs::remove_file(&self.socket_path);
        if matches!(self.cfg.task, Task::Container(_)) {
            cgroup::destroy(&self.cfg.task);
        }
    }
}

fn not_running(id: &str) -> Reply {
    Reply::err(format!("container {id} is not running"))
}

fn send_reply(c: &mut Client, reply: &Reply) {
    match serde_json::to_vec(reply) {
        Ok(mut line) => {
            line.push(b'\n');
            c.send(&line);
        }
        Err(e) => crate::diag(&format!("encoding a reply: {e}")),
    }
}
