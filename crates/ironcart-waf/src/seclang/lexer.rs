//! Turns SecLang text into directives made of words.
//!
//! SecLang is line based: a trailing backslash continues a line, `#` starts a
//! comment line, and words are separated by blanks unless double-quoted (a
//! backslash inside quotes escapes the next character).

/// One directive as written: its name, its words and where it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawDirective {
    pub name: String,
    pub args: Vec<String>,
    pub line: usize,
}

/// A lexing problem with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LexError {
    pub line: usize,
    pub reason: String,
}

/// Splits `text` into directives, joining continued lines and skipping comments.
pub(crate) fn directives(text: &str) -> Result<Vec<RawDirective>, LexError> {
    let mut out = Vec::new();
    for (line, logical) in logical_lines(text) {
        let trimmed = logical.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = split_words(trimmed).map_err(|reason| LexError { line, reason })?;
        if words.is_empty() {
            continue;
        }
        let name = words.remove(0);
        out.push(RawDirective {
            name,
            args: words,
            line,
        });
    }
    Ok(out)
}

/// Physical lines joined at trailing backslashes, each with its first line number.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (index, raw) in text.lines().enumerate() {
        if current.is_empty() {
            start = index + 1;
        }
        let line = raw.trim_end_matches('\r');
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                if current.trim().is_empty() {
                    current.clear();
                }
            }
            None => {
                current.push_str(line);
                out.push((start, std::mem::take(&mut current)));
            }
        }
    }
    if !current.is_empty() {
        out.push((start, current));
    }
    out
}

/// Splits a directive into words; double quotes group and `\"` escapes.
fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            words.push(quoted_word(&mut chars)?);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    Ok(words)
}

fn quoted_word(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<String, String> {
    let mut word = String::new();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Ok(word),
            '\\' => match chars.next() {
                Some('"') => word.push('"'),
                Some(other) => {
                    word.push('\\');
                    word.push(other);
                }
                None => word.push('\\'),
            },
            other => word.push(other),
        }
    }
    Err("unterminated double quote".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continued_lines_and_unquotes() {
        let text = "# comment\nSecRule ARGS \"@rx a\\\"b\" \\\n    \"id:1,\\\n    pass\"\n";
        let parsed = directives(text).unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].name, "SecRule");
        assert_eq!(parsed[0].args, vec!["ARGS", "@rx a\"b", "id:1,    pass"]);
        assert_eq!(parsed[0].line, 2);
    }

    #[test]
    fn keeps_other_backslashes() {
        let parsed = directives(r#"SecRule ARGS "@rx \d+\." "id:2""#).unwrap();
        assert_eq!(parsed[0].args[1], r"@rx \d+\.");
    }

    #[test]
    fn reports_unterminated_quote() {
        let err = directives("SecRule ARGS \"@rx a").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
