//! `berth logs`: fetches (and with `-f` follows) a container's log stream,
//! demultiplexing it unless the container has a TTY.

use std::io;
use std::time::SystemTime;

use berth_client::{Client, FrameReader, Query};

use crate::cli::LogsArgs;
use crate::errors::{CliError, CliResult};
use crate::units::api_timestamp;

pub fn logs(c: &Client, a: &LogsArgs) -> CliResult {
    let info = c.container_inspect(&a.container, false)?;
    let tty = info["Config"]["Tty"].as_bool().unwrap_or(false);
    let now = SystemTime::now();
    let mut q = Query::new().add("stdout", "1").add("stderr", "1");
    if let Some(s) = &a.since {
        let ts = api_timestamp(s, now).ok_or_else(|| {
            CliError::msg(format!(
                "invalid value for \"since\": failed to parse value as time or duration: \"{s}\""
            ))
        })?;
        q = q.add("since", ts);
    }
    if let Some(u) = &a.until {
        let ts = api_timestamp(u, now).ok_or_else(|| {
            CliError::msg(format!(
                "invalid value for \"until\": failed to parse value as time or duration: \"{u}\""
            ))
        })?;
        q = q.add("until", ts);
    }
    q = q
        .flag("timestamps", a.timestamps)
        .flag("follow", a.follow)
        .add("tail", &a.tail)
        .flag("details", a.details);
    let mut resp = c.container_logs(&a.container, &q)?;
    let mut stdout = io::stdout();
    let r = if tty {
        berth_client::stream::copy_raw(&mut resp, &mut stdout).map(|_| ())
    } else {
        let mut stderr = io::stderr();
        FrameReader::new(resp).copy_to(&mut stdout, &mut stderr)
    };
    match r {
        Ok(()) => Ok(()),
        // The daemon closing a followed stream early is not an error for the user.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(()),
        Err(e) => Err(CliError::msg(e.to_string())),
    }
}
