"""LlamaIndex: optimize a response synthesizer's prompt, alone or inside its query engine."""

# --8<-- [start:world]
import json
import re

from apo_core import Engine, ScriptedChatModel, ScriptedRequest


def task_model(request: ScriptedRequest) -> str:
    """A stand-in LLM: it quotes the context only when the prompt tells it to."""
    text = request.last_user
    if "quote" not in text.lower():
        return "I am not sure."
    return next(line for line in text.splitlines() if line.startswith("The "))


def optimizer_model(request: ScriptedRequest) -> str:
    """A stand-in optimizer: one gradient (a reason), one edit, one paraphrase."""
    quoted = re.search(r"<<<PROMPT\n(.*?)\nPROMPT>>>", request.last_user, re.S)
    prompt = quoted.group(1) if quoted else ""
    if "Diagnose the prompt" in request.last_user:
        return json.dumps({"reasons": ["It does not say to quote the context."]})
    if "improved prompt" in request.last_user:
        return json.dumps({"prompts": ["Quote the context.\n" + prompt]})
    return json.dumps({"prompts": [prompt]})


engine = Engine(
    roles={
        "task": ScriptedChatModel(default=task_model),
        "optimizer": ScriptedChatModel(default=optimizer_model),
    }
)
# --8<-- [end:world]

# --8<-- [start:main]
from llama_index.core import get_response_synthesizer

from apo_core import Contains
from llama_index_apo import APOPromptOptimizer, EngineLLM, find_prompt

synthesizer = get_response_synthesizer(llm=EngineLLM(engine), response_mode="compact")
rows = [  # no retrieval: each example brings its own context
    {"query": "Colour of the flag?", "contexts": ["The flag is green."], "label": "green"},
    {"query": "Colour of the door?", "contexts": ["The door is red."], "label": "red"},
    {"query": "Colour of the boat?", "contexts": ["The boat is blue."], "label": "blue"},
    {"query": "Colour of the roof?", "contexts": ["The roof is grey."], "label": "grey"},
]
optimizer = APOPromptOptimizer(
    synthesizer, "text_qa_template", rounds=1, beam_size=2, minibatch_size=2, n_gradients=1
)
result = optimizer.optimize(train=rows[:2], validation=rows[2:], metric=Contains())
print(result.apo.best_prompt)
assert find_prompt(synthesizer, "text_qa_template").text == result.apo.best_prompt

# The same synthesizer inside a query engine: the engine answers, the synthesizer's prompt
# changes (also in the query engine, which holds this very synthesizer):
#   APOPromptOptimizer(synthesizer, "text_qa_template", runner=query_engine)
# --8<-- [end:main]

assert "Quote" in result.apo.best_prompt
