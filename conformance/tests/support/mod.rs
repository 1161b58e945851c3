//! What the suite's integration tests share: the test clients under `tests/clients/` and a
//! run configuration with short timings.
#![allow(dead_code)] // each test binary uses its own subset of these helpers

use conformance::cases::Timing;
use conformance::cases::sign_property::SignProperty;
use conformance::child::ClientCommand;
use conformance::profile::ClientProfile;
use conformance::runner::{RunConfig, SuiteProfile};
use mock_broker::Transport;
use std::path::PathBuf;
use std::time::Duration;

/// A test client under `tests/clients/`.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients").join(name)
}

/// The Python test client with `args`.
pub fn python_client(args: &[&str]) -> ClientCommand {
    let mut all = vec![script("mqtt_client.py").display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    ClientCommand { program: "python3".into(), args: all }
}

/// A run of `client` over `transports`, only the cases `only` (all when empty), with short
/// timings.
pub fn config(client: ClientCommand, transports: &[Transport], only: &[&str]) -> RunConfig {
    RunConfig {
        client,
        client_name: "test-client".into(),
        profile: ClientProfile::claiming_everything("test-client"),
        transports: transports.to_vec(),
        sign_methods: vec![],
        only: only.iter().map(|s| s.to_string()).collect(),
        skip: vec![],
        suite: SuiteProfile::Full,
        jobs: 4,
        snapshots: None,
        // A few identities suffice here: the property itself is tested in sign_property.
        sign_property: SignProperty { cases: 4, ..SignProperty::default() },
        reveal_signatures: false,
        timing: Timing {
            connect: Duration::from_secs(10),
            settle: Duration::from_secs(1),
            grace: Duration::from_secs(1),
            timer_budget: Duration::from_secs(20),
        },
    }
}
