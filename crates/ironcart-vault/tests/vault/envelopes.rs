//! Field envelopes: round trips, tampering, ciphertexts moved between
//! places, unknown keys, and nonce freshness.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ironcart_vault::{FieldContext, FieldError, KeyId};

use crate::{TestResult, fresh_ring};

const EMAIL: &str = "ann.example@example.com";
const ADDRESS: &str = "Flat 4B, 221 Baker Street, Marylebone, London NW1 6XE, United Kingdom";

fn customer_email(row_id: &str) -> FieldContext<'_> {
    FieldContext::new("customers", "email_enc", row_id)
}

/// Splits an envelope into its text prefix (`v1.<id>.`) and decoded payload.
fn split(envelope: &str) -> Result<(String, Vec<u8>), Box<dyn std::error::Error>> {
    let cut = envelope.rfind('.').ok_or("no dot")? + 1;
    let payload = URL_SAFE_NO_PAD.decode(&envelope[cut..])?;
    Ok((envelope[..cut].to_owned(), payload))
}

#[test]
fn text_and_binary_values_round_trip() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let ctx = customer_email("0194f1c2-7d1e-7b2a-9c3d-4e5f60718293");
    for value in [EMAIL, ADDRESS, "", "Zoë Ångström 東京 🚚"] {
        let envelope = ring.encrypt_str(&ctx, value)?;
        assert!(envelope.starts_with(&format!("v1.{}.", ring.primary_key_id())));
        assert!(!envelope.contains(value) || value.is_empty());
        assert_eq!(ring.decrypt_str(&ctx, &envelope)?, value);
    }
    let binary = [0u8, 159, 146, 150, 255];
    let envelope = ring.encrypt(&ctx, &binary)?;
    assert_eq!(ring.decrypt(&ctx, &envelope)?.as_slice(), binary);
    assert_eq!(ring.decrypt_str(&ctx, &envelope), Err(FieldError::Decrypt));
    Ok(())
}

#[test]
fn envelope_layout_is_version_key_id_nonce_ciphertext_tag() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let envelope = ring.encrypt_str(&customer_email("r1"), EMAIL)?;
    let (prefix, payload) = split(&envelope)?;
    assert_eq!(prefix, ring.primary_key_id().envelope_prefix());
    assert_eq!(payload.len(), 12 + EMAIL.len() + 16);
    assert!(!envelope.contains('='), "base64url without padding");
    Ok(())
}

#[test]
fn every_bit_flip_in_nonce_ciphertext_or_tag_is_one_opaque_error() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let envelope = ring.encrypt_str(&ctx, EMAIL)?;
    let (prefix, payload) = split(&envelope)?;
    let mut flips = 0;
    for index in 0..payload.len() {
        for bit in 0..8 {
            let mut tampered = payload.clone();
            tampered[index] ^= 1 << bit;
            let forged = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(&tampered));
            assert_eq!(
                ring.decrypt(&ctx, &forged).err(),
                Some(FieldError::Decrypt),
                "byte {index} bit {bit}"
            );
            flips += 1;
        }
    }
    assert_eq!(flips, (12 + EMAIL.len() + 16) * 8);
    Ok(())
}

#[test]
fn every_character_change_in_the_stored_text_is_refused() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let envelope = ring.encrypt_str(&ctx, EMAIL)?;
    let mut kinds = std::collections::BTreeMap::new();
    for (index, original) in envelope.char_indices() {
        for replacement in ['A', 'z', '0', '-', '_', '.', '%'] {
            if replacement == original {
                continue;
            }
            let mut forged = envelope.clone();
            forged.replace_range(index..index + 1, &replacement.to_string());
            let kind = match ring.decrypt(&ctx, &forged) {
                Ok(_) => {
                    return Err(
                        format!("text changed at {index} to {replacement:?} decrypted").into(),
                    );
                }
                Err(FieldError::Malformed) => "malformed",
                Err(FieldError::UnknownKey(_)) => "unknown key",
                Err(FieldError::Decrypt) => "decrypt",
                Err(other) => return Err(format!("unexpected error {other:?}").into()),
            };
            *kinds.entry(kind).or_insert(0) += 1;
        }
    }
    // All three refusals occur: the header edits are malformed or name an
    // unknown key, the payload edits fail authentication.
    assert_eq!(kinds.len(), 3, "{kinds:?}");
    Ok(())
}

#[test]
fn truncated_and_extended_envelopes_are_refused() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let envelope = ring.encrypt_str(&ctx, EMAIL)?;
    for cut in 0..envelope.len() {
        assert!(
            ring.decrypt(&ctx, &envelope[..cut]).is_err(),
            "prefix of {cut} chars"
        );
    }
    for suffix in ["A", "AA", "AAAA", ".", "=", " "] {
        assert!(
            ring.decrypt(&ctx, &format!("{envelope}{suffix}")).is_err(),
            "{suffix:?}"
        );
    }
    assert_eq!(ring.decrypt(&ctx, ""), Err(FieldError::Malformed));
    assert_eq!(ring.decrypt(&ctx, EMAIL), Err(FieldError::Malformed));
    Ok(())
}

#[test]
fn swapping_two_rows_ciphertexts_fails_to_decrypt() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let (alice, bob) = (customer_email("row-alice"), customer_email("row-bob"));
    let alice_value = ring.encrypt_str(&alice, "alice@example.com")?;
    let bob_value = ring.encrypt_str(&bob, "bob@example.com")?;

    assert_eq!(
        ring.decrypt_str(&alice, &bob_value),
        Err(FieldError::Decrypt)
    );
    assert_eq!(
        ring.decrypt_str(&bob, &alice_value),
        Err(FieldError::Decrypt)
    );
    assert_eq!(ring.decrypt_str(&alice, &alice_value)?, "alice@example.com");
    assert_eq!(ring.decrypt_str(&bob, &bob_value)?, "bob@example.com");
    Ok(())
}

#[test]
fn copying_a_value_to_another_column_or_table_fails_to_decrypt() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let row = "0194f1c2-7d1e-7b2a-9c3d-4e5f60718293";
    let envelope = ring.encrypt_str(&FieldContext::new("customers", "email_enc", row), EMAIL)?;
    for elsewhere in [
        FieldContext::new("customers", "name_enc", row),
        FieldContext::new("customers", "phone_enc", row),
        FieldContext::new("addresses", "email_enc", row),
        // Shifting the boundary between parts must not produce the same AAD.
        FieldContext::new("customersemail_enc", "", row),
        FieldContext::new("customers", "email_en", &format!("c{row}")),
    ] {
        assert_eq!(
            ring.decrypt(&elsewhere, &envelope).err(),
            Some(FieldError::Decrypt),
            "{elsewhere:?}"
        );
    }
    Ok(())
}

#[test]
fn a_value_relabelled_with_another_known_key_id_fails_to_decrypt() -> TestResult {
    let (kek, rows, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let envelope = ring.encrypt_str(&ctx, EMAIL)?;
    let rotation = ironcart_vault::rotate_data_key(&kek, &rows, crate::NOW + 1)?;
    let ring = ironcart_vault::Keyring::unlock(&kek, &rotation.apply(&rows))?;

    let old_prefix = rotation
        .demoted
        .as_ref()
        .ok_or("no demoted key")?
        .envelope_prefix();
    let relabelled = envelope.replacen(&old_prefix, &rotation.added.id.envelope_prefix(), 1);
    assert_ne!(relabelled, envelope);
    assert_eq!(
        ring.decrypt_str(&ctx, &relabelled),
        Err(FieldError::Decrypt)
    );
    assert_eq!(ring.decrypt_str(&ctx, &envelope)?, EMAIL);
    Ok(())
}

#[test]
fn an_unknown_key_id_is_its_own_error() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let (_, _, other_installation) = fresh_ring()?;
    let ctx = customer_email("r1");
    let foreign = other_installation.encrypt_str(&ctx, EMAIL)?;
    assert_eq!(
        ring.decrypt_str(&ctx, &foreign),
        Err(FieldError::UnknownKey(
            other_installation.primary_key_id().clone()
        ))
    );

    let own = ring.encrypt_str(&ctx, EMAIL)?;
    let renamed = own.replacen(ring.primary_key_id().as_str(), "0000000000000000", 1);
    assert_eq!(
        ring.decrypt_str(&ctx, &renamed),
        Err(FieldError::UnknownKey(KeyId::parse("0000000000000000")?))
    );
    let shown = FieldError::UnknownKey(KeyId::parse("0000000000000000")?).to_string();
    assert_eq!(
        shown,
        "the stored value is encrypted under unknown data key 0000000000000000"
    );
    Ok(())
}

#[test]
fn ten_thousand_encryptions_use_ten_thousand_distinct_nonces() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let mut nonces = HashSet::new();
    let mut envelopes = HashSet::new();
    for _ in 0..10_000 {
        let envelope = ring.encrypt_str(&ctx, EMAIL)?;
        let (_, payload) = split(&envelope)?;
        nonces.insert(payload[..12].to_vec());
        envelopes.insert(envelope);
    }
    assert_eq!(nonces.len(), 10_000);
    assert_eq!(envelopes.len(), 10_000);
    for envelope in envelopes.iter().take(100) {
        assert_eq!(ring.decrypt_str(&ctx, envelope)?, EMAIL);
    }
    Ok(())
}

#[test]
fn an_incomplete_context_is_refused_before_encrypting() -> TestResult {
    let (_, _, ring) = fresh_ring()?;
    for ctx in [
        FieldContext::new("", "email_enc", "r1"),
        FieldContext::new("customers", "", "r1"),
        FieldContext::new("customers", "email_enc", ""),
    ] {
        assert_eq!(
            ring.encrypt_str(&ctx, EMAIL),
            Err(FieldError::IncompleteContext)
        );
    }
    Ok(())
}

#[test]
fn errors_and_debug_output_carry_no_plaintext_or_key_material() -> TestResult {
    let (kek, _, ring) = fresh_ring()?;
    let ctx = customer_email("r1");
    let envelope = ring.encrypt_str(&ctx, EMAIL)?;
    let error = ring
        .decrypt_str(&customer_email("r2"), &envelope)
        .err()
        .ok_or("decrypted")?;
    assert_eq!(error.to_string(), "the stored value could not be decrypted");
    assert_eq!(format!("{error:?}"), "Decrypt");

    let ids: Vec<String> = ring.key_ids().map(|id| format!("KeyId({id})")).collect();
    assert_eq!(
        format!("{ring:?}"),
        format!(
            "Keyring {{ primary: KeyId({}), keys: [{}], .. }}",
            ring.primary_key_id(),
            ids.join(", ")
        )
    );
    assert_eq!(
        format!("{kek:?}"),
        format!("Kek {{ id: KekId({}), .. }}", kek.id())
    );
    Ok(())
}

#[test]
fn a_keyring_can_be_shared_across_request_handlers() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<ironcart_vault::Keyring>();
    shareable::<ironcart_vault::Kek>();
}
