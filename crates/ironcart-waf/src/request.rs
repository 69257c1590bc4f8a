//! The request as the WAF sees it, independent of any HTTP framework.
//!
//! The app adapts its own request type into [`Request`]: the method, the
//! request target exactly as received (path and raw query), the protocol
//! version, the headers as name/value pairs and the body bytes. Cookies and
//! the content type are read from the headers, so they can never disagree
//! with what the application itself parses.

use std::net::IpAddr;

/// One HTTP request to inspect. Borrowed, so building it copies nothing.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) version: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a [u8])>,
    pub(crate) body: &'a [u8],
    pub(crate) client_addr: Option<IpAddr>,
}

impl<'a> Request<'a> {
    /// A request with `method` and `target` (`/path?query` as on the request
    /// line, still percent-encoded), HTTP/1.1, no headers and no body.
    pub fn new(method: &'a str, target: &'a str) -> Self {
        Self {
            method,
            target,
            version: "HTTP/1.1",
            headers: Vec::new(),
            body: &[],
            client_addr: None,
        }
    }

    /// Sets the protocol as it appears on the request line (`HTTP/2`).
    pub fn version(mut self, version: &'a str) -> Self {
        self.version = version;
        self
    }

    /// Adds a header; values are bytes because HTTP does not promise UTF-8.
    pub fn header(mut self, name: &'a str, value: &'a (impl AsRef<[u8]> + ?Sized)) -> Self {
        self.headers.push((name, value.as_ref()));
        self
    }

    /// Adds a header in place (for adapters that loop over a header map).
    pub fn push_header(&mut self, name: &'a str, value: &'a [u8]) {
        self.headers.push((name, value));
    }

    /// Sets the request body as received (after transfer decoding).
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Sets the client address the app trusts (after proxy handling).
    pub fn client_addr(mut self, addr: IpAddr) -> Self {
        self.client_addr = Some(addr);
        self
    }

    /// The first value of header `name`, compared without case.
    pub(crate) fn header_value(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    }

    /// The path part of the target (absolute-form targets lose scheme and host).
    pub(crate) fn path(&self) -> &'a str {
        let target = self.target;
        let without_authority = match target.split_once("://") {
            Some((_, rest)) if !target.starts_with('/') => {
                rest.find('/').map_or("/", |slash| &rest[slash..])
            }
            _ => target,
        };
        without_authority
            .split_once('?')
            .map_or(without_authority, |(path, _)| path)
    }

    /// The raw query string after the first `?`, if any.
    pub(crate) fn query(&self) -> Option<&'a str> {
        self.target.split_once('?').map(|(_, query)| query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_target_into_path_and_query() {
        let request = Request::new("GET", "/search?q=a%20b&x");
        assert_eq!(request.path(), "/search");
        assert_eq!(request.query(), Some("q=a%20b&x"));
        let absolute = Request::new("GET", "http://shop.example/p?x=1");
        assert_eq!(absolute.path(), "/p");
    }

    #[test]
    fn finds_headers_without_case() {
        let request = Request::new("GET", "/").header("Content-Type", "application/json");
        assert_eq!(
            request.header_value("content-type"),
            Some(&b"application/json"[..])
        );
        assert_eq!(request.header_value("cookie"), None);
    }
}
