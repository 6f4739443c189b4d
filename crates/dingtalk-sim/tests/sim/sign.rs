//! The simulator's signer against the known answers the bot's own signer is checked with
//! (`src/dingtalk/sign.rs`): the protocol reference's example and a third-party app's.

use dingtalk_sim::sign::sign;

#[test]
fn matches_the_known_answer_from_the_protocol_reference() {
    assert_eq!(sign("1577262236757", "this is secret"), "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM=");
}

#[test]
fn matches_the_isv_known_answer() {
    assert_eq!(sign("1700000000000", "isv-client-secret"), "4vNkd7CdxChie85fzz07z7FhS64D77S410EX1FmAQAY=");
}

#[test]
fn signs_the_timestamp_text_as_given() {
    assert_ne!(sign("1577262236757", "this is secret"), sign("01577262236757", "this is secret"));
    assert_ne!(sign("1577262236757", "this is secret"), sign("1577262236757", "this is secreT"));
}
