//! Parser for the subset of ModSecurity's rule language (SecLang) that
//! request inspection needs: `SecRule`, `SecAction`, `SecMarker`,
//! `SecDefaultAction`, `SecRuleEngine`, `SecRuleRemoveById`,
//! `SecRuleRemoveByTag` and `SecRuleUpdateTargetById`. Other directives
//! (audit log, body limits, component signatures) are accepted and ignored,
//! because they configure the web server rather than the decision.
//!
//! The parser only produces syntax; `crate::compile` gives it meaning.

mod lexer;

pub(crate) use lexer::LexError;

/// A parsed SecLang directive.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Directive {
    Rule(RuleText),
    Marker(String),
    DefaultAction(Vec<ActionText>),
    Engine(String),
    RemoveById(Vec<String>),
    RemoveByTag(String),
    UpdateTargetById {
        rule: String,
        targets: Vec<VariableText>,
    },
    Ignored(String),
}

/// A `SecRule` or `SecAction` before compilation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RuleText {
    pub variables: Vec<VariableText>,
    pub operator: OperatorText,
    pub actions: Vec<ActionText>,
    pub line: usize,
}

/// One target such as `ARGS:id`, `!REQUEST_COOKIES:/__utm/` or `&TX:score`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VariableText {
    pub collection: String,
    pub key: Option<KeyText>,
    pub negated: bool,
    pub count: bool,
}

/// A collection key: a literal name or a `/regex/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyText {
    Name(String),
    Regex(String),
}

/// The operator, e.g. `!@rx pattern`; a bare pattern means `@rx`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OperatorText {
    pub negated: bool,
    pub name: String,
    pub param: String,
}

/// One action such as `id:942100` or `t:lowercase`, quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ActionText {
    pub name: String,
    pub value: Option<String>,
}

/// A parse problem with the line it was found on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub line: usize,
    pub reason: String,
}

impl From<LexError> for SyntaxError {
    fn from(err: LexError) -> Self {
        Self {
            line: err.line,
            reason: err.reason,
        }
    }
}

/// Parses SecLang text into directives.
pub(crate) fn parse(text: &str) -> Result<Vec<Directive>, SyntaxError> {
    lexer::directives(text)?
        .into_iter()
        .map(|raw| {
            directive(&raw.name, &raw.args, raw.line).map_err(|reason| SyntaxError {
                line: raw.line,
                reason: format!("{}: {reason}", raw.name),
            })
        })
        .collect()
}

fn directive(name: &str, args: &[String], line: usize) -> Result<Directive, String> {
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or("missing argument");
    match name.to_ascii_lowercase().as_str() {
        "secrule" => Ok(Directive::Rule(RuleText {
            variables: variables(arg(0)?)?,
            operator: operator(arg(1)?),
            actions: actions(args.get(2).map_or("", String::as_str)),
            line,
        })),
        "secaction" => Ok(Directive::Rule(RuleText {
            variables: Vec::new(),
            operator: OperatorText {
                negated: false,
                name: "unconditionalmatch".to_owned(),
                param: String::new(),
            },
            actions: actions(arg(0)?),
            line,
        })),
        "secmarker" => Ok(Directive::Marker(arg(0)?.to_owned())),
        "secdefaultaction" => Ok(Directive::DefaultAction(actions(arg(0)?))),
        "secruleengine" => Ok(Directive::Engine(arg(0)?.to_owned())),
        "secruleremovebyid" => Ok(Directive::RemoveById(args.to_vec())),
        "secruleremovebytag" => Ok(Directive::RemoveByTag(arg(0)?.to_owned())),
        "secruleupdatetargetbyid" => Ok(Directive::UpdateTargetById {
            rule: arg(0)?.to_owned(),
            targets: variables(arg(1)?)?,
        }),
        _ => Ok(Directive::Ignored(name.to_owned())),
    }
}

/// Splits `A|!B:key|&C:/re|gex/` into targets, keeping `|` inside `/regex/`.
pub(crate) fn variables(text: &str) -> Result<Vec<VariableText>, String> {
    split_targets(text)
        .iter()
        .map(|part| variable(part.trim()))
        .collect()
}

fn split_targets(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut in_regex = false;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied().unwrap_or('\0');
        match c {
            // `XML:/*` and `XML://@*` are XPath, not regexes.
            '/' if !in_regex && current.ends_with(':') && !matches!(next, '*' | '/' | '@') => {
                in_regex = true;
            }
            '/' if in_regex && !current.ends_with('\\') => in_regex = false,
            '|' if !in_regex => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

fn variable(text: &str) -> Result<VariableText, String> {
    let (negated, rest) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (count, rest) = match rest.strip_prefix('&') {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (collection, key) = match rest.split_once(':') {
        Some((collection, key)) => (collection, Some(key_text(key))),
        None => (rest, None),
    };
    if collection.is_empty() {
        return Err(format!("empty variable in {text:?}"));
    }
    Ok(VariableText {
        collection: collection.to_ascii_uppercase(),
        key,
        negated,
        count,
    })
}

fn key_text(key: &str) -> KeyText {
    let key = unquote(key);
    if key.len() >= 2 && key.starts_with('/') && key.ends_with('/') {
        KeyText::Regex(key[1..key.len() - 1].to_owned())
    } else {
        KeyText::Name(key.to_owned())
    }
}

fn operator(text: &str) -> OperatorText {
    let (negated, rest) = match text.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    match rest.strip_prefix('@') {
        Some(named) => {
            let (name, param) = named.split_once(char::is_whitespace).unwrap_or((named, ""));
            OperatorText {
                negated,
                name: name.to_ascii_lowercase(),
                param: param.trim_start().to_owned(),
            }
        }
        None => OperatorText {
            negated,
            name: "rx".to_owned(),
            param: rest.to_owned(),
        },
    }
}

/// Splits an action list on commas outside single quotes.
pub(crate) fn actions(text: &str) -> Vec<ActionText> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut previous = '\0';
    for c in text.chars() {
        match c {
            '\'' if previous != '\\' => quoted = !quoted,
            ',' if !quoted => {
                push_action(&mut out, &current);
                current.clear();
                previous = c;
                continue;
            }
            _ => {}
        }
        current.push(c);
        previous = c;
    }
    push_action(&mut out, &current);
    out
}

fn push_action(out: &mut Vec<ActionText>, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    let (name, value) = match text.split_once(':') {
        Some((name, value)) => (name.trim(), Some(unquote(value.trim()).to_owned())),
        None => (text, None),
    };
    out.push(ActionText {
        name: name.to_ascii_lowercase(),
        value,
    });
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('\'')
        .and_then(|inner| inner.strip_suffix('\''))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_crs_style_rule() {
        let text = r#"SecRule REQUEST_COOKIES|!REQUEST_COOKIES:/__utm/|ARGS_NAMES|ARGS|XML:/* "@rx (?i)a|b" \
            "id:'942100',phase:2,block,t:none,t:urlDecodeUni,msg:'SQL, found',setvar:'tx.score=+%{tx.critical_anomaly_score}'""#;
        let parsed = parse(text).unwrap();
        let Directive::Rule(rule) = &parsed[0] else {
            panic!("not a rule: {parsed:?}");
        };
        assert_eq!(rule.variables.len(), 5);
        assert!(rule.variables[1].negated);
        assert_eq!(
            rule.variables[1].key,
            Some(KeyText::Regex("__utm".to_owned()))
        );
        assert_eq!(rule.variables[4].key, Some(KeyText::Name("/*".to_owned())));
        assert_eq!(rule.operator.name, "rx");
        assert_eq!(rule.operator.param, "(?i)a|b");
        assert_eq!(rule.actions[0].value.as_deref(), Some("942100"));
        assert_eq!(rule.actions[5].value.as_deref(), Some("SQL, found"));
        assert_eq!(
            rule.actions[6].value.as_deref(),
            Some("tx.score=+%{tx.critical_anomaly_score}")
        );
    }

    #[test]
    fn keeps_pipes_inside_key_regexes() {
        let vars = variables("ARGS:/^(a|b)$/|XML:/*|&TX:x").unwrap();
        assert_eq!(vars.len(), 3);
        assert_eq!(vars[0].key, Some(KeyText::Regex("^(a|b)$".to_owned())));
        assert!(vars[2].count);
    }

    #[test]
    fn bare_pattern_means_rx_and_negation_is_kept() {
        let op = operator("!@within GET POST");
        assert!(op.negated);
        assert_eq!(op.name, "within");
        assert_eq!(op.param, "GET POST");
        assert_eq!(operator("^abc$").name, "rx");
    }
}
