//! Human texts of `docker ps`: `Up 3 seconds`, `Exited (0) 2 minutes ago`, and Go's
//! `units.HumanDuration` they are made of.

use berth_types::docker::ContainerState;
use berth_types::time::parse_rfc3339;
use std::time::{Duration, SystemTime};

/// Go's `units.HumanDuration`.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let seconds = secs as i64;
    let minutes = (secs / 60.0) as i64;
    let hours = (secs / 3600.0 + 0.5) as i64;
    if seconds < 1 {
        "Less than a second".into()
    } else if seconds == 1 {
        "1 second".into()
    } else if seconds < 60 {
        format!("{seconds} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", (secs / 3600.0) as i64 / 24 / 365)
    }
}

fn since(t: &str, now: SystemTime) -> Option<Duration> {
    let t = parse_rfc3339(t)?;
    if t <= SystemTime::UNIX_EPOCH {
        return None;
    }
    Some(now.duration_since(t).unwrap_or_default())
}

/// The `Status` column of `docker ps`.
pub fn status_text(s: &ContainerState, now: SystemTime) -> String {
    let health = match s.health.as_ref().map(|h| h.status.as_str()) {
        Some("starting") => " (health: starting)",
        Some("healthy") => " (healthy)",
        Some("unhealthy") => " (unhealthy)",
        _ => "",
    };
    if s.running {
        let up = since(&s.started_at, now)
            .map(human_duration)
            .unwrap_or_default();
        if s.paused {
            return format!("Up {up} (Paused)");
        }
        if s.restarting {
            let ago = since(&s.finished_at, now)
                .map(human_duration)
                .unwrap_or_default();
            return format!("Restarting ({}) {ago} ago", s.exit_code);
        }
        return format!("Up {up}{health}");
    }
    if s.restarting {
        let ago = since(&s.finished_at, now)
            .map(human_duration)
            .unwrap_or_default();
        return format!("Restarting ({}) {ago} ago", s.exit_code);
    }
    match s.status.as_str() {
        "removing" => "Removal In Progress".into(),
        "dead" => "Dead".into(),
        "created" => "Created".into(),
        _ => match since(&s.finished_at, now) {
            Some(d) => format!("Exited ({}) {} ago", s.exit_code, human_duration(d)),
            None => "Created".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_types::time::rfc3339_nano;

    #[test]
    fn durations_like_go() {
        assert_eq!(
            human_duration(Duration::from_millis(400)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(3)), "3 seconds");
        assert_eq!(human_duration(Duration::from_secs(61)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(5 * 60)), "5 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn status_texts() {
        let now = SystemTime::now();
        let t = rfc3339_nano(now - Duration::from_secs(3));
        let mut s = ContainerState {
            status: "running".into(),
            running: true,
            started_at: t.clone(),
            ..Default::default()
        };
        assert_eq!(status_text(&s, now), "Up 3 seconds");
        s.paused = true;
        assert_eq!(status_text(&s, now), "Up 3 seconds (Paused)");
        let s = ContainerState {
            status: "exited".into(),
            exit_code: 137,
            finished_at: rfc3339_nano(now - Duration::from_secs(120)),
            ..Default::default()
        };
        assert_eq!(status_text(&s, now), "Exited (137) 2 minutes ago");
        let s = ContainerState {
            status: "created".into(),
            ..Default::default()
        };
        assert_eq!(status_text(&s, now), "Created");
    }
}
