"""The algorithms, one module each: a Config dataclass with the published defaults and
make(config, spec) -> Agent."""

from __future__ import annotations

from types import ModuleType

from gcrl.agents import crl, gcbc, gciql, gcivl, gcwae, hbc, hiql, qrl, ris, saw
from gcrl.errors import GcrlError

AGENTS: dict[str, ModuleType] = {"gcbc": gcbc, "gcivl": gcivl, "hiql": hiql, "saw": saw, "hbc": hbc, "ris": ris, "gcwae": gcwae, "gciql": gciql, "qrl": qrl, "crl": crl}


def get(name: str) -> ModuleType:
    try:
        return AGENTS[name.lower()]
    except KeyError:
        raise GcrlError(f"Unknown agent '{name}'. Choose one of: {', '.join(AGENTS)}.") from None
