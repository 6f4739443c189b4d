//! The playground in headless Chromium, driven over the DevTools protocol: type a query, send it,
//! wait for the bot's card (title, status, join link) and take a screenshot. With
//! `DINGMEET_UPDATE_SCREENSHOT=1` the screenshot replaces `docs/playground.png`.
//!
//! Chromium is found at `$CHROMIUM`, `/usr/bin/chromium` or on the `PATH`; without it the test
//! fails and says how to install it (`apt-get install -y chromium`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine;
use dingmeet::sandbox::{Sandbox, SandboxOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const VIEWPORT: (u32, u32) = (1000, 700);
/// How long anything in the browser may take (generous: CI machines are slow).
const DEADLINE: Duration = Duration::from_secs(30);

fn chromium_path() -> PathBuf {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return PathBuf::from(path);
    }
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.exists() {
        return fixed;
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    for dir in on_path {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.exists() {
                return candidate;
            }
        }
    }
    panic!(
        "Chromium is needed for the playground's browser test and was not found (looked at $CHROMIUM, \
         /usr/bin/chromium and the PATH). Install it: `apt-get install -y chromium`"
    );
}

/// A headless Chromium with its own profile; killed (by its id) and cleaned up on drop.
struct Browser {
    child: Child,
    profile: PathBuf,
    /// `http://127.0.0.1:port`, the DevTools HTTP endpoint.
    devtools: String,
}

impl Browser {
    fn launch() -> Self {
        let path = chromium_path();
        let profile =
            std::env::temp_dir().join(format!("dingmeet-chromium-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&profile).expect("a fresh profile directory");
        let mut child = Command::new(&path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                &format!("--window-size={},{}", VIEWPORT.0, VIEWPORT.1),
                &format!("--user-data-dir={}", profile.display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start Chromium at {}: {e}", path.display()));
        let stderr = child.stderr.take().expect("Chromium's stderr");
        // Chromium prints `DevTools listening on ws://127.0.0.1:PORT/devtools/browser/…`; the
        // thread keeps draining stderr afterwards so Chromium never blocks on a full pipe.
        let (found, listening) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split("DevTools listening on ").nth(1) {
                    let _ = found.send(url.trim().to_owned());
                }
            }
        });
        let mut browser = Self { child, profile, devtools: String::new() };
        let ws = match listening.recv_timeout(DEADLINE) {
            Ok(ws) => ws,
            Err(_) => panic!("Chromium did not report its DevTools address within {DEADLINE:?}"),
        };
        let host = ws.trim_start_matches("ws://").split('/').next().expect("host:port").to_owned();
        browser.devtools = format!("http://{host}");
        browser
    }

    /// Connects to the first page target.
    async fn page(&self) -> Page {
        let targets: Vec<Value> = reqwest::get(format!("{}/json/list", self.devtools))
            .await
            .expect("the DevTools endpoint answers")
            .json()
            .await
            .expect("a target list");
        let page = targets.iter().find(|t| t["type"] == "page").expect("a page target");
        let url = page["webSocketDebuggerUrl"].as_str().expect("the page's WebSocket");
        let (socket, _) = tokio_tungstenite::connect_async(url).await.expect("the page's DevTools socket");
        Page { socket, next_id: 0, events: Vec::new() }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One page, spoken to in DevTools protocol commands.
struct Page {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events read while waiting for an answer.
    events: Vec<Value>,
}

impl Page {
    async fn read(&mut self) -> Value {
        let message = tokio::time::timeout(DEADLINE, self.socket.next())
            .await
            .expect("Chromium answers in time")
            .expect("the DevTools socket stays open")
            .expect("a DevTools message");
        match message {
            Message::Text(text) => serde_json::from_str(&text).expect("DevTools speaks JSON"),
            other => panic!("unexpected DevTools frame {other:?}"),
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket.send(Message::text(request.to_string())).await.expect("a DevTools command is sent");
        loop {
            let message = self.read().await;
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("{method} failed: {error}");
                }
                return message["result"].clone();
            }
            if message.get("method").is_some() {
                self.events.push(message);
            }
        }
    }

    async fn wait_for_event(&mut self, method: &str) {
        if let Some(at) = self.events.iter().position(|e| e["method"] == method) {
            self.events.drain(..=at);
            return;
        }
        loop {
            if self.read().await["method"] == method {
                return;
            }
        }
    }

    /// Evaluates `expression` (awaiting it if it is a promise) and returns its value.
    async fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({ "expression": expression, "awaitPromise": true, "returnByValue": true }))
            .await;
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("the page threw: {exception}");
        }
        result["result"]["value"].clone()
    }
}

/// Resolves, inside the page, with `check()`'s first truthy value, re-checking on every DOM
/// change; `null` after `ms`.
fn when(check: &str, ms: u128) -> String {
    format!(
        "new Promise((resolve) => {{
            const check = () => {{ {check} }};
            const now = check();
            if (now) return resolve(now);
            const observer = new MutationObserver(() => {{
                const found = check();
                if (found) {{ observer.disconnect(); resolve(found); }}
            }});
            observer.observe(document.documentElement, {{ childList: true, subtree: true, attributes: true, characterData: true }});
            setTimeout(() => {{ observer.disconnect(); resolve(check() || null); }}, {ms});
        }})"
    )
}

const FIND_CARD: &str = "
    const card = document.querySelector('#messages .msg.bot .card');
    if (!card) return null;
    return {
        msgtype: card.dataset.msgtype,
        headings: Array.from(card.querySelectorAll('h1,h2,h3,h4,h5,h6'), (h) => h.textContent),
        links: Array.from(card.querySelectorAll('a'), (a) => ({ text: a.textContent, href: a.href })),
        text: card.textContent,
        mentions: Array.from(card.querySelectorAll('.mention'), (m) => m.textContent),
        html_tags: Array.from(card.querySelectorAll('*'), (e) => e.tagName.toLowerCase()),
    };";

/// The sandbox, and Chromium showing its playground.
struct Playground {
    page: Page,
    browser: Browser,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Playground {
    async fn open() -> Self {
        let sandbox = Sandbox::start(SandboxOptions { port: Some(0), ..SandboxOptions::default() })
            .await
            .expect("the sandbox starts");
        let url = sandbox.playground_url();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(sandbox.run_until(async {
            let _ = stopped.await;
        }));
        let browser = Browser::launch();
        let mut page = browser.page().await;
        page.call("Page.enable", json!({})).await;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": VIEWPORT.0, "height": VIEWPORT.1, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        page.call("Page.navigate", json!({ "url": url })).await;
        page.wait_for_event("Page.loadEventFired").await;
        let ready = page.eval(&when("return document.body.dataset.ready === 'true';", DEADLINE.as_millis())).await;
        assert_eq!(ready, json!(true), "the page loaded the sandbox's info");
        Self { page, browser, stop, running }
    }

    /// Types into the message box and presses Enter, as a person would.
    async fn type_and_send(&mut self, text: &str) {
        self.page.eval("document.getElementById('input').focus()").await;
        self.page.call("Input.insertText", json!({ "text": text })).await;
        for kind in ["keyDown", "keyUp"] {
            let key =
                json!({ "type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r" });
            self.page.call("Input.dispatchKeyEvent", key).await;
        }
    }

    /// Scrolls to the element `selector` finds and clicks its middle with the mouse.
    async fn click(&mut self, selector: &str) {
        let expression = format!(
            "(() => {{ const e = document.querySelector({}); e.scrollIntoView({{ block: 'center' }});
                const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            serde_json::to_string(selector).expect("a selector")
        );
        let at = self.page.eval(&expression).await;
        let (x, y) = (at[0].as_f64().expect("x"), at[1].as_f64().expect("y"));
        for kind in ["mousePressed", "mouseReleased"] {
            let event = json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 });
            self.page.call("Input.dispatchMouseEvent", event).await;
        }
    }

    async fn screenshot(&mut self) -> Vec<u8> {
        let shot = self.page.call("Page.captureScreenshot", json!({ "format": "png" })).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("the screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        png
    }

    async fn close(self) {
        let Self { page, browser, stop, running } = self;
        drop(page);
        drop(browser);
        let _ = stop.send(());
        let stopped = tokio::time::timeout(DEADLINE, running).await.expect("the sandbox stops in time");
        stopped.expect("the sandbox task ends").expect("the sandbox stops cleanly");
    }
}

#[tokio::test]
async fn the_playground_shows_the_bots_card_in_a_real_browser() {
    let started = Instant::now();
    let mut playground = Playground::open().await;
    let codes =
        playground.page.eval("Array.from(document.querySelectorAll('#codes .code-num'), (c) => c.textContent)").await;
    assert!(codes.as_array().is_some_and(|c| c.contains(&json!("123456789"))), "seeded codes listed: {codes}");

    playground.type_and_send("@会议助手 /meeting 123456789").await;
    let card = playground.page.eval(&when(FIND_CARD, DEADLINE.as_millis())).await;
    assert!(!card.is_null(), "the bot's card arrived in the page");
    assert_eq!(card["msgtype"], "markdown", "{card}");
    let headings: Vec<&str> = card["headings"].as_array().expect("headings").iter().filter_map(Value::as_str).collect();
    assert!(headings.iter().any(|h| h.contains("123456789")), "the code heads the card: {headings:?}");
    assert!(headings.iter().any(|h| h.contains("产品周会") && h.contains("进行中")), "title and status: {headings:?}");
    let links = card["links"].as_array().expect("links");
    assert!(
        links.iter().any(|l| l["href"] == "https://meeting.dingtalk.com/j/123456789" && l["text"] == "加入会议"),
        "the join link is a link: {links:?}"
    );
    assert_eq!(card["mentions"], json!(["@manager807"]), "the @-mention is highlighted");
    let tags = card["html_tags"].as_array().expect("tags");
    let subset = ["div", "h3", "h4", "ul", "li", "p", "a", "span", "strong", "em", "br"];
    assert!(tags.iter().all(|t| subset.contains(&t.as_str().unwrap_or_default())), "only the subset: {tags:?}");
    let mine = playground.page.eval("document.querySelector('#messages .msg.me .mention')?.textContent").await;
    assert_eq!(mine, "@会议助手", "the person's @-mention of the robot is highlighted");

    // Frame the conversation from the question down, as a person scrolling up a little would.
    playground
        .page
        .eval(
            "document.fonts.ready.then(() => {
                document.activeElement.blur();
                const list = document.getElementById('messages');
                list.scrollTop = list.querySelector('.msg.me').offsetTop - list.offsetTop - 12;
            })",
        )
        .await;
    let png = playground.screenshot().await;
    let target = screenshot_path("playground.png");
    std::fs::write(&target, &png).expect("the screenshot is saved");
    eprintln!("playground screenshot: {} ({} bytes)", target.display(), png.len());
    playground.close().await;
    eprintln!("browser test took {:?}", started.elapsed());
}

#[tokio::test]
async fn a_share_in_the_one_to_one_chat_shows_an_action_card_with_its_button() {
    let mut playground = Playground::open().await;
    playground.click(".chat-item[data-chat='single']").await;
    let title = playground.page.eval("document.getElementById('conv-title').textContent").await;
    assert_eq!(title, "会议助手", "the 1:1 chat with the robot is open");
    playground.click("#examples li:first-child .code").await;
    let typed = playground.page.eval("document.getElementById('input').value").await;
    assert_eq!(typed, "/share 123456789", "a 1:1 message needs no @-mention");
    playground.click("#send").await;
    let found = "const a = document.querySelector('#messages .card[data-msgtype=actionCard] .actions a.action');
        return a && { text: a.textContent, href: a.href, card: a.closest('.card').textContent };";
    let button = playground.page.eval(&when(found, DEADLINE.as_millis())).await;
    assert_eq!(button["text"], "加入会议", "{button}");
    assert_eq!(button["href"], "https://meeting.dingtalk.com/j/123456789");
    assert!(button["card"].as_str().is_some_and(|c| c.contains("产品周会")), "{button}");
    let group_badge =
        playground.page.eval("document.querySelector(\".chat-item[data-chat='group'] .badge\").hidden").await;
    assert_eq!(group_badge, true, "nothing new in the group");
    std::fs::write(screenshot_path("playground-share.png"), playground.screenshot().await).expect("saved");
    playground.close().await;
}

#[tokio::test]
async fn what_a_person_types_is_shown_as_text_never_as_markup() {
    let mut playground = Playground::open().await;
    let hostile = "@会议助手 <img src=x onerror=alert(1)> [x](javascript:alert(1)) **b** /meting 1";
    playground.type_and_send(hostile).await;
    let answered = when("return !!document.querySelector('#messages .msg.bot');", DEADLINE.as_millis());
    assert_eq!(playground.page.eval(&answered).await, true, "the bot answered");
    let mine = playground
        .page
        .eval(
            "(() => { const b = document.querySelector('#messages .msg.me .bubble');
              return { text: b.textContent, tags: Array.from(b.querySelectorAll('*'), (e) => e.className) }; })()",
        )
        .await;
    assert_eq!(mine["text"], hostile, "shown exactly as typed");
    assert_eq!(mine["tags"], json!(["mention"]), "only the mention is marked up");
    let unsafe_nodes = playground
        .page
        .eval("document.querySelectorAll('#messages img, #messages script, #messages a[href^=javascript]').length")
        .await;
    assert_eq!(unsafe_nodes, 0);
    playground.close().await;
}

/// `docs/<name>` for the README's screenshot when `DINGMEET_UPDATE_SCREENSHOT` is set, else a
/// temporary file.
fn screenshot_path(name: &str) -> PathBuf {
    let update = std::env::var_os("DINGMEET_UPDATE_SCREENSHOT").is_some_and(|v| !v.is_empty() && v != "0");
    if update && name == "playground.png" {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        docs.join(name)
    } else {
        std::env::temp_dir().join(format!("dingmeet-{}-{name}", std::process::id()))
    }
}
