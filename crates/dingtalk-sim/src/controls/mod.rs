//! HTTP controls over the simulator for clients that are not Rust (the `dingtalk-sim` binary
//! serves them on its second port): they do what Rust tests do through [`crate::SimState`]. Not
//! DingTalk's endpoints; those are in [`crate::endpoints`].

pub mod events;
