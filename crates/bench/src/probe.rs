//! The probes: each runs one measurement in this process and prints its
//! figures on one line of stdout, for `report` to read.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256, Sha384};
use sigstore_kms_client::{CallOptions, Client, HashFunc, StderrMode};

use crate::args::{Args, Result};
use crate::peak_rss::peak_rss_kib;

/// A fixed message whose digest the sign-digest calls send.
const MESSAGE: &[u8] = b"benchmark message";

fn hash_and_digest(name: &str) -> Result<(HashFunc, Vec<u8>)> {
    match name {
        "sha256" => Ok((HashFunc::SHA256, Sha256::digest(MESSAGE).to_vec())),
        "sha384" => Ok((HashFunc::SHA384, Sha384::digest(MESSAGE).to_vec())),
        other => Err(format!("unknown hash {other:?}").into()),
    }
}

fn client(args: &Args, hash_func: HashFunc) -> Result<Client> {
    Ok(Client::builder()
        .hash_func(hash_func)
        .search_path(args.get("plugin-dir")?)
        .stderr(StderrMode::CAPTURE_TAIL)
        .load(args.get("key")?)?)
}

/// `calls`: one untimed call, then `--n` timed ones; prints microseconds
/// per call.
///
/// `true` spawns /bin/true as the client spawns a plugin (own process
/// group, stdout piped, waited for); `true-client` runs /bin/true through
/// the client itself (the call fails on the empty reply, after the whole
/// call has run); `true-async` the same through `AsyncClient`.
pub fn calls(args: &Args) -> Result<()> {
    let n: u32 = args.num("n", 100)?;
    let mut call: Box<dyn FnMut() -> Result<()>> = match args.get("op")? {
        "true" => Box::new(|| {
            let mut command = Command::new("/bin/true");
            command.stdin(Stdio::null()).stdout(Stdio::piped());
            #[cfg(unix)]
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            command.output()?;
            Ok(())
        }),
        "true-client" => {
            let client = Client::builder()
                .stderr(StderrMode::CAPTURE_TAIL)
                .with_executable("/bin/true", "unused");
            Box::new(move || {
                let _ = client.public_key(&CallOptions::new());
                Ok(())
            })
        }
        "true-async" => true_async()?,
        "public-key" => {
            let (hash_func, _) = hash_and_digest(args.opt("hash").unwrap_or("sha256"))?;
            let client = client(args, hash_func)?;
            Box::new(move || {
                client.public_key(&CallOptions::new())?;
                Ok(())
            })
        }
        "sign-digest" => {
            let (hash_func, digest) = hash_and_digest(args.opt("hash").unwrap_or("sha256"))?;
            let client = client(args, hash_func)?;
            Box::new(move || {
                client.sign_digest(&digest, hash_func, &CallOptions::new())?;
                Ok(())
            })
        }
        other => return Err(format!("unknown --op {other:?}").into()),
    };
    call()?;
    let start = Instant::now();
    for _ in 0..n {
        call()?;
    }
    let per_call = start.elapsed() / n;
    println!("{:.1}", per_call.as_secs_f64() * 1e6);
    Ok(())
}

/// /bin/true through `AsyncClient`, one call after another on a
/// current-thread runtime: what handing the call to tokio's blocking pool
/// adds to the blocking call it makes there.
#[cfg(feature = "async")]
fn true_async() -> Result<Box<dyn FnMut() -> Result<()>>> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let client = sigstore_kms_client::AsyncClient::new(
        Client::builder()
            .stderr(StderrMode::CAPTURE_TAIL)
            .with_executable("/bin/true", "unused"),
    );
    Ok(Box::new(move || {
        let _ = runtime.block_on(client.public_key(&CallOptions::new()));
        Ok(())
    }))
}

#[cfg(not(feature = "async"))]
fn true_async() -> Result<Box<dyn FnMut() -> Result<()>>> {
    Err("--op true-async needs the `async` feature (bench/run.sh builds with it)".into())
}

/// `stream`: signs FILE through the client; prints the seconds the call
/// took, then the peak RSS (KiB) of this process and of the plugin.
pub fn stream(args: &Args) -> Result<()> {
    let path = args.positional.first().ok_or("stream needs a FILE")?;
    let (hash_func, _) = hash_and_digest(args.opt("hash").unwrap_or("sha256"))?;
    let client = client(args, hash_func)?;
    let file = File::open(path)?;
    let start = Instant::now();
    client.sign_message(file, &CallOptions::new())?;
    let seconds = start.elapsed().as_secs_f64();
    let (host, plugin) = peak_rss_kib()?;
    println!("{seconds:.4} {host} {plugin}");
    Ok(())
}

/// `concurrent`: `--signers` threads, each making `--calls` signing calls
/// (of `--file` when given, else of a digest); prints the total seconds.
pub fn concurrent(args: &Args) -> Result<()> {
    let signers: usize = args.num("signers", 1)?;
    let calls: usize = args.num("calls", 10)?;
    let file = args.opt("file").map(Path::new);
    let (hash_func, digest) = hash_and_digest(args.opt("hash").unwrap_or("sha256"))?;
    let client = client(args, hash_func)?;
    let sign = |client: &Client| -> Result<(), String> {
        let result = match file {
            Some(path) => File::open(path)
                .map_err(|err| err.to_string())
                .and_then(|file| {
                    client
                        .sign_message(file, &CallOptions::new())
                        .map_err(|err| err.to_string())
                }),
            None => client
                .sign_digest(&digest, hash_func, &CallOptions::new())
                .map_err(|err| err.to_string()),
        };
        result.map(drop)
    };
    sign(&client)?;
    let start = Instant::now();
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..signers)
            .map(|_| {
                let client = client.clone();
                scope.spawn(move || (0..calls).try_for_each(|_| sign(&client)))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_else(|_| Err("panicked".into())))
            .collect()
    });
    let elapsed: Duration = start.elapsed();
    for result in results {
        result?;
    }
    println!("{:.4}", elapsed.as_secs_f64());
    Ok(())
}
