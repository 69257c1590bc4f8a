//! SecLang transformations (`t:...`): the anti-evasion normalisations a rule
//! applies to a value before its operator sees it.
//!
//! Each function follows the meaning ModSecurity documents for the name;
//! they work on bytes because decoded input need not be UTF-8.

use base64::Engine as _;

/// A transformation named in a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Transform {
    Lowercase,
    Uppercase,
    UrlDecode,
    UrlDecodeUni,
    HtmlEntityDecode,
    JsDecode,
    CssDecode,
    EscapeSeqDecode,
    Utf8ToUnicode,
    RemoveNulls,
    ReplaceNulls,
    RemoveWhitespace,
    CompressWhitespace,
    ReplaceComments,
    RemoveComments,
    RemoveCommentsChar,
    CmdLine,
    NormalizePath,
    NormalizePathWin,
    Length,
    Base64Decode,
    HexEncode,
    HexDecode,
    Trim,
    TrimLeft,
    TrimRight,
}

impl Transform {
    /// The transformation for a `t:` name; `None` for unknown names.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "lowercase" => Self::Lowercase,
            "uppercase" => Self::Uppercase,
            "urldecode" => Self::UrlDecode,
            "urldecodeuni" => Self::UrlDecodeUni,
            "htmlentitydecode" => Self::HtmlEntityDecode,
            "jsdecode" => Self::JsDecode,
            "cssdecode" => Self::CssDecode,
            "escapeseqdecode" => Self::EscapeSeqDecode,
            "utf8tounicode" => Self::Utf8ToUnicode,
            "removenulls" => Self::RemoveNulls,
            "replacenulls" => Self::ReplaceNulls,
            "removewhitespace" => Self::RemoveWhitespace,
            "compresswhitespace" => Self::CompressWhitespace,
            "replacecomments" => Self::ReplaceComments,
            "removecomments" => Self::RemoveComments,
            "removecommentschar" => Self::RemoveCommentsChar,
            "cmdline" => Self::CmdLine,
            "normalizepath" | "normalisepath" => Self::NormalizePath,
            "normalizepathwin" | "normalisepathwin" => Self::NormalizePathWin,
            "length" => Self::Length,
            "base64decode" | "base64decodeext" => Self::Base64Decode,
            "hexencode" => Self::HexEncode,
            "hexdecode" => Self::HexDecode,
            "trim" => Self::Trim,
            "trimleft" => Self::TrimLeft,
            "trimright" => Self::TrimRight,
            _ => return None,
        })
    }

    /// Applies the transformation to `input`.
    pub(crate) fn apply(self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Lowercase => input.to_ascii_lowercase(),
            Self::Uppercase => input.to_ascii_uppercase(),
            Self::UrlDecode => url_decode(input, false),
            Self::UrlDecodeUni => url_decode(input, true),
            Self::HtmlEntityDecode => html_entity_decode(input),
            Self::JsDecode => js_decode(input),
            Self::CssDecode => css_decode(input),
            Self::EscapeSeqDecode => escape_seq_decode(input),
            Self::Utf8ToUnicode => utf8_to_unicode(input),
            Self::RemoveNulls => input.iter().copied().filter(|&b| b != 0).collect(),
            Self::ReplaceNulls => input
                .iter()
                .map(|&b| if b == 0 { b' ' } else { b })
                .collect(),
            Self::RemoveWhitespace => input.iter().copied().filter(|&b| !is_space(b)).collect(),
            Self::CompressWhitespace => compress_whitespace(input),
            Self::ReplaceComments => replace_comments(input),
            Self::RemoveComments => remove_comments(input),
            Self::RemoveCommentsChar => remove_comment_chars(input),
            Self::CmdLine => cmd_line(input),
            Self::NormalizePath => normalize_path(input),
            Self::NormalizePathWin => {
                let slashed: Vec<u8> = input
                    .iter()
                    .map(|&b| if b == b'\\' { b'/' } else { b })
                    .collect();
                normalize_path(&slashed)
            }
            Self::Length => input.len().to_string().into_bytes(),
            Self::Base64Decode => base64_decode(input),
            Self::HexEncode => hex_encode(input),
            Self::HexDecode => hex_decode(input),
            Self::Trim => trim_end(trim_start(input)).to_vec(),
            Self::TrimLeft => trim_start(input).to_vec(),
            Self::TrimRight => trim_end(input).to_vec(),
        }
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0xa0)
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn hex_pair(input: &[u8], at: usize) -> Option<u8> {
    let high = hex_value(*input.get(at)?)?;
    let low = hex_value(*input.get(at + 1)?)?;
    Some(high << 4 | low)
}

/// Maps a `%uHHHH` / `\uHHHH` code to one byte: full-width ASCII to ASCII,
/// otherwise the low byte (as ModSecurity does without a unicode map).
fn unicode_to_byte(code: u32) -> u8 {
    let folded = if (0xff01..=0xff5e).contains(&code) {
        code - 0xfee0
    } else {
        code
    };
    (folded & 0xff) as u8
}

fn hex_quad(input: &[u8], at: usize) -> Option<u32> {
    let mut code = 0u32;
    for offset in 0..4 {
        code = code << 4 | u32::from(hex_value(*input.get(at + offset)?)?);
    }
    Some(code)
}

fn url_decode(input: &[u8], unicode: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'+' {
            out.push(b' ');
            i += 1;
        } else if b == b'%' {
            if unicode
                && matches!(input.get(i + 1), Some(b'u' | b'U'))
                && let Some(code) = hex_quad(input, i + 2)
            {
                out.push(unicode_to_byte(code));
                i += 6;
                continue;
            }
            match hex_pair(input, i + 1) {
                Some(decoded) => {
                    out.push(decoded);
                    i += 3;
                }
                None => {
                    out.push(b);
                    i += 1;
                }
            }
        } else {
            out.push(b);
            i += 1;
        }
    }
    out
}

fn html_entity_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'&'
            && let Some((decoded, used)) = html_entity(&input[i + 1..])
        {
            out.extend_from_slice(&decoded);
            i += 1 + used;
            continue;
        }
        out.push(input[i]);
        i += 1;
    }
    out
}

/// Decodes the entity after `&`; returns its bytes and how much input it used.
fn html_entity(rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    if rest.first() == Some(&b'#') {
        let (radix, start) = match rest.get(1) {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = rest[start..]
            .iter()
            .take_while(|b| (**b as char).is_digit(radix))
            .count();
        if digits == 0 {
            return None;
        }
        let text = std::str::from_utf8(&rest[start..start + digits]).ok()?;
        let code = u32::from_str_radix(text, radix).unwrap_or(u32::MAX);
        let mut used = start + digits;
        if rest.get(used) == Some(&b';') {
            used += 1;
        }
        return Some((vec![(code & 0xff) as u8], used));
    }
    const NAMED: [(&[u8], u8); 6] = [
        (b"quot", b'"'),
        (b"amp", b'&'),
        (b"lt", b'<'),
        (b"gt", b'>'),
        (b"nbsp", 0xa0),
        (b"apos", b'\''),
    ];
    NAMED.iter().find_map(|(name, byte)| {
        let head = rest.get(..name.len())?;
        if !head.eq_ignore_ascii_case(name) {
            return None;
        }
        let used = name.len() + usize::from(rest.get(name.len()) == Some(&b';'));
        Some((vec![*byte], used))
    })
}

fn js_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 >= input.len() {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let next = input[i + 1];
        if next == b'u' {
            if let Some(code) = hex_quad(input, i + 2) {
                out.push(unicode_to_byte(code));
                i += 6;
                continue;
            }
        } else if next == b'x' {
            if let Some(decoded) = hex_pair(input, i + 2) {
                out.push(decoded);
                i += 4;
                continue;
            }
        } else if (b'0'..=b'7').contains(&next) {
            let (value, used) = octal(&input[i + 1..]);
            out.push(value);
            i += 1 + used;
            continue;
        }
        out.push(simple_escape(next).unwrap_or(next));
        i += 2;
    }
    out
}

fn octal(rest: &[u8]) -> (u8, usize) {
    let mut value: u32 = 0;
    let mut used = 0;
    for &b in rest.iter().take(3) {
        if !(b'0'..=b'7').contains(&b) {
            break;
        }
        value = value * 8 + u32::from(b - b'0');
        used += 1;
    }
    ((value & 0xff) as u8, used)
}

fn simple_escape(b: u8) -> Option<u8> {
    Some(match b {
        b'a' => 0x07,
        b'b' => 0x08,
        b'f' => 0x0c,
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'v' => 0x0b,
        _ => return None,
    })
}

fn css_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 >= input.len() {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let digits = input[i + 1..]
            .iter()
            .take(6)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if digits > 0 {
            let mut code: u32 = 0;
            for &b in &input[i + 1..i + 1 + digits] {
                code = code << 4 | u32::from(hex_value(b).unwrap_or(0));
            }
            out.push(unicode_to_byte(code));
            i += 1 + digits;
            if input.get(i).is_some_and(|b| is_space(*b)) {
                i += 1;
            }
        } else if input[i + 1] == b'\n' {
            i += 2;
        } else {
            out.push(input[i + 1]);
            i += 2;
        }
    }
    out
}

fn escape_seq_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] != b'\\' || i + 1 >= input.len() {
            out.push(input[i]);
            i += 1;
            continue;
        }
        let next = input[i + 1];
        if let Some(decoded) = simple_escape(next) {
            out.push(decoded);
            i += 2;
        } else if matches!(next, b'\\' | b'?' | b'\'' | b'"') {
            out.push(next);
            i += 2;
        } else if next == b'x' && hex_pair(input, i + 2).is_some() {
            out.push(hex_pair(input, i + 2).unwrap_or(0));
            i += 4;
        } else if (b'0'..=b'7').contains(&next) {
            let (value, used) = octal(&input[i + 1..]);
            out.push(value);
            i += 1 + used;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn utf8_to_unicode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for chunk in input.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_ascii() {
                out.push(c as u8);
            } else {
                out.extend_from_slice(format!("%u{:04x}", u32::from(c)).as_bytes());
            }
        }
        out.extend_from_slice(chunk.invalid());
    }
    out
}

fn compress_whitespace(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut in_space = false;
    for &b in input {
        if is_space(b) {
            if !in_space {
                out.push(b' ');
            }
            in_space = true;
        } else {
            out.push(b);
            in_space = false;
        }
    }
    out
}

fn replace_comments(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(b"/*") {
            match find(&input[i + 2..], b"*/") {
                Some(end) => i += 2 + end + 2,
                None => i = input.len(),
            }
            out.push(b' ');
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn remove_comments(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let rest = &input[i..];
        if rest.starts_with(b"/*") {
            i = find(&rest[2..], b"*/").map_or(input.len(), |end| i + 2 + end + 2);
        } else if rest.starts_with(b"<!--") {
            i = find(&rest[4..], b"-->").map_or(input.len(), |end| i + 4 + end + 3);
        } else if rest.starts_with(b"--") || rest.starts_with(b"#") {
            break;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

fn remove_comment_chars(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let rest = &input[i..];
        if rest.starts_with(b"/*") || rest.starts_with(b"*/") || rest.starts_with(b"--") {
            i += 2;
        } else if rest.starts_with(b"<!--") {
            i += 4;
        } else if rest.starts_with(b"-->") {
            i += 3;
        } else if rest[0] == b'#' {
            i += 1;
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    out
}

/// Windows and Unix command-line evasion normalisation.
fn cmd_line(input: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(input.len());
    let mut space_pending = false;
    for &b in input {
        match b {
            b'\\' | b'"' | b'\'' | b'^' => {}
            b' ' | b'\t' | b'\n' | b'\r' | b',' | b';' => space_pending = true,
            b'/' | b'(' => {
                space_pending = false;
                out.push(b);
            }
            _ => {
                if space_pending && !out.is_empty() {
                    out.push(b' ');
                }
                space_pending = false;
                out.push(b.to_ascii_lowercase());
            }
        }
    }
    out
}

fn normalize_path(input: &[u8]) -> Vec<u8> {
    let absolute = input.first() == Some(&b'/');
    let trailing = input.last() == Some(&b'/');
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in input.split(|&b| b == b'/') {
        match segment {
            b"" | b"." => {}
            b".." => {
                if segments.last().is_some_and(|last| *last != b"..") {
                    segments.pop();
                } else if !absolute {
                    segments.push(segment);
                }
            }
            _ => segments.push(segment),
        }
    }
    let mut out = Vec::with_capacity(input.len());
    if absolute {
        out.push(b'/');
    }
    out.extend_from_slice(&segments.join(&b'/'));
    if trailing && !segments.is_empty() {
        out.push(b'/');
    }
    out
}

fn base64_decode(input: &[u8]) -> Vec<u8> {
    let cleaned: Vec<u8> = input
        .iter()
        .copied()
        .take_while(|&b| b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(&cleaned)
        .or_else(|_| {
            let usable = cleaned.len() - cleaned.len() % 4;
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(&cleaned[..usable])
        })
        .unwrap_or_default()
}

fn hex_encode(input: &[u8]) -> Vec<u8> {
    input
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

fn hex_decode(input: &[u8]) -> Vec<u8> {
    (0..input.len() / 2)
        .filter_map(|i| hex_pair(input, i * 2))
        .collect()
}

fn trim_start(input: &[u8]) -> &[u8] {
    let start = input
        .iter()
        .position(|b| !is_space(*b))
        .unwrap_or(input.len());
    &input[start..]
}

fn trim_end(input: &[u8]) -> &[u8] {
    let end = input
        .iter()
        .rposition(|b| !is_space(*b))
        .map_or(0, |i| i + 1);
    &input[..end]
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::Transform::*;

    fn run(t: super::Transform, input: &str) -> String {
        String::from_utf8_lossy(&t.apply(input.as_bytes())).into_owned()
    }

    #[test]
    fn url_decoding() {
        assert_eq!(run(UrlDecode, "a%20b+c%2"), "a b c%2");
        assert_eq!(run(UrlDecodeUni, "%u0027or%uff1c"), "'or<");
    }

    #[test]
    fn entity_js_and_css_decoding() {
        assert_eq!(run(HtmlEntityDecode, "&lt;a&#x3e;&#39x&QUOT;"), "<a>'x\"");
        assert_eq!(run(JsDecode, r"\x3cs\u0063ript\n\101"), "<script\nA");
        assert_eq!(run(CssDecode, r"\6a avascript\:"), "javascript:");
    }

    #[test]
    fn comment_and_whitespace_handling() {
        assert_eq!(run(ReplaceComments, "un/**/ion/*x"), "un ion ");
        assert_eq!(run(CompressWhitespace, "a \t\n b"), "a b");
        assert_eq!(run(RemoveWhitespace, "a \t b"), "ab");
        assert_eq!(run(RemoveCommentsChar, "a/*b*/--c#"), "abc");
    }

    #[test]
    fn command_line_normalisation() {
        assert_eq!(
            run(CmdLine, "C^at  \"/etc/pa\\sswd\";Ls"),
            "cat/etc/passwd ls"
        );
        assert_eq!(run(CmdLine, "echo , (id)"), "echo(id)");
    }

    #[test]
    fn path_normalisation() {
        assert_eq!(
            run(NormalizePath, "/a/./b/../../../etc//passwd"),
            "/etc/passwd"
        );
        assert_eq!(run(NormalizePathWin, "..\\..\\x"), "../../x");
    }

    #[test]
    fn small_codecs() {
        assert_eq!(run(Length, "abcd"), "4");
        assert_eq!(run(Base64Decode, "YWJj"), "abc");
        assert_eq!(run(HexEncode, "a"), "61");
        assert_eq!(run(Utf8ToUnicode, "aé"), "a%u00e9");
        assert_eq!(run(EscapeSeqDecode, r"\x41\n\\"), "A\n\\");
        assert_eq!(run(Trim, "  x "), "x");
    }
}
