//! A SIGKILL in the middle of a load, through the real binary on real files: every message the
//! killed process acknowledged is answered once the next one starts on the same
//! `DINGMEET_DATA_DIR`, and one is answered twice only where its first reply was on its way at
//! the kill (posted, its done mark not yet written), never a reply answered well before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::process::BotProcess;
use crate::helpers::{data_dir, heavy};
use crate::process::{env, simulator};

/// Senders posting at once, each waiting for its acknowledgement before the next.
const SENDERS: usize = 8;
/// Acknowledged messages before the kill.
const BEFORE_KILL: usize = 400;
/// The most replies that can be on their way at once: the bot's posts in flight (64), and
/// those whose post was answered and whose done mark waits for the log's write under way.
const ON_THEIR_WAY: usize = 64 + SENDERS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_under_load_loses_no_acknowledged_message_and_repeats_only_replies_on_their_way() {
    let _machine = heavy().await;
    let sim = Arc::new(simulator().await);
    let dir = data_dir();
    let vars =
        env(&sim, &[("DINGMEET_DATA_DIR", &dir.path().display().to_string()), ("DINGMEET_RATE_LIMIT_PER_MINUTE", "0")]);
    let mut bot = BotProcess::start(&vars).await;
    let url = format!("{}/dingtalk/callback", bot.address);
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (sim, url, acknowledged, stop) =
                (Arc::clone(&sim), url.clone(), Arc::clone(&acknowledged), Arc::clone(&stop));
            tokio::spawn(async move {
                // Each message in a conversation of its own: DingTalk takes 20 posts a minute in one.
                for n in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let message = sim.message("/help").conversation_id(&format!("cid-load-{sender}-{n}"));
                    match message.post(&url).await {
                        Ok(delivery) if delivery.status == 200 => {
                            acknowledged.lock().expect("lock").push(delivery.callback.session_id);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < BEFORE_KILL {
        assert!(Instant::now() < deadline, "the load never reached {BEFORE_KILL} acknowledgements");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bot.kill().await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("a sender");
    }
    let answered_before: Vec<_> = sim.records().webhook_posts.into_iter().filter(|p| p.delivered()).collect();
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let unanswered = acknowledged.iter().filter(|s| !answered_before.iter().any(|p| &p.session == *s)).count();

    let mut bot = BotProcess::start(&vars).await;
    sim.wait_until(Duration::from_secs(30), |r| {
        acknowledged.iter().all(|s| r.webhook_posts.iter().any(|p| &p.session == s && p.delivered())).then_some(())
    })
    .await
    .expect("every acknowledged message answered after the restart");
    bot.terminate();
    assert!(bot.wait_for_exit().await.success());

    let mut posts: HashMap<String, Vec<u64>> = HashMap::new();
    for post in sim.records().webhook_posts.into_iter().filter(|p| p.delivered()) {
        posts.entry(post.session).or_default().push(post.seq);
    }
    // The seq from which a reply answered before the kill may still have been on its way.
    let mut before: Vec<u64> = answered_before.iter().map(|p| p.seq).collect();
    before.sort_unstable();
    let on_their_way_from = before.len().checked_sub(ON_THEIR_WAY).map_or(0, |at| before[at]);
    let twice: Vec<_> = posts.iter().filter(|(_, seqs)| seqs.len() > 1).collect();
    for (session, seqs) in &twice {
        assert_eq!(seqs.len(), 2, "{session} answered {} times", seqs.len());
        let first = seqs.iter().min().copied().unwrap_or_default();
        assert!(
            first >= on_their_way_from,
            "{session} was answered at seq {first}, long before the kill (the last {ON_THEIR_WAY} replies start at \
             {on_their_way_from}), and again after it"
        );
    }
    eprintln!(
        "{} acknowledged, {} of them unanswered at the kill, {} answered twice",
        acknowledged.len(),
        unanswered,
        twice.len()
    );
    assert!(posts.len() >= acknowledged.len());
}
