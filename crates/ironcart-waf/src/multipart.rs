//! Minimal body parsers for the formats that are not a simple list of pairs:
//! `multipart/form-data` (parts, file names, part headers and the strictness
//! flags CRS checks) and XML (its text and attribute values).
//!
//! They aim to see what an application framework would see, and to flag
//! what it might see differently (malformed framing), not to validate.

/// One multipart part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub name: String,
    pub filename: Option<Vec<u8>>,
    pub headers: Vec<Vec<u8>>,
    pub body: Vec<u8>,
}

/// The parsed body and what looked wrong with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Multipart {
    pub parts: Vec<Part>,
    pub strict_error: bool,
    pub unmatched_boundary: bool,
    pub error: Option<String>,
}

/// Parses a multipart body with the boundary named in `content_type`.
pub(crate) fn parse(body: &[u8], content_type: &[u8]) -> Multipart {
    let mut result = Multipart::default();
    let Some(boundary) = boundary(content_type) else {
        result.strict_error = true;
        result.error = Some("multipart: no boundary in Content-Type".to_owned());
        return result;
    };
    let delimiter = [b"--".as_slice(), &boundary].concat();
    let mut sections = split_on(body, &delimiter);
    let preamble = sections.remove(0);
    if !preamble.trim_ascii().is_empty() {
        result.strict_error = true;
    }
    let mut closed = false;
    for section in sections {
        if closed {
            result.strict_error = true;
            break;
        }
        if section.starts_with(b"--") {
            closed = true;
            continue;
        }
        match part(section, &mut result) {
            Some(part) => result.parts.push(part),
            None => result.strict_error = true,
        }
    }
    if !closed {
        result.strict_error = true;
        result.error = Some("multipart: final boundary missing".to_owned());
    }
    result.unmatched_boundary = body
        .split(|&b| b == b'\n')
        .any(|line| line.starts_with(b"--") && !line.starts_with(&delimiter));
    result
}

fn boundary(content_type: &[u8]) -> Option<Vec<u8>> {
    let lowered = content_type.to_ascii_lowercase();
    let at = crate::transform::find(&lowered, b"boundary=")?;
    let raw = &content_type[at + b"boundary=".len()..];
    let value = match raw.strip_prefix(b"\"") {
        Some(quoted) => quoted.split(|&b| b == b'"').next().unwrap_or_default(),
        None => raw
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii(),
    };
    (!value.is_empty()).then(|| value.to_vec())
}

fn split_on<'a>(body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = crate::transform::find(rest, delimiter) {
        out.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    out.push(rest);
    out
}

/// Parses one section between delimiters; `None` when it has no header block.
fn part(section: &[u8], result: &mut Multipart) -> Option<Part> {
    let section = section
        .strip_prefix(b"\r\n")
        .or_else(|| section.strip_prefix(b"\n"))?;
    let (head, body) = match crate::transform::find(section, b"\r\n\r\n") {
        Some(at) => (&section[..at], &section[at + 4..]),
        None => {
            let at = crate::transform::find(section, b"\n\n")?;
            result.strict_error = true;
            (&section[..at], &section[at + 2..])
        }
    };
    let body = body
        .strip_suffix(b"\r\n")
        .or_else(|| body.strip_suffix(b"\n"))
        .unwrap_or(body);
    let headers: Vec<Vec<u8>> = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
        .filter(|line| !line.is_empty())
        .collect();
    let disposition = headers.iter().find(|line| {
        line.to_ascii_lowercase()
            .starts_with(b"content-disposition:")
    })?;
    if headers.iter().any(|line| !line.contains(&b':')) {
        result.strict_error = true;
    }
    let name = disposition_param(disposition, b"name").unwrap_or_default();
    let filename = disposition_param(disposition, b"filename");
    Some(Part {
        name: String::from_utf8_lossy(&name).into_owned(),
        filename,
        headers,
        body: body.to_vec(),
    })
}

/// The value of `param=` in a Content-Disposition header, unquoted.
/// Quoted values may contain `;` (e.g. HTML entities in a field name).
fn disposition_param(header: &[u8], param: &[u8]) -> Option<Vec<u8>> {
    let mut rest = &header[header.iter().position(|&b| b == b';')? + 1..];
    loop {
        rest = rest.trim_ascii_start();
        let eq = rest.iter().position(|&b| b == b'=')?;
        let name = rest[..eq].trim_ascii();
        let after = rest[eq + 1..].trim_ascii_start();
        let (value, remainder) = match after.strip_prefix(b"\"") {
            Some(quoted) => {
                let end = quoted
                    .iter()
                    .position(|&b| b == b'"')
                    .unwrap_or(quoted.len());
                let remainder = quoted.get(end + 1..).unwrap_or_default();
                (&quoted[..end], remainder)
            }
            None => {
                let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
                (after[..end].trim_ascii(), &after[end..])
            }
        };
        if name.eq_ignore_ascii_case(param) {
            return Some(value.to_vec());
        }
        let next = remainder.iter().position(|&b| b == b';')?;
        rest = &remainder[next + 1..];
    }
}

/// The text content of an XML document (tags removed) and its attribute values.
pub(crate) fn xml_text(body: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut text = Vec::with_capacity(body.len());
    let mut attributes = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        text.extend_from_slice(&rest[..open]);
        let after = &rest[open..];
        if let Some(cdata) = after.strip_prefix(b"<![CDATA[") {
            let end = crate::transform::find(cdata, b"]]>").unwrap_or(cdata.len());
            text.extend_from_slice(&cdata[..end]);
            rest = cdata.get(end + 3..).unwrap_or_default();
            continue;
        }
        let close = after.iter().position(|&b| b == b'>').unwrap_or(after.len());
        attributes.extend(attribute_values(&after[..close]));
        rest = after.get(close + 1..).unwrap_or_default();
    }
    text.extend_from_slice(rest);
    let decode = |bytes: &[u8]| crate::transform::Transform::HtmlEntityDecode.apply(bytes);
    let attributes = attributes.iter().map(|value| decode(value)).collect();
    (decode(&text), attributes)
}

fn attribute_values(tag: &[u8]) -> Vec<Vec<u8>> {
    let mut values = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.iter().position(|&b| b == b'=') {
        let after = rest[eq + 1..].trim_ascii_start();
        let Some(&quote) = after.first().filter(|q| matches!(q, b'"' | b'\'')) else {
            rest = &rest[eq + 1..];
            continue;
        };
        let inner = &after[1..];
        let end = inner
            .iter()
            .position(|&b| b == quote)
            .unwrap_or(inner.len());
        values.push(inner[..end].to_vec());
        rest = inner.get(end + 1..).unwrap_or_default();
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nMug\r\n--XyZ\r\nContent-Disposition: form-data; name=\"img\"; filename=\"a.php\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n";
        let parsed = parse(body, b"multipart/form-data; boundary=XyZ");
        assert!(!parsed.strict_error, "{parsed:?}");
        assert_eq!(parsed.parts.len(), 2);
        assert_eq!(parsed.parts[0].name, "title");
        assert_eq!(parsed.parts[0].body, b"Mug");
        assert_eq!(parsed.parts[1].filename.as_deref(), Some(&b"a.php"[..]));
        assert_eq!(parsed.parts[1].headers.len(), 2);
        let tricky = b"--b\r\nContent-Disposition: form-data; name=\"a&auml;b\"; filename=\"x;y\"\r\n\r\n1\r\n--b--\r\n";
        let parsed = parse(tricky, b"multipart/form-data; boundary=b");
        assert_eq!(parsed.parts[0].name, "a&auml;b");
        assert_eq!(parsed.parts[0].filename.as_deref(), Some(&b"x;y"[..]));
    }

    #[test]
    fn flags_a_missing_final_boundary() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n";
        let parsed = parse(body, b"multipart/form-data; boundary=\"b\"");
        assert!(parsed.strict_error);
        assert!(parsed.error.is_some());
    }

    #[test]
    fn xml_text_and_attributes() {
        let (text, attributes) = xml_text(b"<a x=\"1&#x7B;\"><b>hi&amp;</b><![CDATA[<c>]]></a>");
        assert_eq!(text, b"hi&<c>");
        assert_eq!(attributes, vec![b"1{".to_vec()]);
    }
}
