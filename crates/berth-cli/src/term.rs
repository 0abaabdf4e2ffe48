//! Local terminal handling: raw mode for `-it` (restored on every exit path through
//! a process-wide saved state), the window size, and SIGPIPE behaviour.

use std::io::IsTerminal;
use std::sync::Mutex;

use nix::sys::termios::{self, SetArg, Termios};

/// Terminal settings saved before going raw; restored by [`restore_terminal`].
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts stdin in raw mode if it is a terminal. Returns whether it did.
pub fn make_raw() -> bool {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return false;
    }
    let Ok(orig) = termios::tcgetattr(&stdin) else {
        return false;
    };
    let mut raw = orig.clone();
    // Full raw mode, output processing included: the container's pty already turns
    // "\n" into "\r\n"; our own messages are printed after restoring.
    termios::cfmakeraw(&mut raw);
    if termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).is_err() {
        return false;
    }
    if let Ok(mut g) = SAVED.lock() {
        *g = Some(orig);
    }
    true
}

/// Restores the terminal if [`make_raw`] changed it. Safe to call many times.
pub fn restore_terminal() {
    let saved = SAVED.lock().ok().and_then(|mut g| g.take());
    if let Some(orig) = saved {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &orig);
    }
}

/// (rows, columns) of the terminal on stdout (or stdin), if any.
pub fn size() -> Option<(u16, u16)> {
    for fd in [libc::STDOUT_FILENO, libc::STDIN_FILENO] {
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCGWINSZ writes a winsize into the valid, writable struct we pass.
        let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        if r == 0 && ws.ws_row > 0 && ws.ws_col > 0 {
            return Some((ws.ws_row, ws.ws_col));
        }
    }
    None
}

pub fn stdin_is_tty() -> bool {
    std::io::stdin().is_terminal()
}

/// Go programs die quietly on a broken stdout pipe (`berth ps | head -1`); Rust
/// ignores SIGPIPE and then panics in `println!`. Restore the default action.
pub fn ignore_sigpipe_default() {
    // SAFETY: setting a signal disposition to SIG_DFL has no memory-safety effects.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
