//! The doctor's checklist: each check's outcome and the fix for a failure, how the list is
//! printed (with ✓/✗, or plain-text markers where the terminal cannot show them) and the exit
//! status it means. Pure: the checks that make the calls are beside it.

/// How one check came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It works.
    Pass,
    /// Something needed is missing or wrong; `fix` is what to do, in one sentence.
    Fail { fix: String },
    /// Not needed with these settings, or not checkable without sending something: said, not counted.
    Note,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `credentials`.
    pub name: &'static str,
    /// What was found (never a secret).
    pub detail: String,
    pub outcome: Outcome,
}

impl Check {
    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, detail: detail.into(), outcome: Outcome::Pass }
    }

    pub fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { name, detail: detail.into(), outcome: Outcome::Fail { fix: fix.into() } }
    }

    pub fn note(name: &'static str, detail: impl Into<String>) -> Self {
        Self { name, detail: detail.into(), outcome: Outcome::Note }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Fail { .. })
    }
}

/// The exit status when everything needed passes.
pub const EXIT_OK: u8 = 0;
/// The exit status when anything needed is missing.
pub const EXIT_MISSING: u8 = 1;
/// The exit status when the settings themselves cannot be loaded.
pub const EXIT_SETTINGS: u8 = 2;

/// The exit status `checks` mean.
pub fn exit_status(checks: &[Check]) -> u8 {
    if checks.iter().any(Check::failed) { EXIT_MISSING } else { EXIT_OK }
}

/// The markers of the three outcomes: symbols, or words for a terminal without UTF-8.
fn markers(plain: bool) -> [&'static str; 3] {
    if plain { ["[ok]  ", "[FAIL]", "[--]  "] } else { ["✓", "✗", "·"] }
}

/// Whether the environment's locale (`LC_ALL`, `LC_CTYPE`, `LANG`, the first one set) is UTF-8.
pub fn utf8_locale(vars: impl Fn(&str) -> Option<String>) -> bool {
    ["LC_ALL", "LC_CTYPE", "LANG"].iter().find_map(|name| vars(name).filter(|value| !value.is_empty())).is_some_and(
        |value| {
            let value = value.to_ascii_lowercase();
            value.contains("utf-8") || value.contains("utf8")
        },
    )
}

/// The checklist as printed: one line per check, each failure's fix indented under it, and a
/// last line that sums it up.
pub fn render(checks: &[Check], plain: bool) -> String {
    let [pass, fail, note] = markers(plain);
    let width = checks.iter().map(|check| check.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for check in checks {
        let marker = match check.outcome {
            Outcome::Pass => pass,
            Outcome::Fail { .. } => fail,
            Outcome::Note => note,
        };
        out.push_str(&format!("{marker} {:width$}  {}\n", check.name, check.detail));
        if let Outcome::Fail { fix } = &check.outcome {
            out.push_str(&format!("    fix: {fix}\n"));
        }
    }
    let failures = checks.iter().filter(|check| check.failed()).count();
    if failures == 0 {
        out.push_str("everything dingmeet needs with these settings is in place\n");
    } else {
        let s = if failures == 1 { "" } else { "s" };
        out.push_str(&format!("{failures} check{s} failed: see the fixes above\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Check> {
        vec![
            Check::pass("credentials", "an access token was issued"),
            Check::fail("conference read", "refused", "grant it"),
            Check::note("events", "not set"),
        ]
    }

    #[test]
    fn each_check_is_one_line_with_its_marker_and_a_failure_has_its_fix_under_it() {
        let text = render(&sample(), false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "✓ credentials      an access token was issued");
        assert_eq!(lines[1], "✗ conference read  refused");
        assert_eq!(lines[2], "    fix: grant it");
        assert_eq!(lines[3], "· events           not set");
        assert_eq!(lines[4], "1 check failed: see the fixes above");
    }

    #[test]
    fn the_plain_markers_are_ascii() {
        let text = render(&sample(), true);
        assert!(text.is_ascii(), "{text}");
        assert!(text.contains("[FAIL] conference read"), "{text}");
        assert!(text.contains("[ok]   credentials"), "{text}");
    }

    #[test]
    fn the_exit_status_is_1_on_any_failure_and_notes_do_not_count() {
        assert_eq!(exit_status(&sample()), EXIT_MISSING);
        let fine = [Check::pass("a", ""), Check::note("b", "")];
        assert_eq!(exit_status(&fine), EXIT_OK);
        assert!(render(&fine, false).ends_with("in place\n"));
    }

    #[test]
    fn the_locale_decides_the_markers() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        assert!(utf8_locale(env(&[("LANG", "zh_CN.UTF-8")])));
        assert!(utf8_locale(env(&[("LC_ALL", "C.utf8"), ("LANG", "C")])));
        assert!(!utf8_locale(env(&[("LC_ALL", "C"), ("LANG", "en_US.UTF-8")])));
        assert!(!utf8_locale(env(&[])));
    }
}
