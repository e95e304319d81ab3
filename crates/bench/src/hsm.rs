//! Section 5: `sigstore-kms-hsm` over a SoftHSM2 token, with a fresh
//! module per call and through `sigstore-kms-hsm agent`, against localkms
//! in the same rounds.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use sigstore_kms_client::HashFunc;

use crate::args::Result;
use crate::report::{create_key, loadavg, Bench};
use crate::stats::{median, median_ratio, range};

/// The heading that starts the section; `hsm-report` replaces the section
/// from here in an existing BENCHMARKS.md.
pub const HEADING: &str = "## 5. HSM: direct and through the agent";

/// Where distributions install the SoftHSM2 module.
const MODULE_PATHS: [&str; 4] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

const PIN: &str = "246810";
const TOKEN: &str = "bench";

/// The contenders, in table order.
const TARGETS: [&str; 3] = ["localkms", "hsm, direct", "hsm, via the agent"];

/// The section's text and its target rows.
pub struct Section {
    pub text: String,
    pub targets: String,
}

/// A SoftHSM2 token with a P-256 key, and an agent serving it; the agent
/// is stopped when dropped.
struct Token {
    key: String,
    socket: PathBuf,
    log: PathBuf,
    agent: Child,
}

impl Drop for Token {
    fn drop(&mut self) {
        // SIGTERM: the agent removes its socket and logs out.
        // SAFETY: kill only sends a signal to the agent started here.
        unsafe { libc::kill(self.agent.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.agent.wait();
    }
}

impl Token {
    fn set_up(bench: &Bench) -> Result<Option<Token>> {
        let Some(module) = MODULE_PATHS
            .iter()
            .map(Path::new)
            .find(|path| path.is_file())
        else {
            return Ok(None);
        };
        let dir = bench.work_dir().join("softhsm");
        let tokens = dir.join("tokens");
        fs::create_dir_all(&tokens)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
        let conf = dir.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )?;
        // Every probe, host and plugin started from now on inherits these,
        // as an operator's shell would pass them.
        std::env::set_var("SOFTHSM2_CONF", &conf);
        std::env::set_var("SIGSTORE_KMS_HSM_MODULE", module);
        std::env::set_var("SIGSTORE_KMS_HSM_PIN", PIN);
        let init = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN])
            .args(["--pin", PIN, "--so-pin", "13579111"])
            .output();
        match init {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!(
                    "softhsm2-util --init-token failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into())
            }
            Err(_) => return Ok(None),
        }
        let key = format!("hsm://token={TOKEN};object=p256");
        create_key(
            bench.plugin_path(),
            &key,
            HashFunc::SHA256,
            "ecdsa-p256-sha256",
        )?;
        let socket = dir.join("agent.sock");
        let log = dir.join("agent.log");
        let mut agent = Command::new(bench.cargo_bin().join("sigstore-kms-hsm"))
            .args(["agent", "--foreground", "--token", TOKEN, "--socket"])
            .arg(&socket)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(agent.stdout.take().ok_or("no agent stdout")?).read_line(&mut line)?;
        if line.is_empty() {
            return Err(format!("the agent did not start: {:?}", agent.wait()?).into());
        }
        Ok(Some(Token {
            key,
            socket,
            log,
            agent,
        }))
    }

    /// The agent's resident set and its peak, KiB.
    fn agent_rss(&self) -> (f64, f64) {
        let status =
            fs::read_to_string(format!("/proc/{}/status", self.agent.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse().ok())
                .unwrap_or(f64::NAN)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// The calls the agent has answered.
    fn calls_served(&self) -> usize {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(": ok ("))
            .count()
    }
}

/// Runs the section; `None` when SoftHSM2 is not installed.
pub fn section(bench: &Bench, rounds: usize, n: u32) -> Result<Option<Section>> {
    let Some(token) = Token::set_up(bench)? else {
        eprintln!("SoftHSM2 is not installed: the HSM section is left out");
        return Ok(None);
    };
    let socket = token
        .socket
        .to_str()
        .ok_or("temporary path must be UTF-8")?
        .to_owned();
    let agent_env = [("SIGSTORE_KMS_HSM_AGENT", socket.as_str())];
    let keys = [bench.local_key(), token.key.as_str(), token.key.as_str()];
    let envs: [&[(&str, &str)]; 3] = [&[], &[], &agent_env];
    let rss_start = token.agent_rss();
    let served_start = token.calls_served();
    let load_before = loadavg();

    // [op][host][target] -> per round
    let ops = ["public-key", "sign-digest"];
    let mut values: [[[Vec<f64>; 3]; 2]; 2] = Default::default();
    let n_text = n.to_string();
    for round in 0..rounds {
        eprintln!("hsm per-call round {}/{rounds}", round + 1);
        for (o, op) in ops.iter().enumerate() {
            for t in 0..TARGETS.len() {
                let args = ["calls", "--op", op, "--key", keys[t], "--hash", "sha256"];
                let rust = bench.probe_env(&[&args[..], &["--n", &n_text]].concat(), envs[t])?;
                values[o][0][t].push(rust[0]);
                let go_args = ["-op", op, "-key", keys[t], "-hash", "sha256", "-n", &n_text];
                if let Some(go) = bench.go_host_env(&go_args, envs[t])? {
                    values[o][1][t].push(go);
                }
            }
        }
    }

    // 1,000 signatures one after another, and by 8 signers at once. A
    // batch that fails is reported as failed: with a fresh login per call,
    // parallel signers can miss a SoftHSM2 token that another one is
    // rewriting (see crates/hsm/README.md).
    let mut batches = Vec::new();
    for t in 0..TARGETS.len() {
        eprintln!("hsm batches: {}", TARGETS[t]);
        let run = |signers: &str, calls: &str| -> Option<f64> {
            let args = [
                "concurrent",
                "--key",
                keys[t],
                "--signers",
                signers,
                "--calls",
                calls,
            ];
            match bench.probe_env(&args, envs[t]) {
                Ok(seconds) => seconds.first().copied(),
                Err(err) => {
                    eprintln!("{}, {signers} signers: {err}", TARGETS[t]);
                    None
                }
            }
        };
        batches.push((run("1", "1000"), run("8", "125")));
    }
    let rss_after_batches = token.agent_rss();
    let served_after_batches = token.calls_served();

    eprintln!("hsm: 10,000 calls through the agent");
    let long = [
        "calls",
        "--op",
        "sign-digest",
        "--key",
        keys[2],
        "--hash",
        "sha256",
        "--n",
        "10000",
    ];
    let long_per_call = bench.probe_env(&long, &agent_env)?[0];
    let rss_end = token.agent_rss();
    let served_end = token.calls_served();
    let load_after = loadavg();

    let mut text = String::new();
    writeln!(text, "{HEADING}\n")?;
    writeln!(
        text,
        "`sigstore-kms-hsm` with a P-256 key in a SoftHSM2 token (its own token directory), \
         against localkms (P-256) in the same rounds. *direct*: each call loads the PKCS#11 \
         module, logs in, signs and finalizes. *via the agent*: `SIGSTORE_KMS_HSM_AGENT` points \
         the plugin at `sigstore-kms-hsm agent`, which keeps the module loaded and the token \
         logged in; the plugin process forwards the call over the agent's socket. Same hosts as \
         section 1, {n} calls per figure after one untimed call, {rounds} interleaved rounds; µs \
         per call (× localkms with the same host, median of per-round ratios; min–max). Load \
         average (1, 5, 15 min) before: {load_before}; after: {load_after}.\n"
    )?;
    let mut targets = String::new();
    for (o, op) in ops.iter().enumerate() {
        writeln!(text, "**{op}**:\n")?;
        writeln!(text, "| host | {} |", TARGETS.join(" | "))?;
        writeln!(text, "|---|---:|---:|---:|")?;
        for (h, host) in ["Rust host (client library)", "Go host (cliplugin)"]
            .iter()
            .enumerate()
        {
            let local = &values[o][h][0];
            if local.is_empty() {
                writeln!(text, "| {host} | not measured (no Go) | | |")?;
                continue;
            }
            let cells: Vec<String> = (0..TARGETS.len())
                .map(|t| {
                    let (lo, hi) = range(&values[o][h][t]);
                    format!(
                        "{:.0} ({:.2}×; {lo:.0}–{hi:.0})",
                        median(&values[o][h][t]),
                        median_ratio(&values[o][h][t], local)
                    )
                })
                .collect();
            writeln!(text, "| {host} | {} |", cells.join(" | "))?;
            let ratio = median_ratio(&values[o][h][2], local);
            writeln!(
                targets,
                "| {op}, hsm via the agent ≤ 2× localkms per call, {host} | {ratio:.2}× | {} |",
                if ratio <= 2.0 { "met" } else { "**missed**" }
            )?;
        }
        writeln!(text)?;
    }
    writeln!(
        text,
        "Batches, Rust host, sign-digest, one run each: 1,000 signatures one after another, and \
         8 signer threads making 125 each (1,000 in all):\n"
    )?;
    writeln!(
        text,
        "| | 1,000 sequential: s | calls/s | 8 parallel signers: s | calls/s |"
    )?;
    writeln!(text, "|---|---:|---:|---:|---:|")?;
    let cells = |seconds: Option<f64>| match seconds {
        Some(seconds) => format!("{seconds:.2} | {:.0}", 1000.0 / seconds),
        None => "failed (see the note) | –".to_owned(),
    };
    for (t, (sequential, parallel)) in batches.iter().enumerate() {
        writeln!(
            text,
            "| {} | {} | {} |",
            TARGETS[t],
            cells(*sequential),
            cells(*parallel)
        )?;
    }
    if batches.iter().any(|(a, b)| a.is_none() || b.is_none()) {
        writeln!(
            text,
            "\nA failed batch stopped at its first failed call. Direct calls in parallel each \
             log in, and SoftHSM2 rewrites its token file at every login: a process that reads \
             the file at that moment finds no token, and after its retries (about a second) the \
             call fails with `token not found`. Through the agent, the token is logged in once."
        )?;
    }
    writeln!(
        text,
        "\nThe agent's memory (`/proc/PID/status`), as the calls it has answered grow; the last \
         {} calls (sign-digest, Rust host, one after another) took {long_per_call:.0} µs each:\n",
        thousands(served_end - served_after_batches)
    )?;
    writeln!(text, "| calls answered | VmRSS, KiB | VmHWM (peak), KiB |")?;
    writeln!(text, "|---:|---:|---:|")?;
    for (served, (rss, peak)) in [
        (served_start, rss_start),
        (served_after_batches, rss_after_batches),
        (served_end, rss_end),
    ] {
        writeln!(text, "| {} | {rss:.0} | {peak:.0} |", thousands(served))?;
    }
    let growth = rss_end.0 - rss_after_batches.0;
    writeln!(
        targets,
        "| the agent's RSS does not grow over {} calls | {growth:+.0} KiB (now {:.1} MiB) | {} |",
        thousands(served_end - served_after_batches),
        rss_end.0 / 1024.0,
        if growth <= 256.0 { "met" } else { "**missed**" }
    )?;
    Ok(Some(Section { text, targets }))
}

/// `12345` as `12,345`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `hsm-report`: runs only this section and puts it into `out` in place
/// of the one there (or before "## Where the time goes", or at the end).
pub fn run_alone(bench: &Bench, rounds: usize, n: u32, out: &Path) -> Result<()> {
    let Some(section) = section(bench, rounds, n)? else {
        return Err("SoftHSM2 (libsofthsm2.so and softhsm2-util) is not installed".into());
    };
    let body = format!(
        "{}\nTargets of this section (run alone with `bench/run.sh hsm`):\n\n| target | measured | |\n|---|---|---|\n{}\n",
        section.text, section.targets
    );
    let doc = fs::read_to_string(out).unwrap_or_default();
    let doc = match doc.find(HEADING) {
        Some(start) => {
            let end = doc[start + HEADING.len()..]
                .find("\n## ")
                .map_or(doc.len(), |at| start + HEADING.len() + at + 1);
            format!("{}{body}{}", &doc[..start], &doc[end..])
        }
        None => match doc.find("## Where the time goes") {
            Some(at) => format!("{}{body}{}", &doc[..at], &doc[at..]),
            None => format!("{doc}\n{body}"),
        },
    };
    fs::write(out, doc)?;
    eprintln!("wrote {} into {}", HEADING, out.display());
    Ok(())
}
