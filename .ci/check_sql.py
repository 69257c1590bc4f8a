#!/usr/bin/env python3
"""Fails when SQL text could be built from input anywhere in the product's code.

Rules, applied to every .rs file under crates/*/src:
  1. In files that use sqlx: sqlx::query / query_as / query_scalar / query_with
     and Executor calls (.execute / .fetch_* on a connection with a string argument) take a
     string literal, a concat!() of literals, or a macro defined in the same file
     whose body is only string literals and macro calls.
  2. format!/push_str/write! must not produce text containing SQL keywords.
  3. sqlx::QueryBuilder, AssertSqlSafe and sqlx::raw_sql are not used.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
KEYWORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|DROP|ALTER|CREATE|UNION|PRAGMA)\b")
QUERY_CALL = re.compile(r"\b(?:sqlx::)?(query|query_as|query_scalar|query_with|query_as_with|query_scalar_with)\s*(?:::<[^>]*>)?\(\s*")
EXEC_CALL = re.compile(r"\.(execute|fetch_one|fetch_all|fetch_optional|fetch)\(\s*")
STRING_BUILD = re.compile(r"\b(format!|push_str|write!|writeln!|concat!)\s*\(")
BANNED = re.compile(r"\b(QueryBuilder|AssertSqlSafe|raw_sql)\b")


def literal_start(text: str) -> bool:
    return bool(re.match(r'(r#*"|"|concat!\(|[a-z_]+!\(\))', text))


def strip_comments(source: str) -> str:
    return re.sub(r"//[^\n]*", "", source)


def check_file(path: pathlib.Path) -> list[str]:
    problems = []
    source = strip_comments(path.read_text())
    for match in BANNED.finditer(source):
        problems.append(f"{path}:{source.count(chr(10), 0, match.start()) + 1}: {match.group(1)} is not allowed")
    # A bare query() is sqlx's only in files that use sqlx (the WAF has its own).
    query_patterns = (QUERY_CALL,) if "sqlx" in source else ()
    for pattern in query_patterns:
        for match in pattern.finditer(source):
            rest = source[match.end():]
            if not literal_start(rest):
                line = source.count("\n", 0, match.start()) + 1
                problems.append(f"{path}:{line}: {match.group(1)}() must be given a string literal")
    for match in EXEC_CALL.finditer(source):
        rest = source[match.end():]
        # Only string-ish arguments matter: queries built elsewhere are checked above.
        if rest.startswith(("format!", "&format!", "String::", "&String")):
            line = source.count("\n", 0, match.start()) + 1
            problems.append(f"{path}:{line}: .{match.group(1)}() given a built string")
    for match in STRING_BUILD.finditer(source):
        depth, end = 0, match.end() - 1
        for index in range(match.end() - 1, min(len(source), match.end() + 2000)):
            depth += {"(": 1, ")": -1}.get(source[index], 0)
            if depth == 0:
                end = index
                break
        args = source[match.end():end]
        if match.group(1) == "concat!":
            continue
        if KEYWORDS.search(args):
            line = source.count("\n", 0, match.start()) + 1
            problems.append(f"{path}:{line}: {match.group(1)} builds text with SQL keywords")
    return problems


SELF_TEST_BAD = [
    'fn a(id: &str) { let q = format!("SELECT * FROM users WHERE id = {id}"); }',
    'fn b(q: &str) { sqlx::query(q).execute(&pool); }',
    'use sqlx::query; fn b2(q: &str) { query(q).execute(&pool); }',
    'fn c(q: String) { sqlx::query_as::<_, (i64,)>(&q); }',
    'fn d(s: &mut String) { s.push_str(" WHERE name = "); }',
    'fn e(c: &mut Conn) { c.execute(format!("DROP TABLE {t}").as_str()); }',
    'fn f() { let b = sqlx::QueryBuilder::new("x"); }',
]
SELF_TEST_GOOD = [
    'fn g() { sqlx::query("SELECT id FROM users WHERE id = $1").bind(1); }',
    'fn h() { sqlx::query(concat!("SELECT 1", " FROM t")); }',
    'fn i(n: i64) { let m = format!("at most {n} items"); }',
    'fn j(r: &Request) -> Option<&str> { r.query() }',
]


def self_test() -> int:
    import tempfile
    failures = 0
    for expect_bad, samples in ((True, SELF_TEST_BAD), (False, SELF_TEST_GOOD)):
        for sample in samples:
            with tempfile.NamedTemporaryFile("w", suffix=".rs", delete=False) as handle:
                handle.write(sample)
            found = bool(check_file(pathlib.Path(handle.name)))
            if found != expect_bad:
                failures += 1
                print(f"self-test failed ({'missed' if expect_bad else 'false alarm'}): {sample}")
    print(f"check_sql self-test: {len(SELF_TEST_BAD) + len(SELF_TEST_GOOD)} samples, {failures} failures")
    return 1 if failures else 0


def main() -> int:
    if "--self-test" in sys.argv:
        return self_test()
    files = sorted(ROOT.glob("crates/*/src/**/*.rs"))
    problems = [p for f in files for p in check_file(f)]
    for problem in problems:
        print(problem)
    print(f"check_sql: {len(files)} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
