//! Sanitising of product descriptions (`Body (HTML)`).
//!
//! Descriptions come from whoever edited the source shop and are later shown
//! to every visitor, so they are reduced to an explicit allowlist of harmless
//! formatting. Every ammonia setting is spelled out instead of starting from
//! its defaults, so that a change of defaults in a new ammonia release cannot
//! widen what we let through.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use ammonia::{Builder, UrlRelative};

/// Formatting tags kept; everything else is unwrapped (its text kept).
const ALLOWED_TAGS: &[&str] = &[
    "p",
    "br",
    "hr",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "s",
    "sub",
    "sup",
    "span",
    "ul",
    "ol",
    "li",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "a",
    "table",
    "caption",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "th",
    "td",
];

/// Tags removed together with their content: their text is code or an
/// embedded document, never description prose.
const DROPPED_WITH_CONTENT: &[&str] = &[
    "script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math",
    "textarea", "select", "title",
];

/// Only absolute links to the web or to an e-mail address; relative links
/// would resolve against our storefront and `javascript:`/`data:` run code.
const LINK_SCHEMES: &[&str] = &["http", "https", "mailto"];

/// Links open without giving the target page a handle on our window, without
/// a referrer, and without lending our search ranking to arbitrary sites.
const LINK_REL: &str = "noopener noreferrer nofollow";

static POLICY: LazyLock<Builder<'static>> = LazyLock::new(description_policy);

fn description_policy() -> Builder<'static> {
    let tag_attributes = HashMap::from([
        ("a", HashSet::from(["href"])),
        ("td", HashSet::from(["colspan", "rowspan"])),
        ("th", HashSet::from(["colspan", "rowspan", "scope"])),
    ]);
    let mut policy = Builder::empty();
    policy
        .tags(ALLOWED_TAGS.iter().copied().collect())
        .clean_content_tags(DROPPED_WITH_CONTENT.iter().copied().collect())
        .tag_attributes(tag_attributes)
        .tag_attribute_values(HashMap::new())
        .set_tag_attribute_values(HashMap::new())
        .generic_attributes(HashSet::new())
        .generic_attribute_prefixes(HashSet::new())
        .allowed_classes(HashMap::new())
        .url_schemes(LINK_SCHEMES.iter().copied().collect())
        .url_relative(UrlRelative::Deny)
        .link_rel(Some(LINK_REL))
        .strip_comments(true)
        .id_prefix(None);
    policy
}

/// Reduces an HTML fragment to the allowed formatting: scripts, styles,
/// frames, event handlers, `style` attributes and non-web links are removed,
/// while text content is kept (escaped where needed).
pub fn sanitize_html(input: &str) -> String {
    POLICY.clean(input).to_string()
}

#[cfg(test)]
mod tests {
    use super::sanitize_html;

    #[test]
    fn scripts_are_removed_with_their_content() {
        assert_eq!(
            sanitize_html("<p>Soft</p><script>alert(document.cookie)</script>"),
            "<p>Soft</p>"
        );
        assert_eq!(
            sanitize_html("<SCRIPT src=//evil.example/x.js></SCRIPT>ok"),
            "ok"
        );
    }

    #[test]
    fn event_handlers_are_removed() {
        assert_eq!(
            sanitize_html(r#"<img src=x onerror="alert(1)">Photo"#),
            "Photo"
        );
        assert_eq!(
            sanitize_html(r#"<p onclick="steal()" onmouseover=x>Hi</p>"#),
            "<p>Hi</p>"
        );
    }

    #[test]
    fn script_urls_are_removed_from_links() {
        assert_eq!(
            sanitize_html(r#"<a href="javascript:alert(1)">click</a>"#),
            r#"<a rel="noopener noreferrer nofollow">click</a>"#
        );
        assert_eq!(
            sanitize_html(r#"<a href=" JaVaScRiPt:alert(1)">x</a>"#),
            r#"<a rel="noopener noreferrer nofollow">x</a>"#
        );
        assert_eq!(
            sanitize_html(r#"<a href="data:text/html,<script>1</script>">x</a>"#),
            r#"<a rel="noopener noreferrer nofollow">x</a>"#
        );
        assert_eq!(
            sanitize_html(r#"<a href="/collections/all">x</a>"#),
            r#"<a rel="noopener noreferrer nofollow">x</a>"#
        );
    }

    #[test]
    fn web_and_mail_links_survive_with_safe_rel() {
        assert_eq!(
            sanitize_html(
                r#"<a href="https://example.com/care" target="_blank" rel="opener">Care</a>"#
            ),
            r#"<a href="https://example.com/care" rel="noopener noreferrer nofollow">Care</a>"#
        );
        assert_eq!(
            sanitize_html(r#"<a href="mailto:shop@example.com">Mail</a>"#),
            r#"<a href="mailto:shop@example.com" rel="noopener noreferrer nofollow">Mail</a>"#
        );
    }

    #[test]
    fn frames_and_embeds_are_removed() {
        assert_eq!(
            sanitize_html(r#"<iframe src="https://evil.example">fallback</iframe><p>x</p>"#),
            "<p>x</p>"
        );
        assert_eq!(
            sanitize_html(r#"<object data="x.swf"></object><embed src="x.swf">y"#),
            "y"
        );
    }

    #[test]
    fn style_attributes_and_blocks_are_removed() {
        assert_eq!(
            sanitize_html(r#"<span style="position:fixed;top:0">Sale</span>"#),
            "<span>Sale</span>"
        );
        assert_eq!(
            sanitize_html("<style>body{display:none}</style><p>Visible</p>"),
            "<p>Visible</p>"
        );
    }

    #[test]
    fn classes_ids_and_comments_are_removed() {
        assert_eq!(
            sanitize_html(r#"<p class="x" id="login" title="t">A<!-- secret --></p>"#),
            "<p>A</p>"
        );
    }

    #[test]
    fn allowed_formatting_survives() {
        let html = "<h2>Care</h2><p>Machine <strong>wash</strong> <em>cold</em>, <b>no</b> <i>bleach</i>, <u>line</u> dry.<br></p>\
                    <ul><li>Cotton</li></ul><ol><li>One</li></ol><blockquote>Quote</blockquote>\
                    <table><tbody><tr><th scope=\"row\">Size</th><td colspan=\"2\">M</td></tr></tbody></table>";
        assert_eq!(sanitize_html(html), html);
    }

    #[test]
    fn unknown_tags_are_unwrapped_keeping_text() {
        assert_eq!(
            sanitize_html("<h1>Big</h1><div><font color=red>Plain</font></div>"),
            "BigPlain"
        );
        assert_eq!(sanitize_html("<form><input value=x>Name</form>"), "Name");
    }

    #[test]
    fn text_content_is_preserved_and_escaped() {
        assert_eq!(
            sanitize_html("Ocean blue cotton shirt & tie < 5 > 3"),
            "Ocean blue cotton shirt &amp; tie &lt; 5 &gt; 3"
        );
        assert_eq!(sanitize_html("wide\u{a0}sleeves"), "wide&nbsp;sleeves");
    }
}
