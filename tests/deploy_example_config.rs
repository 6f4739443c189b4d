//! `deploy/dingmeet.example.toml` loads, and every value it states is the built-in default, so
//! the example and the defaults (what loads from nothing) cannot drift apart.

use std::path::Path;

use dingmeet::config::Settings;

#[test]
fn the_example_config_loads_and_states_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/dingmeet.example.toml");
    let loaded = Settings::load_from(Some(&path), Vec::new()).expect("deploy/dingmeet.example.toml loads");
    let defaults = Settings::load_from(None, Vec::new()).expect("the defaults load");
    assert_eq!(format!("{loaded:?}"), format!("{defaults:?}"));
}
