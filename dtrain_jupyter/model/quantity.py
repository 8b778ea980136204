"""Kubernetes resource quantities ("500m", "2", "4Gi", "1e3") parsed into exact decimals.

The grammar is the API machinery's (k8s.io/apimachinery `resource.ParseQuantity`):

    quantity  ::= sign? number suffix
    number    ::= digits | digits "." digits? | "." digits
    suffix    ::= binarySI | decimalSI | ("e" | "E") sign? digits
    binarySI  ::= Ki | Mi | Gi | Ti | Pi | Ei
    decimalSI ::= n | u | m | "" | k | M | G | T | P | E

YAML hands us `cpu: 1` as an int and `cpu: 0.5` as a float; both are quantities too, as they
are once the API server has read the JSON. Validation uses this module for cpu, memory and GPUs.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["parse_quantity", "is_gpu_resource", "MAX_QUANTITY"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
    "P": Decimal("1e15"), "E": Decimal("1e18"),
}
_NUMBER = r"(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_QUANTITY = re.compile(
    r"(?P<sign>[+-])?" + _NUMBER + r"(?:(?P<exp>[eE][+-]?[0-9]+)|(?P<suffix>[KMGTPE]i|[numkMGTPE])?)"
)
# The API server stores quantities in an int64 of the smallest unit; anything beyond this is
# refused there too ("quantities must match the regular expression" or overflow).
MAX_QUANTITY = Decimal(2**63 - 1)
# Longest text we try to read: real quantities are a handful of characters.
_MAX_LEN = 64


def parse_quantity(text: str | int | float) -> Decimal:
    """Parse one Kubernetes quantity into an exact Decimal in base units.

    Args:
        text: "500m", "2", "4Gi", "1e3", "+1.5"; an int or float as YAML produced it.

    Returns:
        The value in base units: "500m" -> Decimal("0.5"), "4Gi" -> Decimal(4294967296).

    Raises:
        ValueError: with a reason a person can act on ("'2x' is not a quantity: ...").
    """
    if isinstance(text, bool) or not isinstance(text, (str, int, float)):
        raise ValueError(f"{text!r} is not a quantity: write a number with an optional unit, like \"2\", \"500m\" or \"4Gi\"")
    if isinstance(text, int):
        value = Decimal(text)
        if abs(value) > MAX_QUANTITY:
            raise ValueError(f"{text} is too large for a quantity")
        return value
    if isinstance(text, float):
        if text != text or text in (float("inf"), float("-inf")):
            raise ValueError(f"{text!r} is not a quantity: it must be a finite number")
        text = repr(text)
    raw = text
    text = text.strip()
    if not text:
        raise ValueError("empty quantity: write a number with an optional unit, like \"2\", \"500m\" or \"4Gi\"")
    if len(text) > _MAX_LEN:
        raise ValueError(f"quantity {raw[:20]!r}... is too long ({len(text)} characters)")
    match = _QUANTITY.fullmatch(text)
    if match is None:
        raise ValueError(_explain(text))
    try:
        number = Decimal(match["number"])
        if match["exp"]:
            exponent = int(match["exp"][1:])
            if abs(exponent) > 100:
                raise ValueError(f"{text!r} is not a usable quantity: exponent {exponent} is out of range")
            value = number.scaleb(exponent)
        elif match["suffix"] in _BINARY:
            value = number * _BINARY[match["suffix"]]
        else:
            value = number * _DECIMAL[match["suffix"] or ""]
    except InvalidOperation as e:  # pragma: no cover - the regex admits only valid decimals
        raise ValueError(f"{text!r} is not a quantity") from e
    if match["sign"] == "-":
        value = -value
    if abs(value) > MAX_QUANTITY:
        raise ValueError(f"{text!r} is too large for a quantity")
    return value


def _explain(text: str) -> str:
    """Say what is wrong with a text that is not a quantity, in the user's terms."""
    lead = re.match(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", text)
    if lead is None:
        return (f"{text!r} is not a quantity: it must start with a number, like \"2\", \"500m\" "
                f"or \"4Gi\"")
    unit = text[lead.end():]
    return (f"{text!r} is not a quantity: unknown unit {unit!r}; use one of "
            f"Ki Mi Gi Ti Pi Ei (powers of 1024), n u m k M G T P E (powers of 1000), "
            f"or an exponent like e3")


def is_gpu_resource(name: str) -> bool:
    """Whether a resource name counts GPUs (`nvidia.com/gpu`, `amd.com/gpu`, `gpu.intel.com/i915`).

    The MPI operator uses the same test to decide that a launcher asks for GPUs.
    """
    return isinstance(name, str) and "gpu" in name.lower() and name not in ("cpu", "memory")
