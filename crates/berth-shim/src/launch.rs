//! Creating the task's process, parked before `execve`, and letting it go.
//!
//! Production path: `berth_runtime::create` / `create_exec`. Debug builds also carry a
//! host launcher (a plain fork + exec on the host, no isolation) chosen by the
//! environment variable `BERTH_SHIM_TEST_HOST=1`: it lets the shim's own tests prove the
//! stdio, log, attach and protocol machinery without the runtime. Release builds do not
//! contain it.
//!
//! With a tty ([`ProcessIo::Pty`]) the process's terminal is opened by the runtime inside
//! the container; the shim takes its master with [`Launched::take_pty_master`]. (The host
//! launcher opens a host pty instead: it has no container.)

use berth_runtime::ProcessIo;
use berth_types::shim::Task;

/// A failure to create or start, with Docker's exit code when it has one (126/127).
#[derive(Debug)]
pub struct LaunchError {
    pub message: String,
    pub exit_code: Option<i32>,
}

impl From<berth_runtime::RuntimeError> for LaunchError {
    fn from(e: berth_runtime::RuntimeError) -> Self {
        LaunchError {
            exit_code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

/// A process set up and waiting to `execve`.
#[derive(Debug)]
pub enum Launched {
    Runtime(berth_runtime::Created),
    #[cfg(debug_assertions)]
    Host(host::Parked),
}

impl Launched {
    pub fn pid(&self) -> i32 {
        match self {
            Launched::Runtime(c) => c.pid(),
            #[cfg(debug_assertions)]
            Launched::Host(p) => p.pid,
        }
    }

    /// The master of the process's terminal ([`ProcessIo::Pty`]); `None` without one or
    /// once taken.
    pub fn take_pty_master(&mut self) -> Option<std::os::fd::OwnedFd> {
        match self {
            Launched::Runtime(c) => c.take_pty_master(),
            #[cfg(debug_assertions)]
            Launched::Host(p) => p.master.take(),
        }
    }

    /// Kill and reap the parked process (it never ran).
    pub fn abandon(self) {
        match self {
            // Dropping a parked runtime process kills and reaps it.
            Launched::Runtime(c) => drop(c),
            #[cfg(debug_assertions)]
            Launched::Host(p) => {
                let _ = crate::sys::kill(p.pid, libc::SIGKILL);
                // SAFETY: waitpid on our own child with a null status pointer.
                unsafe { libc::waitpid(p.pid, std::ptr::null_mut(), 0) };
            }
        }
    }

    /// Give up the handle of a process that was already reaped, without the kill and
    /// reap its drop would do.
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// Let the process `execve`; its pid, or the exec error.
    pub fn start(self) -> Result<i32, LaunchError> {
        match self {
            Launched::Runtime(c) => Ok(c.start()?),
            #[cfg(debug_assertions)]
            Launched::Host(p) => p.start(),
        }
    }
}

/// Create the task's process with `stdio` (moved in: the shim keeps none of these ends).
/// `on_pid` gets the process's pid as soon as it exists (see
/// `berth_runtime::create_notify`).
pub fn create(
    task: &Task,
    stdio: ProcessIo,
    on_pid: &mut dyn FnMut(i32),
) -> Result<Launched, LaunchError> {
    #[cfg(debug_assertions)]
    if std::env::var_os("BERTH_SHIM_TEST_HOST").is_some_and(|v| v == "1") {
        let process = match task {
            Task::Container(s) => &s.process,
            Task::Exec(s) => &s.process,
        };
        let parked = host::create(process, stdio)?;
        on_pid(parked.pid);
        return Ok(Launched::Host(parked));
    }
    match task {
        Task::Container(spec) => Ok(Launched::Runtime(berth_runtime::create_notify(
            spec, stdio, on_pid,
        )?)),
        Task::Exec(spec) => Ok(Launched::Runtime(berth_runtime::create_exec(spec, stdio)?)),
    }
}

/// Test-only launcher: fork, wait on a pipe, exec on the host.
#[cfg(debug_assertions)]
pub mod host {
    use super::LaunchError;
    use crate::sys;
    use berth_runtime::{pty, ProcessIo, Stdio};
    use berth_types::spec::ProcessSpec;
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::PathBuf;

    #[derive(Debug)]
    pub struct Parked {
        pub pid: i32,
        release: OwnedFd,
        status: OwnedFd,
        arg0: String,
        /// The host pty's master with [`ProcessIo::Pty`].
        pub master: Option<OwnedFd>,
    }

    fn err(message: String, exit_code: Option<i32>) -> LaunchError {
        LaunchError { message, exit_code }
    }

    fn cstr(s: &str) -> Result<CString, LaunchError> {
        CString::new(s).map_err(|_| err(format!("invalid string {s:?}"), None))
    }

    /// PATH lookup like the runtime's: missing → 127 with Docker's wording.
    fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf, LaunchError> {
        let not_found = || {
            err(
                format!("exec: \"{arg0}\": executable file not found in $PATH"),
                Some(127),
            )
        };
        if arg0.contains('/') {
            let p = PathBuf::from(arg0);
            return if p.exists() { Ok(p) } else { Err(not_found()) };
        }
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|d| PathBuf::from(d).join(arg0))
            .find(|p| p.is_file())
            .ok_or_else(not_found)
    }

    /// A host pty standing in for the container's terminal: (master, slave as stdio).
    fn host_pty(process: &ProcessSpec) -> std::io::Result<(OwnedFd, Stdio)> {
        let (master, slave) = pty::open()?;
        if let Some((h, w)) = process.console_size.filter(|&(h, w)| h > 0 && w > 0) {
            pty::resize(&master, h, w)?;
        }
        let stdio = Stdio {
            stdin: slave.try_clone()?,
            stdout: slave.try_clone()?,
            stderr: slave,
        };
        Ok((master, stdio))
    }

    pub fn create(process: &ProcessSpec, io: ProcessIo) -> Result<Parked, LaunchError> {
        let (master, stdio) = match io {
            ProcessIo::Stdio(s) => (None, s),
            ProcessIo::Pty => {
                let (m, s) = host_pty(process).map_err(|e| err(e.to_string(), None))?;
                (Some(m), s)
            }
        };
        let arg0 = process
            .args
            .first()
            .cloned()
            .ok_or_else(|| err("no command specified".into(), None))?;
        let exe = lookup(&arg0, &process.env)?;
        let exe =
            CString::new(exe.as_os_str().as_bytes()).map_err(|_| err("bad path".into(), None))?;
        let argv: Vec<CString> = process
            .args
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = process
            .env
            .iter()
            .map(|a| cstr(a))
            .collect::<Result<_, _>>()?;
        let cwd = cstr(if process.cwd.is_empty() {
            "/"
        } else {
            &process.cwd
        })?;
        let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|c| c.as_ptr()).collect();
        argv_p.push(std::ptr::null());
        let mut envp_p: Vec<*const libc::c_char> = envp.iter().map(|c| c.as_ptr()).collect();
        envp_p.push(std::ptr::null());
        let io = |e: std::io::Error| err(e.to_string(), None);
        let (release_r, release_w) = sys::pipe().map_err(io)?;
        let (status_r, status_w) = sys::pipe().map_err(io)?;
        let tty = process.terminal;
        // SAFETY: the shim is single-threaded here; the child only calls
        // async-signal-safe functions on memory prepared before the fork.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io(std::io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: child side of fork: raw system calls only, then execve or _exit.
            unsafe {
                let mut b = 0u8;
                if libc::read(
                    release_r.as_raw_fd(),
                    &mut b as *mut u8 as *mut libc::c_void,
                    1,
                ) != 1
                {
                    libc::_exit(1);
                }
                libc::setsid();
                libc::dup2(stdio.stdin.as_raw_fd(), 0);
                libc::dup2(stdio.stdout.as_raw_fd(), 1);
                libc::dup2(stdio.stderr.as_raw_fd(), 2);
                if tty {
                    libc::ioctl(0, libc::TIOCSCTTY, 0);
                }
                if libc::chdir(cwd.as_ptr()) == 0 {
                    libc::execve(exe.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
                }
                let e = *libc::__errno_location();
                libc::write(
                    status_w.as_raw_fd(),
                    &e as *const i32 as *const libc::c_void,
                    4,
                );
                libc::_exit(127);
            }
        }
        drop((release_r, status_w, stdio));
        Ok(Parked {
            pid,
            release: release_w,
            status: status_r,
            arg0,
            master,
        })
    }

    impl Parked {
        pub fn start(self) -> Result<i32, LaunchError> {
            sys::write_fd(self.release.as_raw_fd(), &[1]).map_err(|e| err(e.to_string(), None))?;
            drop(self.release);
            let mut buf = [0u8; 4];
            match sys::read_fd(self.status.as_raw_fd(), &mut buf) {
                Ok(4) => {
                    let errno = i32::from_ne_bytes(buf);
                    Err(match errno {
                        libc::ENOENT => err(
                            format!(
                                "exec: \"{}\": executable file not found in $PATH",
                                self.arg0
                            ),
                            Some(127),
                        ),
                        _ => err(
                            format!("exec: \"{}\": permission denied", self.arg0),
                            Some(126),
                        ),
                    })
                }
                _ => Ok(self.pid),
            }
        }
    }
}
