"""Cost and budgets: estimate calls before a run, cap spending, read usage per role."""

import json

from apo_core import (
    APO,
    APOConfig,
    Budget,
    BudgetExceeded,
    Dataset,
    Engine,
    ExactMatch,
    ScriptedChatModel,
    estimate_calls,
)

# Stand-ins priced like gpt-4o-mini (genai-prices knows its price), so dollars add up.
task = ScriptedChatModel(default="positive", model_id="gpt-4o-mini", provider="openai")
optimizer = ScriptedChatModel(
    default=json.dumps({"reasons": ["Too vague."], "prompts": ["Be precise. {text}"]}),
    model_id="gpt-4o-mini",
    provider="openai",
)

# --8<-- [start:estimate]
config = APOConfig(rounds=2, beam_size=2, minibatch_size=16, n_gradients=2)
estimate = estimate_calls(config, train_size=40, validation_size=20, test_size=20)
print(estimate.by_role, estimate.total)  # upper bounds per role
# --8<-- [end:estimate]

# --8<-- [start:budget]
engine = Engine(
    roles={"task": task, "optimizer": optimizer},
    budget=Budget(max_calls=60, max_tokens=50_000, max_dollars=0.05),  # hard caps
)
data = Dataset.from_records(
    [{"text": f"review {i}", "label": "positive" if i % 3 else "negative"} for i in range(40)]
)
splits = data.split(train=0.5, validation=0.25, test=0.25, seed=0)
apo = APO(engine, config)  # or APO(engine, rounds=2, beam_size=2, ...)
result = apo.optimize_sync(
    "{text}", train=splits.train, validation=splits.validation, metric=ExactMatch()
)
print(result.stopped_by)  # "budget": the run kept the best prompt found so far
for role, line in result.usage.by_role.items():
    print(role, line.calls, line.input_tokens, line.output_tokens, f"${line.cost_usd:.5f}")
print(result.usage.unpriced_models)  # models without a known price (counted as $0)

try:
    engine.complete_sync("one more call?", max_tokens=5)
except BudgetExceeded as exc:  # past the cap, calls are refused before they are sent
    print("refused:", exc)
# --8<-- [end:budget]

assert result.stopped_by == "budget" and result.usage.total.calls <= 60
assert result.usage.total.cost_usd > 0 and not result.usage.unpriced_models
