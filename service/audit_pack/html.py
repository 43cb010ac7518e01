"""The audit pack as one self-contained, printable HTML page: inline CSS and SVG charts, no
script, no outside asset (so it opens offline and prints as it shows)."""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24;
max-width:60rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2rem;
margin-top:2.2rem;color:#1f4e79}h3{margin:1.2rem 0 .4rem}
table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border:1px solid #c9d1d9;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eef3f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.flag{color:#a40e26;font-weight:600}.muted{color:#57606a}.card{border:1px solid #c9d1d9;
padding:.6rem 1rem;margin:.6rem 0;border-radius:4px}
svg text{font:12px system-ui,sans-serif;fill:#1b1f24}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}.card,table,svg{break-inside:avoid}}
"""


class Raw(str):
    """HTML made here (escaped already): a table puts it in as is."""

    __slots__ = ()


OVERSIGHT_BY_PERSON = [
    "caseworker (pseudonym)",
    "decisions",
    "lists",
    "override rate",
    "rank-order agreement",
    "follows ranking exactly",
]


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{_num(c)}</td>'
            if isinstance(c, int | float)
            else f"<td>{c if isinstance(c, Raw) else _num(c)}</td>"
            for c in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(
    title: str, bars: dict[str, float | None], *, maximum: float = 1.0, line: float | None = None
) -> str:
    """Horizontal bars in inline SVG, with an optional reference line (e.g. the 0.8 rule)."""
    items = [(k, v) for k, v in bars.items() if v is not None]
    if not items:
        return ""
    top = max([maximum, *(float(v) for _, v in items)])
    label_w, width, row = 170, 360, 22
    height = row * len(items) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + width + 70}" '
        f'height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for i, (label, value) in enumerate(items):
        y = 8 + i * row
        w = 0 if top <= 0 else width * float(value) / top
        below = line is not None and float(value) < line
        colour = "#a40e26" if below else "#1f4e79"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label[:28])}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 14}">{float(value):.2f}</text>'
        )
    if line is not None and top > 0:
        x = label_w + width * line / top
        parts.append(
            f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{height - 18}" stroke="#a40e26" '
            f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{height - 4}" '
            f'text-anchor="middle">{line:g}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _impact_section(name: str, section: dict[str, Any]) -> str:
    out = [f"<h3>{escape(name.replace('_', ' ').capitalize())}</h3>"]
    for attribute, res in section.get("by_attribute", {}).items():
        p_values = res.get("significance", {}).get("p_values", {})
        rows = []
        for group, ratio in res["ratios"].items():
            flagged = group in res["flagged"]
            rows.append(
                [
                    group,
                    res["selected"].get(group, 0),
                    res["totals"].get(group, 0),
                    res["rates"].get(group),
                    Raw(f'<span class="{"flag" if flagged else ""}">{_num(ratio)}</span>'),
                    p_values.get(group),
                ]
            )
        out.append(f"<p><strong>{escape(attribute)}</strong> · unknown: {res['unknown']}</p>")
        out.append(
            _table(["group", "selected", "of", "rate", "impact ratio", "p-value"], rows)
            + bar_chart(f"{name} impact ratio by {attribute}", res["ratios"], line=0.8)
        )
    return "".join(out)


def _flat_metrics(metrics: dict[str, Any], prefix: str = "") -> list[list[Any]]:
    """Numeric metrics as (dotted name, value) rows, nested dictionaries unfolded."""
    rows: list[list[Any]] = []
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flat_metrics(value, f"{name}.")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            rows.append([name, value])
    return rows


def render(pack: dict[str, Any]) -> str:
    period = pack["period"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Audit pack · {escape(pack['agency'])}</title><style>{CSS}</style></head><body>",
        f"<h1>Audit pack: {escape(pack['agency'])}</h1>",
        f"<p class='muted'>Period {escape(period['from'])} to {escape(period['to'])} · "
        f"generated {escape(pack['generated_at'])}</p>",
        "<h2>Model cards</h2>",
    ]
    for card in pack["model_cards"]:
        gate = card.get("gate") or {}
        metrics = card.get("heldout_metrics") or {}
        parts.append(
            "<div class='card'>"
            f"<h3>{escape(str(card['version']))} <span class='muted'>({escape(card['kind'])})"
            "</span></h3>"
            + _table(
                ["live from", "until", "training window", "train / held-out size"],
                [
                    [
                        card["live_from"],
                        card["live_until"] or "still live",
                        card["training_window"],
                        f"{_num(card['train_size'])} / {_num(card['holdout_size'])}",
                    ]
                ],
            )
            + (
                _table(["held-out metric", "value"], _flat_metrics(metrics))
                if metrics
                else "<p>Held-out metrics: none (published weights, not trained)</p>"
            )
            + f"<p>Gate: {_num(gate.get('passed'))} "
            f"{escape('; '.join(gate.get('reasons') or []))}</p>"
            f"<p>Activated by {_num(card['activated_by'])} (key "
            f"{_num(card['activated_with_key'])}); forced: {_num(card['forced'])}; "
            f"reason: {_num(card['reason'])}</p></div>"
        )
    data = pack["data_card"]
    parts += [
        "<h2>Data card</h2>",
        _table(
            ["seekers", "postings", "consent rate", "opted out of profiling", "shown in period"],
            [
                [
                    data["seekers"],
                    data["postings"],
                    data["consent_rate"],
                    data["opted_out_of_profiling"],
                    data["candidates_shown_in_period"],
                ]
            ],
        ),
        bar_chart("Share of seekers missing each field", data["missing_fields_share"]),
    ]
    for attribute, among in data["groups_among_seekers"].items():
        recommended = data["groups_among_recommended"][attribute]["shares"]
        rows = [[g, s, recommended.get(g)] for g, s in among["shares"].items()]
        parts.append(
            f"<h3>{escape(attribute)}</h3>"
            + _table(["group", "share of seekers", "share of those recommended"], rows)
        )
    bias = pack["bias_report"]
    parts += ["<h2>Bias report</h2>", f"<p class='muted'>{escape(bias['notes'])}</p>"]
    policies = bias["fairness_policies_in_force"]
    parts.append(
        _table(
            ["policy version", "method", "attributes", "set at", "set by"],
            [
                [p["version"], p["method"], p["attributes"], p["set_at"], p["set_by"]]
                for p in policies
            ],
        )
        if policies
        else "<p>No fairness policy was in force: lists kept score order.</p>"
    )
    for name in ("top_k_placement", "shortlisting", "contact", "hire"):
        parts.append(_impact_section(name, bias[name]))
    parts.append("<h3>Ranking: skew, NDKL, exposure</h3>")
    rank_rows = [
        [
            a,
            r.get("lists"),
            r.get("mean_ndkl"),
            r.get("mean_min_skew"),
            r.get("mean_max_skew"),
            r.get("mean_exposure_ratio"),
        ]
        for a, r in bias["ranking"].items()
    ]
    parts.append(
        _table(
            ["attribute", "lists", "NDKL", "MinSkew@k", "MaxSkew@k", "exposure ratio"], rank_rows
        )
    )
    o = pack["human_oversight"]
    parts += [
        "<h2>Human oversight</h2>",
        _table(
            ["lists", "reviewed", "share reviewed", "decisions", "override rate", "up / down"],
            [
                [
                    o["lists"],
                    o["lists_reviewed"],
                    o["share_reviewed"],
                    o["decisions"],
                    o["override_rate"],
                    f"{o['overrides_up']} / {o['overrides_down']}",
                ]
            ],
        ),
        bar_chart(
            "Decisions per action",
            {k: float(v) for k, v in o["decisions_per_action"].items()},
            maximum=0,
        ),
        _table(
            OVERSIGHT_BY_PERSON,
            [
                [
                    p,
                    v["decisions"],
                    v["lists"],
                    v["override_rate"],
                    v["rank_order_agreement"],
                    v["exact_follow_share"],
                ]
                for p, v in o["by_person"].items()
            ],
        ),
    ]
    parts += _capacity_section(pack["capacity"])
    parts += [
        "<h2>Instructions for use</h2>",
    ]
    for section in pack["instructions_for_use"]:
        parts.append(f"<h3>{escape(section['title'])}</h3>")
        parts += [f"<p>{escape(p)}</p>" for p in section["paragraphs"]]
    parts.append("</body></html>")
    return "".join(parts)


def _capacity_section(capacity: dict[str, Any]) -> list[str]:
    market = capacity["market"]
    policies = capacity["policies_in_force"]
    rebalances = capacity["rebalances"]
    parts = [
        "<h2>Capacity</h2>",
        f"<p class='muted'>{escape(capacity['notes'])}</p>",
        _table(
            [
                "policy version",
                "method",
                "applications per opening (cap)",
                "exposure per opening and week (cap)",
                "relevance floor",
                "headroom",
                "set at",
                "reason",
            ],
            [
                [
                    p["version"],
                    p["method"],
                    p["max_applications_per_opening"],
                    p["max_exposure_per_opening_per_week"],
                    p["relevance_floor"],
                    p["headroom"],
                    p["set_at"],
                    p["reason"],
                ]
                for p in policies
            ],
        )
        if policies
        else "<p>No capacity policy was in force: job lists kept score order.</p>",
        "<h3>Rebalance runs (congestion-price versions)</h3>",
        _table(
            [
                "price version",
                "policy version",
                "at",
                "postings",
                "seekers",
                "priced",
                "max price",
                "Gini of exposure before / after",
            ],
            [
                [
                    r["price_version"],
                    r["policy_version"],
                    r["at"],
                    r["postings"],
                    r["seekers"],
                    r["priced_postings"],
                    r["max_price"],
                    f"{_num(r['gini_exposure_before'])} / {_num(r['gini_exposure_after'])}",
                ]
                for r in rebalances
            ],
        )
        if rebalances
        else "<p>No congestion prices were computed in the period.</p>",
        "<h3>Market figures of the period</h3>",
        _table(
            [
                "open postings",
                "job lists",
                "Gini of exposure",
                "never recommended",
                "Congestion@10",
                "Coverage@10",
                "relevance given up",
                "applications",
            ],
            [
                [
                    market["active_postings"],
                    market["lists"],
                    market["gini_exposure"],
                    market["share_never_recommended"],
                    market["congestion_at_10"],
                    market["coverage_at_10"],
                    market["mean_relevance_given_up"],
                    market["applications"],
                ]
            ],
        ),
    ]
    if market["most_exposed_postings"]:
        parts.append(
            f"<h3>Most exposed postings per opening (of {market['postings_total']})</h3>"
            + _table(
                [
                    "posting",
                    "openings",
                    "exposure per opening",
                    "top-10 appearances",
                    "applications per opening",
                ],
                [
                    [
                        p["external_id"],
                        p["openings"],
                        p["exposure_per_opening"],
                        p["top10_appearances"],
                        p["applications_per_opening"],
                    ]
                    for p in market["most_exposed_postings"]
                ],
            )
        )
    if market["trend"]:
        parts.append(
            "<h3>By day</h3>"
            + _table(
                ["day", "job lists", "Gini of exposure", "Coverage@10", "relevance given up"],
                [
                    [
                        d["day"],
                        d["lists"],
                        d["gini_exposure"],
                        d["coverage_at_10"],
                        d["mean_relevance_given_up"],
                    ]
                    for d in market["trend"]
                ],
            )
        )
    return parts
