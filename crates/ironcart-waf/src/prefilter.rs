//! Finds, for a regular expression, a small set of literals such that every
//! match contains at least one of them (compared without ASCII case).
//!
//! The engine feeds all such literals of all rules that share a
//! transformation pipeline into one Aho-Corasick automaton, scans each value
//! once, and evaluates a rule's regex only if one of its literals occurred.
//! A pattern with no usable literal set is always evaluated. Soundness
//! matters more than strength here: a literal set that misses a possible
//! match would silently disable detection, so every step below only ever
//! widens the set (case folding, alternation unions, dropping optional parts).

use regex_syntax::hir::{Class, Hir, HirKind};

/// Most alternatives a literal set may hold before it is given up.
const MAX_SET: usize = 256;
/// Most distinct bytes a character class may expand to inside a literal.
const MAX_CLASS: usize = 4;

/// Literals (lower-case) that every match of `pattern` contains, if any.
/// `unicode` must be the mode the regex itself was compiled in, because
/// Unicode case folding lets ASCII letters match non-ASCII characters.
pub(crate) fn required_literals(pattern: &str, unicode: bool) -> Option<Vec<Vec<u8>>> {
    let hir = parse(pattern, unicode)?;
    let info = analyse(&hir);
    let set = info.required?;
    let usable = !set.is_empty() && set.iter().all(|lit| !lit.is_empty()) && set.len() <= MAX_SET;
    usable.then_some(set)
}

fn parse(pattern: &str, unicode: bool) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .unicode(unicode)
        .utf8(unicode)
        .dot_matches_new_line(true)
        .build()
        .parse(pattern)
        .ok()
}

/// What a sub-expression is known to match.
#[derive(Debug, Clone, Default)]
struct Info {
    /// Every match is exactly one of these strings.
    exact: Option<Vec<Vec<u8>>>,
    /// Every match contains one of these strings.
    required: Option<Vec<Vec<u8>>>,
}

impl Info {
    fn exact(set: Vec<Vec<u8>>) -> Self {
        Self {
            required: Some(set.clone()),
            exact: Some(set),
        }
    }

    fn unknown() -> Self {
        Self::default()
    }
}

fn analyse(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info {
            exact: Some(vec![Vec::new()]),
            required: None,
        },
        HirKind::Literal(literal) => Info::exact(vec![literal.0.to_ascii_lowercase()]),
        HirKind::Class(class) => class_bytes(class).map_or_else(Info::unknown, |bytes| {
            Info::exact(bytes.into_iter().map(|b| vec![b]).collect())
        }),
        HirKind::Capture(capture) => analyse(&capture.sub),
        HirKind::Repetition(repetition) => {
            let sub = analyse(&repetition.sub);
            repeat(sub, repetition.min, repetition.max)
        }
        HirKind::Concat(items) => concat(items),
        HirKind::Alternation(items) => alternation(items),
    }
}

/// The lower-cased bytes a small ASCII class can match, if few enough.
fn class_bytes(class: &Class) -> Option<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::new();
    let mut add = |start: u32, end: u32| -> Option<()> {
        if end > 0x7f || end - start >= 64 {
            return None;
        }
        for code in start..=end {
            let byte = u8::try_from(code).ok()?.to_ascii_lowercase();
            if !bytes.contains(&byte) {
                bytes.push(byte);
            }
        }
        Some(())
    };
    match class {
        Class::Bytes(ranges) => {
            for range in ranges.iter() {
                add(u32::from(range.start()), u32::from(range.end()))?;
            }
        }
        Class::Unicode(ranges) => {
            for range in ranges.iter() {
                add(u32::from(range.start()), u32::from(range.end()))?;
            }
        }
    }
    (bytes.len() <= MAX_CLASS && !bytes.is_empty()).then_some(bytes)
}

fn repeat(sub: Info, min: u32, max: Option<u32>) -> Info {
    match (min, max) {
        (1, Some(1)) => sub,
        (0, Some(1)) => Info {
            exact: sub.exact.map(|mut set| {
                set.push(Vec::new());
                set
            }),
            required: None,
        },
        (0, _) => Info::unknown(),
        _ => Info {
            exact: None,
            required: sub.required,
        },
    }
}

fn concat(items: &[Hir]) -> Info {
    let mut candidates: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut run: Option<Vec<Vec<u8>>> = None;
    let mut all_exact = true;
    for item in items {
        let info = analyse(item);
        match info.exact {
            Some(set) => {
                run = Some(match run.take() {
                    None => set,
                    Some(previous) => match product(&previous, &set) {
                        Some(joined) => joined,
                        None => {
                            all_exact = false;
                            candidates.push(previous);
                            set
                        }
                    },
                });
            }
            None => {
                all_exact = false;
                candidates.extend(run.take());
                candidates.extend(info.required);
            }
        }
    }
    let exact = if all_exact { run.clone() } else { None };
    candidates.extend(run);
    Info {
        exact,
        required: best(candidates),
    }
}

fn alternation(items: &[Hir]) -> Info {
    let infos: Vec<Info> = items.iter().map(analyse).collect();
    let exact = union(infos.iter().map(|info| info.exact.as_ref()));
    let required = union(infos.iter().map(|info| info.required.as_ref()));
    Info { exact, required }
}

fn union<'a>(sets: impl Iterator<Item = Option<&'a Vec<Vec<u8>>>>) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for set in sets {
        for literal in set? {
            if !out.contains(literal) {
                out.push(literal.clone());
            }
        }
        if out.len() > MAX_SET {
            return None;
        }
    }
    Some(out)
}

fn product(left: &[Vec<u8>], right: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if left.len() * right.len() > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(left.len() * right.len());
    for head in left {
        for tail in right {
            let joined = [head.as_slice(), tail.as_slice()].concat();
            if !out.contains(&joined) {
                out.push(joined);
            }
        }
    }
    Some(out)
}

/// The most selective set: longest shortest literal, then fewest literals.
fn best(candidates: Vec<Vec<Vec<u8>>>) -> Option<Vec<Vec<u8>>> {
    candidates
        .into_iter()
        .filter(|set| !set.is_empty())
        .map(|set| {
            let shortest = set.iter().map(Vec::len).min().unwrap_or(0);
            (shortest, std::cmp::Reverse(set.len()), set)
        })
        .filter(|(shortest, _, _)| *shortest > 0)
        .max_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)))
        .map(|(_, _, set)| set)
}

#[cfg(test)]
mod tests {
    use super::required_literals;

    fn lits(pattern: &str) -> Option<Vec<String>> {
        required_literals(pattern, false).map(|set| {
            let mut out: Vec<String> = set
                .into_iter()
                .map(|lit| String::from_utf8_lossy(&lit).into_owned())
                .collect();
            out.sort();
            out
        })
    }

    #[test]
    fn picks_the_longest_required_piece() {
        assert_eq!(lits(r"(?i)union\s+select"), Some(vec!["select".into()]));
        assert_eq!(lits(r"ab?c"), Some(vec!["abc".into(), "ac".into()]));
    }

    #[test]
    fn alternation_needs_every_branch() {
        assert_eq!(
            lits(r"(?i:<script|javascript:)"),
            Some(vec!["<script".into(), "javascript:".into()])
        );
        assert_eq!(lits(r"foo|\d+"), None);
    }

    #[test]
    fn optional_and_wide_parts_give_nothing() {
        assert_eq!(lits(r"\d*"), None);
        assert_eq!(lits(r"[a-z]+"), None);
        assert_eq!(lits(r"^$"), None);
    }
}
