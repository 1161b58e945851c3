//! The client rules that depend on the identity, as properties: the client must sign
//! correctly (C-SIGN, the `sign` case), send the username (C-USERNAME, `username`) and a
//! well-formed clientId (C-CID, `client-id`) for *any* valid identity, so each of these cases
//! runs the client once per identity that proptest generates within the ID- rules, and a
//! failure shrinks to the smallest identity that still fails. The three cases share the
//! generator, the shrinker and the seeds file, and each judges only its own rules: an
//! identity is judged by the case whose rule refused it.
//!
//! - Identities: the first is platform-shaped (an 11-character productKey, a 32-character
//!   secret); its run is the one a passing case reports and snapshots. Then productKey 1-20
//!   letters and digits (ID-PK), deviceName 4-32 of letters, digits and `- _ @ . :` (ID-DN),
//!   secret 1-64 letters and digits (ID-SECRET), clientId 1-64 characters without `|`
//!   (A-CID-LEN), some of them outside ASCII (vector U1 signs a UTF-8 clientId), none starting
//!   with `-` or a space (a client configured by flags would read such a value as an option,
//!   or lose the space). The draws are the same on every run, so the three cases try the same
//!   identities.
//! - Regression seeds: the smallest failing identity is saved, per client, case and sign
//!   method, in a JSON file; the next run of that client tries the saved identities first, and
//!   a seed that still fails decides the case without a new search.
//! - Shrinking: proptest's own shrinker removes one character per step, and every step here
//!   is a real client run, so a failure is shrunk greedily instead: field by field, the
//!   shortest valid value, then either half of the value, kept whenever the client still
//!   fails, within `SignProperty::shrink_runs` runs (default 32). A client that fails every
//!   identity ends on `clientId 0, deviceName 0000, productKey 0, secret 0`.
//! - An identity whose CONNECT another of these cases' rules refused (a `sign` run refused at
//!   A-USERNAME: that identity is a C-USERNAME failure, which `username` finds, shrinks and
//!   keeps) is not judged here: the search goes on, and `identities_not_judged` lists it; so
//!   does an identity the client exits on with code 77 (unsupported).
//! - A first identity that could not be judged (the client never connected, another rule
//!   refused it, the kit failed) ends the search: its result is the case's, and
//!   [`Explored::unreached`] says how far the client got. A client that exits before
//!   connecting on a later identity fails: it cannot take that identity at all.
//! - Cost: every identity is a real client run; search and shrink runs skip the settle time
//!   after a refusal, and the smallest failing identity runs once more with it, so the report
//!   quotes the client's own words.

use super::CaseContext;
use super::connect::run_once;
use super::methods::{self, Reach};
use crate::catalogue::{CASES, Check};
use crate::contract::Identity;
use crate::outcome::{CaseResult, CaseVerdict};
use mock_broker::Rule;
use mock_broker::auth::SignMethod;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How the identity cases (`sign`, `username`, `client-id`) explore identities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignProperty {
    /// Generated identities per case and sign method (`--sign-cases`).
    pub cases: u32,
    /// The most extra runs spent shrinking a failure.
    pub shrink_runs: u32,
    /// The client's regression seeds file; `None` keeps no seeds.
    pub seeds: Option<PathBuf>,
}

impl Default for SignProperty {
    fn default() -> Self {
        SignProperty { cases: 16, shrink_runs: 32, seeds: None }
    }
}

/// The seeds file of `client` under `dir`: `dir/<client>.json`, the name made safe as the
/// snapshot folders' names are.
pub fn seeds_file(dir: &Path, client: &str) -> PathBuf {
    dir.join(format!("{}.json", crate::snapshot::file_safe(client)))
}

/// One saved failing identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Seed {
    /// The case it failed (seeds saved before there were several are `sign`'s).
    #[serde(default = "Seed::sign_case")]
    case: String,
    sign_method: String,
    product_key: String,
    device_name: String,
    secret: String,
    client_id: String,
}

impl Seed {
    fn sign_case() -> String {
        "sign".to_owned()
    }

    fn new(case: &str, method: SignMethod, identity: &Identity) -> Seed {
        Seed {
            case: case.to_owned(),
            sign_method: method.name().to_owned(),
            product_key: identity.product_key.clone(),
            device_name: identity.device_name.clone(),
            secret: identity.secret.clone(),
            client_id: identity.client_id.clone(),
        }
    }

    fn identity(&self) -> Identity {
        Identity {
            product_key: self.product_key.clone(),
            device_name: self.device_name.clone(),
            secret: self.secret.clone(),
            client_id: self.client_id.clone(),
        }
    }
}

fn load_seeds(path: &Path) -> Result<Vec<Seed>, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| format!("regression seeds {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("reading regression seeds {}: {e}", path.display())),
    }
}

/// Serialises the read-modify-write of seeds files: the rows of one run (a transport each)
/// share their client's file.
static SEEDS_LOCK: Mutex<()> = Mutex::new(());

fn save_seed(path: &Path, seed: Seed) -> Result<(), String> {
    let _guard = SEEDS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let mut seeds = load_seeds(path)?;
    if !seeds.contains(&seed) {
        seeds.push(seed);
    }
    let text = serde_json::to_string_pretty(&seeds).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    // Written whole, then renamed, so that a reader never sees half a file.
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text + "\n")
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("writing regression seeds {}: {e}", path.display()))
}

/// Identities within the ID- rules; see the module docs.
pub fn identities() -> impl Strategy<Value = Identity> {
    let client_id = prop_oneof![
        3 => "[0-9A-Za-z._&][0-9A-Za-z._&-]{0,63}",
        1 => "[!-,.-{}~\u{4e00}-\u{4e20}\u{e9}][ -{}~\u{4e00}-\u{4e20}\u{e9}]{0,63}",
    ];
    ("[0-9A-Za-z]{1,20}", "[0-9A-Za-z_@.:-]{4,32}", "[0-9A-Za-z]{1,64}", client_id).prop_map(
        |(product_key, device_name, secret, client_id)| Identity { product_key, device_name, secret, client_id },
    )
}

/// What a search concluded.
pub struct Explored {
    /// The case's result for the method.
    pub result: CaseResult,
    /// `Some` when the search stopped at its first identity without judging it: how far that
    /// run got (the client exited before connecting, another rule refused it...).
    pub unreached: Option<Reach>,
}

/// Why an identity is left to another case or not judged at all, if it is: its CONNECT was
/// refused at a rule of another identity case, or the client said it is unsupported.
fn not_judged_here(reach: &Reach) -> Option<String> {
    match reach {
        Reach::Refused(rule) => CASES
            .iter()
            .find(|c| {
                matches!(c.check, Check::Sign | Check::Identities) && c.platform_rules.iter().any(|r| r.id() == rule)
            })
            .map(|c| format!("refused at {rule}, which the case {} judges", c.id)),
        Reach::Exited(Some(methods::UNSUPPORTED_EXIT)) => {
            Some(format!("unsupported: the client exited with code {}", methods::UNSUPPORTED_EXIT))
        }
        _ => None,
    }
}

/// Runs the property of `case` (judging `rules`) for one sign method: the client's seeds
/// first, then generated identities, shrinking a failure and saving it as a seed.
pub async fn explore(ctx: &CaseContext, case: &str, rules: &[Rule], method: SignMethod) -> Explored {
    let property = &ctx.sign_property;
    let seeds = match property.seeds.as_deref().map(load_seeds).transpose() {
        Ok(seeds) => seeds.unwrap_or_default(),
        Err(message) => return Explored { result: CaseResult::error(message), unreached: None },
    };
    let quick = quick(ctx);
    let mut tried = 0u32;
    for seed in seeds.iter().filter(|s| s.case == case && s.sign_method == method.name()) {
        tried += 1;
        if run_once(&quick, seed.identity(), method, rules).await.verdict == CaseVerdict::Fail {
            let result = run_once(ctx, seed.identity(), method, rules).await;
            let result = described(result, tried, "a saved regression seed still fails", &seed.identity());
            return Explored { result, unreached: None };
        }
    }
    let mut shown: Option<CaseResult> = None;
    let mut unreached = None;
    let mut not_judged = Vec::new();
    for identity in candidates(property.cases) {
        tried += 1;
        let result = run_once(&quick, identity.clone(), method, rules).await;
        let reach = methods::reach(&result);
        let judged = matches!(reach, Reach::Connected | Reach::Refused(_));
        match result.verdict {
            CaseVerdict::Pass | CaseVerdict::Warn => {
                shown.get_or_insert(result);
                continue;
            }
            CaseVerdict::Fail if judged || shown.is_some() => {}
            CaseVerdict::NotRun if shown.is_some() => match not_judged_here(&reach) {
                Some(why) => {
                    not_judged.push(json!({
                        "product_key": identity.product_key,
                        "device_name": identity.device_name,
                        "client_id": identity.client_id,
                        "why": why,
                    }));
                    continue;
                }
                None => {
                    shown = Some(result);
                    break;
                }
            },
            // Nothing judged yet, or the kit failed: more identities would not judge either.
            _ => {
                if shown.is_none() {
                    unreached = Some(reach);
                }
                shown = Some(result);
                break;
            }
        }
        let (smallest, runs) = shrink(&quick, method, rules, identity, property.shrink_runs).await;
        tried += runs;
        // The deciding run again, with the full settle time, so the report quotes the client.
        let mut result = run_once(ctx, smallest.clone(), method, rules).await;
        if result.verdict != CaseVerdict::Fail {
            result.explanation = format!("failed, then passed on the same identity: flaky ({})", result.explanation);
            result.verdict = CaseVerdict::Fail;
        }
        let mut result = described(result, tried, "the smallest failing identity after shrinking", &smallest);
        if let Some(path) = &property.seeds {
            match save_seed(path, Seed::new(case, method, &smallest)) {
                Ok(()) => {
                    result.measured.insert("regression_seed".to_owned(), json!(path.display().to_string()));
                }
                Err(message) => result.explanation.push_str(&format!(" (the seed was not saved: {message})")),
            }
        }
        return Explored { result, unreached: None };
    }
    let mut result = shown.unwrap_or_else(|| CaseResult::error("no identity was tried (--sign-cases 0)"));
    result.measured.insert("identities_tried".to_owned(), json!(tried));
    if !not_judged.is_empty() {
        result.explanation = format!(
            "{} ({} of {tried} identities not judged here: see identities_not_judged)",
            result.explanation,
            not_judged.len()
        );
        result.measured.insert("identities_not_judged".to_owned(), json!(not_judged));
    }
    Explored { result, unreached }
}

/// Notes on a failing result which identity failed (its secret only by length).
fn described(mut result: CaseResult, tried: u32, how: &str, identity: &Identity) -> CaseResult {
    result.measured.insert("identities_tried".to_owned(), json!(tried));
    result.measured.insert(
        "failing_identity".to_owned(),
        json!({
            "found": how,
            "product_key": identity.product_key,
            "device_name": identity.device_name,
            "client_id": identity.client_id,
            "secret_chars": identity.secret.chars().count(),
        }),
    );
    result.explanation = format!(
        "{} (productKey {:?}, deviceName {:?}, clientId {:?}: {how})",
        result.explanation, identity.product_key, identity.device_name, identity.client_id
    );
    result
}

/// The context of the search runs: a refused CONNECT needs no settle time to be judged.
fn quick(ctx: &CaseContext) -> CaseContext {
    let mut quick = ctx.clone();
    quick.timing.settle = SEARCH_SETTLE;
    quick
}

/// The settle time of search and shrink runs.
const SEARCH_SETTLE: Duration = Duration::from_millis(100);

/// The identities of a search, `count` in all and the same on every run of the suite: first a
/// platform-shaped one (its run is the one a passing case shows), then draws from
/// [`identities`].
fn candidates(count: u32) -> Vec<Identity> {
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    let strategy = identities();
    let drawn = (1..count).filter_map(|_| strategy.new_tree(&mut runner).ok().map(|tree| tree.current()));
    std::iter::once(Identity::generate(PLATFORM_SHAPED_SEED)).take(count as usize).chain(drawn).collect()
}

/// The seed of the first, platform-shaped identity of every search.
const PLATFORM_SHAPED_SEED: u64 = 0x5EED;

/// The identity's four fields, with the shortest each may be and the filler that keeps a
/// shortened value valid.
const FIELDS: [(Field, usize, char); 4] =
    [(Field::ClientId, 1, '0'), (Field::DeviceName, 4, '0'), (Field::ProductKey, 1, '0'), (Field::Secret, 1, '0')];

#[derive(Clone, Copy)]
enum Field {
    ClientId,
    DeviceName,
    ProductKey,
    Secret,
}

impl Field {
    fn of(self, identity: &mut Identity) -> &mut String {
        match self {
            Field::ClientId => &mut identity.client_id,
            Field::DeviceName => &mut identity.device_name,
            Field::ProductKey => &mut identity.product_key,
            Field::Secret => &mut identity.secret,
        }
    }
}

/// Simpler variants of one field: the shortest filler, then each half (padded to stay valid).
fn simpler(value: &str, min: usize, filler: char) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    let pad = |part: &[char]| -> String {
        let mut s: String = part.iter().collect();
        while s.chars().count() < min {
            s.push(filler);
        }
        s
    };
    let half = chars.len() / 2;
    [pad(&[]), pad(&chars[..half]), pad(&chars[half..])]
        .into_iter()
        .filter(|candidate| candidate != value && candidate.chars().count() < chars.len().max(min + 1))
        .collect()
}

/// Shrinks a failing identity greedily, field by field, keeping each simpler variant that
/// still fails, within `budget` client runs. Returns the smallest failing identity found and
/// the runs spent.
async fn shrink(
    ctx: &CaseContext,
    method: SignMethod,
    rules: &[Rule],
    mut failing: Identity,
    budget: u32,
) -> (Identity, u32) {
    let mut runs = 0;
    for (field, min, filler) in FIELDS {
        'field: loop {
            for candidate in simpler(field.of(&mut failing.clone()), min, filler) {
                if runs == budget {
                    return (failing, runs);
                }
                let mut trial = failing.clone();
                *field.of(&mut trial) = candidate;
                runs += 1;
                if run_once(ctx, trial.clone(), method, rules).await.verdict == CaseVerdict::Fail {
                    failing = trial;
                    continue 'field;
                }
            }
            break;
        }
    }
    (failing, runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identities_keep_the_id_rules_and_the_client_id_rules() {
        let mut runner = TestRunner::deterministic();
        for _ in 0..500 {
            let identity = identities().new_tree(&mut runner).unwrap().current();
            assert!(identity.is_valid(), "{identity:?}");
            let chars = identity.client_id.chars().count();
            assert!((1..=64).contains(&chars) && !identity.client_id.contains('|'), "{identity:?}");
            assert!(!identity.client_id.starts_with(['-', ' ']), "{identity:?}");
        }
    }

    #[test]
    fn an_identity_refused_at_another_identity_case_rule_is_left_to_that_case() {
        assert_eq!(
            not_judged_here(&Reach::Refused("A-USERNAME".into())).unwrap(),
            "refused at A-USERNAME, which the case username judges"
        );
        assert_eq!(
            not_judged_here(&Reach::Refused("A-CID-LEN".into())).unwrap(),
            "refused at A-CID-LEN, which the case client-id judges"
        );
        assert!(not_judged_here(&Reach::Refused("A-SIGN-CONTENT".into())).unwrap().ends_with("the case sign judges"));
        assert_eq!(not_judged_here(&Reach::Refused("A-SECUREMODE".into())), None, "not an identity rule");
        assert!(not_judged_here(&Reach::Exited(Some(77))).unwrap().starts_with("unsupported"));
        assert_eq!(not_judged_here(&Reach::Exited(Some(2))), None);
    }

    #[test]
    fn seeds_round_trip_once_per_identity() {
        let dir = tempfile::tempdir().unwrap();
        let path = seeds_file(dir.path(), "my client/v2");
        assert_eq!(path.file_name().unwrap(), "my_client_v2.json");
        assert_eq!(load_seeds(&path).unwrap(), vec![]);
        let identity = Identity::generate(7);
        save_seed(&path, Seed::new("sign", SignMethod::HmacSha1, &identity)).unwrap();
        save_seed(&path, Seed::new("sign", SignMethod::HmacSha1, &identity)).unwrap();
        save_seed(&path, Seed::new("username", SignMethod::HmacSha1, &identity)).unwrap();
        let seeds = load_seeds(&path).unwrap();
        assert_eq!(seeds.len(), 2, "one per case");
        assert_eq!(seeds[0].identity(), identity);
        let old = r#"[{"sign_method": "hmacmd5", "product_key": "p", "device_name": "dddd", "secret": "s", "client_id": "c"}]"#;
        std::fs::write(&path, old).unwrap();
        assert_eq!(load_seeds(&path).unwrap()[0].case, "sign", "seeds saved before cases were named are sign's");
        std::fs::write(&path, "not json").unwrap();
        assert!(load_seeds(&path).unwrap_err().contains("regression seeds"));
    }
}
