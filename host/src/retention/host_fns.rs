//! The `kiroku:subjects/retention` functions. Every call spends host-call
//! fuel (`enter`); a purge batch is bounded by `MAX_PURGE_BATCH`, and the
//! survey is a walk of the in-memory cohort facts.

use super::bindings::{Host, Progress, RuleCount, Survey as Preview};
use super::purge::{self, MAX_PURGE_BATCH, Purger};
use super::rules::Rules;
use crate::audit::Outcome;
use crate::policy::Interface;
use crate::runtime::bindings::types::Error as WitError;
use crate::runtime::invocation::{Invocation, Scope};
use crate::store::draft::DraftError;

type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

fn rules(scope: &Scope) -> Result<Rules, DraftError> {
    super::tenant_rules(scope.draft.store())?.map_err(|e| {
        DraftError::Invalid(format!("the tenant's retention rules are not valid: {e}"))
    })
}

fn preview(scope: &mut Scope) -> Result<Preview, DraftError> {
    let rules = rules(scope)?;
    let survey = purge::survey(scope.draft.store(), &rules, scope.request.today)?;
    let mut counts: Vec<RuleCount> = rules
        .0
        .iter()
        .map(|r| RuleCount {
            rule: r.name.clone(),
            persons: 0,
            doses: 0,
            tickets: 0,
        })
        .collect();
    for c in &survey.candidates {
        let r = &mut counts[c.rule];
        r.persons += 1;
        r.doses += u64::from(c.doses);
        r.tickets += u64::from(c.tickets);
    }
    Ok(Preview {
        persons: counts.iter().map(|c| c.persons).sum(),
        doses: counts.iter().map(|c| c.doses).sum(),
        tickets: counts.iter().map(|c| c.tickets).sum(),
        rules: counts,
        held: survey.held,
    })
}

fn purge_next(scope: &mut Scope, limit: u32) -> Result<Progress, DraftError> {
    if !(1..=MAX_PURGE_BATCH).contains(&limit) {
        return Err(DraftError::Invalid(format!(
            "limit is 1 to {MAX_PURGE_BATCH}"
        )));
    }
    let rules = rules(scope)?;
    let store = scope.draft.store().clone();
    let survey = purge::survey(&store, &rules, scope.request.today)?;
    let batch = &survey.candidates[..survey.candidates.len().min(limit as usize)];
    let who = Purger {
        event: scope.event("retention.purge", None, Vec::new(), Outcome::Ok),
        now_ms: scope.request.now_ms,
        request_id: &scope.request.request_id,
    };
    let entropy = scope.draft.entropy().clone();
    let purged = purge::purge_batch(&store, &entropy, &rules, batch, &who)?;
    Ok(Progress {
        purged,
        remaining: (survey.candidates.len() as u64).saturating_sub(purged),
    })
}

impl Host for Invocation {
    fn preview(&mut self) -> HostResult<Preview> {
        let scope = self.enter()?;
        let result = preview(scope);
        scope.finish("retention.preview", None, Interface::Retention, &[], result)
    }

    fn purge_next(&mut self, limit: u32) -> HostResult<Progress> {
        let scope = self.enter()?;
        let result = purge_next(scope, limit);
        scope.finish(
            "retention.purge-next",
            None,
            Interface::Retention,
            &[],
            result,
        )
    }

    fn set_hold(&mut self, person: u64, reason: String) -> HostResult<()> {
        self.hold(person, true, &reason)
    }

    fn lift_hold(&mut self, person: u64, reason: String) -> HostResult<()> {
        self.hold(person, false, &reason)
    }
}

impl Invocation {
    fn hold(&mut self, person: u64, set: bool, reason: &str) -> HostResult<()> {
        let action = if set {
            "retention.set-hold"
        } else {
            "retention.lift-hold"
        };
        let scope = self.enter()?;
        let serial = match scope.person(action, Interface::Retention, person) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
        scope.served([reason]);
        let (by, now) = (scope.request.who.name.clone(), scope.request.now_ms);
        let result = super::holds::change(&mut scope.draft, serial, set, reason, &by, now);
        scope.finish(action, Some(serial), Interface::Retention, &[], result)
    }
}
