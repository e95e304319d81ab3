//! `sigstore-kms-awskms` against a real AWS KMS API on 127.0.0.1:
//! local-kms (`github.com/nsmithuk/local-kms`), started here with its data
//! in a temporary directory, and stopped at the end.
//!
//! The plugin runs as hosts run it, through `sigstore-kms-client`, from a
//! wrapper script that sets its AWS configuration (so that each case can
//! have its own environment). Every signature is also checked here with the
//! public key, outside the plugin.
//!
//! local-kms is found in `LOCAL_KMS` (its path) or where `make e2e-awskms`
//! installs it (`COSIGN_BIN_DIR`); without it the test says so and passes, unless
//! `SIGSTORE_KMS_REQUIRE_LOCAL_KMS=1`. The TLS case needs `openssl` and
//! `socat` on `PATH`, under the same rule.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384};
use sigstore_kms_client::{CallOptions, Client, Error, HashFunc, KeyAlgorithm, PublicKey};

const LOCAL_KMS_VERSION: &str = "v0.0.0-20260228092603-2a5e92d09ab6";
const REGION: &str = "eu-west-2";
const ACCOUNT: &str = "111122223333";
const PLUGIN: &str = env!("CARGO_BIN_EXE_sigstore-kms-awskms");
const MESSAGE: &[u8] = b"a blob signed through sigstore-kms-awskms";

type Case = (&'static str, fn(&Env) -> Result<(), String>);

const CASES: &[Case] = &[
    (
        "createKey makes each key spec, once, under its alias",
        create_key_per_spec,
    ),
    (
        "key id, key ARN, alias and alias ARN name one key",
        every_reference_form,
    ),
    (
        "signatures use the key's first algorithm, and verify here",
        signs_with_first_algorithm,
    ),
    (
        "a hash the key does not sign is refused, naming its hash and the flag",
        other_hash_refused,
    ),
    (
        "verification refuses tampering, here and in the KMS",
        verification_refuses_tampering,
    ),
    (
        "createKey needs an alias and a supported key spec",
        create_key_refusals,
    ),
    (
        "concurrent createKey calls agree on one key",
        concurrent_create_key,
    ),
    (
        "bad references and settings fail with a clear message",
        clear_errors,
    ),
    (
        "an endpoint in the reference is https, trusted through AWS_CA_BUNDLE",
        endpoint_over_tls,
    ),
];

fn main() -> ExitCode {
    let required = std::env::var_os("SIGSTORE_KMS_REQUIRE_LOCAL_KMS").is_some_and(|v| v == "1");
    let Some(local_kms) = local_kms_path() else {
        if required {
            eprintln!("FAIL local-kms not found, and SIGSTORE_KMS_REQUIRE_LOCAL_KMS=1");
            return ExitCode::FAILURE;
        }
        eprintln!("SKIPPING: local-kms not found (set LOCAL_KMS, or run make e2e-awskms)");
        return ExitCode::SUCCESS;
    };
    let env = match Env::start(&local_kms, required) {
        Ok(env) => env,
        Err(err) => {
            eprintln!("FAIL starting local-kms: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = 0;
    for (name, case) in CASES {
        let started = Instant::now();
        match case(&env) {
            Ok(()) => eprintln!("ok   {name} ({:.1}s)", started.elapsed().as_secs_f64()),
            Err(reason) => {
                failed += 1;
                eprintln!("FAIL {name}: {reason}");
            }
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!("{} passed, {failed} failed", CASES.len() - failed);
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `LOCAL_KMS`, else the build `make e2e-awskms` keeps in `COSIGN_BIN_DIR`.
fn local_kms_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("LOCAL_KMS") {
        return Some(path.into());
    }
    let path = Path::new(&std::env::var_os("COSIGN_BIN_DIR")?)
        .join(format!("local-kms-{LOCAL_KMS_VERSION}"));
    path.exists().then_some(path)
}

/// local-kms running, and what the cases share.
struct Env {
    dir: tempfile::TempDir,
    port: u16,
    server: Child,
    required: bool,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|err| err.to_string())?;
    Ok(listener.local_addr().map_err(|err| err.to_string())?.port())
}

fn wait_for_port(port: u16, child: &mut Child) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited: {status}"));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on port {port} after 30 s"))
}

impl Env {
    fn start(local_kms: &Path, required: bool) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
        let port = free_port()?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(|err| err.to_string())?;
        let log = std::fs::File::create(dir.path().join("local-kms.log"))
            .map_err(|err| err.to_string())?;
        let mut server = Command::new(local_kms)
            .env("PORT", port.to_string())
            .env("KMS_DATA_PATH", &data)
            .env("KMS_REGION", REGION)
            .env("KMS_ACCOUNT_ID", ACCOUNT)
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|err| err.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|err| format!("{}: {err}", local_kms.display()))?;
        if let Err(err) = wait_for_port(port, &mut server) {
            let _ = server.kill();
            return Err(err);
        }
        Ok(Env {
            dir,
            port,
            server,
            required,
        })
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The AWS settings of every case: local-kms, fixed credentials, and
    /// none of the machine's own configuration.
    fn base_settings(&self) -> Vec<(String, String)> {
        let none = self.dir.path().join("no-such-file").display().to_string();
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "local".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
            ("AWS_CONFIG_FILE", none.clone()),
            ("AWS_SHARED_CREDENTIALS_FILE", none),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// A directory holding `sigstore-kms-awskms`: a script that sets the
    /// base settings changed by `changes` (`None` unsets), then runs the
    /// plugin.
    fn plugin_dir(&self, changes: &[(&str, Option<&str>)]) -> Result<PathBuf, String> {
        let dir = tempfile::Builder::new()
            .prefix("plugin")
            .tempdir_in(self.dir.path())
            .map_err(|err| err.to_string())?
            .keep();
        let mut script = String::from("#!/bin/sh\nunset AWS_CA_BUNDLE AWS_PROFILE AWS_DEFAULT_REGION AWS_TLS_INSECURE_SKIP_VERIFY\n");
        let mut settings = self.base_settings();
        for (name, value) in changes {
            settings.retain(|(known, _)| known != name);
            match value {
                Some(value) => settings.push(((*name).to_owned(), (*value).to_owned())),
                None => script.push_str(&format!("unset {name}\n")),
            }
        }
        for (name, value) in settings {
            script.push_str(&format!("export {name}='{value}'\n"));
        }
        script.push_str(&format!("exec '{PLUGIN}' \"$@\"\n"));
        let path = dir.join("sigstore-kms-awskms");
        let mut file = std::fs::File::create(&path).map_err(|err| err.to_string())?;
        file.write_all(script.as_bytes())
            .map_err(|err| err.to_string())?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|err| err.to_string())?;
        Ok(dir)
    }

    fn client_in(&self, dir: &Path, reference: &str, hash: HashFunc) -> Result<Client, String> {
        Client::builder()
            .search_path(dir)
            .hash_func(hash)
            .default_timeout(Duration::from_secs(60))
            .load(reference)
            .map_err(|err| format!("loading {reference}: {err}"))
    }

    fn client(&self, reference: &str, hash: HashFunc) -> Result<Client, String> {
        self.client_in(&self.plugin_dir(&[])?, reference, hash)
    }

    /// The key id and ARN behind an alias, from the KMS itself.
    fn describe(&self, alias: &str) -> Result<(String, String), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| err.to_string())?;
        runtime.block_on(async {
            let config = aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .endpoint_url(self.endpoint())
                .region(aws_sdk_kms::config::Region::new(REGION))
                .credentials_provider(aws_sdk_kms::config::Credentials::new(
                    "local", "local", None, None, "test",
                ))
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                        ))
                        .build_https(),
                )
                .build();
            let out = aws_sdk_kms::Client::from_conf(config)
                .describe_key()
                .key_id(alias)
                .send()
                .await
                .map_err(|err| aws_sdk_kms::error::DisplayErrorContext(err).to_string())?;
            let metadata = out.key_metadata.ok_or("no key metadata")?;
            Ok((metadata.key_id, metadata.arn.ok_or("no ARN")?))
        })
    }
}

fn options() -> CallOptions {
    CallOptions::new()
}

fn create(env: &Env, alias: &str, spec: &str) -> Result<PublicKey, String> {
    env.client(&format!("awskms:///{alias}"), HashFunc::SHA256)?
        .create_key(spec, &options())
        .map_err(|err| format!("createKey {spec} of {alias}: {err}"))
}

fn create_key_per_spec(env: &Env) -> Result<(), String> {
    for (spec, expected) in [
        ("ECC_NIST_P256", KeyAlgorithm::EcdsaP256),
        ("ECC_NIST_P384", KeyAlgorithm::EcdsaP384),
        ("ECC_NIST_P521", KeyAlgorithm::EcdsaP521),
        ("RSA_2048", KeyAlgorithm::Rsa { bits: 2048 }),
        ("RSA_3072", KeyAlgorithm::Rsa { bits: 3072 }),
    ] {
        let alias = format!("alias/spec-{}", spec.to_lowercase().replace('_', "-"));
        let key = create(env, &alias, spec)?;
        if *key.algorithm() != expected {
            return Err(format!("{spec} made a {} key", key.algorithm()));
        }
        // Again, even with another spec: the existing key, as sigstore's
        // provider answers.
        let again = create(env, &alias, "ECC_NIST_P256")?;
        if again != key {
            return Err(format!("a second createKey of {alias} made another key"));
        }
        let public = env
            .client(&format!("awskms:///{alias}"), HashFunc::SHA256)?
            .public_key(&options())
            .map_err(|err| err.to_string())?;
        if public != key {
            return Err(format!("publicKey of {alias} differs from createKey's"));
        }
    }
    Ok(())
}

fn every_reference_form(env: &Env) -> Result<(), String> {
    let alias = "alias/forms";
    let key = create(env, alias, "ECC_NIST_P256")?;
    let (key_id, key_arn) = env.describe(alias)?;
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:{alias}");
    for reference in [key_id, key_arn, alias_arn] {
        let client = env.client(&format!("awskms:///{reference}"), HashFunc::SHA256)?;
        let public = client
            .public_key(&options())
            .map_err(|err| format!("{reference}: {err}"))?;
        if public != key {
            return Err(format!("awskms:///{reference} names another key"));
        }
        let signature = client
            .sign_message(MESSAGE, &options())
            .map_err(|err| format!("signing through {reference}: {err}"))?;
        verify_here(&key, "ECDSA_SHA_256", &signature, MESSAGE)?;
    }
    Ok(())
}

/// Checks a signature with the public key alone, under the algorithm AWS
/// names.
fn verify_here(
    key: &PublicKey,
    algorithm: &str,
    signature: &[u8],
    message: &[u8],
) -> Result<(), String> {
    let result = match algorithm {
        "ECDSA_SHA_256" => key
            .verify_digest(&Sha256::digest(message), signature, HashFunc::SHA256)
            .map_err(|err| err.to_string()),
        "ECDSA_SHA_384" => key
            .verify_digest(&Sha384::digest(message), signature, HashFunc::SHA384)
            .map_err(|err| err.to_string()),
        "RSASSA_PSS_SHA_256" => rsa::PublicKey::from_public_key_der(key.to_der())
            .map_err(|err| err.to_string())?
            .verify(any_salt_pss(), &Sha256::digest(message), signature)
            .map_err(|err| err.to_string()),
        other => return Err(format!("no local check for {other}")),
    };
    result.map_err(|err| format!("{algorithm} signature does not verify here: {err}"))
}

/// PSS with the salt length found from the signature: AWS KMS salts with
/// the digest's length, local-kms with the most that fits.
fn any_salt_pss() -> rsa::pss::Pss<Sha256> {
    let mut pss = rsa::pss::Pss::new();
    pss.salt_len = None;
    pss
}

fn signs_with_first_algorithm(env: &Env) -> Result<(), String> {
    for (spec, hash, algorithm) in [
        ("ECC_NIST_P256", HashFunc::SHA256, "ECDSA_SHA_256"),
        ("ECC_NIST_P384", HashFunc::SHA384, "ECDSA_SHA_384"),
        ("RSA_3072", HashFunc::SHA256, "RSASSA_PSS_SHA_256"),
    ] {
        let reference = format!(
            "awskms:///alias/first-{}",
            spec.to_lowercase().replace('_', "-")
        );
        let client = env.client(&reference, hash)?;
        let key = client
            .create_key(spec, &options())
            .map_err(|err| err.to_string())?;
        // The message, its digest, and both.
        let digest = match hash {
            HashFunc::SHA384 => Sha384::digest(MESSAGE).to_vec(),
            _ => Sha256::digest(MESSAGE).to_vec(),
        };
        for (what, body, opts) in [
            ("message", MESSAGE, options()),
            ("digest", &b""[..], options().digest(digest.clone())),
            (
                "message and digest",
                MESSAGE,
                options().digest(digest.clone()),
            ),
        ] {
            let signature = client
                .sign_message(body, &opts)
                .map_err(|err| format!("{spec}, {what}: {err}"))?;
            verify_here(&key, algorithm, &signature, MESSAGE)
                .map_err(|err| format!("{spec}, {what}: {err}"))?;
            client
                .verify_signature(&signature, MESSAGE, &options())
                .map_err(|err| format!("{spec}: verifySignature of its own signature: {err}"))?;
        }
    }
    Ok(())
}

fn expect_plugin_error<T>(
    result: Result<T, Error>,
    what: &str,
    needles: &[&str],
) -> Result<(), String> {
    match result {
        Err(Error::Plugin { message, .. }) => {
            match needles.iter().find(|needle| !message.contains(**needle)) {
                None => Ok(()),
                Some(missing) => Err(format!(
                    "{what}: the error does not say {missing:?}: {message}"
                )),
            }
        }
        Ok(_) => Err(format!("{what} succeeded; it must fail")),
        Err(err) => Err(format!("{what}: not the plugin's own error: {err}")),
    }
}

fn other_hash_refused(env: &Env) -> Result<(), String> {
    for (spec, asked, needles) in [
        (
            "ECC_NIST_P384",
            HashFunc::SHA256,
            [
                "ECDSA_SHA_384",
                "SHA-384",
                "not SHA-256",
                "--signature-digest-algorithm sha384",
            ],
        ),
        (
            "ECC_NIST_P256",
            HashFunc::SHA512,
            [
                "ECDSA_SHA_256",
                "SHA-256",
                "not SHA-512",
                "--signature-digest-algorithm sha256",
            ],
        ),
        (
            "RSA_3072",
            HashFunc::SHA384,
            [
                "RSASSA_PSS_SHA_256",
                "SHA-256",
                "not SHA-384",
                "--signature-digest-algorithm sha256",
            ],
        ),
    ] {
        let reference = format!(
            "awskms:///alias/other-{}",
            spec.to_lowercase().replace('_', "-")
        );
        create(env, &reference["awskms:///".len()..], spec)?;
        let client = env.client(&reference, asked)?;
        expect_plugin_error(
            client.sign_message(MESSAGE, &options()),
            &format!("{spec}: signing {asked}"),
            &needles,
        )?;
        expect_plugin_error(
            client.verify_signature(b"anything", MESSAGE, &options()),
            &format!("{spec}: verifying {asked}"),
            &needles,
        )?;
    }
    Ok(())
}

fn verification_refuses_tampering(env: &Env) -> Result<(), String> {
    for spec in ["ECC_NIST_P256", "RSA_3072"] {
        let reference = format!(
            "awskms:///alias/tamper-{}",
            spec.to_lowercase().replace('_', "-")
        );
        let client = env.client(&reference, HashFunc::SHA256)?;
        client
            .create_key(spec, &options())
            .map_err(|err| err.to_string())?;
        let signature = client
            .sign_message(MESSAGE, &options())
            .map_err(|err| err.to_string())?;
        for remote in [false, true] {
            let opts = options().remote_verification(remote);
            client
                .verify_signature(&signature, MESSAGE, &opts)
                .map_err(|err| format!("{spec}, remote {remote}: {err}"))?;
            expect_plugin_error(
                client.verify_signature(&signature, &b"another blob"[..], &opts),
                &format!("{spec}, remote {remote}: verifying over another message"),
                &["invalid signature"],
            )?;
            let mut flipped = signature.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            expect_plugin_error(
                client.verify_signature(&flipped, MESSAGE, &opts),
                &format!("{spec}, remote {remote}: verifying a flipped signature"),
                &["invalid signature"],
            )?;
        }
    }
    Ok(())
}

fn create_key_refusals(env: &Env) -> Result<(), String> {
    let alias = "alias/refusals";
    create(env, alias, "ECC_NIST_P256")?;
    let (key_id, _) = env.describe(alias)?;
    let by_id = env.client(&format!("awskms:///{key_id}"), HashFunc::SHA256)?;
    expect_plugin_error(
        by_id.create_key("ECC_NIST_P256", &options()),
        "createKey through a key id",
        &["createKey needs an alias reference", &key_id],
    )?;
    let fresh = env.client("awskms:///alias/never-made", HashFunc::SHA256)?;
    expect_plugin_error(
        fresh.create_key("any-algorithm", &options()),
        "createKey with an unknown spec",
        &[
            "\"any-algorithm\"",
            "RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521",
        ],
    )?;
    expect_plugin_error(
        fresh.public_key(&options()),
        "publicKey of an alias nobody made",
        &["getting the public key", "NotFoundException"],
    )
}

fn concurrent_create_key(env: &Env) -> Result<(), String> {
    let dir = env.plugin_dir(&[])?;
    let keys: Vec<Result<PublicKey, String>> = thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    env.client_in(&dir, "awskms:///alias/raced", HashFunc::SHA256)?
                        .create_key("ECC_NIST_P256", &options())
                        .map_err(|err| err.to_string())
                })
            })
            .collect();
        callers
            .into_iter()
            .map(|caller| caller.join().unwrap_or_else(|_| Err("panicked".into())))
            .collect()
    });
    let keys: Vec<PublicKey> = keys.into_iter().collect::<Result<_, _>>()?;
    if keys.windows(2).all(|pair| pair[0] == pair[1]) {
        Ok(())
    } else {
        Err("concurrent createKey calls answered different keys".into())
    }
}

fn clear_errors(env: &Env) -> Result<(), String> {
    let plain = env.plugin_dir(&[])?;
    for reference in [
        "awskms:///release",
        "awskms://host/keys/alias/x",
        "awskms:///arn:aws:kms:eu-west-2:1:key/x",
    ] {
        let client = env.client_in(&plain, reference, HashFunc::SHA256)?;
        expect_plugin_error(
            client.public_key(&options()),
            reference,
            &["kms specification should be in the format awskms://[ENDPOINT]/[ID/ALIAS/ARN] (endpoint optional)"],
        )?;
    }
    let garbage = env.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").map_err(|err| err.to_string())?;
    let garbage = garbage.display().to_string();
    let missing = env.dir.path().join("missing.pem").display().to_string();
    for (changes, needles) in [
        (
            vec![("AWS_TLS_INSECURE_SKIP_VERIFY", Some("1"))],
            vec!["AWS_TLS_INSECURE_SKIP_VERIFY=1", "AWS_CA_BUNDLE"],
        ),
        (
            vec![("AWS_CA_BUNDLE", Some(garbage.as_str()))],
            vec!["AWS_CA_BUNDLE=", "garbage.pem", "no PEM certificate"],
        ),
        (
            vec![("AWS_CA_BUNDLE", Some(missing.as_str()))],
            vec!["AWS_CA_BUNDLE=", "missing.pem"],
        ),
        (
            vec![("AWS_REGION", None)],
            vec!["no AWS region", "AWS_REGION"],
        ),
    ] {
        let dir = env.plugin_dir(&changes)?;
        let client = env.client_in(&dir, "awskms:///alias/settings", HashFunc::SHA256)?;
        expect_plugin_error(
            client.public_key(&options()),
            &format!("{changes:?}"),
            &needles,
        )?;
    }
    let dir = env.plugin_dir(&[])?;
    let client = env.client_in(&dir, "awskms:///alias/settings", HashFunc::SHA256)?;
    expect_plugin_error(
        client.public_key(&options().key_version("2")),
        "a key version",
        &["key version \"2\""],
    )
}

/// `awskms://127.0.0.1:PORT/...` through `socat` serving TLS in front of
/// local-kms, with a throwaway certificate for 127.0.0.1.
fn endpoint_over_tls(env: &Env) -> Result<(), String> {
    for tool in ["openssl", "socat"] {
        if Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
            && Command::new(tool)
                .arg("version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_err()
        {
            if env.required {
                return Err(format!("{tool} is not on PATH"));
            }
            eprintln!("     SKIPPING the TLS case: {tool} is not on PATH");
            return Ok(());
        }
    }
    let dir = env.dir.path().join("tls");
    std::fs::create_dir_all(&dir).map_err(|err| err.to_string())?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        // An end-entity certificate (webpki refuses a CA certificate as a
        // server's), trusted as its own anchor.
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|err| err.to_string())?;
    if !made.success() {
        return Err("openssl req failed".into());
    }
    let port = free_port()?;
    let mut socat = Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            cert.display(),
            key.display()
        ))
        .arg(format!("TCP:127.0.0.1:{}", env.port))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| err.to_string())?;
    let result = (|| {
        wait_for_port(port, &mut socat)?;
        let reference = format!("awskms://127.0.0.1:{port}/alias/over-tls");
        let cert = cert.display().to_string();
        // AWS_ENDPOINT_URL points elsewhere: the reference's endpoint wins.
        let trusted = env.plugin_dir(&[
            ("AWS_CA_BUNDLE", Some(cert.as_str())),
            ("AWS_ENDPOINT_URL", Some("http://127.0.0.1:9")),
        ])?;
        let client = env.client_in(&trusted, &reference, HashFunc::SHA256)?;
        let key = client
            .create_key("ECC_NIST_P256", &options())
            .map_err(|err| err.to_string())?;
        let signature = client
            .sign_message(MESSAGE, &options())
            .map_err(|err| err.to_string())?;
        verify_here(&key, "ECDSA_SHA_256", &signature, MESSAGE)?;
        // The same key over plain HTTP: the endpoint changed, not the key.
        let plain = env.client("awskms:///alias/over-tls", HashFunc::SHA256)?;
        if plain
            .public_key(&options())
            .map_err(|err| err.to_string())?
            != key
        {
            return Err("the key over TLS is not the key over HTTP".into());
        }
        // Without the certificate the endpoint is not trusted.
        let untrusted = env.plugin_dir(&[])?;
        let client = env.client_in(&untrusted, &reference, HashFunc::SHA256)?;
        expect_plugin_error(
            client.public_key(&options()),
            "TLS without AWS_CA_BUNDLE",
            &["getting the public key"],
        )
    })();
    let _ = socat.kill();
    let _ = socat.wait();
    result
}
