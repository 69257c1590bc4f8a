//! Password hashing and policy, exercised through the public API only.
//!
//! Argon2 runs are kept few: most tests use a cheap hasher, and only the ones
//! about the default (OWASP) parameters pay for them.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use ironcart_security::{
    HashMemory, PasswordHashError, PasswordHashParams, PasswordHasher, PasswordPolicy,
    PasswordRejection, SecretString, Verification,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The "old" parameters of the brief: weaker than today's defaults.
const OLD_PARAMS: PasswordHashParams = PasswordHashParams {
    memory_kib: 8192,
    iterations: 1,
    parallelism: 1,
};

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

#[test]
fn default_hash_is_owasp_argon2id_phc_and_round_trips() -> TestResult {
    let hasher = PasswordHasher::default();
    let phc = hasher.hash(&secret("correct horse battery staple"))?;

    let fields: Vec<&str> = phc.split('$').collect();
    assert_eq!(fields.len(), 6, "{phc}");
    assert_eq!(fields[..4], ["", "argon2id", "v=19", "m=19456,t=2,p=1"]);
    assert_eq!(fields[4].len(), 22, "16-byte salt in unpadded base64");
    assert_eq!(fields[5].len(), 43, "32-byte output in unpadded base64");

    assert_eq!(
        hasher.verify(&secret("correct horse battery staple"), &phc)?,
        Verification::Valid {
            needs_rehash: false
        }
    );
    assert_eq!(
        hasher.verify(&secret("correct horse battery stapler"), &phc)?,
        Verification::Invalid
    );
    Ok(())
}

#[test]
fn hashes_with_other_params_verify_but_ask_for_a_rehash() -> TestResult {
    let old = PasswordHasher::new(OLD_PARAMS)?;
    let old_phc = old.hash(&secret("Tr0ub4dor&3 again"))?;
    assert!(
        old_phc.starts_with("$argon2id$v=19$m=8192,t=1,p=1$"),
        "{old_phc}"
    );

    let current = PasswordHasher::default();
    assert_eq!(
        current.verify(&secret("Tr0ub4dor&3 again"), &old_phc)?,
        Verification::Valid { needs_rehash: true }
    );
    // The old hasher itself considers its own hash current.
    assert_eq!(
        old.verify(&secret("Tr0ub4dor&3 again"), &old_phc)?,
        Verification::Valid {
            needs_rehash: false
        }
    );
    assert_eq!(
        current.verify(&secret("wrong"), &old_phc)?,
        Verification::Invalid
    );
    Ok(())
}

#[test]
fn argon2i_hash_with_current_costs_still_needs_rehash() -> TestResult {
    let params = Params::new(8192, 1, 1, None)?;
    let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"0123456789abcdef")?;
    let phc = argon2i
        .hash_password(b"legacy password", &salt)?
        .to_string();
    assert!(phc.starts_with("$argon2i$"), "{phc}");

    let hasher = PasswordHasher::new(OLD_PARAMS)?;
    assert_eq!(
        hasher.verify(&secret("legacy password"), &phc)?,
        Verification::Valid { needs_rehash: true }
    );
    Ok(())
}

#[test]
fn one_reused_memory_serves_hashes_of_any_cost_and_interoperates() -> TestResult {
    let old = PasswordHasher::new(OLD_PARAMS)?;
    let current = PasswordHasher::default();
    let mut memory = HashMemory::new();
    let current_phc = current.hash_with(&mut memory, &secret("reused memory, first"))?;
    assert_eq!(memory.size(), 19_456 * 1024);
    let old_phc = old.hash_with(&mut memory, &secret("reused memory, second"))?;
    assert_eq!(
        memory.size(),
        19_456 * 1024,
        "a smaller cost uses a part of it"
    );

    // What argon2 itself computes for these hashes agrees.
    let argon2 = Argon2::default();
    argon2.verify_password(b"reused memory, first", &PasswordHash::new(&current_phc)?)?;
    argon2.verify_password(b"reused memory, second", &PasswordHash::new(&old_phc)?)?;

    for (hasher, phc, password) in [
        (&current, &current_phc, "reused memory, first"),
        (&current, &old_phc, "reused memory, second"),
        (&old, &old_phc, "reused memory, second"),
    ] {
        let right = hasher.verify_with(&mut memory, &secret(password), phc)?;
        assert!(matches!(right, Verification::Valid { .. }), "{phc}");
        let wrong = hasher.verify_with(&mut memory, &secret("not it"), phc)?;
        assert_eq!(wrong, Verification::Invalid, "{phc}");
    }
    assert_eq!(
        current.verify_unknown_user_with(&mut memory, &secret("reused memory, first"))?,
        Verification::Invalid
    );
    Ok(())
}

#[test]
fn same_password_gets_a_fresh_salt_each_time() -> TestResult {
    let hasher = PasswordHasher::new(OLD_PARAMS)?;
    let first = hasher.hash(&secret("same password twice"))?;
    let second = hasher.hash(&secret("same password twice"))?;
    assert_ne!(first, second);
    assert_ne!(first.split('$').nth(4), second.split('$').nth(4));
    Ok(())
}

#[test]
fn composed_and_decomposed_accents_are_the_same_password() -> TestResult {
    let hasher = PasswordHasher::new(OLD_PARAMS)?;
    let phc = hasher.hash(&secret("caf\u{e9} au lait sans sucre"))?;
    assert_eq!(
        hasher.verify(&secret("cafe\u{301} au lait sans sucre"), &phc)?,
        Verification::Valid {
            needs_rehash: false
        }
    );
    assert_eq!(
        hasher.verify(&secret("cafe au lait sans sucre"), &phc)?,
        Verification::Invalid
    );
    Ok(())
}

#[test]
fn unknown_user_verification_always_fails() -> TestResult {
    let hasher = PasswordHasher::new(OLD_PARAMS)?;
    for attempt in ["", "password", "correct horse battery staple"] {
        assert_eq!(
            hasher.verify_unknown_user(&secret(attempt))?,
            Verification::Invalid
        );
    }
    Ok(())
}

#[test]
fn malformed_or_foreign_hashes_are_errors_not_panics() -> TestResult {
    let hasher = PasswordHasher::new(OLD_PARAMS)?;
    let password = secret("whatever password");
    let cases = [
        ("", PasswordHashError::MalformedHash),
        ("not a hash", PasswordHashError::MalformedHash),
        ("$argon2id$", PasswordHashError::MalformedHash),
        (
            "$argon2id$v=19$m=8192,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg",
            PasswordHashError::MalformedHash,
        ),
        (
            "$argon2id$v=19$m=8192,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$!!!",
            PasswordHashError::MalformedHash,
        ),
        (
            "$argon2id$v=19$m=1,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY",
            PasswordHashError::MalformedHash,
        ),
        (
            "$argon2id$v=99$m=8192,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY",
            PasswordHashError::MalformedHash,
        ),
        (
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            PasswordHashError::UnsupportedAlgorithm,
        ),
        (
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            PasswordHashError::MalformedHash,
        ),
    ];
    for (phc, expected) in cases {
        assert_eq!(
            hasher.verify(&password, phc),
            Err(expected.clone()),
            "{phc}"
        );
    }
    Ok(())
}

#[test]
fn impossible_params_are_refused() {
    let result = PasswordHasher::new(PasswordHashParams {
        memory_kib: 1,
        iterations: 1,
        parallelism: 1,
    });
    assert!(matches!(result, Err(PasswordHashError::InvalidParams(_))));
}

// ---------------------------------------------------------------- policy ----

const CONTEXT: [&str; 2] = ["alice.smith@example.com", "Alice Smith"];

fn check(password: &str) -> Result<(), &'static str> {
    PasswordPolicy::check(password, &CONTEXT).map_err(|rejection| rejection.code())
}

#[test]
fn length_window_counts_characters_not_bytes() {
    let strong_128: String = "Blue-kettle Orbit".chars().cycle().take(128).collect();
    let strong_129: String = "Blue-kettle Orbit".chars().cycle().take(129).collect();
    let cjk_128: String = "猫犬鳥魚馬牛羊豚".chars().cycle().take(128).collect();
    let cjk_129: String = "猫犬鳥魚馬牛羊豚".chars().cycle().take(129).collect();
    let table: [(&str, Result<(), &str>); 10] = [
        ("Zq8#vL2", Err("too_short")),
        ("Zq8#vL2!", Ok(())),
        // 21 bytes but 7 characters, then 24 bytes and 8 characters.
        ("猫犬鳥魚馬牛羊", Err("too_short")),
        ("猫犬鳥魚馬牛羊豚", Ok(())),
        // 11 scalar values typed, 7 after NFC composition.
        ("e\u{301}e\u{301}e\u{301}e\u{301}Zq8", Err("too_short")),
        (&strong_128, Ok(())),
        (&strong_129, Err("too_long")),
        (&cjk_128, Ok(())),
        (&cjk_129, Err("too_long")),
        ("", Err("too_short")),
    ];
    for (password, expected) in table {
        assert_eq!(check(password), expected, "{password}");
    }
    assert_eq!(strong_128.chars().count(), 128);
    assert_eq!(cjk_129.len(), 129 * 3);
}

#[test]
fn overlong_passwords_are_refused_even_if_the_first_128_are_fine() {
    let base: String = "Blue-kettle Orbit".chars().cycle().take(128).collect();
    for tail in ["x", " ", "\u{e9}", "password"] {
        assert_eq!(check(&format!("{base}{tail}")), Err("too_long"));
    }
}

#[test]
fn common_and_guessable_passwords_are_refused() {
    for password in [
        "password",
        "Password1",
        "12345678",
        "qwertyuiop",
        "iloveyou1",
        "letmein123",
        "P@ssw0rd!",
        "qwerty123456",
        "aaaaaaaaaaaa",
        "abcdefghijkl",
        "1q2w3e4r5t",
        "passwordpassword",
        // zxcvbn rates this "fair"; it is refused for resting on a listed password.
        "Summer2024!",
    ] {
        assert_eq!(check(password), Err("too_common"), "{password}");
    }
}

#[test]
fn passphrases_and_random_strings_are_accepted() {
    for password in [
        "correct horse battery staple",
        "T7#vq!Lp0@xz",
        "Tr0ub4dor&3",
        "comfortable sofa cushion",
        "ilovemycat",
        "猫犬鳥魚馬牛羊豚",
        // The email domain is not personal information.
        "example garden gnome party",
    ] {
        assert_eq!(check(password), Ok(()), "{password}");
    }
}

#[test]
fn passwords_built_on_the_account_holder_are_refused() {
    for password in [
        "alice.smith@example.com",
        "Alice.Smith@Example.com",
        "AliceSmith",
        "Alice1990!",
        "SmithFamily!2024",
        "4l1c3 wonderland 77",
        "ecila-smith-77",
        "x7Hq smith Lp0@",
    ] {
        assert_eq!(check(password), Err("contains_personal_info"), "{password}");
    }
    // Without the context they are judged on strength alone.
    assert_eq!(PasswordPolicy::check("SmithFamily!2024", &[]), Ok(()));
}

#[test]
fn letters_of_a_name_inside_an_unrelated_word_are_not_personal() {
    let context = ["tom.baker@example.org", "Tom Baker"];
    assert_eq!(
        PasswordPolicy::check("tomato soup recipe", &context),
        Ok(())
    );
    assert_eq!(
        PasswordPolicy::check("Bakerstreet 221b", &context),
        Err(PasswordRejection::ContainsPersonalInfo)
    );
}

#[test]
fn rejection_codes_are_stable_and_messages_never_echo_the_password() {
    let cases = [
        ("Zq8#vL2", "too_short"),
        ("qwertyuiop", "too_common"),
        ("AliceSmith1984", "contains_personal_info"),
    ];
    for (password, code) in cases {
        let rejection = PasswordPolicy::check(password, &CONTEXT).err();
        assert_eq!(rejection.map(|r| r.code()), Some(code), "{password}");
        let message = rejection.map(|r| r.to_string()).unwrap_or_default();
        assert!(!message.is_empty());
        assert!(!message.to_lowercase().contains(&password.to_lowercase()));
    }
    assert_eq!(
        PasswordRejection::TooShort { min: 8 }.to_string(),
        "password must be at least 8 characters long"
    );
    assert_eq!(PasswordRejection::TooLong { max: 128 }.code(), "too_long");
}
