//! The owner and DACL rules, on security descriptors built from SDDL
//! (`O:owner D:P(A;;FA;;;SID)...`): unlike a file's, these hold exactly the
//! entries given, also under Wine, which keeps no DACL on files.

use super::*;

const USER: &str = "S-1-5-21-1-2-3-1001";
const ANOTHER_USER: &str = "S-1-5-21-1-2-3-1002";

fn user() -> Identity {
    Identity {
        sid: USER.to_owned(),
        default_owner: USER.to_owned(),
    }
}

/// An elevated administrator: Windows makes Administrators the owner of
/// what the process creates.
fn elevated_administrator() -> Identity {
    Identity {
        sid: USER.to_owned(),
        default_owner: "S-1-5-32-544".to_owned(),
    }
}

fn check_sddl(identity: &Identity, sddl: &str) -> Result<(), KeyFileError> {
    let security = Security::from_sddl(sddl).unwrap();
    check(Path::new(r"C:\keys\key.pem"), identity, &security)
}

fn exposed_to(identity: &Identity, sddl: &str) -> Vec<String> {
    match check_sddl(identity, sddl) {
        Err(KeyFileError::ExposedAcl { others, .. }) => others,
        other => panic!("{sddl}: {other:?}"),
    }
}

#[test]
fn the_users_own_file_open_to_no_one_else_passes() {
    for sddl in [
        format!("O:{USER}D:P(A;;FA;;;{USER})"),
        format!("O:{USER}D:P(A;;FR;;;{USER})"),
        // SYSTEM and Administrators, on every file by default.
        format!("O:{USER}D:(A;ID;FA;;;SY)(A;ID;FA;;;BA)(A;ID;FA;;;{USER})"),
        // OWNER RIGHTS: the owner, who is the user.
        format!("O:{USER}D:P(A;;FA;;;OW)"),
        // Reading attributes and the DACL tells nothing of the key.
        format!("O:{USER}D:P(A;;FA;;;{USER})(A;;0x20080;;;WD)"),
        // Entries only for what is created inside: a file has nothing.
        format!("O:{USER}D:P(A;;FA;;;{USER})(A;OICIIO;FA;;;WD)"),
        // Denials take nothing away from privacy.
        format!("O:{USER}D:P(D;;FA;;;WD)(A;;FA;;;{USER})"),
        // No entry at all: no one has access.
        format!("O:{USER}D:P"),
    ] {
        assert!(check_sddl(&user(), &sddl).is_ok(), "{sddl}");
    }
}

#[test]
fn an_elevated_administrators_file_owned_by_administrators_passes() {
    let sddl = format!("O:BAD:P(A;;FA;;;{USER})");
    assert!(check_sddl(&elevated_administrator(), &sddl).is_ok());
    // Not so for a user whose files Windows does not give Administrators.
    assert!(matches!(
        check_sddl(&user(), &sddl),
        Err(KeyFileError::ForeignOwnerAccount { owner, .. }) if owner == "S-1-5-32-544"
    ));
}

#[test]
fn a_file_another_account_owns_is_refused_naming_the_fix() {
    let err = check_sddl(&user(), &format!("O:{ANOTHER_USER}D:P(A;;FA;;;{USER})")).unwrap_err();
    assert!(
        matches!(
            &err,
            KeyFileError::ForeignOwnerAccount { owner, user, .. }
                if owner == ANOTHER_USER && user == USER
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            r#"key file C:\keys\key.pem is owned by the account {ANOTHER_USER}, not by the user running this plugin ({USER}): someone else may have put it there, so it is not used; if the key is yours, take ownership with `takeown /F "C:\keys\key.pem"`, otherwise remove it"#
        )
    );
}

#[test]
fn every_account_that_can_read_write_or_take_the_file_is_named() {
    for (entries, others) in [
        ("(A;;FR;;;WD)", vec!["S-1-1-0"]),
        ("(A;ID;FA;;;WD)", vec!["S-1-1-0"]),
        (
            "(A;;FW;;;BU)(A;;FR;;;AU)(A;;FR;;;BU)",
            vec!["S-1-5-32-545", "S-1-5-11"],
        ),
        ("(A;;0x1;;;WD)", vec!["S-1-1-0"]),
        ("(A;;0x4;;;WD)", vec!["S-1-1-0"]),
        ("(A;;WD;;;WD)", vec!["S-1-1-0"]),
        ("(A;;WO;;;WD)", vec!["S-1-1-0"]),
        ("(A;;GR;;;WD)", vec!["S-1-1-0"]),
        ("(A;;GA;;;WD)", vec!["S-1-1-0"]),
        (&*format!("(A;;FR;;;{ANOTHER_USER})"), vec![ANOTHER_USER]),
    ] {
        let sddl = format!("O:{USER}D:P(A;;FA;;;{USER}){entries}");
        assert_eq!(exposed_to(&user(), &sddl), others, "{sddl}");
    }
}

/// A NULL DACL, as GetSecurityInfo reports it. Made by hand: Wine's SDDL
/// parser turns `D:NO_ACCESS_CONTROL` into an empty DACL, the opposite.
#[test]
fn a_file_without_a_dacl_is_open_to_everyone() {
    let mut security = Security::from_sddl(&format!("O:{USER}")).unwrap();
    security.dacl = ptr::null();
    let err = check(Path::new("key.pem"), &user(), &security).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::ExposedAcl { others, .. } if *others == ["S-1-1-0"]),
        "{err:?}"
    );
}

#[test]
fn the_exposure_message_names_the_accounts_and_the_icacls_fix() {
    let sddl = format!("O:{USER}D:P(A;;FA;;;{USER})(A;;FR;;;WD)(A;;FW;;;BU)");
    let err = check_sddl(&user(), &sddl).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            r#"key file C:\keys\key.pem is accessible by other accounts (S-1-1-0, S-1-5-32-545), so it is not used: a private key must be private; restrict it to yourself with `icacls "C:\keys\key.pem" /inheritance:r /grant:r "*{USER}:F"` and `icacls "C:\keys\key.pem" /remove "*S-1-1-0" "*S-1-5-32-545"`"#
        )
    );
}

#[test]
fn the_descriptor_a_new_key_file_gets_passes_and_holds_only_the_user() {
    let sddl = format!("D:P(A;;FA;;;{USER})");
    let security = Security::from_sddl(&sddl).unwrap();
    assert_eq!(security.trustees_with_access().unwrap(), [USER]);
}

/// As GetSecurityInfo reports a file on FAT, which keeps neither.
#[test]
fn a_file_with_no_owner_and_no_dacl_is_refused() {
    let mut security = Security::from_sddl("D:P").unwrap();
    security.dacl = ptr::null();
    assert!(security.owner.is_null());
    let err = check(Path::new("key.pem"), &user(), &security).unwrap_err();
    assert!(
        matches!(&err, KeyFileError::ForeignOwnerAccount { owner, .. } if owner.starts_with("(none")),
        "{err:?}"
    );
}
