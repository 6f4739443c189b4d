//! A throwaway `redis-server` on 127.0.0.1 for one test: its own port, no persistence, killed on
//! drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub(crate) fn start() -> Self {
        Self::start_with(None)
    }

    /// Starts a server that requires `password`.
    pub(crate) fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Self {
        // Another process can take the port between asking and binding; try a few.
        for _ in 0..5 {
            let mut server = Self { child: None, port: free_port(), password: password.clone() };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// A port on which nothing listens (for a server started later with [`RedisServer::start_on`]).
    pub(crate) fn unused_port() -> u16 {
        free_port()
    }

    /// Starts a server on `port` (to bring one back after [`RedisServer::kill`]).
    pub(crate) fn start_on(port: u16) -> Self {
        Self::start_on_with(port, None)
    }

    /// Starts a server that requires `password` on `port`.
    pub(crate) fn start_on_with_password(port: u16, password: &str) -> Self {
        Self::start_on_with(port, Some(password.to_owned()))
    }

    fn start_on_with(port: u16, password: Option<String>) -> Self {
        let mut server = Self { child: None, port, password };
        assert!(server.spawn(), "redis-server did not start on port {port}");
        server
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:port/0`
    pub(crate) fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Kills the server at once (no shutdown handshake), as a crash would.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the binary and waits until it answers PING; false if it exited (port taken).
    fn spawn(&mut self) -> bool {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = match command.spawn() {
            Ok(child) => child,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed: the Redis tests need it (Debian/Ubuntu: \
                 `apt-get install -y redis-server`; .ci/run installs it)"
            ),
            Err(err) => panic!("cannot start redis-server: {err}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        while Instant::now() < deadline {
            if self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                self.child = None;
                return false;
            }
            if self.answers_ping() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("redis-server on port {} did not answer within {START_DEADLINE:?}", self.port);
    }

    fn answers_ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let request = match &self.password {
            Some(password) => format!("AUTH {password}\r\nPING\r\n"),
            None => "PING\r\n".to_owned(),
        };
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = stream.read(&mut buf) {
            answer.extend_from_slice(&buf[..n]);
            if answer.ends_with(b"+PONG\r\n") {
                return true;
            }
        }
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}
