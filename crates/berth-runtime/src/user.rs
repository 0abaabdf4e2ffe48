//! Resolving `-u`/`--group-add` against the container's /etc/passwd and /etc/group.
//!
//! Docker's rules: `name`, `uid`, `uid:gid`, `name:group`; empty means root. A numeric
//! uid missing from passwd is fine (gid 0, home `/`); an unknown name is an error.
//! Supplementary groups are the /etc/group memberships of the user (when no group was
//! given) plus `--group-add`. Called in the container child after `pivot_root`.

use crate::error::RuntimeError;

/// The identity the process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| s.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_id(s: &str) -> Option<Result<u32, RuntimeError>> {
    let n: u64 = s.parse().ok()?;
    if n > i32::MAX as u64 {
        return Some(Err(RuntimeError::Other(
            "uids and gids must be in range 0-2147483647".into(),
        )));
    }
    Some(Ok(n as u32))
}

/// Resolve `user` and `additional` groups. `passwd`/`group` are the files' contents
/// (None when the image has no such file).
pub fn resolve(
    user: &str,
    additional: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, RuntimeError> {
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };

    let mut out = ExecUser {
        uid: 0,
        gid: 0,
        groups: Vec::new(),
        home: "/".into(),
    };
    let numeric = parse_id(u).transpose()?;
    let found = users.iter().find(|e| e.name == u || Some(e.uid) == numeric);
    match (found, numeric) {
        (Some(e), _) => {
            out.uid = e.uid;
            out.gid = e.gid;
            if !e.home.is_empty() {
                out.home = e.home.clone();
            }
        }
        (None, Some(n)) => out.uid = n,
        (None, None) => {
            return Err(RuntimeError::Other(format!(
                "unable to find user {u}: no matching entries in passwd file"
            )))
        }
    }

    match g.filter(|g| !g.is_empty()) {
        Some(g) => out.gid = lookup_group(&groups, g)?,
        None => {
            if let Some(e) = found {
                out.groups = groups
                    .iter()
                    .filter(|gr| gr.members.contains(&e.name))
                    .map(|gr| gr.gid)
                    .collect();
            }
        }
    }
    for a in additional {
        let gid = lookup_group(&groups, a)?;
        if !out.groups.contains(&gid) {
            out.groups.push(gid);
        }
    }
    Ok(out)
}

fn lookup_group(groups: &[GroupEntry], g: &str) -> Result<u32, RuntimeError> {
    let numeric = parse_id(g).transpose()?;
    if let Some(e) = groups
        .iter()
        .find(|e| e.name == g || Some(e.gid) == numeric)
    {
        return Ok(e.gid);
    }
    numeric.ok_or_else(|| {
        RuntimeError::Other(format!(
            "unable to find group {g}: no matching entries in group file"
        ))
    })
}

/// Read passwd and group from the process's current root.
pub fn resolve_in_container(user: &str, additional: &[String]) -> Result<ExecUser, RuntimeError> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    let group = std::fs::read_to_string("/etc/group").ok();
    resolve(user, additional, passwd.as_deref(), group.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:alice,bob\nnogroup:x:65534:\nalice:x:1000:\naudio:x:29:alice\n";

    fn r(u: &str, add: &[&str]) -> Result<ExecUser, RuntimeError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve(u, &add, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn root_by_default() {
        let e = r("", &[]).unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (0, 0, "/root"));
        assert!(e.groups.is_empty());
    }

    #[test]
    fn names_and_numbers() {
        let e = r("nobody", &[]).unwrap();
        assert_eq!((e.uid, e.gid), (65534, 65534));
        let e = r("alice", &[]).unwrap();
        assert_eq!((e.uid, e.gid), (1000, 1000));
        assert_eq!(e.groups, vec![10, 29]);
        let e = r("1000:1000", &[]).unwrap();
        assert_eq!((e.uid, e.gid), (1000, 1000));
        assert!(e.groups.is_empty());
        let e = r("4242", &[]).unwrap();
        assert_eq!((e.uid, e.gid, e.home.as_str()), (4242, 0, "/"));
        let e = r("alice:wheel", &["audio", "777"]).unwrap();
        assert_eq!((e.uid, e.gid), (1000, 10));
        assert_eq!(e.groups, vec![29, 777]);
    }

    #[test]
    fn docker_errors() {
        assert_eq!(
            r("bogus", &[]).unwrap_err().to_string(),
            "unable to find user bogus: no matching entries in passwd file"
        );
        assert_eq!(
            r("alice:bogus", &[]).unwrap_err().to_string(),
            "unable to find group bogus: no matching entries in group file"
        );
        assert!(r("root", &["nope"]).is_err());
        assert!(r("99999999999", &[]).is_err());
        // No passwd at all: numeric ids still work.
        let e = resolve("12", &[], None, None).unwrap();
        assert_eq!((e.uid, e.gid), (12, 0));
    }
}
