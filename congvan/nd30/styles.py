"""Word's layering of formatting (docs/design.md §4.2): styles, document defaults, theme fonts and numbering
as ``congvan.nd30.formatting`` resolves them.

Run properties are resolved the way Word layers them: ``w:docDefaults`` → the paragraph's style
chain (``w:basedOn``, the default paragraph style when none is named) → the run's character style
chain → the run's own ``w:rPr``. Paragraph properties: ``w:pPrDefault`` → paragraph style chain →
the numbering level the paragraph (or its style) points to (``w:numPr`` → ``numbering.xml``) → the
paragraph's own ``w:pPr``. ``w:spacing`` and ``w:ind`` merge attribute by attribute.

Simplifications (documented, not hidden): toggle properties (b, i, caps) take the last explicit
value instead of XOR-ing across style levels, and table styles are not applied.

Styles and numbering identical in every letter made from one template are parsed once per process.
"""

from __future__ import annotations

from typing import Any

from congvan.nd30.model import NS, _Element, w
from congvan.nd30.package import PartTarget, parse_xml

_FALSE = {"0", "false", "off", "none"}


def to_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def toggle(el: _Element | None) -> bool | None:
    """A toggle element: None when absent, else its boolean value (no w:val means on)."""
    if el is None:
        return None
    val = el.get(w("val"))
    return val is None or val.lower() not in _FALSE


class Styles:
    def __init__(self, styles_root: _Element | None, theme_root: _Element | None) -> None:
        self.key = b""  # the digest of styles.xml and the theme it was read from
        self.by_id: dict[str, _Element] = {}
        self.default_para: str | None = None
        self.default_char: str | None = None
        self.rpr_default: _Element | None = None
        self.ppr_default: _Element | None = None
        self.theme_fonts: dict[str, str] = {}
        if styles_root is not None:
            for st in styles_root.iterfind("w:style", NS):
                sid = st.get(w("styleId"))
                if sid is None:
                    continue
                self.by_id[sid] = st
                if st.get(w("default")) in ("1", "true", "on"):
                    if st.get(w("type")) == "paragraph":
                        self.default_para = sid
                    elif st.get(w("type")) == "character":
                        self.default_char = sid
            self.rpr_default = styles_root.find("w:docDefaults/w:rPrDefault/w:rPr", NS)
            self.ppr_default = styles_root.find("w:docDefaults/w:pPrDefault/w:pPr", NS)
        if theme_root is not None:
            for kind in ("major", "minor"):
                for script, names in (("latin", ("HAnsi", "Ascii")), ("ea", ("EastAsia",)), ("cs", ("Bidi",))):
                    el = theme_root.find(f".//a:fontScheme/a:{kind}Font/a:{script}", NS)
                    face = el.get("typeface") if el is not None else None
                    if face:
                        for name in names:
                            self.theme_fonts[f"{kind}{name}"] = face

    def chain(self, style_id: str | None) -> list[_Element]:
        """The style and its ancestors, base first."""
        out: list[_Element] = []
        seen: set[str] = set()
        while style_id and style_id in self.by_id and style_id not in seen:
            seen.add(style_id)
            st = self.by_id[style_id]
            out.append(st)
            based = st.find("w:basedOn", NS)
            style_id = based.get(w("val")) if based is not None else None
        return list(reversed(out))


def merge_rpr(acc: dict[str, Any], rpr: _Element | None, theme: dict[str, str]) -> None:
    if rpr is None:
        return
    fonts = rpr.find("w:rFonts", NS)
    if fonts is not None:
        for slot, attr, key in (("ascii", "ascii", "font_ascii"), ("hAnsi", "hAnsi", "font_hansi"),
                                ("cs", "cs", "font_cs"), ("eastAsia", "eastAsia", "font_east_asia")):
            theme_attr = {"ascii": "asciiTheme", "hAnsi": "hAnsiTheme", "cs": "cstheme",
                          "eastAsia": "eastAsiaTheme"}[slot]
            if fonts.get(w(theme_attr)) is not None:
                acc[key] = theme.get(fonts.get(w(theme_attr), ""), fonts.get(w(theme_attr)))
            elif fonts.get(w(attr)) is not None:
                acc[key] = fonts.get(w(attr))
    sz = rpr.find("w:sz", NS)
    if sz is not None and to_int(sz.get(w("val"))) is not None:
        acc["size"] = (to_int(sz.get(w("val"))) or 0) / 2
    for tag, key in (("b", "bold"), ("i", "italic"), ("caps", "caps")):
        val = toggle(rpr.find(f"w:{tag}", NS))
        if val is not None:
            acc[key] = val
    u = rpr.find("w:u", NS)
    if u is not None:
        acc["underline"] = (u.get(w("val")) or "single") != "none"
    color = rpr.find("w:color", NS)
    if color is not None:
        acc["color"] = color.get(w("val"))
    hl = rpr.find("w:highlight", NS)
    if hl is not None:
        acc["highlight"] = hl.get(w("val"))
    shd = rpr.find("w:shd", NS)
    if shd is not None:
        acc["shading"] = shd.get(w("fill"))


def merge_ppr(acc: dict[str, Any], ppr: _Element | None) -> None:
    if ppr is None:
        return
    jc = ppr.find("w:jc", NS)
    if jc is not None:
        acc["align"] = jc.get(w("val"))
    sp = ppr.find("w:spacing", NS)
    if sp is not None:
        for attr, key in (("before", "before"), ("after", "after"), ("line", "line")):
            val = to_int(sp.get(w(attr)))
            if val is not None:
                acc[key] = val
        if sp.get(w("lineRule")) is not None:
            acc["line_rule"] = sp.get(w("lineRule"))
    ind = ppr.find("w:ind", NS)
    if ind is not None:
        for attr in ("left", "start"):
            val = to_int(ind.get(w(attr)))
            if val is not None:
                acc["left"] = val
        first = to_int(ind.get(w("firstLine")))
        hanging = to_int(ind.get(w("hanging")))
        if hanging is not None:
            acc["first_line"] = -hanging
        elif first is not None:
            acc["first_line"] = first
    ctx = toggle(ppr.find("w:contextualSpacing", NS))
    if ctx is not None:
        acc["contextual"] = ctx


RUN_DEFAULTS: dict[str, Any] = {
    "size": 10.0, "bold": False, "italic": False, "caps": False, "underline": False,
    "font_ascii": None, "font_hansi": None, "font_cs": None, "font_east_asia": None,
    "color": None, "highlight": None, "shading": None,
}


class Numbering:
    """``numbering.xml``: the paragraph properties (indents) of each (numId, level)."""

    def __init__(self, root: _Element | None) -> None:
        self.key = b""  # the digest of numbering.xml it was read from
        self.levels: dict[tuple[str, int], _Element | None] = {}
        if root is None:
            return
        abstract: dict[str, dict[int, _Element]] = {}
        for an in root.iterfind("w:abstractNum", NS):
            aid = an.get(w("abstractNumId"))
            if aid is not None:
                abstract[aid] = {(to_int(lvl.get(w("ilvl"))) or 0): lvl for lvl in an.iterfind("w:lvl", NS)}
        for num in root.iterfind("w:num", NS):
            nid = num.get(w("numId"))
            ref = num.find("w:abstractNumId", NS)
            if nid is None or ref is None:
                continue
            levels = dict(abstract.get(ref.get(w("val"), ""), {}))
            for override in num.iterfind("w:lvlOverride", NS):
                lvl = override.find("w:lvl", NS)
                if lvl is not None:
                    levels[to_int(override.get(w("ilvl"))) or 0] = lvl
            for ilvl, lvl in levels.items():
                self.levels[(nid, ilvl)] = lvl.find("w:pPr", NS)

    def ppr(self, num_id: str, ilvl: int) -> _Element | None:
        return self.levels.get((num_id, ilvl))


def collect_num_pr(ppr: _Element | None, acc: dict[str, Any]) -> None:
    """Collect numId/ilvl from a w:pPr's w:numPr (later levels override earlier ones)."""
    if ppr is None:
        return
    num_pr = ppr.find("w:numPr", NS)
    if num_pr is not None:
        collect_num_pr_of(num_pr, acc)


def collect_num_pr_of(num_pr: _Element, acc: dict[str, Any]) -> None:
    num_id = num_pr.find("w:numId", NS)
    ilvl = num_pr.find("w:ilvl", NS)
    if num_id is not None:
        acc["num_id"] = num_id.get(w("val"))
    if ilvl is not None:
        acc["ilvl"] = to_int(ilvl.get(w("val"))) or 0


NO_NUMBERING = Numbering(None)


_styles_cache: dict[bytes, Styles] = {}
_numbering_cache: dict[bytes, Numbering] = {}


def numbering_of(part: PartTarget) -> Numbering:
    if part.package is None:
        return NO_NUMBERING
    key = part.digest()
    found = _numbering_cache.get(key)
    if found is None:
        if len(_numbering_cache) > 16:
            _numbering_cache.clear()
        blob = part.blob
        found = _numbering_cache[key] = Numbering(parse_xml(blob) if blob else None)
        found.key = key
    return found


def styles_of(styles_part: PartTarget, theme_part: PartTarget) -> Styles:
    key = styles_part.digest() + theme_part.digest()
    found = _styles_cache.get(key)
    if found is None:
        if len(_styles_cache) > 16:
            _styles_cache.clear()
        styles_blob, theme_blob = styles_part.blob, theme_part.blob
        found = _styles_cache[key] = Styles(parse_xml(styles_blob) if styles_blob else None,
                                             parse_xml(theme_blob) if theme_blob else None)
        found.key = key
    return found
