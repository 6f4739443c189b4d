//! Meeting events on the Stream gateway (docs/dingtalk-events.md §a, §c): a client subscribed to
//! `EVENT` `*` gets a meeting's start, joins, leaves and end as `EVENT` frames, in order, with a
//! rising `statusSeqNum`; its acks settle them (`LATER` does not); and the scenario switches
//! double, reorder and drop them.

use dingtalk_sim::records::stream::FrameKind;
use dingtalk_sim::{Scenario, SimClock, Simulator};
use serde_json::Value;

use crate::stream_gateway::{Ws, ack, connect, message_id, next_frame, send};

/// The builtin scenario's movable stand-up.
pub(crate) const CODE: &str = "888000111";
pub(crate) const CONFERENCE: &str = "5f3a9c0e2b7d4e18a6c1f0d2";

pub(crate) async fn sim() -> Simulator {
    let sim = Simulator::start_with(Scenario::builtin().expect("valid"), SimClock::frozen(1_800_000_000_000))
        .await
        .expect("starts");
    sim.meetings().pin_times();
    sim
}

/// The next frame and its `data`, parsed from the JSON string it is sent as.
async fn next_event(ws: &mut Ws) -> (Value, Value) {
    let frame = next_frame(ws).await;
    let data = frame["data"].as_str().expect("data is a JSON string");
    let data = serde_json::from_str(data).expect("data parses");
    (frame, data)
}

fn event_frames(sim: &Simulator) -> usize {
    sim.stream().records().sent.iter().filter(|f| f.kind == FrameKind::Event).count()
}

#[tokio::test]
async fn a_start_joins_leaves_and_an_end_arrive_in_order_with_a_rising_seq() {
    let sim = sim().await;
    sim.events().set_stream(true);
    let mut ws = connect(&sim).await;

    assert!(sim.meetings().start_meeting(CODE, CONFERENCE));
    assert!(sim.events().join(CODE, CONFERENCE, 2));
    assert!(sim.events().leave(CODE, CONFERENCE, 1));
    assert!(sim.meetings().end_meeting(CODE, CONFERENCE));

    let mut scenes = Vec::new();
    let mut event_ids = std::collections::HashSet::new();
    for expected_seq in 1..=5_u64 {
        let (frame, data) = next_event(&mut ws).await;
        assert_eq!(frame["type"], "EVENT");
        let headers = frame["headers"].as_object().expect("headers");
        for name in [
            "appId",
            "connectionId",
            "topic",
            "messageId",
            "contentType",
            "time",
            "eventType",
            "eventId",
            "eventCorpId",
            "eventBornTime",
            "eventUnifiedAppId",
        ] {
            assert!(headers.get(name).is_some_and(Value::is_string), "{name} a string in {frame}");
        }
        assert_eq!(headers["topic"], "*");
        assert_eq!(headers["eventCorpId"].as_str(), Some(sim.home_corp()));
        assert!(event_ids.insert(headers["eventId"].as_str().expect("id").to_owned()), "an eventId per event");
        assert_eq!(data["statusSeqNum"], expected_seq, "{data}");
        let scene = data["changeScene"].as_str().expect("a scene").to_owned();
        let kind =
            if scene.starts_with("conference") { "meeting_status_change" } else { "meeting_member_status_change" };
        assert_eq!(headers["eventType"], kind);
        match scene.as_str() {
            "conference_created" => {
                let model = &data["openConfModel"];
                assert_eq!(model["conferenceId"], CONFERENCE);
                assert_eq!(model["title"], "项目站会");
                assert_eq!(model["status"], 1, "paired with created as DingTalk's sample does");
                assert!(model["bizType"].is_string() && model["startTime"].is_i64());
                assert_eq!((model["activeNum"].as_u64(), model["attendNum"].as_u64()), (Some(0), Some(0)));
            }
            "conference_closed" => {
                let model = &data["openConfModel"];
                assert_eq!((model["activeNum"].as_u64(), model["attendNum"].as_u64()), (Some(0), Some(2)));
                assert!(model["confDuration"].is_u64());
            }
            "user_join" | "user_leave" => {
                let member = &data["openMemberModels"][0];
                assert_eq!(member["conferenceId"], CONFERENCE);
                assert!(member["userId"].is_string() && member["joinTime"].is_i64());
                let status = if scene == "user_join" { 3 } else { 6 };
                assert_eq!(member["attendStatus"], status);
            }
            other => panic!("unexpected scene {other}"),
        }
        send(&mut ws, &ack(&message_id(&frame), r#"{"status":"SUCCESS","message":"success"}"#)).await;
        scenes.push(scene);
    }
    assert_eq!(scenes, ["conference_created", "user_join", "user_join", "user_leave", "conference_closed"]);
    sim.wait_until(crate::WAIT, |r| (r.stream.received.len() == 5).then_some(())).await.expect("the acks recorded");
    assert!(sim.stream().awaiting_ack().is_empty(), "every SUCCESS settles its event");
    assert_eq!(sim.events().records().emitted.len(), 5);
}

#[tokio::test]
async fn an_event_acked_later_is_still_owed() {
    let sim = sim().await;
    sim.events().set_stream(true);
    let mut ws = connect(&sim).await;
    sim.events().join(CODE, CONFERENCE, 1);
    let (frame, _) = next_event(&mut ws).await;
    send(&mut ws, &ack(&message_id(&frame), r#"{"status":"LATER","message":"later"}"#)).await;
    sim.wait_until(crate::WAIT, |r| (!r.stream.received.is_empty()).then_some(())).await.expect("the ack recorded");
    assert_eq!(sim.stream().awaiting_ack(), [message_id(&frame)], "LATER asks for it again");
    let acks = sim.stream().records().received;
    assert_eq!(
        (acks[0].message_id(), acks[0].ack_status().as_deref()),
        (Some(message_id(&frame).as_str()), Some("LATER"))
    );
}

#[tokio::test]
async fn an_unacked_event_is_pushed_again_a_minute_later_by_the_simulators_clock() {
    let sim = sim().await;
    sim.events().set_stream(true);
    let mut ws = connect(&sim).await;
    sim.events().join(CODE, CONFERENCE, 1);
    let (first, _) = next_event(&mut ws).await;
    sim.clock().advance(std::time::Duration::from_secs(59));
    sim.clock().advance(std::time::Duration::from_secs(1));
    let (again, data) = next_event(&mut ws).await;
    assert_eq!(again["headers"]["eventId"], first["headers"]["eventId"]);
    assert_eq!(data["changeScene"], "user_join");
    let attempts: Vec<u32> = sim.stream().records().sent.iter().map(|f| f.attempt).collect();
    assert_eq!(attempts, [0, 1]);
}

#[tokio::test]
async fn events_stay_off_the_stream_unless_it_is_chosen() {
    let sim = sim().await;
    let _ws = connect(&sim).await;
    assert!(sim.meetings().start_meeting(CODE, CONFERENCE));
    assert_eq!(event_frames(&sim), 0);
    assert_eq!(sim.events().records().emitted.len(), 1, "made all the same");
    assert!(!sim.events().join("000", CONFERENCE, 1), "no such meeting");
}

#[tokio::test]
async fn the_duplicate_switch_pushes_each_event_twice_with_one_event_id() {
    let sim = sim().await;
    sim.events().set_stream(true);
    sim.events().set_duplicate(true);
    let mut ws = connect(&sim).await;
    sim.meetings().start_meeting(CODE, CONFERENCE);
    let (first, _) = next_event(&mut ws).await;
    let (second, _) = next_event(&mut ws).await;
    assert_eq!(first["headers"]["eventId"], second["headers"]["eventId"]);
    assert_ne!(first["headers"]["messageId"], second["headers"]["messageId"], "two deliveries");
}

#[tokio::test]
async fn the_reorder_switch_delivers_a_conferences_next_event_first() {
    let sim = sim().await;
    sim.events().set_stream(true);
    sim.events().set_reorder(true);
    let mut ws = connect(&sim).await;
    sim.meetings().start_meeting(CODE, CONFERENCE);
    assert_eq!(event_frames(&sim), 0, "held back");
    sim.events().join(CODE, CONFERENCE, 1);
    let (_, first) = next_event(&mut ws).await;
    let (_, second) = next_event(&mut ws).await;
    assert_eq!((first["statusSeqNum"].as_u64(), second["statusSeqNum"].as_u64()), (Some(2), Some(1)));
    sim.events().leave(CODE, CONFERENCE, 1);
    sim.events().set_reorder(false);
    let (_, released) = next_event(&mut ws).await;
    assert_eq!(released["changeScene"], "user_leave", "switching off delivers what was held");
}

#[tokio::test]
async fn the_drop_switch_loses_events_but_not_their_numbers() {
    let sim = sim().await;
    sim.events().set_stream(true);
    sim.events().set_drop(true);
    let mut ws = connect(&sim).await;
    sim.meetings().start_meeting(CODE, CONFERENCE);
    assert_eq!(event_frames(&sim), 0);
    sim.events().set_drop(false);
    sim.events().join(CODE, CONFERENCE, 1);
    let (_, data) = next_event(&mut ws).await;
    assert_eq!(data["statusSeqNum"], 2, "the lost event took number 1");
    assert_eq!(sim.events().active_num(CONFERENCE), 1);
}

#[test]
fn the_scenario_switches_read_from_toml() {
    let text = format!("{}\n[events]\nstream = true\nduplicate = true\n", include_str!("../../scenario.toml"));
    let scenario = Scenario::from_toml_str(&text).expect("valid");
    assert!(scenario.events.stream && scenario.events.duplicate && !scenario.events.reorder && !scenario.events.drop);
}
