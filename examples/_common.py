"""What the three example agents share: the client from the environment, and the one
place a language model is asked (when one is configured) or a rule decides (when not)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from carelog.client import Client


def connect() -> Client:
    """A client for ``CARELOG_URL`` (default http://127.0.0.1:8000) with ``CARELOG_API_KEY``."""
    url = os.environ.get("CARELOG_URL", "http://127.0.0.1:8000")
    key = os.environ.get("CARELOG_API_KEY")
    if not key:
        raise SystemExit("set CARELOG_API_KEY (carelog keys create ... prints one)")
    return Client(url, key)


@dataclass(frozen=True, slots=True)
class Decision:
    """What an agent decided and why; ``model`` is None when its rules decided."""

    action: str
    rationale: str
    model: str | None = None


def decide(question: str, facts: dict[str, Any], rules: Callable[[], Decision]) -> Decision:
    """Ask the OpenAI-compatible endpoint at ``CARELOG_LLM_URL`` (model ``CARELOG_LLM_MODEL``,
    key ``CARELOG_LLM_KEY``) for ``{"action": ..., "rationale": ...}``; without one, or when
    its answer is not that, the agent's rules decide (and say so)."""
    base = os.environ.get("CARELOG_LLM_URL")
    if not base:
        return rules()
    model = os.environ.get("CARELOG_LLM_MODEL", "gpt-4o-mini")
    prompt = (
        f"{question}\nAnswer with one JSON object with keys action and rationale.\n"
        f"Facts: {json.dumps(facts, default=str)}"
    )
    headers = {"Authorization": f"Bearer {os.environ.get('CARELOG_LLM_KEY', '')}"}
    try:
        response = httpx.post(
            f"{base.rstrip('/')}/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": prompt}],
                  "response_format": {"type": "json_object"}},
            headers=headers, timeout=30,
        )  # fmt: skip
        response.raise_for_status()
        answer = json.loads(response.json()["choices"][0]["message"]["content"])
        return Decision(str(answer["action"]), str(answer["rationale"]), model)
    except (httpx.HTTPError, KeyError, ValueError, TypeError):
        fallback = rules()
        return Decision(fallback.action, f"{fallback.rationale} (the model did not answer)")


def record_decision(
    carelog: Client,
    patient_id: str,
    agent: str,
    decision: Decision,
    relied_on: list[int],
    context_as_of: Any = None,
) -> int:
    """The decision as an ``agent_decision`` event citing the events it rests on; its id."""
    payload: dict[str, Any] = {
        "agent": agent,
        "action": decision.action,
        "rationale": decision.rationale,
        "relied_on": sorted(set(relied_on)),
    }
    if decision.model is not None:
        payload["model"] = decision.model
    if context_as_of is not None:
        payload["context_as_of"] = context_as_of.isoformat()
    event = carelog.record_event(
        {"patient_id": patient_id, "event_type": "agent_decision", "payload": payload,
         "source": agent}
    )  # fmt: skip
    return event.id
