//! Cold start of the bot (`bench/load.sh`): from spawning `dingmeet serve` to its first
//! `200` on `/healthz`, and to its first `200` on `/readyz` (which needs an access token, so one
//! round trip to the simulator). Polls every 200 µs over plain TCP, so the figure is the bot's
//! and not a client's.
//!
//! ```sh
//! DINGMEET_CLIENT_ID=… DINGMEET_CLIENT_SECRET=… DINGMEET_API_BASE=http://127.0.0.1:PORT \
//!   cargo run --profile dist --example coldstart -- target/dist/dingmeet 20
//! ```
//!
//! The bot inherits this process's environment; `DINGMEET_LISTEN` is set to a free loopback
//! port for each start. Prints one line per start and a final `coldstart {json}` line with the
//! medians in milliseconds.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_micros(200);

/// The status code of `GET path`, or `None` when nothing answers yet.
fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let binary = args.next().ok_or_else(|| anyhow::anyhow!("usage: coldstart PATH_TO_DINGMEET [RUNS]"))?;
    let runs: usize = args.next().map_or(Ok(20), |n| n.parse())?;
    let (mut healthy, mut ready) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        let mut child = Command::new(&binary)
            .arg("serve")
            .env("DINGMEET_LISTEN", addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let outcome = (|| {
            let wait_for = |path: &str| -> anyhow::Result<Duration> {
                loop {
                    if status(addr, path) == Some(200) {
                        return Ok(started.elapsed());
                    }
                    anyhow::ensure!(started.elapsed() < DEADLINE, "no 200 on {path} within {DEADLINE:?}");
                    std::thread::sleep(POLL);
                }
            };
            let health = wait_for("/healthz")?;
            let readiness = wait_for("/readyz")?;
            anyhow::Ok((health, readiness))
        })();
        let _ = child.kill();
        let _ = child.wait();
        let (health, readiness) = outcome?;
        let (h, r) = (health.as_secs_f64() * 1000.0, readiness.as_secs_f64() * 1000.0);
        println!("start {run}: /healthz {h:.1} ms, /readyz {r:.1} ms");
        healthy.push(h);
        ready.push(r);
    }
    println!(
        "coldstart {{\"runs\":{runs},\"healthz_ms\":{:.1},\"readyz_ms\":{:.1}}}",
        median(&mut healthy),
        median(&mut ready)
    );
    Ok(())
}
