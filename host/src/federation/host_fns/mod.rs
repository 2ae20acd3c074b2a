//! The querying host's side of `kiroku:federation` (move-in query). The
//! host confirms the My Number is a reachable resident's of this tenant,
//! sends only (this municipality, the previous one, the number, the
//! purpose), audits the exchange with its outcome and counts (never the
//! number), and holds a found answer sealed until `take-up` stores its
//! doses or it expires. Every call spends host-call fuel; the wait for the
//! peer is bounded by the plugin's deadline.
mod exchange;
mod held;
mod query;

use std::time::{Duration, Instant};

use super::bindings::Answer;
use super::client::DEFAULT_TIMEOUT;
use crate::policy::Interface;
use crate::runtime::bindings::types::Error as WitError;
use crate::runtime::invocation::{Invocation, Scope};
use crate::store::draft::DraftError;

type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

/// The time left for a peer to answer: the plugin's deadline, at most the
/// client's timeout.
fn wait_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_millis(50))
        .min(DEFAULT_TIMEOUT)
}

impl super::bindings::Host for Invocation {
    fn query(
        &mut self,
        previous: String,
        my_number: String,
        purpose: String,
        basis: String,
    ) -> HostResult<Answer> {
        let wait = wait_left(self.deadline);
        let scope = self.enter()?;
        scope.served([my_number.as_str()]);
        let result = query::query(scope, &previous, &my_number, &purpose, &basis, wait);
        settle(scope, "federation.query", result)
    }

    fn query_many(
        &mut self,
        queries: Vec<crate::federation::bindings::QueryItem>,
        purpose: String,
        basis: String,
    ) -> HostResult<Vec<Result<Answer, WitError>>> {
        let wait = wait_left(self.deadline)
            .max(Duration::from_secs(30))
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let scope = self.enter()?;
        scope.served(queries.iter().map(|q| q.my_number.as_str()));
        let result = query::query_many(scope, queries, &purpose, &basis, wait);
        let result = match result {
            Ok((n, answers)) => {
                let mut out = Vec::with_capacity(answers.len());
                for a in answers {
                    out.push(match a {
                        Ok(a) => Ok(a),
                        Err(e) => match scope.finish(
                            "federation.query",
                            None,
                            Interface::Federation,
                            &[],
                            Err::<(), _>(e),
                        )? {
                            Err(wit) => Err(wit),
                            Ok(()) => unreachable!("an error stays an error"),
                        },
                    });
                }
                Ok((n, out))
            }
            Err(e) => Err(e),
        };
        settle(scope, "federation.query", result)
    }

    fn collect(&mut self, query_id: String) -> HostResult<Answer> {
        let wait = wait_left(self.deadline);
        let scope = self.enter()?;
        let result = held::collect(scope, &query_id, wait);
        settle(scope, "federation.collect", result)
    }

    fn take_up(&mut self, query_id: String) -> HostResult<Vec<u64>> {
        let scope = self.enter()?;
        let result = held::take_up(scope, &query_id);
        settle(scope, "federation.take-up", result)
    }
}

/// Success was audited where it happened (with its outcome and counts);
/// an error is audited by `finish`.
fn settle<T>(
    scope: &mut Scope,
    action: &str,
    result: Result<(u64, T), DraftError>,
) -> HostResult<T> {
    match result {
        Ok((_, value)) => Ok(Ok(value)),
        Err(e) => scope.finish(action, None, Interface::Federation, &[], Err(e)),
    }
}
