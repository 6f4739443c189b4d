//! The meeting events' HTTP controls (what the binary serves for clients that are not Rust).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::events::{CODE, CONFERENCE, sim};
use crate::http;

#[tokio::test]
async fn the_controls_join_leave_switch_and_subscribe() {
    let sim = sim().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = dingtalk_sim::controls::events::routes().with_state(Arc::clone(sim.state()));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serves") });
    let post = |path: &str, body: Value| {
        let request = http().post(format!("{base}{path}")).json(&body);
        async move {
            let response = request.send().await.expect("answers");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("JSON"))
        }
    };

    let join = json!({"code": CODE, "conferenceId": CONFERENCE, "action": "join", "count": 3});
    assert_eq!(post("/events/members", join).await, (200, json!({"activeNum": 3})));
    let leave = json!({"code": CODE, "conferenceId": CONFERENCE, "action": "leave"});
    assert_eq!(post("/events/members", leave).await, (200, json!({"activeNum": 2})));
    let unknown = json!({"code": "000", "conferenceId": CONFERENCE, "action": "join"});
    assert_eq!(post("/events/members", unknown).await.0, 400);

    let (status, switches) = post("/events/switches", json!({"duplicate": true})).await;
    assert_eq!((status, switches["duplicate"].as_bool(), switches["drop"].as_bool()), (200, Some(true), Some(false)));
    assert!(sim.events().switches().duplicate);

    let bad_key = json!({"stream": true, "http": {"url": "http://127.0.0.1:9/", "token": "t", "aesKey": "short"}});
    assert_eq!(post("/events/delivery", bad_key).await.0, 400);
    assert_eq!(post("/events/delivery", json!({"http": null})).await.0, 200);
    assert_eq!(post("/events/check-url", json!({})).await.0, 400, "no subscription");

    let listed: Value = http().get(format!("{base}/events")).send().await.expect("answers").json().await.expect("JSON");
    assert_eq!(listed["emitted"].as_array().map(Vec::len), Some(4));
    assert_eq!(listed["emitted"][3]["data"]["changeScene"], "user_leave");
}
