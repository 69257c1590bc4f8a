//! Splits a [`Request`] into the named values that rules inspect: SecLang's
//! collections (`ARGS`, `REQUEST_HEADERS`, `REQUEST_COOKIES`, `FILES`, ...)
//! and single values (`REQUEST_URI`, `REQUEST_BODY`, ...).
//!
//! Every value gets a stable slot number for the life of the inspection, so
//! the engine can cache each value's transformations and prefilter hits.
//! Bodies are parsed by content type: URL-encoded forms and JSON become
//! arguments (JSON fields are named by their path, e.g. `json.body_html`),
//! multipart parts become arguments and files, XML yields its text.

use crate::request::Request;

/// Where a value comes from: a collection, or one of the single values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    ArgsGet,
    ArgsPost,
    ArgsGetNames,
    ArgsPostNames,
    Headers,
    HeadersNames,
    Cookies,
    CookiesNames,
    Files,
    FilesNames,
    FilesSizes,
    MultipartPartHeaders,
    Xml,
    XmlAttributes,
    RequestUri,
    RequestUriRaw,
    RequestFilename,
    RequestBasename,
    RequestLine,
    RequestMethod,
    RequestProtocol,
    QueryString,
    RequestBody,
    RequestBodyLength,
    RemoteAddr,
    ReqbodyProcessor,
    ReqbodyError,
    ReqbodyErrorMsg,
    MultipartStrictError,
    MultipartUnmatchedBoundary,
    FilesCombinedSize,
    ArgsCombinedSize,
}

const SOURCE_COUNT: usize = Source::ArgsCombinedSize as usize + 1;

/// One inspectable value and its key within its collection.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: String,
    pub value: Vec<u8>,
}

/// How the body is parsed (`REQBODY_PROCESSOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyProcessor {
    None,
    UrlEncoded,
    Json,
    Multipart,
    Xml,
}

impl BodyProcessor {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::None => "",
            Self::UrlEncoded => "URLENCODED",
            Self::Json => "JSON",
            Self::Multipart => "MULTIPART",
            Self::Xml => "XML",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_uppercase().as_str() {
            "URLENCODED" => Self::UrlEncoded,
            "JSON" => Self::Json,
            "MULTIPART" => Self::Multipart,
            "XML" => Self::Xml,
            _ => return None,
        })
    }

    fn for_content_type(content_type: &[u8]) -> Self {
        let lowered = content_type.to_ascii_lowercase();
        let media = lowered.split(|&b| b == b';').next().unwrap_or_default();
        let media = media.trim_ascii();
        if media == b"application/x-www-form-urlencoded" {
            Self::UrlEncoded
        } else if media == b"multipart/form-data" {
            Self::Multipart
        } else if media == b"application/json" || media.ends_with(b"+json") {
            Self::Json
        } else if media == b"text/xml" || media == b"application/xml" || media.ends_with(b"+xml") {
            Self::Xml
        } else {
            Self::None
        }
    }
}

/// All values of one request, grouped by source.
#[derive(Debug, Clone)]
pub(crate) struct RequestData {
    fields: Vec<Field>,
    by_source: Vec<Vec<usize>>,
    pub processor: BodyProcessor,
}

impl RequestData {
    /// Collects what phase 1 (request line and headers) may inspect.
    pub(crate) fn headers_phase(request: &Request<'_>) -> Self {
        let mut data = Self {
            fields: Vec::new(),
            by_source: vec![Vec::new(); SOURCE_COUNT],
            processor: BodyProcessor::None,
        };
        data.add_request_line(request);
        data.add_headers(request);
        let processor = request
            .header_value("content-type")
            .map_or(BodyProcessor::None, BodyProcessor::for_content_type);
        data.set_processor(processor);
        data
    }

    /// The slots of all values from `source`.
    pub(crate) fn slots(&self, source: Source) -> &[usize] {
        &self.by_source[source as usize]
    }

    pub(crate) fn field(&self, slot: usize) -> &Field {
        &self.fields[slot]
    }

    /// The latest value of a single-valued source.
    #[cfg(test)]
    pub(crate) fn single(&self, source: Source) -> Option<&Field> {
        self.slots(source).last().map(|&slot| &self.fields[slot])
    }

    pub(crate) fn push(&mut self, source: Source, name: impl Into<String>, value: Vec<u8>) {
        let slot = self.fields.len();
        self.fields.push(Field {
            name: name.into(),
            value,
        });
        self.by_source[source as usize].push(slot);
    }

    /// Switches the body processor (`ctl:requestBodyProcessor`).
    pub(crate) fn set_processor(&mut self, processor: BodyProcessor) {
        self.processor = processor;
        let name = processor.name().as_bytes().to_vec();
        self.push(Source::ReqbodyProcessor, "", name);
    }

    fn add_request_line(&mut self, request: &Request<'_>) {
        let path = request.path();
        let line = format!("{} {} {}", request.method, request.target, request.version);
        self.push(Source::RequestLine, "", line.into_bytes());
        self.push(
            Source::RequestMethod,
            "",
            request.method.as_bytes().to_vec(),
        );
        self.push(
            Source::RequestProtocol,
            "",
            request.version.as_bytes().to_vec(),
        );
        // As in ModSecurity, REQUEST_URI and REQUEST_FILENAME are
        // percent-decoded (not `+`); REQUEST_URI_RAW is as received.
        let target = request.target.as_bytes();
        self.push(Source::RequestUriRaw, "", target.to_vec());
        self.push(Source::RequestUri, "", percent_decode(target));
        let filename = percent_decode(path.as_bytes());
        let basename_start = filename
            .iter()
            .rposition(|&b| b == b'/')
            .map_or(0, |i| i + 1);
        self.push(
            Source::RequestBasename,
            "",
            filename[basename_start..].to_vec(),
        );
        self.push(Source::RequestFilename, "", filename);
        let query = request.query().unwrap_or_default();
        self.push(Source::QueryString, "", query.as_bytes().to_vec());
        if let Some(addr) = request.client_addr {
            self.push(Source::RemoteAddr, "", addr.to_string().into_bytes());
        }
        for (name, value) in form_pairs(query.as_bytes()) {
            self.push(
                Source::ArgsGetNames,
                name.clone(),
                name.clone().into_bytes(),
            );
            self.push(Source::ArgsGet, name, value);
        }
    }

    fn add_headers(&mut self, request: &Request<'_>) {
        for (name, value) in &request.headers {
            self.push(Source::HeadersNames, *name, name.as_bytes().to_vec());
            self.push(Source::Headers, *name, value.to_vec());
            if name.eq_ignore_ascii_case("cookie") {
                for (cookie, cookie_value) in cookie_pairs(value) {
                    self.push(
                        Source::CookiesNames,
                        cookie.clone(),
                        cookie.clone().into_bytes(),
                    );
                    self.push(Source::Cookies, cookie, cookie_value);
                }
            }
        }
    }

    /// Parses the body with the current processor; what phase 2 adds.
    pub(crate) fn add_body(&mut self, body: &[u8], content_type: Option<&[u8]>, force_raw: bool) {
        self.push(
            Source::RequestBodyLength,
            "",
            body.len().to_string().into_bytes(),
        );
        // The raw body stays visible beside parsed JSON (its keys and
        // structure are attack surface too, CRS 934210 reads them there);
        // XML and multipart bodies need `ctl:forceRequestBodyVariable`.
        let raw_visible = force_raw
            || !matches!(
                self.processor,
                BodyProcessor::Multipart | BodyProcessor::Xml
            );
        if raw_visible {
            self.push(Source::RequestBody, "", body.to_vec());
        }
        let outcome = match self.processor {
            BodyProcessor::None => Ok(()),
            BodyProcessor::UrlEncoded => {
                self.add_form_args(body);
                Ok(())
            }
            BodyProcessor::Json => self.add_json_args(body),
            BodyProcessor::Multipart => self.add_multipart(body, content_type.unwrap_or_default()),
            BodyProcessor::Xml => {
                self.add_xml(body);
                Ok(())
            }
        };
        let (flag, message) = match outcome {
            Ok(()) => (b"0".to_vec(), String::new()),
            Err(message) => (b"1".to_vec(), message),
        };
        self.push(Source::ReqbodyError, "", flag);
        self.push(Source::ReqbodyErrorMsg, "", message.into_bytes());
        self.add_sizes();
    }

    fn add_arg(&mut self, name: String, value: Vec<u8>) {
        self.push(
            Source::ArgsPostNames,
            name.clone(),
            name.clone().into_bytes(),
        );
        self.push(Source::ArgsPost, name, value);
    }

    fn add_form_args(&mut self, body: &[u8]) {
        for (name, value) in form_pairs(body) {
            self.add_arg(name, value);
        }
    }

    fn add_json_args(&mut self, body: &[u8]) -> Result<(), String> {
        let document: serde_json::Value =
            serde_json::from_slice(body).map_err(|err| format!("JSON parsing error: {err}"))?;
        let mut pairs = Vec::new();
        flatten_json("json", &document, &mut pairs);
        for (name, value) in pairs {
            self.add_arg(name, value);
        }
        Ok(())
    }

    fn add_multipart(&mut self, body: &[u8], content_type: &[u8]) -> Result<(), String> {
        let parsed = crate::multipart::parse(body, content_type);
        let strict = if parsed.strict_error { b"1" } else { b"0" };
        self.push(Source::MultipartStrictError, "", strict.to_vec());
        let unmatched = if parsed.unmatched_boundary {
            b"1"
        } else {
            b"0"
        };
        self.push(Source::MultipartUnmatchedBoundary, "", unmatched.to_vec());
        for part in parsed.parts {
            for header in &part.headers {
                self.push(
                    Source::MultipartPartHeaders,
                    part.name.clone(),
                    header.clone(),
                );
            }
            match part.filename {
                Some(filename) => {
                    self.push(
                        Source::FilesNames,
                        part.name.clone(),
                        part.name.clone().into_bytes(),
                    );
                    let size = part.body.len().to_string().into_bytes();
                    self.push(Source::FilesSizes, part.name.clone(), size);
                    self.push(Source::Files, part.name, filename);
                }
                None => self.add_arg(part.name, part.body),
            }
        }
        parsed.error.map_or(Ok(()), Err)
    }

    fn add_xml(&mut self, body: &[u8]) {
        let (text, attributes) = crate::multipart::xml_text(body);
        self.push(Source::Xml, "/*", text);
        for value in attributes {
            self.push(Source::XmlAttributes, "//@*", value);
        }
    }

    fn add_sizes(&mut self) {
        let files: usize = self
            .slots(Source::FilesSizes)
            .iter()
            .filter_map(|&slot| std::str::from_utf8(&self.fields[slot].value).ok())
            .filter_map(|size| size.parse::<usize>().ok())
            .sum();
        self.push(
            Source::FilesCombinedSize,
            "",
            files.to_string().into_bytes(),
        );
        let args: usize = [Source::ArgsGet, Source::ArgsPost]
            .iter()
            .flat_map(|&source| self.slots(source).iter())
            .map(|&slot| self.fields[slot].name.len() + self.fields[slot].value.len())
            .sum();
        self.push(Source::ArgsCombinedSize, "", args.to_string().into_bytes());
    }
}

/// `a=1&b=2` pairs, each side URL-decoded (`+` is a space); a bare name has
/// an empty value, so it is still inspected.
pub(crate) fn form_pairs(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    text.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            let name = crate::transform::Transform::UrlDecode.apply(name);
            let value = crate::transform::Transform::UrlDecode.apply(value);
            (String::from_utf8_lossy(&name).into_owned(), value)
        })
        .collect()
}

/// `%XX` decoding only (`+` stays a plus sign, as in a path).
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let hex = |at: usize| raw.get(at).and_then(|b| (*b as char).to_digit(16));
        match (raw[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push(u8::try_from(high << 4 | low).unwrap_or(b'%'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}

fn cookie_pairs(header: &[u8]) -> Vec<(String, Vec<u8>)> {
    header
        .split(|&b| b == b';')
        .map(<[u8]>::trim_ascii)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &b""[..]),
            };
            (
                String::from_utf8_lossy(name.trim_ascii()).into_owned(),
                value.to_vec(),
            )
        })
        .collect()
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, Vec<u8>)>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                flatten_json(&format!("{prefix}.{key}"), child, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                flatten_json(&format!("{prefix}.{index}"), child, out);
            }
        }
        Value::String(text) => out.push((prefix.to_owned(), text.as_bytes().to_vec())),
        Value::Null => out.push((prefix.to_owned(), Vec::new())),
        other => out.push((prefix.to_owned(), other.to_string().into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(data: &RequestData, source: Source) -> Vec<(String, String)> {
        data.slots(source)
            .iter()
            .map(|&slot| {
                let field = data.field(slot);
                (
                    field.name.clone(),
                    String::from_utf8_lossy(&field.value).into_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn query_headers_and_cookies() {
        let request = Request::new("GET", "/p/x.php?a=1+2&flag&b=%27")
            .header("Cookie", "sid=abc; theme=dark")
            .header("User-Agent", "test");
        let data = RequestData::headers_phase(&request);
        assert_eq!(
            values(&data, Source::ArgsGet),
            vec![
                ("a".into(), "1 2".into()),
                ("flag".into(), String::new()),
                ("b".into(), "'".into())
            ]
        );
        assert_eq!(
            values(&data, Source::Cookies)[1],
            ("theme".into(), "dark".into())
        );
        assert_eq!(
            data.single(Source::RequestBasename).unwrap().value,
            b"x.php"
        );
        assert_eq!(
            data.single(Source::RequestFilename).unwrap().value,
            b"/p/x.php"
        );
    }

    #[test]
    fn json_fields_are_named_by_path() {
        let request = Request::new("POST", "/products").header("Content-Type", "application/json");
        let mut data = RequestData::headers_phase(&request);
        assert_eq!(data.processor, BodyProcessor::Json);
        data.add_body(
            br#"{"title":"Mug","tags":["a"],"meta":{"n":2}}"#,
            None,
            false,
        );
        assert_eq!(
            values(&data, Source::ArgsPost),
            vec![
                ("json.meta.n".into(), "2".into()),
                ("json.tags.0".into(), "a".into()),
                ("json.title".into(), "Mug".into())
            ]
        );
        assert_eq!(data.single(Source::ReqbodyError).unwrap().value, b"0");
    }

    #[test]
    fn broken_json_sets_the_body_error() {
        let request = Request::new("POST", "/").header("Content-Type", "application/json");
        let mut data = RequestData::headers_phase(&request);
        data.add_body(b"{\"a\":", None, false);
        assert_eq!(data.single(Source::ReqbodyError).unwrap().value, b"1");
    }
}
