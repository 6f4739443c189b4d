//! CPU cost per message: signature check, command parsing, rendering, and the whole in-process
//! pipeline from a signed callback body to the reply body (upstream answered from the cache).
//! Run with `cargo bench`; figures and method are in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dingmeet::bot::commands;
use dingmeet::bot::i18n::ZH;
use dingmeet::bot::render;
use dingmeet::bot::room_code::RoomCode;
use dingmeet::config::Settings;
use dingmeet::dingtalk::conference::{ConferenceInfo, Conferences};
use dingmeet::dingtalk::message::CallbackBody;
use dingmeet::dingtalk::sign::{Verifier, sign};
use secrecy::SecretString;

const SECRET: &str = "bench-app-secret";
const NOW_MS: i64 = 1_795_674_600_000;

fn meetings() -> Conferences {
    let list: Vec<ConferenceInfo> = (0..5)
        .map(|i| ConferenceInfo {
            conference_id: Some(format!("conf{i}")),
            title: Some(format!("周会 {i}")),
            room_code: Some("123456789".into()),
            external_link_url: Some("https://meeting.dingtalk.com/j/AbCdEf".into()),
            status: Some([2, 0, 1][i % 3]),
            start_time: Some(NOW_MS + i64::try_from(i).unwrap_or(0) * 3_600_000),
            end_time: (i % 3 == 2).then_some(NOW_MS + 7_200_000),
            creator_nick: Some("张三".into()),
            biz_type: Some("3".into()),
            ..ConferenceInfo::default()
        })
        .collect();
    Conferences { total: list.len(), list }
}

fn callback_body(msg_id: u64) -> String {
    serde_json::json!({
        "msgtype": "text",
        "text": {"content": " /meeting 123456789"},
        "msgId": format!("msg{msg_id}"),
        "createAt": NOW_MS,
        "conversationType": "2",
        "conversationId": "cidBench==",
        "conversationTitle": "bench",
        "senderNick": "张三",
        "senderStaffId": "manager807",
        "chatbotCorpId": "dingbench",
        "robotCode": "dingbench",
        "sessionWebhook": "https://oapi.dingtalk.com/robot/sendBySession?session=0123456789abcdef0123456789abcdef",
        "sessionWebhookExpiredTime": NOW_MS + 5_400_000,
        "isInAtList": true
    })
    .to_string()
}

fn benches(c: &mut Criterion) {
    let verifier = Verifier::new(vec![SecretString::from(SECRET)], Duration::from_secs(3600));
    let timestamp = NOW_MS.to_string();
    let signature = sign(&timestamp, SECRET);
    c.bench_function("verify_signature", |b| {
        b.iter(|| verifier.verify_at(Some(black_box(&timestamp)), Some(black_box(&signature)), NOW_MS))
    });

    c.bench_function("parse_command", |b| {
        b.iter(|| commands::parse(black_box("@会议助手 /meeting 123 456 789 @张三")))
    });

    let code = RoomCode::parse("123456789").expect("code");
    let results = [(code, Ok(std::sync::Arc::new(meetings())))];
    c.bench_function("render_card", |b| {
        b.iter(|| render::meeting_card(&ZH, chrono_tz::Asia::Shanghai, black_box(&results), 0, Some("manager807")))
    });

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let vars = [
        ("DINGMEET_CLIENT_ID", "dingbench"),
        ("DINGMEET_CLIENT_SECRET", SECRET),
        ("DINGMEET_API_BASE", "http://127.0.0.1:9"),
    ];
    let settings =
        Settings::load_from(None, vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))).expect("settings");
    let bot = runtime.block_on(async {
        let bot = dingmeet::app::build(&settings).expect("bot").bot;
        bot.conferences().prime(Some("dingbench"), "123456789", meetings()).await;
        bot
    });
    let next_id = AtomicU64::new(0);
    c.bench_function("pipeline_signed_request_to_reply_body", |b| {
        b.to_async(&runtime).iter(|| async {
            let body = callback_body(next_id.fetch_add(1, Ordering::Relaxed));
            verifier.verify_at(Some(&timestamp), Some(&signature), NOW_MS).expect("verifies");
            let message = CallbackBody::parse(body.as_bytes()).expect("parses").into_inbound();
            let (message, _ticket) = bot.admit(message).await.expect("a new message");
            let reply = bot.answer(&message).await;
            black_box(serde_json::to_string(&reply.webhook_payload()).expect("serialises"))
        })
    });
}

criterion_group!(name = pipeline; config = Criterion::default().measurement_time(Duration::from_secs(3)); targets = benches);
criterion_main!(pipeline);
