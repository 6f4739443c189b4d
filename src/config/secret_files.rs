//! Secrets from files: `<secret>_file` (`DINGMEET_<SECRET>_FILE`) names a file whose content,
//! without its trailing newline, is the secret, as systemd credentials, Kubernetes and Docker
//! secrets mount them. Resolved in the merged table, before the settings are typed.

use std::path::Path;

use super::{ConfigError, ENV_PREFIX};

/// The settings that hold secrets, each of which may be read from a file instead.
pub(super) const SECRET_SETTINGS: [&str; 6] =
    ["client_secret", "callback_secrets", "event_token", "event_aes_key", "suite_ticket", "redis_url"];

/// The suffix of a secret setting's file name setting.
const FILE_SUFFIX: &str = "_file";

/// Replaces every `<secret>_file` in `table` with `<secret>` read through `read`. A secret set
/// both ways is an error naming both; so is a file that cannot be read (naming the file, never
/// what it holds). A blank value counts as unset, as it does everywhere else.
pub(super) fn resolve(
    table: &mut toml::Table,
    read: impl Fn(&Path) -> std::io::Result<String>,
) -> Result<(), ConfigError> {
    for setting in SECRET_SETTINGS {
        let file_setting = format!("{setting}{FILE_SUFFIX}");
        let Some(value) = table.remove(&file_setting) else { continue };
        let toml::Value::String(path) = value else {
            return Err(ConfigError::Invalid(format!("{}: expected a file path", env_name(&file_setting))));
        };
        if path.trim().is_empty() {
            continue;
        }
        if table.get(setting).is_some_and(|value| !is_blank(value)) {
            return Err(ConfigError::Invalid(format!(
                "{} and {} are both set: set the secret or the file that holds it, not both",
                env_name(setting),
                env_name(&file_setting)
            )));
        }
        let text = read(Path::new(&path)).map_err(|error| ConfigError::SecretFile {
            setting: env_name(&file_setting),
            path: path.clone(),
            error,
        })?;
        table.insert(setting.to_owned(), toml::Value::String(text.trim_end_matches(['\n', '\r']).to_owned()));
    }
    Ok(())
}

/// A value left empty (as an environment file's `DINGMEET_CLIENT_SECRET=` placeholder).
fn is_blank(value: &toml::Value) -> bool {
    match value {
        toml::Value::String(text) => text.trim().is_empty(),
        toml::Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// `client_secret` → `DINGMEET_CLIENT_SECRET` (the file's key is the same name in lower case).
fn env_name(setting: &str) -> String {
    format!("{ENV_PREFIX}{}", setting.to_ascii_uppercase())
}
