//! The real `dingmeet serve` binary as a child process: its environment set by the test, its
//! output captured line by line, its address read from its "listening" log line.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the binary may take to start, stop, or log what a test waits for.
const DEADLINE: Duration = Duration::from_secs(20);

pub(crate) struct BotProcess {
    child: Child,
    /// `http://127.0.0.1:port`
    pub(crate) address: String,
    output: Arc<Mutex<Vec<String>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// The store's directory when the test gave none (removed with the process).
    _data_dir: Option<tempfile::TempDir>,
}

impl BotProcess {
    /// Starts `dingmeet serve` with JSON logs, listening on a free loopback port, with `env` (and
    /// no `DINGMEET_*`, `RUST_LOG`, `NOTIFY_SOCKET`, `WATCHDOG_*` or `SSL_CERT_*` inherited from the test's own environment, so
    /// a test that sets which CAs the bot trusts sets all of it). Without a `DINGMEET_DATA_DIR`
    /// in `env`, its store is a fresh temporary directory.
    pub(crate) async fn start(env: &[(String, String)]) -> Self {
        Self::spawn(env).listening().await
    }

    /// Starts `dingmeet serve` as [`BotProcess::start`] does, without waiting for it to listen
    /// (for a process expected to refuse to start).
    pub(crate) fn spawn(env: &[(String, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_dingmeet"));
        command.arg("serve");
        Self::launch(command, env)
    }

    /// As [`BotProcess::start`], with the open-files limit set as many hosts start a process:
    /// the soft limit at `soft`, and the hard one at `hard` when given (else left as it is).
    pub(crate) async fn start_with_open_files(env: &[(String, String)], soft: u64, hard: Option<u64>) -> Self {
        // The soft limit first: the hard one cannot go below it.
        let hard = hard.map(|hard| format!(" && ulimit -H -n {hard}")).unwrap_or_default();
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("ulimit -S -n {soft}{hard} && exec \"$0\" serve"));
        command.arg(env!("CARGO_BIN_EXE_dingmeet"));
        Self::launch(command, env).listening().await
    }

    /// Waits for the "listening" log line and takes the address from it.
    async fn listening(mut self) -> Self {
        let listening = self.wait_for_line(|line| line.contains("\"listening\"")).await;
        let line: serde_json::Value = serde_json::from_str(&listening).expect("a JSON log line");
        let addr = line["addr"].as_str().unwrap_or_else(|| panic!("an addr in {listening}"));
        self.address = format!("http://{addr}");
        self
    }

    fn launch(mut command: Command, env: &[(String, String)]) -> Self {
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for (key, _) in std::env::vars() {
            let inherited = key.starts_with("DINGMEET_") || key == "RUST_LOG" || key == "STATE_DIRECTORY";
            // A test runner under systemd must not have the bots notify its own service manager.
            let inherited = inherited || key == "NOTIFY_SOCKET" || key.starts_with("WATCHDOG_");
            if inherited || key.starts_with("SSL_CERT_") {
                command.env_remove(key);
            }
        }
        command.env("DINGMEET_LISTEN", "127.0.0.1:0").env("DINGMEET_LOG_FORMAT", "json");
        let data_dir = (!env.iter().any(|(k, _)| k == "DINGMEET_DATA_DIR")).then(super::data_dir);
        if let Some(dir) = &data_dir {
            command.env("DINGMEET_DATA_DIR", dir.path());
        }
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut child = command.spawn().expect("the dingmeet binary starts");
        let output = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
        let stderr = child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>);
        let readers = [stdout, stderr]
            .into_iter()
            .flatten()
            .map(|pipe| {
                let output = Arc::clone(&output);
                std::thread::spawn(move || {
                    for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                        output.lock().expect("output").push(line);
                    }
                })
            })
            .collect();
        Self { child, address: String::new(), output, readers, _data_dir: data_dir }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far, stdout and stderr interleaved by line.
    pub(crate) fn output(&self) -> Vec<String> {
        self.output.lock().expect("output").clone()
    }

    /// Waits until a line matching `matches` has been written, and returns it.
    pub(crate) async fn wait_for_line(&mut self, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(line) = self.output().into_iter().find(|line| matches(line)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("dingmeet exited ({status}) before the expected line:\n{}", self.output().join("\n"));
            }
            assert!(Instant::now() < deadline, "no such line within {DEADLINE:?}:\n{}", self.output().join("\n"));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM, as an orchestrator stopping the process would.
    pub(crate) fn terminate(&self) {
        let pid = i32::try_from(self.pid()).ok().and_then(rustix::process::Pid::from_raw).expect("a process id");
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM is sent");
    }

    /// Kills the process at once (SIGKILL), as an OOM kill or a node failure would, and waits
    /// for it to be gone.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.wait_for_exit().await;
    }

    /// Waits for the process to exit on its own; then [`BotProcess::output`] is complete.
    pub(crate) async fn wait_for_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "dingmeet did not exit within {DEADLINE:?}:\n{}",
                self.output().join("\n")
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
