//! The simulator and the bot agree on the wire without sharing code: the bot's parser takes
//! every robot message the simulator builds, and the bot's signer and the simulator's give the
//! same signature.

use dingmeet::dingtalk::message::CallbackBody;
use dingmeet::dingtalk::sign::sign;
use dingtalk_sim::{Scenario, Simulator};
use proptest::prelude::*;

#[tokio::test]
async fn the_bot_reads_every_message_the_simulator_builds() {
    let sim = Simulator::start(Scenario::builtin().expect("valid")).await.expect("starts");
    for message in [
        sim.message("/meeting 123456789"),
        sim.message("/meeting 123456789").single(),
        sim.message("/meeting 123456789").rich_text(),
        sim.message("/meeting 123456789").harmony_os(),
    ] {
        let callback = message.build();
        let parsed = CallbackBody::parse(&callback.body).expect("the bot's parser takes it").into_inbound();
        assert_eq!(parsed.id, callback.msg_id);
    }
}

proptest! {
    #[test]
    fn both_signers_give_the_same_signature(timestamp in "[0-9]{1,16}", secret in "\\PC{1,64}") {
        prop_assert_eq!(sign(&timestamp, &secret), dingtalk_sim::sign::sign(&timestamp, &secret));
    }
}
