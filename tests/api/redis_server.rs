//! A throwaway `redis-server` on 127.0.0.1 for one test: its own port, no persistence, killed on
//! drop; plain, or TLS-only with a certificate from a throwaway CA ([`TestCa`], made with the
//! `openssl` CLI).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a fresh `redis-server` may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    /// Set for a TLS-only server: the CA that signed its certificate (for 127.0.0.1).
    tls: Option<Arc<TestCa>>,
    /// Set for a server that keeps its data there (append-only, synced on every write), as a
    /// production Redis does: what it answered survives a kill and a restart.
    persist: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub(crate) fn start() -> Self {
        Self::start_with(None, None)
    }

    /// Starts a server that requires `password`.
    pub(crate) fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()), None)
    }

    /// Starts a server that speaks TLS only, with a certificate for 127.0.0.1 signed by a fresh
    /// CA ([`RedisServer::ca_file`]); clients need no certificate of their own.
    pub(crate) fn start_tls() -> Self {
        Self::start_with(None, Some(Arc::new(TestCa::new())))
    }

    /// [`RedisServer::start_tls`], requiring `password`.
    pub(crate) fn start_tls_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()), Some(Arc::new(TestCa::new())))
    }

    fn start_with(password: Option<String>, tls: Option<Arc<TestCa>>) -> Self {
        // Another process can take the port between asking and binding; try a few.
        for _ in 0..5 {
            let mut server =
                Self { child: None, port: free_port(), password: password.clone(), tls: tls.clone(), persist: None };
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

    /// Starts a server on `port` that keeps its data in `dir` (append-only, `fsync` on every
    /// write): killed and started again on the same `dir`, it has what it answered.
    pub(crate) fn start_persistent_on(port: u16, dir: &std::path::Path) -> Self {
        Self::started(Self { child: None, port, password: None, tls: None, persist: Some(dir.to_owned()) })
    }

    /// Spawns `server` on its port; the port may be held for a moment by another test's probe
    /// for a free one, so it is tried again for a while.
    fn started(mut server: Self) -> Self {
        let deadline = Instant::now() + START_DEADLINE;
        while !server.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {} within {START_DEADLINE:?}",
                server.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn start_on_with(port: u16, password: Option<String>) -> Self {
        Self::started(Self { child: None, port, password, tls: None, persist: None })
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:port/0`, or `rediss://…` for a TLS server.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("{scheme}://127.0.0.1:{}/0", self.port),
        }
    }

    /// A TLS server's CA certificate (PEM), which clients must trust.
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.tls.as_ref().expect("a TLS server (RedisServer::start_tls)").cert_file()
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
        let port = self.port.to_string();
        match &self.tls {
            None => command.args(["--port", &port]),
            Some(ca) => command
                .args(["--port", "0", "--tls-port", &port, "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(ca.dir.join("server.pem"))
                .arg("--tls-key-file")
                .arg(ca.dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(ca.cert_file()),
        };
        command.args(["--bind", "127.0.0.1", "--save", ""]);
        match &self.persist {
            Some(dir) => command.args(["--appendonly", "yes", "--appendfsync", "always"]).arg("--dir").arg(dir),
            None => command.args(["--appendonly", "no"]).arg("--dir").arg(std::env::temp_dir()),
        };
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
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
        if let Some(ca) = &self.tls {
            return answers_tls_ping(&self.url(), ca);
        }
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

/// PING over TLS, trusting `ca`, with the redis crate's blocking client.
fn answers_tls_ping(url: &str, ca: &TestCa) -> bool {
    dingmeet::dingtalk::openapi::install_crypto_provider();
    let root_cert = Some(std::fs::read(ca.cert_file()).expect("the test CA's certificate"));
    let certificates = redis::TlsCertificates { client_tls: None, root_cert };
    let client = redis::Client::build_with_tls(url, certificates).expect("a rediss:// URL");
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else { return false };
    redis::cmd("PING").query::<String>(&mut conn).is_ok_and(|pong| pong == "PONG")
}

/// A throwaway certificate authority in its own temporary directory (removed on drop), and a
/// server certificate it signed for 127.0.0.1. Made with the `openssl` CLI, which the Debian
/// image has anyway, rather than a certificate-generating dev-dependency.
pub(crate) struct TestCa {
    dir: PathBuf,
}

impl TestCa {
    pub(crate) fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("dingmeet-test-ca-{}-{:016x}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).expect("a temporary directory for the test CA");
        let ca = Self { dir };
        // The CA: self-signed, allowed to sign (and nothing else), valid for a day. A name of its
        // own, so another test CA is a stranger to it, not a look-alike with the wrong key.
        ca.openssl(&format!(
            "req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
             -days 1 -subj /CN=dingmeet-test-CA-{:08x} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign",
            fastrand::u32(..)
        ));
        // The server's: for the IP address the tests connect to, signed by the CA.
        std::fs::write(
            ca.dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .expect("the server certificate's extensions");
        ca.openssl(
            "req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr \
             -subj /CN=127.0.0.1",
        );
        ca.openssl(
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 1 -extfile server.ext \
             -out server.pem",
        );
        ca
    }

    /// The CA's certificate (PEM).
    pub(crate) fn cert_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// Runs `openssl` in the CA's directory with `args` (split at whitespace).
    fn openssl(&self, args: &str) {
        let output = match Command::new("openssl").args(args.split_whitespace()).current_dir(&self.dir).output() {
            Ok(output) => output,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "openssl is not installed: the TLS Redis tests make their certificates with it (Debian/Ubuntu: \
                 `apt-get install -y openssl`; .ci/run installs it)"
            ),
            Err(err) => panic!("cannot run openssl: {err}"),
        };
        assert!(output.status.success(), "openssl {args} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
