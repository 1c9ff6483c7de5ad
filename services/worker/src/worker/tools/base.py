"""A tool: a name, a description, an argument model and a function; and the toolbox.

``Toolbox.call`` runs one ``tool_use`` block and always answers with a ``tool_result``
block; a refused or failed call is an error result the model can read and react to.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from common import metrics
from common.ports import ContentBlock, ToolSpec
from worker.context import RunContext, ToolError


class Args(BaseModel):
    """Base of tool argument models: unknown arguments are an error the model sees."""

    model_config = ConfigDict(extra="forbid")


@functools.cache
def _schema(model: type[BaseModel]) -> str:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    return json.dumps(schema)


def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The tool's JSON schema; generated once per model (it is static), copied per use."""
    loaded: dict[str, Any] = json.loads(_schema(model))
    return loaded


@dataclass(frozen=True, slots=True)
class Tool:
    name: str
    description: str
    args: type[Args]
    run: Callable[[RunContext, Any], Awaitable[str]]

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(
            name=self.name, description=self.description, input_schema=input_schema(self.args)
        )


def _result(use: ContentBlock, text: str, *, error: bool = False) -> ContentBlock:
    return ContentBlock(type="tool_result", tool_use_id=use.id, content=text, is_error=error)


class Toolbox:
    def __init__(self, tools: list[Tool]) -> None:
        self.tools = {t.name: t for t in tools}
        self._specs: dict[tuple[str, ...], list[ToolSpec]] = {}

    def specs(self, allowed: list[str]) -> list[ToolSpec]:
        """The specs of the allowed tools, built once per allow-list (they never change;
        providers read them into their own request bodies and never write to them)."""
        key = tuple(allowed)
        if key not in self._specs:
            self._specs[key] = [self.tools[n].spec for n in allowed if n in self.tools]
        return list(self._specs[key])

    async def call(self, ctx: RunContext, use: ContentBlock) -> ContentBlock:
        name = use.name or ""
        tool = self.tools.get(name)
        if tool is None or name not in ctx.agent.tools:
            metrics.TOOL_CALLS.labels(name if tool else "unknown", "refused").inc()
            return _result(use, f"there is no tool {name!r} available to you", error=True)
        try:
            args = tool.args.model_validate(use.input or {})
            text = await tool.run(ctx, args)
        except ValidationError as exc:
            metrics.TOOL_CALLS.labels(name, "invalid").inc()
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()
            )
            return _result(use, f"invalid arguments: {problems}", error=True)
        except ToolError as exc:
            metrics.TOOL_CALLS.labels(name, "error").inc()
            return _result(use, str(exc), error=True)
        metrics.TOOL_CALLS.labels(name, "ok").inc()
        return _result(use, text)
