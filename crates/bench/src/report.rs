//! `report`: every measurement, interleaved over several rounds, written
//! to BENCHMARKS.md with the machine, the load and the method.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use sigstore_kms_client::{CallOptions, Client, HashFunc};

use crate::args::{Args, Result};
use crate::stats::{median, median_ratio, range};

const MIB: u64 = 1024 * 1024;

/// Where everything lives for one report.
pub struct Bench {
    me: PathBuf,
    cargo_bin: PathBuf,
    go_bin: Option<PathBuf>,
    cosign: Option<PathBuf>,
    work: WorkDir,
    plugin_path: String,
    local_key: String,
    /// The same key, through the statically linked build of localkms.
    static_key: Option<String>,
    go_key: Option<String>,
}

/// The temporary directory of keys and messages, removed when dropped.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

pub fn run(args: &Args) -> Result<()> {
    let rounds: usize = args.num("rounds", 5)?;
    let n_calls: u32 = args.num("calls", 100)?;
    let stream_mib: u64 = args.num("stream-mib", 1024)?;
    let out = PathBuf::from(args.get("out")?);
    let bench = Bench::set_up(args)?;
    let mut doc = String::new();
    let started = Instant::now();

    writeln!(doc, "# Benchmarks\n")?;
    writeln!(
        doc,
        "Written by `make bench` (`bench/run.sh`, which builds everything in release mode and runs \
         `sigstore-kms-bench report`). Figures are medians over interleaved rounds; every ratio \
         is the median of per-round ratios of figures measured one right after the other. Wall \
         clock on a shared machine: compare the ratios, not the absolute times, across runs.\n"
    )?;
    machine(&mut doc)?;

    let load_before = loadavg();
    let calls = per_call(&bench, rounds, n_calls)?;
    let load_after_calls = loadavg();
    let streaming = streaming(&bench, rounds.min(3), stream_mib)?;
    let load_after_stream = loadavg();
    let rss = memory(&bench)?;
    let scaling = scaling(&bench, rounds.min(3))?;
    let hsm = crate::hsm::section(&bench, rounds, n_calls)?;
    let load_after = loadavg();

    writeln!(
        doc,
        "Load average (1, 5, 15 min) before: {load_before}; after the per-call runs: \
         {load_after_calls}; after streaming: {load_after_stream}; at the end: {load_after}. \
         The whole report took {:.0} s.\n",
        started.elapsed().as_secs_f64()
    )?;
    writeln!(doc, "## Targets\n")?;
    let mut target_rows = targets(&calls, &streaming, &rss);
    if let Some(hsm) = &hsm {
        // Before the blank line that ends the table.
        target_rows.pop();
        target_rows.push_str(&hsm.targets);
        target_rows.push('\n');
    }
    doc.push_str(&target_rows);
    doc.push_str(&calls.text);
    doc.push_str(&streaming.text);
    doc.push_str(&rss.text);
    doc.push_str(&scaling);
    if let Some(hsm) = &hsm {
        doc.push_str(&hsm.text);
    }
    if let Some(path) = args.opt("analysis") {
        doc.push_str(&fs::read_to_string(path)?);
    }
    fs::write(&out, doc)?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

/// `hsm-report`: section 5 alone, put into `--out` in place of the old one.
pub fn run_hsm(args: &Args) -> Result<()> {
    let rounds: usize = args.num("rounds", 5)?;
    let n_calls: u32 = args.num("calls", 100)?;
    let bench = Bench::set_up(args)?;
    crate::hsm::run_alone(&bench, rounds, n_calls, Path::new(args.get("out")?))
}

/// What the HSM section (Unix-only, see `hsm.rs`) reads of the bench.
#[cfg(unix)]
impl Bench {
    /// The directory of keys and messages.
    pub fn work_dir(&self) -> &Path {
        &self.work.0
    }

    /// The release binaries.
    pub fn cargo_bin(&self) -> &Path {
        &self.cargo_bin
    }

    /// The plugin search path.
    pub fn plugin_path(&self) -> &str {
        &self.plugin_path
    }

    /// The localkms P-256 key.
    pub fn local_key(&self) -> &str {
        &self.local_key
    }
}

impl Bench {
    fn set_up(args: &Args) -> Result<Bench> {
        let cargo_bin = PathBuf::from(args.get("cargo-bin-dir")?);
        let go_bin = args.opt("go-bin-dir").map(PathBuf::from).filter(|dir| {
            dir.join("sigstore-kms-gokms").exists() && dir.join("bench-gohost").exists()
        });
        let cosign = args
            .opt("cosign")
            .filter(|path| !path.is_empty())
            .map(PathBuf::from);
        let work = WorkDir(
            std::env::temp_dir().join(format!("sigstore-kms-bench.{}", std::process::id())),
        );
        fs::create_dir_all(&work.0)?;
        let static_bin = args
            .opt("static-bin-dir")
            .map(PathBuf::from)
            .filter(|dir| dir.join("sigstore-kms-localkms-static").exists());
        let mut dirs = vec![cargo_bin.clone()];
        dirs.extend(static_bin.clone());
        dirs.extend(go_bin.clone());
        let plugin_path = std::env::join_paths(&dirs)?
            .into_string()
            .map_err(|_| "plugin directories must be UTF-8")?;

        let local_key = format!("localkms://{}", work.0.join("p256.pem").display());
        create_key(
            &plugin_path,
            &local_key,
            HashFunc::SHA256,
            "ecdsa-p256-sha256",
        )?;
        let static_key =
            static_bin.map(|_| format!("localkms-static://{}", work.0.join("p256.pem").display()));
        let go_key = match go_bin {
            Some(_) => {
                // The Go plugin with the key type of localkms: like with like.
                let key = format!("gokms://{}", work.0.join("p256-go.pem").display());
                create_key(&plugin_path, &key, HashFunc::SHA256, "ecdsa-p256-sha256")?;
                Some(key)
            }
            None => None,
        };
        Ok(Bench {
            me: std::env::current_exe()?,
            cargo_bin,
            go_bin,
            cosign,
            work,
            plugin_path,
            local_key,
            static_key,
            go_key,
        })
    }

    /// Runs this binary's probe `args`; returns its stdout's words.
    fn probe(&self, args: &[&str]) -> Result<Vec<f64>> {
        self.probe_env(args, &[])
    }

    /// Like [`Bench::probe`], with `env` added to the probe's environment.
    pub fn probe_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Vec<f64>> {
        let mut command = Command::new(&self.me);
        command
            .args(args)
            .args(["--plugin-dir", &self.plugin_path])
            .envs(env.iter().copied());
        words(&mut command)
    }

    /// Runs bench-gohost with the plugins on PATH.
    fn go_host(&self, args: &[&str]) -> Result<Option<f64>> {
        self.go_host_env(args, &[])
    }

    /// Like [`Bench::go_host`], with `env` added to its environment.
    pub fn go_host_env(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Option<f64>> {
        let Some(go_bin) = &self.go_bin else {
            return Ok(None);
        };
        let path = format!(
            "{}:{}",
            self.plugin_path,
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = Command::new(go_bin.join("bench-gohost"));
        command
            .args(args)
            .env("PATH", path)
            .envs(env.iter().copied());
        Ok(words(&mut command)?.first().copied())
    }

    fn message(&self, mib: u64) -> Result<PathBuf> {
        let path = self.work.0.join(format!("message-{mib}m.bin"));
        if !path.exists() {
            write_message(&path, mib * MIB)?;
        }
        Ok(path)
    }
}

pub fn create_key(
    plugin_path: &str,
    key: &str,
    hash_func: HashFunc,
    algorithm: &str,
) -> Result<()> {
    Client::builder()
        .hash_func(hash_func)
        .search_path(plugin_path)
        .load(key)?
        .create_key(algorithm, &CallOptions::new())?;
    Ok(())
}

/// Pseudo-random bytes (a 1 MiB block repeated): hashing speed does not
/// depend on the content, and writing it costs no CPU to speak of.
fn write_message(path: &Path, size: u64) -> Result<()> {
    let mut block = vec![0u8; MIB as usize];
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let mut file = std::io::BufWriter::new(fs::File::create(path)?);
    let mut left = size;
    while left > 0 {
        let n = left.min(MIB) as usize;
        file.write_all(&block[..n])?;
        left -= n as u64;
    }
    file.into_inner()
        .map_err(|err| err.into_error())?
        .sync_all()?;
    Ok(())
}

fn words(command: &mut Command) -> Result<Vec<f64>> {
    let output = command.stderr(Stdio::inherit()).output()?;
    if !output.status.success() {
        return Err(format!("{command:?} failed: {}", output.status).into());
    }
    let text = String::from_utf8(output.stdout)?;
    text.split_whitespace()
        .map(|word| {
            word.parse::<f64>()
                .map_err(|_| format!("{command:?} printed {text:?}").into())
        })
        .collect()
}

/// Seconds a command takes, start to exit, its output thrown away.
fn timed(command: &mut Command) -> Result<f64> {
    let start = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let seconds = start.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{command:?} failed: {status}").into());
    }
    Ok(seconds)
}

fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "not available".to_owned())
}

pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn machine(doc: &mut String) -> Result<()> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let sha_ni = cpuinfo.split_whitespace().any(|flag| flag == "sha_ni");
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| text.lines().next().map(str::to_owned))
        .unwrap_or_default();
    writeln!(doc, "## Machine\n")?;
    writeln!(doc, "| | |\n|---|---|")?;
    writeln!(doc, "| CPU | {model}, {cores} cores available |")?;
    writeln!(
        doc,
        "| SHA extensions (`sha_ni`) | {} |",
        if sha_ni { "yes" } else { "no" }
    )?;
    writeln!(
        doc,
        "| memory | {} |",
        memory
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    writeln!(doc, "| kernel | {} |", first_line("uname", &["-sr"]))?;
    writeln!(doc, "| rustc | {} |", first_line("rustc", &["-V"]))?;
    writeln!(doc, "| go | {} |", first_line("go", &["version"]))?;
    writeln!(
        doc,
        "| openssl | {} |\n",
        first_line("openssl", &["version"])
    )?;
    Ok(())
}

/// The plugin columns of the per-call tables.
const PLUGINS: [&str; 3] = [
    "Rust plugin (localkms, P-256)",
    "Rust plugin, static (localkms, P-256)",
    "Go plugin (gokms, P-256)",
];
/// The Rust plugin's builds: dynamically linked (cargo's default) and static.
const BUILDS: [&str; 2] = ["dynamic", "static"];

struct Calls {
    text: String,
    /// Per-call ratios, `[op][build]`: Rust host + localkms over the floor, and
    /// over the Go host + Go plugin, for publicKey and sign-digest.
    floor_ratio: [[Option<f64>; 2]; 2],
    go_ratio: [[Option<f64>; 2]; 2],
}

fn per_call(bench: &Bench, rounds: usize, n: u32) -> Result<Calls> {
    let n_text = n.to_string();
    let ops = ["public-key", "sign-digest"];
    // [op][host: 0 rust, 1 go][plugin: PLUGINS] -> per round
    let mut pairs: [[[Vec<f64>; 3]; 2]; 2] = Default::default();
    let (mut floor, mut floor_client, mut floor_go) = (Vec::new(), Vec::new(), Vec::new());
    let mut floor_async = Vec::new();
    for round in 0..rounds {
        eprintln!("per-call round {}/{rounds}", round + 1);
        floor.push(bench.probe(&["calls", "--op", "true", "--n", &n_text])?[0]);
        floor_client.push(bench.probe(&["calls", "--op", "true-client", "--n", &n_text])?[0]);
        floor_async.push(bench.probe(&["calls", "--op", "true-async", "--n", &n_text])?[0]);
        if let Some(value) = bench.go_host(&["-op", "true", "-n", &n_text])? {
            floor_go.push(value);
        }
        for (o, op) in ops.iter().enumerate() {
            let mut plugins = vec![(0, bench.local_key.as_str(), "sha256")];
            if let Some(key) = &bench.static_key {
                plugins.push((1, key.as_str(), "sha256"));
            }
            if let Some(key) = &bench.go_key {
                plugins.push((2, key.as_str(), "sha256"));
            }
            for (p, key, hash) in plugins {
                let rust = bench.probe(&[
                    "calls", "--op", op, "--key", key, "--hash", hash, "--n", &n_text,
                ])?;
                pairs[o][0][p].push(rust[0]);
                if let Some(value) =
                    bench.go_host(&["-op", op, "-key", key, "-hash", hash, "-n", &n_text])?
                {
                    pairs[o][1][p].push(value);
                }
            }
        }
    }

    let mut text = String::new();
    writeln!(text, "## 1. Per-call overhead\n")?;
    writeln!(
        text,
        "{n} calls in a loop after one untimed call, in a fresh host process, {rounds} rounds; \
         µs per call. sign-digest is signMessage with a digest and nothing on stdin: SHA-256 \
         (32 bytes); every plugin holds a P-256 key. The Go host is \
         `cliplugin.LoadSignerVerifier` (sigstore v1.10.11, `interop/cmd/bench-gohost`); the Go \
         plugin is `sigstore-kms-gokms`, written with the reference's `handler`. The static \
         localkms is the same code linked with `-C target-feature=+crt-static` (see the README).\n"
    )?;
    writeln!(text, "The floor, /bin/true spawned N times:\n")?;
    writeln!(
        text,
        "| how | µs per call (median) | min–max |\n|---|---:|---:|"
    )?;
    let row = |text: &mut String, name: &str, values: &[f64]| -> Result<()> {
        if values.is_empty() {
            return Ok(());
        }
        let (lo, hi) = range(values);
        writeln!(text, "| {name} | {:.0} | {lo:.0}–{hi:.0} |", median(values))?;
        Ok(())
    };
    row(
        &mut text,
        "Rust `Command` (own process group, stdout piped, waited): **the floor**",
        &floor,
    )?;
    row(&mut text, "through the client library (`Client` with /bin/true as the plugin; fails on the empty reply)", &floor_client)?;
    row(&mut text, "the same through `AsyncClient` (the blocking call on tokio's blocking pool, a current-thread runtime, one call at a time)", &floor_async)?;
    row(
        &mut text,
        "Go `exec.Command(..).Output()`, as cliplugin runs a plugin",
        &floor_go,
    )?;
    writeln!(text)?;

    let mut floor_ratio = [[None; 2]; 2];
    let mut go_ratio = [[None; 2]; 2];
    for (o, op) in ops.iter().enumerate() {
        writeln!(
            text,
            "**{op}**, µs per call (× the floor, median of per-round ratios):\n"
        )?;
        writeln!(text, "| host \\ plugin | {} |", PLUGINS.join(" | "))?;
        writeln!(text, "|---|---:|---:|---:|")?;
        for (h, host) in ["Rust host (client library)", "Go host (cliplugin)"]
            .iter()
            .enumerate()
        {
            let cell = |p: usize| {
                let values = &pairs[o][h][p];
                if values.is_empty() {
                    "not measured".to_owned()
                } else {
                    format!(
                        "{:.0} ({:.2}×)",
                        median(values),
                        median_ratio(values, &floor)
                    )
                }
            };
            writeln!(text, "| {host} | {} | {} | {} |", cell(0), cell(1), cell(2))?;
        }
        for build in 0..BUILDS.len() {
            let rust = &pairs[o][0][build];
            if rust.is_empty() {
                continue;
            }
            floor_ratio[o][build] = Some(median_ratio(rust, &floor));
            if !pairs[o][1][2].is_empty() {
                go_ratio[o][build] = Some(median_ratio(rust, &pairs[o][1][2]));
            }
        }
        writeln!(text)?;
    }
    Ok(Calls {
        text,
        floor_ratio,
        go_ratio,
    })
}

struct Streaming {
    text: String,
    /// Client + localkms throughput over OpenSSL's.
    ratio: f64,
    size_mib: u64,
}

fn streaming(bench: &Bench, rounds: usize, mib: u64) -> Result<Streaming> {
    let file = bench.message(mib)?;
    let file_text = file
        .to_str()
        .ok_or("temporary path must be UTF-8")?
        .to_owned();
    let path_env = format!(
        "{}:{}",
        bench.plugin_path,
        std::env::var("PATH").unwrap_or_default()
    );
    let cli = bench.cargo_bin.join("sigstore-kms");
    let sig = bench.work.0.join("cosign.sig");
    // Warm the page cache, so that every contender reads from memory.
    timed(Command::new("cat").arg(&file))?;
    let mut names: Vec<&str> = vec![
        "`openssl dgst -sha256` (the limit)",
        "client library → localkms (`Client::sign_message`)",
        "`sigstore-kms sign-blob` → localkms",
    ];
    if bench.cosign.is_some() {
        names.push("cosign v3 `sign-blob` → localkms");
    }
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..rounds {
        eprintln!("streaming round {}/{rounds}", round + 1);
        seconds[0].push(timed(
            Command::new("openssl").args(["dgst", "-sha256", &file_text]),
        )?);
        seconds[1].push(
            bench.probe(&[
                "stream",
                "--key",
                &bench.local_key,
                "--hash",
                "sha256",
                &file_text,
            ])?[0],
        );
        seconds[2].push(timed(
            Command::new(&cli)
                .args(["sign-blob", "--key", &bench.local_key, &file_text])
                .env("PATH", &path_env),
        )?);
        if let Some(cosign) = &bench.cosign {
            seconds[3].push(timed(
                Command::new(cosign)
                    .args([
                        "sign-blob",
                        "--key",
                        &bench.local_key,
                        "--use-signing-config=false",
                        "--tlog-upload=false",
                        "--new-bundle-format=false",
                        "--yes",
                        "--output-signature",
                    ])
                    .arg(&sig)
                    .arg(&file_text)
                    .env("PATH", &path_env),
            )?);
        }
    }
    let mut text = String::new();
    writeln!(text, "## 2. Streaming\n")?;
    writeln!(
        text,
        "Signing a {mib} MiB file (in the page cache) with the P-256 key: the message is \
         streamed to the plugin, which hashes it with SHA-256. {rounds} interleaved rounds, each \
         timed from process start to exit (the client library row: the `sign_message` call). \
         cosign hashes the file itself and sends the plugin the digest.\n"
    )?;
    writeln!(
        text,
        "| what | seconds (median) | MiB/s | × OpenSSL throughput |\n|---|---:|---:|---:|"
    )?;
    for (i, name) in names.iter().enumerate() {
        let s = median(&seconds[i]);
        writeln!(
            text,
            "| {name} | {s:.3} | {:.0} | {:.2} |",
            mib as f64 / s,
            median_ratio(&seconds[0], &seconds[i])
        )?;
    }
    if bench.cosign.is_none() {
        writeln!(
            text,
            "\ncosign was not found (set COSIGN_BIN, or run `make e2e-cosign` once): not measured."
        )?;
    }
    writeln!(text)?;
    Ok(Streaming {
        text,
        ratio: median_ratio(&seconds[0], &seconds[1]),
        size_mib: mib,
    })
}

struct Memory {
    text: String,
    /// Largest peak RSS of the Rust host and of localkms, KiB.
    worst: (f64, f64),
}

fn memory(bench: &Bench) -> Result<Memory> {
    let mut text = String::new();
    writeln!(text, "## 3. Memory\n")?;
    writeln!(
        text,
        "Peak resident set (`getrusage`: the host process itself, and its reaped children, i.e. \
         the plugin) while signing a message of each size through the client library.\n"
    )?;
    writeln!(
        text,
        "| message | Rust host, KiB | localkms, KiB | Rust host → gokms: host, KiB | gokms, KiB |"
    )?;
    writeln!(text, "|---|---:|---:|---:|---:|")?;
    let mut worst = (0.0f64, 0.0f64);
    for (label, mib) in [("1 MiB", 1), ("100 MiB", 100), ("1 GiB", 1024)] {
        eprintln!("memory {label}");
        let file = bench.message(mib)?;
        let file_text = file.to_str().ok_or("temporary path must be UTF-8")?;
        let local = bench.probe(&[
            "stream",
            "--key",
            &bench.local_key,
            "--hash",
            "sha256",
            file_text,
        ])?;
        worst = (worst.0.max(local[1]), worst.1.max(local[2]));
        let go = match &bench.go_key {
            Some(key) => {
                let go = bench.probe(&["stream", "--key", key, "--hash", "sha256", file_text])?;
                format!("{:.0} | {:.0}", go[1], go[2])
            }
            None => "not measured | not measured".to_owned(),
        };
        writeln!(
            text,
            "| {label} | {:.0} | {:.0} | {go} |",
            local[1], local[2]
        )?;
        if mib == 1024 {
            let _ = fs::remove_file(&file);
        }
    }
    writeln!(text)?;
    Ok(Memory { text, worst })
}

fn scaling(bench: &Bench, rounds: usize) -> Result<String> {
    const CALLS: usize = 20;
    const FILE_MIB: u64 = 64;
    let file = bench.message(FILE_MIB)?;
    let file_text = file
        .to_str()
        .ok_or("temporary path must be UTF-8")?
        .to_owned();
    let signer_counts = [1usize, 2, 4, 8];
    let mut digest = vec![Vec::new(); signer_counts.len()];
    let mut stream = vec![Vec::new(); signer_counts.len()];
    for round in 0..rounds {
        eprintln!("scaling round {}/{rounds}", round + 1);
        for (i, signers) in signer_counts.iter().enumerate() {
            let signers = signers.to_string();
            let calls = CALLS.to_string();
            digest[i].push(
                bench.probe(&[
                    "concurrent",
                    "--key",
                    &bench.local_key,
                    "--signers",
                    &signers,
                    "--calls",
                    &calls,
                ])?[0],
            );
            stream[i].push(
                bench.probe(&[
                    "concurrent",
                    "--key",
                    &bench.local_key,
                    "--signers",
                    &signers,
                    "--calls",
                    "1",
                    "--file",
                    &file_text,
                ])?[0],
            );
        }
    }
    let mut text = String::new();
    writeln!(text, "## 4. Scaling\n")?;
    writeln!(
        text,
        "K signer threads in one host process, all started together, Rust host → localkms; \
         total wall time until the last finishes ({rounds} interleaved rounds, median). Left: \
         each signer makes {CALLS} sign-digest calls. Right: each signer signs one {FILE_MIB} MiB \
         message (streamed and hashed by the plugin).\n"
    )?;
    writeln!(
        text,
        "| signers | sign-digest: total s | calls/s | {FILE_MIB} MiB messages: total s | MiB/s |"
    )?;
    writeln!(text, "|---:|---:|---:|---:|---:|")?;
    for (i, signers) in signer_counts.iter().enumerate() {
        let (d, s) = (median(&digest[i]), median(&stream[i]));
        writeln!(
            text,
            "| {signers} | {d:.3} | {:.0} | {s:.3} | {:.0} |",
            (signers * CALLS) as f64 / d,
            (*signers as u64 * FILE_MIB) as f64 / s
        )?;
    }
    writeln!(text)?;
    Ok(text)
}

fn targets(calls: &Calls, streaming: &Streaming, memory: &Memory) -> String {
    let verdict = |met: bool| if met { "met" } else { "**missed**" };
    let mut text = String::new();
    text.push_str("| target | measured | |\n|---|---|---|\n");
    for (o, op) in ["publicKey", "sign-digest"].iter().enumerate() {
        for (b, build) in BUILDS.iter().enumerate() {
            let plugin = format!("Rust host + Rust plugin ({build})");
            let Some(ratio) = calls.floor_ratio[o][b] else {
                let _ = writeln!(text, "| {op}, {plugin} | not measured | |");
                continue;
            };
            let _ = writeln!(
                text,
                "| {op}, {plugin} ≤ 2.5× the /bin/true floor | {ratio:.2}× | {} |",
                verdict(ratio <= 2.5)
            );
            match calls.go_ratio[o][b] {
                Some(ratio) => {
                    let _ = writeln!(
                        text,
                        "| {op}, {plugin} ≤ 0.5× Go host + Go plugin | {ratio:.2}× | {} |",
                        verdict(ratio <= 0.5)
                    );
                }
                None => {
                    let _ = writeln!(
                        text,
                        "| {op}, {plugin} ≤ 0.5× Go host + Go plugin | not measured (no Go) | |"
                    );
                }
            }
        }
    }
    let _ = writeln!(
        text,
        "| streaming {} MiB ≥ 0.85× OpenSSL throughput | {:.2}× | {} |",
        streaming.size_mib,
        streaming.ratio,
        verdict(streaming.ratio >= 0.85)
    );
    let (host, plugin) = memory.worst;
    let _ = writeln!(
        text,
        "| peak RSS < 16 MiB at every size | host {:.1} MiB, plugin {:.1} MiB | {} |\n",
        host / 1024.0,
        plugin / 1024.0,
        verdict(host < 16.0 * 1024.0 && plugin < 16.0 * 1024.0)
    );
    text
}
