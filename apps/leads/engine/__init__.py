"""The lender engine: the journey's calls to its lenders, from the claim to the stored answer.

Tasks (apps/leads/tasks.py) call `attempt.lender_prequalify_attempt` / `lender_poll_attempt` /
`lender_submit_attempt` and do what the returned `AttemptOutcome` says (retry after its
`countdown`, or stop). The same functions can be called directly, without Celery. An attempt:

1. claims the work under a row lock on the lead (`attempt.py`): nothing to do if the answer is
   already stored (a redelivered or retried task never stores a second one), if the lead no
   longer waits on this lender, or if another attempt is in flight; a lender whose circuit is
   open is not called at all (the journey fails at once: no consumer waits on a dead API);
   otherwise the lenders app opens the LenderCall row (in flight) before any HTTP is sent;
2. builds the frozen request from the lead (`requests.py`; consumer data decrypted here, never
   put in a task);
3. sends it through apps.lenders.calls, which completes the call's row and the circuit breaker
   and returns a typed answer or raises a typed failure;
4. stores the answer on the journey, or decides between a retry and failing the lead
   (`results.py`).

A `pending` decision is resolved by the lender's callback (`callbacks.py`) or by polling
(`lender_poll_attempt`, scheduled after each pending answer), and given up once the lender's
`pending_timeout_seconds` have passed. Compare mode asks many lenders at once (`compare.py`);
each decision is stored as it arrives. The periodic sweep (`sweep.py`) re-enqueues work whose
task was lost: the database, not the broker, says what is due.

The retry budget is counted in the database (technical failures since the consumer's last
"try again"), not in the broker's message, so a task re-enqueued by the sweep cannot reset it.
"""
