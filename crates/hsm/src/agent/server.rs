//! `sigstore-kms-hsm agent`: loads the module, logs in once, and serves
//! plugin calls forwarded over a Unix socket until it is stopped.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufReader, Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{self, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sigstore_kms_handler::{
    check_call, dispatch, error_message, parse_args, write_response, Error,
};
use sigstore_kms_protocol::PluginResp;

use super::backend::Backend;
use super::wire::{self, Kind, MessageReader, Request};
use super::{client, unix, AgentError, Options, AGENT_VARIABLE};
use crate::kms::Hsm;
use crate::settings::{Pin, Settings, MODULE_VARIABLE, PIN_VARIABLE};
use crate::uri::{KeyUri, TokenFilter};

/// How long a connection may stay silent in the middle of a call.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How long stopping waits for the calls in progress.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs `sigstore-kms-hsm agent ARGS` and exits.
pub fn command(args: Vec<OsString>) -> ! {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(err) => {
            eprintln!("sigstore-kms-hsm agent: {err}\n\n{}", super::USAGE);
            process::exit(2)
        }
    };
    let result = if options.help {
        super::say(super::USAGE).map_err(AgentError::Spawn)
    } else if options.stop {
        client::stop(options.socket.as_deref())
    } else if options.foreground {
        serve(&options)
    } else {
        start_in_background(&options)
    };
    match result {
        Ok(()) => process::exit(0),
        Err(err) => {
            eprintln!("sigstore-kms-hsm agent: {err}");
            process::exit(1)
        }
    }
}

/// Starts the agent as a process of its own (`--foreground --detached`),
/// and prints the shell line for it once it is ready; its start-up errors
/// reach this process's stderr. The agent sends only its socket's path,
/// and this process composes the line: nothing else the agent's process
/// writes (a module that prints, say) reaches it.
fn start_in_background(options: &Options) -> Result<(), AgentError> {
    let exe = std::env::current_exe().map_err(AgentError::Spawn)?;
    let mut command = Command::new(exe);
    command
        .arg("agent")
        .arg("--foreground")
        .arg("--detached")
        .args(options.to_args())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // SAFETY: setsid is async-signal-safe and touches no memory: the
    // agent leaves the terminal's session, as ssh-agent does.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(AgentError::Spawn)?;
    let mut said = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut said).map_err(AgentError::Spawn)?;
    }
    if said.is_empty() {
        // It said why on stderr.
        let status = child.wait().map_err(AgentError::Spawn)?;
        return Err(AgentError::NotStarted(status.to_string()));
    }
    let socket = said
        .strip_suffix(b"\0")
        .filter(|path| !path.is_empty() && !path.contains(&0))
        .map(|path| PathBuf::from(OsStr::from_bytes(path)))
        .filter(|path| unix::is_own_socket(path))
        .ok_or_else(|| {
            AgentError::NotStarted(format!(
                "pid {} did not name a socket of yours; stop it with kill",
                child.id()
            ))
        })?;
    super::say(&super::shell_lines(&socket, child.id())?).map_err(AgentError::Spawn)
}

/// The running agent, shared by the connection threads.
struct Agent {
    backend: Backend,
    socket: PathBuf,
    /// The directory made for the socket, removed with it.
    made_dir: Option<PathBuf>,
    stopping: Mutex<bool>,
}

fn serve(options: &Options) -> Result<(), AgentError> {
    // The kernel keeps the environment a process started with for its whole
    // life: the agent starts itself again without the PIN in it.
    if let Some(pin) = std::env::var_os(PIN_VARIABLE).filter(|pin| !pin.is_empty()) {
        let args = std::env::args_os().collect();
        return Err(AgentError::PinHandover(unix::exec_with_pin_on_pipe(
            args,
            PIN_VARIABLE,
            pin.as_bytes(),
        )));
    }
    unix::forbid_dumps().map_err(AgentError::Spawn)?;
    let handed_pin = match options.pin_fd {
        Some(fd) => Some(unix::read_pin_fd(fd).map_err(AgentError::PinHandover)?),
        None => None,
    };
    // From here on, only the shell line goes to the starter's stdout.
    let shell_out = sigstore_kms_handler::take_stdout().map_err(AgentError::Spawn)?;
    unix::block_termination_signals().map_err(AgentError::Signals)?;
    let filter = options.token.clone().map(|label| TokenFilter {
        label: Some(label),
        ..TokenFilter::default()
    });
    let uri = KeyUri {
        token: filter.clone().unwrap_or_default(),
        module_path: options.module.clone(),
        pin_source: options.pin_source.clone(),
        ..KeyUri::default()
    };
    let mut settings = Settings::resolve(&uri)?;
    if let (Some(pin), None) = (handed_pin, &uri.pin_source) {
        // As the plugin reads the variable.
        settings.pin = Some(Pin {
            secret: String::from_utf8_lossy(&pin).into_owned().into(),
            origin: format!("the {PIN_VARIABLE} environment variable"),
        });
    }
    // Calls without module-path resolve to the agent's module.
    std::env::set_var(MODULE_VARIABLE, &settings.module);
    let log = match &options.log {
        Some(path) => Some(
            File::options()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| AgentError::Log {
                    path: path.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let (socket, made_dir) = socket_path(options)?;
    let listener = match unix::bind_private(&socket) {
        Ok(listener) => listener,
        Err(source) => {
            if let Some(dir) = &made_dir {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(AgentError::Bind { socket, source });
        }
    };
    let backend = match Backend::start(settings, filter) {
        Ok(backend) => backend,
        Err(err) => {
            remove_socket(&socket, made_dir.as_deref());
            return Err(err.into());
        }
    };
    let agent = Arc::new(Agent {
        backend,
        socket,
        made_dir,
        stopping: Mutex::new(false),
    });
    // In the background, the starter composes the shell line from the
    // socket's path alone. A starter that has gone away is no reason to
    // stop serving.
    let said = if options.detached {
        let mut path = agent.socket.as_os_str().as_bytes().to_vec();
        path.push(0);
        path
    } else {
        super::shell_lines(&agent.socket, process::id())?.into_bytes()
    };
    let _ = (&shell_out).write_all(&said);
    drop(shell_out);
    if options.detached {
        // The starter reads stdout to its end; the log goes to --log or
        // nowhere.
        let discard = match &log {
            Some(_) => None,
            None => Some(
                File::options()
                    .write(true)
                    .open("/dev/null")
                    .map_err(AgentError::Spawn)?,
            ),
        };
        unix::redirect_output(log.as_ref().or(discard.as_ref())).map_err(AgentError::Spawn)?;
    } else if let Some(log) = &log {
        unix::redirect_output(Some(log)).map_err(AgentError::Spawn)?;
    }
    eprintln!(
        "sigstore-kms-hsm agent: pid {} serving {} on {}",
        process::id(),
        agent.backend.module().display(),
        agent.socket.display()
    );
    let on_signal = Arc::clone(&agent);
    std::thread::Builder::new()
        .name("signals".to_owned())
        .spawn(move || {
            let signal = unix::wait_for_termination();
            on_signal.stop(&format!("{signal} received"));
        })
        .map_err(AgentError::Spawn)?;
    Arc::new(Workers {
        agent,
        listener,
        waiting: AtomicUsize::new(0),
    })
    .serve(true);
    Ok(())
}

/// The socket to listen on, and the directory made for it.
fn socket_path(options: &Options) -> Result<(PathBuf, Option<PathBuf>), AgentError> {
    if let Some(socket) = &options.socket {
        if socket.to_str().is_none() {
            return Err(AgentError::UnprintableSocket(socket.clone()));
        }
        let dir = match socket.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !unix::is_private_dir(dir) {
            return Err(AgentError::SharedDir(dir.to_owned()));
        }
        unix::check_socket_path(socket).map_err(|source| AgentError::Bind {
            socket: socket.clone(),
            source,
        })?;
        if let Ok(meta) = std::fs::symlink_metadata(socket) {
            // Only a socket can be left behind by an agent that was killed:
            // anything else at the path is the user's, and stays.
            if !meta.file_type().is_socket() {
                return Err(AgentError::NotASocket(socket.clone()));
            }
            if UnixStream::connect(socket).is_ok() {
                return Err(AgentError::Running(socket.clone()));
            }
            let _ = std::fs::remove_file(socket);
        }
        return Ok((socket.clone(), None));
    }
    let dir = unix::private_dir().map_err(AgentError::Dir)?;
    let socket = dir.join("agent.sock");
    if socket.to_str().is_none() {
        let _ = std::fs::remove_dir(&dir);
        return Err(AgentError::UnprintableSocket(socket));
    }
    if let Err(source) = unix::check_socket_path(&socket) {
        let _ = std::fs::remove_dir(&dir);
        return Err(AgentError::Bind { socket, source });
    }
    Ok((socket, Some(dir)))
}

/// The threads that serve calls. Each waits in `accept` and serves the
/// connection it gets, so that a call does not wait for a thread to be
/// started for it: the thread that takes the last waiting place starts
/// another first, and a thread that has served ends when enough others
/// wait. The thread that calls [`Workers::serve`] never ends.
struct Workers {
    agent: Arc<Agent>,
    listener: UnixListener,
    waiting: AtomicUsize,
}

/// How many threads may wait for calls when none comes.
const WAITING_WORKERS: usize = 4;

impl Workers {
    fn serve(self: &Arc<Self>, stays: bool) {
        loop {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let accepted = self.listener.accept();
            if self.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
                self.start_one();
            }
            match accepted {
                Ok((stream, _)) => self.agent.connection(stream),
                Err(err) => {
                    eprintln!("sigstore-kms-hsm agent: accepting a connection failed: {err}");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if !stays && self.waiting.load(Ordering::SeqCst) >= WAITING_WORKERS {
                return;
            }
        }
    }

    /// Starts a thread that waits for a call. When none can be started,
    /// calls wait in the socket's backlog for a thread that has served.
    fn start_one(self: &Arc<Self>) {
        let workers = Arc::clone(self);
        let started = std::thread::Builder::new()
            .name("call".to_owned())
            .spawn(move || workers.serve(false));
        if let Err(err) = started {
            eprintln!("sigstore-kms-hsm agent: cannot start a thread for calls: {err}");
        }
    }
}

impl Agent {
    fn connection(&self, stream: UnixStream) {
        let peer = match unix::peer(&stream) {
            Ok(peer) => peer,
            Err(err) => {
                eprintln!(
                    "sigstore-kms-hsm agent: refused a connection: no peer credentials: {err}"
                );
                return;
            }
        };
        let pid = peer
            .pid
            .map_or_else(|| "?".to_owned(), |pid| pid.to_string());
        let own = unix::own_uid();
        let refused = peer.uid != own;
        // A caller that is refused gets little time; its request is read
        // all the same, since closing a socket with unread data makes the
        // reply unreadable on Linux.
        let timeout = if refused {
            Duration::from_secs(2)
        } else {
            IDLE_TIMEOUT
        };
        let _ = stream.set_read_timeout(Some(timeout));
        let _ = stream.set_write_timeout(Some(timeout));
        let mut input = BufReader::with_capacity(wire::CHUNK_SIZE + 5, &stream);
        let request = match wire::read_frame(&mut input) {
            Ok(Some((Kind::Request, payload))) => serde_json::from_slice::<Request>(&payload)
                .map_err(|err| format!("malformed request: {err}")),
            Ok(Some((kind, _))) => Err(format!("a {kind:?} frame instead of a request")),
            Ok(None) => return,
            Err(err) => Err(format!("reading the request failed: {err}")),
        };
        if refused {
            let _ = MessageReader::new(&mut input).drain();
            eprintln!(
                "sigstore-kms-hsm agent: refused pid {pid}: its uid {} is not the agent's uid {own}",
                peer.uid
            );
            let refusal = format!(
                "the sigstore-kms-hsm agent at {} ({AGENT_VARIABLE}) serves only uid {own}, not uid {}",
                self.socket.display(),
                peer.uid
            );
            let _ = reply(&stream, &PluginResp::Error(refusal));
            return;
        }
        match request {
            Ok(Request::Stop) => {
                eprintln!("sigstore-kms-hsm agent: pid {pid}: stop");
                self.shut_down(&format!("agent --stop from pid {pid}"));
                let _ = wire::write_frame(
                    &mut &stream,
                    Kind::Reply,
                    format!("\0{}", process::id()).as_bytes(),
                );
                process::exit(0)
            }
            Ok(Request::Call {
                argv,
                module,
                allowlist,
            }) => {
                let started = Instant::now();
                let mut message = MessageReader::new(&mut input);
                let (resp, what) = self.call(argv, module, allowlist, &mut message);
                // The caller reads the reply after it has sent the whole
                // message.
                let drained = message.drain();
                let sent = reply(&stream, &resp);
                let outcome = match (&resp, drained.and(sent)) {
                    (_, Err(err)) => format!("the caller is gone: {err}"),
                    (PluginResp::Error(message), Ok(())) => format!("error: {message}"),
                    (_, Ok(())) => "ok".to_owned(),
                };
                // One write: the line is not split among other threads'.
                let line = format!(
                    "sigstore-kms-hsm agent: pid {pid}: {what}: {outcome} ({:.1} ms)\n",
                    started.elapsed().as_secs_f64() * 1000.0
                );
                eprint!("{line}");
            }
            Err(problem) => {
                eprintln!("sigstore-kms-hsm agent: pid {pid}: {problem}");
                let _ = MessageReader::new(&mut input).drain();
                let _ = reply(&stream, &PluginResp::Error(problem));
            }
        }
    }

    /// Serves one plugin call; also returns the method and key, for the
    /// log.
    fn call(
        &self,
        argv: Vec<String>,
        module: Option<String>,
        allowlist: Option<String>,
        message: &mut dyn io::Read,
    ) -> (PluginResp, String) {
        let args = match parse_args(std::iter::once("sigstore-kms-hsm".to_owned()).chain(argv)) {
            Ok(args) => args,
            Err(err) => {
                return (
                    PluginResp::Error(error_message(&err)),
                    "(bad call)".to_owned(),
                )
            }
        };
        let reference = &args.init_options.key_resource_id;
        let uri = KeyUri::parse(reference);
        // The key as the reference names it, without the rest of the
        // reference: nothing secret reaches the log.
        let what = match &uri {
            Ok(uri) => format!(
                "{} token={} {uri}",
                args.method.method_name(),
                uri.token.label.as_deref().unwrap_or("(any)")
            ),
            Err(_) => format!("{} (invalid key reference)", args.method.method_name()),
        };
        // What the caller's own settings would refuse, the agent refuses.
        let refusal: Option<Error> = match (&uri, module) {
            (Ok(uri), Some(module)) if uri.module_path.is_none() => self
                .backend
                .check_module(Path::new(&module))
                .err()
                .map(Into::into),
            _ => None,
        }
        .or_else(|| {
            allowlist.and_then(|allowlist| {
                self.backend
                    .check_allowlist(OsStr::new(&allowlist))
                    .err()
                    .map(Into::into)
            })
        });
        if let Some(err) = refusal {
            if check_call(&args).is_ok() {
                return (PluginResp::Error(error_message(&*err)), what);
            }
        }
        let resp = match Hsm::with_sessions(&args.init_options, &self.backend) {
            Ok(plugin) => dispatch(&plugin, &args, message),
            Err(err) => PluginResp::Error(error_message(&*err)),
        };
        (resp, what)
    }

    /// Removes the socket and logs out; exits when called from a signal.
    fn stop(&self, reason: &str) {
        self.shut_down(reason);
        process::exit(0)
    }

    fn shut_down(&self, reason: &str) {
        let mut stopping = self.stopping.lock().unwrap_or_else(PoisonError::into_inner);
        if *stopping {
            return;
        }
        *stopping = true;
        eprintln!("sigstore-kms-hsm agent: stopping: {reason}");
        remove_socket(&self.socket, self.made_dir.as_deref());
        self.backend.close(STOP_GRACE);
        eprintln!("sigstore-kms-hsm agent: stopped");
    }
}

fn remove_socket(socket: &Path, made_dir: Option<&Path>) {
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = made_dir {
        let _ = std::fs::remove_dir(dir);
    }
}

/// Sends `resp` as the plugin would write it to stdout.
fn reply(stream: &UnixStream, resp: &PluginResp) -> io::Result<()> {
    let mut payload = vec![u8::from(matches!(resp, PluginResp::Error(_)))];
    write_response(&mut payload, resp)?;
    wire::write_frame(&mut &*stream, Kind::Reply, &payload)
}
