//! Which proxy a connection goes through: the application's choice, or the
//! environment as curl reads it (`https_proxy`/`HTTPS_PROXY` for wss,
//! `http_proxy` for ws, then `all_proxy`/`ALL_PROXY`, with
//! `no_proxy`/`NO_PROXY` exceptions).

use crate::error::{Error, ErrorKind};
use crate::validate::WsUrl;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

/// How a socket chooses its proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// From the environment, as curl reads it (the default).
    #[default]
    FromEnvironment,
    /// No proxy, whatever the environment says.
    Direct,
    /// This proxy, for every host (shared: options are copied per socket).
    Url(Arc<ProxyUrl>),
}

/// The kind of proxy a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// HTTP CONNECT over TCP (`http://`, or a URL without a scheme).
    Http,
    /// HTTP CONNECT over TLS to the proxy (`https://`).
    Https,
    /// SOCKS5, host names resolved locally (`socks5://`).
    Socks5,
    /// SOCKS5, host names resolved by the proxy (`socks5h://`).
    Socks5h,
}

/// A parsed proxy URL. Its `Display` names the proxy without credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub kind: ProxyKind,
    /// Host name or IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// User name and password, percent-decoded.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the password.
        write!(f, "ProxyUrl({self})")
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => write!(f, "{scheme}://[{}]:{}", self.host, self.port),
            _ => write!(f, "{scheme}://{}:{}", self.host, self.port),
        }
    }
}

impl ProxyUrl {
    /// Parses a proxy URL: `http://`, `https://`, `socks5://`, `socks5h://`
    /// or no scheme (HTTP), optional `user:password@` (percent-encoded),
    /// optional port (curl's defaults: 1080, 443 for https://).
    pub fn parse(s: &str) -> Result<ProxyUrl, Error> {
        let bad = |m: String| Error::new(ErrorKind::InvalidOption, m);
        let s = s.trim();
        let with_scheme = if s.contains("://") { s.to_string() } else { format!("http://{s}") };
        let u = url::Url::parse(&with_scheme).map_err(|e| bad(format!("the proxy URL is not valid: {e}")))?;
        let (kind, default_port) = match u.scheme() {
            "http" => (ProxyKind::Http, 1080),
            "https" => (ProxyKind::Https, 443),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            other => {
                return Err(bad(format!(
                    "the proxy scheme '{other}' is not supported (http, https, socks5, socks5h)"
                )))
            }
        };
        let host = match u.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            None => return Err(bad("the proxy URL has no host".into())),
        };
        let decode = |v: &str| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
        let credentials = (!u.username().is_empty() || u.password().is_some())
            .then(|| (decode(u.username()), decode(u.password().unwrap_or(""))));
        // url drops the scheme's default port (80 for http, 443 for https).
        let port = u.port().or_else(|| explicit_port(&with_scheme)).unwrap_or(default_port);
        Ok(ProxyUrl { kind, host, port, credentials })
    }
}

/// The port written in a URL's authority, if any (url hides default ports).
fn explicit_port(s: &str) -> Option<u16> {
    let rest = s.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (_, port) = hostport.rsplit_once(':')?;
    if hostport.ends_with(']') {
        return None;
    }
    port.parse().ok()
}

/// The proxy for `url`, or None for a direct connection.
pub(crate) fn choose(setting: &Proxy, url: &WsUrl) -> Result<Option<ProxyUrl>, String> {
    match setting {
        Proxy::Direct => Ok(None),
        Proxy::Url(p) => Ok(Some(ProxyUrl::clone(p))),
        Proxy::FromEnvironment => from_environment(url, |k| std::env::var(k).ok()),
    }
}

fn from_environment(url: &WsUrl, var: impl Fn(&str) -> Option<String>) -> Result<Option<ProxyUrl>, String> {
    let any = |names: &[&str]| names.iter().find_map(|n| var(n).filter(|v| !v.trim().is_empty()));
    // As curl: the upper-case HTTP_PROXY is not read (CGI sets it from a
    // request header).
    let names: &[&str] = if url.is_secure() { &["https_proxy", "HTTPS_PROXY"] } else { &["http_proxy"] };
    let Some(value) = any(names).or_else(|| any(&["all_proxy", "ALL_PROXY"])) else {
        return Ok(None);
    };
    if let Some(no) = any(&["no_proxy", "NO_PROXY"]) {
        if bypasses(&no, url.host()) {
            return Ok(None);
        }
    }
    ProxyUrl::parse(&value).map(Some).map_err(|e| format!("the proxy from the environment: {}", e.message()))
}

/// Whether `no_proxy` exempts `host`: `*`, host suffixes on a label
/// boundary (a leading dot is ignored), IP addresses and CIDR blocks;
/// entries separated by commas or white space, case-insensitive.
pub(crate) fn bypasses(no_proxy: &str, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy.split([',', ' ', '\t']).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('[').replace(']', "").to_ascii_lowercase();
        if let Some(ip) = ip {
            return match entry.split_once('/') {
                Some((net, bits)) => in_block(ip, net, bits),
                None => entry.parse::<IpAddr>().is_ok_and(|e| e == ip),
            };
        }
        let suffix = entry.trim_start_matches('.').trim_end_matches('.');
        !suffix.is_empty()
            && (host == suffix || host.strip_suffix(suffix).is_some_and(|rest| rest.ends_with('.')))
    })
}

fn in_block(ip: IpAddr, net: &str, bits: &str) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn parses_proxy_urls() {
        let p = ProxyUrl::parse("http://u%40x:p%3Ass@proxy.example:3128").unwrap();
        assert_eq!((p.kind, p.host.as_str(), p.port), (ProxyKind::Http, "proxy.example", 3128));
        assert_eq!(p.credentials, Some(("u@x".into(), "p:ss".into())));
        assert_eq!(p.to_string(), "http://proxy.example:3128");
        assert!(!format!("{p:?}").contains("p:ss"));
        assert_eq!(ProxyUrl::parse("proxy.example").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("http://proxy.example:80").unwrap().port, 80);
        assert_eq!(ProxyUrl::parse("https://proxy.example").unwrap().port, 443);
        let s = ProxyUrl::parse("socks5h://[::1]:9050").unwrap();
        assert_eq!((s.kind, s.host.as_str(), s.port), (ProxyKind::Socks5h, "::1", 9050));
        assert_eq!(s.to_string(), "socks5h://[::1]:9050");
        assert_eq!(ProxyUrl::parse("socks5://h").unwrap().kind, ProxyKind::Socks5);
        assert!(ProxyUrl::parse("ftp://h").is_err());
        assert!(ProxyUrl::parse("http://").is_err());
    }

    #[test]
    fn no_proxy_rules() {
        assert!(bypasses("*", "anything.example"));
        assert!(bypasses("example.com", "example.com"));
        assert!(bypasses(".example.com", "a.b.example.com"));
        assert!(bypasses("foo, Example.COM", "www.example.com"));
        assert!(!bypasses("example.com", "badexample.com"));
        assert!(bypasses("10.0.0.0/8", "10.1.2.3"));
        assert!(!bypasses("10.0.0.0/8", "11.1.2.3"));
        assert!(bypasses("127.0.0.1", "127.0.0.1"));
        assert!(bypasses("::1", "[::1]"));
        assert!(bypasses("[fd00::]/8", "fd12::1"));
        assert!(!bypasses("127.0.0.1", "localhost"));
        assert!(bypasses("a.test localhost", "localhost"));
        assert!(!bypasses("", "localhost"));
    }

    fn env_choice(url: &str, vars: &[(&str, &str)]) -> Option<String> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let url = crate::validate::parse_url(url).unwrap();
        from_environment(&url, |k| vars.get(k).cloned()).unwrap().map(|p| p.to_string())
    }

    #[test]
    fn environment_as_curl_reads_it() {
        let e =
            [("http_proxy", "http://h1:1"), ("HTTPS_PROXY", "http://h2:2"), ("all_proxy", "socks5h://h3:3")];
        assert_eq!(env_choice("ws://x/", &e).as_deref(), Some("http://h1:1"));
        assert_eq!(env_choice("wss://x/", &e).as_deref(), Some("http://h2:2"));
        assert_eq!(env_choice("ws://x/", &[("HTTP_PROXY", "http://h:1")]), None);
        assert_eq!(env_choice("ws://x/", &[("ALL_PROXY", "socks5://h:3")]).as_deref(), Some("socks5://h:3"));
        let np = [("all_proxy", "http://h:1"), ("no_proxy", "x.test,10.0.0.0/8")];
        assert_eq!(env_choice("ws://a.x.test/", &np), None);
        assert_eq!(env_choice("ws://10.9.9.9/", &np), None);
        assert!(env_choice("ws://y.test/", &np).is_some());
        assert_eq!(env_choice("ws://y.test/", &[("all_proxy", "http://h:1"), ("NO_PROXY", "*")]), None);
    }
}
