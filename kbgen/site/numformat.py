"""Numbers for Chinese readers: formatting bound values, and reading numbers typed in prose.

``format_value(value, fmt)`` renders a snippet's exported value for ``{{x.py:key|fmt}}``:

- no format: ints with thousands separators (``124,439,808``), floats to four significant
  digits (``6.289``, ``0.5834``, ``1,235``; ``sci`` beyond 1e15 or below 1e-4), strings as is;
- a Python format spec: ``,`` ``.2f`` ``.1%`` ``.3g`` ``,.0f`` ... (``format(value, spec)``);
- ``万`` / ``亿``: the value in units of 1e4 / 1e8, three significant digits (``1.24 亿``);
  ``.2亿`` fixes the decimals;
- ``x``: a ratio (``3.2×``; one decimal below 10, none above); ``.2x`` fixes the decimals;
- ``sci``: scientific notation with a superscript exponent (``3.14×10²³``); ``.1sci``.

``find_numbers(text)`` reads numbers as authors type them (``124,439,808``, ``1.24 亿``,
``58%``, ``3.2×``, ``2.6e11``, ``3.14×10²³``) so a hand-typed copy of a computed value can be
found (:func:`typed_matches`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

Scalar = int | float | str | bool

#: Chinese units: name -> multiplier.
UNITS = {"万": 1e4, "亿": 1e8}
_SPECIAL = re.compile(r"^(?:\.(\d{1,2}))?(万|亿|x|sci)$")
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_FROM_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


class FormatError(ValueError):
    """A format that does not apply to the value (the message says which formats exist)."""


FORMAT_HELP = "use a Python format spec such as ',' '.2f' '.1%' '.3g', or 万, 亿, x, sci (optionally '.2亿')"


def format_value(value: Scalar, fmt: str | None = None) -> str:
    """``value`` as text for a Chinese page (see the module docstring for ``fmt``)."""
    if fmt is None or fmt == "":
        return default_format(value)
    special = _SPECIAL.match(fmt)
    if special:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FormatError(f"format {fmt!r} needs a number, got {type(value).__name__} {value!r}")
        decimals = int(special.group(1)) if special.group(1) is not None else None
        kind = special.group(2)
        if kind in UNITS:
            return _in_unit(float(value), UNITS[kind], kind, decimals)
        if kind == "x":
            return _ratio(float(value), decimals)
        return sci(float(value), 2 if decimals is None else decimals)
    try:
        return format(value, fmt)
    except (ValueError, TypeError) as e:
        raise FormatError(f"format {fmt!r} does not apply to {value!r} ({e}); {FORMAT_HELP}") from None


def default_format(value: Scalar) -> str:
    """Ints with thousands separators, floats to four significant digits, the rest as text."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _float(value)
    return str(value)


def _trim(s: str) -> str:
    """Drop trailing zeros after a decimal point (``1.200`` -> ``1.2``, ``3.0`` -> ``3``)."""
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _significant(v: float, digits: int) -> str:
    """``v`` rounded to ``digits`` significant digits, thousands separators, zeros trimmed."""
    if v == 0:
        return "0"
    exp = math.floor(math.log10(abs(v)))
    decimals = max(0, digits - 1 - exp)
    return _trim(f"{v:,.{decimals}f}")


def _float(v: float) -> str:
    if not math.isfinite(v):
        return "∞" if v > 0 else "-∞" if v < 0 else "NaN"
    if v != 0 and (abs(v) >= 1e15 or abs(v) < 1e-4):
        return sci(v, 2)
    return _significant(v, 4)


def _in_unit(v: float, unit: float, name: str, decimals: int | None) -> str:
    q = v / unit
    text = _significant(q, 3) if decimals is None else f"{q:,.{decimals}f}"
    return f"{text} {name}"


def _ratio(v: float, decimals: int | None) -> str:
    if decimals is None:
        decimals = 1 if abs(v) < 10 else 0
    return f"{v:,.{decimals}f}×"


def sci(v: float, decimals: int = 2) -> str:
    """``3.14×10²³`` (mantissa with ``decimals`` decimals; no ``×10⁰``)."""
    if v == 0 or not math.isfinite(v):
        return _float(v) if not math.isfinite(v) else "0"
    exp = math.floor(math.log10(abs(v)))
    mantissa = v / 10**exp
    if round(abs(mantissa), decimals) >= 10:  # 9.999 -> 10.00: carry into the exponent
        exp += 1
        mantissa = v / 10**exp
    text = f"{mantissa:.{decimals}f}"
    return text if exp == 0 else f"{text}×10{str(exp).translate(_SUPERSCRIPT)}"


# -- numbers typed in prose ------------------------------------------------------------------

#: A number as authors type it: optional sign, thousands separators, decimals, then either a
#: scientific exponent (``e11``, ``×10²³``, ``×10^23``) or a unit (万 亿 % × x 倍 K M B).
NUMBER = re.compile(
    r"(?<![\w.\-])(?P<sign>-)?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<dec>\d+))?"
    r"(?:(?:[eE](?P<e>[-+]?\d+))|(?:[ \t]*[×x][ \t]*10(?:\^|<sup>)?(?P<sup>[⁻-]?[0-9⁰¹²³⁴⁵⁶⁷⁸⁹]+)(?:</sup>)?))?"
    r"(?:[ \t]?(?P<unit>万亿|万|亿|%|％|×(?![ \t]*\d)|倍|[xX](?![A-Za-z0-9])|[kKMB](?![A-Za-z])))?"
    r"(?![\w.]\d)"
)

_MULTIPLIER = {"万": 1e4, "亿": 1e8, "万亿": 1e12, "%": 1e-2, "％": 1e-2, "k": 1e3, "K": 1e3, "M": 1e6, "B": 1e9}


@dataclass(frozen=True)
class NumberMention:
    """A number in prose: ``text`` at ``start:end``; its value is ``mantissa * multiplier``
    (``decimals`` digits after the point as typed, ``digits`` significant digits)."""

    start: int
    end: int
    text: str
    mantissa: float
    decimals: int
    multiplier: float
    digits: int
    unit: str  # "" | 万 | 亿 | % | × | 倍 | K | M | B | "e" (scientific)

    @property
    def value(self) -> float:
        return self.mantissa * self.multiplier


def find_numbers(text: str) -> list[NumberMention]:
    """Every number typed in ``text`` (offsets index ``text``)."""
    out = []
    for m in NUMBER.finditer(text):
        int_part = m.group("int").replace(",", "")
        dec = m.group("dec") or ""
        mantissa = float(f"{int_part}.{dec}" if dec else int_part)
        if m.group("sign"):
            mantissa = -mantissa
        unit = m.group("unit") or ""
        multiplier = _MULTIPLIER.get(unit, 1.0)
        exp = m.group("e") or m.group("sup")
        if exp is not None:
            multiplier *= 10.0 ** int(exp.translate(_FROM_SUPERSCRIPT).replace("⁻", "-"))
            unit = unit or "e"
        if unit in ("x", "X"):
            unit = "×"
        if unit == "k":
            unit = "K"
        digits = len((int_part + dec).lstrip("0")) or 1
        out.append(NumberMention(m.start(), m.end(), m.group(0), mantissa, len(dec), multiplier, digits, unit))
    return out


def is_notable(n: NumberMention) -> bool:
    """Distinctive enough to be compared with computed values (few digits match by chance).

    Plain integers count from 1000 up; decimals need three significant digits or two decimals
    (``6.29``, ``0.58``; not ``2.0`` or ``5.1``); numbers with a unit need two significant digits.
    """
    if n.unit:
        return n.digits >= 2
    if n.decimals == 0:
        return abs(n.mantissa) >= 1000
    return n.digits >= 3 or n.decimals >= 2


def is_distinctive(value: Scalar) -> bool:
    """A computed value worth looking for in prose: a finite number that is not a small whole
    number (0, 1.0, 2, 16, 60: counts and settings that prose writes for its own reasons)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return False
    return not (float(value).is_integer() and abs(value) < 1000)


def typed_matches(n: NumberMention, value: Scalar) -> bool:
    """True when ``n`` is ``value`` written by hand: equal at the precision and unit it was typed."""
    if not is_distinctive(value) or isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if n.mantissa == 0:
        return False  # "0" never identifies a value
    # "58%" is 0.58 or a value exported in percent (58.3); other units have one meaning.
    multipliers = (n.multiplier, n.multiplier * 100) if n.unit in ("%", "％") else (n.multiplier,)
    for multiplier in multipliers:
        rounded = round(float(value) / multiplier, n.decimals)
        if math.isclose(rounded, n.mantissa, rel_tol=1e-9, abs_tol=10.0 ** -(n.decimals + 6)):
            return True
    return False
