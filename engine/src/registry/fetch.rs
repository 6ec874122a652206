//! Getting files from a registry: a [`Fetch`] per URL scheme, with retries as a decorator.
//!
//! `https://` and loopback `http://` go through a blocking `reqwest` client (rustls with ring; the
//! standard `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` variables apply). `file://` reads a directory.
//! [`Retrying`] wraps any fetcher and retries what may succeed later (timeouts, connection
//! errors, truncated bodies, 5xx, 429) with exponential backoff and jitter; a 404 or 403 is final.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::RegistryError;
use super::resolve::{Event, EventSink};

/// Network settings for registry downloads.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Limit for connecting and for each read of a response.
    pub timeout: Duration,
    /// Limit for establishing a connection.
    pub connect_timeout: Duration,
    /// Further attempts after the first for a retryable failure.
    pub retries: u32,
    /// First backoff delay; doubled per attempt, with jitter.
    pub backoff: Duration,
    /// Allow plain `http://` to hosts other than loopback (prints a warning).
    pub insecure_http: bool,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 4,
            backoff: Duration::from_millis(500),
            insecure_http: false,
        }
    }
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchFailure {
    /// 404 or a missing file.
    NotFound,
    /// Another HTTP status.
    Status(u16),
    /// No answer in time.
    Timeout,
    /// No connection (refused, reset, DNS, TLS).
    Connect(String),
    /// The body broke off or could not be read.
    Body(String),
    /// Fewer bytes than announced.
    Truncated {
        /// Content-Length.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// Local I/O (file:// registries).
    Io(String),
    /// The request could not be made at all.
    Client(String),
}

impl FetchFailure {
    /// Whether trying again may help.
    pub fn retryable(&self) -> bool {
        match self {
            FetchFailure::Status(s) => *s >= 500 || *s == 429 || *s == 408,
            FetchFailure::Timeout
            | FetchFailure::Connect(_)
            | FetchFailure::Body(_)
            | FetchFailure::Truncated { .. } => true,
            FetchFailure::NotFound | FetchFailure::Io(_) | FetchFailure::Client(_) => false,
        }
    }
}

impl fmt::Display for FetchFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchFailure::NotFound => f.write_str("not found (404)"),
            FetchFailure::Status(s) => write!(f, "HTTP status {s}"),
            FetchFailure::Timeout => f.write_str("timed out"),
            FetchFailure::Connect(m) => write!(f, "connection failed: {m}"),
            FetchFailure::Body(m) => write!(f, "download broke off: {m}"),
            FetchFailure::Truncated { expected, got } => {
                write!(f, "truncated: got {got} of {expected} bytes")
            }
            FetchFailure::Io(m) => f.write_str(m),
            FetchFailure::Client(m) => write!(f, "cannot make the request: {m}"),
        }
    }
}

/// ` (gave up after N attempts)` when there was more than one attempt.
struct GaveUp(u32);

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 > 1 {
            write!(f, " (gave up after {} attempts)", self.0)?;
        }
        Ok(())
    }
}

/// A failed download: the URL, what happened, and how many attempts were made.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot download {url}: {failure}{}", GaveUp(*.attempts))]
pub struct FetchError {
    /// The URL that was requested.
    pub url: String,
    /// What went wrong (the last attempt's failure).
    pub failure: FetchFailure,
    /// How many attempts were made before giving up.
    pub attempts: u32,
}

/// Progress callback: bytes so far, total if known.
pub(super) type ProgressFn<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// Something that can get a registry file by its path relative to the registry's base.
pub trait Fetch: Send + Sync + fmt::Debug {
    /// The registry's base URL, for messages.
    fn base(&self) -> &str;
    /// The full URL of `rel`.
    fn url(&self, rel: &str) -> String {
        format!("{}/{rel}", self.base().trim_end_matches('/'))
    }
    /// The whole file; `progress` is called as bytes arrive.
    fn get(&self, rel: &str, progress: ProgressFn<'_>) -> Result<Vec<u8>, FetchError>;
}

/// A parsed registry location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryUrl {
    /// `https://…`, or `http://…` when allowed.
    Http(String),
    /// A directory (`file://…` or a plain path).
    File(PathBuf),
}

impl RegistryUrl {
    /// Parses `url`: `https://`, `http://` (loopback hosts only unless `insecure`), `file://PATH`
    /// or a plain path; relative paths are resolved against `base_dir`. Returns a warning to show
    /// when plain HTTP to a remote host was allowed.
    pub fn parse(
        url: &str,
        base_dir: &Path,
        insecure: bool,
    ) -> Result<(RegistryUrl, Option<String>), RegistryError> {
        let bad = |message: &str| RegistryError::BadUrl {
            url: url.to_string(),
            message: message.to_string(),
        };
        if let Some(rest) = url.strip_prefix("https://") {
            if rest.is_empty() {
                return Err(bad("no host"));
            }
            return Ok((
                RegistryUrl::Http(url.trim_end_matches('/').to_string()),
                None,
            ));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let authority = rest.split('/').next().unwrap_or("");
            let host_port = authority.rsplit('@').next().unwrap_or("");
            let host = if let Some(v6) = host_port.strip_prefix('[') {
                v6.split(']').next().unwrap_or("")
            } else {
                host_port.split(':').next().unwrap_or("")
            };
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            let base = url.trim_end_matches('/').to_string();
            if loopback {
                return Ok((RegistryUrl::Http(base), None));
            }
            if insecure {
                let warning = format!(
                    "registry {url} is plain HTTP to a remote host: downloads can be read and blocked in transit (signatures still protect what is loaded)"
                );
                return Ok((RegistryUrl::Http(base), Some(warning)));
            }
            return Err(bad(
                "plain http:// is only allowed for loopback hosts; use https://, or pass --insecure-http (DTM_INSECURE_HTTP=1) if you accept the risk",
            ));
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(bad(
                "unsupported scheme; use https://, http:// (loopback) or file://",
            ));
        }
        let path = url.strip_prefix("file://").unwrap_or(url);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        let path = PathBuf::from(path);
        let path = if path.is_absolute() {
            path
        } else {
            base_dir.join(path)
        };
        Ok((RegistryUrl::File(path), None))
    }

    /// The URL as shown to users.
    pub fn display(&self) -> String {
        match self {
            RegistryUrl::Http(u) => u.clone(),
            RegistryUrl::File(p) => format!("file://{}", p.display()),
        }
    }
}

/// Opens a fetcher for `url`: a directory reader, or an HTTP client wrapped in [`Retrying`].
pub fn open_registry(
    url: &RegistryUrl,
    options: &FetchOptions,
    events: Option<EventSink>,
) -> Result<Box<dyn Fetch>, RegistryError> {
    match url {
        RegistryUrl::File(dir) => Ok(Box::new(FileFetch {
            dir: dir.clone(),
            base: url.display(),
        })),
        RegistryUrl::Http(base) => {
            let http = HttpFetch::new(base, options)?;
            Ok(Box::new(Retrying {
                inner: Box::new(http),
                retries: options.retries,
                backoff: options.backoff,
                events,
            }))
        }
    }
}

/// A registry that is a local directory.
#[derive(Debug)]
pub(super) struct FileFetch {
    dir: PathBuf,
    base: String,
}

impl Fetch for FileFetch {
    fn base(&self) -> &str {
        &self.base
    }

    fn get(&self, rel: &str, progress: ProgressFn<'_>) -> Result<Vec<u8>, FetchError> {
        let path = self.dir.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let n = bytes.len() as u64;
                progress(n, Some(n));
                Ok(bytes)
            }
            Err(e) => Err(FetchError {
                url: self.url(rel),
                failure: if e.kind() == std::io::ErrorKind::NotFound {
                    FetchFailure::NotFound
                } else {
                    FetchFailure::Io(e.to_string())
                },
                attempts: 1,
            }),
        }
    }
}

/// A registry over HTTP(S).
#[derive(Debug)]
pub(super) struct HttpFetch {
    base: String,
    client: reqwest::blocking::Client,
}

impl HttpFetch {
    /// A client for `base` with the options' timeouts.
    pub(super) fn new(base: &str, options: &FetchOptions) -> Result<Self, RegistryError> {
        // reqwest is built without a default crypto provider; ring is the one the workspace uses.
        // An error only means a provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .user_agent(concat!("dtm/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| RegistryError::BadUrl {
                url: base.to_string(),
                message: format!("cannot create an HTTP client: {e}"),
            })?;
        Ok(Self {
            base: base.to_string(),
            client,
        })
    }
}

fn classify(e: &reqwest::Error) -> FetchFailure {
    if e.is_timeout() {
        return FetchFailure::Timeout;
    }
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return FetchFailure::Timeout;
        }
        src = s.source();
    }
    if e.is_builder() {
        FetchFailure::Client(msg)
    } else if e.is_body() || e.is_decode() {
        FetchFailure::Body(msg)
    } else {
        FetchFailure::Connect(msg)
    }
}

impl Fetch for HttpFetch {
    fn base(&self) -> &str {
        &self.base
    }

    fn get(&self, rel: &str, progress: ProgressFn<'_>) -> Result<Vec<u8>, FetchError> {
        let url = self.url(rel);
        let fail = |failure| FetchError {
            url: url.clone(),
            failure,
            attempts: 1,
        };
        let mut resp = self
            .client
            .get(&url)
            .send()
            .map_err(|e| fail(classify(&e)))?;
        let status = resp.status().as_u16();
        if status == 404 || status == 410 {
            return Err(fail(FetchFailure::NotFound));
        }
        if !(200..300).contains(&status) {
            return Err(fail(FetchFailure::Status(status)));
        }
        let total = resp.content_length();
        let mut body = Vec::with_capacity(total.unwrap_or(0).min(256 << 20) as usize);
        let mut buf = vec![0u8; 64 * 1024];
        progress(0, total);
        loop {
            match resp.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    body.extend_from_slice(&buf[..n]);
                    progress(body.len() as u64, total);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                        || e.get_ref()
                            .and_then(|i| i.downcast_ref::<reqwest::Error>())
                            .is_some_and(reqwest::Error::is_timeout);
                    return Err(fail(if timed_out {
                        FetchFailure::Timeout
                    } else {
                        FetchFailure::Body(e.to_string())
                    }));
                }
            }
        }
        if let Some(t) = total
            && (body.len() as u64) < t
        {
            return Err(fail(FetchFailure::Truncated {
                expected: t,
                got: body.len() as u64,
            }));
        }
        Ok(body)
    }
}

/// Retries another fetcher's retryable failures with exponential backoff and full jitter.
pub(super) struct Retrying {
    inner: Box<dyn Fetch>,
    retries: u32,
    backoff: Duration,
    events: Option<EventSink>,
}

impl fmt::Debug for Retrying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("inner", &self.inner)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish()
    }
}

/// A random factor in [0.5, 1.0): the delay is never zero and never synchronised between
/// processes retrying the same server.
fn jitter() -> f64 {
    let mut b = [0u8; 2];
    let r = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / 65536.0
    } else {
        0.5
    };
    0.5 + r / 2.0
}

/// The delay before retry number `attempt` (1-based).
pub(super) fn backoff_delay(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(10));
    exp.min(Duration::from_secs(30)).mul_f64(jitter())
}

impl Fetch for Retrying {
    fn base(&self) -> &str {
        self.inner.base()
    }

    fn get(&self, rel: &str, progress: ProgressFn<'_>) -> Result<Vec<u8>, FetchError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.inner.get(rel, progress) {
                Ok(b) => return Ok(b),
                Err(mut e) => {
                    if !e.failure.retryable() || attempt > self.retries {
                        e.attempts = attempt;
                        return Err(e);
                    }
                    let wait = backoff_delay(self.backoff, attempt);
                    if let Some(ev) = &self.events {
                        ev(Event::Retry {
                            url: e.url.clone(),
                            attempt,
                            wait,
                            reason: e.failure.to_string(),
                        });
                    }
                    std::thread::sleep(wait);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_for_loopback_only_unless_insecure() {
        let d = Path::new("/cfg");
        for ok in [
            "http://127.0.0.1:8080/reg",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(RegistryUrl::parse(ok, d, false).is_ok(), "{ok}");
        }
        assert!(RegistryUrl::parse("http://example.com/r", d, false).is_err());
        assert!(RegistryUrl::parse("http://127.0.0.1.evil.com/r", d, false).is_err());
        let (u, warn) = RegistryUrl::parse("http://example.com/r", d, true).unwrap();
        assert_eq!(u, RegistryUrl::Http("http://example.com/r".into()));
        assert!(warn.is_some());
        assert!(RegistryUrl::parse("ftp://x/y", d, false).is_err());
        assert_eq!(
            RegistryUrl::parse("file:///srv/reg", d, false).unwrap().0,
            RegistryUrl::File("/srv/reg".into())
        );
        assert_eq!(
            RegistryUrl::parse("mirror", d, false).unwrap().0,
            RegistryUrl::File("/cfg/mirror".into())
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let b = Duration::from_millis(100);
        let d1 = backoff_delay(b, 1);
        assert!(d1 >= Duration::from_millis(50) && d1 < Duration::from_millis(100));
        let d4 = backoff_delay(b, 4);
        assert!(d4 >= Duration::from_millis(400) && d4 < Duration::from_millis(800));
        assert!(backoff_delay(b, 40) <= Duration::from_secs(30));
    }

    #[test]
    fn only_transient_failures_are_retried() {
        assert!(FetchFailure::Status(503).retryable());
        assert!(FetchFailure::Timeout.retryable());
        assert!(!FetchFailure::Status(403).retryable());
        assert!(!FetchFailure::NotFound.retryable());
    }
}
