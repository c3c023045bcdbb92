"""Models: any OpenAI-compatible server through OpenAIChatModel, one model per role.

The "server" here is FakeOpenAIServer, a real OpenAI-compatible HTTP server on 127.0.0.1
that echoes the last user message: the same code talks to vLLM, Ollama or llama.cpp server.
"""

from apo_core import Engine, OpenAIChatModel, ScriptedChatModel
from apo_core.cli.modelspec import model_from_spec
from apo_core.testing import FakeOpenAIServer

with FakeOpenAIServer(model="qwen2.5-7b-instruct") as server:
    # --8<-- [start:main]
    # vLLM:              base_url="http://127.0.0.1:8000/v1"
    # Ollama:            base_url="http://127.0.0.1:11434/v1"
    # llama.cpp server:  base_url="http://127.0.0.1:8080/v1"
    local_server = OpenAIChatModel("qwen2.5-7b-instruct", base_url=server.base_url)

    engine = Engine(
        local_server,  # the default model of every role
        roles={"judge": ScriptedChatModel(default="A")},  # any role on its own model
        max_concurrency=8,
    )
    with engine:
        reply = engine.complete_sync("Say hello.", role="task", max_tokens=20)
        print(reply.text, reply.model_id)
        print(engine.usage().unpriced_models)  # self-hosted models have no price
    # --8<-- [end:main]

    # The same models as CLI / task-file specs:
    model = model_from_spec(f"openai:qwen2.5-7b-instruct@{server.base_url}")
    assert isinstance(model, OpenAIChatModel) and model.base_url == server.base_url

assert reply.text == "Say hello." and engine.usage().unpriced_models == ["qwen2.5-7b-instruct"]
