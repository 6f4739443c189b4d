//! The playground in headless Chromium, driven over the DevTools protocol with chromiumoxide
//! (chosen over headless_chrome: fewer new crates, 15 against 23, async on tokio like the rest of
//! the tests, and no TLS stack of its own): type a query, send it, wait for the bot's card
//! (title, status, join link) and take a screenshot; watch an interactive card come alive as
//! its meeting starts and press its Refresh button; watch meeting events (start, people joining
//! and leaving, the end) move a card within seconds. With `DINGMEET_UPDATE_SCREENSHOT=1` the
//! screenshot replaces `docs/playground.png`.
//!
//! Chromium is found at `$CHROMIUM`, `/usr/bin/chromium` or on the `PATH`; without it the test
//! fails and says how to install it (`apt-get install -y chromium`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::page::CaptureScreenshotFormat;
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::{Browser, BrowserConfig, Page};
use dingmeet::sandbox::{Sandbox, SandboxOptions};
use futures_util::StreamExt;
use serde_json::{Value, json};

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

/// A headless Chromium with its own profile, driven by chromiumoxide; closed and cleaned up by
/// [`Playground::close`] (and killed by chromiumoxide if a test panics first).
struct Chromium {
    browser: Browser,
    events: tokio::task::JoinHandle<()>,
    profile: PathBuf,
}

impl Chromium {
    async fn launch() -> Self {
        let profile =
            std::env::temp_dir().join(format!("dingmeet-chromium-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&profile).expect("a fresh profile directory");
        let viewport = Viewport {
            width: VIEWPORT.0,
            height: VIEWPORT.1,
            device_scale_factor: Some(1.0),
            emulating_mobile: false,
            is_landscape: true,
            has_touch: false,
        };
        let config = BrowserConfig::builder()
            .chrome_executable(chromium_path())
            .no_sandbox()
            .window_size(VIEWPORT.0, VIEWPORT.1)
            .viewport(viewport)
            .user_data_dir(&profile)
            .launch_timeout(DEADLINE)
            .request_timeout(DEADLINE)
            .args([
                "disable-gpu",
                "disable-quic",
                "no-first-run",
                "disable-component-update",
                "disable-sync",
                "force-device-scale-factor=1",
                "remote-debugging-address=127.0.0.1",
            ])
            .build()
            .expect("a browser configuration");
        let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
        // The connection makes progress only while its events are read.
        let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
        Self { browser, events, profile }
    }

    async fn close(mut self) {
        let _ = self.browser.close().await;
        let _ = self.browser.wait().await;
        self.events.abort();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Evaluates `expression` in `page` (awaiting it if it is a promise) and returns its value.
async fn eval(page: &Page, expression: &str) -> Value {
    let result = page.evaluate_expression(expression).await.unwrap_or_else(|e| panic!("the page threw: {e}"));
    result.value().cloned().unwrap_or(Value::Null)
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
    chromium: Chromium,
    stop: tokio::sync::oneshot::Sender<()>,
    running: tokio::task::JoinHandle<std::io::Result<()>>,
    _machine: tokio::sync::MutexGuard<'static, ()>,
}

impl Playground {
    async fn open() -> Self {
        let machine = crate::helpers::heavy().await;
        let sandbox = Sandbox::start(SandboxOptions { port: Some(0), ..SandboxOptions::default() })
            .await
            .expect("the sandbox starts");
        let url = sandbox.playground_url();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(sandbox.run_until(async {
            let _ = stopped.await;
        }));
        let chromium = Chromium::launch().await;
        let page = chromium.browser.new_page(url.as_str()).await.expect("the playground opens");
        let ready = eval(&page, &when("return document.body.dataset.ready === 'true';", DEADLINE.as_millis())).await;
        assert_eq!(ready, json!(true), "the page loaded the sandbox's info");
        Self { page, chromium, stop, running, _machine: machine }
    }

    async fn eval(&self, expression: &str) -> Value {
        eval(&self.page, expression).await
    }

    /// Types into the message box and presses Enter, as a person would.
    async fn type_and_send(&self, text: &str) {
        let input = self.page.find_element("#input").await.expect("the message box");
        input.focus().await.expect("the message box takes focus");
        // As an input method commits text: Chinese cannot be typed key by key.
        self.page.execute(InsertTextParams::new(text)).await.expect("the text is typed");
        input.press_key("Enter").await.expect("Enter is pressed");
    }

    /// Scrolls to the element `selector` finds and clicks its middle with the mouse.
    async fn click(&self, selector: &str) {
        let element = self.page.find_element(selector).await.unwrap_or_else(|e| panic!("{selector}: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    async fn screenshot(&self) -> Vec<u8> {
        let params = ScreenshotParams::builder().format(CaptureScreenshotFormat::Png).build();
        let png = self.page.screenshot(params).await.expect("a screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        png
    }

    async fn close(self) {
        let Self { page, chromium, stop, running, _machine } = self;
        drop(page);
        chromium.close().await;
        let _ = stop.send(());
        let stopped = tokio::time::timeout(DEADLINE, running).await.expect("the sandbox stops in time");
        stopped.expect("the sandbox task ends").expect("the sandbox stops cleanly");
    }
}

#[tokio::test]
async fn the_playground_shows_the_bots_card_in_a_real_browser() {
    let started = Instant::now();
    let playground = Playground::open().await;
    let codes =
        playground.eval("Array.from(document.querySelectorAll('#codes .code-num'), (c) => c.textContent)").await;
    assert!(codes.as_array().is_some_and(|c| c.contains(&json!("123456789"))), "seeded codes listed: {codes}");

    playground.type_and_send("@会议助手 /meeting 123456789").await;
    let card = playground.eval(&when(FIND_CARD, DEADLINE.as_millis())).await;
    assert!(!card.is_null(), "the bot's card arrived in the page");
    assert_eq!(card["msgtype"], "interactive", "a meeting in progress: an interactive card {card}");
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
    let subset = ["div", "h3", "h4", "ul", "li", "p", "a", "span", "strong", "em", "br", "button"];
    assert!(tags.iter().all(|t| subset.contains(&t.as_str().unwrap_or_default())), "only the subset: {tags:?}");
    let mine = playground.eval("document.querySelector('#messages .msg.me .mention')?.textContent").await;
    assert_eq!(mine, "@会议助手", "the person's @-mention of the robot is highlighted");

    // Frame the conversation from the question down, as a person scrolling up a little would.
    playground
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
async fn a_share_in_the_one_to_one_chat_shows_a_card_with_its_join_button() {
    let playground = Playground::open().await;
    playground.click(".chat-item[data-chat='single']").await;
    let title = playground.eval("document.getElementById('conv-title').textContent").await;
    assert_eq!(title, "会议助手", "the 1:1 chat with the robot is open");
    playground.click("#examples li:first-child .code").await;
    let typed = playground.eval("document.getElementById('input').value").await;
    assert_eq!(typed, "/share 123456789", "a 1:1 message needs no @-mention");
    playground.click("#send").await;
    let found = "const a = document.querySelector('#messages .card[data-msgtype=interactive] .actions a.action');
        return a && { text: a.textContent, href: a.href, card: a.closest('.card').textContent };";
    let button = playground.eval(&when(found, DEADLINE.as_millis())).await;
    assert_eq!(button["text"], "加入会议", "{button}");
    assert_eq!(button["href"], "https://meeting.dingtalk.com/j/123456789");
    assert!(button["card"].as_str().is_some_and(|c| c.contains("产品周会")), "{button}");
    let group_badge = playground.eval("document.querySelector(\".chat-item[data-chat='group'] .badge\").hidden").await;
    assert_eq!(group_badge, true, "nothing new in the group");
    std::fs::write(screenshot_path("playground-share.png"), playground.screenshot().await).expect("saved");
    playground.close().await;
}

/// The one bot card on the page, as it stands.
const LIVE_CARD: &str = "
    const items = document.querySelectorAll('#messages .msg.bot');
    const item = items[items.length - 1];
    const card = item && item.querySelector('.card[data-msgtype=interactive]');
    if (!card) return null;
    return {
        bots: items.length,
        id: item.dataset.outTrackId,
        text: card.textContent,
        joins: Array.from(card.querySelectorAll('.actions a.action'), (a) => a.href),
        refresh: Array.from(card.querySelectorAll('.actions button.action'), (b) => b.textContent),
        meta: item.querySelector('.card-meta').textContent,
    };";

/// Resolves with the bot's card once `condition` (on `card`) holds.
fn card_when(condition: &str) -> String {
    when(
        &format!("const card = (() => {{ {LIVE_CARD} }})(); return card && ({condition}) ? card : null;"),
        DEADLINE.as_millis(),
    )
}

#[tokio::test]
async fn an_interactive_card_comes_alive_as_its_meeting_starts_and_refresh_shows_fresh_data() {
    let playground = Playground::open().await;
    playground.type_and_send("@会议助手 /meeting 888000111").await;
    let card = playground.eval(&card_when("card.text.includes('项目站会')")).await;
    assert!(card["text"].as_str().is_some_and(|t| t.contains("未开始")), "booked, not started: {card}");
    assert_eq!(card["joins"], json!(["https://meeting.dingtalk.com/j/888000111"]), "{card}");
    assert_eq!(card["refresh"], json!(["刷新"]), "{card}");
    let id = card["id"].clone();

    // The scenario control starts it on time; the bot looks just after and updates the card.
    playground.click(".move[data-conference-id='5f3a9c0e2b7d4e18a6c1f0d2'] .move-start").await;
    let live = playground.eval(&card_when("card.text.includes('进行中')")).await;
    assert!(!live.is_null(), "the card shows the meeting in progress");
    assert_eq!((live["id"].clone(), live["bots"].clone()), (id.clone(), json!(1)), "updated in place: {live}");
    assert_eq!(live["joins"], json!(["https://meeting.dingtalk.com/j/888000111"]), "with its Join link: {live}");
    assert_eq!(live["meta"], "互动卡片 · 已更新 1 次", "{live}");
    let status = playground.eval("document.querySelector('.move .move-status').textContent").await;
    assert_eq!(status, "进行中", "the control shows where the meeting is");

    // Its organiser renames it; Refresh (more than 10 s after the bot's last look) shows it.
    let renamed = playground
        .eval(
            "(async () => {
                const post = (path, body) => fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
                const moved = await post('/api/meetings', { code: '888000111', conferenceId: '5f3a9c0e2b7d4e18a6c1f0d2', action: 'rename', title: '项目站会 · 已改期' });
                const clock = await post('/api/clock', { advanceSecs: 15 });
                return moved.status + clock.status;
            })()",
        )
        .await;
    assert_eq!(renamed, 400, "renamed and the clock moved on (200 + 200)");
    playground.click("#messages .card button.action[data-action='refresh']").await;
    let fresh = playground.eval(&card_when("card.text.includes('已改期')")).await;
    assert!(!fresh.is_null(), "Refresh showed the new title");
    assert_eq!((fresh["id"].clone(), fresh["bots"].clone()), (id, json!(1)), "still in place: {fresh}");
    assert!(fresh["text"].as_str().is_some_and(|t| t.contains("进行中")), "{fresh}");

    let control =
        "const t = document.querySelector('.move .move-title'); return t && t.textContent.includes('已改期');";
    assert_eq!(playground.eval(&when(control, DEADLINE.as_millis())).await, true, "the control shows the new title");

    playground.eval("document.fonts.ready.then(() => document.activeElement.blur())").await;
    let target = screenshot_path("playground-live-card.png");
    std::fs::write(&target, playground.screenshot().await).expect("the screenshot is saved");
    eprintln!("live card screenshot: {}", target.display());
    playground.close().await;
}

#[tokio::test]
async fn a_meeting_started_from_the_chat_shows_its_live_card_and_joins_the_scenario_controls() {
    let playground = Playground::open().await;
    playground.type_and_send("@会议助手 /meeting new 产品评审 @李四").await;
    let card = playground.eval(&card_when("card.text.includes('产品评审')")).await;
    assert!(!card.is_null(), "the new meeting's card arrived");
    let text = card["text"].as_str().unwrap_or_default();
    assert!(text.contains("进行中") && text.contains("发起人：张三"), "{card}");
    assert!(text.contains("已邀请：1 人"), "李四 invited: {card}");
    assert!(card["joins"].as_array().is_some_and(|j| j.len() == 1), "its Join button: {card}");
    let listed =
        "return Array.from(document.querySelectorAll('.move .move-title')).some((t) => t.textContent === '产品评审');";
    assert_eq!(playground.eval(&when(listed, DEADLINE.as_millis())).await, true, "the controls list the new meeting");

    playground.eval("document.fonts.ready.then(() => document.activeElement.blur())").await;
    let target = screenshot_path("playground-meeting-new.png");
    std::fs::write(&target, playground.screenshot().await).expect("the screenshot is saved");
    eprintln!("new meeting screenshot: {}", target.display());
    playground.close().await;
}

/// The scenario control of the stand-up behind 888000111.
const STAND_UP: &str = ".move[data-conference-id='5f3a9c0e2b7d4e18a6c1f0d2']";

/// Clicks the stand-up's `action` control and waits for the controls to say `shows`.
async fn control(playground: &Playground, action: &str, shows: &str) -> Instant {
    playground.click(&format!("{STAND_UP} .move-{action}")).await;
    let clicked = Instant::now();
    let check =
        format!("const m = document.querySelector(\"{STAND_UP}\"); return !!m && m.textContent.includes('{shows}');");
    assert_eq!(playground.eval(&when(&check, DEADLINE.as_millis())).await, true, "the control shows {shows}");
    clicked
}

/// Waits for the card to meet `condition`; answers it and how long after `since` it did.
async fn card_changed(playground: &Playground, condition: &str, since: Instant) -> (Value, Duration) {
    let card = playground.eval(&card_when(condition)).await;
    let took = since.elapsed();
    assert!(!card.is_null(), "the card came to {condition}");
    (card, took)
}

#[tokio::test]
async fn meeting_events_move_the_card_start_people_joining_and_leaving_and_the_end() {
    let playground = Playground::open().await;
    playground.type_and_send("@会议助手 /meeting 888000111").await;
    let card = playground.eval(&card_when("card.text.includes('项目站会') && card.text.includes('未开始')")).await;
    let id = card["id"].clone();

    // DingTalk tells the bot `conference_created`: the card is in progress, no lookup needed.
    let clicked = control(&playground, "start", "进行中").await;
    let (live, took_start) = card_changed(&playground, "card.text.includes('进行中')", clicked).await;
    assert_eq!((live["id"].clone(), live["bots"].clone()), (id.clone(), json!(1)), "in place: {live}");
    assert_eq!(live["joins"], json!(["https://meeting.dingtalk.com/j/888000111"]), "{live}");

    // Three people join (`user_join` each), then one leaves: the count follows.
    for n in 1..=3 {
        control(&playground, "join", &format!("{n} 人在会")).await;
    }
    let count = |n: u32| format!("/在会人数\\s*[:：]\\s*{n}(?!\\d)/.test(card.text)");
    let (three, _) = card_changed(&playground, &count(3), clicked).await;
    assert_eq!(three["id"], id, "{three}");
    let left = control(&playground, "leave", "2 人在会").await;
    let (two, took_leave) = card_changed(&playground, &count(2), left).await;
    assert!(two["text"].as_str().is_some_and(|t| t.contains("进行中")), "{two}");

    // `conference_closed`: ended, how long and how many took part, and no Join link any more.
    let ended_at = control(&playground, "end", "已结束").await;
    let (ended, took_end) = card_changed(&playground, "card.text.includes('已结束')", ended_at).await;
    let text = ended["text"].as_str().unwrap_or_default();
    assert!(text.contains("参会人数") && text.contains('3'), "took part: {ended}");
    assert!(text.contains("时长"), "how long it lasted: {ended}");
    assert_eq!(ended["joins"], json!([]), "no Join link once ended: {ended}");
    assert_eq!((ended["id"].clone(), ended["bots"].clone()), (id, json!(1)), "in place: {ended}");
    eprintln!("card changed after start {took_start:?}, a leave {took_leave:?}, the end {took_end:?}");
    for took in [took_start, took_leave, took_end] {
        assert!(took < Duration::from_secs(5), "a person sees the change at once, not at the next look: {took:?}");
    }
    playground.eval("document.fonts.ready.then(() => document.activeElement.blur())").await;
    std::fs::write(screenshot_path("playground-events.png"), playground.screenshot().await).expect("saved");
    playground.close().await;
}

#[tokio::test]
async fn what_a_person_types_is_shown_as_text_never_as_markup() {
    let playground = Playground::open().await;
    let hostile = "@会议助手 <img src=x onerror=alert(1)> [x](javascript:alert(1)) **b** /meting 1";
    playground.type_and_send(hostile).await;
    let answered = when("return !!document.querySelector('#messages .msg.bot');", DEADLINE.as_millis());
    assert_eq!(playground.eval(&answered).await, true, "the bot answered");
    let mine = playground
        .eval(
            "(() => { const b = document.querySelector('#messages .msg.me .bubble');
              return { text: b.textContent, tags: Array.from(b.querySelectorAll('*'), (e) => e.className) }; })()",
        )
        .await;
    assert_eq!(mine["text"], hostile, "shown exactly as typed");
    assert_eq!(mine["tags"], json!(["mention"]), "only the mention is marked up");
    let unsafe_nodes = playground
        .eval("document.querySelectorAll('#messages img, #messages script, #messages a[href^=javascript]').length")
        .await;
    assert_eq!(unsafe_nodes, 0);
    playground.close().await;
}

/// `docs/<name>` for the README's screenshot when `DINGMEET_UPDATE_SCREENSHOT` is set, else a
/// temporary file.
fn screenshot_path(name: &str) -> PathBuf {
    let update = std::env::var_os("DINGMEET_UPDATE_SCREENSHOT").is_some_and(|v| !v.is_empty() && v != "0");
    if update && matches!(name, "playground.png" | "playground-live-card.png" | "playground-meeting-new.png") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).expect("docs/");
        docs.join(name)
    } else {
        std::env::temp_dir().join(format!("dingmeet-{}-{name}", std::process::id()))
    }
}
