"""Dollar cost of a call, from genai-prices. Unknown models cost 0 and are flagged."""

from __future__ import annotations

import functools

from apo_core.models.base import FREE_PROVIDERS, UNPRICED_PROVIDER
from apo_core.types import Usage


@functools.lru_cache(maxsize=256)
def price_per_token(model_id: str, provider: str) -> tuple[float, float] | None:
    """(input, output) dollars per token for a model, or None when genai-prices has no price."""
    if provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    if provider == UNPRICED_PROVIDER:
        return None
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    million = 1_000_000
    try:
        prov = provider or None
        inp = calc_price(
            PriceUsage(input_tokens=million, output_tokens=0), model_id, provider_id=prov
        )
        out = calc_price(
            PriceUsage(input_tokens=0, output_tokens=million), model_id, provider_id=prov
        )
    except (LookupError, ValueError):
        return None
    return float(inp.total_price) / million, float(out.total_price) / million


def cost_of(usage: Usage, model_id: str, provider: str) -> tuple[float, bool]:
    """Return (dollars, price_known) for ``usage`` on the given model."""
    prices = price_per_token(model_id, provider)
    if prices is None:
        return 0.0, False
    return usage.input_tokens * prices[0] + usage.output_tokens * prices[1], True
