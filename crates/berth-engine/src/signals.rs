//! Signal names as Docker accepts them: `KILL`, `SIGKILL`, `9`, case-insensitive names,
//! and `RTMIN+n`.

use crate::error::{EngineError, Result};

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
];

/// Lowest and highest real-time signal numbers on Linux (glibc reserves 32 and 33).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Parses a signal as Docker does; errors read `Invalid signal: FOO`.
pub fn parse_signal(s: &str) -> Result<i32> {
    let invalid = || EngineError::invalid(format!("Invalid signal: {s}"));
    if let Ok(n) = s.parse::<i32>() {
        if n <= 0 || n > RTMAX {
            return Err(invalid());
        }
        return Ok(n);
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some((_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(*n);
    }
    let rt = |rest: &str, base: i32, sign: i32| -> Result<i32> {
        let off: i32 = if rest.is_empty() {
            0
        } else {
            rest.parse().map_err(|_| invalid())?
        };
        let n = base + sign * off;
        if (RTMIN..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(invalid())
        }
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return rt(rest.trim_start_matches('+'), RTMIN, 1);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return rt(rest.trim_start_matches('-'), RTMAX, -1);
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_forms() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("HUP").unwrap(), 1);
        assert_eq!(parse_signal("RTMIN+2").unwrap(), 36);
        assert_eq!(parse_signal("SIGRTMAX").unwrap(), 64);
        assert_eq!(
            parse_signal("FOO").unwrap_err().message,
            "Invalid signal: FOO"
        );
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
    }
}
