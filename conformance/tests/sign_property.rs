//! C-SIGN as a property, end to end: a client that signs right only while every field is
//! ASCII (it encodes the sign content as Latin-1, the bug vector U1 catches) passes a
//! platform-shaped identity, fails a generated one, is shrunk to the smallest failing
//! identity, and that identity is saved and tried first on the next run.

mod support;

use conformance::cases::sign_property::{SignProperty, seeds_file};
use conformance::outcome::CaseVerdict;
use conformance::runner;
use mock_broker::Transport;
use mock_broker::auth::SignMethod;
use support::{config, python_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_ascii_bug_is_found_shrunk_and_kept_as_a_regression_seed() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = seeds_file(dir.path(), "latin1-client");
    let mut run = config(python_client(&["--latin1-sign"]), &[Transport::Tcp], &["sign"]);
    run.sign_methods = vec![SignMethod::HmacSha1];
    run.profile.sign_methods = vec![SignMethod::HmacSha1];
    run.sign_property = SignProperty { cases: 16, shrink_runs: 32, seeds: Some(seeds.clone()) };

    let first = runner::run(&run, |_| {}).await.unwrap();
    let sign = first.iter().find(|r| r.case == "sign").unwrap();
    assert_eq!(sign.result.verdict, CaseVerdict::Fail, "{:#?}", sign.result);
    let failing = &sign.result.measured["failing_identity"];
    let client_id = failing["client_id"].as_str().unwrap();
    assert_eq!(client_id.chars().count(), 1, "shrunk to one character: {failing}");
    assert!(!client_id.is_ascii(), "the character that breaks Latin-1 signing stays: {failing}");
    assert_eq!(
        (failing["device_name"].as_str(), failing["product_key"].as_str()),
        (Some("0000"), Some("0")),
        "{failing}"
    );
    assert_eq!(failing["secret_chars"], 1, "{failing}");
    assert!(sign.result.explanation.contains("smallest failing identity"), "{}", sign.result.explanation);
    let saved = std::fs::read_to_string(&seeds).expect("the seed is saved");
    assert!(saved.contains(client_id), "{saved}");

    let again = runner::run(&run, |_| {}).await.unwrap();
    let sign = again.iter().find(|r| r.case == "sign").unwrap();
    assert_eq!(sign.result.verdict, CaseVerdict::Fail);
    assert_eq!(sign.result.measured["identities_tried"], 1, "the seed decides at once: {:#?}", sign.result.measured);
    assert!(sign.result.explanation.contains("saved regression seed"), "{}", sign.result.explanation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correct_client_passes_every_generated_identity() {
    let mut run = config(python_client(&[]), &[Transport::Ws], &["sign"]);
    run.sign_methods = vec![SignMethod::HmacSha256];
    run.profile.sign_methods = vec![SignMethod::HmacSha256];
    run.sign_property = SignProperty { cases: 16, ..SignProperty::default() };
    let rows = runner::run(&run, |_| {}).await.unwrap();
    let sign = rows.iter().find(|r| r.case == "sign").unwrap();
    assert_eq!(sign.result.verdict, CaseVerdict::Pass, "{:#?}", sign.result);
    assert_eq!(sign.result.measured["identities_tried"], 16);
}
