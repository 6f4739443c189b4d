//! The month replay: a seeded scenario of one organisation (booked meetings, questions,
//! reminders), the real bot and simulator on 127.0.0.1 with the simulator's clock moved in steps
//! from one moment that matters to the next, and the figures read back from the simulator's
//! records and the bot's metrics. Shared by `examples/month` and its smoke run in the tests.
//! With events on, DingTalk pushes each start, end, join and leave to the bot (`events.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dingmeet::app::Application;
use dingmeet::bot::live::AFTER_CHANGE;
use dingmeet::clock::Clock;
use dingmeet::config::Settings;
use dingtalk_sim::records::Records;
use dingtalk_sim::records::cards::CardCallKind;
use dingtalk_sim::scenario::{CodeAnswer, MeetingSpec};
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::{Value, json};

#[path = "events.rs"]
pub(crate) mod events;

use events::Transport;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// The organisation: 2,000 people, 40 groups the robot is in, 30 meeting codes.
const PEOPLE: usize = 2_000;
const GROUPS: usize = 40;
const CODES: usize = 30;
/// Each day: booked meetings, `/meeting` questions, `/remind` commands.
const MEETINGS_PER_DAY: usize = 20;
const QUESTIONS_PER_DAY: usize = 100;
const REMINDERS_PER_DAY: usize = 10;
/// How many minutes before its meeting a reminder is asked for.
const REMIND_MINUTES: i64 = 5;
/// A booked meeting is listed behind its code from a week before its start to a day after.
const LISTED_BEFORE: i64 = 7 * DAY;
const LISTED_AFTER: i64 = DAY;
/// While a meeting is in progress the clock moves at most this far in one step (the bot's
/// periodic looks are stepped to exactly; this catches the stretched ones).
const COARSE_STEP: i64 = 2 * MINUTE;
/// Days start at local midnight (Asia/Shanghai, the bot's default time zone).
const LOCAL_OFFSET: i64 = 8 * HOUR;
/// How long an answer may take (wall time) before the question counts as unanswered.
const WAIT: Duration = Duration::from_secs(20);
/// A live start or end shown later than this misses the target (polling).
const TARGET_MS: i64 = 60 * SECOND;
/// ... and later than this with events.
const EVENTS_TARGET_MS: i64 = 5 * SECOND;

/// What to replay.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) days: u32,
    pub(crate) seed: u64,
    /// `DINGMEET_MONTHLY_CALL_BUDGET`.
    pub(crate) budget: u64,
    /// How often the bot's background schedulers look at the clock (wall time).
    pub(crate) poll: Duration,
    /// How long (wall time) the simulator must see nothing before the clock moves on.
    pub(crate) quiet: Duration,
    /// Whether (and how) DingTalk pushes the meetings' events to the bot.
    pub(crate) events: Transport,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            days: 30,
            seed: 13,
            budget: 10_000,
            poll: Duration::from_millis(2),
            quiet: Duration::from_millis(10),
            events: Transport::Off,
        }
    }
}

struct Meeting {
    id: String,
    title: String,
    code: usize,
    start: i64,
    end: i64,
}

impl Meeting {
    fn status(&self, now: i64) -> i64 {
        if now < self.start {
            0
        } else if now < self.end {
            2
        } else {
            1
        }
    }

    fn listed(&self, now: i64) -> bool {
        now >= self.start - LISTED_BEFORE && now < self.start + LISTED_AFTER
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ask {
    Meeting,
    Remind,
}

#[derive(Clone, Copy)]
enum Chat {
    Group(usize),
    Single,
}

struct Question {
    at: i64,
    code: usize,
    ask: Ask,
    chat: Chat,
    staff: usize,
}

struct Plan {
    start: i64,
    end: i64,
    codes: Vec<String>,
    meetings: Vec<Meeting>,
    questions: Vec<Question>,
}

const TITLES: &[&str] = &["产品周会", "站会", "评审会", "客户沟通", "技术分享", "项目复盘", "招聘面试", "预算会"];

/// The scenario, from `seed` alone: meetings booked in working hours, questions mostly about
/// codes with a meeting still to come that day, reminders for meetings later that day.
fn plan(options: &Options, start: i64) -> Plan {
    let mut rng = fastrand::Rng::with_seed(options.seed);
    let codes: Vec<String> = (0..CODES).map(|i| format!("7{:08}", 10_007 + i * 7_919)).collect();
    let mut meetings = Vec::new();
    let mut questions = Vec::new();
    let mut taken = BTreeSet::new();
    // One day either side of the replay, so its first and last days look like the others.
    for day in -1..=i64::from(options.days) {
        let midnight = start + day * DAY;
        let today = meetings.len();
        for n in 0..MEETINGS_PER_DAY {
            let begin = midnight + 9 * HOUR + i64::from(rng.u32(0..9 * 12)) * 5 * MINUTE;
            let minutes = [30, 30, 45, 60, 60, 90][rng.usize(0..6)];
            meetings.push(Meeting {
                id: format!("conf-{}-{n:02}", day + 1),
                title: TITLES[rng.usize(0..TITLES.len())].to_owned(),
                code: rng.usize(0..CODES),
                start: begin,
                end: begin + minutes * MINUTE,
            });
        }
        if day < 0 || day >= i64::from(options.days) {
            continue;
        }
        let mut unique = |mut at: i64| {
            while !taken.insert(at) {
                at += SECOND;
            }
            at
        };
        for _ in 0..QUESTIONS_PER_DAY {
            let at = unique(midnight + 8 * HOUR + 30 * MINUTE + i64::from(rng.u32(0..10 * 3600)) * SECOND);
            // Most people ask about a meeting they are about to join (or are in).
            let coming: Vec<usize> = meetings[today..].iter().filter(|m| m.end > at).map(|m| m.code).collect();
            let code = if !coming.is_empty() && rng.f32() < 0.7 {
                coming[rng.usize(0..coming.len())]
            } else {
                rng.usize(0..CODES)
            };
            let chat = if rng.f32() < 0.8 { Chat::Group(rng.usize(0..GROUPS)) } else { Chat::Single };
            questions.push(Question { at, code, ask: Ask::Meeting, chat, staff: rng.usize(0..PEOPLE) });
        }
        for _ in 0..REMINDERS_PER_DAY {
            let meeting = &meetings[today + rng.usize(0..MEETINGS_PER_DAY)];
            let at = unique((meeting.start - i64::from(rng.u32(15..180)) * MINUTE).max(midnight + 8 * HOUR));
            let (code, chat, staff) = (meeting.code, Chat::Group(rng.usize(0..GROUPS)), rng.usize(0..PEOPLE));
            questions.push(Question { at, code, ask: Ask::Remind, chat, staff });
        }
    }
    questions.sort_by_key(|q| q.at);
    Plan { start, end: start + i64::from(options.days) * DAY, codes, meetings, questions }
}

impl Plan {
    /// What DingTalk answers for code `code` at `now`.
    fn answer(&self, code: usize, now: i64) -> Vec<Value> {
        let mut listed: Vec<&Meeting> = self.meetings.iter().filter(|m| m.code == code && m.listed(now)).collect();
        listed.sort_by_key(|m| m.start);
        listed
            .iter()
            .map(|m| {
                json!({
                    "conference_id": m.id,
                    "title": m.title,
                    "status": m.status(now),
                    "start": m.start,
                    "end": m.end,
                    "external_link_url": format!("https://meeting.dingtalk.com/j/{}", self.codes[code]),
                    "creator_nick": "张三",
                    "biz_type": "3",
                })
            })
            .collect()
    }

    /// Whether an answer about `code` at `now` shows something that can still change within a
    /// card's life (`live`): a meeting in progress, or one starting within it.
    fn could_be_live(&self, code: usize, now: i64, live: i64) -> bool {
        self.meetings.iter().any(|m| m.code == code && m.listed(now) && m.end > now && m.start <= now + live)
    }

    /// Every moment something happens or the bot should look: questions, starts and ends (and
    /// the bot's look just after them), reminders and the look-up before each.
    fn moments(&self) -> BTreeSet<i64> {
        let after = i64::try_from(AFTER_CHANGE.as_millis()).unwrap_or(0);
        let mut moments: BTreeSet<i64> = self.questions.iter().map(|q| q.at).collect();
        for m in &self.meetings {
            let fire = m.start - REMIND_MINUTES * MINUTE;
            moments.extend([m.start, m.start + after, m.end, m.end + after, fire - MINUTE, fire]);
            moments.extend([m.start - LISTED_BEFORE, m.start + LISTED_AFTER]);
        }
        moments.retain(|at| (self.start..=self.end).contains(at));
        moments
    }
}

/// The simulator's clock as the bot's, looked at every `poll`.
struct SimTime {
    clock: SimClock,
    poll: Duration,
}

impl Clock for SimTime {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    fn poll(&self) -> Duration {
        self.poll
    }
}

fn wall_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or(Duration::ZERO);
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

/// How an answer went out.
#[derive(Debug, Clone, PartialEq)]
enum Answered {
    /// An interactive card, by its `outTrackId`.
    Card(String),
    Markdown,
    /// Not within [`WAIT`], or the callback was refused.
    Not,
}

struct Asked {
    at: i64,
    code: usize,
    ask: Ask,
    could_be_live: bool,
    answered: Answered,
}

/// Everything the simulator recorded, as one number that grows with any request.
fn activity(records: &Records) -> usize {
    records.events.http_pushes.len()
        + records.stream.received.len()
        + records.webhook_posts.len()
        + records.openapi_sends.len()
        + records.token_calls.len()
        + records.conference_calls.values().sum::<usize>()
        + records.cards.calls.len()
}

async fn read<T>(sim: &Simulator, look: impl FnMut(&Records) -> Option<T>) -> Option<T> {
    sim.wait_until(Duration::ZERO, look).await.ok()
}

/// Lets the bot's schedulers take the new time: two of their looks, then until the simulator
/// has seen nothing more for `quiet` (a pass writes its store between calls).
async fn settle(sim: &Simulator, poll: Duration, quiet: Duration) {
    tokio::time::sleep(poll * 2).await;
    let mut last = read(sim, |r| Some(activity(r))).await;
    let mut still = Duration::ZERO;
    while still < quiet {
        tokio::time::sleep(poll).await;
        let now = read(sim, |r| Some(activity(r))).await;
        if now == last {
            still += poll;
        } else {
            still = Duration::ZERO;
            last = now;
        }
    }
}

/// The bot's counters of OpenAPI calls by purpose, and whether background work is paused.
async fn scrape(http: &reqwest::Client, address: &str) -> anyhow::Result<(Calls, bool)> {
    let text = http.get(format!("{address}/metrics")).send().await?.text().await?;
    let mut calls = BTreeMap::new();
    let mut endpoints = BTreeMap::new();
    let mut paused = false;
    for line in text.lines() {
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        if line.starts_with("dingmeet_openapi_calls_total{") {
            let purpose = line.split("purpose=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("?");
            *calls.entry(purpose.to_owned()).or_default() += value as u64;
            let endpoint = line.split("endpoint=\"").nth(1).and_then(|rest| rest.split('"').next()).unwrap_or("?");
            *endpoints.entry(format!("{purpose}/{endpoint}")).or_default() += value as u64;
        } else if line.starts_with("dingmeet_background_paused{") && value > 0.0 {
            paused = true;
        }
    }
    Ok(((calls, endpoints), paused))
}

/// The bot's calls by purpose, and by purpose and endpoint.
type Calls = (BTreeMap<String, u64>, BTreeMap<String, u64>);

/// Starts and ends shown on live cards.
#[derive(Debug, Default, Clone)]
struct Shown {
    /// Changes of a meeting on a card that was live then.
    changes: u64,
    within_target: u64,
    within_5s: u64,
    later: u64,
    never: u64,
    /// Of `never` and `later`: while background work was paused for the budget.
    while_paused: u64,
    /// From each change to the first card update showing it (simulated ms), of those shown.
    delays_ms: Vec<i64>,
}

impl Shown {
    fn json(&self) -> Value {
        let mut sorted = self.delays_ms.clone();
        sorted.sort_unstable();
        json!({
            "on_live_cards": self.changes,
            "within_60s": self.within_target,
            "within_5s": self.within_5s,
            "later": self.later,
            "never": self.never,
            "missed_while_paused": self.while_paused,
            "p50_s": events::percentile_s(&sorted, 50),
            "p95_s": events::percentile_s(&sorted, 95),
            "longest_s": events::percentile_s(&sorted, 100),
        })
    }
}

/// The figures of one replay.
#[derive(Debug)]
pub(crate) struct Report {
    pub(crate) days: u32,
    pub(crate) budget: u64,
    /// The bot's own count, by purpose.
    pub(crate) calls: BTreeMap<String, u64>,
    /// The same by purpose and endpoint.
    pub(crate) endpoints: BTreeMap<String, u64>,
    /// Requests the simulator received (the cross-check of the bot's count).
    pub(crate) sim_requests: u64,
    pub(crate) questions: u64,
    pub(crate) answered_at_once: u64,
    pub(crate) interactive: u64,
    pub(crate) markdown: u64,
    pub(crate) could_be_live: u64,
    pub(crate) live_when_could: u64,
    pub(crate) reminds_set: u64,
    pub(crate) reminders_sent: u64,
    pub(crate) card_updates: u64,
    starts: Shown,
    ends: Shown,
    /// The first simulated day (from 1) background work paused for the budget, if it did.
    pub(crate) first_paused_day: Option<u32>,
    pub(crate) wall_secs: f64,
    pub(crate) events: Transport,
    /// What the simulator pushed (events on).
    pushed: Value,
    /// The questions not answered at once, with what the simulator saw then.
    pub(crate) missed: Vec<Value>,
    /// The starts and ends on live cards shown later than the target, or never.
    late: Vec<Value>,
}

impl Report {
    pub(crate) fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }

    pub(crate) fn json(&self) -> Value {
        let share =
            |part: u64, whole: u64| if whole == 0 { 0.0 } else { (part as f64 * 1000.0 / whole as f64).round() / 10.0 };
        json!({
            "days": self.days,
            "budget": self.budget,
            "calls_total": self.total_calls(),
            "calls_per_day": self.total_calls() / u64::from(self.days.max(1)),
            "calls": self.calls,
            "endpoints": self.endpoints,
            "sim_requests": self.sim_requests,
            "questions": self.questions,
            "answered_at_once": self.answered_at_once,
            "interactive": self.interactive,
            "markdown": self.markdown,
            "could_be_live": self.could_be_live,
            "live_when_could": self.live_when_could,
            "live_share_pct": share(self.live_when_could, self.could_be_live),
            "reminds_set": self.reminds_set,
            "reminders_sent": self.reminders_sent,
            "card_updates": self.card_updates,
            "starts": self.starts.json(),
            "ends": self.ends.json(),
            "first_paused_day": self.first_paused_day,
            "wall_secs": (self.wall_secs * 10.0).round() / 10.0,
            "events": self.events.name(),
            "pushed": self.pushed,
            "missed": self.missed,
            "late": self.late,
        })
    }
}

/// Replays `options.days` days; `log` gets one `day {json}` line per simulated day.
pub(crate) async fn run(options: &Options, mut log: impl FnMut(String)) -> anyhow::Result<Report> {
    let began = std::time::Instant::now();
    // The next local midnight after now: the bot checks signatures and session webhooks on the
    // wall clock, so the simulated month never starts before it.
    let start = ((wall_ms() + LOCAL_OFFSET) / DAY + 1) * DAY - LOCAL_OFFSET;
    let plan = plan(options, start);
    let live_ms = 24 * HOUR;
    let clock = SimClock::frozen(start);
    let sim = Simulator::start_with(Scenario::builtin().map_err(|e| anyhow::anyhow!("{e}"))?, clock.clone()).await?;
    let data = tempfile::Builder::new().prefix("dingmeet-month-").tempdir()?;
    let mut vars = sim.bot_env();
    let budget = options.budget.to_string();
    // Messages are signed on the simulator's clock (so their session webhooks live on it too),
    // up to the whole replay ahead of the wall clock the bot checks signatures against.
    let window = ((i64::from(options.days) + 2) * DAY / SECOND).to_string();
    let data_dir = data.path().display().to_string();
    vars.extend(
        [
            ("DINGMEET_LISTEN", "127.0.0.1:0"),
            ("DINGMEET_CARDS", "interactive"),
            ("DINGMEET_MONTHLY_CALL_BUDGET", budget.as_str()),
            ("DINGMEET_DATA_DIR", data_dir.as_str()),
            ("DINGMEET_SIGN_WINDOW_SECS", window.as_str()),
            // A reminder asked for a meeting today lives a day: one reminder each.
            ("DINGMEET_REMIND_DAYS", "1"),
            // The conference cache lives on the wall clock, which barely moves while a month
            // passes on the simulator's: off, every look is a lookup (an upper bound on calls).
            ("DINGMEET_CACHE_TTL_SECS", "0"),
            // So does the per-chat send limit (DingTalk's 20 a minute, on the wall clock): the
            // replay passes about four simulated days a wall minute, so a busy group's replies of
            // four days (hours apart on the simulated clock) queued behind it past the answer's
            // wait. No group gets near 20 replies in a simulated minute.
            ("DINGMEET_RATE_LIMIT_PER_MINUTE", "1000"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    vars.extend(events::bot_vars(options.events));
    let settings = Settings::load_from(None, vars).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bot_clock = Arc::new(SimTime { clock: clock.clone(), poll: options.poll });
    let app = Application::build_with_clock(&settings, bot_clock).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let address = format!("http://{}", app.local_addr());
    events::subscribe(&sim, options.events, &address)?;
    let callback = format!("{address}/dingtalk/callback");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();

    let refresh_ms = 600 * SECOND;
    let mut moments = plan.moments();
    let mut shown: Vec<Option<Vec<Value>>> = vec![None; CODES];
    let mut asked = Vec::new();
    let mut next_question = 0;
    let mut details_seen = 0;
    let mut paused_hours = BTreeSet::new();
    let mut first_paused_day = None;
    let mut day_start_calls = BTreeMap::new();
    let mut next_scrape = start + HOUR;
    let mut now = start;
    let mut before = start - 1;
    let mut missed = Vec::new();
    loop {
        for (code, last) in shown.iter_mut().enumerate() {
            let answer = plan.answer(code, now);
            if last.as_ref() != Some(&answer) {
                let specs: Vec<MeetingSpec> =
                    answer.iter().map(|m| serde_json::from_value(m.clone())).collect::<Result<_, _>>()?;
                sim.meetings().set_answer(&plan.codes[code], CodeAnswer::Meetings(specs));
                *last = Some(answer);
            }
        }
        if options.events != Transport::Off {
            announce(&sim, &plan, options.seed, before, now);
        }
        before = now;
        while let Some(question) = plan.questions.get(next_question).filter(|q| q.at <= now) {
            let (answered, callback_status) = ask(&sim, &callback, &plan, question).await;
            if answered == Answered::Not {
                let mut seen = unanswered(&sim, &plan, question, now).await;
                seen["callback_status"] = json!(callback_status);
                log(format!("missed {seen}"));
                missed.push(seen);
            }
            let could_be_live = question.ask == Ask::Meeting && plan.could_be_live(question.code, now, live_ms);
            asked.push(Asked { at: now, code: question.code, ask: question.ask, could_be_live, answered });
            next_question += 1;
        }
        settle(&sim, options.poll, options.quiet).await;
        // A participant count is read at each look of a card with a meeting in progress: its
        // next look is one refresh interval later (or later, stretched for the budget).
        let details = read(&sim, |r| {
            Some(
                r.cards.calls[details_seen..]
                    .iter()
                    .filter(|c| c.kind == CardCallKind::ConferenceDetail)
                    .map(|c| c.at_ms)
                    .collect::<Vec<_>>(),
            )
        })
        .await
        .unwrap_or_default();
        details_seen = read(&sim, |r| Some(r.cards.calls.len())).await.unwrap_or(details_seen);
        moments.extend(details.into_iter().map(|at| at + refresh_ms).filter(|at| *at <= plan.end));
        if now >= next_scrape || now >= plan.end {
            let ((calls, _), paused) = scrape(&http, &address).await?;
            let day = u32::try_from((now - start - 1).max(0) / DAY).unwrap_or(0);
            if paused {
                paused_hours.insert((now - start) / HOUR);
                first_paused_day.get_or_insert(day + 1);
            }
            if (now - start) % DAY == 0 || now >= plan.end {
                let delta: BTreeMap<&String, u64> =
                    calls.iter().map(|(p, n)| (p, n - day_start_calls.get(p).copied().unwrap_or(0))).collect();
                let today: Vec<&Asked> = asked.iter().filter(|a| (a.at - start) / DAY == i64::from(day)).collect();
                let cards = today.iter().filter(|a| matches!(a.answered, Answered::Card(_))).count();
                log(format!(
                    "day {}",
                    json!({"day": day + 1, "calls": delta, "calls_total": delta.values().sum::<u64>(), "cards": cards,
                           "asked": today.len(), "used_so_far": calls.values().sum::<u64>(), "paused": paused})
                ));
                day_start_calls = calls;
            }
            while next_scrape <= now {
                next_scrape += HOUR;
            }
        }
        if now >= plan.end {
            break;
        }
        let in_progress = plan.meetings.iter().any(|m| m.start <= now && now < m.end);
        let mut next = moments.range(now + 1..).next().copied().unwrap_or(plan.end).min(next_scrape);
        if in_progress {
            next = next.min(now + COARSE_STEP);
        }
        now = next.min(plan.end);
        clock.set_ms(now);
    }

    let (calls, _) = scrape(&http, &address).await?;
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, server).await;
    let records = sim.records();
    sim.stop().await;
    let mut report = report(options, &plan, &asked, &records, calls, &paused_hours, first_paused_day, began.elapsed());
    report.missed = missed;
    Ok(report)
}

/// What the simulator saw of a question not answered at once, for the report.
async fn unanswered(sim: &Simulator, plan: &Plan, question: &Question, now: i64) -> Value {
    let staff = format!("staff{:04}", question.staff);
    let seen = read(sim, |r| {
        let posts: Vec<Value> = r
            .webhook_posts
            .iter()
            .filter(|p| p.at_ms == now)
            .map(|p| json!({"errcode": p.errcode, "errmsg": p.errmsg, "msgtype": p.msgtype()}))
            .collect();
        let cards: Vec<Value> =
            r.cards.cards.values().filter(|c| c.created_ms == now).map(|c| json!({"space": c.space_id})).collect();
        let calls: Vec<Value> = r
            .cards
            .calls
            .iter()
            .filter(|c| c.at_ms == now)
            .map(|c| json!({"kind": format!("{:?}", c.kind), "status": c.status, "error": c.error_code}))
            .collect();
        Some(json!({"posts": posts, "cards": cards, "card_calls": calls}))
    })
    .await
    .unwrap_or(Value::Null);
    json!({
        "day": (now - plan.start) / DAY + 1,
        "minute_of_day": ((now - plan.start) % DAY) / MINUTE,
        "ask": if question.ask == Ask::Meeting { "meeting" } else { "remind" },
        "chat": match question.chat { Chat::Group(g) => format!("group{g:02}"), Chat::Single => format!("1:1 {staff}") },
        "code": plan.codes[question.code],
        "seen_at_that_moment": seen,
    })
}

/// Has DingTalk tell the bot of every meeting that ended or started after `before` up to `now`
/// (ends first: a code's next meeting may start as its last one ends).
fn announce(sim: &Simulator, plan: &Plan, seed: u64, before: i64, now: i64) {
    let within = |at: i64| before < at && at <= now;
    for m in plan.meetings.iter().filter(|m| within(m.end)) {
        events::ended(sim, &plan.codes[m.code], &m.id, events::people(seed, &m.id));
    }
    for m in plan.meetings.iter().filter(|m| within(m.start)) {
        events::started(sim, &plan.codes[m.code], &m.id, events::people(seed, &m.id));
    }
}

/// Sends `question` at the simulator's now and waits for its one answer; with the HTTP status
/// the bot answered the callback with.
async fn ask(sim: &Simulator, callback: &str, plan: &Plan, question: &Question) -> (Answered, Option<u16>) {
    let code = &plan.codes[question.code];
    let text = match question.ask {
        Ask::Meeting => format!("/meeting {code}"),
        Ask::Remind => format!("/remind {code} {REMIND_MINUTES}"),
    };
    let staff = format!("staff{:04}", question.staff);
    let message = sim.message(text).sender_staff_id(Some(&staff));
    let (message, space) = match question.chat {
        Chat::Group(group) => {
            let id = format!("cidMonthGroup{group:02}");
            (message.conversation_id(&id), id)
        }
        Chat::Single => (message.single().conversation_id(&format!("cidMonth1to1{staff}")), staff.clone()),
    };
    let before = read(sim, |r| Some((r.webhook_posts.len(), r.openapi_sends.len()))).await.unwrap_or_default();
    let Ok(delivery) = message.post(callback).await else { return (Answered::Not, None) };
    if delivery.status != 200 {
        return (Answered::Not, Some(delivery.status));
    }
    let session = delivery.callback.session_id.clone();
    let at = sim.clock().now_ms();
    let found = sim
        .wait_until(WAIT, |r| {
            if let Some(card) = r.cards.cards.values().find(|c| c.created_ms == at && c.space_id == space) {
                return Some(Answered::Card(card.out_track_id.clone()));
            }
            let posted = r.webhook_posts[before.0..].iter().any(|p| p.session == session && p.delivered());
            (posted || r.openapi_sends.len() > before.1).then_some(Answered::Markdown)
        })
        .await;
    (found.unwrap_or(Answered::Not), Some(delivery.status))
}

#[expect(clippy::too_many_arguments, reason = "the pieces of one report, called once")]
fn report(
    options: &Options,
    plan: &Plan,
    asked: &[Asked],
    records: &Records,
    (calls, endpoints): Calls,
    paused_hours: &BTreeSet<i64>,
    first_paused_day: Option<u32>,
    wall: Duration,
) -> Report {
    let live_ms = 24 * HOUR;
    // Each card's accepted updates: when, and whether it showed a meeting in progress / ended.
    let mut updates: BTreeMap<String, Vec<(i64, bool, bool)>> = BTreeMap::new();
    for call in records.cards.calls.iter().filter(|c| c.kind == CardCallKind::Update && c.accepted()) {
        if let Some(body) = &call.body
            && let Some(id) = body["outTrackId"].as_str()
        {
            let text = body.to_string();
            let shows = (text.contains(LIVE_LABEL), text.contains(ENDED_LABEL));
            updates.entry(id.to_owned()).or_default().push((call.at_ms, shows.0, shows.1));
        }
    }
    let paused_at = |at: i64| paused_hours.contains(&((at - plan.start) / HOUR));
    let (mut starts, mut ends) = (Shown::default(), Shown::default());
    let mut late = Vec::new();
    for card in asked.iter().filter_map(|a| match &a.answered {
        Answered::Card(id) => Some((a, id)),
        _ => None,
    }) {
        let (question, id) = card;
        let times = updates.get(id.as_str()).map(Vec::as_slice).unwrap_or_default();
        let target = if options.events == Transport::Off { TARGET_MS } else { EVENTS_TARGET_MS };
        for meeting in plan.meetings.iter().filter(|m| m.code == question.code) {
            for (change, started, shown) in [(meeting.start, true, &mut starts), (meeting.end, false, &mut ends)] {
                if change <= question.at || change > question.at + live_ms || change > plan.end {
                    continue;
                }
                shown.changes += 1;
                // The first update after the change that shows it (a meeting in progress or ended).
                let first = times
                    .iter()
                    .find(|(t, live, ended)| *t >= change && if started { *live } else { *ended })
                    .map(|(t, _, _)| t - change);
                match first {
                    Some(delay) if delay <= TARGET_MS => shown.within_target += 1,
                    Some(_) => shown.later += 1,
                    None => shown.never += 1,
                }
                if let Some(delay) = first {
                    shown.delays_ms.push(delay);
                    if delay <= EVENTS_TARGET_MS {
                        shown.within_5s += 1;
                    }
                }
                if first.is_none_or(|delay| delay > target) {
                    if paused_at(change) {
                        shown.while_paused += 1;
                    }
                    late.push(json!({
                        "card": id, "meeting": meeting.id, "change": if started { "start" } else { "end" },
                        "day": (change - plan.start) / DAY + 1, "minute_of_day": ((change - plan.start) % DAY) / MINUTE,
                        "asked_minutes_before": (change - question.at) / MINUTE,
                        "delay_s": first.map(|delay| delay / SECOND),
                    }));
                }
            }
        }
    }
    let meetings: Vec<&Asked> = asked.iter().filter(|a| a.ask == Ask::Meeting).collect();
    let is_card = |a: &&&Asked| matches!(a.answered, Answered::Card(_));
    let sim_requests = records.token_calls.len()
        + records.conference_calls.values().sum::<usize>()
        + records.cards.calls.len()
        + records.openapi_sends.len()
        + records.events.failed_list_calls;
    Report {
        days: options.days,
        budget: options.budget,
        calls,
        endpoints,
        sim_requests: sim_requests as u64,
        questions: asked.len() as u64,
        answered_at_once: asked.iter().filter(|a| a.answered != Answered::Not).count() as u64,
        interactive: meetings.iter().filter(is_card).count() as u64,
        markdown: asked.iter().filter(|a| a.answered == Answered::Markdown).count() as u64,
        could_be_live: meetings.iter().filter(|a| a.could_be_live).count() as u64,
        live_when_could: meetings.iter().filter(|a| a.could_be_live).filter(is_card).count() as u64,
        reminds_set: asked.iter().filter(|a| a.ask == Ask::Remind).count() as u64,
        reminders_sent: records.openapi_sends.iter().filter(|s| s.accepted()).count() as u64,
        card_updates: records.cards.updates() as u64,
        starts,
        ends,
        first_paused_day,
        wall_secs: wall.as_secs_f64(),
        events: options.events,
        pushed: events::pushed(&records.events),
        missed: Vec::new(),
        late,
    }
}

/// How the bot's cards (in Chinese, its default) say a meeting is in progress, or ended.
const LIVE_LABEL: &str = "进行中";
const ENDED_LABEL: &str = "已结束";
