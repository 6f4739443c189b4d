//! In-process bots for the operations tests: any number of them against one simulator (the
//! harness in `helpers` runs one bot that owns its simulator), each stopped and drained on demand.

use dingmeet::app::Application;
use dingmeet::config::Settings;
use dingtalk_sim::Simulator;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use crate::helpers::{CALLBACK_PATH, WAIT};

/// A bot serving on 127.0.0.1.
pub(crate) struct Bot {
    /// `http://127.0.0.1:port`
    pub(crate) address: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    /// Its own store, unless the test gave one (`DINGMEET_DATA_DIR`).
    _data_dir: Option<tempfile::TempDir>,
}

/// The settings a bot talking to `sim` runs with, plus `extra` `DINGMEET_*` pairs.
pub(crate) fn settings(sim: &Simulator, extra: &[(&str, &str)]) -> Settings {
    let mut vars = sim.bot_env();
    // Interactive cards are tested on their own (cards.rs); elsewhere answers are markdown.
    vars.push(("DINGMEET_CARDS".to_owned(), "markdown".to_owned()));
    vars.push(("DINGMEET_LISTEN".to_owned(), "127.0.0.1:0".to_owned()));
    vars.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::load_from(None, vars).expect("the test settings load")
}

/// Starts a bot against `sim` with `extra` settings; its store is a fresh directory unless
/// `extra` sets `DINGMEET_DATA_DIR`.
pub(crate) async fn start(sim: &Simulator, extra: &[(&str, &str)]) -> Bot {
    let data_dir = (!extra.iter().any(|(k, _)| *k == "DINGMEET_DATA_DIR")).then(crate::helpers::data_dir);
    let path = data_dir.as_ref().map(|dir| dir.path().display().to_string());
    let mut extra = extra.to_vec();
    if let Some(path) = &path {
        extra.push(("DINGMEET_DATA_DIR", path));
    }
    let app = Application::build(&settings(sim, &extra)).await.expect("the bot builds");
    let address = format!("http://{}", app.local_addr());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    Bot { address, stop: Some(stop), server: Some(server), _data_dir: data_dir }
}

impl Bot {
    pub(crate) fn callback_url(&self) -> String {
        format!("{}{CALLBACK_PATH}", self.address)
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.address)).await.expect("the bot answers");
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// Stops the bot and waits until every reply in flight is sent.
    pub(crate) async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let stopped = tokio::time::timeout(WAIT, server).await.expect("the bot stops in time");
            stopped.expect("the bot task ends").expect("the bot stops cleanly");
        }
    }
}

impl Drop for Bot {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
