//! Data keys over time: rotation, re-encryption, retirement, KEK rotation,
//! and rows that were tampered with or moved.

use ironcart_vault::{
    FieldContext, FieldError, Kek, KeyError, KeyPurpose, KeyState, Keyring, RetireRefused,
    WrappedKey, bootstrap_keys, retire, rewrap_all, rotate_data_key,
};

use crate::{NOW, TestResult, fresh_ring};

fn ctx(row_id: &str) -> FieldContext<'_> {
    FieldContext::new("customers", "email_enc", row_id)
}

fn field_primary(rows: &[WrappedKey]) -> Option<&WrappedKey> {
    rows.iter()
        .find(|row| row.purpose == KeyPurpose::FieldEncryption && row.state == KeyState::Primary)
}

#[test]
fn bootstrap_creates_one_primary_field_key_and_one_blind_index_key() -> TestResult {
    let (kek, rows, ring) = fresh_ring()?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].purpose, KeyPurpose::FieldEncryption);
    assert_eq!(rows[1].purpose, KeyPurpose::BlindIndex);
    for row in &rows {
        assert_eq!(row.state, KeyState::Primary);
        assert_eq!(row.created_at, NOW);
        assert_eq!(row.kek_id().as_ref(), Some(kek.id()));
        assert!(row.wrapped.starts_with(&format!("kw1.{}.", kek.id())));
    }
    assert_eq!(ring.primary_key_id(), &rows[0].id);
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![&rows[0].id]);
    Ok(())
}

#[test]
fn after_a_new_primary_old_values_need_reencryption_and_still_decrypt() -> TestResult {
    let (kek, rows, ring) = fresh_ring()?;
    let old_value = ring.encrypt_str(&ctx("r1"), "old@example.com")?;
    assert!(!ring.needs_reencryption(&old_value));

    let rotation = rotate_data_key(&kek, &rows, NOW + 60)?;
    assert_eq!(rotation.demoted.as_ref(), Some(&rows[0].id));
    assert_eq!(rotation.added.state, KeyState::Primary);
    assert_eq!(rotation.added.created_at, NOW + 60);
    let rows = rotation.apply(&rows);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0].state, KeyState::Active);
    assert_eq!(field_primary(&rows), Some(&rotation.added));

    let ring = Keyring::unlock(&kek, &rows)?;
    assert_eq!(ring.primary_key_id(), &rotation.added.id);
    assert!(ring.needs_reencryption(&old_value));
    assert!(ring.needs_reencryption("not an envelope"));
    assert_eq!(ring.decrypt_str(&ctx("r1"), &old_value)?, "old@example.com");

    let new_value = ring.encrypt_str(&ctx("r2"), "new@example.com")?;
    assert!(!ring.needs_reencryption(&new_value));
    let rewritten = ring.reencrypt(&ctx("r1"), &old_value)?;
    assert!(!ring.needs_reencryption(&rewritten));
    assert_eq!(ring.decrypt_str(&ctx("r1"), &rewritten)?, "old@example.com");
    // Re-encryption keeps the place binding.
    assert_eq!(
        ring.decrypt_str(&ctx("r2"), &rewritten),
        Err(FieldError::Decrypt)
    );
    Ok(())
}

#[test]
fn a_key_retires_only_when_no_value_uses_it() -> TestResult {
    let (kek, rows, ring) = fresh_ring()?;
    let old_value = ring.encrypt_str(&ctx("r1"), "old@example.com")?;
    let rotation = rotate_data_key(&kek, &rows, NOW + 60)?;
    let mut rows = rotation.apply(&rows);
    let old_id = rows[0].id.clone();

    assert_eq!(
        retire(&rows[0], 17),
        Err(RetireRefused::InUse {
            id: old_id.clone(),
            count: 17
        })
    );
    assert_eq!(
        retire(&rows[0], 1).map(|row| row.state),
        Err(RetireRefused::InUse {
            id: old_id.clone(),
            count: 1
        })
    );
    assert_eq!(
        retire(&rotation.added, 0),
        Err(RetireRefused::Primary {
            id: rotation.added.id.clone()
        })
    );
    assert_eq!(
        retire(&rows[1], 0),
        Err(RetireRefused::BlindIndex {
            id: rows[1].id.clone()
        })
    );

    let retired = retire(&rows[0], 0)?;
    assert_eq!(retired.state, KeyState::Retired);
    assert_eq!(
        WrappedKey {
            state: KeyState::Active,
            ..retired.clone()
        },
        rows[0]
    );
    rows[0] = retired;

    // A retired key is not loaded: anything still under it is reported, not
    // silently decrypted.
    let ring = Keyring::unlock(&kek, &rows)?;
    assert_eq!(ring.key_ids().collect::<Vec<_>>(), vec![&rotation.added.id]);
    assert_eq!(
        ring.decrypt_str(&ctx("r1"), &old_value),
        Err(FieldError::UnknownKey(old_id))
    );
    Ok(())
}

#[test]
fn envelope_prefix_matches_exactly_the_values_under_a_key() -> TestResult {
    let (kek, rows, ring) = fresh_ring()?;
    let under_old: Vec<String> = (0..5)
        .map(|i| ring.encrypt_str(&ctx(&format!("r{i}")), "x@example.com"))
        .collect::<Result<_, _>>()?;
    let rotation = rotate_data_key(&kek, &rows, NOW + 1)?;
    let ring = Keyring::unlock(&kek, &rotation.apply(&rows))?;
    let under_new = ring.encrypt_str(&ctx("r9"), "y@example.com")?;

    let prefix = rows[0].id.envelope_prefix();
    assert_eq!(prefix, format!("v1.{}.", rows[0].id));
    assert!(under_old.iter().all(|value| value.starts_with(&prefix)));
    assert!(!under_new.starts_with(&prefix));
    Ok(())
}

#[test]
fn kek_rotation_keeps_every_value_decryptable_and_every_index_stable() -> TestResult {
    let (old_kek, rows, ring) = fresh_ring()?;
    let before: Vec<(String, String)> = (0..20)
        .map(|i| {
            let row = format!("row-{i}");
            let value = ring.encrypt_str(&ctx(&row), &format!("c{i}@example.com"));
            value.map(|value| (row, value))
        })
        .collect::<Result<_, _>>()?;
    let rotation = rotate_data_key(&old_kek, &rows, NOW + 1)?;
    let rows = rotation.apply(&rows);
    let ring = Keyring::unlock(&old_kek, &rows)?;
    let after_rotation = ring.encrypt_str(&ctx("row-new"), "new@example.com")?;
    let index_before = ring.email_blind_index("c1@example.com")?;

    let (new_kek, _) = Kek::generate()?;
    let rewrapped = rewrap_all(&old_kek, &new_kek, &rows)?;
    assert_eq!(rewrapped.len(), rows.len());
    for (old, new) in rows.iter().zip(&rewrapped) {
        assert_eq!(
            (&old.id, old.purpose, old.state, old.created_at),
            (&new.id, new.purpose, new.state, new.created_at)
        );
        assert_ne!(old.wrapped, new.wrapped);
        assert_eq!(new.kek_id().as_ref(), Some(new_kek.id()));
    }

    let ring = Keyring::unlock(&new_kek, &rewrapped)?;
    for (i, (row, value)) in before.iter().enumerate() {
        assert_eq!(
            ring.decrypt_str(&ctx(row), value)?,
            format!("c{i}@example.com")
        );
    }
    assert_eq!(
        ring.decrypt_str(&ctx("row-new"), &after_rotation)?,
        "new@example.com"
    );
    assert_eq!(ring.email_blind_index("c1@example.com")?, index_before);

    // The old KEK no longer opens the rows, and says why.
    match Keyring::unlock(&old_kek, &rewrapped) {
        Err(KeyError::WrongKek {
            wrapped_under,
            loaded,
            ..
        }) => {
            assert_eq!(&wrapped_under, new_kek.id());
            assert_eq!(&loaded, old_kek.id());
        }
        other => return Err(format!("expected WrongKek, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn an_interrupted_kek_rotation_can_be_run_again() -> TestResult {
    let (old_kek, rows, _) = fresh_ring()?;
    let (new_kek, _) = Kek::generate()?;
    let done = rewrap_all(&old_kek, &new_kek, &rows)?;
    // Only the first row was written before the crash.
    let half = vec![done[0].clone(), rows[1].clone()];
    let finished = rewrap_all(&old_kek, &new_kek, &half)?;
    assert_eq!(
        finished[0], done[0],
        "rows already under the new KEK are kept as they are"
    );
    assert_eq!(finished[1].kek_id().as_ref(), Some(new_kek.id()));
    Keyring::unlock(&new_kek, &finished)?;
    Ok(())
}

#[test]
fn a_new_data_key_is_refused_under_a_kek_the_rows_do_not_use() -> TestResult {
    let (_, rows, _) = fresh_ring()?;
    let (stranger, _) = Kek::generate()?;
    assert!(matches!(
        rotate_data_key(&stranger, &rows, NOW),
        Err(KeyError::WrongKek { .. })
    ));
    assert!(matches!(
        rewrap_all(&stranger, &stranger, &rows),
        Err(KeyError::WrongKek { .. })
    ));
    Ok(())
}

#[test]
fn tampered_moved_or_relabelled_rows_fail_to_unwrap() -> TestResult {
    let (kek, rows, _) = fresh_ring()?;

    // One character of the sealed part changed.
    let mut tampered = rows.clone();
    let position = tampered[0].wrapped.len() - 10;
    let original = tampered[0].wrapped.as_bytes()[position];
    let replacement = if original == b'A' { "B" } else { "A" };
    tampered[0]
        .wrapped
        .replace_range(position..position + 1, replacement);
    assert!(matches!(
        Keyring::unlock(&kek, &tampered),
        Err(KeyError::UnwrapFailed { .. })
    ));

    // The field key's wrapped bytes copied under the blind-index key's row and
    // the other way round: the key id in the AAD no longer matches.
    let mut swapped = rows.clone();
    let first = swapped[0].wrapped.clone();
    swapped[0].wrapped = swapped[1].wrapped.clone();
    swapped[1].wrapped = first;
    match Keyring::unlock(&kek, &swapped) {
        Err(KeyError::UnwrapFailed { id }) => assert_eq!(id, rows[0].id),
        other => return Err(format!("expected UnwrapFailed, got {other:?}").into()),
    }

    // A blind-index root relabelled as a field key (purpose is bound too).
    let mut relabelled = rows.clone();
    relabelled[1].purpose = KeyPurpose::FieldEncryption;
    relabelled[1].state = KeyState::Active;
    assert!(matches!(
        Keyring::unlock(&kek, &relabelled),
        Err(KeyError::UnwrapFailed { .. })
    ));

    let mut garbled = rows.clone();
    garbled[0].wrapped = "kw2.whatever".to_owned();
    assert!(matches!(
        Keyring::unlock(&kek, &garbled),
        Err(KeyError::Malformed { .. })
    ));
    Ok(())
}

#[test]
fn unlock_refuses_a_ring_without_exactly_one_primary_of_each_purpose() -> TestResult {
    let (kek, rows, _) = fresh_ring()?;
    let second = bootstrap_keys(&kek, NOW)?;

    let mut no_primary = rows.clone();
    no_primary[0].state = KeyState::Active;
    assert!(matches!(
        Keyring::unlock(&kek, &no_primary),
        Err(KeyError::NoPrimary)
    ));

    let two_primaries = vec![rows[0].clone(), rows[1].clone(), second[0].clone()];
    assert!(matches!(
        Keyring::unlock(&kek, &two_primaries),
        Err(KeyError::SeveralPrimaries { count: 2 })
    ));
    assert!(matches!(
        rotate_data_key(&kek, &two_primaries, NOW),
        Err(KeyError::SeveralPrimaries { count: 2 })
    ));

    assert!(matches!(
        Keyring::unlock(&kek, &rows[..1]),
        Err(KeyError::NoBlindIndexKey)
    ));
    let two_roots = vec![rows[0].clone(), rows[1].clone(), second[1].clone()];
    assert!(matches!(
        Keyring::unlock(&kek, &two_roots),
        Err(KeyError::SeveralBlindIndexKeys { count: 2 })
    ));

    let duplicated = vec![rows[0].clone(), rows[1].clone(), rows[0].clone()];
    assert!(matches!(
        Keyring::unlock(&kek, &duplicated),
        Err(KeyError::DuplicateId { .. })
    ));
    Ok(())
}
