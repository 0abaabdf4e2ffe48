//! Creating the process: fork, namespaces, the container setup, parking before exec.
//!
//! ```text
//! caller ──fork──▶ stage 1 ──clone(CLONE_PARENT)──▶ stage 2 = container process
//!   │  joins/unshares namespaces       │ rootfs, pivot_root, [pty], hostname, sysctls,
//!   │  (parent adds it to the cgroup)  │ user, lookup, rlimits, stdio → [PTY] → caps,
//!   └◀───────── PID ──────────────────┘ seccomp → READY, parked (release byte) → execve
//! ```
//! Stage 1 exists so the container process can start inside fresh namespaces (a new pid
//! namespace only applies to children) while still being a direct child of the caller
//! (CLONE_PARENT), which reaps it with `waitpid`. Stage 1 is moved into the cgroup
//! before it clones, so the container never runs outside it. Errors in either stage are
//! sent to the caller over the socket (see `ipc`) and returned by `create`.
//!
//! Fast path (most containers: no user namespace, no namespace joined but a network
//! one, a single-threaded caller such as the shim): no stage 1. The caller creates the
//! container process directly with `clone3(CLONE_NEWPID | CLONE_INTO_CGROUP)`; the
//! process joins its v1 cgroups, unshares the other namespaces itself and goes on as
//! stage 2. One process creation, exit and reap less on every start.
//!
//! With [`ProcessIo::Pty`] stage 2 opens the terminal inside the container (`console`)
//! and sends the master over the same socket before READY.

use crate::caps;
use crate::cgroup::{self, Joined};
use crate::console::{self, Console};
use crate::error::RuntimeError;
use crate::ipc;
use crate::lookup;
use crate::rootfs::{self, CgroupEntry, Extras};
use crate::seccomp;
use crate::sys::Real;
use crate::user::{self, ExecUser};
use crate::{Created, ProcessIo, Stdio};
use berth_types::spec::{ContainerSpec, ExecSpec, NsMode, ProcessSpec};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

/// What to create: a container's first process or an exec into a running one.
#[derive(Clone, Copy)]
pub(crate) enum Task<'a> {
    Container(&'a ContainerSpec),
    Exec(&'a ExecSpec),
}

impl<'a> Task<'a> {
    fn process(&self) -> &'a ProcessSpec {
        match self {
            Task::Container(s) => &s.process,
            Task::Exec(e) => &e.process,
        }
    }

    fn privileged(&self) -> bool {
        match self {
            Task::Container(s) => s.privileged,
            Task::Exec(e) => e.privileged,
        }
    }

    fn new_userns(&self) -> bool {
        matches!(self, Task::Container(s) if s.namespaces.user == NsMode::New)
    }
}

/// Everything the children need, computed in the caller before forking.
struct Plan<'a> {
    task: Task<'a>,
    caps: u64,
    filter: Option<seccomp::Program>,
    cgroup_entries: Vec<CgroupEntry>,
    /// How stage 1 joins the cgroup (see `cgroup`).
    cgroup_join: cgroup::JoinPlan,
    /// Stage 1 was forked straight into the v2 cgroup (`CLONE_INTO_CGROUP`).
    v2_joined: bool,
    /// The caller's streams; `None` when the process opens its own pty.
    stdio: Option<[RawFd; 3]>,
    sock: RawFd,
    release: RawFd,
    status: RawFd,
}

/// Create the process for `task`, parked before `execve`.
pub(crate) fn spawn(
    task: Task<'_>,
    io: ProcessIo,
    on_pid: &mut dyn FnMut(i32),
) -> Result<Created, RuntimeError> {
    let process = task.process();
    if process.args.is_empty() {
        return Err(RuntimeError::Other("no command specified".into()));
    }
    let stdio = match io {
        ProcessIo::Stdio(s) => Some(s),
        ProcessIo::Pty if process.terminal => None,
        ProcessIo::Pty => {
            return Err(RuntimeError::Other(
                "a pty was asked for a process without a terminal".into(),
            ))
        }
    };
    // Privileged gets every capability. Either way the process can only receive what
    // the caller's own bounding set holds (a sandboxed caller cannot grant more).
    let wanted = if task.privileged() {
        caps::all_mask()
    } else {
        caps::mask_of(&process.capabilities)?
    };
    let caps = wanted & caps::current_bounding();
    let cap_names: Vec<String> = caps::NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| caps & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let filter = match (&process.seccomp_profile, task.privileged()) {
        (Some(path), false) => Some(seccomp::load_profile(path, &cap_names)?),
        _ => None,
    };
    let cg = match task {
        Task::Container(s) => cgroup::create(s)?,
        Task::Exec(e) => cgroup::open(&e.cgroup_path)?,
    };
    let result = spawn_with(task, stdio, caps, filter, cg.as_ref(), on_pid).and_then(|created| {
        // On error `created` is dropped, which kills and reaps the process.
        if let Some(c) = &cg {
            c.finish()?;
        }
        Ok(created)
    });
    if result.is_err() {
        if let Some(c) = &cg {
            c.cleanup();
        }
    }
    result
}

fn sys_err(step: &'static str) -> impl FnOnce(io::Error) -> RuntimeError {
    move |e| RuntimeError::sys(step, e)
}

fn spawn_with(
    task: Task<'_>,
    stdio: Option<Stdio>,
    caps: u64,
    filter: Option<seccomp::Program>,
    cg: Option<&Joined>,
    on_pid: &mut dyn FnMut(i32),
) -> Result<Created, RuntimeError> {
    let (psock, csock) = ipc::socketpair().map_err(sys_err("socketpair"))?;
    // The release channel is a socket so that releasing a dead child cannot SIGPIPE us.
    let (rel_w, rel_r) = ipc::socketpair().map_err(sys_err("socketpair"))?;
    let (st_r, st_w) = ipc::pipe().map_err(sys_err("pipe"))?;
    let mut plan = Plan {
        task,
        caps,
        filter,
        cgroup_entries: match (task, cg) {
            (Task::Container(_), Some(c)) => c.entries(),
            _ => Vec::new(),
        },
        cgroup_join: match cg {
            Some(c) => c.join_plan()?,
            None => cgroup::JoinPlan::default(),
        },
        v2_joined: false,
        stdio: stdio.as_ref().map(|s| {
            [
                s.stdin.as_raw_fd(),
                s.stdout.as_raw_fd(),
                s.stderr.as_raw_fd(),
            ]
        }),
        sock: csock.as_raw_fd(),
        release: rel_r.as_raw_fd(),
        status: st_w.as_raw_fd(),
    };
    if single_stage(task) {
        let pid_ns = matches!(task, Task::Container(s) if s.namespaces.pid == NsMode::New);
        let flags = if pid_ns { libc::CLONE_NEWPID as u64 } else { 0 };
        if let Some((pid, joined)) = raw_fork(flags, plan.cgroup_join.v2_dir.as_deref()) {
            plan.v2_joined = joined;
            if pid == 0 {
                stage_single(&plan);
            }
            drop((csock, rel_r, st_w, stdio));
            if pid > 0 {
                on_pid(pid);
            }
            let (container_pid, master) = handshake(&psock, pid, &plan, true, on_pid)?;
            return Ok(Created::new(container_pid, rel_w, st_r, master));
        }
    }
    let pid = match raw_fork(0, plan.cgroup_join.v2_dir.as_deref()) {
        Some((pid, joined)) => {
            plan.v2_joined = joined;
            pid
        }
        // SAFETY: fork(2). The caller is single-threaded (documented requirement); even
        // when it is not (tests), glibc's fork leaves malloc usable in the child, and the
        // child only runs this crate's code and then execs or _exits.
        None => unsafe { libc::fork() },
    };
    if pid < 0 {
        return Err(RuntimeError::last_os("fork"));
    }
    if pid == 0 {
        stage1(&plan);
    }
    drop((csock, rel_r, st_w, stdio));
    let (container_pid, master) = handshake(&psock, pid, &plan, false, on_pid)?;
    Ok(Created::new(container_pid, rel_w, st_r, master))
}

/// Whether the container process can be created without stage 1: a container task
/// without a new user namespace (its id maps must be written before anything else is
/// created) and without namespaces to join (joining a pid namespace only applies to
/// children).
fn single_stage(task: Task) -> bool {
    let Task::Container(spec) = task else {
        return false;
    };
    let n = &spec.namespaces;
    // A network namespace can be joined by the process itself (it applies to the
    // joiner at once, unlike a pid namespace): the engine hands out spare ones made
    // ahead of time this way.
    n.user == NsMode::Host
        && [&n.mount, &n.uts, &n.ipc, &n.pid, &n.cgroup]
            .iter()
            .all(|m| !matches!(m, NsMode::Join(_)))
}

/// Fork with `clone3`: `flags` (e.g. CLONE_NEWPID) and, when `v2_dir` is given, straight
/// into that v2 cgroup (`CLONE_INTO_CGROUP`, which spares the global lock a later
/// `cgroup.procs` write takes). Only when this process has a single thread: a raw clone
/// does not run glibc's fork handlers, so with other threads around (tests) malloc's
/// locks could be copied held. `None` when not done (other threads, or a kernel
/// refusing it): the caller falls back. `Some((pid, joined_v2))` with pid as fork
/// returns it (0 in the child).
fn raw_fork(flags: u64, v2_dir: Option<&Path>) -> Option<(i32, bool)> {
    if flags == 0 && v2_dir.is_none() {
        return None;
    }
    let single = std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1);
    if !single {
        return None;
    }
    let dir_fd = v2_dir
        .and_then(|d| CString::new(std::os::unix::ffi::OsStrExt::as_bytes(d.as_os_str())).ok())
        .map(|c| {
            // SAFETY: open a directory by a NUL-terminated path; closed below.
            unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            }
        })
        .filter(|&fd| fd >= 0);
    let clone = |flags: u64, cgroup: Option<i32>| -> i64 {
        let args = CloneArgs {
            flags: flags | cgroup.map_or(0, |_| CLONE_INTO_CGROUP),
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cgroup.map_or(0, |fd| fd as u64),
            ..CloneArgs::default()
        };
        // SAFETY: clone3 without CLONE_VM behaves like fork: the child runs on its own
        // copy of this single-threaded process (checked above), as stage 2's raw clone
        // does.
        unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        }
    };
    let mut pid = clone(flags, dir_fd);
    let mut joined = dir_fd.is_some();
    if pid < 0 && dir_fd.is_some() && flags != 0 {
        // Maybe only the cgroup was refused: the child then joins by cgroup.procs.
        pid = clone(flags, None);
        joined = false;
    }
    if pid != 0 {
        if let Some(fd) = dir_fd {
            // SAFETY: the parent closes its own descriptor (the child closes its copy
            // with every other descriptor it does not need).
            unsafe { libc::close(fd) };
        }
    }
    (pid >= 0).then_some((pid as i32, joined))
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), a clone3-only flag beyond 32 bits.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` (version 2, with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Drive the setup from the caller's side; returns the container process's pid and,
/// when it opened its own terminal, the pty master.
fn handshake(
    sock: &OwnedFd,
    stage1: i32,
    plan: &Plan,
    single: bool,
    on_pid: &mut dyn FnMut(i32),
) -> Result<(i32, Option<OwnedFd>), RuntimeError> {
    // Without stage 1 the process we forked is the container process.
    let mut child: Option<i32> = single.then_some(stage1);
    let mut ready = false;
    let mut master: Option<OwnedFd> = None;
    let mut error: Option<RuntimeError> = None;
    loop {
        let msg = ipc::recv_msg(sock.as_raw_fd()).map(|m| m.map(|m| (m.tag, m.payload, m.fd)));
        match msg {
            Ok(Some((ipc::SETUP, _, _))) => {
                let r = (|| {
                    if plan.task.new_userns() {
                        write_id_maps(stage1, plan)?;
                    }
                    ipc::send(sock.as_raw_fd(), ipc::GO, &[])
                        .map_err(sys_err("sync with container init"))
                })();
                if let Err(e) = r {
                    error.get_or_insert(e);
                    kill(stage1);
                }
            }
            Ok(Some((ipc::PID, p, _))) => {
                child = String::from_utf8_lossy(&p).parse().ok();
                if let Some(pid) = child.filter(|p| *p > 0) {
                    on_pid(pid);
                }
            }
            Ok(Some((ipc::PTY, _, fd))) => master = fd,
            Ok(Some((ipc::READY, _, _))) => ready = true,
            Ok(Some((ipc::ERROR, p, _))) => {
                error.get_or_insert(RuntimeError::decode(&p));
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                error.get_or_insert(RuntimeError::sys("reading from container init", e));
                break;
            }
        }
        if ready && child.is_some() && error.is_none() {
            break;
        }
    }
    if !single {
        reap(stage1);
    }
    if ready && plan.stdio.is_none() && master.is_none() && error.is_none() {
        error = Some(RuntimeError::Other(
            "container init did not send its terminal".into(),
        ));
    }
    match (error, child, ready) {
        (None, Some(pid), true) => Ok((pid, master)),
        (e, pid, _) => {
            if let Some(pid) = pid {
                kill(pid);
                reap(pid);
            }
            Err(e.unwrap_or_else(|| {
                RuntimeError::Other("container init exited before it was ready".into())
            }))
        }
    }
}

fn kill(pid: i32) {
    // SAFETY: signalling a pid we created and have not reaped yet.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Wait for a child we own (ECHILD when the caller ignores SIGCHLD is fine).
pub(crate) fn reap(pid: i32) {
    let mut st = 0;
    loop {
        // SAFETY: waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn write_id_maps(pid: i32, plan: &Plan) -> Result<(), RuntimeError> {
    let Task::Container(spec) = plan.task else {
        return Ok(());
    };
    let fmt = |m: &[(u32, u32, u32)]| -> String {
        if m.is_empty() {
            "0 0 4294967295\n".to_string()
        } else {
            m.iter().map(|(c, h, n)| format!("{c} {h} {n}\n")).collect()
        }
    };
    std::fs::write(
        format!("/proc/{pid}/uid_map"),
        fmt(&spec.namespaces.uid_map),
    )
    .map_err(sys_err("writing uid_map"))?;
    std::fs::write(
        format!("/proc/{pid}/gid_map"),
        fmt(&spec.namespaces.gid_map),
    )
    .map_err(sys_err("writing gid_map"))
}

// ---------------------------------------------------------------- stage 1 (child)

fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and skips the caller's atexit handlers and buffers,
    // which belong to the caller's process, not to this forked copy.
    unsafe { libc::_exit(code) }
}

/// Run `f` in a forked child: a panic must never unwind into the caller's code (which
/// would then run twice); it is reported and the child exits.
fn child_guard(plan: &Plan, f: impl FnOnce() -> Result<(), RuntimeError>) -> ! {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => exit_now(0),
        Ok(Err(e)) => {
            ipc::send_error(plan.sock, &e);
            exit_now(1)
        }
        Err(_) => {
            ipc::send_error(
                plan.sock,
                &RuntimeError::Other("container init panicked".into()),
            );
            exit_now(1)
        }
    }
}

fn stage1(plan: &Plan) -> ! {
    child_guard(plan, || stage1_inner(plan))
}

/// Close every descriptor but `keep` (the caller's other files must not leak in).
fn close_other_fds(keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|&f| f > 2).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut next: u32 = 3;
    for fd in keep {
        let fd = fd as u32;
        if fd > next {
            // SAFETY: closes only descriptors we do not use.
            unsafe { libc::close_range(next, fd - 1, 0) };
        }
        next = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::close_range(next, u32::MAX, 0) };
}

/// One namespace to enter.
enum NsOp {
    New,
    Join(OwnedFd),
}

impl NsOp {
    fn fd(&self) -> Option<RawFd> {
        match self {
            NsOp::New => None,
            NsOp::Join(fd) => Some(fd.as_raw_fd()),
        }
    }
}

const NS_KINDS: [(&str, libc::c_int); 7] = [
    ("user", libc::CLONE_NEWUSER),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("net", libc::CLONE_NEWNET),
    ("pid", libc::CLONE_NEWPID),
    ("cgroup", libc::CLONE_NEWCGROUP),
    ("mnt", libc::CLONE_NEWNS),
];

fn open_ns(path: &str) -> Result<OwnedFd, RuntimeError> {
    let c = CString::new(path)
        .map_err(|_| RuntimeError::Other(format!("bad namespace path {path:?}")))?;
    // SAFETY: valid C string; we own the returned descriptor.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(RuntimeError::last_os(format!("open namespace {path}")));
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The namespace operations in kernel-friendly order (user first, mnt last).
fn ns_plan(task: Task) -> Result<Vec<(libc::c_int, NsOp)>, RuntimeError> {
    let mut out = Vec::new();
    match task {
        Task::Container(spec) => {
            let n = &spec.namespaces;
            for (kind, flag) in NS_KINDS {
                let mode = match kind {
                    "user" => &n.user,
                    "ipc" => &n.ipc,
                    "uts" => &n.uts,
                    "net" => &n.net,
                    "pid" => &n.pid,
                    "cgroup" => &n.cgroup,
                    _ => &n.mount,
                };
                match mode {
                    NsMode::Host => {}
                    NsMode::New => out.push((flag, NsOp::New)),
                    NsMode::Join(path) => out.push((flag, NsOp::Join(open_ns(path)?))),
                }
            }
        }
        Task::Exec(e) => {
            let pid = e.target_pid;
            if pid <= 0 || std::fs::metadata(format!("/proc/{pid}")).is_err() {
                return Err(RuntimeError::Other(format!(
                    "container {} is not running",
                    e.container_id
                )));
            }
            for (kind, flag) in NS_KINDS {
                let theirs = format!("/proc/{pid}/ns/{kind}");
                if same_file(&theirs, &format!("/proc/self/ns/{kind}")) {
                    continue;
                }
                out.push((flag, NsOp::Join(open_ns(&theirs)?)));
            }
        }
    }
    Ok(out)
}

fn setns(fd: &OwnedFd, flag: libc::c_int) -> Result<(), RuntimeError> {
    // SAFETY: setns on a namespace descriptor we opened.
    if unsafe { libc::setns(fd.as_raw_fd(), flag) } < 0 {
        return Err(RuntimeError::last_os(format!("setns {}", ns_name(flag))));
    }
    Ok(())
}

fn ns_name(flag: libc::c_int) -> &'static str {
    NS_KINDS
        .iter()
        .find(|(_, f)| *f == flag)
        .map_or("?", |(k, _)| k)
}

/// Stage 1 moves itself into the cgroup (see `cgroup`), before any namespace changes:
/// the cgroup namespace it may unshare later is rooted where it then is.
fn join_cgroup(plan: &Plan) -> Result<(), RuntimeError> {
    let j = &plan.cgroup_join;
    for f in &j.tasks {
        cgroup::join_self(f).map_err(sys_err("joining cgroup"))?;
    }
    if let (Some(f), false) = (&j.v2_procs, plan.v2_joined) {
        match cgroup::join_self(f) {
            Err(e) if j.v2_required => return Err(RuntimeError::sys("joining cgroup", e)),
            _ => {}
        }
    }
    Ok(())
}

fn stage1_inner(plan: &Plan) -> Result<(), RuntimeError> {
    default_handlers();
    // Namespace files are opened first: a path may name a descriptor inherited for the
    // purpose (`/proc/self/fd/<n>`, a spare network namespace from the engine).
    let ops = ns_plan(plan.task)?;
    let mut keep = vec![plan.sock, plan.release, plan.status];
    keep.extend(plan.stdio.iter().flatten());
    keep.extend(ops.iter().filter_map(|(_, op)| op.fd()));
    close_other_fds(&keep);
    join_cgroup(plan)?;

    // The user namespace comes first: it owns everything created after it.
    let mut userns_new = false;
    for (flag, op) in ops.iter().filter(|(f, _)| *f == libc::CLONE_NEWUSER) {
        match op {
            NsOp::Join(fd) => setns(fd, *flag)?,
            NsOp::New => {
                // SAFETY: plain unshare in this single-threaded child.
                if unsafe { libc::unshare(libc::CLONE_NEWUSER) } < 0 {
                    return Err(RuntimeError::last_os("unshare user namespace"));
                }
                userns_new = true;
            }
        }
    }
    // The caller writes id maps and moves us into the cgroup, then says GO.
    ipc::send(plan.sock, ipc::SETUP, &[]).map_err(sys_err("sync with parent"))?;
    match ipc::recv(plan.sock) {
        Ok(Some((ipc::GO, _))) => {}
        _ => exit_now(1),
    }
    if userns_new {
        // SAFETY: become the namespace's root (mapped by the caller).
        unsafe {
            if libc::setresgid(0, 0, 0) < 0 || libc::setresuid(0, 0, 0) < 0 {
                return Err(RuntimeError::last_os("become root in user namespace"));
            }
        }
    }
    let mut unshare_flags = 0;
    let mut mnt_join = None;
    for (flag, op) in &ops {
        if *flag == libc::CLONE_NEWUSER {
            continue;
        }
        match op {
            NsOp::New => unshare_flags |= flag,
            // Joining the mount namespace changes our root: do it last.
            NsOp::Join(fd) if *flag == libc::CLONE_NEWNS => mnt_join = Some(fd),
            NsOp::Join(fd) => setns(fd, *flag)?,
        }
    }
    if let Some(fd) = mnt_join {
        setns(fd, libc::CLONE_NEWNS)?;
    }
    // SAFETY: plain unshare in this single-threaded child.
    if unshare_flags != 0 && unsafe { libc::unshare(unshare_flags) } < 0 {
        return Err(RuntimeError::last_os("unshare namespaces"));
    }
    drop(ops);

    // SAFETY: clone without CLONE_VM behaves like fork: the child runs on its own copy
    // of this single-threaded process. CLONE_PARENT makes it the caller's child.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(RuntimeError::last_os("clone container process"));
    }
    if pid == 0 {
        stage2(plan);
    }
    ipc::send(plan.sock, ipc::PID, pid.to_string().as_bytes()).map_err(sys_err("sync with parent"))
}

// ---------------------------------------------------------------- stage 2 (container)

/// The process, fully resolved, waiting to exec.
struct Ready {
    exe: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    user: ExecUser,
    arg0: String,
}

/// The container process created directly by the caller (see the module docs): what
/// stage 1 would have done (dispositions, descriptors, cgroup, the namespaces other than
/// pid), then stage 2's work.
fn stage_single(plan: &Plan) -> ! {
    child_guard(plan, || {
        default_handlers();
        // Opened first, as in stage 1.
        let ops = ns_plan(plan.task)?;
        let mut keep = vec![plan.sock, plan.release, plan.status];
        keep.extend(plan.stdio.iter().flatten());
        keep.extend(ops.iter().filter_map(|(_, op)| op.fd()));
        close_other_fds(&keep);
        join_cgroup(plan)?;
        let mut flags = 0;
        for (flag, op) in ops {
            match op {
                NsOp::New if flag != libc::CLONE_NEWPID => flags |= flag,
                // Only a network namespace gets here (see `single_stage`).
                NsOp::Join(fd) => setns(&fd, flag)?,
                NsOp::New => {}
            }
        }
        // SAFETY: plain unshare in this single-threaded child.
        if flags != 0 && unsafe { libc::unshare(flags) } < 0 {
            return Err(RuntimeError::last_os("unshare namespaces"));
        }
        let ready = prepare(plan)?;
        secure(plan, &ready)?;
        park(plan, ready)
    })
}

fn stage2(plan: &Plan) -> ! {
    child_guard(plan, || {
        let ready = prepare(plan)?;
        secure(plan, &ready)?;
        park(plan, ready)
    })
}

/// Set IFF_UP on `lo` in the current network namespace.
fn loopback_up() -> Result<(), RuntimeError> {
    let step = || "bring up the loopback interface".to_string();
    // SAFETY: a plain socket used only for the interface ioctls below, closed on every path.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(RuntimeError::sys(step(), std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is a plain C struct; zeroed is a valid value, and the name fits.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the flags member of `req`, which
    // lives for the duration of both calls.
    let rc = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            -1
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            libc::ioctl(fd, libc::SIOCSIFFLAGS, &req)
        }
    };
    let err = std::io::Error::last_os_error();
    // SAFETY: closing the socket opened above.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(RuntimeError::sys(step(), err));
    }
    Ok(())
}

fn write_file(path: &str, value: &str, step: String) -> Result<(), RuntimeError> {
    std::fs::write(path, value).map_err(|e| RuntimeError::sys(step, e))
}

fn prepare(plan: &Plan) -> Result<Ready, RuntimeError> {
    let process = plan.task.process();
    let cwd = if process.cwd.is_empty() {
        "/"
    } else {
        process.cwd.as_str()
    };
    // SAFETY: setsid/umask have no memory-safety preconditions. setsid fails only when
    // we already lead a group, which a fresh clone never does.
    unsafe {
        libc::setsid();
        libc::umask(0o022);
    }
    // With ProcessIo::Pty the process opens its terminal itself (see `console`).
    let own_pty = plan.stdio.is_none();
    let dev = Path::new("/dev");
    let mut console: Option<Console> = None;
    if let Task::Container(spec) = plan.task {
        let new_mnt = spec.namespaces.mount == NsMode::New;
        if new_mnt {
            let extras = Extras {
                console: match plan.stdio {
                    Some(fds) if process.terminal => console_path(fds[0]),
                    _ => None,
                },
                cgroups: plan.cgroup_entries.clone(),
                userns: spec.namespaces.user == NsMode::New,
                privileged: spec.privileged,
            };
            let root = rootfs::prepare(&Real, spec, &extras)?;
            rootfs::pivot(&Real, &root)?;
            if own_pty {
                // /dev/pts is the container's own devpts instance from here on.
                let c = console::open(dev, process.console_size)?;
                console::bind_as_dev_console(&Real, dev, &c)?;
                console = Some(c);
            }
        }
        if spec.namespaces.uts == NsMode::New {
            set_names(spec)?;
        }
        if spec.namespaces.net != NsMode::Host {
            // A fresh network namespace starts with `lo` down (also a spare one made
            // ahead by the engine); Docker's loopback-only containers (`--network
            // none`) have it up. Setting it on a shared one changes nothing.
            loopback_up()?;
        }
        for (k, v) in &spec.sysctls {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            write_file(&path, v, format!("write sysctl key {k}"))?;
        }
        if let Some(adj) = spec.oom_score_adj {
            write_file(
                "/proc/self/oom_score_adj",
                &adj.to_string(),
                "set oom_score_adj".into(),
            )?;
        }
        // Docker creates a missing working directory (before the root goes read-only).
        if std::fs::symlink_metadata(cwd).is_err() {
            std::fs::create_dir_all(cwd)
                .map_err(|e| RuntimeError::sys(format!("mkdir {cwd}"), e))?;
        }
        if new_mnt {
            rootfs::finish(&Real, Path::new("/"), spec)?;
        }
    }

    if own_pty && console.is_none() {
        // An exec: joining the mount namespace made the container's root our root, so
        // /dev/ptmx is the container's. (Or a container without its own mount
        // namespace: the namespace's /dev, and no /dev/console to take over.)
        console = Some(console::open(dev, process.console_size)?);
    }

    let user = user::resolve_in_container(&process.user, &process.additional_groups)?;
    let mut env = process.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    std::env::set_current_dir(cwd).map_err(|e| {
        RuntimeError::Other(format!(
            "chdir to cwd (\"{cwd}\") set in config.json failed: {}",
            crate::error::errno_text(&e)
        ))
    })?;
    let arg0 = process.args[0].clone();
    let exe = lookup::find_executable(&arg0, &env, Path::new(cwd))?;
    for r in &process.rlimits {
        set_rlimit(r)?;
    }
    let fds = match (&console, plan.stdio) {
        (Some(c), _) => {
            console::give_to(c, user.uid)?;
            [c.slave.as_raw_fd(); 3]
        }
        (None, Some(fds)) => fds,
        // `own_pty` without a console was handled above.
        (None, None) => return Err(RuntimeError::Other("no stdio for the process".into())),
    };
    setup_stdio(fds)?;
    if process.terminal {
        // SAFETY: ioctls on fd 0 (the pty slave) with the argument types they expect.
        unsafe {
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(RuntimeError::last_os("set controlling terminal"));
            }
        }
    }
    if let Some(c) = console {
        // The caller gets the master now, before READY; our copies of both ends close
        // with `c` (the slave stays on 0, 1 and 2).
        ipc::send_fd(plan.sock, ipc::PTY, &[], c.master.as_raw_fd())
            .map_err(sys_err("send the pty master"))?;
    } else if process.terminal {
        // A caller-given pty: its size is set here (console::open did it otherwise).
        if let Some((h, w)) = process.console_size {
            let ws = libc::winsize {
                ws_row: h,
                ws_col: w,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCSWINSZ reads a winsize we own.
            unsafe { libc::ioctl(0, libc::TIOCSWINSZ, &ws) };
        }
    }
    let cs = |s: &str| {
        CString::new(s)
            .map_err(|_| RuntimeError::Other(format!("argument contains a NUL byte: {s:?}")))
    };
    Ok(Ready {
        exe: CString::new(exe.as_os_str().as_encoded_bytes())
            .map_err(|_| RuntimeError::Other("bad path".into()))?,
        argv: process
            .args
            .iter()
            .map(|a| cs(a))
            .collect::<Result<_, _>>()?,
        envp: env.iter().map(|a| cs(a)).collect::<Result<_, _>>()?,
        user,
        arg0,
    })
}

/// The pty slave's path (`/dev/pts/N`): binding it by path works from our new mount
/// namespace, while its descriptor still belongs to the caller's namespace.
fn console_path(fd: RawFd) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .ok()
        .filter(|p| p.starts_with("/dev/pts/"))
}

fn set_names(spec: &ContainerSpec) -> Result<(), RuntimeError> {
    if !spec.hostname.is_empty() {
        // SAFETY: pointer and length of a live byte slice.
        if unsafe { libc::sethostname(spec.hostname.as_ptr().cast(), spec.hostname.len()) } < 0 {
            return Err(RuntimeError::last_os("sethostname"));
        }
    }
    if !spec.domainname.is_empty() {
        // SAFETY: pointer and length of a live byte slice.
        if unsafe { libc::setdomainname(spec.domainname.as_ptr().cast(), spec.domainname.len()) }
            < 0
        {
            return Err(RuntimeError::last_os("setdomainname"));
        }
    }
    Ok(())
}

fn rlimit_resource(name: &str) -> Option<(libc::__rlimit_resource_t, &'static str)> {
    Some(match name {
        "core" => (libc::RLIMIT_CORE, "RLIMIT_CORE"),
        "cpu" => (libc::RLIMIT_CPU, "RLIMIT_CPU"),
        "data" => (libc::RLIMIT_DATA, "RLIMIT_DATA"),
        "fsize" => (libc::RLIMIT_FSIZE, "RLIMIT_FSIZE"),
        "locks" => (libc::RLIMIT_LOCKS, "RLIMIT_LOCKS"),
        "memlock" => (libc::RLIMIT_MEMLOCK, "RLIMIT_MEMLOCK"),
        "msgqueue" => (libc::RLIMIT_MSGQUEUE, "RLIMIT_MSGQUEUE"),
        "nice" => (libc::RLIMIT_NICE, "RLIMIT_NICE"),
        "nofile" => (libc::RLIMIT_NOFILE, "RLIMIT_NOFILE"),
        "nproc" => (libc::RLIMIT_NPROC, "RLIMIT_NPROC"),
        "rss" => (libc::RLIMIT_RSS, "RLIMIT_RSS"),
        "rtprio" => (libc::RLIMIT_RTPRIO, "RLIMIT_RTPRIO"),
        "rttime" => (libc::RLIMIT_RTTIME, "RLIMIT_RTTIME"),
        "sigpending" => (libc::RLIMIT_SIGPENDING, "RLIMIT_SIGPENDING"),
        "stack" => (libc::RLIMIT_STACK, "RLIMIT_STACK"),
        "as" => (libc::RLIMIT_AS, "RLIMIT_AS"),
        _ => return None,
    })
}

fn set_rlimit(r: &berth_types::spec::Rlimit) -> Result<(), RuntimeError> {
    let name = r.name.to_ascii_lowercase();
    let name = name.strip_prefix("rlimit_").unwrap_or(&name);
    let (res, label) = rlimit_resource(name)
        .ok_or_else(|| RuntimeError::Other(format!("invalid ulimit type: {}", r.name)))?;
    let lim = libc::rlimit {
        rlim_cur: r.soft,
        rlim_max: r.hard,
    };
    // SAFETY: setrlimit reads the struct we own.
    if unsafe { libc::setrlimit(res, &lim) } < 0 {
        return Err(RuntimeError::last_os(format!("setrlimit {label}")));
    }
    Ok(())
}

/// Put the process's streams on 0, 1, 2 (they may already sit on any of those numbers).
fn setup_stdio(fds: [RawFd; 3]) -> Result<(), RuntimeError> {
    let mut high = [0; 3];
    for (i, fd) in fds.iter().enumerate() {
        // SAFETY: duplicating a descriptor we hold.
        high[i] = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
        if high[i] < 0 {
            return Err(RuntimeError::last_os("dup stdio"));
        }
    }
    for (i, fd) in high.iter().enumerate() {
        // SAFETY: dup2 onto 0..2, then close the temporary copy.
        unsafe {
            if libc::dup2(*fd, i as RawFd) < 0 {
                return Err(RuntimeError::last_os("dup2 stdio"));
            }
            libc::close(*fd);
        }
    }
    Ok(())
}

/// Drop to the process's user, capabilities and seccomp filter, with default signal
/// dispositions, before parking (as runc does before its exec fifo): the filter's
/// load (about a millisecond of JIT in the kernel) and the capability calls are then
/// done while the caller and the engine get the start ready (see `create_notify`),
/// not after the release, on the path from `start` to the program running. From here on the process only sends READY, reads
/// the release byte and execs (or, with `--init`, forks first), which any profile
/// that lets a program run allows; errors are reported on the socket as setup errors.
fn secure(plan: &Plan, ready: &Ready) -> Result<(), RuntimeError> {
    reset_signals();
    apply_security(plan, &ready.user)
}

/// Tell the caller we are ready and wait for the release byte.
fn park(plan: &Plan, ready: Ready) -> ! {
    if ipc::send(plan.sock, ipc::READY, &[]).is_err() {
        exit_now(1);
    }
    // SAFETY: closing our copy of the socket; nothing else uses it from here on.
    unsafe { libc::close(plan.sock) };
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading one byte into a buffer we own.
        let n = unsafe { libc::read(plan.release, b.as_mut_ptr().cast(), 1) };
        if n == 1 {
            break;
        }
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        // The caller dropped us without starting: go away quietly.
        exit_now(0);
    }
    // SAFETY: done with the release pipe.
    unsafe { libc::close(plan.release) };
    let init = matches!(plan.task, Task::Container(s) if s.init);
    if init {
        crate::init::run(plan.task.process().terminal, plan.status, || {
            exec(plan, &ready);
        })
    }
    exec(plan, &ready)
}

fn report(fd: RawFd, e: &RuntimeError) {
    let _ = ipc::write_all(fd, &e.encode());
}

/// The kernel's `struct sigaction` (x86_64/aarch64 layout) for rt_sigaction(2).
#[repr(C)]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

/// Default dispositions: none of the caller's signal handlers may run in a child. The
/// raw syscall also reaches the signals glibc reserves for itself (32, 33), which an
/// ignored state could otherwise leak into the container.
fn default_handlers() {
    let act = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for sig in 1..=64 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction with a valid action struct and an 8-byte signal set size;
        // SIG_DFL needs no restorer.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                &act as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                8usize,
            )
        };
    }
}

/// Default dispositions and an empty mask: the caller's (ignored SIGPIPE, blocked
/// SIGCHLD…) must not leak into the container.
fn reset_signals() {
    default_handlers();
    // SAFETY: an empty, initialized set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

fn prctl(op: libc::c_int, arg: libc::c_ulong, step: &str) -> Result<(), RuntimeError> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(op, arg, 0, 0, 0) } < 0 {
        return Err(RuntimeError::last_os(step));
    }
    Ok(())
}

/// User, capabilities, no_new_privs and seccomp, in the order that keeps each step
/// permitted: seccomp needs CAP_SYS_ADMIN unless no_new_privs is set.
fn apply_security(plan: &Plan, user: &ExecUser) -> Result<(), RuntimeError> {
    let process = plan.task.process();
    let nnp = process.no_new_privileges;
    let load = |f: &seccomp::Program| {
        f.install()
            .map_err(|e| RuntimeError::sys("error loading seccomp filter into kernel", e))
    };
    if let (Some(f), false) = (&plan.filter, nnp) {
        load(f)?;
    }
    caps::drop_bounding(plan.caps)?;
    prctl(libc::PR_SET_KEEPCAPS, 1, "prctl PR_SET_KEEPCAPS")?;
    let groups: Vec<libc::gid_t> = user.groups.clone();
    // SAFETY: setgroups reads `groups.len()` gids from a live vector; the id calls take
    // plain integers.
    unsafe {
        if !plan.task.new_userns() && libc::setgroups(groups.len(), groups.as_ptr()) < 0 {
            return Err(RuntimeError::last_os("setgroups"));
        }
        if libc::setresgid(user.gid, user.gid, user.gid) < 0 {
            return Err(RuntimeError::last_os(format!("setgid {}", user.gid)));
        }
        if libc::setresuid(user.uid, user.uid, user.uid) < 0 {
            return Err(RuntimeError::last_os(format!("setuid {}", user.uid)));
        }
    }
    prctl(libc::PR_SET_KEEPCAPS, 0, "prctl PR_SET_KEEPCAPS")?;
    caps::set(plan.caps, plan.caps, 0)?;
    caps::clear_ambient();
    if nnp {
        prctl(libc::PR_SET_NO_NEW_PRIVS, 1, "prctl PR_SET_NO_NEW_PRIVS")?;
        if let Some(f) = &plan.filter {
            load(f)?;
        }
    }
    Ok(())
}

/// execve, or report why not on the status pipe and exit 126/127.
fn exec(plan: &Plan, ready: &Ready) -> ! {
    // SAFETY: marks our remaining descriptors close-on-exec; 0..2 stay.
    unsafe { libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) };
    let mut argv: Vec<*const libc::c_char> = ready.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = ready.envp.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: NUL-terminated arrays of C strings that outlive the call.
    unsafe { libc::execve(ready.exe.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let err = io::Error::last_os_error();
    let e = match err.raw_os_error() {
        Some(libc::ENOENT) => RuntimeError::NotFound(ready.arg0.clone()),
        Some(libc::EACCES) => RuntimeError::PermissionDenied(ready.arg0.clone()),
        _ => RuntimeError::sys(format!("exec {:?}", ready.arg0), err),
    };
    report(plan.status, &e);
    exit_now(e.exit_code().unwrap_or(1))
}
