//! Structured JSON logs, one object per line, ready for aggregation. What must never
//! be logged: passwords, tokens (access, refresh, reset), key material, card data,
//! full email addresses, request bodies or Authorization headers. Security events use
//! the `security` target.
//!
//! The code logs ids rather than personal data; as a second line of defence every
//! line passes a redaction filter before it is written: card numbers, SSNs, keys and
//! JWTs are masked by the DLP detectors, refresh tokens by their prefix, and email
//! addresses keep only their first character and domain.

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init() {
    init_with(std::io::stdout);
}

/// As [`init`], writing the (redacted) lines to `writer` instead of stdout; the test
/// suite uses it to capture the logs exactly as production writes them.
pub fn init_with<W>(writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,rustls=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_span_events(FmtSpan::NONE)
        .with_target(true)
        .with_writer(Redacting(writer))
        .try_init();
}

/// Wraps a writer factory so that every log line is redacted before it is written.
#[derive(Clone, Copy, Debug)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactingLine<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingLine {
            buffer: Vec::with_capacity(512),
            inner: self.0.make_writer(),
        }
    }
}

/// Collects one event's output and writes it redacted when dropped.
pub struct RedactingLine<W: Write> {
    buffer: Vec<u8>,
    inner: W,
}

impl<W: Write> Write for RedactingLine<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for RedactingLine<W> {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let _ = self.inner.write_all(redact(&text).as_bytes());
        let _ = self.inner.flush();
    }
}

/// Masks everything that must not reach a log.
pub fn redact(line: &str) -> String {
    let findings = ironcart_dlp::scan(line);
    let masked = if findings.is_empty() {
        line.to_owned()
    } else {
        ironcart_dlp::mask(line, &findings)
    };
    mask_emails(&mask_refresh_tokens(&masked))
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Refresh tokens are `rt_` and 43 base64url characters.
fn mask_refresh_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("rt_") {
        let (before, candidate) = rest.split_at(at);
        out.push_str(before);
        let body: String = candidate[3..]
            .chars()
            .take_while(|c| is_token_char(*c))
            .collect();
        let starts_word = !before.chars().next_back().is_some_and(is_token_char);
        if starts_word && body.len() >= 32 {
            out.push_str("[REDACTED:refresh_token]");
            rest = &candidate[3 + body.len()..];
        } else {
            out.push_str("rt_");
            rest = &candidate[3..];
        }
    }
    out.push_str(rest);
    out
}

fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

/// `ann.lee@example.com` → `a***@example.com`.
fn mask_emails(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut index = 0;
    while index < chars.len() {
        if chars[index] != '@' {
            out.push(chars[index]);
            index += 1;
            continue;
        }
        let local_len = out.chars().rev().take_while(|c| is_local_char(*c)).count();
        let domain: String = chars[index + 1..]
            .iter()
            .take_while(|c| is_domain_char(**c))
            .collect();
        if local_len == 0 || !domain.contains('.') {
            out.push('@');
            index += 1;
            continue;
        }
        let keep = out.chars().count() - local_len;
        let first = out.chars().nth(keep).unwrap_or('*');
        out = out.chars().take(keep).collect();
        out.push(first);
        out.push_str("***@");
        out.push_str(&domain);
        index += 1 + domain.chars().count();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_personal_data_are_masked_in_log_lines() {
        let jwt = "eyJhbGciOiJFZERTQSIsInR5cCI6ImF0K2p3dCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJlc2ln";
        let refresh = "rt_Q2hhbmdlIG1lIGFuZCBrZWVwIHRoZSBzZWNyZXQgc2FmZQ";
        let line = format!(
            r#"{{"msg":"x","card":"4242 4242 4242 4242","email":"ann.lee@example.com","jwt":"{jwt}","rt":"{refresh}"}}"#
        );
        let redacted = redact(&line);
        assert!(!redacted.contains("4242 4242 4242 4242"), "{redacted}");
        assert!(!redacted.contains("ann.lee@example.com"), "{redacted}");
        assert!(redacted.contains("a***@example.com"), "{redacted}");
        assert!(!redacted.contains(jwt), "{redacted}");
        assert!(!redacted.contains(refresh), "{redacted}");
        assert!(redacted.contains("[REDACTED:refresh_token]"), "{redacted}");
    }

    #[test]
    fn ordinary_lines_pass_unchanged() {
        for line in [
            r#"{"message":"request completed","http.status":200,"request.id":"9e5106a1-fea9-4ca8-a05a-7937a64e559b"}"#,
            "user @ home, order 1234, sort_by=price",
        ] {
            assert_eq!(redact(line), line);
        }
    }

    #[test]
    fn the_writer_redacts_what_it_is_given() {
        let sink = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().map(|mut v| v.extend_from_slice(b)).ok();
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        {
            let mut line = RedactingLine {
                buffer: Vec::new(),
                inner: Sink(sink.clone()),
            };
            line.write_all(b"login for bob@example.org card 5555555555554444\n")
                .ok();
        }
        let written = String::from_utf8(sink.lock().map(|v| v.clone()).unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(
            written,
            "login for b***@example.org card ************4444\n"
        );
    }
}
