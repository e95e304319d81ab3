//! A suite that cannot fail checks nothing. Each plugin here is the
//! reference plugin wrapped by a shell script that breaks one rule; the
//! suite must fail on it, naming the right check. A wrapper that bends
//! without breaking (a key that refuses a hash, saying so) must pass.
//!
//! Runs without libtest (every test target of this package also receives
//! the suite's `--key-resource-id`), printing one line per case and
//! `N passed, N failed`. Given a key reference, it leaves the run to the
//! suite against that plugin and checks nothing itself; without one it
//! builds the reference plugin it wraps.

mod support;

use std::process::ExitCode;

#[cfg(unix)]
fn main() -> ExitCode {
    if support::plugin_named() {
        eprintln!(
            "a plugin was named: the suite runs against it (signer_program), not the self-test"
        );
        return ExitCode::SUCCESS;
    }
    shell::main()
}

#[cfg(not(unix))]
fn main() -> ExitCode {
    eprintln!("the broken plugins are shell scripts: skipped on this platform");
    ExitCode::SUCCESS
}

/// The broken plugins are `/bin/sh` scripts around the reference plugin.
#[cfg(unix)]
mod shell {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use sigstore_kms_conformance::{run, Config, Outcome, Report};

    /// A wrapper script breaking one rule, and the check that must catch it.
    struct Broken {
        name: &'static str,
        /// Shell lines run before the reference plugin; `$KEY` and `$OTHER_KEY`
        /// are key paths, `$LOCALKMS` the plugin.
        script: &'static str,
        catches: &'static [&'static str],
    }

    const BROKEN: &[Broken] = &[
        Broken {
            name: "verifySignature accepts anything",
            script: r#"case "$2" in *'"methodName":"verifySignature"'*) printf '{"verifySignature":{}}'; exit 0;; esac"#,
            catches: &[
                "verify-rejects-fake-signature",
                "verify-rejects-tampered-message",
                "verify-rejects-other-message-signature",
            ],
        },
        Broken {
            name: "createKey makes a new key each time",
            script: r#"case "$2" in *'"methodName":"createKey"'*) rm -f "$KEY";; esac"#,
            catches: &["create-key-idempotent"],
        },
        Broken {
            // Check, then write: callers that all find no key each make one,
            // at the pace of a remote key service.
            name: "createKey checks for the key, then writes a new one (mode 0644)",
            script: r#"case "$2" in *'"methodName":"createKey"'*)
  if [ ! -e "$KEY" ]; then
    sleep 1
    made=$(mktemp -d)
    reply=$("$LOCALKMS" "$1" "$(printf '%s' "$2" | sed "s#$KEY#$made/key.pem#g")")
    cat "$made/key.pem" > "$KEY"; chmod 644 "$KEY"; rm -rf "$made"
    printf '%s' "$reply"; exit 0
  fi;;
esac"#,
            catches: &["create-key-concurrent", "concurrent-signatures-verify"],
        },
        Broken {
            name: "createKey rewrites an existing key in place",
            script: r#"case "$2" in *'"methodName":"createKey"'*)
  if [ -s "$KEY" ]; then pem=$(cat "$KEY"); : > "$KEY"; sleep 1; printf '%s\n' "$pem" > "$KEY"; fi;;
esac"#,
            catches: &["create-key-existing-unchanged"],
        },
        Broken {
            name: "names P-384 keys but makes P-256 ones",
            script: r#"case "$2" in
  *'"methodName":"defaultAlgorithm"'*) printf '{"defaultAlgorithm":{"defaultAlgorithm":"ecdsa-p384-sha384"}}'; exit 0;;
  *'"methodName":"supportedAlgorithms"'*) printf '{"supportedAlgorithms":{"supportedAlgorithms":["ecdsa-p384-sha384"]}}'; exit 0;;
  *'"methodName":"createKey"'*) exec "$LOCALKMS" "$1" "$(printf '%s' "$2" | sed 's/"ecdsa-p384-sha384"/"ecdsa-p256-sha256"/')";;
esac"#,
            catches: &["key-matches-algorithm"],
        },
        Broken {
            name: "logs written to stdout",
            script: r#"echo "plugin starting""#,
            catches: &["stdout-single-json-object"],
        },
        Broken {
            name: "empty default algorithm",
            script: r#"case "$2" in *'"methodName":"defaultAlgorithm"'*) printf '{"defaultAlgorithm":{"defaultAlgorithm":""}}'; exit 0;; esac"#,
            catches: &["default-algorithm"],
        },
        Broken {
            name: "default algorithm not among the supported ones",
            script: r#"case "$2" in *'"methodName":"supportedAlgorithms"'*) printf '{"supportedAlgorithms":{"supportedAlgorithms":["rsa-2048"]}}'; exit 0;; esac"#,
            catches: &["supported-algorithms"],
        },
        Broken {
            name: "createKey accepts any algorithm",
            script: r#"exec "$LOCALKMS" "$1" "$(printf '%s' "$2" | sed 's/"any-algorithm"/"ecdsa-p256-sha256"/')""#,
            catches: &["create-key-unsupported-algorithm"],
        },
        Broken {
            name: "publicKey returns another key",
            script: r#"case "$2" in *'"methodName":"publicKey"'*) exec "$LOCALKMS" "$1" "$(printf '%s' "$2" | sed "s#$KEY#$OTHER_KEY#g")";; esac"#,
            catches: &["public-key"],
        },
        Broken {
            name: "signs and verifies with another key than the public one",
            script: r#"case "$2" in *'"methodName":"signMessage"'*|*'"methodName":"verifySignature"'*) exec "$LOCALKMS" "$1" "$(printf '%s' "$2" | sed "s#$KEY#$OTHER_KEY#g")";; esac"#,
            catches: &["signatures-verify-locally"],
        },
        Broken {
            // What a relaxed check could let through: the key refuses no
            // hash, but what it signs for SHA-512 is the SHA-256 digest.
            name: "signs the SHA-256 digest when asked for SHA-512",
            script: r#"case "$2" in *'"methodName":"signMessage"'*|*'"methodName":"verifySignature"'*) exec "$LOCALKMS" "$1" "$(printf '%s' "$2" | sed 's/"hashFunc":7/"hashFunc":5/g')";; esac"#,
            catches: &["signatures-verify-locally"],
        },
        Broken {
            name: "refuses SHA-512 without saying which hash it refuses",
            script: r#"case "$2" in *'"hashFunc":7'*'"methodName":"signMessage"'*) printf '{"errorMessage":"cannot sign this"}'; exit 0;; esac"#,
            catches: &["sign-verify-sha512"],
        },
        Broken {
            name: "crashes on an unknown method",
            script: r#"case "$2" in *'"methodName":"rotateKey"'*) echo "panic: unknown method" >&2; exit 2;; esac"#,
            catches: &["unknown-method-answered"],
        },
        Broken {
            name: "ignores the protocol version",
            script: r#"shift; exec "$LOCALKMS" v1 "$@""#,
            catches: &["wrong-protocol-version-answered"],
        },
        // The check looks for leftover processes in /proc, and says it skips
        // elsewhere.
        #[cfg(target_os = "linux")]
        Broken {
            name: "leaves a process behind that escapes the deadline",
            script: r#"case "$2" in *'"methodName":"signMessage"'*) setsid sh -c 'sleep 20; :' "$2" </dev/null >/dev/null 2>&1 & ;; esac"#,
            catches: &["short-deadline-leaves-no-process"],
        },
    ];

    /// A wrapper script that breaks no rule, and the check it may skip.
    struct Accepted {
        name: &'static str,
        script: &'static str,
        skips: &'static str,
    }

    const ACCEPTED: &[Accepted] = &[Accepted {
        // A cloud KMS key bound to one hash (AWS: SHA-256 only for P-256).
        name: "refuses SHA-512, naming it",
        script: r#"case "$2" in *'"hashFunc":7'*'"methodName":"signMessage"'*) printf '{"errorMessage":"the key signs SHA-256 digests only, not SHA-512"}'; exit 0;; esac"#,
        skips: "sign-verify-sha512",
    }];

    fn localkms() -> Result<PathBuf, String> {
        super::support::build(
            &[
                "-p",
                "sigstore-kms-localkms",
                "--bin",
                "sigstore-kms-localkms",
            ],
            "sigstore-kms-localkms",
        )
    }

    fn write_plugin(dir: &Path, script: &str, localkms: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.join("key.pem");
        let other = dir.join("other.pem");
        let script = format!(
            "#!/bin/sh\nLOCALKMS='{}'\nKEY='{}'\nOTHER_KEY='{}'\n{}\nexec \"$LOCALKMS\" \"$@\"\n",
            localkms.display(),
            key.display(),
            other.display(),
            script
        );
        let path = dir.join("sigstore-kms-broken");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        key
    }

    /// Runs the suite on a wrapped reference plugin.
    fn run_suite(script: &str, localkms: &Path) -> Result<Report, String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let key = write_plugin(dir.path(), script, localkms);
        // The other key exists before the suite starts.
        let mut other = Config::new(format!(
            "localkms://{}",
            dir.path().join("other.pem").display()
        ));
        other.search_path = Some(localkms.parent().unwrap().into());
        sigstore_kms_client::Client::builder()
            .search_path(localkms.parent().unwrap())
            .load(&other.key_reference)
            .and_then(|client| {
                client.create_key(
                    "ecdsa-p256-sha256",
                    &sigstore_kms_client::CallOptions::new(),
                )
            })
            .map_err(|err| format!("creating the other key: {err}"))?;

        let mut config = Config::new(format!("broken://{}", key.display()));
        config.search_path = Some(dir.path().into());
        config.large_message_bytes = 1 << 20;
        config.concurrent_calls = 2;
        run(&config, |_| {}).map_err(|err| err.to_string())
    }

    /// Runs the suite on one broken plugin; `Err` says what it missed.
    fn catches(broken: &Broken, localkms: &Path) -> Result<(), String> {
        let report = run_suite(broken.script, localkms)?;
        for check in broken.catches {
            match report.get(check).map(|result| &result.outcome) {
                Some(Outcome::Failed(_)) => {}
                Some(outcome) => return Err(format!("{check} did not fail: {outcome:?}")),
                None => return Err(format!("no check named {check}")),
            }
        }
        Ok(())
    }

    /// Runs the suite on one plugin that breaks no rule; `Err` says what
    /// failed.
    fn accepts(accepted: &Accepted, localkms: &Path) -> Result<(), String> {
        let report = run_suite(accepted.script, localkms)?;
        if let Some(failed) = report
            .results
            .iter()
            .find(|result| matches!(result.outcome, Outcome::Failed(_)))
        {
            return Err(format!("{} failed: {:?}", failed.name, failed.outcome));
        }
        match report.get(accepted.skips).map(|result| &result.outcome) {
            Some(Outcome::Skipped(_)) => Ok(()),
            other => Err(format!("{} was not skipped: {other:?}", accepted.skips)),
        }
    }

    pub fn main() -> ExitCode {
        let localkms = match localkms() {
            Ok(localkms) => localkms,
            Err(err) => {
                eprintln!("FAIL building the reference plugin the broken ones wrap: {err}");
                return ExitCode::FAILURE;
            }
        };
        let mut failed = 0;
        for broken in BROKEN {
            match catches(broken, &localkms) {
                Ok(()) => eprintln!(
                    "ok   {}: caught by {}",
                    broken.name,
                    broken.catches.join(", ")
                ),
                Err(reason) => {
                    failed += 1;
                    eprintln!("FAIL {}: {reason}", broken.name);
                }
            }
        }
        for accepted in ACCEPTED {
            match accepts(accepted, &localkms) {
                Ok(()) => eprintln!("ok   {}: passes, {} skipped", accepted.name, accepted.skips),
                Err(reason) => {
                    failed += 1;
                    eprintln!("FAIL {}: {reason}", accepted.name);
                }
            }
        }
        let cases = BROKEN.len() + ACCEPTED.len();
        #[allow(clippy::print_stdout)]
        {
            println!("{} passed, {} failed", cases - failed, failed);
        }
        if failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
