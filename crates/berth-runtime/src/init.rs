//! A tiny init for `--init`: PID 1 forks the real process, forwards signals to it, reaps
//! every zombie, and exits with the process's status (128+N when killed by signal N).
//!
//! Runs in the container process itself after security setup (no binary in the image).
//! All signals stay blocked and are taken with `sigwaitinfo`: a PID 1 ignores signals it
//! has no handler for unless they are blocked (then they queue), so this also lets
//! SIGTERM from the host reach it.

use std::os::fd::RawFd;

fn full_set() -> libc::sigset_t {
    // SAFETY: sigfillset initializes the set we own.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        set
    }
}

/// Fork `child` (which execs) and supervise it. `status_fd` is the exec-status pipe:
/// only the child may keep it open, so the caller learns about the exec itself.
pub fn run(terminal: bool, status_fd: RawFd, child: impl FnOnce()) -> ! {
    let all = full_set();
    // SAFETY: plain libc calls on sets and ids we own; fork is safe here because this
    // process is single-threaded.
    unsafe {
        // Without a new pid namespace orphans would escape to the host's reaper.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigprocmask(libc::SIG_SETMASK, &all, &mut old);
        let pid = libc::fork();
        if pid < 0 {
            let e = crate::error::RuntimeError::last_os("init: fork");
            let _ = crate::ipc::write_all(status_fd, &e.encode());
            libc::_exit(1);
        }
        if pid == 0 {
            // Own process group, in the foreground of the terminal (SIGTTOU is still
            // blocked here, so tcsetpgrp cannot stop us).
            libc::setpgid(0, 0);
            if terminal {
                libc::tcsetpgrp(0, libc::getpid());
            }
            libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            child();
            libc::_exit(127);
        }
        libc::close(status_fd);
        hide_host_command_line();
        supervise(pid, &all)
    }
}

/// PID 1 is a fork of the shim: without this, `/proc/1/cmdline` inside the container
/// would show the shim's host command line (binary and data-root paths). Overwrite the
/// argument area in place (the kernel reads cmdline from this memory) and the name.
fn hide_host_command_line() {
    const TITLE: &[u8] = b"berth-init";
    // SAFETY: PR_SET_NAME copies at most 16 bytes from a NUL-terminated buffer.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"berth-init".as_ptr(), 0, 0, 0) };
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name; arg_start and arg_end are fields 48
    // and 49 of proc(5), i.e. indexes 45 and 46 after the name's closing paren.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (Some(start), Some(end)) = (
        f.get(45).and_then(|v| v.parse::<usize>().ok()),
        f.get(46).and_then(|v| v.parse::<usize>().ok()),
    ) else {
        return;
    };
    if end <= start || end - start > 1 << 20 {
        return;
    }
    let len = end - start;
    // SAFETY: [arg_start, arg_end) is this process's own argv string area, mapped and
    // writable; nothing in the init reads argv after this point.
    unsafe {
        let area = std::slice::from_raw_parts_mut(start as *mut u8, len);
        area.fill(0);
        let n = TITLE.len().min(len.saturating_sub(1));
        area[..n].copy_from_slice(&TITLE[..n]);
    }
}

fn supervise(child: i32, all: &libc::sigset_t) -> ! {
    loop {
        // SAFETY: siginfo is a plain struct the kernel fills.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waiting on a valid, initialized set.
        let sig = unsafe { libc::sigwaitinfo(all, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig != libc::SIGCHLD {
            // SAFETY: forwarding a signal to our own child.
            unsafe { libc::kill(child, sig) };
            continue;
        }
        // Reap everything that exited; stop when the main process did.
        loop {
            let mut st = 0;
            // SAFETY: non-blocking wait with a valid status pointer.
            let r = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if r <= 0 {
                break;
            }
            if r == child {
                let code = if libc::WIFEXITED(st) {
                    libc::WEXITSTATUS(st)
                } else if libc::WIFSIGNALED(st) {
                    128 + libc::WTERMSIG(st)
                } else {
                    continue;
                };
                // SAFETY: leaving; the kernel kills the rest of the pid namespace.
                unsafe { libc::_exit(code) };
            }
        }
    }
}
