//! Scenario files: a timeline of cloud-side steps played on a running broker, on tokio time
//! (so a test can play one on a paused clock). `mock-broker --scenario FILE.toml` plays one;
//! worked examples are in `examples/scenarios/`.
//!
//! ```toml
//! description = "the platform restarts: every device is kicked, the next 3 CONNECTs get 0x03"
//!
//! [[step]]
//! at_ms = 2000                  # from the broker's start
//! arm = { fault = "kick", name = "restart" }
//!
//! [[step]]
//! at_ms = 2000
//! arm = { fault = "refuse_connect", code = 3, times = 3 }
//!
//! [[step]]
//! at_ms = 2010
//! clear = "restart"             # a name this scenario armed, or "all"
//! ```
//!
//! Each `[[step]]` has `at_ms` and exactly one action:
//! - `arm = { ... }`: one fault, in [`crate::fault::spec`]'s form; `name` lets a later step
//!   clear it (a name armed again refers to the latest);
//! - `clear = "all"` or `clear = "NAME"`;
//! - `publish = { product_key, device_name, topic, payload, qos }` (the control endpoint's `POST /publish` body);
//! - `kick = "pk/dn"` (S-KICK, the notice included) or `close = "pk/dn"` (no notice).
//!
//! Steps are listed in time order. Loading refuses unknown fields, a fault
//! [`FaultSpec::check`] refuses, a bad downlink and a clear of a name no earlier step arms,
//! each error naming the step (counting from 1). Playing never stops at a failed step (a kick
//! of an offline device, say): each step's outcome is reported.

use crate::broker::Broker;
use crate::cloud::PublishRequest;
use crate::fault::spec::DeviceRef;
use crate::fault::{FaultId, FaultSpec};
use crate::hub::DeviceKey;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A loaded scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub description: Option<String>,
    pub steps: Vec<Step>,
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// When, from the broker's start.
    pub at: Duration,
    pub action: Action,
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Arm(FaultSpec),
    /// Clears every fault (`None`) or the one last armed with this name.
    Clear(Option<String>),
    Publish(PublishRequest),
    Kick(DeviceKey),
    Close(DeviceKey),
}

/// What became of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepReport {
    /// The step's number, from 1.
    pub step: usize,
    pub at: Duration,
    /// What it did, or why it could not.
    pub outcome: Result<String, String>,
}

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("scenario is not valid: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("step {step}: {message}")]
    Step { step: usize, message: String },
}

/// The file as written: steps are read one by one, so that errors can name them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    step: Vec<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    at_ms: u64,
    arm: Option<FaultSpec>,
    clear: Option<String>,
    publish: Option<PublishRequest>,
    kick: Option<DeviceRef>,
    close: Option<DeviceRef>,
}

impl StepFile {
    /// The one action of the step.
    fn action(self) -> Result<Action, String> {
        let mut actions = Vec::new();
        let mut names = Vec::new();
        let mut take = |name: &'static str, action: Option<Action>| {
            if let Some(action) = action {
                names.push(name);
                actions.push(action);
            }
        };
        take("arm", self.arm.map(Action::Arm));
        take("clear", self.clear.map(|c| Action::Clear(Some(c).filter(|c| c != "all"))));
        take("publish", self.publish.map(Action::Publish));
        take("kick", self.kick.map(|d| Action::Kick(d.0)));
        take("close", self.close.map(|d| Action::Close(d.0)));
        match actions.len() {
            1 => Ok(actions.remove(0)),
            0 => Err("no action: expected one of arm, clear, publish, kick, close".into()),
            _ => Err(format!("expected one action, found {}", names.join(" and "))),
        }
    }
}

impl Scenario {
    /// Reads a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
        Scenario::from_toml_str(&text)
    }

    /// Parses and checks a scenario.
    pub fn from_toml_str(text: &str) -> Result<Scenario, ScenarioError> {
        let file: ScenarioFile = toml::from_str(text)?;
        let mut steps = Vec::with_capacity(file.step.len());
        let mut armed_names = Vec::new();
        for (index, value) in file.step.into_iter().enumerate() {
            let number = index + 1;
            let fail = |message: String| ScenarioError::Step { step: number, message };
            let step: StepFile = value.try_into().map_err(|e: toml::de::Error| fail(e.message().to_string()))?;
            let at = Duration::from_millis(step.at_ms);
            if let Some(previous) = steps.last().map(|s: &Step| s.at)
                && at < previous
            {
                return Err(fail(format!(
                    "at_ms {} is before the {} of step {index}; list steps in time order",
                    step.at_ms,
                    previous.as_millis()
                )));
            }
            let action = step.action().map_err(fail)?;
            match &action {
                Action::Arm(spec) => {
                    spec.check().map_err(|e| fail(format!("arm: {e}")))?;
                    armed_names.extend(spec.name.clone());
                }
                Action::Clear(Some(name)) if !armed_names.contains(name) => {
                    return Err(fail(format!(
                        "clear {name:?}: no earlier step arms a fault named {name:?} (or write clear = \"all\")"
                    )));
                }
                Action::Publish(request) => {
                    request.check().map_err(|e| fail(format!("publish: {e}")))?;
                }
                Action::Clear(_) | Action::Kick(_) | Action::Close(_) => {}
            }
            steps.push(Step { at, action });
        }
        Ok(Scenario { description: file.description, steps })
    }

    /// Plays every step at its time from the broker's start, telling `report` what each did.
    pub async fn play(&self, broker: &Broker, mut report: impl FnMut(StepReport)) {
        let start = broker.started_at();
        let mut named: HashMap<String, FaultId> = HashMap::new();
        for (index, step) in self.steps.iter().enumerate() {
            tokio::time::sleep_until(start + step.at).await;
            let outcome = perform(broker, &step.action, &mut named).await;
            report(StepReport { step: index + 1, at: step.at, outcome });
        }
    }
}

async fn perform(broker: &Broker, action: &Action, named: &mut HashMap<String, FaultId>) -> Result<String, String> {
    let device = |key: &DeviceKey| format!("{}/{}", key.product_key, key.device_name);
    match action {
        Action::Arm(spec) => {
            let id = broker.arm(spec.clone()).await.map_err(|e| format!("arm: {e}"))?;
            if let Some(name) = &spec.name {
                named.insert(name.clone(), id);
            }
            Ok(format!("armed fault {id} ({})", spec.label()))
        }
        Action::Clear(None) => Ok(format!("cleared {} faults", broker.clear_faults())),
        Action::Clear(Some(name)) => {
            let id = named[name];
            match broker.clear(id) {
                true => Ok(format!("cleared fault {id} ({name})")),
                false => Ok(format!("fault {id} ({name}) was no longer armed")),
            }
        }
        Action::Publish(request) => {
            let delivery = request.send(broker).await.map_err(|e| format!("publish: {e}"))?;
            Ok(format!("published on {}: {delivery}", request.topic))
        }
        Action::Kick(key) => match broker.kick(&key.product_key, &key.device_name).await {
            Ok(conn) => Ok(format!("kicked {} (connection {conn})", device(key))),
            Err(e) => Err(format!("kick: {e}")),
        },
        Action::Close(key) => match broker.close_device(&key.product_key, &key.device_name).await {
            Ok(conn) => Ok(format!("closed {} (connection {conn})", device(key))),
            Err(e) => Err(format!("close: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::Fault;

    fn error(text: &str) -> String {
        Scenario::from_toml_str(text).unwrap_err().to_string()
    }

    #[test]
    fn steps_read_in_order_with_their_actions() {
        let scenario = Scenario::from_toml_str(
            "description = \"d\"\n\
             [[step]]\nat_ms = 5\narm = { fault = \"refuse_connect\", code = 3, times = 2, name = \"storm\" }\n\
             [[step]]\nat_ms = 5\nkick = \"pk/device\"\n\
             [[step]]\nat_ms = 9\nclear = \"storm\"\n\
             [[step]]\nat_ms = 9\nclear = \"all\"\n\
             [[step]]\nat_ms = 10\npublish = { product_key = \"pk\", device_name = \"device\", topic = \"/t\", payload = \"hi\", qos = 1 }\n\
             [[step]]\nat_ms = 11\nclose = \"pk/device\"\n",
        )
        .unwrap();
        assert_eq!(scenario.description.as_deref(), Some("d"));
        let actions: Vec<_> = scenario.steps.iter().map(|s| (s.at.as_millis(), s.action.clone())).collect();
        assert_eq!(
            actions[..4],
            [
                (5, Action::Arm(FaultSpec::new(Fault::RefuseConnect { code: 3 }).times(2).named("storm"))),
                (5, Action::Kick(DeviceKey::new("pk", "device"))),
                (9, Action::Clear(Some("storm".into()))),
                (9, Action::Clear(None)),
            ]
        );
        assert!(matches!(&actions[4].1, Action::Publish(p) if p.payload == "hi" && p.qos == 1));
        assert_eq!(actions[5].1, Action::Close(DeviceKey::new("pk", "device")));
    }

    #[test]
    fn errors_name_the_step_and_what_was_wrong() {
        let cases = [
            ("[[step]]\nat_ms = 1\nkick = \"pk/device\"\ncolour = 1\n", "step 1: unknown field `colour`"),
            ("[[step]]\nat_ms = 1\n", "step 1: no action"),
            (
                "[[step]]\nat_ms = 1\nkick = \"pk/device\"\nclose = \"pk/device\"\n",
                "step 1: expected one action, found kick and close",
            ),
            ("[[step]]\nat_ms = 1\nkick = \"pk\"\n", "step 1: device \"pk\": expected productKey/deviceName"),
            (
                "[[step]]\nat_ms = 1\nclear = \"all\"\n[[step]]\nat_ms = 1\nclear = \"x\"\n",
                "step 2: clear \"x\": no earlier step arms",
            ),
            (
                "[[step]]\nat_ms = 9\nclear = \"all\"\n[[step]]\nat_ms = 3\nclear = \"all\"\n",
                "step 2: at_ms 3 is before the 9 of step 1",
            ),
            (
                "[[step]]\nat_ms = 1\narm = { fault = \"refuse_connect\", code = 9 }\n",
                "step 1: arm: refuse_connect: CONNACK code 9",
            ),
            ("[[step]]\nat_ms = 1\narm = { fault = \"explode\" }\n", "step 1: unknown variant `explode`"),
            (
                "[[step]]\nat_ms = 1\npublish = { product_key = \"pk\", device_name = \"d\", topic = \"/t\", qos = 2 }\n",
                "step 1: publish: qos 2",
            ),
            ("[[step]]\nat = 1\n", "step 1: unknown field `at`"),
            ("steps = []\n", "unknown field `steps`"),
        ];
        for (text, expected) in cases {
            let message = error(text);
            assert!(message.contains(expected), "{text}\n  gave: {message}\n  expected: {expected}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_played_timeline_keeps_its_times_and_reports_every_step() {
        let broker = Broker::builder().device("pk", "device", "secret").start().await.unwrap();
        let scenario = Scenario::from_toml_str(
            "[[step]]\nat_ms = 1500\narm = { fault = \"refuse_connect\", code = 3, name = \"storm\" }\n\
             [[step]]\nat_ms = 2500\nkick = \"pk/device\"\n\
             [[step]]\nat_ms = 4000\nclear = \"storm\"\n",
        )
        .unwrap();
        let mut reports = Vec::new();
        scenario.play(&broker, |r| reports.push(r)).await;
        assert_eq!(broker.started_at().elapsed(), Duration::from_millis(4000));
        let outcomes: Vec<_> = reports.iter().map(|r| (r.step, r.at.as_millis(), r.outcome.clone())).collect();
        assert_eq!(
            outcomes,
            [
                (1, 1500, Ok("armed fault 1 (storm)".into())),
                (2, 2500, Err("kick: device pk/device is not online".into())),
                (3, 4000, Ok("cleared fault 1 (storm)".into())),
            ]
        );
        assert!(broker.faults().is_empty());
    }
}
