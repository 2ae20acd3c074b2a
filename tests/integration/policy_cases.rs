//! Data-driven policy tests: each folder under `tests/policy-cases/` holds a
//! `policy.toml` and an `expected.txt` with `ok` or text the error contains.

use crate::support::root;

#[test]
fn every_policy_case_is_accepted_or_refused_as_expected() {
    let dir = root().join("tests/policy-cases");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let case = entry.unwrap().path();
        let policy = std::fs::read_to_string(case.join("policy.toml")).unwrap();
        let expected = std::fs::read_to_string(case.join("expected.txt")).unwrap();
        let expected = expected.trim();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        match kiroku::policy::Policy::parse(&policy) {
            Ok(_) => assert_eq!(
                expected, "ok",
                "{name}: accepted, expected an error containing {expected:?}"
            ),
            Err(e) => assert!(
                expected != "ok" && e.to_string().contains(expected),
                "{name}: got {e:?}, expected {expected:?}"
            ),
        }
        cases += 1;
    }
    assert!(cases >= 10, "only {cases} cases found in {}", dir.display());
}

#[test]
fn the_shipped_policies_are_valid() {
    for entry in std::fs::read_dir(root().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        // The roles and the demo's retention rules are tenant data, not policies.
        if ["roles.toml", "retention-rules.toml"]
            .contains(&path.file_name().unwrap().to_str().unwrap())
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        kiroku::policy::Policy::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}
