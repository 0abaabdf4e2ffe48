//! Plain HTTP(S) downloads for `ADD <url>` in Dockerfiles: one GET (redirects followed),
//! streamed into the caller's writer, with the file name and `Last-Modified` time the
//! legacy builder gives the result. TLS uses the same system roots as registries; no
//! credentials are ever sent.

use std::io::{self, Write};
use std::time::Duration;

use ureq::tls::{RootCerts, TlsConfig};
use ureq::Agent;

use crate::error::RegistryError;
use crate::transport::{describe_transport_error, system_roots};

/// What a download produced besides its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// The destination name: the last path element of the final URL.
    pub name: String,
    /// `Last-Modified` as Unix seconds, when the server sent a valid one.
    pub modified: Option<i64>,
    /// Bytes written.
    pub size: u64,
}

/// GET `url` into `out`. A status other than 2xx is Docker's error text: `failed to GET
/// <url> with status 404 Not Found: <body>`.
pub fn download(url: &str, out: &mut dyn Write) -> Result<Download, RegistryError> {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(std::sync::Arc::new(
            system_roots().to_vec(),
        )))
        .build();
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .tls_config(tls)
        .build()
        .new_agent();
    let resp = agent
        .get(url)
        .call()
        .map_err(|e| RegistryError::Protocol(describe_transport_error("Get", url, &e)))?;
    let status = resp.status();
    if !status.is_success() {
        let mut body = String::new();
        let _ = io::Read::read_to_string(
            &mut io::Read::take(resp.into_body().into_reader(), 4096),
            &mut body,
        );
        return Err(RegistryError::Protocol(format!(
            "failed to GET {url} with status {} {}: {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.trim_end()
        )));
    }
    let modified = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_http_date);
    let name = file_name(url);
    let mut reader = resp.into_body().into_reader();
    let size =
        io::copy(&mut reader, out).map_err(|e| RegistryError::io(format!("reading {url}"), e))?;
    Ok(Download {
        name,
        modified,
        size,
    })
}

/// The last non-empty path element of `url` (query and fragment dropped), like the
/// legacy builder; empty when the path has none (the caller then needs a file
/// destination).
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("")
        .to_string()
}

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as Unix seconds.
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4]
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<Vec<_>>>()?;
    if hms.len() != 3 {
        return None;
    }
    // Days from the civil date (proleptic Gregorian), Howard Hinnant's algorithm.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};
    use std::net::TcpListener;

    #[test]
    fn names_and_dates() {
        assert_eq!(file_name("http://h:1/a/b/file.tar.gz?x=1#f"), "file.tar.gz");
        assert_eq!(file_name("https://h/dir/"), "dir");
        assert_eq!(file_name("http://h"), "");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    /// A one-shot HTTP server on loopback answering `status` with `body`.
    fn serve_once(status: &str, body: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let status = status.to_string();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 2 {
                line.clear();
            }
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            let _ = r.read(&mut [0u8; 1]);
        });
        (format!("http://{addr}"), h)
    }

    #[test]
    fn downloads_and_errors() {
        let (base, h) = serve_once("200 OK", b"hello");
        let mut out = Vec::new();
        let d = download(&format!("{base}/files/greet.txt"), &mut out).unwrap();
        h.join().unwrap();
        assert_eq!(out, b"hello");
        assert_eq!(d.name, "greet.txt");
        assert_eq!(d.size, 5);
        assert_eq!(d.modified, Some(784_111_777));

        let (base, h) = serve_once("404 Not Found", b"nope");
        let e = download(&format!("{base}/missing"), &mut Vec::new()).unwrap_err();
        h.join().unwrap();
        assert_eq!(
            e.to_string(),
            format!("failed to GET {base}/missing with status 404 Not Found: nope")
        );
    }
}
